//! Bad input of every kind gets its clear error or is dropped and counted, and the other
//! participants' media keeps flowing throughout.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use sfu_tests::{MediaKind, ServerOptions, SignalClient, TestClient, TestServer};

const T: Duration = Duration::from_secs(20);

async fn with_log<F: std::future::Future<Output = Result<()>>>(s: &TestServer, f: F) -> Result<()> {
    f.await.map_err(|e| s.annotate(e))
}

/// A dev-key token whose `exp` is an hour in the past.
fn expired_token(room: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": "devkey", "sub": "late", "exp": now - 3600, "video": {"room": room, "room_join": true}});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("devkey".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"devsecret"),
    )
    .unwrap()
}

async fn stats(server: &TestServer) -> Result<Value> {
    let admin = server.admin_token()?;
    let (status, body) = server.get("/v1/stats", Some(&admin)).await?;
    ensure!(status == 200, "stats: {status} {body}");
    Ok(body)
}

async fn expect_error(
    c: &SignalClient,
    send: impl FnOnce(&SignalClient) -> Result<()>,
    code: &str,
) -> Result<()> {
    let cursor = c.len();
    send(c)?;
    let got = c.wait_for_from(cursor, |m| m["type"] == "error", T).await?;
    ensure!(got["code"] == code, "expected error {code}, got {got}");
    ensure!(
        got["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error without message: {got}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_media_keeps_flowing() -> Result<()> {
    let server =
        TestServer::start(ServerOptions::exact_forwarding().env("SFU_ROOMS__AUTO_CREATE", "false"))
            .await?;
    with_log(&server, async {
        let admin = server.admin_token()?;
        let (status, _) = server
            .post_json("/v1/rooms", Some(&admin), &json!({"name": "bad"}))
            .await?;
        ensure!(status == 201);
        let a = TestClient::join(&server, "bad", "a").await?;
        let b = TestClient::join(&server, "bad", "b").await?;
        a.publish_audio().await?;
        a.publish_video(false).await?;
        let video = b
            .wait_for_packets_where(
                |t| t.stream_id == a.participant_id() && t.kind == MediaKind::Video,
                30,
                T,
            )
            .await?;
        let audio = b
            .wait_for_packets_where(
                |t| t.stream_id == a.participant_id() && t.kind == MediaKind::Audio,
                30,
                T,
            )
            .await?;
        let started = Instant::now();
        let before = stats(&server).await?;

        // Signalling garbage from a third participant in the same room.
        let token = server.dev_token("bad", "mallory").await?;
        let m = SignalClient::connect(&server.ws_url(&token)).await?;
        m.wait_for_type("joined", T).await?;
        expect_error(&m, |c| c.send_raw("{not json"), "invalid_json").await?;
        expect_error(&m, |c| c.send(&json!({"type": "teleport"})), "unknown_type").await?;
        expect_error(&m, |c| c.send(&json!({"type": "offer"})), "invalid_message").await?;
        expect_error(
            &m,
            |c| c.send(&json!({"type": "offer", "sdp": "v=0\r\nthis is no sdp"})),
            "invalid_sdp",
        )
        .await?;
        expect_error(
            &m,
            |c| c.send(&json!({"type": "answer", "sdp": "v=0\r\n"})),
            "invalid_sdp",
        )
        .await?;
        expect_error(
            &m,
            |c| c.send(&json!({"type": "subscribe", "track_id": "TR_nope", "subscribe": true})),
            "track_not_found",
        )
        .await?;
        expect_error(
            &m,
            |c| c.send(&json!({"type": "mute", "track_id": video.track_id, "muted": true})),
            "permission_denied",
        )
        .await?;
        expect_error(
            &m,
            |c| {
                c.send(
                    &json!({"type": "candidate", "candidate": {"candidate": "candidate:garbage"}}),
                )
            },
            "invalid_candidate",
        )
        .await?;

        // An offer sent before `joined` arrives is only handled after the join: the first
        // message is `joined`, then the offer's outcome.
        let early_token = server.dev_token("bad", "early").await?;
        let early = SignalClient::connect(&server.ws_url(&early_token)).await?;
        early.send(&json!({"type": "offer", "sdp": "garbage"}))?;
        early.wait_for_type("error", T).await?;
        let msgs = early.messages();
        ensure!(
            msgs.first().is_some_and(|m| m["type"] == "joined"),
            "first message: {:?}",
            msgs.first()
        );
        ensure!(
            msgs.iter()
                .any(|m| m["type"] == "error" && m["code"] == "invalid_sdp"),
            "{msgs:?}"
        );
        early.close();

        // Bad tokens and an unknown room never get a session.
        for (label, url) in [
            ("no token", format!("ws://{}/v1/rtc", server.http_addr())),
            ("garbage token", server.ws_url("abc.def.ghi")),
            ("expired token", server.ws_url(&expired_token("bad"))),
        ] {
            let refused = SignalClient::connect_raw(&url).await;
            match refused {
                Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                    ensure!(resp.status() == 401, "{label}: {}", resp.status());
                }
                Err(e) => anyhow::bail!("{label}: unexpected error {e}"),
                Ok(_) => anyhow::bail!("{label}: accepted"),
            }
        }
        let unknown =
            SignalClient::connect(&server.ws_url(&server.dev_token("no-such-room", "x").await?))
                .await?;
        let err = unknown.wait_for_type("error", T).await?;
        ensure!(err["code"] == "room_not_found", "{err}");
        unknown.wait_closed(T).await?;

        // Garbage and truncated datagrams on the media port are dropped and counted.
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let junk: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff; 3],
            b"hello, media port".to_vec(),
            vec![0x80, 0x60, 0x00],                   // truncated RTP header
            vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12], // truncated STUN binding request
            vec![0x16, 0xfe, 0xfd, 0x00],             // truncated DTLS record
            (0..1200).map(|i| (i * 7) as u8).collect(),
        ];
        for _ in 0..20 {
            for j in &junk {
                udp.send_to(j, server.udp_addr()).await?;
            }
        }

        // A 10 MB WebSocket frame ends that socket only.
        let big =
            SignalClient::connect(&server.ws_url(&server.dev_token("bad", "big").await?)).await?;
        big.wait_for_type("joined", T).await?;
        big.send_raw(&"x".repeat(10 * 1024 * 1024))?;
        big.wait_closed(T).await?;

        // Media from A kept reaching B during all of it, continuous and complete.
        let n_video = video.packets_since(started).len();
        let n_audio = audio.packets_since(started).len();
        tokio::time::sleep(Duration::from_secs(2)).await;
        ensure!(
            video.packets_since(started).len() > n_video + 30,
            "video stopped flowing"
        );
        ensure!(
            audio.packets_since(started).len() > n_audio + 50,
            "audio stopped flowing"
        );
        let (gaps, dups) = video.seq_continuity();
        ensure!((gaps, dups) == (0, 0), "video {gaps} gaps {dups} dups");
        let (gaps, dups) = audio.seq_continuity();
        ensure!((gaps, dups) == (0, 0), "audio {gaps} gaps {dups} dups");

        let after = stats(&server).await?;
        let dropped = |s: &Value| {
            s["datagrams_malformed"].as_u64().unwrap_or(0)
                + s["datagrams_unrouted"].as_u64().unwrap_or(0)
        };
        ensure!(
            dropped(&after) >= dropped(&before) + 20 * (junk.len() as u64 - 1),
            "junk not counted: before {before} after {after}"
        );
        // The session that sent garbage messages is still alive and usable.
        ensure!(
            m.closed().is_none(),
            "garbage messages must not end the session"
        );
        Ok(())
    })
    .await
}
