//! One simulated peer connection: a webrtc-rs `rtc` (sans-IO) peer connection on its own UDP
//! socket, the synthetic sources it publishes, and what it counts about the media it receives.
//!
//! The server maps datagrams to peers by remote address, so every connection needs its own
//! local port; all of them are driven by the one engine loop. The pieces: [`stack`] builds the
//! peer connection, [`negotiate`] runs offer/answer, [`send`] publishes, [`receive`] and
//! [`feedback`] count.

mod feedback;
mod negotiate;
mod receive;
mod send;
mod stack;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::sync::mpsc::UnboundedSender;

use super::stats::{Counters, Recorder};
use crate::media::LayerSpec;
use feedback::FeedbackLog;
use negotiate::Negotiation;
use receive::Reception;
use send::Publisher;

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

/// Outputs taken from the stack per drain; a bound on a runaway loop.
const MAX_OUTPUTS_PER_DRAIN: usize = 100_000;
/// Datagrams read per readiness before yielding to the other connections.
const MAX_READS: usize = 64;
/// When the stack has no timer, look again after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// One peer connection.
pub struct Conn {
    pc: RTCPeerConnection,
    socket: mio::net::UdpSocket,
    local: SocketAddr,
    events: UnboundedSender<ConnEvent>,
    started: Instant,
    connected_at: Option<Instant>,
    failed: bool,
    closing: bool,
    negotiation: Negotiation,
    publisher: Publisher,
    feedback: FeedbackLog,
    reception: Reception,
    next_timeout: Instant,
    /// Inputs (negotiation, close) left output to drain on the next tick.
    dirty: bool,
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
        let feedback = FeedbackLog::default();
        let mut pc = stack::build(local, feedback.clone(), now)?;
        // Tracks first: answering a server offer before they exist would leave them out.
        let publisher = Publisher::new(&mut pc, publish, stream_base)?;
        Ok(Conn {
            pc,
            socket,
            local,
            events,
            started,
            connected_at: None,
            failed: false,
            closing: false,
            negotiation: Negotiation::default(),
            publisher,
            feedback,
            reception: Reception::default(),
            next_timeout: now,
            dirty: true,
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
        if self.publisher.is_empty() || self.negotiation.is_published() {
            return;
        }
        match self.negotiation.offer(&mut self.pc, Instant::now()) {
            Ok(sdp) => {
                let _ = self.events.send(ConnEvent::LocalOffer(sdp));
            }
            Err(e) => self.fail(format!("offer: {e}")),
        }
        self.dirty = true;
    }

    /// Applies the server's answer to our offer.
    pub fn on_remote_answer(&mut self, sdp: &str, now: Instant) -> anyhow::Result<()> {
        self.dirty = true;
        self.negotiation.on_answer(&mut self.pc, sdp, now)?;
        self.publisher.on_negotiated(&mut self.pc, now);
        Ok(())
    }

    /// Answers a server offer; a crossing offer of ours is rolled back and made again afterwards
    /// (the client is the polite peer).
    pub fn on_remote_offer(&mut self, sdp: &str) -> anyhow::Result<()> {
        let now = Instant::now();
        self.dirty = true;
        let (answer, rolled_back) = self.negotiation.on_offer(&mut self.pc, sdp, now)?;
        let _ = self.events.send(ConnEvent::LocalAnswer(answer));
        if self.negotiation.is_published() {
            self.publisher.on_negotiated(&mut self.pc, now);
        }
        if rolled_back || !self.negotiation.is_published() {
            self.start();
        }
        Ok(())
    }

    /// Adds a trickled remote candidate.
    pub fn on_remote_candidate(&mut self, candidate: &str) -> anyhow::Result<()> {
        self.dirty = true;
        self.negotiation.on_candidate(&mut self.pc, candidate)
    }

    /// Closes the connection (DTLS close_notify on the next drain).
    pub fn close(&mut self) {
        self.closing = true;
        self.dirty = true;
        let _ = self.pc.close();
    }

    /// Reads the datagrams waiting on the socket; true when it stopped before draining it.
    pub fn on_readable(&mut self, buf: &mut [u8], rec: &mut Recorder) -> bool {
        let mut more = true;
        let mut now = Instant::now();
        // Bounded: a flood cannot starve the other connections of the loop.
        for _ in 0..MAX_READS {
            let (n, source) = match self.socket.recv_from(buf) {
                Ok(v) => v,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    more = false;
                    break;
                }
                Err(_) => {
                    more = false;
                    break;
                }
            };
            now = Instant::now();
            self.counters.datagrams_in += 1;
            self.counters.datagram_bytes_in += n as u64;
            let datagram = TaggedBytesMut {
                now,
                transport: TransportContext {
                    local_addr: self.local,
                    peer_addr: source,
                    ecn: None,
                    transport_protocol: TransportProtocol::UDP,
                },
                message: BytesMut::from(&buf[..n]),
            };
            if self.pc.handle_read(datagram).is_err() {
                self.counters.input_errors += 1;
            }
            // rtc sets up SRTP when its handshake-complete event is pumped, which only polling
            // events does: until connected, do it per datagram, or the media right behind the
            // last DTLS flight is dropped (and with it the first keyframe).
            if self.connected_at.is_none() {
                self.drain_events(now, rec);
            }
        }
        // One drain for the batch: every packet keeps the arrival time it was tagged with.
        self.drain(now, rec);
        more
    }

