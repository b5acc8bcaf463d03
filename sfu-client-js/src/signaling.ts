// Signalling: the typed JSON messages of docs/protocol.md, their validation, the backoff
// schedule of reconnects, and a WebSocket session that joins a room.

// ---------------------------------------------------------------------------------------------
// JSON shapes
// ---------------------------------------------------------------------------------------------

export type TrackKind = 'audio' | 'video';
export type TrackSource = 'camera' | 'microphone' | 'screen' | 'unknown';
/** The simulcast layer names used by convention, low to high. Servers accept any RIDs. */
export type LayerName = 'q' | 'h' | 'f';

export interface SimulcastLayerInfo {
  rid: string;
  width?: number;
  height?: number;
}

/** `Track` of the protocol. */
export interface TrackInfo {
  id: string;
  participant_id: string;
  kind: TrackKind;
  source: TrackSource;
  name?: string;
  mid: string;
  codec: string;
  muted: boolean;
  simulcast: SimulcastLayerInfo[];
}

/** `Participant` of the protocol. */
export interface ParticipantInfo {
  id: string;
  identity: string;
  name?: string;
  joined_at: number;
  tracks: TrackInfo[];
}

/** `Room` of the protocol. */
export interface RoomInfo {
  name: string;
  sid: string;
  created_at: number;
  num_participants: number;
  max_participants: number;
  empty_timeout_s?: number;
}

