//! VP8 RTP payload helpers (RFC 7741) and the unique tag embedded in every synthetic payload.
//!
//! Synthetic VP8 packets built here carry a full payload descriptor (X, I with a 15-bit
//! PictureID, L with TL0PICIDX, T with TID 0 and Y), and on the first packet of a frame a VP8
//! payload header whose P bit is 0 on keyframes (plus the keyframe start code and dimensions).
//! After that comes a [`PayloadTag`] so receivers can match every packet to what was sent.

/// Magic bytes that start a [`PayloadTag`].
pub const TAG_MAGIC: [u8; 4] = *b"SFT1";
/// Encoded length of a [`PayloadTag`].
pub const TAG_LEN: usize = 16;

/// Unique identity of one synthetic packet: the sending stream and a per-stream counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadTag {
    /// Process-unique number of the sending stream (see `SentStream::tag`).
    pub stream: u32,
    /// Per-stream packet counter, starting at 0.
    pub counter: u64,
}

impl PayloadTag {
    /// Encodes the tag: magic, stream (BE u32), counter (BE u64).
    pub fn encode(&self) -> [u8; TAG_LEN] {
        let mut out = [0u8; TAG_LEN];
        out[..4].copy_from_slice(&TAG_MAGIC);
        out[4..8].copy_from_slice(&self.stream.to_be_bytes());
        out[8..16].copy_from_slice(&self.counter.to_be_bytes());
        out
    }

    /// Finds the first tag inside `payload`.
    pub fn find(payload: &[u8]) -> Option<PayloadTag> {
        let pos = payload.windows(4).position(|w| w == TAG_MAGIC)?;
        let rest = payload.get(pos..pos + TAG_LEN)?;
        Some(PayloadTag {
            stream: u32::from_be_bytes(rest[4..8].try_into().ok()?),
            counter: u64::from_be_bytes(rest[8..16].try_into().ok()?),
        })
    }
}

/// The parsed VP8 payload descriptor of one RTP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp8Descriptor {
    /// Length of the descriptor in bytes (the VP8 data starts here).
    pub len: usize,
    /// S bit: start of a VP8 partition.
    pub start_of_partition: bool,
    /// N bit: non-reference frame.
    pub non_reference: bool,
    /// Partition index (PID).
    pub partition_id: u8,
    /// PictureID (7 or 15 bits) when the I bit is set.
    pub picture_id: Option<u16>,
    /// Whether the PictureID uses the 15-bit form (M bit).
    pub picture_id_15bit: bool,
    /// TL0PICIDX when the L bit is set.
    pub tl0_pic_idx: Option<u8>,
    /// Temporal layer index when the T bit is set.
    pub tid: Option<u8>,
    /// Y (layer sync) bit when the T bit is set.
    pub layer_sync: bool,
    /// KEYIDX when the K bit is set.
    pub key_idx: Option<u8>,
}

impl Vp8Descriptor {
    /// Parses the descriptor at the start of a VP8 RTP payload.
    pub fn parse(payload: &[u8]) -> Option<Vp8Descriptor> {
        let b0 = *payload.first()?;
        let mut d = Vp8Descriptor {
            start_of_partition: b0 & 0x10 != 0,
            non_reference: b0 & 0x20 != 0,
            partition_id: b0 & 0x07,
            ..Default::default()
        };
        let mut i = 1;
        if b0 & 0x80 != 0 {
            let x = *payload.get(i)?;
            i += 1;
            if x & 0x80 != 0 {
                let p0 = *payload.get(i)?;
                i += 1;
                if p0 & 0x80 != 0 {
                    let p1 = *payload.get(i)?;
                    i += 1;
                    d.picture_id = Some((u16::from(p0 & 0x7f) << 8) | u16::from(p1));
                    d.picture_id_15bit = true;
                } else {
                    d.picture_id = Some(u16::from(p0 & 0x7f));
                }
            }
            if x & 0x40 != 0 {
                d.tl0_pic_idx = Some(*payload.get(i)?);
                i += 1;
            }
            if x & 0x30 != 0 {
                let t = *payload.get(i)?;
                i += 1;
                if x & 0x20 != 0 {
                    d.tid = Some(t >> 6);
                    d.layer_sync = t & 0x20 != 0;
                }
                if x & 0x10 != 0 {
                    d.key_idx = Some(t & 0x1f);
                }
            }
        }
        if i > payload.len() {
            return None;
        }
        d.len = i;
        Some(d)
    }

    /// Whether this packet starts a frame (S bit set on partition 0).
    pub fn starts_frame(&self) -> bool {
        self.start_of_partition && self.partition_id == 0
    }
}

