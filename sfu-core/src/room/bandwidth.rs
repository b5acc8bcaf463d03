//! Per-subscriber bandwidth: the estimate the driver feeds in, the allocation across the
//! subscriber's tracks, and the layer limits it puts on the down tracks.

use std::time::Instant;

use crate::allocation::{Decision, Governor, TrackDemand, VideoPriority};
use crate::error::CoreError;
use crate::ids::{ParticipantId, TrackId};
use crate::room::output::Output;
use crate::room::types::{BandwidthSource, TrackSource};
use crate::room::{Room, track::PublishedTrack};

/// Nominal bitrates (bits/s) of a layer not measured yet, by position from the top layer
/// (top, one below, two below...): the browsers' defaults for 720p simulcast.
const NOMINAL_VIDEO: [u64; 3] = [1_500_000, 500_000, 150_000];
/// Nominal bitrate of an audio track not measured yet.
const NOMINAL_AUDIO: u64 = 40_000;

/// One subscriber's estimate and the allocation made from it.
#[derive(Debug, Clone)]
pub(crate) struct SubscriberBandwidth {
    pub estimate: u64,
    pub source: BandwidthSource,
    pub governor: Governor,
    pub decision: Decision,
    /// The (minimum, desired) last sent to the driver, to send only changes.
    pub sent_bitrate: Option<(u64, u64)>,
}

/// What operators see of one subscriber's bandwidth (admin API).
#[derive(Debug, Clone, PartialEq)]
pub struct BandwidthStats {
    /// The latest estimate (bits/s).
    pub estimate: u64,
    /// Where it came from.
    pub source: BandwidthSource,
    /// Allocated in total (bits/s).
    pub allocated: u64,
    /// What every track at its best allowed layer would take (bits/s).
    pub wanted: u64,
    /// Layer switches the allocation made (up and down).
    pub switches: u64,
}

/// One subscribed track as operators see it (admin API).
#[derive(Debug, Clone, PartialEq)]
pub struct DownTrackStats {
    /// The published track.
    pub track: TrackId,
    /// Bitrate allocated to it (bits/s; 0 without an estimate).
    pub allocated_bps: u64,
    /// The RID being sent.
    pub current: Option<String>,
    /// The RID the server is switching to (or staying at).
    pub target: Option<String>,
    /// Why nothing is sent, if so: `subscriber`, `bandwidth`.
    pub paused: Option<&'static str>,
    /// Layer switches done on this down track.
    pub switches: u64,
    /// Packets sent on it.
    pub packets_sent: u64,
}

impl Room {
    /// A subscriber's downlink estimate (from TWCC or REMB); the allocation follows at the next
    /// tick.
    pub fn handle_bandwidth_estimate(
        &mut self,
        subscriber: ParticipantId,
        bitrate: u64,
        source: BandwidthSource,
        now: Instant,
    ) -> Result<(), CoreError> {
        let config = self.config.governor.clone();
        let p = self
            .participants
            .get_mut(&subscriber)
            .ok_or(CoreError::UnknownParticipant(subscriber))?;
        match &mut p.bandwidth {
            Some(b) => {
                // TWCC is our own measurement; a REMB seen alongside it is only the peer's view.
                if source == BandwidthSource::Remb && b.source == BandwidthSource::Twcc {
                    return Ok(());
                }
                b.estimate = bitrate;
                b.source = source;
            }
            None => {
                p.bandwidth = Some(SubscriberBandwidth {
                    estimate: bitrate,
                    source,
                    governor: Governor::new(config),
                    decision: Decision::default(),
                    sent_bitrate: None,
                });
            }
        }
        self.schedule_tick(now);
        Ok(())
    }

    /// The bandwidth state of a subscriber, once it has an estimate.
    pub fn bandwidth_stats(&self, subscriber: ParticipantId) -> Option<BandwidthStats> {
        let b = self.participants.get(&subscriber)?.bandwidth.as_ref()?;
        Some(BandwidthStats {
            estimate: b.estimate,
            source: b.source,
            allocated: b.decision.allocated,
            wanted: b.decision.wanted,
            switches: b.governor.switches(),
        })
    }

    /// The subscriber's down tracks, with allocation and layers.
    pub fn down_track_stats(&self, subscriber: ParticipantId) -> Vec<DownTrackStats> {
        let mut out = Vec::new();
        for (id, t) in &self.tracks {
            for d in t.down_tracks.iter().filter(|d| d.subscriber == subscriber) {
                let rid = |l: Option<usize>| l.and_then(|l| t.rid(l));
                out.push(DownTrackStats {
                    track: *id,
                    allocated_bps: d.allocated_bps,
                    current: rid(d.current),
                    target: rid(d.target),
                    paused: if d.caps.paused {
                        Some("subscriber")
                    } else if d.bandwidth_paused() {
                        Some("bandwidth")
                    } else {
                        None
                    },
                    switches: d.switches,
                    packets_sent: d.packets_sent,
                });
            }
        }
        out
    }

