//! What the engine counts: per-connection counters and engine-wide histograms.

use std::ops::AddAssign;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Traffic counters of one connection (or a sum of them).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counters {
    /// RTP packets written by our publishers.
    pub media_packets_out: u64,
    /// RTP payload bytes written by our publishers.
    pub media_bytes_out: u64,
    /// RTP packets received (forwarded by the server), with payload.
    pub media_packets_in: u64,
    /// RTP payload bytes received.
    pub media_bytes_in: u64,
    /// UDP datagrams sent (media, RTCP, STUN, DTLS).
    pub datagrams_out: u64,
    /// UDP bytes sent.
    pub datagram_bytes_out: u64,
    /// UDP datagrams received.
    pub datagrams_in: u64,
    /// UDP bytes received.
    pub datagram_bytes_in: u64,
    /// Keyframe requests (PLI/FIR) the server sent our publishers.
    pub keyframe_requests_in: u64,
    /// Datagrams the socket refused to send.
    pub send_errors: u64,
    /// Datagrams the stack refused.
    pub input_errors: u64,
}

impl AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.media_packets_out += o.media_packets_out;
        self.media_bytes_out += o.media_bytes_out;
        self.media_packets_in += o.media_packets_in;
        self.media_bytes_in += o.media_bytes_in;
        self.datagrams_out += o.datagrams_out;
        self.datagram_bytes_out += o.datagram_bytes_out;
        self.datagrams_in += o.datagrams_in;
        self.datagram_bytes_in += o.datagram_bytes_in;
        self.keyframe_requests_in += o.keyframe_requests_in;
        self.send_errors += o.send_errors;
        self.input_errors += o.input_errors;
    }
}

/// Highest latency the histograms hold (longer samples are clamped).
const MAX_TRACKED_US: u64 = 60_000_000;

/// Engine-wide distributions: forwarding latency and join time.
pub struct Recorder {
    latency_us: Histogram<u64>,
    join_us: Histogram<u64>,
    /// Whether latency samples are kept (off during the ramp).
    pub measuring: bool,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency_us: new_histogram(),
            join_us: new_histogram(),
            measuring: true,
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_US, 3).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_TRACKED_US)
}

impl Recorder {
    /// One forwarding latency sample.
    pub fn record_latency(&mut self, d: Duration) {
        if self.measuring {
            let _ = self.latency_us.record(micros(d));
        }
    }

    /// One connection's join time (signalling start to ICE+DTLS connected).
    pub fn record_join(&mut self, d: Duration) {
        let _ = self.join_us.record(micros(d));
    }

    /// Drops the latency samples so far (the measurement window starts).
    pub fn reset_latency(&mut self) {
        self.latency_us.reset();
    }

    /// Summary of the latency samples.
    pub fn latency(&self) -> Distribution {
        Distribution::of(&self.latency_us)
    }

    /// Summary of the join times.
    pub fn join(&self) -> Distribution {
        Distribution::of(&self.join_us)
    }
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Distribution {
    /// Number of samples.
    pub samples: u64,
    /// Median (ms).
    pub p50_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// Maximum (ms).
    pub max_ms: f64,
}

impl Distribution {
    fn of(h: &Histogram<u64>) -> Distribution {
        if h.is_empty() {
            return Distribution::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Distribution {
            samples: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}
