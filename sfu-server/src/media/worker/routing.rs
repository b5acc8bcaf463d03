//! Applying room outputs to peer connections, and peer events to rooms.

use std::time::Instant;

use sfu_core::{
    CoreError, KeyframeKind, LayerInfo, Output, ParticipantId, RoomEvent, TrackId, TrackInfo,
    TrackSource,
};

use super::Worker;
use crate::model::{ParticipantJson, TrackJson};
use crate::peer::{PeerEvent, Rid};
use crate::signal::messages::{ServerMessage, SpeakerJson};
use crate::webhooks::EventKind;

/// The `error` code for a refused core request.
pub(super) fn core_error_code(e: &CoreError) -> &'static str {
    match e {
        CoreError::UnknownParticipant(_) => "participant_not_found",
        CoreError::UnknownTrack(_) => "track_not_found",
        CoreError::DuplicateParticipant(_) => "conflict",
        CoreError::PermissionDenied(_) => "permission_denied",
        CoreError::UnknownForward(_) => "forward_not_found",
        CoreError::UnknownLayer(_) => "unknown_layer",
        CoreError::Invalid(_) => "invalid_request",
    }
}

fn event_message(event: RoomEvent) -> ServerMessage {
    match event {
        RoomEvent::ParticipantJoined(info) => ServerMessage::ParticipantJoined {
            participant: ParticipantJson::new(&info, []),
        },
        RoomEvent::ParticipantLeft(id) => ServerMessage::ParticipantLeft {
            participant_id: id.to_string(),
        },
        RoomEvent::TrackPublished(info) => ServerMessage::TrackPublished {
            track: TrackJson::from(&info),
        },
        RoomEvent::TrackUnpublished(id) => ServerMessage::TrackUnpublished {
            track_id: id.to_string(),
        },
        RoomEvent::TrackMuted { track, muted } => ServerMessage::TrackMuted {
            track_id: track.to_string(),
            muted,
        },
        RoomEvent::ActiveSpeakers(list) => ServerMessage::ActiveSpeakers {
            speakers: list
                .into_iter()
                .map(|(id, level)| SpeakerJson {
                    participant_id: id.to_string(),
                    level,
                })
                .collect(),
        },
        RoomEvent::Subscription {
            track,
            layer,
            paused,
            reason,
        } => ServerMessage::Subscription {
            track_id: track.to_string(),
            layer,
            paused,
            reason: reason.map(str::to_owned),
        },
    }
}

impl Worker {
    /// Carries out everything a room asked for.
    pub(super) fn route_room(&mut self, name: &str, _now: Instant) {
        loop {
            let Some(room) = self.rooms.get_mut(name) else {
                return;
            };
            let Some(output) = room.core.poll_output() else {
                return;
            };
            match output {
                Output::SendRtp {
                    to,
                    track,
                    packet,
                    vp8,
                } => {
                    if let Some(m) = self.members.get_mut(&to)
                        && m.peer.write_rtp(track, &packet, vp8.as_ref())
                    {
                        self.stats.rtp_forwarded += 1;
                        self.mark_dirty(to);
                    }
                }
                Output::SendForward {
                    forward,
                    packet,
                    vp8,
                    ..
                } => {
                    if let Some(sink) = self.forwards.get_mut(&forward)
                        && sink.send_rtp(&packet, vp8.as_ref())
                    {
                        self.stats.forward_rtp_sent += 1;
                    }
                }
                Output::ForwardEnded { forward, .. } => {
                    self.end_forward(forward, crate::media::forward::EndReason::TrackEnded);
                }
                Output::RequestKeyframe {
                    publisher,
                    track,
                    rid,
                    kind,
                } => {
                    if let Some(m) = self.members.get_mut(&publisher) {
                        tracing::debug!(%publisher, %track, ?rid, ?kind, "keyframe request to publisher");
                        match kind {
                            KeyframeKind::Pli => self.stats.pli_out += 1,
                            KeyframeKind::Fir => self.stats.fir_out += 1,
                        }
                        m.peer.request_keyframe(track, rid.as_deref(), kind);
                        self.mark_dirty(publisher);
                    }
                }
                Output::AddDownTrack {
                    to,
                    track,
                    publisher,
                    kind,
                } => {
                    if let Some(m) = self.members.get_mut(&to) {
                        m.peer.want_down_track(track, publisher, kind);
                        self.offers_due.insert(to);
                    }
                }
                Output::RemoveDownTrack { to, track } => {
                    if let Some(m) = self.members.get_mut(&to) {
                        m.peer.drop_down_track(track);
                        self.offers_due.insert(to);
                    }
                }
                Output::Event { to, event } => {
                    let message = event_message(event);
                    self.send(to, &message);
                }
                Output::SetBitrate {
                    to,
                    minimum,
                    desired,
                } => {
                    if let Some(m) = self.members.get_mut(&to) {
                        m.peer.set_bitrate(minimum, desired);
                        self.mark_dirty(to);
                    }
                }
                Output::PublisherLayers { to, track, active } => {
                    tracing::debug!(publisher = %to, %track, ?active, "publisher layers");
                    self.send(
                        to,
                        &ServerMessage::PublisherLayers {
                            track_id: track.to_string(),
                            active,
                        },
                    );
                }
                Output::SendData { to, from, payload } => {
                    let wrapped =
                        serde_json::json!({ "from": from.to_string(), "payload": &*payload })
                            .to_string();
                    for id in to {
                        if let Some(m) = self.members.get_mut(&id)
                            && m.peer.send_data(&wrapped)
                        {
                            self.mark_dirty(id);
                        }
                    }
                }
            }
        }
    }

