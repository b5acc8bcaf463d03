//! Published tracks and the synthetic RTP generators behind them.
//!
//! Audio: Opus-like packets every 20 ms (~60-byte payloads, 48 kHz clock, audio-level header
//! extension when negotiated). Video: VP8 at ~30 frames/s, 1..3 packets per frame, valid VP8
//! payload descriptors (see [`crate::vp8`]), a keyframe at the start, every
//! `keyframe_interval`, and immediately after each PLI/FIR for the stream's SSRC. Every payload
//! carries a [`PayloadTag`]; what was written is recorded per stream.

use bytes::Bytes;
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet as RtpPacket;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::RTCPeerConnectionState;
use webrtc::rtp_transceiver::RtpTransceiver;

use super::feedback::{FeedbackLog, KeyframeRequest, KeyframeRequestKind, SsrcFeedback};
use crate::util::lock;
use crate::vp8::{self, FrameFields, PayloadTag};

/// URI of the RFC 6464 audio level header extension.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/// URI of the SDES mid header extension.
pub const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// URI of the SDES rtp-stream-id header extension.
pub const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Audio (Opus).
    Audio,
    /// Video (VP8).
    Video,
}

impl MediaKind {
    /// "audio" or "video", as in the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// One RTP packet successfully handed to `write_rtp`.
#[derive(Debug, Clone)]
pub struct SentPacket {
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Marker bit.
    pub marker: bool,
    /// Payload bytes exactly as written.
    pub payload: Bytes,
    /// Whether this is the first packet of a keyframe.
    pub keyframe: bool,
    /// Frame number within the stream (audio: packet number).
    pub frame: u64,
    /// The tag embedded in the payload.
    pub tag: PayloadTag,
    /// When it was written.
    pub sent_at: Instant,
}

#[derive(Default)]
struct SentState {
    packets: Vec<SentPacket>,
    packets_sent: u64,
    bytes_sent: u64,
    frames_sent: u64,
    keyframes_sent: Vec<Instant>,
    write_errors: u64,
    last_error: Option<String>,
}

/// One RTP stream this peer sends (a track, or one simulcast layer of it).
pub struct SentStream {
    /// Simulcast rid, `None` for a single-layer track.
    pub rid: Option<String>,
    /// SSRC of the stream.
    pub ssrc: u32,
    /// Process-unique stream number embedded in every payload tag.
    pub tag: u32,
    /// Audio or video.
    pub kind: MediaKind,
    /// Width written in keyframes (video).
    pub width: u16,
    /// Height written in keyframes (video).
    pub height: u16,
    state: Mutex<SentState>,
    feedback: Arc<FeedbackLog>,
    record_payloads: bool,
}

/// Upper bound on packets kept per stream (older ones are counted but not stored).
const MAX_RECORDED_PACKETS: usize = 200_000;

static NEXT_STREAM_TAG: AtomicU32 = AtomicU32::new(1);

impl SentStream {
    pub(crate) fn new(
        kind: MediaKind,
        rid: Option<String>,
        ssrc: u32,
        (width, height): (u16, u16),
        feedback: Arc<FeedbackLog>,
        record_payloads: bool,
    ) -> Self {
        Self {
            rid,
            ssrc,
            tag: NEXT_STREAM_TAG.fetch_add(1, Ordering::Relaxed),
            kind,
            width,
            height,
            state: Mutex::new(SentState::default()),
            feedback,
            record_payloads,
        }
    }

    /// Every recorded packet in send order.
    pub fn packets(&self) -> Vec<SentPacket> {
        lock(&self.state).packets.clone()
    }

    /// The packet carrying tag `counter`, if recorded.
    pub fn packet_by_counter(&self, counter: u64) -> Option<SentPacket> {
        let s = lock(&self.state);
        s.packets
            .binary_search_by_key(&counter, |p| p.tag.counter)
            .ok()
            .map(|i| s.packets[i].clone())
    }

    /// Packets written so far.
    pub fn packets_sent(&self) -> u64 {
        lock(&self.state).packets_sent
    }

    /// Payload bytes written so far.
    pub fn bytes_sent(&self) -> u64 {
        lock(&self.state).bytes_sent
    }

