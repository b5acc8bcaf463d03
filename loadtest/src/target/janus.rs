//! A participant of a Janus VideoRoom (Janus 1.x HTTP API), with the same media as against our
//! server: one publisher peer connection, and one multistream subscriber peer connection that
//! subscribes to every other publisher (re-offered by Janus when publishers arrive).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::{JOIN_TIMEOUT, Outcome, ParticipantPlan};
use crate::engine::{ConnEvent, ConnId, EngineHandle, PublishSpec};

/// A Janus server and the room the run uses.
#[derive(Debug, Clone)]
pub struct JanusTarget {
    /// `http://host:8088/janus`.
    pub base_url: String,
    /// HTTP client (no overall timeout: long polls last up to 30 s).
    pub http: reqwest::Client,
    /// The VideoRoom room id.
    pub room: u64,
}

/// One Janus session (its id and the HTTP calls on it).
struct Session {
    http: reqwest::Client,
    base: String,
    id: u64,
}

fn transaction() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Bound on one request that is not a long poll.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Result<Value> {
    let v: Value = http
        .post(url)
        .json(&body)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?
        .json()
        .await?;
    if v["janus"] == "error" {
        bail!("janus error: {}", v["error"]);
    }
    Ok(v)
}

impl Session {
    async fn create(http: &reqwest::Client, base: &str) -> Result<Session> {
        let v = post(
            http,
            base,
            json!({"janus": "create", "transaction": transaction()}),
        )
        .await?;
        let id = v["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("no session id in {v}"))?;
        Ok(Session {
            http: http.clone(),
            base: base.to_owned(),
            id,
        })
    }

    fn url(&self) -> String {
        format!("{}/{}", self.base, self.id)
    }

    async fn attach(&self) -> Result<u64> {
        let v = post(
            &self.http,
            &self.url(),
            json!({"janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": transaction()}),
        )
        .await?;
        v["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("no handle id in {v}"))
    }

    /// A plugin message; returns Janus' immediate reply (`success` with data, or `ack`).
    async fn message(&self, handle: u64, body: Value, jsep: Option<Value>) -> Result<Value> {
        let mut msg = json!({"janus": "message", "transaction": transaction(), "body": body});
        if let Some(j) = jsep {
            msg["jsep"] = j;
        }
        let v = post(&self.http, &format!("{}/{handle}", self.url()), msg).await?;
        if let Some(err) = v["plugindata"]["data"]["error"].as_str() {
            bail!("videoroom error: {err}");
        }
        Ok(v)
    }

    async fn trickle_done(&self, handle: u64) -> Result<()> {
        post(
            &self.http,
            &format!("{}/{handle}", self.url()),
            json!({"janus": "trickle", "transaction": transaction(), "candidate": {"completed": true}}),
        )
        .await?;
        Ok(())
    }

    async fn destroy(&self) {
        let _ = post(
            &self.http,
            &self.url(),
            json!({"janus": "destroy", "transaction": transaction()}),
        )
        .await;
    }
}

/// Long-polls the session's events into `tx` until the receiver goes away.
async fn poll_events(http: reqwest::Client, url: String, tx: mpsc::UnboundedSender<Value>) {
    // Bounded: a session never outlives the run; each poll returns within 30 s.
    for _ in 0..100_000 {
        let resp = http
            .get(format!("{url}?maxev=10"))
            .timeout(Duration::from_secs(40))
            .send()
            .await;
        let events = match resp {
            Ok(r) => r.json::<Value>().await.ok(),
            Err(_) => None,
        };
        let Some(events) = events else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if tx.is_closed() {
                return;
            }
            continue;
        };
        let list = match events {
            Value::Array(a) => a,
            other => vec![other],
        };
        for e in list {
            if tx.send(e).is_err() {
                return;
            }
        }
    }
}

/// Creates the VideoRoom room of the run (VP8 and Opus, room for `publishers`).
pub async fn create_room(target: &JanusTarget, publishers: usize) -> Result<()> {
    let session = Session::create(&target.http, &target.base_url).await?;
    let handle = session.attach().await?;
    let v = session
        .message(
            handle,
            json!({
                "request": "create",
                "room": target.room,
                "publishers": publishers.max(1) + 1,
                "videocodec": "vp8",
                "audiocodec": "opus",
                "audiolevel_ext": true,
                "notify_joining": false,
                "bitrate": 0,
            }),
            None,
        )
        .await?;
    session.destroy().await;
    match v["plugindata"]["data"]["videoroom"].as_str() {
        Some("created") => Ok(()),
        _ => bail!("room not created: {v}"),
    }
}

/// Destroys the run's room.
pub async fn destroy_room(target: &JanusTarget) {
    if let Ok(session) = Session::create(&target.http, &target.base_url).await {
        if let Ok(handle) = session.attach().await {
            let _ = session
                .message(
                    handle,
                    json!({"request": "destroy", "room": target.room}),
                    None,
                )
                .await;
        }
        session.destroy().await;
    }
}

/// The Janus substream index of a layer cap (0 is the lowest layer, given `rid_order: lmh`).
fn substream(layer: &str) -> Option<u8> {
    match layer {
        "q" => Some(0),
        "h" => Some(1),
        "f" => Some(2),
        _ => None,
    }
}

/// Runs one participant until `stop` turns true.
pub async fn run(
    target: Arc<JanusTarget>,
    engine: EngineHandle,
    plan: ParticipantPlan,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut p = Participant {
        target: &target,
        engine: &engine,
        plan: &plan,
        session: None,
        events: None,
        publisher: None,
        subscriber: None,
        subscribed: HashSet::new(),
        my_feed: None,
    };
    let result = p.session(&mut stop, &mut outcome).await;
    if let Some((_, conn, _)) = p.publisher.take() {
        engine.close(conn);
    }
    if let Some((_, conn, _)) = p.subscriber.take() {
        engine.close(conn);
    }
    if let Some(s) = &p.session {
        s.destroy().await;
    }
    if let Err(e) = result {
        outcome.error = Some(format!("{e:#}"));
    }
    outcome
}

type ConnEvents = mpsc::UnboundedReceiver<ConnEvent>;

struct Participant<'a> {
    target: &'a JanusTarget,
    engine: &'a EngineHandle,
    plan: &'a ParticipantPlan,
    session: Option<Session>,
    events: Option<mpsc::UnboundedReceiver<Value>>,
    /// (handle, conn, conn events) of the publisher peer connection.
    publisher: Option<(u64, ConnId, ConnEvents)>,
    /// (handle, conn, conn events) of the subscriber peer connection.
    subscriber: Option<(u64, ConnId, ConnEvents)>,
    subscribed: HashSet<u64>,
    my_feed: Option<u64>,
}

