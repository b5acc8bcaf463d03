//! Spawning the real `sfu-server` binary on free loopback ports, plus REST and token helpers.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long [`TestServer::start`] waits for `GET /healthz` to answer 200.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Options for [`TestServer::start`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Extra environment variables for the child (e.g. `SFU_SHUTDOWN__DRAIN_PERIOD_S=1`).
    pub env: Vec<(String, String)>,
    /// Extra command-line arguments.
    pub args: Vec<String>,
    /// Bound on the wait for `/healthz`.
    pub startup_timeout: Duration,
    /// How many times to retry with fresh ports if the child exits during start-up.
    pub start_attempts: u32,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            env: Vec::new(),
            args: Vec::new(),
            startup_timeout: STARTUP_TIMEOUT,
            start_attempts: 3,
        }
    }
}

impl ServerOptions {
    /// Options for tests that check the forwarding path itself (every packet, byte for byte,
    /// on the layer asked for): bandwidth estimation off, so no subscriber's estimate can
    /// pause or lower a layer under them. `tests/tests/bandwidth.rs` tests the estimation.
    pub fn exact_forwarding() -> Self {
        Self::default().env("SFU_MEDIA__BANDWIDTH_ESTIMATION", "false")
    }

    /// Adds one environment variable (builder style).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A running server child process; killed (by PID) on drop.
pub struct TestServer {
    child: Option<Child>,
    pid: u32,
    http_addr: SocketAddr,
    udp_addr: SocketAddr,
    log_path: PathBuf,
    env: Vec<(String, String)>,
    http: reqwest::Client,
    exit_status: Option<ExitStatus>,
}

static SERVER_SEQ: AtomicU32 = AtomicU32::new(0);

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_tcp_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A free UDP port on 127.0.0.1 (bound then released).
pub fn free_udp_port() -> Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The target directory guessed from the test executable (`target/<profile>/deps/<exe>`).
fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    let profile = if deps.file_name()? == "deps" {
        deps.parent()?
    } else {
        deps
    };
    Some(profile.parent()?.to_path_buf())
}

/// Directory where server logs are written (`SFU_TEST_LOG_DIR` or `<target>/tmp/sfu-tests`).
pub fn log_dir() -> PathBuf {
    if let Ok(d) = std::env::var("SFU_TEST_LOG_DIR") {
        return PathBuf::from(d);
    }
    target_dir()
        .map(|t| t.join("tmp").join("sfu-tests"))
        .unwrap_or_else(|| std::env::temp_dir().join("sfu-tests"))
}

impl TestServer {
    /// Path of the server binary: `SFU_SERVER_BIN`, else `<dir of current_exe>/../sfu-server`.
    pub fn binary_path() -> PathBuf {
        if let Ok(p) = std::env::var("SFU_SERVER_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().unwrap_or_default();
        let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let candidate = dir.join("..").join("sfu-server");
        if candidate.exists() {
            return candidate;
        }
        dir.join("sfu-server")
    }

    /// Starts a server for a forwarding test: the shipped defaults except bandwidth estimation
    /// ([`ServerOptions::exact_forwarding`]), so that what a test publishes reaches its
    /// subscribers whatever their loopback estimate says. Tests of the estimation itself, and
    /// of the shipped defaults, use [`TestServer::start`] with [`ServerOptions::default`].
    pub async fn start_default() -> Result<TestServer> {
        Self::start(ServerOptions::exact_forwarding()).await
    }

    /// Spawns the binary on free ports and waits (bounded) until `/healthz` answers 200.
    pub async fn start(opts: ServerOptions) -> Result<TestServer> {
        let bin = Self::binary_path();
        if !bin.exists() {
            bail!(
                "server binary not found at {} (build it with `cargo build -p sfu-server` or set SFU_SERVER_BIN)",
                bin.display()
            );
        }
        let mut last_err = None;
        for _ in 0..opts.start_attempts.max(1) {
            match Self::start_once(&bin, &opts).await {
                Ok(s) => return Ok(s),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("server did not start")))
    }

    async fn start_once(bin: &Path, opts: &ServerOptions) -> Result<TestServer> {
        let http_port = free_tcp_port()?;
        let udp_port = free_udp_port()?;
        let http_addr: SocketAddr = ([127, 0, 0, 1], http_port).into();
        let udp_addr: SocketAddr = ([127, 0, 0, 1], udp_port).into();
        let dir = log_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let n = SERVER_SEQ.fetch_add(1, Ordering::Relaxed);
        let log_path = dir.join(format!("server-{}-{n}-{http_port}.log", std::process::id()));
        let log = File::create(&log_path)?;
        let log_err = log.try_clone()?;

        let mut env: Vec<(String, String)> = vec![
            ("SFU_SERVER__HTTP_ADDR".into(), http_addr.to_string()),
            ("SFU_MEDIA__UDP_ADDR".into(), udp_addr.to_string()),
        ];
        if std::env::var_os("RUST_LOG").is_none() {
            env.push(("RUST_LOG".into(), "info".into()));
        }
        env.extend(opts.env.iter().cloned());

        let mut cmd = Command::new(bin);
        cmd.args(&opts.args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let pid = child.id();
        let mut server = TestServer {
            child: Some(child),
            pid,
            http_addr,
            udp_addr,
            log_path,
            env,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()?,
            exit_status: None,
        };

        let deadline = Instant::now() + opts.startup_timeout;
        loop {
            if let Some(status) = server.try_wait() {
                bail!(
                    "server exited during start-up with {status}; log:\n{}",
                    server.log_tail(40)
                );
            }
            if let Ok(resp) = server
                .http
                .get(format!("{}/healthz", server.http_url()))
                .timeout(Duration::from_secs(1))
                .send()
                .await
                && resp.status().as_u16() == 200
            {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                let tail = server.log_tail(40);
                server.kill();
                bail!(
                    "server did not answer /healthz within {:?}; log:\n{tail}",
                    opts.startup_timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The HTTP listen address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// `ws://127.0.0.1:<port>/v1/rtc?access_token=<token>`.
    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://{}/v1/rtc?access_token={token}", self.http_addr)
    }

    /// The media UDP address the server was told to bind.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Path of the file capturing the child's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The environment the child was started with (ports and extra options).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The whole server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `lines` lines of the server log (reads at most the last 256 KiB).
    pub fn log_tail(&self, lines: usize) -> String {
        let Ok(mut f) = File::open(&self.log_path) else {
            return String::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let start = len.saturating_sub(256 * 1024);
        if f.seek(SeekFrom::Start(start)).is_err() {
            return String::new();
        }
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Adds the last 60 lines of the server log to an error (use in `map_err`).
    pub fn annotate(&self, e: anyhow::Error) -> anyhow::Error {
        e.context(format!(
            "server log tail ({}):\n{}",
            self.log_path.display(),
            self.log_tail(60)
        ))
    }

    /// Sends SIGTERM to the child (via `kill -TERM <pid>`).
    pub fn send_sigterm(&self) -> Result<()> {
        self.send_signal("TERM")
    }

    /// Sends a named signal (e.g. "INT", "KILL") to the child via `kill -<sig> <pid>`.
    pub fn send_signal(&self, sig: &str) -> Result<()> {
        if self.child.is_none() {
            bail!("server already reaped");
        }
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid.to_string())
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -{sig} {} failed: {status}", self.pid);
        }
        Ok(())
    }

    /// Non-blocking check whether the child has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if let Some(s) = self.exit_status {
            return Some(s);
        }
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(s)) => {
                self.exit_status = Some(s);
                Some(s)
            }
            _ => None,
        }
    }

    /// Waits (bounded) for the child to exit; `None` if it is still running at the deadline.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_wait().is_none() && self.child.is_some()
    }

