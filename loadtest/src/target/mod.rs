//! The servers under test and how one simulated participant joins each of them.

pub mod janus;
pub mod sfu;
pub mod token;

use std::time::Duration;

use crate::engine::PublishSpec;

/// One simulated participant: where it joins, what it publishes, how it subscribes.
#[derive(Debug, Clone)]
pub struct ParticipantPlan {
    /// Room name.
    pub room: String,
    /// Identity in the room.
    pub identity: String,
    /// What it publishes.
    pub publish: PublishSpec,
    /// Highest simulcast layer it wants of each video track (`q`, `h`, `f`); None = no cap.
    pub layer_cap: Option<String>,
}

/// How one participant's run ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Whether its media connection came up.
    pub connected: bool,
    /// Why it failed or ended early, if it did.
    pub error: Option<String>,
}

/// How long a participant may take from its first request to ICE+DTLS connected.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
