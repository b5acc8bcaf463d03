//! Dynacast end to end: the publisher of a simulcast track is told (`publisher_layers`) which
//! encodings anyone needs, after a short delay when the need shrinks and at once when it grows.

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use sfu_tests::{MediaKind, TestClient, TestServer};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);

/// The `active` list of a `publisher_layers` message for `track`, if `m` is one.
fn active_of(m: &Value, track: &str) -> Option<Vec<String>> {
    if m["type"] != "publisher_layers" || m["track_id"] != track {
        return None;
    }
    serde_json::from_value(m["active"].clone()).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unneeded_layers_are_paused_and_resumed_when_asked() -> Result<()> {
    let server = TestServer::start_default().await?;
    let publisher = TestClient::join(&server, "dynacast", "pub").await?;
    let video = publisher.publish_video(true).await?;
    let viewer = TestClient::join(&server, "dynacast", "viewer").await?;
    let info = viewer
        .wait_track_published_by(publisher.participant_id(), MediaKind::Video, T)
        .await?;
    let track = info.id.clone();
    ensure!(video.streams.len() == 3, "three layers published");

    // A thumbnail: only q is needed; the publisher hears it after the grace delay.
    let signal = publisher.signal();
    let from = signal.len();
    let asked = Instant::now();
    viewer.set_subscription(&track, json!({ "max_width": 320, "max_height": 180 }))?;
    let m = signal
        .wait_for_from(from, |m| active_of(m, &track).is_some(), T)
        .await?;
    let waited = asked.elapsed();
    assert_eq!(active_of(&m, &track).unwrap(), ["q"], "{m}");
    eprintln!("pause of h and f announced {waited:?} after the viewer shrank");
    assert!(
        waited >= Duration::from_secs(2),
        "paused only after a delay: {waited:?}"
    );

    // The viewer wants the full picture: all layers, promptly.
    let from = signal.len();
    let asked = Instant::now();
    viewer.set_subscription(&track, json!({ "layer": "f" }))?;
    let m = signal
        .wait_for_from(from, |m| active_of(m, &track).is_some(), T)
        .await?;
    eprintln!(
        "resume announced {:?} after the viewer asked",
        asked.elapsed()
    );
    assert_eq!(active_of(&m, &track).unwrap(), ["q", "h", "f"], "{m}");

    // Operators see the viewer's subscription with its layers.
    let admin = server.admin_token_for("dynacast")?;
    let (status, body) = server
        .get("/v1/rooms/dynacast/participants", Some(&admin))
        .await?;
    assert_eq!(status, 200, "{body}");
    let viewer_json = body["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["identity"] == "viewer"))
        .cloned()
        .unwrap_or_default();
    let sub = viewer_json["subscriptions"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["track_id"] == track.as_str()))
        .cloned()
        .unwrap_or_default();
    assert!(sub["packets_sent"].as_u64().is_some(), "{viewer_json}");
    assert!(sub["paused"].is_null(), "{sub}");

    // Paused by its only viewer: nothing is needed.
    let from = signal.len();
    viewer.set_subscription(&track, json!({ "paused": true }))?;
    let m = signal
        .wait_for_from(from, |m| active_of(m, &track).is_some(), T)
        .await?;
    assert_eq!(active_of(&m, &track).unwrap(), Vec::<String>::new(), "{m}");

    // A second viewer joins at full size: everything is asked for again.
    let from = signal.len();
    let _second = TestClient::join(&server, "dynacast", "second").await?;
    let m = signal
        .wait_for_from(from, |m| active_of(m, &track).is_some(), T)
        .await?;
    assert_eq!(active_of(&m, &track).unwrap(), ["q", "h", "f"], "{m}");
    Ok(())
}
