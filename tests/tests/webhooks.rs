//! Webhooks end to end: the real server posts room events to a real HTTP receiver on loopback.
//! Every request must be signed (HMAC-SHA256 of the body with the configured key's secret),
//! each room's events must arrive in order, a 500 must be retried without reordering, and an
//! endpoint that is down must neither hold up the other one nor be retried forever.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sfu_tests::{ClientOptions, ServerOptions, TestClient, TestServer, wait_until};
use sha2::Sha256;

/// Bound on every wait.
const T: Duration = Duration::from_secs(30);
/// Secret of the key that signs tokens.
const MAIN_SECRET: &str = "main-secret-0123456789abcdef0123456789abcdef";
/// Secret of the key that signs webhooks (`webhooks.api_key = "hooks"`).
const HOOK_SECRET: &str = "hook-secret-fedcba9876543210fedcba9876543210";

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Hit {
    /// `hook` (answers 2xx, except injected failures) or `down` (always 503).
    endpoint: String,
    /// What the receiver answered.
    status: u16,
    key: String,
    signature: String,
    event_header: String,
    id_header: String,
    attempt: u32,
    body: String,
    json: Value,
}

#[derive(Default)]
struct ReceiverState {
    hits: Mutex<Vec<Hit>>,
    /// Event names whose first delivery to `hook` gets a 500.
    fail_once: Mutex<HashSet<String>>,
}

