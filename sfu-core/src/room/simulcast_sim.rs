//! Simulcast in virtual time: a simulated VP8 publisher drives a [`Room`] and simulated
//! subscribers check what they receive the way a decoder would.
//!
//! The publisher sends three layers (q/h/f: 320x180, 640x360, 1280x720) at 30 fps, each an
//! independent VP8 stream with its own sequence numbers (crossing 65535), RTP timestamps (bases
//! ~10^9 apart), 15-bit PictureIDs and TL0PICIDX, libwebrtc-like temporal layers (TID pattern
//! 0,2,1,2 with Y bits set on pictures that reference TL0 only), keyframes at start, every few
//! seconds and on request (after a delay), and consistent sender reports per layer. Every payload
//! ends with a tag (layer, frame, packet, input values, references) so a subscriber can tell where
//! each packet came from and whether every picture it gets can be decoded.
//!
//! Time is microseconds from `t0`; randomness is a seeded xorshift: every run is identical.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::tests::participant;
use super::*;
use crate::clock_sync::SenderReport;
use crate::codec::Codec;
use crate::codec::vp8::{Vp8Descriptor, is_keyframe_start};
use crate::rtp::SeqNo;
use crate::vp8_munger::{Vp8Rewrite, apply};

const PUBLISHER: u64 = 1;
const TRACK: TrackId = TrackId(10);
/// The publisher's VP8 payload type and the one every subscriber leg negotiated.
const PT_IN: u8 = 96;
const PT_OUT: u8 = 100;
const FPS: u64 = 30;
/// RTP ticks per frame at 90 kHz and 30 fps.
const FRAME_TICKS: u32 = 3000;
const RIDS: [&str; 3] = ["q", "h", "f"];
const Q: u8 = 0;
const H: u8 = 1;
const F: u8 = 2;
/// Upper bound of simulation steps in one `run_until`, so a stuck loop fails instead of hanging.
const MAX_STEPS: usize = 2_000_000;
const TAG_MAGIC: u8 = 0xa5;
/// The publisher's wallclock at `t0`, NTP style.
const NTP_EPOCH: Duration = Duration::from_secs(3_913_056_000);

fn ms(v: u64) -> u64 {
    v * 1000
}

/// Capture time of frame `k`, in microseconds from `t0`.
fn frame_us(k: u64) -> u64 {
    k * 1_000_000 / FPS
}

/// A tiny deterministic RNG (xorshift64).
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// The simulcast VP8 track, layers declared without sizes (the room learns them from keyframes).
fn track_info() -> TrackInfo {
    TrackInfo {
        id: TRACK,
        owner: ParticipantId(PUBLISHER),
        kind: MediaKind::Video,
        source: TrackSource::Camera,
        name: None,
        mid: "0".into(),
        codec: Codec::Vp8,
        layers: RIDS
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

fn layer_cap(rid: &str) -> SubscriptionCaps {
    SubscriptionCaps {
        layer: Some(rid.into()),
        ..Default::default()
    }
}

fn size_cap(width: u32, height: u32) -> SubscriptionCaps {
    SubscriptionCaps {
        max_width: Some(width),
        max_height: Some(height),
        ..Default::default()
    }
}

/// What identifies a packet's origin, appended to every payload (last byte: the tag's length).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tag {
    layer: u8,
    /// Frame index (capture tick) shared by all layers.
    frame: u32,
    pkt_idx: u8,
    pkt_count: u8,
    /// The publisher's sequence number, PictureID and TL0PICIDX.
    in_seq: u64,
    in_pid: u16,
    in_tl0: u8,
    key: bool,
    /// Frames of the same layer this picture references.
    refs: Vec<u32>,
}

impl Tag {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(TAG_MAGIC);
        out.push(self.layer);
        out.extend_from_slice(&self.frame.to_le_bytes());
        out.push(self.pkt_idx);
        out.push(self.pkt_count);
        out.extend_from_slice(&self.in_seq.to_le_bytes());
        out.extend_from_slice(&self.in_pid.to_le_bytes());
        out.push(self.in_tl0);
        out.push(u8::from(self.key));
        out.push(self.refs.len() as u8);
        for r in &self.refs {
            out.extend_from_slice(&r.to_le_bytes());
        }
        let len = out.len() - start + 1;
        out.push(len as u8);
    }

    fn decode(payload: &[u8]) -> Option<Tag> {
        let len = usize::from(*payload.last()?);
        let start = payload.len().checked_sub(len)?;
        let mut r = payload.get(start..payload.len() - 1)?;
        let [magic, layer] = take::<2>(&mut r)?;
        if magic != TAG_MAGIC {
            return None;
        }
        let frame = u32::from_le_bytes(take(&mut r)?);
        let [pkt_idx, pkt_count] = take(&mut r)?;
        let in_seq = u64::from_le_bytes(take(&mut r)?);
        let in_pid = u16::from_le_bytes(take(&mut r)?);
        let [in_tl0, key, nrefs] = take(&mut r)?;
        let refs = (0..nrefs)
            .map(|_| take(&mut r).map(u32::from_le_bytes))
            .collect::<Option<Vec<_>>>()?;
        r.is_empty().then_some(Tag {
            layer,
            frame,
            pkt_idx,
            pkt_count,
            in_seq,
            in_pid,
            in_tl0,
            key: key != 0,
            refs,
        })
    }
}

fn take<const N: usize>(r: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = r.split_first_chunk::<N>()?;
    *r = rest;
    Some(*head)
}

/// One simulcast layer's encoder settings.
#[derive(Debug, Clone, Copy)]
struct LayerSpec {
    width: u16,
    height: u16,
    seq_base: u64,
    ts_base: u32,
    pid_base: u16,
    tl0_base: u8,
    /// Delta frames have 1..=this many packets (keyframes 3).
    max_packets: u64,
}

const DEFAULT_LAYERS: [LayerSpec; 3] = [
    LayerSpec {
        width: 320,
        height: 180,
        seq_base: 65_400,
        ts_base: 2_294_967_000,
        pid_base: 32_700,
        tl0_base: 250,
        max_packets: 2,
    },
    LayerSpec {
        width: 640,
        height: 360,
        seq_base: 2 * 65_536 + 65_300,
        ts_base: 3_294_967_000,
        pid_base: 1_000,
        tl0_base: 0,
        max_packets: 2,
    },
    LayerSpec {
        width: 1280,
        height: 720,
        seq_base: 65_500,
        // ~10^9 from h, and wrapping 2^32 a couple of seconds in.
        ts_base: u32::MAX - 200_000,
        pid_base: 20_000,
        tl0_base: 128,
        max_packets: 3,
    },
];

/// Why a keyframe was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyCause {
    /// The layer (re)started.
    Start,
    /// The periodic keyframe interval.
    Periodic,
    /// A keyframe request from the room.
    Requested,
}

/// One picture the publisher sent on one layer.
#[derive(Debug, Clone)]
struct FrameRecord {
    layer: u8,
    frame: u32,
    /// Arrival at the room of its first packet (planned, even if lost).
    first_arrival_us: u64,
    key: Option<KeyCause>,
    tid: Option<u8>,
    sync: bool,
}

/// One packet the publisher sent.
#[derive(Debug, Clone, Copy)]
struct SentPacket {
    layer: u8,
    seq: u64,
    tid: Option<u8>,
    arrival_us: u64,
}

/// A packet on its way to the room.
#[derive(Debug, Clone)]
struct Wire {
    layer: u8,
    seq: u64,
    ts: u32,
    marker: bool,
    payload: Arc<[u8]>,
}

