//! The probe every synthetic packet carries: who sent it and when, so a subscriber measures the
//! forwarding latency (publisher send to subscriber receive) against the same process clock.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Magic bytes that start a probe.
const MAGIC: [u8; 4] = *b"LTP1";
/// Encoded length of a [`Probe`].
pub const PROBE_LEN: usize = 16;

/// The process-wide epoch the embedded send times count from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Fixes the epoch now, before any packet is stamped (a time before the epoch would read as 0).
pub fn init_epoch() {
    epoch();
}

/// Microseconds since the process epoch (the clock publishers embed and subscribers compare).
pub fn micros_since_epoch(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_micros()).unwrap_or(u64::MAX)
}

/// Identity and send time of one synthetic packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Process-unique id of the sending stream.
    pub stream: u32,
    /// Send time in microseconds since the process epoch.
    pub sent_us: u64,
}

impl Probe {
    /// A probe stamped now.
    pub fn now(stream: u32, now: Instant) -> Probe {
        Probe {
            stream,
            sent_us: micros_since_epoch(now),
        }
    }

    /// Writes the probe into `out` (which must hold [`PROBE_LEN`] bytes).
    pub fn write(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&MAGIC);
        out[4..8].copy_from_slice(&self.stream.to_be_bytes());
        out[8..16].copy_from_slice(&self.sent_us.to_be_bytes());
    }

    /// Reads a probe at `offset` of `payload`, if one is there.
    pub fn read_at(payload: &[u8], offset: usize) -> Option<Probe> {
        let b = payload.get(offset..offset + PROBE_LEN)?;
        if b[..4] != MAGIC {
            return None;
        }
        Some(Probe {
            stream: u32::from_be_bytes(b[4..8].try_into().ok()?),
            sent_us: u64::from_be_bytes(b[8..16].try_into().ok()?),
        })
    }

    /// Finds a probe within the first bytes of `payload` (after a VP8 descriptor and header).
    pub fn find(payload: &[u8]) -> Option<Probe> {
        let window = &payload[..payload.len().min(32 + PROBE_LEN)];
        let pos = window.windows(4).position(|w| w == MAGIC)?;
        Probe::read_at(payload, pos)
    }

    /// Time from the embedded send time to `received`.
    pub fn latency(&self, received: Instant) -> Duration {
        Duration::from_micros(micros_since_epoch(received).saturating_sub(self.sent_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_round_trips_and_is_found_after_a_prefix() {
        init_epoch();
        let now = Instant::now();
        let probe = Probe::now(7, now);
        let mut payload = vec![0xAAu8; 40];
        probe.write(&mut payload[9..]);
        assert_eq!(Probe::find(&payload), Some(probe));
        assert_eq!(Probe::read_at(&payload, 9), Some(probe));
        assert_eq!(Probe::read_at(&payload, 8), None);
        let later = now + Duration::from_millis(3);
        assert_eq!(probe.latency(later), Duration::from_millis(3));
    }
}
