//! Per-subscriber bandwidth estimation end to end: a subscriber behind a userspace relay that
//! limits its downlink gets a lower simulcast layer while the limit holds, and the top layer
//! again once the limit is lifted (the server probes so its estimate can grow back).
//!
//! The publisher's synthetic layers send about 60 kbit/s (q), 290 kbit/s (h) and 720 kbit/s (f).

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use sfu_tests::{
    ClientOptions, LinkOptions, LossyRelay, MediaKind, RelayOptions, ServerOptions, TestClient,
    TestServer,
};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

/// The `(layer, paused)` of a `subscription` message for `track`, if `m` is one.
fn subscription_of(m: &Value, track: &str) -> Option<(Option<String>, bool)> {
    if m["type"] != "subscription" || m["track_id"] != track {
        return None;
    }
    Some((
        m["layer"].as_str().map(str::to_owned),
        m["paused"].as_bool().unwrap_or(false),
    ))
}

/// The subscriber's admin view: its estimate and its subscription to `track`.
async fn admin_view(server: &TestServer, room: &str, identity: &str, track: &str) -> String {
    let Ok(token) = server.admin_token_for(room) else {
        return "no admin token".into();
    };
    let Ok((_, body)) = server
        .get(&format!("/v1/rooms/{room}/participants"), Some(&token))
        .await
    else {
        return "admin listing failed".into();
    };
    let p = body["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["identity"] == identity))
        .cloned()
        .unwrap_or_default();
    let sub = p["subscriptions"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["track_id"] == track))
        .cloned()
        .unwrap_or_default();
    format!("bandwidth {} subscription {}", p["bandwidth"], sub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_downlink_gets_a_lower_layer_and_the_top_one_after_the_limit_lifts() -> Result<()>
{
    let server =
        TestServer::start(ServerOptions::default().env("SFU_MEDIA__BANDWIDTH_ESTIMATION", "true"))
            .await?;
    let room = "bwe";
    let publisher = TestClient::join(&server, room, "pub").await?;
    let video = publisher.publish_video(true).await?;
    ensure!(video.streams.len() == 3, "three layers published");

    // 250 kbit/s down: q (60 kbit/s) fits, h (290 kbit/s) does not.
    let relay = LossyRelay::start_with_link(
        server.udp_addr(),
        RelayOptions::default(),
        LinkOptions::down(250_000),
    )
    .await?;
    let viewer =
        TestClient::join_via_relay(&server, room, "viewer", &relay, ClientOptions::default())
            .await?;
    let info = viewer
        .wait_track_published_by(publisher.participant_id(), MediaKind::Video, T)
        .await?;
    let track = info.id.clone();
    let signal = viewer.signal();

    // Under the limit the server settles on q: wait until the last report is q, playing.
    let limited = Instant::now();
    let mut last = None;
    while limited.elapsed() < Duration::from_secs(60) {
        last = signal
            .messages()
            .iter()
            .rev()
            .find_map(|m| subscription_of(m, &track));
        if last == Some((Some("q".into()), false)) && limited.elapsed() > Duration::from_secs(8) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "limited to 250 kbit/s: after {:?} the last report is {last:?}; {}",
        limited.elapsed(),
        admin_view(&server, room, "viewer", &track).await
    );
    ensure!(
        last == Some((Some("q".into()), false)),
        "a 250 kbit/s downlink should get layer q, playing; last report {last:?}; {}",
        admin_view(&server, room, "viewer", &track).await
    );
    let stats = relay.stats();
    eprintln!("relay so far: {stats:?}");

    // The link recovers: the estimate grows back (probing) and the top layer returns.
    let from = signal.len();
    relay.set_rate_limit(None, None);
    let lifted = Instant::now();
    let m = signal
        .wait_for_from(
            from,
            |m| subscription_of(m, &track) == Some((Some("f".into()), false)),
            Duration::from_secs(60),
        )
        .await
        .context("no return to f after the limit lifted")?;
    eprintln!(
        "unlimited: back to f {:?} after the lift ({m}); {}",
        lifted.elapsed(),
        admin_view(&server, room, "viewer", &track).await
    );
    drop(video);
    Ok(())
}
