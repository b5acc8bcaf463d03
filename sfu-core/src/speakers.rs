//! Active speaker detection from RFC 6464 audio levels.
//!
//! Every audio packet carries the sender's level in -dBov (0 = loudest, 127 = silence). One packet
//! says little (speech has pauses, noise has spikes), so levels are judged per observe window:
//! a participant's window counts as *speaking* when enough of the window's expected packets were
//! above the speaking threshold; the mean level of those packets, converted to linear amplitude,
//! feeds an exponential moving average. A participant stops being a speaker after a run of quiet
//! windows (which also covers a muted track whose packets simply stop).
//!
//! The ordered list of speakers is reported only when it changes meaningfully (someone joins or
//! leaves the list, or two speakers swap by more than a hysteresis margin) and never more often
//! than the configured rate, so the signalling channel sees a few small messages per second at
//! most. Like the rest of the crate this is sans-IO: time comes in as `now`, and the driver calls
//! [`ActiveSpeakers::handle_timeout`] no later than [`ActiveSpeakers::poll_timeout`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ids::ParticipantId;

/// RFC 6464 value meaning silence (-127 dBov); never counts as speech whatever the threshold.
const SILENCE_DBOV: u8 = 127;

/// Durations are clamped into this range so timer arithmetic cannot overflow or spin.
const MIN_DURATION: Duration = Duration::from_millis(1);
/// Upper clamp of configured durations (see [`MIN_DURATION`]).
const MAX_DURATION: Duration = Duration::from_secs(3600);
/// A shorter observe window would make the driver wake up constantly for no accuracy gain.
const MIN_OBSERVE_INTERVAL: Duration = Duration::from_millis(10);

/// Tunables of [`ActiveSpeakers`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerConfig {
    /// Length of one observe window, over which packets are accumulated before judging.
    pub observe_interval: Duration,
    /// Minimum time between two reported updates (333 ms = at most 3 per second).
    pub min_update_interval: Duration,
    /// Packets at or louder than this level (in -dBov, so numerically at or below it) are speech.
    pub speaking_threshold_dbov: u8,
    /// Fraction of a window's expected packets that must be speech for the window to count.
    pub min_active_fraction: f32,
    /// Nominal packet spacing (Opus: 20 ms), so a few stray loud packets cannot fill a window.
    pub packet_interval: Duration,
    /// Weight of the newest window in the moving average (0 < s <= 1; 1 = no smoothing).
    pub smoothing: f32,
    /// A speaker leaves the list after this long without a speaking window.
    pub release_after: Duration,
    /// Two speakers must differ by more than this (in dB) for a swap of order to be reported.
    pub hysteresis_db: f32,
    /// At most this many speakers are reported, loudest first.
    pub max_speakers: usize,
    /// Trust a publisher's voice-activity flag once it has been seen set at least once.
    pub use_voice_activity: bool,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        SpeakerConfig {
            observe_interval: Duration::from_millis(300),
            min_update_interval: Duration::from_millis(333),
            speaking_threshold_dbov: 50,
            min_active_fraction: 0.3,
            packet_interval: Duration::from_millis(20),
            smoothing: 0.5,
            release_after: Duration::from_millis(600),
            hysteresis_db: 2.0,
            max_speakers: 3,
            use_voice_activity: true,
        }
    }
}

impl SpeakerConfig {
    /// Brings every field into a range the arithmetic below relies on.
    fn sanitized(mut self) -> Self {
        let clamp = |d: Duration, min: Duration| d.clamp(min, MAX_DURATION);
        self.observe_interval = clamp(self.observe_interval, MIN_OBSERVE_INTERVAL);
        self.packet_interval = clamp(self.packet_interval, MIN_DURATION);
        self.min_update_interval = self.min_update_interval.min(MAX_DURATION);
        self.release_after = self.release_after.min(MAX_DURATION);
        self.speaking_threshold_dbov = self.speaking_threshold_dbov.min(SILENCE_DBOV);
        self.min_active_fraction = if self.min_active_fraction.is_nan() {
            0.0
        } else {
            self.min_active_fraction.clamp(0.0, 1.0)
        };
        // A weight of 0 would freeze levels forever; NaN would poison them.
        self.smoothing = if self.smoothing.is_nan() || self.smoothing <= 0.0 {
            1.0
        } else {
            self.smoothing.min(1.0)
        };
        self.hysteresis_db = if self.hysteresis_db.is_nan() {
            0.0
        } else {
            self.hysteresis_db.clamp(0.0, 60.0)
        };
        self
    }
}

