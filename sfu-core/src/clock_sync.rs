//! RTP timestamp continuity across simulcast layer switches, from the publisher's sender reports.
//!
//! Each simulcast layer has its own random RTP timestamp base (bases ~10^9 ticks apart are
//! common), so when a down track switches layers the output timestamp must advance by the
//! capture time between the last frame sent from the old layer and the first of the new one.
//! The exact figure comes from RTCP sender reports: each pairs an RTP timestamp of one layer with
//! the publisher's wallclock (NTP), and one publisher stamps all its layers with one wallclock.
//! Without a report for both layers, the arrival-time gap is the fallback: it also carries
//! network and pacing jitter, but it is never wildly wrong.

use std::time::Duration;

/// How far the sender-report figure may stray from the arrival-time gap before it is distrusted.
///
/// Real differences are delivery delays (pacing a large keyframe, jitter): a few hundred
/// milliseconds. A report from another wallclock, or a wrong RTP time, is off by much more.
const MAX_DISAGREEMENT: Duration = Duration::from_secs(1);

/// The largest advance ever returned: a quarter of the 32-bit timestamp space, so a receiver
/// comparing timestamps with wrap-around arithmetic always sees time moving forward.
pub const MAX_ADVANCE_TICKS: u32 = 1 << 30;

/// One sender report's clock pair: the same instant on the publisher's wallclock and in RTP ticks.
///
/// From str0m's `Event::SenderFeedback(fb)`: `ntp_time` is
/// `fb.sender_info.ntp_time.duration_since(UNIX_EPOCH)`, `rtp_time` is
/// `fb.sender_info.rtp_time.numer() as u32`. Any epoch works if all layers of a track share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    /// The publisher's wallclock at the report, since a fixed epoch.
    pub ntp_time: Duration,
    /// The layer's RTP timestamp at that same instant.
    pub rtp_time: u32,
}

/// The wallclock mapping of one source stream (simulcast layer): its latest sender report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerClock {
    /// The latest report received, if any.
    latest: Option<SenderReport>,
}

/// What an advance returned by [`ts_advance_on_switch`] was computed from, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdvanceBasis {
    /// Both layers' sender reports.
    SenderReports,
    /// The arrival-time gap (a report missing, or reports that disagree with arrival times).
    ArrivalTime,
}

/// How far the output RTP timestamp moves at a layer switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsAdvance {
    /// Ticks to add to the last output timestamp: at least 1, at most [`MAX_ADVANCE_TICKS`].
    pub ticks: u32,
    /// Where the figure came from.
    pub basis: AdvanceBasis,
}

impl LayerClock {
    /// A clock with no report yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a sender report of this layer; the latest received wins (reports are a second
    /// apart, so reordering between two is not a concern, and a publisher that steps its
    /// wallclock must be followed).
    pub fn handle_sender_report(&mut self, report: SenderReport) {
        self.latest = Some(report);
    }

    /// The latest report, if any.
    pub fn latest(&self) -> Option<SenderReport> {
        self.latest
    }

    /// Forgets the reports (the layer's stream was replaced, e.g. a new SSRC).
    pub fn clear(&mut self) {
        self.latest = None;
    }
}