/// Receives the next event of `conn`'s channel, or waits forever when there is none.
async fn next_conn_event(c: &mut Option<(u64, ConnId, ConnEvents)>) -> Option<ConnEvent> {
    match c {
        Some((_, _, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Participant<'_> {
    fn session_ref(&self) -> Result<&Session> {
        self.session.as_ref().ok_or_else(|| anyhow!("no session"))
    }

    /// Waits for the event of `handle` that `pick` accepts (other events are handled on the way).
    async fn wait_event(
        &mut self,
        handle: u64,
        deadline: tokio::time::Instant,
        pick: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        loop {
            let events = self.events.as_mut().ok_or_else(|| anyhow!("no events"))?;
            let e = tokio::time::timeout_at(deadline, events.recv())
                .await
                .context("Janus event timed out")?
                .ok_or_else(|| anyhow!("event poller ended"))?;
            if e["sender"].as_u64() == Some(handle) && pick(&e) {
                if let Some(err) = e["plugindata"]["data"]["error"].as_str() {
                    bail!("videoroom error: {err}");
                }
                return Ok(e);
            }
            self.on_event(e).await?;
        }
    }

    async fn session(
        &mut self,
        stop: &mut watch::Receiver<bool>,
        outcome: &mut Outcome,
    ) -> Result<()> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + JOIN_TIMEOUT);
        let session = Session::create(&self.target.http, &self.target.base_url).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let poller = tokio::spawn(poll_events(self.target.http.clone(), session.url(), tx));
        self.session = Some(session);
        self.events = Some(rx);
        let result = self.joined(started, deadline, stop, outcome).await;
        poller.abort();
        result
    }

    async fn joined(
        &mut self,
        started: Instant,
        deadline: tokio::time::Instant,
        stop: &mut watch::Receiver<bool>,
        outcome: &mut Outcome,
    ) -> Result<()> {
        let room = self.target.room;
        let mut feeds: Vec<u64> = Vec::new();
        if !self.plan.publish.is_empty() {
            let handle = self.session_ref()?.attach().await?;
            self.session_ref()?
                .message(
                    handle,
                    json!({"request": "join", "ptype": "publisher", "room": room, "display": self.plan.identity}),
                    None,
                )
                .await?;
            let joined = self
                .wait_event(handle, deadline, |e| {
                    e["plugindata"]["data"]["videoroom"] == "joined"
                })
                .await?;
            let data = &joined["plugindata"]["data"];
            self.my_feed = data["id"].as_u64();
            feeds.extend(publisher_ids(&data["publishers"]));
            let (etx, mut erx) = mpsc::unbounded_channel();
            let conn = self.engine.open(self.plan.publish.clone(), started, etx);
            let offer = match tokio::time::timeout_at(deadline, erx.recv()).await {
                Ok(Some(ConnEvent::LocalOffer(sdp))) => sdp,
                other => bail!("no local offer: {other:?}"),
            };
            self.session_ref()?
                .message(
                    handle,
                    json!({"request": "publish", "audio": true, "video": true}),
                    // Our offer lists the RIDs lowest first; Janus assumes highest first
                    // ("hml") unless told, which would make substream 0 the best layer.
                    Some(json!({"type": "offer", "sdp": offer, "rid_order": "lmh"})),
                )
                .await?;
            self.session_ref()?.trickle_done(handle).await?;
            self.publisher = Some((handle, conn, erx));
            let answer = self
                .wait_event(handle, deadline, |e| e.get("jsep").is_some())
                .await?;
            let sdp = answer["jsep"]["sdp"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.engine.remote_answer(conn, sdp);
        } else {
            // A viewer does not hear of publishers arriving later: wait until one publishes.
            let handle = self.session_ref()?.attach().await?;
            while feeds.is_empty() {
                let v = self
                    .session_ref()?
                    .message(
                        handle,
                        json!({"request": "listparticipants", "room": room}),
                        None,
                    )
                    .await?;
                let list = &v["plugindata"]["data"]["participants"];
                feeds.extend(
                    list.as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["publisher"] == true)
                        .filter_map(|p| p["id"].as_u64()),
                );
                if feeds.is_empty() {
                    if tokio::time::Instant::now() >= deadline {
                        bail!("no publisher in the room within {JOIN_TIMEOUT:?}");
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
        self.subscribe(feeds, started).await?;

        let mut pub_up = self.publisher.is_none();
        let mut sub_up = false;
        loop {
            // Connected once every peer connection opened so far is up (a meeting's first
            // participant gets its subscriber connection only when a second one publishes).
            if !outcome.connected && pub_up && (sub_up || self.subscriber.is_none()) {
                outcome.connected = true;
            }
            let join_wait = async {
                if outcome.connected {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep_until(deadline).await;
            };
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                () = join_wait => bail!("not connected within {JOIN_TIMEOUT:?}"),
                e = async { self.events.as_mut().expect("events").recv().await } => {
                    let e = e.ok_or_else(|| anyhow!("event poller ended"))?;
                    self.on_event(e).await?;
                }
                ev = next_conn_event(&mut self.publisher) => match ev {
                    Some(ConnEvent::Connected) => pub_up = true,
                    Some(ConnEvent::Failed(r)) => bail!("publisher media: {r}"),
                    Some(_) => {}
                    None => bail!("engine stopped"),
                },
                ev = next_conn_event(&mut self.subscriber) => match ev {
                    Some(ConnEvent::Connected) => sub_up = true,
                    Some(ConnEvent::LocalAnswer(sdp)) => {
                        let handle = self.subscriber.as_ref().map(|s| s.0).unwrap_or_default();
                        self.session_ref()?
                            .message(handle, json!({"request": "start"}), Some(json!({"type": "answer", "sdp": sdp})))
                            .await?;
                    }
                    Some(ConnEvent::Failed(r)) => bail!("subscriber media: {r}"),
                    Some(ConnEvent::LocalOffer(_)) => {}
                    None => bail!("engine stopped"),
                },
            }
        }
    }

    /// Subscribes to `feeds` (a new subscriber handle, or more streams on the existing one).
    async fn subscribe(&mut self, feeds: Vec<u64>, started: Instant) -> Result<()> {
        let fresh: Vec<u64> = feeds
            .into_iter()
            .filter(|f| Some(*f) != self.my_feed && !self.subscribed.contains(f))
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let sub = self.plan.layer_cap.as_deref().and_then(substream);
        let streams: Vec<Value> = fresh
            .iter()
            .map(|f| match sub {
                Some(s) => json!({"feed": f, "substream": s}),
                None => json!({"feed": f}),
            })
            .collect();
        self.subscribed.extend(fresh);
        match &self.subscriber {
            Some((handle, _, _)) => {
                let handle = *handle;
                self.session_ref()?
                    .message(
                        handle,
                        json!({"request": "subscribe", "streams": streams}),
                        None,
                    )
                    .await?;
            }
            None => {
                let handle = self.session_ref()?.attach().await?;
                let (etx, erx) = mpsc::unbounded_channel();
                let conn = self.engine.open(PublishSpec::default(), started, etx);
                self.subscriber = Some((handle, conn, erx));
                self.session_ref()?
                    .message(
                        handle,
                        json!({"request": "join", "ptype": "subscriber", "room": self.target.room, "streams": streams}),
                        None,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Handles an event not waited for: offers for the subscriber, new publishers.
    async fn on_event(&mut self, e: Value) -> Result<()> {
        let sender = e["sender"].as_u64();
        let sub_handle = self.subscriber.as_ref().map(|s| (s.0, s.1));
        if let (Some((handle, conn)), Some(jsep)) = (sub_handle, e.get("jsep"))
            && sender == Some(handle)
            && jsep["type"] == "offer"
        {
            let sdp = jsep["sdp"].as_str().unwrap_or_default().to_owned();
            self.engine.remote_offer(conn, sdp);
            return Ok(());
        }
        let data = &e["plugindata"]["data"];
        let new: Vec<u64> = publisher_ids(&data["publishers"]).collect();
        if !new.is_empty() && self.publisher.as_ref().map(|p| p.0) == sender {
            self.subscribe(new, Instant::now()).await?;
        }
        Ok(())
    }
}

fn publisher_ids(list: &Value) -> impl Iterator<Item = u64> + '_ {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_u64())
}
