//! Room simulations in virtual time: fan-out, keyframes, negotiation, leave, data, simulcast.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::codec::Codec;
use crate::rtp::SeqNo;

pub(super) const VP8_PT: u8 = 96;
pub(super) const OPUS_PT: u8 = 111;

pub(super) fn participant(id: u64) -> ParticipantInfo {
    ParticipantInfo {
        id: ParticipantId(id),
        identity: format!("user{id}"),
        name: None,
        joined_at_ms: 0,
        permissions: Permissions::default(),
    }
}

pub(super) fn track(id: u64, owner: u64, codec: Codec, rids: &[&str]) -> TrackInfo {
    TrackInfo {
        id: TrackId(id),
        owner: ParticipantId(owner),
        kind: if codec.is_video() {
            MediaKind::Video
        } else {
            MediaKind::Audio
        },
        source: TrackSource::Unknown,
        name: None,
        mid: id.to_string(),
        codec,
        layers: rids
            .iter()
            .map(|r| LayerInfo {
                rid: r.to_string(),
                width: None,
                height: None,
            })
            .collect(),
        muted: false,
    }
}

/// A VP8 payload: descriptor with S=1, PID=0, then a payload header whose P bit says key/delta.
pub(super) fn vp8(key: bool, marker_byte: u8) -> Arc<[u8]> {
    Arc::from(vec![
        0x10,
        if key { 0x00 } else { 0x01 },
        0x00,
        0x00,
        marker_byte,
    ])
}

pub(super) fn packet(seq: u64, ts: u32, pt: u8, payload: Arc<[u8]>, at: Instant) -> MediaPacket {
    MediaPacket {
        seq: SeqNo(seq),
        timestamp: ts,
        marker: true,
        payload_type: pt,
        payload,
        audio_level: None,
        voice_activity: None,
        arrival: at,
    }
}

pub(super) fn drain(room: &mut Room) -> Vec<Output> {
    std::iter::from_fn(|| room.poll_output()).collect()
}

fn sent_to(outputs: &[Output], to: u64) -> Vec<MediaPacket> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::SendRtp { to: t, packet, .. } if *t == ParticipantId(to) => {
                Some(packet.clone())
            }
            _ => None,
        })
        .collect()
}

pub(super) fn keyframe_requests(outputs: &[Output]) -> Vec<(Option<String>, KeyframeKind)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::RequestKeyframe { rid, kind, .. } => Some((rid.clone(), *kind)),
            _ => None,
        })
        .collect()
}

/// Room with publisher 1 (track 10 VP8, track 11 Opus) and subscribers 2 and 3, negotiated.
fn room_with_publisher(t0: Instant) -> Room {
    let mut room = Room::new(RoomConfig::default());
    for p in 1..=3 {
        room.handle_join(participant(p), t0).unwrap();
    }
    room.handle_publish(track(10, 1, Codec::Vp8, &[]), t0)
        .unwrap();
    room.handle_publish(track(11, 1, Codec::Opus, &[]), t0)
        .unwrap();
    for s in 2..=3 {
        room.handle_down_track_negotiated(
            ParticipantId(s),
            TrackId(10),
            vec![(VP8_PT, 100 + s as u8)],
            t0,
        )
        .unwrap();
        room.handle_down_track_negotiated(ParticipantId(s), TrackId(11), vec![(OPUS_PT, 111)], t0)
            .unwrap();
    }
    room
}

