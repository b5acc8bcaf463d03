//! `POST /v1/dev/token`: tokens without set-up, only in dev mode.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::json::JsonBody;
use crate::app::AppState;
use crate::auth::token_for;
use crate::config::{DEV_API_KEY, DEV_API_SECRET};

/// Lifetime of dev tokens.
const DEV_TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);

/// Request body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevTokenRequest {
    room: String,
    identity: String,
    /// Extension: also grant room_create/room_admin/room_list on this room.
    #[serde(default)]
    admin: bool,
}

/// Issues a participant token for `room` as `identity`, signed with the dev key.
pub async fn token(
    State(_state): State<AppState>,
    JsonBody(req): JsonBody<DevTokenRequest>,
) -> Result<Json<Value>, ApiError> {
    if req.room.is_empty() || req.identity.is_empty() {
        return Err(ApiError::bad_request(
            "bad_request",
            "room and identity must not be empty",
        ));
    }
    if req.room.len() > 128 || req.identity.len() > 128 {
        return Err(ApiError::bad_request(
            "bad_request",
            "room and identity are at most 128 characters",
        ));
    }
    let token = token_for(
        DEV_API_KEY,
        DEV_API_SECRET,
        Some(&req.room),
        &req.identity,
        req.admin,
        DEV_TOKEN_TTL,
    );
    Ok(Json(json!({ "token": token })))
}
