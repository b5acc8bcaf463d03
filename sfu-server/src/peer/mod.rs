//! One participant's WebRTC peer connection, on str0m.
//!
//! Every `str0m::` import of the server lives in this module: the rest of the server speaks
//! sfu-core's types and this module's small wrappers, so a change of WebRTC stack touches only
//! this module.

mod codecs;
mod egress;
#[cfg(test)]
mod interop_tests;
mod nack_tally;
mod negotiation;
mod sim_group;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sfu_core::clock_sync::SenderReport;
use sfu_core::vp8_munger::Vp8Rewrite;
use sfu_core::{
    BandwidthSource, Codec, KeyframeKind, MediaKind, MediaPacket, ParticipantId, SeqNo, TrackId,
};
use str0m::bwe::{Bitrate, BweKind};
use str0m::channel::ChannelId;
use str0m::media::{Direction, KeyframeRequestKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

pub use codecs::{CodecParams, PayloadFormat};
pub use egress::Egress;
use egress::EgressLedger;
pub use nack_tally::NackCounts;
use nack_tally::{NackDirection, NackTally};
use negotiation::Negotiation;
pub use negotiation::NegotiationError;

/// The label of the data channel relayed between participants (API.md "Data").
pub const DATA_CHANNEL_LABEL: &str = "data";

/// A datagram received on the media socket, ready to be offered to peers.
pub struct Datagram<'a> {
    input: Input<'a>,
}

impl<'a> Datagram<'a> {
    /// Parses a datagram; None for bytes that are no STUN, DTLS, RTP or RTCP at all.
    pub fn parse(
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &'a [u8],
    ) -> Option<Self> {
        let contents = bytes.try_into().ok()?;
        Some(Datagram {
            input: Input::Receive(
                now,
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination,
                    contents,
                },
            ),
        })
    }
}

/// A datagram a peer wants sent.
pub struct Transmit(str0m::net::Transmit, Egress);

impl Transmit {
    /// Where to send it.
    pub fn destination(&self) -> SocketAddr {
        self.0.destination
    }

    /// The bytes.
    pub fn contents(&self) -> &[u8] {
        &self.0.contents
    }

    /// Destination, bytes (without a copy) and what it carries.
    pub fn into_parts(self) -> (SocketAddr, Vec<u8>, Egress) {
        (self.0.destination, self.0.contents.into(), self.1)
    }
}

/// A track the remote side started sending (a new or re-enabled send m-line in its offer).
#[derive(Debug, Clone)]
pub struct RemoteTrack {
    /// The id assigned to it.
    pub id: TrackId,
    /// Its m-line.
    pub mid: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// The first codec negotiated on the m-line.
    pub codec: Codec,
    /// Simulcast RIDs, lowest first, empty without simulcast.
    pub rids: Vec<String>,
}

/// Something that happened on the connection, for the worker to act on.
#[derive(Debug)]
pub enum PeerEvent {
    /// ICE and DTLS are up.
    Connected,
    /// The remote started publishing a track.
    TrackAdded(RemoteTrack),
    /// The remote stopped publishing a track.
    TrackRemoved(TrackId),
    /// A publisher's RTCP sender report for one encoding of a published track.
    SenderReport {
        /// The published track.
        track: TrackId,
        /// The encoding's RID.
        rid: Option<Rid>,
        /// NTP/RTP time pair.
        report: SenderReport,
    },
    /// The subscriber asked for a keyframe on one of its down tracks.
    KeyframeRequest {
        /// The published track the down track carries.
        track: TrackId,
        /// PLI or FIR.
        kind: KeyframeKind,
    },
    /// A new estimate of the downlink toward this peer (bits/s).
    BandwidthEstimate {
        /// Bits per second.
        bitrate: u64,
        /// Our GCC estimate from TWCC feedback, or the peer's REMB.
        source: BandwidthSource,
    },
    /// A text (or binary, lossily decoded) message on a `data` channel.
    Data(String),
    /// The connection is gone (ICE failed, DTLS closed).
    Disconnected,
}

