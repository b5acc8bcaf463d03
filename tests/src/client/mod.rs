//! `TestClient`: one participant = one `webrtc` peer connection + one signalling socket.
//!
//! The media/recording side lives in [`peer::WebrtcPeer`] (usable without a server, see the
//! selftest); `TestClient` adds the signalling, the polite-peer negotiator and helpers that
//! know the API (`track_info`, `subscribe`, ...). `TestClient` derefs to `WebrtcPeer`.

pub mod feedback;
pub mod media;
pub mod negotiate;
pub mod peer;
pub mod recv;

pub use feedback::{
    FeedbackLog, KeyframeRequest, KeyframeRequestKind, SentFeedback, SsrcFeedback, WireRtpStats,
};
pub use media::{MediaKind, PublishedTrack, SentPacket, SentStream};
pub use peer::{ClientOptions, DataMessage, VideoOptions, WebrtcPeer};
pub use recv::{ReceivedPacket, RemoteTrack, seq_continuity};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::lossy_relay::LossyRelay;
use crate::server::TestServer;
use crate::signal::{ParticipantInfo, ServerMsg, SignalClient, TrackInfo, msg_type};
use crate::util::lock;
use negotiate::{NegCmd, Negotiator, Rewrite};

/// Bound on one negotiation round (offer sent to answer applied).
pub const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(15);

/// One participant connected to the server.
pub struct TestClient {
    peer: Arc<WebrtcPeer>,
    signal: Arc<SignalClient>,
    participant: ParticipantInfo,
    joined: Value,
    cmd_tx: mpsc::UnboundedSender<NegCmd>,
    neg_log: Arc<Mutex<Vec<String>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Deref for TestClient {
    type Target = WebrtcPeer;

    fn deref(&self) -> &WebrtcPeer {
        &self.peer
    }
}

impl TestClient {
    /// Joins `room` as `identity` with a dev token and default options.
    pub async fn join(server: &TestServer, room: &str, identity: &str) -> Result<TestClient> {
        Self::join_with(server, room, identity, ClientOptions::default()).await
    }

    /// Joins with a dev token and the given options.
    pub async fn join_with(
        server: &TestServer,
        room: &str,
        identity: &str,
        opts: ClientOptions,
    ) -> Result<TestClient> {
        let token = server.dev_token(room, identity).await?;
        Self::connect_url(&server.ws_url(&token), None, opts).await
    }

    /// Joins through a lossy relay: the server's candidates are rewritten to the relay.
    pub async fn join_via_relay(
        server: &TestServer,
        room: &str,
        identity: &str,
        relay: &LossyRelay,
        opts: ClientOptions,
    ) -> Result<TestClient> {
        let token = server.dev_token(room, identity).await?;
        Self::connect_url(
            &server.ws_url(&token),
            Some((relay.upstream(), relay.addr())),
            opts,
        )
        .await
    }

    /// Connects with an explicit token (e.g. from `sfu-server token`).
    pub async fn connect(
        server: &TestServer,
        token: &str,
        opts: ClientOptions,
    ) -> Result<TestClient> {
        Self::connect_url(&server.ws_url(token), None, opts).await
    }

    /// Connects to a signalling URL; `rewrite` = (server media address, relay address).
    pub async fn connect_url(
        ws_url: &str,
        rewrite: Option<(SocketAddr, SocketAddr)>,
        opts: ClientOptions,
    ) -> Result<TestClient> {
        let timeout = opts.connect_timeout;
        let signal = Arc::new(SignalClient::connect(ws_url).await?);
        let joined = signal
            .wait_for(
                |v| matches!(msg_type(v), "joined" | "error" | "leave"),
                timeout,
            )
            .await
            .context("waiting for `joined`")?;
        let participant = match ServerMsg::parse(&joined) {
            ServerMsg::Joined { participant, .. } => participant,
            other => bail!("expected `joined`, got {other:?}"),
        };
        let wait_connected = opts.wait_connected;
        let create_dc = opts.create_data_channel;
        let peer = Arc::new(WebrtcPeer::new(opts).await?);

        let neg_log = Arc::new(Mutex::new(Vec::new()));
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let negotiator = Negotiator::new(
            peer.clone(),
            signal.clone(),
            rewrite.map(|(from, to)| Rewrite {
                from_port: from.port(),
                to,
            }),
            neg_log.clone(),
        );
        let msgs = signal.subscribe_with_history();
        let mut tasks = vec![tokio::spawn(negotiator.run(cmd_rx, msgs))];
        if let Some(cands) = peer.take_local_candidates() {
            tasks.push(tokio::spawn(negotiate::send_candidates(
                peer.clone(),
                signal.clone(),
                cands,
            )));
        }
        let client = TestClient {
            peer,
            signal,
            participant,
            joined,
            cmd_tx,
            neg_log,
            tasks,
        };
        if create_dc {
            client.peer.create_data_channel("data").await?;
            client.negotiate().await?;
        }
        if wait_connected {
            client.peer.wait_connected(timeout).await.with_context(|| {
                format!(
                    "waiting for the peer connection; negotiation log: {:?}",
                    client.negotiation_log()
                )
            })?;
        }
        Ok(client)
    }

