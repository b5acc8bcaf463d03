//! Headless Chromium against the real server: the SDK on a bare page and the demo page that
//! `sfu-server` serves at `/`. Each test runs one script of `sfu-client-js/e2e/` (which starts
//! its own server) in a loopback-only network namespace; the script prints one `ok`/`FAIL` line
//! per check, and its output is shown when the test fails (or with `--no-capture`).
//!
//! Needs Node.js, Debian's `chromium`, `ffmpeg` (the recording test) and `unshare`/`ip`
//! (util-linux, iproute2); the SDK's npm dependencies (playwright-core) are installed on first
//! use. Logs, screenshots and recordings go to `target/tmp/sfu-tests/browser-e2e/`.

use anyhow::Result;
use sfu_tests::js::run_browser_script;
use std::time::Duration;

/// Bound on one script; each check inside has its own shorter bound.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(280);

fn run(script: &str) -> Result<()> {
    let out = run_browser_script(script, SCRIPT_TIMEOUT)?;
    println!("{out}");
    Ok(())
}

/// The SDK alone: join, simulcast publish, crossing offers, adaptive caps, data, mute, ICE
/// restart, unpublish and republish, a dropped socket and the rejoin, leave.
#[test]
fn sdk_smoke_in_chromium() -> Result<()> {
    run("smoke.mjs")
}

/// Three participants on the demo page: videos and audio flow, three simulcast layers, chat,
/// active speaker, overlays, a non-blank screenshot, reload rejoins, leave removes tiles.
#[test]
fn demo_page_three_participants() -> Result<()> {
    run("conference.mjs")
}

/// The demo page's video sizes choose the layer: 160x90 gets q, 1280x720 gets f, hidden pauses.
#[test]
fn demo_page_adaptive_layers() -> Result<()> {
    run("adaptive.mjs")
}

/// Chromium connects and sends q/h/f with an ECDSA certificate, an RSA one, and an RSA one
/// with the server as DTLS client (the server's DTLS stack is patched for RSA: vendor/dimpl).
#[test]
fn chromium_dtls_with_ecdsa_and_rsa_certificates() -> Result<()> {
    run("dtls_certificates.mjs")
}

/// Recording through forwards: ffmpeg records Chromium's Opus + VP8 simulcast from the SDP files
/// the REST API returns (audio and video merged into one file; a second video forward switched
/// from h to q midway); ffprobe finds the codecs, sizes and duration, and both files decode.
#[test]
fn ffmpeg_records_forwards_of_a_chromium_publisher() -> Result<()> {
    run("recording.mjs")
}
