//! The dispatcher against a real HTTP endpoint on loopback that can be held stuck.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use tokio::sync::oneshot;

use super::*;
use crate::model::RoomJson;

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Endpoint {
    /// (room, event id, signature header) in arrival order.
    seen: Mutex<Vec<(String, String, String)>>,
    /// Taken by the first request, which then waits for it: a stuck endpoint.
    hold: Mutex<Option<oneshot::Receiver<()>>>,
}

async fn receive(
    State(endpoint): State<Arc<Endpoint>>,
    headers: axum::http::HeaderMap,
    body: String,
) -> &'static str {
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let signature = headers[signature::SIGNATURE_HEADER].to_str().unwrap();
    assert!(signature::verify(b"devsecret", body.as_bytes(), signature));
    endpoint.seen.lock().unwrap().push((
        json["room"]["name"].as_str().unwrap().to_owned(),
        json["id"].as_str().unwrap().to_owned(),
        signature.to_owned(),
    ));
    let hold = endpoint.hold.lock().unwrap().take();
    if let Some(hold) = hold {
        let _ = hold.await;
    }
    "ok"
}

fn event(room: &str) -> WebhookEvent {
    WebhookEvent::new(
        EventKind::ParticipantJoined,
        RoomJson {
            name: room.into(),
            sid: "RM_x".into(),
            created_at: 1,
            num_participants: 1,
            max_participants: 0,
            empty_timeout_s: 300,
            participants: None,
        },
    )
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_endpoint_keeps_only_the_newest_events_of_its_room_and_holds_up_no_other() {
    let (release, hold) = oneshot::channel();
    let endpoint = Arc::new(Endpoint {
        hold: Mutex::new(Some(hold)),
        ..Default::default()
    });
    let app = axum::Router::new()
        .route("/", axum::routing::post(receive))
        .with_state(endpoint.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let config = WebhooksConfig {
        urls: vec![url],
        queue_size: 2,
        max_attempts: 1,
        request_timeout_ms: 60_000,
        ..Default::default()
    };
    let webhooks = Webhooks::start(&config, &AuthConfig::default()).unwrap();
    let stuck: Vec<WebhookEvent> = (0..5).map(|_| event("stuck")).collect();
    let ids: Vec<String> = stuck.iter().map(|e| e.id.clone()).collect();
    for e in stuck {
        webhooks.emit(e);
    }
    let other = event("other");
    let other_id = other.id.clone();
    webhooks.emit(other);

    // The first event of `stuck` hangs; `other` goes through meanwhile.
    wait_for("the other room's event", || {
        endpoint
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.1 == other_id)
    })
    .await;
    // Behind the stuck one, only the 2 newest wait: the 2 oldest were dropped.
    assert_eq!(webhooks.metrics().dropped_queue_full.get(), 2);

    release.send(()).unwrap();
    tokio::time::timeout(WAIT, webhooks.flush())
        .await
        .expect("flush after the endpoint recovered");
    let stuck_seen: Vec<String> = endpoint
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.0 == "stuck")
        .map(|s| s.1.clone())
        .collect();
    assert_eq!(stuck_seen, [ids[0].clone(), ids[3].clone(), ids[4].clone()]);
    assert_eq!(webhooks.metrics().delivered.get(), 4);
    assert_eq!(webhooks.metrics().failed.get(), 0);
    server.abort();
}

#[tokio::test]
async fn a_refusing_endpoint_is_not_retried_and_the_room_moves_on() {
    let hits = Arc::new(Mutex::new(Vec::<String>::new()));
    let recorded = hits.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: String| {
            let recorded = recorded.clone();
            async move {
                recorded.lock().unwrap().push(body);
                axum::http::StatusCode::UNAUTHORIZED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let config = WebhooksConfig {
        urls: vec![url],
        max_attempts: 5,
        ..Default::default()
    };
    let webhooks = Webhooks::start(&config, &AuthConfig::default()).unwrap();
    webhooks.emit(event("r"));
    webhooks.emit(event("r"));
    tokio::time::timeout(WAIT, webhooks.flush())
        .await
        .expect("flush");
    assert_eq!(hits.lock().unwrap().len(), 2, "one attempt per event");
    assert_eq!(webhooks.metrics().failed.get(), 2);
    assert_eq!(webhooks.metrics().retries.get(), 0);
    server.abort();
}

#[test]
fn disabled_webhooks_accept_events_and_flush_at_once() {
    let webhooks = Webhooks::disabled();
    assert!(!webhooks.is_enabled());
    webhooks.emit(event("r"));
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(webhooks.flush());
}
