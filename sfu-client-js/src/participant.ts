// Participants and tracks as the application sees them.

import type { AdaptiveTarget, VideoCap } from './adaptive.js';
import type { VideoEncoding } from './encodings.js';
import type { ParticipantInfo, SimulcastLayerInfo, TrackInfo, TrackKind, TrackSource } from './signaling.js';

/** The layer the server sends for a subscribed video track (the `subscription` message). */
export interface SubscriptionState {
  layer: string | null;
  paused: boolean;
  reason?: string;
}

/** What remote tracks and local tracks ask of their room. */
export interface TrackOwner {
  setSubscribed(track: RemoteTrack, subscribed: boolean): void;
  setVideoCap(track: RemoteTrack, cap: VideoCap): void;
  muteLocal(track: LocalTrack, muted: boolean): void;
}

/** A track published by another participant. */
export class RemoteTrack implements AdaptiveTarget {
  readonly id: string;
  readonly participantId: string;
  readonly kind: TrackKind;
  source: TrackSource;
  name: string | undefined;
  /** The publisher's mid (not the mid of the m-line this client receives it on). */
  mid: string;
  codec: string;
  muted: boolean;
  simulcast: SimulcastLayerInfo[];
  /** Whether this client wants to receive it (default true: the server auto-subscribes). */
  subscribed = true;
  /** The last `subscription` message for it (video). */
  subscription: SubscriptionState | undefined;
  /** The cap last asked for (re-sent after a rejoin). */
  cap: VideoCap | undefined;
  private media: MediaStreamTrack | undefined;
  private readonly mediaListeners = new Set<(t: MediaStreamTrack | undefined) => void>();

  /** @internal */
  constructor(info: TrackInfo, private readonly owner: TrackOwner) {
    this.id = info.id;
    this.participantId = info.participant_id;
    this.kind = info.kind;
    this.source = info.source;
    this.name = info.name;
    this.mid = info.mid;
    this.codec = info.codec;
    this.muted = info.muted;
    this.simulcast = info.simulcast;
  }

  /** The received media, once subscribed. */
  get mediaStreamTrack(): MediaStreamTrack | undefined {
    return this.media;
  }

  /** @internal */
  update(info: TrackInfo): void {
    this.source = info.source;
    this.name = info.name;
    this.mid = info.mid;
    this.codec = info.codec;
    this.muted = info.muted;
    this.simulcast = info.simulcast;
  }

  /** @internal */
  setMedia(track: MediaStreamTrack | undefined): void {
    if (track === this.media) return;
    this.media = track;
    for (const l of [...this.mediaListeners]) l(track);
  }

  onMediaChanged(listener: (track: MediaStreamTrack | undefined) => void): () => void {
    this.mediaListeners.add(listener);
    return () => this.mediaListeners.delete(listener);
  }

  /** Subscribes or unsubscribes (the server adds or stops the track's m-line). */
  setSubscribed(subscribed: boolean): void {
    this.owner.setSubscribed(this, subscribed);
  }

  /** Caps what the server sends of this video track (sent only when it changed). */
  setVideoCap(cap: VideoCap): void {
    this.owner.setVideoCap(this, cap);
  }
}

export class RemoteParticipant {
  readonly id: string;
  identity: string;
  name: string | undefined;
  joinedAt: number;
  readonly tracks = new Map<string, RemoteTrack>();

  /** @internal */
  constructor(info: ParticipantInfo) {
    this.id = info.id;
    this.identity = info.identity;
    this.name = info.name;
    this.joinedAt = info.joined_at;
  }

  /** @internal */
  update(info: ParticipantInfo): void {
    this.identity = info.identity;
    this.name = info.name;
    this.joinedAt = info.joined_at;
  }
}

export interface LocalTrackOptions {
  source: TrackSource;
  name?: string;
  /** Video send encodings (simulcast layers); absent for audio. */
  encodings?: VideoEncoding[];
  /** The SDK created the media (getUserMedia) and stops it when the track is unpublished. */
  owned?: boolean;
}

/** A track this client publishes. */
export class LocalTrack {
  /** The server's id, once `track_published` confirmed it (a new one after each rejoin). */
  sid: string | undefined;
  readonly kind: TrackKind;
  readonly source: TrackSource;
  readonly name: string | undefined;
  readonly mediaStreamTrack: MediaStreamTrack;
  readonly encodings: VideoEncoding[] | undefined;
  /** @internal */
  readonly owned: boolean;
  muted = false;
  /** The m-line of this client's offer that carries it (this session). */
  mid: string | null = null;
  /** Unpublished: no longer sent, and never again. */
  unpublished = false;
  private _activeLayers: readonly string[];

  /** @internal */
  constructor(track: MediaStreamTrack, options: LocalTrackOptions, private readonly owner: TrackOwner) {
    this.mediaStreamTrack = track;
    this.kind = track.kind === 'audio' ? 'audio' : 'video';
    this.source = options.source;
    this.name = options.name;
    this.encodings = options.encodings;
    this.owned = options.owned === true;
    this._activeLayers = Object.freeze(this.layers);
  }

  get simulcast(): boolean {
    return (this.encodings?.length ?? 0) > 1;
  }

  /** The RIDs of the simulcast layers, low to high (empty without simulcast). */
  get layers(): string[] {
    if (!this.simulcast) return [];
    return (this.encodings ?? []).flatMap((e) => (e.rid === undefined ? [] : [e.rid]));
  }

  /**
   * Dynacast: the simulcast layers (RIDs, low to high) the server currently wants sent
   * (`publisher_layers`); every layer until the server says otherwise, and again after a rejoin.
   * The others are paused (their encodings' `active` is false). Empty for a simulcast track
   * nobody watches; always empty for a track without simulcast (audio, a single encoding), which
   * the server does not send `publisher_layers` for and is never paused. A layer the application
   * turned off in its `encodings` (`active: false`) stays off whatever the server wants.
   */
  get activeLayers(): readonly string[] {
    return this._activeLayers;
  }

  /** @internal Sets the wanted layers (filtered to this track's, in its order); true when they changed. */
  setActiveLayers(rids: Iterable<string> | null): boolean {
    const wanted = rids === null ? null : new Set(rids);
    const next = this.layers.filter((rid) => wanted === null || wanted.has(rid));
    const prev = this._activeLayers;
    if (next.length === prev.length && next.every((rid, i) => rid === prev[i])) return false;
    this._activeLayers = Object.freeze(next);
    return true;
  }

  mute(): void {
    this.owner.muteLocal(this, true);
  }

  unmute(): void {
    this.owner.muteLocal(this, false);
  }
}

export class LocalParticipant {
  /** Changes with every (re)join. */
  id: string;
  identity: string;
  name: string | undefined;
  readonly tracks: LocalTrack[] = [];

  /** @internal */
  constructor(info: ParticipantInfo) {
    this.id = info.id;
    this.identity = info.identity;
    this.name = info.name;
  }
}

export type Participant = RemoteParticipant | LocalParticipant;
