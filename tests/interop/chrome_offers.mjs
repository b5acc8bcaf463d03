// Generates real Chromium offers for the interop fixture corpus.
//
// Usage (as root, so the browser only sees loopback):
//   unshare --net sh -c 'ip link set lo up && exec "$@"' sh \
//     node tests/interop/chrome_offers.mjs sfu-server/tests/fixtures/offers
//
// Needs Debian `chromium` (/usr/bin/chromium) and `playwright-core` resolvable from this
// script (NODE_PATH=/path/to/node_modules, or `npm install playwright-core` somewhere above).
// Writes chrome_*.sdp into the output directory and prints the browser version.
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const outDir = process.argv[2] ?? '.';
mkdirSync(outDir, { recursive: true });

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!doctype html><title>offers</title>');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/`;

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'chr-')), {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  ignoreDefaultArgs: ['--mute-audio'],
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection',
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
await page.goto(url);
const version = context.browser()?.version() ?? (await page.evaluate(() => navigator.userAgent));

// One offer, made in the page. opts: { simulcast, h264, rsa, gather }
async function offer(opts) {
  return page.evaluate(async (opts) => {
    const config = {};
    if (opts.rsa) {
      config.certificates = [await RTCPeerConnection.generateCertificate({
        name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256',
      })];
    }
    const pc = new RTCPeerConnection(config);
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    pc.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendonly', streams: [stream] });
    const sendEncodings = opts.simulcast
      ? [
          { rid: 'q', scaleResolutionDownBy: 4 },
          { rid: 'h', scaleResolutionDownBy: 2 },
          { rid: 'f' },
        ]
      : undefined;
    const video = pc.addTransceiver(stream.getVideoTracks()[0], {
      direction: 'sendonly', streams: [stream], sendEncodings,
    });
    if (opts.h264) {
      const caps = RTCRtpSender.getCapabilities('video').codecs;
      const h264 = caps.filter((c) => c.mimeType.toLowerCase() === 'video/h264');
      if (h264.length === 0) throw new Error('this Chromium has no H.264 encoder');
      video.setCodecPreferences(h264);
    }
    pc.createDataChannel('data');
    const o = await pc.createOffer();
    let sdp = o.sdp;
    if (opts.gather) {
      await pc.setLocalDescription(o);
      await new Promise((resolve) => {
        if (pc.iceGatheringState === 'complete') return resolve();
        pc.addEventListener('icegatheringstatechange', () => {
          if (pc.iceGatheringState === 'complete') resolve();
        });
        setTimeout(resolve, 5000);
      });
      sdp = pc.localDescription.sdp;
    }
    pc.close();
    stream.getTracks().forEach((t) => t.stop());
    return sdp;
  }, opts);
}

const variants = {
  chrome_simulcast: { simulcast: true },
  chrome_single: {},
  chrome_h264: { h264: true },
  chrome_h264_simulcast: { h264: true, simulcast: true },
  chrome_rsa: { simulcast: true, rsa: true },
  chrome_gathered: { simulcast: true, gather: true },
};
for (const [name, opts] of Object.entries(variants)) {
  try {
    const sdp = await offer(opts);
    writeFileSync(join(outDir, `${name}.sdp`), sdp);
    console.log(`wrote ${name}.sdp`);
  } catch (e) {
    console.error(`${name}: ${e}`);
  }
}
console.log(`chromium ${version}`);
await context.close();
server.close();
