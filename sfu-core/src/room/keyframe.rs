//! Throttling of keyframe requests toward one published stream.
//!
//! Many subscribers asking at once must produce one request: at most one per interval, the
//! first at once, and a request that arrives inside the interval is remembered and sent when the
//! interval ends (so a late subscriber is not left waiting for the publisher's periodic keyframe).

use std::time::{Duration, Instant};

use crate::room::output::KeyframeKind;

/// Throttle state of one published stream (one simulcast layer).
#[derive(Debug, Clone, Default)]
pub struct KeyframeThrottle {
    last_sent: Option<Instant>,
    pending: Option<KeyframeKind>,
}

impl KeyframeThrottle {
    /// Records a request; returns the kind to send now, or None when throttled (kept pending).
    pub fn request(
        &mut self,
        kind: KeyframeKind,
        now: Instant,
        interval: Duration,
    ) -> Option<KeyframeKind> {
        if self.can_send(now, interval) {
            self.last_sent = Some(now);
            self.pending = None;
            Some(kind)
        } else {
            // A FIR is the stronger request: keep it if any asker wanted one.
            self.pending = Some(match (self.pending, kind) {
                (Some(KeyframeKind::Fir), _) | (_, KeyframeKind::Fir) => KeyframeKind::Fir,
                _ => KeyframeKind::Pli,
            });
            None
        }
    }

    /// Returns the pending request when its interval has elapsed.
    pub fn poll(&mut self, now: Instant, interval: Duration) -> Option<KeyframeKind> {
        if self.pending.is_some() && self.can_send(now, interval) {
            self.last_sent = Some(now);
            return self.pending.take();
        }
        None
    }

    /// When a pending request may go out.
    pub fn deadline(&self, interval: Duration) -> Option<Instant> {
        self.pending?;
        self.last_sent.map(|t| t + interval)
    }

    /// Forgets a pending request (a keyframe arrived anyway).
    pub fn clear_pending(&mut self) {
        self.pending = None;
    }

    fn can_send(&self, now: Instant, interval: Duration) -> bool {
        self.last_sent
            .is_none_or(|t| now.saturating_duration_since(t) >= interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn first_request_goes_at_once_and_a_storm_gives_one() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::default();
        assert_eq!(
            k.request(KeyframeKind::Pli, t0, SEC),
            Some(KeyframeKind::Pli)
        );
        for i in 1..50 {
            assert_eq!(
                k.request(KeyframeKind::Pli, t0 + Duration::from_millis(i * 10), SEC),
                None
            );
        }
        assert_eq!(k.deadline(SEC), Some(t0 + SEC));
        assert_eq!(k.poll(t0 + Duration::from_millis(999), SEC), None);
        assert_eq!(k.poll(t0 + SEC, SEC), Some(KeyframeKind::Pli));
        assert_eq!(k.poll(t0 + SEC * 3, SEC), None, "pending was consumed");
    }

    #[test]
    fn fir_wins_over_pli_while_throttled() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::default();
        k.request(KeyframeKind::Pli, t0, SEC);
        k.request(KeyframeKind::Fir, t0 + Duration::from_millis(1), SEC);
        k.request(KeyframeKind::Pli, t0 + Duration::from_millis(2), SEC);
        assert_eq!(k.poll(t0 + SEC, SEC), Some(KeyframeKind::Fir));
    }

    #[test]
    fn cleared_pending_sends_nothing() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::default();
        k.request(KeyframeKind::Pli, t0, SEC);
        k.request(KeyframeKind::Pli, t0, SEC);
        k.clear_pending();
        assert_eq!(k.poll(t0 + SEC, SEC), None);
        assert_eq!(k.deadline(SEC), None);
    }
}
