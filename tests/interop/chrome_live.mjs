// Live check: headless Chromium publishes (audio + q/h/f simulcast video) to the real
// sfu-server, with the default ECDSA certificate and with an RSA one, and reports whether ICE
// and DTLS came up and what the browser sent. Not part of CI.
//
// Runs: `ecdsa` and `rsa` (the browser offers actpass, the server answers passive: the server
// is the DTLS server), and `rsa-passive` (the offer sent to the server says `a=setup:passive`,
// so the server answers active and is the DTLS client, facing Chrome's RSA certificate).
//
// Usage (as root, so that browser and server only see loopback):
//   cargo build -p sfu-server
//   unshare --net sh -c 'ip link set lo up && exec "$@"' sh \
//     env NODE_PATH=/path/to/node_modules node tests/interop/chrome_live.mjs [target/debug/sfu-server]
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, openSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const bin = process.argv[2] ?? 'target/debug/sfu-server';

const freeTcp = () => new Promise((r) => { const s = netServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
const freeUdp = () => new Promise((r) => { const s = createSocket('udp4'); s.bind(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });

const httpPort = await freeTcp();
const udpPort = await freeUdp();
const logPath = join(tmpdir(), `sfu-chrome-live-${httpPort}.log`);
const log = openSync(logPath, 'w');
const server = spawn(bin, [], {
  env: { ...process.env, SFU_SERVER__HTTP_ADDR: `127.0.0.1:${httpPort}`, SFU_MEDIA__UDP_ADDR: `127.0.0.1:${udpPort}`, RUST_LOG: process.env.RUST_LOG ?? 'info,dimpl=debug' },
  stdio: ['ignore', log, log],
});
console.log(`server pid ${server.pid}, http ${httpPort}, udp ${udpPort}, log ${logPath}`);
const base = `http://127.0.0.1:${httpPort}`;
for (let i = 0; ; i++) {
  try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not yet */ }
  if (i > 100) throw new Error('server did not start');
  await new Promise((r) => setTimeout(r, 100));
}

const page_server = createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><title>live</title>'); });
await new Promise((r) => page_server.listen(0, '127.0.0.1', r));
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'chr-')), {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  ignoreDefaultArgs: ['--mute-audio'],
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection'],
});
const page = context.pages()[0] ?? (await context.newPage());
await page.goto(`http://127.0.0.1:${page_server.address().port}/`);

async function publish(identity, rsa, passive) {
  const res = await fetch(`${base}/v1/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ room: 'chrome-live', identity }) });
  const { token } = await res.json();
  const wsUrl = `ws://127.0.0.1:${httpPort}/v1/rtc?access_token=${token}`;
  return page.evaluate(async ({ wsUrl, rsa, passive }) => {
    const config = {};
    if (rsa) {
      config.certificates = [await RTCPeerConnection.generateCertificate({
        name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256',
      })];
    }
    const pc = new RTCPeerConnection(config);
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    pc.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendonly', streams: [stream] });
    pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly', streams: [stream], sendEncodings: [
      { rid: 'q', scaleResolutionDownBy: 4 }, { rid: 'h', scaleResolutionDownBy: 2 }, { rid: 'f' }] });
    const ws = new WebSocket(wsUrl);
    const log = [];
    let joined;
    const joinedP = new Promise((r) => { joined = r; });
    ws.onmessage = async (e) => {
      const m = JSON.parse(e.data);
      log.push(m.type);
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
    let sdp = pc.localDescription.sdp;
    // Only the copy sent to the server says passive; Chrome's own offer stays actpass.
    if (passive) sdp = sdp.replaceAll('a=setup:actpass', 'a=setup:passive');
    ws.send(JSON.stringify({ type: 'offer', sdp }));
    const deadline = Date.now() + 12000;
    while (Date.now() < deadline && !['connected', 'failed'].includes(pc.connectionState)) {
      await new Promise((r) => setTimeout(r, 200));
    }
    if (pc.connectionState === 'connected') await new Promise((r) => setTimeout(r, 4000));
    const stats = await pc.getStats();
    const out = [];
    let transport = {};
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp') out.push({ kind: s.kind, rid: s.rid, packets: s.packetsSent, frameHeight: s.frameHeight });
      if (s.type === 'transport') transport = { dtlsState: s.dtlsState, dtlsRole: s.dtlsRole, tlsVersion: s.tlsVersion, dtlsCipher: s.dtlsCipher };
    });
    const result = { connectionState: pc.connectionState, transport, outbound: out, signalling: log };
    pc.close();
    ws.close();
    stream.getTracks().forEach((t) => t.stop());
    return result;
  }, { wsUrl, rsa, passive });
}

let failed = false;
for (const [name, rsa, passive] of [['ecdsa', false, false], ['rsa', true, false], ['rsa-passive', true, true]]) {
  const r = await publish(`chrome-${name}`, rsa, passive);
  console.log(`${name}: ${JSON.stringify(r)}`);
  if (r.connectionState !== 'connected') failed = true;
}
console.log(`chromium ${context.browser()?.version() ?? ''}`);
await context.close();
page_server.close();
server.kill('SIGTERM');
console.log(failed ? 'RESULT: FAILED (see above)' : 'RESULT: ok');
process.exit(failed ? 1 : 0);
