// Recording through forwards (the recording tap): headless Chromium publishes Opus and VP8
// simulcast (q/h/f); ffmpeg records from the SDP files the REST API returns, as
// docs/recording.md tells users to.
//
// Recording A: one SDP file merging the audio and video forwards (default layer: the highest),
// one ffmpeg writing a.webm. Recording B: a video forward of layer h switched to q midway,
// written to b.webm. Both forwards start paused and are resumed once ffmpeg listens, and end with
// DELETE, whose RTCP BYE makes ffmpeg finish its file by itself.
//
// Checks: ffprobe reads VP8 1280x720 + Opus in a.webm with a duration close to the time
// recorded; b.webm holds 640x360 then 320x180 frames; both decode without errors; the forward
// list shows packet, byte and sender report counters and the switch.
//
// Usage (as root; see harness.mjs):
//   unshare --net sh -c 'ip link set lo up && exec "$@"' sh node e2e/recording.mjs
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Checks, launchBrowser, newPage, outDir, runScript, sleep, startServer } from './harness.mjs';

const ROOM = 'recording';
const FFMPEG = process.env.FFMPEG ?? 'ffmpeg';
const FFPROBE = process.env.FFPROBE ?? 'ffprobe';
const checks = new Checks();
const server = await startServer('recording');
const browser = await launchBrowser();
const ffmpegs = [];

