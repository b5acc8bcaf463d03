//! `WebrtcPeer`: one `webrtc` 0.21 peer connection with recording of everything it sends and
//! receives, independent of any signalling (the selftest wires two of them directly).

use anyhow::{Context, Result, anyhow, bail};
use bytes::{Bytes, BytesMut};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceConnectionState, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, Registry, SettingEngineBuilder,
};

use super::feedback::{FeedbackInterceptor, FeedbackLog};
use super::media::{
    AUDIO_LEVEL_URI, GenContext, GenControl, MID_URI, MediaKind, PublishedTrack, SentStream,
    run_audio, run_video,
};
use super::recv::{ReceivedPacket, RemoteTrack};
use crate::util::{lock, wait_until};

/// Payload type used for Opus.
pub const OPUS_PT: u8 = 111;
/// Payload type used for VP8.
pub const VP8_PT: u8 = 96;
/// Payload type used for VP8's RTX.
pub const VP8_RTX_PT: u8 = 97;

/// Options of a client peer.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Create a data channel labelled "data" at start (and include it in the first offer).
    pub create_data_channel: bool,
    /// `TestClient::join*` waits for the peer connection to be connected.
    pub wait_connected: bool,
    /// Bound on joining (token, socket, `joined`) and on connecting.
    pub connect_timeout: Duration,
    /// DTLS role used when answering an offer. The server (str0m, ICE-lite) answers our first
    /// offer with `a=setup:passive`, making us the DTLS client; answering its re-offers must
    /// keep that role, and webrtc 0.21 takes the answering role from this setting only.
    pub answering_dtls_role: RTCDtlsRole,
    /// Bound on NACKs sent per missing packet by the NACK generator.
    pub max_nacks_per_packet: u16,
    /// Register VP8 RTX (so single-layer video publishes RTX and received RTX is understood).
    pub enable_rtx: bool,
    /// Periodic keyframe interval of the video generators (`None`: only start and PLI/FIR).
    pub keyframe_interval: Option<Duration>,
    /// Generators stop after this long (bounds leaked tasks).
    pub max_media_duration: Duration,
    /// Keep every sent payload (for byte-identity checks).
    pub record_sent_payloads: bool,
    /// Local UDP address to bind.
    pub bind_addr: SocketAddr,
    /// Send `track_info` before each offer for published m-lines.
    pub send_track_info: bool,
    /// De-encapsulate RTX at the wire so the NACK generator sees recovered packets (see
    /// `client::feedback`); `false` keeps webrtc 0.21's own behaviour.
    pub early_rtx_deencapsulation: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            create_data_channel: true,
            wait_connected: true,
            connect_timeout: Duration::from_secs(15),
            answering_dtls_role: RTCDtlsRole::Client,
            max_nacks_per_packet: 3,
            enable_rtx: true,
            keyframe_interval: Some(Duration::from_secs(3)),
            max_media_duration: Duration::from_secs(600),
            record_sent_payloads: true,
            bind_addr: ([127, 0, 0, 1], 0).into(),
            send_track_info: true,
            early_rtx_deencapsulation: true,
        }
    }
}

/// Options of a published video track.
#[derive(Debug, Clone)]
pub struct VideoOptions {
    /// Send three RID layers ("q", "h", "f" by default).
    pub simulcast: bool,
    /// RIDs of the layers, low to high.
    pub rids: Vec<String>,
    /// `track_info` source.
    pub source: String,
}

impl Default for VideoOptions {
    fn default() -> Self {
        Self {
            simulcast: false,
            rids: vec!["q".into(), "h".into(), "f".into()],
            source: "camera".into(),
        }
    }
}

impl VideoOptions {
    /// Single-layer (`false`) or q/h/f simulcast (`true`) camera video.
    pub fn simulcast(simulcast: bool) -> Self {
        Self {
            simulcast,
            ..Default::default()
        }
    }
}

