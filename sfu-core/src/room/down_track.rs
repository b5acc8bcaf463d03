//! The egress side of one subscription: which layer goes out and how it is rewritten.

use std::time::Instant;

use crate::clock_sync::ts_advance_on_switch;
use crate::codec::vp8::Vp8Descriptor;
use crate::ids::ParticipantId;
use crate::rewrite::RtpRewriter;
use crate::room::output::DropReason;
use crate::room::track::LayerState;
use crate::room::types::SubscriptionCaps;
use crate::rtp::{MediaPacket, SeqNo};
use crate::temporal::TemporalFilter;
use crate::vp8_munger::{Vp8Munger, Vp8Rewrite};

/// One subscriber's view of one published track; `S` names who receives it: a participant, or
/// a forward (the recording tap), which is rewritten the same way but leaves the room as plain RTP.
///
/// `target` is the layer the server wants to send, `current` the layer being sent; `current`
/// changes only at a keyframe of the target layer, so the subscriber's decoder never sees a
/// switch in the middle of a picture.
#[derive(Debug)]
pub(crate) struct DownTrack<S = ParticipantId> {
    pub subscriber: S,
    /// The subscriber's m-line for the track is negotiated and packets may be written to it.
    pub negotiated: bool,
    /// Publisher payload type -> subscriber payload type.
    pub payload_types: Vec<(u8, u8)>,
    pub caps: SubscriptionCaps,
    pub target: Option<usize>,
    pub current: Option<usize>,
    rewriter: RtpRewriter,
    munger: Vp8Munger,
    temporal: TemporalFilter,
    last_arrival: Option<Instant>,
    /// Input RTP timestamp of the newest packet sent, in its source's clock.
    last_input_ts: Option<u32>,
    /// Output minus input RTP timestamp of the newest packet sent (wrapping): maps the current
    /// source's clock, and so its sender reports, onto the outgoing stream.
    pub ts_offset: Option<u32>,
    /// The (layer, paused) last told to the subscriber, to send `subscription` only on change.
    pub reported: Option<(Option<usize>, bool)>,
    pub packets_sent: u64,
    /// Layer switches done.
    pub switches: u64,
    /// When the last keyframe start was sent to this subscriber.
    pub last_keyframe_sent: Option<Instant>,
    /// The subscriber's bandwidth allows at most this layer (`Some(None)` = paused for
    /// bandwidth); `None` while there is no estimate.
    pub bandwidth_layer: Option<Option<usize>>,
    /// Bitrate allocated to this down track (bits/s), 0 without an estimate.
    pub allocated_bps: u64,
}

/// One packet as the publisher sent it, with what ingress learned about it.
pub(crate) struct Ingress<'a> {
    pub packet: &'a MediaPacket,
    pub layer: usize,
    pub is_keyframe: bool,
    /// Video must start at a keyframe; audio starts anywhere.
    pub needs_keyframe: bool,
    pub vp8: Option<&'a Vp8Descriptor>,
    pub clock_rate: u32,
}

/// What happened to one packet on one down track.
pub(crate) enum Forwarded {
    /// Send it; `switched` is true when this packet started a new layer.
    Send {
        packet: MediaPacket,
        vp8: Option<Vp8Rewrite>,
        switched: bool,
    },
    /// Not sent.
    Drop(DropReason),
}

