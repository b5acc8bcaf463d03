//! A participant of our SFU: WebSocket signalling per API.md, media through the engine.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::token::TokenSource;
use super::{JOIN_TIMEOUT, Outcome, ParticipantPlan};
use crate::engine::{ConnEvent, EngineHandle};

/// Our server's addresses and how to get tokens for it.
#[derive(Debug, Clone)]
pub struct SfuTarget {
    /// `http://host:port`.
    pub base_url: String,
    /// Token source.
    pub tokens: TokenSource,
    /// HTTP client for tokens.
    pub http: reqwest::Client,
}

impl SfuTarget {
    fn ws_url(&self, token: &str) -> String {
        let ws = self
            .base_url
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1);
        format!("{ws}/v1/rtc?access_token={token}")
    }
}

/// Runs one participant until `stop` turns true; returns whether it connected and why it ended.
pub async fn run(
    target: Arc<SfuTarget>,
    engine: EngineHandle,
    plan: ParticipantPlan,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let mut outcome = Outcome::default();
    if let Err(e) = session(&target, &engine, &plan, &mut stop, &mut outcome).await {
        outcome.error = Some(format!("{e:#}"));
    }
    outcome
}

async fn session(
    target: &SfuTarget,
    engine: &EngineHandle,
    plan: &ParticipantPlan,
    stop: &mut watch::Receiver<bool>,
    outcome: &mut Outcome,
) -> Result<()> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + JOIN_TIMEOUT);
    let token = tokio::time::timeout_at(
        deadline,
        target
            .tokens
            .token(&target.http, &target.base_url, &plan.room, &plan.identity),
    )
    .await
    .context("token timed out")??;
    let (ws, _) = tokio::time::timeout_at(
        deadline,
        tokio_tungstenite::connect_async(target.ws_url(&token)),
    )
    .await
    .context("WebSocket connect timed out")?
    .context("WebSocket connect")?;
    let (mut sink, mut stream) = ws.split();

    // The first message is `joined` (or an error).
    let joined = loop {
        let msg = tokio::time::timeout_at(deadline, stream.next())
            .await
            .context("no joined message")?
            .ok_or_else(|| anyhow!("socket closed before joined"))??;
        if let Message::Text(text) = msg {
            let v: Value = serde_json::from_str(&text)?;
            match v["type"].as_str() {
                Some("joined") => break v,
                Some("error") => bail!("join refused: {}", v),
                _ => {}
            }
        }
    };

    let own_id = joined["participant"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let conn = engine.open(plan.publish.clone(), started, events_tx);
    // Caps for the video tracks already in the room.
    if let Some(layer) = &plan.layer_cap {
        let others = joined["participants"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for track in others
            .iter()
            .flat_map(|p| p["tracks"].as_array().cloned().unwrap_or_default())
        {
            if let Some(m) = cap_message(&track, layer) {
                sink.send(Message::Text(m.to_string().into())).await?;
            }
        }
    }

    let result: Result<()> = loop {
        let join_wait = async {
            if outcome.connected {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep_until(deadline).await;
        };
        tokio::select! {
            _ = stop.changed() => {
                let _ = sink.send(Message::Text(json!({"type": "leave"}).to_string().into())).await;
                let _ = sink.close().await;
                break Ok(());
            }
            () = join_wait => break Err(anyhow!("not connected within {JOIN_TIMEOUT:?}")),
            event = events.recv() => match event {
                Some(ConnEvent::LocalOffer(sdp)) => {
                    sink.send(Message::Text(json!({"type": "offer", "sdp": sdp}).to_string().into())).await?;
                }
                Some(ConnEvent::LocalAnswer(sdp)) => {
                    sink.send(Message::Text(json!({"type": "answer", "sdp": sdp}).to_string().into())).await?;
                }
                Some(ConnEvent::Connected) => outcome.connected = true,
                Some(ConnEvent::Failed(reason)) => break Err(anyhow!("media: {reason}")),
                None => break Err(anyhow!("engine stopped")),
            },
            msg = stream.next() => {
                let Some(msg) = msg else { break Err(anyhow!("server closed the socket")) };
                let text = match msg? {
                    Message::Text(t) => t,
                    Message::Close(_) => break Err(anyhow!("server closed the socket")),
                    _ => continue,
                };
                let v: Value = match serde_json::from_str(&text) {
                    Ok(v) => v,
                    Err(_) => continue,
                };
                match v["type"].as_str() {
                    Some("offer") => engine.remote_offer(conn, v["sdp"].as_str().unwrap_or_default().to_owned()),
                    Some("answer") => engine.remote_answer(conn, v["sdp"].as_str().unwrap_or_default().to_owned()),
                    Some("candidate") => {
                        if let Some(c) = v["candidate"]["candidate"].as_str() {
                            engine.remote_candidate(conn, c.to_owned());
                        }
                    }
                    // The server announces our own tracks too: we never subscribe to those.
                    Some("track_published") => {
                        if let Some(layer) = &plan.layer_cap
                            && v["track"]["participant_id"].as_str() != Some(own_id.as_str())
                            && let Some(m) = cap_message(&v["track"], layer)
                        {
                            sink.send(Message::Text(m.to_string().into())).await?;
                        }
                    }
                    Some("leave") => break Err(anyhow!("server sent leave: {}", v["reason"])),
                    Some("error") => tracing::warn!(participant = %plan.identity, message = %v, "server error"),
                    _ => {}
                }
            }
        }
    };
    engine.close(conn);
    result
}

/// `set_subscription` capping a video track at `layer`; None for audio.
fn cap_message(track: &Value, layer: &str) -> Option<Value> {
    if track["kind"].as_str() != Some("video") {
        return None;
    }
    let id = track["id"].as_str()?;
    Some(json!({"type": "set_subscription", "track_id": id, "layer": layer}))
}