/// The descriptor fields of one picture.
#[derive(Debug, Clone, Copy)]
struct PictureHeader {
    key: bool,
    pid: u16,
    tl0: u8,
    tid: Option<u8>,
    sync: bool,
}

/// A VP8 RTP payload: descriptor (X, S on the first packet, PID 0, 15-bit PictureID, TL0PICIDX
/// and TID/Y with temporal layers), the VP8 payload header on the first packet (with the
/// keyframe start code and size on a keyframe), a body, and the tag.
fn vp8_payload(spec: &LayerSpec, header: PictureHeader, first: bool, tag: &Tag) -> Arc<[u8]> {
    let mut b = Vec::with_capacity(64);
    b.push(0x80 | if first { 0x10 } else { 0 });
    b.push(0x80 | if header.tid.is_some() { 0x60 } else { 0 });
    b.push(0x80 | (header.pid >> 8) as u8);
    b.push(header.pid as u8);
    if let Some(tid) = header.tid {
        b.push(header.tl0);
        b.push((tid << 6) | if header.sync { 0x20 } else { 0 });
    }
    if first {
        if header.key {
            // Frame tag with P = 0 and show_frame, start code, 14-bit width and height.
            b.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]);
            b.extend_from_slice(&spec.width.to_le_bytes());
            b.extend_from_slice(&spec.height.to_le_bytes());
        } else {
            b.extend_from_slice(&[0x11, 0x02, 0x00]);
        }
    }
    let body = 8 + 4 * usize::from(tag.layer);
    b.extend(std::iter::repeat_n(0xab ^ tag.layer, body));
    tag.encode(&mut b);
    Arc::from(b)
}

/// Encoder state of one layer.
#[derive(Debug)]
struct SimLayer {
    spec: LayerSpec,
    /// Whether the encoder produces this layer (CPU adaptation turns the top one off).
    active: bool,
    next_seq: u64,
    next_pid: u16,
    tl0: u8,
    /// Frames since the last keyframe; `None` until the layer (re)starts.
    since_key: Option<u32>,
    /// A requested keyframe is due from this capture time on.
    key_due_us: Option<u64>,
    /// Newest frame of each temporal layer (the reference buffers).
    last: [u32; 3],
    last_arrival_us: u64,
    next_sr_us: u64,
}

/// The simulated publisher: three VP8 layers at 30 fps.
#[derive(Debug)]
struct SimPublisher {
    layers: Vec<SimLayer>,
    /// With temporal layers (TID pattern 0,2,1,2) or without (every picture TID-less).
    temporal: bool,
    /// Periodic keyframe interval in frames; 0 = none.
    key_interval_frames: u64,
    respond_to_requests: bool,
    response_delay_us: u64,
    /// Every this many 4-frame cycles, the TID 2 and TID 1 pictures reference TL0 only (Y = 1);
    /// in the other cycles they reference their own layers too.
    sync_every: u32,
    /// No media before this frame (negotiation first).
    start_frame: u64,
    next_frame: u64,
    frames: Vec<FrameRecord>,
    sent: Vec<SentPacket>,
    rng: XorShift,
}

impl SimPublisher {
    fn new(seed: u64) -> Self {
        Self::with_layers(DEFAULT_LAYERS, seed)
    }

    fn with_layers(specs: [LayerSpec; 3], seed: u64) -> Self {
        let layers = specs
            .iter()
            .enumerate()
            .map(|(i, &spec)| SimLayer {
                spec,
                active: true,
                next_seq: spec.seq_base,
                next_pid: spec.pid_base,
                tl0: spec.tl0_base,
                since_key: None,
                key_due_us: None,
                last: [0; 3],
                last_arrival_us: 0,
                // The first reports go out with the first packets, then one per second.
                next_sr_us: ms(100) + 5_000 * i as u64 + 1,
            })
            .collect();
        SimPublisher {
            layers,
            temporal: true,
            key_interval_frames: 2 * FPS,
            respond_to_requests: true,
            response_delay_us: ms(30),
            sync_every: 4,
            start_frame: 3,
            next_frame: 0,
            frames: Vec::new(),
            sent: Vec::new(),
            rng: XorShift::new(seed),
        }
    }

    fn key_interval_secs(mut self, secs: u64) -> Self {
        self.key_interval_frames = secs * FPS;
        self
    }

    /// Stops or restarts a layer; a restarted layer begins with a keyframe.
    fn set_active(&mut self, layer: u8, active: bool) {
        let l = &mut self.layers[usize::from(layer)];
        if active && !l.active {
            l.since_key = None;
        }
        l.active = active;
    }

    /// Encodes the next frame on every active layer: its packets with their arrival times.
    fn frame(&mut self) -> Vec<(u64, Wire)> {
        let k = self.next_frame;
        self.next_frame += 1;
        let mut out = Vec::new();
        if k < self.start_frame {
            return out;
        }
        let periodic = self.key_interval_frames > 0
            && (k - self.start_frame).is_multiple_of(self.key_interval_frames);
        for i in 0..self.layers.len() {
            if self.layers[i].active {
                self.layer_frame(i, k, periodic, &mut out);
            }
        }
        out
    }

    fn layer_frame(&mut self, i: usize, k: u64, periodic: bool, out: &mut Vec<(u64, Wire)>) {
        let capture = frame_us(k);
        let temporal = self.temporal;
        let sync_every = self.sync_every.max(1);
        let l = &mut self.layers[i];
        let key = if l.since_key.is_none() {
            Some(KeyCause::Start)
        } else if periodic {
            Some(KeyCause::Periodic)
        } else if l.key_due_us.is_some_and(|d| d <= capture) {
            Some(KeyCause::Requested)
        } else {
            None
        };
        let since = match key {
            Some(_) => 0,
            None => l.since_key.map_or(0, |s| s + 1),
        };
        l.since_key = Some(since);
        let frame = k as u32;
        let [t0, t1, t2] = l.last;
        let (tid, sync, mut refs) = if key.is_some() {
            l.key_due_us = None;
            (0, false, vec![])
        } else if !temporal {
            (0, false, vec![t0])
        } else {
            let sync_cycle = (since / 4).is_multiple_of(sync_every);
            match (since % 4, sync_cycle) {
                (0, _) => (0, false, vec![t0]),
                (1, true) => (2, true, vec![t0]),
                (2, true) => (1, true, vec![t0]),
                (2, false) => (1, false, vec![t0, t1]),
                _ => (2, false, vec![t0, t1, t2]),
            }
        };
        refs.sort_unstable();
        refs.dedup();
        if key.is_some() {
            l.last = [frame; 3];
        } else {
            l.last[usize::from(tid)] = frame;
        }
        if temporal && tid == 0 {
            l.tl0 = l.tl0.wrapping_add(1);
        }
        let header = PictureHeader {
            key: key.is_some(),
            pid: l.next_pid,
            tl0: l.tl0,
            tid: temporal.then_some(tid),
            sync,
        };
        l.next_pid = (l.next_pid + 1) & 0x7fff;
        let packets = if key.is_some() {
            3
        } else {
            1 + self.rng.below(l.spec.max_packets)
        };
        let mut first_arrival = 0;
        for p in 0..packets {
            let seq = l.next_seq;
            l.next_seq += 1;
            let tag = Tag {
                layer: i as u8,
                frame,
                pkt_idx: p as u8,
                pkt_count: packets as u8,
                in_seq: seq,
                in_pid: header.pid,
                in_tl0: header.tl0,
                key: header.key,
                refs: refs.clone(),
            };
            let payload = vp8_payload(&l.spec, header, p == 0, &tag);
            // Network delay and pacing; a layer's packets never overtake each other.
            let jitter = self.rng.below(1500);
            let arrival =
                (capture + 2000 + 300 * i as u64 + 200 * p + jitter).max(l.last_arrival_us + 1);
            l.last_arrival_us = arrival;
            if p == 0 {
                first_arrival = arrival;
            }
            self.sent.push(SentPacket {
                layer: i as u8,
                seq,
                tid: header.tid,
                arrival_us: arrival,
            });
            out.push((
                arrival,
                Wire {
                    layer: i as u8,
                    seq,
                    ts: l.spec.ts_base.wrapping_add(frame.wrapping_mul(FRAME_TICKS)),
                    marker: p + 1 == packets,
                    payload,
                },
            ));
        }
        self.frames.push(FrameRecord {
            layer: i as u8,
            frame,
            first_arrival_us: first_arrival,
            key,
            tid: header.tid,
            sync,
        });
    }

