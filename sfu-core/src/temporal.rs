//! VP8 temporal-layer filtering: sending a subscriber fewer temporal layers (a lower frame rate)
//! as a finer step than a simulcast layer switch.
//!
//! With temporal scalability, each picture's descriptor carries its layer (TID): a picture only
//! references pictures of its own or lower layers, so dropping every picture above some TID
//! leaves a decodable stream. Going down is therefore safe at any picture. Going up is not: the
//! next picture of a newly added layer may reference an earlier picture of that layer that was
//! dropped. It is safe only at a layer sync picture (Y = 1: it references TL0 pictures only) or
//! at a keyframe (which resets every reference). A TID 0 picture alone is no such point for the
//! upper layers: libwebrtc's patterns let a TL1 picture reference the previous TL1 picture across
//! the TL0 picture in between.

use crate::codec::vp8::Vp8Descriptor;

/// Whether a packet belongs to a temporal layer at or below `max_tid`; a packet without a TID (a
/// stream without temporal layers) always does.
pub fn keep_temporal(desc: &Vp8Descriptor, max_tid: u8) -> bool {
    desc.temporal_id.is_none_or(|tid| tid <= max_tid)
}

/// Which temporal layers of one source one down track forwards, moving toward a target without
/// ever leaving the decoder a reference it did not receive.
///
/// Layers change only at the first packet of a picture (S = 1, PID = 0) that is newer than every
/// packet seen, so a picture is never cut in the middle and a late packet (reordered or
/// retransmitted) never moves the state.
#[derive(Debug, Clone)]
pub struct TemporalFilter {
    /// The highest TID wanted (subscriber cap or allocator choice).
    target: u8,
    /// The highest TID forwarded now.
    current: u8,
    /// Highest sequence number seen, to tell late packets.
    newest_seq: Option<u64>,
}

impl TemporalFilter {
    /// A filter aiming at `max_tid`, for a source whose forwarding starts at a keyframe (so every
    /// layer up to the target may be sent from the start).
    pub fn new(max_tid: u8) -> Self {
        Self {
            target: max_tid,
            current: max_tid,
            newest_seq: None,
        }
    }

    /// Sets the highest TID wanted; it takes effect at the next picture that allows it.
    pub fn set_target(&mut self, max_tid: u8) {
        self.target = max_tid;
    }

    /// The highest TID wanted.
    pub fn target(&self) -> u8 {
        self.target
    }

    /// The highest TID forwarded now.
    pub fn current(&self) -> u8 {
        self.current
    }

    /// Forwarding moves to a new source at a keyframe: the target applies at once, and sequence
    /// numbers start over (another stream's).
    pub fn restart(&mut self) {
        self.current = self.target;
        self.newest_seq = None;
    }

