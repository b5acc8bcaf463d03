//! DTLS with an RSA peer: aiortc (OpenSSL) publishes with an RSA 2048 certificate, as GStreamer
//! webrtcbin always does and browsers do when a page asks for one. A second aiortc client
//! (ECDSA) subscribes and must decode audio and video frames.
//!
//! str0m 0.25's DTLS (dimpl 0.9) only handled ECDSA peers; the workspace patches it
//! (`vendor/dimpl/PATCHES.md`). These tests drive `tests/interop/aiortc_live.py --url` against
//! the real server binary, once with the server as DTLS server (the publisher offers
//! `actpass`) and once as DTLS client (`--passive`: the publisher offers `setup:passive`).
//!
//! They need Python 3 with `aiortc` and `aiohttp`. When `python3` lacks them (a fresh machine),
//! the tests install the pinned versions once into a virtualenv under the target directory
//! (`target/interop-venv`, from PyPI), so the README's single test command works anywhere;
//! CI pre-installs them. If that fails too the tests FAIL (they do not skip).
//! `SFU_INTEROP_PYTHON` selects another interpreter.

use anyhow::{Context, Result, bail};
use sfu_tests::{ServerOptions, TestServer};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Bound on one script run (it sleeps ~2 + `SECONDS` s, plus connection set-up and close).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the subscriber receives, passed as `--seconds`.
const SECONDS: &str = "6";

/// The pinned packages the script needs.
const PACKAGES: [&str; 2] = ["aiortc==1.16.0", "aiohttp==3.14.5"];

/// An interpreter that can import aiortc: `SFU_INTEROP_PYTHON`, else `python3`, else a
/// virtualenv made (once, under a cross-process lock) in the target directory.
async fn python() -> Result<String> {
    if let Ok(p) = std::env::var("SFU_INTEROP_PYTHON") {
        require_aiortc(&p).await?;
        return Ok(p);
    }
    if require_aiortc("python3").await.is_ok() {
        return Ok("python3".to_string());
    }
    let venv = sfu_tests::server::log_dir().join("../interop-venv");
    let venv_python = venv.join("bin/python");
    let lock = venv.with_extension("lock");
    // create_dir is atomic: whoever makes the lock installs, the others wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        if std::fs::create_dir(&lock).is_ok() {
            break;
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "timed out waiting for another test to install aiortc ({})",
                lock.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let result = async {
        if require_aiortc(&venv_python.to_string_lossy()).await.is_ok() {
            return Ok(());
        }
        let run = |program: String, args: Vec<String>| async move {
            let out = tokio::process::Command::new(&program)
                .args(&args)
                .stdin(Stdio::null())
                .output()
                .await?;
            if !out.status.success() {
                bail!(
                    "`{program} {}` failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(())
        };
        run(
            "python3".into(),
            vec![
                "-m".into(),
                "venv".into(),
                venv.to_string_lossy().into_owned(),
            ],
        )
        .await?;
        let mut args = vec![
            "-m".into(),
            "pip".into(),
            "install".into(),
            "--quiet".into(),
        ];
        args.extend(PACKAGES.iter().map(|p| p.to_string()));
        run(venv_python.to_string_lossy().into_owned(), args).await
    }
    .await;
    let _ = std::fs::remove_dir(&lock);
    result.context("installing aiortc for the interop tests")?;
    let p = venv_python.to_string_lossy().into_owned();
    require_aiortc(&p).await?;
    Ok(p)
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/aiortc_live.py")
}

/// Fails (never skips) when the interpreter cannot import aiortc and aiohttp.
async fn require_aiortc(python: &str) -> Result<()> {
    let probe = tokio::process::Command::new(python)
        .args(["-c", "import aiortc, aiohttp; print(aiortc.__version__)"])
        .stdin(Stdio::null())
        .output()
        .await;
    match probe {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => bail!(
            "`{python} -c 'import aiortc, aiohttp'` failed: {}\n\
             These RSA interop tests need aiortc: install it with \
             `python3 -m pip install aiortc==1.16.0 aiohttp==3.14.5` \
             (or set SFU_INTEROP_PYTHON to an interpreter that has it).",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => bail!(
            "cannot run `{python}`: {e}. These RSA interop tests need Python 3 with aiortc: \
             `python3 -m pip install aiortc==1.16.0 aiohttp==3.14.5` \
             (or set SFU_INTEROP_PYTHON)."
        ),
    }
}

/// Runs aiortc_live.py with `args` against a fresh server; Ok when it printed `RESULT: ok`.
async fn run_aiortc_live(args: &[&str]) -> Result<()> {
    run_aiortc_live_on(ServerOptions::default(), args).await
}

/// Like [`run_aiortc_live`] against a server started with `opts`.
async fn run_aiortc_live_on(opts: ServerOptions, args: &[&str]) -> Result<()> {
    let python = python().await?;
    let server = TestServer::start(opts).await?;
    let child = tokio::process::Command::new(&python)
        .arg(script())
        .args(["--url", &server.http_url(), "--seconds", SECONDS])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning {python} {}", script().display()))?;
    let out = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("aiortc_live.py did not finish within {RUN_TIMEOUT:?}"))
        .map_err(|e| server.annotate(e))??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stdout.contains("RESULT: ok") {
        return Err(server.annotate(anyhow::anyhow!(
            "aiortc_live.py {args:?} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            out.status
        )));
    }
    // Evidence for the test log (`--nocapture`): DTLS states and frame counts.
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("publisher connection") || l.starts_with("subscriber "))
    {
        println!("{line}");
    }
    Ok(())
}

/// The server answers `passive` and is the DTLS server: it must ask for and verify the
/// publisher's RSA certificate (CertificateRequest with rsa_sign, RSA CertificateVerify).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_rsa_publisher_server_is_dtls_server() -> Result<()> {
    run_aiortc_live(&["--rsa"]).await
}

/// The publisher offers `setup:passive`, so the server is the DTLS client facing an RSA
/// server: it must offer ECDHE_RSA suites and verify the RSA-signed ServerKeyExchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_rsa_publisher_server_is_dtls_client() -> Result<()> {
    run_aiortc_live(&["--rsa", "--passive"]).await
}

/// aiortc sends REMB and no transport-cc feedback: with estimation on, the server's estimate
/// for an aiortc subscriber comes from its REMB reports (visible in the admin listing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_subscriber_estimate_comes_from_remb() -> Result<()> {
    let opts = ServerOptions::default().env("SFU_MEDIA__BANDWIDTH_ESTIMATION", "true");
    run_aiortc_live_on(opts, &["--check-remb"]).await
}
