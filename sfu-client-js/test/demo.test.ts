// The demo page's pure parts (sfu-client-js/demo/): links, overlay text, plain-words errors.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignalError, type TrackStats } from '../src/index.js';
import { devTokenErrorText, disconnectText, joinErrorText, joinMediaText, mediaErrorText } from '../demo/errors.js';
import { joinsAtOnce, linkQuery, readLink } from '../demo/link.js';
import { overlayText } from '../demo/overlay.js';

const domError = (name: string): Error => Object.assign(new Error(name), { name });

function stats(over: Partial<TrackStats>): TrackStats {
  return {
    direction: 'inbound', kind: 'video', mid: '1', trackId: 'TR_1', bitrate: 1_200_000, width: 1280, height: 720,
    framesPerSecond: 30, packetsLost: 0, packetLoss: 0, jitter: undefined, roundTripTime: undefined, layer: 'f', paused: false,
    ...over,
  };
}

describe('demo links', () => {
  it('joins at once with room and identity, or with a token', () => {
    assert.equal(joinsAtOnce(readLink('?room=r&identity=i')), true);
    assert.equal(joinsAtOnce(readLink('?token=t')), true);
    assert.equal(joinsAtOnce(readLink('?room=r')), false);
    assert.equal(joinsAtOnce(readLink('')), false);
  });

  it('round-trips names that need escaping', () => {
    const q = linkQuery({ room: 'stand up & co', identity: 'zoë' });
    assert.deepEqual(readLink(q), { room: 'stand up & co', identity: 'zoë', token: '' });
    assert.equal(linkQuery({}), '');
  });
});

describe('demo overlay', () => {
  it('shows layer, size, bitrate and loss of received video', () => {
    assert.equal(overlayText(stats({})), 'f 1280x720 1.20 Mbit/s loss 0.0%');
    assert.equal(overlayText(stats({ layer: 'q', width: 320, height: 180, bitrate: 95_000, packetLoss: 0.0234 })), 'q 320x180 0.10 Mbit/s loss 2.3%');
  });

  it('marks single-layer and paused video, and stays empty before the first frame', () => {
    assert.equal(overlayText(stats({ layer: null })), '- 1280x720 1.20 Mbit/s loss 0.0%');
    assert.equal(overlayText(stats({ paused: true, layer: null })), 'paused');
    assert.equal(overlayText(stats({ width: undefined, height: undefined })), '');
  });

  it('shows the largest layer being sent for local simulcast', () => {
    const layer = (rid: string, width: number, bitrate: number) => ({ rid, bitrate, width, height: (width * 9) / 16, framesPerSecond: 30, active: true, qualityLimitationReason: undefined });
    const out = stats({ direction: 'outbound', layer: undefined, bitrate: 800_000, layers: [layer('q', 320, 150_000), layer('h', 640, 650_000), layer('f', 1280, 0)] });
    assert.equal(overlayText(out), 'h 640x360 0.80 Mbit/s loss 0.0%');
  });
});

describe('demo errors', () => {
  it('says what happened to camera and microphone at join', () => {
    assert.equal(joinMediaText(domError('NotAllowedError'), undefined), 'Access to the camera was denied: joined with the microphone only.');
    assert.equal(joinMediaText(undefined, domError('NotFoundError')), 'No microphone was found: joined with the camera only.');
    assert.match(joinMediaText(domError('NotAllowedError'), domError('NotAllowedError')), /^Access to the camera and microphone was denied: joined without them/);
    assert.match(joinMediaText(domError('NotReadableError'), domError('NotFoundError')), /^The camera could not be started .*; no microphone was found: joined without them/);
    assert.equal(mediaErrorText('screen', domError('NotSupportedError')), 'This browser cannot use screen sharing');
  });

  it('tells a server that is not in dev mode from other refusals', () => {
    assert.match(devTokenErrorText(404, { code: 'not_found', message: 'no such endpoint' }), /^This server is not in dev mode: get a token from its operator/);
    assert.match(devTokenErrorText(400, { code: 'bad_request', message: 'room and identity are at most 128 characters' }), /at most 128/);
  });

  it('explains a refused join from what /v1/rtc says over plain HTTP', () => {
    const closed = new SignalError('connect_failed', 'closed before joining', 1006);
    const origin = 'http://127.0.0.1:7880';
    assert.match(joinErrorText(closed, undefined, origin), /unreachable at http:\/\/127\.0\.0\.1:7880/);
    assert.match(joinErrorText(closed, { status: 401, body: { code: 'token_expired', message: 'expired' } }, origin), /rejected the token: it has expired/);
    assert.match(joinErrorText(closed, { status: 401, body: { code: 'invalid_signature', message: 'bad' } }, origin), /not signed with a key of this server/);
    assert.equal(joinErrorText(closed, { status: 401, body: { code: 'invalid_token', message: 'malformed' } }, origin), 'The server rejected the token: it is not a valid access token.');
    assert.match(joinErrorText(closed, { status: 403, body: { code: 'permission_denied', message: 'no room_join grant' } }, origin), /does not allow joining/);
    assert.match(joinErrorText(closed, { status: 400, body: { code: 'websocket_required', message: '' } }, origin), /WebSocket/);
    assert.equal(joinErrorText(new SignalError('room_full', 'full'), undefined, origin), 'The room is full.');
  });

  it('says why the room ended', () => {
    assert.equal(disconnectText('room_closed', 'alice'), 'Disconnected: the room was closed.');
    assert.match(disconnectText('duplicate_identity', 'alice'), /as "alice" elsewhere/);
    assert.equal(disconnectText('something_new', 'alice'), 'Disconnected: something_new.');
  });
});