#[test]
fn publish_adds_down_tracks_and_tells_everyone() {
    let t0 = Instant::now();
    let mut room = Room::new(RoomConfig::default());
    room.handle_join(participant(1), t0).unwrap();
    room.handle_join(participant(2), t0).unwrap();
    let out = drain(&mut room);
    assert!(
        matches!(&out[..], [Output::Event { to, event: RoomEvent::ParticipantJoined(p) }] if *to == ParticipantId(1) && p.id == ParticipantId(2))
    );

    room.handle_publish(track(10, 1, Codec::Vp8, &[]), t0)
        .unwrap();
    let out = drain(&mut room);
    let published_to: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Event {
                to,
                event: RoomEvent::TrackPublished(_),
            } => Some(to.0),
            _ => None,
        })
        .collect();
    assert_eq!(
        published_to,
        vec![1, 2],
        "publisher learns its track id too"
    );
    assert!(out.iter().any(
        |o| matches!(o, Output::AddDownTrack { to, track, publisher, kind: MediaKind::Video }
        if *to == ParticipantId(2) && *track == TrackId(10) && *publisher == ParticipantId(1))
    ));
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::AddDownTrack { to, .. } if *to == ParticipantId(1)))
    );
}

#[test]
fn late_joiner_gets_existing_tracks() {
    let t0 = Instant::now();
    let mut room = Room::new(RoomConfig::default());
    room.handle_join(participant(1), t0).unwrap();
    room.handle_publish(track(10, 1, Codec::Vp8, &[]), t0)
        .unwrap();
    drain(&mut room);
    room.handle_join(participant(2), t0).unwrap();
    let out = drain(&mut room);
    assert!(out.iter().any(|o| matches!(o, Output::AddDownTrack { to, track, .. } if *to == ParticipantId(2) && *track == TrackId(10))));
}

#[test]
fn video_starts_at_a_keyframe_requested_on_negotiation_and_stays_continuous() {
    let t0 = Instant::now();
    let mut room = Room::new(RoomConfig::default());
    room.handle_join(participant(1), t0).unwrap();
    room.handle_join(participant(2), t0).unwrap();
    room.handle_publish(track(10, 1, Codec::Vp8, &[]), t0)
        .unwrap();
    drain(&mut room);
    // Delta frames flow before the subscriber is ready: nothing is sent.
    room.handle_rtp(
        TrackId(10),
        None,
        packet(1000, 90_000, VP8_PT, vp8(false, 1), t0),
        t0,
    );
    assert!(sent_to(&drain(&mut room), 2).is_empty());

    room.handle_down_track_negotiated(ParticipantId(2), TrackId(10), vec![(VP8_PT, 100)], t0)
        .unwrap();
    let out = drain(&mut room);
    assert_eq!(
        keyframe_requests(&out),
        vec![(None, KeyframeKind::Pli)],
        "a new subscription asks for a keyframe"
    );

    let mut t = t0;
    let mut sent = Vec::new();
    // Delta frames until the keyframe arrives are dropped.
    for i in 0..5u32 {
        t += Duration::from_millis(33);
        let key = i == 3;
        let seq = 1001 + u64::from(i);
        room.handle_rtp(
            TrackId(10),
            None,
            packet(seq, 90_000 + i * 3000, VP8_PT, vp8(key, i as u8), t),
            t,
        );
        sent.extend(sent_to(&drain(&mut room), 2));
    }
    assert_eq!(sent.len(), 2, "keyframe and the frame after it");
    assert_eq!(
        &sent[0].payload[..],
        &vp8(true, 3)[..],
        "payload untouched, first packet is the keyframe"
    );
    assert_eq!(
        sent[0].payload_type, 100,
        "payload type of the subscriber's leg"
    );
    assert_eq!(sent[1].seq.0, sent[0].seq.0 + 1);
    assert_eq!(sent[1].timestamp.wrapping_sub(sent[0].timestamp), 3000);
}

