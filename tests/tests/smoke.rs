//! Smoke test of the helpers against the real server binary: start, tokens, join, publish,
//! subscribe, byte-identical forwarding, PLI relay, data channel, leave.

use anyhow::{Context, Result};
use sfu_tests::{MediaKind, TestClient, TestServer, compare_forwarded, wait_until};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// Runs `f` and, on failure, appends the server log tail.
async fn with_log<F: std::future::Future<Output = Result<()>>>(s: &TestServer, f: F) -> Result<()> {
    f.await.map_err(|e| s.annotate(e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_starts_and_issues_tokens() -> Result<()> {
    let server = TestServer::start_default().await?;
    let (status, _) = server.get("/healthz", None).await?;
    assert_eq!(status, 200);
    let t = server.dev_token("smoke", "alice").await?;
    assert_eq!(t.matches('.').count(), 2, "jwt: {t}");
    let admin = server.admin_token().context("admin token")?;
    let (status, body) = server.get("/v1/rooms", Some(&admin)).await?;
    assert_eq!(status, 200, "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_subscribe() -> Result<()> {
    let server = TestServer::start_default().await?;
    with_log(&server, async {
        let alice = TestClient::join(&server, "smoke", "alice").await?;
        let bob = TestClient::join(&server, "smoke", "bob").await?;
        let audio = alice.publish_audio().await?;
        let video = alice.publish_video(false).await?;

        let vt = bob
            .wait_for_packets_where(
                |t| t.stream_id == alice.participant_id() && t.kind == MediaKind::Video,
                60,
                T,
            )
            .await?;
        let at = bob
            .wait_for_packets_where(
                |t| t.stream_id == alice.participant_id() && t.kind == MediaKind::Audio,
                50,
                T,
            )
            .await?;
        assert_eq!(bob.first_wire_packet_is_keyframe(&vt), Some(true));
        let r = compare_forwarded(&vt.packets(), &video, true);
        assert!(r.all_match(), "video {r:?}");
        let r = compare_forwarded(&at.packets(), &audio, false);
        assert!(r.all_match(), "audio {r:?}");
        let info = bob
            .wait_track_published_by(alice.participant_id(), MediaKind::Video, T)
            .await?;
        assert_eq!(info.id, vt.track_id);

        // After a short call, /metrics shows it: one room, two people, two tracks, packets
        // received and forwarded, the request that published nothing else.
        let text = reqwest::get(format!("{}/metrics", server.http_url()))
            .await?
            .text()
            .await?;
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or(-1.0)
        };
        assert_eq!(value("sfu_rooms"), 1.0, "{text}");
        assert_eq!(value("sfu_participants"), 2.0, "{text}");
        assert_eq!(value("sfu_published_tracks"), 2.0, "{text}");
        assert_eq!(value("sfu_subscribed_tracks"), 2.0, "{text}");
        assert!(value("sfu_rtp_in_total") >= 110.0, "{text}");
        assert!(value("sfu_rtp_forwarded_total") >= 110.0, "{text}");
        assert!(value("sfu_process_resident_memory_bytes") > 1e6, "{text}");

        // A subscriber PLI reaches the publisher. The server ignores a PLI that crosses a
        // keyframe it just sent (within 300 ms; the publisher sends one every 3 s), so ask a
        // few times, 400 ms apart, as a decoder would.
        let before = video.keyframe_requests();
        let mut relayed = false;
        for _ in 0..5 {
            vt.send_pli().await?;
            if wait_until(Duration::from_millis(400), || {
                video.keyframe_requests() > before
            })
            .await
            {
                relayed = true;
                break;
            }
        }
        assert!(relayed, "PLI not relayed to the publisher");
        let text = reqwest::get(format!("{}/metrics", server.http_url()))
            .await?
            .text()
            .await?;
        let pli = |direction: &str| {
            let prefix =
                format!("sfu_keyframe_requests_total{{direction=\"{direction}\",kind=\"pli\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix)?.parse::<f64>().ok())
                .unwrap_or(-1.0)
        };
        assert!(pli("in") >= 1.0 && pli("out") >= 1.0, "{text}");

        // Data is relayed, wrapped with the sender's participant id.
        alice.send_data("hi bob").await?;
        let got = bob.wait_for_data(|t| t.contains("hi bob"), T).await?;
        let v: serde_json::Value = serde_json::from_str(&got)?;
        assert_eq!(v["from"], alice.participant_id());
        assert_eq!(v["payload"], "hi bob");

        let pid = alice.participant_id().to_owned();
        alice.leave().await?;
        bob.signal()
            .wait_for(
                |m| m["type"] == "participant_left" && m["participant_id"] == pid,
                T,
            )
            .await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulcast_layers_and_switch() -> Result<()> {
    let server = TestServer::start_default().await?;
    with_log(&server, async {
        let alice = TestClient::join(&server, "sim", "alice").await?;
        let bob = TestClient::join(&server, "sim", "bob").await?;
        let video = alice.publish_video(true).await?;
        let vt = bob
            .wait_for_packets_where(|t| t.kind == MediaKind::Video, 90, T)
            .await?;
        assert_eq!(bob.first_wire_packet_is_keyframe(&vt), Some(true));
        let r = compare_forwarded(&vt.packets(), &video, true);
        assert!(r.all_match(), "{r:?}");
        eprintln!("layers received by default: {:?}", r.per_layer);
        let (gaps, dups) = vt.seq_continuity();
        assert_eq!((gaps, dups), (0, 0));

        // Ask for the lowest layer and check that q-tagged packets arrive.
        bob.set_subscription(&vt.track_id, serde_json::json!({"layer": "q"}))?;
        let q = video.stream(Some("q")).unwrap();
        assert!(
            wait_until(T, || vt
                .packets()
                .iter()
                .rev()
                .take(10)
                .all(|p| p.tag().is_some_and(|t| t.stream == q.tag)))
            .await,
            "never switched to q; per layer: {:?}",
            compare_forwarded(&vt.packets(), &video, true).per_layer
        );
        let r = compare_forwarded(&vt.packets(), &video, true);
        assert!(r.all_match(), "{r:?}");
        let (gaps, dups) = vt.seq_continuity();
        assert_eq!(
            (gaps, dups),
            (0, 0),
            "the SFU rewrites sequence numbers across switches"
        );
        eprintln!("negotiation log alice: {:?}", alice.negotiation_log());
        eprintln!("negotiation log bob: {:?}", bob.negotiation_log());
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_relay_nack_recovery() -> Result<()> {
    use sfu_tests::{ClientOptions, LossyRelay, RelayOptions};
    let server = TestServer::start_default().await?;
    with_log(&server, async {
        let relay = LossyRelay::start(server.udp_addr(), RelayOptions::default()).await?;
        let alice = TestClient::join(&server, "loss", "alice").await?;
        let bob =
            TestClient::join_via_relay(&server, "loss", "bob", &relay, ClientOptions::default())
                .await?;
        let video = alice.publish_video(false).await?;
        let vt = bob
            .wait_for_packets_where(|t| t.kind == MediaKind::Video, 30, T)
            .await?;
        relay.set_loss(0.0, 0.05);
        tokio::time::sleep(Duration::from_secs(4)).await;
        relay.set_loss(0.0, 0.0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stats = relay.stats();
        let (gaps, dups) = vt.seq_continuity();
        let sent = bob.feedback().sent();
        eprintln!(
            "relay {stats:?}; gaps {gaps} dups {dups}; bob sent {sent:?}; wire {:?}",
            bob.feedback().wire_rtp()
        );
        assert!(stats.down_dropped > 0);
        assert!(sent.nack_packets > 0, "no NACK sent");
        assert_eq!(gaps, 0, "losses not recovered");
        assert!(bob.feedback().rtx_recovered() > 0, "no RTX received");
        let r = compare_forwarded(&vt.packets(), &video, true);
        assert!(r.all_match(), "{r:?}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits() -> Result<()> {
    use sfu_tests::ServerOptions;
    let mut server =
        TestServer::start(ServerOptions::default().env("SFU_SHUTDOWN__DRAIN_PERIOD_S", "1"))
            .await?;
    let alice = TestClient::join(&server, "drain", "alice").await?;
    server.send_sigterm()?;
    let leave = alice.signal().wait_for_type("leave", T).await;
    let status = server.wait_exit(Duration::from_secs(15)).await;
    eprintln!("leave: {leave:?}; exit: {status:?}");
    assert!(
        status.is_some(),
        "server still running; log:\n{}",
        server.log_tail(30)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpublish_republish_and_rejoin() -> Result<()> {
    let server = TestServer::start_default().await?;
    with_log(&server, async {
        let alice = TestClient::join(&server, "re", "alice").await?;
        let bob = TestClient::join(&server, "re", "bob").await?;
        let v1 = alice.publish_video(false).await?;
        let t1 = bob
            .wait_for_packets_where(|t| t.kind == MediaKind::Video, 30, T)
            .await?;
        alice.unpublish(&v1).await?;
        bob.signal()
            .wait_for(
                |m| m["type"] == "track_unpublished" && m["track_id"] == t1.track_id.as_str(),
                T,
            )
            .await?;
        let n = t1.packet_count();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            t1.packet_count() <= n + 5,
            "packets keep flowing after unpublish"
        );

        let v2 = alice.publish_video(false).await?;
        let t2 = bob
            .wait_for_packets_where(
                |t| t.kind == MediaKind::Video && t.track_id != t1.track_id,
                30,
                T,
            )
            .await?;
        assert_eq!(bob.first_wire_packet_is_keyframe(&t2), Some(true));
        assert!(compare_forwarded(&t2.packets(), &v2, true).all_match());

        // Rejoin with the same identity after leaving.
        alice.leave().await?;
        let alice2 = TestClient::join(&server, "re", "alice").await?;
        let a2 = alice2.publish_audio().await?;
        let t3 = bob
            .wait_for_packets_where(
                |t| t.kind == MediaKind::Audio && t.stream_id == alice2.participant_id(),
                50,
                T,
            )
            .await?;
        assert!(compare_forwarded(&t3.packets(), &a2, false).all_match());
        eprintln!("bob negotiation log: {:?}", bob.negotiation_log());
        eprintln!("bob tracks: {:?}", bob.remote_track_summary());
        Ok(())
    })
    .await
}
