//! Forwards, the recording tap: one published track sent to a plain RTP receiver (ffmpeg,
//! GStreamer, a recorder) as one continuous stream.
//!
//! A forward is a down track whose receiver is not a participant: it is rewritten exactly like a
//! subscription (one SSRC, continuous sequence numbers, timestamps and VP8 picture ids across
//! simulcast switches, switching only at keyframes), so a recording stays decodable when the
//! layer changes. Unlike a subscription it needs no negotiation, has no bandwidth estimate (a
//! recorder sits on a fast network, and dropping layers would spoil the recording) and sends no
//! keyframe requests of its own, so one is asked for when it starts (or resumes: a forward may
//! start paused, so a receiver launched after the API call still gets the first keyframe). It
//! counts toward the layers a publisher must keep sending (dynacast), and ends with its track.

use std::time::{Duration, Instant};

use crate::clock_sync::SenderReport;
use crate::error::CoreError;
use crate::ids::{ForwardId, TrackId};
use crate::room::Room;
use crate::room::down_track::DownTrack;
use crate::room::track::PublishedTrack;
use crate::room::types::SubscriptionCaps;

/// What a forward is sending, for the API's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardStats {
    /// The forwarded track.
    pub track: TrackId,
    /// The layer asked for (RID); `None` = the highest live one.
    pub requested_layer: Option<String>,
    /// The RID being sent now (`None` for a single-layer track or before the first keyframe).
    pub current_layer: Option<String>,
    /// Whether it is paused (sends nothing until resumed).
    pub paused: bool,
    /// Whether any packet has been sent yet.
    pub started: bool,
    /// Packets forwarded.
    pub packets_sent: u64,
    /// Layer switches made.
    pub switches: u64,
}

impl Room {
    /// Starts forwarding `track` to the forward `id`; `layer` is the simulcast RID to send
    /// (`None`: the highest live one, falling back while it pauses). `payload_types` maps the
    /// publisher's payload types to the ones the forward's SDP announces; others are not sent.
    /// A keyframe is requested so the receiver can start decoding at once (when `paused`, at
    /// the resume instead).
    pub fn handle_forward_start(
        &mut self,
        id: ForwardId,
        track: TrackId,
        layer: Option<String>,
        paused: bool,
        payload_types: Vec<(u8, u8)>,
        now: Instant,
    ) -> Result<(), CoreError> {
        if self.find_forward(id).is_some() {
            return Err(CoreError::Invalid("forward already exists"));
        }
        let t = self
            .tracks
            .get_mut(&track)
            .ok_or(CoreError::UnknownTrack(track))?;
        check_layer(t, layer.as_deref())?;
        let mut f = DownTrack::new(id, track.0 ^ id.0.rotate_left(29));
        f.negotiated = true;
        f.payload_types = payload_types;
        f.set_caps(SubscriptionCaps {
            layer,
            paused,
            ..SubscriptionCaps::default()
        });
        t.forwards.push(f);
        self.update_targets(track, now);
        self.update_dynacast(now);
        self.schedule_tick(now);
        Ok(())
    }

    /// Changes the layer a forward sends (`None`: the highest live one) and whether it is
    /// paused; a switch or a resume happens at the next keyframe of the layer, which is requested.
    pub fn handle_forward_update(
        &mut self,
        id: ForwardId,
        layer: Option<String>,
        paused: bool,
        now: Instant,
    ) -> Result<(), CoreError> {
        let track = self.find_forward(id).ok_or(CoreError::UnknownForward(id))?;
        let t = self
            .tracks
            .get_mut(&track)
            .ok_or(CoreError::UnknownTrack(track))?;
        check_layer(t, layer.as_deref())?;
        if let Some(f) = t.forwards.iter_mut().find(|f| f.subscriber == id) {
            if paused && !f.caps.paused {
                f.reset_layer();
            }
            f.set_caps(SubscriptionCaps {
                layer,
                paused,
                ..SubscriptionCaps::default()
            });
        }
        self.update_targets(track, now);
        self.update_dynacast(now);
        Ok(())
    }