#[test]
fn keyframe_requests_are_throttled_per_stream() {
    let t0 = Instant::now();
    let mut room = room_with_publisher(t0);
    // Both subscribers start on a keyframe, then ask again (a decoder hiccup).
    let t_key = t0 + Duration::from_millis(50);
    room.handle_rtp(
        TrackId(10),
        None,
        packet(1, 0, VP8_PT, vp8(true, 0), t_key),
        t_key,
    );
    drain(&mut room);
    // Negotiation already asked once at t0; a storm within the second gives nothing now...
    for s in [2, 3, 2, 3] {
        room.handle_keyframe_request(
            ParticipantId(s),
            TrackId(10),
            KeyframeKind::Pli,
            t0 + Duration::from_millis(500),
        )
        .unwrap();
    }
    assert!(keyframe_requests(&drain(&mut room)).is_empty());
    // ...and exactly one when the interval ends.
    let mut requests = Vec::new();
    let mut t = t0;
    while t < t0 + Duration::from_millis(2500) {
        t += Duration::from_millis(50);
        if room.poll_timeout().is_some_and(|d| d <= t) {
            room.handle_timeout(t);
        }
        requests.extend(keyframe_requests(&drain(&mut room)));
    }
    assert_eq!(requests, vec![(None, KeyframeKind::Pli)]);
    // Audio tracks never produce keyframe requests.
    room.handle_keyframe_request(ParticipantId(2), TrackId(11), KeyframeKind::Pli, t)
        .unwrap();
    assert!(keyframe_requests(&drain(&mut room)).is_empty());
}

#[test]
fn audio_is_forwarded_at_once_to_every_subscriber() {
    let t0 = Instant::now();
    let mut room = room_with_publisher(t0);
    drain(&mut room);
    for i in 0..10u32 {
        let t = t0 + Duration::from_millis(20 * u64::from(i));
        room.handle_rtp(
            TrackId(11),
            None,
            packet(
                u64::from(i) + 65_530,
                960 * i,
                OPUS_PT,
                Arc::from(vec![i as u8; 3]),
                t,
            ),
            t,
        );
    }
    let out = drain(&mut room);
    for s in [2, 3] {
        let got = sent_to(&out, s);
        assert_eq!(got.len(), 10);
        for w in got.windows(2) {
            assert_eq!(
                w[1].seq.0,
                w[0].seq.0 + 1,
                "continuous across the input's 16-bit wrap"
            );
            assert_eq!(w[1].timestamp.wrapping_sub(w[0].timestamp), 960);
        }
        assert!(got[0].seq.0 < 65_536, "starts with ROC 0");
    }
    assert_eq!(room.forwarded_count(), 20);
}

#[test]
fn muted_tracks_are_not_forwarded_and_unmute_waits_for_a_keyframe() {
    let t0 = Instant::now();
    let mut room = room_with_publisher(t0);
    room.handle_rtp(
        TrackId(10),
        None,
        packet(1, 0, VP8_PT, vp8(true, 0), t0),
        t0,
    );
    assert_eq!(sent_to(&drain(&mut room), 2).len(), 1);
    room.handle_mute(TrackId(10), true, t0).unwrap();
    let out = drain(&mut room);
    assert_eq!(
        out.iter()
            .filter(|o| matches!(
                o,
                Output::Event {
                    event: RoomEvent::TrackMuted { muted: true, .. },
                    ..
                }
            ))
            .count(),
        3
    );
    room.handle_rtp(
        TrackId(10),
        None,
        packet(2, 3000, VP8_PT, vp8(true, 0), t0),
        t0,
    );
    assert!(sent_to(&drain(&mut room), 2).is_empty());
    let t1 = t0 + Duration::from_secs(2);
    room.handle_mute(TrackId(10), false, t1).unwrap();
    assert!(
        !keyframe_requests(&drain(&mut room)).is_empty(),
        "unmute asks for a keyframe"
    );
    room.handle_rtp(
        TrackId(10),
        None,
        packet(3, 6000, VP8_PT, vp8(false, 0), t1),
        t1,
    );
    assert!(
        sent_to(&drain(&mut room), 2).is_empty(),
        "a delta frame after unmute would not decode"
    );
    room.handle_rtp(
        TrackId(10),
        None,
        packet(4, 9000, VP8_PT, vp8(true, 0), t1),
        t1,
    );
    assert_eq!(sent_to(&drain(&mut room), 2).len(), 1);
}

