//! H.264 RTP payload (RFC 6184) keyframe detection.
//!
//! Every NAL unit and packetization unit starts with the header `|F|NRI|Type|` (1, 2, 5 bits).
//! WebRTC uses packetization mode 0 or 1: single NAL units, STAP-A aggregates and FU-A fragments.

/// NAL unit type bits of a NAL unit or payload header.
const TYPE_MASK: u8 = 0x1f;
/// Coded slice of an IDR picture: a keyframe.
const NAL_IDR: u8 = 5;
/// Sequence parameter set: encoders send it right before each IDR picture.
const NAL_SPS: u8 = 7;
/// Single-time aggregation packet (RFC 6184 §5.7.1).
const STAP_A: u8 = 24;
/// Fragmentation unit without decoding order number (RFC 6184 §5.8).
const FU_A: u8 = 28;
/// Start bit (S) of the FU header.
const FU_START: u8 = 0x80;
/// Size of the NAL unit size field in front of each unit of a STAP-A.
const STAP_SIZE_LEN: usize = 2;

/// Whether this H.264 RTP payload starts a keyframe: it begins an IDR picture or the SPS that
/// precedes one.
///
/// Checked forms: a single SPS or IDR NAL unit, a STAP-A containing one, and the first fragment
/// (S = 1) of an FU-A carrying one. A malformed STAP-A counts as no keyframe: switching a
/// subscriber onto a packet its decoder will reject would only freeze its video.
pub fn is_keyframe_start(payload: &[u8]) -> bool {
    let Some((&header, rest)) = payload.split_first() else {
        return false;
    };
    match header & TYPE_MASK {
        STAP_A => stap_a_has_keyframe(rest),
        FU_A => rest
            .first()
            .is_some_and(|&fu| fu & FU_START != 0 && is_keyframe_nal(fu & TYPE_MASK)),
        nal_type => is_keyframe_nal(nal_type),
    }
}

/// Whether a NAL unit of this type starts a keyframe.
fn is_keyframe_nal(nal_type: u8) -> bool {
    nal_type == NAL_IDR || nal_type == NAL_SPS
}

/// Whether a well-formed STAP-A body (after its header byte) aggregates an SPS or IDR unit.
fn stap_a_has_keyframe(mut body: &[u8]) -> bool {
    if body.is_empty() {
        return false;
    }
    let mut found = false;
    while !body.is_empty() {
        let Some((size, rest)) = body.split_first_chunk::<STAP_SIZE_LEN>() else {
            return false;
        };
        let size = usize::from(u16::from_be_bytes(*size));
        if size == 0 {
            return false;
        }
        let (Some(&nal_header), Some(next)) = (rest.first(), rest.get(size..)) else {
            return false;
        };
        found |= is_keyframe_nal(nal_header & TYPE_MASK);
        body = next;
    }
    found
}

#[cfg(test)]
mod tests;
