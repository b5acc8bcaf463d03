//! The SDP file of a forward: what a plain RTP receiver (ffmpeg, GStreamer's `sdpdemux`, VLC)
//! needs to read the stream as it is: address, ports, payload type and codec parameters.

use std::net::IpAddr;

use sfu_core::{ForwardId, MediaKind, TrackId};

use crate::peer::PayloadFormat;

/// Everything the SDP file states.
#[derive(Debug, Clone)]
pub struct SdpFile<'a> {
    /// The forward.
    pub id: ForwardId,
    /// Its track.
    pub track: TrackId,
    /// Audio or video.
    pub kind: MediaKind,
    /// Where the RTP goes (the receiver's own address).
    pub address: IpAddr,
    /// RTP port.
    pub port: u16,
    /// RTCP port.
    pub rtcp_port: u16,
    /// The payload format the forward sends.
    pub format: &'a PayloadFormat,
}

impl SdpFile<'_> {
    /// The SDP text (CRLF line ends, as RFC 8866 asks).
    pub fn render(&self) -> String {
        let (net, origin) = match self.address {
            IpAddr::V4(_) => ("IP4", "127.0.0.1"),
            IpAddr::V6(_) => ("IP6", "::1"),
        };
        let f = self.format;
        let mut lines = vec![
            "v=0".to_owned(),
            format!("o=- {} 1 IN {net} {origin}", self.id.0 >> 1),
            format!("s=forward {} of track {}", self.id, self.track),
            format!("c=IN {net} {}", self.address),
            "t=0 0".to_owned(),
            format!("m={} {} RTP/AVP {}", self.kind.as_str(), self.port, f.pt),
        ];
        let mut rtpmap = format!("a=rtpmap:{} {}/{}", f.pt, f.encoding, f.clock_rate);
        if let Some(channels) = f.channels {
            rtpmap.push_str(&format!("/{channels}"));
        }
        lines.push(rtpmap);
        if !f.fmtp.is_empty() {
            lines.push(format!("a=fmtp:{} {}", f.pt, f.fmtp));
        }
        lines.push(format!("a=rtcp:{}", self.rtcp_port));
        lines.push("a=recvonly".to_owned());
        let mut text = lines.join("\r\n");
        text.push_str("\r\n");
        text
    }
}

#[cfg(test)]
mod tests {
    use sfu_core::Codec;

    use super::*;

    #[test]
    fn opus_forward_sdp_names_two_channels_and_its_ports() {
        let format = PayloadFormat {
            pt: 111,
            codec: Codec::Opus,
            encoding: "opus".into(),
            clock_rate: 48_000,
            channels: Some(2),
            fmtp: "minptime=10;useinbandfec=1".into(),
        };
        let sdp = SdpFile {
            id: ForwardId(2),
            track: TrackId(3),
            kind: MediaKind::Audio,
            address: "127.0.0.1".parse().unwrap(),
            port: 5004,
            rtcp_port: 5005,
            format: &format,
        }
        .render();
        let lines: Vec<&str> = sdp.split("\r\n").collect();
        assert_eq!(lines[0], "v=0");
        assert!(lines.contains(&"c=IN IP4 127.0.0.1"));
        assert!(lines.contains(&"m=audio 5004 RTP/AVP 111"));
        assert!(lines.contains(&"a=rtpmap:111 opus/48000/2"));
        assert!(lines.contains(&"a=fmtp:111 minptime=10;useinbandfec=1"));
        assert!(lines.contains(&"a=rtcp:5005"));
        assert!(lines.contains(&"a=recvonly"));
        assert!(sdp.ends_with("\r\n"));
    }

    #[test]
    fn vp8_forward_sdp_over_ipv6_has_no_fmtp() {
        let format = PayloadFormat {
            pt: 96,
            codec: Codec::Vp8,
            encoding: "VP8".into(),
            clock_rate: 90_000,
            channels: None,
            fmtp: String::new(),
        };
        let sdp = SdpFile {
            id: ForwardId(2),
            track: TrackId(3),
            kind: MediaKind::Video,
            address: "fd00::5".parse().unwrap(),
            port: 6000,
            rtcp_port: 7000,
            format: &format,
        }
        .render();
        assert!(sdp.contains("c=IN IP6 fd00::5\r\n"));
        assert!(sdp.contains("m=video 6000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp:7000"));
        assert!(!sdp.contains("a=fmtp"));
    }
}
