// The Room against a scripted server (fake WebSocket) and a fake peer connection: the mapping
// of signalling messages to participants, tracks and events, and the recovery decisions.
import assert from 'node:assert/strict';
import { describe, it, mock, beforeEach, afterEach } from 'node:test';
import { rejectsWith, settle, tick, waitFor } from './helpers.js';
import { Room, capMessage } from '../src/room.js';
import type { WebSocketLike } from '../src/signaling.js';

class FakeSocket implements WebSocketLike {
  readyState = 1;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  sent: Array<Record<string, unknown>> = [];
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(): void {
    this.readyState = 3;
  }
  receive(v: unknown): void {
    this.onmessage?.({ data: JSON.stringify(v) });
  }
  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

interface FakeEncoding {
  rid?: string;
  active?: boolean;
  [k: string]: unknown;
}

/** An RTCRtpSender's parameters: getParameters/setParameters with transaction ids, as browsers check them. */
class FakeSender {
  track: unknown;
  encodings: FakeEncoding[];
  /** Every setParameters call's `active` flags by RID, in order. */
  calls: Array<Record<string, boolean>> = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Holds each setParameters until released (when set). */
  gate: Promise<void> | null = null;
  /** The next setParameters rejects with it. */
  failNext: Error | null = null;
  private transaction = 0;
  constructor(track: unknown, encodings: FakeEncoding[] | undefined) {
    this.track = track;
    this.encodings = (encodings ?? [{}]).map((e) => ({ ...e }));
  }
  async replaceTrack(t: unknown): Promise<void> {
    this.track = t;
  }
  getParameters() {
    this.transaction++;
    return { transactionId: String(this.transaction), encodings: this.encodings.map((e) => ({ ...e })) };
  }
  async setParameters(p: { transactionId: string; encodings: FakeEncoding[] }): Promise<void> {
    if (p.transactionId !== String(this.transaction)) throw new Error('InvalidModificationError: stale transactionId');
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.gate) await this.gate;
      await tick();
      const failure = this.failNext;
      this.failNext = null;
      if (failure) throw failure;
      this.calls.push(Object.fromEntries(p.encodings.map((e) => [e.rid ?? '', e.active !== false])));
      this.encodings = p.encodings.map((e) => ({ ...e }));
    } finally {
      this.inFlight--;
    }
  }
  /** The `active` flags now, by RID. */
  active(): Record<string, boolean> {
    return Object.fromEntries(this.encodings.map((e) => [e.rid ?? '', e.active !== false]));
  }
}

class FakeTransceiver {
  mid: string | null = null;
  direction: string;
  stopped = false;
  sender: FakeSender;
  constructor(track: unknown, init: { direction: string; sendEncodings?: FakeEncoding[] }) {
    this.direction = init.direction;
    this.sender = new FakeSender(track, init.sendEncodings);
  }
  stop(): void {
    this.stopped = true;
  }
}

class FakePc {
  signalingState = 'stable';
  localDescription: { type: string; sdp: string } | null = null;
  transceivers: FakeTransceiver[] = [];
  closed = false;
  onicecandidate: unknown = null;
  ontrack: unknown = null;
  ondatachannel: unknown = null;
  oniceconnectionstatechange: unknown = null;
  iceConnectionState = 'new';
  private nextMid = 0;
  constructor(readonly config: RTCConfiguration) {}
  addTransceiver(track: unknown, init: { direction: string; sendEncodings?: FakeEncoding[] }) {
    const t = new FakeTransceiver(track, init);
    this.transceivers.push(t);
    return t;
  }
  async createOffer() {
    return { type: 'offer', sdp: 'offer' };
  }
  async createAnswer() {
    return { type: 'answer', sdp: 'answer' };
  }
  async setLocalDescription(d: { type: string; sdp?: string }) {
    if (d.type === 'rollback') {
      this.signalingState = 'stable';
      for (const t of this.transceivers) if (!t.stopped) t.mid = null;
      return;
    }
    if (d.type === 'offer') {
      for (const t of this.transceivers) if (t.mid === null) t.mid = String(this.nextMid++);
      this.signalingState = 'have-local-offer';
    } else this.signalingState = 'stable';
    this.localDescription = { type: d.type, sdp: d.sdp ?? '' };
  }
  async setRemoteDescription(d: { type: string }) {
    this.remoteDescription = d;
    this.signalingState = d.type === 'offer' ? 'have-remote-offer' : 'stable';
  }
  remoteDescription: { type: string } | null = null;
  candidates: unknown[] = [];
  async addIceCandidate(c: unknown) {
    if (!this.remoteDescription) throw new Error('no remote description');
    this.candidates.push(c);
  }
  close() {
    this.closed = true;
    this.signalingState = 'closed';
  }
}

