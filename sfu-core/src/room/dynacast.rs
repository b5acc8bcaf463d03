//! Pausing unused publisher layers (as LiveKit's dynacast does): when no subscriber needs the
//! upper encodings of a simulcast track, the publisher is told to stop them, saving its CPU and
//! uplink; the moment someone needs one again, it is told to resume.
//!
//! A layer is needed when some subscriber's caps (size, explicit layer) reach it and the
//! subscriber has not paused the track; lower layers stay on with it, because a subscriber short
//! of bandwidth falls back to them. Bandwidth limits do not reduce the need: a subscriber held
//! low by its link still wants the layer as soon as the link allows. Forwards (recordings) need
//! their layer the same way.

use std::time::Instant;

use crate::ids::TrackId;
use crate::room::Room;
use crate::room::output::Output;

/// What the publisher of one track was last told.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DynacastState {
    /// How many encodings, from the lowest, were last asked for; `None` = never told (all on).
    pub sent: Option<usize>,
    /// Since when fewer encodings than `sent` have been needed.
    pub shrinking_since: Option<Instant>,
}

impl Room {
    /// Re-evaluates which encodings each simulcast track needs and tells publishers of changes:
    /// more at once, fewer after `dynacast_delay` of not needing them.
    pub(super) fn update_dynacast(&mut self, now: Instant) {
        let Some(delay) = self.config.dynacast_delay else {
            return;
        };
        let mut messages = Vec::new();
        for (id, t) in self.tracks.iter_mut() {
            let n = t.layers.len();
            if n < 2 || !t.info.codec.is_video() {
                continue;
            }
            let needed = t
                .down_tracks
                .iter()
                .filter(|d| !d.caps.paused)
                .map(|d| t.max_layer_for(&d.caps) + 1)
                .max()
                .unwrap_or(0)
                .max(t.layers_needed_by_forwards())
                .min(n);
            let current = t.dynacast.sent.unwrap_or(n);
            let send = if needed > current {
                true
            } else if needed < current {
                let since = *t.dynacast.shrinking_since.get_or_insert(now);
                now.saturating_duration_since(since) >= delay
            } else {
                t.dynacast.shrinking_since = None;
                false
            };
            if send {
                t.dynacast.sent = Some(needed);
                t.dynacast.shrinking_since = None;
                let active = (0..needed).filter_map(|l| t.rid(l)).collect();
                messages.push(Output::PublisherLayers {
                    to: t.info.owner,
                    track: *id,
                    active,
                });
            }
        }
        self.outputs.extend(messages);
    }

    /// How many encodings of `track` the publisher was last asked to send (all when never told).
    pub fn publisher_layers(&self, track: TrackId) -> Option<usize> {
        let t = self.tracks.get(&track)?;
        Some(t.dynacast.sent.unwrap_or(t.layers.len()))
    }
}
