import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mediaSections, remoteTracksByMid } from '../src/sdp.js';

// Shaped like the server's offers: one send-only m-line per forwarded track with
// a=msid:<participant_id> <track_id>, a stopped m-line, our published m-line (recvonly for the
// server) and the data channel.
const serverOffer = [
  'v=0',
  'o=str0m-0.25.0 1234 2 IN IP4 0.0.0.0',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1 2 3',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  'a=recvonly',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'a=mid:1',
  'a=sendonly',
  'a=msid:PA_3f2a9c0d11e0b7a4 TR_05a3f51b069d4648',
  'a=ssrc:1234 msid:PA_3f2a9c0d11e0b7a4 TR_05a3f51b069d4648',
  'm=video 0 UDP/TLS/RTP/SAVPF 96',
  'a=mid:2',
  'a=inactive',
  'a=msid:PA_3f2a9c0d11e0b7a4 TR_1111111111111111',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'a=mid:3',
  'a=sctp-port:5000',
  '',
].join('\r\n');

describe('mediaSections', () => {
  it('reads kind, port, mid, direction and msid of each m-line', () => {
    const s = mediaSections(serverOffer);
    assert.deepEqual(s.map((m) => [m.index, m.kind, m.port, m.mid, m.direction]), [
      [0, 'audio', 9, '0', 'recvonly'],
      [1, 'video', 9, '1', 'sendonly'],
      [2, 'video', 0, '2', 'inactive'],
      [3, 'application', 9, '3', 'sendrecv'],
    ]);
    assert.deepEqual(s[1]?.msid, { streamId: 'PA_3f2a9c0d11e0b7a4', trackId: 'TR_05a3f51b069d4648' });
    assert.equal(s[0]?.msid, null);
  });

  it('accepts LF line ends and session-level directions', () => {
    const s = mediaSections('v=0\na=sendonly\nm=audio 9 RTP/AVP 0\na=mid:a\nm=video 9 RTP/AVP 96\na=mid:b\na=recvonly\n');
    assert.deepEqual(s.map((m) => m.direction), ['sendonly', 'recvonly']);
  });
});

describe('remoteTracksByMid', () => {
  it('maps live m-lines to publisher and track, leaving out stopped ones', () => {
    assert.deepEqual([...remoteTracksByMid(serverOffer)], [['1', { participantId: 'PA_3f2a9c0d11e0b7a4', trackId: 'TR_05a3f51b069d4648' }]]);
  });

  it('ignores msid without a track id or with the "-" stream', () => {
    assert.equal(remoteTracksByMid('m=audio 9 X 0\r\na=mid:0\r\na=msid:- abc\r\nm=audio 9 X 0\r\na=mid:1\r\na=msid:stream\r\n').size, 0);
  });
});
