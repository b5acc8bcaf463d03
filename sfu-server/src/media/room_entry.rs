//! A room as the worker holds it: the sfu-core routing state plus its lifecycle metadata.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sfu_core::{ParticipantId, Room, RoomConfig};

use crate::model::{BandwidthJson, LayerCountersJson, ParticipantJson, RoomJson, SubscriptionJson};

/// One room on this worker.
pub struct RoomEntry {
    /// Room name.
    pub name: String,
    /// Unique id of this incarnation.
    pub sid: String,
    /// Unix seconds.
    pub created_at: u64,
    /// 0 = unlimited.
    pub max_participants: u32,
    /// How long the room lives on without participants.
    pub empty_timeout: Duration,
    /// Since when the room has been empty.
    pub empty_since: Option<Instant>,
    /// The routing state.
    pub core: Room,
    /// Participants, in join order of their ids.
    pub members: BTreeSet<ParticipantId>,
    /// The room's log span, parent of its participants' spans.
    pub span: tracing::Span,
}

impl RoomEntry {
    /// A new, empty room.
    pub fn new(
        name: String,
        max_participants: u32,
        empty_timeout: Duration,
        config: RoomConfig,
        now: Instant,
    ) -> Self {
        let sid = format!("RM_{}", uuid::Uuid::new_v4().simple());
        // No parent: the worker's own context says nothing about the room.
        let span = tracing::info_span!(parent: None, "room", room = %name, %sid);
        RoomEntry {
            span,
            name,
            sid,
            created_at: crate::auth::unix_now(),
            max_participants,
            empty_timeout,
            empty_since: Some(now),
            core: Room::new(config),
            members: BTreeSet::new(),
        }
    }

    /// Whether one more participant fits.
    pub fn is_full(&self) -> bool {
        self.max_participants > 0 && self.members.len() >= self.max_participants as usize
    }

    /// The API JSON of one participant.
    pub fn participant_json(&self, id: ParticipantId) -> Option<ParticipantJson> {
        let info = self.core.participant(id)?;
        Some(ParticipantJson::new(info, self.core.tracks_of(id)))
    }

    /// The API JSON of every participant.
    pub fn participants_json(&self) -> Vec<ParticipantJson> {
        self.core
            .participants()
            .map(|p| ParticipantJson::new(p, self.core.tracks_of(p.id)))
            .collect()
    }

    /// The admin view of every participant: tracks carry the server's receive counters.
    pub fn participants_admin_json(&self) -> Vec<ParticipantJson> {
        let mut list = self.participants_json();
        for p in &mut list {
            if let Ok(pid) = p.id.parse() {
                p.bandwidth = self.core.bandwidth_stats(pid).map(|b| BandwidthJson {
                    estimate_bps: b.estimate,
                    source: b.source.as_str(),
                    allocated_bps: b.allocated,
                    wanted_bps: b.wanted,
                    switches: b.switches,
                });
                p.subscriptions = Some(
                    self.core
                        .down_track_stats(pid)
                        .into_iter()
                        .map(|d| SubscriptionJson {
                            track_id: d.track.to_string(),
                            allocated_bps: d.allocated_bps,
                            current_layer: d.current,
                            target_layer: d.target,
                            paused: d.paused,
                            switches: d.switches,
                            packets_sent: d.packets_sent,
                        })
                        .collect(),
                );
            }
            for t in &mut p.tracks {
                let Ok(id) = t.id.parse() else { continue };
                let counters = self.core.layer_counters(id);
                let rates = self.core.layer_bitrates(id, Instant::now());
                let rids: Vec<Option<String>> = if t.simulcast.is_empty() {
                    vec![None]
                } else {
                    t.simulcast.iter().map(|l| Some(l.rid.clone())).collect()
                };
                t.received = Some(
                    rids.into_iter()
                        .zip(counters)
                        .zip(rates)
                        .map(|((rid, (packets, bytes)), bitrate_bps)| LayerCountersJson {
                            rid,
                            packets,
                            bytes,
                            bitrate_bps,
                        })
                        .collect(),
                );
            }
        }
        list
    }

    /// The API JSON of the room.
    pub fn json(&self, with_participants: bool) -> RoomJson {
        RoomJson {
            name: self.name.clone(),
            sid: self.sid.clone(),
            created_at: self.created_at,
            num_participants: self.members.len(),
            max_participants: self.max_participants,
            empty_timeout_s: self.empty_timeout.as_secs(),
            participants: with_participants.then(|| self.participants_admin_json()),
        }
    }
}
