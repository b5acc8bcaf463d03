//! The allocation itself: a pure function from one subscriber's bandwidth estimate and the tracks
//! it receives to the layer each track should get.
//!
//! Two phases, as in mediasoup: first every video track in priority order gets its lowest layer
//! while the budget allows (a track whose lowest layer does not fit is paused rather than sent
//! broken), then rounds raise each track by one layer at a time, in priority order, while the
//! budget allows, so one track never takes everything while another stays at its lowest layer.
//! Audio comes first and is never cut.

use crate::ids::TrackId;

/// How much a video track matters relative to others (higher first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VideoPriority {
    /// An ordinary camera.
    Camera = 0,
    /// The camera of a current active speaker.
    Speaker = 1,
    /// A screen share: text must stay readable.
    Screen = 2,
}

/// What one subscribed track could use.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackDemand {
    /// The track.
    pub track: TrackId,
    /// Audio is allocated first and never cut; its `layer_bitrates` holds one entry.
    pub audio: bool,
    /// Ordering among video tracks.
    pub priority: VideoPriority,
    /// Bitrate (bits/s) of each layer, lowest first; `None` for a layer that cannot be sent now
    /// (stopped at the publisher and not expected back).
    pub layer_bitrates: Vec<Option<u64>>,
    /// Highest layer the subscriber's caps allow; `None` when the subscriber paused the track
    /// itself (it gets nothing and costs nothing).
    pub max_layer: Option<usize>,
}

/// The outcome for one track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackAllocation {
    /// The track.
    pub track: TrackId,
    /// The layer to send, `None` when paused (by bandwidth, or by the subscriber).
    pub layer: Option<usize>,
    /// What that layer costs (bits/s).
    pub bitrate: u64,
    /// Whether the layer is below what the caps allow because of the budget.
    pub limited: bool,
}

/// The outcome for all of one subscriber's tracks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allocation {
    /// One entry per demand, in the demands' order.
    pub tracks: Vec<TrackAllocation>,
    /// Sum of the allocated bitrates.
    pub allocated: u64,
    /// What it would take to send every track at the best layer its caps allow.
    pub wanted: u64,
}

impl Allocation {
    /// The allocation of `track`, if it was among the demands.
    pub fn get(&self, track: TrackId) -> Option<&TrackAllocation> {
        self.tracks.iter().find(|t| t.track == track)
    }
}

/// Shares `budget` (bits/s) among `demands`.
pub fn allocate(budget: u64, demands: &[TrackDemand]) -> Allocation {
    let mut out: Vec<TrackAllocation> = demands
        .iter()
        .map(|d| TrackAllocation {
            track: d.track,
            layer: None,
            bitrate: 0,
            limited: false,
        })
        .collect();
    let mut left = budget;
    let mut wanted = 0u64;

    // Audio first, whatever the budget: a call without voice is worse than any video.
    for (i, d) in demands.iter().enumerate() {
        if d.audio && d.max_layer.is_some() {
            let rate = d.layer_bitrates.first().copied().flatten().unwrap_or(0);
            out[i].layer = Some(0);
            out[i].bitrate = rate;
            left = left.saturating_sub(rate);
            wanted += rate;
        }
    }

    // Video in priority order; equal priorities by track id so the outcome is deterministic.
    let mut order: Vec<usize> = (0..demands.len())
        .filter(|&i| !demands[i].audio && demands[i].max_layer.is_some())
        .collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(demands[i].priority), demands[i].track));
    for &i in &order {
        wanted += best_layer(&demands[i]).map_or(0, |(_, rate)| rate);
    }

    // Phase 1: the lowest layer of each, while it fits.
    for &i in &order {
        if let Some((layer, rate)) = next_layer(&demands[i], None)
            && rate <= left
        {
            out[i].layer = Some(layer);
            out[i].bitrate = rate;
            left -= rate;
        }
    }

    // Phase 2: one layer up per track per round while the budget allows.
    loop {
        let mut raised = false;
        for &i in &order {
            let Some(current) = out[i].layer else {
                continue;
            };
            if let Some((layer, rate)) = next_layer(&demands[i], Some(current)) {
                let extra = rate.saturating_sub(out[i].bitrate);
                if extra <= left {
                    left -= extra;
                    out[i].layer = Some(layer);
                    out[i].bitrate = rate;
                    raised = true;
                }
            }
        }
        if !raised {
            break;
        }
    }

    for &i in &order {
        out[i].limited = out[i].layer != best_layer(&demands[i]).map(|(l, _)| l);
    }
    let allocated = out.iter().map(|t| t.bitrate).sum();
    Allocation {
        tracks: out,
        allocated,
        wanted,
    }
}

