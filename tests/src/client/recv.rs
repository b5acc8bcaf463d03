//! Remote tracks: everything received on each, recorded for the tests to inspect.

use bytes::Bytes;
use rtc::rtcp::payload_feedbacks::full_intra_request::{FirEntry, FullIntraRequest};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::media::MediaKind;
use crate::util::lock;
use crate::vp8::{self, PayloadTag};

/// One RTP packet read from a remote track.
#[derive(Debug, Clone)]
pub struct ReceivedPacket {
    /// SSRC.
    pub ssrc: u32,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Payload bytes.
    pub payload: Bytes,
    /// Arrival time at the application.
    pub at: Instant,
}

impl ReceivedPacket {
    /// The tag embedded by the sending test client, if any.
    pub fn tag(&self) -> Option<PayloadTag> {
        PayloadTag::find(&self.payload)
    }

    /// Whether this is the first packet of a VP8 keyframe.
    pub fn is_vp8_keyframe(&self) -> bool {
        vp8::is_keyframe(&self.payload)
    }
}

#[derive(Default)]
struct State {
    packets: Vec<ReceivedPacket>,
    ssrcs: Vec<u32>,
    rids: Vec<Option<String>>,
    ended: bool,
    muted_events: u64,
    unmuted_events: u64,
    /// The last [`RECENT`] recorded packets by (SSRC, sequence number), to spot copies.
    recent: HashMap<(u32, u16), Bytes>,
    recent_order: VecDeque<(u32, u16)>,
}

/// How many recent packets are remembered to recognise retransmitted copies.
const RECENT: usize = 2048;

impl State {
    /// Whether `p` repeats a recently recorded packet byte for byte (a retransmission, or a
    /// bandwidth probe made of resent packets: a receiver's jitter buffer drops it, and it is
    /// not recorded). A packet reusing a sequence number with other content is recorded, so
    /// tests see it.
    fn is_repeat(&mut self, ssrc: u32, seq: u16, payload: &Bytes) -> bool {
        if self.recent.get(&(ssrc, seq)) == Some(payload) {
            return true;
        }
        if self.recent.insert((ssrc, seq), payload.clone()).is_none() {
            self.recent_order.push_back((ssrc, seq));
        }
        if self.recent_order.len() > RECENT
            && let Some(old) = self.recent_order.pop_front()
        {
            self.recent.remove(&old);
        }
        false
    }
}

/// A track received from the remote side (for the SFU: one forwarded track).
pub struct RemoteTrack {
    /// The `a=msid` stream id (the publisher's participant id).
    pub stream_id: String,
    /// The `a=msid` track id (the server's track id).
    pub track_id: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// When `on_track` fired.
    pub opened_at: Instant,
    track: Arc<dyn TrackRemote>,
    state: Mutex<State>,
    fir_seq: AtomicU8,
}

/// Upper bound on packets kept per remote track.
const MAX_RECORDED_PACKETS: usize = 500_000;

impl RemoteTrack {
    pub(crate) async fn new(track: Arc<dyn TrackRemote>) -> Arc<RemoteTrack> {
        let kind = match track.kind().await {
            rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Audio => MediaKind::Audio,
            _ => MediaKind::Video,
        };
        Arc::new(RemoteTrack {
            stream_id: track.stream_id().await,
            track_id: track.track_id().await,
            kind,
            opened_at: Instant::now(),
            track,
            state: Mutex::new(State::default()),
            fir_seq: AtomicU8::new(0),
        })
    }

    /// Reads the track until it ends, recording every event.
    pub(crate) async fn read_loop(self: Arc<Self>) {
        while let Some(ev) = self.track.poll().await {
            match ev {
                TrackRemoteEvent::OnOpen(init) => {
                    let mut s = lock(&self.state);
                    if !s.ssrcs.contains(&init.ssrc) {
                        s.ssrcs.push(init.ssrc);
                        s.rids.push(init.rid.clone());
                    }
                }
                TrackRemoteEvent::OnRtpPacket(p) => {
                    // Padding-only packets (the sender's bandwidth probes) carry no media:
                    // receivers drop them before the jitter buffer, and so does this record.
                    if p.payload.is_empty() {
                        continue;
                    }
                    let rp = ReceivedPacket {
                        ssrc: p.header.ssrc,
                        seq: p.header.sequence_number,
                        timestamp: p.header.timestamp,
                        marker: p.header.marker,
                        payload_type: p.header.payload_type,
                        payload: p.payload,
                        at: Instant::now(),
                    };
                    let mut s = lock(&self.state);
                    if s.is_repeat(rp.ssrc, rp.seq, &rp.payload) {
                        continue;
                    }
                    if s.packets.len() < MAX_RECORDED_PACKETS {
                        s.packets.push(rp);
                    }
                }
                TrackRemoteEvent::OnMute => lock(&self.state).muted_events += 1,
                TrackRemoteEvent::OnUnmute => lock(&self.state).unmuted_events += 1,
                TrackRemoteEvent::OnEnded => break,
                _ => {}
            }
        }
        lock(&self.state).ended = true;
    }

