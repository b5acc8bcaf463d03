//! Structured logs of the real server (`--log-format json` at `info`): one JSON object per line,
//! room and participant spans on what the media worker logs, no client address and nothing
//! per packet.

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use sfu_tests::{MediaKind, ServerOptions, TestClient, TestServer, wait_until};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Every `host:port` of 127.0.0.1 mentioned in `line`.
fn loopback_ports(line: &str) -> Vec<u16> {
    line.match_indices("127.0.0.1:")
        .filter_map(|(i, m)| {
            let digits: String = line[i + m.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_spans_and_no_client_addresses() -> Result<()> {
    let server = TestServer::start(ServerOptions {
        args: vec!["--log-format".into(), "json".into()],
        ..ServerOptions::default().env("RUST_LOG", "info")
    })
    .await?;
    let result = async {
        let alice = TestClient::join(&server, "logs", "alice").await?;
        let bob = TestClient::join(&server, "logs", "bob").await?;
        alice.publish_video(false).await?;
        bob.wait_for_packets_where(|t| t.kind == MediaKind::Video, 100, T)
            .await?;
        bob.signal().send_raw("{not json")?;
        alice.leave().await?;
        ensure!(
            wait_until(T, || server.log().contains("participant left")).await,
            "no `participant left` line"
        );
        let metrics = server.metrics().await?;
        let rtp_in: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("sfu_rtp_in_total ")?.parse().ok())
            .context("sfu_rtp_in_total")?;

        let log = server.log();
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut records = Vec::new();
        for line in &lines {
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("not a JSON log line: {line}"))?;
            ensure!(v["level"].is_string() && v["fields"].is_object(), "{line}");
            records.push(v);
        }
        let message = |v: &Value| v["fields"]["message"].as_str().unwrap_or("").to_owned();

        // Joins and publications are logged inside room > participant spans.
        let joined = records
            .iter()
            .find(|v| message(v) == "participant joined" && v["span"]["identity"] == "alice")
            .context("alice's join line")?;
        let spans = joined["spans"].as_array().context("spans")?;
        ensure!(
            spans.len() == 2 && spans[0]["name"] == "room" && spans[0]["room"] == "logs",
            "{joined}"
        );
        ensure!(
            spans[1]["name"] == "participant"
                && spans[1]["participant"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("PA_")),
            "{joined}"
        );
        ensure!(
            records.iter().any(|v| message(v) == "track published"
                && v["span"]["identity"] == "alice"
                && v["spans"][0]["room"] == "logs"),
            "no track publication in alice's span:\n{log}"
        );

        // The only loopback addresses logged are the server's own (the `listening` line).
        let own = [server.http_addr().port(), server.udp_addr().port()];
        for line in &lines {
            for port in loopback_ports(line) {
                ensure!(
                    own.contains(&port),
                    "a client address (port {port}) is logged at info: {line}"
                );
            }
        }
        // Nothing per packet: far fewer lines than packets.
        ensure!(
            (lines.len() as f64) < rtp_in / 4.0,
            "{} log lines for {rtp_in} packets:\n{log}",
            lines.len()
        );
        Ok(())
    }
    .await;
    result.map_err(|e| server.annotate(e))
}
