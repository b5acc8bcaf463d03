//! Webhooks: signed HTTP POSTs of room events to the configured endpoints (docs/webhooks.md).
//!
//! Emitting never blocks the caller: the media worker hands each event to a bounded channel
//! with `try_send` (a full channel drops the event, logged and counted). A dispatcher task on
//! the main runtime serializes and signs it once, then queues it in one lane per endpoint and
//! room; a lane delivers one event at a time with retries and backoff, so each room's events
//! arrive in order while other rooms and endpoints go on.

mod delivery;
mod dispatcher;
mod event;
mod metrics;
mod signature;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use event::{EventKind, WebhookEvent, WebhookForward};
pub use metrics::WebhookMetrics;

use crate::config::{AuthConfig, WebhooksConfig};
use delivery::{Deliverer, RetryPolicy};
use dispatcher::{Dispatcher, Message};

/// Events in flight between the emitters and the dispatcher; the dispatcher only serializes
/// and queues, so this fills only if it is starved of CPU.
const INBOX_CAPACITY: usize = 4096;

/// The emitting side of the webhooks: cheap to clone, a no-op when none are configured.
#[derive(Clone, Default)]
pub struct Webhooks {
    inbox: Option<mpsc::Sender<Message>>,
    metrics: WebhookMetrics,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("enabled", &self.inbox.is_some())
            .finish()
    }
}

/// The webhook configuration cannot be put to work.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `webhooks.api_key` names no configured key (validation catches this first).
    #[error("webhooks.api_key names no key of auth.keys")]
    NoSigningKey,
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

impl Webhooks {
    /// Webhooks that deliver nothing (for tests that need no webhooks).
    #[cfg(test)]
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Starts the dispatcher on the current Tokio runtime; disabled when `config` has no URLs.
    pub fn start(config: &WebhooksConfig, auth: &AuthConfig) -> Result<Self, StartError> {
        let metrics = WebhookMetrics::default();
        if !config.is_enabled() {
            return Ok(Webhooks {
                inbox: None,
                metrics,
            });
        }
        let (key, secret) = config.signing_key(auth).ok_or(StartError::NoSigningKey)?;
        // Validation has parsed every URL already; a failure here would be a bug, so skip it
        // loudly rather than refuse to start.
        let urls = config
            .urls
            .iter()
            .filter_map(|u| match reqwest::Url::parse(u) {
                Ok(url) => Some(url),
                Err(e) => {
                    tracing::error!(url = %u, error = %e, "invalid webhook URL skipped");
                    None
                }
            })
            .collect::<Vec<_>>();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .user_agent(concat!("sfu-server/", env!("CARGO_PKG_VERSION")))
            .build()?;
        tracing::info!(urls = ?config.urls, api_key = %key, "webhooks enabled");
        let dispatcher = Dispatcher {
            urls,
            secret: secret.into_bytes(),
            queue_size: config.queue_size,
            deliverer: Arc::new(Deliverer {
                client,
                key,
                policy: RetryPolicy::from_config(config),
                metrics: metrics.clone(),
            }),
        };
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        tokio::spawn(dispatcher.run(rx));
        Ok(Webhooks {
            inbox: Some(tx),
            metrics,
        })
    }

    /// Whether events go anywhere; callers may skip building events when not.
    pub fn is_enabled(&self) -> bool {
        self.inbox.is_some()
    }

    /// Queues `event` for delivery without ever waiting.
    pub fn emit(&self, event: WebhookEvent) {
        let Some(inbox) = &self.inbox else {
            return;
        };
        let kind = event.event.as_str();
        match inbox.try_send(Message::Event(Box::new(event))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.dropped_overloaded.inc();
                tracing::warn!(event = kind, "webhook dispatcher behind; event dropped");
            }
            // Only at shutdown, when nobody is left to deliver it.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Waits until every event emitted so far is delivered or given up (bound it with a
    /// timeout: a dead endpoint is retried for a long time).
    pub async fn flush(&self) {
        let Some(inbox) = &self.inbox else {
            return;
        };
        let (tx, rx) = oneshot::channel();
        if inbox.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The delivery counters, to register with `/metrics`.
    pub fn metrics(&self) -> &WebhookMetrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests;
