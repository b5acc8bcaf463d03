//! The exposition of every family, and the Grafana dashboard against it.

use super::Metrics;
use crate::media::WorkerStats;

/// Worker counters with every family non-empty.
fn busy_stats() -> WorkerStats {
    let mut s = WorkerStats {
        rooms: 1,
        participants: 2,
        datagrams_in: 10,
        bytes_in: 1000,
        nacks_in: 3,
        nacks_out: 1,
        retransmissions: 2,
        rtp_dropped: vec![("before_switch".into(), 4)],
        ..Default::default()
    };
    s.signal_errors.insert("invalid_sdp".into(), 1);
    s.bandwidth_estimates.observe(1.5e6);
    s.forwarding_latency.observe(0.000_3);
    s.forwarding_latency.observe(0.002);
    s
}

#[test]
fn histograms_and_merged_errors_are_exposed() {
    let metrics = Metrics::new();
    metrics.observe_signal_error("invalid_sdp");
    metrics.observe_signal_error("invalid_json");
    metrics.observe_api_error("missing_token");
    let text = metrics.render(&busy_stats());
    for line in [
        r#"sfu_signalling_errors_total{code="invalid_sdp"} 2"#,
        r#"sfu_signalling_errors_total{code="invalid_json"} 1"#,
        r#"sfu_api_errors_total{code="missing_token"} 1"#,
        r#"sfu_nacks_total{direction="in"} 3"#,
        r#"sfu_nacks_total{direction="out"} 1"#,
        "sfu_retransmissions_total 2",
        "sfu_bytes_in_total 1000",
        "sfu_bytes_out_total 0",
        r#"sfu_forwarding_latency_seconds_bucket{le="0.00025"} 0"#,
        r#"sfu_forwarding_latency_seconds_bucket{le="0.0005"} 1"#,
        r#"sfu_forwarding_latency_seconds_bucket{le="+Inf"} 2"#,
        "sfu_forwarding_latency_seconds_count 2",
        r#"sfu_bandwidth_estimate_bps_bucket{le="2000000"} 1"#,
        "sfu_bandwidth_estimate_bps_count 1",
        "# TYPE sfu_bandwidth_estimate_bps histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
}

#[test]
fn empty_histograms_are_still_exposed() {
    let text = Metrics::new().render(&WorkerStats::default());
    assert!(
        text.contains("sfu_bandwidth_estimate_bps_count 0"),
        "{text}"
    );
    assert!(
        text.contains("sfu_forwarding_latency_seconds_count 0"),
        "{text}"
    );
}

/// Every `sfu_*` name in the dashboard's queries is one the server exports.
#[test]
fn grafana_dashboard_queries_exported_metrics() {
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../../configs/grafana/sfu-dashboard.json"))
            .expect("the dashboard is JSON");
    let metrics = Metrics::new();
    metrics.observe_http("/v1/rooms", 200);
    metrics.observe_api_error("missing_token");
    let exported: std::collections::BTreeSet<String> = metrics
        .render(&busy_stats())
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    let mut queries = Vec::new();
    collect_exprs(&dashboard, &mut queries);
    assert!(queries.len() >= 10, "only {} queries", queries.len());
    let mut used = std::collections::BTreeSet::new();
    for expr in &queries {
        for name in metric_names(expr) {
            assert!(
                exported.contains(&name),
                "the dashboard queries {name} (in `{expr}`), which the server does not export; \
                 exported: {exported:?}"
            );
            used.insert(name);
        }
    }
    // Every family the issue lists has a panel.
    for family in [
        "sfu_rooms",
        "sfu_participants",
        "sfu_published_tracks",
        "sfu_subscribed_tracks",
        "sfu_rtp_in_total",
        "sfu_rtp_forwarded_total",
        "sfu_bytes_in_total",
        "sfu_bytes_out_total",
        "sfu_rtp_dropped_total",
        "sfu_nacks_total",
        "sfu_retransmissions_total",
        "sfu_keyframe_requests_total",
        "sfu_layer_switches",
        "sfu_bandwidth_estimate_bps_bucket",
        "sfu_forwarding_latency_seconds_bucket",
        "sfu_signalling_errors_total",
        "sfu_api_errors_total",
        "sfu_http_requests_total",
        "sfu_process_cpu_seconds_total",
        "sfu_process_resident_memory_bytes",
    ] {
        assert!(used.contains(family), "no panel queries {family}");
    }
}

/// Every `expr` string of the dashboard's targets.
fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// The `sfu_*` identifiers of a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("sfu_") {
        let preceded_by_ident = rest[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if !preceded_by_ident {
            names.push(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}
