//! NACK counts for the metrics, from the stack's periodic per-stream statistics.
//!
//! str0m answers NACKs itself (from its RTX cache) and sends its own toward publishers; all it
//! tells is a cumulative count per stream once per stats interval. This turns those totals into
//! increments the worker can add to its counters.

use std::collections::HashMap;

/// NACKs counted since the worker last took them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NackCounts {
    /// NACK feedback received from this peer as a subscriber (for its down tracks).
    pub received: u64,
    /// NACK feedback sent to this peer as a publisher (for its published tracks).
    pub sent: u64,
}

/// Which way a stream's NACKs travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum NackDirection {
    /// The stream we send (the remote NACKs us).
    Received,
    /// The stream we receive (we NACK the remote).
    Sent,
}

/// The last cumulative total per stream, and the increments not yet taken.
#[derive(Debug, Default)]
pub(super) struct NackTally {
    /// (m-line, RID, direction) -> last total reported.
    last: HashMap<(String, Option<String>, NackDirection), u64>,
    pending: NackCounts,
}

impl NackTally {
    /// Records a stream's cumulative NACK count.
    pub(super) fn report(
        &mut self,
        mid: String,
        rid: Option<String>,
        direction: NackDirection,
        total: u64,
    ) {
        let last = self.last.insert((mid, rid, direction), total).unwrap_or(0);
        // A total below the last one is a new stream on the same m-line: it counts from zero.
        let increment = if total >= last { total - last } else { total };
        match direction {
            NackDirection::Received => self.pending.received += increment,
            NackDirection::Sent => self.pending.sent += increment,
        }
    }

    /// The increments since the last call.
    pub(super) fn take(&mut self) -> NackCounts {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_totals_become_increments() {
        let mut t = NackTally::default();
        t.report("0".into(), None, NackDirection::Received, 3);
        t.report("1".into(), Some("f".into()), NackDirection::Sent, 2);
        assert_eq!(
            t.take(),
            NackCounts {
                received: 3,
                sent: 2
            }
        );
        t.report("0".into(), None, NackDirection::Received, 5);
        t.report("1".into(), Some("f".into()), NackDirection::Sent, 2);
        assert_eq!(
            t.take(),
            NackCounts {
                received: 2,
                sent: 0
            }
        );
        // A reset stream starts over.
        t.report("0".into(), None, NackDirection::Received, 1);
        assert_eq!(t.take().received, 1);
        assert_eq!(t.take(), NackCounts::default());
    }
}
