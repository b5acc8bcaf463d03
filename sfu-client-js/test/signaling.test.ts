import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { rejectsWith } from './helpers.js';
import {
  backoffDelay,
  buildSignalUrl,
  DEFAULT_BACKOFF,
  encodeClientMessage,
  parseServerMessage,
  SignalError,
  SignalSession,
  type ParseResult,
  type ServerMessage,
  type WebSocketLike,
} from '../src/signaling.js';

const track = {
  id: 'TR_05a3f51b069d4648',
  participant_id: 'PA_3f2a9c0d11e0b7a4',
  kind: 'video',
  source: 'camera',
  name: 'front',
  mid: '1',
  codec: 'VP8',
  muted: false,
  simulcast: [{ rid: 'q' }, { rid: 'h', width: 640, height: 360 }, { rid: 'f' }],
};
const alice = { id: 'PA_3f2a9c0d11e0b7a4', identity: 'alice', name: 'Alice', joined_at: 1795273990, tracks: [track] };
const joined = {
  type: 'joined',
  room: { name: 'standup', sid: 'RM_ce7c6365c72b489598e57dafb11bb323', created_at: 1795273975, num_participants: 2, max_participants: 0, empty_timeout_s: 300 },
  participant: { id: 'PA_9d1c0e2f7a6b5c4d', identity: 'bob', joined_at: 1795274001, tracks: [] },
  participants: [alice],
  ice_servers: [{ urls: ['stun:stun.example.org:3478'] }, { urls: ['turn:turn.example.org:3478'], username: 'u', credential: 'c' }],
};

function message(v: unknown): ServerMessage {
  const r = parseServerMessage(JSON.stringify(v));
  if (r.kind !== 'message') throw new Error(`not a message: ${JSON.stringify(r)}`);
  return r.message;
}

function invalid(v: unknown): Extract<ParseResult, { kind: 'invalid' }> {
  const r = parseServerMessage(typeof v === 'string' ? v : JSON.stringify(v));
  if (r.kind !== 'invalid') throw new Error(`not invalid: ${JSON.stringify(r)}`);
  return r;
}

