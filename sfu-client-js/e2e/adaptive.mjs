// Adaptive stream through the demo page: the size and visibility of a remote video element
// choose the simulcast layer the server sends (the SDK's attach() -> set_subscription).
//
// Checks: shrunk to 160x90, the subscriber receives the low layer (frame width at most 320);
// enlarged to 1280x720, the top layer (wider than the middle layer's 640); hidden, the server
// pauses it (no more video bytes); shown again, it resumes.
//
// Usage (as root; see harness.mjs):
//   unshare --net sh -c 'ip link set lo up && exec "$@"' sh node e2e/adaptive.mjs
import { Checks, launchBrowser, newPage, runScript, sleep, startServer } from './harness.mjs';
import { remoteVideos, subscriptionOf, twoSamples } from './probes.mjs';

const checks = new Checks();
// The element's size alone chooses the layer here: bandwidth estimation (on by default, and
// tested in tests/tests/bandwidth.rs) could hold a loaded CI machine's loopback below f.
const server = await startServer('adaptive', { env: { SFU_MEDIA__BANDWIDTH_ESTIMATION: 'false' } });
const browser = await launchBrowser();
const room = 'adaptive';

/** Pins bob's video of alice on top of the page at `width`x`height` CSS pixels, or hides it. */
function placeVideo(page, size) {
  return page.evaluate((s) => {
    const v = document.querySelector('#grid .tile[data-identity="alice"] video[data-track-id]');
    if (s === 'hidden') {
      v.style.display = 'none';
      return;
    }
    Object.assign(v.style, { display: '', position: 'fixed', left: '0', top: '0', zIndex: '1000', width: `${s[0]}px`, height: `${s[1]}px`, maxWidth: 'none', maxHeight: 'none' });
  }, size);
}

/** Alice's video on bob's page, sampled twice: frames and bytes before and after. */
async function aliceVideo(page) {
  const [a, b] = await twoSamples(async () => (await remoteVideos(page)).find((v) => v.identity === 'alice'), 1500);
  return a && b && a.trackId === b.trackId ? { ...b, newFrames: b.framesDecoded - a.framesDecoded, newBytes: b.bytes - a.bytes } : null;
}

await runScript(checks, { browser, server }, async () => {
  const alice = await newPage(browser.context, 'alice');
  await alice.goto(`${server.base}/?room=${room}&identity=alice`);
  await sleep(1000);
  const bob = await newPage(browser.context, 'bob');
  await bob.goto(`${server.base}/?room=${room}&identity=bob`);

  const first = await checks.waitFor("bob plays alice's video", async () => {
    const v = await aliceVideo(bob);
    return v && v.width > 0 && v.newFrames > 0 ? v : null;
  }, 40000);
  const trackId = first?.trackId;

  await placeVideo(bob, [160, 90]);
  await checks.waitFor('160x90 element: the server sends layer q', async () => {
    const s = await subscriptionOf(bob, trackId);
    return s && s.layer === 'q' && !s.paused ? s : null;
  });
  await checks.waitFor('160x90 element: frames at most 320 wide, still playing', async () => {
    const v = await aliceVideo(bob);
    return v && v.frameWidth > 0 && v.frameWidth <= 320 && v.newFrames > 0 ? `${v.frameWidth}x? ${v.newFrames} new frames` : null;
  });

  await placeVideo(bob, [1280, 720]);
  await checks.waitFor('1280x720 element: the server sends layer f', async () => {
    const s = await subscriptionOf(bob, trackId);
    return s && s.layer === 'f' && !s.paused ? s : null;
  });
  await checks.waitFor('1280x720 element: frames wider than the middle layer (640)', async () => {
    const v = await aliceVideo(bob);
    return v && v.frameWidth > 640 && v.newFrames > 0 ? `${v.frameWidth} wide, ${v.newFrames} new frames` : null;
  }, 30000);

  await placeVideo(bob, 'hidden');
  await checks.waitFor('hidden element: the server reports the video paused', async () => {
    const s = await subscriptionOf(bob, trackId);
    return s && s.paused ? s : null;
  });
  // Paused at the server, not just in the page: the video's RTP stops arriving.
  await checks.waitFor('hidden element: no video bytes arrive', async () => {
    const v = await aliceVideo(bob);
    return v && v.newBytes === 0 && v.newFrames === 0 ? v : null;
  });

  await placeVideo(bob, [640, 360]);
  await checks.waitFor('shown again at 640x360: layer h, playing', async () => {
    const s = await subscriptionOf(bob, trackId);
    const v = await aliceVideo(bob);
    return s && s.layer === 'h' && !s.paused && v && v.newFrames > 0 ? { ...s, frameWidth: v.frameWidth } : null;
  });
});