    /// Stops a forward (the caller deleted it); no output follows for it.
    pub fn handle_forward_stop(&mut self, id: ForwardId, now: Instant) -> Result<(), CoreError> {
        let track = self.find_forward(id).ok_or(CoreError::UnknownForward(id))?;
        if let Some(t) = self.tracks.get_mut(&track) {
            t.forwards.retain(|f| f.subscriber != id);
        }
        self.update_dynacast(now);
        Ok(())
    }

    /// What a forward is sending.
    pub fn forward_stats(&self, id: ForwardId) -> Option<ForwardStats> {
        let (t, f) = self.forward(id)?;
        Some(ForwardStats {
            track: t.info.id,
            requested_layer: f.caps.layer.clone(),
            current_layer: f.current.and_then(|l| t.rid(l)),
            paused: f.caps.paused,
            started: f.packets_sent > 0,
            packets_sent: f.packets_sent,
            switches: f.switches,
        })
    }

    /// The publisher's latest sender report for the layer a forward sends, with its RTP time
    /// moved onto the forward's own timeline: the wallclock mapping a receiver needs to line up
    /// a participant's audio and video forwards (both come from one publisher clock).
    pub fn forward_sender_report(&self, id: ForwardId) -> Option<SenderReport> {
        let (t, f) = self.forward(id)?;
        let report = t.layers.get(f.current?)?.clock.latest()?;
        Some(SenderReport {
            ntp_time: report.ntp_time,
            rtp_time: report.rtp_time.wrapping_add(f.ts_offset?),
        })
    }

    /// Forwards in the room.
    pub fn forward_count(&self) -> usize {
        self.tracks.values().map(|t| t.forwards.len()).sum()
    }

    fn find_forward(&self, id: ForwardId) -> Option<TrackId> {
        self.forward(id).map(|(t, _)| t.info.id)
    }

    fn forward(&self, id: ForwardId) -> Option<(&PublishedTrack, &DownTrack<ForwardId>)> {
        self.tracks
            .values()
            .find_map(|t| Some((t, t.forwards.iter().find(|f| f.subscriber == id)?)))
    }
}

impl PublishedTrack {
    /// Updates each forward's target layer and adds the layers a forward waits for (to start
    /// or to switch) to `wanted`.
    pub(super) fn forward_targets(
        &mut self,
        now: Instant,
        timeout: Duration,
        wanted: &mut Vec<usize>,
    ) {
        let single = self.layers.len() == 1;
        for i in 0..self.forwards.len() {
            let target = if single {
                Some(0)
            } else {
                let max = self.max_layer_for(&self.forwards[i].caps);
                self.best_live_layer(max, now, timeout)
                    .or(self.forwards[i].target)
            };
            let f = &mut self.forwards[i];
            f.target = target;
            if let Some(layer) = target
                && f.current != Some(layer)
                && !f.caps.paused
                && !self.info.muted
            {
                wanted.push(layer);
            }
        }
    }

    /// How many encodings, from the lowest, the forwards of this track need; a paused forward
    /// counts, as it is paused only until its receiver is ready.
    pub(super) fn layers_needed_by_forwards(&self) -> usize {
        self.forwards
            .iter()
            .map(|f| self.max_layer_for(&f.caps) + 1)
            .max()
            .unwrap_or(0)
    }
}

/// A layer named by a forward must exist on a simulcast track.
fn check_layer(t: &PublishedTrack, layer: Option<&str>) -> Result<(), CoreError> {
    match layer {
        Some(rid) if !t.info.layers.is_empty() && !t.info.layers.iter().any(|l| l.rid == rid) => {
            Err(CoreError::UnknownLayer(rid.to_owned()))
        }
        _ => Ok(()),
    }
}
