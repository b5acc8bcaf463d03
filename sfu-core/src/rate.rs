//! Sliding-window bitrate and packet-rate measurement in virtual time.
//!
//! The allocator needs each layer's current bitrate and the down tracks their sent rate, updated
//! on every packet: [`BitrateMeter`] is a fixed ring of buckets, so recording a packet is a few
//! arithmetic operations and never allocates.

use std::time::{Duration, Instant};

/// Buckets per window: the estimate moves in steps of a tenth of the window.
const BUCKETS: usize = 10;

/// Bytes and packets recorded during one bucket's span of time.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Index of the span since the meter's origin that these counts belong to.
    index: u64,
    bytes: u64,
    packets: u64,
}

/// Bitrate and packet rate over a sliding window, fed with `(bytes, now)`.
///
/// The window is the current (partial) bucket and the full ones before it. During the first
/// window after the first packet, rates are averaged over the time since that packet (at least
/// one bucket), so a new stream is neither ignored nor wildly overestimated.
#[derive(Debug, Clone)]
pub struct BitrateMeter {
    /// Span of one bucket, in nanoseconds (at least 1).
    bucket_nanos: u64,
    /// When the first packet was recorded: bucket indices count from here.
    origin: Option<Instant>,
    /// Ring of buckets, slot `index % BUCKETS`.
    buckets: [Bucket; BUCKETS],
}

