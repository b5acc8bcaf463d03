//! One simulated peer connection: a str0m `Rtc` (RTP mode) on its own UDP socket, the synthetic
//! sources it publishes, and what it counts about the media it receives.
//!
//! The server maps datagrams to peers by remote address, so every connection needs its own
//! local port; all of them are driven by the one engine loop.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc::UnboundedSender;

use super::stats::{Counters, Recorder};
use crate::media::{AudioSource, LayerSpec, SynthPacket, VideoLayerSource};
use crate::probe::Probe;

/// Engine-wide index of a connection.
pub type ConnId = usize;

/// What a connection publishes.
#[derive(Debug, Clone, Default)]
pub struct PublishSpec {
    /// Opus at this bitrate (bits/s), if any.
    pub audio_bps: Option<u64>,
    /// VP8 simulcast layers (one layer = no simulcast), empty for none.
    pub video: Vec<LayerSpec>,
    /// Keyframe interval of the video layers.
    pub keyframe_interval: Duration,
}

impl PublishSpec {
    /// Whether anything is published.
    pub fn is_empty(&self) -> bool {
        self.audio_bps.is_none() && self.video.is_empty()
    }
}

/// What a connection tells its signalling task.
#[derive(Debug)]
pub enum ConnEvent {
    /// Send this SDP offer to the server.
    LocalOffer(String),
    /// Send this SDP answer to the server.
    LocalAnswer(String),
    /// ICE and DTLS are up.
    Connected,
    /// The connection failed or closed.
    Failed(String),
}

/// Packets the stack may send after one input; a bound on a runaway loop.
const MAX_OUTPUTS_PER_DRAIN: usize = 100_000;

/// Sequence accounting of one received SSRC (the server keeps forwarded streams continuous).
#[derive(Debug, Clone, Copy)]
struct RxStream {
    first: u64,
    highest: u64,
    received: u64,
}

/// One peer connection.
pub struct Conn {
    rtc: Rtc,
    socket: mio::net::UdpSocket,
    local: SocketAddr,
    events: UnboundedSender<ConnEvent>,
    started: Instant,
    connected_at: Option<Instant>,
    failed: bool,
    closing: bool,
    publish: PublishSpec,
    /// Our offer in flight (publishing), dropped if a server offer crosses it.
    pending: Option<SdpPendingOffer>,
    published: bool,
    audio_mid: Option<Mid>,
    video_mid: Option<Mid>,
    audio_pt: Option<Pt>,
    video_pt: Option<Pt>,
    audio: Option<AudioSource>,
    video: Vec<VideoLayerSource>,
    stream_base: u32,
    next_timeout: Instant,
    rx: HashMap<Ssrc, RxStream>,
    /// Latest cumulative (nacks, plis) per received (mid, rid): what we sent the server.
    ingress_feedback: HashMap<(Mid, Option<Rid>), (u64, u64)>,
    /// Latest cumulative (nacks, plis) per sent (mid, rid): what the server sent us.
    egress_feedback: HashMap<(Mid, Option<Rid>), (u64, u64)>,
    /// Counters of this connection.
    pub counters: Counters,
}

impl Conn {
    /// A connection on a fresh socket bound to `bind_ip:0`.
    pub fn new(
        bind_ip: std::net::IpAddr,
        publish: PublishSpec,
        stream_base: u32,
        events: UnboundedSender<ConnEvent>,
        started: Instant,
        now: Instant,
    ) -> anyhow::Result<Conn> {
        let socket = bind_socket(bind_ip)?;
        let local = socket.local_addr()?;
        let mut rtc = RtcConfig::new()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(now);
        let candidate = Candidate::host(local, "udp")?;
        rtc.add_local_candidate(candidate);
        Ok(Conn {
            rtc,
            socket,
            local,
            events,
            started,
            connected_at: None,
            failed: false,
            closing: false,
            publish,
            pending: None,
            published: false,
            audio_mid: None,
            video_mid: None,
            audio_pt: None,
            video_pt: None,
            audio: None,
            video: Vec::new(),
            stream_base,
            next_timeout: now,
            rx: HashMap::new(),
            ingress_feedback: HashMap::new(),
            egress_feedback: HashMap::new(),
            counters: Counters::default(),
        })
    }

    /// The socket, for registration with the poller.
    pub fn socket_mut(&mut self) -> &mut mio::net::UdpSocket {
        &mut self.socket
    }

    /// Whether ICE+DTLS came up.
    pub fn is_connected(&self) -> bool {
        self.connected_at.is_some()
    }

    /// Whether the connection failed or closed.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Offers what this connection publishes (nothing when it only subscribes).
    pub fn start(&mut self) {
        if let Some(sdp) = self.make_publish_offer() {
            let _ = self.events.send(ConnEvent::LocalOffer(sdp));
        }
    }

