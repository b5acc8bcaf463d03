//! Bandwidth allocation in virtual time: three simulcast publishers (q/h/f at 150 k / 500 k /
//! 1.5 Mbit/s, plus Opus-sized audio) and one subscriber behind a simulated bottleneck link
//! (capacity, one-way delay, drop-tail queue), whose estimate comes from a small delay-based
//! estimator in the manner of GCC: back off to 85 % of the delivered rate when queueing delay
//! builds up, grow slowly otherwise, and jump to what a probe burst proves when the room asks
//! for more (the room's `SetBitrate` output) — str0m's estimator plays this part in the server.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::tests::{participant, track};
use super::*;
use crate::codec::Codec;
use crate::rtp::SeqNo;

const SUBSCRIBER: ParticipantId = ParticipantId(100);
const RIDS: [&str; 3] = ["q", "h", "f"];
const LAYER_BPS: [u64; 3] = [150_000, 500_000, 1_500_000];
const FPS: u64 = 30;
const AUDIO_PPS: u64 = 50;
const AUDIO_BYTES: usize = 100;
const STEP: Duration = Duration::from_millis(5);
/// The bottleneck's queue holds this much time at its capacity (drop-tail beyond).
const QUEUE_TIME: Duration = Duration::from_millis(250);

/// A VP8 packet: descriptor with a 15-bit PictureID, then a key or delta frame header.
fn vp8_packet(picture: u16, first: bool, key: bool, size: usize) -> Arc<[u8]> {
    let mut p = vec![
        if first { 0x90 } else { 0x80 },
        0x80,
        0x80 | ((picture >> 8) as u8 & 0x7f),
        picture as u8,
    ];
    if first && key {
        p.extend_from_slice(&[0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00]);
    } else {
        p.push(0x01);
    }
    p.resize(size.max(p.len()), 0);
    p.into()
}

/// One publisher: three layers of frames, keyframes every 3 s and when asked.
struct Publisher {
    n: u64,
    seq: [u16; 3],
    frame: u64,
    key_wanted: [bool; 3],
    audio_seq: u16,
}

impl Publisher {
    /// Packets due at `now` (called every [`STEP`]): (track, rid, packet).
    fn tick(
        &mut self,
        t_us: u64,
        now: Instant,
        out: &mut Vec<(TrackId, Option<&'static str>, MediaPacket)>,
    ) {
        let step_us = STEP.as_micros() as u64;
        if t_us % (1_000_000 / AUDIO_PPS) < step_us {
            self.audio_seq = self.audio_seq.wrapping_add(1);
            out.push((
                TrackId(self.n * 10 + 1),
                None,
                packet(
                    self.audio_seq,
                    (t_us * 48 / 1000) as u32,
                    vec![0u8; AUDIO_BYTES].into(),
                    now,
                    Some(-30),
                ),
            ));
        }
        if t_us % (1_000_000 / FPS) >= step_us {
            return;
        }
        self.frame += 1;
        for l in 0..3 {
            let key = self.frame % (3 * FPS) == 1 || self.key_wanted[l];
            self.key_wanted[l] = false;
            let frame_bytes = (LAYER_BPS[l] / 8 / FPS) as usize * if key { 3 } else { 1 };
            let packets = frame_bytes.div_ceil(1100);
            for i in 0..packets {
                self.seq[l] = self.seq[l].wrapping_add(1);
                let payload = vp8_packet(
                    self.frame as u16 & 0x7fff,
                    i == 0,
                    key,
                    frame_bytes / packets,
                );
                let mut p = packet(self.seq[l], (self.frame * 3000) as u32, payload, now, None);
                p.marker = i + 1 == packets;
                out.push((TrackId(self.n * 10), Some(RIDS[l]), p));
            }
        }
    }
}

fn packet(
    seq: u16,
    timestamp: u32,
    payload: Arc<[u8]>,
    now: Instant,
    level: Option<i8>,
) -> MediaPacket {
    MediaPacket {
        seq: SeqNo(u64::from(seq)),
        timestamp,
        payload_type: 96,
        marker: false,
        payload,
        audio_level: level,
        voice_activity: None,
        arrival: now,
    }
}

/// The bottleneck toward the subscriber and a GCC-like estimator on its feedback.
struct Link {
    capacity: u64,
    /// (bytes, enqueued at) waiting to be serialized.
    queue: VecDeque<(usize, Instant, bool)>,
    queued_bytes: usize,
    /// When the head of the queue finishes serializing.
    busy_until: Instant,
    /// Delivered in the current feedback interval: (bytes, queueing delay sum, packets).
    interval: (u64, Duration, u64),
    delivered_audio: u64,
    dropped: u64,
    estimate: u64,
    desired: u64,
    last_probe: Instant,
    last_overuse: Instant,
}

impl Link {
    fn send(&mut self, bytes: usize, audio: bool, now: Instant) {
        let limit = (self.capacity as f64 / 8.0 * QUEUE_TIME.as_secs_f64()) as usize;
        if self.queued_bytes + bytes > limit.max(3000) {
            self.dropped += 1;
            return;
        }
        self.queued_bytes += bytes;
        self.queue.push_back((bytes, now, audio));
    }