impl<S> DownTrack<S> {
    pub fn new(subscriber: S, seed: u64) -> Self {
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
            munger: Vp8Munger::new(),
            temporal: TemporalFilter::new(u8::MAX),
            last_arrival: None,
            last_input_ts: None,
            ts_offset: None,
            reported: None,
            packets_sent: 0,
            switches: 0,
            last_keyframe_sent: None,
            bandwidth_layer: None,
            allocated_bps: 0,
        }
    }

    /// Whether the subscriber's bandwidth does not fit even the lowest layer.
    pub fn bandwidth_paused(&self) -> bool {
        self.bandwidth_layer == Some(None)
    }

    /// Applies a subscriber's caps (the temporal cap takes effect at the next safe picture).
    pub fn set_caps(&mut self, caps: SubscriptionCaps) {
        self.temporal
            .set_target(caps.max_temporal.unwrap_or(u8::MAX));
        self.caps = caps;
    }

    /// Decides and rewrites one packet.
    pub fn forward(&mut self, input: &Ingress, layers: &[LayerState]) -> Forwarded {
        let packet = input.packet;
        if !self.negotiated {
            return Forwarded::Drop(DropReason::NotNegotiated);
        }
        if self.caps.paused {
            return Forwarded::Drop(DropReason::Paused);
        }
        if self.bandwidth_paused() {
            return Forwarded::Drop(DropReason::Bandwidth);
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
        if self.current != Some(input.layer) {
            if self.target != Some(input.layer) {
                return Forwarded::Drop(if self.current.is_some() {
                    DropReason::OtherLayer
                } else {
                    DropReason::AwaitingKeyframe
                });
            }
            if input.needs_keyframe && !input.is_keyframe {
                return Forwarded::Drop(DropReason::AwaitingKeyframe);
            }
            let advance = self.timestamp_advance(input, layers);
            self.rewriter
                .switch_source(packet.seq.0, packet.timestamp, advance);
            self.munger.switch_source();
            self.temporal.restart();
            if self.current.is_some() {
                self.switches += 1;
            }
            self.current = Some(input.layer);
            switched = true;
        }

        let seq = packet.seq.0;
        let mut vp8 = None;
        if let Some(desc) = input.vp8 {
            if !self.temporal.keep(seq, desc, input.is_keyframe) {
                // A finer step down: fewer frames per second, decodable because only pictures
                // no kept picture references are left out.
                self.munger.drop_picture(seq, desc);
                self.rewriter.drop_packet(seq);
                return Forwarded::Drop(DropReason::TemporalLayer);
            }
            match self.munger.munge(seq, desc) {
                Some(rw) => vp8 = (!rw.is_empty()).then_some(rw),
                None => return Forwarded::Drop(DropReason::BeforeSwitch),
            }
        }
        let Some((out_seq, timestamp)) = self.rewriter.rewrite(seq, packet.timestamp) else {
            return Forwarded::Drop(DropReason::BeforeSwitch);
        };
        if self.last_arrival.is_none_or(|prev| packet.arrival >= prev) {
            self.last_arrival = Some(packet.arrival);
            self.last_input_ts = Some(packet.timestamp);
            self.ts_offset = Some(timestamp.wrapping_sub(packet.timestamp));
        }
        self.packets_sent += 1;
        if input.is_keyframe {
            self.last_keyframe_sent = Some(packet.arrival);
        }
        Forwarded::Send {
            packet: MediaPacket {
                seq: SeqNo(out_seq),
                timestamp,
                payload_type: pt,
                payload: packet.payload.clone(),
                ..*packet
            },
            vp8,
            switched,
        }
    }

    /// How far the output clock moves at a switch: by the publisher's sender reports when both
    /// layers have one (exact), else by the wall time between the packets' arrivals.
    fn timestamp_advance(&self, input: &Ingress, layers: &[LayerState]) -> u32 {
        let packet = input.packet;
        let (Some(prev_arrival), Some(prev_ts)) = (self.last_arrival, self.last_input_ts) else {
            return 1;
        };
        let gap = packet.arrival.saturating_duration_since(prev_arrival);
        match (
            self.current.and_then(|l| layers.get(l)),
            layers.get(input.layer),
        ) {
            (Some(old), Some(new)) => {
                ts_advance_on_switch(
                    &old.clock,
                    prev_ts,
                    &new.clock,
                    packet.timestamp,
                    input.clock_rate,
                    gap,
                )
                .ticks
            }
            _ => ((gap.as_secs_f64() * f64::from(input.clock_rate)) as u32).max(1),
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
