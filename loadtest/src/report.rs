//! The end-of-run report: a table on stdout and the same figures as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::cost::CostSample;
use crate::engine::Snapshot;
use crate::engine::stats::Distribution;

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `meeting`, `webinar` or `audio`.
    pub scenario: String,
    /// `sfu` or `janus`.
    pub target: String,
    /// Unix time the run started (s).
    pub started_unix_s: u64,
    /// The flags that shaped the load.
    pub config: serde_json::Value,
    /// The machine the run was on.
    pub machine: Machine,
    /// Joins.
    pub participants: Participants,
    /// Join time (signalling start to ICE+DTLS connected).
    pub join_ms: Distribution,
    /// Length of the measurement window (full load held), seconds.
    pub window_s: f64,
    /// Traffic of the whole run.
    pub media: Media,
    /// Packets lost toward subscribers, from sequence numbers.
    pub loss: Loss,
    /// RTCP feedback.
    pub feedback: Feedback,
    /// Forwarding latency: publisher send to subscriber receive, over the window.
    pub latency_ms: Distribution,
    /// The server's cost over the window.
    pub server: ServerCost,
}

/// Host facts.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// CPU model name.
    pub cpu_model: String,
    /// 1-minute load average at the start (other processes on a shared machine).
    pub loadavg_start: Option<f64>,
    /// 1-minute load average at the end.
    pub loadavg_end: Option<f64>,
}

impl Machine {
    /// Reads /proc/cpuinfo and /proc/loadavg.
    pub fn detect(loadavg_start: Option<f64>) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("unknown")
            .trim()
            .to_owned();
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            loadavg_start,
            loadavg_end: loadavg(),
        }
    }
}

/// The 1-minute load average.
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Join results.
#[derive(Debug, Clone, Serialize)]
pub struct Participants {
    /// Participants the scenario asked for.
    pub planned: usize,
    /// Peer connections opened (Janus: one per publisher and one per subscription).
    pub connections: usize,
    /// Participants whose media connected.
    pub connected: usize,
    /// Participants that did not connect or dropped.
    pub failed: usize,
    /// Failure reasons and how often each occurred.
    pub failure_reasons: BTreeMap<String, usize>,
}

/// Packet and byte counts, whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Media {
    /// RTP packets our publishers sent.
    pub packets_out: u64,
    /// RTP payload bytes our publishers sent.
    pub bytes_out: u64,
    /// RTP packets our subscribers received.
    pub packets_in: u64,
    /// RTP payload bytes our subscribers received.
    pub bytes_in: u64,
    /// UDP datagrams sent / received (RTP, RTCP, STUN, DTLS).
    pub datagrams_out: u64,
    /// UDP datagrams received.
    pub datagrams_in: u64,
    /// UDP bytes sent.
    pub datagram_bytes_out: u64,
    /// UDP bytes received.
    pub datagram_bytes_in: u64,
    /// Packets/s received over the window.
    pub packets_in_per_s: f64,
    /// Packets/s sent over the window.
    pub packets_out_per_s: f64,
    /// Bits/s received (UDP) over the window.
    pub bitrate_in_bps: f64,
    /// Bits/s sent (UDP) over the window.
    pub bitrate_out_bps: f64,
    /// Datagrams our sockets refused to send.
    pub send_errors: u64,
}

/// Loss toward subscribers.
#[derive(Debug, Clone, Serialize)]
pub struct Loss {
    /// Packets expected from sequence number ranges.
    pub expected: u64,
    /// Packets received of those.
    pub received: u64,
    /// Expected minus received.
    pub lost: u64,
    /// lost / expected, in percent.
    pub percent: f64,
}

/// RTCP feedback counts.
#[derive(Debug, Clone, Serialize)]
pub struct Feedback {
    /// NACKs our subscribers sent.
    pub nacks_sent: u64,
    /// NACKs the server sent our publishers.
    pub nacks_received: u64,
    /// PLIs/FIRs our subscribers sent.
    pub plis_sent: u64,
    /// PLIs/FIRs the server sent our publishers.
    pub plis_received: u64,
}