/// One data channel message received.
#[derive(Debug, Clone)]
pub struct DataMessage {
    /// Label of the channel it arrived on.
    pub label: String,
    /// Whether that channel was created by this peer.
    pub local_channel: bool,
    /// Whether it was a text message.
    pub is_string: bool,
    /// The bytes.
    pub data: Bytes,
    /// Arrival time.
    pub at: Instant,
}

impl DataMessage {
    /// The message as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

pub(crate) struct ChannelEntry {
    pub(crate) dc: Arc<dyn DataChannel>,
    pub(crate) label: String,
    pub(crate) local: bool,
    pub(crate) open: Arc<AtomicBool>,
}

pub(crate) struct PeerShared {
    pub(crate) feedback: Arc<FeedbackLog>,
    pub(crate) remote_tracks: Mutex<Vec<Arc<RemoteTrack>>>,
    pub(crate) channels: Mutex<Vec<ChannelEntry>>,
    pub(crate) data: Mutex<Vec<DataMessage>>,
    pub(crate) conn_tx: watch::Sender<RTCPeerConnectionState>,
    pub(crate) ice_tx: watch::Sender<RTCIceConnectionState>,
    pub(crate) cand_tx: mpsc::UnboundedSender<RTCIceCandidateInit>,
    pub(crate) negotiations: watch::Sender<u64>,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl PeerShared {
    fn spawn(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        let h = tokio::spawn(f);
        let mut t = lock(&self.tasks);
        t.retain(|h| !h.is_finished());
        t.push(h);
    }

    fn add_channel(self: &Arc<Self>, dc: Arc<dyn DataChannel>, label: String, local: bool) {
        let open = Arc::new(AtomicBool::new(false));
        lock(&self.channels).push(ChannelEntry {
            dc: dc.clone(),
            label: label.clone(),
            local,
            open: open.clone(),
        });
        let me = self.clone();
        self.spawn(async move {
            while let Some(ev) = dc.poll().await {
                match ev {
                    DataChannelEvent::OnOpen => {
                        open.store(true, std::sync::atomic::Ordering::Relaxed)
                    }
                    DataChannelEvent::OnMessage(m) => lock(&me.data).push(DataMessage {
                        label: label.clone(),
                        local_channel: local,
                        is_string: m.is_string,
                        data: m.data.freeze(),
                        at: Instant::now(),
                    }),
                    DataChannelEvent::OnClose => break,
                    _ => {}
                }
            }
            open.store(false, std::sync::atomic::Ordering::Relaxed);
        });
    }
}

struct Handler {
    shared: Arc<PeerShared>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.shared.cand_tx.send(init);
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.shared.ice_tx.send_replace(state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.shared.conn_tx.send_replace(state);
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let label = dc.label().await.unwrap_or_default();
        self.shared.add_channel(dc, label, false);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let rt = RemoteTrack::new(track).await;
        lock(&self.shared.remote_tracks).push(rt.clone());
        self.shared.spawn(rt.read_loop());
    }
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "video/VP8".into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// Media engine: Opus 111, VP8 96 (+ RTX 97), NACK/PLI/FIR feedback, mid/rid/audio-level.
fn media_engine_and_registry(
    opts: &ClientOptions,
    feedback: Arc<FeedbackLog>,
) -> Result<(MediaEngine, Registry)> {
    let mut me = MediaEngine::default();
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PT,
        },
        RtpCodecKind::Audio,
    )?;
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8_codec(),
            payload_type: VP8_PT,
        },
        RtpCodecKind::Video,
    )?;
    if opts.enable_rtx {
        me.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: "video/rtx".into(),
                    clock_rate: 90_000,
                    channels: 0,
                    sdp_fmtp_line: format!("apt={VP8_PT}"),
                    rtcp_feedback: vec![],
                },
                payload_type: VP8_RTX_PT,
            },
            RtpCodecKind::Video,
        )?;
    }
    for (typ, parameter) in [("nack", ""), ("nack", "pli"), ("ccm", "fir")] {
        me.register_feedback(
            RTCPFeedback {
                typ: typ.into(),
                parameter: parameter.into(),
            },
            RtpCodecKind::Video,
        );
    }
    configure_simulcast_extension_headers(&mut me)?;
    for uri in [MID_URI, AUDIO_LEVEL_URI] {
        me.register_header_extension(
            RTCRtpHeaderExtensionCapability { uri: uri.into() },
            RtpCodecKind::Audio,
            None,
        )?;
    }
    let registry = Registry::new()
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new()
                .with_max_nacks_per_packet(opts.max_nacks_per_packet)
                .build(),
        );
    let registry = configure_twcc_receiver_only(registry, &mut me)?;
    let registry = configure_rtcp_reports(registry);
    // Wire-most: sees raw inbound RTP/RTCP and all outbound RTCP.
    let registry = registry.with(
        Slot::from(500),
        FeedbackInterceptor::new(feedback, opts.early_rtx_deencapsulation),
    );
    Ok((me, registry))
}

