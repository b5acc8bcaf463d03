//! A room: its participants, their published tracks, and the fan-out between them.

mod bandwidth;
#[cfg(test)]
mod bandwidth_sim;
mod down_track;
mod dynacast;
mod forward;
mod keyframe;
mod output;
mod track;
mod types;

#[cfg(test)]
mod forward_tests;
#[cfg(test)]
mod simulcast_sim;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{self, Codec};
use crate::error::CoreError;
use crate::ids::{ParticipantId, TrackId};
use crate::rtp::MediaPacket;
use crate::speakers::{ActiveSpeakers, SpeakerConfig};

use crate::allocation::GovernorConfig;
use crate::clock_sync::SenderReport;
use crate::codec::vp8::Vp8Descriptor;
use crate::codec::vp8_size;
use bandwidth::SubscriberBandwidth;
pub use bandwidth::{BandwidthStats, DownTrackStats};
use down_track::{DownTrack, Forwarded, Ingress};
pub use forward::ForwardStats;
pub use keyframe::KeyframeThrottle;
pub use output::{DropReason, KeyframeKind, Output, RoomEvent};
use track::PublishedTrack;
pub use types::{
    BandwidthSource, LayerInfo, MediaKind, ParticipantInfo, Permissions, SubscriptionCaps,
    TrackInfo, TrackSource,
};

/// A subscriber's keyframe request this soon after it was sent a keyframe is taken to have
/// crossed that keyframe on the wire.
const KEYFRAME_IN_FLIGHT: Duration = Duration::from_millis(300);

/// Tunables of the routing logic.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Minimum interval between keyframe requests toward one published stream.
    pub keyframe_request_interval: Duration,
    /// A layer without packets for this long is considered stopped.
    pub layer_timeout: Duration,
    /// How often [`Room::handle_timeout`] re-evaluates layers.
    pub tick_interval: Duration,
    /// Active speaker detection.
    pub speakers: SpeakerConfig,
    /// Hysteresis of per-subscriber layer allocation.
    pub governor: GovernorConfig,
    /// How long encodings must go unneeded before their publisher is told to pause them;
    /// `None` disables dynacast.
    pub dynacast_delay: Option<Duration>,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            keyframe_request_interval: Duration::from_secs(1),
            layer_timeout: Duration::from_millis(500),
            tick_interval: Duration::from_millis(100),
            speakers: SpeakerConfig::default(),
            governor: GovernorConfig::default(),
            dynacast_delay: Some(Duration::from_secs(3)),
        }
    }
}

#[derive(Debug)]
struct Participant {
    info: ParticipantInfo,
    published: Vec<TrackId>,
    /// Tracks this participant explicitly unsubscribed from (default is auto-subscribe).
    unsubscribed: HashSet<TrackId>,
    /// Its downlink estimate and allocation, once the driver reported one.
    bandwidth: Option<SubscriberBandwidth>,
}

/// One room's routing state. See the crate docs for the calling convention.
#[derive(Debug)]
pub struct Room {
    config: RoomConfig,
    participants: BTreeMap<ParticipantId, Participant>,
    tracks: BTreeMap<TrackId, PublishedTrack>,
    outputs: VecDeque<Output>,
    drops: [u64; DropReason::ALL.len()],
    forwarded: u64,
    next_tick: Option<Instant>,
    speakers: ActiveSpeakers,
}

impl Room {
    /// An empty room.
    pub fn new(config: RoomConfig) -> Self {
        Room {
            speakers: ActiveSpeakers::new(config.speakers.clone()),
            config,
            participants: BTreeMap::new(),
            tracks: BTreeMap::new(),
            outputs: VecDeque::new(),
            drops: [0; DropReason::ALL.len()],
            forwarded: 0,
            next_tick: None,
        }
    }

    /// Adds a participant and subscribes it to every track already published.
    pub fn handle_join(&mut self, info: ParticipantInfo, now: Instant) -> Result<(), CoreError> {
        let id = info.id;
        if self.participants.contains_key(&id) {
            return Err(CoreError::DuplicateParticipant(id));
        }
        for other in self.participants.keys() {
            self.outputs.push_back(Output::Event {
                to: *other,
                event: RoomEvent::ParticipantJoined(info.clone()),
            });
        }
        let can_subscribe = info.permissions.can_subscribe;
        self.participants.insert(
            id,
            Participant {
                info,
                published: Vec::new(),
                unsubscribed: HashSet::new(),
                bandwidth: None,
            },
        );
        if can_subscribe {
            let track_ids: Vec<TrackId> = self.tracks.keys().copied().collect();
            for track in track_ids {
                self.add_down_track(track, id, now);
            }
        }
        self.schedule_tick(now);
        Ok(())
    }