#[test]
fn leave_removes_tracks_everywhere_and_rejoin_works() {
    let t0 = Instant::now();
    let mut room = room_with_publisher(t0);
    drain(&mut room);
    room.handle_leave(ParticipantId(1), t0).unwrap();
    let out = drain(&mut room);
    for s in [2u64, 3] {
        let removed: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Output::RemoveDownTrack { to, track } if *to == ParticipantId(s) => Some(track.0),
                _ => None,
            })
            .collect();
        assert_eq!(removed, vec![10, 11]);
        assert!(out.iter().any(|o| matches!(o, Output::Event { to, event: RoomEvent::ParticipantLeft(p) } if *to == ParticipantId(s) && *p == ParticipantId(1))));
        assert_eq!(out.iter().filter(|o| matches!(o, Output::Event { to, event: RoomEvent::TrackUnpublished(_) } if *to == ParticipantId(s))).count(), 2);
    }
    assert_eq!(room.participant_count(), 2);
    assert!(room.track(TrackId(10)).is_none());
    // Packets of the gone track are dropped and counted, not panicked on.
    room.handle_rtp(
        TrackId(10),
        None,
        packet(1, 0, VP8_PT, vp8(true, 0), t0),
        t0,
    );
    assert_eq!(
        room.drop_counts()
            .find(|(r, _)| *r == DropReason::UnknownSource)
            .map(|(_, n)| n),
        Some(1)
    );
    assert_eq!(
        room.handle_leave(ParticipantId(1), t0),
        Err(CoreError::UnknownParticipant(ParticipantId(1)))
    );
    let mut again = participant(4);
    again.identity = "user1".into();
    room.handle_join(again, t0).unwrap();
    assert_eq!(room.participant_count(), 3);
}

#[test]
fn data_is_relayed_to_others_with_permissions() {
    let t0 = Instant::now();
    let mut room = Room::new(RoomConfig::default());
    room.handle_join(participant(1), t0).unwrap();
    room.handle_join(participant(2), t0).unwrap();
    let mut mute = participant(3);
    mute.permissions.can_publish_data = false;
    mute.permissions.can_subscribe = false;
    room.handle_join(mute, t0).unwrap();
    drain(&mut room);
    room.handle_data(ParticipantId(1), "hello").unwrap();
    let out = drain(&mut room);
    assert!(
        matches!(&out[..], [Output::SendData { to, from, payload }] if to == &vec![ParticipantId(2)] && *from == ParticipantId(1) && &**payload == "hello")
    );
    assert_eq!(
        room.handle_data(ParticipantId(3), "x"),
        Err(CoreError::PermissionDenied("can_publish_data"))
    );
}

#[test]
fn publish_needs_permission_and_own_tracks_cannot_be_subscribed() {
    let t0 = Instant::now();
    let mut room = Room::new(RoomConfig::default());
    let mut viewer = participant(1);
    viewer.permissions.can_publish = false;
    room.handle_join(viewer, t0).unwrap();
    room.handle_join(participant(2), t0).unwrap();
    assert_eq!(
        room.handle_publish(track(10, 1, Codec::Vp8, &[]), t0),
        Err(CoreError::PermissionDenied("can_publish"))
    );
    room.handle_publish(track(11, 2, Codec::Vp8, &[]), t0)
        .unwrap();
    assert!(
        room.handle_subscribe(ParticipantId(2), TrackId(11), true, t0)
            .is_err()
    );
    assert_eq!(
        room.handle_subscribe(ParticipantId(1), TrackId(99), true, t0),
        Err(CoreError::UnknownTrack(TrackId(99)))
    );
}

