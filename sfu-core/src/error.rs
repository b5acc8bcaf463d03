//! Errors returned by the routing core for requests it refuses.

use crate::ids::{ForwardId, ParticipantId, TrackId};

/// Why the core refused a request; the server maps these to protocol error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// The participant is not (or no longer) in the room.
    #[error("unknown participant {0}")]
    UnknownParticipant(ParticipantId),
    /// The track does not exist in the room.
    #[error("unknown track {0}")]
    UnknownTrack(TrackId),
    /// A participant with this id is already in the room.
    #[error("participant {0} already joined")]
    DuplicateParticipant(ParticipantId),
    /// The participant lacks the permission for this action.
    #[error("permission denied: {0}")]
    PermissionDenied(&'static str),
    /// The forward does not exist in the room.
    #[error("unknown forward {0}")]
    UnknownForward(ForwardId),
    /// The request names a simulcast layer the track does not have.
    #[error("unknown layer {0:?}")]
    UnknownLayer(String),
    /// The request is not valid for this track (for example subscribing to one's own track).
    #[error("invalid request: {0}")]
    Invalid(&'static str),
}