    /// Kills the child (SIGKILL to its PID) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take()
            && self.exit_status.is_none()
        {
            let _ = child.kill();
            if let Ok(s) = child.wait() {
                self.exit_status = Some(s);
            }
        }
    }

    // ---- tokens ----

    /// A participant token from the dev-mode endpoint `POST /v1/dev/token`.
    pub async fn dev_token(&self, room: &str, identity: &str) -> Result<String> {
        let (status, body) = self
            .post_json(
                "/v1/dev/token",
                None,
                &serde_json::json!({"room": room, "identity": identity}),
            )
            .await?;
        if status != 200 && status != 201 {
            bail!("POST /v1/dev/token -> {status}: {body}");
        }
        body.get("token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no token in {body}"))
    }

    /// Runs `sfu-server token ...` with the server's environment and returns the printed token.
    pub fn cli_token(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(Self::binary_path())
            .arg("token")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .output()
            .context("running sfu-server token")?;
        if !out.status.success() {
            bail!(
                "sfu-server token {args:?} failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        // The token is the last non-empty line (a JWT has two dots).
        stdout
            .lines()
            .map(str::trim)
            .rfind(|l| l.matches('.').count() == 2 && !l.contains(' '))
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no token in output: {stdout}"))
    }

    /// An admin token (`--admin`) for `room` and identity "admin".
    pub fn admin_token_for(&self, room: &str) -> Result<String> {
        self.cli_token(&["--room", room, "--identity", "admin", "--admin"])
    }

    /// An all-rooms admin token (`token --admin` without `--room`), identity "admin".
    pub fn admin_token(&self) -> Result<String> {
        self.cli_token(&["--identity", "admin", "--admin"])
    }

    // ---- REST ----

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.http_url())
        };
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    /// `GET path` with an optional bearer token; returns status and JSON (or text as a string).
    pub async fn get(&self, path: &str, token: Option<&str>) -> Result<(u16, Value)> {
        self.request(reqwest::Method::GET, path, token, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<(u16, Value)> {
        self.request(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Result<(u16, Value)> {
        self.request(reqwest::Method::DELETE, path, token, None)
            .await
    }

    /// `POST path` with a raw body and content type (for bad-input tests).
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Value)> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.http_url()))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> Result<String> {
        let resp = self
            .http
            .get(format!("{}/metrics", self.http_url()))
            .send()
            .await?;
        Ok(resp.text().await?)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
        if std::env::var_os("SFU_TEST_PRINT_SERVER_LOG").is_some() {
            eprintln!(
                "---- server log ({}) ----\n{}",
                self.log_path.display(),
                self.log_tail(200)
            );
        }
    }
}
