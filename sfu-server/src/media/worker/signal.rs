//! Client signalling messages, applied to the participant's peer connection and room.

use std::time::Instant;

use sfu_core::{ParticipantId, SubscriptionCaps, TrackId, TrackSource};

use super::Worker;
use super::routing::core_error_code;
use crate::peer::NegotiationError;
use crate::signal::messages::{ClientMessage, ServerMessage};

/// Bound on `track_info` kept for m-lines not yet offered, so a client cannot grow it forever.
const MAX_PENDING_TRACK_INFO: usize = 64;

fn negotiation_error(e: &NegotiationError) -> ServerMessage {
    let code = match e {
        NegotiationError::InvalidSdp(_) => "invalid_sdp",
        NegotiationError::Rejected(_) => "sdp_rejected",
        NegotiationError::NoPendingOffer => "no_pending_offer",
    };
    ServerMessage::error(code, e.to_string())
}

impl Worker {
    pub(super) fn on_signal(&mut self, id: ParticipantId, message: ClientMessage, now: Instant) {
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        let room_name = member.room.clone();
        let _span = member.span.clone().entered();
        match message {
            ClientMessage::Offer { sdp } => match member.peer.accept_offer(&sdp, now) {
                Ok(Some(answer)) => {
                    self.send(id, &ServerMessage::Answer { sdp: answer });
                    // Changes queued while the client was offering go out after the answer.
                    self.offers_due.insert(id);
                    self.mark_dirty(id);
                }
                Ok(None) => {
                    tracing::debug!(participant = %id, "client offer crossed a server offer; ignored (client rolls back)");
                }
                Err(e) => {
                    tracing::info!(participant = %id, error = %e, "client offer refused");
                    self.send(id, &negotiation_error(&e));
                }
            },
            ClientMessage::Answer { sdp } => match member.peer.accept_answer(&sdp, now) {
                Ok(tracks) => {
                    member.awaiting_connection.extend(tracks);
                    let connected = member.peer.is_connected();
                    self.mark_dirty(id);
                    if connected {
                        self.start_down_tracks(id, now);
                    }
                    self.offers_due.insert(id);
                }
                Err(e) => {
                    tracing::info!(participant = %id, error = %e, "client answer refused");
                    self.send(id, &negotiation_error(&e));
                    // Whatever the failed offer carried is offered again.
                    self.offers_due.insert(id);
                }
            },
            ClientMessage::Candidate { candidate } => {
                if let Err(e) = member.peer.add_remote_candidate(&candidate.candidate) {
                    self.send(id, &ServerMessage::error("invalid_candidate", e));
                } else {
                    self.mark_dirty(id);
                }
            }
            ClientMessage::TrackInfo { mid, source, name } => {
                let source = TrackSource::parse(&source);
                let existing = self.rooms.get(&room_name).and_then(|r| {
                    r.core
                        .tracks_of(id)
                        .into_iter()
                        .find(|t| t.mid == mid)
                        .map(|t| t.id)
                });
                match existing {
                    Some(track) => {
                        if let Some(r) = self.rooms.get_mut(&room_name) {
                            let _ = r.core.handle_track_metadata(track, source, name);
                        }
                    }
                    None => {
                        if member.pending_track_info.len() < MAX_PENDING_TRACK_INFO {
                            member.pending_track_info.insert(mid, (source, name));
                        } else {
                            self.send(
                                id,
                                &ServerMessage::error(
                                    "too_many_requests",
                                    "too many track_info messages for unknown m-lines",
                                ),
                            );
                        }
                    }
                }
            }
            ClientMessage::Subscribe {
                track_id,
                subscribe,
            } => {
                let Some(track) = self.parse_track(id, &track_id) else {
                    return;
                };
                let result = self
                    .rooms
                    .get_mut(&room_name)
                    .map(|r| r.core.handle_subscribe(id, track, subscribe, now));
                if let Some(Err(e)) = result {
                    self.send(
                        id,
                        &ServerMessage::error(core_error_code(&e), e.to_string()),
                    );
                }
            }
            ClientMessage::SetSubscription {
                track_id,
                max_width,
                max_height,
                layer,
                paused,
                max_temporal,
            } => {
                let Some(track) = self.parse_track(id, &track_id) else {
                    return;
                };
                let caps = SubscriptionCaps {
                    layer,
                    max_width,
                    max_height,
                    paused: paused.unwrap_or(false),
                    max_temporal,
                };
                let result = self
                    .rooms
                    .get_mut(&room_name)
                    .map(|r| r.core.handle_set_subscription(id, track, caps, now));
                if let Some(Err(e)) = result {
                    self.send(
                        id,
                        &ServerMessage::error(core_error_code(&e), e.to_string()),
                    );
                }
            }
            ClientMessage::Mute { track_id, muted } => {
                let Some(track) = self.parse_track(id, &track_id) else {
                    return;
                };
                let owner = self
                    .rooms
                    .get(&room_name)
                    .and_then(|r| r.core.track(track))
                    .map(|t| t.owner);
                match owner {
                    None => self.send(
                        id,
                        &ServerMessage::error(
                            "track_not_found",
                            format!("track {track_id} does not exist"),
                        ),
                    ),
                    Some(owner) if owner != id => self.send(
                        id,
                        &ServerMessage::error(
                            "permission_denied",
                            "only the publisher may mute its track",
                        ),
                    ),
                    Some(_) => {
                        if let Some(r) = self.rooms.get_mut(&room_name) {
                            let _ = r.core.handle_mute(track, muted, now);
                        }
                    }
                }
            }
            ClientMessage::Leave => self.removals.push((id, None)),
        }
        self.route_room(&room_name, now);
    }

    fn parse_track(&mut self, id: ParticipantId, text: &str) -> Option<TrackId> {
        match text.parse::<TrackId>() {
            Ok(t) => Some(t),
            Err(_) => {
                self.send(
                    id,
                    &ServerMessage::error(
                        "track_not_found",
                        format!("track {text:?} does not exist"),
                    ),
                );
                None
            }
        }
    }
}