    /// Whether to forward the packet `seq` of the current source (its extended sequence number)
    /// with descriptor `desc`; `is_keyframe` says it starts a keyframe.
    ///
    /// When this says no, drop the packet (and tell the `Vp8Munger` with `drop_picture`).
    pub fn keep(&mut self, seq: u64, desc: &Vp8Descriptor, is_keyframe: bool) -> bool {
        let newer = self.newest_seq.is_none_or(|newest| seq > newest);
        if newer {
            self.newest_seq = Some(seq);
        }
        let Some(tid) = desc.temporal_id else {
            return true;
        };
        let starts_picture = desc.start_of_partition && desc.partition_id == 0;
        if newer && starts_picture {
            // A keyframe resets every reference; going down needs no reference at all.
            if is_keyframe || self.target < self.current {
                self.current = self.target;
            } else if self.target > self.current
                && desc.layer_sync
                && self.current.checked_add(1) == Some(tid)
            {
                // One layer at a time: a sync picture of layer N references TL0 only, but later
                // layer-N pictures may reference layers between 1 and N-1, which must be synced
                // first.
                self.current = tid;
            }
        }
        tid <= self.current
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{TemporalFilter, keep_temporal};
    use crate::codec::vp8::Vp8Descriptor;

    /// The first packet of a picture of layer `tid`, with the Y bit `sync`.
    fn start(tid: u8, sync: bool) -> Vp8Descriptor {
        Vp8Descriptor {
            non_reference: false,
            start_of_partition: true,
            partition_id: 0,
            picture_id: Some(0),
            picture_id_15bit: true,
            tl0_pic_idx: Some(0),
            temporal_id: Some(tid),
            layer_sync: sync,
            key_idx: None,
            header_len: 6,
        }
    }

    /// A continuation packet of a picture of layer `tid`.
    fn middle(tid: u8) -> Vp8Descriptor {
        Vp8Descriptor {
            start_of_partition: false,
            ..start(tid, false)
        }
    }

    #[test]
    fn keep_temporal_compares_tid() {
        assert!(keep_temporal(&start(0, false), 0));
        assert!(!keep_temporal(&start(1, false), 0));
        assert!(keep_temporal(&start(2, false), 2));
        assert!(!keep_temporal(&start(3, true), 2));
        let no_tid = Vp8Descriptor {
            temporal_id: None,
            ..start(0, false)
        };
        assert!(keep_temporal(&no_tid, 0));
    }

    #[test]
    fn going_down_waits_for_the_next_picture() {
        let mut f = TemporalFilter::new(2);
        assert!(f.keep(1, &start(2, false), false));
        f.set_target(0);
        // The rest of the picture already begun still goes out.
        assert!(f.keep(2, &middle(2), false));
        assert_eq!(f.current(), 2);
        assert!(f.keep(3, &start(0, false), false));
        assert_eq!(f.current(), 0);
        assert!(!f.keep(4, &start(2, true), false));
        assert!(!f.keep(5, &start(1, true), false));
        assert!(f.keep(6, &start(0, false), false));
    }

    #[test]
    fn going_up_waits_for_a_sync_picture_one_layer_at_a_time() {
        let mut f = TemporalFilter::new(0);
        f.set_target(2);
        // libwebrtc's pattern 0 2 1 2: neither TID 0 nor unsynced pictures move the filter.
        assert!(f.keep(1, &start(0, false), false));
        assert!(!f.keep(2, &start(2, false), false));
        assert!(!f.keep(3, &start(1, false), false));
        // A layer 2 sync picture cannot come first: layer 1 is not synced.
        assert!(!f.keep(4, &start(2, true), false));
        assert!(f.keep(5, &start(0, false), false));
        assert!(f.keep(6, &start(1, true), false));
        assert!(f.keep(7, &middle(1), false));
        assert_eq!(f.current(), 1);
        assert!(!f.keep(8, &start(2, false), false));
        assert!(f.keep(9, &start(2, true), false));
        assert_eq!(f.current(), 2);
        assert!(f.keep(10, &start(2, false), false));
    }

    #[test]
    fn a_keyframe_reaches_the_target_at_once() {
        let mut f = TemporalFilter::new(0);
        f.set_target(2);
        assert!(f.keep(1, &start(0, false), true));
        assert_eq!(f.current(), 2);
        assert!(f.keep(2, &start(2, false), false));
    }

    #[test]
    fn late_packets_do_not_move_the_filter() {
        let mut f = TemporalFilter::new(0);
        f.set_target(1);
        assert!(!f.keep(10, &middle(1), false));
        // The retransmitted first packet of that sync picture: the rest of it was dropped, so
        // syncing on it would leave the next layer 1 pictures without their reference.
        assert!(!f.keep(9, &start(1, true), false));
        assert_eq!(f.current(), 0);
        f.current = 1;
        assert!(f.keep(11, &start(1, false), false));
        f.set_target(0);
        assert!(f.keep(8, &start(0, false), false));
        assert_eq!(f.current(), 1);
        assert!(f.keep(12, &middle(1), false));
    }

    #[test]
    fn restart_applies_the_target_and_forgets_sequence_numbers() {
        let mut f = TemporalFilter::new(0);
        assert!(f.keep(1_000, &start(0, false), false));
        f.set_target(1);
        f.restart();
        assert_eq!(f.current(), 1);
        assert!(f.keep(5, &start(1, false), false));
        f.set_target(0);
        assert!(f.keep(6, &start(0, false), false));
        assert_eq!(f.current(), 0);
    }

    #[test]
    fn streams_without_temporal_layers_pass() {
        let mut f = TemporalFilter::new(0);
        let plain = Vp8Descriptor {
            temporal_id: None,
            ..start(0, false)
        };
        assert!(f.keep(1, &plain, false));
        assert!(f.keep(2, &plain, true));
    }

    proptest! {
        /// Over a libwebrtc-like stream with a target moving at random, every forwarded picture
        /// has all its references forwarded too, and layers settle on the target.
        #[test]
        fn never_forwards_a_picture_whose_reference_was_dropped(
            pictures in prop::collection::vec(
                (1usize..=3, prop::option::of(0u8..=2), prop::bool::weighted(0.3)),
                1..300,
            ),
            keyframe_every in 20usize..200,
        ) {
            let mut f = TemporalFilter::new(2);
            let mut seq = 0u64;
            // Whether the newest picture of each layer was forwarded, to check references.
            let mut sent_last = [true; 3];
            for (i, &(packets, new_target, sync)) in pictures.iter().enumerate() {
                if let Some(t) = new_target {
                    f.set_target(t);
                }
                let tid = [0u8, 2, 1, 2][i % 4];
                let keyframe = i % keyframe_every == 0;
                // A sync picture references TL0 only; any upper layer picture may be one.
                let sync = sync && tid > 0;
                let mut kept = Vec::new();
                for p in 0..packets {
                    seq += 1;
                    let d = if p == 0 { start(tid, sync) } else { middle(tid) };
                    kept.push(f.keep(seq, &d, keyframe && p == 0));
                }
                // One decision per picture.
                prop_assert!(kept.iter().all(|&k| k == kept[0]), "picture {} split", i);
                if kept[0] && !keyframe && !sync {
                    // A non-sync picture of layer N references the newest of every layer < N
                    // and its own layer's newest picture.
                    for (layer, &sent) in sent_last.iter().enumerate().take(usize::from(tid) + 1) {
                        prop_assert!(sent, "picture {} lacks layer {}", i, layer);
                    }
                }
                if kept[0] && sync {
                    prop_assert!(sent_last[0], "sync picture {} lacks TL0", i);
                }
                if keyframe {
                    sent_last = [true; 3];
                }
                sent_last[usize::from(tid)] = kept[0];
            }
        }

        #[test]
        fn never_panics(
            ops in prop::collection::vec(
                (any::<u8>(), 0u64..50, any::<Option<u8>>(), any::<bool>(), any::<bool>(),
                 0u8..8, any::<bool>()),
                0..100,
            ),
        ) {
            let mut f = TemporalFilter::new(u8::MAX);
            for (target, seq, tid, sync, s, pid, key) in ops {
                f.set_target(target);
                let d = Vp8Descriptor {
                    start_of_partition: s,
                    partition_id: pid,
                    temporal_id: tid,
                    layer_sync: sync,
                    ..start(0, false)
                };
                let kept = f.keep(seq, &d, key);
                prop_assert!(tid.is_none() || kept == (tid.unwrap_or(0) <= f.current()));
            }
        }
    }
}
