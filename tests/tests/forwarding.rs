//! Issue #2 end-to-end scenarios: the real server binary with webrtc-rs clients on 127.0.0.1.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use sfu_tests::client::ReceivedPacket;
use sfu_tests::{
    MediaKind, PublishedTrack, ServerOptions, TestClient, TestServer, compare_forwarded, wait_until,
};

const T: Duration = Duration::from_secs(20);

async fn with_log<F: std::future::Future<Output = Result<()>>>(s: &TestServer, f: F) -> Result<()> {
    f.await.map_err(|e| s.annotate(e))
}

/// Share of the publisher's packets (of `track`) that arrived, over the window from the first
/// to the last packet received.
fn delivery_ratio(received: &[ReceivedPacket], track: &PublishedTrack) -> f64 {
    let tags: Vec<u32> = track.streams.iter().map(|s| s.tag).collect();
    let counters: BTreeSet<u64> = received
        .iter()
        .filter_map(|p| p.tag())
        .filter(|t| tags.contains(&t.stream))
        .map(|t| t.counter)
        .collect();
    let (Some(first), Some(last)) = (counters.first(), counters.last()) else {
        return 0.0;
    };
    counters.len() as f64 / (last - first + 1) as f64
}

/// Per-layer packet counters the server reports for one published track (admin listing).
async fn server_layer_counts(
    server: &TestServer,
    room: &str,
    track_id: &str,
) -> Result<Vec<(String, u64)>> {
    let admin = server.admin_token()?;
    let (status, body) = server
        .get(&format!("/v1/rooms/{room}/participants"), Some(&admin))
        .await?;
    ensure!(status == 200, "participants: {status} {body}");
    let track = body["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["tracks"].as_array().cloned().unwrap_or_default())
        .find(|t| t["id"] == track_id)
        .with_context(|| format!("track {track_id} not listed: {body}"))?;
    Ok(track["received"]
        .as_array()
        .context("no receive counters")?
        .iter()
        .map(|l| {
            (
                l["rid"].as_str().unwrap_or("").to_owned(),
                l["packets"].as_u64().unwrap_or(0),
            )
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_publisher_two_subscribers_get_everything_byte_identical() -> Result<()> {
    let server = TestServer::start(ServerOptions::exact_forwarding()).await?;
    with_log(&server, async {
        let a = TestClient::join(&server, "fanout", "a").await?;
        let b = TestClient::join(&server, "fanout", "b").await?;
        let c = TestClient::join(&server, "fanout", "c").await?;
        let audio = a.publish_audio().await?;
        let video = a.publish_video(false).await?;
        for sub in [&b, &c] {
            let vt = sub
                .wait_for_packets_where(
                    |t| t.stream_id == a.participant_id() && t.kind == MediaKind::Video,
                    30,
                    T,
                )
                .await?;
            let at = sub
                .wait_for_packets_where(
                    |t| t.stream_id == a.participant_id() && t.kind == MediaKind::Audio,
                    50,
                    T,
                )
                .await?;
            // Let media flow for a while, then judge the whole window.
            tokio::time::sleep(Duration::from_secs(3)).await;
            for (track, sent, label) in [(&at, &audio, "audio"), (&vt, &video, "video")] {
                let packets = track.packets();
                let report = compare_forwarded(&packets, sent, false);
                ensure!(
                    report.all_match(),
                    "{label} to {}: {report:?}",
                    sub.identity()
                );
                ensure!(report.duplicate_tags == 0, "{label}: duplicates {report:?}");
                let ratio = delivery_ratio(&packets, sent);
                ensure!(
                    ratio >= 0.95,
                    "{label} to {}: only {:.1}% delivered",
                    sub.identity(),
                    ratio * 100.0
                );
                let (gaps, dups) = track.seq_continuity();
                ensure!(
                    (gaps, dups) == (0, 0),
                    "{label} to {}: {gaps} gaps, {dups} duplicates",
                    sub.identity()
                );
                ensure!(
                    track.track_id.starts_with("TR_"),
                    "msid track id {}",
                    track.track_id
                );
            }
            ensure!(
                sub.first_wire_packet_is_keyframe(&vt) == Some(true),
                "first video packet is not a keyframe"
            );
        }

        // A data channel message reaches both, wrapped with the sender's id.
        a.send_data("hello everyone").await?;
        for sub in [&b, &c] {
            let got = sub
                .wait_for_data(|t| t.contains("hello everyone"), T)
                .await?;
            let v: Value = serde_json::from_str(&got)?;
            ensure!(
                v["from"] == a.participant_id() && v["payload"] == "hello everyone",
                "wrapped as {v}"
            );
        }
        ensure!(
            !a.received_data()
                .iter()
                .any(|t| t.contains("hello everyone")),
            "the sender must not get its own message back"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_subscriber_starts_on_a_keyframe_it_asked_for() -> Result<()> {
    let server = TestServer::start(ServerOptions::exact_forwarding()).await?;
    with_log(&server, async {
        let a = TestClient::join(&server, "late", "a").await?;
        let video = a.publish_video(false).await?;
        // A publishes for a while alone; its periodic keyframe is seconds apart.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let requests_before = video.keyframe_requests();
        let b = TestClient::join(&server, "late", "b").await?;
        let vt = b
            .wait_for_packets_where(
                |t| t.stream_id == a.participant_id() && t.kind == MediaKind::Video,
                10,
                T,
            )
            .await?;
        ensure!(
            b.first_wire_packet_is_keyframe(&vt) == Some(true),
            "B's first video packet must be a keyframe (application saw: {:?})",
            vt.first_packet_is_keyframe()
        );
        ensure!(
            video.keyframe_requests() > requests_before,
            "the subscription did not send a PLI to the publisher"
        );
        // The keyframe B started on came right after the request, not from A's own schedule.
        let first = vt.packets().first().cloned().context("no packet")?;
        let sent = video
            .sent_packet(first.tag().context("untagged")?)
            .context("not sent by A")?;
        let req = video.streams[0]
            .keyframe_requests()
            .last()
            .map(|r| r.at)
            .context("no request")?;
        ensure!(
            sent.sent_at >= req,
            "B started on a keyframe sent before the request"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_publisher_is_removed_everywhere_and_can_rejoin() -> Result<()> {
    let server = TestServer::start(ServerOptions::exact_forwarding()).await?;
    with_log(&server, async {
        let a = TestClient::join(&server, "leave", "a").await?;
        let b = TestClient::join(&server, "leave", "b").await?;
        let c = TestClient::join(&server, "leave", "c").await?;
        a.publish_audio().await?;
        a.publish_video(false).await?;
        for sub in [&b, &c] {
            sub.wait_for_packets_where(
                |t| t.stream_id == a.participant_id() && t.kind == MediaKind::Video,
                10,
                T,
            )
            .await?;
        }
        let a_id = a.participant_id().to_owned();
        let offers_before: Vec<usize> = [&b, &c]
            .iter()
            .map(|s| s.signal().messages_of_type("offer").len())
            .collect();
        a.leave().await?;
        for (i, sub) in [&b, &c].into_iter().enumerate() {
            sub.signal()
                .wait_for(
                    |m| m["type"] == "participant_left" && m["participant_id"] == a_id.as_str(),
                    T,
                )
                .await?;
            ensure!(
                wait_until(T, || sub
                    .signal()
                    .messages_of_type("track_unpublished")
                    .len()
                    >= 2)
                .await,
                "{} got {} track_unpublished",
                sub.identity(),
                sub.signal().messages_of_type("track_unpublished").len()
            );
            ensure!(
                wait_until(T, || sub.signal().messages_of_type("offer").len()
                    > offers_before[i])
                .await,
                "no renegotiation removed A's m-lines at {}",
                sub.identity()
            );
            // The renegotiation stops A's m-lines (port 0): the transceivers end at the client.
            ensure!(
                wait_until(T, || {
                    sub.signal()
                        .messages_of_type("offer")
                        .last()
                        .and_then(|m| m["sdp"].as_str().map(str::to_owned))
                        .is_some_and(|sdp| {
                            sdp.lines()
                                .filter(|l| {
                                    l.starts_with("m=audio 0 ") || l.starts_with("m=video 0 ")
                                })
                                .count()
                                >= 2
                        })
                })
                .await,
                "A's m-lines were not stopped at {}",
                sub.identity()
            );
        }
        let admin = server.admin_token()?;
        let (status, body) = server
            .get("/v1/rooms/leave/participants", Some(&admin))
            .await?;
        ensure!(status == 200);
        let identities: Vec<&str> = body["participants"]
            .as_array()
            .context("list")?
            .iter()
            .filter_map(|p| p["identity"].as_str())
            .collect();
        ensure!(!identities.contains(&"a"), "A still listed: {identities:?}");

        // Rejoining with the same identity works and media flows again.
        let a2 = TestClient::join(&server, "leave", "a").await?;
        ensure!(
            a2.participant_id() != a_id,
            "a rejoin gets a new participant id"
        );
        a2.publish_video(false).await?;
        b.wait_for_packets_where(
            |t| t.stream_id == a2.participant_id() && t.kind == MediaKind::Video,
            10,
            T,
        )
        .await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulcast_publisher_keeps_every_layer_through_renegotiations() -> Result<()> {
    let server = TestServer::start(ServerOptions::exact_forwarding()).await?;
    with_log(&server, async {
        let a = TestClient::join(&server, "renego", "a").await?;
        let video = a.publish_video(true).await?;
        let info = a.wait_own_track(&video, T).await?;
        let track_id = info.id.clone();
        // All three layers arrive at the server.
        ensure!(
            wait_until_counts(&server, &track_id, |c| c.len() == 3
                && c.iter().all(|(_, n)| *n > 20))
            .await,
            "layers before: {:?}",
            server_layer_counts(&server, "renego", &track_id).await?
        );
        let mut offers_seen = a.signal().messages_of_type("offer").len();
        let mut joiners = Vec::new();
        for name in ["b", "c"] {
            let before = server_layer_counts(&server, "renego", &track_id).await?;
            let joiner = TestClient::join(&server, "renego", name).await?;
            joiner.publish_video(false).await?;
            // A receives the newcomer's track: one more server offer, answered.
            a.wait_for_packets_where(
                |t| t.stream_id == joiner.participant_id() && t.kind == MediaKind::Video,
                10,
                T,
            )
            .await
            .with_context(|| format!("A never received {name}'s video"))?;
            let offers_now = a.signal().messages_of_type("offer").len();
            ensure!(
                offers_now > offers_seen,
                "A was not renegotiated for {name}"
            );
            offers_seen = offers_now;
            // Every layer keeps arriving after the renegotiation.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let after = server_layer_counts(&server, "renego", &track_id).await?;
            for ((rid, n0), (_, n1)) in before.iter().zip(&after) {
                ensure!(
                    n1 > &(n0 + 20),
                    "layer {rid} stalled after renegotiating for {name}: {n0} -> {n1}"
                );
            }
            joiners.push(joiner);
        }
        ensure!(offers_seen >= 2, "A saw {offers_seen} server offers");
        Ok(())
    })
    .await
}

async fn wait_until_counts(
    server: &TestServer,
    track_id: &str,
    ok: impl Fn(&[(String, u64)]) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + T;
    while tokio::time::Instant::now() < deadline {
        if let Ok(c) = server_layer_counts(server, "renego", track_id).await
            && ok(&c)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rooms_never_see_each_other() -> Result<()> {
    let server = TestServer::start(ServerOptions::exact_forwarding()).await?;
    with_log(&server, async {
        let a1 = TestClient::join(&server, "room-one", "a").await?;
        let b1 = TestClient::join(&server, "room-one", "b").await?;
        let a2 = TestClient::join(&server, "room-two", "a").await?;
        let b2 = TestClient::join(&server, "room-two", "b").await?;
        let v1 = a1.publish_video(false).await?;
        let v2 = a2.publish_video(false).await?;
        let t1 = b1
            .wait_for_packets_where(|t| t.kind == MediaKind::Video, 30, T)
            .await?;
        let t2 = b2
            .wait_for_packets_where(|t| t.kind == MediaKind::Video, 30, T)
            .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        ensure!(t1.stream_id == a1.participant_id() && t2.stream_id == a2.participant_id());
        let r1 = compare_forwarded(&t1.packets(), &v1, false);
        let r2 = compare_forwarded(&t2.packets(), &v2, false);
        ensure!(
            r1.all_match() && r2.all_match(),
            "cross-room packets: {r1:?} {r2:?}"
        );
        ensure!(
            b1.remote_tracks().len() == 1 && b2.remote_tracks().len() == 1,
            "extra tracks across rooms"
        );
        ensure!(
            b1.signal()
                .messages_of_type("participant_joined")
                .iter()
                .all(|m| m["participant"]["id"] != a2.participant_id()),
            "room one heard of room two's participant"
        );
        a1.send_data("only room one").await?;
        b1.wait_for_data(|t| t.contains("only room one"), T).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        ensure!(
            !b2.received_data()
                .iter()
                .any(|t| t.contains("only room one")),
            "data crossed rooms"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_uplink_loss_is_repaired_by_nacks_before_forwarding() -> Result<()> {
    use sfu_tests::{ClientOptions, LossyRelay, RelayOptions};
    let server = TestServer::start(ServerOptions::exact_forwarding()).await?;
    with_log(&server, async {
        let relay = LossyRelay::start(server.udp_addr(), RelayOptions::default()).await?;
        let a =
            TestClient::join_via_relay(&server, "uplink", "a", &relay, ClientOptions::default())
                .await?;
        let b = TestClient::join(&server, "uplink", "b").await?;
        let video = a.publish_video(false).await?;
        let vt = b
            .wait_for_packets_where(
                |t| t.stream_id == a.participant_id() && t.kind == MediaKind::Video,
                30,
                T,
            )
            .await?;
        // 5% of the publisher's packets never reach the server.
        relay.set_loss(0.05, 0.0);
        tokio::time::sleep(Duration::from_secs(4)).await;
        relay.set_loss(0.0, 0.0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stats = relay.stats();
        let nacks_to_publisher: u64 = video
            .streams
            .iter()
            .map(|s| s.feedback().nack_packets)
            .sum();
        ensure!(stats.up_dropped > 0, "relay dropped nothing: {stats:?}");
        ensure!(
            nacks_to_publisher > 0,
            "the server never NACKed the publisher"
        );
        // Every loss is NACKed and retransmitted; a retransmission can itself be lost (5%
        // again) and a few retries can all fail, so judge the delivered share, not perfection.
        let (gaps, dups) = vt.seq_continuity();
        let ratio = delivery_ratio(&vt.packets(), &video);
        ensure!(
            ratio >= 0.995,
            "{:.2}% delivered: {gaps} of {} losses reached the subscriber",
            ratio * 100.0,
            stats.up_dropped
        );
        ensure!(dups == 0, "{dups} duplicates");
        let r = compare_forwarded(&vt.packets(), &video, false);
        ensure!(r.all_match(), "{r:?}");
        Ok(())
    })
    .await
}