/// What [`Peer::poll`] produced.
pub enum Polled {
    /// Send a datagram.
    Transmit(Transmit),
    /// An event for the worker.
    Event(PeerEvent),
    /// An RTP packet of a published track; the worker routes it through its room.
    Rtp {
        /// The published track.
        track: TrackId,
        /// The simulcast layer's RID.
        rid: Option<Rid>,
        /// The packet.
        packet: MediaPacket,
    },
    /// Nothing more until this time or new input.
    Timeout(Instant),
}

/// A simulcast RID without heap allocation (wraps the stack's own id type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rid(str0m::media::Rid);

impl Rid {
    /// The RID text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One participant's peer connection.
pub struct Peer {
    rtc: Rtc,
    /// Whose connection this is.
    pub participant: ParticipantId,
    /// Whether downlink estimates (ours from TWCC, or the peer's REMB) are reported.
    bandwidth_estimation: bool,
    negotiation: Negotiation,
    /// Published (incoming) m-lines.
    published: HashMap<Mid, TrackId>,
    /// SSRC -> (track, rid): the RID header extension stops once a stream is known.
    ssrc_cache: HashMap<Ssrc, (TrackId, Option<Rid>)>,
    /// SIM groups of the latest client offer: mid -> SSRCs, lowest layer first.
    sim_groups: HashMap<String, Vec<u32>>,
    /// SSRCs of SIM-group layers: SSRC -> the RID the server named the layer.
    sim_ssrcs: HashMap<Ssrc, Rid>,
    /// Channels labelled `data`; the first one we opened is where relayed messages go.
    data_channels: Vec<ChannelId>,
    server_channel: Option<ChannelId>,
    connected: bool,
    last_receive: Instant,
    /// Which outgoing datagrams are forwarded packets or retransmissions.
    egress: EgressLedger,
    /// NACKs from the stack's statistics.
    nacks: NackTally,
    /// RTP was written since the last drain: the stack wants a timeout to release it.
    written: bool,
    /// Bit `pt` is set when the negotiated codec of payload type `pt` takes NACK feedback. Only
    /// those packets go to the stack's retransmission cache: caching what the subscriber can
    /// never NACK (browsers' Opus) costs a copy of the packet's header per write and memory.
    nack_pts: u128,
}

/// Settings every peer connection gets.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Candidates announced to clients (host and/or NAT addresses).
    pub candidates: Vec<SocketAddr>,
    /// Run send-side bandwidth estimation (with its pacer and probes) toward this peer.
    pub bandwidth_estimation: bool,
}

/// The estimate a new connection starts from, before any feedback (bits/s): enough for a few
/// low layers at once; probing finds more within seconds.
const INITIAL_ESTIMATE_BPS: u64 = 1_000_000;
/// How often the stack reports per-stream statistics (the NACK counts of the metrics).
const STATS_INTERVAL: Duration = Duration::from_secs(1);