/// Converts a level in -dBov to linear amplitude in 0.0..=1.0 (0 dBov = 1.0, -20 dBov = 0.1).
pub fn dbov_to_linear(level_dbov: f32) -> f32 {
    10f32.powf(-level_dbov.clamp(0.0, f32::from(SILENCE_DBOV)) / 20.0)
}

/// One participant's accumulated window and smoothed level.
#[derive(Debug, Clone, Default)]
struct Participant {
    /// Packets received in the current window.
    packets: u32,
    /// Of those, packets judged to be speech.
    active: u32,
    /// Sum of the speech packets' levels in -dBov (mean = sum / active).
    active_dbov_sum: u64,
    /// The publisher has set the voice-activity flag at least once, so its VAD is working.
    vad_trusted: bool,
    /// Smoothed linear level; 0 means "not speaking".
    smoothed: f32,
    /// Time spent in quiet windows since the last speaking one.
    silent_for: Duration,
}

impl Participant {
    /// Folds the finished window (which lasted `span`) into the smoothed level and resets it.
    fn close_window(&mut self, span: Duration, config: &SpeakerConfig) {
        // Judge activity against the packets the window should have held, not the ones that
        // came, so one loud packet in an otherwise empty (DTX or muted) window is not speech.
        let expected = (span.as_nanos() / config.packet_interval.as_nanos()).max(1);
        let expected = u32::try_from(expected)
            .unwrap_or(u32::MAX)
            .max(self.packets);
        let fraction = self.active as f32 / expected as f32;
        if self.active > 0 && fraction >= config.min_active_fraction {
            let mean_dbov = self.active_dbov_sum as f64 / f64::from(self.active);
            let level = dbov_to_linear(mean_dbov as f32);
            // A new speaker starts at its measured level rather than ramping up from zero, so
            // a speaker switch shows within one or two windows.
            self.smoothed = if self.smoothed > 0.0 {
                self.smoothed + config.smoothing * (level - self.smoothed)
            } else {
                level
            };
            self.silent_for = Duration::ZERO;
        } else {
            self.silent_for = self.silent_for.saturating_add(span);
            if self.silent_for >= config.release_after {
                self.smoothed = 0.0;
            } else {
                // Decay while waiting for release so a speaker who stopped sinks below one
                // who started, instead of holding first place until released.
                self.smoothed *= 1.0 - config.smoothing;
            }
        }
        self.smoothed = self.smoothed.clamp(0.0, 1.0);
        self.packets = 0;
        self.active = 0;
        self.active_dbov_sum = 0;
    }
}

/// Active speaker detection over the audio levels of a room's participants.
#[derive(Debug)]
pub struct ActiveSpeakers {
    config: SpeakerConfig,
    /// Linear ratio equivalent of `config.hysteresis_db`.
    hysteresis: f32,
    participants: HashMap<ParticipantId, Participant>,
    /// Start of the current observe window; meaningful only while `next_tick` is set.
    window_start: Option<Instant>,
    /// End of the current observe window; `None` while nobody is tracked.
    next_tick: Option<Instant>,
    /// The list last handed out (or queued), loudest first.
    reported: Vec<(ParticipantId, f32)>,
    /// When `reported` was produced, for the rate limit.
    last_emit: Option<Instant>,
    /// A meaningful change is waiting for the rate limit to expire.
    dirty: bool,
    /// An update not yet taken by [`ActiveSpeakers::poll_update`].
    ready: Option<Vec<(ParticipantId, f32)>>,
}

impl Default for ActiveSpeakers {
    fn default() -> Self {
        ActiveSpeakers::new(SpeakerConfig::default())
    }
}

impl ActiveSpeakers {
    /// Creates a detector; out-of-range config values are clamped to usable ones.
    pub fn new(config: SpeakerConfig) -> Self {
        let config = config.sanitized();
        let hysteresis = 10f32.powf(config.hysteresis_db / 20.0);
        ActiveSpeakers {
            config,
            hysteresis,
            participants: HashMap::new(),
            window_start: None,
            next_tick: None,
            reported: Vec::new(),
            last_emit: None,
            dirty: false,
            ready: None,
        }
    }

    /// The effective (clamped) configuration.
    pub fn config(&self) -> &SpeakerConfig {
        &self.config
    }

