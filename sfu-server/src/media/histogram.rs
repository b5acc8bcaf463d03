//! A histogram the media worker owns outright: observing is a bucket search and three plain
//! additions (no atomic, no lock), and a scrape copies it out with the other counters.

/// Upper bounds (seconds) of the forwarding latency buckets: microseconds when forwarding
/// straight through, milliseconds when fan-out to hundreds or a pacer holds packets back. Fine
/// between 0.5 and 5 ms, where the latency target of docs/benchmarks.md (p50 0.5 ms, p99 2 ms)
/// has to be read.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.003, 0.004,
    0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Upper bounds (bits/s) of the bandwidth estimate buckets: an audio-only link to a
/// full-HD simulcast stack and beyond.
pub const BANDWIDTH_BUCKETS: &[f64] = &[
    64e3, 128e3, 256e3, 512e3, 1e6, 2e6, 3e6, 5e6, 8e6, 12e6, 20e6, 50e6,
];

/// Counts per bucket (not cumulative), the sum and the count of the observed values.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalHistogram {
    /// Upper bounds, ascending; the implicit last bucket is +Inf.
    pub bounds: &'static [f64],
    /// Observations per bucket (`bounds.len() + 1` entries, the last one for +Inf).
    pub counts: Vec<u64>,
    /// Sum of the observed values.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl LocalHistogram {
    /// An empty histogram over `bounds`.
    pub fn new(bounds: &'static [f64]) -> Self {
        LocalHistogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one value.
    pub fn observe(&mut self, value: f64) {
        // Prometheus buckets are `le`: a value equal to a bound belongs to it.
        let bucket = self.bounds.partition_point(|b| *b < value);
        self.counts[bucket] += 1;
        self.sum += value;
        self.count += 1;
    }

    /// (upper bound, cumulative count) per finite bucket, as Prometheus exposes them.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.bounds
            .iter()
            .zip(self.counts.iter().scan(0u64, |acc, c| {
                *acc += c;
                Some(*acc)
            }))
            .map(|(b, c)| (*b, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_le_buckets_and_accumulate() {
        let mut h = LocalHistogram::new(&[1.0, 2.0, 5.0]);
        for v in [0.5, 1.0, 1.5, 5.0, 9.0] {
            h.observe(v);
        }
        assert_eq!(h.counts, vec![2, 1, 1, 1]);
        assert_eq!(h.count, 5);
        assert_eq!(h.sum, 17.0);
        let cumulative: Vec<_> = h.cumulative().collect();
        assert_eq!(cumulative, vec![(1.0, 2), (2.0, 3), (5.0, 4)]);
    }

    #[test]
    fn bucket_bounds_ascend() {
        for bounds in [LATENCY_BUCKETS, BANDWIDTH_BUCKETS] {
            assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