/// A webhook receiver on 127.0.0.1 with two endpoints: `/hook` and `/down`.
struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(fail_once: &[&str]) -> Result<Receiver> {
        let state = Arc::new(ReceiverState::default());
        state
            .fail_once
            .lock()
            .unwrap()
            .extend(fail_once.iter().map(|s| s.to_string()));
        let app = axum::Router::new()
            .route("/{endpoint}", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { addr, state, task })
    }

    fn url(&self, endpoint: &str) -> String {
        format!("http://{}/{endpoint}", self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// Events `hook` accepted, in arrival order.
    fn accepted(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.endpoint == "hook" && h.status == 200)
            .collect()
    }

    /// Waits until `hook` accepted an event matching `pred`.
    async fn wait_accepted(&self, what: &str, pred: impl Fn(&Hit) -> bool) -> Result<Hit> {
        let mut found = None;
        wait_until(T, || {
            found = self.accepted().into_iter().find(|h| pred(h));
            found.is_some()
        })
        .await;
        found.with_context(|| format!("no {what} webhook within {T:?}; got {:#?}", self.names()))
    }

    fn names(&self) -> Vec<String> {
        self.hits()
            .iter()
            .map(|h| {
                format!(
                    "{} {} {} attempt {} -> {}",
                    h.endpoint, h.json["room"]["name"], h.event_header, h.attempt, h.status
                )
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let event = json["event"].as_str().unwrap_or_default().to_owned();
    let status = match endpoint.as_str() {
        "hook" if state.fail_once.lock().unwrap().remove(&event) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        "hook" => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    state.hits.lock().unwrap().push(Hit {
        endpoint,
        status: status.as_u16(),
        key: header("x-sfu-key"),
        signature: header("x-sfu-signature"),
        event_header: header("x-sfu-event"),
        id_header: header("x-sfu-event-id"),
        attempt: header("x-sfu-attempt").parse().unwrap_or(0),
        body,
        json,
    });
    status
}

/// The receiver's side of the signature check: `sha256=<hex HMAC-SHA256(secret, body)>`.
fn signature_valid(secret: &str, body: &str, header: &str) -> bool {
    let Some(sig) = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    mac.verify_slice(&sig).is_ok()
}

/// Both keys, webhooks to `urls` signed with `hooks`, quick retries, quick empty rooms.
fn server_options(urls: &[String]) -> ServerOptions {
    ServerOptions::default()
        .env(
            "SFU_AUTH__KEYS",
            format!("{{main=\"{MAIN_SECRET}\", hooks=\"{HOOK_SECRET}\"}}"),
        )
        .env(
            "SFU_WEBHOOKS__URLS",
            serde_json::to_string(urls).expect("a list of strings"),
        )
        .env("SFU_WEBHOOKS__API_KEY", "hooks")
        .env("SFU_WEBHOOKS__MAX_ATTEMPTS", "3")
        .env("SFU_WEBHOOKS__RETRY_INITIAL_MS", "100")
        .env("SFU_WEBHOOKS__RETRY_MAX_MS", "400")
        .env("SFU_ROOMS__EMPTY_TIMEOUT_S", "1")
}

async fn join(server: &TestServer, room: &str, identity: &str) -> Result<TestClient> {
    let token = server.cli_token(&["--room", room, "--identity", identity, "--key", "main"])?;
    TestClient::connect(server, &token, ClientOptions::default()).await
}

/// The value of an unlabelled or labelled sample in the Prometheus text.
fn metric(text: &str, sample: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_events_arrive_signed_in_order_and_a_500_is_retried() -> Result<()> {
    let receiver = Receiver::start(&["track_published"]).await?;
    let server = TestServer::start(server_options(&[
        receiver.url("hook"),
        receiver.url("down"),
    ]))
    .await?;
    let admin = server.cli_token(&["--identity", "admin", "--admin", "--key", "main"])?;

    // Room `hooks`: created by the API, a publisher comes and goes, closed by DELETE.
    let (status, _) = server
        .post_json(
            "/v1/rooms",
            Some(&admin),
            &json!({"name": "hooks", "empty_timeout_s": 300}),
        )
        .await?;
    ensure!(status == 201, "POST /v1/rooms -> {status}");
    // Room `other`: created by a join, closed by its empty timeout, meanwhile.
    let carol = join(&server, "other", "carol").await?;
    let alice = join(&server, "hooks", "alice").await?;
    let audio = alice.publish_audio().await?;
    let audio_id = alice.wait_own_track(&audio, T).await?.id;
    let video = alice.publish_video(false).await?;
    let video_id = alice.wait_own_track(&video, T).await?.id;
    carol.leave().await?;
    alice.unpublish(&video).await?;
    receiver
        .wait_accepted("video track_unpublished", |h| {
            h.event_header == "track_unpublished" && h.json["track"]["id"] == video_id.as_str()
        })
        .await?;
    // Leaving with the audio still published ends that track too.
    alice.leave().await?;
    receiver
        .wait_accepted("participant_left", |h| {
            h.event_header == "participant_left" && h.json["room"]["name"] == "hooks"
        })
        .await?;
    let (status, _) = server.delete("/v1/rooms/hooks", Some(&admin)).await?;
    ensure!(status == 204, "DELETE /v1/rooms/hooks -> {status}");
    for room in ["hooks", "other"] {
        receiver
            .wait_accepted(&format!("{room} room_finished"), |h| {
                h.event_header == "room_finished" && h.json["room"]["name"] == room
            })
            .await?;
    }

    // Every request is signed with the `hooks` key, whatever the endpoint answered.
    let hits = receiver.hits();
    for h in &hits {
        ensure!(h.key == "hooks", "X-SFU-Key {:?}", h.key);
        ensure!(
            signature_valid(HOOK_SECRET, &h.body, &h.signature),
            "bad signature {:?} on {}",
            h.signature,
            h.body
        );
        ensure!(
            !signature_valid(MAIN_SECRET, &h.body, &h.signature),
            "signed with the wrong key"
        );
        ensure!(h.json["event"] == h.event_header.as_str() && h.json["id"] == h.id_header.as_str());
        ensure!(
            h.json["created_at"]
                .as_u64()
                .is_some_and(|t| t > 1_600_000_000)
        );
    }

    // In order per room, each event once.
    let accepted = receiver.accepted();
    let ids: HashSet<&str> = accepted.iter().map(|h| h.id_header.as_str()).collect();
    ensure!(ids.len() == accepted.len(), "an event was accepted twice");
    let of_room = |room: &str| -> Vec<Hit> {
        accepted
            .iter()
            .filter(|h| h.json["room"]["name"] == room)
            .cloned()
            .collect()
    };
    let hooks = of_room("hooks");
    let names: Vec<&str> = hooks.iter().map(|h| h.event_header.as_str()).collect();
    ensure!(
        names
            == [
                "room_started",
                "participant_joined",
                "track_published",
                "track_published",
                "track_unpublished",
                "track_unpublished",
                "participant_left",
                "room_finished",
            ],
        "room hooks: {names:?}"
    );
    let tracks: Vec<&str> = hooks[2..6]
        .iter()
        .map(|h| h.json["track"]["id"].as_str().unwrap_or_default())
        .collect();
    ensure!(
        tracks == [&audio_id, &video_id, &video_id, &audio_id],
        "track events {tracks:?}, audio {audio_id}, video {video_id}"
    );
    ensure!(hooks[2].json["track"]["kind"] == "audio" && hooks[3].json["track"]["kind"] == "video");
    for h in &hooks[1..7] {
        ensure!(
            h.json["participant"]["id"] == alice.participant_id()
                && h.json["participant"]["identity"] == "alice",
            "participant of {}: {}",
            h.event_header,
            h.json["participant"]
        );
    }
    let sid = &hooks[0].json["room"]["sid"];
    ensure!(sid.as_str().is_some_and(|s| !s.is_empty()));
    ensure!(hooks.iter().all(|h| &h.json["room"]["sid"] == sid));
    let other: Vec<String> = of_room("other")
        .iter()
        .map(|h| h.event_header.clone())
        .collect();
    ensure!(
        other
            == [
                "room_started",
                "participant_joined",
                "participant_left",
                "room_finished"
            ],
        "room other: {other:?}"
    );

    // The injected 500: the first track_published was tried again (same id, attempt 2) and
    // still came before the second one.
    let failed: Vec<&Hit> = hits.iter().filter(|h| h.status == 500).collect();
    ensure!(failed.len() == 1, "500s: {:?}", receiver.names());
    ensure!(failed[0].event_header == "track_published" && failed[0].attempt == 1);
    ensure!(
        hooks[2].id_header == failed[0].id_header && hooks[2].attempt == 2,
        "retry of {} arrived as {} attempt {}",
        failed[0].id_header,
        hooks[2].id_header,
        hooks[2].attempt
    );

    // `down` answered 503 to everything: each of the 12 events was tried 3 times, in order,
    // then given up, and none of it held up `hook`.
    let down_done = wait_until(T, || {
        receiver
            .hits()
            .iter()
            .filter(|h| h.endpoint == "down")
            .count()
            >= 12 * 3
    })
    .await;
    ensure!(down_done, "down endpoint: {:#?}", receiver.names());
    let down: Vec<Hit> = receiver
        .hits()
        .into_iter()
        .filter(|h| h.endpoint == "down" && h.json["room"]["name"] == "hooks")
        .collect();
    let down_order: Vec<(&str, u32)> = down
        .iter()
        .map(|h| (h.event_header.as_str(), h.attempt))
        .collect();
    let expected: Vec<(&str, u32)> = names
        .iter()
        .flat_map(|n| (1..=3).map(move |a| (*n, a)))
        .collect();
    ensure!(
        down_order == expected,
        "down endpoint order: {down_order:?}"
    );

    // The last give-up is counted just after its third attempt was answered.
    let deadline = tokio::time::Instant::now() + T;
    let text = loop {
        let text = server.metrics().await?;
        if metric(&text, "sfu_webhook_deliveries_total{result=\"failed\"}") == Some(12) {
            break text;
        }
        ensure!(tokio::time::Instant::now() < deadline, "metrics:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    ensure!(
        metric(&text, "sfu_webhook_deliveries_total{result=\"delivered\"}") == Some(12),
        "{text}"
    );
    // One retry of the injected 500, two for each event to `down`.
    ensure!(
        metric(&text, "sfu_webhook_retries_total") == Some(1 + 12 * 2),
        "{text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_reports_the_rooms_it_ends() -> Result<()> {
    let receiver = Receiver::start(&[]).await?;
    let mut server = TestServer::start(
        server_options(&[receiver.url("hook")]).env("SFU_SHUTDOWN__DRAIN_PERIOD_S", "0"),
    )
    .await?;
    let bob = join(&server, "live", "bob").await?;
    receiver
        .wait_accepted("participant_joined", |h| {
            h.event_header == "participant_joined"
        })
        .await?;
    server.send_sigterm()?;
    let Some(status) = server.wait_exit(T).await else {
        bail!(
            "server still running after SIGTERM; log:\n{}",
            server.log_tail(30)
        );
    };
    ensure!(status.success(), "exit {status}");
    let names: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|h| h.event_header.clone())
        .collect();
    ensure!(
        names
            == [
                "room_started",
                "participant_joined",
                "participant_left",
                "room_finished"
            ],
        "events: {names:?}"
    );
    drop(bob);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_report_their_start_and_their_end_with_counters() -> Result<()> {
    let receiver = Receiver::start(&[]).await?;
    let server = TestServer::start(server_options(&[receiver.url("hook")])).await?;
    let admin = server.cli_token(&["--identity", "admin", "--admin", "--key", "main"])?;
    let alice = join(&server, "rec", "alice").await?;
    let video = alice.publish_video(false).await?;
    let video_id = alice.wait_own_track(&video, T).await?.id;
    // A recorder's socket: the forward's RTP lands here.
    let recorder = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let port = recorder.local_addr()?.port();
    let (status, body) = server
        .post_json(
            "/v1/rooms/rec/forwards",
            Some(&admin),
            &json!({"track_id": video_id, "host": "127.0.0.1", "port": port}),
        )
        .await?;
    ensure!(status == 201, "POST forwards -> {status} {body}");
    let forward_id = body["id"].as_str().unwrap_or_default().to_owned();
    let started = receiver
        .wait_accepted("forward_started", |h| h.event_header == "forward_started")
        .await?;
    ensure!(
        started.json["forward"]["id"] == forward_id.as_str()
            && started.json["forward"]["track_id"] == video_id.as_str()
            && started.json["forward"]["port"] == port
            && started.json["room"]["name"] == "rec",
        "{}",
        started.json
    );
    let mut buf = [0u8; 2048];
    tokio::time::timeout(T, recorder.recv_from(&mut buf)).await??;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, _) = server
        .delete(
            &format!("/v1/rooms/rec/forwards/{forward_id}"),
            Some(&admin),
        )
        .await?;
    ensure!(status == 204, "DELETE forward -> {status}");
    let ended = receiver
        .wait_accepted("forward_ended", |h| h.event_header == "forward_ended")
        .await?;
    ensure!(
        ended.json["forward"]["id"] == forward_id.as_str()
            && ended.json["forward"]["packets_sent"].as_u64().unwrap_or(0) > 0
            && ended.json["forward"]["bytes_sent"].as_u64().unwrap_or(0) > 0,
        "{}",
        ended.json
    );
    let names: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|h| h.event_header.clone())
        .collect();
    let position = |n: &str| names.iter().position(|x| x == n);
    ensure!(
        position("track_published") < position("forward_started")
            && position("forward_started") < position("forward_ended"),
        "order: {names:?}"
    );
    drop(video);
    Ok(())
}