    /// Serializes what the link can by `now`.
    fn drain(&mut self, now: Instant) {
        while let Some(&(bytes, at, audio)) = self.queue.front() {
            let start = self.busy_until.max(at);
            let done = start + Duration::from_secs_f64(bytes as f64 * 8.0 / self.capacity as f64);
            if done > now {
                break;
            }
            self.busy_until = done;
            self.queue.pop_front();
            self.queued_bytes -= bytes;
            self.interval.0 += bytes as u64;
            self.interval.1 += done.saturating_duration_since(at);
            self.interval.2 += 1;
            self.delivered_audio += u64::from(audio);
        }
    }

    /// Every 100 ms of feedback: back off on queueing delay, grow slowly, probe when asked.
    fn feedback(&mut self, now: Instant) -> u64 {
        let (bytes, delay_sum, packets) = std::mem::take(&mut self.interval);
        let delivered = bytes * 8 * 10;
        let queueing = if packets > 0 {
            delay_sum / packets as u32
        } else {
            Duration::ZERO
        };
        if queueing > Duration::from_millis(40) {
            self.estimate = (delivered as f64 * 0.85) as u64;
            self.last_overuse = now;
        } else if self.desired > self.estimate
            && now.saturating_duration_since(self.last_probe) >= Duration::from_secs(1)
            && now.saturating_duration_since(self.last_overuse) >= Duration::from_millis(500)
        {
            // A probe burst at up to twice the estimate comes back at what the link carries.
            let probe = self.desired.min(self.estimate * 2);
            self.estimate = self
                .estimate
                .max((probe.min(self.capacity) as f64 * 0.95) as u64);
            self.last_probe = now;
        } else if queueing < Duration::from_millis(10) {
            self.estimate = (self.estimate as f64 * 1.008) as u64;
        }
        self.estimate = self.estimate.max(30_000);
        self.estimate
    }
}

struct Sim {
    room: Room,
    t0: Instant,
    t_us: u64,
    publishers: Vec<Publisher>,
    link: Link,
    /// Publisher-side loss: drop every n-th video packet before the room sees it.
    uplink_loss_every: Option<u64>,
    ingress_count: u64,
    /// Per step: the highest layer received per video track of the subscriber.
    received: Vec<(u64, TrackId, Option<String>)>,
    /// What kind of estimate the subscriber's reports are.
    source: BandwidthSource,
    /// Reports this value instead of the link's feedback (a stuck receive-side estimator).
    fixed_estimate: Option<u64>,
}

impl Sim {
    /// The subscriber shows track 10 large and the others as 320x180 thumbnails
    /// (`thumbnails`), or all three large.
    fn new(thumbnails: bool) -> Sim {
        let t0 = Instant::now();
        let mut room = Room::new(RoomConfig::default());
        let mut publishers = Vec::new();
        for n in 1..=3 {
            room.handle_join(participant(n), t0).unwrap();
            room.handle_publish(track(n * 10, n, Codec::Vp8, &RIDS), t0)
                .unwrap();
            room.handle_publish(track(n * 10 + 1, n, Codec::Opus, &[]), t0)
                .unwrap();
            publishers.push(Publisher {
                n,
                seq: [0; 3],
                frame: 0,
                key_wanted: [false; 3],
                audio_seq: 0,
            });
        }
        room.handle_join(participant(SUBSCRIBER.0), t0).unwrap();
        for n in 1..=3 {
            for track in [TrackId(n * 10), TrackId(n * 10 + 1)] {
                room.handle_down_track_negotiated(SUBSCRIBER, track, vec![(96, 96)], t0)
                    .unwrap();
            }
            if thumbnails && n > 1 {
                let caps = SubscriptionCaps {
                    max_width: Some(320),
                    max_height: Some(180),
                    ..Default::default()
                };
                room.handle_set_subscription(SUBSCRIBER, TrackId(n * 10), caps, t0)
                    .unwrap();
            }
        }
        Sim {
            room,
            t0,
            t_us: 0,
            publishers,
            link: Link {
                capacity: 3_000_000,
                queue: VecDeque::new(),
                queued_bytes: 0,
                busy_until: t0,
                interval: (0, Duration::ZERO, 0),
                delivered_audio: 0,
                dropped: 0,
                estimate: 1_000_000,
                desired: 0,
                last_probe: t0,
                last_overuse: t0,
            },
            uplink_loss_every: None,
            ingress_count: 0,
            received: Vec::new(),
            source: BandwidthSource::Twcc,
            fixed_estimate: None,
        }
    }

