//! The JavaScript SDK's own checks, run from the workspace test command: strict type checking,
//! its unit tests (node's test runner), and that the demo bundle committed in
//! `sfu-server/static/` is what its sources build to (the server serves it with no npm step).

use anyhow::{Result, bail};
use sfu_tests::js::{npm_run, output_text, repo_root};
use std::time::Duration;

const NPM_TIMEOUT: Duration = Duration::from_secs(300);

fn npm(script: &str, args: &[&str]) -> Result<String> {
    let out = npm_run(script, args, NPM_TIMEOUT)?;
    let text = output_text(&out);
    if !out.status.success() {
        bail!("npm run {script} failed:\n{text}");
    }
    Ok(text)
}

/// `tsc --noEmit` in strict mode over the SDK, its tests and the demo page.
#[test]
fn sdk_typechecks() -> Result<()> {
    npm("typecheck", &[])?;
    Ok(())
}

/// The SDK's unit tests: negotiation state machine, message parsing, size-to-layer mapping...
#[test]
fn sdk_unit_tests() -> Result<()> {
    let out = npm("test", &[])?;
    println!("{out}");
    if !out.contains("# fail 0") {
        bail!("the unit test run did not report `# fail 0`:\n{out}");
    }
    Ok(())
}

/// The committed `sfu-server/static/demo.js` equals a fresh build of `sfu-client-js/demo/`.
#[test]
fn committed_demo_bundle_matches_its_sources() -> Result<()> {
    let fresh = sfu_tests::server::log_dir().join("demo-bundle-check.js");
    // esbuild takes the last --outfile: the committed file is left alone.
    npm("build:demo", &[&format!("--outfile={}", fresh.display())])?;
    let committed = repo_root().join("sfu-server/static/demo.js");
    if std::fs::read(&committed)? != std::fs::read(&fresh)? {
        bail!(
            "{} is out of date with sfu-client-js/demo and src: run `npm run build:demo` in sfu-client-js and commit it",
            committed.display()
        );
    }
    Ok(())
}
