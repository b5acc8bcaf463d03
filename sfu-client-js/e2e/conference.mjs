// Three people in one room through the demo page, in headless Chromium against the real server.
//
// Checks: each page shows two remote videos that play (non-zero size, frames increasing) and
// receives the two others' audio; a simulcast publisher sends q/h/f (outbound-rtp per rid,
// bytes growing); tile overlays and the active-speaker highlight; chat reaches the others; a
// screenshot with three participants is not blank; a reloaded page rejoins; a participant who
// leaves disappears from the others' grids.
//
// Usage (as root; see harness.mjs):
//   unshare --net sh -c 'ip link set lo up && exec "$@"' sh node e2e/conference.mjs
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { Checks, launchBrowser, newPage, outDir, runScript, sleep, startServer, writeSpeechLikeWav } from './harness.mjs';
import { chatLog, imageVariety, outboundVideo, remoteAudio, remoteVideos, tiles, twoSamples } from './probes.mjs';

const checks = new Checks();
const server = await startServer('conference');
// The microphone "speaks" (see writeSpeechLikeWav) so that active speakers have something to find.
const speech = writeSpeechLikeWav(join(outDir, 'conference-speech.wav'));
const browser = await launchBrowser([`--use-file-for-fake-audio-capture=${speech}`]);
const room = 'conference';
const names = ['alice', 'bob', 'carol'];
const pages = {};

/** Waits until `page` is connected and shows itself plus `others` camera tiles. */
async function joined(name, others) {
  const page = pages[name];
  return checks.waitFor(`${name}: connected, tiles for ${name} + ${others.join(', ')}`, async () => {
    const state = await page.locator('#status').textContent();
    const t = (await tiles(page)).filter((x) => x.source === 'camera');
    const ids = t.map((x) => x.identity).sort();
    return state === 'connected' && JSON.stringify(ids) === JSON.stringify([name, ...others].sort()) && t.find((x) => x.local)?.identity === name;
  }, 30000);
}

/** Waits until every remote video of `page` plays: the expected identities, frames increasing. */
async function videosPlay(name, from) {
  const page = pages[name];
  return checks.waitFor(`${name}: remote videos of ${from.join(', ')} playing`, async () => {
    const [a, b] = await twoSamples(() => remoteVideos(page), 1000);
    const ok = from.every((who) => {
      const before = a.find((v) => v.identity === who);
      const after = b.find((v) => v.identity === who && v.trackId === before?.trackId);
      return before && after && after.width > 0 && after.height > 0 && after.frames > before.frames && after.framesDecoded > before.framesDecoded;
    });
    return ok && b.length === from.length ? b.map((v) => `${v.identity} ${v.width}x${v.height} frames ${v.frames}`) : null;
  }, 40000);
}

/**
 * Runs in each page before the demo's scripts: microphones open without echo cancellation, noise
 * suppression or gain control. All three tabs play the same file as their microphone; once a
 * page plays the others' audio, its echo canceller would take its own microphone for their echo
 * and cut it down, which people in separate rooms, with different voices, never see.
 */
function withoutVoiceProcessing() {
  const devices = navigator.mediaDevices;
  const getUserMedia = devices.getUserMedia.bind(devices);
  devices.getUserMedia = (constraints) => {
    if (constraints?.audio) {
      const audio = typeof constraints.audio === 'object' ? constraints.audio : {};
      constraints = { ...constraints, audio: { ...audio, echoCancellation: false, noiseSuppression: false, autoGainControl: false } };
    }
    return getUserMedia(constraints);
  };
}