#[test]
fn unsubscribe_and_resubscribe() {
    let t0 = Instant::now();
    let mut room = room_with_publisher(t0);
    drain(&mut room);
    room.handle_subscribe(ParticipantId(2), TrackId(10), false, t0)
        .unwrap();
    let out = drain(&mut room);
    assert!(
        matches!(&out[..], [Output::RemoveDownTrack { to, track }] if *to == ParticipantId(2) && *track == TrackId(10))
    );
    room.handle_rtp(
        TrackId(10),
        None,
        packet(1, 0, VP8_PT, vp8(true, 0), t0),
        t0,
    );
    let out = drain(&mut room);
    assert!(sent_to(&out, 2).is_empty());
    assert_eq!(sent_to(&out, 3).len(), 1);
    room.handle_subscribe(ParticipantId(2), TrackId(10), true, t0)
        .unwrap();
    assert!(
        drain(&mut room)
            .iter()
            .any(|o| matches!(o, Output::AddDownTrack { to, .. } if *to == ParticipantId(2)))
    );
}

/// Sends one keyframe-started frame on each live layer at `t`.
pub(super) fn simulcast_frame(
    room: &mut Room,
    seqs: &mut [u64; 3],
    live: &[&str],
    key: bool,
    t: Instant,
) -> Vec<Output> {
    for (i, rid) in ["q", "h", "f"].iter().enumerate() {
        if !live.contains(rid) {
            continue;
        }
        seqs[i] += 1;
        // Unrelated sequence and timestamp spaces per layer, as browsers send them.
        let ts = (i as u32) * 1_000_000_000 + (seqs[i] as u32) * 3000;
        room.handle_rtp(
            TrackId(10),
            Some(rid),
            packet(
                seqs[i] + (i as u64) * 20_000,
                ts,
                VP8_PT,
                vp8(key, i as u8),
                t,
            ),
            t,
        );
    }
    drain(room)
}

#[test]
fn simulcast_sends_the_best_live_layer_and_falls_back_when_it_stops() {
    let t0 = Instant::now();
    let mut room = Room::new(RoomConfig::default());
    room.handle_join(participant(1), t0).unwrap();
    room.handle_join(participant(2), t0).unwrap();
    room.handle_publish(track(10, 1, Codec::Vp8, &["q", "h", "f"]), t0)
        .unwrap();
    room.handle_down_track_negotiated(ParticipantId(2), TrackId(10), vec![(VP8_PT, 100)], t0)
        .unwrap();
    drain(&mut room);
    let mut seqs = [0u64; 3];
    let mut t = t0;
    let mut sent = Vec::new();
    let mut layers_seen = Vec::new();
    let mut record = |out: &[Output], sent: &mut Vec<MediaPacket>| {
        sent.extend(sent_to(out, 2));
        for o in out {
            if let Output::Event {
                event: RoomEvent::Subscription { layer, .. },
                ..
            } = o
            {
                layers_seen.push(layer.clone());
            }
        }
    };
    // All three layers live: the top one is sent from its first keyframe.
    for i in 0..10 {
        t += Duration::from_millis(33);
        let out = simulcast_frame(&mut room, &mut seqs, &["q", "h", "f"], i == 0, t);
        record(&out, &mut sent);
    }
    assert_eq!(sent.len(), 10);
    assert!(sent.iter().all(|p| p.payload[4] == 2), "only layer f");
    // The top layer stops (CPU adaptation): after the layer timeout the target drops to h.
    let mut requested = Vec::new();
    for _ in 0..30 {
        t += Duration::from_millis(33);
        let mut out = simulcast_frame(&mut room, &mut seqs, &["q", "h"], false, t);
        if room.poll_timeout().is_some_and(|d| d <= t) {
            room.handle_timeout(t);
            out.extend(drain(&mut room));
        }
        requested.extend(keyframe_requests(&out));
        record(&out, &mut sent);
    }
    assert!(
        requested.contains(&(Some("h".into()), KeyframeKind::Pli)),
        "switching asks for a keyframe of the new layer: {requested:?}"
    );
    // The publisher answers with a keyframe on h: the switch happens there.
    t += Duration::from_millis(33);
    let out = simulcast_frame(&mut room, &mut seqs, &["q", "h"], true, t);
    record(&out, &mut sent);
    for _ in 0..3 {
        t += Duration::from_millis(33);
        let out = simulcast_frame(&mut room, &mut seqs, &["q", "h"], false, t);
        record(&out, &mut sent);
    }
    let after: Vec<_> = sent.iter().skip(10).collect();
    assert_eq!(
        after.len(),
        4,
        "nothing between the stop and the new keyframe, then h"
    );
    assert!(after.iter().all(|p| p.payload[4] == 1));
    for w in sent.windows(2) {
        assert_eq!(
            w[1].seq.0,
            w[0].seq.0 + 1,
            "one continuous sequence across the switch"
        );
    }
    let gap = sent[10].timestamp.wrapping_sub(sent[9].timestamp);
    assert!(
        gap > 0 && gap < 90_000 * 2,
        "timestamps continue by wall time across the switch, got {gap}"
    );
    assert_eq!(
        layers_seen,
        vec![Some("f".to_string()), Some("h".to_string())]
    );
}

