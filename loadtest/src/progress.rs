//! One status line per second while the load runs.

use std::time::{Duration, Instant};

use crate::cost::CostSample;
use crate::engine::Snapshot;

/// Rates between two snapshots.
pub struct Progress {
    last: Snapshot,
    last_at: Instant,
    last_cpu: Option<f64>,
    started: Instant,
}

impl Progress {
    /// Starts counting from now.
    pub fn new(now: Instant) -> Self {
        Progress {
            last: Snapshot::default(),
            last_at: now,
            last_cpu: None,
            started: now,
        }
    }

    /// The line for `snap` taken at `now`, with the server's cost when known.
    pub fn line(
        &mut self,
        snap: &Snapshot,
        cost: &CostSample,
        planned: usize,
        now: Instant,
    ) -> String {
        let dt = now
            .saturating_duration_since(self.last_at)
            .max(Duration::from_millis(1))
            .as_secs_f64();
        let c = &snap.counters;
        let l = &self.last.counters;
        let pps_in = (c.media_packets_in - l.media_packets_in) as f64 / dt;
        let pps_out = (c.media_packets_out - l.media_packets_out) as f64 / dt;
        let mbps_in = (c.datagram_bytes_in - l.datagram_bytes_in) as f64 * 8.0 / dt / 1e6;
        let mbps_out = (c.datagram_bytes_out - l.datagram_bytes_out) as f64 * 8.0 / dt / 1e6;
        let expected = snap.expected_in.saturating_sub(self.last.expected_in);
        let received = snap.received_in.saturating_sub(self.last.received_in);
        let loss = if expected > 0 {
            expected.saturating_sub(received) as f64 * 100.0 / expected as f64
        } else {
            0.0
        };
        let cpu = match (self.last_cpu, cost.cpu_seconds) {
            (Some(a), Some(b)) => format!(" | server {:.0}% cpu", (b - a) * 100.0 / dt),
            _ => String::new(),
        };
        let rss = cost
            .rss_bytes
            .map(|b| format!(" {:.0} MB", b as f64 / 1e6))
            .unwrap_or_default();
        self.last = snap.clone();
        self.last_at = now;
        self.last_cpu = cost.cpu_seconds;
        format!(
            "[{:>4.0}s] connected {}/{} failed {} | out {:.0} pkt/s {:.1} Mbit/s | in {:.0} pkt/s {:.1} Mbit/s | loss {:.2}%{}{}",
            now.saturating_duration_since(self.started).as_secs_f64(),
            snap.connected,
            planned,
            snap.failed,
            pps_out,
            mbps_out,
            pps_in,
            mbps_in,
            loss,
            cpu,
            rss
        )
    }
}
