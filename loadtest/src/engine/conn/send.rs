//! What a connection publishes: sendonly transceivers for Opus and VP8 (RID simulcast), the
//! synthetic sources behind them, and writing their packets with the negotiated payload types
//! and header extensions.

use std::time::Instant;

use bytes::Bytes;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnection;
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{
    RTCRtpTransceiverDirection, RTCRtpTransceiverId, RTCRtpTransceiverInit,
};
use rtc::sdp::extmap::{AUDIO_LEVEL_URI, SDES_MID_URI, SDES_RTP_STREAM_ID_URI};

use super::PublishSpec;
use super::stack::{opus, vp8};
use crate::engine::stats::Counters;
use crate::media::{AudioSource, SynthPacket, VideoLayerSource};

/// Negotiated values a sender needs to write packets (read again after every negotiation).
#[derive(Debug, Clone, Default)]
struct SendParams {
    payload_type: u8,
    mid: Bytes,
    mid_ext: Option<u8>,
    rid_ext: Option<u8>,
    audio_level_ext: Option<u8>,
}

/// One sendonly transceiver and what it sends.
struct Outbound {
    transceiver: RTCRtpTransceiverId,
    /// SSRC and RID of each encoding (one without RID when not simulcast).
    encodings: Vec<(u32, Option<Bytes>)>,
    params: Option<SendParams>,
}

impl Outbound {
    /// Adds a sendonly transceiver with one encoding per `rids` entry (`None`: no simulcast).
    fn add(
        pc: &mut RTCPeerConnection,
        kind: RtpCodecKind,
        codec: RTCRtpCodec,
        stream_id: &str,
        rids: &[Option<String>],
    ) -> anyhow::Result<Outbound> {
        let encodings: Vec<(u32, Option<Bytes>)> = rids
            .iter()
            .map(|rid| (rand::random::<u32>(), rid.clone().map(Bytes::from)))
            .collect();
        let codings = rids
            .iter()
            .zip(&encodings)
            .map(|(rid, (ssrc, _))| RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    rid: rid.clone().unwrap_or_default(),
                    ssrc: Some(*ssrc),
                    ..Default::default()
                },
                codec: codec.clone(),
                ..Default::default()
            })
            .collect();
        let track = MediaStreamTrack::new(
            stream_id.to_owned(),
            format!("{stream_id}-{kind}"),
            format!("{stream_id}-{kind}"),
            kind,
            codings,
        );
        // Sendonly from a track: such a transceiver never takes a server m-line (rtc matches a
        // server's sendonly m-line to a local recvonly one), unlike `add_track`'s sendrecv.
        let transceiver = pc.add_transceiver_from_track(
            track,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                streams: vec![stream_id.to_owned()],
                send_encodings: vec![],
            }),
        )?;
        Ok(Outbound {
            transceiver,
            encodings,
            params: None,
        })
    }

    /// Reads the negotiated payload type, mid and extension ids; None before negotiation.
    fn refresh(&mut self, pc: &mut RTCPeerConnection, mime: &str) {
        let Some(mid) = pc
            .rtp_transceiver(self.transceiver)
            .and_then(|t| t.mid().clone())
        else {
            return;
        };
        let Some(mut sender) = pc.rtp_sender(self.transceiver.into()) else {
            return;
        };
        let parameters = &sender.get_parameters().rtp_parameters;
        let Some(payload_type) = parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
            .map(|c| c.payload_type)
        else {
            return;
        };
        let mut params = SendParams {
            payload_type,
            mid: Bytes::from(mid),
            ..Default::default()
        };
        for e in &parameters.header_extensions {
            let id = u8::try_from(e.id).ok();
            match e.uri.as_str() {
                SDES_MID_URI => params.mid_ext = id,
                SDES_RTP_STREAM_ID_URI => params.rid_ext = id,
                AUDIO_LEVEL_URI => params.audio_level_ext = id,
                _ => {}
            }
        }
        self.params = Some(params);
    }

    /// Writes `packet` on encoding `index`; false when it could not be written.
    fn write(
        &self,
        pc: &mut RTCPeerConnection,
        index: usize,
        packet: SynthPacket,
        now: Instant,
    ) -> bool {
        let (Some(params), Some((ssrc, rid))) = (&self.params, self.encodings.get(index)) else {
            return false;
        };
        let mut header = Header {
            version: 2,
            marker: packet.marker,
            payload_type: params.payload_type,
            // The sources count in extended sequence numbers; the wire carries the low 16 bits.
            sequence_number: packet.seq as u16,
            timestamp: packet.timestamp,
            ssrc: *ssrc,
            ..Default::default()
        };
        // MID and RID on every packet, as the server learns a RID layer's SSRC from them.
        if let Some(id) = params.mid_ext {
            let _ = header.set_extension(id, params.mid.clone());
        }
        if let (Some(id), Some(rid)) = (params.rid_ext, rid) {
            let _ = header.set_extension(id, rid.clone());
        }
        if let (Some(id), Some(level)) = (params.audio_level_ext, packet.audio_level) {
            // RFC 6464: V bit, then the level in -dBov.
            let v = if packet.voice_activity == Some(true) {
                0x80
            } else {
                0
            };
            let _ = header.set_extension(
                id,
                Bytes::copy_from_slice(&[v | level.unsigned_abs().min(127)]),
            );
        }
        let Some(mut sender) = pc.rtp_sender(self.transceiver.into()) else {
            return false;
        };
        sender
            .write_rtp(
                now,
                Packet {
                    header,
                    payload: Bytes::from(packet.payload),
                },
            )
            .is_ok()
    }
}