await runScript(checks, { browser, server }, async () => {
  for (const name of names) {
    pages[name] = await newPage(browser.context, name);
    await pages[name].addInitScript(withoutVoiceProcessing);
    await pages[name].goto(`${server.base}/?room=${room}&identity=${name}`);
    // Staggered, as people join: each join is one more offer/answer for the others.
    await sleep(1500);
  }
  for (const name of names) await joined(name, names.filter((n) => n !== name));
  for (const name of names) await videosPlay(name, names.filter((n) => n !== name));

  for (const name of names) {
    await checks.waitFor(`${name}: receives the others' audio (bytes growing)`, async () => {
      const [a, b] = await twoSamples(() => remoteAudio(pages[name]), 1000);
      const growing = b.filter((x) => x.live && x.bytes > (a.find((y) => y.trackId === x.trackId)?.bytes ?? Infinity));
      const from = new Set(growing.map((x) => x.identity));
      return from.size === 2 && !from.has(name) ? growing.map((x) => `${x.identity} ${x.bytes} B`) : null;
    });
  }

  // Chrome sends all three simulcast encodings once someone needs the top one (the server
  // pauses encodings no one needs: dynacast): bob looks at alice's video in 1280x720.
  await pages.bob.evaluate(() => {
    const v = document.querySelector('#grid .tile[data-identity="alice"] video[data-track-id]');
    Object.assign(v.style, { position: 'fixed', left: '0', top: '0', zIndex: '1000', width: '1280px', height: '720px', maxWidth: 'none', maxHeight: 'none' });
  });
  await checks.waitFor('alice sends three simulcast layers (q, h, f; bytes growing)', async () => {
    const [a, b] = await twoSamples(() => outboundVideo(pages.alice), 1000);
    const rids = b.map((e) => e.rid).join(',');
    const grown = b.every((e) => e.bytes > (a.find((x) => x.rid === e.rid)?.bytes ?? Infinity));
    const seen = b.map((e) => `${e.rid} ${e.width}px ${e.bytes} B`);
    return rids === 'f,h,q' && grown ? seen : { pending: seen };
  }, 30000);
  // Back into the grid, so it covers none of bob's buttons.
  await pages.bob.evaluate(() => {
    document.querySelector('#grid .tile[data-identity="alice"] video[data-track-id]').removeAttribute('style');
  });

  // Each remote tile shows layer, resolution, bitrate and loss.
  await checks.waitFor('alice: remote tile overlays show layer, resolution, bitrate, loss', async () => {
    const texts = await pages.alice.evaluate(() => [...document.querySelectorAll('#grid .tile[data-local="false"] .overlay')].map((o) => o.textContent));
    return texts.length === 2 && texts.every((t) => /^[qhf] \d+x\d+ .*bit\/s loss \d/.test(t)) ? texts : null;
  });

  // The fake microphones speak: the server names active speakers, and the page highlights
  // their tiles. Highlights come and go with the beeps, so count them as they happen.
  await pages.alice.evaluate(() => {
    const highlighted = () => document.querySelector('#grid .tile.speaking') !== null;
    // A steady speaker list is reported once: what is shown now counts too.
    window.e2eSpeaking = { events: 0, highlights: highlighted() ? 1 : 0 };
    window.demo.room.on('activeSpeakers', () => { window.e2eSpeaking.events++; });
    new MutationObserver(() => {
      if (highlighted()) window.e2eSpeaking.highlights++;
    }).observe(document.getElementById('grid'), { attributes: true, attributeFilter: ['class'], subtree: true });
  });
  await checks.waitFor('alice: active speakers reported and their tiles highlighted', async () => {
    const seen = await pages.alice.evaluate(() => ({ ...window.e2eSpeaking, current: window.demo.room.activeSpeakers.length }));
    return (seen.events > 0 || seen.current > 0) && seen.highlights > 0 ? seen : { pending: seen };
  }, 30000);

  // Chat over the data channel.
  await pages.alice.fill('#chat-input', 'hello from alice');
  await pages.alice.click('#chat-send');
  for (const name of ['bob', 'carol']) {
    await checks.waitFor(`${name} sees alice's chat message`, async () => (await chatLog(pages[name])).some((m) => m.includes('alice: hello from alice')));
  }
  await pages.carol.fill('#chat-input', 'hi all');
  await pages.carol.press('#chat-input', 'Enter');
  await checks.waitFor("alice sees carol's chat message (sent with Enter)", async () => (await chatLog(pages.alice)).some((m) => m.includes('carol: hi all')));

  // A screenshot of the page with three participants shows pictures, not a blank page.
  const png = await pages.alice.screenshot();
  const shot = join(outDir, 'conference-alice.png');
  writeFileSync(shot, png);
  const variety = await imageVariety(pages.alice, png);
  checks.check(variety.distinctColours > 200 && variety.stddev > 10, `screenshot ${shot} is not blank: ${JSON.stringify(variety)}`);

  // A reload rejoins: carol comes back with a new participant id, and everyone sees her again.
  const oldCarol = (await tiles(pages.alice)).find((t) => t.identity === 'carol')?.participantId;
  await pages.carol.reload();
  await joined('carol', ['alice', 'bob']);
  await videosPlay('carol', ['alice', 'bob']);
  for (const name of ['alice', 'bob']) {
    await checks.waitFor(`${name}: carol's tile is back after her reload, with a new id`, async () => {
      const c = (await tiles(pages[name])).filter((t) => t.identity === 'carol');
      return c.length === 1 && c[0].participantId !== oldCarol ? c[0].participantId : null;
    });
    await videosPlay(name, names.filter((n) => n !== name));
  }

  // Bob leaves: his tiles disappear from the others' grids.
  await pages.bob.click('#leave');
  for (const name of ['alice', 'carol']) {
    await checks.waitFor(`${name}: bob's tiles are gone after he left`, async () => {
      const t = await tiles(pages[name]);
      return !t.some((x) => x.identity === 'bob') && t.length === 2;
    });
  }

  for (const name of ['alice', 'carol']) {
    const error = await pages[name].locator('#error').textContent();
    checks.check(!error?.trim(), `${name}: no error shown (${JSON.stringify(error)})`);
  }
});
