//! The picture size of a VP8 keyframe, read from its frame header (RFC 6386 §9.1).
//!
//! Publishers do not always declare their simulcast layers' sizes, and a layer's size changes
//! when the encoder adapts its resolution; every keyframe states it in its first bytes, so the
//! SFU can learn each layer's real size for free while forwarding.
//!
//! ```text
//! frame tag (3 bytes, P = bit 0 of the first: 0 for a keyframe)
//! start code 9d 01 2a
//! width  (16 bits little endian: 14-bit size, 2-bit horizontal scale)
//! height (16 bits little endian: 14-bit size, 2-bit vertical scale)
//! ```

use crate::codec::vp8::Vp8Descriptor;

/// The keyframe start code that follows the frame tag.
const START_CODE: [u8; 3] = [0x9d, 0x01, 0x2a];

/// `(width, height)` in pixels of the keyframe whose first RTP packet has this VP8 RTP `payload`
/// (descriptor included); `None` for any other packet, a truncated header or a zero size.
pub fn keyframe_size(payload: &[u8]) -> Option<(u16, u16)> {
    let desc = Vp8Descriptor::parse(payload)?;
    // Only the first packet of a frame starts with the VP8 payload header.
    if !desc.start_of_partition || desc.partition_id != 0 {
        return None;
    }
    frame_size(payload.get(desc.header_len..)?)
}

/// `(width, height)` in pixels of a VP8 keyframe from the start of its bitstream (the bytes
/// after the RTP payload descriptor); `None` for an interframe, a truncated header or a zero
/// size.
///
/// The 2-bit scaling fields are ignored: they ask the receiver to upscale on display and do not
/// change the coded size, which is what layer selection compares.
pub fn frame_size(frame: &[u8]) -> Option<(u16, u16)> {
    let header: &[u8; 10] = frame.get(..10)?.try_into().ok()?;
    let [tag, _, _, s0, s1, s2, w0, w1, h0, h1] = *header;
    if tag & 0x01 != 0 || [s0, s1, s2] != START_CODE {
        return None;
    }
    let width = u16::from_le_bytes([w0, w1]) & 0x3fff;
    let height = u16::from_le_bytes([h0, h1]) & 0x3fff;
    (width != 0 && height != 0).then_some((width, height))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{frame_size, keyframe_size};

    /// A keyframe header of `width` x `height` with scale bits `scale` in both fields.
    fn key_header(width: u16, height: u16, scale: u16) -> Vec<u8> {
        let mut out = vec![0x50, 0x2a, 0x00];
        out.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        out.extend_from_slice(&(width | scale << 14).to_le_bytes());
        out.extend_from_slice(&(height | scale << 14).to_le_bytes());
        out
    }

    /// Descriptor with X, S, PID 0, a 15-bit PictureID, TL0PICIDX and TID.
    const DESCRIPTOR: [u8; 6] = [0x90, 0xe0, 0x81, 0x23, 0x42, 0x40];

    #[test]
    fn reads_the_size_of_common_layers() {
        for (w, h) in [
            (320, 180),
            (640, 360),
            (1280, 720),
            (1920, 1080),
            (16_383, 1),
        ] {
            assert_eq!(frame_size(&key_header(w, h, 0)), Some((w, h)));
            let mut payload = DESCRIPTOR.to_vec();
            payload.extend(key_header(w, h, 0));
            payload.extend_from_slice(&[0xaa; 50]);
            assert_eq!(keyframe_size(&payload), Some((w, h)));
        }
    }

    #[test]
    fn ignores_scaling_bits() {
        assert_eq!(frame_size(&key_header(1280, 720, 3)), Some((1280, 720)));
    }

    #[test]
    fn a_minimal_descriptor_works() {
        let mut payload = vec![0x10];
        payload.extend(key_header(640, 480, 0));
        assert_eq!(keyframe_size(&payload), Some((640, 480)));
    }

    #[test]
    fn rejects_what_is_not_a_keyframe_start() {
        let mut inter = key_header(640, 480, 0);
        inter[0] |= 0x01;
        assert_eq!(frame_size(&inter), None);
        let mut bad_code = key_header(640, 480, 0);
        bad_code[4] = 0x02;
        assert_eq!(frame_size(&bad_code), None);
        assert_eq!(frame_size(&key_header(0, 480, 1)), None);
        assert_eq!(frame_size(&key_header(640, 0, 0)), None);
        assert_eq!(frame_size(&key_header(640, 480, 0)[..9]), None);
        // Not the first packet of the frame: S = 0, or another partition.
        for first in [0x00, 0x11] {
            let mut payload = vec![first];
            payload.extend(key_header(640, 480, 0));
            assert_eq!(keyframe_size(&payload), None);
        }
        assert_eq!(keyframe_size(&[]), None);
        assert_eq!(keyframe_size(&DESCRIPTOR), None);
    }

    proptest! {
        #[test]
        fn round_trips_any_size(w in 1u16..0x4000, h in 1u16..0x4000, scale in 0u16..4) {
            prop_assert_eq!(frame_size(&key_header(w, h, scale)), Some((w, h)));
        }

        #[test]
        fn never_panics(payload in prop::collection::vec(any::<u8>(), 0..24)) {
            if let Some((w, h)) = keyframe_size(&payload) {
                prop_assert!(w > 0 && h > 0 && w < 0x4000 && h < 0x4000);
            }
            let _ = frame_size(&payload);
        }
    }
}