export interface IceServerInfo {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** `RTCIceCandidateInit` as browsers serialize it. */
export interface IceCandidateInfo {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

export interface SpeakerInfo {
  participant_id: string;
  level: number;
}

// ---------------------------------------------------------------------------------------------
// Server -> client
// ---------------------------------------------------------------------------------------------

export interface JoinedMessage {
  type: 'joined';
  room: RoomInfo;
  participant: ParticipantInfo;
  participants: ParticipantInfo[];
  ice_servers: IceServerInfo[];
}
export interface ServerOfferMessage { type: 'offer'; sdp: string }
export interface ServerAnswerMessage { type: 'answer'; sdp: string }
export interface ServerCandidateMessage { type: 'candidate'; candidate: IceCandidateInfo }
export interface ParticipantJoinedMessage { type: 'participant_joined'; participant: ParticipantInfo }
export interface ParticipantLeftMessage { type: 'participant_left'; participant_id: string }
export interface TrackPublishedMessage { type: 'track_published'; track: TrackInfo }
export interface TrackUnpublishedMessage { type: 'track_unpublished'; track_id: string }
export interface TrackMutedMessage { type: 'track_muted'; track_id: string; muted: boolean }
export interface ActiveSpeakersMessage { type: 'active_speakers'; speakers: SpeakerInfo[] }
export interface SubscriptionMessage {
  type: 'subscription';
  track_id: string;
  /** The RID sent now; `null` while paused or for a single-layer track. */
  layer: string | null;
  paused: boolean;
  reason?: string;
}
/**
 * Dynacast: sent to the publisher of a simulcast video track. `active` lists the RIDs that some
 * subscriber or forward needs now; the publisher should stop sending the others (empty: pause
 * every layer). A later message supersedes earlier ones.
 */
export interface PublisherLayersMessage { type: 'publisher_layers'; track_id: string; active: string[] }
export interface ErrorMessage { type: 'error'; code: string; message: string }
export interface LeaveMessage { type: 'leave'; reason: string }

export type ServerMessage =
  | JoinedMessage
  | ServerOfferMessage
  | ServerAnswerMessage
  | ServerCandidateMessage
  | ParticipantJoinedMessage
  | ParticipantLeftMessage
  | TrackPublishedMessage
  | TrackUnpublishedMessage
  | TrackMutedMessage
  | ActiveSpeakersMessage
  | SubscriptionMessage
  | PublisherLayersMessage
  | ErrorMessage
  | LeaveMessage;

export type ServerMessageType = ServerMessage['type'];

// ---------------------------------------------------------------------------------------------
// Client -> server
// ---------------------------------------------------------------------------------------------

export interface ClientOfferMessage { type: 'offer'; sdp: string }
export interface ClientAnswerMessage { type: 'answer'; sdp: string }
export interface ClientCandidateMessage { type: 'candidate'; candidate: IceCandidateInfo }
export interface TrackInfoMessage { type: 'track_info'; mid: string; source: TrackSource; name?: string }
export interface SubscribeMessage { type: 'subscribe'; track_id: string; subscribe: boolean }
export interface SetSubscriptionMessage {
  type: 'set_subscription';
  track_id: string;
  max_width?: number;
  max_height?: number;
  /** The highest RID wanted. */
  layer?: string;
  paused?: boolean;
  /** Extension: the highest VP8 temporal layer sent (0, 1 or 2). */
  max_temporal?: number;
}
export interface MuteMessage { type: 'mute'; track_id: string; muted: boolean }
export interface ClientLeaveMessage { type: 'leave' }

export type ClientMessage =
  | ClientOfferMessage
  | ClientAnswerMessage
  | ClientCandidateMessage
  | TrackInfoMessage
  | SubscribeMessage
  | SetSubscriptionMessage
  | MuteMessage
  | ClientLeaveMessage;

/** Leave reasons the server sends (docs/protocol.md, "Leaving and disconnects"). */
export type ServerLeaveReason =
  | 'removed'
  | 'room_closed'
  | 'server_shutdown'
  | 'duplicate_identity'
  | 'peer_timeout'
  | 'connection_closed'
  | 'slow_client';

// ---------------------------------------------------------------------------------------------
// Parsing and validation
// ---------------------------------------------------------------------------------------------

export type ParseResult =
  | { kind: 'message'; message: ServerMessage }
  /** A well-formed message of a type this client does not know: ignore it (forward compatible). */
  | { kind: 'ignored'; type: string }
  | { kind: 'invalid'; reason: 'invalid_json' | 'not_an_object' | 'missing_type' | 'invalid_message'; type?: string; detail: string };

class Invalid extends Error {}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) throw new Invalid(`${path} is not an object`);
  return v;
}
function str(o: Obj, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new Invalid(`${path}.${key} is not a string`);
  return v;
}
function optStr(o: Obj, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new Invalid(`${path}.${key} is not a string`);
  return v;
}
function num(o: Obj, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Invalid(`${path}.${key} is not a number`);
  return v;
}
function optNum(o: Obj, key: string, path: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Invalid(`${path}.${key} is not a number`);
  return v;
}
function bool(o: Obj, key: string, path: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw new Invalid(`${path}.${key} is not a boolean`);
  return v;
}
function arr<T>(o: Obj, key: string, path: string, each: (v: unknown, p: string) => T): T[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new Invalid(`${path}.${key} is not an array`);
  return v.map((item, i) => each(item, `${path}.${key}[${i}]`));
}

const SOURCES: readonly string[] = ['camera', 'microphone', 'screen', 'unknown'];

/** Maps a wire `source` to the SDK's; unknown values (and the alias `screen_share`) are normalized. */
export function normalizeSource(v: unknown): TrackSource {
  if (v === 'screen_share') return 'screen';
  return typeof v === 'string' && SOURCES.includes(v) ? (v as TrackSource) : 'unknown';
}

