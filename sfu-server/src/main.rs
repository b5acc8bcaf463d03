//! sfu-server: a WebRTC Selective Forwarding Unit.
//!
//! `sfu-server` runs the server (HTTP/WebSocket API and the UDP media plane);
//! `sfu-server token` prints an access token signed with the configured key;
//! `sfu-server check-config` validates the configuration and prints it with secrets redacted.

mod api;
mod app;
mod auth;
mod config;
mod demo;
mod media;
mod metrics;
mod model;
mod peer;
mod signal;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::app::AppState;
use crate::auth::Authenticator;
use crate::config::{Config, LogFormat};
use crate::media::{MediaHandle, WorkerSettings};

/// Exit code for an invalid configuration or command line.
const EXIT_CONFIG: u8 = 2;
/// Longest wait at shutdown for the last webhook events.
const WEBHOOK_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// A WebRTC SFU: one peer connection per participant, rooms over a REST/WebSocket API.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file; `SFU_*` environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format, overriding `log.format`: `text` (human) or `json` (one object per line).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Run,
    /// Validate the configuration (file and `SFU_*` environment) without binding anything, and
    /// print the effective settings as JSON with secrets redacted; exit code 2 when invalid.
    CheckConfig,
    /// Print an access token signed with the configured API key.
    Token {
        /// Room the token joins (omit with --admin for an all-rooms admin token).
        #[arg(long)]
        room: Option<String>,
        /// Participant identity (`sub`).
        #[arg(long, default_value = "admin")]
        identity: String,
        /// Also grant room_create, room_admin and room_list.
        #[arg(long)]
        admin: bool,
        /// Lifetime, e.g. `6h`, `30m`.
        #[arg(long, default_value = "6h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// API key to sign with (default: the first configured key).
        #[arg(long)]
        key: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(mut c) => {
            c.log.format = cli.log_format.unwrap_or(c.log.format);
            c
        }
        Err(e) => {
            eprintln!("sfu-server: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match cli.command {
        Some(Command::Token {
            room,
            identity,
            admin,
            ttl,
            key,
        }) => print_token(&config, room, &identity, admin, ttl, key),
        Some(Command::CheckConfig) => {
            // Loading already validated it (an invalid one exited above with code 2).
            println!("{:#}", config.to_redacted_json());
            ExitCode::SUCCESS
        }
        None | Some(Command::Run) => run(config),
    }
}

fn print_token(
    config: &Config,
    room: Option<String>,
    identity: &str,
    admin: bool,
    ttl: Duration,
    key: Option<String>,
) -> ExitCode {
    if room.is_none() && !admin {
        eprintln!("sfu-server: token needs --room, or --admin for an all-rooms admin token");
        return ExitCode::from(EXIT_CONFIG);
    }
    let (keys, _) = config.auth.effective_keys();
    let chosen = match key {
        Some(k) => keys.get_key_value(&k),
        None => keys.iter().next(),
    };
    let Some((key, secret)) = chosen else {
        eprintln!("sfu-server: no such API key in the configuration");
        return ExitCode::from(EXIT_CONFIG);
    };
    println!(
        "{}",
        auth::token_for(key, secret, room.as_deref(), identity, admin, ttl)
    );
    ExitCode::SUCCESS
}

fn init_logging(config: &Config) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run(config: Config) -> ExitCode {
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> ExitCode {
    let auth = Authenticator::from_config(&config.auth);
    if auth.is_dev_mode() {
        tracing::warn!(
            "DEV MODE: no API keys configured; tokens are signed with the public key `devkey`/`devsecret` \
             and POST /v1/dev/token hands them out. Never expose this server to a network."
        );
    }
    let webhooks = match webhooks::Webhooks::start(&config.webhooks, &config.auth) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "cannot start webhooks");
            return ExitCode::FAILURE;
        }
    };
    let metrics = Arc::new(metrics::Metrics::new());
    metrics.register(webhooks.metrics().collectors());
    let settings = WorkerSettings {
        udp_addr: config.media.udp_addr,
        socket_buffer_bytes: config.media.socket_buffer_bytes,
        udp_gso: config.media.udp_gso,
        announce_ips: config.media.announce_ips.clone(),
        auto_create_rooms: config.rooms.auto_create,
        empty_timeout: Duration::from_secs(config.rooms.empty_timeout_s),
        max_participants: config.rooms.max_participants,
        peer_timeout: Duration::from_secs(config.media.peer_timeout_s),
        ice_servers: config.media.ice_servers.clone(),
        bandwidth_estimation: config.media.bandwidth_estimation,
        dynacast: config.media.dynacast,
        webhooks: webhooks.clone(),
        max_forwards_per_room: config.forwards.max_per_room,
    };
    let media = match MediaHandle::start(settings) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the media plane");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.server.http_addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %config.server.http_addr, error = %e, "cannot bind the HTTP listener");
            return ExitCode::FAILURE;
        }
    };
    let http = listener.local_addr().unwrap_or(config.server.http_addr);
    let drain_period = Duration::from_secs(config.shutdown.drain_period_s);
    let state = AppState {
        config: Arc::new(config),
        auth: Arc::new(auth),
        media: media.clone(),
        draining: Arc::new(AtomicBool::new(false)),
        sessions: app::SessionCounter::default(),
        metrics,
    };
    tracing::info!(
        "listening: demo page and API on http://{http}/ , signalling ws://{http}/v1/rtc , media udp {}",
        media.udp_addr
    );

    let app = api::router(state.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        // The peer address keys the per-IP rate limits.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        })
        .await
    });

    shutdown_signal().await;
    tracing::info!(
        drain_period_s = drain_period.as_secs(),
        "stop signal: draining (readyz 503, no new joins)"
    );
    state.draining.store(true, Ordering::Relaxed);
    media.drain().await;
    tokio::select! {
        _ = tokio::time::sleep(drain_period) => {}
        _ = shutdown_signal() => tracing::info!("second stop signal: ending the drain early"),
    }
    let _ = media.close_all("server_shutdown").await;
    // Deliver the last events (participants leaving, rooms finishing), but not for long.
    if tokio::time::timeout(WEBHOOK_FLUSH_TIMEOUT, webhooks.flush())
        .await
        .is_err()
    {
        tracing::warn!("webhook events still undelivered at shutdown; exiting anyway");
    }
    // Upgraded WebSockets are not tracked by axum's graceful shutdown: wait for the sessions
    // to write their `leave` and close, but not forever on a stuck client.
    if tokio::time::timeout(Duration::from_secs(5), state.sessions.wait_idle())
        .await
        .is_err()
    {
        tracing::warn!("signalling sessions still open after shutdown; exiting anyway");
    }
    let _ = stop_tx.send(());
    // Sessions close right after their `leave`; don't wait forever on a stuck client.
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server ended with an error"),
        Ok(Err(e)) => tracing::warn!(error = %e, "HTTP server task failed"),
        Err(_) => tracing::warn!("HTTP connections still open after shutdown; exiting anyway"),
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
