//! Running the JavaScript side from Rust tests: the SDK's npm scripts and the browser
//! end-to-end scripts of `sfu-client-js/e2e/`, the latter inside a loopback-only network
//! namespace with headless Chromium.

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository root (this crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The SDK package directory.
pub fn sdk_dir() -> PathBuf {
    repo_root().join("sfu-client-js")
}

/// Installs the SDK's npm dependencies (`npm ci`) unless `node_modules` is already newer than
/// `package-lock.json` (npm writes `node_modules/.package-lock.json` on every install).
/// Concurrent tests wait on a file lock so only one installs.
pub fn ensure_npm_deps() -> Result<()> {
    let dir = sdk_dir();
    let lock_dir = crate::server::log_dir();
    std::fs::create_dir_all(&lock_dir)?;
    let lock = File::create(lock_dir.join("npm-install.lock"))?;
    // Released when `lock` is dropped (also if this process dies).
    lock.lock().context("locking npm-install.lock")?;
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let wanted = modified(dir.join("package-lock.json"));
    let installed = modified(dir.join("node_modules").join(".package-lock.json"));
    if matches!((wanted, installed), (Some(w), Some(i)) if i >= w) {
        return Ok(());
    }
    let out = run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir),
        Duration::from_secs(600),
    )
    .context("running `npm ci` in sfu-client-js (is Node.js 20 with npm installed?)")?;
    if !out.status.success() {
        bail!("npm ci failed:\n{}", output_text(&out));
    }
    Ok(())
}

/// Runs `npm run <script>` in the SDK directory (after [`ensure_npm_deps`]).
pub fn npm_run(script: &str, args: &[&str], timeout: Duration) -> Result<Output> {
    ensure_npm_deps()?;
    let mut cmd = Command::new("npm");
    cmd.args(["run", "--silent", script]);
    if !args.is_empty() {
        cmd.arg("--").args(args);
    }
    run(cmd.current_dir(sdk_dir()), timeout)
}

/// The Chromium the browser tests drive: `CHROMIUM`, else Debian's `/usr/bin/chromium`.
pub fn chromium_path() -> Result<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !path.exists() {
        bail!(
            "Chromium not found at {} (install it with `apt-get install chromium`, or set CHROMIUM)",
            path.display()
        );
    }
    Ok(path)
}

/// Runs `node sfu-client-js/e2e/<script>` in a new network namespace whose only interface is
/// `lo`, so that Chromium and the server it starts see nothing but loopback (as root with
/// `unshare --net`, otherwise in a user namespace with `unshare --net --map-root-user`).
/// Returns the script's output; fails if it exits non-zero or outlives `timeout`.
pub fn run_browser_script(script: &str, timeout: Duration) -> Result<String> {
    ensure_npm_deps()?;
    let chromium = chromium_path()?;
    let server = crate::server::TestServer::binary_path();
    if !server.exists() {
        bail!("server binary not found at {}", server.display());
    }
    let out_dir = crate::server::log_dir().join("browser-e2e");
    std::fs::create_dir_all(&out_dir)?;
    let mut cmd = Command::new("unshare");
    cmd.arg("--net");
    if !is_root() {
        cmd.arg("--map-root-user");
    }
    cmd.args([
        "sh",
        "-c",
        r#"ip link set lo up && exec "$@""#,
        "sh",
        "node",
    ])
    .arg(sdk_dir().join("e2e").join(script))
    .current_dir(sdk_dir())
    .env("E2E_SERVER_BIN", &server)
    .env("CHROMIUM", &chromium)
    .env("E2E_OUT", &out_dir);
    let out = run(&mut cmd, timeout)?;
    let text = output_text(&out);
    if !out.status.success() {
        bail!("{script} failed ({}):\n{text}", out.status);
    }
    Ok(text)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Stdout then stderr, as text.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` to completion in a process group of its own, killing the group (its children
/// too, e.g. the server an e2e script started) if it outlives `timeout`.
fn run(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {cmd:?}"))?;
    // Readers on threads so a chatty child never blocks on a full pipe.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).map(|_| buf)
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buf).map(|_| buf)
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            // The group id is the child's PID (process_group(0)).
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_reader
                .join()
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or_default();
            bail!(
                "{cmd:?} did not finish within {timeout:?}; output so far:\n{}",
                String::from_utf8_lossy(&stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Ok(Output {
        status,
        stdout: out_reader
            .join()
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default(),
        stderr: err_reader
            .join()
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default(),
    })
}