    /// Removes a participant: its tracks are unpublished everywhere and its subscriptions end.
    pub fn handle_leave(&mut self, id: ParticipantId, now: Instant) -> Result<(), CoreError> {
        let participant = self
            .participants
            .remove(&id)
            .ok_or(CoreError::UnknownParticipant(id))?;
        for track in participant.published {
            self.remove_track(track, now);
        }
        for track in self.tracks.values_mut() {
            track.down_tracks.retain(|d| d.subscriber != id);
        }
        self.speakers.remove(id);
        self.report_speakers();
        for other in self.participants.keys() {
            self.outputs.push_back(Output::Event {
                to: *other,
                event: RoomEvent::ParticipantLeft(id),
            });
        }
        Ok(())
    }

    /// Publishes a track and subscribes every other participant that may subscribe.
    pub fn handle_publish(&mut self, info: TrackInfo, now: Instant) -> Result<(), CoreError> {
        let owner = self
            .participants
            .get_mut(&info.owner)
            .ok_or(CoreError::UnknownParticipant(info.owner))?;
        if !owner.info.permissions.can_publish {
            return Err(CoreError::PermissionDenied("can_publish"));
        }
        if self.tracks.contains_key(&info.id) {
            return Err(CoreError::Invalid("track already published"));
        }
        owner.published.push(info.id);
        let id = info.id;
        let owner_id = info.owner;
        for p in self.participants.keys() {
            self.outputs.push_back(Output::Event {
                to: *p,
                event: RoomEvent::TrackPublished(info.clone()),
            });
        }
        self.tracks.insert(id, PublishedTrack::new(info, now));
        let subscribers: Vec<ParticipantId> = self
            .participants
            .values()
            .filter(|p| p.info.id != owner_id && p.info.permissions.can_subscribe)
            .map(|p| p.info.id)
            .collect();
        for s in subscribers {
            self.add_down_track(id, s, now);
        }
        self.schedule_tick(now);
        Ok(())
    }

    /// Unpublishes a track: subscribers lose its m-line and everyone is told.
    pub fn handle_unpublish(&mut self, track: TrackId, now: Instant) -> Result<(), CoreError> {
        let owner = self
            .tracks
            .get(&track)
            .ok_or(CoreError::UnknownTrack(track))?
            .info
            .owner;
        if let Some(p) = self.participants.get_mut(&owner) {
            p.published.retain(|t| *t != track);
        }
        self.remove_track(track, now);
        Ok(())
    }

    /// Updates a published track's declared source and name (`track_info` after publishing).
    pub fn handle_track_metadata(
        &mut self,
        track: TrackId,
        source: TrackSource,
        name: Option<String>,
    ) -> Result<(), CoreError> {
        let t = self
            .tracks
            .get_mut(&track)
            .ok_or(CoreError::UnknownTrack(track))?;
        t.info.source = source;
        if name.is_some() {
            t.info.name = name;
        }
        Ok(())
    }

    /// Turns a subscription on or off (the default is subscribed to everything).
    pub fn handle_subscribe(
        &mut self,
        subscriber: ParticipantId,
        track: TrackId,
        subscribe: bool,
        now: Instant,
    ) -> Result<(), CoreError> {
        let p = self
            .participants
            .get_mut(&subscriber)
            .ok_or(CoreError::UnknownParticipant(subscriber))?;
        let t = self
            .tracks
            .get(&track)
            .ok_or(CoreError::UnknownTrack(track))?;
        if t.info.owner == subscriber {
            return Err(CoreError::Invalid("cannot subscribe to one's own track"));
        }
        if !p.info.permissions.can_subscribe {
            return Err(CoreError::PermissionDenied("can_subscribe"));
        }
        let has = t.down_tracks.iter().any(|d| d.subscriber == subscriber);
        if subscribe {
            p.unsubscribed.remove(&track);
            if !has {
                self.add_down_track(track, subscriber, now);
            }
        } else {
            p.unsubscribed.insert(track);
            if has {
                if let Some(t) = self.tracks.get_mut(&track) {
                    t.down_tracks.retain(|d| d.subscriber != subscriber);
                }
                self.outputs.push_back(Output::RemoveDownTrack {
                    to: subscriber,
                    track,
                });
            }
        }
        Ok(())
    }