    // ---- identity ----

    /// The server-assigned participant id.
    pub fn participant_id(&self) -> &str {
        &self.participant.id
    }

    /// The identity from the token.
    pub fn identity(&self) -> &str {
        &self.participant.identity
    }

    /// The `joined` message.
    pub fn joined(&self) -> &Value {
        &self.joined
    }

    /// Participants already in the room when we joined.
    pub fn participants_at_join(&self) -> Vec<ParticipantInfo> {
        match ServerMsg::parse(&self.joined) {
            ServerMsg::Joined { participants, .. } => participants,
            _ => Vec::new(),
        }
    }

    /// The signalling connection.
    pub fn signal(&self) -> &Arc<SignalClient> {
        &self.signal
    }

    /// The peer (also reachable through `Deref`).
    pub fn peer(&self) -> &Arc<WebrtcPeer> {
        &self.peer
    }

    /// What the negotiator did, with timestamps (for failure messages).
    pub fn negotiation_log(&self) -> Vec<String> {
        lock(&self.neg_log).clone()
    }

    // ---- negotiation ----

    async fn request(&self, force: bool) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.cmd_tx
            .send(NegCmd::Negotiate { force, done: tx })
            .map_err(|_| anyhow!("negotiator stopped"))?;
        match tokio::time::timeout(NEGOTIATION_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => bail!("negotiator dropped the request"),
            Err(_) => bail!(
                "negotiation did not complete within {NEGOTIATION_TIMEOUT:?}; log: {:?}",
                self.negotiation_log()
            ),
        }
    }

    /// Offers if there are unnegotiated changes; waits until they are answered.
    pub async fn negotiate(&self) -> Result<()> {
        self.request(false).await
    }

    /// Always sends a new offer and waits for its answer.
    pub async fn renegotiate(&self) -> Result<()> {
        self.request(true).await
    }

    // ---- publishing ----

    /// Publishes synthetic Opus (PT 111) as "microphone" and negotiates.
    pub async fn publish_audio(&self) -> Result<PublishedTrack> {
        let t = self.peer.add_audio_track("microphone").await?;
        self.negotiate().await?;
        Ok(t)
    }

    /// Publishes synthetic VP8 as "camera" (q/h/f simulcast if `simulcast`) and negotiates.
    pub async fn publish_video(&self, simulcast: bool) -> Result<PublishedTrack> {
        self.publish_video_with(VideoOptions::simulcast(simulcast))
            .await
    }

    /// Publishes synthetic VP8 with explicit options and negotiates.
    pub async fn publish_video_with(&self, v: VideoOptions) -> Result<PublishedTrack> {
        let t = self.peer.add_video_track(&v).await?;
        self.negotiate().await?;
        Ok(t)
    }

    /// Stops a track, removes its sender and renegotiates.
    pub async fn unpublish(&self, t: &PublishedTrack) -> Result<()> {
        self.peer.remove_track(t).await?;
        self.renegotiate().await
    }

    // ---- signalling helpers ----

    /// Sends a raw JSON message on the signalling socket.
    pub fn send_signal(&self, v: &Value) -> Result<()> {
        self.signal.send(v)
    }

    /// `{"type":"subscribe","track_id","subscribe"}`.
    pub fn subscribe_track(&self, track_id: &str, subscribe: bool) -> Result<()> {
        self.signal.send(&json!({
            "type": "subscribe", "track_id": track_id, "subscribe": subscribe,
        }))
    }

