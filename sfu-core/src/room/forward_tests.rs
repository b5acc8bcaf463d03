//! Forwards (the recording tap) in virtual time: start at a keyframe, one continuous stream
//! across layer changes, dynacast, ending with the track.

use std::time::{Duration, Instant};

use super::tests::{
    OPUS_PT, VP8_PT, drain, keyframe_requests, packet, participant, publisher_layers,
    simulcast_frame, tick_for, track, vp8,
};
use super::*;
use crate::clock_sync::SenderReport;
use crate::codec::Codec;
use crate::ids::ForwardId;

const FW: ForwardId = ForwardId(7);

fn forwarded(outputs: &[Output], id: ForwardId) -> Vec<MediaPacket> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::SendForward {
                forward, packet, ..
            } if *forward == id => Some(packet.clone()),
            _ => None,
        })
        .collect()
}

/// A room with publisher 1 and its simulcast VP8 track 10 (q, h, f), no subscribers.
fn simulcast_room(t0: Instant) -> Room {
    let mut room = Room::new(RoomConfig::default());
    room.handle_join(participant(1), t0).unwrap();
    room.handle_publish(track(10, 1, Codec::Vp8, &["q", "h", "f"]), t0)
        .unwrap();
    drain(&mut room);
    room
}

#[test]
fn a_forward_starts_at_a_requested_keyframe_and_stays_continuous_across_a_layer_change() {
    let t0 = Instant::now();
    let mut room = simulcast_room(t0);
    room.handle_forward_start(FW, TrackId(10), None, false, vec![(VP8_PT, VP8_PT)], t0)
        .unwrap();
    let out = drain(&mut room);
    assert_eq!(
        keyframe_requests(&out),
        vec![(Some("f".into()), KeyframeKind::Pli)],
        "a keyframe of the highest layer is asked for at start"
    );
    let mut seqs = [0u64; 3];
    let mut t = t0;
    let mut sent = Vec::new();
    // Delta frames before the keyframe are not forwarded: a recording starts decodable.
    for _ in 0..3 {
        t += Duration::from_millis(33);
        let out = simulcast_frame(&mut room, &mut seqs, &["q", "h", "f"], false, t);
        sent.extend(forwarded(&out, FW));
    }
    assert!(sent.is_empty());
    for i in 0..5 {
        t += Duration::from_millis(33);
        let out = simulcast_frame(&mut room, &mut seqs, &["q", "h", "f"], i == 0, t);
        sent.extend(forwarded(&out, FW));
    }
    assert_eq!(sent.len(), 5);
    assert!(sent.iter().all(|p| p.payload[4] == 2), "only layer f");

    // Switch to q: f continues until q's requested keyframe.
    room.handle_forward_update(FW, Some("q".into()), false, t)
        .unwrap();
    let out = drain(&mut room);
    assert_eq!(
        keyframe_requests(&out),
        vec![(Some("q".into()), KeyframeKind::Pli)]
    );
    for _ in 0..2 {
        t += Duration::from_millis(33);
        let out = simulcast_frame(&mut room, &mut seqs, &["q", "h", "f"], false, t);
        sent.extend(forwarded(&out, FW));
    }
    for i in 0..3 {
        t += Duration::from_millis(33);
        let out = simulcast_frame(&mut room, &mut seqs, &["q", "h", "f"], i == 0, t);
        sent.extend(forwarded(&out, FW));
    }
    let layers: Vec<u8> = sent.iter().map(|p| p.payload[4]).collect();
    assert_eq!(layers, [2, 2, 2, 2, 2, 2, 2, 0, 0, 0]);
    for w in sent.windows(2) {
        assert_eq!(w[1].seq.0, w[0].seq.0 + 1, "one continuous sequence");
        let step = w[1].timestamp.wrapping_sub(w[0].timestamp);
        assert!(step > 0 && step < 90_000, "timestamps move forward: {step}");
    }
    let stats = room.forward_stats(FW).unwrap();
    assert_eq!(stats.current_layer.as_deref(), Some("q"));
    assert_eq!(stats.requested_layer.as_deref(), Some("q"));
    assert_eq!(stats.packets_sent, 10);
    assert_eq!(stats.switches, 1);
}