/// The next sendable layer above `current` (or the lowest one) within the caps.
fn next_layer(d: &TrackDemand, current: Option<usize>) -> Option<(usize, u64)> {
    let max = d.max_layer?;
    let from = current.map_or(0, |c| c + 1);
    (from..=max.min(d.layer_bitrates.len().saturating_sub(1)))
        .find_map(|l| d.layer_bitrates[l].map(|rate| (l, rate)))
}

/// The best sendable layer within the caps.
fn best_layer(d: &TrackDemand) -> Option<(usize, u64)> {
    let max = d.max_layer?;
    (0..=max.min(d.layer_bitrates.len().saturating_sub(1)))
        .rev()
        .find_map(|l| d.layer_bitrates[l].map(|rate| (l, rate)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: u64 = 150_000;
    const H: u64 = 500_000;
    const F: u64 = 1_500_000;

    fn video(id: u64, priority: VideoPriority) -> TrackDemand {
        TrackDemand {
            track: TrackId(id),
            audio: false,
            priority,
            layer_bitrates: vec![Some(Q), Some(H), Some(F)],
            max_layer: Some(2),
        }
    }

    fn audio(id: u64) -> TrackDemand {
        TrackDemand {
            track: TrackId(id),
            audio: true,
            priority: VideoPriority::Camera,
            layer_bitrates: vec![Some(40_000)],
            max_layer: Some(0),
        }
    }

    fn layers(a: &Allocation) -> Vec<Option<usize>> {
        a.tracks.iter().map(|t| t.layer).collect()
    }

    #[test]
    fn plenty_of_budget_gives_everyone_the_top_layer() {
        let d = [
            audio(1),
            video(2, VideoPriority::Camera),
            video(3, VideoPriority::Camera),
        ];
        let a = allocate(10_000_000, &d);
        assert_eq!(layers(&a), [Some(0), Some(2), Some(2)]);
        assert_eq!(a.allocated, 40_000 + 2 * F);
        assert_eq!(a.wanted, a.allocated);
        assert!(a.tracks.iter().all(|t| !t.limited));
    }

    #[test]
    fn audio_is_never_cut_even_with_no_budget() {
        let d = [audio(1), video(2, VideoPriority::Camera)];
        let a = allocate(0, &d);
        assert_eq!(layers(&a), [Some(0), None]);
        assert!(a.tracks[1].limited);
        assert_eq!(a.wanted, 40_000 + F);
    }

    #[test]
    fn raises_round_robin_instead_of_one_track_taking_all() {
        // 3 x q (450k) + 2 x (h - q) (700k) = 1.15 M fits; a third h does not.
        let d = [
            video(1, VideoPriority::Camera),
            video(2, VideoPriority::Camera),
            video(3, VideoPriority::Camera),
        ];
        let a = allocate(1_200_000, &d);
        assert_eq!(layers(&a), [Some(1), Some(1), Some(0)]);
    }

    #[test]
    fn screen_then_speaker_then_cameras() {
        let d = [
            video(1, VideoPriority::Camera),
            video(2, VideoPriority::Speaker),
            video(3, VideoPriority::Screen),
        ];
        // Only two lowest layers fit: the plain camera is paused.
        let a = allocate(2 * Q + 10_000, &d);
        assert_eq!(layers(&a), [None, Some(0), Some(0)]);
        // Enough for the screen to go to its top layer after everyone has q and h.
        let a = allocate(3 * Q + 3 * (H - Q) + (F - H), &d);
        assert_eq!(layers(&a), [Some(1), Some(1), Some(2)]);
    }

    #[test]
    fn respects_caps_and_skips_unavailable_layers() {
        let mut capped = video(1, VideoPriority::Camera);
        capped.max_layer = Some(0);
        let mut gap = video(2, VideoPriority::Camera);
        gap.layer_bitrates[1] = None;
        let mut paused = video(3, VideoPriority::Camera);
        paused.max_layer = None;
        let a = allocate(10_000_000, &[capped, gap, paused]);
        assert_eq!(layers(&a), [Some(0), Some(2), None]);
        assert!(!a.tracks[0].limited && !a.tracks[2].limited);
        assert_eq!(a.wanted, Q + F);
    }

    #[test]
    fn a_small_track_still_fits_after_a_big_one_does_not() {
        let mut big = video(1, VideoPriority::Screen);
        big.layer_bitrates = vec![Some(800_000)];
        big.max_layer = Some(0);
        let d = [big, video(2, VideoPriority::Camera)];
        let a = allocate(500_000, &d);
        assert_eq!(layers(&a), [None, Some(1)]);
    }
}
