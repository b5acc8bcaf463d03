//! Commands from signalling and the REST API: joins, leaves and room administration.

use std::time::Instant;

use sfu_core::{ParticipantId, ParticipantInfo, TrackId};

use super::{Member, Worker};
use crate::media::command::{Command, JoinRequest, RoomError};
use crate::media::room_entry::RoomEntry;
use crate::model::TrackJson;
use crate::peer::Peer;
use crate::signal::messages::ServerMessage;
use crate::webhooks::EventKind;

/// Longest accepted room name.
const MAX_ROOM_NAME: usize = 128;

fn validate_room_name(name: &str) -> Result<(), RoomError> {
    if name.is_empty() || name.len() > MAX_ROOM_NAME || name.chars().any(char::is_control) {
        return Err(RoomError::BadRequest(format!(
            "room names are 1 to {MAX_ROOM_NAME} characters without control characters"
        )));
    }
    Ok(())
}

impl Worker {
    /// The routing settings of a new room, from the media settings.
    fn room_config(&self) -> sfu_core::RoomConfig {
        let defaults = sfu_core::RoomConfig::default();
        sfu_core::RoomConfig {
            dynacast_delay: defaults.dynacast_delay.filter(|_| self.settings.dynacast),
            ..defaults
        }
    }

    pub(super) fn on_command(&mut self, command: Command, now: Instant) {
        match command {
            Command::Join { request, reply } => {
                let result = self.join(request, now);
                let _ = reply.send(result);
            }
            Command::Signal {
                participant,
                message,
            } => self.on_signal(participant, message, now),
            Command::Disconnected { participant } => self.removals.push((participant, None)),
            Command::CreateRoom {
                name,
                max_participants,
                empty_timeout_s,
                reply,
            } => {
                let result = self.create_room(name, max_participants, empty_timeout_s, now);
                let _ = reply.send(result);
            }
            Command::ListRooms { reply } => {
                let mut rooms: Vec<_> = self.rooms.values().map(|r| r.json(false)).collect();
                rooms.sort_by(|a, b| a.name.cmp(&b.name));
                let _ = reply.send(rooms);
            }
            Command::GetRoom { name, reply } => {
                let _ = reply.send(
                    self.rooms
                        .get(&name)
                        .map(|r| r.json(true))
                        .ok_or(RoomError::RoomNotFound(name)),
                );
            }
            Command::DeleteRoom { name, reply } => {
                let result = match self.rooms.get(&name) {
                    None => Err(RoomError::RoomNotFound(name)),
                    Some(room) => {
                        let members: Vec<ParticipantId> = room.members.iter().copied().collect();
                        // Before the participants leave, so forwards end as `room_closed`.
                        self.end_room_forwards(&name, now);
                        for id in members {
                            self.remove_participant(id, Some("room_closed".into()), now);
                        }
                        self.hook_room(EventKind::RoomFinished, &name);
                        if let Some(room) = self.rooms.remove(&name) {
                            room.span.in_scope(|| tracing::info!("room deleted"));
                        }
                        Ok(())
                    }
                };
                let _ = reply.send(result);
            }
            Command::ListParticipants { room, reply } => {
                let _ = reply.send(
                    self.rooms
                        .get(&room)
                        .map(|r| r.participants_admin_json())
                        .ok_or(RoomError::RoomNotFound(room)),
                );
            }
            Command::RemoveParticipant {
                room,
                identity,
                reply,
            } => {
                let result = self.find_member(&room, &identity).map(|id| {
                    self.remove_participant(id, Some("removed".into()), now);
                });
                let _ = reply.send(result);
            }
            Command::MuteTrack {
                room,
                identity,
                track_id,
                muted,
                reply,
            } => {
                let result = self.mute_track(&room, &identity, &track_id, muted, now);
                let _ = reply.send(result);
            }
            Command::CreateForward {
                room,
                request,
                reply,
            } => {
                let result = self.create_forward(&room, request, now);
                let _ = reply.send(result);
            }
            Command::ListForwards { room, reply } => {
                let _ = reply.send(self.list_forwards(&room));
            }
            Command::UpdateForward {
                room,
                id,
                layer,
                paused,
                reply,
            } => {
                let result = self.update_forward(&room, &id, layer, paused, now);
                let _ = reply.send(result);
            }
            Command::DeleteForward { room, id, reply } => {
                let result = self.delete_forward(&room, &id, now);
                let _ = reply.send(result);
            }
            Command::Drain => self.draining = true,
            Command::CloseAll { reason, reply } => {
                self.draining = true;
                let ids: Vec<ParticipantId> = self.members.keys().copied().collect();
                for id in ids {
                    self.remove_participant(id, Some(reason.into()), now);
                }
                // The rooms end with the server: say so to the webhooks.
                let names: Vec<String> = self.rooms.keys().cloned().collect();
                for name in names {
                    self.end_room_forwards(&name, now);
                    self.hook_room(EventKind::RoomFinished, &name);
                    self.rooms.remove(&name);
                }
                let _ = reply.send(());
            }
            Command::Stats { reply } => {
                let mut stats = self.stats.clone();
                stats.rooms = self.rooms.len();
                stats.participants = self.members.len();
                let mut drops = std::collections::BTreeMap::<String, u64>::new();
                for room in self.rooms.values() {
                    stats.published_tracks += room.core.track_count();
                    stats.subscribed_tracks += room.core.down_track_count();
                    stats.layer_switches += room.core.layer_switch_count();
                    for (reason, n) in room.core.drop_counts() {
                        *drops.entry(reason.as_str().to_owned()).or_default() += n;
                    }
                }
                stats.rtp_dropped = drops.into_iter().collect();
                stats.forwards = self.forwards.len();
                let _ = reply.send(stats);
            }
        }
    }