export function parseTrack(v: unknown, path = 'track'): TrackInfo {
  const o = obj(v, path);
  const kind = str(o, 'kind', path);
  if (kind !== 'audio' && kind !== 'video') throw new Invalid(`${path}.kind is not audio or video`);
  const t: TrackInfo = {
    id: str(o, 'id', path),
    participant_id: str(o, 'participant_id', path),
    kind,
    source: normalizeSource(o['source']),
    mid: optStr(o, 'mid', path) ?? '',
    codec: optStr(o, 'codec', path) ?? '',
    muted: o['muted'] === undefined ? false : bool(o, 'muted', path),
    simulcast:
      o['simulcast'] === undefined || o['simulcast'] === null
        ? []
        : arr(o, 'simulcast', path, (l, p) => {
            const lo = obj(l, p);
            const layer: SimulcastLayerInfo = { rid: str(lo, 'rid', p) };
            const w = optNum(lo, 'width', p);
            const h = optNum(lo, 'height', p);
            if (w !== undefined) layer.width = w;
            if (h !== undefined) layer.height = h;
            return layer;
          }),
  };
  const name = optStr(o, 'name', path);
  if (name !== undefined) t.name = name;
  return t;
}

export function parseParticipant(v: unknown, path = 'participant'): ParticipantInfo {
  const o = obj(v, path);
  const p: ParticipantInfo = {
    id: str(o, 'id', path),
    identity: str(o, 'identity', path),
    joined_at: optNum(o, 'joined_at', path) ?? 0,
    tracks: o['tracks'] === undefined ? [] : arr(o, 'tracks', path, parseTrack),
  };
  const name = optStr(o, 'name', path);
  if (name !== undefined) p.name = name;
  return p;
}

function parseRoom(v: unknown, path = 'room'): RoomInfo {
  const o = obj(v, path);
  const r: RoomInfo = {
    name: str(o, 'name', path),
    sid: str(o, 'sid', path),
    created_at: optNum(o, 'created_at', path) ?? 0,
    num_participants: optNum(o, 'num_participants', path) ?? 0,
    max_participants: optNum(o, 'max_participants', path) ?? 0,
  };
  const t = optNum(o, 'empty_timeout_s', path);
  if (t !== undefined) r.empty_timeout_s = t;
  return r;
}

function parseIceServer(v: unknown, path: string): IceServerInfo {
  const o = obj(v, path);
  const urls = o['urls'];
  let parsed: string | string[];
  if (typeof urls === 'string') parsed = urls;
  else if (Array.isArray(urls) && urls.every((u) => typeof u === 'string')) parsed = urls as string[];
  else throw new Invalid(`${path}.urls is not a string or an array of strings`);
  const s: IceServerInfo = { urls: parsed };
  const username = optStr(o, 'username', path);
  const credential = optStr(o, 'credential', path);
  if (username !== undefined) s.username = username;
  if (credential !== undefined) s.credential = credential;
  return s;
}

export function parseCandidate(v: unknown, path = 'candidate'): IceCandidateInfo {
  const o = obj(v, path);
  const c: IceCandidateInfo = { candidate: str(o, 'candidate', path) };
  const mid = o['sdpMid'];
  if (mid === null || typeof mid === 'string') c.sdpMid = mid;
  else if (mid !== undefined) throw new Invalid(`${path}.sdpMid is not a string`);
  const idx = o['sdpMLineIndex'];
  if (idx === null || (typeof idx === 'number' && Number.isInteger(idx))) c.sdpMLineIndex = idx;
  else if (idx !== undefined) throw new Invalid(`${path}.sdpMLineIndex is not an integer`);
  const uf = o['usernameFragment'];
  if (uf === null || typeof uf === 'string') c.usernameFragment = uf;
  return c;
}

