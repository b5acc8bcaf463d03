//! The JSON body of a webhook request: what happened, to which room, participant, track or
//! forward (shapes of API.md, see docs/webhooks.md).

use serde::Serialize;

use crate::model::{ParticipantJson, RoomJson, TrackJson};

/// Which room event a webhook reports (`event` in the body, snake_case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A room was created (by `POST /v1/rooms` or a first join).
    RoomStarted,
    /// A room was closed (`DELETE`, empty timeout, server shutdown).
    RoomFinished,
    /// A participant joined a room.
    ParticipantJoined,
    /// A participant left or was removed.
    ParticipantLeft,
    /// A participant published a track.
    TrackPublished,
    /// A track ended (unpublished, or its publisher left).
    TrackUnpublished,
    /// A recording forward started sending a track's RTP.
    ForwardStarted,
    /// A recording forward stopped.
    ForwardEnded,
}

impl EventKind {
    /// The wire name, as in the body's `event` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RoomStarted => "room_started",
            EventKind::RoomFinished => "room_finished",
            EventKind::ParticipantJoined => "participant_joined",
            EventKind::ParticipantLeft => "participant_left",
            EventKind::TrackPublished => "track_published",
            EventKind::TrackUnpublished => "track_unpublished",
            EventKind::ForwardStarted => "forward_started",
            EventKind::ForwardEnded => "forward_ended",
        }
    }
}

/// API.md `Forward` as webhooks report it; `forward_ended` adds what was sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookForward {
    /// Forward id.
    pub id: String,
    /// The forwarded track.
    pub track_id: String,
    /// Destination host of the RTP.
    pub host: String,
    /// Destination RTP port.
    pub port: u16,
    /// RTP packets sent (`forward_ended` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets_sent: Option<u64>,
    /// RTP bytes sent (`forward_ended` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
}

/// One webhook notification; serialized as the request body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookEvent {
    /// What happened.
    pub event: EventKind,
    /// Unique id (`EV_…`), the same on every retry: receivers deduplicate with it.
    pub id: String,
    /// When it happened, Unix seconds.
    pub created_at: u64,
    /// The room, as it was at that moment (without its participant list).
    pub room: RoomJson,
    /// The participant concerned (participant events; the publisher on track events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant: Option<ParticipantJson>,
    /// The track concerned (track events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<TrackJson>,
    /// The forward concerned (forward events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward: Option<WebhookForward>,
}

impl WebhookEvent {
    /// An event about `room`, stamped now with a fresh id.
    pub fn new(event: EventKind, mut room: RoomJson) -> Self {
        // Events name the room; the participant list would repeat on every event.
        room.participants = None;
        WebhookEvent {
            event,
            id: format!("EV_{}", uuid::Uuid::new_v4().simple()),
            created_at: crate::auth::unix_now(),
            room,
            participant: None,
            track: None,
            forward: None,
        }
    }

    /// Adds the participant concerned.
    pub fn with_participant(mut self, participant: ParticipantJson) -> Self {
        self.participant = Some(participant);
        self
    }

    /// Adds the track concerned.
    pub fn with_track(mut self, track: TrackJson) -> Self {
        self.track = Some(track);
        self
    }

    /// Adds the forward concerned.
    pub fn with_forward(mut self, forward: WebhookForward) -> Self {
        self.forward = Some(forward);
        self
    }

    /// The room name, which keys the delivery order.
    pub fn room_name(&self) -> &str {
        &self.room.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> RoomJson {
        RoomJson {
            name: "r".into(),
            sid: "RM_1".into(),
            created_at: 1,
            num_participants: 0,
            max_participants: 0,
            empty_timeout_s: 300,
            participants: Some(Vec::new()),
        }
    }

    #[test]
    fn a_room_event_names_the_room_without_its_participant_list() {
        let e = serde_json::to_value(WebhookEvent::new(EventKind::RoomStarted, room())).unwrap();
        assert_eq!(e["event"], "room_started");
        assert!(e["id"].as_str().unwrap().starts_with("EV_"));
        assert!(e["created_at"].as_u64().unwrap() > 0);
        assert_eq!(e["room"]["sid"], "RM_1");
        for absent in ["participant", "track", "forward"] {
            assert!(e.get(absent).is_none(), "{absent} present");
        }
        assert!(e["room"].get("participants").is_none());
    }

    #[test]
    fn forward_events_carry_the_forward_and_counters_only_at_the_end() {
        let forward = WebhookForward {
            id: "FW_1".into(),
            track_id: "TR_1".into(),
            host: "127.0.0.1".into(),
            port: 5004,
            packets_sent: None,
            bytes_sent: None,
        };
        let started =
            WebhookEvent::new(EventKind::ForwardStarted, room()).with_forward(forward.clone());
        let started = serde_json::to_value(started).unwrap();
        assert_eq!(started["event"], "forward_started");
        assert_eq!(
            started["forward"],
            serde_json::json!({"id": "FW_1", "track_id": "TR_1", "host": "127.0.0.1", "port": 5004})
        );
        let ended =
            WebhookEvent::new(EventKind::ForwardEnded, room()).with_forward(WebhookForward {
                packets_sent: Some(10),
                bytes_sent: Some(12_000),
                ..forward
            });
        let ended = serde_json::to_value(ended).unwrap();
        assert_eq!(ended["event"], "forward_ended");
        assert_eq!(ended["forward"]["packets_sent"], 10);
        assert_eq!(ended["forward"]["bytes_sent"], 12_000);
    }

    #[test]
    fn wire_names_match_serde() {
        for kind in [
            EventKind::RoomStarted,
            EventKind::RoomFinished,
            EventKind::ParticipantJoined,
            EventKind::ParticipantLeft,
            EventKind::TrackPublished,
            EventKind::TrackUnpublished,
            EventKind::ForwardStarted,
            EventKind::ForwardEnded,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
