//! Signalling protocol tests over a real WebSocket against the real `sfu-server` binary.
//!
//! Every test spawns its own server on free loopback ports (killed by PID on drop) and bounds
//! every wait with a timeout.

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sfu-server");
/// Bound on the wait for `/healthz` after spawning (builds run concurrently on a small machine).
const STARTUP: Duration = Duration::from_secs(30);
/// Bound on the wait for any one expected message.
const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for a message that must not come.
const QUIET: Duration = Duration::from_millis(500);
/// The dev-mode API key and secret (public by design).
const DEV_KEY: &str = "devkey";
/// Secret of [`DEV_KEY`].
const DEV_SECRET: &str = "devsecret";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A running server child process, killed by PID on drop.
struct Server {
    child: Child,
    http: SocketAddr,
    log: PathBuf,
    client: reqwest::Client,
}

/// A free loopback TCP port (bound, then released).
fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free loopback UDP port (bound, then released).
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `child` until it exits or `limit` passes.
async fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Server {
    /// Starts a dev-mode server with extra `SFU_*` variables on fresh ports; retries with new
    /// ports if the child dies during start-up (a port taken in between).
    async fn start(env: &[(&str, &str)]) -> Server {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ws_protocol");
        std::fs::create_dir_all(&dir).unwrap();
        for _attempt in 0..3 {
            let http: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
            let udp: SocketAddr = ([127, 0, 0, 1], free_udp_port()).into();
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let log = dir.join(format!("server-{}-{n}.log", std::process::id()));
            let out = File::create(&log).unwrap();
            let mut cmd = Command::new(BIN);
            cmd.env("SFU_SERVER__HTTP_ADDR", http.to_string())
                .env("SFU_MEDIA__UDP_ADDR", udp.to_string())
                .env("RUST_LOG", "info,sfu_server=debug")
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let child = cmd.spawn().expect("spawn sfu-server");
            let mut server = Server {
                child,
                http,
                log,
                client: client.clone(),
            };
            let deadline = Instant::now() + STARTUP;
            loop {
                if let Ok(r) = server.client.get(server.url("/healthz")).send().await
                    && r.status() == 200
                {
                    return server;
                }
                if server.child.try_wait().unwrap().is_some() || Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            eprintln!("server did not start; log:\n{}", server.log_text());
        }
        panic!("sfu-server did not start in 3 attempts");
    }

    /// `http://<addr><path>`.
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// The signalling URL for `token` (none: no query string).
    fn ws_url(&self, token: Option<&str>) -> String {
        match token {
            Some(t) => format!("ws://{}/v1/rtc?access_token={t}", self.http),
            None => format!("ws://{}/v1/rtc", self.http),
        }
    }

    /// The server's log so far.
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A token from the dev endpoint; `admin` adds room_create/room_admin/room_list on `room`.
    async fn dev_token(&self, room: &str, identity: &str, admin: bool) -> String {
        let r = self
            .client
            .post(self.url("/v1/dev/token"))
            .json(&json!({"room": room, "identity": identity, "admin": admin}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// A REST call with a bearer token: status and JSON body (`Null` when empty).
    async fn rest(&self, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, body)
    }

    /// Joins with a fresh participant token and returns the socket and its `joined` message.
    async fn join(&self, room: &str, identity: &str) -> (Ws, Value) {
        let mut ws = Ws::connect(self, &participant_token(room, identity)).await;
        let joined = ws.recv().await;
        assert_eq!(joined["type"], "joined", "{joined}");
        (ws, joined)
    }

    /// Sends SIGTERM to the child.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Child::kill sends SIGKILL to this child's PID only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seconds since the Unix epoch.
fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs `claims` with `key`/`secret` (HS256, header `kid` = key).
fn sign(key: &str, secret: &str, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(key.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Signs `claims` with the dev key.
fn mint(claims: Value) -> String {
    sign(DEV_KEY, DEV_SECRET, &claims)
}

/// A dev-mode participant token: join `room` as `identity`.
fn participant_token(room: &str, identity: &str) -> String {
    mint(json!({"sub": identity, "exp": now_s() + 600, "video": {"room": room, "room_join": true}}))
}

/// One client's signalling socket.
struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a socket ended.
#[derive(Debug)]
enum Ended {
    /// A close frame with this code.
    Close(Option<u16>),
    /// The stream ended or failed without a close frame.
    Dropped(String),
}

impl Ws {
    /// Opens the socket or returns the handshake error.
    async fn try_connect(server: &Server, token: Option<&str>) -> Result<Ws, tungstenite::Error> {
        let url = server.ws_url(token);
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("handshake in time")?;
        Ok(Ws { stream })
    }

    /// Opens the socket; panics when refused.
    async fn connect(server: &Server, token: &str) -> Ws {
        Self::try_connect(server, Some(token))
            .await
            .expect("upgrade accepted")
    }

    /// Sends a JSON message.
    async fn send(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    /// Sends one text frame.
    async fn send_text(&mut self, text: String) {
        tokio::time::timeout(WAIT, self.stream.send(Message::text(text)))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// The next JSON text message within `limit`, `None` if none came.
    async fn recv_within(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(m) => m,
            };
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server sends JSON"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// The next JSON text message (bounded by `WAIT`).
    async fn recv(&mut self) -> Value {
        self.recv_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("no message within {WAIT:?}"))
    }

    /// The next message of type `kind`, skipping others (bounded by `WAIT`).
    async fn recv_type(&mut self, kind: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left).await {
                Some(v) if v["type"] == kind => return v,
                Some(_) => {}
                None => panic!("no `{kind}` message within {WAIT:?}"),
            }
        }
    }

    /// The next message, which must be an `error` with `code` in the exact API shape.
    async fn expect_error(&mut self, code: &str) {
        let v = self.recv().await;
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["code"], code, "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert_eq!(
            v.as_object().unwrap().len(),
            3,
            "error has type, code and message only: {v}"
        );
    }

    /// Waits (bounded) until the socket ends; text messages before that are returned too.
    async fn until_end(&mut self) -> (Vec<Value>, Ended) {
        let mut texts = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("the socket ends in time");
            match msg {
                Some(Ok(Message::Text(t))) => texts.push(serde_json::from_str(t.as_str()).unwrap()),
                Some(Ok(Message::Close(frame))) => {
                    return (texts, Ended::Close(frame.map(|f| u16::from(f.code))));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return (texts, Ended::Dropped(e.to_string())),
                None => return (texts, Ended::Dropped("end of stream".into())),
            }
        }
    }

    /// Expects `{"type":"leave","reason"}` as the last message, then the socket's end.
    async fn expect_leave(&mut self, reason: &str) {
        let (texts, ended) = self.until_end().await;
        let last = texts
            .last()
            .unwrap_or_else(|| panic!("no leave before {ended:?}"));
        assert_eq!(
            last,
            &json!({"type": "leave", "reason": reason}),
            "all: {texts:?}"
        );
        assert!(
            matches!(ended, Ended::Close(Some(1000))),
            "closed normally after leave: {ended:?}"
        );
    }
}

/// The refused upgrade's HTTP status and JSON body.
async fn refused(server: &Server, token: Option<&str>) -> (u16, Value) {
    match Ws::try_connect(server, token).await {
        Ok(_) => panic!("the upgrade was accepted"),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().unwrap_or_default();
            let body: Value = serde_json::from_slice(body)
                .unwrap_or_else(|e| panic!("JSON body ({e}): {body:?}"));
            (status, body)
        }
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
    }
}

/// Asserts the REST error shape with this code.
#[track_caller]
fn assert_api_error(body: &Value, code: &str) {
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["error"].as_object().unwrap().len(), 2, "{body}");
}

/// An SDP offer publishing one send-only Opus track (made by a str0m client), and the client.
fn audio_offer() -> (str0m::Rtc, str0m::change::SdpPendingOffer, String) {
    use str0m::media::{Direction, MediaKind};
    let mut rtc = str0m::Rtc::new(Instant::now());
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().expect("an offer");
    (rtc, pending, offer.to_sdp_string())
}

#[tokio::test]
async fn join_gets_joined_and_others_are_told() {
    let ice = r#"[{urls=["stun:stun.example.org:3478"]},{urls=["turn:turn.example.org:3478"],username="u",credential="c"}]"#;
    let server = Server::start(&[("SFU_MEDIA__ICE_SERVERS", ice)]).await;
    let (mut alice, joined) = server.join("lobby", "alice").await;
    let keys: Vec<&str> = joined
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in ["type", "room", "participant", "participants", "ice_servers"] {
        assert!(keys.contains(&key), "{key} in {joined}");
    }
    let room = &joined["room"];
    assert_eq!(room["name"], "lobby");
    assert!(room["sid"].as_str().unwrap().starts_with("RM_"), "{room}");
    assert!(room["created_at"].as_u64().unwrap() > 0);
    assert_eq!(room["num_participants"], 1);
    assert_eq!(room["max_participants"], 0);
    let me = &joined["participant"];
    let alice_id = me["id"].as_str().unwrap().to_owned();
    assert!(
        alice_id.starts_with("PA_") && alice_id.len() == 3 + 16,
        "{me}"
    );
    assert_eq!(me["identity"], "alice");
    assert_eq!(me["tracks"], json!([]));
    assert!(me["joined_at"].as_u64().unwrap() > 0);
    assert_eq!(joined["participants"], json!([]));
    assert_eq!(
        joined["ice_servers"],
        json!([
            {"urls": ["stun:stun.example.org:3478"]},
            {"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "c"}
        ])
    );

    let (_bob, joined_b) = server.join("lobby", "bob").await;
    assert_eq!(joined_b["room"]["sid"], room["sid"]);
    assert_eq!(joined_b["room"]["num_participants"], 2);
    let bob = joined_b["participant"].clone();
    assert_ne!(bob["id"], alice_id);
    assert_eq!(joined_b["participants"].as_array().unwrap().len(), 1);
    assert_eq!(joined_b["participants"][0]["id"], alice_id);
    assert_eq!(joined_b["participants"][0]["identity"], "alice");

    let event = alice.recv().await;
    assert_eq!(
        event,
        json!({"type": "participant_joined", "participant": bob})
    );

    // Someone in another room is not announced.
    let (_carol, joined_c) = server.join("elsewhere", "carol").await;
    assert_eq!(joined_c["participants"], json!([]));
    assert!(
        alice.recv_within(QUIET).await.is_none(),
        "no event from another room"
    );
}

#[tokio::test]
async fn bad_messages_get_error_codes_and_the_session_goes_on() {
    let server = Server::start(&[]).await;
    let (mut alice, _) = server.join("r", "alice").await;

    alice.send_text("{nope".into()).await;
    alice.expect_error("invalid_json").await;
    alice.send_text("[1, 2".into()).await;
    alice.expect_error("invalid_json").await;
    alice.send(json!({})).await;
    alice.expect_error("missing_type").await;
    alice.send(json!({"type": 7})).await;
    alice.expect_error("missing_type").await;
    alice.send(json!({"type": "dance"})).await;
    alice.expect_error("unknown_type").await;
    alice.send(json!({"type": "joined"})).await;
    alice.expect_error("unknown_type").await;
    for missing in [
        json!({"type": "offer"}),
        json!({"type": "answer", "sdp": 5}),
        json!({"type": "candidate"}),
        json!({"type": "subscribe", "track_id": "TR_0000000000000001"}),
        json!({"type": "mute", "muted": true}),
        json!({"type": "track_info", "source": "camera"}),
    ] {
        alice.send(missing).await;
        alice.expect_error("invalid_message").await;
    }
    alice
        .stream
        .send(Message::binary(b"{\"type\":\"leave\"}".to_vec()))
        .await
        .unwrap();
    alice.expect_error("invalid_message").await;

    alice
        .send(json!({"type": "offer", "sdp": "this is not SDP"}))
        .await;
    alice.expect_error("invalid_sdp").await;
    let (_rtc, _pending, sdp) = audio_offer();
    // A well-formed SDP sent as an answer while the server has no offer out.
    alice.send(json!({"type": "answer", "sdp": sdp})).await;
    alice.expect_error("no_pending_offer").await;
    alice
        .send(json!({"type": "answer", "sdp": "garbage"}))
        .await;
    alice.expect_error("invalid_sdp").await;
    alice.send(json!({"type": "candidate", "candidate": {"candidate": "candidate:garbage", "sdpMid": "0", "sdpMLineIndex": 0}})).await;
    alice.expect_error("invalid_candidate").await;
    alice
        .send(json!({"type": "mute", "track_id": "TR_0000000000000001", "muted": true}))
        .await;
    alice.expect_error("track_not_found").await;
    alice
        .send(json!({"type": "subscribe", "track_id": "not-a-track", "subscribe": false}))
        .await;
    alice.expect_error("track_not_found").await;

    // Still joined and served.
    let (_bob, joined) = server.join("r", "bob").await;
    let joined_msg = alice.recv().await;
    assert_eq!(joined_msg["type"], "participant_joined");
    assert_eq!(joined_msg["participant"], joined["participant"]);
    // An end-of-candidates candidate is accepted silently.
    alice.send(json!({"type": "candidate", "candidate": {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}})).await;
    assert!(alice.recv_within(QUIET).await.is_none());
}

#[tokio::test]
async fn bad_tokens_are_refused_before_the_upgrade() {
    let server = Server::start(&[]).await;
    let exp = now_s() + 600;

    let (status, body) = refused(&server, None).await;
    assert_eq!(status, 401);
    assert_api_error(&body, "missing_token");
    let (status, body) = refused(&server, Some("")).await;
    assert_eq!(status, 401);
    assert_api_error(&body, "missing_token");
    let (status, body) = refused(&server, Some("garbage")).await;
    assert_eq!(status, 401);
    assert_api_error(&body, "invalid_token");
    let expired =
        mint(json!({"sub": "a", "exp": now_s() - 3600, "video": {"room": "r", "room_join": true}}));
    let (status, body) = refused(&server, Some(&expired)).await;
    assert_eq!(status, 401);
    assert_api_error(&body, "token_expired");
    let wrong_secret = sign(
        DEV_KEY,
        "not-the-dev-secret",
        &json!({"sub": "a", "exp": exp, "video": {"room": "r", "room_join": true}}),
    );
    let (status, body) = refused(&server, Some(&wrong_secret)).await;
    assert_eq!(status, 401);
    assert_api_error(&body, "invalid_signature");
    let unknown_key = sign(
        "otherkey",
        DEV_SECRET,
        &json!({"sub": "a", "exp": exp, "video": {"room": "r", "room_join": true}}),
    );
    let (status, body) = refused(&server, Some(&unknown_key)).await;
    assert_eq!(status, 401);
    assert_api_error(&body, "unknown_key");

    // Valid tokens that may not join.
    for claims in [
        json!({"sub": "a", "exp": exp, "video": {"room": "r"}}),
        json!({"sub": "a", "exp": exp, "video": {"room": "r", "room_join": false, "room_admin": true, "room_create": true}}),
        json!({"sub": "a", "exp": exp, "video": {"room_join": true}}),
        json!({"sub": "a", "exp": exp}),
        json!({"exp": exp, "video": {"room": "r", "room_join": true}}),
    ] {
        let (status, body) = refused(&server, Some(&mint(claims.clone()))).await;
        assert_eq!(status, 403, "{claims}");
        assert_api_error(&body, "permission_denied");
    }

    // Nothing joined: the room was never created.
    let admin = server.dev_token("r", "ops", true).await;
    let (status, body) = server
        .rest(reqwest::Method::GET, "/v1/rooms/r", &admin)
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn unknown_room_without_auto_create() {
    let server = Server::start(&[("SFU_ROOMS__AUTO_CREATE", "false")]).await;
    let mut ws = Ws::connect(&server, &participant_token("ghost", "alice")).await;
    let (texts, ended) = ws.until_end().await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["type"], "error");
    assert_eq!(texts[0]["code"], "room_not_found");
    assert!(matches!(ended, Ended::Close(Some(1008))), "{ended:?}");

    // Once the room exists, the same token joins.
    let admin = server.dev_token("ghost", "ops", true).await;
    let r = server
        .client
        .post(server.url("/v1/rooms"))
        .bearer_auth(&admin)
        .json(&json!({"name": "ghost"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_ws, joined) = server.join("ghost", "alice").await;
    assert_eq!(joined["room"]["name"], "ghost");

    // A token with room_create may create it by joining.
    let mut creator = Ws::connect(&server, &server.dev_token("fresh", "ops", true).await).await;
    let joined = creator.recv().await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(joined["room"]["name"], "fresh");
}

#[tokio::test]
async fn full_room_refuses_the_join() {
    let server = Server::start(&[]).await;
    let admin = server.dev_token("small", "ops", true).await;
    let r = server
        .client
        .post(server.url("/v1/rooms"))
        .bearer_auth(&admin)
        .json(&json!({"name": "small", "max_participants": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (mut alice, _) = server.join("small", "alice").await;
    let mut bob = Ws::connect(&server, &participant_token("small", "bob")).await;
    let (texts, ended) = bob.until_end().await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["type"], "error");
    assert_eq!(texts[0]["code"], "room_full");
    assert!(matches!(ended, Ended::Close(Some(1008))), "{ended:?}");
    assert!(alice.recv_within(QUIET).await.is_none(), "nobody joined");
    // The same identity may still take over its own seat.
    let (_again, joined) = server.join("small", "alice").await;
    assert_eq!(joined["room"]["num_participants"], 1);
    alice.expect_leave("duplicate_identity").await;
}

#[tokio::test]
async fn oversized_frame_closes_only_that_socket() {
    let server = Server::start(&[]).await;
    let (mut alice, joined_a) = server.join("big", "alice").await;
    let alice_id = joined_a["participant"]["id"].clone();
    let (mut bob, _) = server.join("big", "bob").await;
    assert_eq!(alice.recv().await["type"], "participant_joined");

    let huge = format!(
        r#"{{"type":"offer","sdp":"{}"}}"#,
        "x".repeat(10 * 1024 * 1024)
    );
    // The server may close (and reset) while the frame is still being written.
    let sent = tokio::time::timeout(WAIT, alice.stream.send(Message::text(huge)))
        .await
        .expect("send ends in time");
    if sent.is_ok() {
        let (texts, ended) = alice.until_end().await;
        assert!(texts.is_empty(), "{texts:?}");
        match ended {
            Ended::Close(code) => {
                assert_eq!(code, Some(u16::from(CloseCode::Size)), "close code 1009")
            }
            Ended::Dropped(e) => eprintln!("connection dropped: {e}"),
        }
    }

    let left = bob.recv_type("participant_left").await;
    assert_eq!(
        left,
        json!({"type": "participant_left", "participant_id": alice_id})
    );
    bob.send(json!({"type": "dance"})).await;
    bob.expect_error("unknown_type").await;
    let (_carol, _) = server.join("big", "carol").await;
    assert_eq!(bob.recv().await["type"], "participant_joined");
}

/// A signalling message several times the socket's 8 KiB read chunk (a client publishing many
/// tracks) is read whole and answered.
#[tokio::test]
async fn offer_larger_than_the_read_chunk_is_answered() {
    use str0m::media::{Direction, MediaKind};
    let server = Server::start(&[]).await;
    let (mut alice, _) = server.join("large", "alice").await;
    let mut rtc = str0m::Rtc::new(Instant::now());
    let mut api = rtc.sdp_api();
    for _ in 0..40 {
        api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    }
    let (offer, _pending) = api.apply().expect("an offer");
    let sdp = offer.to_sdp_string();
    assert!(sdp.len() > 3 * 8 * 1024, "offer is {} bytes", sdp.len());
    alice.send(json!({"type": "offer", "sdp": sdp})).await;
    let answer = alice.recv_type("answer").await;
    let mids = answer["sdp"].as_str().unwrap().matches("a=mid:").count();
    assert_eq!(mids, 40, "{answer}");
}

#[tokio::test]
async fn leave_message_tells_the_others() {
    let server = Server::start(&[]).await;
    let (mut alice, joined_a) = server.join("r", "alice").await;
    let (mut bob, _) = server.join("r", "bob").await;
    assert_eq!(alice.recv().await["type"], "participant_joined");
    alice.send(json!({"type": "leave"})).await;
    let left = bob.recv().await;
    assert_eq!(
        left,
        json!({"type": "participant_left", "participant_id": joined_a["participant"]["id"]})
    );
    let (texts, _ended) = alice.until_end().await;
    assert!(texts.is_empty(), "nothing after leave: {texts:?}");

    let admin = server.dev_token("r", "ops", true).await;
    let (status, body) = server
        .rest(reqwest::Method::GET, "/v1/rooms/r/participants", &admin)
        .await;
    assert_eq!(status, 200);
    let identities: Vec<&str> = body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    assert_eq!(identities, ["bob"]);

    // Closing the socket without `leave` counts as leaving too.
    drop(bob);
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, body) = server
            .rest(reqwest::Method::GET, "/v1/rooms/r/participants", &admin)
            .await;
        if body["participants"] == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "bob still listed: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn deleting_the_room_closes_every_session() {
    let server = Server::start(&[]).await;
    let (mut alice, _) = server.join("doomed", "alice").await;
    let (mut bob, _) = server.join("doomed", "bob").await;
    let (mut other, _) = server.join("other", "carol").await;
    let admin = server.dev_token("doomed", "ops", true).await;
    let (status, body) = server
        .rest(reqwest::Method::DELETE, "/v1/rooms/doomed", &admin)
        .await;
    assert_eq!(status, 204, "{body}");
    alice.expect_leave("room_closed").await;
    bob.expect_leave("room_closed").await;
    assert!(
        other.recv_within(QUIET).await.is_none(),
        "another room is untouched"
    );
    let (status, _) = server
        .rest(reqwest::Method::GET, "/v1/rooms/doomed", &admin)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn removed_participant_gets_leave_removed() {
    let server = Server::start(&[]).await;
    let (mut alice, joined_a) = server.join("r", "alice").await;
    let (mut bob, _) = server.join("r", "bob").await;
    assert_eq!(alice.recv().await["type"], "participant_joined");
    let admin = server.dev_token("r", "ops", true).await;
    let (status, body) = server
        .rest(
            reqwest::Method::DELETE,
            "/v1/rooms/r/participants/alice",
            &admin,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    alice.expect_leave("removed").await;
    let left = bob.recv().await;
    assert_eq!(
        left,
        json!({"type": "participant_left", "participant_id": joined_a["participant"]["id"]})
    );
    let (status, body) = server
        .rest(
            reqwest::Method::DELETE,
            "/v1/rooms/r/participants/alice",
            &admin,
        )
        .await;
    assert_eq!(status, 404);
    assert_api_error(&body, "participant_not_found");
}

#[tokio::test]
async fn same_identity_replaces_the_first_session() {
    let server = Server::start(&[]).await;
    let (mut first, joined_1) = server.join("r", "alice").await;
    let (mut bob, _) = server.join("r", "bob").await;
    assert_eq!(first.recv().await["type"], "participant_joined");
    let (_second, joined_2) = server.join("r", "alice").await;
    first.expect_leave("duplicate_identity").await;
    let old_id = joined_1["participant"]["id"].clone();
    let new_id = joined_2["participant"]["id"].clone();
    assert_ne!(old_id, new_id, "a rejoin gets a new participant id");
    let others: Vec<&Value> = joined_2["participants"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(others.len(), 1, "only bob: {others:?}");
    assert_eq!(others[0]["identity"], "bob");
    assert_eq!(
        bob.recv().await,
        json!({"type": "participant_left", "participant_id": old_id})
    );
    let joined = bob.recv().await;
    assert_eq!(joined["type"], "participant_joined");
    assert_eq!(joined["participant"]["id"], new_id);
}

#[tokio::test]
async fn sigterm_drains_then_exits_cleanly() {
    let mut server = Server::start(&[("SFU_SHUTDOWN__DRAIN_PERIOD_S", "1")]).await;
    let (mut alice, _) = server.join("r", "alice").await;
    assert_eq!(
        server
            .client
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let signalled = Instant::now();
    server.terminate();

    // Not ready at once (well within the drain period).
    loop {
        let status = server
            .client
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 503 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            signalled.elapsed() < Duration::from_millis(900),
            "readyz still 200 after the signal"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // New joins are refused before the upgrade; the process is still alive.
    let (status, body) = refused(&server, Some(&participant_token("r", "late"))).await;
    assert_eq!(status, 503);
    assert_api_error(&body, "draining");
    assert_eq!(
        server
            .client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Joined participants are still served during the drain.
    alice.send(json!({"type": "dance"})).await;
    alice.expect_error("unknown_type").await;

    // After the drain period everyone is told, then the process ends with 0.
    alice.expect_leave("server_shutdown").await;
    assert!(
        signalled.elapsed() >= Duration::from_millis(900),
        "not before the drain period: {:?}",
        signalled.elapsed()
    );
    let status = wait_exit(&mut server.child, Duration::from_secs(15))
        .await
        .expect("the server exits after the drain");
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log_text());
}

#[tokio::test]
async fn invalid_config_exits_with_code_2() {
    let mut child = Command::new(BIN)
        .env(
            "SFU_SERVER__HTTP_ADDR",
            format!("127.0.0.1:{}", free_tcp_port()),
        )
        .env("SFU_MEDIA__UDP_ADDR", "nonsense")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(15)).await;
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not exit on an invalid config");
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("media.udp_addr"),
        "stderr names the setting: {stderr}"
    );
    assert!(
        stderr.contains("SFU_MEDIA__UDP_ADDR"),
        "stderr names the variable: {stderr}"
    );
}

/// Runs `sfu-server token ...` with `env` and returns its exit code and stdout.
async fn token_command(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("token")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(15)).await;
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`sfu-server token` did not exit");
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status.code(), out)
}

#[tokio::test]
async fn token_subcommand_prints_accepted_tokens() {
    let keys = [(
        "SFU_AUTH__KEYS__CLIKEY",
        "s3cret-s3cret-s3cret-s3cret-s3cret-xyz",
    )];
    let (code, out) = token_command(&["--room", "r", "--identity", "i"], &keys).await;
    assert_eq!(code, Some(0));
    let token = out.trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT: {out}");
    let (code, out) = token_command(&["--admin"], &keys).await;
    assert_eq!(code, Some(0));
    let admin = out.trim().to_owned();
    let (code, _) = token_command(&["--identity", "i"], &keys).await;
    assert_eq!(code, Some(2), "neither --room nor --admin");

    let server = Server::start(&keys).await;
    let mut ws = Ws::connect(&server, &token).await;
    let joined = ws.recv().await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(joined["room"]["name"], "r");
    assert_eq!(joined["participant"]["identity"], "i");
    let (status, body) = server.rest(reqwest::Method::GET, "/v1/rooms", &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rooms"][0]["name"], "r");
    // Dev tokens are refused once keys are configured, and the dev endpoint is gone.
    let (status, body) = refused(&server, Some(&participant_token("r", "x"))).await;
    assert_eq!(status, 401);
    assert_api_error(&body, "unknown_key");
    let r = server
        .client
        .post(server.url("/v1/dev/token"))
        .json(&json!({"room": "r", "identity": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // In dev mode the subcommand signs with the dev key.
    let (code, out) = token_command(&["--room", "d", "--identity", "dev"], &[]).await;
    assert_eq!(code, Some(0));
    let dev_server = Server::start(&[]).await;
    let mut ws = Ws::connect(&dev_server, out.trim()).await;
    assert_eq!(ws.recv().await["participant"]["identity"], "dev");
}

/// What a [`Client`]'s peer connection reported.
#[derive(Debug)]
enum ClientEvent {
    /// ICE and DTLS are up.
    Connected,
    /// A data channel opened.
    ChannelOpen(str0m::channel::ChannelId, String),
    /// A data channel message.
    ChannelData(Vec<u8>),
}

/// A str0m peer connection on a loopback UDP socket, driven by a background task, standing in
/// for a browser. The test does SDP work on `rtc` between the task's steps.
struct Client {
    rtc: std::sync::Arc<std::sync::Mutex<str0m::Rtc>>,
    events: tokio::sync::mpsc::UnboundedReceiver<ClientEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    /// A new connection with a host candidate on a fresh loopback port.
    async fn new() -> Client {
        use str0m::net::{Protocol, Receive};
        use str0m::{Candidate, Event, Input, Output};

        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = str0m::Rtc::new(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let rtc = std::sync::Arc::new(std::sync::Mutex::new(rtc));
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        let shared = rtc.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                let mut transmits = Vec::new();
                let deadline = {
                    let mut rtc = shared.lock().unwrap();
                    loop {
                        match rtc.poll_output() {
                            Ok(Output::Timeout(t)) => break t,
                            Ok(Output::Transmit(t)) => {
                                transmits.push((t.destination, t.contents.to_vec()))
                            }
                            Ok(Output::Event(e)) => {
                                let event = match e {
                                    Event::Connected => Some(ClientEvent::Connected),
                                    Event::ChannelOpen(id, label) => {
                                        Some(ClientEvent::ChannelOpen(id, label))
                                    }
                                    Event::ChannelData(d) => Some(ClientEvent::ChannelData(d.data)),
                                    _ => None,
                                };
                                if let Some(event) = event {
                                    let _ = tx.send(event);
                                }
                            }
                            Err(_) => return,
                        }
                    }
                };
                for (to, bytes) in transmits {
                    let _ = socket.send_to(&bytes, to).await;
                }
                let wait = deadline
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(20));
                let received = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await;
                let mut rtc = shared.lock().unwrap();
                let result = match received {
                    Ok(Ok((n, source))) => match buf[..n].try_into() {
                        Ok(contents) => rtc.handle_input(Input::Receive(
                            Instant::now(),
                            Receive {
                                proto: Protocol::Udp,
                                source,
                                destination: local,
                                contents,
                            },
                        )),
                        Err(_) => Ok(()),
                    },
                    _ => rtc.handle_input(Input::Timeout(Instant::now())),
                };
                if result.is_err() {
                    return;
                }
            }
        });
        Client { rtc, events, task }
    }

    /// Creates an offer adding one send-only audio m-line; returns its mid, the SDP and the
    /// pending offer.
    fn offer_audio(&self) -> (String, String, str0m::change::SdpPendingOffer) {
        use str0m::media::{Direction, MediaKind};
        let mut rtc = self.rtc.lock().unwrap();
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        (mid.to_string(), offer.to_sdp_string(), pending)
    }

    /// Applies the server's answer to `pending`.
    fn accept_answer(&self, pending: str0m::change::SdpPendingOffer, sdp: &str) {
        let answer = str0m::change::SdpAnswer::from_sdp_string(sdp).unwrap();
        self.rtc
            .lock()
            .unwrap()
            .sdp_api()
            .accept_answer(pending, answer)
            .unwrap();
    }

    /// Answers a server offer.
    fn answer(&self, sdp: &str) -> String {
        let offer = str0m::change::SdpOffer::from_sdp_string(sdp).unwrap();
        let answer = self
            .rtc
            .lock()
            .unwrap()
            .sdp_api()
            .accept_offer(offer)
            .unwrap();
        answer.to_sdp_string()
    }

    /// The next event matching `pick` (bounded by `WAIT`).
    async fn wait_for<T>(&mut self, mut pick: impl FnMut(ClientEvent) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .expect("peer connection event in time")
                .expect("peer connection task alive");
            if let Some(v) = pick(event) {
                return v;
            }
        }
    }

    /// Waits until the `data` channel is open and returns its id.
    async fn data_channel(&mut self) -> str0m::channel::ChannelId {
        self.wait_for(|e| match e {
            ClientEvent::ChannelOpen(id, label) if label == "data" => Some(id),
            _ => None,
        })
        .await
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Collects messages until one of each type in `kinds` arrived (others are kept too).
async fn collect_types(ws: &mut Ws, kinds: &[&str]) -> Vec<Value> {
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !kinds
        .iter()
        .all(|k| got.iter().any(|m: &Value| m["type"] == *k))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.recv_within(left).await {
            Some(m) => got.push(m),
            None => panic!("missing some of {kinds:?} within {WAIT:?}; got {got:?}"),
        }
    }
    got
}

/// The first message of type `kind` in `messages`.
fn first_of<'a>(messages: &'a [Value], kind: &str) -> &'a Value {
    messages
        .iter()
        .find(|m| m["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {messages:?}"))
}

#[tokio::test]
async fn publish_subscribe_negotiation_and_data_relay() {
    let server = Server::start(&[]).await;

    // Alice publishes: she offers a send-only m-line, the server answers.
    let (mut alice_ws, joined_a) = server.join("neg", "alice").await;
    let alice_id = joined_a["participant"]["id"].as_str().unwrap().to_owned();
    let mut alice = Client::new().await;
    let (mid, offer, pending) = alice.offer_audio();
    alice_ws
        .send(json!({"type": "track_info", "mid": mid, "source": "microphone", "name": "mic"}))
        .await;
    alice_ws.send(json!({"type": "offer", "sdp": offer})).await;
    let answer = alice_ws.recv().await;
    assert_eq!(answer["type"], "answer", "{answer}");
    let answer_sdp = answer["sdp"].as_str().unwrap();
    assert!(answer_sdp.contains("a=recvonly"), "{answer_sdp}");
    assert!(
        answer_sdp.contains("a=ice-lite") && answer_sdp.contains("a=candidate:"),
        "{answer_sdp}"
    );
    alice.accept_answer(pending, answer_sdp);

    // Once the client has described its session, the server offers its `data` channel; the
    // track is announced (to its publisher too) once media can flow.
    let got = collect_types(&mut alice_ws, &["offer", "track_published"]).await;
    let server_offer = first_of(&got, "offer")["sdp"].as_str().unwrap().to_owned();
    assert!(
        server_offer.contains("m=application") && server_offer.contains("webrtc-datachannel"),
        "{server_offer}"
    );
    alice_ws
        .send(json!({"type": "answer", "sdp": alice.answer(&server_offer)}))
        .await;
    let track = first_of(&got, "track_published")["track"].clone();
    let track_id = track["id"].as_str().unwrap().to_owned();
    assert!(
        track_id.starts_with("TR_") && track_id.len() == 3 + 16,
        "{track}"
    );
    assert_eq!(track["participant_id"], alice_id);
    assert_eq!(track["kind"], "audio");
    assert_eq!(track["source"], "microphone");
    assert_eq!(track["name"], "mic");
    assert_eq!(track["mid"], mid);
    assert_eq!(track["codec"], "opus");
    assert_eq!(track["muted"], false);
    assert_eq!(track["simulcast"], json!([]));
    alice
        .wait_for(|e| matches!(e, ClientEvent::Connected).then_some(()))
        .await;

    // Bob joins: he sees the track and gets a server offer with a send-only m-line for it.
    let (mut bob_ws, joined_b) = server.join("neg", "bob").await;
    let listed = &joined_b["participants"][0]["tracks"];
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    for key in [
        "id",
        "participant_id",
        "kind",
        "source",
        "name",
        "mid",
        "codec",
        "muted",
        "simulcast",
    ] {
        assert_eq!(listed[0][key], track[key], "{key}");
    }
    assert_eq!(
        alice_ws.recv_type("participant_joined").await["participant"]["identity"],
        "bob"
    );
    let offer_b = bob_ws.recv_type("offer").await["sdp"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        offer_b.contains("m=audio") && offer_b.contains("a=sendonly"),
        "{offer_b}"
    );
    assert!(
        offer_b.contains(&format!("a=msid:{alice_id} {track_id}")),
        "msid names publisher and track: {offer_b}"
    );
    assert!(
        !offer_b.contains("m=application"),
        "the data channel waits until a first exchange completed: {offer_b}"
    );

    // A client offer crossing the pending server offer is ignored; the polite client rolls back,
    // answers, and offers again (at once: the server holds its next offer for that re-offer).
    let mut bob = Client::new().await;
    let (_, crossing, _rolled_back) = bob.offer_audio();
    bob_ws.send(json!({"type": "offer", "sdp": crossing})).await;
    assert!(
        bob_ws.recv_within(QUIET).await.is_none(),
        "a crossing client offer gets no answer and no error"
    );
    bob_ws
        .send(json!({"type": "answer", "sdp": bob.answer(&offer_b)}))
        .await;
    let (_, reoffer, pending_b) = bob.offer_audio();
    bob_ws.send(json!({"type": "offer", "sdp": reoffer})).await;
    let answer_b = bob_ws.recv().await;
    assert_eq!(answer_b["type"], "answer", "{answer_b}");
    bob.accept_answer(pending_b, answer_b["sdp"].as_str().unwrap());
    // Then the held server offer goes out: the `data` channel (held a moment after the
    // exchange, so events such as Bob's `track_published` may come first).
    let mut offer_dc = bob_ws.recv().await;
    for _ in 0..10 {
        if offer_dc["type"] == "offer" {
            break;
        }
        offer_dc = bob_ws.recv().await;
    }
    assert_eq!(offer_dc["type"], "offer", "{offer_dc}");
    let offer_dc = offer_dc["sdp"].as_str().unwrap();
    assert!(offer_dc.contains("m=application"), "{offer_dc}");
    bob_ws
        .send(json!({"type": "answer", "sdp": bob.answer(offer_dc)}))
        .await;

    // Data: what Alice sends on `data` reaches Bob wrapped with her participant id.
    let alice_channel = alice.data_channel().await;
    let _bob_channel = bob.data_channel().await;
    let deadline = Instant::now() + WAIT;
    let relayed = loop {
        {
            let mut rtc = alice.rtc.lock().unwrap();
            let mut channel = rtc.channel(alice_channel).expect("alice's data channel");
            channel.write(false, b"hello \"bob\"").unwrap();
        }
        let got = tokio::time::timeout(
            Duration::from_millis(300),
            bob.wait_for(|e| match e {
                ClientEvent::ChannelData(d) => Some(d),
                _ => None,
            }),
        )
        .await;
        if let Ok(data) = got {
            break data;
        }
        assert!(Instant::now() < deadline, "no data relayed to bob");
    };
    let relayed: Value = serde_json::from_slice(&relayed).unwrap();
    assert_eq!(
        relayed,
        json!({"from": alice_id, "payload": "hello \"bob\""})
    );

    // Mute: only the publisher may mute over signalling; everyone is told.
    bob_ws
        .send(json!({"type": "mute", "track_id": track_id, "muted": true}))
        .await;
    // (Bob's own track may be announced meanwhile, as his connection came up.)
    assert_eq!(bob_ws.recv_type("error").await["code"], "permission_denied");
    alice_ws
        .send(json!({"type": "mute", "track_id": track_id, "muted": true}))
        .await;
    assert_eq!(
        bob_ws.recv_type("track_muted").await,
        json!({"type": "track_muted", "track_id": track_id, "muted": true})
    );

    // Alice leaves: her track is unpublished and Bob's m-line for it is removed. It is Bob's
    // first m-line (the server offered before Bob published), the BUNDLE tag, which is set
    // inactive instead of stopped (port 0) so the browser keeps its one transport.
    alice_ws.send(json!({"type": "leave"})).await;
    let got = collect_types(
        &mut bob_ws,
        &["track_unpublished", "participant_left", "offer"],
    )
    .await;
    assert_eq!(
        first_of(&got, "track_unpublished"),
        &json!({"type": "track_unpublished", "track_id": track_id})
    );
    assert_eq!(
        first_of(&got, "participant_left"),
        &json!({"type": "participant_left", "participant_id": alice_id})
    );
    let removal = first_of(&got, "offer")["sdp"].as_str().unwrap().to_owned();
    let first_section = removal.split("\nm=").nth(1).unwrap_or("");
    assert!(
        first_section.starts_with("audio ")
            && !first_section.starts_with("audio 0 ")
            && first_section.contains("a=inactive"),
        "the removed BUNDLE-tag m-line is inactive, not stopped: {removal}"
    );
    bob_ws
        .send(json!({"type": "answer", "sdp": bob.answer(&removal)}))
        .await;
    assert!(
        bob_ws.recv_within(QUIET).await.is_none(),
        "the removal answer is accepted silently"
    );
}
