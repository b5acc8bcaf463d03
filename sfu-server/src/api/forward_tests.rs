//! REST tests of forwards (the recording tap): create, list, switch, delete, end with the track,
//! and every refusal (bad host or port, destination outside the allow-list, unknown ids).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::tests::{
    admin, assert_error, call, join, keyed_config, keyed_state, next_of, participant,
    publish_audio, state_with,
};

/// Alice in room `rec` publishing one Opus track; returns the track id and the client task.
async fn room_with_audio(state: &crate::app::AppState) -> (String, tokio::task::JoinHandle<()>) {
    let (alice, mut rx) = join(state, "rec", "alice").await;
    let client = publish_audio(state, &alice, &mut rx).await;
    let published = next_of(&mut rx, "track_published").await;
    (
        published["track"]["id"].as_str().unwrap().to_owned(),
        client,
    )
}

async fn create(state: &crate::app::AppState, body: Value) -> super::tests::Reply {
    call(
        state,
        Method::POST,
        "/v1/rooms/rec/forwards",
        Some(&admin()),
        Some(body),
    )
    .await
}

async fn list(state: &crate::app::AppState) -> Vec<Value> {
    let r = call(
        state,
        Method::GET,
        "/v1/rooms/rec/forwards",
        Some(&admin()),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["forwards"].as_array().unwrap().clone()
}

#[tokio::test]
async fn forward_create_list_switch_delete() {
    let state = keyed_state();
    let (track, client) = room_with_audio(&state).await;
    let r = create(
        &state,
        json!({"track_id": track, "host": "127.0.0.1", "port": 5004}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("FW_"), "{}", r.body);
    assert_eq!(r.body["track_id"], track);
    assert_eq!(r.body["host"], "127.0.0.1");
    assert_eq!(r.body["port"], 5004);
    assert_eq!(r.body["rtcp_port"], 5005, "default port+1");
    let sdp = r.body["sdp"].as_str().unwrap();
    assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"), "{sdp}");
    assert!(sdp.contains("m=audio 5004 RTP/AVP "), "{sdp}");
    assert!(sdp.contains(" opus/48000/2\r\n"), "{sdp}");
    assert!(sdp.contains("a=rtcp:5005\r\n"), "{sdp}");
    assert!(sdp.contains("a=recvonly\r\n"), "{sdp}");

    // Several forwards per track.
    let r = create(
        &state,
        json!({"track_id": track, "host": "localhost", "port": 6000, "rtcp_port": 7000, "paused": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let second = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["paused"], true);
    // Resuming leaves the layer as it was.
    let r = call(
        &state,
        Method::PATCH,
        &format!("/v1/rooms/rec/forwards/{second}"),
        Some(&admin()),
        Some(json!({"paused": false})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["paused"], false);
    assert_eq!(r.body["layer"], Value::Null);
    let forwards = list(&state).await;
    assert_eq!(forwards.len(), 2);
    for f in &forwards {
        for key in [
            "packets_sent",
            "bytes_sent",
            "send_errors",
            "sender_reports_sent",
        ] {
            assert!(f[key].is_u64(), "{key} in {f}");
        }
    }

    // A layer the track does not have; a known forward in another room.
    let uri = format!("/v1/rooms/rec/forwards/{id}");
    let r = call(
        &state,
        Method::PATCH,
        &uri,
        Some(&admin()),
        Some(json!({"layer": "f"})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a single-layer track ignores the layer: {}",
        r.body
    );
    let r = call(
        &state,
        Method::PATCH,
        &uri,
        Some(&admin()),
        Some(json!({"layer": null})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["layer"], Value::Null);

    let r = call(&state, Method::DELETE, &uri, Some(&admin()), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = call(&state, Method::DELETE, &uri, Some(&admin()), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "forward_not_found");
    let forwards = list(&state).await;
    assert_eq!(forwards.len(), 1);
    assert_eq!(forwards[0]["id"], second);

    // The track ends (its publisher leaves): its forward ends with it.
    let r = call(
        &state,
        Method::DELETE,
        "/v1/rooms/rec/participants/alice",
        Some(&admin()),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(list(&state).await.is_empty());
    client.abort();
}

#[tokio::test]
async fn forward_requests_are_validated() {
    let state = keyed_state();
    let (track, client) = room_with_audio(&state).await;
    for (body, code) in [
        (
            json!({"track_id": track, "host": "not a host", "port": 5004}),
            "invalid_host",
        ),
        (
            json!({"track_id": track, "host": "0.0.0.0", "port": 5004}),
            "invalid_host",
        ),
        (
            json!({"track_id": track, "host": "127.0.0.1", "port": 0}),
            "invalid_port",
        ),
        (
            json!({"track_id": track, "host": "127.0.0.1", "port": 65535}),
            "invalid_port",
        ),
        (
            json!({"track_id": track, "host": "127.0.0.1", "port": 70000}),
            "invalid_body",
        ),
        (
            json!({"track_id": track, "host": "127.0.0.1"}),
            "invalid_body",
        ),
        (
            json!({"track_id": track, "host": "127.0.0.1", "port": 5004, "x": 1}),
            "invalid_body",
        ),
    ] {
        let r = create(&state, body.clone()).await;
        assert_error(&r, StatusCode::BAD_REQUEST, code);
    }
    for host in ["8.8.8.8", "2001:4860::8888", "169.254.169.254"] {
        let r = create(
            &state,
            json!({"track_id": track, "host": host, "port": 5004}),
        )
        .await;
        assert_error(&r, StatusCode::FORBIDDEN, "destination_not_allowed");
    }
    let r = create(
        &state,
        json!({"track_id": "TR_0000000000000001", "host": "127.0.0.1", "port": 5004}),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "track_not_found");
    let r = create(
        &state,
        json!({"track_id": "nonsense", "host": "127.0.0.1", "port": 5004}),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "track_not_found");
    let r = call(
        &state,
        Method::POST,
        "/v1/rooms/nowhere/forwards",
        Some(&admin()),
        Some(json!({"track_id": track, "host": "127.0.0.1", "port": 5004})),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "room_not_found");
    for method in [Method::DELETE, Method::PATCH] {
        let r = call(
            &state,
            method,
            "/v1/rooms/rec/forwards/FW_0000000000000001",
            Some(&admin()),
            Some(json!({"layer": null})),
        )
        .await;
        assert_error(&r, StatusCode::NOT_FOUND, "forward_not_found");
    }
    // A participant token lacks room_admin; no token at all is 401.
    let r = call(
        &state,
        Method::GET,
        "/v1/rooms/rec/forwards",
        Some(&participant("rec", "eve")),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(&state, Method::GET, "/v1/rooms/rec/forwards", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(list(&state).await.is_empty(), "nothing was created");
    client.abort();
}

#[tokio::test]
async fn the_allow_list_and_the_room_limit_come_from_the_configuration() {
    let mut config = keyed_config();
    config.forwards.allow_networks = vec!["10.9.0.0/16".parse().unwrap()];
    config.forwards.max_per_room = 1;
    let state = state_with(config);
    let (track, client) = room_with_audio(&state).await;
    let r = create(
        &state,
        json!({"track_id": track, "host": "127.0.0.1", "port": 5004}),
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "destination_not_allowed");
    let r = create(
        &state,
        json!({"track_id": track, "host": "10.9.1.2", "port": 5004}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = create(
        &state,
        json!({"track_id": track, "host": "10.9.1.3", "port": 5004}),
    )
    .await;
    assert_error(&r, StatusCode::CONFLICT, "forward_limit");
    // Closing the room ends its forwards.
    let r = call(
        &state,
        Method::DELETE,
        "/v1/rooms/rec",
        Some(&admin()),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(state.media.stats().await.unwrap().forwards, 0);
    client.abort();
}
