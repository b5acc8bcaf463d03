// End-to-end smoke test of the SDK (bundled from src/ by esbuild at start) on a bare test page
// in headless Chromium against the real sfu-server; run by tests/tests/browser_e2e.rs.
//
// Checks: join, publish camera (q/h/f simulcast) + microphone, a second participant that
// publishes at once while the server offers it the first one's tracks (crossing offers),
// trackSubscribed with frames decoded, adaptive caps (set_subscription -> `subscription`),
// data both ways, mute, unpublish, stats, a dropped WebSocket -> full rejoin, ICE restart, leave.
//
// Usage (as root, so that browser and server only see loopback; see harness.mjs):
//   unshare --net sh -c 'ip link set lo up && exec "$@"' sh node e2e/smoke.mjs [path/to/sfu-server]
// Chromium is Debian's /usr/bin/chromium (CHROMIUM=...).
// DUMP_EVENTS=1 prints every event, negotiation step, wire message and peer connection state.
// A `WARN the server sent leave` line is not a failure of the SDK (it rejoins), but a server
// that ends sessions it should keep.
import { createServer } from 'node:http';
import { join } from 'node:path';
import { build } from 'esbuild';
import { Checks, devToken, launchBrowser, newPage, repoRoot, runScript, startServer } from './harness.mjs';

// The SDK as apps get it (`npm run build:bundle`), built in memory so it is never stale.
const built = await build({ entryPoints: [join(repoRoot, 'sfu-client-js', 'src', 'index.ts')], bundle: true, format: 'esm', target: 'es2020', write: false });
const bundle = built.outputFiles[0].contents;
// Layers here follow the video element's size alone: bandwidth estimation (on by default, and
// tested in tests/tests/bandwidth.rs) could hold a loaded CI machine's loopback below f.
const server = await startServer('smoke', { bin: process.argv[2], env: { SFU_MEDIA__BANDWIDTH_ESTIMATION: 'false' } });
const base = server.base;
const token = (identity) => devToken(base, 'e2e', identity);

const html = `<!doctype html><meta charset="utf-8"><title>e2e</title>
<div id="tiles"></div>
<script type="module">
import * as sfu from '/sfu-client.js';
window.sfu = sfu;
window.events = [];
window.rooms = {};
window.sockets = {};
window.join = async (who, url, token) => {
  const room = new sfu.Room({
    webSocketFactory: (u) => {
      // Records the wire (for DUMP_EVENTS): message types and, for SDP, the m-lines.
      const ws = new WebSocket(u);
      const rec = (dir, data) => {
        try {
          const m = JSON.parse(data);
          const e = { who, name: 'wire', dir, type: m.type };
          if (m.sdp) e.mlines = m.sdp.split('\\r\\n').filter((l) => l.startsWith('m=') || l.startsWith('a=mid:') || /^a=(sendonly|recvonly|sendrecv|inactive)$/.test(l)).join(' ');
          if (m.type === 'track_info' || m.type === 'track_published' || m.type === 'error' || m.type === 'leave') e.body = JSON.stringify(m).slice(0, 300);
          window.events.push(e);
        } catch {}
      };
      const send = ws.send.bind(ws);
      ws.send = (d) => { rec('out', d); send(d); };
      ws.addEventListener('message', (ev) => rec('in', ev.data));
      return (window.sockets[who] = ws);
    },
    peerConnectionFactory: (config) => {
      const pc = new RTCPeerConnection(config);
      const rec = (what) => window.events.push({ who, name: 'pc', what, ice: pc.iceConnectionState, conn: pc.connectionState, gathering: pc.iceGatheringState, sig: pc.signalingState });
      pc.addEventListener('iceconnectionstatechange', () => rec('ice'));
      pc.addEventListener('connectionstatechange', () => rec('conn'));
      pc.addEventListener('icecandidate', (e) => rec('candidate ' + (e.candidate?.candidate ?? 'end')));
      return pc;
    },
    reconnect: { initialDelayMs: 200, maxDelayMs: 1000 },
    log: (msg, ...data) => { if (msg.startsWith('negotiation ')) window.events.push({ who, name: 'negotiation', event: msg.slice(12), actions: data[0] }); },
  });
  window.rooms[who] = room;
  const ev = (name, detail) => window.events.push({ who, name, ...detail });
  room.on('participantJoined', (p) => ev('participantJoined', { id: p.id, identity: p.identity }));
  room.on('participantLeft', (p) => ev('participantLeft', { id: p.id }));
  room.on('trackPublished', (t, p) => ev('trackPublished', { track: t.id, kind: t.kind, source: t.source, from: p.identity }));
  room.on('trackUnpublished', (t, p) => ev('trackUnpublished', { track: t.id, kind: t.kind, from: p.identity }));
  room.on('trackSubscribed', (m, t, p) => {
    ev('trackSubscribed', { track: t.id, kind: t.kind, source: t.source, from: p.identity, media: m.kind });
    if (t.kind === 'video') {
      const v = document.createElement('video');
      v.id = 'v-' + t.id;
      v.muted = true;
      v.style.width = '160px';
      v.style.height = '90px';
      document.getElementById('tiles').append(v);
      const a = sfu.attach(t, v);
      v.__detach = a.detach;
    }
  });
  room.on('trackUnsubscribed', (m, t, p) => {
    ev('trackUnsubscribed', { track: t.id, kind: t.kind, from: p.identity });
    const v = document.getElementById('v-' + t.id);
    if (v) { v.__detach(); v.remove(); }
  });
  room.on('trackMuted', (t, muted, p) => ev('trackMuted', { track: t.id ?? t.sid, muted, from: p.identity }));
  room.on('subscriptionChanged', (t, s) => ev('subscription', { track: t.id, layer: s.layer, paused: s.paused }));
  room.on('localTrackPublished', (t) => ev('localTrackPublished', { sid: t.sid, kind: t.kind, simulcast: t.simulcast }));
  room.on('localTrackUnpublished', (t) => ev('localTrackUnpublished', { kind: t.kind }));
  room.on('data', (m) => ev('data', { from: m.participant?.identity ?? m.from, payload: m.payload }));
  room.on('connectionStateChanged', (s, prev) => ev('state', { state: s, prev }));
  room.on('reconnected', () => ev('reconnected', { id: room.localParticipant.id }));
  room.on('disconnected', (reason) => ev('disconnected', { reason }));
  room.on('signalError', (e) => ev('signalError', { code: e.code, message: e.message }));
  room.on('error', (e) => ev('error', { message: String(e) }));
  await room.connect(url, token);
  return { id: room.localParticipant.id, participants: [...room.participants.values()].map((p) => p.identity) };
};
</script>`;
const pageServer = createServer((req, res) => {
  if (req.url === '/sfu-client.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(bundle);
  } else {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(html);
  }
});
await new Promise((r) => pageServer.listen(0, '127.0.0.1', r));
const pageUrl = `http://127.0.0.1:${pageServer.address().port}/`;

