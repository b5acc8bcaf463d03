//! State shared by the HTTP handlers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::media::MediaHandle;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// Token verification.
    pub auth: Arc<Authenticator>,
    /// The media worker.
    pub media: MediaHandle,
    /// Set once a stop signal arrived: `/readyz` fails and joins are refused.
    pub draining: Arc<AtomicBool>,
    /// Open signalling sessions.
    pub sessions: SessionCounter,
    /// Prometheus metrics (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Counts live WebSocket sessions so shutdown can wait until they have said goodbye.
#[derive(Clone, Default)]
pub struct SessionCounter(Arc<(AtomicUsize, Notify)>);

/// Decrements the session count when a session ends.
pub struct SessionGuard(SessionCounter);

impl SessionCounter {
    /// Registers a session until the guard drops.
    pub fn enter(&self) -> SessionGuard {
        self.0.0.fetch_add(1, Ordering::SeqCst);
        SessionGuard(self.clone())
    }

    /// Waits until no session is open.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.0.1.notified();
            if self.0.0.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if self.0.0.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.0.1.notify_waiters();
        }
    }
}

impl AppState {
    /// Whether the server is shutting down.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}
