//! Synthetic media: VP8 simulcast layers and Opus audio as pre-sized RTP payloads.
//!
//! Video payloads carry a valid VP8 payload descriptor (RFC 7741: X, I with a 15-bit
//! PictureID, L with TL0PICIDX, T with TID 0 and Y), and on the first packet of a frame a VP8
//! payload header whose P bit is 0 on keyframes (plus the start code and dimensions), so an SFU
//! detects keyframes and rewrites descriptors exactly as with a browser's stream. Audio payloads
//! start with an Opus TOC byte. Each payload then carries a [`Probe`] and filler.

use std::time::{Duration, Instant};

use crate::probe::{PROBE_LEN, Probe};

/// Largest RTP payload written (leaves room for headers, SRTP and extensions under 1200 bytes).
const MAX_PAYLOAD: usize = 1100;
/// A keyframe is this many times the size of a delta frame (browsers: 3-10x).
const KEYFRAME_FACTOR: usize = 4;
/// VP8 RTP clock rate.
const VIDEO_CLOCK: u32 = 90_000;
/// Opus packet interval (50 packets/s).
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
/// Opus RTP timestamp step for 20 ms at 48 kHz.
const AUDIO_TS_STEP: u32 = 960;
/// Opus TOC byte: config 31 (CELT fullband, 20 ms), mono, one frame.
const OPUS_TOC: u8 = 0xF8;

/// One simulcast layer to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// RID of the layer (`q`, `h`, `f`).
    pub rid: String,
    /// Width written into keyframes.
    pub width: u16,
    /// Height written into keyframes.
    pub height: u16,
    /// Target bitrate in bits/s.
    pub bitrate_bps: u64,
    /// Frames per second.
    pub fps: u32,
}

impl LayerSpec {
    /// Chrome's usual three layers for a 720p camera at the given bitrates (bits/s).
    pub fn simulcast(bitrates: [u64; 3], fps: u32) -> Vec<LayerSpec> {
        let dims = [("q", 320, 180), ("h", 640, 360), ("f", 1280, 720)];
        dims.iter()
            .zip(bitrates)
            .map(|((rid, width, height), bitrate_bps)| LayerSpec {
                rid: (*rid).to_owned(),
                width: *width,
                height: *height,
                bitrate_bps,
                fps,
            })
            .collect()
    }
}

/// One RTP packet to write: payload plus the header fields the writer needs.
#[derive(Debug, Clone)]
pub struct SynthPacket {
    /// Extended sequence number (the 16-bit wire value is its low bits).
    pub seq: u64,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Marker bit (last packet of a video frame; first packet of a talk spurt for audio).
    pub marker: bool,
    /// The payload.
    pub payload: Vec<u8>,
    /// Audio level (-dBov, 0..=127) for the audio level extension.
    pub audio_level: Option<i8>,
    /// Voice activity for the audio level extension.
    pub voice_activity: Option<bool>,
}

/// A generator of one VP8 simulcast layer's frames.
pub struct VideoLayerSource {
    spec: LayerSpec,
    stream: u32,
    seq: u64,
    timestamp: u32,
    picture_id: u16,
    tl0_pic_idx: u8,
    next_frame: Instant,
    frame_interval: Duration,
    frames_since_key: u32,
    keyframe_every: u32,
    keyframe_due: bool,
}

impl VideoLayerSource {
    /// A layer starting now with a keyframe, then one every `keyframe_interval`.
    pub fn new(spec: LayerSpec, stream: u32, keyframe_interval: Duration, now: Instant) -> Self {
        let fps = spec.fps.max(1);
        let frame_interval = Duration::from_secs(1) / fps;
        let keyframe_every = (keyframe_interval.as_secs_f64() * f64::from(fps)).round() as u32;
        VideoLayerSource {
            spec,
            stream,
            seq: u64::from(rand::random::<u16>()),
            timestamp: rand::random(),
            picture_id: rand::random::<u16>() & 0x7fff,
            tl0_pic_idx: rand::random(),
            next_frame: now,
            frame_interval,
            frames_since_key: 0,
            keyframe_every: keyframe_every.max(1),
            keyframe_due: true,
        }
    }

    /// Makes the next frame a keyframe (the answer to a PLI or FIR).
    pub fn request_keyframe(&mut self) {
        self.keyframe_due = true;
    }

