//! JSON shapes of rooms, participants and tracks (API.md), shared by REST and signalling.

use serde::Serialize;
use sfu_core::{ParticipantInfo, TrackInfo};

/// API.md `Track`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrackJson {
    /// Track id (`TR_…`).
    pub id: String,
    /// Publisher's participant id.
    pub participant_id: String,
    /// `audio` or `video`.
    pub kind: &'static str,
    /// `camera`, `microphone`, `screen` or `unknown`.
    pub source: &'static str,
    /// Optional name from `track_info`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The publisher's m-line id.
    pub mid: String,
    /// Codec name (`opus`, `VP8`, `H264`, …).
    pub codec: &'static str,
    /// Whether the track is muted.
    pub muted: bool,
    /// Simulcast layers, lowest first.
    pub simulcast: Vec<LayerJson>,
    /// Extension, admin listings only: what the server received, per layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<Vec<LayerCountersJson>>,
}

/// Packets and bytes the server received on one encoding of a published track.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LayerCountersJson {
    /// The layer's RID (null for a single-encoding track).
    pub rid: Option<String>,
    /// RTP packets received.
    pub packets: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Receive bitrate over the last second, bits per second.
    pub bitrate_bps: u64,
}

/// One simulcast layer of a `Track`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LayerJson {
    /// The RID.
    pub rid: String,
    /// Width when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl From<&TrackInfo> for TrackJson {
    fn from(t: &TrackInfo) -> Self {
        TrackJson {
            id: t.id.to_string(),
            participant_id: t.owner.to_string(),
            kind: t.kind.as_str(),
            source: t.source.as_str(),
            name: t.name.clone(),
            mid: t.mid.clone(),
            codec: t.codec.name(),
            muted: t.muted,
            simulcast: t
                .layers
                .iter()
                .map(|l| LayerJson {
                    rid: l.rid.clone(),
                    width: l.width,
                    height: l.height,
                })
                .collect(),
            received: None,
        }
    }
}

/// API.md `Participant`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ParticipantJson {
    /// Participant id (`PA_…`), new for every join.
    pub id: String,
    /// The identity from the token.
    pub identity: String,
    /// Display name from the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Join time, Unix seconds.
    pub joined_at: u64,
    /// Published tracks.
    pub tracks: Vec<TrackJson>,
    /// Extension, admin listings only: the downlink estimate and its allocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<BandwidthJson>,
    /// Extension, admin listings only: every subscribed track with its layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions: Option<Vec<SubscriptionJson>>,
}

/// A subscriber's bandwidth estimate and allocation (admin listings).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BandwidthJson {
    /// Estimated downlink, bits per second.
    pub estimate_bps: u64,
    /// `twcc` (the server's own GCC estimate) or `remb` (the client's reports).
    pub source: &'static str,
    /// Allocated across the subscribed tracks, bits per second.
    pub allocated_bps: u64,
    /// What every subscribed track at its best allowed layer would take.
    pub wanted_bps: u64,
    /// Layer switches the allocation made.
    pub switches: u64,
}

/// One subscribed track as the server sends it (admin listings).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SubscriptionJson {
    /// The published track.
    pub track_id: String,
    /// Bits per second allocated to it (0 before the first estimate).
    pub allocated_bps: u64,
    /// The RID being sent.
    pub current_layer: Option<String>,
    /// The RID the server is moving to (or staying at).
    pub target_layer: Option<String>,
    /// `subscriber` or `bandwidth` when nothing is sent.
    pub paused: Option<&'static str>,
    /// Layer switches on this track.
    pub switches: u64,
    /// RTP packets sent.
    pub packets_sent: u64,
}

impl ParticipantJson {
    /// Builds the JSON of a participant and its tracks.
    pub fn new<'a>(p: &ParticipantInfo, tracks: impl IntoIterator<Item = &'a TrackInfo>) -> Self {
        ParticipantJson {
            id: p.id.to_string(),
            identity: p.identity.clone(),
            name: p.name.clone(),
            joined_at: p.joined_at_ms / 1000,
            tracks: tracks.into_iter().map(TrackJson::from).collect(),
            bandwidth: None,
            subscriptions: None,
        }
    }
}

/// API.md `Room`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RoomJson {
    /// Room name.
    pub name: String,
    /// Unique id of this incarnation of the room (`RM_…`).
    pub sid: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Current participant count.
    pub num_participants: usize,
    /// Limit, 0 = unlimited.
    pub max_participants: u32,
    /// Seconds an empty room lives on.
    pub empty_timeout_s: u64,
    /// Present on `GET /v1/rooms/{room}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<ParticipantJson>>,
}

/// API.md `Forward` (the recording tap), with its counters.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ForwardJson {
    /// Forward id (`FW_…`).
    pub id: String,
    /// The forwarded track.
    pub track_id: String,
    /// The destination host as given.
    pub host: String,
    /// The address the host resolved to.
    pub address: String,
    /// RTP port.
    pub port: u16,
    /// RTCP port.
    pub rtcp_port: u16,
    /// The layer asked for (RID); null = the highest live one.
    pub layer: Option<String>,
    /// The layer being sent now; null for a single-layer track or before the first keyframe.
    pub current_layer: Option<String>,
    /// Whether it is paused (nothing sent until `PATCH {"paused": false}`).
    pub paused: bool,
    /// Unix seconds.
    pub created_at: u64,
    /// The SDP file describing the stream, for ffmpeg or GStreamer.
    pub sdp: String,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP payload bytes sent.
    pub bytes_sent: u64,
    /// RTCP sender reports sent.
    pub sender_reports_sent: u64,
    /// Datagrams the socket refused.
    pub send_errors: u64,
    /// Simulcast layer switches made.
    pub layer_switches: u64,
}