    /// The layer whose sender report is due next, and when.
    fn next_report(&self) -> (usize, u64) {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| (i, l.next_sr_us))
            .min_by_key(|&(_, t)| t)
            .unwrap_or((0, u64::MAX))
    }

    /// The report of layer `i` due now (none while the layer is stopped).
    fn report(&mut self, i: usize) -> Option<SenderReport> {
        let l = &mut self.layers[i];
        let t = l.next_sr_us;
        l.next_sr_us += 1_000_000;
        // 90 kHz = 0.09 ticks per microsecond, rounded.
        let ticks = ((t * 9 + 50) / 100) as u32;
        l.active.then(|| SenderReport {
            ntp_time: NTP_EPOCH + Duration::from_micros(t),
            rtp_time: l.spec.ts_base.wrapping_add(ticks),
        })
    }

    /// A keyframe request from the room for one layer.
    fn request(&mut self, rid: Option<&str>, now_us: u64) {
        if !self.respond_to_requests {
            return;
        }
        let Some(i) = rid.and_then(|r| RIDS.iter().position(|x| *x == r)) else {
            return;
        };
        let due = now_us + self.response_delay_us;
        let l = &mut self.layers[i];
        l.key_due_us = Some(l.key_due_us.map_or(due, |d| d.min(due)));
    }

    fn frames_of(&self, layer: u8) -> impl Iterator<Item = &FrameRecord> {
        self.frames.iter().filter(move |f| f.layer == layer)
    }

    fn frame_record(&self, layer: u8, frame: u32) -> Option<&FrameRecord> {
        self.frames_of(layer).find(|f| f.frame == frame)
    }
}

/// One packet as a subscriber received it, rewrite applied.
#[derive(Debug, Clone)]
struct Got {
    at_us: u64,
    seq: u64,
    ts: u32,
    tag: Tag,
    desc: Vp8Descriptor,
    key_start: bool,
    /// Older than the newest packet already received (a retransmission).
    late: bool,
}

/// A layer switch seen by a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Switch {
    at_us: u64,
    from: u8,
    to: u8,
    frame: u32,
}

/// A `subscription` event received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SubEvent {
    at_us: u64,
    layer: Option<String>,
    paused: bool,
}

/// The simulated subscriber: collects what the room sends it and checks it as a decoder would.
#[derive(Debug)]
struct SimSubscriber {
    id: u64,
    /// No loss upstream: the output must be gap-free and every picture decodable.
    lossless: bool,
    /// In a lossy run, a temporal cap drops pictures too: then only the scenario, which knows
    /// what was lost, can tell the exact sequence number and PictureID steps.
    filtered: bool,
    /// Sender reports are consistent: a switch must advance timestamps by the exact capture gap.
    exact_ts: bool,
    got: Vec<Got>,
    events: Vec<SubEvent>,
    violations: Vec<String>,
    newest: Option<usize>,
    /// Packets received per picture, and the pictures received whole.
    received: HashMap<(u8, u32), u8>,
    complete: HashSet<(u8, u32)>,
    /// Output PictureID and TL0PICIDX of each picture, which all its packets must carry.
    picture_out: HashMap<(u8, u32), (Option<u16>, Option<u8>)>,
}

impl SimSubscriber {
    fn new(id: u64) -> Self {
        SimSubscriber {
            id,
            lossless: true,
            filtered: false,
            exact_ts: true,
            got: Vec::new(),
            events: Vec::new(),
            violations: Vec::new(),
            newest: None,
            received: HashMap::new(),
            complete: HashSet::new(),
            picture_out: HashMap::new(),
        }
    }

    fn fail(&mut self, at_us: u64, what: String) {
        self.violations
            .push(format!("sub {} at {} us: {what}", self.id, at_us));
    }

    fn receive(&mut self, at_us: u64, packet: &MediaPacket, rewrite: Option<Vp8Rewrite>) {
        let payload = match rewrite {
            Some(rw) => match apply(&packet.payload, &rw) {
                Some(p) => p,
                None => return self.fail(at_us, format!("rewrite {rw:?} does not apply")),
            },
            None => packet.payload.to_vec(),
        };
        if packet.payload_type != PT_OUT {
            self.fail(at_us, format!("payload type {}", packet.payload_type));
        }
        let (Some(desc), Some(tag)) = (Vp8Descriptor::parse(&payload), Tag::decode(&payload))
        else {
            return self.fail(at_us, "unparsable payload".into());
        };
        let key_start = is_keyframe_start(&payload);
        if key_start != (tag.key && tag.pkt_idx == 0) {
            self.fail(at_us, format!("keyframe flag mangled: {tag:?}"));
        }
        if packet.marker != (tag.pkt_idx + 1 == tag.pkt_count) {
            self.fail(at_us, format!("marker bit mangled: {tag:?}"));
        }
        let mut got = Got {
            at_us,
            seq: packet.seq.0,
            ts: packet.timestamp,
            tag,
            desc,
            key_start,
            late: false,
        };
        match self.newest.map(|i| self.got[i].clone()) {
            None => {
                if !key_start {
                    self.fail(at_us, format!("first packet is no keyframe: {:?}", got.tag));
                }
            }
            Some(prev) if prev.tag.layer == got.tag.layer && got.tag.in_seq <= prev.tag.in_seq => {
                got.late = true;
                if self.lossless {
                    self.fail(at_us, format!("late or duplicate packet {:?}", got.tag));
                }
                // Same source: input and output move together.
                let d_out = got.seq as i64 - prev.seq as i64;
                let d_in = got.tag.in_seq as i64 - prev.tag.in_seq as i64;
                if d_out != d_in && !self.filtered {
                    self.fail(
                        at_us,
                        format!("late packet maps {d_out} behind, input {d_in}"),
                    );
                }
                let d_ts = i64::from(got.ts.wrapping_sub(prev.ts) as i32);
                let want =
                    (i64::from(got.tag.frame) - i64::from(prev.tag.frame)) * i64::from(FRAME_TICKS);
                if d_ts != want {
                    self.fail(at_us, format!("late packet timestamp {d_ts} vs {want}"));
                }
            }
            Some(prev) => self.check_step(&prev, &got),
        }
        self.check_picture_fields(&got);
        let picture = (got.tag.layer, got.tag.frame);
        let n = self.received.entry(picture).or_insert(0);
        *n += 1;
        if *n == got.tag.pkt_count {
            self.complete.insert(picture);
        }
        let late = got.late;
        self.got.push(got);
        if !late {
            self.newest = Some(self.got.len() - 1);
        }
    }

    /// Every packet of a picture (retransmissions included) carries the same output values.
    fn check_picture_fields(&mut self, got: &Got) {
        let fields = (got.desc.picture_id, got.desc.tl0_pic_idx);
        let picture = (got.tag.layer, got.tag.frame);
        let first = *self.picture_out.entry(picture).or_insert(fields);
        if first != fields {
            self.fail(
                got.at_us,
                format!("picture {picture:?} sent as {first:?} then as {fields:?}"),
            );
        }
    }

