//! Request guards of the HTTP surface: a deadline per request and an early refusal of bodies
//! announced larger than the limit.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Middleware: answers 408 `request_timeout` when reading the request and answering it takes
/// longer than the deadline. The WebSocket upgrade answers at once, and the session that
/// follows runs outside the request, so it is not cut short.
pub async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request was not completed within {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

/// Middleware: 413 `body_too_large` for a `Content-Length` over the limit, before any handler
/// (also the ones that never read a body); streamed bodies are cut by the body extractors.
pub async fn announced_body_size(
    State(max): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > max as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body too large (at most {max} bytes)"),
        )
        .into_response();
    }
    next.run(request).await
}