    /// Sends the media due at `now` and fires the stack's timers when due.
    pub fn on_tick(&mut self, now: Instant, rec: &mut Recorder) {
        let mut work = std::mem::take(&mut self.dirty);
        if self.connected_at.is_some() && !self.failed && !self.closing {
            work |= self
                .publisher
                .send_due(&mut self.pc, now, &mut self.counters);
        }
        if now >= self.next_timeout && !self.closing {
            if self.pc.handle_timeout(now).is_err() {
                self.counters.input_errors += 1;
            }
            work = true;
        }
        if work {
            self.drain(now, rec);
        }
    }

    /// Takes everything the stack has for us now: events, media, feedback, datagrams.
    fn drain(&mut self, now: Instant, rec: &mut Recorder) {
        self.drain_events(now, rec);
        for _ in 0..MAX_OUTPUTS_PER_DRAIN {
            let Some(msg) = self.pc.poll_read() else {
                break;
            };
            if let RTCMessage::RtpPacket(_, rtp) = msg.message
                && !rtp.payload.is_empty()
            {
                self.counters.media_packets_in += 1;
                self.counters.media_bytes_in += rtp.payload.len() as u64;
                self.reception.on_rtp(
                    rtp.header.ssrc,
                    rtp.header.sequence_number,
                    &rtp.payload,
                    msg.now,
                    rec,
                );
            }
        }
        self.answer_keyframe_requests();
        for _ in 0..MAX_OUTPUTS_PER_DRAIN {
            let Some(t) = self.pc.poll_write() else {
                break;
            };
            match self.socket.send_to(&t.message, t.transport.peer_addr) {
                Ok(n) => {
                    self.counters.datagrams_out += 1;
                    self.counters.datagram_bytes_out += n as u64;
                }
                Err(_) => self.counters.send_errors += 1,
            }
        }
        self.next_timeout = self.pc.poll_timeout().unwrap_or(now + IDLE_TIMEOUT);
    }

    fn drain_events(&mut self, now: Instant, rec: &mut Recorder) {
        for _ in 0..MAX_OUTPUTS_PER_DRAIN {
            let Some(event) = self.pc.poll_event() else {
                break;
            };
            self.on_event(event, now, rec);
        }
    }

    /// Hands the PLIs/FIRs the feedback interceptor saw to the video layers they name.
    fn answer_keyframe_requests(&mut self) {
        let ssrcs = {
            let mut f = self.feedback.lock();
            if f.keyframe_ssrcs.is_empty() {
                return;
            }
            std::mem::take(&mut f.keyframe_ssrcs)
        };
        for ssrc in ssrcs {
            self.counters.keyframe_requests_in += 1;
            self.publisher.request_keyframe(ssrc);
        }
    }

    fn fail(&mut self, reason: String) {
        if !self.failed && !self.closing {
            self.failed = true;
            let _ = self.events.send(ConnEvent::Failed(reason));
        }
    }

    fn on_event(&mut self, event: RTCPeerConnectionEvent, now: Instant, rec: &mut Recorder) {
        let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) = event else {
            return;
        };
        match state {
            RTCPeerConnectionState::Connected if self.connected_at.is_none() => {
                self.connected_at = Some(now);
                rec.record_join(now.saturating_duration_since(self.started));
                let _ = self.events.send(ConnEvent::Connected);
            }
            // Transient, as in a browser: rtc-ice goes disconnected after 5 s without a STUN
            // response (media does not count as liveness), which a queueing server causes while
            // media still flows; it fails 25 s later if nothing comes back.
            RTCPeerConnectionState::Disconnected => {
                tracing::debug!(local = %self.local, "ICE disconnected");
            }
            RTCPeerConnectionState::Failed => self.fail("connection failed".into()),
            RTCPeerConnectionState::Closed => self.fail("closed".into()),
            _ => {}
        }
    }

    /// Packets expected and received over every received stream (loss = the difference).
    pub fn reception(&self) -> (u64, u64) {
        self.reception.totals()
    }

    /// NACKs and keyframe requests this connection sent and received (as seen at the wire).
    pub fn feedback(&self) -> ((u64, u64), (u64, u64)) {
        let f = self.feedback.lock();
        (
            (f.nacks_sent, f.keyframe_requests_sent),
            (f.nacks_received, f.keyframe_requests_received),
        )
    }
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
