// The room: joining, participants and tracks, publishing, subscribing, data, recovery.

import { capsEqual, type VideoCap } from './adaptive.js';
import { RESOLUTIONS, screenShareEncoding, videoEncodings, type Resolution, type VideoEncoding } from './encodings.js';
import { TypedEmitter } from './events.js';
import { NegotiationDriver } from './negotiation.js';
import { LocalParticipant, LocalTrack, RemoteParticipant, RemoteTrack, type Participant, type SubscriptionState, type TrackOwner } from './participant.js';
import { AbortedError, IceMonitor, rejoinAfterLeave, retryWithBackoff, type ConnectionState, type IceMonitorOptions } from './reconnect.js';
import { mediaSections, remoteTracksByMid } from './sdp.js';
import {
  DEFAULT_BACKOFF,
  SignalError,
  SignalSession,
  buildSignalUrl,
  type BackoffPolicy,
  type ClientMessage,
  type JoinedMessage,
  type LeaveMessage,
  type ParticipantInfo,
  type RoomInfo,
  type ServerMessage,
  type SetSubscriptionMessage,
  type TrackInfo,
  type TrackSource,
  type WebSocketFactory,
} from './signaling.js';
import { StatsCollector, type TrackStats } from './stats.js';

export interface ActiveSpeaker {
  participantId: string;
  /** `undefined` when the participant is not known (yet). */
  participant: Participant | undefined;
  /** 0.0 to 1.0. */
  level: number;
}

export interface DataMessage {
  /** The sender's participant id (`undefined` when the message was not in the relay's wrapper). */
  from: string | undefined;
  participant: RemoteParticipant | undefined;
  /** The message as the sender sent it (binary messages arrive decoded as UTF-8). */
  payload: string;
}

/**
 * Why the room disconnected: a server `leave` reason (`removed`, `room_closed`,
 * `server_shutdown`, `duplicate_identity`, ...) or one of the client's.
 */
export type DisconnectReason =
  | 'client_leave'
  | 'reconnect_failed'
  | 'signal_closed'
  | 'removed'
  | 'room_closed'
  | 'server_shutdown'
  | 'duplicate_identity'
  | 'peer_timeout'
  | 'connection_closed'
  | 'slow_client'
  | (string & {});

export interface RoomEvents {
  participantJoined: [participant: RemoteParticipant];
  participantLeft: [participant: RemoteParticipant];
  trackPublished: [track: RemoteTrack, participant: RemoteParticipant];
  trackUnpublished: [track: RemoteTrack, participant: RemoteParticipant];
  trackSubscribed: [mediaTrack: MediaStreamTrack, track: RemoteTrack, participant: RemoteParticipant];
  trackUnsubscribed: [mediaTrack: MediaStreamTrack, track: RemoteTrack, participant: RemoteParticipant];
  trackMuted: [track: RemoteTrack | LocalTrack, muted: boolean, participant: Participant];
  /** The server's `subscription` message: the layer now received, or paused. */
  subscriptionChanged: [track: RemoteTrack, state: SubscriptionState];
  localTrackPublished: [track: LocalTrack];
  localTrackUnpublished: [track: LocalTrack];
  /**
   * Dynacast: the server changed which simulcast layers of a published track it needs
   * (`publisher_layers`; `track.activeLayers`). The SDK pauses the others by itself; empty: no
   * one watches the track. Also after a rejoin, which resumes every layer.
   */
  publisherLayersChanged: [track: LocalTrack, activeRids: readonly string[]];
  activeSpeakers: [speakers: ActiveSpeaker[]];
  data: [message: DataMessage];
  connectionStateChanged: [state: ConnectionState, previous: ConnectionState];
  /** A rejoin succeeded (new participant id, local tracks published again). */
  reconnected: [];
  disconnected: [reason: DisconnectReason, error: Error | undefined];
  /** A server `error` message (the session goes on). */
  signalError: [error: SignalError];
  /** A failure inside the SDK that it recovered from (negotiation, media). */
  error: [error: Error];
}

export interface ConnectOptions {
  /** Creates the WebSocket (default: the global `WebSocket`). */
  webSocketFactory?: WebSocketFactory;
  /** Creates the peer connection (default: `new RTCPeerConnection(config)`). */
  peerConnectionFactory?: (config: RTCConfiguration) => RTCPeerConnection;
  /** Merged into the peer connection's configuration; the server's `ice_servers` win when it sends any. */
  rtcConfig?: RTCConfiguration;
  /** Rejoin after a lost connection (`false` to disconnect instead). */
  reconnect?: false | Partial<BackoffPolicy>;
  /** Attempts of the first join for failures that may pass (network, `draining`). Default 3. */
  connectAttempts?: number;
  /** A fresh token for each rejoin (tokens expire); default: the token given to `connect`. */
  tokenProvider?: () => string | Promise<string>;
  /** Time for the socket to deliver `joined`, ms. Default 15000. */
  joinTimeoutMs?: number;
  /** Time for the server to confirm a published track (`track_published`), ms. Default 30000. */
  publishTimeoutMs?: number;
  /** ICE restart timing. */
  ice?: Partial<IceMonitorOptions>;
  /**
   * Joining a room with tracks, how long local offers wait for the server's first offer, ms.
   * Default 2000.
   */
  initialOfferHoldMs?: number;
  /** Debug log. */
  log?: (message: string, ...data: unknown[]) => void;
}

export interface PublishOptions {
  source?: TrackSource;
  name?: string;
  /** Video: send q/h/f simulcast layers. Default true for cameras. */
  simulcast?: boolean;
  /** Video: the size the layers are computed for (default: the track's settings). */
  resolution?: Resolution;
  /** Video: the top layer's bitrate (bits/s). */
  maxBitrate?: number;
  /** Video: explicit send encodings (overrides `simulcast`, `resolution`, `maxBitrate`). */
  encodings?: VideoEncoding[];
}

