//! The media worker's counters as metric families, built per scrape from one snapshot.

use std::collections::BTreeMap;

use prometheus::core::Collector;
use prometheus::proto::{Bucket, Histogram, Metric, MetricFamily, MetricType};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};

use crate::media::WorkerStats;
use crate::media::histogram::LocalHistogram;

/// Every family of the media plane; `signal_errors` merges the worker's and the sessions'.
pub(super) fn families(
    s: &WorkerStats,
    signal_errors: &BTreeMap<String, u64>,
) -> Vec<MetricFamily> {
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
    for (name, help, v) in [
        (
            "sfu_datagrams_in_total",
            "UDP datagrams received",
            s.datagrams_in,
        ),
        (
            "sfu_datagrams_out_total",
            "UDP datagrams sent",
            s.datagrams_out,
        ),
        (
            "sfu_bytes_in_total",
            "UDP payload bytes received",
            s.bytes_in,
        ),
        ("sfu_bytes_out_total", "UDP payload bytes sent", s.bytes_out),
        (
            "sfu_datagrams_malformed_total",
            "Datagrams that were no STUN, DTLS, RTP or RTCP",
            s.datagrams_malformed,
        ),
        (
            "sfu_datagrams_unrouted_total",
            "Datagrams no connection accepted",
            s.datagrams_unrouted,
        ),
        (
            "sfu_send_errors_total",
            "Datagrams the socket refused to send",
            s.send_errors,
        ),
        (
            "sfu_gso_messages_total",
            "Messages that carried several datagrams to one subscriber at once (UDP GSO, \
             media.udp_gso)",
            s.gso_messages,
        ),
        (
            "sfu_rtp_in_total",
            "RTP packets received from publishers",
            s.rtp_in,
        ),
        (
            "sfu_rtp_forwarded_total",
            "RTP packets forwarded to subscribers",
            s.rtp_forwarded,
        ),
        (
            "sfu_retransmissions_total",
            "RTP packets resent to subscribers on RTX streams (NACK answers; with bandwidth \
             estimation also probe padding made of resends)",
            s.retransmissions,
        ),
    ] {
        out.extend(counter(name, help, v));
    }
    out.extend(labelled(
        "sfu_nacks_total",
        "NACK feedback: received from subscribers (in) and sent to publishers (out)",
        "direction",
        [("in", s.nacks_in), ("out", s.nacks_out)],
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
    // Every reason appears, zero or not, so that rates and alerts see a series from the start.
    let mut drops: BTreeMap<&str, u64> = sfu_core::DropReason::ALL
        .iter()
        .map(|r| (r.as_str(), 0))
        .collect();
    for (reason, n) in &s.rtp_dropped {
        *drops.entry(reason.as_str()).or_default() += n;
    }
    out.extend(labelled(
        "sfu_rtp_dropped_total",
        "RTP packets not forwarded, by reason",
        "reason",
        drops,
    ));
    out.extend(labelled(
        "sfu_signalling_errors_total",
        "WebSocket `error` messages sent to clients, by code",
        "code",
        signal_errors.iter().map(|(c, n)| (c.as_str(), *n)),
    ));
    out.push(histogram(
        "sfu_bandwidth_estimate_bps",
        "Subscriber downlink estimates (bits/s), one observation per new estimate; empty \
         unless media.bandwidth_estimation is on",
        &s.bandwidth_estimates,
    ));
    out.push(histogram(
        "sfu_forwarding_latency_seconds",
        "Time from reading a publisher's datagram to sending a packet forwarded from it",
        &s.forwarding_latency,
    ));
    out
}

/// A counter family with one label.
fn labelled<'a>(
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) -> Vec<MetricFamily> {
    let vec = IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric");
    for (value, n) in values {
        vec.with_label_values(&[value]).inc_by(n);
    }
    vec.collect()
}

/// A histogram family from the worker's own buckets.
fn histogram(name: &str, help: &str, h: &LocalHistogram) -> MetricFamily {
    let mut proto = Histogram::default();
    proto.set_sample_count(h.count);
    proto.set_sample_sum(h.sum);
    proto.set_bucket(
        h.cumulative()
            .map(|(bound, count)| {
                let mut b = Bucket::default();
                b.set_upper_bound(bound);
                b.set_cumulative_count(count);
                b
            })
            .collect(),
    );
    let mut metric = Metric::default();
    metric.set_histogram(proto);
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(MetricType::HISTOGRAM);
    family.set_metric(vec![metric]);
    family
}
