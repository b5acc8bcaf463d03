// Send encodings for published video: simulcast layers `q`, `h`, `f` (docs/protocol.md) with
// bitrates that follow the resolution.

export interface Resolution {
  width: number;
  height: number;
}

export const RESOLUTIONS = {
  h180: { width: 320, height: 180 },
  h360: { width: 640, height: 360 },
  h540: { width: 960, height: 540 },
  h720: { width: 1280, height: 720 },
  h1080: { width: 1920, height: 1080 },
} as const satisfies Record<string, Resolution>;

export interface VideoEncoding {
  rid?: string;
  scaleResolutionDownBy?: number;
  maxBitrate: number;
  maxFramerate?: number;
  active?: boolean;
}

/**
 * A sensible bitrate (bits/s) for VP8 at a resolution and frame rate, interpolated between
 * common points: 320x180 150 kbps, 640x360 500 kbps, 1280x720 1.5 Mbps, 1920x1080 3 Mbps (30 fps).
 */
export function bitrateFor(size: Resolution, fps = 30): number {
  const pixels = Math.max(1, size.width * size.height);
  const points: Array<[number, number]> = [
    [160 * 90, 60_000],
    [320 * 180, 150_000],
    [640 * 360, 500_000],
    [960 * 540, 900_000],
    [1280 * 720, 1_500_000],
    [1920 * 1080, 3_000_000],
    [3840 * 2160, 8_000_000],
  ];
  let rate: number;
  const first = points[0]!;
  const last = points[points.length - 1]!;
  if (pixels <= first[0]) rate = first[1] * (pixels / first[0]);
  else if (pixels >= last[0]) rate = last[1];
  else {
    rate = last[1];
    for (let i = 1; i < points.length; i++) {
      const [p1, r1] = points[i]!;
      const [p0, r0] = points[i - 1]!;
      if (pixels <= p1) {
        rate = r0 + ((r1 - r0) * (pixels - p0)) / (p1 - p0);
        break;
      }
    }
  }
  const fpsFactor = Math.min(1, Math.max(0.4, fps / 30));
  return Math.round((rate * fpsFactor) / 1000) * 1000;
}

/** The shortest side below which a simulcast layer is not worth sending. */
export const MIN_LAYER_SHORT_SIDE = 90;

/**
 * Send encodings for a video track of `size`: with `simulcast`, up to three layers `q`, `h`,
 * `f` scaled down by 4, 2 and 1 (low to high), leaving out layers whose shorter side would fall
 * below 90 pixels; without it, one encoding.
 */
export function videoEncodings(size: Resolution, options: { simulcast: boolean; fps?: number; maxBitrate?: number }): VideoEncoding[] {
  const fps = options.fps ?? 30;
  if (!options.simulcast) {
    return [{ maxBitrate: options.maxBitrate ?? bitrateFor(size, fps) }];
  }
  const layers: Array<{ rid: string; scale: number }> = [
    { rid: 'q', scale: 4 },
    { rid: 'h', scale: 2 },
    { rid: 'f', scale: 1 },
  ];
  const short = Math.min(size.width, size.height);
  const kept = layers.filter((l) => l.rid === 'f' || short / l.scale >= MIN_LAYER_SHORT_SIDE);
  if (kept.length === 1) return [{ maxBitrate: options.maxBitrate ?? bitrateFor(size, fps) }];
  return kept.map((l) => {
    const scaled = { width: size.width / l.scale, height: size.height / l.scale };
    let maxBitrate = bitrateFor(scaled, fps);
    if (l.rid === 'f' && options.maxBitrate !== undefined) maxBitrate = options.maxBitrate;
    return { rid: l.rid, scaleResolutionDownBy: l.scale, maxBitrate };
  });
}

/** Bitrate for screen shares: detail matters more than motion. */
export function screenShareEncoding(size: Resolution, fps = 15): VideoEncoding {
  return { maxBitrate: Math.max(1_000_000, Math.round(bitrateFor(size, 30) * 1.2)), maxFramerate: fps };
}