    /// `{"type":"set_subscription","track_id", ...fields}` (fields: max_width, layer, ...).
    pub fn set_subscription(&self, track_id: &str, fields: Value) -> Result<()> {
        let mut m = json!({"type": "set_subscription", "track_id": track_id});
        if let (Some(obj), Some(extra)) = (m.as_object_mut(), fields.as_object()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        self.signal.send(&m)
    }

    /// `{"type":"mute","track_id","muted"}`.
    pub fn mute(&self, track_id: &str, muted: bool) -> Result<()> {
        self.signal.send(&json!({
            "type": "mute", "track_id": track_id, "muted": muted,
        }))
    }

    /// Every track of `participant_id` this client has heard of (joined, participant_joined,
    /// track_published), minus unpublished ones.
    pub fn known_tracks_of(&self, participant_id: &str) -> Vec<TrackInfo> {
        let mut tracks: Vec<TrackInfo> = Vec::new();
        let push = |t: TrackInfo, tracks: &mut Vec<TrackInfo>| {
            tracks.retain(|x| x.id != t.id);
            tracks.push(t);
        };
        for v in self.signal.messages() {
            match ServerMsg::parse(&v) {
                ServerMsg::Joined { participants, .. } => {
                    for p in participants.into_iter().filter(|p| p.id == participant_id) {
                        for t in p.tracks {
                            push(t, &mut tracks);
                        }
                    }
                }
                ServerMsg::ParticipantJoined { participant }
                    if participant.id == participant_id =>
                {
                    for t in participant.tracks {
                        push(t, &mut tracks);
                    }
                }
                ServerMsg::TrackPublished { track } if track.participant_id == participant_id => {
                    push(track, &mut tracks);
                }
                ServerMsg::TrackUnpublished { track_id } => tracks.retain(|t| t.id != track_id),
                _ => {}
            }
        }
        tracks
    }

    /// Waits until this client has heard of a `kind` track published by `participant_id`.
    pub async fn wait_track_published_by(
        &self,
        participant_id: &str,
        kind: MediaKind,
        timeout: Duration,
    ) -> Result<TrackInfo> {
        let mut found = None;
        crate::util::wait_until(timeout, || {
            found = self
                .known_tracks_of(participant_id)
                .into_iter()
                .find(|t| t.kind == kind.as_str());
            found.is_some()
        })
        .await;
        found.ok_or_else(|| {
            anyhow!(
                "no {} track of {participant_id} announced within {timeout:?}",
                kind.as_str()
            )
        })
    }

    /// Waits for the server's Track for one of our own published tracks (matched by mid),
    /// looking at our own `track_published` messages.
    pub async fn wait_own_track(&self, t: &PublishedTrack, timeout: Duration) -> Result<TrackInfo> {
        let mid = t
            .mid()
            .await
            .ok_or_else(|| anyhow!("track has no mid yet"))?;
        let me = self.participant_id().to_owned();
        let v = self
            .signal
            .wait_for(
                |v| match ServerMsg::parse(v) {
                    ServerMsg::TrackPublished { track } => {
                        track.participant_id == me && track.mid.as_deref() == Some(mid.as_str())
                    }
                    _ => false,
                },
                timeout,
            )
            .await?;
        match ServerMsg::parse(&v) {
            ServerMsg::TrackPublished { track } => Ok(track),
            _ => bail!("unreachable"),
        }
    }

    // ---- leaving ----

    /// Whether the first packet of `track` that reached this client's wire started a VP8
    /// keyframe. Judged at the wire (below webrtc-rs's bounded receive queue), where the
    /// server's choice shows even if the application's reader lagged under load.
    pub fn first_wire_packet_is_keyframe(&self, track: &RemoteTrack) -> Option<bool> {
        let ssrc = track.media_ssrc()?;
        self.feedback().wire_rtp().get(&ssrc)?.first_is_vp8_keyframe
    }

    /// Sends `{"type":"leave"}`, closes the peer connection and the socket.
    pub async fn leave(&self) -> Result<()> {
        let r = self.signal.send(&json!({"type": "leave"}));
        let _ = self.signal.wait_closed(Duration::from_secs(2)).await;
        self.peer.close_peer().await;
        self.signal.close();
        r
    }

    /// Closes the peer connection and the socket without sending `leave`.
    pub async fn close(&self) {
        self.peer.close_peer().await;
        self.signal.close();
    }

    /// Drops the socket without a close frame and closes the peer connection (a crash).
    pub async fn disconnect_abruptly(&self) {
        self.signal.abort();
        self.peer.close_peer().await;
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