describe('parseServerMessage', () => {
  it('parses joined with its room, participants, tracks and ICE servers', () => {
    const m = message(joined);
    assert.equal(m.type, 'joined');
    if (m.type !== 'joined') return;
    assert.equal(m.room.sid, 'RM_ce7c6365c72b489598e57dafb11bb323');
    assert.equal(m.room.empty_timeout_s, 300);
    assert.equal(m.participant.identity, 'bob');
    assert.equal(m.participants[0]?.name, 'Alice');
    assert.deepEqual(m.participants[0]?.tracks[0], track);
    assert.deepEqual(m.ice_servers[1], { urls: ['turn:turn.example.org:3478'], username: 'u', credential: 'c' });
  });

  it('parses every other server message of the protocol', () => {
    const same = (v: unknown) => assert.deepEqual(message(v), v);
    same({ type: 'offer', sdp: 'v=0\r\n' });
    same({ type: 'answer', sdp: 'v=0\r\n' });
    same({ type: 'candidate', candidate: { candidate: 'candidate:1 1 udp 1 203.0.113.7 7882 typ host', sdpMid: '0', sdpMLineIndex: 0 } });
    same({ type: 'participant_joined', participant: { id: 'PA_1', identity: 'bob', joined_at: 1, tracks: [] } });
    same({ type: 'participant_left', participant_id: 'PA_1' });
    same({ type: 'track_published', track });
    same({ type: 'track_unpublished', track_id: 'TR_1' });
    same({ type: 'track_muted', track_id: 'TR_1', muted: true });
    same({ type: 'active_speakers', speakers: [{ participant_id: 'PA_1', level: 0.8 }] });
    same({ type: 'subscription', track_id: 'TR_1', layer: 'h', paused: false });
    same({ type: 'subscription', track_id: 'TR_1', layer: null, paused: true, reason: 'subscriber' });
    same({ type: 'publisher_layers', track_id: 'TR_1', active: ['q', 'h'] });
    same({ type: 'publisher_layers', track_id: 'TR_1', active: [] });
    same({ type: 'error', code: 'invalid_sdp', message: 'invalid SDP: x' });
    same({ type: 'leave', reason: 'room_closed' });
  });

  it('drops unknown fields and tolerates optional ones being absent', () => {
    const { name: _name, ...unnamed } = track;
    const m = message({ type: 'track_published', extra: 1, track: { ...unnamed, received: [], future: true } });
    assert.deepEqual(m, { type: 'track_published', track: unnamed });
    assert.deepEqual(message({ type: 'subscription', track_id: 'TR_1', paused: false }), { type: 'subscription', track_id: 'TR_1', layer: null, paused: false });
    assert.deepEqual(message({ type: 'leave' }), { type: 'leave', reason: 'unknown' });
    assert.deepEqual(message({ type: 'publisher_layers', track_id: 'TR_1', active: ['f'], since: 3 }), { type: 'publisher_layers', track_id: 'TR_1', active: ['f'] });
    assert.deepEqual(message({ type: 'candidate', candidate: { candidate: '' } }), { type: 'candidate', candidate: { candidate: '' } });
    const j = message({ ...joined, ice_servers: undefined });
    assert.ok(j.type === 'joined');
    assert.deepEqual(j.ice_servers, []);
  });

  it('normalizes track sources', () => {
    const parse = (source: unknown) => {
      const m = message({ type: 'track_published', track: { ...track, source } });
      return m.type === 'track_published' ? m.track.source : null;
    };
    assert.equal(parse('screen'), 'screen');
    assert.equal(parse('screen_share'), 'screen');
    assert.equal(parse('hologram'), 'unknown');
    assert.equal(parse(undefined), 'unknown');
  });

  it('ignores unknown message types', () => {
    assert.deepEqual(parseServerMessage('{"type":"room_metadata","data":{}}'), { kind: 'ignored', type: 'room_metadata' });
  });

  it('reports malformed frames without throwing', () => {
    assert.equal(invalid('{not json').reason, 'invalid_json');
    assert.equal(invalid('[1,2]').reason, 'not_an_object');
    assert.equal(invalid('null').reason, 'not_an_object');
    assert.equal(invalid({ sdp: 'x' }).reason, 'missing_type');
    assert.equal(invalid({ type: 7 }).reason, 'missing_type');
  });

  it('rejects known types with missing or ill-typed fields', () => {
    const cases: unknown[] = [
      { type: 'offer' },
      { type: 'answer', sdp: 5 },
      { type: 'candidate', candidate: 'candidate:1' },
      { type: 'candidate', candidate: { candidate: 'c', sdpMLineIndex: 'zero' } },
      { type: 'participant_left' },
      { type: 'participant_joined', participant: { id: 'PA_1' } },
      { type: 'track_published', track: { ...track, kind: 'data' } },
      { type: 'track_published', track: { ...track, simulcast: [{ width: 1 }] } },
      { type: 'track_muted', track_id: 'TR_1', muted: 'yes' },
      { type: 'active_speakers', speakers: [{ participant_id: 'PA_1', level: 'loud' }] },
      { type: 'active_speakers' },
      { type: 'subscription', track_id: 'TR_1', layer: 2, paused: false },
      { type: 'publisher_layers', active: ['q'] },
      { type: 'publisher_layers', track_id: 'TR_1' },
      { type: 'publisher_layers', track_id: 'TR_1', active: 'q' },
      { type: 'publisher_layers', track_id: 'TR_1', active: ['q', 2] },
      { type: 'publisher_layers', track_id: 7, active: [] },
      { type: 'error', message: 'no code' },
      { ...joined, room: null },
      { ...joined, ice_servers: [{ urls: 3 }] },
    ];
    for (const c of cases) {
      const r = invalid(c);
      assert.equal(r.reason, 'invalid_message', JSON.stringify(c));
      assert.equal(r.type, (c as { type: string }).type);
      assert.ok(r.detail.length > 0);
    }
  });
});