#[test]
fn subscriber_cap_limits_the_layer() {
    let t0 = Instant::now();
    let mut room = Room::new(RoomConfig::default());
    room.handle_join(participant(1), t0).unwrap();
    room.handle_join(participant(2), t0).unwrap();
    room.handle_publish(track(10, 1, Codec::Vp8, &["q", "h", "f"]), t0)
        .unwrap();
    room.handle_down_track_negotiated(ParticipantId(2), TrackId(10), vec![(VP8_PT, 100)], t0)
        .unwrap();
    room.handle_set_subscription(
        ParticipantId(2),
        TrackId(10),
        SubscriptionCaps {
            max_width: Some(160),
            max_height: Some(90),
            ..Default::default()
        },
        t0,
    )
    .unwrap();
    drain(&mut room);
    let mut seqs = [0u64; 3];
    let out = simulcast_frame(&mut room, &mut seqs, &["q", "h", "f"], true, t0);
    let sent = sent_to(&out, 2);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload[4], 0, "a 160x90 element gets the low layer");
    assert_eq!(
        room.handle_set_subscription(
            ParticipantId(2),
            TrackId(10),
            SubscriptionCaps {
                layer: Some("x".into()),
                ..Default::default()
            },
            t0
        ),
        Err(CoreError::UnknownLayer("x".into()))
    );
}

#[test]
fn pause_stops_sending_and_unpause_resumes_at_a_requested_keyframe() {
    let t0 = Instant::now();
    let mut room = room_with_publisher(t0);
    room.handle_rtp(
        TrackId(10),
        None,
        packet(1, 0, VP8_PT, vp8(true, 0), t0),
        t0,
    );
    assert_eq!(sent_to(&drain(&mut room), 2).len(), 1);
    let paused = SubscriptionCaps {
        paused: true,
        ..Default::default()
    };
    room.handle_set_subscription(ParticipantId(2), TrackId(10), paused, t0)
        .unwrap();
    let out = drain(&mut room);
    assert!(out.iter().any(|o| matches!(o, Output::Event { to, event: RoomEvent::Subscription { paused: true, .. } } if *to == ParticipantId(2))));
    room.handle_rtp(
        TrackId(10),
        None,
        packet(2, 3000, VP8_PT, vp8(false, 0), t0),
        t0,
    );
    let out = drain(&mut room);
    assert!(sent_to(&out, 2).is_empty(), "paused");
    assert_eq!(sent_to(&out, 3).len(), 1, "others unaffected");

    let t1 = t0 + Duration::from_secs(2);
    room.handle_set_subscription(
        ParticipantId(2),
        TrackId(10),
        SubscriptionCaps::default(),
        t1,
    )
    .unwrap();
    assert!(
        !keyframe_requests(&drain(&mut room)).is_empty(),
        "unpausing asks for a keyframe"
    );
    room.handle_rtp(
        TrackId(10),
        None,
        packet(3, 6000, VP8_PT, vp8(false, 0), t1),
        t1,
    );
    assert!(
        sent_to(&drain(&mut room), 2).is_empty(),
        "no delta frame before the keyframe"
    );
    room.handle_rtp(
        TrackId(10),
        None,
        packet(4, 9000, VP8_PT, vp8(true, 0), t1),
        t1,
    );
    let got = sent_to(&drain(&mut room), 2);
    assert_eq!(got.len(), 1);
}

