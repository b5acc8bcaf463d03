//! WebSocket signalling client speaking the `API.md` JSON protocol, with a waitable event log.

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::util::lock;

/// A participant as sent by the server (`API.md`: Participant).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ParticipantInfo {
    /// Server-assigned participant id (the `a=msid` stream id of its tracks).
    pub id: String,
    /// The identity from the token.
    pub identity: String,
    /// Published tracks.
    #[serde(default)]
    pub tracks: Vec<TrackInfo>,
}

/// A published track as sent by the server (`API.md`: Track).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TrackInfo {
    /// Server track id (the `a=msid` track id).
    pub id: String,
    /// Publisher's participant id.
    #[serde(default)]
    pub participant_id: String,
    /// "audio" or "video".
    #[serde(default)]
    pub kind: String,
    /// "camera", "microphone", "screen" or "unknown".
    #[serde(default)]
    pub source: String,
    /// The publisher's m-line mid.
    #[serde(default)]
    pub mid: Option<String>,
    /// Codec name.
    #[serde(default)]
    pub codec: Option<String>,
    /// Whether the track is muted.
    #[serde(default)]
    pub muted: bool,
    /// Simulcast layers (rids), empty when not simulcast.
    #[serde(default)]
    pub simulcast: Vec<Value>,
}

/// One ICE candidate as carried in `candidate` messages.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CandidateInfo {
    /// `candidate:...` line.
    pub candidate: String,
    /// Media id the candidate belongs to.
    #[serde(rename = "sdpMid", default)]
    pub sdp_mid: Option<String>,
    /// m-line index the candidate belongs to.
    #[serde(rename = "sdpMLineIndex", default)]
    pub sdp_mline_index: Option<u16>,
}

/// A typed view of a server -> client message; unknown or malformed ones become `Other`.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMsg {
    /// `joined`.
    Joined {
        /// Room object.
        room: Value,
        /// This participant.
        participant: ParticipantInfo,
        /// The others already in the room.
        participants: Vec<ParticipantInfo>,
        /// ICE servers.
        ice_servers: Value,
    },
    /// `offer`.
    Offer {
        /// SDP.
        sdp: String,
    },
    /// `answer`.
    Answer {
        /// SDP.
        sdp: String,
    },
    /// `candidate`.
    Candidate {
        /// The candidate.
        candidate: CandidateInfo,
    },
    /// `participant_joined`.
    ParticipantJoined {
        /// Who joined.
        participant: ParticipantInfo,
    },
    /// `participant_left`.
    ParticipantLeft {
        /// Who left.
        participant_id: String,
    },
    /// `track_published`.
    TrackPublished {
        /// The track.
        track: TrackInfo,
    },
    /// `track_unpublished`.
    TrackUnpublished {
        /// The track id.
        track_id: String,
    },
    /// `track_muted`.
    TrackMuted {
        /// The track id.
        track_id: String,
        /// Muted or not.
        muted: bool,
    },
    /// `subscription`.
    Subscription {
        /// The track id.
        track_id: String,
        /// The layer now sent (a rid, or null).
        layer: Value,
        /// Whether the down track is paused.
        paused: bool,
        /// Why it changed.
        reason: Option<String>,
    },
    /// `active_speakers`.
    ActiveSpeakers {
        /// `[{participant_id, level}]`, loudest first.
        speakers: Vec<Value>,
    },
    /// `error`.
    Error {
        /// snake_case code.
        code: String,
        /// Human text.
        message: String,
    },
    /// `leave`.
    Leave {
        /// Why.
        reason: String,
    },
    /// Any other message (unknown type or unexpected shape).
    Other(Value),
}

