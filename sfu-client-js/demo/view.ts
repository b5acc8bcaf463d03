// What the room's events do to the page: tiles for participants and their tracks, the active
// speakers, muted microphones, and chat messages and notices.

import type { LocalTrack, Participant, RemoteParticipant, RemoteTrack, Room } from '../src/index.js';
import type { Chat } from './chat.js';
import type { Grid, TileOwner } from './tiles.js';

/** The key of the local participant's tiles: its participant id changes on every rejoin. */
const LOCAL = 'local';

/** Keeps the grid in step with one room. */
export class RoomView {
  private readonly offs: Array<() => void> = [];

  constructor(private readonly room: Room, private readonly grid: Grid, private readonly chat: Chat) {
    this.offs.push(
      room.on('participantJoined', (p) => {
        grid.ensure(this.ownerOf(p), 'camera');
        chat.add('', `${p.identity} joined`);
      }),
      room.on('participantLeft', (p) => {
        grid.removeOwner(p.id);
        chat.add('', `${p.identity} left`);
      }),
      room.on('trackPublished', (t, p) => this.showTrack(t, p)),
      room.on('trackUnpublished', (t, p) => this.hideTrack(t, p)),
      room.on('trackMuted', (t, muted, p) => this.onMuted(t, muted, p)),
      room.on('activeSpeakers', (speakers) => grid.setSpeaking(new Set(speakers.map((s) => this.keyOf(s.participantId))))),
      room.on('data', (m) => chat.add(m.participant?.identity ?? m.from ?? 'someone', m.payload)),
      // A rejoin gives us a new participant id; the others are diffed with their own events.
      room.on('reconnected', () => {
        for (const source of ['camera', 'screen'] as const) grid.get(LOCAL, source)?.setOwner(this.localOwner());
      }),
    );
  }

  /** After joining: our own tile, then everyone already there with their tracks. */
  start(): void {
    this.grid.ensure(this.localOwner(), 'camera');
    for (const p of this.room.participants.values()) {
      this.grid.ensure(this.ownerOf(p), 'camera');
      for (const t of p.tracks.values()) this.showTrack(t, p);
    }
  }

  /** Stops following the room. */
  dispose(): void {
    for (const off of this.offs.splice(0)) off();
  }

  /** Who the local tiles belong to now. */
  localOwner(): TileOwner {
    const me = this.room.localParticipant;
    return { key: LOCAL, participantId: me?.id ?? '', identity: me?.identity ?? '', local: true };
  }

  private keyOf(participantId: string): string {
    return participantId === this.room.localParticipant?.id ? LOCAL : participantId;
  }

  private ownerOf(p: RemoteParticipant): TileOwner {
    return { key: p.id, participantId: p.id, identity: p.identity, local: false };
  }

  /** A remote track gets its element as soon as it is published: `attach` shows the media when it comes. */
  private showTrack(t: RemoteTrack, p: RemoteParticipant): void {
    const owner = this.ownerOf(p);
    if (t.kind === 'video') {
      this.grid.ensure(owner, t.source === 'screen' ? 'screen' : 'camera').showRemoteVideo(t);
      return;
    }
    this.grid.ensure(owner, 'camera').addAudio(t);
    if (t.source !== 'screen') this.grid.setMicMuted(owner.key, t.muted);
  }

  private hideTrack(t: RemoteTrack, p: RemoteParticipant): void {
    if (t.kind === 'video') {
      if (t.source === 'screen') {
        if (this.grid.get(p.id, 'screen')?.videoTrackId === t.id) this.grid.remove(p.id, 'screen');
      } else {
        this.grid.get(p.id, 'camera')?.clearVideo(t.id);
      }
      return;
    }
    this.grid.get(p.id, 'camera')?.removeAudio(t.id);
    if (t.source !== 'screen') this.grid.setMicMuted(p.id, false);
  }

  private onMuted(t: RemoteTrack | LocalTrack, muted: boolean, p: Participant): void {
    const key = this.keyOf(p.id);
    if (t.kind === 'audio' && t.source !== 'screen') this.grid.setMicMuted(key, muted);
    if (t.kind === 'video') this.grid.get(key, t.source === 'screen' ? 'screen' : 'camera')?.setVideoMuted(muted);
  }
}