describe('client messages', () => {
  it('encodes without undefined fields', () => {
    assert.equal(encodeClientMessage({ type: 'track_info', mid: '0', source: 'camera', name: undefined }), '{"type":"track_info","mid":"0","source":"camera"}');
    assert.deepEqual(JSON.parse(encodeClientMessage({ type: 'set_subscription', track_id: 'TR_1', max_width: 640, max_height: 360, max_temporal: 1 })), {
      type: 'set_subscription',
      track_id: 'TR_1',
      max_width: 640,
      max_height: 360,
      max_temporal: 1,
    });
  });
});

describe('buildSignalUrl', () => {
  it('turns a base address into the WebSocket endpoint', () => {
    assert.equal(buildSignalUrl('http://127.0.0.1:7880', 'abc'), 'ws://127.0.0.1:7880/v1/rtc?access_token=abc');
    assert.equal(buildSignalUrl('https://sfu.example.org/', 'a.b.c'), 'wss://sfu.example.org/v1/rtc?access_token=a.b.c');
    assert.equal(buildSignalUrl('wss://sfu.example.org/prefix/', 't'), 'wss://sfu.example.org/prefix/v1/rtc?access_token=t');
    assert.equal(buildSignalUrl('ws://h:1/v1/rtc?access_token=old', 'new'), 'ws://h:1/v1/rtc?access_token=new');
    assert.equal(buildSignalUrl('ws://h:1', 'a+b/c='), 'ws://h:1/v1/rtc?access_token=a%2Bb%2Fc%3D');
    assert.throws(() => buildSignalUrl('ftp://h', 't'));
  });
});

describe('backoffDelay', () => {
  const policy = { initialDelayMs: 500, maxDelayMs: 8000, factor: 2, jitter: 0.5, maxAttempts: 7 };

  it('doubles up to the cap without jitter at random() = 0', () => {
    const delays = Array.from({ length: 8 }, (_, i) => backoffDelay(i, policy, () => 0));
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 8000, 8000, null]);
  });

  it('jitters downwards within [d * (1 - jitter), d]', () => {
    assert.equal(backoffDelay(2, policy, () => 1), 1000);
    assert.equal(backoffDelay(2, policy, () => 0.5), 1500);
    for (let i = 0; i < 200; i++) {
      const attempt = i % 7;
      const d = backoffDelay(attempt, policy)!;
      const base = Math.min(8000, 500 * 2 ** attempt);
      assert.ok(d >= base / 2 && d <= base, `${d} for attempt ${attempt}`);
    }
  });

  it('is bounded by the cap and the attempt count whatever random() returns', () => {
    assert.equal(backoffDelay(50, { ...policy, maxAttempts: Infinity }, () => -3), 8000);
    assert.equal(backoffDelay(3, { ...policy, jitter: 7 }, () => 2), 0);
    assert.equal(backoffDelay(-1, policy), null);
    assert.equal(backoffDelay(Number.NaN, policy), null);
    assert.equal(backoffDelay(0, { ...policy, maxAttempts: 0 }), null);
  });

  it('has sane defaults', () => {
    assert.equal(backoffDelay(0, DEFAULT_BACKOFF, () => 0), 500);
    assert.equal(backoffDelay(DEFAULT_BACKOFF.maxAttempts - 1, DEFAULT_BACKOFF, () => 0), DEFAULT_BACKOFF.maxDelayMs);
    assert.equal(backoffDelay(DEFAULT_BACKOFF.maxAttempts, DEFAULT_BACKOFF), null);
  });
});

describe('SignalError', () => {
  it('tells retryable failures from refusals', () => {
    assert.equal(new SignalError('connect_failed', '').retryable, true);
    assert.equal(new SignalError('draining', '').retryable, true);
    assert.equal(new SignalError('timeout', '').retryable, true);
    assert.equal(new SignalError('room_full', '').retryable, false);
    assert.equal(new SignalError('room_not_found', '').retryable, false);
  });
});