    /// Every packet received so far, in arrival order.
    pub fn packets(&self) -> Vec<ReceivedPacket> {
        lock(&self.state).packets.clone()
    }

    /// Number of packets received so far.
    pub fn packet_count(&self) -> usize {
        lock(&self.state).packets.len()
    }

    /// Packets received at or after `since`.
    pub fn packets_since(&self, since: Instant) -> Vec<ReceivedPacket> {
        lock(&self.state)
            .packets
            .iter()
            .filter(|p| p.at >= since)
            .cloned()
            .collect()
    }

    /// Whether the track ended (`OnEnded`, e.g. after the m-line was removed).
    pub fn ended(&self) -> bool {
        lock(&self.state).ended
    }

    /// SSRCs announced by `OnOpen`.
    pub fn ssrcs(&self) -> Vec<u32> {
        lock(&self.state).ssrcs.clone()
    }

    /// Distinct SSRCs seen in packets.
    pub fn packet_ssrcs(&self) -> BTreeSet<u32> {
        lock(&self.state).packets.iter().map(|p| p.ssrc).collect()
    }

    /// The SSRC to address feedback to (the latest one seen).
    pub fn media_ssrc(&self) -> Option<u32> {
        let s = lock(&self.state);
        s.packets
            .last()
            .map(|p| p.ssrc)
            .or_else(|| s.ssrcs.last().copied())
    }

    /// Whether the first packet received is the first packet of a VP8 keyframe.
    pub fn first_packet_is_keyframe(&self) -> Option<bool> {
        lock(&self.state)
            .packets
            .first()
            .map(|p| vp8::is_keyframe(&p.payload))
    }

    /// Number of VP8 keyframes received.
    pub fn keyframes(&self) -> usize {
        lock(&self.state)
            .packets
            .iter()
            .filter(|p| vp8::is_keyframe(&p.payload))
            .count()
    }

    /// `(gaps, duplicates)`: sequence numbers missing between the lowest and highest received
    /// (after unwrapping), and packets received more than once. Reordering is not a gap.
    pub fn seq_continuity(&self) -> (u64, u64) {
        seq_continuity(&lock(&self.state).packets)
    }

    /// Sends a PLI for this track's media SSRC.
    pub async fn send_pli(&self) -> anyhow::Result<()> {
        let ssrc = self
            .media_ssrc()
            .ok_or_else(|| anyhow::anyhow!("no SSRC known yet"))?;
        self.track
            .write_rtcp(vec![Box::new(PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            })])
            .await?;
        Ok(())
    }

    /// Sends a PLI for a specific SSRC of this track (e.g. one simulcast layer).
    pub async fn send_pli_for(&self, ssrc: u32) -> anyhow::Result<()> {
        self.track
            .write_rtcp(vec![Box::new(PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            })])
            .await?;
        Ok(())
    }

    /// Packets received on one SSRC.
    pub fn packets_of_ssrc(&self, ssrc: u32) -> Vec<ReceivedPacket> {
        lock(&self.state)
            .packets
            .iter()
            .filter(|p| p.ssrc == ssrc)
            .cloned()
            .collect()
    }

    /// RIDs announced by `OnOpen`, parallel to [`Self::ssrcs`].
    pub fn rids(&self) -> Vec<Option<String>> {
        lock(&self.state).rids.clone()
    }

    /// Sends a FIR for this track's media SSRC.
    pub async fn send_fir(&self) -> anyhow::Result<()> {
        let ssrc = self
            .media_ssrc()
            .ok_or_else(|| anyhow::anyhow!("no SSRC known yet"))?;
        let n = self.fir_seq.fetch_add(1, Ordering::Relaxed);
        self.track
            .write_rtcp(vec![Box::new(FullIntraRequest {
                sender_ssrc: 0,
                media_ssrc: ssrc,
                fir: vec![FirEntry {
                    ssrc,
                    sequence_number: n,
                }],
            })])
            .await?;
        Ok(())
    }

    /// The underlying webrtc track.
    pub fn webrtc_track(&self) -> &Arc<dyn TrackRemote> {
        &self.track
    }
}

/// `(gaps, duplicates)` over packets in arrival order; see [`RemoteTrack::seq_continuity`].
pub fn seq_continuity(packets: &[ReceivedPacket]) -> (u64, u64) {
    let mut it = packets.iter();
    let Some(first) = it.next() else {
        return (0, 0);
    };
    let mut last_seq = first.seq;
    let mut last_ext: i64 = 0;
    let mut seen = BTreeSet::new();
    seen.insert(0i64);
    let mut dups = 0u64;
    for p in it {
        let delta = p.seq.wrapping_sub(last_seq) as i16 as i64;
        let ext = last_ext + delta;
        if !seen.insert(ext) {
            dups += 1;
        }
        if delta > 0 {
            last_seq = p.seq;
            last_ext = ext;
        }
    }
    let min = *seen.first().unwrap_or(&0);
    let max = *seen.last().unwrap_or(&0);
    let gaps = (max - min + 1) as u64 - seen.len() as u64;
    (gaps, dups)
}
