//! VP8 descriptor test vectors built by hand from RFC 7741 §4.2, and property tests.

use proptest::prelude::*;

use super::{Vp8Descriptor, is_keyframe_start};

/// First byte of a VP8 keyframe's payload header: P = 0, version 0, show_frame = 1.
const KEY_HEADER: u8 = 0x10;
/// First byte of a VP8 interframe's payload header: P = 1.
const INTER_HEADER: u8 = 0x11;
/// The rest of a keyframe's payload header: the frame size bits and the start code 9d 01 2a.
const KEY_HEADER_REST: [u8; 5] = [0x02, 0x00, 0x9d, 0x01, 0x2a];

/// A descriptor with every optional field absent, to build expectations from.
fn bare(header_len: usize) -> Vp8Descriptor {
    Vp8Descriptor {
        non_reference: false,
        start_of_partition: false,
        partition_id: 0,
        picture_id: None,
        picture_id_15bit: false,
        tl0_pic_idx: None,
        temporal_id: None,
        layer_sync: false,
        key_idx: None,
        header_len,
    }
}

/// `descriptor` followed by a keyframe payload header.
fn with_key_header(descriptor: &[u8]) -> Vec<u8> {
    let mut payload = descriptor.to_vec();
    payload.push(KEY_HEADER);
    payload.extend_from_slice(&KEY_HEADER_REST);
    payload
}

/// Every field present: X=1 S=1 PID=0 | I L T K | M=1 PictureID 0x0123 | TL0PICIDX 0x42 |
/// TID=2 Y=1 KEYIDX=5.
const FULL: [u8; 6] = [0x90, 0xf0, 0x81, 0x23, 0x42, 0xa5];

#[test]
fn no_extension() {
    let desc = Vp8Descriptor::parse(&[0x10, KEY_HEADER]);
    assert_eq!(
        desc,
        Some(Vp8Descriptor {
            start_of_partition: true,
            ..bare(1)
        })
    );
}

#[test]
fn all_extensions_with_15_bit_picture_id() {
    assert_eq!(
        Vp8Descriptor::parse(&with_key_header(&FULL)),
        Some(Vp8Descriptor {
            non_reference: false,
            start_of_partition: true,
            partition_id: 0,
            picture_id: Some(0x0123),
            picture_id_15bit: true,
            tl0_pic_idx: Some(0x42),
            temporal_id: Some(2),
            layer_sync: true,
            key_idx: Some(5),
            header_len: 6,
        })
    );
}

#[test]
fn seven_bit_picture_id() {
    // X=1 S=0 PID=0 | I | M=0 PictureID 0x7f.
    assert_eq!(
        Vp8Descriptor::parse(&[0x80, 0x80, 0x7f, INTER_HEADER]),
        Some(Vp8Descriptor {
            picture_id: Some(0x7f),
            ..bare(3)
        })
    );
}

#[test]
fn largest_15_bit_picture_id() {
    assert_eq!(
        Vp8Descriptor::parse(&[0x80, 0x80, 0xff, 0xff]).and_then(|d| d.picture_id),
        Some(0x7fff)
    );
}

#[test]
fn extension_byte_without_fields() {
    assert_eq!(
        Vp8Descriptor::parse(&[0x90, 0x00, KEY_HEADER]),
        Some(Vp8Descriptor {
            start_of_partition: true,
            ..bare(2)
        })
    );
}

#[test]
fn tl0picidx_only() {
    assert_eq!(
        Vp8Descriptor::parse(&[0x80, 0x40, 0xff, INTER_HEADER]),
        Some(Vp8Descriptor {
            tl0_pic_idx: Some(0xff),
            ..bare(3)
        })
    );
}

#[test]
fn temporal_id_without_keyidx() {
    // T=1 K=0: TID=1 Y=0, the KEYIDX bits are meaningless.
    assert_eq!(
        Vp8Descriptor::parse(&[0x80, 0x20, 0x5f, INTER_HEADER]),
        Some(Vp8Descriptor {
            temporal_id: Some(1),
            ..bare(3)
        })
    );
}