impl Peer {
    /// Sets the transport's bitrate goals: keep `minimum` flowing (padding fills the gap, so a
    /// held-back upgrade can be proven) and probe toward `desired`.
    pub fn set_bitrate(&mut self, minimum: u64, desired: u64) {
        self.rtc
            .bwe()
            .set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired.max(minimum)));
    }

    /// A new connection with the server's codecs and candidates, in ICE-lite RTP mode.
    pub fn new(participant: ParticipantId, config: &PeerConfig, now: Instant) -> Self {
        let bwe = config
            .bandwidth_estimation
            .then(|| Bitrate::bps(INITIAL_ESTIMATE_BPS));
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            // Send-side estimation toward every subscriber (GCC over TWCC feedback), with the
            // pacer and probing it drives; REMB from clients without TWCC is reported too.
            .enable_bwe(bwe)
            // Audio is not retransmitted (browsers do not NACK Opus; see `nack_pts`), so its
            // down tracks need no retransmission history: the stack's minimum, one packet (a
            // client that does negotiate NACK for audio gets only the latest one resent).
            .set_send_buffer_audio(1)
            .set_stats_interval(Some(STATS_INTERVAL))
            .build(now);
        for addr in &config.candidates {
            match Candidate::host(*addr, "udp") {
                Ok(c) => {
                    rtc.add_local_candidate(c);
                }
                Err(e) => tracing::warn!(%addr, error = %e, "unusable candidate address"),
            }
        }
        Peer {
            rtc,
            participant,
            bandwidth_estimation: config.bandwidth_estimation,
            negotiation: Negotiation::default(),
            published: HashMap::new(),
            ssrc_cache: HashMap::new(),
            sim_groups: HashMap::new(),
            sim_ssrcs: HashMap::new(),
            data_channels: Vec::new(),
            server_channel: None,
            connected: false,
            last_receive: now,
            written: false,
            nack_pts: 0,
            egress: EgressLedger::default(),
            nacks: NackTally::default(),
        }
    }

    /// Whether this datagram belongs to this connection (ICE credentials or known address).
    pub fn accepts(&self, datagram: &Datagram) -> bool {
        self.rtc.accepts(&datagram.input)
    }

    /// Feeds a received datagram. Errors are logged and counted by the caller, never fatal:
    /// a spoofed or corrupt datagram must not end a session.
    pub fn handle_datagram(&mut self, datagram: Datagram, now: Instant) -> Result<(), String> {
        self.last_receive = now;
        self.rtc
            .handle_input(datagram.input)
            .map_err(|e| e.to_string())
    }

    /// Before a drain: releases the RTP written since the last one. The stack timestamps its
    /// send queue on a timeout and would first answer the poll with an already-due one.
    pub fn release_written(&mut self, now: Instant) {
        if std::mem::take(&mut self.written) {
            self.handle_timeout(now);
        }
    }

    /// Advances time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!(participant = %self.participant, error = %e, "timeout input failed");
        }
    }

    /// Whether the connection can still carry media.
    pub fn is_alive(&self) -> bool {
        self.rtc.is_alive()
    }

    /// Whether ICE+DTLS came up at least once.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Time since the last datagram from the remote.
    pub fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_receive)
    }

    /// NACKs counted since the last call.
    pub fn take_nack_counts(&mut self) -> NackCounts {
        self.nacks.take()
    }

    /// Closes the connection (DTLS close_notify goes out on the next polls).
    pub fn close(&mut self) {
        self.rtc.disconnect();
    }

    /// Drives the connection: call until it returns `Timeout`.
    pub fn poll(&mut self) -> Polled {
        loop {
            let output = match self.rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    tracing::debug!(participant = %self.participant, error = %e, "poll_output failed");
                    self.rtc.disconnect();
                    return Polled::Event(PeerEvent::Disconnected);
                }
            };
            match output {
                Output::Timeout(t) => return Polled::Timeout(t),
                Output::Transmit(t) => {
                    let egress = self.egress.classify(&t.contents);
                    return Polled::Transmit(Transmit(t, egress));
                }
                Output::Event(e) => {
                    if let Some(p) = self.on_event(e) {
                        return p;
                    }
                }
            }
        }
    }

    fn on_event(&mut self, event: Event) -> Option<Polled> {
        match event {
            Event::Connected => {
                self.connected = true;
                Some(Polled::Event(PeerEvent::Connected))
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                Some(Polled::Event(PeerEvent::Disconnected))
            }
            Event::Closed => Some(Polled::Event(PeerEvent::Disconnected)),
            // REMB arrives whether or not our estimator runs: allocation follows the setting.
            Event::EgressBitrateEstimate(_) if !self.bandwidth_estimation => None,
            Event::EgressBitrateEstimate(kind) => {
                let (estimate, source) = match kind {
                    BweKind::Twcc { estimate, .. } => (estimate, BandwidthSource::Twcc),
                    BweKind::Remb { estimate, .. } => (estimate, BandwidthSource::Remb),
                    _ => return None,
                };
                Some(Polled::Event(PeerEvent::BandwidthEstimate {
                    bitrate: estimate.as_u64(),
                    source,
                }))
            }
            Event::MediaAdded(added) => {
                self.on_media_added(added.mid, added.kind, added.direction, added.simulcast)
            }
            Event::MediaChanged(changed) => {
                let receiving =
                    matches!(changed.direction, Direction::RecvOnly | Direction::SendRecv);
                if !receiving && let Some(track) = self.published.remove(&changed.mid) {
                    self.ssrc_cache.retain(|_, (t, _)| *t != track);
                    return Some(Polled::Event(PeerEvent::TrackRemoved(track)));
                }
                // A client that re-enables a transceiver it had set inactive publishes anew.
                if receiving
                    && !self.published.contains_key(&changed.mid)
                    && !self.negotiation.is_down_mid(changed.mid)
                {
                    let media = self.rtc.media(changed.mid)?;
                    let kind = media.kind();
                    let rids: Vec<str0m::media::SimulcastLayer> = match media.rids_rx() {
                        str0m::media::Rids::Specific(rids) => rids
                            .iter()
                            .map(|r| str0m::media::SimulcastLayer::new(r))
                            .collect(),
                        _ => Vec::new(),
                    };
                    let simulcast = (!rids.is_empty()).then(|| {
                        let mut s = str0m::media::Simulcast::new();
                        s.recv = rids;
                        s
                    });
                    return self.on_media_added(changed.mid, kind, changed.direction, simulcast);
                }
                None
            }
            Event::RtpPacket(rtp) => {
                let ssrc = rtp.header.ssrc;
                let (track, rid) = match self.ssrc_cache.get(&ssrc) {
                    Some(v) => *v,
                    None => {
                        // NACK even without RTX when the codec negotiated `nack` feedback: the
                        // stack only NACKs RTX-capable streams, but senders without RTX (RID
                        // simulcast in some stacks) retransmit on the original SSRC (RFC 4585).
                        let nack = self
                            .rtc
                            .codec_config()
                            .params()
                            .iter()
                            .any(|p| p.pt() == rtp.header.payload_type && p.fb_nack());
                        let mut api = self.rtc.direct_api();
                        let stream = api.stream_rx(&ssrc)?;
                        if nack {
                            stream.suppress_nack(false);
                        }
                        let mid = stream.mid();
                        let rid = stream
                            .rid()
                            .map(Rid)
                            .or_else(|| self.sim_ssrcs.get(&ssrc).copied());
                        let track = *self.published.get(&mid)?;
                        self.ssrc_cache.insert(ssrc, (track, rid));
                        (track, rid)
                    }
                };
                let packet = MediaPacket {
                    seq: SeqNo(*rtp.seq_no),
                    timestamp: rtp.header.timestamp,
                    marker: rtp.header.marker,
                    payload_type: *rtp.header.payload_type,
                    payload: rtp.payload,
                    audio_level: rtp.header.ext_vals.audio_level,
                    voice_activity: rtp.header.ext_vals.voice_activity,
                    arrival: rtp.timestamp,
                };
                Some(Polled::Rtp { track, rid, packet })
            }
            Event::SenderFeedback(fb) => {
                let track = *self.published.get(&fb.mid)?;
                let ntp_time = fb
                    .sender_info
                    .ntp_time
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                // The stack extends RTP time; the wire value is its low 32 bits.
                let rtp_time = fb.sender_info.rtp_time.numer() as u32;
                let rid = fb
                    .rid
                    .map(Rid)
                    .or_else(|| self.sim_ssrcs.get(&fb.sender_info.ssrc).copied());
                Some(Polled::Event(PeerEvent::SenderReport {
                    track,
                    rid,
                    report: SenderReport { ntp_time, rtp_time },
                }))
            }
            Event::KeyframeRequest(req) => {
                let track = self.negotiation.track_by_mid(req.mid)?;
                let kind = match req.kind {
                    KeyframeRequestKind::Pli => KeyframeKind::Pli,
                    KeyframeRequestKind::Fir => KeyframeKind::Fir,
                };
                Some(Polled::Event(PeerEvent::KeyframeRequest { track, kind }))
            }
            Event::MediaEgressStats(s) => {
                let rid = s.rid.map(|r| r.to_string());
                let direction = NackDirection::Received;
                self.nacks
                    .report(s.mid.to_string(), rid, direction, s.nacks);
                None
            }
            Event::MediaIngressStats(s) => {
                let rid = s.rid.map(|r| r.to_string());
                self.nacks
                    .report(s.mid.to_string(), rid, NackDirection::Sent, s.nacks);
                None
            }
            Event::ChannelOpen(id, label) => {
                if label == DATA_CHANNEL_LABEL && !self.data_channels.contains(&id) {
                    self.data_channels.push(id);
                }
                None
            }
            Event::ChannelClose(id) => {
                self.data_channels.retain(|c| *c != id);
                if self.server_channel == Some(id) {
                    self.server_channel = None;
                }
                None
            }
            Event::ChannelData(data) => {
                if !self.data_channels.contains(&data.id) {
                    return None;
                }
                let text = String::from_utf8_lossy(&data.data).into_owned();
                Some(Polled::Event(PeerEvent::Data(text)))
            }
            _ => None,
        }
    }

    fn on_media_added(
        &mut self,
        mid: Mid,
        kind: str0m::media::MediaKind,
        direction: Direction,
        simulcast: Option<str0m::media::Simulcast>,
    ) -> Option<Polled> {
        // Only m-lines the remote sends on are publications; our own send-only lines are
        // created through the negotiation and never reported here.
        if !matches!(direction, Direction::RecvOnly | Direction::SendRecv) {
            return None;
        }
        let media = self.rtc.media(mid)?;
        let codec = media
            .remote_pts()
            .iter()
            .find_map(|pt| {
                self.rtc
                    .codec_config()
                    .params()
                    .iter()
                    .find(|p| p.pt() == *pt)
                    .map(|p| codecs::core_codec(p.spec().codec))
            })
            .unwrap_or(Codec::Other);
        let mut rids: Vec<String> = simulcast
            .map(|s| s.recv.iter().map(|l| l.rid.to_string()).collect())
            .unwrap_or_default();
        if rids.is_empty()
            && let Some(ssrcs) = self.sim_groups.get(&mid.to_string())
        {
            for (i, ssrc) in ssrcs.iter().enumerate() {
                let name = sim_group::layer_name(i);
                self.sim_ssrcs
                    .insert(Ssrc::from(*ssrc), Rid(str0m::media::Rid::from(name)));
                rids.push(name.to_owned());
            }
        }
        // Random ids: unique in practice across rooms and restarts, and not guessable.
        let id = TrackId(rand::random());
        self.published.insert(mid, id);
        Some(Polled::Event(PeerEvent::TrackAdded(RemoteTrack {
            id,
            mid: mid.to_string(),
            kind: match kind {
                str0m::media::MediaKind::Audio => MediaKind::Audio,
                str0m::media::MediaKind::Video => MediaKind::Video,
            },
            codec,
            rids,
        })))
    }

    /// Writes a rewritten packet on the down track of `track`. False when it has no m-line yet.
    pub fn write_rtp(
        &mut self,
        track: TrackId,
        packet: &MediaPacket,
        vp8: Option<&Vp8Rewrite>,
    ) -> bool {
        let Some(mid) = self.negotiation.mid_of(track) else {
            return false;
        };
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, None) else {
            return false;
        };
        let ext_vals = ExtensionValues {
            audio_level: packet.audio_level,
            voice_activity: packet.voice_activity,
            ..Default::default()
        };
        let mut write = RtpWrite::new(
            packet.payload_type.into(),
            packet.seq.0.into(),
            packet.timestamp,
            packet.arrival,
            packet.payload.clone(),
        )
        .marker(packet.marker)
        .ext_vals(ext_vals)
        .nackable(self.nack_pts >> (packet.payload_type & 127) & 1 == 1);
        if let Some(rw) = vp8
            && let Some(patch) = vp8_patch(&packet.payload, rw)
        {
            write = write.vp8_patch(patch);
        }
        let (ssrc, rtx) = (*stream.ssrc(), stream.rtx().map(|s| *s));
        stream.write_rtp(write);
        self.written = true;
        // The wire carries the low 16 bits of the sequence number.
        self.egress
            .written(ssrc, rtx, packet.seq.0 as u16, packet.arrival);
        true
    }

    /// Re-reads which payload types take NACK feedback, after a negotiation changed the codecs.
    fn refresh_nack_pts(&mut self) {
        self.nack_pts = self
            .rtc
            .codec_config()
            .params()
            .iter()
            .filter(|p| p.fb_nack())
            .fold(0, |bits, p| bits | 1 << (*p.pt() & 127));
    }

    /// The m-line of a SIM-group SSRC, from the group it was declared in.
    fn published_mid_of_ssrc(&self, ssrc: Ssrc) -> Option<Mid> {
        let mid = self.sim_groups.iter().find(|(_, s)| s.contains(&*ssrc))?.0;
        self.published
            .keys()
            .find(|m| m.to_string() == *mid)
            .copied()
    }

    /// The m-line a published track arrives on.
    fn published_mid(&self, track: TrackId) -> Option<Mid> {
        self.published
            .iter()
            .find(|(_, t)| **t == track)
            .map(|(m, _)| *m)
    }

    /// Asks the remote publisher for a keyframe of a published track (layer `rid`).
    pub fn request_keyframe(&mut self, track: TrackId, rid: Option<&str>, kind: KeyframeKind) {
        let Some(mid) = self.published_mid(track) else {
            return;
        };
        let kind = match kind {
            KeyframeKind::Pli => KeyframeRequestKind::Pli,
            KeyframeKind::Fir => KeyframeRequestKind::Fir,
        };
        // A SIM-group layer has no RID in the stack: address its stream by SSRC.
        let sim_ssrc = rid.and_then(|r| {
            self.sim_ssrcs
                .iter()
                .find(|(_, v)| v.as_str() == r)
                .map(|(s, _)| *s)
        });
        let sim_ssrc = sim_ssrc.filter(|s| self.published_mid_of_ssrc(*s) == Some(mid));
        let rid = rid.map(str0m::media::Rid::from);
        let mut api = self.rtc.direct_api();
        let stream = match sim_ssrc {
            Some(ssrc) => api.stream_rx(&ssrc),
            None => api.stream_rx_by_mid(mid, rid),
        };
        if let Some(stream) = stream {
            stream.request_keyframe(kind);
        }
    }

    /// Sends a text message on the `data` channel (ours if open, else the client's).
    pub fn send_data(&mut self, text: &str) -> bool {
        // Ours first (the client receives it via `ondatachannel`), else any open `data` channel.
        let candidates = self
            .server_channel
            .into_iter()
            .chain(self.data_channels.iter().copied());
        for id in candidates.collect::<Vec<_>>() {
            if let Some(mut ch) = self.rtc.channel(id) {
                return ch.write(false, text.as_bytes()).unwrap_or(false);
            }
        }
        false
    }

    /// Adds a remote ICE candidate (trickle). The server is ICE-lite, so this is optional.
    pub fn add_remote_candidate(&mut self, candidate: &str) -> Result<(), String> {
        let line = candidate.strip_prefix("a=").unwrap_or(candidate);
        if line.trim().is_empty() {
            // End-of-candidates marker.
            return Ok(());
        }
        let c = Candidate::from_sdp_string(line).map_err(|e| e.to_string())?;
        self.rtc.add_remote_candidate(c);
        Ok(())
    }

    /// The payload types of a published track's m-line, with their codec parameters.
    pub fn published_codecs(&self, track: TrackId) -> Vec<CodecParams> {
        let Some(mid) = self.published_mid(track) else {
            return Vec::new();
        };
        codecs::negotiated_params(&self.rtc, mid)
    }

    /// Maps a publisher's payload types to the ones this peer negotiated on the down track.
    pub fn payload_type_map(&self, track: TrackId, publisher: &[CodecParams]) -> Vec<(u8, u8)> {
        let Some(mid) = self.negotiation.mid_of(track) else {
            return Vec::new();
        };
        codecs::map_payload_types(&self.rtc, mid, publisher)
    }
}

