//! Issue #3 end-to-end: a webrtc-rs client publishing three RID layers through the real server.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::json;
use sfu_tests::{
    ClientOptions, LossyRelay, MediaKind, PublishedTrack, ReceivedPacket, RelayOptions,
    RemoteTrack, ServerOptions, TestClient, TestServer, compare_forwarded, wait_until,
};

const T: Duration = Duration::from_secs(20);

async fn with_log<F: std::future::Future<Output = Result<()>>>(s: &TestServer, f: F) -> Result<()> {
    f.await.map_err(|e| s.annotate(e))
}

/// The rid of the publisher layer each received packet came from.
fn layer_of(p: &ReceivedPacket, video: &PublishedTrack) -> Option<String> {
    let tag = p.tag()?;
    video
        .streams
        .iter()
        .find(|s| s.tag == tag.stream)
        .and_then(|s| s.rid.clone())
}

fn layers_received(track: &RemoteTrack, video: &PublishedTrack) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in track.packets() {
        *m.entry(layer_of(&p, video).unwrap_or_default())
            .or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscriber_gets_exactly_its_capped_layer_and_can_change_it() -> Result<()> {
    let server = TestServer::start(ServerOptions::exact_forwarding()).await?;
    with_log(&server, async {
        let publisher = TestClient::join(&server, "caps", "pub").await?;
        let video = publisher.publish_video(true).await?;
        let mut subs = Vec::new();
        for rid in ["q", "h", "f"] {
            let sub = TestClient::join(&server, "caps", &format!("sub-{rid}")).await?;
            let info = sub
                .wait_track_published_by(publisher.participant_id(), MediaKind::Video, T)
                .await?;
            sub.set_subscription(&info.id, json!({ "layer": rid }))?;
            subs.push((rid, sub, info.id));
        }
        // Judge only what arrives after the caps settled.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut tracks = Vec::new();
        for (rid, sub, track_id) in &subs {
            let track = sub
                .wait_for_packets_where(|t| &t.track_id == track_id, 30, T)
                .await?;
            let since = std::time::Instant::now();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let recent = track.packets_since(since);
            ensure!(recent.len() > 30, "{rid}: only {} packets", recent.len());
            let foreign: Vec<_> = recent
                .iter()
                .filter_map(|p| layer_of(p, &video))
                .filter(|l| l != rid)
                .collect();
            ensure!(
                foreign.is_empty(),
                "subscriber capped at {rid} got other layers: {:?}",
                layers_received(&track, &video)
            );
            let report = compare_forwarded(&track.packets(), &video, true);
            ensure!(report.all_match(), "{rid}: {report:?}");
            let (gaps, dups) = track.seq_continuity();
            ensure!(
                (gaps, dups) == (0, 0),
                "{rid}: {gaps} gaps {dups} dups across its switch to {rid}"
            );
            tracks.push(track);
        }
        // The subscriber on q raises its cap to f: the switch starts at a keyframe of f.
        let (_, sub_q, track_id) = &subs[0];
        let track = &tracks[0];
        let before = track.packet_count();
        sub_q.set_subscription(track_id, json!({ "layer": "f" }))?;
        ensure!(
            wait_until(T, || track.packets().iter().skip(before).any(|p| layer_of(
                p, &video
            )
            .as_deref()
                == Some("f")))
            .await,
            "never moved to f: {:?}",
            layers_received(track, &video)
        );
        let packets = track.packets();
        let first_f = packets
            .iter()
            .skip(before)
            .position(|p| layer_of(p, &video).as_deref() == Some("f"))
            .context("no f")?;
        ensure!(
            packets[before + first_f].is_vp8_keyframe(),
            "the switch to f did not start at a keyframe"
        );
        let after: Vec<_> = packets[before + first_f..]
            .iter()
            .filter_map(|p| layer_of(p, &video))
            .collect();
        ensure!(
            after.iter().all(|l| l == "f"),
            "q packets after the switch to f"
        );
        let (gaps, dups) = track.seq_continuity();
        ensure!(
            (gaps, dups) == (0, 0),
            "{gaps} gaps {dups} dups across the q->f switch"
        );
        // Every switch was announced with a `subscription` event.
        ensure!(
            wait_until(T, || sub_q
                .signal()
                .messages_of_type("subscription")
                .iter()
                .any(|m| m["layer"] == "f"))
            .await,
            "no subscription event for f"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_uplink_loss_is_repaired_for_every_subscriber() -> Result<()> {
    let server = TestServer::start(ServerOptions::exact_forwarding()).await?;
    with_log(&server, async {
        let relay = LossyRelay::start(
            server.udp_addr(),
            RelayOptions {
                seed: 7,
                ..RelayOptions::default()
            },
        )
        .await?;
        let publisher =
            TestClient::join_via_relay(&server, "lossy", "pub", &relay, ClientOptions::default())
                .await?;
        let video = publisher.publish_video(true).await?;
        let mut subs = Vec::new();
        for rid in ["q", "h", "f"] {
            let sub = TestClient::join(&server, "lossy", &format!("sub-{rid}")).await?;
            let info = sub
                .wait_track_published_by(publisher.participant_id(), MediaKind::Video, T)
                .await?;
            sub.set_subscription(&info.id, json!({ "layer": rid }))?;
            let track = sub
                .wait_for_packets_where(|t| t.track_id == info.id, 30, T)
                .await?;
            subs.push((rid, sub, track));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let start = std::time::Instant::now();
        relay.set_loss(0.05, 0.0);
        tokio::time::sleep(Duration::from_secs(6)).await;
        relay.set_loss(0.0, 0.0);
        // Let the last retransmissions land.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stats = relay.stats();
        ensure!(stats.up_dropped > 20, "too little loss injected: {stats:?}");
        let nacked: u64 = video
            .streams
            .iter()
            .map(|s| s.feedback().nack_packets)
            .sum();
        let nacked_seqs: usize = video
            .streams
            .iter()
            .map(|s| s.feedback().nacked_seqs.len())
            .sum();
        let mut ratios = Vec::new();
        for (rid, _, track) in &subs {
            let stream = video.stream(Some(rid)).context("layer")?;
            let got: std::collections::BTreeSet<u64> = track
                .packets_since(start)
                .iter()
                .filter_map(|p| p.tag())
                .filter(|t| t.stream == stream.tag)
                .map(|t| t.counter)
                .collect();
            let (Some(first), Some(last)) = (got.first(), got.last()) else {
                anyhow::bail!("{rid}: nothing")
            };
            let ratio = got.len() as f64 / (last - first + 1) as f64;
            let f = stream.feedback();
            ratios.push((rid, ratio, f.nack_packets, f.nacked_seqs.len()));
        }
        eprintln!(
            "received ratio, NACK packets, NACKed seqs per layer: {ratios:?}; relay {stats:?}"
        );
        for (rid, ratio, _, _) in &ratios {
            ensure!(
                *ratio >= 0.995,
                "{rid}: {:.2}% received under 5% uplink loss ({ratios:?})",
                ratio * 100.0
            );
        }
        // Bounded retransmission: NACKed sequence numbers stay within a small multiple of the
        // packets actually lost (the server bounds NACKs per packet).
        ensure!(nacked > 0, "no NACKs reached the publisher");
        ensure!(
            (nacked_seqs as u64) <= stats.up_dropped * 6,
            "{nacked_seqs} sequence numbers NACKed for {} losses: retransmission is not bounded",
            stats.up_dropped
        );
        Ok(())
    })
    .await
}
