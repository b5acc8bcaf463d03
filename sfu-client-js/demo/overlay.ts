// The per-tile stats overlay: layer, size, bitrate and loss of the tile's video, from
// room.getStats() once a second.

import type { Room, TrackStats } from '../src/index.js';

/**
 * One line for a video's stats, e.g. `f 1280x720 1.20 Mbit/s loss 0.0%`: received video shows
 * the layer the server sends (`-` for a single-layer track), sent video the largest layer being
 * sent. Empty until the video has a size.
 */
export function overlayText(s: TrackStats): string {
  if (s.paused) return 'paused';
  let layer = s.layer ?? '-';
  let width = s.width;
  let height = s.height;
  if (s.direction === 'outbound' && s.layers) {
    const sending = s.layers.filter((l) => l.active !== false && l.bitrate > 0);
    const top = sending[sending.length - 1];
    if (top) {
      layer = top.rid ?? '-';
      width = top.width ?? width;
      height = top.height ?? height;
    }
  }
  if (!width || !height) return '';
  const mbits = (s.bitrate / 1e6).toFixed(2);
  const loss = (Math.min(1, Math.max(0, s.packetLoss)) * 100).toFixed(1);
  return `${layer} ${width}x${height} ${mbits} Mbit/s loss ${loss}%`;
}

/** Polls the room's video stats every second and hands them over by server track id. */
export function pollVideoStats(room: Room, apply: (byTrackId: ReadonlyMap<string, TrackStats>) => void): () => void {
  let busy = false;
  const timer = setInterval(() => {
    // getStats() measures bitrates since its previous call: never two calls at once.
    if (busy || room.state === 'disconnected') return;
    busy = true;
    room
      .getStats()
      .then((stats) => {
        const byTrackId = new Map<string, TrackStats>();
        for (const s of stats) if (s.kind === 'video' && s.trackId) byTrackId.set(s.trackId, s);
        apply(byTrackId);
      })
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, 1000);
  return () => clearInterval(timer);
}