export interface CameraOptions {
  /** Default true. */
  simulcast?: boolean;
  /** Capture size asked for; default 1280x720. */
  resolution?: Resolution;
  frameRate?: number;
  deviceId?: string;
  facingMode?: 'user' | 'environment';
  maxBitrate?: number;
  name?: string;
}

export interface MicrophoneOptions {
  deviceId?: string;
  echoCancellation?: boolean;
  noiseSuppression?: boolean;
  autoGainControl?: boolean;
  name?: string;
}

export interface ScreenOptions {
  /** Also publish the shared tab's or screen's audio when the browser offers it. */
  audio?: boolean;
  frameRate?: number;
  maxBitrate?: number;
  name?: string;
}

interface ReceivedMedia {
  track: MediaStreamTrack;
  mid: string | null;
}

interface PendingPublish {
  track: LocalTrack;
  resolve: (t: LocalTrack) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One join: a WebSocket and a peer connection. A rejoin makes a new one. */
interface Session {
  signal: SignalSession;
  pc: RTCPeerConnection;
  driver: NegotiationDriver;
  ice: IceMonitor;
  data: RTCDataChannel | null;
  /** Received m-lines: mid -> publisher and track, from the server's offers. */
  remoteByMid: Map<string, { participantId: string; trackId: string }>;
  /** Received media by server track id. */
  received: Map<string, ReceivedMedia>;
  /** Local tracks and their transceivers. */
  transceivers: Map<LocalTrack, RTCRtpTransceiver>;
  /** The mid last announced with `track_info`, per transceiver. */
  announced: Map<RTCRtpTransceiver, string>;
  /** Remote candidates that arrived before any remote description. */
  candidates: RTCIceCandidateInit[];
  /** Senders with a `setParameters` of layers in flight; `again`: the wanted state changed meanwhile. */
  layerJobs: Map<RTCRtpSender, { again: boolean }>;
  closed: boolean;
}

const MAX_QUEUED_DATA = 256;

/** Joins a room. Listeners may be added to the returned room before any media event fires. */
export async function connect(url: string, token: string, options: ConnectOptions = {}): Promise<Room> {
  const room = new Room(options);
  await room.connect(url, token);
  return room;
}

export class Room extends TypedEmitter<RoomEvents> implements TrackOwner {
  /** The room as the server described it when joining. */
  info: RoomInfo | undefined;
  localParticipant: LocalParticipant | undefined;
  /** Everyone else, by participant id. */
  readonly participants = new Map<string, RemoteParticipant>();
  activeSpeakers: ActiveSpeaker[] = [];
  private _state: ConnectionState = 'connecting';
  private session: Session | null = null;
  private url = '';
  private token = '';
  private readonly options: ConnectOptions;
  private readonly remoteTracks = new Map<string, RemoteTrack>();
  private readonly pending: PendingPublish[] = [];
  private readonly dataQueue: Array<string | Uint8Array> = [];
  private readonly stats = new StatsCollector();
  private rejoinAbort: AbortController | null = null;
  private connected = false;

  constructor(options: ConnectOptions = {}) {
    super();
    this.options = options;
  }

  get state(): ConnectionState {
    return this._state;
  }

  private isDisconnected(): boolean {
    return this._state === 'disconnected';
  }

  get name(): string | undefined {
    return this.info?.name;
  }

  /** The current peer connection (for diagnostics). Replaced on every rejoin. */
  get peerConnection(): RTCPeerConnection | undefined {
    return this.session?.pc;
  }

  /** Remote tracks by server track id. */
  get tracks(): ReadonlyMap<string, RemoteTrack> {
    return this.remoteTracks;
  }

  /** Joins. Rejects with a `SignalError` when the join is refused or the server cannot be reached. */
  async connect(url: string, token: string): Promise<void> {
    if (this.connected) throw new Error('already connected');
    this.connected = true;
    this.url = url;
    this.token = token;
    const attempts = Math.max(1, this.options.connectAttempts ?? 3);
    try {
      await retryWithBackoff(() => this.startSession(token, false), {
        policy: { ...DEFAULT_BACKOFF, ...(this.options.reconnect || {}), maxAttempts: attempts },
        onRetry: (n, delay, e) => this.log(`join attempt ${n + 1} failed, retrying in ${delay} ms`, e),
      });
    } catch (e) {
      this.setState('disconnected');
      throw e;
    }
    this.setState('connected');
  }

  // -------------------------------------------------------------------------------------------
  // Sessions
  // -------------------------------------------------------------------------------------------