    /// The packets of the frame due at `now`, if one is; frames missed by a late caller are
    /// skipped rather than sent in a burst.
    pub fn poll_frame(&mut self, now: Instant) -> Option<Vec<SynthPacket>> {
        if now < self.next_frame {
            return None;
        }
        let mut skipped = 0u32;
        while self.next_frame + self.frame_interval <= now && skipped < 1000 {
            self.next_frame += self.frame_interval;
            self.timestamp = self
                .timestamp
                .wrapping_add(VIDEO_CLOCK / self.spec.fps.max(1));
            skipped += 1;
        }
        self.next_frame += self.frame_interval;
        let keyframe = self.keyframe_due || self.frames_since_key + 1 >= self.keyframe_every;
        if keyframe {
            self.keyframe_due = false;
            self.frames_since_key = 0;
            self.tl0_pic_idx = self.tl0_pic_idx.wrapping_add(1);
        } else {
            self.frames_since_key += 1;
            // Every frame is TID 0 here, so TL0PICIDX advances with each frame.
            self.tl0_pic_idx = self.tl0_pic_idx.wrapping_add(1);
        }
        let delta_size = (self.spec.bitrate_bps / 8 / u64::from(self.spec.fps.max(1))) as usize;
        let size = if keyframe {
            delta_size * KEYFRAME_FACTOR
        } else {
            delta_size
        }
        .max(40);
        let count = size.div_ceil(MAX_PAYLOAD);
        let per_packet = size / count;
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let payload = self.build_payload(i == 0, keyframe, per_packet, now);
            out.push(SynthPacket {
                seq: self.seq,
                timestamp: self.timestamp,
                marker: i + 1 == count,
                payload,
                audio_level: None,
                voice_activity: None,
            });
            self.seq += 1;
        }
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        self.timestamp = self
            .timestamp
            .wrapping_add(VIDEO_CLOCK / self.spec.fps.max(1));
        Some(out)
    }

    fn build_payload(&self, first: bool, keyframe: bool, size: usize, now: Instant) -> Vec<u8> {
        let mut p = Vec::with_capacity(size.max(32));
        // X=1, N=0, S=first, PID=0.
        p.push(0x80 | if first { 0x10 } else { 0x00 });
        // I=1, L=1, T=1, K=0.
        p.push(0xe0);
        p.push(0x80 | (self.picture_id >> 8) as u8);
        p.push((self.picture_id & 0xff) as u8);
        p.push(self.tl0_pic_idx);
        // TID=0, Y=1, KEYIDX=0.
        p.push(0x20);
        if first {
            // Size0=0, show_frame=1, version 0, P=0 on keyframes.
            p.extend_from_slice(&[0x10 | u8::from(!keyframe), 0x10, 0x00]);
            if keyframe {
                p.extend_from_slice(&[0x9d, 0x01, 0x2a]);
                p.extend_from_slice(&(self.spec.width & 0x3fff).to_le_bytes());
                p.extend_from_slice(&(self.spec.height & 0x3fff).to_le_bytes());
            }
        }
        let at = p.len();
        p.resize(at + PROBE_LEN, 0);
        Probe::now(self.stream, now).write(&mut p[at..]);
        p.resize(size.max(p.len()), 0x5a);
        p
    }
}

/// A generator of Opus packets at 50 packets/s with audio levels.
pub struct AudioSource {
    stream: u32,
    seq: u64,
    timestamp: u32,
    next_packet: Instant,
    payload_size: usize,
    started: Instant,
    /// Offset of this speaker's talk slot, so speakers take turns.
    phase: Duration,
    was_speaking: bool,
}

/// The cycle in which each audio source talks for [`TALK_TIME`].
const TALK_CYCLE: Duration = Duration::from_secs(12);
/// How long a source talks per cycle.
const TALK_TIME: Duration = Duration::from_secs(3);

impl AudioSource {
    /// An audio source at `bitrate_bps` (payload size follows), talking in turns by `stream`.
    pub fn new(stream: u32, bitrate_bps: u64, now: Instant) -> Self {
        let payload_size = ((bitrate_bps / 8 / 50) as usize).clamp(PROBE_LEN + 1, MAX_PAYLOAD);
        AudioSource {
            stream,
            seq: u64::from(rand::random::<u16>()),
            timestamp: rand::random(),
            next_packet: now,
            payload_size,
            started: now,
            phase: Duration::from_secs(u64::from(stream % 4) * 3),
            was_speaking: false,
        }
    }

