// Shared plumbing of the browser end-to-end scripts: start the real sfu-server, launch headless
// Chromium (playwright-core), get dev tokens, bounded waits and a pass/fail tally.
//
// The scripts run inside a network namespace whose only interface is `lo` (the Rust wrappers in
// tests/tests/browser_e2e.rs do that), so the browser and the server only ever see 127.0.0.1.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

/** The repository root (sfu-client-js/e2e/../..). */
export const repoRoot = join(here, '..', '..');

/** Where logs and screenshots go: `E2E_OUT`, else `<repo>/target/tmp/browser-e2e`. */
export const outDir = process.env.E2E_OUT ?? join(repoRoot, 'target', 'tmp', 'browser-e2e');

/** Chromium flags for fake devices on loopback (see ../shared/BROWSER_TESTING.md). */
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
  // Background tabs must keep rendering and decoding: every page of a test is "visible".
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
];

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const freeTcp = () => new Promise((r) => { const s = netServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
const freeUdp = () => new Promise((r) => { const s = createSocket('udp4'); s.bind(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });

/**
 * Starts `bin` (default target/debug/sfu-server) on free loopback ports in dev mode and waits,
 * bounded, for /healthz. Returns { base, pid, logPath, stop() }.
 */
export async function startServer(name, { bin, env = {} } = {}) {
  const binary = bin ?? process.env.E2E_SERVER_BIN ?? join(repoRoot, 'target', 'debug', 'sfu-server');
  mkdirSync(outDir, { recursive: true });
  const httpPort = await freeTcp();
  const udpPort = await freeUdp();
  const logPath = join(outDir, `${name}-server.log`);
  const log = openSync(logPath, 'w');
  const child = spawn(binary, [], {
    env: {
      ...process.env,
      SFU_SERVER__HTTP_ADDR: `127.0.0.1:${httpPort}`,
      SFU_MEDIA__UDP_ADDR: `127.0.0.1:${udpPort}`,
      RUST_LOG: process.env.RUST_LOG ?? 'info',
      ...env,
    },
    stdio: ['ignore', log, log],
  });
  const base = `http://127.0.0.1:${httpPort}`;
  console.log(`server pid ${child.pid}, ${base}, udp ${udpPort}, log ${logPath}`);
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`server exited during start-up (${JSON.stringify(exited)}); see ${logPath}`);
    try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not listening yet */ }
    if (i > 200) throw new Error(`server did not answer /healthz within 20 s; see ${logPath}`);
    await sleep(100);
  }
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    for (let i = 0; i < 50 && !exited; i++) await sleep(100);
    if (!exited) child.kill('SIGKILL');
  };
  return { base, pid: child.pid, logPath, stop };
}

/** A dev-mode token for `identity` in `room` (POST /v1/dev/token). */
export async function devToken(base, room, identity) {
  const res = await fetch(`${base}/v1/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room, identity }),
  });
  if (!res.ok) throw new Error(`dev token: HTTP ${res.status}`);
  return (await res.json()).token;
}

/**
 * Launches Debian's Chromium (`CHROMIUM` overrides the path) with a fresh profile. Returns the
 * persistent context and a `close()` that also removes the profile.
 */
export async function launchBrowser(extraArgs = []) {
  const { chromium } = require('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'sfu-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    ignoreDefaultArgs: ['--mute-audio'],
    args: [...CHROMIUM_ARGS, ...extraArgs],
    viewport: { width: 1280, height: 800 },
  });
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, version: context.browser()?.version() ?? '', close };
}

/**
 * Writes a mono 48 kHz WAV for `--use-file-for-fake-audio-capture` that a voice-activity detector
 * takes for speech: 1.2 s of a 220 Hz tone in four-per-second "syllables", then 0.8 s of silence,
 * five times. Chromium's own fake microphone only beeps for 20 ms every 500 ms (one or two loud
 * packets), which no speaker detector should call speaking. Returns `path`.
 */
export function writeSpeechLikeWav(path) {
  const rate = 48000;
  const samples = rate * 10;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    const t = i / rate;
    const inTalk = t % 2 < 1.2;
    const envelope = inTalk ? 0.25 + 0.75 * Math.abs(Math.sin(Math.PI * 4 * t)) : 0;
    data.writeInt16LE(Math.round(12000 * envelope * Math.sin(2 * Math.PI * 220 * t)), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, Buffer.concat([header, data]));
  return path;
}

/** Opens a new page of `context` that echoes its console errors and page errors as `[label]`. */
export async function newPage(context, label) {
  const page = context.pages().find((p) => p.url() === 'about:blank' && !p.__taken) ?? (await context.newPage());
  page.__taken = true;
  page.on('console', (m) => { if (m.type() === 'error' || process.env.VERBOSE) console.log(`[${label} console] ${m.text()}`); });
  page.on('pageerror', (e) => console.log(`[${label} pageerror] ${e}`));
  return page;
}

/**
 * Runs a script's `body`, an exception counting as a failed check; then `cleanup()` (optional),
 * closes the browser, stops the server, prints the result and exits.
 */
export async function runScript(checks, { browser, server, cleanup }, body) {
  try {
    await body();
  } catch (e) {
    checks.check(false, `exception: ${e?.stack ?? e}`);
  } finally {
    await cleanup?.();
    console.log(`chromium ${browser.version}`);
    await browser.close();
    await server.stop();
  }
  checks.done();
}

/** Counts checks; `done()` prints the result line and exits 0 only if none failed. */
export class Checks {
  failures = 0;

  /** Records one check: prints `ok` or `FAIL` with the description. */
  check(ok, what) {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) this.failures++;
    return ok;
  }

  /**
   * Polls `probe()` every 200 ms until it returns a truthy value (returned) or `timeoutMs`
   * passes; then records a failure with the last value seen and returns null. A probe may
   * return `{ pending: detail }` to say "not yet" and have `detail` shown on failure.
   */
  async waitFor(what, probe, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
      try {
        last = await probe();
      } catch (e) {
        last = `error: ${e?.message ?? e}`;
      }
      const pending = last && typeof last === 'object' && 'pending' in last;
      if (last && !pending && !(typeof last === 'string' && last.startsWith('error: '))) {
        this.check(true, `${what}${typeof last === 'object' ? ` ${JSON.stringify(last)}` : ''}`);
        return last;
      }
      if (Date.now() > deadline) {
        this.check(false, `${what} (timed out after ${timeoutMs} ms; last: ${JSON.stringify(last)})`);
        return null;
      }
      await sleep(200);
    }
  }

  /** Prints the result and exits the process with 0 (all passed) or 1. */
  done() {
    console.log(this.failures === 0 ? 'RESULT: ok' : `RESULT: FAILED (${this.failures})`);
    process.exit(this.failures === 0 ? 0 : 1);
  }
}