    /// Room `name`, or [`RoomError::RoomNotFound`].
    pub(super) fn room(&self, name: &str) -> Result<&RoomEntry, RoomError> {
        self.rooms
            .get(name)
            .ok_or_else(|| RoomError::RoomNotFound(name.to_owned()))
    }

    /// Room `name` to change, or [`RoomError::RoomNotFound`].
    pub(super) fn room_mut(&mut self, name: &str) -> Result<&mut RoomEntry, RoomError> {
        self.rooms
            .get_mut(name)
            .ok_or_else(|| RoomError::RoomNotFound(name.to_owned()))
    }

    fn find_member(&self, room: &str, identity: &str) -> Result<ParticipantId, RoomError> {
        let entry = self.room(room)?;
        entry
            .members
            .iter()
            .copied()
            .find(|id| self.members.get(id).is_some_and(|m| m.identity == identity))
            .ok_or_else(|| RoomError::ParticipantNotFound(identity.to_owned()))
    }

    fn create_room(
        &mut self,
        name: String,
        max_participants: Option<u32>,
        empty_timeout_s: Option<u64>,
        now: Instant,
    ) -> Result<crate::model::RoomJson, RoomError> {
        validate_room_name(&name)?;
        if self.rooms.contains_key(&name) {
            return Err(RoomError::RoomExists(name));
        }
        let entry = RoomEntry::new(
            name.clone(),
            max_participants.unwrap_or(self.settings.max_participants),
            empty_timeout_s
                .map(std::time::Duration::from_secs)
                .unwrap_or(self.settings.empty_timeout),
            self.room_config(),
            now,
        );
        let json = entry.json(false);
        entry.span.in_scope(|| tracing::info!("room created"));
        self.rooms.insert(name.clone(), entry);
        self.hook_room(EventKind::RoomStarted, &name);
        Ok(json)
    }

    fn join(&mut self, request: JoinRequest, now: Instant) -> Result<ParticipantId, RoomError> {
        if self.draining {
            return Err(RoomError::Draining);
        }
        validate_room_name(&request.room)?;
        if !self.rooms.contains_key(&request.room) {
            if !(self.settings.auto_create_rooms || request.may_create) {
                return Err(RoomError::RoomNotFound(request.room));
            }
            self.create_room(request.room.clone(), None, None, now)?;
        }
        // A second session with the same identity replaces the first (a reload, a new device).
        if let Ok(old) = self.find_member(&request.room, &request.identity) {
            self.remove_participant(old, Some("duplicate_identity".into()), now);
        }
        // The field itself, not room_mut(): the peer set-up below borrows other fields.
        let room = self
            .rooms
            .get_mut(&request.room)
            .ok_or_else(|| RoomError::RoomNotFound(request.room.clone()))?;
        if room.is_full() {
            return Err(RoomError::RoomFull(request.room));
        }
        let id = ParticipantId(rand::random());
        let info = ParticipantInfo {
            id,
            identity: request.identity.clone(),
            name: request.name.clone(),
            joined_at_ms: crate::auth::unix_now() * 1000,
            permissions: request.permissions,
        };
        room.core
            .handle_join(info, now)
            .map_err(|e| RoomError::BadRequest(e.to_string()))?;
        room.members.insert(id);
        room.empty_since = None;
        let joined = ServerMessage::Joined {
            room: room.json(false),
            participant: room.participant_json(id).ok_or(RoomError::Unavailable)?,
            participants: room
                .participants_json()
                .into_iter()
                .filter(|p| p.id != id.to_string())
                .collect(),
            ice_servers: self.settings.ice_servers.clone(),
        };
        let peer = Peer::new(id, &self.peer_config, now);
        let span = tracing::info_span!(parent: &room.span, "participant", participant = %id, identity = %request.identity);
        let _span = span.clone().entered();
        self.members.insert(
            id,
            Member {
                room: request.room.clone(),
                identity: request.identity.clone(),
                session: request.session,
                peer,
                pending_track_info: Default::default(),
                awaiting_connection: Vec::new(),
                timeout: now,
                span,
            },
        );
        // Every deadline a member holds has a heap entry, or the peer would never be woken.
        self.timers.push(std::cmp::Reverse((now, id)));
        tracing::info!(participant = %id, identity = %request.identity, room = %request.room, "participant joined");
        self.hook_joined(&request.room, id);
        self.send(id, &joined);
        self.mark_dirty(id);
        self.route_room(&request.room, now);
        Ok(id)
    }

    fn mute_track(
        &mut self,
        room: &str,
        identity: &str,
        track_id: &str,
        muted: bool,
        now: Instant,
    ) -> Result<TrackJson, RoomError> {
        let owner = self.find_member(room, identity)?;
        let track: TrackId = track_id
            .parse()
            .map_err(|_| RoomError::TrackNotFound(track_id.to_owned()))?;
        let entry = self.room_mut(room)?;
        if entry.core.track(track).is_none_or(|t| t.owner != owner) {
            return Err(RoomError::TrackNotFound(track_id.to_owned()));
        }
        entry
            .core
            .handle_mute(track, muted, now)
            .map_err(|_| RoomError::TrackNotFound(track_id.to_owned()))?;
        let json = entry
            .core
            .track(track)
            .map(TrackJson::from)
            .ok_or_else(|| RoomError::TrackNotFound(track_id.to_owned()))?;
        self.route_room(room, now);
        Ok(json)
    }
}
