//! `/metrics` of the real server after a short, lossy, simulcast call: every family the
//! observability issue lists is there with a plausible non-zero value.

use anyhow::{Context, Result, ensure};
use sfu_tests::{
    ClientOptions, LossFilter, LossyRelay, MediaKind, RelayOptions, ServerOptions, TestClient,
    TestServer, wait_until,
};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// The value of the sample `series` (name with its labels, exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_short_lossy_call() -> Result<()> {
    // Estimation on, so the bandwidth histogram has estimates to show.
    let server =
        TestServer::start(ServerOptions::default().env("SFU_MEDIA__BANDWIDTH_ESTIMATION", "true"))
            .await?;
    let result = async {
        // Both clients behind one relay that drops RTP only (NACKs and reports get through).
        let relay = LossyRelay::start(
            server.udp_addr(),
            RelayOptions {
                filter: LossFilter::RtpOnly,
                ..Default::default()
            },
        )
        .await?;
        let alice = TestClient::join_via_relay(
            &server,
            "metrics",
            "alice",
            &relay,
            ClientOptions::default(),
        )
        .await?;
        let bob =
            TestClient::join_via_relay(&server, "metrics", "bob", &relay, ClientOptions::default())
                .await?;
        alice.publish_audio().await?;
        let video = alice.publish_video(true).await?;
        let vt = bob
            .wait_for_packets_where(|t| t.kind == MediaKind::Video, 60, T)
            .await?;
        bob.wait_for_packets_where(|t| t.kind == MediaKind::Audio, 20, T)
            .await?;

        // Loss both ways: the server NACKs alice and answers bob's NACKs with RTX.
        relay.set_loss(0.05, 0.05);
        tokio::time::sleep(Duration::from_secs(4)).await;
        relay.set_loss(0.0, 0.0);

        // A layer switch, a keyframe request, a signalling error and a REST error.
        bob.set_subscription(&vt.track_id, serde_json::json!({"layer": "q"}))?;
        let q = video.stream(Some("q")).context("q layer")?;
        ensure!(
            wait_until(T, || vt
                .packets()
                .iter()
                .rev()
                .take(5)
                .all(|p| p.tag().is_some_and(|t| t.stream == q.tag)))
            .await,
            "never switched to q"
        );
        vt.send_pli().await?;
        bob.signal().send_raw("{not json")?;
        bob.signal()
            .wait_for(|m| m["type"] == "error" && m["code"] == "invalid_json", T)
            .await?;
        let (status, _) = server.get("/v1/rooms", None).await?;
        ensure!(status == 401, "unauthenticated list answered {status}");
        // Stats events come once a second: let the last NACK counts arrive.
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let text = server.metrics().await?;
        let v = |series: &str| sample(&text, series).unwrap_or(-1.0);
        let report = format!("relay {:?}\n{text}", relay.stats());
        let at_least = |series: &str, min: f64| -> Result<f64> {
            let got = v(series);
            ensure!(got >= min, "{series} = {got}, expected >= {min}\n{report}");
            Ok(got)
        };
        let exactly = |series: &str, want: f64| -> Result<()> {
            let got = v(series);
            ensure!(got == want, "{series} = {got}, expected {want}\n{report}");
            Ok(())
        };
        exactly("sfu_rooms", 1.0)?;
        exactly("sfu_participants", 2.0)?;
        exactly("sfu_published_tracks", 2.0)?;
        exactly("sfu_subscribed_tracks", 2.0)?;
        at_least("sfu_rtp_in_total", 200.0)?;
        let forwarded = at_least("sfu_rtp_forwarded_total", 100.0)?;
        for direction in ["in", "out"] {
            let datagrams = at_least(&format!("sfu_datagrams_{direction}_total"), 1.0)?;
            let bytes = v(&format!("sfu_bytes_{direction}_total"));
            // Every datagram has at least a 12-byte header; none exceeds the MTU.
            ensure!(
                bytes >= 12.0 * datagrams && bytes <= 1500.0 * datagrams,
                "{direction}: {datagrams} datagrams, {bytes} bytes\n{report}"
            );
        }
        // Simulcast layers bob does not receive are dropped.
        at_least(r#"sfu_rtp_dropped_total{reason="other_layer"}"#, 1.0)?;
        at_least(r#"sfu_nacks_total{direction="in"}"#, 1.0)?;
        at_least(r#"sfu_nacks_total{direction="out"}"#, 1.0)?;
        at_least("sfu_retransmissions_total", 1.0)?;
        at_least(
            r#"sfu_keyframe_requests_total{direction="in",kind="pli"}"#,
            1.0,
        )?;
        // The subscription start and the switch to q each ask alice for a keyframe.
        at_least(
            r#"sfu_keyframe_requests_total{direction="out",kind="pli"}"#,
            1.0,
        )?;
        at_least("sfu_layer_switches", 1.0)?;
        exactly(r#"sfu_signalling_errors_total{code="invalid_json"}"#, 1.0)?;
        at_least(r#"sfu_api_errors_total{code="missing_token"}"#, 1.0)?;
        at_least(
            r#"sfu_http_requests_total{route="/v1/rooms",status="401"}"#,
            1.0,
        )?;

        // Histograms: one latency per forwarded packet sent, each well under a second.
        let count = at_least("sfu_forwarding_latency_seconds_count", forwarded / 2.0)?;
        let sum = v("sfu_forwarding_latency_seconds_sum");
        ensure!(
            count <= forwarded && sum > 0.0 && sum / count < 1.0,
            "{count} latencies summing to {sum} s for {forwarded} forwarded\n{report}"
        );
        exactly(r#"sfu_forwarding_latency_seconds_bucket{le="+Inf"}"#, count)?;
        let count = at_least("sfu_bandwidth_estimate_bps_count", 1.0)?;
        let mean = v("sfu_bandwidth_estimate_bps_sum") / count;
        ensure!(
            (10e3..10e9).contains(&mean),
            "mean estimate {mean} bit/s\n{report}"
        );

        // Whole CPU seconds (the collector truncates): present, maybe still 0 this early.
        at_least("sfu_process_cpu_seconds_total", 0.0)?;
        at_least("sfu_process_resident_memory_bytes", 1e6)?;
        Ok(())
    }
    .await;
    result.map_err(|e| server.annotate(e))
}
