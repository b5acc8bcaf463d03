// Headless Chromium publishes (audio + q/h/f simulcast video) to the real sfu-server with its
// default ECDSA certificate and with an RSA one, and reports whether ICE and DTLS came up and
// what the browser sent (the server's DTLS stack needed patches for RSA: vendor/dimpl).
//
// Runs: `ecdsa` and `rsa` (the browser offers actpass, the server answers passive: the server
// is the DTLS server), and `rsa-passive` (the offer sent to the server says `a=setup:passive`,
// so the server answers active and is the DTLS client, facing Chrome's RSA certificate).
//
// Usage (as root; see harness.mjs):
//   unshare --net sh -c 'ip link set lo up && exec "$@"' sh node e2e/dtls_certificates.mjs
import { Checks, devToken, launchBrowser, newPage, runScript, startServer } from './harness.mjs';

const server = await startServer('dtls-certificates', { env: { RUST_LOG: process.env.RUST_LOG ?? 'info,dimpl=debug' } });
const browser = await launchBrowser();
const page = await newPage(browser.context, 'chrome');
// Any page of the server's origin: a secure context (loopback) for getUserMedia.
await page.goto(`${server.base}/healthz`);

async function publish(identity, rsa, passive) {
  const token = await devToken(server.base, 'dtls-certificates', identity);
  const wsUrl = `${server.base.replace('http', 'ws')}/v1/rtc?access_token=${token}`;
  return page.evaluate(async ({ wsUrl, rsa, passive }) => {
    const config = {};
    if (rsa) {
      config.certificates = [await RTCPeerConnection.generateCertificate({
        name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256',
      })];
    }
    const pc = new RTCPeerConnection(config);
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
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

const checks = new Checks();
await runScript(checks, { browser, server }, async () => {
  for (const [name, rsa, passive] of [['ecdsa', false, false], ['rsa', true, false], ['rsa-passive', true, true]]) {
    const r = await publish(`chrome-${name}`, rsa, passive);
    const layers = r.outbound.filter((o) => o.kind === 'video' && o.packets > 0).map((o) => o.rid).sort().join(',');
    checks.check(r.connectionState === 'connected' && r.transport.dtlsState === 'connected' && layers === 'f,h,q',
      `${name}: connected, sends q/h/f: ${JSON.stringify(r)}`);
  }
});