    /// Checks a packet newer than every one before against the newest one.
    fn check_step(&mut self, prev: &Got, got: &Got) {
        let at = got.at_us;
        let same_layer = prev.tag.layer == got.tag.layer;
        if !same_layer && !got.key_start {
            self.fail(
                at,
                format!(
                    "switch {} -> {} not at a keyframe start: {:?}",
                    prev.tag.layer, got.tag.layer, got.tag
                ),
            );
        }
        // Sequence numbers: +1, or in a lossy run the input's gap within one source.
        let exact_steps = self.lossless || !same_layer || !self.filtered;
        let d_seq = got.seq.wrapping_sub(prev.seq);
        let want_seq = if self.lossless || !same_layer {
            1
        } else {
            got.tag.in_seq - prev.tag.in_seq
        };
        if (exact_steps && d_seq != want_seq) || !(1..=want_seq).contains(&d_seq) {
            self.fail(
                at,
                format!(
                    "seq {} after {} (want +{want_seq}), {:?} after {:?}",
                    got.seq, prev.seq, got.tag, prev.tag
                ),
            );
        }
        // Timestamps: exact within a source; across a switch, the capture gap.
        let d_ts = i64::from(got.ts.wrapping_sub(prev.ts) as i32);
        let capture =
            (i64::from(got.tag.frame) - i64::from(prev.tag.frame)) * i64::from(FRAME_TICKS);
        if d_ts < 0 {
            self.fail(at, format!("timestamp went back by {}", -d_ts));
        }
        if same_layer {
            if d_ts != capture {
                self.fail(at, format!("timestamp step {d_ts}, capture step {capture}"));
            }
        } else {
            // Two layers' pictures of one capture instant still need distinct timestamps: any
            // small step will do.
            let tolerance = if self.exact_ts && capture > 0 {
                2
            } else {
                i64::from(FRAME_TICKS)
            };
            if d_ts <= 0 || (d_ts - capture).abs() > tolerance {
                self.fail(
                    at,
                    format!(
                        "switch {} -> {} advanced the timestamp by {d_ts}, capture gap {capture}",
                        prev.tag.layer, got.tag.layer
                    ),
                );
            }
        }
        let new_picture = (prev.tag.layer, prev.tag.frame) != (got.tag.layer, got.tag.frame);
        if !new_picture {
            if self.lossless && got.tag.pkt_idx != prev.tag.pkt_idx + 1 {
                self.fail(at, format!("packet {:?} after {:?}", got.tag, prev.tag));
            }
            return;
        }
        if same_layer && got.tag.frame <= prev.tag.frame {
            self.fail(
                at,
                format!("frame {} after {}", got.tag.frame, prev.tag.frame),
            );
        }
        if self.lossless && got.tag.pkt_idx != 0 {
            self.fail(at, format!("picture starts at packet {}", got.tag.pkt_idx));
        }
        // PictureID: +1 per picture (modulo 2^15); in a lossy run, the input's step in a source.
        match (prev.desc.picture_id, got.desc.picture_id) {
            (Some(a), Some(b)) => {
                let step = b.wrapping_sub(a) & 0x7fff;
                let want = if self.lossless || !same_layer {
                    1
                } else {
                    got.tag.in_pid.wrapping_sub(prev.tag.in_pid) & 0x7fff
                };
                if (exact_steps && step != want) || !(1..=want).contains(&step) {
                    self.fail(at, format!("PictureID {b} after {a} (want +{want})"));
                }
            }
            (None, None) => {}
            other => self.fail(at, format!("PictureID presence changed: {other:?}")),
        }
        // TL0PICIDX: +1 on every base-layer picture, unchanged otherwise.
        match (prev.desc.tl0_pic_idx, got.desc.tl0_pic_idx) {
            (Some(a), Some(b)) => {
                let step = b.wrapping_sub(a);
                let want = if self.lossless || !same_layer {
                    u8::from(got.desc.temporal_id == Some(0))
                } else {
                    got.tag.in_tl0.wrapping_sub(prev.tag.in_tl0)
                };
                if step != want {
                    self.fail(at, format!("TL0PICIDX {b} after {a} (want +{want})"));
                }
            }
            (None, None) => {}
            other => self.fail(at, format!("TL0PICIDX presence changed: {other:?}")),
        }
        // Decodability: every reference was received whole.
        if self.lossless {
            let missing: Vec<u32> = got
                .tag
                .refs
                .iter()
                .copied()
                .filter(|r| !self.complete.contains(&(got.tag.layer, *r)))
                .collect();
            if !missing.is_empty() {
                self.fail(
                    at,
                    format!(
                        "picture {} of layer {} (TID {:?}, Y {}) references frames {missing:?} not received",
                        got.tag.frame, got.tag.layer, got.desc.temporal_id, got.desc.layer_sync
                    ),
                );
            }
        }
    }

    fn assert_clean(&self) {
        assert!(
            self.violations.is_empty(),
            "{} violations, first ones:\n{}",
            self.violations.len(),
            self.violations
                .iter()
                .take(12)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Packets received first-hand (not retransmissions).
    fn in_order(&self) -> impl Iterator<Item = &Got> {
        self.got.iter().filter(|g| !g.late)
    }

    fn layers_from(&self, from_us: u64) -> BTreeSet<u8> {
        self.in_order()
            .filter(|g| g.at_us >= from_us)
            .map(|g| g.tag.layer)
            .collect()
    }

    fn switches(&self) -> Vec<Switch> {
        let mut out = Vec::new();
        let mut prev: Option<u8> = None;
        for g in self.in_order() {
            if let Some(p) = prev
                && p != g.tag.layer
            {
                out.push(Switch {
                    at_us: g.at_us,
                    from: p,
                    to: g.tag.layer,
                    frame: g.tag.frame,
                });
            }
            prev = Some(g.tag.layer);
        }
        out
    }

    /// The first packet of each picture received, in order.
    fn pictures(&self) -> Vec<&Got> {
        let mut seen = HashSet::new();
        self.in_order()
            .filter(|g| seen.insert((g.tag.layer, g.tag.frame)))
            .collect()
    }
}

/// A keyframe request the room sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyRequest {
    at_us: u64,
    rid: Option<String>,
    kind: KeyframeKind,
}

/// Random loss between the publisher and the room.
#[derive(Debug, Clone, Copy)]
struct Loss {
    per_mille: u64,
    from_us: u64,
    until_us: u64,
    /// Every n-th lost packet is retransmitted (as after a NACK), `delay_us` later.
    retransmit_every: u64,
    delay_us: u64,
}

/// A packet lost on the way to the room.
#[derive(Debug, Clone, Copy)]
struct Lost {
    layer: u8,
    seq: u64,
    /// When its retransmission reaches the room, if it is retransmitted.
    retransmitted_at: Option<u64>,
}

/// The room, the publisher, the subscribers and the network in between, in virtual time.
struct Sim {
    t0: Instant,
    now_us: u64,
    room: Room,
    publisher: SimPublisher,
    subs: BTreeMap<u64, SimSubscriber>,
    /// Packets on the way, by (arrival, sending order).
    in_flight: BTreeMap<(u64, u64), Wire>,
    order: u64,
    requests: Vec<KeyRequest>,
    loss: Option<Loss>,
    lost: Vec<Lost>,
    rng: XorShift,
}

impl Sim {
    /// A room with the publisher's track and negotiated subscribers with the given caps, at t0.
    fn new(publisher: SimPublisher, subs: &[(u64, SubscriptionCaps)]) -> Sim {
        let t0 = Instant::now();
        let mut room = Room::new(RoomConfig::default());
        room.handle_join(participant(PUBLISHER), t0).unwrap();
        for (id, _) in subs {
            room.handle_join(participant(*id), t0).unwrap();
        }
        room.handle_publish(track_info(), t0).unwrap();
        for (id, caps) in subs {
            if *caps != SubscriptionCaps::default() {
                room.handle_set_subscription(ParticipantId(*id), TRACK, caps.clone(), t0)
                    .unwrap();
            }
            room.handle_down_track_negotiated(ParticipantId(*id), TRACK, vec![(PT_IN, PT_OUT)], t0)
                .unwrap();
        }
        let mut sim = Sim {
            t0,
            now_us: 0,
            room,
            publisher,
            subs: subs
                .iter()
                .map(|(id, _)| (*id, SimSubscriber::new(*id)))
                .collect(),
            in_flight: BTreeMap::new(),
            order: 0,
            requests: Vec::new(),
            loss: None,
            lost: Vec::new(),
            rng: XorShift::new(0x5eed),
        };
        sim.dispatch();
        sim
    }