/// The server's cost over the measurement window.
#[derive(Debug, Clone, Serialize)]
pub struct ServerCost {
    /// `metrics`, `proc`, `proc+metrics` or `none`.
    pub source: String,
    /// CPU seconds used during the window.
    pub cpu_seconds: Option<f64>,
    /// CPU use during the window, percent of one core.
    pub cpu_percent: Option<f64>,
    /// Resident memory before anyone joined.
    pub baseline_rss_bytes: Option<u64>,
    /// Highest resident memory seen.
    pub peak_rss_bytes: Option<u64>,
    /// (peak - baseline) / connected participants.
    pub rss_per_participant_bytes: Option<u64>,
    /// Packets our subscribers received during the window (what the server forwarded to them).
    pub forwarded_packets: u64,
    /// The server's own forwarded counter over the window, when it has one.
    pub server_forwarded_packets: Option<u64>,
    /// CPU microseconds per forwarded packet (`cpu_seconds / forwarded_packets`).
    pub cpu_us_per_forwarded_packet: Option<f64>,
}

/// Inputs the report is computed from.
pub struct Inputs<'a> {
    /// Totals at the end of the run.
    pub end: &'a Snapshot,
    /// Totals when the window began.
    pub window_start: &'a Snapshot,
    /// Totals when the window ended.
    pub window_end: &'a Snapshot,
    /// Cost before any participant joined.
    pub baseline: CostSample,
    /// Cost when the window began.
    pub cost_start: CostSample,
    /// Cost when the window ended.
    pub cost_end: CostSample,
    /// Highest RSS any sample saw.
    pub peak_rss: Option<u64>,
    /// Window length in seconds.
    pub window_s: f64,
    /// Participants whose media connected.
    pub connected: usize,
}

/// Builds the traffic, loss and cost sections.
pub fn compute(i: &Inputs) -> (Media, Loss, Feedback, ServerCost) {
    let c = &i.end.counters;
    let ws = &i.window_start.counters;
    let we = &i.window_end.counters;
    let per_s = |a: u64, b: u64| {
        if i.window_s > 0.0 {
            b.saturating_sub(a) as f64 / i.window_s
        } else {
            0.0
        }
    };
    let media = Media {
        packets_out: c.media_packets_out,
        bytes_out: c.media_bytes_out,
        packets_in: c.media_packets_in,
        bytes_in: c.media_bytes_in,
        datagrams_out: c.datagrams_out,
        datagrams_in: c.datagrams_in,
        datagram_bytes_out: c.datagram_bytes_out,
        datagram_bytes_in: c.datagram_bytes_in,
        packets_in_per_s: per_s(ws.media_packets_in, we.media_packets_in),
        packets_out_per_s: per_s(ws.media_packets_out, we.media_packets_out),
        bitrate_in_bps: per_s(ws.datagram_bytes_in, we.datagram_bytes_in) * 8.0,
        bitrate_out_bps: per_s(ws.datagram_bytes_out, we.datagram_bytes_out) * 8.0,
        send_errors: c.send_errors,
    };
    let lost = i.end.expected_in.saturating_sub(i.end.received_in);
    let loss = Loss {
        expected: i.end.expected_in,
        received: i.end.received_in,
        lost,
        percent: if i.end.expected_in > 0 {
            lost as f64 * 100.0 / i.end.expected_in as f64
        } else {
            0.0
        },
    };
    let feedback = Feedback {
        nacks_sent: i.end.nacks_sent,
        nacks_received: i.end.nacks_received,
        plis_sent: i.end.plis_sent,
        plis_received: i.end.plis_received.max(c.keyframe_requests_in),
    };
    let cpu_seconds = match (i.cost_start.cpu_seconds, i.cost_end.cpu_seconds) {
        (Some(a), Some(b)) => Some((b - a).max(0.0)),
        _ => None,
    };
    let forwarded_packets = we.media_packets_in.saturating_sub(ws.media_packets_in);
    let server_forwarded_packets = match (i.cost_start.forwarded, i.cost_end.forwarded) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let peak = [i.peak_rss, i.cost_end.peak_rss_bytes, i.cost_end.rss_bytes]
        .into_iter()
        .flatten()
        .max();
    let baseline = i.baseline.rss_bytes;
    let server = ServerCost {
        source: String::new(),
        cpu_seconds,
        cpu_percent: cpu_seconds
            .filter(|_| i.window_s > 0.0)
            .map(|s| s * 100.0 / i.window_s),
        baseline_rss_bytes: baseline,
        peak_rss_bytes: peak,
        rss_per_participant_bytes: match (peak, baseline) {
            (Some(p), Some(b)) if i.connected > 0 => Some(p.saturating_sub(b) / i.connected as u64),
            _ => None,
        },
        forwarded_packets,
        server_forwarded_packets,
        cpu_us_per_forwarded_packet: cpu_seconds
            .filter(|_| forwarded_packets > 0)
            .map(|s| s * 1e6 / forwarded_packets as f64),
    };
    (media, loss, feedback, server)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn mb(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |b| format!("{:.1} MB", b as f64 / 1e6))
}