    /// The subscriber's m-line for `track` is negotiated: forwarding may start.
    ///
    /// `payload_types` maps each publisher payload type to the one the subscriber's leg
    /// negotiated for the same codec. A keyframe is requested so the subscriber starts promptly.
    pub fn handle_down_track_negotiated(
        &mut self,
        subscriber: ParticipantId,
        track: TrackId,
        payload_types: Vec<(u8, u8)>,
        now: Instant,
    ) -> Result<(), CoreError> {
        let t = self
            .tracks
            .get_mut(&track)
            .ok_or(CoreError::UnknownTrack(track))?;
        let d = t
            .down_tracks
            .iter_mut()
            .find(|d| d.subscriber == subscriber)
            .ok_or(CoreError::UnknownParticipant(subscriber))?;
        d.negotiated = true;
        d.payload_types = payload_types;
        d.reset_layer();
        self.update_targets(track, now);
        Ok(())
    }

    /// Applies a subscriber's cap for a track (`set_subscription`).
    pub fn handle_set_subscription(
        &mut self,
        subscriber: ParticipantId,
        track: TrackId,
        caps: SubscriptionCaps,
        now: Instant,
    ) -> Result<(), CoreError> {
        let t = self
            .tracks
            .get_mut(&track)
            .ok_or(CoreError::UnknownTrack(track))?;
        if let Some(rid) = &caps.layer
            && !t.info.layers.is_empty()
            && !t.info.layers.iter().any(|l| &l.rid == rid)
        {
            return Err(CoreError::UnknownLayer(rid.clone()));
        }
        let d = t
            .down_tracks
            .iter_mut()
            .find(|d| d.subscriber == subscriber)
            .ok_or(CoreError::Invalid("not subscribed to this track"))?;
        if caps.paused && !d.caps.paused {
            d.reset_layer();
        }
        d.set_caps(caps);
        self.update_targets(track, now);
        self.report_subscriptions(track);
        Ok(())
    }

    /// Mutes or unmutes a track; muted tracks are not forwarded.
    pub fn handle_mute(
        &mut self,
        track: TrackId,
        muted: bool,
        now: Instant,
    ) -> Result<(), CoreError> {
        let t = self
            .tracks
            .get_mut(&track)
            .ok_or(CoreError::UnknownTrack(track))?;
        if t.info.muted == muted {
            return Ok(());
        }
        t.info.muted = muted;
        for d in &mut t.down_tracks {
            d.reset_layer();
        }
        for f in &mut t.forwards {
            f.reset_layer();
        }
        if muted && !t.is_video() {
            let owner = t.info.owner;
            self.speakers.remove(owner);
            self.report_speakers();
        }
        for p in self.participants.keys() {
            self.outputs.push_back(Output::Event {
                to: *p,
                event: RoomEvent::TrackMuted { track, muted },
            });
        }
        if !muted {
            self.update_targets(track, now);
        }
        Ok(())
    }