    /// Records one audio packet's RFC 6464 level (0..=127 -dBov; larger values mean silence).
    ///
    /// O(1) and allocation-free once the participant is known.
    pub fn handle_level(
        &mut self,
        participant: ParticipantId,
        level_dbov: u8,
        voice_activity: Option<bool>,
        now: Instant,
    ) {
        if self.next_tick.is_none() {
            self.window_start = Some(now);
            self.next_tick = now.checked_add(self.config.observe_interval);
        }
        let threshold = self.config.speaking_threshold_dbov;
        let use_vad = self.config.use_voice_activity;
        let p = self.participants.entry(participant).or_default();
        p.packets = p.packets.saturating_add(1);
        if voice_activity == Some(true) {
            p.vad_trusted = true;
        }
        // Some senders never set the flag (always "no voice"); only a sender whose VAD has
        // said "voice" before is believed when it says "no voice" about a loud packet.
        let vad_silent = use_vad && p.vad_trusted && voice_activity == Some(false);
        let level = level_dbov.min(SILENCE_DBOV);
        if level < SILENCE_DBOV && level <= threshold && !vad_silent {
            p.active = p.active.saturating_add(1);
            p.active_dbov_sum = p.active_dbov_sum.saturating_add(u64::from(level));
        }
    }

    /// Forgets a participant (left, or its audio track was muted or unpublished).
    pub fn remove(&mut self, participant: ParticipantId) {
        self.participants.remove(&participant);
        if self.reported.iter().any(|&(id, _)| id == participant) {
            // The list changed; the next handle_timeout reports it (see poll_timeout).
            self.dirty = true;
        }
    }