impl Report {
    /// The report as a two-column text table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |k: &str, v: String| rows.push((k.to_owned(), v));
        let p = &self.participants;
        row(
            "scenario / target",
            format!("{} / {}", self.scenario, self.target),
        );
        row(
            "participants",
            format!(
                "{} planned, {} connected, {} failed",
                p.planned, p.connected, p.failed
            ),
        );
        row(
            "join time p50 / p99",
            format!("{:.1} / {:.1} ms", self.join_ms.p50_ms, self.join_ms.p99_ms),
        );
        row("window", format!("{:.1} s", self.window_s));
        let m = &self.media;
        row(
            "packets out / in",
            format!(
                "{} / {} ({:.0} / {:.0} per s)",
                m.packets_out, m.packets_in, m.packets_out_per_s, m.packets_in_per_s
            ),
        );
        row(
            "bytes out / in",
            format!("{} / {}", m.bytes_out, m.bytes_in),
        );
        row(
            "bitrate out / in",
            format!(
                "{:.2} / {:.2} Mbit/s",
                m.bitrate_out_bps / 1e6,
                m.bitrate_in_bps / 1e6
            ),
        );
        row(
            "loss",
            format!(
                "{:.3} % ({} of {})",
                self.loss.percent, self.loss.lost, self.loss.expected
            ),
        );
        let f = &self.feedback;
        row(
            "NACKs sent / received",
            format!("{} / {}", f.nacks_sent, f.nacks_received),
        );
        row(
            "PLIs sent / received",
            format!("{} / {}", f.plis_sent, f.plis_received),
        );
        let l = &self.latency_ms;
        row(
            "forwarding latency p50 / p99 / max",
            format!(
                "{:.3} / {:.3} / {:.3} ms ({} samples)",
                l.p50_ms, l.p99_ms, l.max_ms, l.samples
            ),
        );
        let s = &self.server;
        row(
            "server CPU (window)",
            format!(
                "{} s ({} % of a core) [{}]",
                opt(s.cpu_seconds.map(|v| format!("{v:.2}"))),
                opt(s.cpu_percent.map(|v| format!("{v:.1}"))),
                s.source
            ),
        );
        row(
            "server CPU per forwarded packet",
            format!(
                "{} us ({} packets)",
                opt(s.cpu_us_per_forwarded_packet.map(|v| format!("{v:.2}"))),
                s.forwarded_packets
            ),
        );
        row(
            "server RSS baseline / peak",
            format!("{} / {}", mb(s.baseline_rss_bytes), mb(s.peak_rss_bytes)),
        );
        row(
            "server RSS per participant",
            match s.rss_per_participant_bytes {
                Some(b) => format!("{:.0} kB", b as f64 / 1e3),
                None => "-".into(),
            },
        );
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "{k:<width$}  {v}");
        }
        out
    }
}