    /// Frames written so far (audio: packets).
    pub fn frames_sent(&self) -> u64 {
        lock(&self.state).frames_sent
    }

    /// When each keyframe was written.
    pub fn keyframes_sent(&self) -> Vec<Instant> {
        lock(&self.state).keyframes_sent.clone()
    }

    /// Failed `write_rtp` calls and the last error.
    pub fn write_errors(&self) -> (u64, Option<String>) {
        let s = lock(&self.state);
        (s.write_errors, s.last_error.clone())
    }

    /// PLI/FIR received for this stream's SSRC.
    pub fn keyframe_requests(&self) -> Vec<KeyframeRequest> {
        self.feedback.keyframe_requests(self.ssrc)
    }

    /// Number of PLIs received.
    pub fn pli_count(&self) -> usize {
        self.count_requests(KeyframeRequestKind::Pli)
    }

    /// Number of FIRs received.
    pub fn fir_count(&self) -> usize {
        self.count_requests(KeyframeRequestKind::Fir)
    }

    fn count_requests(&self, kind: KeyframeRequestKind) -> usize {
        self.keyframe_requests()
            .iter()
            .filter(|r| r.kind == kind)
            .count()
    }

    /// All feedback (keyframe requests, NACKs) received for this SSRC.
    pub fn feedback(&self) -> SsrcFeedback {
        self.feedback.for_ssrc(self.ssrc)
    }

    fn record_ok(&self, p: SentPacket, frame_end: bool) {
        let mut s = lock(&self.state);
        s.packets_sent += 1;
        s.bytes_sent += p.payload.len() as u64;
        if p.keyframe {
            s.keyframes_sent.push(p.sent_at);
        }
        if frame_end {
            s.frames_sent += 1;
        }
        if self.record_payloads && s.packets.len() < MAX_RECORDED_PACKETS {
            s.packets.push(p);
        }
    }

