//! The WebSocket signalling messages of API.md, one JSON object per text message.

use serde::{Deserialize, Serialize};

use crate::config::IceServer;
use crate::model::{ParticipantJson, RoomJson, TrackJson};

/// An ICE candidate as browsers serialize `RTCIceCandidateInit`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CandidateJson {
    /// The `candidate:` attribute line (empty = end of candidates).
    pub candidate: String,
    /// The m-line's mid.
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// The m-line's index.
    #[serde(
        rename = "sdpMLineIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_m_line_index: Option<u16>,
}

/// Client -> server.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The client's SDP offer (what it publishes, or an ICE restart).
    Offer {
        /// SDP text.
        sdp: String,
    },
    /// The client's answer to a server offer.
    Answer {
        /// SDP text.
        sdp: String,
    },
    /// A trickled ICE candidate.
    Candidate {
        /// The candidate.
        candidate: CandidateJson,
    },
    /// Metadata for a published m-line.
    TrackInfo {
        /// The m-line.
        mid: String,
        /// `camera`, `microphone`, `screen`.
        source: String,
        /// Optional name.
        #[serde(default)]
        name: Option<String>,
    },
    /// Subscribe to or unsubscribe from a track.
    Subscribe {
        /// The track.
        track_id: String,
        /// On or off.
        subscribe: bool,
    },
    /// The subscriber's cap for a track.
    SetSubscription {
        /// The track.
        track_id: String,
        /// Largest useful width.
        #[serde(default)]
        max_width: Option<u32>,
        /// Largest useful height.
        #[serde(default)]
        max_height: Option<u32>,
        /// Explicit highest layer.
        #[serde(default)]
        layer: Option<String>,
        /// Pause the track.
        #[serde(default)]
        paused: Option<bool>,
        /// Extension: highest VP8 temporal layer to receive (0 = base frame rate only).
        #[serde(default)]
        max_temporal: Option<u8>,
    },
    /// Mute or unmute one of the client's own tracks.
    Mute {
        /// The track.
        track_id: String,
        /// New state.
        muted: bool,
    },
    /// Leave the room.
    Leave,
}

/// Why a client message could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    /// Not JSON at all.
    #[error("message is not valid JSON: {0}")]
    InvalidJson(String),
    /// JSON without a string `type`.
    #[error("message has no \"type\" field")]
    MissingType,
    /// A `type` this server does not know.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A known type with missing or ill-typed fields.
    #[error("invalid {kind} message: {reason}")]
    InvalidMessage {
        /// The message type.
        kind: String,
        /// What is wrong.
        reason: String,
    },
}

impl ParseError {
    /// The `code` of the `error` message sent back.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::InvalidJson(_) => "invalid_json",
            ParseError::MissingType => "missing_type",
            ParseError::UnknownType(_) => "unknown_type",
            ParseError::InvalidMessage { .. } => "invalid_message",
        }
    }
}

const CLIENT_TYPES: &[&str] = &[
    "offer",
    "answer",
    "candidate",
    "track_info",
    "subscribe",
    "set_subscription",
    "mute",
    "leave",
];

impl ClientMessage {
    /// Parses one text frame, telling malformed JSON, unknown types and bad fields apart.
    pub fn parse(text: &str) -> Result<ClientMessage, ParseError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
        let kind = value
            .get("type")
            .and_then(|t| t.as_str())
            .ok_or(ParseError::MissingType)?
            .to_owned();
        if !CLIENT_TYPES.contains(&kind.as_str()) {
            return Err(ParseError::UnknownType(kind));
        }
        serde_json::from_value(value).map_err(|e| ParseError::InvalidMessage {
            kind,
            reason: e.to_string(),
        })
    }
}

/// One entry of `active_speakers`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SpeakerJson {
    /// The speaking participant.
    pub participant_id: String,
    /// Level 0.0 (silence) to 1.0 (loudest).
    pub level: f32,
}

/// Server -> client.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message after a valid token.
    Joined {
        /// The room.
        room: RoomJson,
        /// This participant.
        participant: ParticipantJson,
        /// Everyone else already there.
        participants: Vec<ParticipantJson>,
        /// STUN/TURN servers for the peer connection.
        ice_servers: Vec<IceServer>,
    },
    /// A server offer (down tracks added or removed).
    Offer {
        /// SDP text.
        sdp: String,
    },
    /// The answer to a client offer.
    Answer {
        /// SDP text.
        sdp: String,
    },
    /// A server ICE candidate. The server is ICE-lite and puts its candidates in every SDP it
    /// sends, so it sends none of these today; the type is part of the protocol.
    #[allow(dead_code)]
    Candidate {
        /// The candidate.
        candidate: CandidateJson,
    },
    /// Someone joined.
    ParticipantJoined {
        /// Who.
        participant: ParticipantJson,
    },
    /// Someone left.
    ParticipantLeft {
        /// Who.
        participant_id: String,
    },
    /// A track was published (also sent to its publisher, which learns the track id).
    TrackPublished {
        /// The track.
        track: TrackJson,
    },
    /// A track was unpublished.
    TrackUnpublished {
        /// The track.
        track_id: String,
    },
    /// A track was muted or unmuted.
    TrackMuted {
        /// The track.
        track_id: String,
        /// New state.
        muted: bool,
    },
    /// Loudest participants first, sent when the list changes (at most ~3 times a second).
    ActiveSpeakers {
        /// The speakers.
        speakers: Vec<SpeakerJson>,
    },
    /// Dynacast: the encodings of a published simulcast track that someone needs; the
    /// publisher may stop the others.
    PublisherLayers {
        /// The publisher's track.
        track_id: String,
        /// RIDs needed, lowest first; empty when no one needs the video.
        active: Vec<String>,
    },
    /// The layer now sent for a subscribed track.
    Subscription {
        /// The track.
        track_id: String,
        /// The RID sent, null when paused or single-layer.
        layer: Option<String>,
        /// Whether nothing is sent.
        paused: bool,
        /// Why paused.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A request failed.
    Error {
        /// snake_case code.
        code: String,
        /// Human text.
        message: String,
    },
    /// The server is about to close the socket.
    Leave {
        /// Why: `removed`, `room_closed`, `server_shutdown`, `duplicate_identity`, …
        reason: String,
    },
}

impl ServerMessage {
    /// An `error` message.
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// The JSON text of the message.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"serialization failed"}"#.to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_tells_errors_apart() {
        assert_eq!(
            ClientMessage::parse("{nope").unwrap_err().code(),
            "invalid_json"
        );
        assert_eq!(
            ClientMessage::parse("{}").unwrap_err().code(),
            "missing_type"
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"dance"}"#)
                .unwrap_err()
                .code(),
            "unknown_type"
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"offer"}"#)
                .unwrap_err()
                .code(),
            "invalid_message"
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"leave"}"#),
            Ok(ClientMessage::Leave)
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}"#)
                .map(|m| matches!(m, ClientMessage::Candidate { .. })),
            Ok(true)
        );
    }

    #[test]
    fn server_messages_have_the_api_shape() {
        let m = ServerMessage::TrackMuted {
            track_id: "TR_1".into(),
            muted: true,
        };
        assert_eq!(
            m.to_json(),
            r#"{"type":"track_muted","track_id":"TR_1","muted":true}"#
        );
        let m = ServerMessage::Leave {
            reason: "removed".into(),
        };
        assert_eq!(m.to_json(), r#"{"type":"leave","reason":"removed"}"#);
    }
}