    fn now(&self) -> Instant {
        self.t0 + Duration::from_micros(self.now_us)
    }

    fn us(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.t0).as_micros() as u64
    }

    fn sub(&self, id: u64) -> &SimSubscriber {
        &self.subs[&id]
    }

    /// Processes every event (room timeouts, sender reports, packet arrivals, frames) up to
    /// `end_us`, in time order.
    fn run_until(&mut self, end_us: u64) {
        for _ in 0..MAX_STEPS {
            let frame_t = frame_us(self.publisher.next_frame);
            let arrival_t = self.in_flight.keys().next().map(|&(t, _)| t);
            let timeout_t = self.room.poll_timeout().map(|t| self.us(t));
            let (sr_layer, sr_t) = self.publisher.next_report();
            let t = [Some(frame_t), arrival_t, timeout_t, Some(sr_t)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(u64::MAX);
            if t > end_us {
                self.now_us = self.now_us.max(end_us);
                return;
            }
            self.now_us = self.now_us.max(t);
            if timeout_t.is_some_and(|x| x <= t) {
                self.room.handle_timeout(self.now());
                self.dispatch();
            } else if sr_t <= t {
                if let Some(report) = self.publisher.report(sr_layer) {
                    self.room
                        .handle_sender_report(TRACK, Some(RIDS[sr_layer]), report);
                }
            } else if arrival_t.is_some_and(|x| x <= t) {
                if let Some((_, wire)) = self.in_flight.pop_first() {
                    self.deliver(wire);
                }
            } else {
                self.send_frame();
            }
        }
        panic!("simulation did not reach {end_us} us in {MAX_STEPS} steps");
    }

    fn send_frame(&mut self) {
        for (arrival, wire) in self.publisher.frame() {
            if let Some(loss) = self.loss
                && (loss.from_us..loss.until_us).contains(&self.now_us)
                && self.rng.chance(loss.per_mille)
            {
                let retransmit = (self.lost.len() as u64).is_multiple_of(loss.retransmit_every);
                let retransmitted_at = retransmit.then_some(arrival + loss.delay_us);
                self.lost.push(Lost {
                    layer: wire.layer,
                    seq: wire.seq,
                    retransmitted_at,
                });
                if let Some(at) = retransmitted_at {
                    self.push_in_flight(at, wire);
                }
                continue;
            }
            self.push_in_flight(arrival, wire);
        }
    }

    fn push_in_flight(&mut self, at_us: u64, wire: Wire) {
        self.order += 1;
        self.in_flight.insert((at_us, self.order), wire);
    }

    fn deliver(&mut self, wire: Wire) {
        let packet = MediaPacket {
            seq: SeqNo(wire.seq),
            timestamp: wire.ts,
            marker: wire.marker,
            payload_type: PT_IN,
            payload: wire.payload,
            audio_level: None,
            voice_activity: None,
            arrival: self.now(),
        };
        let now = self.now();
        self.room
            .handle_rtp(TRACK, Some(RIDS[usize::from(wire.layer)]), packet, now);
        self.dispatch();
    }

    /// Drains the room's outputs: packets to subscribers, keyframe requests to the publisher.
    fn dispatch(&mut self) {
        let now = self.now_us;
        for _ in 0..1_000_000 {
            let Some(output) = self.room.poll_output() else {
                return;
            };
            match output {
                Output::SendRtp {
                    to,
                    track,
                    packet,
                    vp8,
                } => {
                    assert_eq!(track, TRACK);
                    if let Some(s) = self.subs.get_mut(&to.0) {
                        s.receive(now, &packet, vp8);
                    }
                }
                Output::RequestKeyframe {
                    publisher,
                    track,
                    rid,
                    kind,
                } => {
                    assert_eq!((publisher, track), (ParticipantId(PUBLISHER), TRACK));
                    self.publisher.request(rid.as_deref(), now);
                    self.requests.push(KeyRequest {
                        at_us: now,
                        rid,
                        kind,
                    });
                }
                Output::Event {
                    to,
                    event:
                        RoomEvent::Subscription {
                            track,
                            layer,
                            paused,
                            ..
                        },
                } => {
                    assert_eq!(track, TRACK);
                    if let Some(s) = self.subs.get_mut(&to.0) {
                        s.events.push(SubEvent {
                            at_us: now,
                            layer,
                            paused,
                        });
                    }
                }
                _ => {}
            }
        }
        panic!("the room's output never drains");
    }

    fn set_caps(&mut self, sub: u64, caps: SubscriptionCaps) {
        let now = self.now();
        self.room
            .handle_set_subscription(ParticipantId(sub), TRACK, caps, now)
            .unwrap();
        self.dispatch();
    }

    fn pli(&mut self, sub: u64) {
        let now = self.now();
        self.room
            .handle_keyframe_request(ParticipantId(sub), TRACK, KeyframeKind::Pli, now)
            .unwrap();
        self.dispatch();
    }

    /// Keyframe requests for `rid` sent in `[from_us, until_us)`.
    fn requests_for(&self, rid: &str, from_us: u64, until_us: u64) -> Vec<&KeyRequest> {
        self.requests
            .iter()
            .filter(|r| r.rid.as_deref() == Some(rid) && (from_us..until_us).contains(&r.at_us))
            .collect()
    }

    /// Packets of `layer` that reached the room by `until_us`, from sequence number `from_seq`.
    fn arrived(&self, layer: u8, from_seq: u64, until_us: u64) -> BTreeSet<u64> {
        let lost: HashSet<u64> = self
            .lost
            .iter()
            .filter(|l| l.layer == layer)
            .map(|l| l.seq)
            .collect();
        self.publisher
            .sent
            .iter()
            .filter(|p| {
                p.layer == layer
                    && p.seq >= from_seq
                    && p.arrival_us <= until_us
                    && !lost.contains(&p.seq)
            })
            .map(|p| p.seq)
            .collect()
    }
}

/// (1) Three subscribers capped by RID get exactly their layer, every packet of it, from the
/// first keyframe on.
#[test]
fn layer_caps_give_each_subscriber_its_layer() {
    let mut sim = Sim::new(
        SimPublisher::new(1),
        &[
            (2, layer_cap("q")),
            (3, layer_cap("h")),
            (4, layer_cap("f")),
        ],
    );
    let end = ms(6000);
    sim.run_until(end);
    for (sub, layer) in [(2, Q), (3, H), (4, F)] {
        let s = sim.sub(sub);
        s.assert_clean();
        assert_eq!(s.layers_from(0), BTreeSet::from([layer]), "sub {sub}");
        let first = &s.got[0];
        assert!(
            first.at_us < ms(150),
            "sub {sub} starts with the first keyframe, got {first:?}"
        );
        let got: BTreeSet<u64> = s.in_order().map(|g| g.tag.in_seq).collect();
        assert_eq!(
            got,
            sim.arrived(layer, first.tag.in_seq, end),
            "sub {sub}: every packet of layer {layer}"
        );
        assert_eq!(
            s.events,
            vec![SubEvent {
                at_us: first.at_us,
                layer: Some(RIDS[usize::from(layer)].into()),
                paused: false,
            }]
        );
    }
    // The sequence spaces really crossed 65535 and the timestamps and PictureIDs wrapped.
    let f = sim.sub(4);
    assert!(f.got.iter().any(|g| g.tag.in_seq == 65_536));
    let wrapped = |g: &Got| {
        DEFAULT_LAYERS[2]
            .ts_base
            .checked_add(g.tag.frame * FRAME_TICKS)
            .is_none()
    };
    assert!(!wrapped(&f.got[0]) && f.got.iter().any(wrapped));
    assert!(sim.sub(2).got.iter().any(|g| g.tag.in_pid == 0));
    // Only the start of each subscription asked for keyframes.
    assert!(
        sim.requests.iter().all(|r| r.at_us < ms(200)),
        "{:?}",
        sim.requests
    );
}

/// (2) Caps by size choose the smallest layer covering the element, by the sizes the room reads
/// from the keyframes.
#[test]
fn size_caps_pick_layers_by_learned_resolution() {
    let mut sim = Sim::new(
        SimPublisher::new(2),
        &[
            (2, size_cap(160, 90)),
            (3, size_cap(640, 360)),
            (4, size_cap(1920, 1080)),
        ],
    );
    sim.run_until(ms(4000));
    let sizes: Vec<_> = sim
        .room
        .track(TRACK)
        .unwrap()
        .layers
        .iter()
        .map(|l| (l.width, l.height))
        .collect();
    assert_eq!(
        sizes,
        vec![
            (Some(320), Some(180)),
            (Some(640), Some(360)),
            (Some(1280), Some(720))
        ]
    );
    for (sub, layer) in [(2, Q), (3, H), (4, F)] {
        let s = sim.sub(sub);
        s.assert_clean();
        assert_eq!(s.layers_from(0), BTreeSet::from([layer]), "sub {sub}");
    }
}

/// (2, continued) Layers whose real sizes differ from the default guess: an 800x450 element gets
/// the 960x540 layer once the room has seen the keyframes, although the guess said 1280x720.
#[test]
fn size_caps_follow_resolutions_learned_from_keyframes() {
    let mut specs = DEFAULT_LAYERS;
    for (spec, (w, h)) in specs.iter_mut().zip([(480, 270), (960, 540), (1920, 1080)]) {
        spec.width = w;
        spec.height = h;
    }
    let mut sim = Sim::new(
        SimPublisher::with_layers(specs, 3),
        &[
            (2, size_cap(160, 90)),
            (3, size_cap(800, 450)),
            (4, size_cap(1920, 1080)),
            (5, size_cap(1000, 600)),
        ],
    );
    sim.run_until(ms(4000));
    for (sub, layer) in [(2, Q), (3, H), (4, F), (5, F)] {
        let s = sim.sub(sub);
        s.assert_clean();
        assert_eq!(
            s.layers_from(ms(1000)),
            BTreeSet::from([layer]),
            "sub {sub}"
        );
        for sw in s.switches() {
            let record = sim.publisher.frame_record(sw.to, sw.frame).unwrap();
            assert!(
                record.key.is_some(),
                "sub {sub} switched off a keyframe: {sw:?}"
            );
        }
    }
    assert_eq!(
        sim.sub(3).events.last().unwrap().layer.as_deref(),
        Some("h")
    );
}

/// (3) A cap raised q -> f and another lowered f -> q mid-stream: each switch happens at the new
/// layer's first keyframe after the change, which the room requested, and the output stays one
/// continuous stream; also for a subscriber that gets the base temporal layer only.
#[test]
fn cap_change_switches_at_the_requested_keyframe() {
    let base_only = |rid: &str| SubscriptionCaps {
        max_temporal: Some(0),
        ..layer_cap(rid)
    };
    let mut sim = Sim::new(
        SimPublisher::new(4).key_interval_secs(5),
        &[
            (2, layer_cap("q")),
            (3, layer_cap("f")),
            (4, base_only("q")),
        ],
    );
    sim.run_until(ms(3000));
    sim.set_caps(2, layer_cap("f"));
    sim.set_caps(4, base_only("f"));
    sim.run_until(ms(4000));
    sim.set_caps(3, layer_cap("q"));
    sim.run_until(ms(5000));

    let s = sim.sub(4);
    assert!(
        s.got.iter().all(|g| g.desc.temporal_id == Some(0)),
        "the temporal cap holds across the switch"
    );
    for (sub, from, to, at) in [
        (2, Q, F, ms(3000)),
        (3, F, Q, ms(4000)),
        (4, Q, F, ms(3000)),
    ] {
        let s = sim.sub(sub);
        s.assert_clean();
        let rid = RIDS[usize::from(to)];
        let asked = sim.requests_for(rid, at, at + ms(1000));
        assert_eq!(
            asked.iter().map(|r| r.at_us).collect::<Vec<_>>(),
            vec![at],
            "sub {sub}: the cap change asks for a keyframe of {rid} at once"
        );
        let switches = s.switches();
        assert_eq!(switches.len(), 1, "sub {sub}: {switches:?}");
        let sw = switches[0];
        assert_eq!((sw.from, sw.to), (from, to));
        // The first keyframe of the new layer arriving after the change.
        let key = sim
            .publisher
            .frames_of(to)
            .find(|f| f.first_arrival_us > at && f.key.is_some())
            .unwrap();
        assert_eq!(
            sw.frame, key.frame,
            "sub {sub}: switched at {sw:?}, key {key:?}"
        );
        assert_eq!(key.key, Some(KeyCause::Requested));
        assert!(sw.at_us - at < ms(100), "sub {sub}: switch {sw:?}");
        // The old layer flows until then, the new one from then on.
        assert!(
            s.in_order()
                .all(|g| g.tag.layer == if g.at_us < sw.at_us { from } else { to })
        );
        assert_eq!(
            s.events.last().map(|e| (e.at_us, e.layer.as_deref())),
            Some((sw.at_us, Some(rid)))
        );
    }
}

/// (4) The top layer stops for 2 s (publisher CPU adaptation): its subscribers fall back to h at
/// a requested keyframe within a few hundred ms, are told so, and move back to f when it returns.
#[test]
fn stopped_layer_falls_back_and_recovers() {
    let mut sim = Sim::new(
        SimPublisher::new(5).key_interval_secs(10),
        &[
            (2, SubscriptionCaps::default()),
            (3, layer_cap("h")),
            (4, SubscriptionCaps::default()),
        ],
    );
    sim.run_until(ms(3000));
    sim.publisher.set_active(F, false);
    sim.run_until(ms(5000));
    sim.publisher.set_active(F, true);
    sim.run_until(ms(7000));

    let last_f = sim
        .publisher
        .sent
        .iter()
        .filter(|p| p.layer == F && p.arrival_us < ms(5000))
        .map(|p| p.arrival_us)
        .max()
        .unwrap();
    for sub in [2, 4] {
        let s = sim.sub(sub);
        s.assert_clean();
        let switches = s.switches();
        assert_eq!(
            switches.iter().map(|s| (s.from, s.to)).collect::<Vec<_>>(),
            vec![(F, H), (H, F)],
            "sub {sub}"
        );
        let down = switches[0];
        assert!(
            down.at_us > last_f && down.at_us - last_f < ms(800),
            "sub {sub}: fallback {} ms after the last f packet",
            (down.at_us - last_f) / 1000
        );
        let key = sim.publisher.frame_record(H, down.frame).unwrap();
        assert_eq!(key.key, Some(KeyCause::Requested), "sub {sub}: {key:?}");
        assert!(
            !sim.requests_for("h", last_f, down.at_us).is_empty(),
            "the fallback asked for a keyframe of h"
        );
        let up = switches[1];
        assert!(
            up.at_us >= ms(5000) && up.at_us - ms(5000) < ms(100),
            "sub {sub}: back on f at {} ms",
            up.at_us / 1000
        );
        let key = sim.publisher.frame_record(F, up.frame).unwrap();
        assert_eq!(
            key.key,
            Some(KeyCause::Start),
            "the returning layer's first frame"
        );
        let events: Vec<_> = s
            .events
            .iter()
            .map(|e| (e.at_us, e.layer.as_deref()))
            .collect();
        assert_eq!(
            events,
            vec![
                (s.got[0].at_us, Some("f")),
                (down.at_us, Some("h")),
                (up.at_us, Some("f"))
            ],
            "sub {sub}"
        );
    }
    let h = sim.sub(3);
    h.assert_clean();
    assert!(h.switches().is_empty());
    assert_eq!(h.events.len(), 1);
}

/// (5) Twenty subscribers send PLIs within 50 ms: one keyframe request per layer goes out, and
/// the keyframe that answers it cancels the others.
#[test]
fn simultaneous_plis_give_one_keyframe_request() {
    let subs: Vec<(u64, SubscriptionCaps)> = (2..22)
        .map(|id| {
            let caps = if id % 2 == 0 {
                layer_cap("h")
            } else {
                SubscriptionCaps::default()
            };
            (id, caps)
        })
        .collect();
    let mut publisher = SimPublisher::new(6).key_interval_secs(10);
    // The keyframe comes back after the last PLI of the storm reached the room.
    publisher.response_delay_us = ms(100);
    let mut sim = Sim::new(publisher, &subs);
    let storm = ms(3000);
    sim.run_until(storm);
    for (i, (id, _)) in subs.iter().enumerate() {
        sim.run_until(storm + 2_500 * i as u64);
        sim.pli(*id);
    }
    sim.run_until(ms(6000));
    for rid in ["h", "f"] {
        let asked = sim.requests_for(rid, storm, ms(6000));
        assert_eq!(
            asked.iter().map(|r| (r.at_us, r.kind)).collect::<Vec<_>>(),
            vec![(
                storm + if rid == "h" { 0 } else { 2_500 },
                KeyframeKind::Pli
            )],
            "{rid}: one request, and the keyframe answering it cancels the pending one"
        );
    }
    assert!(sim.requests_for("q", ms(500), ms(6000)).is_empty());
    for (id, _) in &subs {
        let s = sim.sub(*id);
        s.assert_clean();
        assert!(s.got.iter().any(|g| g.key_start && g.at_us > storm));
    }
}

/// (5, continued) When the publisher does not answer, the requests throttled during the storm
/// go out once when the interval ends, and only once.
#[test]
fn unanswered_plis_give_one_pending_request_after_the_interval() {
    let subs: Vec<(u64, SubscriptionCaps)> = (2..22)
        .map(|id| (id, SubscriptionCaps::default()))
        .collect();
    let mut sim = Sim::new(SimPublisher::new(7).key_interval_secs(10), &subs);
    let storm = ms(3000);
    sim.run_until(storm);
    sim.publisher.respond_to_requests = false;
    for (i, (id, _)) in subs.iter().enumerate() {
        sim.run_until(storm + 2_500 * i as u64);
        sim.pli(*id);
    }
    sim.run_until(ms(6000));
    let asked: Vec<u64> = sim
        .requests_for("f", storm, ms(6000))
        .iter()
        .map(|r| r.at_us)
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[0], storm);
    assert!(
        (storm + ms(1000)..storm + ms(1200)).contains(&asked[1]),
        "the pending request goes when the interval ends: {asked:?}"
    );
    for (id, _) in &subs {
        sim.sub(*id).assert_clean();
    }
}