    fn record_err(&self, e: String) {
        let mut s = lock(&self.state);
        s.write_errors += 1;
        s.last_error = Some(e);
    }
}

/// Runtime controls shared by a track's generators.
pub(crate) struct GenControl {
    pub(crate) stopped: AtomicBool,
    pub(crate) paused: AtomicBool,
    pub(crate) audio_level: AtomicU8,
    pub(crate) force_keyframe: AtomicU64,
    pub(crate) stop_notify: Notify,
}

/// A track this peer publishes; cheap to clone.
#[derive(Clone)]
pub struct PublishedTrack {
    /// Audio or video.
    pub kind: MediaKind,
    /// Our local MediaStreamTrack id (the track id of our `a=msid`).
    pub local_track_id: String,
    /// The source announced in `track_info` ("camera", "microphone", ...).
    pub source: String,
    /// One stream per simulcast layer (low to high), or a single stream.
    pub streams: Vec<Arc<SentStream>>,
    pub(crate) transceiver: Arc<dyn RtpTransceiver>,
    pub(crate) track: Arc<TrackLocalStaticRTP>,
    pub(crate) ctl: Arc<GenControl>,
    pub(crate) tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl PublishedTrack {
    /// The negotiated mid (None before the first offer including it).
    pub async fn mid(&self) -> Option<String> {
        self.transceiver.mid().await.ok().flatten()
    }

    /// The webrtc local track the generators write to.
    pub fn local_track(&self) -> &Arc<TrackLocalStaticRTP> {
        &self.track
    }

    /// The transceiver carrying this track.
    pub fn transceiver(&self) -> &Arc<dyn RtpTransceiver> {
        &self.transceiver
    }

    /// The stream of simulcast layer `rid` (or the only stream for `None`).
    pub fn stream(&self, rid: Option<&str>) -> Option<Arc<SentStream>> {
        self.streams
            .iter()
            .find(|s| s.rid.as_deref() == rid)
            .cloned()
            .or_else(|| {
                if rid.is_none() {
                    self.streams.first().cloned()
                } else {
                    None
                }
            })
    }

    /// Whether this is a simulcast track.
    pub fn is_simulcast(&self) -> bool {
        self.streams.len() > 1
    }

    /// Total packets written over all streams.
    pub fn packets_sent(&self) -> u64 {
        self.streams.iter().map(|s| s.packets_sent()).sum()
    }

    /// Total keyframe requests (PLI+FIR) received over all streams.
    pub fn keyframe_requests(&self) -> usize {
        self.streams
            .iter()
            .map(|s| s.keyframe_requests().len())
            .sum()
    }

    /// Finds the sent packet carrying `tag` (any stream of this track).
    pub fn sent_packet(&self, tag: PayloadTag) -> Option<SentPacket> {
        self.streams
            .iter()
            .find(|s| s.tag == tag.stream)
            .and_then(|s| s.packet_by_counter(tag.counter))
    }

    /// The stream a tag belongs to.
    pub fn stream_of_tag(&self, tag: PayloadTag) -> Option<Arc<SentStream>> {
        self.streams.iter().find(|s| s.tag == tag.stream).cloned()
    }

    /// Pauses or resumes packet generation (no RTP at all while paused).
    pub fn set_paused(&self, paused: bool) {
        self.ctl.paused.store(paused, Ordering::Relaxed);
    }

    /// Sets the RFC 6464 level for audio (0 = loudest, 127 = silence).
    pub fn set_audio_level(&self, level: u8) {
        self.ctl
            .audio_level
            .store(level.min(127), Ordering::Relaxed);
    }

    /// Makes every stream send a keyframe at its next frame.
    pub fn force_keyframe(&self) {
        self.ctl.force_keyframe.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether [`Self::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.ctl.stopped.load(Ordering::Relaxed)
    }

    /// Stops the generators (the transceiver stays until unpublished).
    pub fn stop(&self) {
        self.ctl.stopped.store(true, Ordering::Relaxed);
        self.ctl.stop_notify.notify_waiters();
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

/// Negotiated values a generator needs to write packets.
#[derive(Debug, Clone, Default)]
pub(crate) struct SendParams {
    pub(crate) payload_type: Option<u8>,
    pub(crate) mid_ext: Option<u8>,
    pub(crate) rid_ext: Option<u8>,
    pub(crate) audio_level_ext: Option<u8>,
    pub(crate) mid: Option<String>,
    pub(crate) fetched_at: Option<Instant>,
}

pub(crate) async fn fetch_params(
    transceiver: &Arc<dyn RtpTransceiver>,
    mime: &str,
) -> Option<SendParams> {
    let sender = transceiver.sender().await.ok().flatten()?;
    let params = sender.get_parameters().await.ok()?;
    let mut out = SendParams {
        mid: transceiver.mid().await.ok().flatten(),
        fetched_at: Some(Instant::now()),
        ..Default::default()
    };
    out.payload_type = params
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|c| c.payload_type);
    for e in &params.rtp_parameters.header_extensions {
        let id = u8::try_from(e.id).ok();
        match e.uri.as_str() {
            MID_URI => out.mid_ext = id,
            RID_URI => out.rid_ext = id,
            AUDIO_LEVEL_URI => out.audio_level_ext = id,
            _ => {}
        }
    }
    Some(out)
}

/// Everything a generator task needs.
pub(crate) struct GenContext {
    pub(crate) stream: Arc<SentStream>,
    pub(crate) track: Arc<TrackLocalStaticRTP>,
    pub(crate) transceiver: Arc<dyn RtpTransceiver>,
    pub(crate) ctl: Arc<GenControl>,
    pub(crate) conn_state: watch::Receiver<RTCPeerConnectionState>,
    pub(crate) negotiations: watch::Receiver<u64>,
    pub(crate) keyframe_notify: Arc<Notify>,
    pub(crate) keyframe_interval: Option<Duration>,
    pub(crate) max_duration: Duration,
    /// Payload size profile: (keyframe packet size, delta packet size, max packets per frame).
    pub(crate) profile: (usize, usize, u64),
}

const FRAME_INTERVAL: Duration = Duration::from_micros(33_333);
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
const AUDIO_PAYLOAD: usize = 60;
/// How often a generator re-reads the negotiated payload type and extension ids.
const PARAMS_REFRESH: Duration = Duration::from_secs(1);

/// Waits until the peer connection is connected; false if stopped, closed or out of time.
async fn wait_connected(ctx: &mut GenContext, deadline: Instant) -> bool {
    loop {
        if ctx.ctl.stopped.load(Ordering::Relaxed) {
            return false;
        }
        match *ctx.conn_state.borrow_and_update() {
            RTCPeerConnectionState::Connected => return true,
            RTCPeerConnectionState::Closed | RTCPeerConnectionState::Failed => return false,
            _ => {}
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return false;
        }
        tokio::select! {
            r = tokio::time::timeout(remaining, ctx.conn_state.changed()) => {
                if !matches!(r, Ok(Ok(()))) {
                    return false;
                }
            }
            _ = ctx.ctl.stop_notify.notified() => return false,
        }
    }
}

async fn refresh_params(ctx: &mut GenContext, params: &mut SendParams, mime: &str) {
    let stale = params
        .fetched_at
        .is_none_or(|t| t.elapsed() >= PARAMS_REFRESH);
    if ctx.negotiations.has_changed().unwrap_or(false) || params.payload_type.is_none() || stale {
        ctx.negotiations.borrow_and_update();
        if let Some(p) = fetch_params(&ctx.transceiver, mime).await {
            *params = p;
        }
    }
}

fn header(params: &SendParams, stream: &SentStream, seq: u16, ts: u32, marker: bool) -> Header {
    let mut h = Header {
        version: 2,
        marker,
        payload_type: params.payload_type.unwrap_or(0),
        sequence_number: seq,
        timestamp: ts,
        ssrc: stream.ssrc,
        ..Default::default()
    };
    if let (Some(id), Some(mid)) = (params.mid_ext, params.mid.as_ref()) {
        let _ = h.set_extension(id, Bytes::from(mid.clone().into_bytes()));
    }
    if let (Some(id), Some(rid)) = (params.rid_ext, stream.rid.as_ref()) {
        let _ = h.set_extension(id, Bytes::from(rid.clone().into_bytes()));
    }
    h
}

/// Writes one packet; returns whether it was accepted.
async fn write(
    ctx: &GenContext,
    h: Header,
    payload: Vec<u8>,
    keyframe: bool,
    frame: u64,
    tag: PayloadTag,
    frame_end: bool,
) -> bool {
    let payload = Bytes::from(payload);
    let pkt = RtpPacket {
        header: h.clone(),
        payload: payload.clone(),
    };
    match ctx.track.write_rtp(pkt).await {
        Ok(()) => {
            ctx.stream.record_ok(
                SentPacket {
                    seq: h.sequence_number,
                    timestamp: h.timestamp,
                    marker: h.marker,
                    payload,
                    keyframe,
                    frame,
                    tag,
                    sent_at: Instant::now(),
                },
                frame_end,
            );
            true
        }
        Err(e) => {
            ctx.stream.record_err(e.to_string());
            false
        }
    }
}

/// The VP8 generator of one stream.
pub(crate) async fn run_video(mut ctx: GenContext) {
    let deadline = Instant::now() + ctx.max_duration;
    if !wait_connected(&mut ctx, deadline).await {
        return;
    }
    let mut params = SendParams::default();
    let start = Instant::now();
    let ts_base: u32 = rand::random();
    let mut seq: u16 = rand::random::<u16>() & 0x7fff;
    let mut picture_id: u16 = rand::random::<u16>() & 0x7fff;
    let mut tl0: u8 = rand::random();
    let mut counter: u64 = 0;
    let mut frame: u64 = 0;
    let mut last_key: Option<Instant> = None;
    let mut forced_seen = ctx.ctl.force_keyframe.load(Ordering::Relaxed);
    let mut pending_key = true;
    let mut next = Instant::now();
    let (key_size, delta_size, max_pkts) = ctx.profile;

    while Instant::now() < deadline && !ctx.ctl.stopped.load(Ordering::Relaxed) {
        let requested = tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => false,
            _ = ctx.keyframe_notify.notified() => true,
            _ = ctx.ctl.stop_notify.notified() => break,
        };
        let now = Instant::now();
        next = if requested {
            now + FRAME_INTERVAL
        } else {
            (next + FRAME_INTERVAL).max(now)
        };
        let forced = ctx.ctl.force_keyframe.load(Ordering::Relaxed);
        if requested || forced != forced_seen {
            pending_key = true;
            forced_seen = forced;
        }
        if ctx.ctl.paused.load(Ordering::Relaxed) {
            continue;
        }
        refresh_params(&mut ctx, &mut params, "video/VP8").await;
        if params.payload_type.is_none() {
            continue;
        }
        let periodic = matches!((ctx.keyframe_interval, last_key),
            (Some(iv), Some(t)) if now.duration_since(t) >= iv);
        let keyframe = pending_key || periodic;
        let ts = ts_base.wrapping_add((now.duration_since(start).as_micros() * 9 / 100) as u32);
        let n_pkts = if keyframe {
            max_pkts.max(2)
        } else {
            1 + frame % max_pkts
        };
        let size = if keyframe { key_size } else { delta_size };
        let fields = FrameFields {
            picture_id,
            tl0_pic_idx: tl0,
            keyframe,
            width: ctx.stream.width,
            height: ctx.stream.height,
        };
        let mut all_ok = true;
        for i in 0..n_pkts {
            let first = i == 0;
            let last = i + 1 == n_pkts;
            let tag = PayloadTag {
                stream: ctx.stream.tag,
                counter,
            };
            // Vary sizes a little so packets differ in length.
            let sz = size - (counter % 17) as usize;
            let payload = vp8::build_packet(&fields, first, tag, sz);
            let h = header(&params, &ctx.stream, seq, ts, last);
            if write(&ctx, h, payload, keyframe && first, frame, tag, last).await {
                seq = seq.wrapping_add(1);
                counter += 1;
            } else {
                all_ok = false;
                break;
            }
        }
        if all_ok {
            if keyframe {
                pending_key = false;
                last_key = Some(now);
            }
            frame += 1;
            picture_id = (picture_id + 1) & 0x7fff;
            tl0 = tl0.wrapping_add(1);
        }
    }
}

/// The Opus-like generator of one audio stream.
pub(crate) async fn run_audio(mut ctx: GenContext) {
    let deadline = Instant::now() + ctx.max_duration;
    if !wait_connected(&mut ctx, deadline).await {
        return;
    }
    let mut params = SendParams::default();
    let mut ts: u32 = rand::random();
    let mut seq: u16 = rand::random::<u16>() & 0x7fff;
    let mut counter: u64 = 0;
    let mut next = Instant::now();
    let mut first = true;
    while Instant::now() < deadline && !ctx.ctl.stopped.load(Ordering::Relaxed) {
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = ctx.ctl.stop_notify.notified() => break,
        }
        next += AUDIO_INTERVAL;
        let now = Instant::now();
        if next < now {
            next = now + AUDIO_INTERVAL;
        }
        // Timestamps advance with time even while paused, like a real capturer.
        let this_ts = ts;
        ts = ts.wrapping_add(960);
        if ctx.ctl.paused.load(Ordering::Relaxed) {
            continue;
        }
        refresh_params(&mut ctx, &mut params, "audio/opus").await;
        if params.payload_type.is_none() {
            continue;
        }
        let tag = PayloadTag {
            stream: ctx.stream.tag,
            counter,
        };
        // TOC: config 31 (CELT FB 20 ms), mono, one frame.
        let mut payload = vec![0xf8];
        payload.extend_from_slice(&tag.encode());
        while payload.len() < AUDIO_PAYLOAD {
            payload.push((counter.wrapping_add(payload.len() as u64) & 0xff) as u8);
        }
        let mut h = header(&params, &ctx.stream, seq, this_ts, first);
        if let Some(id) = params.audio_level_ext {
            let level = ctx.ctl.audio_level.load(Ordering::Relaxed).min(127);
            let v = if level < 127 { 0x80 } else { 0x00 };
            let _ = h.set_extension(id, Bytes::from(vec![v | level]));
        }
        if write(&ctx, h, payload, false, counter, tag, true).await {
            seq = seq.wrapping_add(1);
            counter += 1;
            first = false;
        }
    }
}
