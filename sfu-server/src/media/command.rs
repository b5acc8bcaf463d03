//! Requests to the media worker and their errors.

use sfu_core::{ParticipantId, Permissions};
use tokio::sync::{mpsc, oneshot};

use crate::media::forward::ForwardRequest;
use crate::media::worker::WorkerStats;
use crate::model::{ForwardJson, ParticipantJson, RoomJson, TrackJson};
use crate::signal::messages::ClientMessage;

/// What the worker sends to a participant's WebSocket task.
#[derive(Debug)]
pub enum SessionMsg {
    /// A JSON text message.
    Text(String),
    /// Send `{"type":"leave","reason"}` and close the socket.
    Leave(String),
}

/// A participant joining over the WebSocket.
#[derive(Debug)]
pub struct JoinRequest {
    /// Room name from the token.
    pub room: String,
    /// Identity (`sub`).
    pub identity: String,
    /// Display name.
    pub name: Option<String>,
    /// Grants.
    pub permissions: Permissions,
    /// Whether the token may create the room when it does not exist.
    pub may_create: bool,
    /// Where the worker sends this participant's messages.
    pub session: mpsc::Sender<SessionMsg>,
}

/// Why a room operation failed; the API maps these to status codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// No such room.
    #[error("room `{0}` does not exist")]
    RoomNotFound(String),
    /// `POST /v1/rooms` for a name in use.
    #[error("room `{0}` already exists")]
    RoomExists(String),
    /// `max_participants` reached.
    #[error("room `{0}` is full")]
    RoomFull(String),
    /// No such participant in the room.
    #[error("participant `{0}` is not in the room")]
    ParticipantNotFound(String),
    /// No such track.
    #[error("track `{0}` does not exist")]
    TrackNotFound(String),
    /// No such forward in the room.
    #[error("forward `{0}` does not exist")]
    ForwardNotFound(String),
    /// The room has as many forwards as `forwards.max_per_room` allows.
    #[error("room `{0}` has reached its limit of forwards")]
    ForwardLimit(String),
    /// Invalid input.
    #[error("{0}")]
    BadRequest(String),
    /// The server is shutting down.
    #[error("the server is shutting down and accepts no new participants")]
    Draining,
    /// The worker is gone (only during shutdown).
    #[error("the media worker is unavailable")]
    Unavailable,
}

impl RoomError {
    /// snake_case code for error JSON.
    pub fn code(&self) -> &'static str {
        match self {
            RoomError::RoomNotFound(_) => "room_not_found",
            RoomError::RoomExists(_) => "room_exists",
            RoomError::RoomFull(_) => "room_full",
            RoomError::ParticipantNotFound(_) => "participant_not_found",
            RoomError::TrackNotFound(_) => "track_not_found",
            RoomError::ForwardNotFound(_) => "forward_not_found",
            RoomError::ForwardLimit(_) => "forward_limit",
            RoomError::BadRequest(_) => "bad_request",
            RoomError::Draining => "draining",
            RoomError::Unavailable => "unavailable",
        }
    }

    /// HTTP status for the REST API.
    pub fn http_status(&self) -> u16 {
        match self {
            RoomError::RoomNotFound(_)
            | RoomError::ParticipantNotFound(_)
            | RoomError::TrackNotFound(_)
            | RoomError::ForwardNotFound(_) => 404,
            RoomError::RoomExists(_) | RoomError::RoomFull(_) | RoomError::ForwardLimit(_) => 409,
            RoomError::BadRequest(_) => 400,
            RoomError::Draining | RoomError::Unavailable => 503,
        }
    }
}

/// A request to the worker; the ones with `reply` are answered.
#[derive(Debug)]
pub enum Command {
    /// A participant joins.
    Join {
        /// Who and where.
        request: JoinRequest,
        /// The new participant id.
        reply: oneshot::Sender<Result<ParticipantId, RoomError>>,
    },
    /// A parsed client message.
    Signal {
        /// From whom.
        participant: ParticipantId,
        /// The message.
        message: ClientMessage,
    },
    /// The participant's WebSocket closed.
    Disconnected {
        /// Who.
        participant: ParticipantId,
    },
    /// Create a room.
    CreateRoom {
        /// Name.
        name: String,
        /// Limit.
        max_participants: Option<u32>,
        /// Empty timeout.
        empty_timeout_s: Option<u64>,
        /// The room.
        reply: oneshot::Sender<Result<RoomJson, RoomError>>,
    },
    /// List rooms.
    ListRooms {
        /// The rooms.
        reply: oneshot::Sender<Vec<RoomJson>>,
    },
    /// One room with participants.
    GetRoom {
        /// Name.
        name: String,
        /// The room.
        reply: oneshot::Sender<Result<RoomJson, RoomError>>,
    },
    /// Close a room.
    DeleteRoom {
        /// Name.
        name: String,
        /// Done.
        reply: oneshot::Sender<Result<(), RoomError>>,
    },
    /// Participants of a room.
    ListParticipants {
        /// Room name.
        room: String,
        /// The participants.
        reply: oneshot::Sender<Result<Vec<ParticipantJson>, RoomError>>,
    },
    /// Remove a participant by identity.
    RemoveParticipant {
        /// Room name.
        room: String,
        /// Identity.
        identity: String,
        /// Done.
        reply: oneshot::Sender<Result<(), RoomError>>,
    },
    /// Mute a track (admin).
    MuteTrack {
        /// Room name.
        room: String,
        /// Publisher identity.
        identity: String,
        /// Track id.
        track_id: String,
        /// New state.
        muted: bool,
        /// The track.
        reply: oneshot::Sender<Result<TrackJson, RoomError>>,
    },
    /// Start a forward (the recording tap).
    CreateForward {
        /// Room name.
        room: String,
        /// What to send where (validated by the API).
        request: ForwardRequest,
        /// The forward.
        reply: oneshot::Sender<Result<ForwardJson, RoomError>>,
    },
    /// The forwards of a room.
    ListForwards {
        /// Room name.
        room: String,
        /// The forwards.
        reply: oneshot::Sender<Result<Vec<ForwardJson>, RoomError>>,
    },
    /// Change the layer a forward sends, or pause or resume it.
    UpdateForward {
        /// Room name.
        room: String,
        /// Forward id.
        id: String,
        /// The RID (`Some(None)` = the highest live one); `None` = unchanged.
        layer: Option<Option<String>>,
        /// Pause or resume; `None` = unchanged.
        paused: Option<bool>,
        /// The forward.
        reply: oneshot::Sender<Result<ForwardJson, RoomError>>,
    },
    /// End a forward.
    DeleteForward {
        /// Room name.
        room: String,
        /// Forward id.
        id: String,
        /// Done.
        reply: oneshot::Sender<Result<(), RoomError>>,
    },
    /// Refuse new joins.
    Drain,
    /// Disconnect everyone.
    CloseAll {
        /// The leave reason.
        reason: &'static str,
        /// Done.
        reply: oneshot::Sender<()>,
    },
    /// Counters.
    Stats {
        /// The counters.
        reply: oneshot::Sender<WorkerStats>,
    },
}