#[test]
fn keyidx_without_temporal_id() {
    // K=1 T=0: the TID and Y bits are set but meaningless.
    assert_eq!(
        Vp8Descriptor::parse(&[0x80, 0x10, 0xff, INTER_HEADER]),
        Some(Vp8Descriptor {
            key_idx: Some(0x1f),
            ..bare(3)
        })
    );
}

#[test]
fn typical_simulcast_descriptor() {
    // As Chrome sends with temporal layers: I (15 bits) L T, no K. TID=3 Y=1 on a non-reference
    // frame continuing partition 1.
    assert_eq!(
        Vp8Descriptor::parse(&[0xa1, 0xe0, 0x9a, 0xbc, 0x07, 0xe0, INTER_HEADER]),
        Some(Vp8Descriptor {
            non_reference: true,
            start_of_partition: false,
            partition_id: 1,
            picture_id: Some(0x1abc),
            picture_id_15bit: true,
            tl0_pic_idx: Some(7),
            temporal_id: Some(3),
            layer_sync: true,
            key_idx: None,
            header_len: 6,
        })
    );
}

#[test]
fn reserved_bits_are_ignored() {
    // R bits of the first byte (0x40, 0x08) and RSV bits of the extension byte (0x0f) set.
    let plain = Vp8Descriptor::parse(&[0x90, 0x80, 0x05]);
    let reserved = Vp8Descriptor::parse(&[0xd8, 0x8f, 0x05]);
    assert!(plain.is_some());
    assert_eq!(plain, reserved);
}

#[test]
fn truncated_descriptors_are_rejected() {
    assert_eq!(Vp8Descriptor::parse(&[]), None);
    for len in 0..FULL.len() {
        assert_eq!(
            Vp8Descriptor::parse(&FULL[..len]),
            None,
            "prefix of {len} bytes"
        );
    }
    // 15-bit PictureID cut after its first byte.
    assert_eq!(Vp8Descriptor::parse(&[0x80, 0x80, 0x81]), None);
    // X=1 with no extension byte.
    assert_eq!(Vp8Descriptor::parse(&[0x90]), None);
    // The descriptor alone parses: only the descriptor is checked.
    assert_eq!(Vp8Descriptor::parse(&FULL).map(|d| d.header_len), Some(6));
}

#[test]
fn keyframe_start_is_detected() {
    assert!(is_keyframe_start(&with_key_header(&[0x10])));
    assert!(is_keyframe_start(&with_key_header(&FULL)));
    assert!(is_keyframe_start(&with_key_header(&[0x90, 0x80, 0x05])));
    // The P bit alone decides: the rest of the payload header is not needed.
    assert!(is_keyframe_start(&[0x10, KEY_HEADER]));
}

#[test]
fn non_keyframe_starts_are_rejected() {
    // Interframe: P = 1.
    assert!(!is_keyframe_start(&[0x10, INTER_HEADER]));
    assert!(!is_keyframe_start(&[0x90, 0x80, 0x05, INTER_HEADER]));
    // Continuation of a keyframe's first partition: S = 0.
    assert!(!is_keyframe_start(&with_key_header(&[0x00])));
    // Start of another partition: PID = 3.
    assert!(!is_keyframe_start(&with_key_header(&[0x13])));
}

#[test]
fn truncated_payloads_are_not_keyframes() {
    assert!(!is_keyframe_start(&[]));
    // Descriptor without any VP8 data.
    assert!(!is_keyframe_start(&[0x10]));
    assert!(!is_keyframe_start(&FULL));
    let full = with_key_header(&FULL);
    for len in 0..=FULL.len() {
        assert!(!is_keyframe_start(&full[..len]), "prefix of {len} bytes");
    }
}

