//! Codec identification and the few payload inspections forwarding needs.
//!
//! The SFU never decodes media: it only has to know where keyframes start (to switch a
//! subscriber between simulcast layers without a broken picture) and, for VP8, to read the
//! payload descriptor it rewrites across switches.

pub mod h264;
pub mod vp8;
pub mod vp8_size;

#[cfg(test)]
mod tests;

/// A media codec as negotiated in SDP, reduced to what forwarding distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus audio.
    Opus,
    /// VP8 video.
    Vp8,
    /// VP9 video.
    Vp9,
    /// H.264 video.
    H264,
    /// AV1 video.
    Av1,
    /// Any other codec, forwarded without payload inspection.
    Other,
}

impl Codec {
    /// The codec for an SDP encoding name (`a=rtpmap`), matched case-insensitively.
    pub fn from_name(name: &str) -> Codec {
        const NAMES: [(&str, Codec); 5] = [
            ("opus", Codec::Opus),
            ("vp8", Codec::Vp8),
            ("vp9", Codec::Vp9),
            ("h264", Codec::H264),
            ("av1", Codec::Av1),
        ];
        NAMES
            .iter()
            .find(|(known, _)| name.eq_ignore_ascii_case(known))
            .map_or(Codec::Other, |&(_, codec)| codec)
    }

    /// The codec's usual display name, as written in SDP (`"unknown"` for [`Codec::Other`]).
    pub fn name(&self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Vp8 => "VP8",
            Codec::Vp9 => "VP9",
            Codec::H264 => "H264",
            Codec::Av1 => "AV1",
            Codec::Other => "unknown",
        }
    }

    /// Whether this is a video codec.
    pub fn is_video(&self) -> bool {
        matches!(self, Codec::Vp8 | Codec::Vp9 | Codec::H264 | Codec::Av1)
    }
}

/// Whether this RTP payload of `codec` is the first packet of a keyframe.
///
/// Only VP8 and H.264 are inspected; for any other codec this is `false`, so a caller waiting
/// for a keyframe there must rely on something else (VP9 and AV1 are not parsed yet). Never
/// panics, whatever the payload.
pub fn is_keyframe_start(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::Vp8 => vp8::is_keyframe_start(payload),
        Codec::H264 => h264::is_keyframe_start(payload),
        Codec::Opus | Codec::Vp9 | Codec::Av1 | Codec::Other => false,
    }
}
