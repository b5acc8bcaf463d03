//! Forward endpoints (the recording tap): `/v1/rooms/{room}/forwards`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Bearer;
use super::destination;
use super::error::ApiError;
use super::json::JsonBody;
use crate::app::AppState;
use crate::auth::Grant;
use crate::media::forward::ForwardRequest;
use crate::model::ForwardJson;

/// `POST /v1/rooms/{room}/forwards` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateForward {
    track_id: String,
    host: String,
    port: u16,
    #[serde(default)]
    rtcp_port: Option<u16>,
    #[serde(default)]
    layer: Option<String>,
    #[serde(default)]
    paused: bool,
}

/// `PATCH /v1/rooms/{room}/forwards/{id}` body: `{"layer": "q"}` (`null`: the highest live
/// one) and/or `{"paused": bool}`; a field left out is unchanged.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateForward {
    #[serde(default, deserialize_with = "present")]
    layer: Option<Option<String>>,
    #[serde(default)]
    paused: Option<bool>,
}

/// Tells a field given as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// `POST /v1/rooms/{room}/forwards`.
pub async fn create(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(room): Path<String>,
    JsonBody(body): JsonBody<CreateForward>,
) -> Result<(StatusCode, Json<ForwardJson>), ApiError> {
    claims.require(Grant::RoomAdmin, Some(&room))?;
    let to = destination::check(
        &state.config.forwards,
        &body.host,
        body.port,
        body.rtcp_port,
    )
    .await?;
    let request = ForwardRequest {
        track_id: body.track_id,
        host: body.host,
        address: to.address,
        port: to.port,
        rtcp_port: to.rtcp_port,
        layer: body.layer,
        paused: body.paused,
    };
    let forward = state.media.create_forward(room, request).await?;
    Ok((StatusCode::CREATED, Json(forward)))
}

/// `GET /v1/rooms/{room}/forwards`.
pub async fn list(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    claims.require(Grant::RoomAdmin, Some(&room))?;
    let forwards = state.media.list_forwards(room).await?;
    Ok(Json(json!({ "forwards": forwards })))
}

/// `PATCH /v1/rooms/{room}/forwards/{id}`: switch the layer, pause or resume (at the layer's
/// next keyframe, which is requested).
pub async fn update(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path((room, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<UpdateForward>,
) -> Result<Json<ForwardJson>, ApiError> {
    claims.require(Grant::RoomAdmin, Some(&room))?;
    Ok(Json(
        state
            .media
            .update_forward(room, id, body.layer, body.paused)
            .await?,
    ))
}

/// `DELETE /v1/rooms/{room}/forwards/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path((room, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    claims.require(Grant::RoomAdmin, Some(&room))?;
    state.media.delete_forward(room, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
