//! The sending end of a forward (the recording tap): a UDP socket that sends one track's
//! rewritten RTP, the RTCP sender reports a receiver needs for lip sync, and a BYE at the end.
//!
//! Plain RTP, no SRTP: the destination is a recorder on a trusted network, which is why
//! destinations are limited to `forwards.allow_networks` (checked by the API).

pub mod sdp;
pub mod wire;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use sfu_core::clock_sync::SenderReport;
use sfu_core::vp8_munger::Vp8Rewrite;
use sfu_core::{ForwardId, ForwardStats, MediaPacket, TrackId};

use crate::model::ForwardJson;
use crate::webhooks::WebhookForward;

/// Why a forward ended, for logs (and the `forward_ended` webhook).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `DELETE /v1/rooms/{room}/forwards/{id}`.
    Deleted,
    /// Its track was unpublished (or its publisher left).
    TrackEnded,
    /// Its room was closed.
    RoomClosed,
}

impl EndReason {
    /// A stable snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Deleted => "deleted",
            EndReason::TrackEnded => "track_ended",
            EndReason::RoomClosed => "room_closed",
        }
    }
}

/// What a new forward sends where, after the API validated it.
#[derive(Debug, Clone)]
pub struct ForwardRequest {
    /// The track (`TR_…`), as the caller wrote it.
    pub track_id: String,
    /// The host as the caller wrote it.
    pub host: String,
    /// The address `host` resolved to, inside the allow-list.
    pub address: IpAddr,
    /// RTP port.
    pub port: u16,
    /// RTCP port.
    pub rtcp_port: u16,
    /// The simulcast layer (RID) to send; `None` = the highest live one.
    pub layer: Option<String>,
    /// Start paused: nothing is sent (and no keyframe asked for) until resumed.
    pub paused: bool,
}

/// One open forward.
pub struct ForwardSink {
    /// Its id.
    pub id: ForwardId,
    /// The room it belongs to.
    pub room: String,
    /// The track it sends.
    pub track: TrackId,
    /// Where to, as asked.
    pub request: ForwardRequest,
    /// The SDP file describing the stream.
    pub sdp: String,
    /// Unix seconds.
    pub created_at: u64,
    socket: UdpSocket,
    rtp_to: SocketAddr,
    rtcp_to: SocketAddr,
    ssrc: u32,
    cname: String,
    packets: u64,
    bytes: u64,
    send_errors: u64,
    sender_reports: u64,
}

impl ForwardSink {
    /// Opens the socket a forward sends from (any local port of the destination's family).
    pub fn open(
        id: ForwardId,
        room: String,
        track: TrackId,
        request: ForwardRequest,
        sdp: String,
    ) -> std::io::Result<Self> {
        let local = match request.address {
            IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        };
        let socket = UdpSocket::bind(local)?;
        // Never block the media worker: a full send buffer drops the packet (counted).
        socket.set_nonblocking(true)?;
        Ok(ForwardSink {
            rtp_to: SocketAddr::new(request.address, request.port),
            rtcp_to: SocketAddr::new(request.address, request.rtcp_port),
            ssrc: rand::random(),
            cname: id.to_string(),
            id,
            room,
            track,
            request,
            sdp,
            created_at: crate::auth::unix_now(),
            socket,
            packets: 0,
            bytes: 0,
            send_errors: 0,
            sender_reports: 0,
        })
    }

    /// Sends one rewritten packet; true when the socket took it.
    pub fn send_rtp(&mut self, packet: &MediaPacket, vp8: Option<&Vp8Rewrite>) -> bool {
        let bytes = wire::rtp_packet(packet, self.ssrc, vp8);
        match self.socket.send_to(&bytes, self.rtp_to) {
            Ok(_) => {
                self.packets += 1;
                self.bytes += packet.payload.len() as u64;
                true
            }
            Err(_) => {
                self.send_errors += 1;
                false
            }
        }
    }

    /// Sends an RTCP sender report pairing the publisher's wallclock with the forward's RTP
    /// time (from [`sfu_core::Room::forward_sender_report`]).
    pub fn send_sender_report(&mut self, report: SenderReport) {
        let info = wire::SenderInfo {
            unix_time: report.ntp_time,
            rtp_time: report.rtp_time,
            packets: self.packets as u32,
            octets: self.bytes as u32,
        };
        let bytes = wire::sender_report(self.ssrc, info, &self.cname);
        match self.socket.send_to(&bytes, self.rtcp_to) {
            Ok(_) => self.sender_reports += 1,
            Err(_) => self.send_errors += 1,
        }
    }

    /// Says BYE on the RTCP port, so a receiver such as ffmpeg finishes its file.
    pub fn close(&mut self) {
        let bytes = wire::bye(self.ssrc, &self.cname);
        // Sent twice: it is one datagram on a lossy transport and nothing resends it.
        for _ in 0..2 {
            let _ = self.socket.send_to(&bytes, self.rtcp_to);
        }
    }

    /// RTP packets sent.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The webhook view: where it sends, plus its counters once it has `ended`.
    pub fn webhook(&self, ended: bool) -> WebhookForward {
        WebhookForward {
            id: self.id.to_string(),
            track_id: self.track.to_string(),
            host: self.request.host.clone(),
            port: self.request.port,
            packets_sent: ended.then_some(self.packets),
            bytes_sent: ended.then_some(self.bytes),
        }
    }

    /// The API view, with what the room says about the layer being sent.
    pub fn json(&self, stats: Option<&ForwardStats>) -> ForwardJson {
        ForwardJson {
            id: self.id.to_string(),
            track_id: self.track.to_string(),
            host: self.request.host.clone(),
            address: self.request.address.to_string(),
            port: self.request.port,
            rtcp_port: self.request.rtcp_port,
            layer: self.request.layer.clone(),
            current_layer: stats.and_then(|s| s.current_layer.clone()),
            paused: self.request.paused,
            created_at: self.created_at,
            sdp: self.sdp.clone(),
            packets_sent: self.packets,
            bytes_sent: self.bytes,
            sender_reports_sent: self.sender_reports,
            send_errors: self.send_errors,
            layer_switches: stats.map_or(0, |s| s.switches),
        }
    }
}