    fn now(&self) -> Instant {
        self.t0 + Duration::from_micros(self.t_us)
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.t_us + d.as_micros() as u64;
        let mut batch = Vec::new();
        while self.t_us < end {
            self.t_us += STEP.as_micros() as u64;
            let now = self.now();
            for p in &mut self.publishers {
                p.tick(self.t_us, now, &mut batch);
            }
            for (track, rid, packet) in batch.drain(..) {
                self.ingress_count += 1;
                if rid.is_some()
                    && self
                        .uplink_loss_every
                        .is_some_and(|n| self.ingress_count.is_multiple_of(n))
                {
                    continue;
                }
                self.room.handle_rtp(track, rid, packet, now);
            }
            if self.room.poll_timeout().is_some_and(|t| t <= now) {
                self.room.handle_timeout(now);
            }
            while let Some(out) = self.room.poll_output() {
                match out {
                    Output::SendRtp {
                        to, track, packet, ..
                    } if to == SUBSCRIBER => {
                        self.link
                            .send(packet.payload.len() + 40, track.0 % 10 == 1, now);
                    }
                    Output::RequestKeyframe { publisher, rid, .. } => {
                        let p = &mut self.publishers[publisher.0 as usize - 1];
                        if let Some(l) = RIDS.iter().position(|r| Some(*r) == rid.as_deref()) {
                            p.key_wanted[l] = true;
                        }
                    }
                    Output::SetBitrate { to, desired, .. } if to == SUBSCRIBER => {
                        self.link.desired = desired;
                    }
                    _ => {}
                }
            }
            self.link.drain(now);
            if self.t_us.is_multiple_of(100_000) {
                let estimate = self.link.feedback(now);
                let estimate = self.fixed_estimate.unwrap_or(estimate);
                self.room
                    .handle_bandwidth_estimate(SUBSCRIBER, estimate, self.source, now)
                    .unwrap();
                for s in self.room.down_track_stats(SUBSCRIBER) {
                    if s.track.0 % 10 == 0 {
                        self.received.push((
                            self.t_us,
                            s.track,
                            if s.paused.is_some() { None } else { s.current },
                        ));
                    }
                }
            }
        }
    }

    /// The layers sent per video track at the current moment.
    fn layers_now(&self) -> Vec<Option<String>> {
        let last = self.received.last().map_or(0, |r| r.0);
        self.received
            .iter()
            .filter(|r| r.0 == last)
            .map(|r| r.2.clone())
            .collect()
    }