const track = (id: string, pid: string, kind = 'video', extra: Record<string, unknown> = {}) => ({
  id,
  participant_id: pid,
  kind,
  source: kind === 'video' ? 'camera' : 'microphone',
  mid: '0',
  codec: kind === 'video' ? 'VP8' : 'opus',
  muted: false,
  simulcast: [],
  ...extra,
});
const room = { name: 'r', sid: 'RM_1', created_at: 1, num_participants: 2, max_participants: 0 };
const joined = (me: string, others: unknown[] = []) => ({
  type: 'joined',
  room,
  participant: { id: me, identity: 'me', joined_at: 1, tracks: [] },
  participants: others,
  ice_servers: [{ urls: ['stun:s:3478'] }],
});
const alice = { id: 'PA_a', identity: 'alice', joined_at: 1, tracks: [track('TR_av', 'PA_a'), track('TR_aa', 'PA_a', 'audio')] };


/** Rooms of the running test, disconnected after it (their ICE and publish timers would keep node alive). */
const rooms: Room[] = [];
async function disconnectAll(): Promise<void> {
  for (const r of rooms.splice(0)) await r.disconnect();
}

function harness(options: ConstructorParameters<typeof Room>[0] = {}) {
  const sockets: FakeSocket[] = [];
  const pcs: FakePc[] = [];
  const r = new Room({
    webSocketFactory: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    peerConnectionFactory: (config) => {
      const pc = new FakePc(config);
      pcs.push(pc);
      return pc as unknown as RTCPeerConnection;
    },
    reconnect: { initialDelayMs: 1, maxDelayMs: 2, jitter: 0, maxAttempts: 3 },
    connectAttempts: 1,
    ...options,
  });
  rooms.push(r);
  const events: string[] = [];
  r.on('participantJoined', (p) => events.push(`participantJoined ${p.id}`));
  r.on('participantLeft', (p) => events.push(`participantLeft ${p.id}`));
  r.on('trackPublished', (t, p) => events.push(`trackPublished ${t.id} ${p.id}`));
  r.on('trackUnpublished', (t) => events.push(`trackUnpublished ${t.id}`));
  r.on('trackMuted', (t, m) => events.push(`trackMuted ${'id' in t ? t.id : t.sid} ${m}`));
  r.on('subscriptionChanged', (t, s) => events.push(`subscription ${t.id} ${s.layer} ${s.paused}`));
  r.on('activeSpeakers', (s) => events.push(`activeSpeakers ${s.map((x) => `${x.participant?.id ?? '?'}:${x.level}`).join(',')}`));
  r.on('connectionStateChanged', (s) => events.push(`state ${s}`));
  r.on('disconnected', (reason) => events.push(`disconnected ${reason}`));
  r.on('signalError', (e) => events.push(`signalError ${e.code}`));
  r.on('reconnected', () => events.push('reconnected'));
  return { r, sockets, pcs, events };
}

async function joinedHarness(others: unknown[] = [alice], options = {}) {
  const h = harness(options);
  const p = h.r.connect('http://127.0.0.1:7880', 'tok');
  await tick();
  h.sockets[0]!.receive(joined('PA_me', others));
  await p;
  await settle();
  return h;
}

