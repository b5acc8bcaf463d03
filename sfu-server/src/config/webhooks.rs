//! `[webhooks]`: HTTP endpoints notified of room events (docs/webhooks.md).

use serde::{Deserialize, Serialize};

use super::{AuthConfig, Problem};

/// `[webhooks]`: where room events are POSTed, how they are signed and how hard delivery tries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// `http://` or `https://` endpoints; every event goes to each of them. Empty = no webhooks.
    pub urls: Vec<String>,
    /// The API key (of `auth.keys`) whose secret signs the requests; unset = the first key
    /// (`devkey` in dev mode).
    pub api_key: Option<String>,
    /// Bound on one POST, connection included, in milliseconds.
    pub request_timeout_ms: u64,
    /// Attempts per event and endpoint (1 = no retry) before the event is given up.
    pub max_attempts: u32,
    /// Wait before the first retry, in milliseconds; doubled for each further retry.
    pub retry_initial_ms: u64,
    /// Longest wait between two retries, in milliseconds.
    pub retry_max_ms: u64,
    /// Events waiting per room and endpoint; when a slow endpoint lets more pile up, the
    /// oldest waiting one is dropped (logged and counted).
    pub queue_size: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            api_key: None,
            request_timeout_ms: 5_000,
            max_attempts: 6,
            retry_initial_ms: 500,
            retry_max_ms: 30_000,
            queue_size: 256,
        }
    }
}

impl WebhooksConfig {
    /// Whether any endpoint is configured.
    pub fn is_enabled(&self) -> bool {
        !self.urls.is_empty()
    }

    /// The API key and secret that sign webhook requests, if the configured key exists.
    pub fn signing_key(&self, auth: &AuthConfig) -> Option<(String, String)> {
        let (keys, _) = auth.effective_keys();
        match &self.api_key {
            Some(name) => keys.get_key_value(name),
            None => keys.iter().next(),
        }
        .map(|(k, s)| (k.clone(), s.clone()))
    }

    /// What is wrong with the section (empty when valid).
    pub(super) fn problems(&self, auth: &AuthConfig) -> Vec<Problem> {
        let mut out = Vec::new();
        for url in &self.urls {
            if let Err(why) = check_url(url) {
                out.push(Problem::new("webhooks.urls", format!("`{url}`: {why}")));
            }
        }
        if let Some(name) = &self.api_key
            && self.signing_key(auth).is_none()
        {
            out.push(Problem::new(
                "webhooks.api_key",
                format!("`{name}` is not one of the keys of auth.keys"),
            ));
        }
        let positive = [
            ("webhooks.request_timeout_ms", self.request_timeout_ms),
            ("webhooks.max_attempts", u64::from(self.max_attempts)),
            ("webhooks.retry_initial_ms", self.retry_initial_ms),
            ("webhooks.queue_size", self.queue_size as u64),
        ];
        for (field, value) in positive {
            if value == 0 {
                out.push(Problem::new(field, "must be greater than 0"));
            }
        }
        if self.retry_max_ms < self.retry_initial_ms {
            out.push(Problem::new(
                "webhooks.retry_max_ms",
                format!(
                    "must be at least webhooks.retry_initial_ms ({})",
                    self.retry_initial_ms
                ),
            ));
        }
        out
    }
}

/// An endpoint is an absolute `http`/`https` URL with a host; anything else would fail on every
/// event, which is better said at start-up.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must start with http:// or https://".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(())
}
