//! H.264 keyframe detection test vectors built by hand from RFC 6184.

use super::is_keyframe_start;

/// NAL unit headers with NRI = 3 (F | NRI | Type).
const IDR: u8 = 0x65;
const SPS: u8 = 0x67;
const PPS: u8 = 0x68;
const SLICE: u8 = 0x41;
const SEI: u8 = 0x06;
/// STAP-A and FU-A indicators with NRI = 3.
const STAP_A: u8 = 0x78;
const FU_A: u8 = 0x7c;

/// A STAP-A payload aggregating `units`.
fn stap_a(units: &[&[u8]]) -> Vec<u8> {
    let mut payload = vec![STAP_A];
    for unit in units {
        let len = u16::try_from(unit.len()).expect("test unit fits a STAP-A");
        payload.extend_from_slice(&len.to_be_bytes());
        payload.extend_from_slice(unit);
    }
    payload
}

#[test]
fn single_nal_units() {
    assert!(is_keyframe_start(&[IDR, 0x88, 0x84, 0x00]));
    assert!(is_keyframe_start(&[SPS, 0x42, 0xc0, 0x1f]));
    assert!(!is_keyframe_start(&[PPS, 0xce, 0x3c, 0x80]));
    assert!(!is_keyframe_start(&[SLICE, 0x9a, 0x00]));
    assert!(!is_keyframe_start(&[SEI, 0x05]));
    // The NRI bits do not matter, only the type.
    assert!(is_keyframe_start(&[0x05, 0x88]));
    assert!(is_keyframe_start(&[0x25, 0x88]));
    // A header byte alone is enough to know the type.
    assert!(is_keyframe_start(&[IDR]));
}

#[test]
fn stap_a_with_parameter_sets_and_idr() {
    assert!(is_keyframe_start(&stap_a(&[
        &[SPS, 0x42, 0xc0, 0x1f],
        &[PPS, 0xce, 0x3c, 0x80],
        &[IDR, 0x88, 0x84],
    ])));
    // The SPS need not come first.
    assert!(is_keyframe_start(&stap_a(&[&[SEI, 0x05], &[SPS, 0x42]])));
    assert!(is_keyframe_start(&stap_a(&[&[IDR]])));
}

#[test]
fn stap_a_without_keyframe() {
    assert!(!is_keyframe_start(&stap_a(&[&[PPS, 0xce], &[SLICE, 0x9a]])));
    assert!(!is_keyframe_start(&stap_a(&[&[SEI, 0x05]])));
}

#[test]
fn malformed_stap_a_is_no_keyframe() {
    // No unit at all.
    assert!(!is_keyframe_start(&[STAP_A]));
    // Size field cut in half after a complete SPS.
    let mut cut = stap_a(&[&[SPS, 0x42]]);
    cut.push(0x00);
    assert!(!is_keyframe_start(&cut));
    // Size larger than what is left.
    assert!(!is_keyframe_start(&[STAP_A, 0x00, 0x05, SPS, 0x42]));
    // Size field present but no unit.
    assert!(!is_keyframe_start(&[STAP_A, 0x00, 0x01]));
    // Zero-sized unit.
    assert!(!is_keyframe_start(&[
        STAP_A, 0x00, 0x00, 0x00, 0x02, SPS, 0x42
    ]));
    // Every prefix of a valid one, except the complete first unit, is rejected or complete.
    let valid = stap_a(&[&[SPS, 0x42, 0xc0], &[IDR, 0x88]]);
    for len in 0..valid.len() {
        let expected = len == 6; // STAP-A header + size + the whole SPS.
        assert_eq!(
            is_keyframe_start(&valid[..len]),
            expected,
            "prefix of {len} bytes"
        );
    }
}

#[test]
fn fu_a_fragments() {
    // FU header: S E R Type.
    assert!(is_keyframe_start(&[FU_A, 0x85, 0x88, 0x84]));
    assert!(is_keyframe_start(&[FU_A, 0x87, 0x42]));
    // Middle and end fragments of an IDR.
    assert!(!is_keyframe_start(&[FU_A, 0x05, 0x00]));
    assert!(!is_keyframe_start(&[FU_A, 0x45, 0x00]));
    // First fragment of a non-IDR slice.
    assert!(!is_keyframe_start(&[FU_A, 0x81, 0x9a]));
    // FU indicator without its header.
    assert!(!is_keyframe_start(&[FU_A]));
}

#[test]
fn other_packet_types_are_no_keyframe() {
    assert!(!is_keyframe_start(&[]));
    // STAP-B, MTAP16, MTAP24, FU-B (interleaved mode, not used by WebRTC), reserved types.
    for nal_type in [25u8, 26, 27, 29, 30, 31, 0] {
        assert!(
            !is_keyframe_start(&[0x60 | nal_type, 0x85, 0x00, 0x02, SPS, 0x42]),
            "type {nal_type}"
        );
    }
}
