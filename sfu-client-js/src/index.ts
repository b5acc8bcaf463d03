// sfu-client: the browser SDK of the SFU (docs/protocol.md).

export { connect, Room, capMessage } from './room.js';
export type {
  ActiveSpeaker,
  CameraOptions,
  ConnectOptions,
  DataMessage,
  DisconnectReason,
  MicrophoneOptions,
  PublishOptions,
  RoomEvents,
  ScreenOptions,
} from './room.js';
export { LocalParticipant, LocalTrack, RemoteParticipant, RemoteTrack } from './participant.js';
export type { Participant, SubscriptionState } from './participant.js';
export { attach, capForElement, capsEqual, capDelay, combineCaps, isUpgrade } from './adaptive.js';
export type { AdaptiveTarget, AttachOptions, Attachment, CapOptions, ElementGeometry, VideoCap } from './adaptive.js';
export { bitrateFor, RESOLUTIONS, screenShareEncoding, videoEncodings } from './encodings.js';
export type { Resolution, VideoEncoding } from './encodings.js';
export { TypedEmitter } from './events.js';
export {
  answerMatchesOffer,
  INITIAL_NEGOTIATION_STATE,
  negotiate,
  NegotiationDriver,
} from './negotiation.js';
export type {
  NegotiationAction,
  NegotiationEvent,
  NegotiationHooks,
  NegotiationState,
  NegotiationStep,
  PeerConnectionLike,
} from './negotiation.js';
export {
  AbortedError,
  DEFAULT_ICE_MONITOR,
  IceMonitor,
  isRetryableJoinError,
  rejoinAfterLeave,
  retryWithBackoff,
} from './reconnect.js';
export type { ConnectionState, IceMonitorCallbacks, IceMonitorOptions, RetryOptions } from './reconnect.js';
export { mediaSections, remoteTracksByMid } from './sdp.js';
export type { MediaDirection, MediaSection } from './sdp.js';
export {
  backoffDelay,
  buildSignalUrl,
  DEFAULT_BACKOFF,
  encodeClientMessage,
  normalizeSource,
  parseServerMessage,
  SignalError,
  SignalSession,
} from './signaling.js';
export type * from './signaling.js';
export { StatsCollector, summarizeStats } from './stats.js';
export type { LayerStats, StatsContext, StatsEntry, StatsMemory, TrackStats } from './stats.js';