  private async startSession(token: string, rejoin: boolean): Promise<void> {
    // disconnect() during a backoff wait of connect(): no join after it. (A method call, so that
    // TypeScript does not narrow `_state` for the check after the await below.)
    if (this.isDisconnected()) throw new AbortedError();
    const { session: signal, joined } = await SignalSession.open(buildSignalUrl(this.url, token), {
      webSocketFactory: this.options.webSocketFactory,
      joinTimeoutMs: this.options.joinTimeoutMs,
      onInvalid: (r, raw) => this.log('ignored server message', r, raw),
    });
    if (this._state === 'disconnected') {
      signal.close(true);
      throw new AbortedError();
    }
    let pc: RTCPeerConnection;
    try {
      pc = this.createPeerConnection(joined);
    } catch (e) {
      signal.close(true);
      throw e;
    }
    const session: Session = {
      signal,
      pc,
      driver: null as unknown as NegotiationDriver,
      ice: null as unknown as IceMonitor,
      data: null,
      remoteByMid: new Map(),
      received: new Map(),
      transceivers: new Map(),
      announced: new Map(),
      candidates: [],
      layerJobs: new Map(),
      closed: false,
    };
    // In a room with tracks the server offers them right after `joined`: let that offer be
    // answered before offering ourselves, so that the first offers never cross (see
    // NegotiationState.holdOffers), unless it does not come in time (no can_subscribe).
    const holdOffers = joined.participants.some((p) => p.tracks.length > 0);
    session.driver = new NegotiationDriver(pc, {
      sendOffer: (sdp) => this.sendOrThrow(session, { type: 'offer', sdp }),
      sendAnswer: (sdp) => this.sendOrThrow(session, { type: 'answer', sdp }),
      announceTracks: () => this.announceTracks(session),
      onRemoteDescription: (d) => {
        session.ice.expectConnection();
        if (d.type === 'offer') this.afterRemoteOffer(session, d.sdp);
        for (const c of session.candidates.splice(0)) void this.addCandidate(session, c);
        // A negotiation may reset a sender's parameters: check the layers once it is done.
        void session.driver.idle().then(() => this.reapplyLayers(session));
      },
      onError: (error, action, event) => {
        this.log(`negotiation: ${action} failed while handling ${event}`, error);
        // A socket that closed mid-exchange is not an error of its own: its close ends the session.
        const socketGone = error instanceof SignalError && error.code === 'closed';
        if (!socketGone) this.emit('error', error instanceof Error ? error : new Error(String(error)));
        // A server offer left unanswered blocks every later server offer: start over.
        if (event === 'remoteOffer' && !session.closed) this.sessionLost(session, undefined);
      },
      onStep: (event, step) => this.log(`negotiation ${event.type}`, step.actions.map((a) => a.type)),
    }, { holdOffers });
    session.ice = new IceMonitor(
      {
        restart: () => {
          this.log('ICE restart');
          void session.driver.negotiate({ iceRestart: true });
        },
        giveUp: () => this.sessionLost(session, undefined),
        restartingChanged: (restarting) => {
          if (this.session !== session) return;
          if (restarting) this.setState('ice_restarting');
          else if (this._state === 'ice_restarting') this.setState('connected');
        },
      },
      this.options.ice,
    );
    this.wirePeerConnection(session);
    this.session = session;
    this.applyJoined(joined, rejoin);

    // Publish what was published before (a rejoin) or queued while connecting.
    let publishing = false;
    for (const track of this.localParticipant?.tracks ?? []) {
      if (track.unpublished) continue;
      track.sid = undefined;
      track.mid = null;
      // The new session's sender starts with every layer; the server sends fresh publisher_layers.
      if (track.setActiveLayers(null)) this.emit('publisherLayersChanged', track, track.activeLayers);
      this.addTransceiver(session, track);
      publishing = true;
    }
    if (publishing) void session.driver.negotiate();

    if (holdOffers) {
      setTimeout(() => {
        if (!session.closed) void session.driver.release();
      }, this.options.initialOfferHoldMs ?? 2000);
    }

    // Deliver messages once the caller of connect() has had a chance to add listeners.
    setTimeout(() => {
      if (session.closed) return;
      signal.start({
        onMessage: (m) => this.onMessage(session, m),
        onClose: (info) => this.onSignalClose(session, info.leave),
      });
      if (rejoin) this.restoreSubscriptions(session);
    }, 0);
  }

  private createPeerConnection(joined: JoinedMessage): RTCPeerConnection {
    const config: RTCConfiguration = {
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
      ...this.options.rtcConfig,
    };
    if (joined.ice_servers.length > 0) config.iceServers = joined.ice_servers;
    else if (!config.iceServers) config.iceServers = [];
    if (this.options.peerConnectionFactory) return this.options.peerConnectionFactory(config);
    return new RTCPeerConnection(config);
  }

  private wirePeerConnection(session: Session): void {
    const pc = session.pc;
    pc.onicecandidate = (ev) => {
      if (!ev.candidate || !ev.candidate.candidate) return;
      this.send(session, { type: 'candidate', candidate: ev.candidate.toJSON() as { candidate: string } });
    };
    pc.ontrack = (ev) => this.onTrack(session, ev);
    pc.ondatachannel = (ev) => {
      if (ev.channel.label === 'data') this.useDataChannel(session, ev.channel);
    };
    pc.oniceconnectionstatechange = () => {
      if (!session.closed) session.ice.update(pc.iceConnectionState);
    };
  }

  private sendOrThrow(session: Session, message: ClientMessage): void {
    if (!this.send(session, message)) throw new SignalError('closed', 'signalling socket is not open');
  }

  private send(session: Session | null, message: ClientMessage): boolean {
    if (!session || session.closed) return false;
    return session.signal.send(message);
  }

  private closeSession(session: Session, leave: boolean): void {
    if (session.closed) return;
    session.closed = true;
    session.driver.close();
    session.ice.dispose();
    session.signal.close(leave);
    try {
      session.data?.close();
    } catch { /* closed */ }
    session.pc.ontrack = null;
    session.pc.onicecandidate = null;
    session.pc.ondatachannel = null;
    session.pc.oniceconnectionstatechange = null;
    session.pc.close();
    for (const trackId of [...session.received.keys()]) this.unbindMedia(session, trackId);
    if (this.session === session) this.session = null;
  }

  // -------------------------------------------------------------------------------------------
  // Joined, participants, tracks
  // -------------------------------------------------------------------------------------------

  private applyJoined(joined: JoinedMessage, rejoin: boolean): void {
    this.info = joined.room;
    if (this.localParticipant) {
      this.localParticipant.id = joined.participant.id;
      this.localParticipant.identity = joined.participant.identity;
      this.localParticipant.name = joined.participant.name;
    } else {
      this.localParticipant = new LocalParticipant(joined.participant);
    }
    // After a rejoin: who left while we were away goes first, then who is new or changed.
    const present = new Set(joined.participants.map((p) => p.id));
    for (const p of [...this.participants.values()]) {
      if (!present.has(p.id)) this.removeParticipant(p.id);
    }
    for (const info of joined.participants) this.upsertParticipant(info, rejoin);
  }