    /// The packet due at `now`, if one is (missed packets are skipped, not burst).
    pub fn poll_packet(&mut self, now: Instant) -> Option<SynthPacket> {
        if now < self.next_packet {
            return None;
        }
        let mut skipped = 0u32;
        while self.next_packet + AUDIO_INTERVAL <= now && skipped < 1000 {
            self.next_packet += AUDIO_INTERVAL;
            self.timestamp = self.timestamp.wrapping_add(AUDIO_TS_STEP);
            skipped += 1;
        }
        self.next_packet += AUDIO_INTERVAL;
        let in_cycle = (now.saturating_duration_since(self.started) + self.phase).as_millis()
            % TALK_CYCLE.as_millis();
        let speaking = in_cycle < TALK_TIME.as_millis();
        // Levels in -dBov: loud speech around 25, background noise around 90.
        let level: i8 = if speaking {
            20 + (self.seq % 10) as i8
        } else {
            90
        };
        let mut payload = Vec::with_capacity(self.payload_size);
        payload.push(OPUS_TOC);
        payload.resize(1 + PROBE_LEN, 0);
        Probe::now(self.stream, now).write(&mut payload[1..]);
        payload.resize(self.payload_size, 0x33);
        let packet = SynthPacket {
            seq: self.seq,
            timestamp: self.timestamp,
            marker: speaking && !self.was_speaking,
            payload,
            audio_level: Some(level),
            voice_activity: Some(speaking),
        };
        self.was_speaking = speaking;
        self.seq += 1;
        self.timestamp = self.timestamp.wrapping_add(AUDIO_TS_STEP);
        Some(packet)
    }
}

/// Whether a VP8 payload is the first packet of a keyframe (S=1, PID=0, P=0).
#[cfg(test)]
fn is_vp8_keyframe(payload: &[u8]) -> bool {
    let Some(&b0) = payload.first() else {
        return false;
    };
    if b0 & 0x10 == 0 || b0 & 0x07 != 0 {
        return false;
    }
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let Some(&x) = payload.get(1) else {
            return false;
        };
        i += 1;
        if x & 0x80 != 0 {
            let long = payload.get(i).is_some_and(|b| b & 0x80 != 0);
            i += if long { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    payload.get(i).is_some_and(|h| h & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(bitrate_bps: u64) -> LayerSpec {
        LayerSpec {
            rid: "f".into(),
            width: 1280,
            height: 720,
            bitrate_bps,
            fps: 30,
        }
    }

    #[test]
    fn a_layer_sends_its_bitrate_with_a_keyframe_first_and_at_the_interval() {
        let start = Instant::now();
        let mut src = VideoLayerSource::new(layer(1_500_000), 1, Duration::from_secs(2), start);
        let mut bytes = 0usize;
        let mut keyframes = Vec::new();
        let mut frame = 0;
        for ms in 0..10_000u64 {
            let now = start + Duration::from_millis(ms);
            if let Some(packets) = src.poll_frame(now) {
                assert!(packets.last().unwrap().marker);
                assert!(packets.iter().all(|p| Probe::find(&p.payload).is_some()));
                if is_vp8_keyframe(&packets[0].payload) {
                    keyframes.push(frame);
                }
                bytes += packets.iter().map(|p| p.payload.len()).sum::<usize>();
                frame += 1;
            }
        }
        assert_eq!(frame, 300);
        assert_eq!(keyframes, vec![0, 60, 120, 180, 240]);
        let bps = bytes as f64 * 8.0 / 10.0;
        assert!((1_500_000.0..2_200_000.0).contains(&bps), "{bps}");
    }

    #[test]
    fn a_keyframe_request_makes_the_next_frame_a_keyframe() {
        let start = Instant::now();
        let mut src = VideoLayerSource::new(layer(150_000), 1, Duration::from_secs(60), start);
        assert!(is_vp8_keyframe(&src.poll_frame(start).unwrap()[0].payload));
        let t1 = start + Duration::from_millis(34);
        assert!(!is_vp8_keyframe(&src.poll_frame(t1).unwrap()[0].payload));
        src.request_keyframe();
        let t2 = start + Duration::from_millis(67);
        assert!(is_vp8_keyframe(&src.poll_frame(t2).unwrap()[0].payload));
    }

    #[test]
    fn audio_sends_fifty_packets_a_second_with_levels() {
        let start = Instant::now();
        let mut src = AudioSource::new(0, 32_000, start);
        let mut n = 0;
        for ms in 0..1000u64 {
            if let Some(p) = src.poll_packet(start + Duration::from_millis(ms)) {
                assert!(p.audio_level.is_some());
                assert_eq!(Probe::read_at(&p.payload, 1).map(|p| p.stream), Some(0));
                n += 1;
            }
        }
        assert_eq!(n, 50);
    }
}
