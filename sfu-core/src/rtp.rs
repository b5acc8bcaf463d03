//! The core's own view of an RTP packet: just what routing and rewriting need.

use std::sync::Arc;
use std::time::Instant;

/// An extended RTP sequence number: the 16-bit wire value plus 2^16 per rollover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeqNo(pub u64);

/// One RTP packet, as received from a publisher or as sent to a subscriber.
///
/// The payload is shared (`Arc`) so fanning a packet out to many subscribers copies no bytes.
#[derive(Debug, Clone)]
pub struct MediaPacket {
    /// Extended sequence number.
    pub seq: SeqNo,
    /// RTP timestamp in the codec's clock rate.
    pub timestamp: u32,
    /// RTP marker bit (end of frame for video).
    pub marker: bool,
    /// Payload type: the publisher's on input, the subscriber leg's on output.
    pub payload_type: u8,
    /// The RTP payload, never modified by the core.
    pub payload: Arc<[u8]>,
    /// RFC 6464 audio level (0 = loudest, 127 = silence), when the publisher sent it.
    pub audio_level: Option<i8>,
    /// RFC 6464 voice activity flag, when the publisher sent it.
    pub voice_activity: Option<bool>,
    /// When the packet arrived at the server; the wallclock of the forwarded packet.
    pub arrival: Instant,
}
