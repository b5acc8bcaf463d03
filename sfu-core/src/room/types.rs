//! Descriptions of participants and tracks that the driver hands to the room.

use crate::codec::Codec;
use crate::ids::{ParticipantId, TrackId};

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// An audio track.
    Audio,
    /// A video track.
    Video,
}

impl MediaKind {
    /// The wire name (`"audio"` / `"video"`).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// What a track carries, as declared by the publisher (`track_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TrackSource {
    /// A camera.
    Camera,
    /// A microphone.
    Microphone,
    /// A shared screen.
    Screen,
    /// Not declared.
    #[default]
    Unknown,
}

impl TrackSource {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackSource::Camera => "camera",
            TrackSource::Microphone => "microphone",
            TrackSource::Screen => "screen",
            TrackSource::Unknown => "unknown",
        }
    }

    /// Parses a wire name; unknown names map to `Unknown`.
    pub fn parse(s: &str) -> TrackSource {
        match s {
            "camera" => TrackSource::Camera,
            "microphone" => TrackSource::Microphone,
            "screen" | "screen_share" => TrackSource::Screen,
            _ => TrackSource::Unknown,
        }
    }
}

/// One simulcast layer of a published video track, ordered from lowest to highest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// The RID naming the layer (`q`, `h`, `f`, or whatever the publisher chose).
    pub rid: String,
    /// Frame width when known.
    pub width: Option<u32>,
    /// Frame height when known.
    pub height: Option<u32>,
}

/// A published track as the room knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    /// The track's id.
    pub id: TrackId,
    /// The publishing participant.
    pub owner: ParticipantId,
    /// Audio or video.
    pub kind: MediaKind,
    /// Declared source.
    pub source: TrackSource,
    /// Optional name from `track_info`.
    pub name: Option<String>,
    /// The publisher's m-line id.
    pub mid: String,
    /// The codec the publisher negotiated.
    pub codec: Codec,
    /// Simulcast layers, lowest first; empty for a single-encoding track.
    pub layers: Vec<LayerInfo>,
    /// Whether the publisher (or an admin) muted it.
    pub muted: bool,
}

/// What a participant may do, from its access token's grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    /// May publish tracks.
    pub can_publish: bool,
    /// May receive other participants' tracks and data.
    pub can_subscribe: bool,
    /// May send data channel messages.
    pub can_publish_data: bool,
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            can_publish: true,
            can_subscribe: true,
            can_publish_data: true,
        }
    }
}

/// A participant as the room knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// Unique per join.
    pub id: ParticipantId,
    /// The identity from the access token (`sub`).
    pub identity: String,
    /// Optional display name.
    pub name: Option<String>,
    /// Join time in Unix milliseconds (wall clock, given by the driver).
    pub joined_at_ms: u64,
    /// Token grants.
    pub permissions: Permissions,
}

/// A subscriber's cap for one video track (`set_subscription`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionCaps {
    /// An explicit highest layer by RID.
    pub layer: Option<String>,
    /// The largest width worth sending (the video element's width).
    pub max_width: Option<u32>,
    /// The largest height worth sending.
    pub max_height: Option<u32>,
    /// Whether the subscriber wants the track paused (hidden element).
    pub paused: bool,
    /// Highest VP8 temporal layer to send (a lower frame rate); `None` = all.
    pub max_temporal: Option<u8>,
}

/// Where a subscriber's bandwidth estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BandwidthSource {
    /// Our own send-side estimate (GCC) from the subscriber's transport-wide CC feedback.
    Twcc,
    /// The subscriber's REMB reports (clients without TWCC, such as aiortc).
    Remb,
}

impl BandwidthSource {
    /// A stable lowercase label for stats.
    pub fn as_str(self) -> &'static str {
        match self {
            BandwidthSource::Twcc => "twcc",
            BandwidthSource::Remb => "remb",
        }
    }
}
