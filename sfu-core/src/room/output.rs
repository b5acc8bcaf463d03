//! What the room asks its driver to do.

use std::sync::Arc;

use crate::ids::{ForwardId, ParticipantId, TrackId};
use crate::room::types::{MediaKind, ParticipantInfo, TrackInfo};
use crate::rtp::MediaPacket;
use crate::vp8_munger::Vp8Rewrite;

/// Picture Loss Indication or Full Intra Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyframeKind {
    /// RFC 4585 PLI.
    Pli,
    /// RFC 5104 FIR.
    Fir,
}

/// Why a packet was not forwarded to a subscriber; counted, never logged per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The subscriber's m-line for the track is not negotiated yet.
    NotNegotiated,
    /// The packet is from a layer the subscriber is not receiving.
    OtherLayer,
    /// Waiting for a keyframe before starting or switching.
    AwaitingKeyframe,
    /// The track is muted.
    Muted,
    /// The subscriber paused the track.
    Paused,
    /// The subscriber's leg did not negotiate the publisher's payload type.
    UnsupportedPayloadType,
    /// The packet precedes the current switch point (late or reordered from before a switch).
    BeforeSwitch,
    /// A VP8 temporal layer above the subscriber's cap.
    TemporalLayer,
    /// The packet's track or participant is unknown (raced with a leave).
    UnknownSource,
    /// Paused because even the lowest layer does not fit the subscriber's bandwidth.
    Bandwidth,
}

impl DropReason {
    /// All reasons, for metric registration.
    pub const ALL: [DropReason; 10] = [
        DropReason::NotNegotiated,
        DropReason::OtherLayer,
        DropReason::AwaitingKeyframe,
        DropReason::Muted,
        DropReason::Paused,
        DropReason::UnsupportedPayloadType,
        DropReason::BeforeSwitch,
        DropReason::TemporalLayer,
        DropReason::UnknownSource,
        DropReason::Bandwidth,
    ];

    /// A stable snake_case label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotNegotiated => "not_negotiated",
            DropReason::OtherLayer => "other_layer",
            DropReason::AwaitingKeyframe => "awaiting_keyframe",
            DropReason::Muted => "muted",
            DropReason::Paused => "paused",
            DropReason::UnsupportedPayloadType => "unsupported_payload_type",
            DropReason::BeforeSwitch => "before_switch",
            DropReason::TemporalLayer => "temporal_layer",
            DropReason::UnknownSource => "unknown_source",
            DropReason::Bandwidth => "bandwidth",
        }
    }
}

/// A signalling event for one participant.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomEvent {
    /// Someone joined.
    ParticipantJoined(ParticipantInfo),
    /// Someone left.
    ParticipantLeft(ParticipantId),
    /// A track was published.
    TrackPublished(TrackInfo),
    /// A track was unpublished.
    TrackUnpublished(TrackId),
    /// A track was muted or unmuted.
    TrackMuted {
        /// The track.
        track: TrackId,
        /// The new state.
        muted: bool,
    },
    /// The loudest participants changed: loudest first, level 0.0..=1.0.
    ActiveSpeakers(Vec<(ParticipantId, f32)>),
    /// The layer or paused state of a subscribed track changed.
    Subscription {
        /// The track.
        track: TrackId,
        /// The RID now sent (None for a single-layer track or when nothing is sent).
        layer: Option<String>,
        /// Whether nothing is sent.
        paused: bool,
        /// Why it is paused, when it is.
        reason: Option<&'static str>,
    },
}

/// An instruction for the driver, drained with [`crate::Room::poll_output`].
#[derive(Debug, Clone)]
pub enum Output {
    /// Send this (already rewritten) packet on the subscriber's down track for `track`.
    SendRtp {
        /// The subscriber.
        to: ParticipantId,
        /// The published track it belongs to (the driver maps it to the subscriber's m-line).
        track: TrackId,
        /// The packet with subscriber-side sequence number, timestamp and payload type.
        packet: MediaPacket,
        /// VP8 descriptor fields to rewrite (PictureID, TL0PICIDX, KEYIDX), when any change.
        vp8: Option<Vp8Rewrite>,
    },
    /// Send this (already rewritten) packet to a forward's plain RTP destination.
    SendForward {
        /// The forward.
        forward: ForwardId,
        /// The forwarded track.
        track: TrackId,
        /// The packet with the forward's sequence number, timestamp and payload type.
        packet: MediaPacket,
        /// VP8 descriptor fields to rewrite, when any change.
        vp8: Option<Vp8Rewrite>,
    },
    /// A forward ended because its track was unpublished; the driver closes it.
    ForwardEnded {
        /// The forward.
        forward: ForwardId,
        /// The track that ended.
        track: TrackId,
    },
    /// Ask a publisher for a keyframe.
    RequestKeyframe {
        /// The publisher.
        publisher: ParticipantId,
        /// The track.
        track: TrackId,
        /// The layer's RID for simulcast tracks.
        rid: Option<String>,
        /// PLI or FIR.
        kind: KeyframeKind,
    },
    /// Add a send-only m-line for `track` to the subscriber's connection (renegotiation).
    AddDownTrack {
        /// The subscriber.
        to: ParticipantId,
        /// The published track.
        track: TrackId,
        /// Its publisher (the `msid` stream id).
        publisher: ParticipantId,
        /// Its kind.
        kind: MediaKind,
    },
    /// Remove the subscriber's m-line for `track` (renegotiation).
    RemoveDownTrack {
        /// The subscriber.
        to: ParticipantId,
        /// The published track.
        track: TrackId,
    },
    /// Deliver a signalling event.
    Event {
        /// The recipient.
        to: ParticipantId,
        /// The event.
        event: RoomEvent,
    },
    /// Set the subscriber's transport bitrates: keep at least `minimum` flowing (padding when
    /// media sends less, so the estimate can prove a held-back upgrade) and probe toward
    /// `desired` (what every subscribed track at its best allowed layer needs).
    SetBitrate {
        /// The subscriber.
        to: ParticipantId,
        /// Bits per second to sustain.
        minimum: u64,
        /// Bits per second to probe toward.
        desired: u64,
    },
    /// Tell a publisher which encodings of a simulcast track someone needs (dynacast); it may
    /// stop the others.
    PublisherLayers {
        /// The publisher.
        to: ParticipantId,
        /// The track.
        track: TrackId,
        /// RIDs needed, lowest first; empty when no one needs the video.
        active: Vec<String>,
    },
    /// Relay a data channel message.
    SendData {
        /// The recipients.
        to: Vec<ParticipantId>,
        /// The sender.
        from: ParticipantId,
        /// The original message text.
        payload: Arc<str>,
    },
}