    /// Sends a server offer when down tracks changed and none is in flight.
    pub(super) fn send_offer_if_due(&mut self, id: ParticipantId, now: Instant) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if let Some(sdp) = m.peer.make_offer(now) {
            self.send(id, &ServerMessage::Offer { sdp });
        }
        self.mark_dirty(id);
    }

    /// Starts the subscriber's negotiated down tracks that waited for its transport (see
    /// `Member::awaiting_connection`); called once it is connected.
    pub(super) fn start_down_tracks(&mut self, subscriber: ParticipantId, now: Instant) {
        let Some(m) = self.members.get_mut(&subscriber) else {
            return;
        };
        for track in std::mem::take(&mut m.awaiting_connection) {
            self.negotiate_down_track(subscriber, track, now);
        }
    }

    /// A subscriber's m-line for `track` is negotiated: tell the room how to map payload types.
    fn negotiate_down_track(&mut self, subscriber: ParticipantId, track: TrackId, now: Instant) {
        let Some(room_name) = self.members.get(&subscriber).map(|m| m.room.clone()) else {
            return;
        };
        let Some(owner) = self
            .rooms
            .get(&room_name)
            .and_then(|r| r.core.track(track))
            .map(|t| t.owner)
        else {
            return;
        };
        let Some(codecs) = self
            .members
            .get(&owner)
            .map(|m| m.peer.published_codecs(track))
        else {
            return;
        };
        let Some(map) = self
            .members
            .get(&subscriber)
            .map(|m| m.peer.payload_type_map(track, &codecs))
        else {
            return;
        };
        if map.is_empty() {
            tracing::warn!(%subscriber, %track, "subscriber negotiated none of the publisher's codecs");
        }
        if let Some(room) = self.rooms.get_mut(&room_name) {
            let _ = room
                .core
                .handle_down_track_negotiated(subscriber, track, map, now);
        }
        self.route_room(&room_name, now);
    }

    pub(super) fn on_peer_event(&mut self, id: ParticipantId, event: PeerEvent, now: Instant) {
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        let room_name = member.room.clone();
        let _span = member.span.clone().entered();
        match event {
            PeerEvent::Connected => {
                tracing::debug!(participant = %id, "peer connected");
                self.start_down_tracks(id, now);
            }
            PeerEvent::Disconnected => tracing::debug!(participant = %id, "peer disconnected"),
            PeerEvent::TrackAdded(remote) => {
                let (source, name) = member
                    .pending_track_info
                    .remove(&remote.mid)
                    .unwrap_or((TrackSource::Unknown, None));
                let info = TrackInfo {
                    id: remote.id,
                    owner: id,
                    kind: remote.kind,
                    source,
                    name,
                    mid: remote.mid,
                    codec: remote.codec,
                    layers: remote
                        .rids
                        .into_iter()
                        .map(|rid| LayerInfo {
                            rid,
                            width: None,
                            height: None,
                        })
                        .collect(),
                    muted: false,
                };
                tracing::info!(participant = %id, track = %info.id, kind = info.kind.as_str(), codec = info.codec.name(), layers = info.layers.len(), "track published");
                let track = info.id;
                let result = self
                    .rooms
                    .get_mut(&room_name)
                    .map(|r| r.core.handle_publish(info, now));
                match result {
                    Some(Err(e)) => self.send(
                        id,
                        &ServerMessage::error(core_error_code(&e), format!("cannot publish: {e}")),
                    ),
                    Some(Ok(_)) => {
                        if let Some(hook) = self.track_for_hook(&room_name, track) {
                            self.hook_track(EventKind::TrackPublished, &room_name, hook);
                        }
                    }
                    None => {}
                }
            }
            PeerEvent::TrackRemoved(track) => {
                let hook = self.track_for_hook(&room_name, track);
                let result = self
                    .rooms
                    .get_mut(&room_name)
                    .map(|r| r.core.handle_unpublish(track, now));
                if let (Some(Ok(_)), Some(hook)) = (result, hook) {
                    self.hook_track(EventKind::TrackUnpublished, &room_name, hook);
                }
            }
            PeerEvent::SenderReport { track, rid, report } => {
                if let Some(room) = self.rooms.get_mut(&room_name) {
                    room.core
                        .handle_sender_report(track, rid.as_ref().map(Rid::as_str), report);
                }
            }
            PeerEvent::BandwidthEstimate { bitrate, source } => {
                tracing::trace!(participant = %id, bitrate, source = source.as_str(), "bandwidth estimate");
                self.stats.bandwidth_estimates.observe(bitrate as f64);
                if let Some(room) = self.rooms.get_mut(&room_name) {
                    let _ = room
                        .core
                        .handle_bandwidth_estimate(id, bitrate, source, now);
                }
            }
            PeerEvent::KeyframeRequest { track, kind } => {
                match kind {
                    KeyframeKind::Pli => self.stats.pli_in += 1,
                    KeyframeKind::Fir => self.stats.fir_in += 1,
                }
                if let Some(room) = self.rooms.get_mut(&room_name) {
                    let _ = room.core.handle_keyframe_request(id, track, kind, now);
                }
            }
            PeerEvent::Data(text) => {
                let result = self
                    .rooms
                    .get_mut(&room_name)
                    .map(|r| r.core.handle_data(id, &text));
                if let Some(Err(e)) = result {
                    self.send(
                        id,
                        &ServerMessage::error(
                            core_error_code(&e),
                            format!("data not relayed: {e}"),
                        ),
                    );
                }
            }
        }
        self.route_room(&room_name, now);
    }
}