    /// Routes one RTP packet of a published track to every subscriber. The packet path.
    pub fn handle_rtp(
        &mut self,
        track: TrackId,
        rid: Option<&str>,
        packet: MediaPacket,
        now: Instant,
    ) {
        let Some(t) = self.tracks.get_mut(&track) else {
            self.drops[DropReason::UnknownSource as usize] += 1;
            return;
        };
        let Some(layer) = t.layer_index(rid) else {
            self.drops[DropReason::UnknownSource as usize] += 1;
            return;
        };
        let is_video = t.is_video();
        let is_keyframe = is_video && codec::is_keyframe_start(t.info.codec, &packet.payload);
        // Parsed once here, used by every down track.
        let vp8 = (t.info.codec == Codec::Vp8)
            .then(|| Vp8Descriptor::parse(&packet.payload))
            .flatten();
        let was_live = t.is_live(layer, now, self.config.layer_timeout);
        let state = &mut t.layers[layer];
        state.last_packet = Some(now);
        state.packets += 1;
        state.bytes += packet.payload.len() as u64;
        state.record_rate(packet.payload.len(), now);
        if is_keyframe {
            state.last_keyframe = Some(now);
            state.throttle.clear_pending();
            if let Some((w, h)) = vp8_size::keyframe_size(&packet.payload)
                && let Some(info) = t.info.layers.get_mut(layer)
            {
                info.width = Some(u32::from(w));
                info.height = Some(u32::from(h));
            }
        }
        if !was_live && t.layers.len() > 1 {
            // A layer (re)appeared: subscribers may want to move to it. When it reappears with
            // a keyframe, that keyframe does the switch below: asking for another would only
            // make the publisher send a second, useless one.
            self.update_targets_with(track, now, is_keyframe.then_some(layer));
        }

        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        if !is_video
            && !t.info.muted
            && let Some(level) = packet.audio_level
        {
            // The stack keeps RFC 6464 levels as negative dBov.
            self.speakers.handle_level(
                t.info.owner,
                level.unsigned_abs(),
                packet.voice_activity,
                now,
            );
        }
        if t.info.muted {
            self.drops[DropReason::Muted as usize] += t.down_tracks.len() as u64;
            return;
        }
        let ingress = Ingress {
            packet: &packet,
            layer,
            is_keyframe,
            needs_keyframe: is_video,
            vp8: vp8.as_ref(),
            clock_rate: t.clock_rate(),
        };
        let PublishedTrack {
            layers,
            down_tracks,
            forwards,
            ..
        } = t;
        let mut switched_any = false;
        for d in down_tracks.iter_mut() {
            match d.forward(&ingress, layers) {
                Forwarded::Send {
                    packet,
                    vp8,
                    switched,
                } => {
                    switched_any |= switched;
                    self.forwarded += 1;
                    self.outputs.push_back(Output::SendRtp {
                        to: d.subscriber,
                        track,
                        packet,
                        vp8,
                    });
                }
                Forwarded::Drop(reason) => self.drops[reason as usize] += 1,
            }
        }
        for f in forwards.iter_mut() {
            match f.forward(&ingress, layers) {
                Forwarded::Send { packet, vp8, .. } => {
                    self.outputs.push_back(Output::SendForward {
                        forward: f.subscriber,
                        track,
                        packet,
                        vp8,
                    });
                }
                Forwarded::Drop(reason) => self.drops[reason as usize] += 1,
            }
        }
        if switched_any {
            self.report_subscriptions(track);
        }
    }

    /// A publisher's RTCP sender report for one encoding: lets layer switches map timestamps
    /// exactly instead of by arrival time.
    pub fn handle_sender_report(
        &mut self,
        track: TrackId,
        rid: Option<&str>,
        report: SenderReport,
    ) {
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        let Some(layer) = t.layer_index(rid) else {
            return;
        };
        t.layers[layer].clock.handle_sender_report(report);
    }

