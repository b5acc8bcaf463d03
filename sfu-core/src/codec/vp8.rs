//! VP8 RTP payload descriptor (RFC 7741 §4.2) and keyframe detection.
//!
//! ```text
//!       0 1 2 3 4 5 6 7
//!      +-+-+-+-+-+-+-+-+
//!      |X|R|N|S|R| PID | (REQUIRED)
//!      +-+-+-+-+-+-+-+-+
//! X:   |I|L|T|K| RSV   | (OPTIONAL)
//!      +-+-+-+-+-+-+-+-+
//! I:   |M| PictureID   | (OPTIONAL)
//!      +-+-+-+-+-+-+-+-+
//!      |   PictureID   | (present when M = 1: 15-bit PictureID)
//!      +-+-+-+-+-+-+-+-+
//! L:   |   TL0PICIDX   | (OPTIONAL)
//!      +-+-+-+-+-+-+-+-+
//! T/K: |TID|Y| KEYIDX  | (OPTIONAL, present when T or K = 1)
//!      +-+-+-+-+-+-+-+-+
//! ```

/// Extension bit (X) of the first byte: an extension byte follows.
const X_BIT: u8 = 0x80;
/// Non-reference frame bit (N) of the first byte.
const N_BIT: u8 = 0x20;
/// Start-of-partition bit (S) of the first byte.
const S_BIT: u8 = 0x10;
/// Partition index (PID) bits of the first byte.
const PID_MASK: u8 = 0x07;
/// PictureID present (I) in the extension byte.
const I_BIT: u8 = 0x80;
/// TL0PICIDX present (L) in the extension byte.
const L_BIT: u8 = 0x40;
/// TID and Y present (T) in the extension byte.
const T_BIT: u8 = 0x20;
/// KEYIDX present (K) in the extension byte.
const K_BIT: u8 = 0x10;
/// Long PictureID (M) in the first PictureID byte.
const M_BIT: u8 = 0x80;
/// Inverse keyframe flag (P) of the VP8 payload header (RFC 7741 §4.3, RFC 6386 §9.1).
const P_BIT: u8 = 0x01;

/// The fields of a VP8 payload descriptor, as needed to forward and rewrite VP8 packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Descriptor {
    /// N: the frame is not used as a reference by any other frame, so it can be discarded.
    pub non_reference: bool,
    /// S: this packet starts a VP8 partition.
    pub start_of_partition: bool,
    /// PID: the index of the partition this packet belongs to (0..=7).
    pub partition_id: u8,
    /// PictureID (7 or 15 bits), if present.
    pub picture_id: Option<u16>,
    /// Whether the PictureID is encoded on 15 bits (M = 1) rather than 7.
    pub picture_id_15bit: bool,
    /// TL0PICIDX: running index of the temporal base layer frames, if present.
    pub tl0_pic_idx: Option<u8>,
    /// TID: temporal layer index (0..=3), if present.
    pub temporal_id: Option<u8>,
    /// Y: the frame depends only on temporal base layer frames (a temporal switching point).
    pub layer_sync: bool,
    /// KEYIDX: running index of keyframes (0..=31), if present.
    pub key_idx: Option<u8>,
    /// Length of the descriptor in bytes: the VP8 payload header starts at this offset.
    pub header_len: usize,
}

impl Vp8Descriptor {
    /// Parses the descriptor at the start of a VP8 RTP payload; `None` if it is truncated.
    ///
    /// Only the descriptor is checked: a payload ending right after it parses, even though it
    /// carries no VP8 data. Reserved bits are ignored, as RFC 7741 asks of receivers.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let mut bytes = payload.iter().copied();
        let first = bytes.next()?;
        let mut desc = Vp8Descriptor {
            non_reference: first & N_BIT != 0,
            start_of_partition: first & S_BIT != 0,
            partition_id: first & PID_MASK,
            picture_id: None,
            picture_id_15bit: false,
            tl0_pic_idx: None,
            temporal_id: None,
            layer_sync: false,
            key_idx: None,
            header_len: 1,
        };
        if first & X_BIT == 0 {
            return Some(desc);
        }
        let ext = bytes.next()?;
        if ext & I_BIT != 0 {
            let high = bytes.next()?;
            if high & M_BIT != 0 {
                let low = bytes.next()?;
                desc.picture_id = Some((u16::from(high & 0x7f) << 8) | u16::from(low));
                desc.picture_id_15bit = true;
            } else {
                desc.picture_id = Some(u16::from(high));
            }
        }
        if ext & L_BIT != 0 {
            desc.tl0_pic_idx = Some(bytes.next()?);
        }
        if ext & (T_BIT | K_BIT) != 0 {
            // One byte carries both: TID and Y mean something only with T, KEYIDX only with K.
            let tk = bytes.next()?;
            if ext & T_BIT != 0 {
                desc.temporal_id = Some(tk >> 6);
                desc.layer_sync = tk & 0x20 != 0;
            }
            if ext & K_BIT != 0 {
                desc.key_idx = Some(tk & 0x1f);
            }
        }
        desc.header_len = payload.len() - bytes.len();
        Some(desc)
    }
}

/// Whether this VP8 RTP payload is the first packet of a keyframe.
///
/// That is the start of partition 0 (S = 1, PID = 0) whose VP8 payload header has P = 0; a
/// keyframe's other packets need no detection since forwarding switches at its first one.
pub fn is_keyframe_start(payload: &[u8]) -> bool {
    let Some(desc) = Vp8Descriptor::parse(payload) else {
        return false;
    };
    if !desc.start_of_partition || desc.partition_id != 0 {
        return false;
    }
    payload
        .get(desc.header_len)
        .is_some_and(|&header| header & P_BIT == 0)
}

#[cfg(test)]
mod tests;
