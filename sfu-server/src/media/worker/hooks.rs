//! The webhook events of the worker's rooms (docs/webhooks.md): built only when webhooks are
//! configured, handed over without waiting (`Webhooks::emit` never blocks the media loop).

use sfu_core::{ParticipantId, TrackId};

use super::Worker;
use crate::model::{ParticipantJson, TrackJson};
use crate::webhooks::{EventKind, WebhookEvent, WebhookForward};

impl Worker {
    /// `room_started` / `room_finished` for the room `name` (call while it is still listed).
    pub(super) fn hook_room(&self, kind: EventKind, name: &str) {
        if let Some(event) = self.room_event(kind, name) {
            self.settings.webhooks.emit(event);
        }
    }

    /// `participant_joined` for `id`, who is in room `name`.
    pub(super) fn hook_joined(&self, name: &str, id: ParticipantId) {
        let Some(room) = self.rooms.get(name) else {
            return;
        };
        if let Some(event) = self.room_event(EventKind::ParticipantJoined, name)
            && let Some(participant) = room.participant_json(id)
        {
            self.settings
                .webhooks
                .emit(event.with_participant(participant));
        }
    }

    /// The participant `id` as webhooks will report its leaving: taken before it leaves the
    /// room, with the tracks it still publishes (`None` when webhooks are off).
    pub(super) fn leaving_participant(
        &self,
        name: &str,
        id: ParticipantId,
    ) -> Option<ParticipantJson> {
        if !self.settings.webhooks.is_enabled() {
            return None;
        }
        self.rooms.get(name)?.participant_json(id)
    }

    /// After `participant` left room `name`: `track_unpublished` for each track it still had,
    /// then `participant_left`, so every `track_published` is matched.
    pub(super) fn hook_left(&self, name: &str, participant: ParticipantJson) {
        for track in &participant.tracks {
            if let Some(event) = self.room_event(EventKind::TrackUnpublished, name) {
                let event = event
                    .with_participant(participant.clone())
                    .with_track(track.clone());
                self.settings.webhooks.emit(event);
            }
        }
        if let Some(event) = self.room_event(EventKind::ParticipantLeft, name) {
            self.settings
                .webhooks
                .emit(event.with_participant(participant));
        }
    }

    /// The track as webhooks report it, with its publisher (`None` when webhooks are off or
    /// the track is unknown). Take it before an unpublish.
    pub(super) fn track_for_hook(
        &self,
        name: &str,
        track: TrackId,
    ) -> Option<(ParticipantJson, TrackJson)> {
        if !self.settings.webhooks.is_enabled() {
            return None;
        }
        let room = self.rooms.get(name)?;
        let info = room.core.track(track)?;
        Some((room.participant_json(info.owner)?, TrackJson::from(info)))
    }

    /// `track_published` / `track_unpublished` with the publisher and the track.
    pub(super) fn hook_track(
        &self,
        kind: EventKind,
        name: &str,
        (participant, track): (ParticipantJson, TrackJson),
    ) {
        if let Some(event) = self.room_event(kind, name) {
            self.settings
                .webhooks
                .emit(event.with_participant(participant).with_track(track));
        }
    }

    /// `forward_started` when a recording forward of room `name` starts sending, or
    /// `forward_ended` (with `packets_sent`/`bytes_sent` set) when it stops.
    pub(super) fn hook_forward(&self, kind: EventKind, name: &str, forward: WebhookForward) {
        debug_assert!(matches!(
            kind,
            EventKind::ForwardStarted | EventKind::ForwardEnded
        ));
        if let Some(event) = self.room_event(kind, name) {
            self.settings.webhooks.emit(event.with_forward(forward));
        }
    }

    fn room_event(&self, kind: EventKind, name: &str) -> Option<WebhookEvent> {
        if !self.settings.webhooks.is_enabled() {
            return None;
        }
        let room = self.rooms.get(name)?;
        Some(WebhookEvent::new(kind, room.json(false)))
    }
}
