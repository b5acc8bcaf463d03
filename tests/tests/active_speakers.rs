//! Active speakers: audio levels (RFC 6464) read by the server, the louder speaker reported first.

use std::time::Duration;

use anyhow::{Result, ensure};
use sfu_tests::{TestClient, TestServer};

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_louder_publisher_is_reported_first() -> Result<()> {
    let server = TestServer::start_default().await?;
    let result = async {
        let loud = TestClient::join(&server, "talk", "loud").await?;
        let soft = TestClient::join(&server, "talk", "soft").await?;
        let listener = TestClient::join(&server, "talk", "listener").await?;
        let a = loud.publish_audio().await?;
        let b = soft.publish_audio().await?;
        a.set_audio_level(20); // -20 dBov
        b.set_audio_level(45); // -45 dBov
        let (loud_id, soft_id) = (
            loud.participant_id().to_owned(),
            soft.participant_id().to_owned(),
        );
        let got = listener
            .signal()
            .wait_for(
                |m| {
                    m["type"] == "active_speakers"
                        && m["speakers"].as_array().is_some_and(|s| s.len() == 2)
                },
                T,
            )
            .await?;
        let speakers = got["speakers"].as_array().cloned().unwrap_or_default();
        ensure!(
            speakers[0]["participant_id"] == loud_id.as_str(),
            "louder not first: {got}"
        );
        ensure!(speakers[1]["participant_id"] == soft_id.as_str(), "{got}");
        let (l0, l1) = (
            speakers[0]["level"].as_f64().unwrap_or(0.0),
            speakers[1]["level"].as_f64().unwrap_or(0.0),
        );
        ensure!(l0 > l1 && l0 <= 1.0 && l1 > 0.0, "levels {l0} {l1}");

        // The quieter one gets loud and the louder one goes silent: the order follows.
        let cursor = listener.signal().len();
        b.set_audio_level(10);
        a.set_audio_level(127);
        let got = listener
            .signal()
            .wait_for_from(
                cursor,
                |m| {
                    m["type"] == "active_speakers"
                        && m["speakers"][0]["participant_id"] == soft_id.as_str()
                },
                T,
            )
            .await?;
        ensure!(
            got["speakers"].as_array().is_some_and(|s| !s.is_empty()),
            "{got}"
        );
        // Events come on change only, a few per second at most.
        let events = listener.signal().messages_of_type("active_speakers").len();
        ensure!(
            events < 20,
            "{events} active_speakers events in a few seconds"
        );
        Ok(())
    }
    .await;
    result.map_err(|e| server.annotate(e))
}
