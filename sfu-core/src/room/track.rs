//! A published track: its description, the live state of each layer, and its down tracks.

use std::time::{Duration, Instant};

use crate::clock_sync::LayerClock;
use crate::ids::ForwardId;
use crate::rate::BitrateMeter;
use crate::room::down_track::DownTrack;
use crate::room::dynacast::DynacastState;
use crate::room::keyframe::KeyframeThrottle;
use crate::room::types::{SubscriptionCaps, TrackInfo};

/// Window of [`LayerState::steady_rate`]: long enough to spread one keyframe's burst.
const STEADY_WINDOW: Duration = Duration::from_secs(4);

/// Ingress state of one encoding (simulcast layer) of a published track.
#[derive(Debug)]
pub struct LayerState {
    /// Arrival of the newest packet.
    pub last_packet: Option<Instant>,
    /// Arrival of the newest keyframe start.
    pub last_keyframe: Option<Instant>,
    /// Keyframe requests toward this encoding.
    pub throttle: KeyframeThrottle,
    /// Packets received.
    pub packets: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Receive bitrate over the last second.
    pub rate: BitrateMeter,
    /// Receive bitrate over [`STEADY_WINDOW`], which a keyframe burst barely moves.
    pub steady_rate: BitrateMeter,
    /// The publisher's latest sender report for this encoding (maps its RTP clock to NTP).
    pub clock: LayerClock,
}

impl Default for LayerState {
    fn default() -> Self {
        Self {
            last_packet: None,
            last_keyframe: None,
            throttle: KeyframeThrottle::default(),
            packets: 0,
            bytes: 0,
            rate: BitrateMeter::default(),
            steady_rate: BitrateMeter::new(STEADY_WINDOW),
            clock: LayerClock::default(),
        }
    }
}

impl LayerState {
    /// Records a received packet's payload size in both meters.
    pub fn record_rate(&mut self, bytes: usize, now: Instant) {
        self.rate.record(bytes, now);
        self.steady_rate.record(bytes, now);
    }

    /// What forwarding this layer costs, bits/s; 0 before any packet.
    ///
    /// The lower of the last second's and the last four seconds' rates: a keyframe (which
    /// every upgrade asks for) can double a layer's one-second rate, and pricing the layer by
    /// that burst would undo the upgrade it paid for; a lasting drop still shows within a
    /// second, and a lasting rise within the longer window.
    pub fn cost_bps(&self, now: Instant) -> u64 {
        self.rate
            .bitrate_bps(now)
            .min(self.steady_rate.bitrate_bps(now))
    }
}

/// A track published in the room, with the subscribers it fans out to.
#[derive(Debug)]
pub(crate) struct PublishedTrack {
    pub info: TrackInfo,
    /// One entry per encoding: `info.layers.len()`, or 1 for a single-encoding track.
    pub layers: Vec<LayerState>,
    /// One per subscriber; a `Vec` because the packet path iterates it for every packet.
    pub down_tracks: Vec<DownTrack>,
    /// Forwards (the recording tap), rewritten like down tracks but sent as plain RTP.
    pub forwards: Vec<DownTrack<ForwardId>>,
    /// When the track was published.
    pub published_at: Instant,
    /// What its publisher was last told about unused encodings.
    pub dynacast: DynacastState,
}

impl PublishedTrack {
    pub fn new(info: TrackInfo, now: Instant) -> Self {
        let n = info.layers.len().max(1);
        PublishedTrack {
            info,
            layers: (0..n).map(|_| LayerState::default()).collect(),
            down_tracks: Vec::new(),
            forwards: Vec::new(),
            published_at: now,
            dynacast: DynacastState::default(),
        }
    }

    /// Maps a packet's RID to a layer index. A track without declared layers has one layer, 0.
    pub fn layer_index(&self, rid: Option<&str>) -> Option<usize> {
        if self.info.layers.is_empty() {
            return Some(0);
        }
        match rid {
            Some(rid) => self.info.layers.iter().position(|l| l.rid == rid),
            // RID-less packets on a simulcast m-line: treat as the lowest layer rather than drop.
            None => Some(0),
        }
    }

    /// The RID of a layer, for keyframe requests and subscription events.
    pub fn rid(&self, layer: usize) -> Option<String> {
        self.info.layers.get(layer).map(|l| l.rid.clone())
    }

