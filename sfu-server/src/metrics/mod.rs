//! Prometheus metrics at `GET /metrics`: the media plane's counters (read from the worker at
//! each scrape, so the packet path never touches a metric), HTTP requests by route and status,
//! REST and signalling errors by code, and the process collector's CPU and memory.

mod media;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};

use crate::media::WorkerStats;

/// The server's metrics registry.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    api_errors: IntCounterVec,
    /// `error` messages sent by the signalling sessions themselves (bad JSON, refused joins);
    /// the worker counts the ones it sends, and a scrape adds both.
    session_errors: Mutex<BTreeMap<String, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the process collector and the HTTP counters.
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
        let api_errors = IntCounterVec::new(
            Opts::new(
                "sfu_api_errors_total",
                "REST error responses (including refused WebSocket upgrades) by error code",
            ),
            &["code"],
        )
        .expect("valid metric");
        for metric in [&http_requests, &api_errors] {
            registry
                .register(Box::new(metric.clone()))
                .expect("registered once");
        }
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
            api_errors,
            session_errors: Mutex::default(),
        }
    }

    /// Adds collectors owned elsewhere (e.g. the webhook counters); a duplicate name is a bug,
    /// logged rather than fatal.
    pub fn register(&self, collectors: Vec<Box<dyn prometheus::core::Collector>>) {
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

    /// Counts one REST error response.
    pub fn observe_api_error(&self, code: &str) {
        self.api_errors.with_label_values(&[code]).inc();
    }

    /// Counts one `error` message a signalling session sent.
    pub fn observe_signal_error(&self, code: &str) {
        let mut errors = self
            .session_errors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *errors.entry(code.to_owned()).or_default() += 1;
    }

    /// The text exposition of every metric, with the media counters of `media`.
    pub fn render(&self, media: &WorkerStats) -> String {
        let mut families = self.registry.gather();
        let mut signal_errors = media.signal_errors.clone();
        for (code, n) in self
            .session_errors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
        {
            *signal_errors.entry(code.clone()).or_default() += n;
        }
        families.extend(media::families(media, &signal_errors));
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
