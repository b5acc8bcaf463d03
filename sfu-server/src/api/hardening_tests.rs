//! The HTTP surface's defences through the router: rate limits (429), request deadlines
//! (408), announced body sizes (413), CORS, and the metrics of what they refused.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::tests::{admin, keyed_config, state_with};
use crate::config::Config;

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(30);

/// Status, headers and JSON body of one response.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// Sends `req` through `app` (one router, so its rate-limit buckets persist).
async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = tokio::time::timeout(WAIT, app.clone().oneshot(req))
        .await
        .expect("answered in time")
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// A GET from `peer` with an optional bearer token.
fn get(uri: &str, peer: &str, token: Option<&str>) -> Request<Body> {
    let mut req = Request::builder().uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    req
}

fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["error"]["code"], code, "{}", r.body);
    assert!(r.body["error"]["message"].is_string(), "{}", r.body);
}

/// The `/metrics` text of `app`.
async fn metrics(app: &Router) -> String {
    let res = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn rest_calls_over_the_burst_get_429_per_ip() {
    let mut config = keyed_config();
    config.server.rate_limit.api_per_s = 1;
    config.server.rate_limit.api_burst = 3;
    let app = super::router(state_with(config));
    let t = admin();
    let mut statuses = Vec::new();
    let mut limited = None;
    // A full bucket of 3, refilled at 1/s: 10 quick calls cannot all pass.
    for _ in 0..10 {
        let r = send(&app, get("/v1/rooms", "192.0.2.1:4000", Some(&t))).await;
        statuses.push(r.status);
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
    }
    assert_eq!(&statuses[..3], [StatusCode::OK; 3]);
    let r = limited.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");

    // Another address has its own bucket; probes and scrapes are never limited.
    let r = send(&app, get("/v1/rooms", "192.0.2.2:4000", Some(&t))).await;
    assert_eq!(r.status, StatusCode::OK);
    for _ in 0..10 {
        let r = send(&app, get("/healthz", "192.0.2.1:4000", None)).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let text = metrics(&app).await;
    for line in [
        r#"sfu_http_requests_total{route="/v1/rooms",status="429"} 1"#,
        r#"sfu_api_errors_total{code="rate_limited"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
}

#[tokio::test]
async fn websocket_joins_have_their_own_budget() {
    let mut config = keyed_config();
    config.server.rate_limit.join_per_s = 1;
    config.server.rate_limit.join_burst = 2;
    let app = super::router(state_with(config));
    // The budget is drawn before the token is checked, so token guessing is limited too.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let r = send(&app, get("/v1/rtc", "192.0.2.1:4000", None)).await;
        statuses.push(r.status);
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
            break;
        }
        assert_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    assert!(statuses.len() >= 3, "{statuses:?}");
    // REST calls from the same address are unaffected.
    let r = send(&app, get("/v1/rooms", "192.0.2.1:4000", Some(&admin()))).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_body_that_never_ends_gets_408() {
    let mut config = keyed_config();
    config.server.request_timeout_s = 1;
    let app = super::router(state_with(config));
    let first: Result<&'static str, std::io::Error> = Ok(r#"{"name":"#);
    let body = futures_util::stream::iter([first]).chain(futures_util::stream::pending());
    let req = Request::post("/v1/rooms")
        .header(header::AUTHORIZATION, format!("Bearer {}", admin()))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .unwrap();
    let r = send(&app, req).await;
    assert_error(&r, StatusCode::REQUEST_TIMEOUT, "request_timeout");
}

#[tokio::test]
async fn an_announced_oversized_body_gets_413_on_any_route() {
    let mut config = keyed_config();
    config.server.max_body_bytes = 64;
    let app = super::router(state_with(config));
    // GET /v1/rooms never reads a body; the announced size alone is refused.
    let req = Request::get("/v1/rooms")
        .header(header::AUTHORIZATION, format!("Bearer {}", admin()))
        .header(header::CONTENT_LENGTH, "1000")
        .body(Body::from(vec![b'x'; 1000]))
        .unwrap();
    let r = send(&app, req).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
}

/// A CORS preflight for `POST /v1/rooms` from `origin`.
fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/rooms")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn cors_follows_the_configured_origins() {
    // By default no origin is allowed: no CORS headers at all.
    let app = super::router(state_with(Config::default()));
    let r = send(&app, preflight("https://app.example.com")).await;
    assert!(
        !r.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "{:?}",
        r.headers
    );

    let mut config = keyed_config();
    config.server.cors_allow_origins = vec!["https://app.example.com".into()];
    let app = super::router(state_with(config));
    let r = send(&app, preflight("https://app.example.com")).await;
    assert!(r.status.is_success(), "{}", r.status);
    assert_eq!(
        r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    let methods = r.headers[header::ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let allowed = r.headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    assert_eq!(r.headers[header::ACCESS_CONTROL_MAX_AGE], "600");

    // Another origin gets nothing.
    let r = send(&app, preflight("https://evil.example.com")).await;
    assert!(
        !r.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "{:?}",
        r.headers
    );

    // Error answers carry the headers too, so a browser app can read why it failed.
    let mut req = get("/v1/rooms", "192.0.2.1:4000", None);
    req.headers_mut()
        .insert(header::ORIGIN, "https://app.example.com".parse().unwrap());
    let r = send(&app, req).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
    assert_eq!(
        r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    let exposed = r.headers[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");
}

#[tokio::test]
async fn websocket_sessions_outlive_the_request_timeout_and_errors_are_counted() {
    let mut config = Config::default();
    config.server.request_timeout_s = 1;
    let state = state_with(config);
    let app = super::router(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let token = crate::auth::token_for(
        crate::config::DEV_API_KEY,
        crate::config::DEV_API_SECRET,
        Some("deadline"),
        "alice",
        false,
        Duration::from_secs(600),
    );
    let url = format!("ws://{addr}/v1/rtc?access_token={token}");
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connected in time")
        .unwrap();
    let next_json = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, ws.next())
                .await
                .expect("a message in time")
                .expect("socket open")
                .unwrap();
            if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
                return serde_json::from_str(&t).unwrap();
            }
        }
    };
    assert_eq!(next_json(&mut ws).await["type"], "joined");
    // Longer than the request deadline: the session must not be cut.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        "{nope".into(),
    ))
    .await
    .unwrap();
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], "invalid_json", "{reply}");

    let media = state.media.stats().await.unwrap();
    let text = state.metrics.render(&media);
    let line = r#"sfu_signalling_errors_total{code="invalid_json"} 1"#;
    assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    server.abort();
}