/// (6) A temporal cap of 0 forwards only TID 0 pictures (a quarter of them) with continuous
/// PictureIDs and sequence numbers; raising it goes up only at layer sync pictures, one layer at
/// a time; lowering it takes effect at the next picture.
#[test]
fn temporal_cap_forwards_base_layer_only_and_rises_at_sync_pictures() {
    let capped = SubscriptionCaps {
        layer: Some("h".into()),
        max_temporal: Some(0),
        ..Default::default()
    };
    let mut sim = Sim::new(
        SimPublisher::new(8).key_interval_secs(10),
        &[(2, capped), (3, layer_cap("h"))],
    );
    let raise = ms(3000);
    sim.run_until(raise);
    {
        let (s, all) = (sim.sub(2), sim.sub(3));
        s.assert_clean();
        let pictures = s.pictures();
        assert!(pictures.iter().all(|g| g.desc.temporal_id == Some(0)));
        let first = pictures[0].tag.frame;
        let base: Vec<u32> = sim
            .publisher
            .frames_of(H)
            .filter(|f| f.frame >= first && f.first_arrival_us <= raise && f.tid == Some(0))
            .map(|f| f.frame)
            .collect();
        assert_eq!(
            pictures.iter().map(|g| g.tag.frame).collect::<Vec<_>>(),
            base
        );
        let ratio = pictures.len() as f64 / all.pictures().len() as f64;
        assert!((0.22..0.32).contains(&ratio), "TID 0 share {ratio}");
    }
    sim.set_caps(2, layer_cap("h"));
    sim.run_until(ms(5000));
    {
        let s = sim.sub(2);
        s.assert_clean();
        let after: Vec<&Got> = s
            .pictures()
            .into_iter()
            .filter(|g| g.at_us > raise)
            .collect();
        let h_after = || {
            sim.publisher
                .frames_of(H)
                .filter(|f| f.first_arrival_us > raise)
        };
        let tl1 = h_after()
            .find(|f| f.tid == Some(1) && f.sync)
            .unwrap()
            .frame;
        let tl2 = h_after()
            .find(|f| f.tid == Some(2) && f.sync && f.frame > tl1)
            .unwrap()
            .frame;
        let first_up = after
            .iter()
            .find(|g| g.desc.temporal_id != Some(0))
            .unwrap();
        assert_eq!(
            first_up.tag.frame, tl1,
            "TL1 joins at its first sync picture"
        );
        let first_tl2 = after
            .iter()
            .find(|g| g.desc.temporal_id == Some(2))
            .unwrap();
        assert_eq!(
            first_tl2.tag.frame, tl2,
            "TL2 joins at its first sync picture after TL1"
        );
        // From then on, every picture.
        let full: Vec<u32> = after
            .iter()
            .map(|g| g.tag.frame)
            .filter(|&f| f >= tl2)
            .collect();
        let all: Vec<u32> = sim
            .sub(3)
            .pictures()
            .iter()
            .map(|g| g.tag.frame)
            .filter(|&f| f >= tl2)
            .collect();
        assert!(full.len() > 10);
        assert_eq!(full, all);
    }
    let lower = ms(5500);
    sim.run_until(lower);
    sim.set_caps(
        2,
        SubscriptionCaps {
            layer: Some("h".into()),
            max_temporal: Some(1),
            ..Default::default()
        },
    );
    sim.run_until(ms(7000));
    let s = sim.sub(2);
    s.assert_clean();
    let after: Vec<&Got> = s
        .pictures()
        .into_iter()
        .filter(|g| g.at_us > lower)
        .collect();
    assert!(after.iter().all(|g| g.desc.temporal_id != Some(2)));
    let all = sim
        .sub(3)
        .pictures()
        .iter()
        .filter(|g| g.at_us > lower)
        .count();
    let ratio = after.len() as f64 / all as f64;
    assert!((0.45..0.56).contains(&ratio), "TID <= 1 share {ratio}");
}