/// One webrtc peer connection with recording; see the module docs.
pub struct WebrtcPeer {
    pc: Arc<dyn PeerConnection>,
    pub(crate) shared: Arc<PeerShared>,
    pub(crate) opts: ClientOptions,
    published: Mutex<Vec<PublishedTrack>>,
    cand_rx: Mutex<Option<mpsc::UnboundedReceiver<RTCIceCandidateInit>>>,
    conn_rx: watch::Receiver<RTCPeerConnectionState>,
    ice_rx: watch::Receiver<RTCIceConnectionState>,
}

fn rand_id(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

impl WebrtcPeer {
    /// Builds the peer connection (bound to `opts.bind_addr`) and its recording handlers.
    pub async fn new(opts: ClientOptions) -> Result<WebrtcPeer> {
        let feedback = Arc::new(FeedbackLog::default());
        let (conn_tx, conn_rx) = watch::channel(RTCPeerConnectionState::New);
        let (ice_tx, ice_rx) = watch::channel(RTCIceConnectionState::New);
        let (cand_tx, cand_rx) = mpsc::unbounded_channel();
        let (negotiations, _) = watch::channel(0u64);
        let shared = Arc::new(PeerShared {
            feedback: feedback.clone(),
            remote_tracks: Mutex::new(Vec::new()),
            channels: Mutex::new(Vec::new()),
            data: Mutex::new(Vec::new()),
            conn_tx,
            ice_tx,
            cand_tx,
            negotiations,
            tasks: Mutex::new(Vec::new()),
        });
        let (me, registry) = media_engine_and_registry(&opts, feedback)?;
        let se = SettingEngineBuilder::new()
            .with_answering_dtls_role(opts.answering_dtls_role)
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .build();
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(me)
            .with_setting_engine(se)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(Handler {
                shared: shared.clone(),
            }))
            .with_udp_addrs(vec![opts.bind_addr])
            .build()
            .await
            .context("building the peer connection")?;
        Ok(WebrtcPeer {
            pc: Arc::new(pc),
            shared,
            opts,
            published: Mutex::new(Vec::new()),
            cand_rx: Mutex::new(Some(cand_rx)),
            conn_rx,
            ice_rx,
        })
    }

    /// The underlying peer connection.
    pub fn pc(&self) -> &Arc<dyn PeerConnection> {
        &self.pc
    }

    /// The options this peer was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// Takes the stream of locally gathered ICE candidates (once).
    pub fn take_local_candidates(&self) -> Option<mpsc::UnboundedReceiver<RTCIceCandidateInit>> {
        lock(&self.cand_rx).take()
    }

    /// Tells the generators that a negotiation completed (re-read payload types/ext ids).
    pub fn mark_negotiated(&self) {
        self.shared.negotiations.send_modify(|n| *n += 1);
    }

    /// Number of completed negotiations (as marked).
    pub fn negotiation_count(&self) -> u64 {
        *self.shared.negotiations.borrow()
    }

    /// Current peer connection state.
    pub fn connection_state(&self) -> RTCPeerConnectionState {
        *self.conn_rx.borrow()
    }

    /// Current ICE connection state.
    pub fn ice_connection_state(&self) -> RTCIceConnectionState {
        *self.ice_rx.borrow()
    }

    /// A receiver of peer connection state changes.
    pub fn connection_state_watch(&self) -> watch::Receiver<RTCPeerConnectionState> {
        self.conn_rx.clone()
    }

    /// Waits until the peer connection state satisfies `pred`.
    pub async fn wait_connection_state(
        &self,
        pred: impl Fn(RTCPeerConnectionState) -> bool,
        timeout: Duration,
    ) -> Result<RTCPeerConnectionState> {
        let mut rx = self.conn_rx.clone();
        let deadline = Instant::now() + timeout;
        loop {
            let s = *rx.borrow_and_update();
            if pred(s) {
                return Ok(s);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => bail!("peer connection state is {s} after {timeout:?}"),
            }
        }
    }

    /// Waits until the peer connection is connected (fails early on Failed/Closed).
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        let s = self
            .wait_connection_state(
                |s| {
                    matches!(
                        s,
                        RTCPeerConnectionState::Connected
                            | RTCPeerConnectionState::Failed
                            | RTCPeerConnectionState::Closed
                    )
                },
                timeout,
            )
            .await?;
        if s != RTCPeerConnectionState::Connected {
            bail!("peer connection is {s}");
        }
        Ok(())
    }

    // ---- publishing ----

    /// Tracks published so far (including removed ones).
    pub fn published(&self) -> Vec<PublishedTrack> {
        lock(&self.published).clone()
    }

    /// Adds a send-only Opus transceiver and starts its generator (no negotiation).
    pub async fn add_audio_track(&self, source: &str) -> Result<PublishedTrack> {
        let ssrc: u32 = rand::random();
        let stream = Arc::new(SentStream::new(
            MediaKind::Audio,
            None,
            ssrc,
            (0, 0),
            self.shared.feedback.clone(),
            self.opts.record_sent_payloads,
        ));
        let coding = RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: opus_codec(),
            ..Default::default()
        };
        self.add_track(MediaKind::Audio, source, vec![coding], vec![stream], false)
            .await
    }

    /// Adds a send-only VP8 transceiver (optionally RID simulcast) and starts its generators.
    pub async fn add_video_track(&self, v: &VideoOptions) -> Result<PublishedTrack> {
        let layers: Vec<Option<String>> = if v.simulcast {
            v.rids.iter().cloned().map(Some).collect()
        } else {
            vec![None]
        };
        let n = layers.len();
        let mut codings = Vec::new();
        let mut streams = Vec::new();
        for (i, rid) in layers.into_iter().enumerate() {
            let ssrc: u32 = rand::random();
            // Highest layer 1280x720, each lower one half the size.
            let shift = (n - 1 - i) as u32;
            let dims = (1280u16 >> shift, 720u16 >> shift);
            codings.push(RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    rid: rid.clone().unwrap_or_default(),
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: vp8_codec(),
                scale_resolution_down_by: Some(f64::from(1u32 << shift)),
                ..Default::default()
            });
            streams.push(Arc::new(SentStream::new(
                MediaKind::Video,
                rid,
                ssrc,
                dims,
                self.shared.feedback.clone(),
                self.opts.record_sent_payloads,
            )));
        }
        self.add_track(MediaKind::Video, &v.source, codings, streams, v.simulcast)
            .await
    }

    async fn add_track(
        &self,
        kind: MediaKind,
        source: &str,
        codings: Vec<RTCRtpEncodingParameters>,
        streams: Vec<Arc<SentStream>>,
        simulcast: bool,
    ) -> Result<PublishedTrack> {
        let local_track_id = rand_id(kind.as_str());
        let stream_id = rand_id("stream");
        let rtc_kind = match kind {
            MediaKind::Audio => RtpCodecKind::Audio,
            MediaKind::Video => RtpCodecKind::Video,
        };
        let mst = MediaStreamTrack::new(
            stream_id.clone(),
            local_track_id.clone(),
            local_track_id.clone(),
            rtc_kind,
            codings.clone(),
        );
        let track = Arc::new(TrackLocalStaticRTP::new(mst));
        // Explicit encodings (without RTX) for RID simulcast: RTX is not negotiated with RID
        // simulcast. Single-layer tracks let the core derive encodings (adding RTX if enabled).
        let init = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Sendonly,
            streams: vec![stream_id],
            send_encodings: if simulcast { codings } else { vec![] },
        };
        let transceiver = self
            .pc
            .add_transceiver_from_track(track.clone() as Arc<dyn TrackLocal>, Some(init))
            .await
            .context("add_transceiver_from_track")?;
        if simulcast {
            transceiver
                .set_codec_preferences(vec![RTCRtpCodecParameters {
                    rtp_codec: vp8_codec(),
                    payload_type: VP8_PT,
                }])
                .await
                .context("set_codec_preferences(VP8 only)")?;
        }
        let ctl = Arc::new(GenControl {
            stopped: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            audio_level: AtomicU8::new(20),
            force_keyframe: AtomicU64::new(0),
            stop_notify: Notify::new(),
        });
        let published = PublishedTrack {
            kind,
            local_track_id,
            source: source.to_owned(),
            streams: streams.clone(),
            transceiver: transceiver.clone(),
            track: track.clone(),
            ctl: ctl.clone(),
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        for s in streams {
            let profile = match s.rid.as_deref() {
                _ if !simulcast => (1150, 1000, 3),
                Some(r) if Some(r) == published.streams.first().and_then(|f| f.rid.as_deref()) => {
                    (700, 250, 1)
                }
                Some(r) if Some(r) == published.streams.last().and_then(|f| f.rid.as_deref()) => {
                    (1150, 1000, 3)
                }
                _ => (1000, 600, 2),
            };
            let ctx = GenContext {
                keyframe_notify: self.shared.feedback.keyframe_notify(s.ssrc),
                stream: s,
                track: track.clone(),
                transceiver: transceiver.clone(),
                ctl: ctl.clone(),
                conn_state: self.conn_rx.clone(),
                negotiations: self.shared.negotiations.subscribe(),
                keyframe_interval: self.opts.keyframe_interval,
                max_duration: self.opts.max_media_duration,
                profile,
            };
            let h = match kind {
                MediaKind::Audio => tokio::spawn(run_audio(ctx)),
                MediaKind::Video => tokio::spawn(run_video(ctx)),
            };
            lock(&published.tasks).push(h);
        }
        lock(&self.published).push(published.clone());
        Ok(published)
    }

    /// Stops a track's generators and removes its sender (the caller renegotiates).
    pub async fn remove_track(&self, t: &PublishedTrack) -> Result<()> {
        t.stop();
        let sender = t
            .transceiver
            .sender()
            .await?
            .ok_or_else(|| anyhow!("track has no sender"))?;
        self.pc.remove_track(&sender).await?;
        Ok(())
    }

    /// Mids of the published RID-simulcast m-lines.
    pub async fn simulcast_mids(&self) -> Vec<String> {
        let mut mids = Vec::new();
        for t in self.published() {
            if t.is_simulcast()
                && !t.is_stopped()
                && let Some(m) = t.mid().await
            {
                mids.push(m);
            }
        }
        mids
    }

    /// The SDP to send for a local offer: RTX removed from RID-simulcast m-lines.
    pub async fn munge_offer(&self, sdp: &str) -> String {
        super::negotiate::strip_rtx_for_mids(sdp, &self.simulcast_mids().await)
    }

    // ---- receiving ----

    /// Every remote track seen so far (in `on_track` order).
    pub fn remote_tracks(&self) -> Vec<Arc<RemoteTrack>> {
        lock(&self.shared.remote_tracks).clone()
    }

    /// The latest remote track with this (server) track id.
    pub fn remote_track(&self, track_id: &str) -> Option<Arc<RemoteTrack>> {
        lock(&self.shared.remote_tracks)
            .iter()
            .rev()
            .find(|t| t.track_id == track_id)
            .cloned()
    }

    /// Waits for a remote track matching `pred`.
    pub async fn wait_remote_track(
        &self,
        pred: impl Fn(&RemoteTrack) -> bool,
        timeout: Duration,
    ) -> Result<Arc<RemoteTrack>> {
        let mut found = None;
        wait_until(timeout, || {
            found = lock(&self.shared.remote_tracks)
                .iter()
                .find(|t| pred(t))
                .cloned();
            found.is_some()
        })
        .await;
        found.ok_or_else(|| {
            anyhow!(
                "no matching remote track after {timeout:?}; have: {:?}",
                self.remote_track_summary()
            )
        })
    }

    /// Waits for the remote track with this id.
    pub async fn wait_remote_track_id(
        &self,
        track_id: &str,
        timeout: Duration,
    ) -> Result<Arc<RemoteTrack>> {
        self.wait_remote_track(|t| t.track_id == track_id, timeout)
            .await
    }

    /// `(stream_id, track_id, kind, packets)` of every remote track (for error messages).
    pub fn remote_track_summary(&self) -> Vec<(String, String, &'static str, usize)> {
        lock(&self.shared.remote_tracks)
            .iter()
            .map(|t| {
                (
                    t.stream_id.clone(),
                    t.track_id.clone(),
                    t.kind.as_str(),
                    t.packet_count(),
                )
            })
            .collect()
    }

    /// Packets received on the remote track `track_id` (empty if unknown).
    pub fn received_packets(&self, track_id: &str) -> Vec<ReceivedPacket> {
        self.remote_track(track_id)
            .map(|t| t.packets())
            .unwrap_or_default()
    }

    /// Waits until at least `n` packets were received on `track_id`; returns them all.
    pub async fn wait_for_packets(
        &self,
        track_id: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedPacket>> {
        let ok = wait_until(timeout, || {
            self.remote_track(track_id)
                .is_some_and(|t| t.packet_count() >= n)
        })
        .await;
        let got = self.received_packets(track_id);
        if !ok {
            bail!(
                "got {} of {n} packets on track {track_id} after {timeout:?}; tracks: {:?}",
                got.len(),
                self.remote_track_summary()
            );
        }
        Ok(got)
    }

    /// Waits until a remote track matching `pred` has at least `n` packets; returns it.
    pub async fn wait_for_packets_where(
        &self,
        pred: impl Fn(&RemoteTrack) -> bool,
        n: usize,
        timeout: Duration,
    ) -> Result<Arc<RemoteTrack>> {
        let mut found = None;
        wait_until(timeout, || {
            found = lock(&self.shared.remote_tracks)
                .iter()
                .find(|t| pred(t) && t.packet_count() >= n)
                .cloned();
            found.is_some()
        })
        .await;
        found.ok_or_else(|| {
            anyhow!(
                "no matching remote track with {n} packets after {timeout:?}; have: {:?}",
                self.remote_track_summary()
            )
        })
    }

    /// Whether the first packet received on `track_id` is a VP8 keyframe (None: no packet).
    pub fn first_video_packet_is_keyframe(&self, track_id: &str) -> Option<bool> {
        self.remote_track(track_id)?.first_packet_is_keyframe()
    }

    /// `(gaps, duplicates)` of the sequence numbers received on `track_id`.
    pub fn seq_continuity(&self, track_id: &str) -> (u64, u64) {
        self.remote_track(track_id)
            .map(|t| t.seq_continuity())
            .unwrap_or((0, 0))
    }

    /// Sends a PLI for `track_id`.
    pub async fn send_pli(&self, track_id: &str) -> Result<()> {
        self.remote_track(track_id)
            .ok_or_else(|| anyhow!("unknown remote track {track_id}"))?
            .send_pli()
            .await
    }

    /// Sends a FIR for `track_id`.
    pub async fn send_fir(&self, track_id: &str) -> Result<()> {
        self.remote_track(track_id)
            .ok_or_else(|| anyhow!("unknown remote track {track_id}"))?
            .send_fir()
            .await
    }

    /// Feedback recorded by the interceptor (keyframe requests, NACKs, raw RTP per SSRC).
    pub fn feedback(&self) -> &Arc<FeedbackLog> {
        &self.shared.feedback
    }

    // ---- data ----

    /// Creates a data channel and records what arrives on it.
    pub async fn create_data_channel(&self, label: &str) -> Result<Arc<dyn DataChannel>> {
        let dc = self.pc.create_data_channel(label, None).await?;
        self.shared.add_channel(dc.clone(), label.to_owned(), true);
        Ok(dc)
    }

    /// Labels of every channel: `(label, created_locally, open)`.
    pub fn data_channels(&self) -> Vec<(String, bool, bool)> {
        lock(&self.shared.channels)
            .iter()
            .map(|c| {
                (
                    c.label.clone(),
                    c.local,
                    c.open.load(std::sync::atomic::Ordering::Relaxed),
                )
            })
            .collect()
    }

    fn pick_channel(&self, label: &str) -> Option<(Arc<dyn DataChannel>, Arc<AtomicBool>)> {
        let chans = lock(&self.shared.channels);
        // Prefer our own channel with that label, then a remote-created one.
        chans
            .iter()
            .filter(|c| c.label == label)
            .max_by_key(|c| c.local)
            .map(|c| (c.dc.clone(), c.open.clone()))
    }

    /// Sends text on the "data" channel (ours if we created one), waiting up to 10 s for it
    /// to be open.
    pub async fn send_data(&self, text: &str) -> Result<()> {
        self.send_data_on("data", text).await
    }

    /// Sends text on the channel labelled `label`.
    pub async fn send_data_on(&self, label: &str, text: &str) -> Result<()> {
        let mut picked = None;
        wait_until(Duration::from_secs(10), || {
            picked = self
                .pick_channel(label)
                .filter(|(_, open)| open.load(std::sync::atomic::Ordering::Relaxed));
            picked.is_some()
        })
        .await;
        let (dc, _) = picked.ok_or_else(|| {
            anyhow!(
                "no open data channel labelled {label:?}; channels: {:?}",
                self.data_channels()
            )
        })?;
        dc.send_text(text).await?;
        Ok(())
    }

    /// Sends binary data on the channel labelled `label`.
    pub async fn send_binary_on(&self, label: &str, data: &[u8]) -> Result<()> {
        let (dc, _) = self
            .pick_channel(label)
            .ok_or_else(|| anyhow!("no data channel labelled {label:?}"))?;
        dc.send(BytesMut::from(data)).await?;
        Ok(())
    }

    /// Text of every data message received so far (all channels), in order.
    pub fn received_data(&self) -> Vec<String> {
        lock(&self.shared.data).iter().map(|m| m.text()).collect()
    }

    /// Every data message received so far with metadata.
    pub fn received_data_messages(&self) -> Vec<DataMessage> {
        lock(&self.shared.data).clone()
    }

    /// Waits for a data message whose text satisfies `pred`.
    pub async fn wait_for_data(
        &self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String> {
        let mut found = None;
        wait_until(timeout, || {
            found = lock(&self.shared.data)
                .iter()
                .map(|m| m.text())
                .find(|t| pred(t));
            found.is_some()
        })
        .await;
        found.ok_or_else(|| {
            anyhow!(
                "no matching data message after {timeout:?}; got {:?}",
                self.received_data()
            )
        })
    }

    /// Closes the peer connection and stops every generator and reader.
    pub async fn close_peer(&self) {
        for t in lock(&self.published).iter() {
            t.stop();
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.pc.close()).await;
        for t in lock(&self.shared.tasks).drain(..) {
            t.abort();
        }
    }
}

impl Drop for WebrtcPeer {
    fn drop(&mut self) {
        for t in lock(&self.published).iter() {
            t.stop();
        }
        for t in lock(&self.shared.tasks).drain(..) {
            t.abort();
        }
        let pc = self.pc.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), pc.close()).await;
            });
        }
    }
}
