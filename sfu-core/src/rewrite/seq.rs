//! Sequence-number mapping of one source stream onto the output stream.
//!
//! The approach is mediasoup's `SeqManager`: one offset for the newest packets, lowered by one at
//! every drop so the output stays gap-free, plus a record of the dropped inputs so that a packet
//! arriving late (reordered, or a retransmission) gets back the drops that lie after it.
//! Because inputs are 64-bit extended sequence numbers, no 16-bit wrap logic is needed here.

use std::collections::VecDeque;

/// How far behind the newest input (in input sequence numbers) a drop is remembered.
///
/// A packet this late is useless to a subscriber, so a small bound keeps memory and lookups cheap
/// even when half the packets are dropped (temporal-layer filtering); an input older than a
/// forgotten drop can no longer be mapped exactly and is refused instead of guessed.
pub(crate) const DROP_HISTORY: u64 = 2048;

/// Maps the extended sequence numbers of one source onto extended output sequence numbers.
#[derive(Debug, Clone)]
pub(crate) struct SeqMap {
    /// Output minus input (wrapping) for an input newer than every remembered drop.
    offset: u64,
    /// The lowest input that still maps exactly: the switch point, raised past forgotten drops.
    first_exact: u64,
    /// The highest input seen so far, forwarded or dropped.
    max_input: Option<u64>,
    /// Dropped inputs not yet forgotten, strictly ascending (only a new highest input can be
    /// dropped, see [`SeqMap::drop_input`]).
    dropped: VecDeque<u64>,
}

impl SeqMap {
    /// A mapping where `first_input` becomes `first_output` and older inputs are refused.
    pub(crate) fn new(first_input: u64, first_output: u64) -> Self {
        Self {
            offset: first_output.wrapping_sub(first_input),
            first_exact: first_input,
            max_input: None,
            dropped: VecDeque::new(),
        }
    }

    /// The output for `input`, or `None` if it precedes the switch point, was dropped, or is too
    /// old to be mapped exactly.
    pub(crate) fn map(&mut self, input: u64) -> Option<u64> {
        if input < self.first_exact {
            return None;
        }
        // Every drop after this input had already lowered the offset when it happened, but this
        // input was numbered before them: give those slots back.
        let later_drops = if self.is_newest(input) {
            0
        } else {
            match self.dropped.binary_search(&input) {
                Ok(_) => return None,
                Err(idx) => self.dropped.len() - idx,
            }
        };
        self.advance(input);
        Some(
            input
                .wrapping_add(self.offset)
                .wrapping_add(later_drops as u64),
        )
    }

    /// Records that `input` is not forwarded, so later inputs shift down by one.
    ///
    /// Only an input newer than all seen so far can be removed from the output: an older one
    /// already has its output slot fixed by the newer packets sent after it, so it leaves a hole.
    pub(crate) fn drop_input(&mut self, input: u64) {
        if input < self.first_exact || !self.is_newest(input) {
            return;
        }
        self.offset = self.offset.wrapping_sub(1);
        self.dropped.push_back(input);
        self.advance(input);
    }

    /// How many drops are remembered, to check that the record stays bounded.
    #[cfg(test)]
    pub(crate) fn remembered_drops(&self) -> usize {
        self.dropped.len()
    }

    /// Whether `input` is newer than every input seen so far.
    fn is_newest(&self, input: u64) -> bool {
        self.max_input.is_none_or(|max| input > max)
    }

    /// Moves the newest input forward and forgets drops that fell out of the history.
    fn advance(&mut self, input: u64) {
        if !self.is_newest(input) {
            return;
        }
        self.max_input = Some(input);
        let horizon = input.saturating_sub(DROP_HISTORY);
        while let Some(&oldest) = self.dropped.front()
            && oldest < horizon
        {
            self.dropped.pop_front();
            // An input before a forgotten drop would miss that drop's slot and collide with
            // another output; refusing it is safer than sending a wrong sequence number.
            self.first_exact = self.first_exact.max(oldest + 1);
        }
    }
}