    /// Runs every subscriber's allocation and puts its layer limits on the down tracks.
    pub(super) fn allocate_bandwidth(&mut self, now: Instant) {
        let subscribers: Vec<ParticipantId> = self
            .participants
            .iter()
            .filter(|(_, p)| p.bandwidth.is_some())
            .map(|(id, _)| *id)
            .collect();
        let speakers: Vec<ParticipantId> = self.speakers_now().collect();
        for subscriber in subscribers {
            let demands: Vec<TrackDemand> = self
                .tracks
                .iter()
                .filter_map(|(id, t)| {
                    let d = t.down_tracks.iter().find(|d| d.subscriber == subscriber)?;
                    Some(self.demand(*id, t, d, &speakers, now))
                })
                .collect();
            let Some(b) = self
                .participants
                .get_mut(&subscriber)
                .and_then(|p| p.bandwidth.as_mut())
            else {
                continue;
            };
            let budget = match b.source {
                BandwidthSource::Twcc => b.estimate,
                // REMB measures what arrives (at most about 1.5 times it): once a video is
                // paused, its REMB can never grow enough to resume it. REMB subscribers keep
                // every video at its lowest layer at least; layers above follow REMB.
                BandwidthSource::Remb => b.estimate.max(lowest_layers_cost(&demands)),
            };
            let decision = b.governor.update(budget, &demands, now);
            let bitrate = (
                decision.probe_minimum,
                decision.wanted.max(decision.allocated),
            );
            if b.sent_bitrate != Some(bitrate) {
                b.sent_bitrate = Some(bitrate);
                self.outputs.push_back(Output::SetBitrate {
                    to: subscriber,
                    minimum: bitrate.0,
                    desired: bitrate.1,
                });
            }
            for td in &decision.tracks {
                let Some(t) = self.tracks.get_mut(&td.track) else {
                    continue;
                };
                let Some(d) = t
                    .down_tracks
                    .iter_mut()
                    .find(|d| d.subscriber == subscriber)
                else {
                    continue;
                };
                d.allocated_bps = td.bitrate;
                let limit = if !t.info.codec.is_video() || d.caps.paused {
                    None
                } else {
                    Some(td.layer)
                };
                if limit == Some(None) && !d.bandwidth_paused() {
                    // Resuming later starts cleanly at a keyframe.
                    d.reset_layer();
                }
                d.bandwidth_layer = limit;
            }
            if let Some(b) = self
                .participants
                .get_mut(&subscriber)
                .and_then(|p| p.bandwidth.as_mut())
            {
                b.decision = decision;
            }
        }
    }

    /// What one down track could use: the layers that are sending, at their measured rates.
    fn demand(
        &self,
        id: TrackId,
        t: &PublishedTrack,
        d: &super::down_track::DownTrack,
        speakers: &[ParticipantId],
        now: Instant,
    ) -> TrackDemand {
        let audio = !t.info.codec.is_video();
        let n = t.layers.len();
        let layer_bitrates = (0..n)
            .map(|l| {
                let nominal = if audio {
                    NOMINAL_AUDIO
                } else {
                    NOMINAL_VIDEO[(n - 1 - l).min(NOMINAL_VIDEO.len() - 1)]
                };
                let live = t.is_live(l, now, self.config.layer_timeout);
                let measured = t.layers[l].cost_bps(now);
                // A layer's cost is what it sends; one with nothing measured yet (just
                // published, or back after a pause) is priced at its nominal rate.
                let rate = if measured > 0 { measured } else { nominal };
                (live || audio).then_some(rate)
            })
            .collect();
        let priority = if t.info.source == TrackSource::Screen {
            VideoPriority::Screen
        } else if speakers.contains(&t.info.owner) {
            VideoPriority::Speaker
        } else {
            VideoPriority::Camera
        };
        let max_layer = (!d.caps.paused && !t.info.muted).then(|| t.max_layer_for(&d.caps));
        TrackDemand {
            track: id,
            audio,
            priority,
            layer_bitrates,
            max_layer,
        }
    }

    fn speakers_now(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.active_speakers().iter().map(|(p, _)| *p)
    }
}

/// What audio plus every video at its lowest sendable layer costs (bits/s).
fn lowest_layers_cost(demands: &[TrackDemand]) -> u64 {
    demands
        .iter()
        .filter(|d| d.audio || d.max_layer.is_some())
        .filter_map(|d| d.layer_bitrates.iter().flatten().next())
        .sum()
}