/// (7) 2 % random loss between publisher and room: each subscriber's output has a gap exactly
/// where an input packet was lost and nowhere else, and a retransmission of a lost packet gets the
/// very sequence number, timestamp and descriptor values it would have had. A subscriber with a
/// temporal cap sees gaps only for lost packets too: the pictures filtered out leave none.
#[test]
fn loss_leaves_gaps_only_where_packets_were_lost_and_retransmissions_fill_them() {
    let tl1 = SubscriptionCaps {
        layer: Some("h".into()),
        max_temporal: Some(1),
        ..Default::default()
    };
    let mut sim = Sim::new(
        SimPublisher::new(9),
        &[
            (2, layer_cap("q")),
            (3, layer_cap("h")),
            (4, layer_cap("f")),
            (5, tl1),
        ],
    );
    sim.loss = Some(Loss {
        per_mille: 20,
        from_us: ms(500),
        until_us: ms(11_500),
        retransmit_every: 2,
        delay_us: ms(80),
    });
    for s in sim.subs.values_mut() {
        s.lossless = false;
        s.filtered = s.id == 5;
    }
    let end = ms(12_000);
    sim.run_until(end);
    for (sub, layer, max_tid) in [(2, Q, 2), (3, H, 2), (4, F, 2), (5, H, 1)] {
        let s = sim.sub(sub);
        s.assert_clean();
        assert_eq!(s.layers_from(0), BTreeSet::from([layer]));
        let first = &s.got[0];
        let kept = |seq: u64| {
            sim.publisher
                .sent
                .iter()
                .find(|p| p.layer == layer && p.seq == seq)
                .is_some_and(|p| p.tid.unwrap_or(0) <= max_tid)
        };
        // Lost on the way (first transmissions), after the subscriber started.
        let lost: BTreeSet<u64> = sim
            .lost
            .iter()
            .filter(|l| l.layer == layer && l.seq > first.tag.in_seq)
            .map(|l| l.seq)
            .collect();
        assert!(
            lost.len() >= 3,
            "sub {sub}: the seed loses packets: {lost:?}"
        );
        // First-hand packets: everything that arrived and passes the cap, nothing else.
        let in_order: BTreeMap<u64, u64> = s.in_order().map(|g| (g.tag.in_seq, g.seq)).collect();
        let arrived: BTreeSet<u64> = sim
            .arrived(layer, first.tag.in_seq, end)
            .into_iter()
            .filter(|&seq| kept(seq))
            .collect();
        assert_eq!(in_order.keys().copied().collect::<BTreeSet<_>>(), arrived);
        // Each packet (retransmissions included) sits right after the forwarded packet before it,
        // plus one hole per packet lost in between: a gap exactly where something was lost.
        for g in &s.got {
            let Some((&in_a, &out_a)) = in_order.range(..g.tag.in_seq).next_back() else {
                continue;
            };
            let holes = lost.range(in_a + 1..g.tag.in_seq).count() as u64;
            assert_eq!(
                g.seq,
                out_a + 1 + holes,
                "sub {sub}: {:?} after input {in_a} -> {out_a}",
                g.tag
            );
        }
        // Timestamps keep the source's, moved by one offset.
        let ts_of = |g: &Got| g.ts.wrapping_sub(g.tag.frame.wrapping_mul(FRAME_TICKS));
        assert!(s.got.iter().all(|g| ts_of(g) == ts_of(first)), "sub {sub}");
        if max_tid == 2 {
            // Without filtering, one offset maps everything, descriptor values included.
            let seq_offset = first.seq.wrapping_sub(first.tag.in_seq);
            let pid_offset = |g: &Got| {
                g.desc
                    .picture_id
                    .map(|p| p.wrapping_sub(g.tag.in_pid) & 0x7fff)
            };
            for g in &s.got {
                assert_eq!(
                    g.seq.wrapping_sub(g.tag.in_seq),
                    seq_offset,
                    "sub {sub}: {g:?}"
                );
                assert_eq!(pid_offset(g), pid_offset(first), "sub {sub}: {g:?}");
            }
            let out: BTreeSet<u64> = in_order.values().copied().collect();
            let (lo, hi) = (*out.first().unwrap(), *out.last().unwrap());
            let gaps: BTreeSet<u64> = (lo..=hi)
                .filter(|o| !out.contains(o))
                .map(|o| o.wrapping_sub(seq_offset))
                .collect();
            let lost_in_range: BTreeSet<u64> = lost
                .iter()
                .copied()
                .filter(|l| l.wrapping_add(seq_offset) <= hi)
                .collect();
            assert_eq!(gaps, lost_in_range, "sub {sub}");
        }
        // Retransmissions: each one that arrived and passes the cap was forwarded, late.
        let resent: BTreeSet<u64> = sim
            .lost
            .iter()
            .filter(|l| {
                l.layer == layer
                    && l.seq > first.tag.in_seq
                    && l.retransmitted_at.is_some_and(|t| t <= end)
                    && kept(l.seq)
            })
            .map(|l| l.seq)
            .collect();
        assert!(!resent.is_empty(), "sub {sub}");
        if max_tid < 2 {
            // The seed also loses packets the cap filters out, some of them retransmitted.
            let filtered_lost: Vec<&Lost> = sim
                .lost
                .iter()
                .filter(|l| l.layer == layer && lost.contains(&l.seq) && !kept(l.seq))
                .collect();
            assert!(
                filtered_lost.iter().any(|l| l.retransmitted_at.is_some())
                    && filtered_lost.iter().any(|l| l.retransmitted_at.is_none()),
                "{filtered_lost:?}"
            );
        }
        let late: BTreeSet<u64> = s
            .got
            .iter()
            .filter(|g| g.late)
            .map(|g| g.tag.in_seq)
            .collect();
        assert_eq!(late, resent, "sub {sub}");
    }
}

