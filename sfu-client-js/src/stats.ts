// Per-track statistics from RTCPeerConnection.getStats(): bitrate, resolution, frame rate,
// packet loss, and the simulcast layer the server sends (from `subscription` messages).

/** One entry of an `RTCStatsReport`, loosely typed (browsers differ in what they fill in). */
export type StatsEntry = { id: string; type: string; timestamp: number } & Record<string, unknown>;

export interface LayerStats {
  rid: string | undefined;
  bitrate: number;
  width: number | undefined;
  height: number | undefined;
  framesPerSecond: number | undefined;
  active: boolean | undefined;
  /** `cpu`, `bandwidth`, `other` or `none`, as the browser reports it. */
  qualityLimitationReason: string | undefined;
}

export interface TrackStats {
  direction: 'inbound' | 'outbound';
  kind: 'audio' | 'video';
  mid: string | undefined;
  /** The server's track id, when known. */
  trackId: string | undefined;
  /** Bits per second since the previous `getStats()` (0 on the first call). */
  bitrate: number;
  /** Largest layer's size for outbound simulcast. */
  width: number | undefined;
  height: number | undefined;
  framesPerSecond: number | undefined;
  /** Packets lost, in total (inbound: as the receiver counts; outbound: as the server reports back). */
  packetsLost: number;
  /** Lost / (lost + received) since the previous call, 0..1 (inbound); fractionLost from RTCP (outbound). */
  packetLoss: number;
  jitter: number | undefined;
  roundTripTime: number | undefined;
  /** Inbound video: the layer the server sends now (`null` paused or single layer). */
  layer?: string | null;
  paused?: boolean;
  /** Outbound simulcast: one entry per RID, low to high as the browser lists them. */
  layers?: LayerStats[];
}

export interface StatsContext {
  /** The server track id of a local m-line (outbound). */
  localTrackId(mid: string): string | undefined;
  /** The server track id of a received m-line (inbound). */
  remoteTrackId(mid: string): string | undefined;
  /** The last `subscription` state of a received track. */
  subscription(trackId: string): { layer: string | null; paused: boolean } | undefined;
}

/** What is remembered between two calls: bytes and counters per stats id. */
export type StatsMemory = Map<string, { timestamp: number; bytes: number; packets: number; lost: number }>;

const numberOf = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const stringOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function rate(memory: StatsMemory, next: StatsMemory, e: StatsEntry, bytes: number, packets: number, lost: number): { bitrate: number; lostDelta: number; packetsDelta: number } {
  const prev = memory.get(e.id);
  next.set(e.id, { timestamp: e.timestamp, bytes, packets, lost });
  if (!prev || e.timestamp <= prev.timestamp) return { bitrate: 0, lostDelta: lost, packetsDelta: packets };
  const seconds = (e.timestamp - prev.timestamp) / 1000;
  return {
    bitrate: Math.max(0, Math.round(((bytes - prev.bytes) * 8) / seconds)),
    lostDelta: Math.max(0, lost - prev.lost),
    packetsDelta: Math.max(0, packets - prev.packets),
  };
}

/**
 * Summarizes a stats report per track. Pure: `memory` holds the previous call's counters and
 * the returned `memory` replaces it.
 */
