//! What each outgoing datagram of a peer is, for the metrics: a forwarded media packet (and
//! when it arrived at the server), a retransmission, or anything else.
//!
//! The stack does not say which of its transmits carry which packet, so the cleartext RTP
//! header (SRTP encrypts only the payload) is read: the SSRC tells a down track's main stream
//! from its RTX stream, the sequence number finds the forwarded packet's arrival time.

use std::collections::VecDeque;
use std::time::Instant;

use rustc_hash::{FxHashMap, FxHashSet};

/// Forwarded packets remembered per stream until sent; a pacer never holds more than a few
/// hundred, and entries of packets it dropped are discarded when a later one goes out.
const MAX_PENDING_PER_STREAM: usize = 512;

/// What an outgoing datagram is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Egress {
    /// A forwarded RTP packet, with the instant its datagram was read from the socket.
    Forwarded(Instant),
    /// A packet resent on an RTX stream (an answer to a NACK, or a probe-padding resend).
    Retransmission,
    /// RTCP, STUN, DTLS, SCTP, padding, or RTP this ledger does not know.
    Other,
}

/// The down tracks' SSRCs and the forwarded packets not yet sent.
#[derive(Debug, Default)]
pub(super) struct EgressLedger {
    /// Main SSRC -> (wire sequence number, arrival) of packets written, oldest first. Looked up
    /// for every datagram sent: Fx, as the keys are the server's own random SSRCs.
    pending: FxHashMap<u32, VecDeque<(u16, Instant)>>,
    /// RTX SSRCs of the down tracks (up to one per track a subscriber receives).
    rtx: FxHashSet<u32>,
}

impl EgressLedger {
    /// Records a packet written on the stream `ssrc` (with RTX stream `rtx`).
    pub(super) fn written(&mut self, ssrc: u32, rtx: Option<u32>, seq: u16, arrival: Instant) {
        if let Some(rtx) = rtx {
            self.rtx.insert(rtx);
        }
        let queue = self.pending.entry(ssrc).or_default();
        if queue.len() >= MAX_PENDING_PER_STREAM {
            queue.pop_front();
        }
        queue.push_back((seq, arrival));
    }

    /// Classifies an outgoing datagram (SRTP leaves the RTP header in clear).
    pub(super) fn classify(&mut self, datagram: &[u8]) -> Egress {
        // RFC 7983: 128..=191 is RTP or RTCP; RTCP packet types are 192..=223 (RFC 5761).
        if datagram.len() < 12 || !(128..=191).contains(&datagram[0]) {
            return Egress::Other;
        }
        if (192..=223).contains(&datagram[1]) {
            return Egress::Other;
        }
        let padding_only = datagram[0] & 0x20 != 0;
        let seq = u16::from_be_bytes([datagram[2], datagram[3]]);
        let ssrc = u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]);
        if self.rtx.contains(&ssrc) {
            // Blank padding packets carry the padding bit; media resends go out unpadded.
            return if padding_only {
                Egress::Other
            } else {
                Egress::Retransmission
            };
        }
        let Some(queue) = self.pending.get_mut(&ssrc) else {
            return Egress::Other;
        };
        let Some(position) = queue.iter().position(|(s, _)| *s == seq) else {
            return Egress::Other;
        };
        // Older entries were never sent (dropped by the pacer): forget them with this one.
        let arrival = queue[position].1;
        queue.drain(..=position);
        Egress::Forwarded(arrival)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTP header (12 bytes) and a payload byte.
    fn rtp(ssrc: u32, seq: u16, padding: bool) -> Vec<u8> {
        let mut p = vec![if padding { 0xA0 } else { 0x80 }, 96];
        p.extend(seq.to_be_bytes());
        p.extend(1234u32.to_be_bytes());
        p.extend(ssrc.to_be_bytes());
        p.push(0);
        p
    }

    #[test]
    fn forwarded_packets_find_their_arrival_and_skip_unsent_ones() {
        let t0 = Instant::now();
        let t1 = t0 + std::time::Duration::from_millis(1);
        let mut ledger = EgressLedger::default();
        ledger.written(10, Some(11), 5, t0);
        ledger.written(10, Some(11), 6, t1);
        // Packet 5 was dropped by the pacer; 6 goes out.
        assert_eq!(ledger.classify(&rtp(10, 6, false)), Egress::Forwarded(t1));
        assert_eq!(ledger.classify(&rtp(10, 5, false)), Egress::Other);
        assert!(ledger.pending[&10].is_empty());
    }

    #[test]
    fn rtx_stream_packets_are_retransmissions_unless_padding() {
        let mut ledger = EgressLedger::default();
        ledger.written(10, Some(11), 1, Instant::now());
        assert_eq!(
            ledger.classify(&rtp(11, 900, false)),
            Egress::Retransmission
        );
        assert_eq!(ledger.classify(&rtp(11, 901, true)), Egress::Other);
    }

    #[test]
    fn rtcp_stun_and_short_datagrams_are_other() {
        let mut ledger = EgressLedger::default();
        ledger.written(10, None, 1, Instant::now());
        let mut rtcp = rtp(10, 1, false);
        rtcp[1] = 200; // sender report
        assert_eq!(ledger.classify(&rtcp), Egress::Other);
        assert_eq!(ledger.classify(&[0x00, 0x01, 0, 0]), Egress::Other);
        assert_eq!(ledger.classify(&[0x80, 96, 0, 1]), Egress::Other);
        // Still pending: the RTCP did not consume it.
        assert_eq!(ledger.pending[&10].len(), 1);
    }

    #[test]
    fn pending_packets_are_bounded() {
        let mut ledger = EgressLedger::default();
        let now = Instant::now();
        for seq in 0..2000u16 {
            ledger.written(10, None, seq, now);
        }
        assert_eq!(ledger.pending[&10].len(), MAX_PENDING_PER_STREAM);
    }
}