class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  sent: string[] = [];
  closedWith: number | undefined;
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(data);
  }
  close(code?: number): void {
    this.closedWith = code;
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(v: unknown): void {
    this.onmessage?.({ data: typeof v === 'string' ? v : JSON.stringify(v) });
  }
  drop(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

function openSession() {
  let socket!: FakeSocket;
  const promise = SignalSession.open('ws://h/v1/rtc?access_token=t', {
    webSocketFactory: (url) => (socket = new FakeSocket(url)),
    joinTimeoutMs: 1000,
  });
  return { promise, socket: () => socket };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SignalSession', () => {
  it('resolves with joined and delivers later messages in order, one at a time', async () => {
    const { promise, socket } = openSession();
    socket().open();
    socket().receive(joined);
    const { session, joined: j } = await promise;
    assert.equal(j.participant.id, 'PA_9d1c0e2f7a6b5c4d');
    assert.equal(session.state, 'open');
    socket().receive({ type: 'offer', sdp: 'o1' });
    socket().receive({ type: 'unknown_future_type' });
    socket().receive('garbage');
    socket().receive({ type: 'answer', sdp: 'a1' });
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    session.start({
      onMessage: async (m) => {
        log.push(`start ${m.type}`);
        if (m.type === 'offer') await gate;
        log.push(`end ${m.type}`);
      },
      onClose: () => void log.push('close'),
    });
    await sleep(5);
    assert.deepEqual(log, ['start offer']);
    release();
    await sleep(5);
    assert.deepEqual(log, ['start offer', 'end offer', 'start answer', 'end answer']);
    assert.equal(session.send({ type: 'leave' }), true);
    assert.deepEqual(socket().sent, ['{"type":"leave"}']);
  });

  it('rejects with the server error code of a refused join', async () => {
    const { promise, socket } = openSession();
    socket().open();
    socket().receive({ type: 'error', code: 'room_full', message: 'the room is full' });
    socket().drop(1008, 'room_full');
    await rejectsWith(promise, { code: 'room_full', retryable: false });
  });

  it('rejects with a retryable error when the socket closes before joined', async () => {
    const { promise, socket } = openSession();
    socket().drop(1006);
    await rejectsWith(promise, { code: 'connect_failed', closeCode: 1006, retryable: true });
  });

  it('times out without joined', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { promise, socket } = openSession();
      socket().open();
      mock.timers.tick(1001);
      await rejectsWith(promise, { code: 'timeout' });
      assert.equal(socket().readyState, 3);
    } finally {
      mock.timers.reset();
    }
  });

  it('reports the leave reason with the close, after pending messages', async () => {
    const { promise, socket } = openSession();
    socket().open();
    socket().receive(joined);
    const { session } = await promise;
    socket().receive({ type: 'participant_left', participant_id: 'PA_1' });
    socket().receive({ type: 'leave', reason: 'removed' });
    socket().drop(1000, 'removed');
    const seen: string[] = [];
    await new Promise<void>((resolve) => {
      session.start({
        onMessage: (m) => void seen.push(m.type),
        onClose: (info) => {
          seen.push(`close ${info.code} ${info.leave?.reason}`);
          resolve();
        },
      });
    });
    assert.deepEqual(seen, ['participant_left', 'leave', 'close 1000 removed']);
  });

  it('does not report a close the client asked for', async () => {
    const { promise, socket } = openSession();
    socket().open();
    socket().receive(joined);
    const { session } = await promise;
    const onClose = mock.fn();
    session.start({ onMessage: () => undefined, onClose });
    session.close(true);
    assert.deepEqual(socket().sent, ['{"type":"leave"}']);
    socket().drop(1000);
    await sleep(5);
    assert.equal(onClose.mock.callCount(), 0);
    assert.equal(session.send({ type: 'leave' }), false);
  });
});