    /// Whether a layer is sending. A layer not seen yet counts as live for a moment after
    /// publishing: browsers start all layers together but their first packets arrive one layer
    /// after the other, and switching up through each of them would cost a keyframe each.
    pub fn is_live(&self, layer: usize, now: Instant, timeout: Duration) -> bool {
        let Some(state) = self.layers.get(layer) else {
            return false;
        };
        let since = state.last_packet.unwrap_or(self.published_at);
        now.saturating_duration_since(since) < timeout
    }

    pub fn is_video(&self) -> bool {
        self.info.codec.is_video()
    }

    /// The RTP clock rate of the track's codec.
    pub fn clock_rate(&self) -> u32 {
        if self.is_video() { 90_000 } else { 48_000 }
    }

    /// The highest layer index a subscriber's caps allow.
    pub fn max_layer_for(&self, caps: &SubscriptionCaps) -> usize {
        let top = self.layers.len() - 1;
        if let Some(rid) = &caps.layer {
            return self
                .info
                .layers
                .iter()
                .position(|l| &l.rid == rid)
                .unwrap_or(top);
        }
        if caps.max_width.is_none() && caps.max_height.is_none() {
            return top;
        }
        let want_w = caps.max_width.unwrap_or(0);
        let want_h = caps.max_height.unwrap_or(0);
        // The smallest layer that covers the wanted size; layers without a known size are
        // assumed to halve per step below a 1280x720 top layer (the browsers' default scaling).
        for i in 0..=top {
            let scale = 1u32 << (top - i);
            let (w, h) = match self.info.layers.get(i) {
                Some(l) if l.width.is_some() && l.height.is_some() => {
                    (l.width.unwrap_or(0), l.height.unwrap_or(0))
                }
                _ => (1280 / scale, 720 / scale),
            };
            if w >= want_w && h >= want_h {
                return i;
            }
        }
        top
    }

    /// The layer to aim for under a cap: the best live one, else the lowest live one.
    pub fn best_live_layer(&self, max: usize, now: Instant, timeout: Duration) -> Option<usize> {
        (0..=max.min(self.layers.len() - 1))
            .rev()
            .find(|&l| self.is_live(l, now, timeout))
            .or_else(|| (0..self.layers.len()).find(|&l| self.is_live(l, now, timeout)))
    }
}

#[cfg(test)]
mod cost_tests {
    use super::*;

    /// `frames` frames at 30/s of `frame_bytes` from `from`, split into 1000-byte packets.
    fn feed(layer: &mut LayerState, from: Instant, frames: u64, frame_bytes: usize) -> Instant {
        let mut now = from;
        for _ in 0..frames {
            for _ in 0..frame_bytes.div_ceil(1000) {
                layer.record_rate(1000, now);
            }
            now += Duration::from_micros(33_333);
        }
        now
    }

    #[test]
    fn a_keyframe_burst_is_priced_over_four_seconds_not_one() {
        let mut layer = LayerState::default();
        let start = Instant::now();
        // About 720 kbit/s: 3000 bytes a frame.
        let now = feed(&mut layer, start, 180, 3000);
        let steady = layer.cost_bps(now);
        assert!((600_000..=800_000).contains(&steady), "{steady}");
        // A 90 kB keyframe, then normal frames for half a second.
        for _ in 0..90 {
            layer.record_rate(1000, now);
        }
        let now = feed(&mut layer, now, 15, 3000);
        let one_second = layer.rate.bitrate_bps(now);
        let cost = layer.cost_bps(now);
        // 720 kbit of keyframe: over one second it adds 720 kbit/s, over the 3.6-4 s that the
        // long window spans (a partial bucket and nine full ones) 180-200 kbit/s.
        assert!(
            one_second > steady + 600_000,
            "the burst shows in the 1 s rate: {one_second}"
        );
        assert!(cost < steady + 250_000, "cost {cost} vs steady {steady}");
    }

    #[test]
    fn a_lasting_drop_lowers_the_cost_within_a_second() {
        let mut layer = LayerState::default();
        let start = Instant::now();
        let now = feed(&mut layer, start, 180, 3000);
        let now = feed(&mut layer, now, 45, 1000);
        let cost = layer.cost_bps(now);
        assert!(cost < 300_000, "{cost}");
    }
}
