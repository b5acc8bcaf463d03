// What the end-to-end scripts read from a demo page (its DOM contract is in
// sfu-server/static/index.html and sfu-client-js/demo/): tiles, remote media, WebRTC stats.

/** The tiles of a page: [{ identity, participantId, local, source }]. */
export function tiles(page) {
  return page.evaluate(() => [...document.querySelectorAll('#grid .tile')].map((t) => ({
    identity: t.dataset.identity,
    participantId: t.dataset.participantId,
    local: t.dataset.local === 'true',
    source: t.dataset.source,
  })));
}

/**
 * The remote videos of a page with their playback counters and the matching inbound-rtp
 * stats: [{ identity, trackId, width, height, frames, framesDecoded, bytes, frameWidth }].
 */
export function remoteVideos(page) {
  return page.evaluate(async () => {
    const inbound = await inboundByTrack();
    return [...document.querySelectorAll('#grid .tile[data-local="false"] video[data-track-id]')]
      .filter((v) => v.srcObject)
      .map((v) => {
        const track = v.srcObject.getVideoTracks()[0];
        const s = (track && inbound.get(track.id)) ?? {};
        return {
          identity: v.closest('.tile').dataset.identity,
          trackId: v.dataset.trackId,
          width: v.videoWidth,
          height: v.videoHeight,
          frames: v.getVideoPlaybackQuality().totalVideoFrames,
          framesDecoded: s.framesDecoded ?? 0,
          bytes: s.bytesReceived ?? 0,
          frameWidth: s.frameWidth ?? 0,
        };
      });

    async function inboundByTrack() {
      const pc = window.demo?.room?.peerConnection;
      const map = new Map();
      if (!pc) return map;
      (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp') map.set(s.trackIdentifier, s); });
      return map;
    }
  });
}

/** The remote audio elements of a page with the bytes received on their tracks. */
export function remoteAudio(page) {
  return page.evaluate(async () => {
    const pc = window.demo?.room?.peerConnection;
    const inbound = new Map();
    if (pc) (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') inbound.set(s.trackIdentifier, s); });
    return [...document.querySelectorAll('#grid audio[data-track-id]')].map((a) => {
      const track = a.srcObject?.getAudioTracks()[0];
      return {
        identity: a.closest('.tile')?.dataset.identity,
        trackId: a.dataset.trackId,
        live: track?.readyState === 'live',
        bytes: (track && inbound.get(track.id)?.bytesReceived) ?? 0,
      };
    });
  });
}

/** The local simulcast encodings being sent: [{ rid, bytes, width }] from outbound-rtp. */
export function outboundVideo(page) {
  return page.evaluate(async () => {
    const out = [];
    (await window.demo.room.peerConnection.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') out.push({ rid: s.rid ?? '', bytes: s.bytesSent, width: s.frameWidth ?? 0 });
    });
    return out.sort((a, b) => a.rid.localeCompare(b.rid));
  });
}

/** The subscription the server last reported for remote track `trackId` ({ layer, paused }). */
export function subscriptionOf(page, trackId) {
  return page.evaluate((id) => {
    const s = window.demo.room.tracks.get(id)?.subscription;
    return s ? { layer: s.layer, paused: s.paused } : null;
  }, trackId);
}

/** Texts of the chat log entries. */
export function chatLog(page) {
  return page.evaluate(() => [...document.querySelectorAll('#chat-log .msg')].map((m) => m.textContent));
}

/**
 * Whether a PNG (a Buffer) shows something: drawn on a canvas in `page`, its pixels are not
 * (nearly) all one colour. Returns { width, height, distinctColours, stddev }.
 */
export function imageVariety(page, png) {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, img.width, img.height).data;
    const colours = new Set();
    let sum = 0;
    let sumSq = 0;
    let n = 0;
    // Every 7th pixel is plenty for a variety measure.
    for (let i = 0; i < data.length; i += 4 * 7) {
      const luma = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
      sum += luma;
      sumSq += luma * luma;
      n++;
      if (colours.size < 5000) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    }
    const mean = sum / n;
    return { width: img.width, height: img.height, distinctColours: colours.size, stddev: Math.sqrt(sumSq / n - mean * mean) };
  }, png.toString('base64'));
}

/** Runs `sample` twice `gapMs` apart and returns [first, second]. */
export async function twoSamples(sample, gapMs = 1500) {
  const first = await sample();
  await new Promise((r) => setTimeout(r, gapMs));
  return [first, await sample()];
}
