//! The egress side of one subscription: which layer goes out and how it is rewritten.

use std::time::Instant;

use crate::ids::ParticipantId;
use crate::rewrite::RtpRewriter;
use crate::room::output::DropReason;
use crate::room::types::SubscriptionCaps;
use crate::rtp::{MediaPacket, SeqNo};

/// One subscriber's view of one published track.
///
/// `target` is the layer the server wants to send, `current` the layer being sent; `current`
/// changes only at a keyframe of the target layer, so the subscriber's decoder never sees a
/// switch in the middle of a picture.
#[derive(Debug)]
pub(crate) struct DownTrack {
    pub subscriber: ParticipantId,
    /// The subscriber's m-line is negotiated and packets may be written to it.
    pub negotiated: bool,
    /// Publisher payload type -> subscriber payload type.
    pub payload_types: Vec<(u8, u8)>,
    pub caps: SubscriptionCaps,
    pub target: Option<usize>,
    pub current: Option<usize>,
    rewriter: RtpRewriter,
    last_arrival: Option<Instant>,
    /// The (layer, paused) last told to the subscriber, to send `subscription` only on change.
    pub reported: Option<(Option<usize>, bool)>,
    pub packets_sent: u64,
}

/// What happened to one packet on one down track.
pub(crate) enum Forwarded {
    /// Send it; `switched` is true when this packet started a new layer.
    Send { packet: MediaPacket, switched: bool },
    /// Not sent.
    Drop(DropReason),
}

impl DownTrack {
    pub fn new(subscriber: ParticipantId, seed: u64) -> Self {
        // Start each outgoing stream at a pseudo-random point (as RFC 3550 asks) derived from the
        // ids, which keeps the core free of a random source and its tests deterministic.
        let mixed = splitmix64(seed);
        DownTrack {
            subscriber,
            negotiated: false,
            payload_types: Vec::new(),
            caps: SubscriptionCaps::default(),
            target: None,
            current: None,
            rewriter: RtpRewriter::new(mixed & 0x7fff, (mixed >> 32) as u32),
            last_arrival: None,
            reported: None,
            packets_sent: 0,
        }
    }

    /// Decides and rewrites one packet of `layer`.
    pub fn forward(
        &mut self,
        layer: usize,
        is_keyframe: bool,
        needs_keyframe: bool,
        packet: &MediaPacket,
        clock_rate: u32,
    ) -> Forwarded {
        if !self.negotiated {
            return Forwarded::Drop(DropReason::NotNegotiated);
        }
        if self.caps.paused {
            return Forwarded::Drop(DropReason::Paused);
        }
        let Some(pt) = self
            .payload_types
            .iter()
            .find(|(from, _)| *from == packet.payload_type)
            .map(|(_, to)| *to)
        else {
            return Forwarded::Drop(DropReason::UnsupportedPayloadType);
        };

        let mut switched = false;
        if self.current != Some(layer) {
            if self.target != Some(layer) {
                return Forwarded::Drop(if self.current.is_some() {
                    DropReason::OtherLayer
                } else {
                    DropReason::AwaitingKeyframe
                });
            }
            if needs_keyframe && !is_keyframe {
                return Forwarded::Drop(DropReason::AwaitingKeyframe);
            }
            // Advance the output clock by the wall time since the last forwarded packet, so the
            // new source's frames play out at the right moment after the old source's.
            let advance = self.last_arrival.map_or(1, |prev| {
                let secs = packet.arrival.saturating_duration_since(prev).as_secs_f64();
                ((secs * f64::from(clock_rate)) as u32).max(1)
            });
            self.rewriter
                .switch_source(packet.seq.0, packet.timestamp, advance);
            self.current = Some(layer);
            switched = true;
        }

        let Some((seq, timestamp)) = self.rewriter.rewrite(packet.seq.0, packet.timestamp) else {
            return Forwarded::Drop(DropReason::BeforeSwitch);
        };
        self.last_arrival = Some(match self.last_arrival {
            Some(prev) if prev > packet.arrival => prev,
            _ => packet.arrival,
        });
        self.packets_sent += 1;
        Forwarded::Send {
            packet: MediaPacket {
                seq: SeqNo(seq),
                timestamp,
                payload_type: pt,
                payload: packet.payload.clone(),
                ..*packet
            },
            switched,
        }
    }

    /// Stops sending until the next keyframe (pause, mute, or a re-negotiated m-line).
    pub fn reset_layer(&mut self) {
        self.current = None;
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
