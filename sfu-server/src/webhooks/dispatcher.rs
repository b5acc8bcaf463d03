//! The dispatcher task: one lane per (endpoint, room), each delivering one event at a time.
//!
//! A lane holds the events waiting for its endpoint in one room. The event in flight is retried
//! by its own task until it is delivered or given up; only then does the lane start the next
//! one, which is what keeps a room's events in order. Lanes of other rooms and endpoints run
//! meanwhile. A lane with nothing waiting and nothing in flight is removed, so memory follows the
//! rooms that have undelivered events, each bounded by `queue_size`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::delivery::{Deliverer, Prepared};
use super::event::WebhookEvent;
use super::signature::sign;

/// Shortest interval between two "queue full" warnings, so a stuck endpoint does not flood
/// the log; the counter has every drop.
const DROP_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// What the emitting side sends to the dispatcher.
pub(super) enum Message {
    /// An event to deliver to every endpoint.
    Event(Box<WebhookEvent>),
    /// Answer once every event sent before has been delivered or given up.
    Flush(oneshot::Sender<()>),
}

/// (endpoint index, room name).
type LaneKey = (usize, String);

#[derive(Default)]
struct Lane {
    waiting: VecDeque<Arc<Prepared>>,
    busy: bool,
}

/// The dispatcher's state; [`Dispatcher::run`] consumes it.
pub(super) struct Dispatcher {
    /// Endpoints, in configuration order.
    pub urls: Vec<reqwest::Url>,
    /// Signing secret.
    pub secret: Vec<u8>,
    /// Events waiting per lane, at most.
    pub queue_size: usize,
    /// Shared by every delivery task.
    pub deliverer: Arc<Deliverer>,
}

impl Dispatcher {
    /// Runs until every sender is gone.
    pub async fn run(self, mut inbox: mpsc::Receiver<Message>) {
        let mut lanes: HashMap<LaneKey, Lane> = HashMap::new();
        let mut in_flight: JoinSet<()> = JoinSet::new();
        // Which lane each delivery task serves, so even a task that failed frees its lane.
        let mut tasks: HashMap<tokio::task::Id, LaneKey> = HashMap::new();
        let mut flush_waiters: Vec<oneshot::Sender<()>> = Vec::new();
        let mut last_drop_warning: Option<Instant> = None;
        loop {
            tokio::select! {
                message = inbox.recv() => match message {
                    None => break,
                    Some(Message::Flush(reply)) => flush_waiters.push(reply),
                    Some(Message::Event(event)) => {
                        let Some(prepared) = self.prepare(&event) else { continue };
                        for index in 0..self.urls.len() {
                            let key = (index, prepared.room.clone());
                            let lane = lanes.entry(key.clone()).or_default();
                            if lane.waiting.len() >= self.queue_size
                                && let Some(old) = lane.waiting.pop_front()
                            {
                                self.deliverer.metrics.dropped_queue_full.inc();
                                if last_drop_warning.is_none_or(|t| t.elapsed() >= DROP_WARN_INTERVAL) {
                                    last_drop_warning = Some(Instant::now());
                                    tracing::warn!(url = %self.urls[index], room = %old.room, dropped_event = old.kind, dropped_id = %old.id, queue_size = self.queue_size, "webhook queue full (endpoint too slow or down): dropped the oldest waiting event; see sfu_webhook_events_dropped_total");
                                }
                            }
                            lane.waiting.push_back(prepared.clone());
                            self.start_next(key, lane, &mut in_flight, &mut tasks);
                        }
                    }
                },
                Some(done) = in_flight.join_next_with_id() => {
                    let id = match &done {
                        Ok((id, _)) => *id,
                        Err(e) => {
                            tracing::error!(error = %e, "webhook delivery task failed; its event is lost");
                            e.id()
                        }
                    };
                    let Some(key) = tasks.remove(&id) else { continue };
                    if let Some(lane) = lanes.get_mut(&key) {
                        lane.busy = false;
                        if lane.waiting.is_empty() {
                            lanes.remove(&key);
                        } else {
                            self.start_next(key, lane, &mut in_flight, &mut tasks);
                        }
                    }
                }
            }
            if lanes.is_empty() {
                for waiter in flush_waiters.drain(..) {
                    let _ = waiter.send(());
                }
            }
        }
    }

    /// Serializes and signs once for every endpoint.
    fn prepare(&self, event: &WebhookEvent) -> Option<Arc<Prepared>> {
        let body = match serde_json::to_string(event) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, event = event.event.as_str(), "cannot serialize a webhook event");
                return None;
            }
        };
        Some(Arc::new(Prepared {
            kind: event.event.as_str(),
            id: event.id.clone(),
            room: event.room_name().to_owned(),
            signature: sign(&self.secret, body.as_bytes()),
            body,
        }))
    }

    /// Starts delivering the lane's next event unless one is in flight.
    fn start_next(
        &self,
        key: LaneKey,
        lane: &mut Lane,
        in_flight: &mut JoinSet<()>,
        tasks: &mut HashMap<tokio::task::Id, LaneKey>,
    ) {
        if lane.busy {
            return;
        }
        let Some(event) = lane.waiting.pop_front() else {
            return;
        };
        lane.busy = true;
        let deliverer = Arc::clone(&self.deliverer);
        let url = self.urls[key.0].clone();
        let task = in_flight.spawn(async move { deliverer.deliver(&url, &event).await });
        tasks.insert(task.id(), key);
    }
}