/// Everything one connection publishes.
pub struct Publisher {
    spec: PublishSpec,
    stream_base: u32,
    audio: Option<Outbound>,
    video: Option<Outbound>,
    audio_source: Option<AudioSource>,
    video_sources: Vec<VideoLayerSource>,
}

impl Publisher {
    /// Adds the sendonly transceivers `spec` asks for (before any offer or answer, so a server
    /// offer crossing ours never takes them).
    pub fn new(
        pc: &mut RTCPeerConnection,
        spec: PublishSpec,
        stream_base: u32,
    ) -> anyhow::Result<Publisher> {
        let stream_id = format!("lt-{stream_base}");
        let audio = match spec.audio_bps {
            Some(_) => Some(Outbound::add(
                pc,
                RtpCodecKind::Audio,
                opus(),
                &stream_id,
                &[None],
            )?),
            None => None,
        };
        let video = if spec.video.is_empty() {
            None
        } else {
            let rids: Vec<Option<String>> = if spec.video.len() > 1 {
                spec.video.iter().map(|l| Some(l.rid.clone())).collect()
            } else {
                vec![None]
            };
            Some(Outbound::add(
                pc,
                RtpCodecKind::Video,
                vp8(),
                &stream_id,
                &rids,
            )?)
        };
        Ok(Publisher {
            spec,
            stream_base,
            audio,
            video,
            audio_source: None,
            video_sources: Vec::new(),
        })
    }

    /// Whether anything is published.
    pub fn is_empty(&self) -> bool {
        self.audio.is_none() && self.video.is_none()
    }

    /// Reads the negotiated parameters again and starts the sources on the first negotiation.
    pub fn on_negotiated(&mut self, pc: &mut RTCPeerConnection, now: Instant) {
        if let Some(a) = &mut self.audio {
            a.refresh(pc, "audio/opus");
        }
        if let Some(v) = &mut self.video {
            v.refresh(pc, "video/vp8");
        }
        if let (Some(bps), None) = (self.spec.audio_bps, &self.audio_source) {
            self.audio_source = Some(AudioSource::new(self.stream_base, bps, now));
        }
        if self.video_sources.is_empty() {
            self.video_sources = self
                .spec
                .video
                .iter()
                .enumerate()
                .map(|(i, spec)| {
                    VideoLayerSource::new(
                        spec.clone(),
                        self.stream_base + 1 + i as u32,
                        self.spec.keyframe_interval,
                        now,
                    )
                })
                .collect();
        }
    }

    /// Makes the next frame of the layer sent on `ssrc` a keyframe (a PLI or FIR named it).
    pub fn request_keyframe(&mut self, ssrc: u32) {
        let Some(video) = &self.video else {
            return;
        };
        if let Some(i) = video.encodings.iter().position(|(s, _)| *s == ssrc)
            && let Some(layer) = self.video_sources.get_mut(i)
        {
            layer.request_keyframe();
        }
    }

    /// Writes the media due at `now`; true when anything was written.
    pub fn send_due(
        &mut self,
        pc: &mut RTCPeerConnection,
        now: Instant,
        counters: &mut Counters,
    ) -> bool {
        let mut wrote = false;
        if let (Some(out), Some(source)) = (&self.audio, &mut self.audio_source)
            && let Some(packet) = source.poll_packet(now)
        {
            wrote |= count_write(out, pc, 0, packet, now, counters);
        }
        if let Some(out) = &self.video {
            for (i, layer) in self.video_sources.iter_mut().enumerate() {
                let Some(frame) = layer.poll_frame(now) else {
                    continue;
                };
                for packet in frame {
                    wrote |= count_write(out, pc, i, packet, now, counters);
                }
            }
        }
        wrote
    }
}

fn count_write(
    out: &Outbound,
    pc: &mut RTCPeerConnection,
    index: usize,
    packet: SynthPacket,
    now: Instant,
    counters: &mut Counters,
) -> bool {
    let bytes = packet.payload.len() as u64;
    if out.write(pc, index, packet, now) {
        counters.media_packets_out += 1;
        counters.media_bytes_out += bytes;
        true
    } else {
        false
    }
}