#[test]
fn a_forward_falls_back_when_its_layer_stops_and_several_forwards_share_a_track() {
    let t0 = Instant::now();
    let mut room = simulcast_room(t0);
    let other = ForwardId(8);
    for id in [FW, other] {
        room.handle_forward_start(id, TrackId(10), None, false, vec![(VP8_PT, VP8_PT)], t0)
            .unwrap();
    }
    let mut seqs = [0u64; 3];
    let mut t = t0;
    let out = simulcast_frame(&mut room, &mut seqs, &["q", "h", "f"], true, t);
    assert_eq!(forwarded(&out, FW).len(), 1);
    assert_eq!(forwarded(&out, other).len(), 1);
    // f stops: after the layer timeout both fall back to h at its keyframe.
    let mut requested = Vec::new();
    for _ in 0..30 {
        t += Duration::from_millis(33);
        let mut out = simulcast_frame(&mut room, &mut seqs, &["q", "h"], false, t);
        if room.poll_timeout().is_some_and(|d| d <= t) {
            room.handle_timeout(t);
            out.extend(drain(&mut room));
        }
        requested.extend(keyframe_requests(&out));
    }
    assert!(requested.contains(&(Some("h".into()), KeyframeKind::Pli)));
    t += Duration::from_millis(33);
    let out = simulcast_frame(&mut room, &mut seqs, &["q", "h"], true, t);
    for id in [FW, other] {
        let sent = forwarded(&out, id);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].payload[4], 1, "layer h");
        assert_eq!(
            room.forward_stats(id).unwrap().current_layer.as_deref(),
            Some("h")
        );
    }
}

#[test]
fn forwards_keep_their_layer_published_under_dynacast() {
    let t0 = Instant::now();
    let mut room = simulcast_room(t0);
    room.handle_join(participant(2), t0).unwrap();
    drain(&mut room);
    let thumbnail = SubscriptionCaps {
        max_width: Some(320),
        max_height: Some(180),
        ..Default::default()
    };
    room.handle_set_subscription(ParticipantId(2), TrackId(10), thumbnail, t0)
        .unwrap();
    room.handle_forward_start(
        FW,
        TrackId(10),
        Some("h".into()),
        false,
        vec![(VP8_PT, VP8_PT)],
        t0,
    )
    .unwrap();
    let out = tick_for(&mut room, t0, Duration::from_secs(4));
    assert_eq!(
        publisher_layers(&out),
        [vec!["q".to_string(), "h".into()]],
        "the forward's h stays on, f is not needed"
    );
    // The forward ends: only the subscriber's q is needed after the delay.
    let t1 = t0 + Duration::from_secs(5);
    room.handle_forward_stop(FW, t1).unwrap();
    let out = tick_for(&mut room, t1, Duration::from_secs(4));
    assert_eq!(publisher_layers(&out), [vec!["q".to_string()]]);
}

#[test]
fn a_forward_ends_with_its_track_and_audio_starts_at_once() {
    let t0 = Instant::now();
    let mut room = Room::new(RoomConfig::default());
    room.handle_join(participant(1), t0).unwrap();
    room.handle_publish(track(11, 1, Codec::Opus, &[]), t0)
        .unwrap();
    drain(&mut room);
    room.handle_forward_start(FW, TrackId(11), None, false, vec![(OPUS_PT, 109)], t0)
        .unwrap();
    assert!(keyframe_requests(&drain(&mut room)).is_empty());
    room.handle_rtp(
        TrackId(11),
        None,
        packet(5, 960, OPUS_PT, vp8(false, 0), t0),
        t0,
    );
    let sent = forwarded(&drain(&mut room), FW);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload_type, 109, "the SDP's payload type");
    assert_eq!(room.forward_count(), 1);

    room.handle_unpublish(TrackId(11), t0).unwrap();
    let out = drain(&mut room);
    assert!(out.iter().any(|o| matches!(o,
        Output::ForwardEnded { forward, track } if *forward == FW && *track == TrackId(11))));
    assert_eq!(room.forward_count(), 0);
    assert_eq!(room.forward_stats(FW), None);
    assert_eq!(
        room.handle_forward_stop(FW, t0),
        Err(CoreError::UnknownForward(FW))
    );
}

