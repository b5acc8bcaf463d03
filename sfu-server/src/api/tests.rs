//! REST API tests: every endpoint and error code through the router with `oneshot`, over a
//! real media worker on an ephemeral UDP port, in dev mode and with configured keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sfu_core::Permissions;
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::app::AppState;
use crate::auth::{Authenticator, Claims, VideoGrants, claims_for, sign, token_for, unix_now};
use crate::config::{Config, DEV_API_KEY, DEV_API_SECRET};
use crate::media::{JoinRequest, MediaHandle, SessionMsg, WorkerSettings};
use crate::signal::messages::ClientMessage;

/// The configured API key of keyed-mode tests.
const KEY: &str = "testkey";
/// Its secret (32 bytes, the minimum outside dev mode).
const SECRET: &str = "0123456789abcdef0123456789abcdef";
/// The fields of API.md's `Track`.
const TRACK_FIELDS: [&str; 8] = [
    "id",
    "participant_id",
    "kind",
    "source",
    "mid",
    "codec",
    "muted",
    "simulcast",
];
/// Bound on every wait for the worker.
const WAIT: Duration = Duration::from_secs(10);

/// An `AppState` over `config` with a real media worker on 127.0.0.1:0.
pub(super) fn state_with(config: Config) -> AppState {
    let media = MediaHandle::start(WorkerSettings {
        udp_addr: "127.0.0.1:0".parse().unwrap(),
        socket_buffer_bytes: 256 * 1024,
        udp_gso: config.media.udp_gso,
        announce_ips: Vec::new(),
        auto_create_rooms: config.rooms.auto_create,
        empty_timeout: Duration::from_secs(config.rooms.empty_timeout_s),
        max_participants: config.rooms.max_participants,
        peer_timeout: Duration::from_secs(config.media.peer_timeout_s),
        ice_servers: config.media.ice_servers.clone(),
        bandwidth_estimation: config.media.bandwidth_estimation,
        dynacast: config.media.dynacast,
        webhooks: crate::webhooks::Webhooks::disabled(),
        max_forwards_per_room: config.forwards.max_per_room,
    })
    .expect("media worker starts");
    AppState {
        auth: Arc::new(Authenticator::from_config(&config.auth)),
        config: Arc::new(config),
        media,
        draining: Arc::new(AtomicBool::new(false)),
        sessions: crate::app::SessionCounter::default(),
        metrics: Default::default(),
    }
}

/// Dev mode: no keys configured.
fn dev_state() -> AppState {
    state_with(Config::default())
}

/// The keyed configuration (`KEY`/`SECRET`).
pub(super) fn keyed_config() -> Config {
    let mut config = Config::default();
    config.auth.keys.insert(KEY.into(), SECRET.into());
    config
}

/// Keyed mode: one configured API key, so no dev endpoint.
pub(super) fn keyed_state() -> AppState {
    state_with(keyed_config())
}

/// A token for `claims` signed with the keyed-mode key.
fn keyed(claims: &Claims) -> String {
    sign(KEY, SECRET, claims).unwrap()
}

/// An all-rooms admin token (room_create, room_admin, room_list) in keyed mode.
pub(super) fn admin() -> String {
    token_for(KEY, SECRET, None, "ops", true, Duration::from_secs(600))
}

/// A plain participant token (room_join on `room` only) in keyed mode.
pub(super) fn participant(room: &str, identity: &str) -> String {
    token_for(
        KEY,
        SECRET,
        Some(room),
        identity,
        false,
        Duration::from_secs(600),
    )
}

/// Claims with only the given grants (and nothing else).
fn grants(room: Option<&str>, video: VideoGrants) -> Claims {
    Claims {
        video: VideoGrants {
            room: room.map(str::to_owned),
            ..video
        },
        ..claims_for(None, "someone", false, Duration::from_secs(600))
    }
}

/// A response: status, headers and the body parsed as JSON (`Null` when empty).
pub(super) struct Reply {
    pub status: StatusCode,
    content_type: Option<String>,
    pub body: Value,
}

/// Sends one request through a fresh router; `body` is sent verbatim with a JSON content type.
async fn send_raw(
    state: &AppState,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b)),
        None => req.body(Body::empty()),
    }
    .unwrap();
    send(state, req).await
}

