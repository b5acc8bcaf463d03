//! The plain RTP and RTCP a forward sends (RFC 3550): a fixed 12-byte RTP header with no
//! extensions, and RTCP sender reports with an SDES CNAME, and a BYE when the forward ends.
//!
//! Written by hand because they are a few fixed-layout fields; the WebRTC stack's serializers
//! live behind SRTP and its session state.

use sfu_core::MediaPacket;
use sfu_core::vp8_munger::{self, Vp8Rewrite};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;

/// One RTP packet: header (V=2, no padding, no extension, no CSRC) and payload, with the VP8
/// descriptor fields of `vp8` written in so picture ids stay continuous across layer switches.
pub fn rtp_packet(packet: &MediaPacket, ssrc: u32, vp8: Option<&Vp8Rewrite>) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + packet.payload.len());
    out.push(0x80);
    out.push((u8::from(packet.marker) << 7) | (packet.payload_type & 0x7f));
    out.extend_from_slice(&(packet.seq.0 as u16).to_be_bytes());
    out.extend_from_slice(&packet.timestamp.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    let start = out.len();
    out.extend_from_slice(&packet.payload);
    if let Some(rw) = vp8 {
        // A payload the munger cannot patch goes out as received, as on the WebRTC path.
        vp8_munger::apply_in_place(&mut out[start..], rw);
    }
    out
}

/// What an RTCP sender report states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// Wallclock since the Unix epoch.
    pub unix_time: std::time::Duration,
    /// The RTP timestamp of that same instant.
    pub rtp_time: u32,
    /// Packets sent so far.
    pub packets: u32,
    /// Payload octets sent so far.
    pub octets: u32,
}

/// A compound RTCP packet: a sender report without report blocks, then SDES with the CNAME
/// (a compound packet must carry one, RFC 3550 6.1).
pub fn sender_report(ssrc: u32, info: SenderInfo, cname: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    // SR: V=2, RC=0, PT=200, length 6 words after the first.
    out.extend_from_slice(&[0x80, 200, 0, 6]);
    out.extend_from_slice(&ssrc.to_be_bytes());
    let secs = info.unix_time.as_secs() + NTP_UNIX_OFFSET_S;
    let frac = (u64::from(info.unix_time.subsec_nanos()) << 32) / 1_000_000_000;
    out.extend_from_slice(&(secs as u32).to_be_bytes());
    out.extend_from_slice(&(frac as u32).to_be_bytes());
    out.extend_from_slice(&info.rtp_time.to_be_bytes());
    out.extend_from_slice(&info.packets.to_be_bytes());
    out.extend_from_slice(&info.octets.to_be_bytes());
    sdes(&mut out, ssrc, cname);
    out
}

/// A compound RTCP packet announcing that the stream ends: an empty receiver report, SDES and
/// BYE. ffmpeg stops reading an SDP input once every stream in it said BYE.
pub fn bye(ssrc: u32, cname: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    // RR: V=2, RC=0, PT=201, length 1.
    out.extend_from_slice(&[0x80, 201, 0, 1]);
    out.extend_from_slice(&ssrc.to_be_bytes());
    sdes(&mut out, ssrc, cname);
    // BYE: V=2, SC=1, PT=203, length 1.
    out.extend_from_slice(&[0x81, 203, 0, 1]);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out
}

/// Appends an SDES packet with one chunk: the CNAME item, padded to a 32-bit boundary.
fn sdes(out: &mut Vec<u8>, ssrc: u32, cname: &str) {
    let name = &cname.as_bytes()[..cname.len().min(255)];
    // Chunk: SSRC, CNAME item (type 1, length, text), a terminating zero, padding.
    let chunk_len = 4 + 2 + name.len() + 1;
    let padded = chunk_len.div_ceil(4) * 4;
    let words = (4 + padded) / 4 - 1;
    out.extend_from_slice(&[0x81, 202]);
    out.extend_from_slice(&(words as u16).to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(1);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.resize(out.len() + (padded - chunk_len) + 1, 0);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use sfu_core::SeqNo;

    use super::*;

    fn packet(payload: &[u8]) -> MediaPacket {
        MediaPacket {
            seq: SeqNo(0x1_2345),
            timestamp: 0xdead_beef,
            marker: true,
            payload_type: 96,
            payload: Arc::from(payload),
            audio_level: None,
            voice_activity: None,
            arrival: Instant::now(),
        }
    }

    /// The packet types of an RTCP compound, checking that each packet's length field covers
    /// it exactly and that together they fill the buffer.
    fn compound_types(bytes: &[u8]) -> Vec<u8> {
        let mut at = 0;
        let mut types = Vec::new();
        while at < bytes.len() {
            types.push(bytes[at + 1]);
            let words = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
            at += 4 * (words + 1);
        }
        assert_eq!(at, bytes.len());
        types
    }

    #[test]
    fn rtp_header_carries_the_rewritten_fields() {
        let bytes = rtp_packet(&packet(&[1, 2, 3]), 0x0102_0304, None);
        assert_eq!(
            bytes,
            [
                0x80, 0xe0, 0x23, 0x45, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 1, 2, 3
            ]
        );
    }

    #[test]
    fn rtp_payload_gets_the_vp8_picture_id() {
        // X=1, S=1; I=1; M=1 with a 15-bit PictureID 0x0102; then a payload byte.
        let payload = [0x90, 0x80, 0x81, 0x02, 0x55];
        let rw = Vp8Rewrite {
            picture_id: Some(0x0304),
            ..Default::default()
        };
        let bytes = rtp_packet(&packet(&payload), 1, Some(&rw));
        assert_eq!(&bytes[12..], [0x90, 0x80, 0x83, 0x04, 0x55]);
    }

    #[test]
    fn sender_report_is_a_valid_compound_packet() {
        let info = SenderInfo {
            unix_time: Duration::new(1_700_000_000, 500_000_000),
            rtp_time: 42,
            packets: 3,
            octets: 300,
        };
        let bytes = sender_report(9, info, "abc");
        assert_eq!(&bytes[..4], [0x80, 200, 0, 6]);
        let secs = u32::from_be_bytes(bytes[8..12].try_into().unwrap());
        assert_eq!(u64::from(secs), 1_700_000_000 + NTP_UNIX_OFFSET_S);
        let frac = u32::from_be_bytes(bytes[12..16].try_into().unwrap());
        assert_eq!(frac, 1 << 31, "half a second");
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 42);
        let types = compound_types(&bytes);
        assert_eq!(types, [200, 202]);
        assert_eq!(&bytes[36..41], [1, 3, b'a', b'b', b'c'], "CNAME item");
    }

    #[test]
    fn bye_is_a_valid_compound_packet() {
        let bytes = bye(9, "a-longer-cname");
        let types = compound_types(&bytes);
        assert_eq!(types, [201, 202, 203]);
    }
}
