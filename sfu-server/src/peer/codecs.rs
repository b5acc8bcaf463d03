//! Payload type mapping between a publisher's m-line and a subscriber's.
//!
//! Each peer connection negotiates its own payload type numbers, so a forwarded packet's
//! payload type is translated to the number the subscriber's leg uses for the same codec.

use sfu_core::Codec;
use str0m::Rtc;
use str0m::format::PayloadParams;
use str0m::media::Mid;

/// A negotiated codec of one m-line (payload type plus codec parameters).
#[derive(Debug, Clone)]
pub struct CodecParams(PayloadParams);

/// A negotiated payload format as an SDP file announces it (`a=rtpmap`, `a=fmtp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFormat {
    /// The payload type.
    pub pt: u8,
    /// The core's codec.
    pub codec: Codec,
    /// The encoding name of `a=rtpmap` (`VP8`, `H264`, `opus`).
    pub encoding: String,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// Audio channels (`opus/48000/2`).
    pub channels: Option<u8>,
    /// The `a=fmtp` parameters (`minptime=10;useinbandfec=1`), empty when none.
    pub fmtp: String,
}

impl CodecParams {
    /// The payload format as an SDP file announces it.
    pub fn format(&self) -> PayloadFormat {
        let spec = self.0.spec();
        PayloadFormat {
            pt: *self.0.pt(),
            codec: core_codec(spec.codec),
            encoding: spec.codec.to_string(),
            clock_rate: spec.clock_rate.get(),
            channels: spec.channels,
            fmtp: spec.format.to_string(),
        }
    }
}

/// Maps the stack's codec enum to the core's.
pub(super) fn core_codec(codec: str0m::format::Codec) -> Codec {
    use str0m::format::Codec as S;
    match codec {
        S::Opus => Codec::Opus,
        S::Vp8 => Codec::Vp8,
        S::Vp9 => Codec::Vp9,
        S::H264 => Codec::H264,
        S::Av1 => Codec::Av1,
        _ => Codec::Other,
    }
}

/// The codecs negotiated on `mid` (all configured ones when the remote listed none).
pub(super) fn negotiated_params(rtc: &Rtc, mid: Mid) -> Vec<CodecParams> {
    let remote: Vec<_> = rtc
        .media(mid)
        .map(|m| m.remote_pts().to_vec())
        .unwrap_or_default();
    rtc.codec_config()
        .params()
        .iter()
        .filter(|p| remote.is_empty() || remote.contains(&p.pt()))
        .map(|p| CodecParams(*p))
        .collect()
}

/// For each publisher payload type, the subscriber's payload type of the same codec on `mid`.
pub(super) fn map_payload_types(rtc: &Rtc, mid: Mid, publisher: &[CodecParams]) -> Vec<(u8, u8)> {
    let remote: Vec<_> = rtc
        .media(mid)
        .map(|m| m.remote_pts().to_vec())
        .unwrap_or_default();
    publisher
        .iter()
        .filter_map(|p| {
            let local = rtc.codec_config().match_params(p.0)?;
            if !remote.is_empty() && !remote.contains(&local.pt()) {
                return None;
            }
            Some((*p.0.pt(), *local.pt()))
        })
        .collect()
}