    fn rank(layer: &Option<String>) -> i32 {
        layer.as_deref().map_or(-1, |r| {
            RIDS.iter().position(|x| *x == r).unwrap_or(0) as i32
        })
    }
}

#[test]
fn allocation_follows_a_link_that_shrinks_and_recovers() {
    let mut sim = Sim::new(true);
    sim.run_for(Duration::from_secs(12));
    let at_3m = sim.layers_now();
    // The large video at its top layer, the thumbnails at theirs.
    assert_eq!(
        at_3m,
        [Some("f".into()), Some("q".into()), Some("q".into())],
        "3 Mbit/s"
    );
    let stats = sim.room.bandwidth_stats(SUBSCRIBER).unwrap();
    assert!(stats.allocated <= stats.estimate, "{stats:?}");

    sim.link.capacity = 600_000;
    let audio_before = sim.link.delivered_audio;
    sim.run_for(Duration::from_secs(8));
    let at_600k = sim.layers_now();
    assert!(
        at_600k.iter().all(|l| Sim::rank(l) <= 0),
        "600 kbit/s: {at_600k:?}"
    );
    assert!(
        at_600k.iter().any(|l| Sim::rank(l) == 0),
        "600 kbit/s: {at_600k:?}"
    );

    sim.link.capacity = 150_000;
    sim.run_for(Duration::from_secs(8));
    let at_150k = sim.layers_now();
    assert!(
        at_150k.iter().all(|l| l.is_none()),
        "150 kbit/s: every video paused: {at_150k:?}"
    );
    // Audio (3 x 50 packets/s) kept flowing through both dips.
    let audio = sim.link.delivered_audio - audio_before;
    assert!(
        audio >= 3 * AUDIO_PPS * 16 * 9 / 10,
        "audio packets delivered in 16 s: {audio}"
    );

    sim.link.capacity = 3_000_000;
    sim.run_for(Duration::from_secs(15));
    let recovered = sim.layers_now();
    assert_eq!(recovered, at_3m, "after recovery");

    let switches = sim.room.bandwidth_stats(SUBSCRIBER).unwrap().switches;
    eprintln!(
        "3M {at_3m:?} / 600k {at_600k:?} / 150k {at_150k:?} / 3M {recovered:?}; \
         audio delivered {audio}; switches {switches}; link drops {}",
        sim.link.dropped
    );
    assert!(switches <= 24, "switches over 43 s: {switches}");
}

#[test]
fn publisher_loss_does_not_downgrade_an_unconstrained_subscriber() {
    let mut sim = Sim::new(false);
    sim.link.capacity = 20_000_000;
    sim.run_for(Duration::from_secs(15));
    assert!(
        sim.layers_now().iter().all(|l| Sim::rank(l) == 2),
        "{:?}",
        sim.layers_now()
    );
    let switches = sim.room.bandwidth_stats(SUBSCRIBER).unwrap().switches;
    // 10 % of the publishers' video lost before the server: the subscriber's link is fine.
    sim.uplink_loss_every = Some(10);
    sim.run_for(Duration::from_secs(20));
    assert!(
        sim.layers_now().iter().all(|l| Sim::rank(l) == 2),
        "{:?}",
        sim.layers_now()
    );
    assert_eq!(
        sim.room.bandwidth_stats(SUBSCRIBER).unwrap().switches,
        switches
    );
}

#[test]
fn a_stuck_remb_estimate_never_pauses_video_but_twcc_does() {
    // 30 kbit/s reported: under the audio plus the lowest video layers.
    for (source, paused) in [
        (BandwidthSource::Twcc, true),
        (BandwidthSource::Remb, false),
    ] {
        let mut sim = Sim::new(false);
        sim.source = source;
        sim.fixed_estimate = Some(30_000);
        sim.run_for(Duration::from_secs(10));
        let layers = sim.layers_now();
        if paused {
            assert!(layers.iter().all(Option::is_none), "{source:?}: {layers:?}");
        } else {
            // REMB only measures what arrives: a paused video could never earn its way back.
            assert!(
                layers.iter().all(|l| Sim::rank(l) == 0),
                "{source:?}: {layers:?}"
            );
        }
    }
}