  /** Adds or updates a participant and its tracks; events only when `notify` (not at the first join). */
  private upsertParticipant(info: ParticipantInfo, notify: boolean): RemoteParticipant {
    let p = this.participants.get(info.id);
    const isNew = !p;
    if (p) p.update(info);
    else {
      p = new RemoteParticipant(info);
      this.participants.set(p.id, p);
    }
    if (isNew && notify) this.emit('participantJoined', p);
    const seen = new Set<string>();
    for (const t of info.tracks) {
      seen.add(t.id);
      this.upsertTrack(p, t, notify);
    }
    if (!isNew) {
      for (const t of [...p.tracks.values()]) if (!seen.has(t.id)) this.removeTrack(t.id);
    }
    return p;
  }

  private upsertTrack(p: RemoteParticipant, info: TrackInfo, notify: boolean): void {
    let t = this.remoteTracks.get(info.id);
    if (t) {
      t.update(info);
      return;
    }
    t = new RemoteTrack(info, this);
    p.tracks.set(t.id, t);
    this.remoteTracks.set(t.id, t);
    if (notify) this.emit('trackPublished', t, p);
    if (this.session) this.bindMedia(this.session, t.id);
  }

  private removeTrack(trackId: string): void {
    const t = this.remoteTracks.get(trackId);
    if (!t) return;
    if (this.session) this.unbindMedia(this.session, trackId);
    const p = this.participants.get(t.participantId);
    this.remoteTracks.delete(trackId);
    p?.tracks.delete(trackId);
    if (p) this.emit('trackUnpublished', t, p);
  }

  private removeParticipant(id: string): void {
    const p = this.participants.get(id);
    if (!p) return;
    for (const t of [...p.tracks.keys()]) this.removeTrack(t);
    this.participants.delete(id);
    this.activeSpeakers = this.activeSpeakers.filter((s) => s.participantId !== id);
    this.emit('participantLeft', p);
  }

  // -------------------------------------------------------------------------------------------
  // Messages
  // -------------------------------------------------------------------------------------------

  private async onMessage(session: Session, m: ServerMessage): Promise<void> {
    if (session.closed) return;
    switch (m.type) {
      case 'joined':
        return;
      case 'offer':
        // Learn the m-lines before applying: `ontrack` fires during setRemoteDescription.
        for (const [mid, v] of remoteTracksByMid(m.sdp)) session.remoteByMid.set(mid, v);
        await session.driver.handleOffer(m.sdp).catch(() => undefined);
        return;
      case 'answer':
        await session.driver.handleAnswer(m.sdp).catch(() => undefined);
        return;
      case 'candidate':
        if (!session.pc.remoteDescription) {
          // Trickled before the description it belongs to: applied after it.
          session.candidates.push(m.candidate);
          return;
        }
        await this.addCandidate(session, m.candidate);
        return;
      case 'participant_joined':
        if (m.participant.id !== this.localParticipant?.id) this.upsertParticipant(m.participant, true);
        return;
      case 'participant_left':
        this.removeParticipant(m.participant_id);
        return;
      case 'track_published':
        this.onTrackPublished(session, m.track);
        return;
      case 'track_unpublished':
        this.onTrackUnpublished(m.track_id);
        return;
      case 'track_muted':
        this.onTrackMuted(m.track_id, m.muted);
        return;
      case 'active_speakers':
        this.activeSpeakers = m.speakers.map((s) => ({
          participantId: s.participant_id,
          participant: s.participant_id === this.localParticipant?.id ? this.localParticipant : this.participants.get(s.participant_id),
          level: s.level,
        }));
        this.emit('activeSpeakers', this.activeSpeakers);
        return;
      case 'subscription': {
        const t = this.remoteTracks.get(m.track_id);
        if (!t) return;
        const state: SubscriptionState = { layer: m.layer, paused: m.paused };
        if (m.reason !== undefined) state.reason = m.reason;
        t.subscription = state;
        this.emit('subscriptionChanged', t, state);
        return;
      }
      case 'publisher_layers':
        this.onPublisherLayers(session, m.track_id, m.active);
        return;
      case 'error':
        this.onServerError(session, m.code, m.message);
        return;
      case 'leave':
        // The close that follows ends the session (onSignalClose).
        return;
    }
  }

  private async addCandidate(session: Session, candidate: RTCIceCandidateInit): Promise<void> {
    try {
      await session.pc.addIceCandidate(candidate);
    } catch (e) {
      this.log('addIceCandidate failed', e);
    }
  }

  private onServerError(session: Session, code: string, message: string): void {
    const error = new SignalError(code, message);
    this.log('server error', code, message);
    const awaiting = session.driver.state.awaitingAnswer;
    if (awaiting && (code === 'invalid_sdp' || code === 'sdp_rejected')) {
      // Errors carry no request id: while an offer of ours is out, they are about it.
      void session.driver.offerRejected();
    }
    if (awaiting && code === 'permission_denied') {
      // The server refuses each m-line a client without `can_publish` tries to publish.
      for (const p of [...this.pending]) {
        if (p.track.mid !== null && !p.track.sid) this.failPublish(p.track, error);
      }
    }
    this.emit('signalError', error);
  }

  private onTrackPublished(session: Session, info: TrackInfo): void {
    const local = this.localParticipant;
    if (local && info.participant_id === local.id) {
      const track = local.tracks.find((t) => !t.unpublished && session.transceivers.get(t)?.mid === info.mid);
      if (!track) return;
      const first = track.sid === undefined;
      track.sid = info.id;
      track.mid = info.mid;
      if (info.muted !== track.muted) this.send(session, { type: 'mute', track_id: info.id, muted: track.muted });
      const p = this.pending.findIndex((x) => x.track === track);
      if (p >= 0) {
        const [entry] = this.pending.splice(p, 1);
        if (entry) {
          clearTimeout(entry.timer);
          entry.resolve(track);
        }
      }
      if (first) this.emit('localTrackPublished', track);
      return;
    }
    let p = this.participants.get(info.participant_id);
    if (!p) {
      // Its participant_joined has not arrived (or was lost): know it from now on.
      p = this.upsertParticipant({ id: info.participant_id, identity: '', joined_at: 0, tracks: [] }, true);
    }
    this.upsertTrack(p, info, true);
  }

