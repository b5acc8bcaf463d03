//! What a connection counts about the media it receives: loss from sequence numbers per SSRC
//! (the server keeps forwarded streams continuous across layer switches) and latency from the
//! probe every synthetic payload carries.

use std::collections::HashMap;
use std::time::Instant;

use crate::engine::stats::Recorder;
use crate::probe::Probe;

/// Sequence accounting of one received SSRC, on extended (unwrapped) sequence numbers.
#[derive(Debug, Clone, Copy)]
struct RxStream {
    first: u64,
    highest: u64,
    received: u64,
}

/// Offset of the first extended sequence number, so packets reordered before it stay positive.
const EXT_BASE: u64 = 1 << 16;

impl RxStream {
    fn new(seq: u16) -> RxStream {
        let ext = EXT_BASE + u64::from(seq);
        RxStream {
            first: ext,
            highest: ext,
            received: 1,
        }
    }

    /// Extends a 16-bit sequence number to the one nearest the highest seen (RFC 3550 A.1).
    fn extend(&self, seq: u16) -> u64 {
        let delta = seq.wrapping_sub(self.highest as u16) as i16;
        self.highest.saturating_add_signed(i64::from(delta))
    }

    fn on_packet(&mut self, seq: u16) {
        let ext = self.extend(seq);
        self.highest = self.highest.max(ext);
        self.first = self.first.min(ext);
        self.received += 1;
    }

    fn expected(&self) -> u64 {
        self.highest - self.first + 1
    }
}

/// Reception counters of one connection.
#[derive(Debug, Default)]
pub struct Reception {
    streams: HashMap<u32, RxStream>,
}

impl Reception {
    /// Accounts one received RTP packet (arrived at `at`) and records its probe's latency.
    pub fn on_rtp(&mut self, ssrc: u32, seq: u16, payload: &[u8], at: Instant, rec: &mut Recorder) {
        if let Some(probe) = Probe::find(payload) {
            rec.record_latency(probe.latency(at));
        }
        self.streams
            .entry(ssrc)
            .and_modify(|s| s.on_packet(seq))
            .or_insert_with(|| RxStream::new(seq));
    }

    /// Packets expected and received over every stream (loss = the difference); duplicates
    /// (retransmissions of packets that were not lost) do not count beyond the expected.
    pub fn totals(&self) -> (u64, u64) {
        self.streams.values().fold((0, 0), |(e, r), s| {
            (e + s.expected(), r + s.received.min(s.expected()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u16]) -> (u64, u64) {
        let mut r = Reception::default();
        let mut rec = Recorder::default();
        let now = Instant::now();
        for &s in seqs {
            r.on_rtp(1, s, &[], now, &mut rec);
        }
        r.totals()
    }

    #[test]
    fn loss_counts_gaps_across_the_sequence_wrap() {
        assert_eq!(run(&[65534, 65535, 0, 2]), (5, 4));
    }

    #[test]
    fn a_reordered_packet_before_the_first_is_expected_not_lost() {
        assert_eq!(run(&[10, 9, 11]), (3, 3));
        assert_eq!(run(&[0, 65535, 1]), (3, 3));
    }
}
