//! Prometheus metrics at `GET /metrics`: the media plane's counters (read from the worker at
//! each scrape, so the packet path never touches a metric), HTTP requests by route and status,
//! and the process collector's CPU and memory.

use prometheus::core::Collector;
use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::media::WorkerStats;

/// The server's metrics registry.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the process collector and the HTTP request counter.
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "sfu_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(http_requests.clone()))
            .expect("registered once");
        // CPU seconds, resident memory, open files: what operators size machines with. Named
        // `sfu_process_*`: API.md prefixes every metric name with `sfu_`.
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::new(
                    std::process::id() as i32,
                    "sfu",
                ),
            ))
            .expect("registered once");
        Metrics {
            registry,
            http_requests,
        }
    }

    /// Adds collectors owned elsewhere (e.g. the webhook counters); a duplicate name is a bug,
    /// logged rather than fatal.
    pub fn register(&self, collectors: Vec<Box<dyn Collector>>) {
        for collector in collectors {
            if let Err(e) = self.registry.register(collector) {
                tracing::error!(error = %e, "metric not registered");
            }
        }
    }

    /// Counts one answered HTTP request.
    pub fn observe_http(&self, route: &str, status: u16) {
        self.http_requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
    }

    /// The text exposition of every metric, with the media counters of `media`.
    pub fn render(&self, media: &WorkerStats) -> String {
        let mut families = self.registry.gather();
        families.extend(media_families(media));
        // The encoder refuses a family without samples (a label set never used).
        families.retain(|f| !f.get_metric().is_empty());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The worker's counters as metric families (built per scrape from one consistent snapshot).
fn media_families(s: &WorkerStats) -> Vec<prometheus::proto::MetricFamily> {
    let mut out = Vec::new();
    let gauge = |name: &str, help: &str, v: usize| {
        let g = IntGauge::new(name, help).expect("valid metric");
        g.set(i64::try_from(v).unwrap_or(i64::MAX));
        g.collect()
    };
    let counter = |name: &str, help: &str, v: u64| {
        let c = IntCounter::new(name, help).expect("valid metric");
        c.inc_by(v);
        c.collect()
    };
    out.extend(gauge("sfu_rooms", "Rooms open", s.rooms));
    out.extend(gauge(
        "sfu_participants",
        "Participants joined",
        s.participants,
    ));
    out.extend(gauge(
        "sfu_published_tracks",
        "Tracks published",
        s.published_tracks,
    ));
    out.extend(gauge(
        "sfu_subscribed_tracks",
        "Subscriptions, one per subscriber and track",
        s.subscribed_tracks,
    ));
    out.extend(counter(
        "sfu_datagrams_in_total",
        "UDP datagrams received",
        s.datagrams_in,
    ));
    out.extend(counter(
        "sfu_datagrams_out_total",
        "UDP datagrams sent",
        s.datagrams_out,
    ));
    out.extend(counter(
        "sfu_datagrams_malformed_total",
        "Datagrams that were no STUN, DTLS, RTP or RTCP",
        s.datagrams_malformed,
    ));
    out.extend(counter(
        "sfu_datagrams_unrouted_total",
        "Datagrams no connection accepted",
        s.datagrams_unrouted,
    ));
    out.extend(counter(
        "sfu_send_errors_total",
        "Datagrams the socket refused to send",
        s.send_errors,
    ));
    out.extend(counter(
        "sfu_rtp_in_total",
        "RTP packets received from publishers",
        s.rtp_in,
    ));
    out.extend(counter(
        "sfu_rtp_forwarded_total",
        "RTP packets forwarded to subscribers",
        s.rtp_forwarded,
    ));
    let keyframes = IntCounterVec::new(
        Opts::new(
            "sfu_keyframe_requests_total",
            "Keyframe requests: from subscribers (in) and to publishers after throttling (out)",
        ),
        &["direction", "kind"],
    )
    .expect("valid metric");
    for (direction, kind, n) in [
        ("in", "pli", s.pli_in),
        ("in", "fir", s.fir_in),
        ("out", "pli", s.pli_out),
        ("out", "fir", s.fir_out),
    ] {
        keyframes.with_label_values(&[direction, kind]).inc_by(n);
    }
    out.extend(keyframes.collect());
    out.extend(gauge(
        "sfu_layer_switches",
        "Simulcast layer switches made on the down tracks of the open rooms",
        usize::try_from(s.layer_switches).unwrap_or(usize::MAX),
    ));
    let dropped = IntCounterVec::new(
        Opts::new(
            "sfu_rtp_dropped_total",
            "RTP packets not forwarded, by reason",
        ),
        &["reason"],
    )
    .expect("valid metric");
    for (reason, n) in &s.rtp_dropped {
        dropped.with_label_values(&[reason.as_str()]).inc_by(*n);
    }
    out.extend(dropped.collect());
    out
}
