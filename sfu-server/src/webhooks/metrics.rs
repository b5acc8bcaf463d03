//! Counters of webhook delivery, registered in the server's `/metrics` registry.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, Opts};

/// `sfu_webhook_*` counters; cheap to clone (each counter is shared).
#[derive(Clone)]
pub struct WebhookMetrics {
    deliveries: IntCounterVec,
    dropped: IntCounterVec,
    /// Events an endpoint accepted (2xx).
    pub delivered: IntCounter,
    /// Events given up: attempts exhausted or refused with a 4xx.
    pub failed: IntCounter,
    /// Attempts after the first.
    pub retries: IntCounter,
    /// Events dropped because a room's queue for an endpoint was full.
    pub dropped_queue_full: IntCounter,
    /// Events dropped because the dispatcher itself was behind.
    pub dropped_overloaded: IntCounter,
}

impl Default for WebhookMetrics {
    fn default() -> Self {
        let deliveries = IntCounterVec::new(
            Opts::new(
                "sfu_webhook_deliveries_total",
                "Webhook events per endpoint by outcome: delivered (2xx) or failed (given up)",
            ),
            &["result"],
        )
        .expect("valid metric");
        let dropped = IntCounterVec::new(
            Opts::new(
                "sfu_webhook_events_dropped_total",
                "Webhook events dropped before delivery: queue_full (a room's queue for a slow \
                 endpoint) or overloaded (the dispatcher was behind)",
            ),
            &["reason"],
        )
        .expect("valid metric");
        WebhookMetrics {
            delivered: deliveries.with_label_values(&["delivered"]),
            failed: deliveries.with_label_values(&["failed"]),
            dropped_queue_full: dropped.with_label_values(&["queue_full"]),
            dropped_overloaded: dropped.with_label_values(&["overloaded"]),
            retries: IntCounter::new(
                "sfu_webhook_retries_total",
                "Webhook delivery attempts after the first",
            )
            .expect("valid metric"),
            deliveries,
            dropped,
        }
    }
}

impl WebhookMetrics {
    /// The collectors to register.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.deliveries.clone()),
            Box::new(self.dropped.clone()),
            Box::new(self.retries.clone()),
        ]
    }
}
