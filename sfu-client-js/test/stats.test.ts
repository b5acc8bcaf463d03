import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { match } from './helpers.js';
import { summarizeStats, type StatsContext, type StatsEntry } from '../src/stats.js';

const context: StatsContext = {
  localTrackId: (mid) => ({ '0': 'TR_local_audio', '1': 'TR_local_video' })[mid],
  remoteTrackId: (mid) => ({ '3': 'TR_remote_video' })[mid],
  subscription: (id) => (id === 'TR_remote_video' ? { layer: 'h', paused: false } : undefined),
};

function report(t: number, bytesIn: number, lost: number, received: number, bytesOut: number[]): StatsEntry[] {
  return [
    { id: 'IT01V', type: 'inbound-rtp', timestamp: t, kind: 'video', mid: '3', bytesReceived: bytesIn, packetsReceived: received, packetsLost: lost, frameWidth: 640, frameHeight: 360, framesPerSecond: 30, jitter: 0.004 },
    { id: 'OT01A', type: 'outbound-rtp', timestamp: t, kind: 'audio', mid: '0', bytesSent: bytesOut[0], packetsSent: 50, remoteId: 'RIA' },
    { id: 'RIA', type: 'remote-inbound-rtp', timestamp: t, kind: 'audio', packetsLost: 2, fractionLost: 0.01, roundTripTime: 0.02 },
    { id: 'OTq', type: 'outbound-rtp', timestamp: t, kind: 'video', mid: '1', rid: 'q', bytesSent: bytesOut[1], packetsSent: 10, frameWidth: 320, frameHeight: 180, framesPerSecond: 30, active: true, qualityLimitationReason: 'none' },
    { id: 'OTf', type: 'outbound-rtp', timestamp: t, kind: 'video', mid: '1', rid: 'f', bytesSent: bytesOut[3], packetsSent: 10, frameWidth: 1280, frameHeight: 720, framesPerSecond: 29, active: true, qualityLimitationReason: 'bandwidth' },
    { id: 'OTh', type: 'outbound-rtp', timestamp: t, kind: 'video', mid: '1', rid: 'h', bytesSent: bytesOut[2], packetsSent: 10, frameWidth: 640, frameHeight: 360, framesPerSecond: 30, active: true },
    { id: 'CP', type: 'candidate-pair', timestamp: t, state: 'succeeded' },
  ];
}

describe('summarizeStats', () => {
  it('reports zero bitrate on the first call and rates on the next', () => {
    const first = summarizeStats(report(1000, 10_000, 0, 100, [1000, 1000, 2000, 4000]), new Map(), context);
    assert.equal(first.tracks.every((t) => t.bitrate === 0), true);
    const second = summarizeStats(report(3000, 260_000, 10, 290, [9000, 51_000, 127_000, 379_000]), first.memory, context);
    const inbound = second.tracks.find((t) => t.direction === 'inbound')!;
    match(inbound, {
      kind: 'video',
      mid: '3',
      trackId: 'TR_remote_video',
      bitrate: 1_000_000,
      width: 640,
      height: 360,
      framesPerSecond: 30,
      packetsLost: 10,
      packetLoss: 0.05,
      layer: 'h',
      paused: false,
    });
    const audio = second.tracks.find((t) => t.direction === 'outbound' && t.kind === 'audio')!;
    match(audio, { trackId: 'TR_local_audio', bitrate: 32_000, packetsLost: 2, packetLoss: 0.01, roundTripTime: 0.02 });
    const video = second.tracks.find((t) => t.direction === 'outbound' && t.kind === 'video')!;
    assert.equal(video.trackId, 'TR_local_video');
    assert.equal(video.bitrate, 200_000 + 500_000 + 1_500_000);
    assert.deepEqual([video.width, video.height, video.framesPerSecond], [1280, 720, 29]);
    assert.deepEqual(video.layers?.map((l) => [l.rid, l.bitrate]), [
      ['q', 200_000],
      ['h', 500_000],
      ['f', 1_500_000],
    ]);
    assert.equal(video.layers?.[2]?.qualityLimitationReason, 'bandwidth');
  });

  it('a paused subscription and a track of unknown mid', () => {
    const r = summarizeStats(
      [{ id: 'x', type: 'inbound-rtp', timestamp: 1, kind: 'video', mid: '9', bytesReceived: 0, packetsReceived: 0, packetsLost: 0 }],
      new Map(),
      context,
    );
    match(r.tracks[0], { trackId: undefined, packetLoss: 0 });
    assert.equal(r.tracks[0]?.layer, undefined);
  });

  it('an outbound top layer that the browser turned off does not describe the track', () => {
    const entries = report(1000, 0, 0, 0, [0, 0, 0, 0]).map((e) => (e.id === 'OTf' ? { ...e, active: false } : e));
    const video = summarizeStats(entries, new Map(), context).tracks.find((t) => t.direction === 'outbound' && t.kind === 'video')!;
    assert.deepEqual([video.width, video.height], [640, 360]);
  });
});