    /// When [`ActiveSpeakers::handle_timeout`] must be called next, or `None` when idle.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let flush = if self.dirty {
            self.last_emit
                .and_then(|t| t.checked_add(self.config.min_update_interval))
        } else {
            None
        };
        match (self.next_tick, flush) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances time: closes a due observe window and queues an update if one is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_tick.is_some_and(|t| now >= t) {
            self.close_window(now);
            self.evaluate(now);
        } else if self.dirty {
            self.evaluate(now);
        }
    }

    /// Takes the new speaker list (loudest first, levels in 0.0..=1.0) if it changed.
    ///
    /// An empty list means nobody is speaking any more; it is reported once.
    pub fn poll_update(&mut self) -> Option<Vec<(ParticipantId, f32)>> {
        self.ready.take()
    }

    /// The last reported list, e.g. for a participant who joins after it was sent.
    pub fn current(&self) -> &[(ParticipantId, f32)] {
        &self.reported
    }

    /// Ends the current observe window for everyone and starts the next one.
    fn close_window(&mut self, now: Instant) {
        let span = self
            .window_start
            .map_or(self.config.observe_interval, |start| {
                now.saturating_duration_since(start)
            })
            .max(MIN_DURATION);
        let config = &self.config;
        self.participants.retain(|_, p| {
            let heard = p.packets > 0;
            p.close_window(span, config);
            // Drop entries with nothing left to say so a forgotten remove() cannot leak; a
            // later packet simply re-creates the entry.
            heard || p.smoothed > 0.0
        });
        if self.participants.is_empty() {
            self.window_start = None;
            self.next_tick = None;
        } else {
            self.window_start = Some(now);
            self.next_tick = now.checked_add(self.config.observe_interval);
        }
    }

    /// Queues the current list if it differs meaningfully from the reported one and the rate
    /// limit allows; otherwise remembers that it is owed.
    fn evaluate(&mut self, now: Instant) {
        let current = self.current_list();
        if !self.changed(&current) {
            self.dirty = false;
            return;
        }
        let allowed_at = self
            .last_emit
            .and_then(|t| t.checked_add(self.config.min_update_interval));
        if allowed_at.is_some_and(|t| now < t) {
            self.dirty = true;
            return;
        }
        self.reported.clone_from(&current);
        self.ready = Some(current);
        self.last_emit = Some(now);
        self.dirty = false;
    }

    /// The speakers right now, loudest first, capped at `max_speakers`.
    fn current_list(&self) -> Vec<(ParticipantId, f32)> {
        let mut candidates: Vec<(ParticipantId, f32, f32)> = self
            .participants
            .iter()
            .filter(|(_, p)| p.smoothed > 0.0)
            .map(|(&id, p)| {
                // Members of the last report keep their seat unless a newcomer is clearly
                // louder, so jitter at the cut-off does not flap membership.
                let incumbent = self.reported.iter().any(|&(r, _)| r == id);
                let key = if incumbent {
                    p.smoothed * self.hysteresis
                } else {
                    p.smoothed
                };
                (id, p.smoothed, key)
            })
            .collect();
        candidates.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        candidates.truncate(self.config.max_speakers);
        let mut list: Vec<(ParticipantId, f32)> =
            candidates.into_iter().map(|(id, l, _)| (id, l)).collect();
        list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        list
    }

    /// Whether `current` differs from the reported list in membership, or in the order of
    /// two speakers whose levels now differ by more than the hysteresis margin.
    fn changed(&self, current: &[(ParticipantId, f32)]) -> bool {
        let level_of = |id: ParticipantId| current.iter().find(|&&(c, _)| c == id).map(|c| c.1);
        if current.len() != self.reported.len()
            || self.reported.iter().any(|&(id, _)| level_of(id).is_none())
        {
            return true;
        }
        // Same members: look for a pair the old order has as (upper, lower) that is now
        // clearly reversed. Lists are at most max_speakers long, so quadratic is fine.
        self.reported.iter().enumerate().any(|(i, &(upper, _))| {
            let upper = level_of(upper).unwrap_or(0.0);
            self.reported[i + 1..].iter().any(|&(lower, _)| {
                let lower = level_of(lower).unwrap_or(0.0);
                lower > upper * self.hysteresis
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    const A: ParticipantId = ParticipantId(1);
    const B: ParticipantId = ParticipantId(2);
    const C: ParticipantId = ParticipantId(3);
    const PACKET: Duration = Duration::from_millis(20);

    /// A virtual-time driver: feeds packets every 20 ms and fires timeouts exactly when due.
    struct Sim {
        speakers: ActiveSpeakers,
        start: Instant,
        now: Instant,
        /// Every update with the virtual time (since start) it was produced at.
        updates: Vec<(Duration, Vec<(ParticipantId, f32)>)>,
    }

    impl Sim {
        fn new(config: SpeakerConfig) -> Self {
            let start = Instant::now();
            Sim {
                speakers: ActiveSpeakers::new(config),
                start,
                now: start,
                updates: Vec::new(),
            }
        }

        fn elapsed(&self) -> Duration {
            self.now - self.start
        }

        /// Fires every timeout due up to `until`, collecting updates.
        fn advance_to(&mut self, until: Instant) {
            while let Some(t) = self.speakers.poll_timeout() {
                if t > until {
                    break;
                }
                self.now = self.now.max(t);
                self.speakers.handle_timeout(self.now);
                self.collect();
            }
            self.now = until;
        }

        fn collect(&mut self) {
            if let Some(update) = self.speakers.poll_update() {
                self.updates.push((self.elapsed(), update));
            }
        }

        /// Runs for `duration`, sending one packet per 20 ms for each (participant, level)
        /// that `levels` returns for the packet's time since start.
        fn run(
            &mut self,
            duration: Duration,
            mut levels: impl FnMut(Duration) -> Vec<(ParticipantId, u8)>,
        ) {
            let end = self.now + duration;
            while self.now + PACKET <= end {
                let next = self.now + PACKET;
                self.advance_to(next);
                for (p, level) in levels(self.elapsed()) {
                    self.speakers
                        .handle_level(p, level, Some(level < 127), self.now);
                }
            }
            self.advance_to(end);
        }

        fn last(&self) -> Option<&Vec<(ParticipantId, f32)>> {
            self.updates.last().map(|(_, u)| u)
        }
    }

    fn ids(list: &[(ParticipantId, f32)]) -> Vec<ParticipantId> {
        list.iter().map(|&(id, _)| id).collect()
    }

    /// A deterministic pseudo-random generator, so jitter tests are repeatable.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    #[test]
    fn louder_speaker_is_reported_first() {
        let mut sim = Sim::new(SpeakerConfig::default());
        sim.run(Duration::from_secs(2), |_| vec![(B, 45), (A, 20)]);
        let last = sim.last().expect("an update");
        assert_eq!(ids(last), vec![A, B]);
        assert!((last[0].1 - 0.1).abs() < 1e-4, "{last:?}");
        assert!(last[1].1 > 0.0 && last[1].1 < last[0].1, "{last:?}");
        assert_eq!(sim.speakers.current(), last.as_slice());
        // The first observe window (opened by the first packet at 20 ms) is enough.
        assert_eq!(sim.updates[0].0, Duration::from_millis(320));
    }

    #[test]
    fn silence_and_quiet_noise_are_not_speech() {
        let mut sim = Sim::new(SpeakerConfig::default());
        sim.run(Duration::from_secs(3), |_| vec![(A, 127), (B, 70)]);
        assert!(sim.updates.is_empty(), "{:?}", sim.updates);
        sim.run(Duration::from_secs(1), |_| vec![(A, 127), (B, 70), (C, 30)]);
        assert_eq!(ids(sim.last().unwrap()), vec![C]);
    }

    #[test]
    fn silence_is_never_speech_even_with_the_loosest_threshold() {
        let config = SpeakerConfig {
            speaking_threshold_dbov: 127,
            min_active_fraction: 0.0,
            ..SpeakerConfig::default()
        };
        let mut sim = Sim::new(config);
        sim.run(Duration::from_secs(2), |_| vec![(A, 127), (B, 255)]);
        assert!(sim.updates.is_empty());
    }

    #[test]
    fn speaker_switch_takes_effect_within_a_second() {
        let mut sim = Sim::new(SpeakerConfig::default());
        let switch = Duration::from_secs(3);
        sim.run(Duration::from_secs(6), |t| {
            if t < switch {
                vec![(A, 20), (B, 127)]
            } else {
                vec![(A, 127), (B, 20)]
            }
        });
        let b_first = sim
            .updates
            .iter()
            .find(|(_, u)| u.first().is_some_and(|&(id, _)| id == B))
            .expect("B becomes the loudest");
        assert!(b_first.0 <= switch + Duration::from_secs(1), "{b_first:?}");
        let a_gone = sim
            .updates
            .iter()
            .find(|(t, u)| *t > switch && !ids(u).contains(&A))
            .expect("A leaves the list");
        assert!(a_gone.0 <= switch + Duration::from_secs(1), "{a_gone:?}");
        assert_eq!(ids(sim.last().unwrap()), vec![B]);
    }

    #[test]
    fn steady_input_reports_once() {
        let mut sim = Sim::new(SpeakerConfig::default());
        sim.run(Duration::from_secs(10), |_| vec![(A, 20), (B, 40)]);
        assert_eq!(sim.updates.len(), 1, "{:?}", sim.updates);
        assert!(sim.speakers.poll_update().is_none());
    }

    #[test]
    fn level_jitter_reports_once() {
        let mut sim = Sim::new(SpeakerConfig::default());
        let mut rng = Lcg(7);
        // Two speakers at the same mean level with +-1 dB per-packet jitter, plus occasional
        // quiet packets between syllables: their order flips often, but never by much.
        sim.run(Duration::from_secs(10), |_| {
            let mut level = |base: u64| {
                if rng.next(10) == 0 {
                    80
                } else {
                    (base + rng.next(3) - 1) as u8
                }
            };
            vec![(A, level(30)), (B, level(30))]
        });
        assert_eq!(sim.updates.len(), 1, "{:?}", sim.updates);
        let mut reported = ids(sim.last().unwrap());
        reported.sort();
        assert_eq!(reported, vec![A, B]);
    }

    #[test]
    fn rate_limit_holds_over_fluctuating_input() {
        let config = SpeakerConfig::default();
        let min_gap = config.min_update_interval;
        let mut sim = Sim::new(config);
        let mut rng = Lcg(42);
        let mut current = (A, 10u8);
        let mut since = Duration::ZERO;
        sim.run(Duration::from_secs(10), |t| {
            // Every 100-300 ms a random participant becomes the loud one.
            if t >= since {
                let who = [A, B, C][rng.next(3) as usize];
                current = (who, 5 + rng.next(40) as u8);
                since = t + Duration::from_millis(100 + rng.next(200));
            }
            [A, B, C]
                .into_iter()
                .map(|p| (p, if p == current.0 { current.1 } else { 90 }))
                .collect()
        });
        assert!(sim.updates.len() >= 5, "too few to test: {:?}", sim.updates);
        assert!(sim.updates.len() <= 31, "{}", sim.updates.len());
        for pair in sim.updates.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= min_gap, "{pair:?}");
        }
    }

    #[test]
    fn a_held_back_change_is_sent_when_the_rate_limit_expires() {
        let config = SpeakerConfig {
            observe_interval: Duration::from_millis(100),
            min_update_interval: Duration::from_millis(1000),
            ..SpeakerConfig::default()
        };
        let mut sim = Sim::new(config);
        sim.run(Duration::from_millis(200), |_| vec![(A, 20)]);
        assert_eq!(sim.updates.len(), 1);
        assert_eq!(sim.updates[0].0, Duration::from_millis(120));
        sim.run(Duration::from_millis(1800), |_| vec![(A, 20), (B, 20)]);
        assert_eq!(sim.updates.len(), 2, "{:?}", sim.updates);
        // B was heard from the 320 ms window on; held back until 1 s after the first update.
        assert_eq!(sim.updates[1].0, Duration::from_millis(1120));
        assert_eq!(sim.updates[1].1.len(), 2);
    }

    #[test]
    fn remove_drops_a_speaker() {
        let mut sim = Sim::new(SpeakerConfig::default());
        sim.run(Duration::from_secs(1), |_| vec![(A, 20), (B, 30)]);
        assert_eq!(ids(sim.last().unwrap()), vec![A, B]);
        sim.speakers.remove(A);
        sim.speakers.remove(ParticipantId(99));
        let due = sim.speakers.poll_timeout().expect("a flush is due");
        assert!(due <= sim.now, "the change is due at once");
        sim.run(Duration::from_millis(20), |_| vec![(B, 30)]);
        assert_eq!(ids(sim.last().unwrap()), vec![B]);
        assert_eq!(sim.updates.len(), 2);
    }

    #[test]
    fn removing_the_last_speaker_reports_empty_once() {
        let mut sim = Sim::new(SpeakerConfig::default());
        sim.run(Duration::from_secs(1), |_| vec![(A, 20)]);
        sim.speakers.remove(A);
        sim.run(Duration::from_secs(2), |_| vec![]);
        assert_eq!(sim.updates.len(), 2);
        assert_eq!(sim.last().unwrap(), &Vec::new());
        assert_eq!(sim.speakers.poll_timeout(), None);
    }

    #[test]
    fn muted_speaker_decays_to_an_empty_list_once() {
        let mut sim = Sim::new(SpeakerConfig::default());
        sim.run(Duration::from_secs(1), |_| vec![(A, 20)]);
        // Muted: the room stops forwarding, so no more levels arrive.
        sim.run(Duration::from_secs(5), |_| vec![]);
        assert_eq!(sim.updates.len(), 2, "{:?}", sim.updates);
        let (at, last) = sim.updates.last().unwrap();
        assert!(last.is_empty());
        assert!(*at <= Duration::from_millis(1000 + 900), "{at:?}");
        // Nothing tracked any more: the driver need not wake us.
        assert_eq!(sim.speakers.poll_timeout(), None);
    }

    #[test]
    fn at_most_max_speakers_are_reported() {
        let mut sim = Sim::new(SpeakerConfig {
            max_speakers: 2,
            ..SpeakerConfig::default()
        });
        sim.run(Duration::from_secs(1), |_| {
            vec![(A, 40), (B, 10), (C, 30), (ParticipantId(4), 20)]
        });
        assert_eq!(ids(sim.last().unwrap()), vec![B, ParticipantId(4)]);
    }

    #[test]
    fn a_newcomer_must_be_clearly_louder_to_take_a_seat() {
        let mut sim = Sim::new(SpeakerConfig {
            max_speakers: 1,
            ..SpeakerConfig::default()
        });
        sim.run(Duration::from_secs(1), |_| vec![(A, 30)]);
        // 1 dB louder than the incumbent: under the 2 dB margin.
        sim.run(Duration::from_secs(2), |_| vec![(A, 30), (B, 29)]);
        assert_eq!(sim.updates.len(), 1);
        // 6 dB louder: takes the seat.
        sim.run(Duration::from_secs(1), |_| vec![(A, 30), (B, 24)]);
        assert_eq!(ids(sim.last().unwrap()), vec![B]);
    }

    #[test]
    fn sparse_loud_packets_are_not_speech() {
        // One loud packet per 100 ms (like comfort noise in DTX) is 20% of the window.
        let mut sim = Sim::new(SpeakerConfig::default());
        sim.run(Duration::from_secs(3), |t| {
            if t.as_millis() % 100 == 0 {
                vec![(A, 10)]
            } else {
                vec![]
            }
        });
        assert!(sim.updates.is_empty(), "{:?}", sim.updates);
    }

    #[test]
    fn voice_activity_flag_is_trusted_only_once_seen_set() {
        let mut speakers = ActiveSpeakers::default();
        let start = Instant::now();
        let mut now = start;
        // A always flags "no voice" (flag not implemented): judged by level. B's VAD works
        // and says its loud packets are not voice (e.g. a door slam): not a speaker.
        speakers.handle_level(B, 20, Some(true), now);
        for _ in 0..50 {
            now += PACKET;
            speakers.handle_level(A, 20, Some(false), now);
            speakers.handle_level(B, 20, Some(false), now);
            while speakers.poll_timeout().is_some_and(|t| t <= now) {
                speakers.handle_timeout(now);
            }
        }
        assert_eq!(ids(&speakers.poll_update().unwrap()), vec![A]);

        let mut ignoring = ActiveSpeakers::new(SpeakerConfig {
            use_voice_activity: false,
            ..SpeakerConfig::default()
        });
        ignoring.handle_level(B, 20, Some(true), start);
        for i in 1..=20 {
            ignoring.handle_level(B, 20, Some(false), start + PACKET * i);
        }
        ignoring.handle_timeout(start + Duration::from_millis(400));
        assert_eq!(ids(&ignoring.poll_update().unwrap()), vec![B]);
    }

    #[test]
    fn a_late_driver_is_handled() {
        let mut speakers = ActiveSpeakers::default();
        let start = Instant::now();
        for i in 0..15 {
            speakers.handle_level(A, 20, None, start + PACKET * i);
        }
        speakers.handle_timeout(start + Duration::from_millis(300));
        assert_eq!(ids(&speakers.poll_update().unwrap()), vec![A]);
        // The driver stalls for a minute: the long empty window releases A.
        let late = start + Duration::from_secs(60);
        speakers.handle_timeout(late);
        assert_eq!(speakers.poll_update(), Some(vec![]));
        assert_eq!(speakers.poll_timeout(), None);
        // Calling early or again is harmless.
        speakers.handle_timeout(late);
        speakers.handle_timeout(start);
        assert_eq!(speakers.poll_update(), None);
    }

    #[test]
    fn levels_convert_to_linear_amplitude() {
        assert_eq!(dbov_to_linear(0.0), 1.0);
        assert!((dbov_to_linear(20.0) - 0.1).abs() < 1e-6);
        assert!((dbov_to_linear(40.0) - 0.01).abs() < 1e-6);
        assert!(dbov_to_linear(127.0) > 0.0);
        assert_eq!(dbov_to_linear(-5.0), 1.0);
        assert_eq!(dbov_to_linear(500.0), dbov_to_linear(127.0));
    }

    #[test]
    fn absurd_configs_are_clamped() {
        let speakers = ActiveSpeakers::new(SpeakerConfig {
            observe_interval: Duration::ZERO,
            min_update_interval: Duration::MAX,
            speaking_threshold_dbov: 255,
            min_active_fraction: f32::NAN,
            packet_interval: Duration::ZERO,
            smoothing: 0.0,
            release_after: Duration::MAX,
            hysteresis_db: f32::INFINITY,
            max_speakers: 0,
            use_voice_activity: true,
        });
        let c = speakers.config();
        assert_eq!(c.observe_interval, MIN_OBSERVE_INTERVAL);
        assert_eq!(c.packet_interval, MIN_DURATION);
        assert_eq!(c.min_update_interval, MAX_DURATION);
        assert_eq!(c.speaking_threshold_dbov, 127);
        assert_eq!(c.min_active_fraction, 0.0);
        assert_eq!(c.smoothing, 1.0);
        assert_eq!(c.hysteresis_db, 60.0);
    }

    /// One step of a random scenario.
    #[derive(Debug, Clone)]
    enum Op {
        /// A packet from participant `p` after `dt_ms`.
        Level {
            p: u64,
            level: u8,
            vad: Option<bool>,
            dt_ms: u64,
        },
        /// The participant is removed.
        Remove { p: u64 },
        /// Time passes by `dt_ms` and every due timeout fires.
        Wait { dt_ms: u64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0u64..5, any::<u8>(), proptest::option::of(any::<bool>()), 0u64..40)
                .prop_map(|(p, level, vad, dt_ms)| Op::Level { p, level, vad, dt_ms }),
            1 => (0u64..5).prop_map(|p| Op::Remove { p }),
            1 => (0u64..3000).prop_map(|dt_ms| Op::Wait { dt_ms }),
        ]
    }

    fn config() -> impl Strategy<Value = SpeakerConfig> {
        (
            (0u64..1000, 0u64..1000, 0u64..50, 0u64..2000),
            (any::<u8>(), -0.5f32..1.5, -0.5f32..1.5, -3.0f32..10.0),
            (0usize..5, any::<bool>()),
        )
            .prop_map(
                |(
                    (observe, update, packet, release),
                    (threshold, fraction, smoothing, hysteresis),
                    (max_speakers, vad),
                )| SpeakerConfig {
                    observe_interval: Duration::from_millis(observe),
                    min_update_interval: Duration::from_millis(update),
                    speaking_threshold_dbov: threshold,
                    min_active_fraction: fraction,
                    packet_interval: Duration::from_millis(packet),
                    smoothing,
                    release_after: Duration::from_millis(release),
                    hysteresis_db: hysteresis,
                    max_speakers,
                    use_voice_activity: vad,
                },
            )
    }

    /// Runs `ops`, firing due timeouts before each step, and returns the timed updates.
    fn drive(
        speakers: &mut ActiveSpeakers,
        ops: &[Op],
    ) -> Vec<(Instant, Vec<(ParticipantId, f32)>)> {
        let mut now = Instant::now();
        let mut updates = Vec::new();
        let mut fire = |speakers: &mut ActiveSpeakers, until: Instant, now: &mut Instant| {
            // Bounded so a timer bug shows as a failed assertion rather than a hang.
            for _ in 0..100_000 {
                match speakers.poll_timeout() {
                    Some(t) if t <= until => {
                        *now = (*now).max(t);
                        speakers.handle_timeout(*now);
                        if let Some(u) = speakers.poll_update() {
                            updates.push((*now, u));
                        }
                    }
                    _ => break,
                }
            }
            *now = until;
        };
        for op in ops {
            match *op {
                Op::Level {
                    p,
                    level,
                    vad,
                    dt_ms,
                } => {
                    fire(speakers, now + Duration::from_millis(dt_ms), &mut now);
                    speakers.handle_level(ParticipantId(p), level, vad, now);
                }
                Op::Remove { p } => speakers.remove(ParticipantId(p)),
                Op::Wait { dt_ms } => fire(speakers, now + Duration::from_millis(dt_ms), &mut now),
            }
        }
        fire(speakers, now + Duration::from_secs(10), &mut now);
        updates
    }

    proptest! {
        #[test]
        fn updates_are_well_formed(config in config(), ops in prop::collection::vec(op(), 0..400)) {
            let mut speakers = ActiveSpeakers::new(config);
            let max = speakers.config().max_speakers;
            let min_gap = speakers.config().min_update_interval;
            let updates = drive(&mut speakers, &ops);
            for (_, list) in &updates {
                prop_assert!(list.len() <= max, "{list:?}");
                for &(_, level) in list {
                    prop_assert!((0.0..=1.0).contains(&level), "{list:?}");
                }
                for pair in list.windows(2) {
                    prop_assert!(pair[0].1 >= pair[1].1, "not sorted: {list:?}");
                    prop_assert!(pair[0].0 != pair[1].0, "duplicate: {list:?}");
                }
                let mut seen = ids(list);
                seen.sort();
                seen.dedup();
                prop_assert_eq!(seen.len(), list.len());
            }
            for pair in updates.windows(2) {
                prop_assert!(pair[1].0 - pair[0].0 >= min_gap);
                prop_assert!(ids(&pair[0].1) != ids(&pair[1].1), "repeated: {pair:?}");
            }
            if let Some((_, first)) = updates.first() {
                prop_assert!(!first.is_empty(), "an empty list is never the first report");
            }
            // Ten quiet seconds at the end: everyone has been released and reported gone.
            prop_assert!(speakers.current().is_empty());
            prop_assert_eq!(speakers.poll_timeout(), None);
        }

        #[test]
        fn silence_never_makes_a_speaker(
            ops in prop::collection::vec(
                (0u64..5, proptest::option::of(any::<bool>()), 0u64..100), 0..300),
        ) {
            let mut speakers = ActiveSpeakers::new(SpeakerConfig {
                speaking_threshold_dbov: 127,
                min_active_fraction: 0.0,
                ..SpeakerConfig::default()
            });
            let ops: Vec<Op> = ops
                .into_iter()
                .map(|(p, vad, dt_ms)| Op::Level { p, level: 127, vad, dt_ms })
                .collect();
            prop_assert!(drive(&mut speakers, &ops).is_empty());
        }
    }
}
