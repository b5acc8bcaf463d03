// Plain-words messages for everything that can go wrong, so the page never shows a bare
// exception name or error code. Pure functions: test/demo.test.ts checks them.

import { SignalError, type DisconnectReason } from '../src/index.js';

/** An error whose message is already meant for the user. */
export class PlainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlainError';
  }
}

/** The body of a REST error (`{"error": {"code", "message"}}`), when a response carries one. */
export interface RestError {
  code: string;
  message: string;
}

/** Why a camera or microphone could not be used (no final full stop: callers add what follows). */
export function mediaErrorText(device: 'camera' | 'microphone' | 'screen', error: unknown): string {
  const what = device === 'screen' ? 'screen sharing' : `the ${device}`;
  const name = error instanceof Error ? error.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Access to ${what} was denied`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return device === 'screen' ? 'Nothing to share was found' : `No ${device} was found`;
    case 'NotReadableError':
    case 'AbortError':
      return `${capitalize(what)} could not be started (in use by another application?)`;
    case 'NotSupportedError':
      return `This browser cannot use ${what}`;
  }
  if (error instanceof SignalError && error.code === 'timeout') return `The server did not accept ${what} in time`;
  return `${capitalize(what)} could not be used (${error instanceof Error ? error.message : String(error)})`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** What joining without a camera or microphone (or both) means; `undefined` = that one works. */
export function joinMediaText(camera: unknown, microphone: unknown): string {
  const name = (e: unknown): string => (e instanceof Error ? e.name : '');
  if (camera !== undefined && microphone !== undefined) {
    let why: string;
    if (name(camera) === 'NotAllowedError' && name(microphone) === 'NotAllowedError') why = 'Access to the camera and microphone was denied';
    else if (name(camera) === 'NotFoundError' && name(microphone) === 'NotFoundError') why = 'No camera or microphone was found';
    else why = `${mediaErrorText('camera', camera)}; ${lowerFirst(mediaErrorText('microphone', microphone))}`;
    return `${why}: joined without them (you can still see, hear and chat).`;
  }
  if (camera !== undefined) return `${mediaErrorText('camera', camera)}: joined with the microphone only.`;
  if (microphone !== undefined) return `${mediaErrorText('microphone', microphone)}: joined with the camera only.`;
  return '';
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** The answer of `POST /v1/dev/token` when it is not a token. */
export function devTokenErrorText(status: number, body: RestError | undefined): string {
  if (status === 404) return 'This server is not in dev mode: get a token from its operator and add it to the link as &token=...';
  if (status === 400 && body) return `The room or name is not valid: ${body.message}.`;
  return `The server refused to give a token (HTTP ${status}${body ? `, ${body.message}` : ''}).`;
}

/** The server could not be reached at all. */
export function unreachableText(origin: string): string {
  return `The server is unreachable at ${origin}: is sfu-server running?`;
}

/**
 * Why joining failed. Browsers hide the HTTP answer of a refused WebSocket upgrade, so for a
 * socket that did not open the page asks `/v1/rtc` again over plain HTTP: `probe` is that
 * answer (`undefined` when the server did not answer at all).
 */
export function joinErrorText(error: unknown, probe: { status: number; body: RestError | undefined } | undefined, origin: string): string {
  if (error instanceof SignalError) {
    switch (error.code) {
      case 'room_full':
        return 'The room is full.';
      case 'room_not_found':
        return 'This room does not exist, and this server does not create rooms on demand.';
      case 'bad_request':
        return `The room name is not valid: ${error.message}.`;
      case 'draining':
        return 'The server is shutting down: try again in a moment.';
      case 'timeout':
        return 'The server did not answer in time: try again.';
      case 'connect_failed':
        return connectFailedText(probe, origin);
    }
    return `The server refused to let you join: ${error.message}.`;
  }
  return `Joining failed: ${error instanceof Error ? error.message : String(error)}.`;
}

function connectFailedText(probe: { status: number; body: RestError | undefined } | undefined, origin: string): string {
  if (!probe) return unreachableText(origin);
  const code = probe.body?.code ?? '';
  if (probe.status === 401) {
    if (code === 'token_expired') return 'The server rejected the token: it has expired. Get a new one.';
    if (code === 'token_not_yet_valid') return 'The server rejected the token: it is not valid yet (check the clocks).';
    if (code === 'unknown_key' || code === 'invalid_signature') return 'The server rejected the token: it was not signed with a key of this server.';
    if (code === 'invalid_token' || code === 'unsupported_algorithm') return 'The server rejected the token: it is not a valid access token.';
    return `The server rejected the token (${probe.body?.message ?? code}).`;
  }
  if (probe.status === 403) return `The token does not allow joining a room (${probe.body?.message ?? code}).`;
  if (probe.status === 503) return 'The server is shutting down: try again in a moment.';
  return 'The server accepted the token but the signalling connection (WebSocket) could not be opened: a proxy or firewall may block it.';
}

/** Why the room ended when the user did not leave. */
export function disconnectText(reason: DisconnectReason, identity: string): string {
  switch (reason) {
    case 'removed':
      return 'Disconnected: an administrator removed you from the room.';
    case 'room_closed':
      return 'Disconnected: the room was closed.';
    case 'server_shutdown':
      return 'Disconnected: the server shut down.';
    case 'duplicate_identity':
      return `Disconnected: someone joined this room as "${identity}" elsewhere (another tab?).`;
    case 'reconnect_failed':
      return 'Disconnected: the connection to the server was lost and could not be re-established.';
    case 'signal_closed':
      return 'Disconnected: the server closed the connection.';
    case 'peer_timeout':
    case 'connection_closed':
      return 'Disconnected: the media connection was lost.';
    case 'slow_client':
      return 'Disconnected: this page could not keep up with the server.';
  }
  return `Disconnected: ${reason}.`;
}