export function summarizeStats(entries: Iterable<StatsEntry>, memory: StatsMemory, context: StatsContext): { tracks: TrackStats[]; memory: StatsMemory } {
  const all = [...entries];
  const byId = new Map(all.map((e) => [e.id, e]));
  const next: StatsMemory = new Map();
  const tracks: TrackStats[] = [];
  const outbound = new Map<string, { entries: StatsEntry[] }>();

  for (const e of all) {
    const kind = stringOf(e['kind']) ?? stringOf(e['mediaType']);
    if (kind !== 'audio' && kind !== 'video') continue;
    if (e.type === 'inbound-rtp') {
      const mid = stringOf(e['mid']);
      const bytes = numberOf(e['bytesReceived']) ?? 0;
      const packets = numberOf(e['packetsReceived']) ?? 0;
      const lost = Math.max(0, numberOf(e['packetsLost']) ?? 0);
      const r = rate(memory, next, e, bytes, packets, lost);
      const trackId = mid !== undefined ? context.remoteTrackId(mid) : undefined;
      const t: TrackStats = {
        direction: 'inbound',
        kind,
        mid,
        trackId,
        bitrate: r.bitrate,
        width: numberOf(e['frameWidth']),
        height: numberOf(e['frameHeight']),
        framesPerSecond: numberOf(e['framesPerSecond']),
        packetsLost: lost,
        packetLoss: r.lostDelta + r.packetsDelta > 0 ? r.lostDelta / (r.lostDelta + r.packetsDelta) : 0,
        jitter: numberOf(e['jitter']),
        roundTripTime: undefined,
      };
      if (kind === 'video' && trackId) {
        const sub = context.subscription(trackId);
        t.layer = sub ? sub.layer : undefined;
        t.paused = sub ? sub.paused : false;
      }
      tracks.push(t);
    } else if (e.type === 'outbound-rtp') {
      // Simulcast gives one outbound-rtp per RID of the same m-line: group them.
      const key = `${kind}:${stringOf(e['mid']) ?? stringOf(e['mediaSourceId']) ?? e.id}`;
      let group = outbound.get(key);
      if (!group) {
        group = { entries: [] };
        outbound.set(key, group);
      }
      group.entries.push(e);
    }
  }

  for (const { entries: group } of outbound.values()) {
    const first = group[0]!;
    const kind = (stringOf(first['kind']) ?? stringOf(first['mediaType'])) as 'audio' | 'video';
    const mid = stringOf(first['mid']);
    let bitrate = 0;
    let lost = 0;
    let fractionLost: number | undefined;
    let rtt: number | undefined;
    let jitter: number | undefined;
    const layers: LayerStats[] = [];
    for (const e of group) {
      const bytes = numberOf(e['bytesSent']) ?? 0;
      const packets = numberOf(e['packetsSent']) ?? 0;
      const r = rate(memory, next, e, bytes, packets, 0);
      bitrate += r.bitrate;
      const remoteId = stringOf(e['remoteId']);
      const remote = remoteId ? byId.get(remoteId) : undefined;
      if (remote) {
        lost += Math.max(0, numberOf(remote['packetsLost']) ?? 0);
        const f = numberOf(remote['fractionLost']);
        if (f !== undefined) fractionLost = Math.max(fractionLost ?? 0, f);
        rtt = numberOf(remote['roundTripTime']) ?? rtt;
        jitter = numberOf(remote['jitter']) ?? jitter;
      }
      layers.push({
        rid: stringOf(e['rid']),
        bitrate: r.bitrate,
        width: numberOf(e['frameWidth']),
        height: numberOf(e['frameHeight']),
        framesPerSecond: numberOf(e['framesPerSecond']),
        active: typeof e['active'] === 'boolean' ? e['active'] : undefined,
        qualityLimitationReason: stringOf(e['qualityLimitationReason']),
      });
    }
    // Largest layer that is being sent describes the track.
    const top = [...layers].filter((l) => l.active !== false).sort((a, b) => (b.width ?? 0) * (b.height ?? 0) - (a.width ?? 0) * (a.height ?? 0))[0] ?? layers[0];
    const t: TrackStats = {
      direction: 'outbound',
      kind,
      mid,
      trackId: mid !== undefined ? context.localTrackId(mid) : undefined,
      bitrate,
      width: top?.width,
      height: top?.height,
      framesPerSecond: top?.framesPerSecond,
      packetsLost: lost,
      packetLoss: fractionLost ?? 0,
      jitter,
      roundTripTime: rtt,
    };
    if (layers.length > 1 || layers[0]?.rid !== undefined) {
      t.layers = layers.sort((a, b) => (a.width ?? 0) - (b.width ?? 0));
    }
    tracks.push(t);
  }
  return { tracks, memory: next };
}

/** Keeps the memory between calls of `summarizeStats` for one peer connection. */
export class StatsCollector {
  private memory: StatsMemory = new Map();

  async collect(pc: { getStats(): Promise<RTCStatsReport> }, context: StatsContext): Promise<TrackStats[]> {
    const report = await pc.getStats();
    const entries: StatsEntry[] = [];
    report.forEach((value: unknown) => entries.push(value as StatsEntry));
    const { tracks, memory } = summarizeStats(entries, this.memory, context);
    this.memory = memory;
    return tracks;
  }

  reset(): void {
    this.memory = new Map();
  }
}