fn field<T: serde::de::DeserializeOwned>(v: &Value, k: &str) -> Option<T> {
    serde_json::from_value(v.get(k)?.clone()).ok()
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

impl ServerMsg {
    /// Parses a raw message into the typed view.
    pub fn parse(v: &Value) -> ServerMsg {
        Self::try_parse(v).unwrap_or_else(|| ServerMsg::Other(v.clone()))
    }

    fn try_parse(v: &Value) -> Option<ServerMsg> {
        Some(match v.get("type")?.as_str()? {
            "joined" => ServerMsg::Joined {
                room: v.get("room").cloned().unwrap_or(Value::Null),
                participant: field(v, "participant")?,
                participants: field(v, "participants").unwrap_or_default(),
                ice_servers: v.get("ice_servers").cloned().unwrap_or(Value::Null),
            },
            "offer" => ServerMsg::Offer {
                sdp: str_field(v, "sdp")?,
            },
            "answer" => ServerMsg::Answer {
                sdp: str_field(v, "sdp")?,
            },
            "candidate" => ServerMsg::Candidate {
                candidate: field(v, "candidate")?,
            },
            "participant_joined" => ServerMsg::ParticipantJoined {
                participant: field(v, "participant")?,
            },
            "participant_left" => ServerMsg::ParticipantLeft {
                participant_id: str_field(v, "participant_id")?,
            },
            "track_published" => ServerMsg::TrackPublished {
                track: field(v, "track")?,
            },
            "track_unpublished" => ServerMsg::TrackUnpublished {
                track_id: str_field(v, "track_id")?,
            },
            "track_muted" => ServerMsg::TrackMuted {
                track_id: str_field(v, "track_id")?,
                muted: v.get("muted")?.as_bool()?,
            },
            "subscription" => ServerMsg::Subscription {
                track_id: str_field(v, "track_id")?,
                layer: v.get("layer").cloned().unwrap_or(Value::Null),
                paused: v.get("paused").and_then(Value::as_bool).unwrap_or(false),
                reason: str_field(v, "reason"),
            },
            "active_speakers" => ServerMsg::ActiveSpeakers {
                speakers: field(v, "speakers")?,
            },
            "error" => ServerMsg::Error {
                code: str_field(v, "code").unwrap_or_default(),
                message: str_field(v, "message").unwrap_or_default(),
            },
            "leave" => ServerMsg::Leave {
                reason: str_field(v, "reason").unwrap_or_default(),
            },
            _ => return None,
        })
    }
}

/// The `"type"` of a raw message ("" if absent).
pub fn msg_type(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Predicate helper: the message has this `"type"`.
pub fn is_type(t: &'static str) -> impl Fn(&Value) -> bool {
    move |v| msg_type(v) == t
}

/// How the socket ended, as seen by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// Close code from the server's close frame, if any.
    pub code: Option<u16>,
    /// Close reason from the server's close frame.
    pub reason: String,
    /// When the close was observed.
    pub at: Instant,
}

#[derive(Default)]
struct LogState {
    messages: Vec<(Instant, Value)>,
    /// Text frames that were not valid JSON.
    non_json: Vec<String>,
    closed: Option<CloseInfo>,
    subscribers: Vec<mpsc::UnboundedSender<Value>>,
}

/// A signalling connection: a writer, a reader task feeding the event log, and waiters.
pub struct SignalClient {
    out: mpsc::UnboundedSender<Message>,
    state: Arc<Mutex<LogState>>,
    changed: watch::Receiver<u64>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
    url: String,
}

impl SignalClient {
    /// Connects to a `ws://` URL (e.g. [`crate::TestServer::ws_url`]); 10 s bound.
    pub async fn connect(url: &str) -> Result<SignalClient> {
        match tokio::time::timeout(Duration::from_secs(10), Self::connect_raw(url)).await {
            Ok(r) => r.with_context(|| format!("websocket connect to {url}")),
            Err(_) => bail!("websocket connect to {url} timed out"),
        }
    }

    /// Connects, returning the raw tungstenite error (e.g. `Error::Http` with a 401 response).
    pub async fn connect_raw(
        url: &str,
    ) -> std::result::Result<SignalClient, tokio_tungstenite::tungstenite::Error> {
        let (ws, _resp) = tokio_tungstenite::connect_async(url).await?;
        let (mut sink, mut stream) = ws.split();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let state = Arc::new(Mutex::new(LogState::default()));
        let (changed_tx, changed_rx) = watch::channel(0u64);
        let changed_tx = Arc::new(changed_tx);

        let writer = tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                let is_close = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || is_close {
                    break;
                }
            }
            let _ = sink.close().await;
        });

        let st = state.clone();
        let ch = changed_tx.clone();
        let out_for_pong = out_tx.clone();
        let reader = tokio::spawn(async move {
            let mut close = None;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(Message::Text(t)) => {
                        let text = t.to_string();
                        let mut s = lock(&st);
                        match serde_json::from_str::<Value>(&text) {
                            Ok(v) => {
                                s.subscribers.retain(|tx| tx.send(v.clone()).is_ok());
                                s.messages.push((Instant::now(), v));
                            }
                            Err(_) => s.non_json.push(text),
                        }
                        drop(s);
                        ch.send_modify(|n| *n += 1);
                    }
                    Ok(Message::Ping(p)) => {
                        let _ = out_for_pong.send(Message::Pong(p));
                    }
                    Ok(Message::Close(frame)) => {
                        close = Some(frame);
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let (code, reason) = match close.flatten() {
                Some(CloseFrame { code, reason }) => (Some(u16::from(code)), reason.to_string()),
                None => (None, String::new()),
            };
            let mut s = lock(&st);
            s.closed = Some(CloseInfo {
                code,
                reason,
                at: Instant::now(),
            });
            s.subscribers.clear();
            drop(s);
            ch.send_modify(|n| *n += 1);
        });

        Ok(SignalClient {
            out: out_tx,
            state,
            changed: changed_rx,
            reader,
            writer,
            url: url.to_owned(),
        })
    }

    /// The URL this client connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one JSON message.
    pub fn send(&self, msg: &Value) -> Result<()> {
        self.send_raw(&msg.to_string())
    }

    /// Sends an arbitrary text frame (for bad-input tests).
    pub fn send_raw(&self, text: &str) -> Result<()> {
        self.out
            .send(Message::Text(text.to_owned().into()))
            .map_err(|_| anyhow!("signalling socket closed"))
    }

    /// Sends a binary frame (for bad-input tests).
    pub fn send_binary(&self, data: Vec<u8>) -> Result<()> {
        self.out
            .send(Message::Binary(data.into()))
            .map_err(|_| anyhow!("signalling socket closed"))
    }

    /// Sends a close frame and stops writing.
    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }

    /// Drops the TCP connection without a close frame (simulates a crashed client).
    pub fn abort(&self) {
        self.writer.abort();
        self.reader.abort();
    }

    /// A copy of every JSON message received so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        lock(&self.state)
            .messages
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Messages received so far with their arrival time.
    pub fn messages_timed(&self) -> Vec<(Instant, Value)> {
        lock(&self.state).messages.clone()
    }

    /// Received messages of one `"type"`.
    pub fn messages_of_type(&self, t: &str) -> Vec<Value> {
        lock(&self.state)
            .messages
            .iter()
            .filter(|(_, v)| msg_type(v) == t)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Number of JSON messages received so far (a cursor for [`Self::wait_for_from`]).
    pub fn len(&self) -> usize {
        lock(&self.state).messages.len()
    }

    /// Whether no message was received yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Text frames that were not JSON.
    pub fn non_json(&self) -> Vec<String> {
        lock(&self.state).non_json.clone()
    }

    /// How the socket closed, if it did.
    pub fn closed(&self) -> Option<CloseInfo> {
        lock(&self.state).closed.clone()
    }

    /// A live feed of every JSON message received from now on.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Value> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut s = lock(&self.state);
        if s.closed.is_none() {
            s.subscribers.push(tx);
        }
        rx
    }

    /// Like [`Self::subscribe`] but first replays the messages already received.
    pub fn subscribe_with_history(&self) -> mpsc::UnboundedReceiver<Value> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut s = lock(&self.state);
        for (_, v) in &s.messages {
            let _ = tx.send(v.clone());
        }
        if s.closed.is_none() {
            s.subscribers.push(tx);
        }
        rx
    }

    /// Waits for any message (already received or future) matching `pred`.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value> {
        self.wait_for_from(0, pred, timeout).await
    }

    /// Waits for a message of the given type.
    pub async fn wait_for_type(&self, t: &str, timeout: Duration) -> Result<Value> {
        self.wait_for(|v| msg_type(v) == t, timeout).await
    }

    /// Waits for a message at index >= `start` (see [`Self::len`]) matching `pred`.
    pub async fn wait_for_from(
        &self,
        start: usize,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut changed = self.changed.clone();
        let mut next = start;
        loop {
            changed.borrow_and_update();
            {
                let s = lock(&self.state);
                while next < s.messages.len() {
                    if pred(&s.messages[next].1) {
                        return Ok(s.messages[next].1.clone());
                    }
                    next += 1;
                }
                if s.closed.is_some() {
                    bail!(
                        "signalling socket closed ({:?}) before the awaited message; got: {}",
                        s.closed,
                        summarize(&s.messages)
                    );
                }
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero()
                || tokio::time::timeout(remaining, changed.changed())
                    .await
                    .is_err()
            {
                let s = lock(&self.state);
                bail!(
                    "timed out after {timeout:?} waiting for a signalling message; got: {}",
                    summarize(&s.messages)
                );
            }
        }
    }

    /// Asserts that no message matching `pred` arrives (from index `start`) within `window`.
    pub async fn expect_none_from(
        &self,
        start: usize,
        pred: impl Fn(&Value) -> bool,
        window: Duration,
    ) -> Result<()> {
        tokio::time::sleep(window).await;
        let s = lock(&self.state);
        if let Some((_, v)) = s.messages.iter().skip(start).find(|(_, v)| pred(v)) {
            bail!("unexpected signalling message: {v}");
        }
        Ok(())
    }

    /// Waits (bounded) until the server closes the socket.
    pub async fn wait_closed(&self, timeout: Duration) -> Result<CloseInfo> {
        let deadline = Instant::now() + timeout;
        let mut changed = self.changed.clone();
        loop {
            changed.borrow_and_update();
            if let Some(c) = self.closed() {
                return Ok(c);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero()
                || tokio::time::timeout(remaining, changed.changed())
                    .await
                    .is_err()
            {
                bail!("socket still open after {timeout:?}");
            }
        }
    }
}

/// A short "type, type, ..." summary of a message log (for error messages).
fn summarize(msgs: &[(Instant, Value)]) -> String {
    let types: Vec<String> = msgs
        .iter()
        .map(|(_, v)| match ServerMsg::parse(v) {
            ServerMsg::Error { code, .. } => format!("error({code})"),
            ServerMsg::Leave { reason } => format!("leave({reason})"),
            _ => msg_type(v).to_owned(),
        })
        .collect();
    format!("[{}]", types.join(", "))
}

impl Drop for SignalClient {
    fn drop(&mut self) {
        self.reader.abort();
        // The writer ends by itself once `out` (and its clones) are dropped.
    }
}