/// (4, continued) A stopped layer that comes back starts with a keyframe, and the room switches
/// its subscribers up on that very keyframe: asking the publisher for another one then only costs
/// a second, useless top-layer keyframe.
#[test]
fn returning_layer_is_not_asked_for_the_keyframe_it_just_sent() {
    let mut sim = Sim::new(
        SimPublisher::new(5).key_interval_secs(10),
        &[(2, SubscriptionCaps::default())],
    );
    sim.run_until(ms(3000));
    sim.publisher.set_active(F, false);
    sim.run_until(ms(5000));
    sim.publisher.set_active(F, true);
    sim.run_until(ms(6000));
    let s = sim.sub(2);
    s.assert_clean();
    let up = s.switches()[1];
    assert_eq!((up.from, up.to), (H, F));
    let key = sim.publisher.frame_record(F, up.frame).unwrap();
    assert_eq!(key.key, Some(KeyCause::Start));
    assert_eq!(
        sim.requests_for("f", ms(5000), ms(6000)),
        Vec::<&KeyRequest>::new(),
        "the switch back to f used f's own restart keyframe"
    );
    assert_eq!(
        sim.publisher
            .frames_of(F)
            .filter(|f| f.first_arrival_us > ms(5000) && f.key.is_some())
            .count(),
        1
    );
}
