//! The WebRTC stack of one simulated participant: a webrtc-rs `rtc` (sans-IO) peer connection
//! configured like a browser's, so the server is exercised by an implementation other than its
//! own (str0m).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Registry, Slot};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_twcc,
};
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::transport::{RTCDtlsRole, RTCIceCandidateInit};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sdp::extmap::{AUDIO_LEVEL_URI, SDES_MID_URI, SDES_RTP_STREAM_ID_URI};

use super::feedback::{FeedbackInterceptor, FeedbackLog};

/// Payload type of Opus (Chrome's).
const OPUS_PT: u8 = 111;
/// Payload type of VP8 (Chrome's).
const VP8_PT: u8 = 96;
/// Resends per missing packet: a browser gives up on a packet after a few NACKs, and an
/// unbounded generator floods a loaded server with NACKs for packets long gone.
const MAX_NACKS_PER_PACKET: u16 = 3;
/// Packets kept per sent stream for retransmission (about 3 s of the 1.5 Mbit/s layer).
const NACK_SEND_BUFFER: u16 = 512;
/// Position of [`FeedbackInterceptor`]: wire-most (below the NACK responder at 4000), so it sees
/// every RTCP packet both ways.
const FEEDBACK_SLOT: usize = 500;
/// Pace of the client's ICE connectivity checks.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Opus as Chrome offers it.
pub fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// VP8 (no RTX: RTX is not negotiated with RID simulcast, see ARCHITECTURE.md).
pub fn vp8() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

fn media_engine() -> rtc::shared::error::Result<MediaEngine> {
    let mut me = MediaEngine::default();
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus(),
            payload_type: OPUS_PT,
        },
        RtpCodecKind::Audio,
    )?;
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8(),
            payload_type: VP8_PT,
        },
        RtpCodecKind::Video,
    )?;
    for (typ, parameter) in [("nack", ""), ("nack", "pli"), ("ccm", "fir")] {
        me.register_feedback(
            RTCPFeedback {
                typ: typ.to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    let extensions = [
        (SDES_MID_URI, RtpCodecKind::Audio),
        (AUDIO_LEVEL_URI, RtpCodecKind::Audio),
        (SDES_MID_URI, RtpCodecKind::Video),
        (SDES_RTP_STREAM_ID_URI, RtpCodecKind::Video),
    ];
    for (uri, kind) in extensions {
        me.register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: uri.to_owned(),
            },
            kind,
            None,
        )?;
    }
    Ok(me)
}

/// A peer connection with one host candidate on `local`, recording RTCP feedback into `log`.
///
/// Like a browser: Opus and VP8 with NACK/PLI/FIR feedback, transport-wide sequence numbers on
/// what it sends and TWCC feedback on what it receives, a bounded NACK generator, a NACK
/// responder, sender and receiver reports.
pub fn build(
    local: SocketAddr,
    log: FeedbackLog,
    now: Instant,
) -> anyhow::Result<RTCPeerConnection> {
    let mut me = media_engine()?;
    let registry = Registry::new()
        .with(
            Slot::NackResponder,
            NackResponderBuilder::new()
                .with_size(NACK_SEND_BUFFER)
                .build(),
        )
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new()
                .with_max_nacks_per_packet(MAX_NACKS_PER_PACKET)
                .build(),
        )
        .with(Slot::from(FEEDBACK_SLOT), FeedbackInterceptor::new(log));
    let registry = configure_twcc(registry, &mut me)?;
    let registry = configure_rtcp_reports(registry);
    // Our server (str0m, ICE-lite) answers our first offer `a=setup:passive`, making us the DTLS
    // client; a subscriber that answers first takes the same role. rtc answers re-offers with
    // this configured role, not the one held (see `negotiate`).
    let settings = SettingEngineBuilder::new()
        .with_answering_dtls_role(RTCDtlsRole::Client)
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        // Checks 50 ms apart, as browsers pace them (rtc's default of 200 ms put about 400 ms
        // of client-side waiting into every join time).
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), None)
        .build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(me)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .build(now)?;
    pc.add_local_candidate(RTCIceCandidateInit {
        candidate: format!(
            "candidate:1 1 udp 2130706431 {} {} typ host",
            local.ip(),
            local.port()
        ),
        ..Default::default()
    })?;
    // One socket, one candidate: gathering is complete.
    pc.add_local_candidate(RTCIceCandidateInit::default())?;
    Ok(pc)
}
