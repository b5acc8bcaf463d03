//! Property tests of [`RtpRewriter`]: continuity across drops and switches, timestamp deltas,
//! stable outputs for retransmissions, and reordered input against a reference model.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::Index;

use super::RtpRewriter;
use super::seq::DROP_HISTORY;

/// A source's first sequence number: anywhere, or just below a 16-bit wrap.
fn start_seq() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..1 << 40,
        (0u64..1 << 24, 65_400u64..65_536).prop_map(|(rollovers, low)| (rollovers << 16) | low),
    ]
}

/// The rewriter's initial output sequence number, often close to the 16-bit wrap.
fn initial_seq() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..65_536, 65_400u64..65_536]
}

/// What happens next to the stream driven through the rewriter.
#[derive(Debug, Clone)]
enum Action {
    /// The next packet of the current source, in order: dropped or forwarded.
    Packet {
        /// Whether the caller filters it out.
        drop: bool,
        /// Its timestamp minus the previous packet's.
        ts_step: u32,
    },
    /// Forwarding moves to a new source.
    Switch {
        /// First sequence number of the new source.
        seq: u64,
        /// First timestamp of the new source.
        ts: u32,
        /// Timestamp advance given to the rewriter.
        advance: u32,
    },
    /// An earlier packet of the current source is submitted again.
    Retransmit(Index),
}

fn switch() -> impl Strategy<Value = Action> {
    (start_seq(), any::<u32>(), any::<u32>()).prop_map(|(seq, ts, advance)| Action::Switch {
        seq,
        ts,
        advance,
    })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        12 => (prop::bool::weighted(0.3), 0u32..20_000)
            .prop_map(|(drop, ts_step)| Action::Packet { drop, ts_step }),
        1 => switch(),
        3 => any::<Index>().prop_map(Action::Retransmit),
    ]
}

/// What the driver did and what the rewriter answered.
#[derive(Debug, Clone)]
enum Entry {
    /// `switch_source` was called.
    Switch { first_ts: u32, advance: u32 },
    /// A new packet was forwarded.
    Forwarded { ts: u32, out: (u64, u32) },
    /// An earlier packet was submitted again: the first answer and the new one.
    Resent {
        first: Option<(u64, u32)>,
        again: Option<(u64, u32)>,
    },
}

/// A packet of the current source already submitted, with the rewriter's first answer.
#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: u64,
    ts: u32,
    answer: Option<(u64, u32)>,
}

/// Runs in-order packets of successive sources through a rewriter, with drops and resends.
fn drive(initial: (u64, u32), first: Action, actions: Vec<Action>) -> Vec<Entry> {
    let mut rw = RtpRewriter::new(initial.0, initial.1);
    let mut log = Vec::new();
    // Next (seq, ts) of the current source, and its packets so far with their first answer.
    let mut next = (0u64, 0u32);
    let mut history: Vec<Sent> = Vec::new();
    for action in std::iter::once(first).chain(actions) {
        match action {
            Action::Switch { seq, ts, advance } => {
                rw.switch_source(seq, ts, advance);
                log.push(Entry::Switch {
                    first_ts: ts,
                    advance,
                });
                next = (seq, ts);
                history.clear();
            }
            Action::Packet { drop, ts_step } => {
                let (seq, ts) = next;
                let answer = if drop {
                    rw.drop_packet(seq);
                    None
                } else {
                    let out = rw.rewrite(seq, ts).expect("in-order packet is forwarded");
                    log.push(Entry::Forwarded { ts, out });
                    Some(out)
                };
                history.push(Sent { seq, ts, answer });
                next = (seq + 1, ts.wrapping_add(ts_step));
            }
            Action::Retransmit(idx) => {
                if history.is_empty() {
                    continue;
                }
                let sent = history[idx.index(history.len())];
                let again = rw.rewrite(sent.seq, sent.ts);
                log.push(Entry::Resent {
                    first: sent.answer,
                    again,
                });
            }
        }
    }
    log
}