    fn make_publish_offer(&mut self) -> Option<String> {
        if self.publish.is_empty() || self.published {
            return None;
        }
        let stream_id = format!("lt-{}", self.stream_base);
        let mut api = self.rtc.sdp_api();
        let audio_mid = self.publish.audio_bps.map(|_| {
            api.add_media(
                MediaKind::Audio,
                Direction::SendOnly,
                Some(stream_id.clone()),
                Some(format!("{stream_id}-audio")),
                None,
            )
        });
        let video_mid = (!self.publish.video.is_empty()).then(|| {
            let simulcast = (self.publish.video.len() > 1).then(|| {
                let mut s = Simulcast::new();
                for layer in &self.publish.video {
                    s.add_send_layer(SimulcastLayer::new(&layer.rid));
                }
                s
            });
            api.add_media(
                MediaKind::Video,
                Direction::SendOnly,
                Some(stream_id.clone()),
                Some(format!("{stream_id}-video")),
                simulcast,
            )
        });
        let (offer, pending) = api.apply()?;
        self.audio_mid = audio_mid;
        self.video_mid = video_mid;
        self.pending = Some(pending);
        Some(offer.to_sdp_string())
    }

    /// Applies the server's answer to our offer.
    pub fn on_remote_answer(&mut self, sdp: &str, now: Instant) -> anyhow::Result<()> {
        let Some(pending) = self.pending.take() else {
            anyhow::bail!("an answer without an offer in flight");
        };
        let answer = SdpAnswer::from_sdp_string(sdp)?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        self.published = true;
        self.start_sources(now);
        Ok(())
    }

    /// Answers a server offer; a crossing offer of ours is dropped and made again afterwards
    /// (the client is the polite peer).
    pub fn on_remote_offer(&mut self, sdp: &str) -> anyhow::Result<()> {
        let rolled_back = self.pending.take().is_some();
        let offer = SdpOffer::from_sdp_string(sdp)?;
        let answer = self.rtc.sdp_api().accept_offer(offer)?;
        let _ = self
            .events
            .send(ConnEvent::LocalAnswer(answer.to_sdp_string()));
        if rolled_back || !self.published {
            self.start();
        }
        Ok(())
    }

    /// Adds a trickled remote candidate.
    pub fn on_remote_candidate(&mut self, candidate: &str) -> anyhow::Result<()> {
        let line = candidate.strip_prefix("a=").unwrap_or(candidate).trim();
        if line.is_empty() {
            return Ok(());
        }
        self.rtc
            .add_remote_candidate(Candidate::from_sdp_string(line)?);
        Ok(())
    }

