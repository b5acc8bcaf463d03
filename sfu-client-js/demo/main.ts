// The demo conference page served by sfu-server at `/`, on the SDK: join a room by name (or by
// link), publish camera and microphone, see and hear the others, chat. Bundled into
// sfu-server/static/demo.js by `npm run build:demo`.

import { Room, SignalError } from '../src/index.js';
import { Chat } from './chat.js';
import { disconnectText, joinErrorText, PlainError } from './errors.js';
import { joinsAtOnce, linkQuery, readLink, type LinkParams } from './link.js';
import { LocalMedia } from './local.js';
import { overlayText, pollVideoStats } from './overlay.js';
import { Grid } from './tiles.js';
import { devToken, probeToken } from './token.js';
import { RoomView } from './view.js';

declare global {
  interface Window {
    /** For tests and curious developers: the SDK room of the current (or last) join. */
    demo?: { room: Room };
  }
}

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

const ui = {
  joinForm: $<HTMLFormElement>('join-form'),
  room: $<HTMLInputElement>('room'),
  identity: $<HTMLInputElement>('identity'),
  join: $<HTMLButtonElement>('join'),
  leave: $<HTMLButtonElement>('leave'),
  status: $<HTMLElement>('status'),
  error: $<HTMLElement>('error'),
  share: $<HTMLElement>('share'),
  sound: $<HTMLButtonElement>('sound'),
  buttons: { mic: $<HTMLButtonElement>('mic'), camera: $<HTMLButtonElement>('camera'), screen: $<HTMLButtonElement>('screen') },
};

const grid = new Grid($('grid'));
const chat = new Chat(
  { log: $('chat-log'), form: $<HTMLFormElement>('chat-form'), input: $<HTMLInputElement>('chat-input'), send: $<HTMLButtonElement>('chat-send') },
  (text) => {
    if (!current) throw new Error('not in a room');
    current.room.sendData(text);
    // The server relays to everyone else only: our own line is added here.
    chat.add(current.room.localParticipant?.identity ?? '', text);
  },
);

/** The room joined (or being joined) and what follows it. */
let current: { room: Room; leave: () => void } | undefined;

function showError(text: string): void {
  ui.error.textContent = text;
}

/** Adds a problem to the ones already shown (e.g. no camera and no microphone). */
function addError(text: string): void {
  ui.error.textContent = ui.error.textContent ? `${ui.error.textContent} ${text}` : text;
}

/** Enables what makes sense in a room, or out of one. */
function setInRoom(inRoom: boolean): void {
  ui.join.disabled = inRoom;
  ui.room.disabled = inRoom;
  ui.identity.disabled = inRoom;
  ui.leave.disabled = !inRoom;
  chat.setEnabled(false);
  if (!inRoom) {
    ui.share.replaceChildren();
    ui.sound.hidden = true;
  }
}

/** Shows the link that brings others into this room (they pick their own name). */
function showShareLink(room: string): void {
  const url = `${location.origin}${location.pathname}${linkQuery({ room })}`;
  const a = document.createElement('a');
  a.href = url;
  a.textContent = url;
  ui.share.replaceChildren('Invite others: ', a);
}

/** Joins a room: token, connect, then camera and microphone; errors end up in #error. */
async function join(link: LinkParams): Promise<void> {
  if (current) return;
  showError('');
  const roomName = link.room.trim();
  let identity = link.identity.trim();
  if (!link.token && !roomName) {
    showError('Type the name of a room to join.');
    return;
  }
  if (!link.token && !identity) {
    identity = `guest-${Math.random().toString(36).slice(2, 6)}`;
    ui.identity.value = identity;
  }

  const room = new Room({
    // Rejoins after a lost connection ask the dev endpoint again (its tokens expire after 6 h).
    tokenProvider: link.token ? undefined : () => devToken(roomName, identity),
    log: new URLSearchParams(location.search).has('debug') ? console.debug : undefined,
  });
  window.demo = { room };
  let left = false;
  current = { room, leave: () => { left = true; void room.disconnect(); } };
  setInRoom(true);
  chat.clear();
  ui.status.textContent = room.state;
  room.on('connectionStateChanged', (state) => { ui.status.textContent = state; });
  const view = new RoomView(room, grid, chat);

  let token = link.token;
  try {
    if (!token) token = await devToken(roomName, identity);
    if (left) throw new PlainError('');
    await room.connect(location.origin, token);
  } catch (e) {
    view.dispose();
    if (!left) {
      const probe = e instanceof SignalError && e.code === 'connect_failed' ? await probeToken(token) : undefined;
      showError(e instanceof PlainError ? e.message : joinErrorText(e, probe, location.origin));
    }
    // A room that never connected is still `connecting`: end it so its state says so.
    if (room.state !== 'disconnected') await room.disconnect();
    current = undefined;
    setInRoom(false);
    return;
  }

  const me = room.localParticipant;
  identity = me?.identity ?? identity;
  const joinedRoom = room.name ?? roomName;
  ui.room.value = joinedRoom;
  ui.identity.value = identity;
  history.replaceState(null, '', `${location.pathname}${linkQuery({ room: joinedRoom, identity, token: link.token })}`);
  showShareLink(joinedRoom);
  chat.setEnabled(true);

  view.start();
  const local = new LocalMedia(room, grid, ui.buttons, () => view.localOwner(), addError);
  const stopStats = pollVideoStats(room, (byTrackId) => {
    for (const tile of grid.all()) {
      const s = tile.videoTrackId ? byTrackId.get(tile.videoTrackId) : undefined;
      tile.overlay.textContent = s && !tile.isVideoMuted ? overlayText(s) : '';
    }
    void resumeAudio();
  });
  room.on('disconnected', (reason) => {
    if (reason !== 'client_leave') showError(disconnectText(reason, identity));
    stopStats();
    view.dispose();
    local.dispose();
    grid.clear();
    current = undefined;
    setInRoom(false);
  });
  await local.start();
}

ui.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  // The link's token still belongs to the room and name it was given for.
  const link = readLink(location.search);
  const room = ui.room.value.trim();
  const identity = ui.identity.value.trim();
  const token = link.token && link.room === room && link.identity === identity ? link.token : '';
  void join({ room, identity, token });
});
ui.leave.addEventListener('click', () => current?.leave());
/** Retries audio the browser did not autoplay; offers a button while it still refuses. */
async function resumeAudio(): Promise<void> {
  const refused = await Promise.all(grid.all().map((tile) => tile.resumeAudio()));
  ui.sound.hidden = !refused.includes(true);
}
// A click is the user gesture browsers want before playing sound: any click will do.
document.addEventListener('click', () => void resumeAudio());

setInRoom(false);
const link = readLink(location.search);
if (link.room) ui.room.value = link.room;
if (link.identity) ui.identity.value = link.identity;
if (joinsAtOnce(link)) void join(link);
else (link.room ? ui.identity : ui.room).focus();