proptest! {
    /// (a) Every forwarded packet gets the output sequence number right after the previous one,
    /// whatever was dropped or switched in between.
    #[test]
    fn forwarded_output_is_continuous(
        initial in (initial_seq(), any::<u32>()),
        first in switch(),
        actions in prop::collection::vec(action(), 0..400),
    ) {
        let mut expected = initial.0;
        for entry in drive(initial, first, actions) {
            if let Entry::Forwarded { out, .. } = entry {
                prop_assert_eq!(out.0, expected);
                expected = out.0 + 1;
            }
        }
    }

    /// (b) A packet submitted again gets the same answer as the first time: the same output if
    /// it was forwarded, a refusal if it was dropped.
    #[test]
    fn retransmission_gets_the_same_answer(
        initial in (initial_seq(), any::<u32>()),
        first in switch(),
        actions in prop::collection::vec(action(), 0..400),
    ) {
        for entry in drive(initial, first, actions) {
            if let Entry::Resent { first, again } = entry {
                prop_assert_eq!(first, again);
            }
        }
    }

    /// (c) Within one source, output timestamps move exactly as input timestamps (wrapping);
    /// across a switch, they move by the advance given.
    #[test]
    fn timestamp_deltas_are_preserved(
        initial in (initial_seq(), any::<u32>()),
        first in switch(),
        actions in prop::collection::vec(action(), 0..400),
    ) {
        let mut last_out_ts: Option<u32> = None;
        // At a switch: the output timestamp of the source's first packet, and its input one.
        let mut anchor = (0u32, 0u32);
        for entry in drive(initial, first, actions) {
            match entry {
                Entry::Switch { first_ts, advance } => {
                    let out = last_out_ts.map_or(initial.1, |ts| ts.wrapping_add(advance));
                    anchor = (out, first_ts);
                }
                Entry::Forwarded { ts, out } => {
                    prop_assert_eq!(
                        out.1.wrapping_sub(anchor.0),
                        ts.wrapping_sub(anchor.1)
                    );
                    last_out_ts = Some(out.1);
                }
                Entry::Resent { .. } => {}
            }
        }
    }

    /// A late packet is either mapped to exactly its first output or refused, never to a wrong
    /// one; within the drop history it is always exact.
    #[test]
    fn late_retransmissions_are_exact_or_refused(
        first in start_seq(),
        drops in prop::collection::vec(prop::bool::weighted(0.2), 1..(3 * DROP_HISTORY as usize)),
        picks in prop::collection::vec(any::<Index>(), 1..64),
    ) {
        let mut rw = RtpRewriter::new(0, 0);
        rw.switch_source(first, 0, 0);
        let mut answers = Vec::with_capacity(drops.len());
        for (i, &drop) in drops.iter().enumerate() {
            let seq = first + i as u64;
            if drop {
                rw.drop_packet(seq);
                answers.push(None);
            } else {
                answers.push(rw.rewrite(seq, 0));
            }
        }
        let newest = first + drops.len() as u64 - 1;
        for pick in picks {
            let i = pick.index(drops.len());
            let seq = first + i as u64;
            let again = rw.rewrite(seq, 0);
            if seq >= newest.saturating_sub(DROP_HISTORY) {
                prop_assert_eq!(again, answers[i]);
            } else {
                prop_assert!(again.is_none() || again == answers[i]);
            }
        }
    }

    /// Reordered, duplicated and lost input with drops maps as the reference says: a forwarded
    /// packet's output counts every earlier input except the drops that took effect.
    #[test]
    fn reordered_input_matches_reference(
        initial in (initial_seq(), any::<u32>()),
        first in start_seq(),
        first_ts in any::<u32>(),
        // Per packet: filtered out, lost, arrival delay in packets, duplicated.
        packets in prop::collection::vec(
            (prop::bool::weighted(0.25), prop::bool::weighted(0.05), 0usize..8, prop::bool::weighted(0.1)),
            1..500,
        ),
    ) {
        let mut arrivals = Vec::new();
        for (i, &(_, lost, delay, duplicated)) in packets.iter().enumerate() {
            if lost {
                continue;
            }
            arrivals.push((i + delay, i));
            if duplicated {
                arrivals.push((i + delay + 5, i));
            }
        }
        arrivals.sort();

        let mut rw = RtpRewriter::new(initial.0, initial.1);
        rw.switch_source(first, first_ts, 0);
        let mut effective_drops = BTreeSet::new();
        let mut newest: Option<u64> = None;
        let mut outputs = Vec::new();
        for (_, i) in arrivals {
            let seq = first + i as u64;
            let ts = first_ts.wrapping_add(3000u32.wrapping_mul(i as u32));
            let is_newest = newest.is_none_or(|n| seq > n);
            if packets[i].0 {
                // Only a drop of the newest packet can shift the output.
                if is_newest {
                    effective_drops.insert(seq);
                }
                rw.drop_packet(seq);
            } else {
                let drops_before = effective_drops.range(..seq).count() as u64;
                let expected_seq = initial.0 + i as u64 - drops_before;
                let expected_ts = initial.1.wrapping_add(ts.wrapping_sub(first_ts));
                prop_assert_eq!(rw.rewrite(seq, ts), Some((expected_seq, expected_ts)));
                outputs.push((seq, expected_seq));
            }
            if is_newest {
                newest = Some(seq);
            }
        }

        outputs.sort();
        outputs.dedup();
        prop_assert!(outputs.windows(2).all(|w| w[0].1 < w[1].1), "outputs follow input order");
        prop_assert_eq!(rw.last_output_seq(), outputs.iter().map(|o| o.1).max());
    }

    /// Any sequence of calls with any values is handled without panicking, and the accessors
    /// report the highest output returned.
    #[test]
    fn arbitrary_calls_never_panic(
        initial in (any::<u64>(), any::<u32>()),
        calls in prop::collection::vec(
            (0u8..3, prop_oneof![any::<u64>(), 0u64..64, (u64::MAX - 64)..=u64::MAX], any::<u32>()),
            0..200,
        ),
    ) {
        let mut rw = RtpRewriter::new(initial.0, initial.1);
        let mut highest: Option<(u64, u32)> = None;
        for (kind, seq, ts) in calls {
            match kind {
                0 => rw.switch_source(seq, ts, ts / 2),
                1 => rw.drop_packet(seq),
                _ => {
                    if let Some(out) = rw.rewrite(seq, ts)
                        && highest.is_none_or(|h| out.0 > h.0)
                    {
                        highest = Some(out);
                    }
                }
            }
        }
        prop_assert_eq!(rw.last_output_seq(), highest.map(|h| h.0));
        prop_assert_eq!(rw.last_output_ts(), highest.map(|h| h.1));
    }
}
