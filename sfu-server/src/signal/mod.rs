//! `GET /v1/rtc`: the WebSocket signalling session of one participant.

pub mod messages;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use sfu_core::Permissions;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::auth::Claims;
use crate::media::{JoinRequest, SessionMsg};
use messages::{ClientMessage, ServerMessage};

/// Messages queued toward one client before it counts as too slow and is disconnected.
const SESSION_QUEUE: usize = 1024;
/// Close code for policy violations (RFC 6455).
const CLOSE_POLICY: u16 = 1008;
/// The WebSocket's read chunk. Signalling messages are a few kB (a large room's SDP a few tens,
/// read in several chunks); the library's 128 KiB default was the largest single allocation per
/// participant.
const WS_READ_BUFFER_BYTES: usize = 8 * 1024;

/// Query string of the upgrade request.
#[derive(Deserialize)]
pub struct RtcQuery {
    access_token: Option<String>,
}

/// Verifies the token, then upgrades; a bad token is refused before the upgrade with the
/// REST error shape (401/403), so clients see why.
pub async fn websocket(
    State(state): State<AppState>,
    Query(query): Query<RtcQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let claims = match query.access_token.as_deref().map(|t| state.auth.verify(t)) {
        None => return ApiError::from(crate::auth::AuthError::Missing).into_response(),
        Some(Err(e)) => return ApiError::from(e).into_response(),
        Some(Ok(c)) => c,
    };
    if let Err(e) = claims.join_room() {
        return ApiError::from(e).into_response();
    }
    if claims.sub.is_empty() {
        return ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "permission_denied",
            "the token has no identity (sub)",
        )
        .into_response();
    }
    if state.is_draining() {
        return ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "the server is shutting down",
        )
        .into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "websocket_required",
                format!("this endpoint speaks WebSocket: {e}"),
            )
            .into_response();
        }
    };
    let max = state.config.server.max_ws_message_bytes;
    let span = tracing::info_span!(
        "session",
        room = claims.video.room.as_deref().unwrap_or_default(),
        identity = %claims.sub,
    );
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .on_upgrade(move |socket| session(socket, state, claims).instrument(span))
}

async fn session(socket: WebSocket, state: AppState, claims: Claims) {
    // Counted so shutdown can wait for every `leave` to be written before the process exits.
    let _guard = state.sessions.enter();
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel(SESSION_QUEUE);
    let room = claims.video.room.clone().unwrap_or_default();
    let request = JoinRequest {
        room,
        identity: claims.sub.clone(),
        name: claims.name.clone(),
        permissions: Permissions {
            can_publish: claims.video.can_publish,
            can_subscribe: claims.video.can_subscribe,
            can_publish_data: claims.video.can_publish_data,
        },
        may_create: claims.video.room_create,
        session: tx,
    };
    let participant = match state.media.join(request).await {
        Ok(p) => p,
        Err(e) => {
            state.metrics.observe_signal_error(e.code());
            let msg = ServerMessage::error(e.code(), e.to_string()).to_json();
            let _ = sink.send(Message::Text(msg.into())).await;
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code: CLOSE_POLICY,
                    reason: e.code().into(),
                })))
                .await;
            return;
        }
    };

    loop {
        tokio::select! {
            outgoing = rx.recv() => match outgoing {
                Some(SessionMsg::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(SessionMsg::Leave(reason)) => {
                    let msg = ServerMessage::Leave { reason: reason.clone() }.to_json();
                    let _ = sink.send(Message::Text(msg.into())).await;
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: reason.into() }))).await;
                    break;
                }
                None => break,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => match ClientMessage::parse(&text) {
                    Ok(ClientMessage::Leave) => {
                        state.media.signal(participant, ClientMessage::Leave).await;
                        let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: "leave".into() }))).await;
                        break;
                    }
                    Ok(message) => state.media.signal(participant, message).await,
                    Err(e) => {
                        state.metrics.observe_signal_error(e.code());
                        let msg = ServerMessage::error(e.code(), e.to_string()).to_json();
                        if sink.send(Message::Text(msg.into())).await.is_err() {
                            break;
                        }
                    }
                },
                Some(Ok(Message::Binary(_))) => {
                    state.metrics.observe_signal_error("invalid_message");
                    let msg = ServerMessage::error("invalid_message", "binary messages are not supported; send JSON text").to_json();
                    if sink.send(Message::Text(msg.into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    // Oversized frames end here (tungstenite refuses them); the close is the error.
                    tracing::info!(%participant, error = %e, "signalling socket error");
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame { code: 1009, reason: "message too big or malformed".into() })))
                        .await;
                    break;
                }
            },
        }
    }
    state.media.disconnected(participant).await;
}