    fn start_sources(&mut self, now: Instant) {
        let params = self.rtc.codec_config().params();
        self.audio_pt = params
            .iter()
            .find(|p| p.spec().codec == Codec::Opus)
            .map(|p| p.pt());
        self.video_pt = params
            .iter()
            .find(|p| p.spec().codec == Codec::Vp8)
            .map(|p| p.pt());
        if let Some(bps) = self.publish.audio_bps {
            self.audio = Some(AudioSource::new(self.stream_base, bps, now));
        }
        self.video = self
            .publish
            .video
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                VideoLayerSource::new(
                    spec.clone(),
                    self.stream_base + 1 + i as u32,
                    self.publish.keyframe_interval,
                    now,
                )
            })
            .collect();
    }

    /// Closes the connection (DTLS close_notify on the next drain).
    pub fn close(&mut self) {
        self.closing = true;
        self.rtc.disconnect();
    }

    /// Reads the datagrams waiting on the socket; true when it stopped before draining it.
    pub fn on_readable(&mut self, buf: &mut [u8], rec: &mut Recorder) -> bool {
        // Bounded: a flood cannot starve the other connections of the loop.
        for _ in 0..64 {
            let (n, source) = match self.socket.recv_from(buf) {
                Ok(v) => v,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(_) => return false,
            };
            let now = Instant::now();
            self.counters.datagrams_in += 1;
            self.counters.datagram_bytes_in += n as u64;
            let Ok(contents) = buf[..n].try_into() else {
                continue;
            };
            let input = Input::Receive(
                now,
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination: self.local,
                    contents,
                },
            );
            if self.rtc.handle_input(input).is_err() {
                self.counters.input_errors += 1;
            }
            self.drain(now, rec);
        }
        true
    }

    /// Sends the media due at `now` and fires the stack's timers when due.
    pub fn on_tick(&mut self, now: Instant, rec: &mut Recorder) {
        let mut wrote = false;
        if self.connected_at.is_some() && !self.failed {
            wrote = self.send_due_media(now);
        }
        if wrote || now >= self.next_timeout {
            if self.rtc.handle_input(Input::Timeout(now)).is_err() {
                self.counters.input_errors += 1;
            }
            self.drain(now, rec);
        }
    }

    fn send_due_media(&mut self, now: Instant) -> bool {
        let mut wrote = false;
        if let (Some(mid), Some(pt)) = (self.audio_mid, self.audio_pt)
            && let Some(packet) = self.audio.as_mut().and_then(|a| a.poll_packet(now))
        {
            wrote |= write(
                &mut self.rtc,
                &mut self.counters,
                mid,
                None,
                pt,
                packet,
                now,
            );
        }
        if let (Some(mid), Some(pt)) = (self.video_mid, self.video_pt) {
            let simulcast = self.video.len() > 1;
            for layer in &mut self.video {
                let Some(frame) = layer.poll_frame(now) else {
                    continue;
                };
                let rid = simulcast.then(|| Rid::from(layer.rid()));
                for packet in frame {
                    wrote |= write(&mut self.rtc, &mut self.counters, mid, rid, pt, packet, now);
                }
            }
        }
        wrote
    }

    /// Runs the stack until it has nothing more to do now.
    fn drain(&mut self, now: Instant, rec: &mut Recorder) {
        for _ in 0..MAX_OUTPUTS_PER_DRAIN {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => match self.socket.send_to(&t.contents, t.destination) {
                    Ok(n) => {
                        self.counters.datagrams_out += 1;
                        self.counters.datagram_bytes_out += n as u64;
                    }
                    Err(_) => self.counters.send_errors += 1,
                },
                Ok(Output::Event(e)) => self.on_event(e, now, rec),
                Err(e) => {
                    self.fail(format!("stack error: {e}"));
                    return;
                }
            }
        }
    }

    fn fail(&mut self, reason: String) {
        if !self.failed && !self.closing {
            self.failed = true;
            let _ = self.events.send(ConnEvent::Failed(reason));
        }
    }

    fn on_event(&mut self, event: Event, now: Instant, rec: &mut Recorder) {
        match event {
            Event::Connected if self.connected_at.is_none() => {
                self.connected_at = Some(now);
                rec.record_join(now.saturating_duration_since(self.started));
                let _ = self.events.send(ConnEvent::Connected);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.fail("ICE disconnected".into());
            }
            Event::Closed => self.fail("closed".into()),
            Event::RtpPacket(rtp) => {
                if rtp.payload.is_empty() {
                    return;
                }
                self.counters.media_packets_in += 1;
                self.counters.media_bytes_in += rtp.payload.len() as u64;
                if let Some(probe) = Probe::find(&rtp.payload) {
                    rec.record_latency(probe.latency(rtp.timestamp));
                }
                let seq = *rtp.seq_no;
                self.rx
                    .entry(rtp.header.ssrc)
                    .and_modify(|s| {
                        s.highest = s.highest.max(seq);
                        s.first = s.first.min(seq);
                        s.received += 1;
                    })
                    .or_insert(RxStream {
                        first: seq,
                        highest: seq,
                        received: 1,
                    });
            }
            Event::KeyframeRequest(req) => {
                self.counters.keyframe_requests_in += 1;
                let rid = req.rid;
                for layer in &mut self.video {
                    if rid.is_none_or(|r| *r == *layer.rid()) {
                        layer.request_keyframe();
                    }
                }
            }
            Event::MediaIngressStats(s) => {
                self.ingress_feedback
                    .insert((s.mid, s.rid), (s.nacks, s.plis + s.firs));
            }
            Event::MediaEgressStats(s) => {
                self.egress_feedback
                    .insert((s.mid, s.rid), (s.nacks, s.plis + s.firs));
            }
            _ => {}
        }
    }

    /// Packets expected and received over every received stream (loss = the difference).
    pub fn reception(&self) -> (u64, u64) {
        self.rx.values().fold((0, 0), |(e, r), s| {
            (
                e + (s.highest - s.first + 1),
                r + s.received.min(s.highest - s.first + 1),
            )
        })
    }

    /// NACKs and keyframe requests this connection sent and received (from the stack's stats).
    pub fn feedback(&self) -> ((u64, u64), (u64, u64)) {
        let sum = |m: &HashMap<(Mid, Option<Rid>), (u64, u64)>| {
            m.values().fold((0, 0), |(a, b), (n, p)| (a + n, b + p))
        };
        (sum(&self.ingress_feedback), sum(&self.egress_feedback))
    }
}

/// Writes one synthetic packet on the stream of `mid`/`rid`.
fn write(
    rtc: &mut Rtc,
    counters: &mut Counters,
    mid: Mid,
    rid: Option<Rid>,
    pt: Pt,
    packet: SynthPacket,
    now: Instant,
) -> bool {
    let mut api = rtc.direct_api();
    let Some(stream) = api.stream_tx_by_mid(mid, rid) else {
        return false;
    };
    counters.media_packets_out += 1;
    counters.media_bytes_out += packet.payload.len() as u64;
    let ext_vals = ExtensionValues {
        audio_level: packet.audio_level,
        voice_activity: packet.voice_activity,
        ..Default::default()
    };
    stream.write_rtp(
        RtpWrite::new(pt, packet.seq.into(), packet.timestamp, now, packet.payload)
            .marker(packet.marker)
            .ext_vals(ext_vals)
            .nackable(true),
    );
    true
}

/// Socket receive and send buffer size: bursts of keyframes to hundreds of peers.
const SOCKET_BUFFER: usize = 1 << 20;

fn bind_socket(ip: std::net::IpAddr) -> anyhow::Result<mio::net::UdpSocket> {
    let domain = if ip.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(ip, 0).into())?;
    Ok(mio::net::UdpSocket::from_std(socket.into()))
}