/// The stack's descriptor patch for a munged VP8 packet (PictureID, TL0PICIDX, KEYIDX kept
/// continuous across layer switches). None when the stack cannot parse the descriptor, in which
/// case the packet goes out with its original fields.
fn vp8_patch(payload: &[u8], rw: &Vp8Rewrite) -> Option<str0m::rtp::Vp8Patch> {
    let mut builder = str0m::rtp::Vp8Descriptor::parse(payload).ok()?.patch();
    if let Some(v) = rw.picture_id {
        builder = builder.picture_id(v);
    }
    if let Some(v) = rw.tl0_pic_idx {
        builder = builder.tl0_pic_idx(v);
    }
    if let Some(v) = rw.key_idx {
        builder = builder.key_idx(v);
    }
    builder.build().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer announcing one loopback candidate.
    fn loopback_peer(now: Instant) -> Peer {
        let config = PeerConfig {
            candidates: vec!["127.0.0.1:7882".parse().unwrap()],
            bandwidth_estimation: false,
        };
        Peer::new(ParticipantId(1), &config, now)
    }

    #[test]
    fn server_offer_before_any_client_offer() {
        let now = Instant::now();
        let mut peer = loopback_peer(now);
        peer.want_down_track(TrackId(7), ParticipantId(2), MediaKind::Video);
        let offer = peer.make_offer(now).expect("an offer");
        println!("{offer}");
        assert!(offer.contains("a=msid:PA_0000000000000002 TR_0000000000000007"));
    }

    #[test]
    fn only_payload_types_negotiated_with_nack_are_kept_for_retransmission() {
        let now = Instant::now();
        let mut peer = loopback_peer(now);
        peer.want_down_track(TrackId(7), ParticipantId(2), MediaKind::Video);
        peer.want_down_track(TrackId(8), ParticipantId(2), MediaKind::Audio);
        assert_eq!(peer.nack_pts, 0, "nothing negotiated yet");
        let offer = peer.make_offer(now).expect("an offer");
        let mut client = RtcConfig::new().build(now);
        let answer = client
            .sdp_api()
            .accept_offer(str0m::change::SdpOffer::from_sdp_string(&offer).unwrap())
            .unwrap();
        peer.accept_answer(&answer.to_sdp_string(), now).unwrap();
        let params = peer.rtc.codec_config().params().to_vec();
        let pt_of = |codec: str0m::format::Codec| {
            params
                .iter()
                .find(|p| p.spec().codec == codec)
                .map(|p| *p.pt())
                .expect("codec negotiated")
        };
        let nackable = |pt: u8| peer.nack_pts >> pt & 1 == 1;
        assert!(nackable(pt_of(str0m::format::Codec::Vp8)), "VP8 takes NACK");
        assert!(
            !nackable(pt_of(str0m::format::Codec::Opus)),
            "Opus does not"
        );
    }

    /// The m-section of `mid` in an SDP.
    fn section<'a>(sdp: &'a str, mid: &str) -> &'a str {
        sdp.split("\nm=")
            .find(|sec| sec.contains(&format!("a=mid:{mid}\r")))
            .unwrap_or("")
    }

    #[test]
    fn removing_the_first_m_line_keeps_it_as_inactive_and_stops_the_others() {
        let now = Instant::now();
        let mut peer = loopback_peer(now);
        peer.want_down_track(TrackId(7), ParticipantId(2), MediaKind::Video);
        peer.want_down_track(TrackId(8), ParticipantId(2), MediaKind::Audio);
        let offer = peer.make_offer(now).expect("an offer");
        // A client (another str0m) answers.
        let mut client = RtcConfig::new().build(now);
        let answer = client
            .sdp_api()
            .accept_offer(str0m::change::SdpOffer::from_sdp_string(&offer).unwrap())
            .unwrap();
        let negotiated = peer.accept_answer(&answer.to_sdp_string(), now).unwrap();
        assert_eq!(negotiated.len(), 2);
        let first = peer.negotiation.mid_of(TrackId(7)).unwrap().to_string();
        let second = peer.negotiation.mid_of(TrackId(8)).unwrap().to_string();

        peer.drop_down_track(TrackId(7));
        peer.drop_down_track(TrackId(8));
        let offer = peer.make_offer(now).expect("a removal offer");
        let first_section = section(&offer, &first);
        assert!(
            !first_section.starts_with("video 0 "),
            "the BUNDLE tag must not be stopped:\n{first_section}"
        );
        assert!(first_section.contains("a=inactive"), "{first_section}");
        assert!(
            section(&offer, &second).starts_with("audio 0 "),
            "other m-lines are stopped"
        );
    }
}