    /// A subscriber asked for a keyframe of a track it receives.
    pub fn handle_keyframe_request(
        &mut self,
        subscriber: ParticipantId,
        track: TrackId,
        kind: KeyframeKind,
        now: Instant,
    ) -> Result<(), CoreError> {
        let t = self
            .tracks
            .get(&track)
            .ok_or(CoreError::UnknownTrack(track))?;
        let d = t
            .down_tracks
            .iter()
            .find(|d| d.subscriber == subscriber)
            .ok_or(CoreError::Invalid("not subscribed to this track"))?;
        // A PLI that crossed the keyframe it asked for (sent within about a round trip) would
        // only make the publisher send a second one.
        if d.current == d.target
            && d.last_keyframe_sent
                .is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_IN_FLIGHT)
        {
            return Ok(());
        }
        // Ask for the layer being sent; while switching, the one being switched to.
        if let Some(layer) = d.target.or(d.current) {
            self.request_keyframe(track, layer, kind, now);
        }
        Ok(())
    }

    /// Relays a data channel message to every other participant that may receive it.
    pub fn handle_data(&mut self, from: ParticipantId, payload: &str) -> Result<(), CoreError> {
        let p = self
            .participants
            .get(&from)
            .ok_or(CoreError::UnknownParticipant(from))?;
        if !p.info.permissions.can_publish_data {
            return Err(CoreError::PermissionDenied("can_publish_data"));
        }
        let to: Vec<ParticipantId> = self
            .participants
            .values()
            .filter(|p| p.info.id != from && p.info.permissions.can_subscribe)
            .map(|p| p.info.id)
            .collect();
        if !to.is_empty() {
            self.outputs.push_back(Output::SendData {
                to,
                from,
                payload: Arc::from(payload),
            });
        }
        Ok(())
    }

    /// Re-evaluates layers and sends due keyframe requests. Call at [`Room::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.speakers.poll_timeout().is_some_and(|t| t <= now) {
            self.speakers.handle_timeout(now);
            self.report_speakers();
        }
        if self.next_tick.is_some_and(|t| now < t) {
            return;
        }
        self.next_tick = None;
        self.allocate_bandwidth(now);
        self.update_dynacast(now);
        let ids: Vec<TrackId> = self.tracks.keys().copied().collect();
        let interval = self.config.keyframe_request_interval;
        for id in ids {
            self.update_targets(id, now);
            self.report_subscriptions(id);
            let Some(t) = self.tracks.get_mut(&id) else {
                continue;
            };
            for layer in 0..t.layers.len() {
                if let Some(kind) = t.layers[layer].throttle.poll(now, interval) {
                    let rid = t.rid(layer);
                    self.outputs.push_back(Output::RequestKeyframe {
                        publisher: t.info.owner,
                        track: id,
                        rid,
                        kind,
                    });
                }
            }
        }
        self.schedule_tick(now);
    }

    /// When [`Room::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_tick, self.speakers.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Published tracks in the room.
    pub fn track_count(&self) -> usize {
        self.tracks.len()
    }

    /// Layer switches made on the room's current down tracks.
    pub fn layer_switch_count(&self) -> u64 {
        self.tracks
            .values()
            .flat_map(|t| &t.down_tracks)
            .map(|d| d.switches)
            .sum()
    }

    /// Subscriptions (down tracks) in the room.
    pub fn down_track_count(&self) -> usize {
        self.tracks.values().map(|t| t.down_tracks.len()).sum()
    }

    /// The last reported active speakers, loudest first (for a participant who just joined).
    pub fn active_speakers(&self) -> &[(ParticipantId, f32)] {
        self.speakers.current()
    }

    /// The next instruction for the driver.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Whether no participant is in the room.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// Number of participants.
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// A participant's description.
    pub fn participant(&self, id: ParticipantId) -> Option<&ParticipantInfo> {
        self.participants.get(&id).map(|p| &p.info)
    }

    /// All participants, in id order.
    pub fn participants(&self) -> impl Iterator<Item = &ParticipantInfo> {
        self.participants.values().map(|p| &p.info)
    }

    /// The tracks a participant publishes.
    pub fn tracks_of(&self, id: ParticipantId) -> Vec<&TrackInfo> {
        self.participants
            .get(&id)
            .map(|p| {
                p.published
                    .iter()
                    .filter_map(|t| self.tracks.get(t))
                    .map(|t| &t.info)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A published track.
    pub fn track(&self, id: TrackId) -> Option<&TrackInfo> {
        self.tracks.get(&id).map(|t| &t.info)
    }

    /// Packets and payload bytes received per layer of a track (index order of its layers).
    pub fn layer_counters(&self, id: TrackId) -> Vec<(u64, u64)> {
        self.tracks
            .get(&id)
            .map(|t| t.layers.iter().map(|l| (l.packets, l.bytes)).collect())
            .unwrap_or_default()
    }

    /// Receive bitrate (bits/s over the last second) per layer of a track.
    pub fn layer_bitrates(&self, id: TrackId, now: Instant) -> Vec<u64> {
        self.tracks
            .get(&id)
            .map(|t| t.layers.iter().map(|l| l.rate.bitrate_bps(now)).collect())
            .unwrap_or_default()
    }

    /// Packets dropped per reason since the room was created.
    pub fn drop_counts(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|r| (*r, self.drops[*r as usize]))
    }

    /// Packets forwarded to subscribers since the room was created.
    pub fn forwarded_count(&self) -> u64 {
        self.forwarded
    }

    fn add_down_track(&mut self, track: TrackId, subscriber: ParticipantId, now: Instant) {
        let Some(p) = self.participants.get(&subscriber) else {
            return;
        };
        if p.unsubscribed.contains(&track) {
            return;
        }
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        if t.info.owner == subscriber || t.down_tracks.iter().any(|d| d.subscriber == subscriber) {
            return;
        }
        let seed = track.0 ^ subscriber.0.rotate_left(17);
        t.down_tracks.push(DownTrack::new(subscriber, seed));
        self.outputs.push_back(Output::AddDownTrack {
            to: subscriber,
            track,
            publisher: t.info.owner,
            kind: t.info.kind,
        });
        self.update_targets(track, now);
    }

    fn remove_track(&mut self, track: TrackId, _now: Instant) {
        let Some(t) = self.tracks.remove(&track) else {
            return;
        };
        for d in &t.down_tracks {
            self.outputs.push_back(Output::RemoveDownTrack {
                to: d.subscriber,
                track,
            });
        }
        for f in &t.forwards {
            self.outputs.push_back(Output::ForwardEnded {
                forward: f.subscriber,
                track,
            });
        }
        for p in self.participants.keys() {
            self.outputs.push_back(Output::Event {
                to: *p,
                event: RoomEvent::TrackUnpublished(track),
            });
        }
    }

    /// Recomputes each down track's target layer and asks for a keyframe where a negotiated
    /// down track needs one to start or switch.
    fn update_targets(&mut self, track: TrackId, now: Instant) {
        self.update_targets_with(track, now, None);
    }

    /// [`Room::update_targets`], except that `keyframe_arriving` (a layer whose keyframe is being
    /// handled right now) is not asked for one.
    fn update_targets_with(
        &mut self,
        track: TrackId,
        now: Instant,
        keyframe_arriving: Option<usize>,
    ) {
        let timeout = self.config.layer_timeout;
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        let single = t.layers.len() == 1;
        let mut wanted = Vec::new();
        for i in 0..t.down_tracks.len() {
            let caps_max = t.max_layer_for(&t.down_tracks[i].caps);
            let bandwidth = t.down_tracks[i].bandwidth_layer;
            let max = match bandwidth {
                Some(Some(l)) => caps_max.min(l),
                _ => caps_max,
            };
            // A single-layer track is always its own target; stopping is not switching.
            let target = if bandwidth == Some(None) {
                None
            } else if single {
                Some(0)
            } else {
                t.best_live_layer(max, now, timeout)
                    .or(t.down_tracks[i].target)
            };
            let d = &mut t.down_tracks[i];
            d.target = target;
            let ready = d.negotiated && !d.caps.paused && !d.bandwidth_paused() && !t.info.muted;
            // Anyone waiting to start or switch keeps asking (the throttle makes it at most
            // once per interval per layer), so a lost PLI or an unpause never stalls a video.
            if let Some(layer) = target
                && ready
                && d.current != Some(layer)
            {
                wanted.push(layer);
            }
        }
        t.forward_targets(now, timeout, &mut wanted);
        if !t.is_video() {
            return;
        }
        wanted.sort_unstable();
        wanted.dedup();
        wanted.retain(|l| Some(*l) != keyframe_arriving);
        for layer in wanted {
            self.request_keyframe(track, layer, KeyframeKind::Pli, now);
        }
    }

    fn request_keyframe(&mut self, track: TrackId, layer: usize, kind: KeyframeKind, now: Instant) {
        let interval = self.config.keyframe_request_interval;
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        if !t.is_video() {
            return;
        }
        let Some(state) = t.layers.get_mut(layer) else {
            return;
        };
        if let Some(kind) = state.throttle.request(kind, now, interval) {
            self.outputs.push_back(Output::RequestKeyframe {
                publisher: t.info.owner,
                track,
                rid: t.rid(layer),
                kind,
            });
        } else {
            self.schedule_tick(now);
        }
    }

    /// Tells subscribers of `track` whose sent layer or paused state changed.
    fn report_subscriptions(&mut self, track: TrackId) {
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        if !t.is_video() {
            return;
        }
        for d in &mut t.down_tracks {
            let reason = if d.caps.paused {
                Some("subscriber")
            } else if d.bandwidth_paused() {
                Some("bandwidth")
            } else {
                None
            };
            let paused = reason.is_some();
            let layer = if paused { None } else { d.current };
            let state = (layer, paused);
            if d.reported == Some(state) || (layer.is_none() && !paused) {
                continue;
            }
            d.reported = Some(state);
            self.outputs.push_back(Output::Event {
                to: d.subscriber,
                event: RoomEvent::Subscription {
                    track,
                    layer: layer.and_then(|l| t.info.layers.get(l).map(|x| x.rid.clone())),
                    paused,
                    reason,
                },
            });
        }
    }

    /// Tells everyone when the speaker list changed.
    fn report_speakers(&mut self) {
        let Some(list) = self.speakers.poll_update() else {
            return;
        };
        for p in self.participants.keys() {
            self.outputs.push_back(Output::Event {
                to: *p,
                event: RoomEvent::ActiveSpeakers(list.clone()),
            });
        }
    }

    fn schedule_tick(&mut self, now: Instant) {
        if self.tracks.is_empty() {
            return;
        }
        let next = now + self.config.tick_interval;
        self.next_tick = Some(self.next_tick.map_or(next, |t| t.min(next)));
    }
}