  private onTrackUnpublished(trackId: string): void {
    if (this.remoteTracks.has(trackId)) {
      this.removeTrack(trackId);
      return;
    }
    const local = this.localParticipant?.tracks.find((t) => t.sid === trackId);
    if (local && !local.unpublished) {
      // Unpublished by the server (e.g. its m-line was refused): no longer published this session.
      local.sid = undefined;
      this.emit('localTrackUnpublished', local);
    }
  }

  private onTrackMuted(trackId: string, muted: boolean): void {
    const remote = this.remoteTracks.get(trackId);
    if (remote) {
      if (remote.muted === muted) return;
      remote.muted = muted;
      const p = this.participants.get(remote.participantId);
      if (p) this.emit('trackMuted', remote, muted, p);
      return;
    }
    const local = this.localParticipant?.tracks.find((t) => t.sid === trackId);
    if (local && this.localParticipant && local.muted !== muted) {
      // An admin muted (or unmuted) us.
      local.muted = muted;
      local.mediaStreamTrack.enabled = !muted;
      this.emit('trackMuted', local, muted, this.localParticipant);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Dynacast: pausing the simulcast layers no one needs
  // -------------------------------------------------------------------------------------------

  private onPublisherLayers(session: Session, trackId: string, active: string[]): void {
    const track = this.localParticipant?.tracks.find((t) => t.sid === trackId && !t.unpublished);
    if (!track) {
      // Unpublished meanwhile, or not ours: nothing to pause.
      this.log('publisher_layers for an unknown track', trackId);
      return;
    }
    if (!track.simulcast) {
      // A single encoding has no RID to name; the server sends this for simulcast tracks only.
      this.log('publisher_layers for a track without simulcast', trackId);
      return;
    }
    const changed = track.setActiveLayers(active);
    // Also when unchanged: it brings back parameters that the browser may have reset.
    this.applyLayers(session, track);
    if (changed) this.emit('publisherLayersChanged', track, track.activeLayers);
  }

  /** After a negotiation: every simulcast sender's layers as wanted again. */
  private reapplyLayers(session: Session): void {
    if (session.closed) return;
    for (const track of session.transceivers.keys()) {
      if (track.simulcast && !track.unpublished) this.applyLayers(session, track);
    }
  }

  /**
   * Brings the `active` flags of a simulcast sender's encodings to the wanted state. One
   * `setParameters` at a time per sender: a change while one is in flight is applied after it,
   * with the state wanted then (intermediate states are skipped).
   */
  private applyLayers(session: Session, track: LocalTrack): void {
    const transceiver = session.transceivers.get(track);
    if (!transceiver || session.closed || !track.simulcast) return;
    const sender = transceiver.sender;
    const running = session.layerJobs.get(sender);
    if (running) {
      running.again = true;
      return;
    }
    const job = { again: false };
    session.layerJobs.set(sender, job);
    void (async () => {
      try {
        do {
          job.again = false;
          if (session.closed || track.unpublished || session.transceivers.get(track) !== transceiver) return;
          await this.setSenderLayers(session, sender, track);
        } while (job.again);
      } finally {
        session.layerJobs.delete(sender);
      }
    })();
  }

  private async setSenderLayers(session: Session, sender: RTCRtpSender, track: LocalTrack): Promise<void> {
    try {
      const params = sender.getParameters();
      const wanted = new Set(track.activeLayers);
      let changed = false;
      for (const encoding of params.encodings ?? []) {
        const rid = encoding.rid;
        if (rid === undefined) continue;
        // The application's own `active: false` (its `encodings`) always wins.
        const allowed = track.encodings?.find((e) => e.rid === rid)?.active !== false;
        const active = allowed && wanted.has(rid);
        if ((encoding.active !== false) !== active) {
          encoding.active = active;
          changed = true;
        }
      }
      if (!changed) return;
      this.log('layers', track.sid, [...wanted]);
      await sender.setParameters(params);
    } catch (e) {
      if (session.closed) return;
      this.log('setting the simulcast layers failed', e);
      this.emit('error', e instanceof Error ? e : new Error(String(e)));
    }
  }

  private onSignalClose(session: Session, leave: LeaveMessage | undefined): void {
    if (session.closed || this.session !== session) return;
    this.sessionLost(session, leave?.reason);
  }

  /** The session ended without the client asking: rejoin, or disconnect for good. */
  private sessionLost(session: Session, leaveReason: string | undefined): void {
    if (session.closed && this.session !== session) return;
    if (this._state === 'disconnected') return;
    const canRejoin = this.options.reconnect !== false && (leaveReason === undefined || rejoinAfterLeave(leaveReason));
    this.closeSession(session, false);
    if (!canRejoin) {
      this.finish(leaveReason ?? 'signal_closed', undefined);
      return;
    }
    void this.rejoin();
  }

  private async rejoin(): Promise<void> {
    if (this.rejoinAbort) return;
    const abort = new AbortController();
    this.rejoinAbort = abort;
    this.setState('reconnecting');
    this.stats.reset();
    try {
      await retryWithBackoff(
        async () => {
          const token = this.options.tokenProvider ? await this.options.tokenProvider() : this.token;
          await this.startSession(token, true);
        },
        {
          policy: this.options.reconnect || {},
          signal: abort.signal,
          delayFirst: true,
          onRetry: (n, delay, e) => this.log(`rejoin attempt ${n + 1} failed, retrying in ${delay} ms`, e),
        },
      );
      this.rejoinAbort = null;
      this.setState('connected');
      this.emit('reconnected');
    } catch (e) {
      this.rejoinAbort = null;
      if (e instanceof AbortedError) return;
      this.finish('reconnect_failed', e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** After a rejoin: tell the server what this client had unsubscribed from. */
  private restoreSubscriptions(session: Session): void {
    for (const t of this.remoteTracks.values()) {
      if (!t.subscribed) this.send(session, { type: 'subscribe', track_id: t.id, subscribe: false });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Received media
  // -------------------------------------------------------------------------------------------

  private onTrack(session: Session, ev: RTCTrackEvent): void {
    const mid = ev.transceiver?.mid ?? null;
    const mapped = mid !== null ? session.remoteByMid.get(mid) : undefined;
    // The msid names participant and track; browsers differ in whether track.id follows it.
    const trackId = mapped?.trackId ?? ev.track.id;
    if (!trackId) return;
    const previous = session.received.get(trackId);
    if (previous && previous.track !== ev.track) this.unbindMedia(session, trackId);
    session.received.set(trackId, { track: ev.track, mid });
    ev.track.addEventListener('ended', () => {
      if (session.received.get(trackId)?.track === ev.track) this.unbindMedia(session, trackId);
    });
    this.bindMedia(session, trackId);
  }

  /** Media and metadata both known: the track is subscribed. */
  private bindMedia(session: Session, trackId: string): void {
    const media = session.received.get(trackId);
    const t = this.remoteTracks.get(trackId);
    if (!media || !t || t.mediaStreamTrack === media.track) return;
    const p = this.participants.get(t.participantId);
    if (!p) return;
    t.setMedia(media.track);
    this.emit('trackSubscribed', media.track, t, p);
    if (t.kind === 'video' && t.cap) this.sendCap(session, t, t.cap);
  }

  private unbindMedia(session: Session, trackId: string): void {
    const media = session.received.get(trackId);
    session.received.delete(trackId);
    const t = this.remoteTracks.get(trackId);
    if (!media || !t || t.mediaStreamTrack !== media.track) return;
    t.setMedia(undefined);
    t.subscription = undefined;
    const p = this.participants.get(t.participantId);
    if (p) this.emit('trackUnsubscribed', media.track, t, p);
  }

  /** After a server offer: m-lines it stopped (port 0) or made inactive end their tracks. */
  private afterRemoteOffer(session: Session, sdp: string): void {
    const live = new Set<string>();
    for (const m of mediaSections(sdp)) {
      if (m.mid !== null && m.port !== 0 && m.direction !== 'inactive' && m.direction !== 'recvonly') live.add(m.mid);
    }
    for (const [trackId, media] of [...session.received]) {
      if (media.mid !== null && !live.has(media.mid)) this.unbindMedia(session, trackId);
    }
    for (const mid of [...session.remoteByMid.keys()]) if (!live.has(mid)) session.remoteByMid.delete(mid);
  }

  // -------------------------------------------------------------------------------------------
  // Subscriptions (TrackOwner)
  // -------------------------------------------------------------------------------------------

  /** @internal */
  setSubscribed(track: RemoteTrack, subscribed: boolean): void {
    if (track.subscribed === subscribed) return;
    track.subscribed = subscribed;
    this.send(this.session, { type: 'subscribe', track_id: track.id, subscribe: subscribed });
  }

  /** @internal */
  setVideoCap(track: RemoteTrack, cap: VideoCap): void {
    if (capsEqual(track.cap, cap)) return;
    track.cap = { ...cap };
    // Only for a track being received: the server refuses caps for tracks it does not send.
    if (this.session && track.mediaStreamTrack) this.sendCap(this.session, track, cap);
  }

  private sendCap(session: Session, track: RemoteTrack, cap: VideoCap): void {
    this.send(session, capMessage(track.id, cap));
  }

  /** Caps a remote video track explicitly (also what `attach` does for you). */
  setSubscription(trackId: string, cap: VideoCap): void {
    const t = this.remoteTracks.get(trackId);
    if (!t) throw new Error(`unknown track ${trackId}`);
    t.setVideoCap(cap);
  }

  /** Subscribes to or unsubscribes from a remote track. */
  subscribe(trackId: string, subscribed = true): void {
    const t = this.remoteTracks.get(trackId);
    if (!t) throw new Error(`unknown track ${trackId}`);
    t.setSubscribed(subscribed);
  }

  // -------------------------------------------------------------------------------------------
  // Publishing
  // -------------------------------------------------------------------------------------------

  /**
   * Publishes a track the application captured (it stays the application's: the SDK does not
   * stop it). Resolves once the server confirms it (`track_published`, after ICE and DTLS are up).
   */
  publishTrack(mediaTrack: MediaStreamTrack, options: PublishOptions = {}): Promise<LocalTrack> {
    return this.publish(mediaTrack, options, false);
  }

  private publish(mediaTrack: MediaStreamTrack, options: PublishOptions, owned: boolean): Promise<LocalTrack> {
    const local = this.localParticipant;
    if (!local || this._state === 'disconnected') return Promise.reject(new Error('not connected'));
    if (local.tracks.some((t) => t.mediaStreamTrack === mediaTrack && !t.unpublished)) {
      return Promise.reject(new Error('track already published'));
    }
    let encodings: VideoEncoding[] | undefined;
    if (mediaTrack.kind === 'video') {
      if (options.encodings) encodings = options.encodings;
      else {
        const s = mediaTrack.getSettings?.() ?? {};
        const size = options.resolution ?? (s.width && s.height ? { width: s.width, height: s.height } : RESOLUTIONS.h720);
        encodings = videoEncodings(size, { simulcast: options.simulcast ?? options.source === 'camera', fps: s.frameRate, maxBitrate: options.maxBitrate });
      }
    }
    const track = new LocalTrack(mediaTrack, { source: options.source ?? 'unknown', name: options.name, encodings, owned }, this);
    local.tracks.push(track);
    const promise = new Promise<LocalTrack>((resolve, reject) => {
      const timer = setTimeout(() => this.failPublish(track, new SignalError('timeout', 'the server did not confirm the track in time')), this.options.publishTimeoutMs ?? 30_000);
      this.pending.push({ track, resolve, reject, timer });
    });
    const session = this.session;
    if (session && !session.closed) {
      try {
        this.addTransceiver(session, track);
        void session.driver.negotiate();
      } catch (e) {
        this.failPublish(track, e instanceof Error ? e : new Error(String(e)));
      }
    }
    // Else: published by the rejoin under way.
    return promise;
  }

  private failPublish(track: LocalTrack, error: Error): void {
    const i = this.pending.findIndex((p) => p.track === track);
    if (i < 0) return;
    const [entry] = this.pending.splice(i, 1);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.reject(error);
    void this.unpublish(track);
  }

  private addTransceiver(session: Session, track: LocalTrack): void {
    const init: RTCRtpTransceiverInit = { direction: 'sendonly' };
    if (track.kind === 'video' && track.encodings) init.sendEncodings = track.encodings.map((e) => ({ ...e }));
    const transceiver = session.pc.addTransceiver(track.mediaStreamTrack, init);
    session.transceivers.set(track, transceiver);
  }

  /** Sends `track_info` for m-lines that got a mid in the offer about to be sent. */
  private announceTracks(session: Session): void {
    for (const [track, transceiver] of session.transceivers) {
      const mid = transceiver.mid;
      if (track.unpublished || mid === null || session.announced.get(transceiver) === mid) continue;
      track.mid = mid;
      const m: ClientMessage = { type: 'track_info', mid, source: track.source };
      if (track.name !== undefined) m.name = track.name;
      this.send(session, m);
      session.announced.set(transceiver, mid);
    }
  }

  /** Captures the camera and publishes it (simulcast q/h/f by default). */
  async publishCamera(options: CameraOptions = {}): Promise<LocalTrack> {
    const resolution = options.resolution ?? RESOLUTIONS.h720;
    const video: MediaTrackConstraints = {
      width: { ideal: resolution.width },
      height: { ideal: resolution.height },
    };
    if (options.frameRate) video.frameRate = { ideal: options.frameRate };
    if (options.deviceId) video.deviceId = { exact: options.deviceId };
    if (options.facingMode) video.facingMode = options.facingMode;
    const stream = await navigator.mediaDevices.getUserMedia({ video });
    const track = stream.getVideoTracks()[0];
    if (!track) throw new Error('no camera track');
    const settings = track.getSettings();
    const size = settings.width && settings.height ? { width: settings.width, height: settings.height } : resolution;
    const publish: PublishOptions = { source: 'camera', simulcast: options.simulcast ?? true, resolution: size };
    if (options.maxBitrate !== undefined) publish.maxBitrate = options.maxBitrate;
    if (options.name !== undefined) publish.name = options.name;
    return this.publish(track, publish, true);
  }

  /** Captures the microphone and publishes it. */
  async publishMicrophone(options: MicrophoneOptions = {}): Promise<LocalTrack> {
    const audio: MediaTrackConstraints = {
      echoCancellation: options.echoCancellation ?? true,
      noiseSuppression: options.noiseSuppression ?? true,
      autoGainControl: options.autoGainControl ?? true,
    };
    if (options.deviceId) audio.deviceId = { exact: options.deviceId };
    const stream = await navigator.mediaDevices.getUserMedia({ audio });
    const track = stream.getAudioTracks()[0];
    if (!track) throw new Error('no microphone track');
    return this.publish(track, { source: 'microphone', ...(options.name !== undefined ? { name: options.name } : {}) }, true);
  }

  /**
   * Shares a screen, window or tab (the browser asks the user). Unpublished by itself when the
   * user stops sharing. With `audio`, the shared audio is published as a second `screen` track.
   */
  async publishScreen(options: ScreenOptions = {}): Promise<LocalTrack> {
    const fps = options.frameRate ?? 15;
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: fps } }, audio: options.audio === true });
    const video = stream.getVideoTracks()[0];
    if (!video) throw new Error('no screen track');
    if ('contentHint' in video) video.contentHint = 'detail';
    const s = video.getSettings();
    const encoding = screenShareEncoding({ width: s.width ?? 1920, height: s.height ?? 1080 }, fps);
    if (options.maxBitrate !== undefined) encoding.maxBitrate = options.maxBitrate;
    const name = options.name !== undefined ? { name: options.name } : {};
    const published = this.publish(video, { source: 'screen', encodings: [encoding], ...name }, true);
    const audioTrack = stream.getAudioTracks()[0];
    const audio = audioTrack ? this.publish(audioTrack, { source: 'screen', ...name }, true) : undefined;
    video.addEventListener('ended', () => {
      const t = this.localParticipant?.tracks.find((x) => x.mediaStreamTrack === video);
      if (t) void this.unpublish(t);
      const a = audioTrack && this.localParticipant?.tracks.find((x) => x.mediaStreamTrack === audioTrack);
      if (a) void this.unpublish(a);
    });
    audio?.catch(() => undefined);
    return published;
  }

  /**
   * Stops publishing a track: its transceiver becomes inactive (the server unpublishes it) and,
   * when the SDK captured the media, the capture stops.
   */
  async unpublish(track: LocalTrack): Promise<void> {
    if (track.unpublished) return;
    track.unpublished = true;
    const local = this.localParticipant;
    if (local) {
      const i = local.tracks.indexOf(track);
      if (i >= 0) local.tracks.splice(i, 1);
    }
    const wasPublished = track.sid !== undefined;
    const i = this.pending.findIndex((p) => p.track === track);
    if (i >= 0) {
      const [entry] = this.pending.splice(i, 1);
      if (entry) {
        clearTimeout(entry.timer);
        entry.reject(new Error('unpublished'));
      }
    }
    const session = this.session;
    const transceiver = session?.transceivers.get(track);
    if (session && transceiver) {
      session.transceivers.delete(track);
      try {
        if (transceiver.mid === null) {
          transceiver.stop();
        } else {
          transceiver.direction = 'inactive';
          await transceiver.sender.replaceTrack(null);
        }
      } catch (e) {
        this.log('unpublish: transceiver change failed', e);
      }
      if (!session.closed) void session.driver.negotiate();
    }
    if (track.owned) track.mediaStreamTrack.stop();
    track.sid = undefined;
    if (wasPublished) this.emit('localTrackUnpublished', track);
  }

  /** Mutes a local track: it stops sending (track.enabled) and everyone gets `track_muted`. */
  mute(track: LocalTrack): void {
    this.muteLocal(track, true);
  }

  unmute(track: LocalTrack): void {
    this.muteLocal(track, false);
  }

  /** @internal */
  muteLocal(track: LocalTrack, muted: boolean): void {
    if (track.muted === muted) return;
    track.muted = muted;
    track.mediaStreamTrack.enabled = !muted;
    // Before the server confirmed the track, the state is sent with the confirmation.
    if (track.sid) this.send(this.session, { type: 'mute', track_id: track.sid, muted });
    if (this.localParticipant) this.emit('trackMuted', track, muted, this.localParticipant);
  }

  // -------------------------------------------------------------------------------------------
  // Data
  // -------------------------------------------------------------------------------------------

  private useDataChannel(session: Session, channel: RTCDataChannel): void {
    session.data = channel;
    channel.binaryType = 'arraybuffer';
    channel.onopen = () => this.flushData(session);
    channel.onmessage = (ev: MessageEvent) => {
      const text = typeof ev.data === 'string' ? ev.data : new TextDecoder().decode(ev.data as ArrayBuffer);
      this.emit('data', this.decodeData(text));
    };
    if (channel.readyState === 'open') this.flushData(session);
  }

  private decodeData(text: string): DataMessage {
    try {
      const v: unknown = JSON.parse(text);
      if (typeof v === 'object' && v !== null && typeof (v as { from?: unknown }).from === 'string' && typeof (v as { payload?: unknown }).payload === 'string') {
        const { from, payload } = v as { from: string; payload: string };
        return { from, participant: this.participants.get(from), payload };
      }
    } catch { /* not the relay's wrapper */ }
    return { from: undefined, participant: undefined, payload: text };
  }

  private flushData(session: Session): void {
    const ch = session.data;
    while (ch && ch.readyState === 'open' && this.dataQueue.length > 0) {
      const m = this.dataQueue.shift()!;
      if (typeof m === 'string') ch.send(m);
      else ch.send(m as Uint8Array<ArrayBuffer>);
    }
  }

  /**
   * Sends a message to everyone else in the room over the `data` channel the server opens.
   * Messages sent before that channel is open (it opens after the first offer/answer exchange)
   * are queued, up to 256.
   */
  sendData(payload: string | Uint8Array): void {
    if (this._state === 'disconnected') throw new Error('not connected');
    const ch = this.session?.data;
    if (ch && ch.readyState === 'open' && this.dataQueue.length === 0) {
      if (typeof payload === 'string') ch.send(payload);
      else ch.send(payload as Uint8Array<ArrayBuffer>);
      return;
    }
    if (this.dataQueue.length >= MAX_QUEUED_DATA) throw new Error('data channel not open and the queue is full');
    this.dataQueue.push(payload);
  }

  // -------------------------------------------------------------------------------------------
  // Stats
  // -------------------------------------------------------------------------------------------

  /** Per-track statistics; bitrates are averaged since the previous call. */
  async getStats(): Promise<TrackStats[]> {
    const session = this.session;
    if (!session) return [];
    return this.stats.collect(session.pc, {
      localTrackId: (mid) => {
        for (const [t, tr] of session.transceivers) if (tr.mid === mid) return t.sid;
        return undefined;
      },
      remoteTrackId: (mid) => session.remoteByMid.get(mid)?.trackId,
      subscription: (trackId) => this.remoteTracks.get(trackId)?.subscription,
    });
  }

  /** Restarts ICE now (the SDK does this by itself when ICE fails). */
  async restartIce(): Promise<void> {
    const session = this.session;
    if (!session) throw new Error('not connected');
    await session.driver.negotiate({ iceRestart: true });
  }

  // -------------------------------------------------------------------------------------------
  // Leaving
  // -------------------------------------------------------------------------------------------

  /** Leaves the room and stops the media the SDK captured. */
  async disconnect(): Promise<void> {
    this.finish('client_leave', undefined);
  }

  private finish(reason: DisconnectReason, error: Error | undefined): void {
    if (this._state === 'disconnected') return;
    this.rejoinAbort?.abort();
    this.rejoinAbort = null;
    // `disconnected` before the session closes, so that a rejoin in flight sees it.
    this.setState('disconnected');
    if (this.session) this.closeSession(this.session, reason === 'client_leave');
    for (const p of [...this.pending]) {
      clearTimeout(p.timer);
      p.reject(new Error(`disconnected: ${reason}`));
    }
    this.pending.length = 0;
    for (const t of this.localParticipant?.tracks ?? []) {
      if (t.owned) t.mediaStreamTrack.stop();
    }
    this.dataQueue.length = 0;
    this.emit('disconnected', reason, error);
  }

  private setState(state: ConnectionState): void {
    if (state === this._state) return;
    const previous = this._state;
    this._state = state;
    this.emit('connectionStateChanged', state, previous);
  }

  private log(message: string, ...data: unknown[]): void {
    this.options.log?.(message, ...data);
  }
}

/** The `set_subscription` message for a cap. */
export function capMessage(trackId: string, cap: VideoCap): SetSubscriptionMessage {
  const m: SetSubscriptionMessage = { type: 'set_subscription', track_id: trackId };
  if (cap.paused) {
    m.paused = true;
    return m;
  }
  if (cap.maxWidth !== undefined) m.max_width = Math.round(cap.maxWidth);
  if (cap.maxHeight !== undefined) m.max_height = Math.round(cap.maxHeight);
  if (cap.layer !== undefined) m.layer = cap.layer;
  if (cap.maxTemporal !== undefined) m.max_temporal = cap.maxTemporal;
  return m;
}
