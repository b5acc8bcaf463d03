//! Sequence-number and timestamp rewriting for one outgoing stream.
//!
//! A subscriber must see one continuous RTP stream even though the SFU forwards packets from
//! several source streams in turn (simulcast layers, each with its own sequence space and
//! timestamp base) and filters some packets out. [`RtpRewriter`] is that mapping: a small pure
//! type driven by the egress path, one per outgoing stream.

#[cfg(test)]
mod proptests;
mod seq;
#[cfg(test)]
mod tests;

use seq::SeqMap;

/// Maps packets of successive source streams onto one continuous outgoing RTP stream.
///
/// Sequence numbers are extended 64-bit values on both sides (the low 16 bits are the RTP
/// sequence number, the rest counts rollovers), so wrap-around needs no special case; RTP
/// timestamps are `u32` and wrap.
///
/// Call [`switch_source`](Self::switch_source) before the first packet and at every source
/// change, then for each packet of the current source either [`rewrite`](Self::rewrite) it (to
/// forward it) or [`drop_packet`](Self::drop_packet) it (to filter it out without leaving a gap).
#[derive(Debug, Clone)]
pub struct RtpRewriter {
    /// Sequence number of the first packet ever forwarded.
    initial_seq: u64,
    /// Timestamp of the first packet ever forwarded.
    initial_ts: u32,
    /// The source currently forwarded; `None` until the first switch.
    source: Option<Source>,
    /// Highest output sequence number so far and the timestamp sent with it.
    last: Option<(u64, u32)>,
}

/// Mapping state of the source currently forwarded.
#[derive(Debug, Clone)]
struct Source {
    /// Sequence-number mapping, with the drop record.
    seq: SeqMap,
    /// Output timestamp minus input timestamp (wrapping).
    ts_offset: u32,
}

impl RtpRewriter {
    /// A rewriter whose output starts at `initial_seq` and `initial_ts`.
    ///
    /// Both should be random (RFC 3550 §5.1); keep `initial_seq` below 65536 so that the SRTP
    /// rollover counter of the outgoing stream starts at 0.
    pub fn new(initial_seq: u64, initial_ts: u32) -> Self {
        Self {
            initial_seq,
            initial_ts,
            source: None,
            last: None,
        }
    }

    /// Starts forwarding a new source whose first forwarded packet has `first_seq` and `first_ts`.
    ///
    /// That packet gets the output sequence number after the last one sent and the last output
    /// timestamp plus `ts_advance` (the caller's estimate of the time elapsed since the last
    /// packet sent, in RTP clock ticks); for the very first source, the initial values. Packets
    /// of the new source before `first_seq` are refused from then on.
    pub fn switch_source(&mut self, first_seq: u64, first_ts: u32, ts_advance: u32) {
        let (out_seq, out_ts) = match self.last {
            Some((seq, ts)) => (seq.wrapping_add(1), ts.wrapping_add(ts_advance)),
            None => (self.initial_seq, self.initial_ts),
        };
        self.source = Some(Source {
            seq: SeqMap::new(first_seq, out_seq),
            ts_offset: out_ts.wrapping_sub(first_ts),
        });
    }

    /// The output `(seq, ts)` of a packet of the current source, or `None` if it must not be sent.
    ///
    /// `None` means: no source selected yet, the packet precedes the current source's switch
    /// point, it was dropped with [`drop_packet`](Self::drop_packet), or it is so late that its
    /// output can no longer be computed exactly. A retransmitted or reordered packet gets the same
    /// output as it would have had in order.
    pub fn rewrite(&mut self, seq: u64, ts: u32) -> Option<(u64, u32)> {
        let source = self.source.as_mut()?;
        let out_seq = source.seq.map(seq)?;
        let out_ts = ts.wrapping_add(source.ts_offset);
        // A reordered packet must not move the continuation point of the next switch backwards.
        if self.last.is_none_or(|(last_seq, _)| out_seq > last_seq) {
            self.last = Some((out_seq, out_ts));
        }
        Some((out_seq, out_ts))
    }

    /// Records that the packet `seq` of the current source is not forwarded, so the output stays
    /// gap-free.
    ///
    /// Effective only for a packet newer than all those seen from this source: an older one
    /// (reordered) already has its output slot reserved and leaves a hole the subscriber will
    /// treat as a loss.
    pub fn drop_packet(&mut self, seq: u64) {
        if let Some(source) = self.source.as_mut() {
            source.seq.drop_input(seq);
        }
    }

    /// The highest output sequence number sent so far, if any.
    pub fn last_output_seq(&self) -> Option<u64> {
        self.last.map(|(seq, _)| seq)
    }

    /// The timestamp sent with [`last_output_seq`](Self::last_output_seq), if any.
    pub fn last_output_ts(&self) -> Option<u32> {
        self.last.map(|(_, ts)| ts)
    }
}