impl Default for BitrateMeter {
    /// A meter over one second.
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

impl BitrateMeter {
    /// A meter averaging over `window` (at least a few nanoseconds; one second is usual).
    pub fn new(window: Duration) -> Self {
        let nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        Self {
            bucket_nanos: (nanos / BUCKETS as u64).max(1),
            origin: None,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    /// The span the rates are averaged over, once the meter has run a full window.
    pub fn window(&self) -> Duration {
        Duration::from_nanos(self.bucket_nanos.saturating_mul(BUCKETS as u64))
    }

    /// Records a packet of `bytes` at `now`; one older than the window is ignored.
    pub fn record(&mut self, bytes: usize, now: Instant) {
        let origin = *self.origin.get_or_insert(now);
        let index = self.index_at(origin, now);
        let Some(bucket) = self.buckets.get_mut(slot(index)) else {
            return;
        };
        if bucket.index != index {
            if bucket.index > index {
                // The slot already holds a newer span: this packet is older than the window.
                return;
            }
            *bucket = Bucket {
                index,
                ..Bucket::default()
            };
        }
        bucket.bytes = bucket.bytes.saturating_add(bytes as u64);
        bucket.packets = bucket.packets.saturating_add(1);
    }

    /// Bits per second over the window ending at `now`; 0 before any packet.
    pub fn bitrate_bps(&self, now: Instant) -> u64 {
        self.rate(now, |b| b.bytes.saturating_mul(8))
    }

    /// Packets per second over the window ending at `now`; 0 before any packet.
    pub fn packet_rate(&self, now: Instant) -> u64 {
        self.rate(now, |b| b.packets)
    }

    /// The per-second rate of `count` over the window ending at `now`.
    fn rate(&self, now: Instant, count: impl Fn(&Bucket) -> u64) -> u64 {
        let Some(origin) = self.origin else {
            return 0;
        };
        let index = self.index_at(origin, now);
        let oldest = index.saturating_sub(BUCKETS as u64 - 1);
        let total: u128 = self
            .buckets
            .iter()
            .filter(|b| (oldest..=index).contains(&b.index))
            .map(|b| u128::from(count(b)))
            .sum();
        let elapsed = now.saturating_duration_since(origin).as_nanos();
        let bucket = u128::from(self.bucket_nanos);
        // The full buckets before the current one, plus the elapsed part of the current one;
        // never less than a bucket (a burst at the very start) nor more than the time since the
        // first packet (the meter has not run a full window yet).
        let full_window = (BUCKETS as u128 - 1) * bucket + elapsed % bucket;
        let span = full_window.min(elapsed).max(bucket);
        u64::try_from(total * 1_000_000_000 / span).unwrap_or(u64::MAX)
    }

    /// The bucket index of `now`, counted from `origin` (0 for a `now` before it).
    fn index_at(&self, origin: Instant, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(origin).as_nanos();
        u64::try_from(nanos / u128::from(self.bucket_nanos)).unwrap_or(u64::MAX)
    }
}

/// The ring slot of a bucket index.
fn slot(index: u64) -> usize {
    (index % BUCKETS as u64) as usize
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::BitrateMeter;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn empty_meter_reads_zero() {
        let meter = BitrateMeter::default();
        let now = Instant::now();
        assert_eq!(meter.bitrate_bps(now), 0);
        assert_eq!(meter.packet_rate(now), 0);
        assert_eq!(meter.window(), Duration::from_secs(1));
    }

    #[test]
    fn steady_stream_reads_its_rate() {
        let t0 = Instant::now();
        let mut meter = BitrateMeter::default();
        // 1000 bytes every 10 ms: 800 kbit/s, 100 packets/s.
        for i in 0..300 {
            meter.record(1000, t0 + ms(10 * i));
        }
        let now = t0 + ms(2995);
        let bps = meter.bitrate_bps(now);
        assert!(bps.abs_diff(800_000) <= 800_000 / 50, "{bps}");
        assert!(meter.packet_rate(now).abs_diff(100) <= 2);
    }

    #[test]
    fn starting_stream_is_neither_ignored_nor_inflated() {
        let t0 = Instant::now();
        let mut meter = BitrateMeter::default();
        for i in 0..30 {
            meter.record(1000, t0 + ms(10 * i));
        }
        // 300 ms of an 800 kbit/s stream.
        let bps = meter.bitrate_bps(t0 + ms(300));
        assert!(bps.abs_diff(800_000) <= 800_000 / 20, "{bps}");
        // A single first packet counts over one bucket, not over zero time.
        let mut first = BitrateMeter::default();
        first.record(1250, t0);
        assert_eq!(first.bitrate_bps(t0), 100_000);
    }

    #[test]
    fn rate_decays_to_zero_when_packets_stop() {
        let t0 = Instant::now();
        let mut meter = BitrateMeter::default();
        for i in 0..200 {
            meter.record(500, t0 + ms(10 * i));
        }
        let stop = t0 + ms(2000);
        // Half a second later the window (900 ms at a bucket boundary) holds 400 ms of packets.
        let half = meter.bitrate_bps(stop + ms(500));
        assert!(half.abs_diff(177_777) <= 1_000, "{half}");
        assert_eq!(meter.bitrate_bps(stop + ms(1000)), 0);
        assert_eq!(meter.bitrate_bps(stop + Duration::from_secs(3600)), 0);
        // And starts again after a long silence without stale buckets.
        meter.record(500, stop + Duration::from_secs(3600));
        assert!(meter.bitrate_bps(stop + Duration::from_secs(3600)) <= 40_000);
    }

    #[test]
    fn late_samples_outside_the_window_are_ignored() {
        let t0 = Instant::now();
        let mut meter = BitrateMeter::default();
        meter.record(1000, t0);
        meter.record(1000, t0 + ms(3000));
        // A clock going back by 2.5 s: in the window's past, dropped.
        meter.record(1_000_000, t0 + ms(500));
        assert!(meter.bitrate_bps(t0 + ms(3000)) < 10_000);
        // Before the origin counts as the origin, harmlessly old.
        meter.record(1_000_000, t0 - ms(5));
        assert!(meter.bitrate_bps(t0 + ms(3000)) < 10_000);
    }

    #[test]
    fn short_windows_work() {
        let t0 = Instant::now();
        let mut meter = BitrateMeter::new(ms(100));
        for i in 0..100 {
            meter.record(100, t0 + ms(i));
        }
        let bps = meter.bitrate_bps(t0 + ms(99));
        assert!(bps.abs_diff(800_000) <= 800_000 / 10, "{bps}");
        let tiny = BitrateMeter::new(Duration::ZERO);
        assert_eq!(tiny.window(), Duration::from_nanos(10));
    }

    proptest! {
        #[test]
        fn constant_rate_is_measured_within_a_bucket(
            bytes in 1usize..2000,
            interval_ms in 1u64..100,
            run_ms in 1000u64..5000,
        ) {
            let t0 = Instant::now();
            let mut meter = BitrateMeter::default();
            let n = run_ms / interval_ms;
            for i in 0..=n {
                meter.record(bytes, t0 + ms(i * interval_ms));
            }
            let now = t0 + ms(n * interval_ms);
            let expected = bytes as f64 * 8.0 * 1000.0 / interval_ms as f64;
            let got = meter.bitrate_bps(now) as f64;
            // Discretization: up to one packet more or less than the window holds.
            let slack = bytes as f64 * 8.0 * 1000.0 / 900.0 + expected * 0.02;
            prop_assert!((got - expected).abs() <= slack, "{} vs {}", got, expected);
        }

        #[test]
        fn never_panics(
            events in prop::collection::vec((any::<usize>(), 0u64..1 << 40), 0..100),
            window_nanos in any::<u64>(),
        ) {
            let t0 = Instant::now();
            let mut meter = BitrateMeter::new(Duration::from_nanos(window_nanos));
            for (bytes, at) in events {
                let now = t0 + Duration::from_nanos(at);
                meter.record(bytes, now);
                let _ = meter.bitrate_bps(now);
                let _ = meter.packet_rate(now);
            }
        }
    }
}