/// How much the output timestamp must advance when a down track switches from `old` (whose last
/// forwarded packet had timestamp `old_last_ts`) to `new` (whose first forwarded packet has
/// `new_first_ts`), so the new frame plays at its true capture time relative to the old one.
///
/// Uses both layers' latest sender reports; falls back to `arrival_gap` (the time between the
/// arrivals of those two packets) when a report is missing, when the reports put the new frame at
/// or before the old one, or when they disagree with `arrival_gap` by more than a second.
/// Mapping a timestamp through the latest report with the nominal `clock_rate` is enough: a
/// report is at most a few seconds old, and over that span the drift of a real RTP clock
/// (~100 ppm) is well under a frame.
pub fn ts_advance_on_switch(
    old: &LayerClock,
    old_last_ts: u32,
    new: &LayerClock,
    new_first_ts: u32,
    clock_rate: u32,
    arrival_gap: Duration,
) -> TsAdvance {
    let rate = i128::from(clock_rate);
    let arrival_ticks = duration_ticks(arrival_gap.as_nanos() as i128, rate);
    let from_reports = old
        .latest
        .zip(new.latest)
        .map(|(o, n)| {
            // Capture time of the new frame minus the old one, in ticks: the wallclock distance
            // between the two reports plus each timestamp's distance from its own report.
            let ntp_gap = n.ntp_time.as_nanos() as i128 - o.ntp_time.as_nanos() as i128;
            let since_new = i128::from(new_first_ts.wrapping_sub(n.rtp_time) as i32);
            let since_old = i128::from(old_last_ts.wrapping_sub(o.rtp_time) as i32);
            duration_ticks(ntp_gap, rate) + since_new - since_old
        })
        .filter(|&ticks| {
            let tolerance = duration_ticks(MAX_DISAGREEMENT.as_nanos() as i128, rate);
            ticks > 0 && (ticks - arrival_ticks).abs() <= tolerance
        });
    let (ticks, basis) = match from_reports {
        Some(ticks) => (ticks, AdvanceBasis::SenderReports),
        None => (arrival_ticks, AdvanceBasis::ArrivalTime),
    };
    TsAdvance {
        ticks: ticks.clamp(1, i128::from(MAX_ADVANCE_TICKS)) as u32,
        basis,
    }
}