/// Encodes a descriptor as RFC 7741 lays it out, independently of the parser.
fn encode(desc: &Vp8Descriptor) -> Vec<u8> {
    let has_t = desc.temporal_id.is_some();
    let has_k = desc.key_idx.is_some();
    let ext = [
        (desc.picture_id.is_some(), 0x80),
        (desc.tl0_pic_idx.is_some(), 0x40),
        (has_t, 0x20),
        (has_k, 0x10),
    ]
    .iter()
    .filter(|(present, _)| *present)
    .fold(0u8, |acc, (_, bit)| acc | bit);
    let mut out = vec![
        u8::from(ext != 0) << 7
            | u8::from(desc.non_reference) << 5
            | u8::from(desc.start_of_partition) << 4
            | desc.partition_id,
    ];
    if ext == 0 {
        return out;
    }
    out.push(ext);
    if let Some(id) = desc.picture_id {
        if desc.picture_id_15bit {
            out.extend_from_slice(&(id | 0x8000).to_be_bytes());
        } else {
            out.push(id as u8);
        }
    }
    out.extend(desc.tl0_pic_idx);
    if has_t || has_k {
        out.push(
            desc.temporal_id.unwrap_or(0) << 6
                | u8::from(desc.layer_sync) << 5
                | desc.key_idx.unwrap_or(0),
        );
    }
    out
}

/// Any valid descriptor (with `header_len` left at 0, to be filled from the encoding).
fn descriptor() -> impl Strategy<Value = Vp8Descriptor> {
    let picture_id = prop_oneof![
        Just((None, false)),
        (0u16..0x80).prop_map(|id| (Some(id), false)),
        (0u16..0x8000).prop_map(|id| (Some(id), true)),
    ];
    let temporal = prop_oneof![
        Just((None, false)),
        (0u8..4, any::<bool>()).prop_map(|(t, y)| (Some(t), y))
    ];
    (
        any::<bool>(),
        any::<bool>(),
        0u8..8,
        picture_id,
        proptest::option::of(any::<u8>()),
        temporal,
        proptest::option::of(0u8..32),
    )
        .prop_map(
            |(n, s, pid, (picture_id, long), tl0, (tid, y), key_idx)| Vp8Descriptor {
                non_reference: n,
                start_of_partition: s,
                partition_id: pid,
                picture_id,
                picture_id_15bit: long,
                tl0_pic_idx: tl0,
                temporal_id: tid,
                layer_sync: y,
                key_idx,
                header_len: 0,
            },
        )
}

proptest! {
    /// Every valid descriptor parses back to itself, whatever payload follows it.
    #[test]
    fn parse_inverts_encode(mut desc in descriptor(), rest in prop::collection::vec(any::<u8>(), 0..16)) {
        let mut payload = encode(&desc);
        desc.header_len = payload.len();
        payload.extend_from_slice(&rest);
        prop_assert_eq!(Vp8Descriptor::parse(&payload), Some(desc));
        prop_assert_eq!(
            is_keyframe_start(&payload),
            desc.start_of_partition && desc.partition_id == 0 && rest.first().is_some_and(|b| b & 1 == 0)
        );
    }

    /// Any bytes give either nothing or a descriptor whose fields are in range and whose length
    /// fits in the input.
    #[test]
    fn parse_is_total_and_in_range(payload in prop::collection::vec(any::<u8>(), 0..12)) {
        if let Some(desc) = Vp8Descriptor::parse(&payload) {
            prop_assert!((1..=6).contains(&desc.header_len));
            prop_assert!(desc.header_len <= payload.len());
            prop_assert!(desc.partition_id < 8);
            let id_limit = if desc.picture_id_15bit { 0x8000 } else { 0x80 };
            prop_assert!(desc.picture_id.is_none_or(|id| id < id_limit));
            prop_assert!(desc.temporal_id.is_none_or(|t| t < 4));
            prop_assert!(desc.key_idx.is_none_or(|k| k < 32));
            prop_assert!(desc.temporal_id.is_some() || !desc.layer_sync);
        } else {
            prop_assert!(!is_keyframe_start(&payload));
        }
    }
}