#[test]
fn forward_requests_are_validated() {
    let t0 = Instant::now();
    let mut room = simulcast_room(t0);
    assert_eq!(
        room.handle_forward_start(FW, TrackId(99), None, false, vec![], t0),
        Err(CoreError::UnknownTrack(TrackId(99)))
    );
    assert_eq!(
        room.handle_forward_start(FW, TrackId(10), Some("x".into()), false, vec![], t0),
        Err(CoreError::UnknownLayer("x".into()))
    );
    room.handle_forward_start(FW, TrackId(10), None, false, vec![], t0)
        .unwrap();
    assert!(matches!(
        room.handle_forward_start(FW, TrackId(10), None, false, vec![], t0),
        Err(CoreError::Invalid(_))
    ));
    assert_eq!(
        room.handle_forward_update(FW, Some("x".into()), false, t0),
        Err(CoreError::UnknownLayer("x".into()))
    );
    assert_eq!(
        room.handle_forward_update(ForwardId(1), None, false, t0),
        Err(CoreError::UnknownForward(ForwardId(1)))
    );
}

#[test]
fn a_forward_sender_report_maps_the_publisher_clock_onto_the_forward_timeline() {
    let t0 = Instant::now();
    let mut room = simulcast_room(t0);
    room.handle_forward_start(
        FW,
        TrackId(10),
        Some("f".into()),
        false,
        vec![(VP8_PT, VP8_PT)],
        t0,
    )
    .unwrap();
    let mut seqs = [0u64; 3];
    let out = simulcast_frame(&mut room, &mut seqs, &["q", "h", "f"], true, t0);
    let sent = forwarded(&out, FW);
    assert_eq!(room.forward_sender_report(FW), None, "no report yet");
    // The frame just sent has input timestamp 2_000_003_000 on layer f.
    let report = SenderReport {
        ntp_time: Duration::from_secs(1_700_000_000),
        rtp_time: 2_000_003_000 - 900,
    };
    room.handle_sender_report(TrackId(10), Some("f"), report);
    assert_eq!(
        room.forward_sender_report(FW),
        Some(SenderReport {
            ntp_time: report.ntp_time,
            rtp_time: sent[0].timestamp.wrapping_sub(900),
        })
    );
}

#[test]
fn a_paused_forward_sends_nothing_and_resumes_at_a_requested_keyframe() {
    let t0 = Instant::now();
    let mut room = simulcast_room(t0);
    room.handle_forward_start(
        FW,
        TrackId(10),
        Some("h".into()),
        true,
        vec![(VP8_PT, VP8_PT)],
        t0,
    )
    .unwrap();
    assert!(
        keyframe_requests(&drain(&mut room)).is_empty(),
        "no keyframe while paused"
    );
    let mut seqs = [0u64; 3];
    let mut t = t0;
    let out = simulcast_frame(&mut room, &mut seqs, &["q", "h", "f"], true, t);
    assert!(forwarded(&out, FW).is_empty());
    assert!(room.forward_stats(FW).unwrap().paused);

    // The receiver is ready: resuming asks for a keyframe of h and starts there.
    t += Duration::from_secs(2);
    room.handle_forward_update(FW, Some("h".into()), false, t)
        .unwrap();
    assert_eq!(
        keyframe_requests(&drain(&mut room)),
        vec![(Some("h".into()), KeyframeKind::Pli)]
    );
    let out = simulcast_frame(&mut room, &mut seqs, &["q", "h", "f"], false, t);
    assert!(forwarded(&out, FW).is_empty(), "not before the keyframe");
    t += Duration::from_millis(33);
    let out = simulcast_frame(&mut room, &mut seqs, &["q", "h", "f"], true, t);
    let sent = forwarded(&out, FW);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload[4], 1, "layer h");
}