/// `nanos` nanoseconds in ticks of `rate` Hz, rounded to the nearest tick.
fn duration_ticks(nanos: i128, rate: i128) -> i128 {
    const NANOS_PER_SEC: i128 = 1_000_000_000;
    (nanos * rate + NANOS_PER_SEC / 2).div_euclid(NANOS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::{
        AdvanceBasis, LayerClock, MAX_ADVANCE_TICKS, SenderReport, TsAdvance, ts_advance_on_switch,
    };

    const VIDEO: u32 = 90_000;

    /// A layer whose RTP clock reads `base` at wallclock `epoch` and runs `ppm` fast.
    #[derive(Debug, Clone, Copy)]
    struct Layer {
        base: u32,
        epoch: Duration,
        ppm: f64,
    }

    impl Layer {
        /// The layer's timestamp for a frame captured at wallclock `t`.
        fn ts(&self, t: Duration) -> u32 {
            let secs = t.as_secs_f64() - self.epoch.as_secs_f64();
            let ticks = (secs * f64::from(VIDEO) * (1.0 + self.ppm * 1e-6)).round() as i64;
            self.base.wrapping_add(ticks as u32)
        }

        /// A clock holding the report the layer sends at wallclock `t`.
        fn clock_at(&self, t: Duration) -> LayerClock {
            let mut clock = LayerClock::new();
            clock.handle_sender_report(SenderReport {
                ntp_time: t,
                rtp_time: self.ts(t),
            });
            clock
        }
    }

    /// Wallclock instants in the style of NTP since 1970.
    fn at(secs: f64) -> Duration {
        Duration::from_secs_f64(1_700_000_000.0 + secs)
    }

    fn reports(ticks: u32) -> TsAdvance {
        TsAdvance {
            ticks,
            basis: AdvanceBasis::SenderReports,
        }
    }

    fn arrival(ticks: u32) -> TsAdvance {
        TsAdvance {
            ticks,
            basis: AdvanceBasis::ArrivalTime,
        }
    }

    const LOW: Layer = Layer {
        base: 12_345,
        epoch: Duration::from_secs(1_700_000_000),
        ppm: 0.0,
    };
    /// A layer ~10^9 ticks away from [`LOW`], as Chrome's are.
    const HIGH: Layer = Layer {
        base: 1_012_345_678,
        epoch: Duration::from_secs(1_700_000_000),
        ppm: 0.0,
    };

    #[test]
    fn layers_a_billion_ticks_apart_map_exactly() {
        let old_ts = LOW.ts(at(10.0));
        let new_ts = HIGH.ts(at(10.0 + 1.0 / 30.0));
        // Arrival gap of 50 ms: the keyframe took longer to arrive than the frame interval.
        let adv = ts_advance_on_switch(
            &LOW.clock_at(at(9.5)),
            old_ts,
            &HIGH.clock_at(at(9.2)),
            new_ts,
            VIDEO,
            Duration::from_millis(50),
        );
        assert_eq!(adv, reports(3000));
    }

    #[test]
    fn timestamps_wrapping_between_report_and_frame() {
        let low = Layer {
            base: u32::MAX - 10_000,
            ..LOW
        };
        let high = Layer {
            base: u32::MAX - 100,
            ..HIGH
        };
        // Both layers' timestamps wrap between their report and the switch.
        let adv = ts_advance_on_switch(
            &low.clock_at(at(0.0)),
            low.ts(at(2.0)),
            &high.clock_at(at(0.01)),
            high.ts(at(2.1)),
            VIDEO,
            Duration::from_millis(100),
        );
        assert_eq!(adv, reports(9000));
    }

    #[test]
    fn drifting_clocks_stay_within_a_few_ticks() {
        let fast = Layer { ppm: 150.0, ..HIGH };
        let slow = Layer { ppm: -150.0, ..LOW };
        let adv = ts_advance_on_switch(
            &slow.clock_at(at(99.0)),
            slow.ts(at(100.0)),
            &fast.clock_at(at(98.5)),
            fast.ts(at(100.040)),
            VIDEO,
            Duration::from_millis(40),
        );
        assert_eq!(adv.basis, AdvanceBasis::SenderReports);
        assert!(adv.ticks.abs_diff(3600) < 40, "{adv:?}");
    }

    #[test]
    fn missing_reports_fall_back_to_arrival_time() {
        let none = LayerClock::new();
        let gap = Duration::from_millis(40);
        let with = LOW.clock_at(at(0.0));
        assert_eq!(
            ts_advance_on_switch(&none, 0, &with, 0, VIDEO, gap),
            arrival(3600)
        );
        assert_eq!(
            ts_advance_on_switch(&with, 0, &none, 0, VIDEO, gap),
            arrival(3600)
        );
        assert_eq!(
            ts_advance_on_switch(&none, 0, &none, 0, 48_000, gap),
            arrival(1920)
        );
        let mut cleared = with;
        cleared.clear();
        assert_eq!(cleared.latest(), None);
        assert_eq!(
            ts_advance_on_switch(&with, 0, &cleared, 0, VIDEO, gap),
            arrival(3600)
        );
    }

    #[test]
    fn absurd_report_figures_fall_back_to_arrival_time() {
        let gap = Duration::from_millis(33);
        let old_ts = LOW.ts(at(10.0));
        // Consistent reports agree with the arrival gap.
        let adv = ts_advance_on_switch(
            &LOW.clock_at(at(5.0)),
            old_ts,
            &HIGH.clock_at(at(5.0)),
            HIGH.ts(at(10.033)),
            VIDEO,
            gap,
        );
        assert_eq!(adv, reports(2970));
        // The new layer's report carries a wallclock an hour off.
        let mut skewed = LayerClock::new();
        skewed.handle_sender_report(SenderReport {
            ntp_time: at(3605.0),
            rtp_time: HIGH.ts(at(5.0)),
        });
        let adv = ts_advance_on_switch(
            &LOW.clock_at(at(5.0)),
            old_ts,
            &skewed,
            HIGH.ts(at(10.033)),
            VIDEO,
            gap,
        );
        assert_eq!(adv, arrival(2970));
        // Two seconds off is still too much.
        let adv = ts_advance_on_switch(
            &LOW.clock_at(at(5.0)),
            old_ts,
            &HIGH.clock_at(at(5.0)),
            HIGH.ts(at(12.033)),
            VIDEO,
            gap,
        );
        assert_eq!(adv, arrival(2970));
        // The new frame captured before the old one: time cannot go back.
        let adv = ts_advance_on_switch(
            &LOW.clock_at(at(5.0)),
            old_ts,
            &HIGH.clock_at(at(5.0)),
            HIGH.ts(at(9.9)),
            VIDEO,
            gap,
        );
        assert_eq!(adv, arrival(2970));
        // The same capture instant: at least one tick, from arrival time.
        let adv = ts_advance_on_switch(
            &LOW.clock_at(at(5.0)),
            old_ts,
            &HIGH.clock_at(at(5.0)),
            HIGH.ts(at(10.0)),
            VIDEO,
            Duration::ZERO,
        );
        assert_eq!(adv, arrival(1));
    }

    #[test]
    fn long_pauses_follow_the_reports() {
        let adv = ts_advance_on_switch(
            &LOW.clock_at(at(1.0)),
            LOW.ts(at(1.0)),
            &HIGH.clock_at(at(60.0)),
            HIGH.ts(at(61.0)),
            VIDEO,
            Duration::from_millis(60_300),
        );
        assert_eq!(adv, reports(60 * VIDEO));
    }

    #[test]
    fn degenerate_inputs_are_bounded() {
        let none = LayerClock::new();
        assert_eq!(
            ts_advance_on_switch(&none, 0, &none, 0, 0, Duration::MAX),
            arrival(1)
        );
        assert_eq!(
            ts_advance_on_switch(&none, 0, &none, 0, VIDEO, Duration::from_secs(86_400)),
            arrival(MAX_ADVANCE_TICKS)
        );
        assert_eq!(
            ts_advance_on_switch(&none, 0, &none, 0, VIDEO, Duration::MAX).ticks,
            MAX_ADVANCE_TICKS
        );
    }

    proptest! {
        #[test]
        fn reports_give_the_capture_gap(
            bases in (any::<u32>(), any::<u32>()),
            ppm in (-200.0f64..200.0, -200.0f64..200.0),
            switch_at in 1.0f64..100_000.0,
            report_age in (0.0f64..5.0, 0.0f64..5.0),
            frames in 1u32..30,
            jitter_ms in -300i64..300,
        ) {
            let old = Layer { base: bases.0, ppm: ppm.0, ..LOW };
            let new = Layer { base: bases.1, ppm: ppm.1, ..HIGH };
            let gap = f64::from(frames) / 30.0;
            let jitter = Duration::from_millis(jitter_ms.unsigned_abs());
            let arrival_gap = if jitter_ms < 0 {
                Duration::from_secs_f64(gap).saturating_sub(jitter)
            } else {
                Duration::from_secs_f64(gap) + jitter
            };
            let adv = ts_advance_on_switch(
                &old.clock_at(at(switch_at - report_age.0)),
                old.ts(at(switch_at)),
                &new.clock_at(at(switch_at - report_age.1)),
                new.ts(at(switch_at + gap)),
                VIDEO,
                arrival_gap,
            );
            prop_assert_eq!(adv.basis, AdvanceBasis::SenderReports);
            let exact = (gap * f64::from(VIDEO)).round() as u32;
            // Drift over each timestamp's distance from its report: 200 ppm x 6 s (new) and
            // 5 s (old) x 90 kHz = 108 + 90 ticks, plus rounding.
            prop_assert!(adv.ticks.abs_diff(exact) <= 108 + 90 + 2, "{:?} vs {}", adv, exact);
        }

        #[test]
        fn any_input_gives_a_bounded_advance(
            old in prop::option::of((any::<u64>(), any::<u32>())),
            new in prop::option::of((any::<u64>(), any::<u32>())),
            ts in (any::<u32>(), any::<u32>()),
            rate in any::<u32>(),
            gap_nanos in any::<u64>(),
        ) {
            let clock = |r: Option<(u64, u32)>| {
                let mut c = LayerClock::new();
                if let Some((nanos, rtp_time)) = r {
                    c.handle_sender_report(SenderReport {
                        ntp_time: Duration::from_nanos(nanos),
                        rtp_time,
                    });
                }
                c
            };
            let adv = ts_advance_on_switch(
                &clock(old), ts.0, &clock(new), ts.1, rate, Duration::from_nanos(gap_nanos),
            );
            prop_assert!((1..=MAX_ADVANCE_TICKS).contains(&adv.ticks));
        }
    }
}
