//! Smoke runs of the load generator (`loadtest`, package sfu-loadtest) against the real server:
//! a few participants for a few seconds. They check that media flowed both ways and that the
//! JSON report has every field; never a timing figure (benchmarks are not tests).

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sfu_tests::TestServer;
use sfu_tests::server::log_dir;
use std::path::PathBuf;
use std::time::Duration;

/// Bound on one loadtest run (join, a few seconds of media, leave).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The loadtest binary: `LOADTEST_BIN`, else beside the server binary in the target directory.
fn loadtest_bin() -> PathBuf {
    if let Ok(p) = std::env::var("LOADTEST_BIN") {
        return PathBuf::from(p);
    }
    TestServer::binary_path().with_file_name("loadtest")
}

/// Every field the report promises, as JSON pointers.
const REPORT_FIELDS: &[&str] = &[
    "/scenario",
    "/target",
    "/started_unix_s",
    "/config",
    "/machine/cpus",
    "/machine/cpu_model",
    "/machine/loadavg_start",
    "/machine/loadavg_end",
    "/participants/planned",
    "/participants/connections",
    "/participants/connected",
    "/participants/failed",
    "/participants/failure_reasons",
    "/join_ms/samples",
    "/join_ms/p50_ms",
    "/join_ms/p99_ms",
    "/join_ms/max_ms",
    "/window_s",
    "/media/packets_out",
    "/media/bytes_out",
    "/media/packets_in",
    "/media/bytes_in",
    "/media/datagrams_out",
    "/media/datagrams_in",
    "/media/datagram_bytes_out",
    "/media/datagram_bytes_in",
    "/media/packets_in_per_s",
    "/media/packets_out_per_s",
    "/media/bitrate_in_bps",
    "/media/bitrate_out_bps",
    "/media/send_errors",
    "/loss/expected",
    "/loss/received",
    "/loss/lost",
    "/loss/percent",
    "/feedback/nacks_sent",
    "/feedback/nacks_received",
    "/feedback/plis_sent",
    "/feedback/plis_received",
    "/latency_ms/samples",
    "/latency_ms/p50_ms",
    "/latency_ms/p99_ms",
    "/latency_ms/max_ms",
    "/server/source",
    "/server/cpu_seconds",
    "/server/cpu_percent",
    "/server/baseline_rss_bytes",
    "/server/peak_rss_bytes",
    "/server/rss_per_participant_bytes",
    "/server/forwarded_packets",
    "/server/server_forwarded_packets",
    "/server/cpu_us_per_forwarded_packet",
];

/// Runs loadtest against `server` with `scenario` arguments and returns the parsed JSON report.
async fn run_loadtest(server: &TestServer, name: &str, scenario: &[&str]) -> Result<Value> {
    let dir = log_dir();
    std::fs::create_dir_all(&dir)?;
    let json = dir.join(format!("loadtest-{name}-{}.json", server.pid()));
    let bin = loadtest_bin();
    if !bin.exists() {
        bail!(
            "loadtest binary not found at {} (build it with `cargo build -p sfu-loadtest` or set LOADTEST_BIN)",
            bin.display()
        );
    }
    let run = tokio::process::Command::new(&bin)
        .arg("--url")
        .arg(server.http_url())
        .arg("--server-pid")
        .arg(server.pid().to_string())
        .args(["--duration", "3s", "--ramp", "20", "--quiet", "--json"])
        .arg(&json)
        .args(scenario)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .context("loadtest did not finish in time")??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("loadtest failed: {}\n{stdout}\n{stderr}", out.status);
    }
    let text =
        std::fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?;
    let report: Value = serde_json::from_str(&text)?;
    let missing: Vec<_> = REPORT_FIELDS
        .iter()
        .filter(|p| report.pointer(p).is_none())
        .collect();
    assert!(missing.is_empty(), "report lacks {missing:?}:\n{text}");
    println!("{stdout}");
    Ok(report)
}

fn u64_at(report: &Value, pointer: &str) -> u64 {
    report
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} is not a count in {report}"))
}

fn f64_at(report: &Value, pointer: &str) -> f64 {
    report
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} is not a number in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_meeting_moves_media_both_ways_and_reports_every_field() -> Result<()> {
    let server = TestServer::start_default().await?;
    let report = run_loadtest(&server, "meeting", &["meeting", "-n", "3"])
        .await
        .map_err(|e| server.annotate(e))?;
    assert_eq!(u64_at(&report, "/participants/connected"), 3, "{report}");
    assert_eq!(u64_at(&report, "/participants/failed"), 0, "{report}");
    assert_eq!(u64_at(&report, "/join_ms/samples"), 3);
    // Every participant both publishes and receives.
    assert!(u64_at(&report, "/media/packets_out") > 0);
    assert!(u64_at(&report, "/media/packets_in") > 0);
    assert!(u64_at(&report, "/loss/expected") > 0);
    assert!(u64_at(&report, "/latency_ms/samples") > 0);
    assert!(u64_at(&report, "/server/forwarded_packets") > 0);
    assert!(u64_at(&report, "/server/server_forwarded_packets") > 0);
    // The server's cost was read (from /proc and /metrics).
    assert!(f64_at(&report, "/server/cpu_seconds") >= 0.0);
    assert!(u64_at(&report, "/server/peak_rss_bytes") > 0);
    assert!(f64_at(&report, "/server/cpu_us_per_forwarded_packet") >= 0.0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_webinar_reaches_every_capped_subscriber() -> Result<()> {
    let server = TestServer::start_default().await?;
    let report = run_loadtest(
        &server,
        "webinar",
        &["webinar", "-p", "1", "-s", "3", "--sub-layer", "q"],
    )
    .await
    .map_err(|e| server.annotate(e))?;
    assert_eq!(u64_at(&report, "/participants/connected"), 4, "{report}");
    assert_eq!(u64_at(&report, "/participants/failed"), 0, "{report}");
    assert!(u64_at(&report, "/media/packets_out") > 0);
    assert!(u64_at(&report, "/media/packets_in") > 0);
    assert!(u64_at(&report, "/latency_ms/samples") > 0);
    Ok(())
}
