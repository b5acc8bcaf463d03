//! Tests of codec naming and of keyframe detection dispatch.

use proptest::prelude::*;

use super::{Codec, is_keyframe_start};

const ALL: [Codec; 6] = [
    Codec::Opus,
    Codec::Vp8,
    Codec::Vp9,
    Codec::H264,
    Codec::Av1,
    Codec::Other,
];

#[test]
fn names_are_matched_case_insensitively() {
    let cases = [
        ("opus", Codec::Opus),
        ("OPUS", Codec::Opus),
        ("vp8", Codec::Vp8),
        ("VP8", Codec::Vp8),
        ("Vp9", Codec::Vp9),
        ("h264", Codec::H264),
        ("H264", Codec::H264),
        ("av1", Codec::Av1),
        ("AV1", Codec::Av1),
        ("red", Codec::Other),
        ("", Codec::Other),
        ("vp8 ", Codec::Other),
        ("H265", Codec::Other),
        ("video/VP8", Codec::Other),
    ];
    for (name, codec) in cases {
        assert_eq!(Codec::from_name(name), codec, "{name:?}");
    }
}

#[test]
fn display_names() {
    let names: Vec<_> = ALL.iter().map(Codec::name).collect();
    assert_eq!(names, ["opus", "VP8", "VP9", "H264", "AV1", "unknown"]);
    for codec in ALL.into_iter().filter(|&c| c != Codec::Other) {
        assert_eq!(Codec::from_name(codec.name()), codec);
    }
}

#[test]
fn video_codecs() {
    let video: Vec<_> = ALL.into_iter().filter(Codec::is_video).collect();
    assert_eq!(video, [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1]);
}

#[test]
fn keyframe_detection_by_codec() {
    // A VP8 keyframe start: S=1 PID=0, then P=0.
    let vp8_key = [0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a];
    // An H.264 IDR NAL unit.
    let h264_idr = [0x65, 0x88, 0x84];
    assert!(is_keyframe_start(Codec::Vp8, &vp8_key));
    assert!(is_keyframe_start(Codec::H264, &h264_idr));
    assert!(!is_keyframe_start(Codec::Vp8, &[0x10, 0x11]));
    assert!(!is_keyframe_start(Codec::H264, &[0x41, 0x9a]));
    for codec in [Codec::Opus, Codec::Vp9, Codec::Av1, Codec::Other] {
        assert!(!is_keyframe_start(codec, &vp8_key), "{codec:?}");
        assert!(!is_keyframe_start(codec, &h264_idr), "{codec:?}");
    }
}

proptest! {
    /// Random, truncated or garbage payloads never panic, whatever the codec.
    #[test]
    fn random_payloads_never_panic(
        codec in prop::sample::select(ALL.to_vec()),
        payload in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = is_keyframe_start(codec, &payload);
    }

    /// Random H.264 aggregation packets (the only parser that loops) never panic.
    #[test]
    fn random_stap_a_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut payload = vec![0x78];
        payload.extend_from_slice(&body);
        let _ = is_keyframe_start(Codec::H264, &payload);
    }
}
