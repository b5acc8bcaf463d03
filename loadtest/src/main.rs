//! `loadtest`: simulated WebRTC participants against a running SFU (or Janus), measured.
//!
//! Every participant is a real WebRTC peer (ICE, DTLS-SRTP) on webrtc-rs's sans-IO `rtc` core
//! (not str0m, which the server runs); all of them run in one engine thread (see [`engine`]),
//! signalling runs on a small tokio runtime.
//! Scenarios, flags and the report are described in `docs/benchmarks.md`.

mod cli;
mod compare;
mod cost;
mod engine;
mod media;
mod probe;
mod progress;
mod report;
mod run;
mod scenario;
mod target;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // rtc's DTLS warns on every handshake (no server name: peers are checked by
                // fingerprint; OpenSSL's ClientHello extensions it ignores): noise at this scale.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rtc_dtls=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = cli::Cli::parse();
    if let cli::Scenario::Compare {
        out,
        chart,
        reports,
    } = &cli.scenario
    {
        compare::compare(reports, out, chart.as_deref())?;
        eprintln!("comparison written to {}", out.display());
        return Ok(());
    }
    // Signalling is light: one worker thread leaves the other core to the engine and server.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(run::run(cli))?;
    Ok(())
}