/** A dev token with room_admin on the room (POST /v1/dev/token with `admin`). */
async function adminToken() {
  const res = await fetch(`${server.base}/v1/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room: ROOM, identity: 'recorder', admin: true }),
  });
  return (await res.json()).token;
}
const admin = await adminToken();

/** One REST call with the admin token: { status, body }. */
async function api(method, path, body) {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Whether a UDP port of 127.0.0.1 can be bound (false once ffmpeg listens there). */
function udpFree(port) {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** An even port P with P and P+1 free (RTP and RTCP), from a bounded number of tries. */
async function freePortPair() {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + 2 * Math.floor(Math.random() * 20000);
    if ((await udpFree(port)) && (await udpFree(port + 1))) return port;
  }
  throw new Error('no free UDP port pair');
}

/** Joins one SDP file's media sections onto another's (same session-level c= line). */
function mergeSdp(first, second) {
  return first + second.slice(second.indexOf('m='));
}

/** Starts ffmpeg reading `sdpText` (written next to the output) and copying into `out`. */
async function record(name, sdpText, ports) {
  const sdpPath = join(outDir, `${name}.sdp`);
  const out = join(outDir, `${name}.webm`);
  writeFileSync(sdpPath, sdpText);
  rmSync(out, { force: true });
  const child = spawn(FFMPEG, ['-hide_banner', '-loglevel', 'warning', '-protocol_whitelist', 'file,udp,rtp',
    '-i', sdpPath, '-c', 'copy', '-y', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  const rec = { name, out, child, stderr: '', exited: null };
  child.stderr.on('data', (d) => { rec.stderr += d; });
  child.on('exit', (code, signal) => { rec.exited = { code, signal }; });
  ffmpegs.push(rec);
  // ffmpeg listens once it has read the SDP file: then the forwards may start.
  await checks.waitFor(`ffmpeg ${name} listens on ${ports.join(', ')}`, async () => {
    for (const p of ports) if (await udpFree(p)) return { pending: `port ${p} not bound` };
    return true;
  }, 15000);
  return rec;
}

/** ffprobe's JSON for `args` on `file`. */
function probe(file, args) {
  const r = spawnSync(FFPROBE, ['-v', 'error', ...args, '-of', 'json', file], { encoding: 'utf8' });
  return JSON.parse(r.stdout || '{}');
}

/** The error lines ffmpeg prints while decoding the whole file. */
function decodeErrors(file) {
  const r = spawnSync(FFMPEG, ['-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8' });
  return r.stderr.split('\n').filter((l) => l.trim());
}

/** The forward `id` as the list shows it. */
async function listed(id) {
  const r = await api('GET', `/v1/rooms/${ROOM}/forwards`);
  return r.body.forwards.find((f) => f.id === id);
}

/** Waits, bounded, for ffmpeg to finish by itself (the BYE of every stream it reads). */
async function finished(rec) {
  const ok = await checks.waitFor(`ffmpeg ${rec.name} finished on the forwards' BYE`, () => rec.exited && rec.exited, 15000);
  if (!ok) {
    rec.child.kill('SIGINT');
    for (let i = 0; i < 50 && !rec.exited; i++) await sleep(100);
  }
  if (rec.stderr.trim()) console.log(`[ffmpeg ${rec.name}] ${rec.stderr.trim()}`);
}

await runScript(checks, {
  browser,
  server,
  cleanup: async () => { for (const r of ffmpegs) if (!r.exited) r.child.kill('SIGKILL'); },
}, async () => {
  const page = await newPage(browser.context, 'publisher');
  // Any page of the server's origin: a secure context (loopback) for getUserMedia.
  await page.goto(`${server.base}/healthz`);
  const tokenRes = await fetch(`${server.base}/v1/dev/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ room: ROOM, identity: 'alice' }),
  });
  const wsUrl = `${server.base.replace('http', 'ws')}/v1/rtc?access_token=${(await tokenRes.json()).token}`;
  const state = await page.evaluate(async (wsUrl) => {
    const pc = new RTCPeerConnection();
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
    pc.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendonly', streams: [stream] });
    const video = pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly', streams: [stream], sendEncodings: [
      { rid: 'q', scaleResolutionDownBy: 4 }, { rid: 'h', scaleResolutionDownBy: 2 }, { rid: 'f' }] });
    // A busy test machine must not make Chrome shrink the layers the checks expect.
    const params = video.sender.getParameters();
    params.degradationPreference = 'maintain-resolution';
    await video.sender.setParameters(params);
    const ws = new WebSocket(wsUrl);
    window.keep = { pc, ws, stream };
    let joined;
    const joinedP = new Promise((r) => { joined = r; });
    ws.onmessage = async (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'joined') joined();
      if (m.type === 'answer') await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      if (m.type === 'offer') {
        await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
        await pc.setLocalDescription();
        ws.send(JSON.stringify({ type: 'answer', sdp: pc.localDescription.sdp }));
      }
    };
    await joinedP;
    await pc.setLocalDescription(await pc.createOffer());
    ws.send(JSON.stringify({ type: 'offer', sdp: pc.localDescription.sdp }));
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline && !['connected', 'failed'].includes(pc.connectionState)) {
      await new Promise((r) => setTimeout(r, 200));
    }
    return pc.connectionState;
  }, wsUrl);
  checks.check(state === 'connected', `publisher connected (${state})`);

  // The server receives audio and all three video layers.
  const tracks = await checks.waitFor('server receives Opus and VP8 q/h/f', async () => {
    const r = await api('GET', `/v1/rooms/${ROOM}/participants`);
    const ts = r.body?.participants?.[0]?.tracks ?? [];
    const audio = ts.find((t) => t.kind === 'audio');
    const video = ts.find((t) => t.kind === 'video');
    const live = (video?.received ?? []).filter((l) => l.packets > 0).map((l) => l.rid).join(',');
    if (!audio || live !== 'q,h,f') return { pending: { audio: !!audio, live } };
    return { audio: audio.id, video: video.id, codecs: [audio.codec, video.codec] };
  }, 30000);
  if (!tracks) return;

  // Recording A: audio + video (highest layer) through one merged SDP file.
  const [va, aa] = [await freePortPair(), await freePortPair()];
  const fv = await api('POST', `/v1/rooms/${ROOM}/forwards`, { track_id: tracks.video, host: '127.0.0.1', port: va, paused: true });
  const fa = await api('POST', `/v1/rooms/${ROOM}/forwards`, { track_id: tracks.audio, host: '127.0.0.1', port: aa, paused: true });
  checks.check(fv.status === 201 && fa.status === 201, `forwards created (${fv.status}, ${fa.status})`);
  checks.check(/a=rtpmap:\d+ VP8\/90000/.test(fv.body.sdp) && /a=rtpmap:\d+ opus\/48000\/2/.test(fa.body.sdp),
    `the SDP files name VP8/90000 and opus/48000/2:\n${fv.body.sdp}${fa.body.sdp}`);
  const recA = await record('a', mergeSdp(fv.body.sdp, fa.body.sdp), [va, va + 1, aa, aa + 1]);

  // Recording B: video layer h, switched to q midway.
  const vb = await freePortPair();
  const fb = await api('POST', `/v1/rooms/${ROOM}/forwards`, { track_id: tracks.video, host: '127.0.0.1', port: vb, layer: 'h', paused: true });
  checks.check(fb.status === 201, `a second forward of the video track (${fb.status})`);
  const recB = await record('b', fb.body.sdp, [vb, vb + 1]);

  for (const id of [fv.body.id, fa.body.id, fb.body.id]) {
    const r = await api('PATCH', `/v1/rooms/${ROOM}/forwards/${id}`, { paused: false });
    checks.check(r.status === 200 && r.body.paused === false, `forward ${id} resumed`);
  }
  const startedAt = Date.now();
  await checks.waitFor('B sends layer h', async () => (await listed(fb.body.id))?.current_layer === 'h' || { pending: await listed(fb.body.id) });
  await sleep(4000);
  const sw = await api('PATCH', `/v1/rooms/${ROOM}/forwards/${fb.body.id}`, { layer: 'q' });
  checks.check(sw.status === 200 && sw.body.layer === 'q', `B switched to layer q (${sw.status})`);
  await checks.waitFor('B sends layer q', async () => (await listed(fb.body.id))?.current_layer === 'q' || { pending: await listed(fb.body.id) });
  await sleep(4000);

  const counters = await listed(fb.body.id);
  checks.check(counters.packets_sent > 100 && counters.bytes_sent > 10000 && counters.sender_reports_sent > 0
    && counters.layer_switches >= 1 && counters.send_errors === 0, `the list shows B's counters ${JSON.stringify({ ...counters, sdp: undefined })}`);
  const audioCounters = await listed(fa.body.id);
  checks.check(audioCounters.packets_sent > 100 && audioCounters.sender_reports_sent > 0, `the list shows the audio forward's counters (${audioCounters.packets_sent} packets)`);

  for (const id of [fv.body.id, fa.body.id, fb.body.id]) {
    const r = await api('DELETE', `/v1/rooms/${ROOM}/forwards/${id}`);
    checks.check(r.status === 204, `forward ${id} deleted`);
  }
  const recorded = (Date.now() - startedAt) / 1000;
  const left = await api('GET', `/v1/rooms/${ROOM}/forwards`);
  checks.check(left.body.forwards.length === 0, 'no forward left');
  await finished(recA);
  await finished(recB);

  // A: VP8 1280x720 and Opus, as long as the time recorded.
  const a = probe(recA.out, ['-show_entries', 'stream=codec_name,codec_type,width,height:format=duration']);
  const av = a.streams?.find((s) => s.codec_type === 'video');
  const aa2 = a.streams?.find((s) => s.codec_type === 'audio');
  const duration = Number(a.format?.duration ?? 0);
  checks.check(av?.codec_name === 'vp8' && av.width === 1280 && av.height === 720 && aa2?.codec_name === 'opus',
    `a.webm holds VP8 1280x720 and Opus: ${JSON.stringify(a.streams)}`);
  // Generous bounds: the first keyframe takes a moment, and ffmpeg stops on BYE.
  checks.check(duration > recorded * 0.6 && duration < recorded + 2,
    `a.webm lasts ${duration.toFixed(2)} s for ${recorded.toFixed(2)} s recorded`);
  const errorsA = decodeErrors(recA.out);
  checks.check(errorsA.length <= 2, `a.webm decodes (${errorsA.length} error lines) ${errorsA.slice(0, 5).join(' | ')}`);

  // B: h frames, then q frames, all decodable.
  const frames = probe(recB.out, ['-select_streams', 'v:0', '-show_entries', 'frame=width,height']).frames ?? [];
  const sizes = [];
  for (const f of frames) {
    const s = `${f.width}x${f.height}`;
    if (sizes[sizes.length - 1] !== s) sizes.push(s);
  }
  checks.check(sizes.join(' -> ') === '640x360 -> 320x180' && frames.length > 50,
    `b.webm: ${frames.length} frames, sizes ${sizes.join(' -> ')}`);
  const errorsB = decodeErrors(recB.out);
  checks.check(errorsB.length <= 2, `b.webm decodes across the switch (${errorsB.length} error lines) ${errorsB.slice(0, 5).join(' | ')}`);
});