/// Sends a prepared request through a fresh router.
async fn send(state: &AppState, req: Request<Body>) -> Reply {
    let res = tokio::time::timeout(WAIT, super::router(state.clone()).oneshot(req))
        .await
        .expect("the router answers in time")
        .unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {bytes:?}"))
    };
    Reply {
        status,
        content_type,
        body,
    }
}

/// A JSON request (or none) with a bearer token.
pub(super) async fn call(
    state: &AppState,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    send_raw(state, method, uri, token, body.map(|b| b.to_string())).await
}

/// Asserts the exact API error shape `{"error": {"code", "message"}}` with this status and code.
#[track_caller]
pub(super) fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.body);
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/json"),
        "{}",
        reply.body
    );
    let obj = reply
        .body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {}", reply.body));
    assert_eq!(
        obj.len(),
        1,
        "only `error` at the top level: {}",
        reply.body
    );
    let error = obj["error"]
        .as_object()
        .unwrap_or_else(|| panic!("no error object: {}", reply.body));
    assert_eq!(
        error.len(),
        2,
        "error has exactly code and message: {}",
        reply.body
    );
    assert_eq!(error["code"], code, "{}", reply.body);
    let message = error["message"].as_str().expect("message is a string");
    assert!(!message.is_empty(), "message is not empty");
}

/// Joins `identity` to `room` straight through the media handle, as the WebSocket task would.
pub(super) async fn join(
    state: &AppState,
    room: &str,
    identity: &str,
) -> (String, mpsc::Receiver<SessionMsg>) {
    let (tx, mut rx) = mpsc::channel(64);
    let id = state
        .media
        .join(JoinRequest {
            room: room.into(),
            identity: identity.into(),
            name: None,
            permissions: Permissions {
                can_publish: true,
                can_subscribe: true,
                can_publish_data: true,
            },
            may_create: false,
            session: tx,
        })
        .await
        .expect("join succeeds");
    let joined = next_of(&mut rx, "joined").await;
    assert_eq!(joined["participant"]["id"], id.to_string());
    (id.to_string(), rx)
}

/// The next session message of type `kind` (others are skipped), bounded by `WAIT`.
pub(super) async fn next_of(rx: &mut mpsc::Receiver<SessionMsg>, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no `{kind}` message within {WAIT:?}"))
            .unwrap_or_else(|| panic!("session closed while waiting for `{kind}`"));
        if let SessionMsg::Text(text) = msg {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == kind {
                return value;
            }
        }
    }
}

/// The next `leave` reason sent to a session (text messages before it are skipped).
async fn next_leave(rx: &mut mpsc::Receiver<SessionMsg>) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => panic!("no leave within {WAIT:?}"),
            Ok(None) => panic!("session closed without leave"),
            Ok(Some(SessionMsg::Leave(reason))) => return reason,
            Ok(Some(SessionMsg::Text(_))) => {}
        }
    }
}

/// Publishes one send-only Opus track as participant `id` from a str0m client on a loopback
/// UDP socket, and keeps its ICE/DTLS connection running in a task: the server reports a
/// track (`track_published`) only once media can flow.
pub(super) async fn publish_audio(
    state: &AppState,
    id: &str,
    rx: &mut mpsc::Receiver<SessionMsg>,
) -> tokio::task::JoinHandle<()> {
    use str0m::change::SdpAnswer;
    use str0m::media::{Direction, MediaKind};
    use str0m::net::{Protocol, Receive};
    use str0m::{Candidate, Input, Output, Rtc};

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let mut rtc = Rtc::new(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().expect("an offer");
    let sdp = offer.to_sdp_string();
    state
        .media
        .signal(id.parse().unwrap(), ClientMessage::Offer { sdp })
        .await;
    let answer = next_of(rx, "answer").await;
    let answer = SdpAnswer::from_sdp_string(answer["sdp"].as_str().unwrap()).unwrap();
    rtc.sdp_api().accept_answer(pending, answer).unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let deadline = match rtc.poll_output() {
                Ok(Output::Timeout(t)) => t,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                    continue;
                }
                Ok(Output::Event(_)) => continue,
                Err(_) => return,
            };
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50));
            let result = match tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
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
    })
}