/** Validates one decoded server message. Throws `Invalid` for a known type of the wrong shape. */
function validate(type: string, o: Obj): ServerMessage | null {
  const p = type;
  switch (type) {
    case 'joined':
      return {
        type,
        room: parseRoom(o['room']),
        participant: parseParticipant(o['participant']),
        participants: o['participants'] === undefined ? [] : arr(o, 'participants', p, parseParticipant),
        ice_servers:
          o['ice_servers'] === undefined || o['ice_servers'] === null ? [] : arr(o, 'ice_servers', p, parseIceServer),
      };
    case 'offer':
    case 'answer':
      return { type, sdp: str(o, 'sdp', p) };
    case 'candidate':
      return { type, candidate: parseCandidate(o['candidate']) };
    case 'participant_joined':
      return { type, participant: parseParticipant(o['participant']) };
    case 'participant_left':
      return { type, participant_id: str(o, 'participant_id', p) };
    case 'track_published':
      return { type, track: parseTrack(o['track']) };
    case 'track_unpublished':
      return { type, track_id: str(o, 'track_id', p) };
    case 'track_muted':
      return { type, track_id: str(o, 'track_id', p), muted: bool(o, 'muted', p) };
    case 'active_speakers':
      return {
        type,
        speakers: arr(o, 'speakers', p, (s, sp) => {
          const so = obj(s, sp);
          return { participant_id: str(so, 'participant_id', sp), level: num(so, 'level', sp) };
        }),
      };
    case 'subscription': {
      const layer = o['layer'];
      if (layer !== undefined && layer !== null && typeof layer !== 'string') {
        throw new Invalid('subscription.layer is not a string or null');
      }
      const m: SubscriptionMessage = {
        type,
        track_id: str(o, 'track_id', p),
        layer: typeof layer === 'string' ? layer : null,
        paused: o['paused'] === undefined ? false : bool(o, 'paused', p),
      };
      const reason = optStr(o, 'reason', p);
      if (reason !== undefined) m.reason = reason;
      return m;
    }
    case 'publisher_layers':
      return {
        type,
        track_id: str(o, 'track_id', p),
        active: arr(o, 'active', p, (v, vp) => {
          if (typeof v !== 'string') throw new Invalid(`${vp} is not a string`);
          return v;
        }),
      };
    case 'error':
      return { type, code: str(o, 'code', p), message: optStr(o, 'message', p) ?? '' };
    case 'leave':
      // The reason is what a user most needs to see: tolerate its absence rather than drop the message.
      return { type, reason: optStr(o, 'reason', p) ?? 'unknown' };
    default:
      return null;
  }
}

/**
 * Parses one text frame from the server. Unknown fields are dropped, unknown message types are
 * reported as `ignored` (a newer server may send more), and a known type with missing or ill-typed
 * fields is `invalid`.
 */
export function parseServerMessage(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { kind: 'invalid', reason: 'invalid_json', detail: String(e) };
  }
  if (!isObj(value)) return { kind: 'invalid', reason: 'not_an_object', detail: 'not a JSON object' };
  const type = value['type'];
  if (typeof type !== 'string') return { kind: 'invalid', reason: 'missing_type', detail: 'no string "type" field' };
  try {
    const message = validate(type, value);
    return message ? { kind: 'message', message } : { kind: 'ignored', type };
  } catch (e) {
    if (e instanceof Invalid) return { kind: 'invalid', reason: 'invalid_message', type, detail: e.message };
    throw e;
  }
}

/** Serializes a client message, dropping `undefined` fields. */
export function encodeClientMessage(message: ClientMessage): string {
  return JSON.stringify(message);
}

// ---------------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------------

/**
 * The signalling URL for a server address and token. `url` may be the server's base address
 * (`http(s)://` or `ws(s)://`, with or without a path prefix) or the full `/v1/rtc` endpoint.
 */
export function buildSignalUrl(url: string, token: string): string {
  const u = new URL(url);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`unsupported URL scheme ${u.protocol}`);
  if (!u.pathname.endsWith('/v1/rtc')) u.pathname = u.pathname.replace(/\/+$/, '') + '/v1/rtc';
  u.searchParams.set('access_token', token);
  return u.toString();
}

// ---------------------------------------------------------------------------------------------
// Backoff
// ---------------------------------------------------------------------------------------------

export interface BackoffPolicy {
  /** Delay before the first retry, ms. */
  initialDelayMs: number;
  /** Upper bound of any delay, ms. */
  maxDelayMs: number;
  /** Growth per attempt. */
  factor: number;
  /** Fraction of each delay that is randomized (0 = none, 1 = "full jitter"). */
  jitter: number;
  /** Attempts before giving up (`Infinity` for never). */
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialDelayMs: 500,
  maxDelayMs: 15_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: 10,
};

