//! Room administration endpoints.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Bearer;
use super::error::ApiError;
use super::json::JsonBody;
use crate::app::AppState;
use crate::auth::Grant;
use crate::model::{RoomJson, TrackJson};

/// `POST /v1/rooms` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    name: String,
    #[serde(default)]
    max_participants: Option<u32>,
    #[serde(default)]
    empty_timeout_s: Option<u64>,
}

/// `POST /v1/rooms`.
pub async fn create(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    JsonBody(body): JsonBody<CreateRoom>,
) -> Result<(StatusCode, Json<RoomJson>), ApiError> {
    claims.require(Grant::RoomCreate, Some(&body.name))?;
    let room = state
        .media
        .create_room(body.name, body.max_participants, body.empty_timeout_s)
        .await?;
    Ok((StatusCode::CREATED, Json(room)))
}

/// `GET /v1/rooms`.
pub async fn list(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<Value>, ApiError> {
    claims.require(Grant::RoomList, None)?;
    let mut rooms = state.media.list_rooms().await?;
    // A token scoped to one room lists only that room.
    if let Some(scope) = &claims.video.room {
        rooms.retain(|r| &r.name == scope);
    }
    Ok(Json(json!({ "rooms": rooms })))
}

/// `GET /v1/rooms/{room}`.
pub async fn get(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(room): Path<String>,
) -> Result<Json<RoomJson>, ApiError> {
    claims.require(Grant::RoomAdmin, Some(&room))?;
    Ok(Json(state.media.get_room(room).await?))
}

/// `DELETE /v1/rooms/{room}`.
pub async fn delete(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(room): Path<String>,
) -> Result<StatusCode, ApiError> {
    claims.require(Grant::RoomCreate, Some(&room))?;
    state.media.delete_room(room).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/rooms/{room}/participants`.
pub async fn participants(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    claims.require(Grant::RoomAdmin, Some(&room))?;
    let participants = state.media.list_participants(room).await?;
    Ok(Json(json!({ "participants": participants })))
}

/// `DELETE /v1/rooms/{room}/participants/{identity}`.
pub async fn remove_participant(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path((room, identity)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    claims.require(Grant::RoomAdmin, Some(&room))?;
    state.media.remove_participant(room, identity).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/mute` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mute {
    muted: bool,
}

/// `POST /v1/rooms/{room}/participants/{identity}/tracks/{track_id}/mute`.
pub async fn mute_track(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path((room, identity, track_id)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<Mute>,
) -> Result<Json<TrackJson>, ApiError> {
    claims.require(Grant::RoomAdmin, Some(&room))?;
    Ok(Json(
        state
            .media
            .mute_track(room, identity, track_id, body.muted)
            .await?,
    ))
}

/// `GET /v1/stats` (extension, room_list grant): media plane counters, including datagrams
/// dropped as malformed or unroutable and RTP not forwarded, by reason.
pub async fn stats(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<Value>, ApiError> {
    claims.require(Grant::RoomList, None)?;
    let stats = state.media.stats().await?;
    Ok(Json(serde_json::to_value(stats).unwrap_or_default()))
}