#[test]
fn a_pli_crossing_the_keyframe_it_asked_for_is_not_relayed() {
    let t0 = Instant::now();
    let mut room = room_with_publisher(t0);
    let t1 = t0 + Duration::from_secs(3);
    room.handle_rtp(
        TrackId(10),
        None,
        packet(1, 0, VP8_PT, vp8(true, 0), t1),
        t1,
    );
    drain(&mut room);
    // 50 ms later (in flight): ignored.
    room.handle_keyframe_request(
        ParticipantId(2),
        TrackId(10),
        KeyframeKind::Pli,
        t1 + Duration::from_millis(50),
    )
    .unwrap();
    assert!(keyframe_requests(&drain(&mut room)).is_empty());
    // A second later the decoder really needs one: relayed.
    room.handle_keyframe_request(
        ParticipantId(2),
        TrackId(10),
        KeyframeKind::Pli,
        t1 + Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(
        keyframe_requests(&drain(&mut room)),
        vec![(None, KeyframeKind::Pli)]
    );
}

pub(super) fn publisher_layers(outputs: &[Output]) -> Vec<Vec<String>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::PublisherLayers { active, .. } => Some(active.clone()),
            _ => None,
        })
        .collect()
}

/// Runs the room's timers from `from` for `d`, returning everything output.
pub(super) fn tick_for(room: &mut Room, from: Instant, d: Duration) -> Vec<Output> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= from + d {
        room.handle_timeout(t);
        out.extend(drain(room));
        t += Duration::from_millis(100);
    }
    out
}

#[test]
fn dynacast_pauses_unneeded_layers_after_a_delay_and_resumes_at_once() {
    let t0 = Instant::now();
    let mut room = Room::new(RoomConfig::default());
    room.handle_join(participant(1), t0).unwrap();
    room.handle_join(participant(2), t0).unwrap();
    room.handle_publish(track(10, 1, Codec::Vp8, &["q", "h", "f"]), t0)
        .unwrap();
    drain(&mut room);
    let thumbnail = SubscriptionCaps {
        max_width: Some(320),
        max_height: Some(180),
        ..Default::default()
    };
    room.handle_set_subscription(ParticipantId(2), TrackId(10), thumbnail, t0)
        .unwrap();
    // Not before the delay.
    let out = tick_for(&mut room, t0, Duration::from_millis(2500));
    assert!(publisher_layers(&out).is_empty());
    let t1 = t0 + Duration::from_millis(3200);
    let out = tick_for(
        &mut room,
        t0 + Duration::from_millis(2600),
        Duration::from_millis(600),
    );
    assert_eq!(publisher_layers(&out), [vec!["q".to_string()]]);
    assert_eq!(room.publisher_layers(TrackId(10)), Some(1));

    // A larger element: all layers again, at the next tick.
    room.handle_set_subscription(
        ParticipantId(2),
        TrackId(10),
        SubscriptionCaps::default(),
        t1,
    )
    .unwrap();
    let out = tick_for(&mut room, t1, Duration::from_millis(100));
    assert_eq!(
        publisher_layers(&out),
        [vec!["q".to_string(), "h".into(), "f".into()]]
    );

    // Paused by the only subscriber: nothing is needed.
    let paused = SubscriptionCaps {
        paused: true,
        ..Default::default()
    };
    let t2 = t1 + Duration::from_millis(200);
    room.handle_set_subscription(ParticipantId(2), TrackId(10), paused, t2)
        .unwrap();
    let out = tick_for(&mut room, t2, Duration::from_secs(4));
    assert_eq!(publisher_layers(&out), [Vec::<String>::new()]);
}