/**
 * The delay before retry number `attempt` (0-based), or `null` when the policy allows no more
 * attempts. Exponential, capped at `maxDelayMs`, and jittered downwards: the result lies in
 * `[d * (1 - jitter), d]` where `d = min(maxDelayMs, initialDelayMs * factor^attempt)`, so it
 * never exceeds the cap and retries of many clients spread out.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number | null {
  if (!(attempt >= 0) || attempt >= policy.maxAttempts) return null;
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * Math.pow(policy.factor, attempt));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(base * (1 - jitter * r));
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** A failure of the signalling session: a server `error`, a refused join, a dropped socket. */
export class SignalError extends Error {
  /** The server's error code (`room_full`, ...) or a client-side one (`connect_failed`, `timeout`, `closed`). */
  readonly code: string;
  /** WebSocket close code, when the socket closed. */
  readonly closeCode: number | undefined;
  constructor(code: string, message: string, closeCode?: number) {
    super(message);
    this.name = 'SignalError';
    this.code = code;
    this.closeCode = closeCode;
  }
  /**
   * Whether trying again later may succeed. Join refusals that depend on the room or the token
   * do not; network failures, timeouts and `draining` may.
   */
  get retryable(): boolean {
    return RETRYABLE_CODES.has(this.code);
  }
}

const RETRYABLE_CODES = new Set(['connect_failed', 'timeout', 'closed', 'draining']);

// ---------------------------------------------------------------------------------------------
// WebSocket session
// ---------------------------------------------------------------------------------------------

/** The subset of the browser `WebSocket` the SDK uses (so tests and Node can inject one). */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType?: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = (url: string) => WebSocketLike;

export type SignalState = 'connecting' | 'open' | 'closed';

export interface SignalSessionOptions {
  /** Creates the socket; defaults to the global `WebSocket`. */
  webSocketFactory?: WebSocketFactory;
  /** Time allowed from opening the socket to the `joined` message, ms. */
  joinTimeoutMs?: number;
  /** Called for messages that are not valid (after the join). */
  onInvalid?: (result: Extract<ParseResult, { kind: 'invalid' | 'ignored' }>, raw: string) => void;
}

export interface SignalSessionHandlers {
  /** Every server message after `joined`, in order. A returned promise holds back the next one. */
  onMessage: (message: ServerMessage) => void | Promise<void>;
  /** The socket closed (not after `close()` by the client). `leave` is the server's last word, if any. */
  onClose: (info: { code: number; reason: string; leave: LeaveMessage | undefined }) => void;
}

const OPEN = 1;

/**
 * One WebSocket session: opens the socket, waits for `joined`, then hands every following
 * message to `onMessage` one at a time (an async handler finishes before the next message is
 * handled, so an offer never interleaves with the handling of the one before it).
 */
export class SignalSession {
  private ws: WebSocketLike | null = null;
  private queue: Promise<void> = Promise.resolve();
  private leave: LeaveMessage | undefined;
  private closedByClient = false;
  private handlers: SignalSessionHandlers | null = null;
  private _state: SignalState = 'connecting';

  get state(): SignalState {
    return this._state;
  }

  /**
   * Opens the socket and resolves with the `joined` message. Messages that arrive before
   * `start(handlers)` is called are buffered.
   */
  static open(url: string, options: SignalSessionOptions = {}): Promise<{ session: SignalSession; joined: JoinedMessage }> {
    const session = new SignalSession();
    return session.connect(url, options).then((joined) => ({ session, joined }));
  }

  private buffered: ServerMessage[] = [];