describe('Room', () => {
  beforeEach(() => {
    mock.method(console, 'error', () => undefined);
  });
  afterEach(async () => {
    await disconnectAll();
    mock.restoreAll();
  });

  it('joins: URL, ICE servers, participants and tracks of the joined message', async () => {
    const { r, sockets, pcs, events } = await joinedHarness();
    assert.equal(sockets[0]!.url, 'ws://127.0.0.1:7880/v1/rtc?access_token=tok');
    assert.deepEqual(pcs[0]!.config.iceServers, [{ urls: ['stun:s:3478'] }]);
    assert.equal(r.state, 'connected');
    assert.equal(r.localParticipant?.id, 'PA_me');
    assert.deepEqual([...r.participants.keys()], ['PA_a']);
    assert.deepEqual([...r.participants.get('PA_a')!.tracks.keys()], ['TR_av', 'TR_aa']);
    assert.equal(r.tracks.get('TR_av')?.kind, 'video');
    // No events for what was there at the join.
    assert.deepEqual(events, ['state connected']);
  });

  it('rejects connect with the refusal code', async () => {
    const h = harness();
    const p = h.r.connect('ws://h', 't');
    await tick();
    h.sockets[0]!.receive({ type: 'error', code: 'room_full', message: 'full' });
    await rejectsWith(p, { code: 'room_full' });
    assert.equal(h.r.state, 'disconnected');
  });

  it('maps participant and track messages to events', async () => {
    const { r, sockets, events } = await joinedHarness();
    const s = sockets[0]!;
    events.length = 0;
    s.receive({ type: 'participant_joined', participant: { id: 'PA_b', identity: 'bob', joined_at: 2, tracks: [] } });
    s.receive({ type: 'track_published', track: track('TR_bv', 'PA_b') });
    s.receive({ type: 'track_muted', track_id: 'TR_bv', muted: true });
    s.receive({ type: 'subscription', track_id: 'TR_bv', layer: 'h', paused: false });
    s.receive({ type: 'active_speakers', speakers: [{ participant_id: 'PA_b', level: 0.5 }, { participant_id: 'PA_me', level: 0.1 }] });
    s.receive({ type: 'track_unpublished', track_id: 'TR_bv' });
    s.receive({ type: 'participant_left', participant_id: 'PA_a' });
    s.receive({ type: 'something_new', x: 1 });
    s.receive({ type: 'error', code: 'track_not_found', message: 'no' });
    await settle();
    assert.deepEqual(events, [
      'participantJoined PA_b',
      'trackPublished TR_bv PA_b',
      'trackMuted TR_bv true',
      'subscription TR_bv h false',
      'activeSpeakers PA_b:0.5,PA_me:0.1',
      'trackUnpublished TR_bv',
      'trackUnpublished TR_av',
      'trackUnpublished TR_aa',
      'participantLeft PA_a',
      'signalError track_not_found',
    ]);
    assert.equal(r.tracks.size, 0);
    assert.deepEqual([...r.participants.keys()], ['PA_b']);
  });

  it('answers a server offer; trickles candidates both ways', async () => {
    const { sockets, pcs } = await joinedHarness();
    const candidate = { candidate: 'candidate:1 1 udp 1 127.0.0.1 7882 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    sockets[0]!.receive({ type: 'candidate', candidate });
    sockets[0]!.receive({ type: 'offer', sdp: 'v=0\r\nm=video 9 X 96\r\na=mid:0\r\na=sendonly\r\na=msid:PA_a TR_av\r\n' });
    await settle();
    assert.deepEqual(sockets[0]!.sent.map((m) => m.type), ['answer']);
    assert.deepEqual(pcs[0]!.candidates, [candidate]);
    const local = { candidate: 'candidate:2 1 udp 2 127.0.0.1 50000 typ host', toJSON: () => ({ candidate: 'candidate:2 1 udp 2 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 }) };
    (pcs[0]!.onicecandidate as (e: { candidate: unknown }) => void)({ candidate: local });
    (pcs[0]!.onicecandidate as (e: { candidate: unknown }) => void)({ candidate: null });
    assert.deepEqual(sockets[0]!.sent.at(-1), { type: 'candidate', candidate: local.toJSON() });
    assert.equal((sockets[0]!.sent).length, 2);
  });

  it('publishes: sendonly transceiver with simulcast encodings, track_info before the offer, resolves on track_published', async () => {
    const { r, sockets, pcs } = await joinedHarness([]);
    const media = { kind: 'video', enabled: true, getSettings: () => ({ width: 1280, height: 720, frameRate: 30 }), stop: () => undefined } as unknown as MediaStreamTrack;
    const published = r.publishTrack(media, { source: 'camera', name: 'front', simulcast: true });
    await settle();
    const tr = pcs[0]!.transceivers[0]!;
    assert.equal(tr.direction, 'sendonly');
    assert.deepEqual(sockets[0]!.sent, [
      { type: 'track_info', mid: '0', source: 'camera', name: 'front' },
      { type: 'offer', sdp: 'offer' },
    ]);
    sockets[0]!.receive({ type: 'answer', sdp: 'answer' });
    sockets[0]!.receive({ type: 'track_published', track: track('TR_mine', 'PA_me', 'video', { mid: '0' }) });
    const local = await published;
    assert.equal(local.sid, 'TR_mine');
    assert.equal(local.simulcast, true);
    assert.deepEqual(local.encodings?.map((e) => e.rid), ['q', 'h', 'f']);
    // Mute sends the server's id.
    local.mute();
    assert.equal(media.enabled, false);
    assert.deepEqual(sockets[0]!.sent.at(-1), { type: 'mute', track_id: 'TR_mine', muted: true });
    // Unpublish makes the transceiver inactive and renegotiates.
    await r.unpublish(local);
    await settle();
    assert.equal(tr.direction, 'inactive');
    assert.deepEqual(sockets[0]!.sent.at(-1), { type: 'offer', sdp: 'offer' });
  });

  it('joining a room with tracks, a publish waits for the server offer, or for the hold to end', async () => {
    const { r, sockets } = await joinedHarness([alice], { initialOfferHoldMs: 50 });
    const media = { kind: 'audio', enabled: true, stop: () => undefined } as unknown as MediaStreamTrack;
    void r.publishTrack(media, { source: 'microphone' }).catch(() => undefined);
    await settle();
    assert.equal(sockets[0]!.sent.length, 0);
    await waitFor(() => assert.deepEqual(sockets[0]!.sent.map((m) => m.type), ['track_info', 'offer']));
    await r.disconnect();
  });

  it('rejects a publish the server refuses (permission_denied while the offer is out)', async () => {
    const { r, sockets } = await joinedHarness([]);
    const media = { kind: 'audio', enabled: true, stop: () => undefined } as unknown as MediaStreamTrack;
    const published = r.publishTrack(media, { source: 'microphone' });
    await settle();
    sockets[0]!.receive({ type: 'error', code: 'permission_denied', message: 'no can_publish' });
    await rejectsWith(published, { code: 'permission_denied' });
  });

  it('caps are sent only for received tracks, and the set_subscription message carries them', async () => {
    const { r, sockets } = await joinedHarness();
    const t = r.tracks.get('TR_av')!;
    t.setVideoCap({ paused: false, maxWidth: 640, maxHeight: 360 });
    assert.equal(sockets[0]!.sent.length, 0);
    assert.deepEqual(capMessage('TR_av', { paused: false, maxWidth: 640.4, maxHeight: 360, maxTemporal: 1 }), {
      type: 'set_subscription',
      track_id: 'TR_av',
      max_width: 640,
      max_height: 360,
      max_temporal: 1,
    });
    assert.deepEqual(capMessage('TR_av', { paused: true, maxWidth: 1 }), { type: 'set_subscription', track_id: 'TR_av', paused: true });
    r.subscribe('TR_av', false);
    assert.deepEqual(sockets[0]!.sent.at(-1), { type: 'subscribe', track_id: 'TR_av', subscribe: false });
  });

  it('a final leave reason disconnects with it', async () => {
    const { r, sockets, events } = await joinedHarness();
    sockets[0]!.receive({ type: 'leave', reason: 'removed' });
    sockets[0]!.drop(1000, 'removed');
    await settle();
    assert.equal(r.state, 'disconnected');
    assert.equal(events.at(-1), 'disconnected removed');
    assert.equal((sockets).length, 1);
  });

  it('a lost socket rejoins: new participant id, participants diffed, local tracks republished', async () => {
    const { r, sockets, pcs, events } = await joinedHarness();
    const media = { kind: 'audio', enabled: true, stop: () => undefined } as unknown as MediaStreamTrack;
    const published = r.publishTrack(media, { source: 'microphone' });
    await settle();
    // Alice has tracks: the offer waits for the server's (held), which comes right after joined.
    assert.equal(sockets[0]!.sent.length, 0);
    sockets[0]!.receive({ type: 'offer', sdp: 'v=0\r\nm=video 9 X 96\r\na=mid:s0\r\na=sendonly\r\na=msid:PA_a TR_av\r\n' });
    await settle();
    assert.deepEqual(sockets[0]!.sent.map((m) => m.type), ['answer', 'track_info', 'offer']);
    sockets[0]!.receive({ type: 'answer', sdp: 'answer' });
    sockets[0]!.receive({ type: 'track_published', track: track('TR_m1', 'PA_me', 'audio', { mid: '0' }) });
    const local = await published;
    events.length = 0;
    sockets[0]!.drop(1006);
    await settle();
    assert.equal(r.state, 'reconnecting');
    await waitFor(() => assert.equal((sockets).length, 2));
    // Alice left meanwhile, Carol came.
    sockets[1]!.receive(joined('PA_me2', [{ id: 'PA_c', identity: 'carol', joined_at: 3, tracks: [track('TR_cv', 'PA_c')] }]));
    await waitFor(() => assert.equal(r.state, 'connected'));
    await settle();
    assert.equal(pcs[0]!.closed, true);
    assert.equal(r.localParticipant?.id, 'PA_me2');
    assert.deepEqual(events, [
      'state reconnecting',
      'trackUnpublished TR_av',
      'trackUnpublished TR_aa',
      'participantLeft PA_a',
      'participantJoined PA_c',
      'trackPublished TR_cv PA_c',
      'state connected',
      'reconnected',
    ]);
    // The microphone is published again on the new peer connection (Carol has tracks: held
    // until the server's offer).
    assert.equal((pcs[1]!.transceivers).length, 1);
    assert.equal(sockets[1]!.sent.length, 0);
    sockets[1]!.receive({ type: 'offer', sdp: 'v=0\r\nm=video 9 X 96\r\na=mid:s0\r\na=sendonly\r\na=msid:PA_c TR_cv\r\n' });
    await settle();
    assert.deepEqual(sockets[1]!.sent.map((m) => m.type), ['answer', 'track_info', 'offer']);
    sockets[1]!.sent.splice(0, 1);
    assert.deepEqual(sockets[1]!.sent.map((m) => m.type), ['track_info', 'offer']);
    assert.equal(local.sid, undefined);
    sockets[1]!.receive({ type: 'answer', sdp: 'answer' });
    sockets[1]!.receive({ type: 'track_published', track: track('TR_m2', 'PA_me2', 'audio', { mid: '0' }) });
    await settle();
    assert.equal(local.sid, 'TR_m2');
  });

  it('gives up rejoining after the policy attempts', async () => {
    const { r, sockets, events } = await joinedHarness();
    sockets[0]!.drop(1006);
    await waitFor(() => assert.ok(sockets.length > 1));
    for (let i = 1; i <= 3; i++) {
      await waitFor(() => assert.ok(sockets.length > i));
      sockets[i]!.drop(1006);
    }
    await waitFor(() => assert.equal(r.state, 'disconnected'));
    assert.equal(events.at(-1), 'disconnected reconnect_failed');
  });

  it('does not rejoin when reconnect is off', async () => {
    const { r, sockets, events } = await joinedHarness([alice], { reconnect: false });
    sockets[0]!.drop(1006);
    await settle();
    assert.equal(r.state, 'disconnected');
    assert.equal(events.at(-1), 'disconnected signal_closed');
  });

  it('disconnect() while connecting ends the join attempts (no join again after it)', async () => {
    const h = harness({ connectAttempts: 3 });
    const p = h.r.connect('ws://h', 't');
    await tick();
    await h.r.disconnect();
    // The socket opened before disconnect() delivers its join: the room leaves at once.
    h.sockets[0]!.receive(joined('PA_me'));
    await rejectsWith(p, { name: 'AbortedError' });
    await settle();
    assert.equal(h.sockets.length, 1);
    assert.equal(h.sockets[0]!.readyState, 3);
    assert.equal(h.r.state, 'disconnected');
  });

  it('disconnect() between join attempts opens no other socket', async () => {
    const h = harness({ connectAttempts: 3, reconnect: { initialDelayMs: 20, maxDelayMs: 20, jitter: 0 } });
    const p = h.r.connect('ws://h', 't');
    await tick();
    h.sockets[0]!.drop(1006);
    await tick();
    await h.r.disconnect();
    await rejectsWith(p, { name: 'AbortedError' });
    assert.equal(h.sockets.length, 1);
  });

  it('disconnect() sends leave and closes everything', async () => {
    const { r, sockets, pcs, events } = await joinedHarness();
    await r.disconnect();
    assert.deepEqual(sockets[0]!.sent.at(-1), { type: 'leave' });
    assert.equal(pcs[0]!.closed, true);
    assert.equal(events.at(-1), 'disconnected client_leave');
    assert.throws(() => r.sendData('x'));
  });

  it('queues data until the server opens the channel', async () => {
    const { r, pcs } = await joinedHarness();
    r.sendData('early');
    const sent: unknown[] = [];
    const channel = { label: 'data', readyState: 'connecting', binaryType: 'blob', send: (m: unknown) => sent.push(m), onopen: null as null | (() => void), onmessage: null as null | ((e: { data: unknown }) => void), close() {} };
    (pcs[0]!.ondatachannel as (e: { channel: typeof channel }) => void)({ channel });
    assert.deepEqual(sent, []);
    channel.readyState = 'open';
    channel.onopen?.();
    assert.deepEqual(sent, ['early']);
    r.sendData('now');
    assert.deepEqual(sent, ['early', 'now']);
    const got: unknown[] = [];
    r.on('data', (m) => got.push([m.from, m.participant?.identity, m.payload]));
    channel.onmessage?.({ data: JSON.stringify({ from: 'PA_a', payload: 'hi' }) });
    channel.onmessage?.({ data: 'raw' });
    assert.deepEqual(got, [
      ['PA_a', 'alice', 'hi'],
      [undefined, undefined, 'raw'],
    ]);
  });
});

describe('Room dynacast (publisher_layers)', () => {
  beforeEach(() => {
    mock.method(console, 'error', () => undefined);
  });
  afterEach(async () => {
    await disconnectAll();
    mock.restoreAll();
  });

  const camera = () =>
    ({ kind: 'video', enabled: true, getSettings: () => ({ width: 1280, height: 720, frameRate: 30 }), stop: () => undefined }) as unknown as MediaStreamTrack;

  /** A room with nobody else and one published track (simulcast q/h/f by default), confirmed as TR_cam. */
  async function published(options: Parameters<Room['publishTrack']>[1] = { source: 'camera', simulcast: true }) {
    const h = await joinedHarness([]);
    const media = camera();
    const p = h.r.publishTrack(media, options);
    await settle();
    h.sockets[0]!.receive({ type: 'answer', sdp: 'answer' });
    h.sockets[0]!.receive({ type: 'track_published', track: track('TR_cam', 'PA_me', 'video', { mid: '0' }) });
    const local = await p;
    await settle();
    const sender = h.pcs[0]!.transceivers[0]!.sender;
    const errors: Error[] = [];
    const changes: string[] = [];
    h.r.on('error', (e) => errors.push(e));
    h.r.on('publisherLayersChanged', (t, rids) => changes.push(`${t.sid} [${rids.join(',')}]`));
    return { ...h, media, local, sender, errors, changes };
  }

  it('sets the encodings active flags through setParameters, with an event', async () => {
    const { local, sender, sockets, errors, changes } = await published();
    assert.deepEqual(local.activeLayers, ['q', 'h', 'f']);
    assert.deepEqual(sender.calls, []);
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['q', 'h'] });
    await settle();
    assert.deepEqual(sender.active(), { q: true, h: true, f: false });
    assert.deepEqual(sender.calls, [{ q: true, h: true, f: false }]);
    assert.deepEqual(local.activeLayers, ['q', 'h']);
    assert.deepEqual(changes, ['TR_cam [q,h]']);
    // The same again: no event, nothing to set.
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['h', 'q'] });
    await settle();
    assert.equal(sender.calls.length, 1);
    assert.deepEqual(changes, ['TR_cam [q,h]']);
    // Growing again resumes the layer.
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['q', 'h', 'f'] });
    await settle();
    assert.deepEqual(sender.active(), { q: true, h: true, f: true });
    assert.deepEqual(changes, ['TR_cam [q,h]', 'TR_cam [q,h,f]']);
    assert.deepEqual(errors, []);
  });

  it('an empty active pauses every layer; mute stays orthogonal', async () => {
    const { local, media, sender, sockets, changes } = await published();
    local.mute();
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: [] });
    await settle();
    assert.deepEqual(sender.active(), { q: false, h: false, f: false });
    assert.deepEqual(local.activeLayers, []);
    assert.deepEqual(changes, ['TR_cam []']);
    assert.equal(media.enabled, false);
    assert.equal(local.muted, true);
    local.unmute();
    assert.equal(media.enabled, true);
    assert.deepEqual(sender.active(), { q: false, h: false, f: false });
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['f'] });
    await settle();
    assert.deepEqual(sender.active(), { q: false, h: false, f: true });
    assert.equal(media.enabled, true);
  });

  it('rapid messages coalesce: one setParameters at a time, the last wins', async () => {
    const { local, sender, sockets, changes } = await published();
    let release!: () => void;
    sender.gate = new Promise<void>((r) => (release = r));
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['q'] });
    await settle();
    assert.equal(sender.inFlight, 1);
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: [] });
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['q', 'h', 'f'] });
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['h'] });
    await settle();
    assert.equal(sender.inFlight, 1);
    sender.gate = null;
    release();
    await settle(10);
    assert.equal(sender.maxInFlight, 1);
    // The first (in flight when the others came), then straight to the last.
    assert.deepEqual(sender.calls, [
      { q: true, h: false, f: false },
      { q: false, h: true, f: false },
    ]);
    assert.deepEqual(sender.active(), { q: false, h: true, f: false });
    assert.deepEqual(local.activeLayers, ['h']);
    assert.deepEqual(changes, ['TR_cam [q]', 'TR_cam []', 'TR_cam [q,h,f]', 'TR_cam [h]']);
  });

  it('ignores unknown tracks, unknown RIDs and tracks without simulcast, without errors', async () => {
    const { r, local, sender, sockets, errors, changes, events } = await published();
    events.length = 0;
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_nope', active: ['q'] });
    await settle();
    assert.deepEqual(sender.calls, []);
    assert.deepEqual(local.activeLayers, ['q', 'h', 'f']);
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['h', 'x'] });
    await settle();
    assert.deepEqual(local.activeLayers, ['h']);
    assert.deepEqual(sender.active(), { q: false, h: true, f: false });
    // A single-encoding track is never paused.
    const single = r.publishTrack(camera(), { source: 'screen', simulcast: false });
    await settle();
    sockets[0]!.receive({ type: 'answer', sdp: 'answer' });
    sockets[0]!.receive({ type: 'track_published', track: track('TR_screen', 'PA_me', 'video', { mid: '1' }) });
    const screen = await single;
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_screen', active: [] });
    await settle();
    assert.deepEqual(screen.activeLayers, []);
    assert.deepEqual(screen.layers, []);
    assert.deepEqual(r.peerConnection && (r.peerConnection as unknown as FakePc).transceivers[1]!.sender.calls, []);
    assert.deepEqual(errors, []);
    assert.deepEqual(changes, ['TR_cam [h]']);
    assert.deepEqual(events, []);
  });

  it('keeps the application\'s own active: false', async () => {
    const { local, sender, sockets } = await published({
      source: 'camera',
      encodings: [
        { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
        { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000, active: false },
        { rid: 'f', maxBitrate: 1_500_000 },
      ],
    });
    assert.deepEqual(sender.active(), { q: true, h: false, f: true });
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['h', 'f'] });
    await settle();
    assert.deepEqual(sender.active(), { q: false, h: false, f: true });
    assert.deepEqual(local.activeLayers, ['h', 'f']);
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['q', 'h', 'f'] });
    await settle();
    assert.deepEqual(sender.active(), { q: true, h: false, f: true });
  });

  it('a failing setParameters is an error event, not a throw; the next message applies', async () => {
    const { sender, sockets, errors } = await published();
    sender.failNext = new Error('InvalidStateError');
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['q'] });
    await settle();
    assert.deepEqual(errors.map((e) => e.message), ['InvalidStateError']);
    assert.deepEqual(sender.active(), { q: true, h: true, f: true });
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['q', 'h'] });
    await settle();
    assert.deepEqual(sender.active(), { q: true, h: true, f: false });
    assert.equal(errors.length, 1);
  });

  it('re-applies the layers when a negotiation reset the parameters', async () => {
    const { sender, sockets } = await published();
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['q'] });
    await settle();
    assert.deepEqual(sender.active(), { q: true, h: false, f: false });
    // The browser forgot them (as after some renegotiations): the next exchange restores them.
    sender.encodings = sender.encodings.map((e) => ({ ...e, active: true }));
    sockets[0]!.receive({ type: 'offer', sdp: 'v=0\r\nm=application 9 X 5000\r\na=mid:1\r\n' });
    await settle();
    assert.equal(sockets[0]!.sent.at(-1)?.type, 'answer');
    assert.deepEqual(sender.active(), { q: true, h: false, f: false });
    assert.equal(sender.calls.length, 2);
  });

  it('a rejoin resets to every layer (the server sends fresh messages)', async () => {
    const { r, local, sender, sockets, pcs, changes } = await published();
    sockets[0]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: [] });
    await settle();
    assert.deepEqual(sender.active(), { q: false, h: false, f: false });
    sockets[0]!.drop(1006);
    await waitFor(() => assert.equal(sockets.length, 2));
    sockets[1]!.receive(joined('PA_me2'));
    await waitFor(() => assert.equal(r.state, 'connected'));
    await settle();
    assert.deepEqual(local.activeLayers, ['q', 'h', 'f']);
    assert.deepEqual(changes, ['TR_cam []', 'undefined [q,h,f]']);
    const fresh = pcs[1]!.transceivers[0]!.sender;
    assert.deepEqual(fresh.active(), { q: true, h: true, f: true });
    // The new track id from now on.
    sockets[1]!.receive({ type: 'answer', sdp: 'answer' });
    sockets[1]!.receive({ type: 'track_published', track: track('TR_cam2', 'PA_me2', 'video', { mid: '0' }) });
    sockets[1]!.receive({ type: 'publisher_layers', track_id: 'TR_cam', active: ['q'] });
    await settle();
    assert.deepEqual(fresh.calls, []);
    sockets[1]!.receive({ type: 'publisher_layers', track_id: 'TR_cam2', active: ['q'] });
    await settle();
    assert.deepEqual(fresh.active(), { q: true, h: false, f: false });
    assert.deepEqual(changes, ['TR_cam []', 'undefined [q,h,f]', 'TR_cam2 [q]']);
  });
});
