//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app::AppState;

/// 200 while the process runs.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 while accepting participants, 503 while draining.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.is_draining() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining" })),
        )
    } else {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    }
}