  private connect(url: string, options: SignalSessionOptions): Promise<JoinedMessage> {
    const factory: WebSocketFactory =
      options.webSocketFactory ??
      ((u) => {
        const WS = (globalThis as { WebSocket?: new (u: string) => WebSocketLike }).WebSocket;
        if (!WS) throw new SignalError('connect_failed', 'no WebSocket implementation available');
        return new WS(u);
      });
    return new Promise<JoinedMessage>((resolve, reject) => {
      let joined = false;
      let ws: WebSocketLike;
      try {
        ws = factory(url);
      } catch (e) {
        reject(e instanceof SignalError ? e : new SignalError('connect_failed', String(e)));
        return;
      }
      this.ws = ws;
      const timer = setTimeout(() => {
        if (joined) return;
        fail(new SignalError('timeout', 'no `joined` message in time'));
        try { ws.close(); } catch { /* already closed */ }
      }, options.joinTimeoutMs ?? 15_000);
      let failure: SignalError | null = null;
      const fail = (e: SignalError): void => {
        if (joined || failure) return;
        failure = e;
        clearTimeout(timer);
        this._state = 'closed';
        reject(e);
      };
      ws.onopen = () => { /* the server speaks first */ };
      ws.onerror = () => { /* a close event follows and says more */ };
      ws.onmessage = (ev) => {
        if (typeof ev.data !== 'string') return;
        const result = parseServerMessage(ev.data);
        if (result.kind !== 'message') {
          options.onInvalid?.(result, ev.data);
          return;
        }
        const m = result.message;
        if (!joined) {
          if (m.type === 'joined') {
            joined = true;
            clearTimeout(timer);
            this._state = 'open';
            resolve(m);
          } else if (m.type === 'error') {
            fail(new SignalError(m.code, m.message || m.code));
          } else if (m.type === 'leave') {
            fail(new SignalError(m.reason, `left before joining: ${m.reason}`));
          }
          return;
        }
        if (m.type === 'leave') this.leave = m;
        this.dispatch(m);
      };
      ws.onclose = (ev) => {
        this._state = 'closed';
        if (!joined) {
          // A refused upgrade (bad token: 401, draining: 503) shows in browsers only as close 1006.
          const code = ev.code === 1008 && ev.reason ? ev.reason : 'connect_failed';
          fail(new SignalError(code, `signalling socket closed before joining (code ${ev.code}${ev.reason ? `, ${ev.reason}` : ''})`, ev.code));
          return;
        }
        if (this.closedByClient) return;
        const info = { code: ev.code, reason: ev.reason, leave: this.leave };
        // After the messages already received have been handled.
        const h = this.handlers;
        if (h) this.queue = this.queue.then(() => h.onClose(info));
        else this.pendingClose = info;
      };
    });
  }

  private pendingClose: { code: number; reason: string; leave: LeaveMessage | undefined } | null = null;

  private dispatch(m: ServerMessage): void {
    if (!this.handlers) {
      this.buffered.push(m);
      return;
    }
    const h = this.handlers;
    this.queue = this.queue
      .then(() => h.onMessage(m))
      .catch((e: unknown) => {
        // A failing handler must not stop the session; it reports through its own channels.
        console.error('sfu-client: message handler failed', e);
      });
  }

  /** Starts delivering messages (buffered ones first). */
  start(handlers: SignalSessionHandlers): void {
    this.handlers = handlers;
    const buffered = this.buffered;
    this.buffered = [];
    for (const m of buffered) this.dispatch(m);
    if (this.pendingClose) {
      const info = this.pendingClose;
      this.pendingClose = null;
      this.queue = this.queue.then(() => handlers.onClose(info));
    }
  }

  /** Sends a message; returns false when the socket is not open. */
  send(message: ClientMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    try {
      ws.send(encodeClientMessage(message));
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the socket without reporting `onClose`. Sends `leave` first when `leave` is true. */
  close(leave = false): void {
    if (this.closedByClient) return;
    if (leave) this.send({ type: 'leave' });
    this.closedByClient = true;
    this._state = 'closed';
    try {
      this.ws?.close(1000, 'client closed');
    } catch { /* already closed */ }
  }
}
