//! Rooms are created on first join (when allowed) and closed once empty for `empty_timeout_s`.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::json;
use sfu_tests::{ServerOptions, TestClient, TestServer, wait_until_async};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_appear_on_join_and_close_after_the_empty_timeout() -> Result<()> {
    let server =
        TestServer::start(ServerOptions::default().env("SFU_ROOMS__EMPTY_TIMEOUT_S", "1")).await?;
    let admin = server.admin_token()?;
    let a = TestClient::join(&server, "auto", "a").await?;
    let (status, room) = server.get("/v1/rooms/auto", Some(&admin)).await?;
    ensure!(
        status == 200 && room["num_participants"] == 1,
        "{status} {room}"
    );

    // While someone is inside, the room stays however long it takes.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, _) = server.get("/v1/rooms/auto", Some(&admin)).await?;
    ensure!(status == 200, "room closed while occupied");

    a.leave().await?;
    let closed = wait_until_async(Duration::from_secs(10), || async {
        matches!(
            server.get("/v1/rooms/auto", Some(&admin)).await,
            Ok((404, _))
        )
    })
    .await;
    ensure!(closed, "the empty room was not closed after its timeout");

    // A room created through the API with its own timeout closes unused, too.
    let (status, _) = server
        .post_json(
            "/v1/rooms",
            Some(&admin),
            &json!({"name": "made", "empty_timeout_s": 1}),
        )
        .await?;
    ensure!(status == 201);
    let closed = wait_until_async(Duration::from_secs(10), || async {
        matches!(
            server.get("/v1/rooms/made", Some(&admin)).await,
            Ok((404, _))
        )
    })
    .await;
    ensure!(closed, "an unused room was not closed after its timeout");
    Ok(())
}
