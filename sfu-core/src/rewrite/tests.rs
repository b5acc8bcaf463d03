//! Table of rewriting cases in the style of mediasoup's `SeqManager` tests: each case is a list of
//! steps on one rewriter with the exact output expected at every forwarded packet.

use super::RtpRewriter;
use super::seq::DROP_HISTORY;

/// One call on the rewriter.
#[derive(Debug)]
enum Step {
    /// `switch_source(first_seq, first_ts, ts_advance)`.
    Switch(u64, u32, u32),
    /// `rewrite(seq, ts)` and the output it must return.
    Fwd(u64, u32, Option<(u64, u32)>),
    /// `drop_packet(seq)`.
    Drop(u64),
}

use Step::{Drop, Fwd, Switch};

/// A named scenario: the rewriter's initial `(seq, ts)` and the steps to run.
struct Case {
    name: &'static str,
    initial: (u64, u32),
    steps: &'static [Step],
}

/// The usual start of the output, picked away from any wrap.
const INIT: (u64, u32) = (1000, 50_000);

const CASES: &[Case] = &[
    Case {
        name: "in order",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
            Fwd(12, 6000, Some((1002, 56_000))),
            Fwd(13, 9000, Some((1003, 59_000))),
        ],
    },
    Case {
        name: "reordered packets keep their place",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Fwd(12, 6000, Some((1002, 56_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
            Fwd(13, 9000, Some((1003, 59_000))),
        ],
    },
    Case {
        name: "retransmission maps to the same output",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
            Fwd(12, 6000, Some((1002, 56_000))),
            Fwd(13, 9000, Some((1003, 59_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
            Fwd(10, 0, Some((1000, 50_000))),
            Fwd(14, 12_000, Some((1004, 62_000))),
        ],
    },
    Case {
        name: "drops keep the output gap-free",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Drop(11),
            Fwd(12, 6000, Some((1001, 56_000))),
            Drop(13),
            Drop(14),
            Fwd(15, 15_000, Some((1002, 65_000))),
        ],
    },
    Case {
        name: "late packet before a drop gets its reserved slot",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            // 11 is late; 12 is dropped while 11 is still missing.
            Drop(12),
            Fwd(13, 9000, Some((1002, 59_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
            Fwd(14, 12_000, Some((1003, 62_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
        ],
    },
    Case {
        name: "late packet between several drops",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Drop(11),
            Drop(13),
            Fwd(14, 12_000, Some((1002, 62_000))),
            Fwd(12, 6000, Some((1001, 56_000))),
            Drop(15),
            Fwd(16, 18_000, Some((1003, 68_000))),
            Fwd(12, 6000, Some((1001, 56_000))),
            Fwd(14, 12_000, Some((1002, 62_000))),
        ],
    },
    Case {
        name: "every other packet dropped (temporal layer filter) with reordering",
        initial: INIT,
        steps: &[
            Switch(100, 0, 0),
            Fwd(100, 0, Some((1000, 50_000))),
            Drop(101),
            Drop(103),
            Fwd(104, 4, Some((1002, 50_004))),
            Fwd(102, 2, Some((1001, 50_002))),
            Drop(105),
            Fwd(106, 6, Some((1003, 50_006))),
            Drop(107),
            Fwd(108, 8, Some((1004, 50_008))),
        ],
    },
    Case {
        name: "retransmission of a dropped packet is refused",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Drop(11),
            Fwd(12, 6000, Some((1001, 56_000))),
            Fwd(11, 3000, None),
            Fwd(12, 6000, Some((1001, 56_000))),
            Fwd(13, 9000, Some((1002, 59_000))),
        ],
    },
    Case {
        name: "dropping an already forwarded packet changes nothing",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
            Drop(11),
            Drop(10),
            Fwd(12, 6000, Some((1002, 56_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
        ],
    },
    Case {
        name: "dropping a late packet leaves a hole instead of shifting",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Fwd(12, 6000, Some((1002, 56_000))),
            // 1002 is already sent, so 11 cannot be squeezed out: its slot 1001 stays reserved.
            Drop(11),
            Fwd(13, 9000, Some((1003, 59_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
        ],
    },
    Case {
        name: "lost packets leave the same gap in the output",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Fwd(13, 9000, Some((1003, 59_000))),
            Fwd(14, 12_000, Some((1004, 62_000))),
        ],
    },
    Case {
        name: "input crossing the 16-bit wrap",
        initial: INIT,
        steps: &[
            Switch(65_534, 0, 0),
            Fwd(65_534, 0, Some((1000, 50_000))),
            Fwd(65_535, 3000, Some((1001, 53_000))),
            Fwd(65_536, 6000, Some((1002, 56_000))),
            Fwd(65_537, 9000, Some((1003, 59_000))),
        ],
    },
    Case {
        name: "reordering and drops across the 16-bit input wrap",
        initial: INIT,
        steps: &[
            Switch(65_534, 0, 0),
            Fwd(65_534, 0, Some((1000, 50_000))),
            Drop(65_536),
            Fwd(65_537, 9000, Some((1002, 59_000))),
            Fwd(65_535, 3000, Some((1001, 53_000))),
            Drop(65_538),
            Fwd(65_539, 15_000, Some((1003, 65_000))),
            Fwd(65_536, 6000, None),
        ],
    },
    Case {
        name: "output crossing the 16-bit wrap",
        initial: (65_534, 0),
        steps: &[
            Switch(7, 0, 0),
            Fwd(7, 0, Some((65_534, 0))),
            Fwd(8, 10, Some((65_535, 10))),
            Fwd(9, 20, Some((65_536, 20))),
            Drop(10),
            Fwd(11, 40, Some((65_537, 40))),
            Fwd(8, 10, Some((65_535, 10))),
        ],
    },
    Case {
        name: "input and output wrap together",
        initial: (65_535, 0),
        steps: &[
            Switch(131_071, 0, 0),
            Fwd(131_071, 0, Some((65_535, 0))),
            Fwd(131_072, 1, Some((65_536, 1))),
            Fwd(131_073, 2, Some((65_537, 2))),
        ],
    },
    Case {
        name: "output timestamp wraps",
        initial: (0, u32::MAX - 1000),
        steps: &[
            Switch(1, 0, 0),
            Fwd(1, 0, Some((0, u32::MAX - 1000))),
            Fwd(2, 3000, Some((1, 1999))),
            Fwd(3, 6000, Some((2, 4999))),
        ],
    },
    Case {
        name: "input timestamp wraps",
        initial: INIT,
        steps: &[
            Switch(1, u32::MAX - 100, 0),
            Fwd(1, u32::MAX - 100, Some((1000, 50_000))),
            Fwd(2, 2899, Some((1001, 53_000))),
            Fwd(3, 5899, Some((1002, 56_000))),
        ],
    },
    Case {
        name: "switches between unrelated sources with huge timestamp bases",
        initial: INIT,
        steps: &[
            Switch(100, 1_000_000_000, 0),
            Fwd(100, 1_000_000_000, Some((1000, 50_000))),
            Fwd(101, 1_000_003_000, Some((1001, 53_000))),
            Switch(40_000, 3_900_000_000, 3000),
            Fwd(40_000, 3_900_000_000, Some((1002, 56_000))),
            Fwd(40_001, 3_900_003_000, Some((1003, 59_000))),
            Switch(5, 7, 90),
            Fwd(5, 7, Some((1004, 59_090))),
            Fwd(6, 3007, Some((1005, 62_090))),
        ],
    },
    Case {
        name: "packets before the switch point are refused",
        initial: INIT,
        steps: &[
            Switch(100, 0, 0),
            Fwd(100, 0, Some((1000, 50_000))),
            Fwd(101, 3000, Some((1001, 53_000))),
            Switch(500, 0, 3000),
            Fwd(499, 0, None),
            Fwd(500, 0, Some((1002, 56_000))),
            Fwd(498, 0, None),
            Fwd(501, 3000, Some((1003, 59_000))),
            Drop(499),
            Fwd(502, 6000, Some((1004, 62_000))),
        ],
    },
    Case {
        name: "packets before the first switch are refused",
        initial: INIT,
        steps: &[
            Fwd(1, 0, None),
            Drop(2),
            Switch(3, 0, 0),
            Fwd(3, 0, Some((1000, 50_000))),
        ],
    },
    Case {
        name: "packet after the switch point arriving before it",
        initial: INIT,
        steps: &[
            Switch(500, 0, 0),
            Fwd(501, 3000, Some((1001, 53_000))),
            Fwd(500, 0, Some((1000, 50_000))),
            Fwd(502, 6000, Some((1002, 56_000))),
        ],
    },
    Case {
        name: "dropped switch-point packet",
        initial: INIT,
        steps: &[
            Switch(500, 0, 0),
            Drop(500),
            Fwd(501, 3000, Some((1000, 53_000))),
            Fwd(500, 0, None),
        ],
    },
    Case {
        name: "drops before a switch leave no gap",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
            Drop(12),
            Drop(13),
            Switch(900, 0, 6000),
            Fwd(900, 0, Some((1002, 59_000))),
        ],
    },
    Case {
        name: "late packet of the new source does not move the switch continuation back",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Fwd(12, 6000, Some((1002, 56_000))),
            Fwd(11, 3000, Some((1001, 53_000))),
            Switch(77, 0, 3000),
            Fwd(77, 0, Some((1003, 59_000))),
        ],
    },
    Case {
        name: "switch back to an earlier source that moved on",
        initial: INIT,
        steps: &[
            Switch(100, 1000, 0),
            Fwd(100, 1000, Some((1000, 50_000))),
            Fwd(101, 4000, Some((1001, 53_000))),
            Switch(7000, 9000, 3000),
            Fwd(7000, 9000, Some((1002, 56_000))),
            Switch(150, 151_000, 3000),
            Fwd(150, 151_000, Some((1003, 59_000))),
            Fwd(101, 4000, None),
            Fwd(151, 154_000, Some((1004, 62_000))),
        ],
    },
    Case {
        name: "switches with nothing forwarded in between",
        initial: INIT,
        steps: &[
            Switch(100, 0, 0),
            Switch(200, 5, 3000),
            Fwd(200, 5, Some((1000, 50_000))),
            Switch(300, 0, 3000),
            Switch(400, 0, 6000),
            Fwd(400, 0, Some((1001, 56_000))),
        ],
    },
    Case {
        name: "timestamp advance at a switch wraps",
        initial: (0, u32::MAX - 10),
        steps: &[
            Switch(1, 0, 0),
            Fwd(1, 0, Some((0, u32::MAX - 10))),
            Switch(50, 123, 20),
            Fwd(50, 123, Some((1, 9))),
        ],
    },
    Case {
        name: "sequence jump keeps its distance and older packets still map",
        initial: INIT,
        steps: &[
            Switch(10, 0, 0),
            Fwd(10, 0, Some((1000, 50_000))),
            Fwd(20_010, 0, Some((21_000, 50_000))),
            Fwd(11, 0, Some((1001, 50_000))),
            Fwd(20_011, 0, Some((21_001, 50_000))),
        ],
    },
    Case {
        name: "without drops very old packets still map",
        initial: INIT,
        steps: &[
            Switch(0, 0, 0),
            Fwd(0, 0, Some((1000, 50_000))),
            Fwd(50_000, 0, Some((51_000, 50_000))),
            Fwd(1, 0, Some((1001, 50_000))),
        ],
    },
    Case {
        name: "packets before a forgotten drop are refused, later ones still map",
        initial: INIT,
        steps: &[
            Switch(0, 0, 0),
            Fwd(0, 0, Some((1000, 50_000))),
            Drop(1),
            Fwd(2, 20, Some((1001, 50_020))),
            Fwd(DROP_HISTORY + 1, 0, Some((DROP_HISTORY + 1000, 50_000))),
            // The drop of 1 is still within the history: 0 maps exactly.
            Fwd(0, 0, Some((1000, 50_000))),
            Fwd(DROP_HISTORY + 2, 0, Some((DROP_HISTORY + 1001, 50_000))),
            // Now forgotten: 0 can no longer be placed for sure, 2 can.
            Fwd(0, 0, None),
            Fwd(2, 20, Some((1001, 50_020))),
        ],
    },
    Case {
        name: "initial sequence number zero",
        initial: (0, 0),
        steps: &[
            Switch(12_345, 678, 0),
            Fwd(12_345, 678, Some((0, 0))),
            Fwd(12_346, 1678, Some((1, 1000))),
        ],
    },
];

#[test]
fn table() {
    for case in CASES {
        let mut rw = RtpRewriter::new(case.initial.0, case.initial.1);
        for (idx, step) in case.steps.iter().enumerate() {
            match *step {
                Switch(seq, ts, advance) => rw.switch_source(seq, ts, advance),
                Drop(seq) => rw.drop_packet(seq),
                Fwd(seq, ts, expected) => assert_eq!(
                    rw.rewrite(seq, ts),
                    expected,
                    "case {:?}, step {idx}: {step:?}",
                    case.name
                ),
            }
        }
    }
}

#[test]
fn accessors_follow_the_highest_output() {
    let mut rw = RtpRewriter::new(1000, 50_000);
    assert_eq!((rw.last_output_seq(), rw.last_output_ts()), (None, None));

    rw.switch_source(10, 0, 0);
    assert_eq!(rw.last_output_seq(), None, "a switch alone sends nothing");
    rw.drop_packet(10);
    assert_eq!(rw.last_output_seq(), None, "a drop sends nothing");

    assert_eq!(rw.rewrite(12, 6000), Some((1001, 56_000)));
    assert_eq!(rw.last_output_seq(), Some(1001));
    assert_eq!(rw.last_output_ts(), Some(56_000));

    // A late packet is sent but is not the newest.
    assert_eq!(rw.rewrite(11, 3000), Some((1000, 53_000)));
    assert_eq!(rw.last_output_seq(), Some(1001));
    assert_eq!(rw.last_output_ts(), Some(56_000));

    // Refused packets change nothing.
    assert_eq!(rw.rewrite(9, 0), None);
    assert_eq!(rw.last_output_seq(), Some(1001));
}

#[test]
fn drop_history_is_bounded() {
    let mut rw = RtpRewriter::new(0, 0);
    rw.switch_source(0, 0, 0);
    // Drop every other packet for many times the history.
    for seq in 0..(DROP_HISTORY * 10) {
        if seq % 2 == 0 {
            rw.drop_packet(seq);
        } else {
            assert_eq!(rw.rewrite(seq, 0), Some((seq / 2, 0)));
        }
    }
    let source = rw.source.as_ref().map(|s| s.seq.remembered_drops());
    assert!(source.is_some_and(|n| n as u64 <= DROP_HISTORY / 2 + 1));
}
