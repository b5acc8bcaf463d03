// Minimal SDP reading: what the SDK needs from the server's offers (which m-line carries which
// participant's track, which m-lines are stopped) and from its own offers (mids).

export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface MediaSection {
  /** Position of the m-line (0-based), i.e. `sdpMLineIndex`. */
  index: number;
  kind: string;
  /** 0 for a stopped (rejected) m-line. */
  port: number;
  mid: string | null;
  direction: MediaDirection;
  /** From `a=msid:<stream id> <track id>`; the server puts participant id and track id there. */
  msid: { streamId: string; trackId: string | null } | null;
}

const DIRECTIONS: readonly string[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

/** The m-lines of an SDP, in order. */
export function mediaSections(sdp: string): MediaSection[] {
  const sections: MediaSection[] = [];
  let sessionDirection: MediaDirection = 'sendrecv';
  let current: MediaSection | null = null;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      const parts = line.slice(2).split(/\s+/);
      current = {
        index: sections.length,
        kind: parts[0] ?? '',
        port: Number.parseInt(parts[1] ?? '0', 10) || 0,
        mid: null,
        direction: sessionDirection,
        msid: null,
      };
      sections.push(current);
      continue;
    }
    if (!line.startsWith('a=')) continue;
    const attr = line.slice(2);
    if (DIRECTIONS.includes(attr)) {
      if (current) current.direction = attr as MediaDirection;
      else sessionDirection = attr as MediaDirection;
    } else if (current && attr.startsWith('mid:')) {
      current.mid = attr.slice(4).trim();
    } else if (current && attr.startsWith('msid:') && !current.msid) {
      const [streamId, trackId] = attr.slice(5).trim().split(/\s+/);
      if (streamId) current.msid = { streamId, trackId: trackId ?? null };
    }
  }
  return sections;
}

/**
 * For each mid of an SDP (the server's offer), the participant and track it carries, from
 * `a=msid:<participant_id> <track_id>`. Stopped m-lines (port 0) are left out.
 */
export function remoteTracksByMid(sdp: string): Map<string, { participantId: string; trackId: string }> {
  const out = new Map<string, { participantId: string; trackId: string }>();
  for (const m of mediaSections(sdp)) {
    if (m.mid === null || m.port === 0 || !m.msid || !m.msid.trackId || m.msid.streamId === '-') continue;
    out.set(m.mid, { participantId: m.msid.streamId, trackId: m.msid.trackId });
  }
  return out;
}