#[tokio::test]
async fn rooms_create_list_get_delete() {
    let state = keyed_state();
    let t = admin();
    let before = unix_now();

    let r = call(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some(json!({"name": "r1", "max_participants": 5, "empty_timeout_s": 60})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let room = &r.body;
    assert_eq!(room["name"], "r1");
    assert!(room["sid"].as_str().unwrap().starts_with("RM_"), "{room}");
    let created = room["created_at"].as_u64().unwrap();
    assert!(created >= before && created <= unix_now() + 1, "{room}");
    assert_eq!(room["num_participants"], 0);
    assert_eq!(room["max_participants"], 5);
    assert!(
        room.get("participants").is_none(),
        "a created room lists no participants: {room}"
    );
    let sid = room["sid"].clone();

    // Defaults of a room created without limits.
    let r = call(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some(json!({"name": "r2"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["max_participants"], 0);
    assert_ne!(r.body["sid"], sid, "every room has its own sid");

    let r = call(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some(json!({"name": "r1"})),
    )
    .await;
    assert_error(&r, StatusCode::CONFLICT, "room_exists");

    let r = call(&state, Method::GET, "/v1/rooms", Some(&t), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<&str> = r.body["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["r1", "r2"]);
    assert!(r.body["rooms"][0].get("participants").is_none());

    let r = call(&state, Method::GET, "/v1/rooms/r1", Some(&t), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["sid"], sid);
    assert_eq!(r.body["participants"], json!([]));

    let r = call(&state, Method::DELETE, "/v1/rooms/r1", Some(&t), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null, "204 has no body");

    let r = call(&state, Method::GET, "/v1/rooms/r1", Some(&t), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "room_not_found");
    let r = call(&state, Method::DELETE, "/v1/rooms/r1", Some(&t), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "room_not_found");
    let r = call(
        &state,
        Method::GET,
        "/v1/rooms/r1/participants",
        Some(&t),
        None,
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "room_not_found");
    let r = call(
        &state,
        Method::DELETE,
        "/v1/rooms/r1/participants/alice",
        Some(&t),
        None,
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "room_not_found");
    let r = call(
        &state,
        Method::POST,
        "/v1/rooms/r1/participants/alice/tracks/TR_0000000000000001/mute",
        Some(&t),
        Some(json!({"muted": true})),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "room_not_found");

    // The name is recreated as a new incarnation.
    let r = call(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some(json!({"name": "r1"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_ne!(r.body["sid"], sid);
}

#[tokio::test]
async fn room_names_are_validated() {
    let state = keyed_state();
    let t = admin();
    for name in [String::new(), "x".repeat(129), "a\u{7}b".into()] {
        let r = call(
            &state,
            Method::POST,
            "/v1/rooms",
            Some(&t),
            Some(json!({"name": name})),
        )
        .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    }
    let r = call(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some(json!({"name": "x".repeat(128)})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn participants_listed_and_removed() {
    let state = keyed_state();
    let t = admin();
    let r = call(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some(json!({"name": "meet"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (alice, mut alice_rx) = join(&state, "meet", "alice").await;
    let (bob, mut bob_rx) = join(&state, "meet", "bob").await;
    assert!(alice.starts_with("PA_") && bob.starts_with("PA_"));
    assert_ne!(alice, bob);

    let r = call(&state, Method::GET, "/v1/rooms/meet", Some(&t), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["num_participants"], 2);
    let people = r.body["participants"].as_array().unwrap();
    assert_eq!(people.len(), 2);
    for p in people {
        let id = p["id"].as_str().unwrap();
        let identity = p["identity"].as_str().unwrap();
        assert!(
            (id == alice && identity == "alice") || (id == bob && identity == "bob"),
            "{p}"
        );
        assert_eq!(p["tracks"], json!([]));
        assert!(p["joined_at"].as_u64().unwrap() > 0);
    }

    let r = call(
        &state,
        Method::GET,
        "/v1/rooms/meet/participants",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let mut identities: Vec<&str> = r.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    identities.sort();
    assert_eq!(identities, ["alice", "bob"]);

    let r = call(&state, Method::GET, "/v1/rooms", Some(&t), None).await;
    assert_eq!(r.body["rooms"][0]["num_participants"], 2);

    let r = call(
        &state,
        Method::DELETE,
        "/v1/rooms/meet/participants/nobody",
        Some(&t),
        None,
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "participant_not_found");

    let r = call(
        &state,
        Method::DELETE,
        "/v1/rooms/meet/participants/alice",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(next_leave(&mut alice_rx).await, "removed");
    let left = next_of(&mut bob_rx, "participant_left").await;
    assert_eq!(
        left,
        json!({"type": "participant_left", "participant_id": alice})
    );

    let r = call(
        &state,
        Method::DELETE,
        "/v1/rooms/meet/participants/alice",
        Some(&t),
        None,
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "participant_not_found");
    let r = call(
        &state,
        Method::GET,
        "/v1/rooms/meet/participants",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(r.body["participants"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["participants"][0]["id"], bob);

    // Deleting the room disconnects everyone in it.
    let r = call(&state, Method::DELETE, "/v1/rooms/meet", Some(&t), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(next_leave(&mut bob_rx).await, "room_closed");
    let r = call(&state, Method::GET, "/v1/rooms", Some(&t), None).await;
    assert_eq!(r.body, json!({"rooms": []}));
}

#[tokio::test]
async fn mute_published_track() {
    let state = keyed_state();
    let t = admin();
    let (alice, mut alice_rx) = join(&state, "studio", "alice").await;
    let (_bob, mut bob_rx) = join(&state, "studio", "bob").await;

    let client = publish_audio(&state, &alice, &mut alice_rx).await;
    let published = next_of(&mut alice_rx, "track_published").await;
    let track = published["track"].clone();
    let track_id = track["id"].as_str().unwrap().to_owned();
    assert!(track_id.starts_with("TR_"), "{track}");
    assert_eq!(track["participant_id"], alice);
    assert_eq!(track["kind"], "audio");
    assert_eq!(track["muted"], false);
    assert_eq!(
        next_of(&mut bob_rx, "track_published").await["track"],
        track
    );

    let r = call(
        &state,
        Method::GET,
        "/v1/rooms/studio/participants",
        Some(&t),
        None,
    )
    .await;
    let alice_json = r.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == alice)
        .unwrap()
        .clone();
    // The REST view may carry extension fields; the contract's fields match the event's.
    assert_eq!(alice_json["tracks"].as_array().unwrap().len(), 1);
    for key in TRACK_FIELDS {
        assert_eq!(alice_json["tracks"][0][key], track[key], "{key}");
    }

    let uri = format!("/v1/rooms/studio/participants/alice/tracks/{track_id}/mute");
    let r = call(
        &state,
        Method::POST,
        &uri,
        Some(&t),
        Some(json!({"muted": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], track_id);
    assert_eq!(r.body["muted"], true);
    for key in TRACK_FIELDS {
        assert!(r.body.get(key).is_some(), "Track has {key}: {}", r.body);
    }
    let muted = next_of(&mut bob_rx, "track_muted").await;
    assert_eq!(
        muted,
        json!({"type": "track_muted", "track_id": track_id, "muted": true})
    );

    let r = call(
        &state,
        Method::POST,
        &uri,
        Some(&t),
        Some(json!({"muted": false})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["muted"], false);

    // Unknown, malformed and someone else's track ids; unknown publisher.
    for bad in ["TR_0000000000000001", "nope"] {
        let uri = format!("/v1/rooms/studio/participants/alice/tracks/{bad}/mute");
        let r = call(
            &state,
            Method::POST,
            &uri,
            Some(&t),
            Some(json!({"muted": true})),
        )
        .await;
        assert_error(&r, StatusCode::NOT_FOUND, "track_not_found");
    }
    let uri_bob = format!("/v1/rooms/studio/participants/bob/tracks/{track_id}/mute");
    let r = call(
        &state,
        Method::POST,
        &uri_bob,
        Some(&t),
        Some(json!({"muted": true})),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "track_not_found");
    let uri_nobody = format!("/v1/rooms/studio/participants/nobody/tracks/{track_id}/mute");
    let r = call(
        &state,
        Method::POST,
        &uri_nobody,
        Some(&t),
        Some(json!({"muted": true})),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "participant_not_found");

    // Bad bodies.
    let r = call(
        &state,
        Method::POST,
        &uri,
        Some(&t),
        Some(json!({"muted": "yes"})),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_body");
    let r = call(&state, Method::POST, &uri, Some(&t), Some(json!({}))).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_body");
    let r = call(
        &state,
        Method::POST,
        &uri,
        Some(&t),
        Some(json!({"muted": true, "extra": 1})),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_body");
    client.abort();
}

#[tokio::test]
async fn unauthenticated_requests_get_401() {
    let state = keyed_state();
    let exp_past = Claims {
        exp: unix_now() - 3600,
        ..claims_for(None, "ops", true, Duration::from_secs(600))
    };
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing_token"),
        (Some("Basic b3BzOnNlY3JldA==".into()), "invalid_token"),
        (Some("Bearer".into()), "invalid_token"),
        (Some(format!("Token {}", admin())), "invalid_token"),
        (Some("Bearer not.a.jwt".into()), "invalid_token"),
        (Some("Bearer garbage".into()), "invalid_token"),
        (Some("Bearer ".into()), "missing_token"),
        (
            Some(format!(
                "Bearer {}",
                token_for(
                    KEY,
                    "another-secret-another-secret-xx",
                    None,
                    "ops",
                    true,
                    Duration::from_secs(600)
                )
            )),
            "invalid_signature",
        ),
        (
            Some(format!("Bearer {}", keyed(&exp_past))),
            "token_expired",
        ),
        (
            Some(format!(
                "Bearer {}",
                token_for(
                    "otherkey",
                    SECRET,
                    None,
                    "ops",
                    true,
                    Duration::from_secs(600)
                )
            )),
            "unknown_key",
        ),
        // The public dev key is not accepted once keys are configured.
        (
            Some(format!(
                "Bearer {}",
                token_for(
                    DEV_API_KEY,
                    DEV_API_SECRET,
                    None,
                    "ops",
                    true,
                    Duration::from_secs(600)
                )
            )),
            "unknown_key",
        ),
    ];
    let routes: [(Method, &str, Option<Value>); 8] = [
        (Method::GET, "/v1/rooms", None),
        (Method::POST, "/v1/rooms", Some(json!({"name": "x"}))),
        (Method::GET, "/v1/rooms/x", None),
        (Method::DELETE, "/v1/rooms/x", None),
        (Method::GET, "/v1/rooms/x/participants", None),
        (Method::DELETE, "/v1/rooms/x/participants/alice", None),
        (
            Method::POST,
            "/v1/rooms/x/participants/alice/tracks/TR_0000000000000001/mute",
            Some(json!({"muted": true})),
        ),
        (Method::GET, "/v1/stats", None),
    ];
    for (authorization, code) in &cases {
        for (method, uri, body) in &routes {
            let mut req = Request::builder().method(method.clone()).uri(*uri);
            if let Some(a) = authorization {
                req = req.header(header::AUTHORIZATION, a);
            }
            let req = match body {
                Some(b) => req
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(b.to_string())),
                None => req.body(Body::empty()),
            }
            .unwrap();
            let r = send(&state, req).await;
            assert_error(&r, StatusCode::UNAUTHORIZED, code);
        }
    }
    // Nothing was created by the refused calls.
    let r = call(&state, Method::GET, "/v1/rooms", Some(&admin()), None).await;
    assert_eq!(r.body, json!({"rooms": []}));
}

#[tokio::test]
async fn missing_grants_get_403() {
    let state = keyed_state();
    let t = admin();
    for name in ["a", "b"] {
        let r = call(
            &state,
            Method::POST,
            "/v1/rooms",
            Some(&t),
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }

    // A participant token of room `a`: join only.
    let p = participant("a", "alice");
    for (method, uri, body) in [
        (Method::GET, "/v1/rooms", None),
        (Method::POST, "/v1/rooms", Some(json!({"name": "c"}))),
        (Method::GET, "/v1/rooms/a", None),
        (Method::DELETE, "/v1/rooms/a", None),
        (Method::GET, "/v1/rooms/a/participants", None),
        (Method::DELETE, "/v1/rooms/a/participants/bob", None),
        (
            Method::POST,
            "/v1/rooms/a/participants/bob/tracks/TR_0000000000000001/mute",
            Some(json!({"muted": true})),
        ),
        (Method::GET, "/v1/stats", None),
    ] {
        let r = call(&state, method.clone(), uri, Some(&p), body).await;
        assert_error(&r, StatusCode::FORBIDDEN, "permission_denied");
    }

    // Each grant guards its own endpoints.
    let list_only = keyed(&grants(
        None,
        VideoGrants {
            room_list: true,
            ..Default::default()
        },
    ));
    assert_eq!(
        call(&state, Method::GET, "/v1/rooms", Some(&list_only), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&state, Method::GET, "/v1/stats", Some(&list_only), None)
            .await
            .status,
        StatusCode::OK
    );
    let r = call(&state, Method::GET, "/v1/rooms/a", Some(&list_only), None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "permission_denied");
    let r = call(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&list_only),
        Some(json!({"name": "c"})),
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "permission_denied");

    let admin_only = keyed(&grants(
        None,
        VideoGrants {
            room_admin: true,
            ..Default::default()
        },
    ));
    assert_eq!(
        call(&state, Method::GET, "/v1/rooms/a", Some(&admin_only), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &state,
            Method::GET,
            "/v1/rooms/a/participants",
            Some(&admin_only),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    let r = call(
        &state,
        Method::DELETE,
        "/v1/rooms/a",
        Some(&admin_only),
        None,
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "permission_denied");
    let r = call(&state, Method::GET, "/v1/rooms", Some(&admin_only), None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "permission_denied");

    let create_only = keyed(&grants(
        None,
        VideoGrants {
            room_create: true,
            ..Default::default()
        },
    ));
    let r = call(
        &state,
        Method::GET,
        "/v1/rooms/a/participants",
        Some(&create_only),
        None,
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "permission_denied");
    assert_eq!(
        call(
            &state,
            Method::POST,
            "/v1/rooms",
            Some(&create_only),
            Some(json!({"name": "c"}))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        call(
            &state,
            Method::DELETE,
            "/v1/rooms/c",
            Some(&create_only),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );

    // An admin token scoped to room `a` may do everything there and nothing on `b`.
    let scoped = token_for(
        KEY,
        SECRET,
        Some("a"),
        "ops",
        true,
        Duration::from_secs(600),
    );
    for (method, uri, body) in [
        (Method::POST, "/v1/rooms", Some(json!({"name": "b"}))),
        (Method::GET, "/v1/rooms/b", None),
        (Method::DELETE, "/v1/rooms/b", None),
        (Method::GET, "/v1/rooms/b/participants", None),
        (Method::DELETE, "/v1/rooms/b/participants/bob", None),
        (
            Method::POST,
            "/v1/rooms/b/participants/bob/tracks/TR_0000000000000001/mute",
            Some(json!({"muted": true})),
        ),
        // Scoping is checked before existence: no probing other rooms' names.
        (Method::GET, "/v1/rooms/zzz", None),
    ] {
        let r = call(&state, method.clone(), uri, Some(&scoped), body).await;
        assert_error(&r, StatusCode::FORBIDDEN, "permission_denied");
    }
    assert_eq!(
        call(&state, Method::GET, "/v1/rooms/a", Some(&scoped), None)
            .await
            .status,
        StatusCode::OK
    );
    // Listing with a scoped token shows only its room.
    let r = call(&state, Method::GET, "/v1/rooms", Some(&scoped), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<&str> = r.body["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a"]);
    let r = call(&state, Method::DELETE, "/v1/rooms/a", Some(&scoped), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // b is untouched.
    assert_eq!(
        call(&state, Method::GET, "/v1/rooms/b", Some(&t), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_bodies_get_400() {
    let state = keyed_state();
    let t = admin();
    let r = send_raw(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some("{nope".into()),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_json");
    let r = send_raw(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some(String::new()),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_json");
    let r = send_raw(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some(r#"{"name":"x"} trailing"#.into()),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_json");
    for body in [
        json!({"name": "x", "bogus": 1}),
        json!({}),
        json!({"name": 7}),
        json!({"name": "x", "max_participants": -1}),
        json!({"name": "x", "empty_timeout_s": "soon"}),
    ] {
        let r = call(&state, Method::POST, "/v1/rooms", Some(&t), Some(body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_body");
    }
    // Without a JSON content type.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/rooms")
        .header(header::AUTHORIZATION, format!("Bearer {t}"))
        .body(Body::from(r#"{"name":"x"}"#))
        .unwrap();
    let r = send(&state, req).await;
    assert_error(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    // Nothing was created.
    assert_eq!(
        call(&state, Method::GET, "/v1/rooms", Some(&t), None)
            .await
            .body,
        json!({"rooms": []})
    );
}

#[tokio::test]
async fn oversized_body_gets_413() {
    let mut config = keyed_config();
    config.server.max_body_bytes = 64;
    let state = state_with(config);
    let t = admin();
    let big = json!({"name": "x".repeat(100)}).to_string();
    let r = send_raw(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some(big.clone()),
    )
    .await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");

    // Also when the length is not announced up front (a streamed body).
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(16)
        .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
        .collect();
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/rooms")
        .header(header::AUTHORIZATION, format!("Bearer {t}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let r = send(&state, req).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");

    // Under the limit all is well.
    let r = call(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some(json!({"name": "small"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn unknown_routes_get_json_404() {
    for state in [dev_state(), keyed_state()] {
        for uri in ["/nope", "/v1", "/v1/room", "/v1/rooms/a/b/c", "/v2/rooms"] {
            let r = call(&state, Method::GET, uri, Some(&admin()), None).await;
            assert_error(&r, StatusCode::NOT_FOUND, "not_found");
        }
        let r = call(&state, Method::POST, "/nope", None, Some(json!({}))).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let state = keyed_state();
    let r = call(&state, Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "ok"}));
    let r = call(&state, Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "ready"}));

    state.draining.store(true, Ordering::Relaxed);
    let r = call(&state, Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body, json!({"status": "draining"}));
    // Still alive while draining.
    assert_eq!(
        call(&state, Method::GET, "/healthz", None, None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn dev_token_endpoint_in_dev_mode() {
    let state = dev_state();
    let r = call(
        &state,
        Method::POST,
        "/v1/dev/token",
        None,
        Some(json!({"room": "r", "identity": "alice"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let obj = r.body.as_object().unwrap();
    assert_eq!(obj.len(), 1, "{}", r.body);
    let token = obj["token"].as_str().unwrap();
    let claims = state.auth.verify(token).expect("the dev token verifies");
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.iss.as_deref(), Some(DEV_API_KEY));
    assert_eq!(claims.video.room.as_deref(), Some("r"));
    assert!(
        claims.video.room_join
            && claims.video.can_publish
            && claims.video.can_subscribe
            && claims.video.can_publish_data
    );
    assert!(!claims.video.room_admin && !claims.video.room_create && !claims.video.room_list);
    assert!(claims.exp > unix_now() + 3600, "valid for hours");
    claims.join_room().unwrap();
    // It is a participant token, no admin token.
    let r = call(&state, Method::GET, "/v1/rooms", Some(token), None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "permission_denied");

    // Extension: `admin` adds the admin grants on that room.
    let r = call(
        &state,
        Method::POST,
        "/v1/dev/token",
        None,
        Some(json!({"room": "r", "identity": "ops", "admin": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let admin_token = r.body["token"].as_str().unwrap().to_owned();
    let claims = state.auth.verify(&admin_token).unwrap();
    assert!(
        claims.video.room_admin
            && claims.video.room_create
            && claims.video.room_list
            && claims.video.room_join
    );
    let r = call(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&admin_token),
        Some(json!({"name": "r"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        call(&state, Method::GET, "/v1/rooms/r", Some(&admin_token), None)
            .await
            .status,
        StatusCode::OK
    );
    let r = call(
        &state,
        Method::GET,
        "/v1/rooms/other",
        Some(&admin_token),
        None,
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "permission_denied");

    // Bad requests.
    for body in [
        json!({"room": "", "identity": "a"}),
        json!({"room": "r", "identity": ""}),
        json!({"room": "x".repeat(129), "identity": "a"}),
        json!({"room": "r", "identity": "x".repeat(129)}),
    ] {
        let r = call(&state, Method::POST, "/v1/dev/token", None, Some(body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    }
    for body in [
        json!({"room": "r"}),
        json!({"room": "r", "identity": "a", "sneaky": true}),
        json!({"room": "r", "identity": "a", "admin": "yes"}),
    ] {
        let r = call(&state, Method::POST, "/v1/dev/token", None, Some(body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_body");
    }
    let r = send_raw(
        &state,
        Method::POST,
        "/v1/dev/token",
        None,
        Some("{".into()),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_json");
}

#[tokio::test]
async fn dev_token_endpoint_absent_with_keys() {
    let state = keyed_state();
    for body in [
        json!({"room": "r", "identity": "alice"}),
        json!({"room": "r", "identity": "ops", "admin": true}),
    ] {
        let r = call(&state, Method::POST, "/v1/dev/token", None, Some(body)).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }
    let r = call(&state, Method::GET, "/v1/dev/token", None, None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn dev_mode_rest_round_trip() {
    let state = dev_state();
    let t = token_for(
        DEV_API_KEY,
        DEV_API_SECRET,
        None,
        "ops",
        true,
        Duration::from_secs(600),
    );
    let r = call(
        &state,
        Method::POST,
        "/v1/rooms",
        Some(&t),
        Some(json!({"name": "demo"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (alice, _rx) = join(&state, "demo", "alice").await;
    let r = call(&state, Method::GET, "/v1/rooms/demo", Some(&t), None).await;
    assert_eq!(r.body["participants"][0]["id"], alice);
    assert_eq!(r.body["num_participants"], 1);
    // A token signed with a made-up key is still refused in dev mode.
    let forged = token_for(KEY, SECRET, None, "ops", true, Duration::from_secs(600));
    let r = call(&state, Method::GET, "/v1/rooms", Some(&forged), None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unknown_key");
    let forged = token_for(
        DEV_API_KEY,
        "not-the-dev-secret",
        None,
        "ops",
        true,
        Duration::from_secs(600),
    );
    let r = call(&state, Method::GET, "/v1/rooms", Some(&forged), None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_signature");
}

#[tokio::test]
async fn stats_require_room_list() {
    let state = keyed_state();
    let r = call(&state, Method::GET, "/v1/stats", None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
    let r = call(
        &state,
        Method::GET,
        "/v1/stats",
        Some(&participant("r", "alice")),
        None,
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "permission_denied");
    let admin_only = keyed(&grants(
        None,
        VideoGrants {
            room_admin: true,
            room_create: true,
            ..Default::default()
        },
    ));
    let r = call(&state, Method::GET, "/v1/stats", Some(&admin_only), None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "permission_denied");

    let (_alice, _rx) = join(&state, "r", "alice").await;
    let r = call(&state, Method::GET, "/v1/stats", Some(&admin()), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["rooms"], 1);
    assert_eq!(r.body["participants"], 1);
    for key in [
        "datagrams_in",
        "datagrams_out",
        "datagrams_malformed",
        "datagrams_unrouted",
        "datagrams_rejected",
        "send_errors",
        "rtp_in",
        "rtp_forwarded",
    ] {
        assert!(r.body[key].is_u64(), "{key} in {}", r.body);
    }
    assert!(r.body["rtp_dropped"].is_array(), "{}", r.body);
}

#[tokio::test]
async fn demo_page_served_with_its_script_and_stylesheet() {
    let state = keyed_state();
    for (uri, content_type, marker) in [
        (
            "/",
            "text/html; charset=utf-8",
            r#"<script type="module" src="/demo.js">"#,
        ),
        (
            "/?room=r&identity=i",
            "text/html; charset=utf-8",
            r#"id="grid""#,
        ),
        ("/demo.js", "text/javascript; charset=utf-8", "sendData"),
        ("/demo.css", "text/css; charset=utf-8", ".tile"),
    ] {
        let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let res = super::router(state.clone()).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        let header = |name| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            header(header::CONTENT_TYPE).as_deref(),
            Some(content_type),
            "{uri}"
        );
        assert_eq!(
            header(header::CACHE_CONTROL).as_deref(),
            Some("no-cache"),
            "{uri}"
        );
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let body = std::str::from_utf8(&body).unwrap();
        assert!(body.contains(marker), "{uri} lacks {marker}");
    }
}

#[tokio::test]
async fn metrics_expose_media_http_and_process_figures() {
    let state = keyed_state();
    // Two requests to count: one matched route that fails (no token), one that works.
    let r = call(&state, Method::GET, "/v1/rooms", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    call(&state, Method::GET, "/healthz", None, None).await;
    let req = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let res = super::router(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()[axum::http::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    for line in [
        r#"sfu_http_requests_total{route="/v1/rooms",status="401"} 1"#,
        r#"sfu_http_requests_total{route="/healthz",status="200"} 1"#,
        "sfu_rooms 0",
        "sfu_participants 0",
        "sfu_rtp_forwarded_total 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    // The process collector: CPU time and resident memory of this (test) process.
    let rss = text
        .lines()
        .find_map(|l| l.strip_prefix("sfu_process_resident_memory_bytes "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("sfu_process_resident_memory_bytes");
    assert!(rss > 0.0, "{rss}");
    assert!(text.contains("sfu_process_cpu_seconds_total "), "{text}");
}