/// Whether a VP8 RTP payload is the first packet of a keyframe (S=1, PID=0, P bit 0).
pub fn is_keyframe(payload: &[u8]) -> bool {
    let Some(d) = Vp8Descriptor::parse(payload) else {
        return false;
    };
    if !d.starts_frame() {
        return false;
    }
    payload.get(d.len).is_some_and(|h| h & 0x01 == 0)
}

/// Width and height from the first packet of a keyframe, if it is one.
pub fn keyframe_dimensions(payload: &[u8]) -> Option<(u16, u16)> {
    if !is_keyframe(payload) {
        return None;
    }
    let d = Vp8Descriptor::parse(payload)?;
    let h = payload.get(d.len..d.len + 10)?;
    if h[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([h[6], h[7]]) & 0x3fff;
    let ht = u16::from_le_bytes([h[8], h[9]]) & 0x3fff;
    Some((w, ht))
}

/// The payload bytes after the VP8 descriptor (what an SFU must forward untouched).
pub fn body(payload: &[u8]) -> &[u8] {
    match Vp8Descriptor::parse(payload) {
        Some(d) => &payload[d.len..],
        None => payload,
    }
}

/// Per-frame fields of the descriptor written by [`build_packet`].
#[derive(Debug, Clone, Copy)]
pub struct FrameFields {
    /// 15-bit PictureID of the frame.
    pub picture_id: u16,
    /// TL0PICIDX of the frame.
    pub tl0_pic_idx: u8,
    /// Whether the frame is a keyframe.
    pub keyframe: bool,
    /// Width written into keyframe headers.
    pub width: u16,
    /// Height written into keyframe headers.
    pub height: u16,
}

/// Builds one VP8 RTP payload: descriptor, (on the first packet) payload header, tag, filler.
///
/// `first` marks the first packet of the frame; `size` is the target payload size in bytes.
pub fn build_packet(f: &FrameFields, first: bool, tag: PayloadTag, size: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(size.max(40));
    // X=1, N=0, S=first, PID=0.
    p.push(0x80 | if first { 0x10 } else { 0x00 });
    // I=1, L=1, T=1, K=0.
    p.push(0xe0);
    let pid = f.picture_id & 0x7fff;
    p.push(0x80 | (pid >> 8) as u8);
    p.push((pid & 0xff) as u8);
    p.push(f.tl0_pic_idx);
    // TID=0, Y=1, KEYIDX=0.
    p.push(0x20);
    if first {
        // Size0=0, H (show_frame)=1, VER=0, P=0 on keyframes, 1 otherwise.
        let b0 = 0x10 | if f.keyframe { 0x00 } else { 0x01 };
        p.extend_from_slice(&[b0, 0x10, 0x00]);
        if f.keyframe {
            p.extend_from_slice(&[0x9d, 0x01, 0x2a]);
            p.extend_from_slice(&(f.width & 0x3fff).to_le_bytes());
            p.extend_from_slice(&(f.height & 0x3fff).to_le_bytes());
        }
    }
    p.extend_from_slice(&tag.encode());
    let mut i = 0u64;
    while p.len() < size {
        p.push((tag.counter.wrapping_add(i) & 0xff) as u8);
        i += 1;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_keyframe_and_delta() {
        let tag = PayloadTag {
            stream: 7,
            counter: 42,
        };
        let f = FrameFields {
            picture_id: 0x1234,
            tl0_pic_idx: 9,
            keyframe: true,
            width: 1280,
            height: 720,
        };
        let p = build_packet(&f, true, tag, 300);
        assert_eq!(p.len(), 300);
        let d = Vp8Descriptor::parse(&p).unwrap();
        assert_eq!(d.len, 6);
        assert_eq!(d.picture_id, Some(0x1234));
        assert!(d.picture_id_15bit);
        assert_eq!(d.tl0_pic_idx, Some(9));
        assert_eq!(d.tid, Some(0));
        assert!(is_keyframe(&p));
        assert_eq!(keyframe_dimensions(&p), Some((1280, 720)));
        assert_eq!(PayloadTag::find(&p), Some(tag));

        let delta = build_packet(
            &FrameFields {
                keyframe: false,
                ..f
            },
            true,
            tag,
            100,
        );
        assert!(!is_keyframe(&delta));
        let cont = build_packet(&f, false, tag, 100);
        assert!(!is_keyframe(&cont));
        assert!(!Vp8Descriptor::parse(&cont).unwrap().start_of_partition);
    }
}
