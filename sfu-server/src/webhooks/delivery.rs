//! One event to one endpoint: signed POSTs, retried with exponential backoff until the endpoint
//! answers 2xx, refuses for good, or the attempts run out.

use std::time::Duration;

use super::metrics::WebhookMetrics;
use super::signature::{
    ATTEMPT_HEADER, EVENT_HEADER, EVENT_ID_HEADER, KEY_HEADER, SIGNATURE_HEADER,
};
use crate::config::WebhooksConfig;

/// An event serialized and signed once, shared by every endpoint and attempt.
#[derive(Debug)]
pub(super) struct Prepared {
    /// `event` of the body.
    pub kind: &'static str,
    /// `id` of the body.
    pub id: String,
    /// The room, for logs.
    pub room: String,
    /// The JSON body, exactly as signed.
    pub body: String,
    /// `X-SFU-Signature` value.
    pub signature: String,
}

/// When to try again.
#[derive(Debug, Clone, Copy)]
pub(super) struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry.
    pub initial: Duration,
    /// Cap on any wait.
    pub max: Duration,
}

impl RetryPolicy {
    /// The policy of the configuration.
    pub fn from_config(config: &WebhooksConfig) -> Self {
        RetryPolicy {
            max_attempts: config.max_attempts.max(1),
            initial: Duration::from_millis(config.retry_initial_ms),
            max: Duration::from_millis(config.retry_max_ms),
        }
    }

    /// The wait after failed attempt `attempt` (1-based): `initial * 2^(attempt-1)` capped at
    /// `max`, less up to a quarter at random so that many rooms retrying a recovering endpoint
    /// do not all hit it in the same instant.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self.initial.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let capped = doubled.min(self.max);
        capped.mul_f64(1.0 - rand::random::<f64>() * 0.25)
    }
}

/// Why one attempt did not deliver.
enum Failure {
    /// Worth another try: network error, timeout, 5xx, 408, 429.
    Transient(String),
    /// The endpoint refused the request (other 4xx): retrying would not change its mind.
    Permanent(String),
}

/// Everything an endpoint's deliveries share.
pub(super) struct Deliverer {
    /// HTTP client with the request timeout.
    pub client: reqwest::Client,
    /// The API key named in `X-SFU-Key`.
    pub key: String,
    /// Retry schedule.
    pub policy: RetryPolicy,
    /// Counters.
    pub metrics: WebhookMetrics,
}

impl Deliverer {
    /// Delivers `event` to `url`, retrying as the policy says; returns once it is delivered or
    /// given up (logged and counted either way).
    pub async fn deliver(&self, url: &reqwest::Url, event: &Prepared) {
        let mut attempt = 1;
        loop {
            let why = match self.attempt(url, event, attempt).await {
                Ok(()) => {
                    self.metrics.delivered.inc();
                    tracing::debug!(event = event.kind, id = %event.id, room = %event.room, %url, attempt, "webhook delivered");
                    return;
                }
                Err(Failure::Permanent(why)) => {
                    self.metrics.failed.inc();
                    tracing::warn!(event = event.kind, id = %event.id, room = %event.room, %url, attempt, reason = %why, "webhook refused by the endpoint; not retried");
                    return;
                }
                Err(Failure::Transient(why)) => why,
            };
            if attempt >= self.policy.max_attempts {
                self.metrics.failed.inc();
                tracing::warn!(event = event.kind, id = %event.id, room = %event.room, %url, attempt, reason = %why, "webhook given up after the last attempt");
                return;
            }
            let wait = self.policy.backoff(attempt);
            tracing::info!(event = event.kind, id = %event.id, room = %event.room, %url, attempt, reason = %why, retry_in_ms = wait.as_millis() as u64, "webhook attempt failed; retrying");
            self.metrics.retries.inc();
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        url: &reqwest::Url,
        event: &Prepared,
        attempt: u32,
    ) -> Result<(), Failure> {
        let response = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, &event.signature)
            .header(KEY_HEADER, &self.key)
            .header(EVENT_HEADER, event.kind)
            .header(EVENT_ID_HEADER, &event.id)
            .header(ATTEMPT_HEADER, attempt.to_string())
            .body(event.body.clone())
            .send()
            .await
            .map_err(|e| Failure::Transient(error_chain(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let why = format!("HTTP {status}");
        if status.is_server_error()
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            Err(Failure::Transient(why))
        } else {
            Err(Failure::Permanent(why))
        }
    }
}

/// reqwest's top-level message ("error sending request") hides the cause; list the chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_at_most_a_quarter_of_jitter() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for (attempt, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let wait = policy.backoff(attempt).as_millis() as u64;
            assert!(
                (full * 3 / 4..=full).contains(&wait),
                "attempt {attempt}: {wait} ms not within 75-100% of {full} ms"
            );
        }
    }
}