const browser = await launchBrowser();
const alice = await newPage(browser.context, 'alice');
const bob = await newPage(browser.context, 'bob');
for (const page of [alice, bob]) {
  await page.goto(pageUrl);
  await page.waitForFunction(() => typeof window.join === 'function');
}

const checks = new Checks();
const check = (ok, what) => checks.check(ok, what);
const events = (page) => page.evaluate(() => window.events);
async function waitFor(page, predicate, what, timeout = 15000, from = 0) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const evs = (await events(page)).slice(from);
    const found = evs.filter(predicate);
    if (found.length > 0) return found;
    if (Date.now() > deadline) {
      check(false, `${what} (timed out; events: ${JSON.stringify(evs.slice(-15))})`);
      return [];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cleanup = async () => {
  if (process.env.DUMP_EVENTS || checks.failures > 0) {
    console.log(JSON.stringify(await events(alice).catch(() => null)));
    console.log(JSON.stringify(await events(bob).catch(() => null)));
  }
  pageServer.close();
};
await runScript(checks, { browser, server, cleanup }, async () => {
  // Alice joins and publishes camera (simulcast) and microphone.
  const a = await alice.evaluate(async ([u, t]) => window.join('alice', u, t), [base, await token('alice')]);
  check(a.id.startsWith('PA_'), `alice joined as ${a.id}`);
  const aTracks = await alice.evaluate(async () => {
    const room = window.rooms.alice;
    const [cam, mic] = await Promise.all([room.publishCamera({ simulcast: true }), room.publishMicrophone()]);
    return { cam: cam.sid, mic: mic.sid, camEncodings: cam.encodings.map((e) => e.rid) };
  });
  check(aTracks.cam?.startsWith('TR_') && aTracks.mic?.startsWith('TR_'), `alice published camera ${aTracks.cam} (${aTracks.camEncodings}) and mic ${aTracks.mic}`);

  // Bob joins a room with tracks and publishes at once: his offer crosses the server's.
  const b = await bob.evaluate(async ([u, t]) => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const r = await window.join('bob', u, t);
    // Offer at once, before the server's offer (sent right after joined) is handled.
    const mic = window.rooms.bob.publishTrack(stream.getAudioTracks()[0], { source: 'microphone' });
    r.mic = (await mic).sid;
    return r;
  }, [base, await token('bob')]);
  check(b.participants.includes('alice'), `bob joined as ${b.id}, sees ${b.participants}`);
  check(b.mic?.startsWith('TR_'), `bob published mic ${b.mic} while receiving alice's offer`);
  const subs = await waitFor(bob, (e) => e.name === 'trackSubscribed' && e.from === 'alice' && e.kind === 'video', 'bob subscribed to alice camera');
  await waitFor(bob, (e) => e.name === 'trackSubscribed' && e.from === 'alice' && e.kind === 'audio', 'bob subscribed to alice mic');
  await waitFor(alice, (e) => e.name === 'trackSubscribed' && e.from === 'bob' && e.kind === 'audio', 'alice subscribed to bob mic');
  await waitFor(alice, (e) => e.name === 'participantJoined', 'alice saw bob join');
  const bobNegotiation = (await events(bob)).filter((e) => e.name === 'negotiation').map((e) => `${e.event}: ${e.actions.join(',')}`);
  console.log(`     bob's negotiation steps: ${JSON.stringify(bobNegotiation)}`);
  // Either the offers crossed (bob rolled back, answered, offered again) or the SDK's initial
  // offer hold kept them apart (bob answered first, then offered); both must end with the mic.
  const crossed = bobNegotiation.includes('remoteOffer: rollback,setRemote,createAnswer,sendAnswer,createOffer,announceTracks,sendOffer');
  const held = bobNegotiation.includes('remoteOffer: setRemote,createAnswer,sendAnswer,createOffer,announceTracks,sendOffer');
  check(crossed || held, `bob's offer ${crossed ? 'crossed the server offer and was redone after a rollback' : 'waited for the server offer'}`);
  const camId = subs[0]?.track;
  check(camId === aTracks.cam, `subscribed track id matches the published one (${camId})`);

  // Frames decode.
  const decoded = await bob.waitForFunction((id) => { const v = document.getElementById('v-' + id); return v && v.videoWidth > 0 ? [v.videoWidth, v.videoHeight] : null; }, camId, { timeout: 15000 }).then((h) => h.jsonValue()).catch(() => null);
  check(decoded !== null, `bob decodes alice's video (${decoded})`);

  // The 160x90 element caps the subscription: the server moves to a small layer.
  const sub = await waitFor(bob, (e) => e.name === 'subscription' && e.track === camId && e.layer === 'q', 'small element -> layer q');
  check(sub.length > 0, `subscription events for the small element: ${JSON.stringify(sub[0] ?? null)}`);
  // A big element asks for more.
  await bob.evaluate((id) => { const v = document.getElementById('v-' + id); v.style.width = '1280px'; v.style.height = '720px'; }, camId);
  await waitFor(bob, (e) => e.name === 'subscription' && e.track === camId && e.layer === 'f', 'large element -> layer f');
  // Hidden element -> paused.
  await bob.evaluate((id) => { document.getElementById('v-' + id).style.display = 'none'; }, camId);
  await waitFor(bob, (e) => e.name === 'subscription' && e.track === camId && e.paused === true, 'hidden element -> paused');
  await bob.evaluate((id) => { const v = document.getElementById('v-' + id); v.style.display = ''; v.style.width = '640px'; v.style.height = '360px'; }, camId);
  await waitFor(bob, (e) => e.name === 'subscription' && e.track === camId && e.paused === false && e.layer === 'h', 'shown again at 640x360 -> layer h');

  // Data both ways on the server-opened channel.
  await bob.evaluate(() => window.rooms.bob.sendData('hello from bob'));
  await alice.evaluate(() => window.rooms.alice.sendData('hello from alice'));
  await waitFor(alice, (e) => e.name === 'data' && e.from === 'bob' && e.payload === 'hello from bob', 'alice got bob data');
  await waitFor(bob, (e) => e.name === 'data' && e.from === 'alice' && e.payload === 'hello from alice', 'bob got alice data');

  // Stats.
  await new Promise((r) => setTimeout(r, 1000));
  await bob.evaluate(() => window.rooms.bob.getStats());
  await new Promise((r) => setTimeout(r, 1500));
  const stats = await bob.evaluate(() => window.rooms.bob.getStats());
  const inVideo = stats.find((s) => s.direction === 'inbound' && s.kind === 'video');
  check(inVideo && inVideo.bitrate > 0 && inVideo.trackId === camId, `bob inbound video stats: ${JSON.stringify(inVideo)}`);
  const aStats = await alice.evaluate(async () => { await window.rooms.alice.getStats(); await new Promise((r) => setTimeout(r, 1500)); return window.rooms.alice.getStats(); });
  const outVideo = aStats.find((s) => s.direction === 'outbound' && s.kind === 'video');
  check(outVideo && outVideo.layers?.length === 3 && outVideo.trackId === aTracks.cam, `alice outbound video layers: ${JSON.stringify(outVideo?.layers?.map((l) => [l.rid, l.width, l.bitrate]))}`);

  // Mute.
  await alice.evaluate(() => window.rooms.alice.mute(window.rooms.alice.localParticipant.tracks.find((t) => t.kind === 'video')));
  await waitFor(bob, (e) => e.name === 'trackMuted' && e.track === camId && e.muted === true, 'bob saw alice mute');
  await alice.evaluate(() => window.rooms.alice.unmute(window.rooms.alice.localParticipant.tracks.find((t) => t.kind === 'video')));
  await waitFor(bob, (e) => e.name === 'trackMuted' && e.track === camId && e.muted === false, 'bob saw alice unmute');

  // ICE restart on the same session.
  const restarted = await bob.evaluate(async () => {
    const room = window.rooms.bob;
    const before = room.peerConnection.localDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1];
    await room.restartIce();
    for (let i = 0; i < 50 && room.peerConnection.signalingState !== 'stable'; i++) await new Promise((r) => setTimeout(r, 100));
    const after = room.peerConnection.localDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1];
    for (let i = 0; i < 50 && !['connected', 'completed'].includes(room.peerConnection.iceConnectionState); i++) await new Promise((r) => setTimeout(r, 100));
    return { before, after, ice: room.peerConnection.iceConnectionState, state: room.state };
  });
  check(restarted.before !== restarted.after && ['connected', 'completed'].includes(restarted.ice), `ICE restart: ${JSON.stringify(restarted)}`);

  // Unpublish: bob sees the camera go.
  await alice.evaluate(() => window.rooms.alice.unpublish(window.rooms.alice.localParticipant.tracks.find((t) => t.kind === 'video')));
  await waitFor(bob, (e) => e.name === 'trackUnsubscribed' && e.track === camId, 'bob: alice camera unsubscribed');
  await waitFor(bob, (e) => e.name === 'trackUnpublished' && e.track === camId, 'bob: alice camera unpublished');
  // And publishes it again (new track id).
  const cam2 = await alice.evaluate(async () => (await window.rooms.alice.publishCamera({ simulcast: true })).sid);
  await waitFor(bob, (e) => e.name === 'trackSubscribed' && e.track === cam2, `bob subscribed to the new camera ${cam2}`);

  // A dropped WebSocket: bob rejoins (new participant id) and republishes his mic.
  const mark = (await events(bob)).length;
  const aliceMark = (await events(alice)).length;
  const before = await bob.evaluate(() => window.rooms.bob.localParticipant.id);
  await bob.evaluate(() => window.sockets.bob.close());
  await waitFor(bob, (e) => e.name === 'state' && e.state === 'reconnecting', 'bob reconnecting', 15000, mark);
  const rec = await waitFor(bob, (e) => e.name === 'reconnected', 'bob reconnected', 15000, mark);
  check(rec[0] && rec[0].id !== before, `bob rejoined as ${rec[0]?.id} (was ${before})`);
  await waitFor(alice, (e) => e.name === 'participantLeft' && e.id === before, 'alice saw the old bob leave', 15000, aliceMark);
  await waitFor(alice, (e) => e.name === 'participantJoined' && e.id === rec[0]?.id, 'alice saw the new bob join', 15000, aliceMark);
  await waitFor(alice, (e) => e.name === 'trackSubscribed' && e.from === 'bob', 'alice receives bob mic again', 15000, aliceMark);
  const resub = await waitFor(bob, (e) => e.name === 'trackSubscribed' && e.track === cam2, 'bob receives alice camera after the rejoin', 15000, mark);
  check(resub.length >= 1, `bob re-subscribed to ${cam2} after the rejoin`);
  await bob.evaluate(() => window.rooms.bob.sendData('back'));
  await waitFor(alice, (e) => e.name === 'data' && e.payload === 'back', 'data after the rejoin');

  // Leave.
  await alice.evaluate(() => window.rooms.alice.disconnect());
  await waitFor(alice, (e) => e.name === 'disconnected' && e.reason === 'client_leave', 'alice disconnected');
  await waitFor(bob, (e) => e.name === 'participantLeft' && e.id === a.id, 'bob saw alice leave');

  const all = [...(await events(alice)), ...(await events(bob))];
  const errors = all.filter((e) => e.name === 'signalError' || e.name === 'error');
  check(errors.length === 0, `no signalling or SDK errors (${JSON.stringify(errors)})`);
  // Not a failure of the SDK (it rejoins), but worth seeing: the server ended a session.
  const kicks = all.filter((e) => e.name === 'wire' && e.dir === 'in' && e.type === 'leave');
  if (kicks.length > 0) console.log(`WARN the server sent leave ${kicks.length} time(s): ${kicks.map((k) => `${k.who} ${k.body}`).join('; ')}`);
});
