//! SDP offer/answer for one peer connection, following API.md's rules.
//!
//! The client offers what it publishes and the server answers; the server offers when down
//! tracks are added or removed. The server never has two offers in flight: changes made while
//! an offer is pending are queued (as the difference between `wanted` and `lines`) and offered
//! after the answer. A client offer that crosses a pending server offer is ignored; the polite
//! client rolls back, answers ours, and offers again.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use sfu_core::{MediaKind, ParticipantId, TrackId};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, Mid};

use super::{DATA_CHANNEL_LABEL, Peer};

/// Why an offer or answer from the client was refused.
#[derive(Debug, thiserror::Error)]
pub enum NegotiationError {
    /// The SDP text does not parse.
    #[error("invalid SDP: {0}")]
    InvalidSdp(String),
    /// The SDP parses but cannot be applied to this session.
    #[error("SDP rejected: {0}")]
    Rejected(String),
    /// An answer arrived while the server had no offer out.
    #[error("no server offer is pending")]
    NoPendingOffer,
}

/// How long the server holds its next offer for a client's expected re-offer.
const REOFFER_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
struct DownSpec {
    publisher: ParticipantId,
    kind: MediaKind,
}

struct Pending {
    offer: SdpPendingOffer,
    added: Vec<TrackId>,
    removed: Vec<TrackId>,
}

/// Down-track m-line bookkeeping.
#[derive(Default)]
pub(super) struct Negotiation {
    /// Down tracks the room wants this peer to receive.
    wanted: BTreeMap<TrackId, DownSpec>,
    /// Down tracks that have an m-line (negotiated, or in the pending offer).
    lines: HashMap<TrackId, Mid>,
    by_mid: HashMap<Mid, TrackId>,
    pending: Option<Pending>,
    /// Whether an offer or answer was ever applied (before that, only the client offers).
    described: bool,
    channel_added: bool,
    /// A client offer crossed ours and was ignored: the polite client offers again right after
    /// answering, so our next offer waits for that (until this deadline) instead of crossing it
    /// once more.
    client_reoffer_until: Option<Instant>,
    /// A `data` channel on its own is offered only from this time on: right after a
    /// negotiation the client is likely to offer its tracks, and the two offers would cross.
    channel_not_before: Option<Instant>,
    /// The first m-line of the session (the BUNDLE tag): never stopped, only set inactive.
    first_mid: Option<String>,
}

/// How long a channel-only offer waits after a completed negotiation.
const CHANNEL_HOLD: Duration = Duration::from_secs(1);

/// The mid of the first m-line of an SDP.
fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:").map(str::to_owned))
}

impl Negotiation {
    pub fn mid_of(&self, track: TrackId) -> Option<Mid> {
        self.lines.get(&track).copied()
    }

    pub fn is_down_mid(&self, mid: Mid) -> bool {
        self.by_mid.contains_key(&mid)
    }

    pub fn track_by_mid(&self, mid: Mid) -> Option<TrackId> {
        self.by_mid.get(&mid).copied()
    }
}

impl Peer {
    /// The room wants this peer to receive `track`; takes effect with the next server offer.
    pub fn want_down_track(&mut self, track: TrackId, publisher: ParticipantId, kind: MediaKind) {
        self.negotiation
            .wanted
            .insert(track, DownSpec { publisher, kind });
    }

    /// The room no longer sends `track` to this peer.
    pub fn drop_down_track(&mut self, track: TrackId) {
        self.negotiation.wanted.remove(&track);
    }

    /// Creates a server offer for the queued down-track changes, when there are any and no
    /// offer is in flight. Returns the SDP to send.
    pub fn make_offer(&mut self, now: Instant) -> Option<String> {
        let n = &mut self.negotiation;
        if n.pending.is_some() || n.client_reoffer_until.is_some_and(|t| now < t) {
            return None;
        }
        n.client_reoffer_until = None;
        let adds: Vec<(TrackId, DownSpec)> = n
            .wanted
            .iter()
            .filter(|(t, _)| !n.lines.contains_key(t))
            .map(|(t, s)| (*t, *s))
            .collect();
        let removes: Vec<(TrackId, Mid)> = n
            .lines
            .iter()
            .filter(|(t, _)| !n.wanted.contains_key(t))
            .map(|(t, m)| (*t, *m))
            .collect();
        // Open our `data` channel only once an offer/answer has completed: an application
        // m-line in a first server offer that crosses the client's own offer makes Chrome fail
        // to start SCTP after its rollback (seen with Chrome 156).
        let channel_due = n.channel_not_before.is_none_or(|t| now >= t);
        let add_channel = !n.channel_added
            && n.described
            && (channel_due || !adds.is_empty() || !removes.is_empty());
        if adds.is_empty() && removes.is_empty() && !add_channel {
            return None;
        }

        let mut api = self.rtc.sdp_api();
        let mut added = Vec::new();
        for (track, spec) in &adds {
            let kind = match spec.kind {
                MediaKind::Audio => str0m::media::MediaKind::Audio,
                MediaKind::Video => str0m::media::MediaKind::Video,
            };
            // API.md: a=msid:<participant_id> <track_id>; the track id must be unique per
            // m-line or browsers reject the offer.
            let mid = api.add_media(
                kind,
                Direction::SendOnly,
                Some(spec.publisher.to_string()),
                Some(track.to_string()),
                None,
            );
            added.push((*track, mid));
        }
        for (_, mid) in &removes {
            // Stopping the BUNDLE tag (the first m-line) makes Chrome build a new transport
            // (new ICE and DTLS) for the rest, which a one-transport server cannot follow: that
            // m-line is only set inactive (RFC 8843 7.5.3 trouble avoided).
            if n.first_mid.as_deref() == Some(mid.to_string().as_str()) {
                api.set_direction(*mid, Direction::Inactive);
            } else {
                api.stop_media(*mid);
            }
        }
        let mut channel = None;
        if add_channel {
            channel = Some(api.add_channel(DATA_CHANNEL_LABEL.to_string()));
        }
        let applied = api.apply();

        let n = &mut self.negotiation;
        if add_channel {
            n.channel_added = true;
            self.server_channel = channel;
            if let Some(id) = channel {
                self.data_channels.push(id);
            }
        }
        let Some((offer, pending)) = applied else {
            // Only a direct change (a channel over an existing SCTP association).
            return None;
        };
        for (track, mid) in &added {
            n.lines.insert(*track, *mid);
            n.by_mid.insert(*mid, *track);
        }
        let sdp = offer.to_sdp_string();
        if n.first_mid.is_none() {
            n.first_mid = first_mid(&sdp);
        }
        n.pending = Some(Pending {
            offer: pending,
            added: added.iter().map(|(t, _)| *t).collect(),
            removed: removes.iter().map(|(t, _)| *t).collect(),
        });
        Some(sdp)
    }

    /// Applies the client's answer to our offer. Returns the down tracks it negotiated.
    pub fn accept_answer(
        &mut self,
        sdp: &str,
        now: Instant,
    ) -> Result<Vec<TrackId>, NegotiationError> {
        let answer = SdpAnswer::from_sdp_string(sdp)
            .map_err(|e| NegotiationError::InvalidSdp(e.to_string()))?;
        let pending = self
            .negotiation
            .pending
            .take()
            .ok_or(NegotiationError::NoPendingOffer)?;
        let result = self.rtc.sdp_api().accept_answer(pending.offer, answer);
        let n = &mut self.negotiation;
        for track in &pending.removed {
            if let Some(mid) = n.lines.remove(track) {
                n.by_mid.remove(&mid);
            }
        }
        match result {
            Ok(()) => {
                n.described = true;
                n.channel_not_before = Some(now + CHANNEL_HOLD);
                self.refresh_nack_pts();
                Ok(pending.added)
            }
            Err(e) => {
                // The offered m-lines never came to be; they are offered again next time.
                for track in &pending.added {
                    if let Some(mid) = n.lines.remove(track) {
                        n.by_mid.remove(&mid);
                    }
                }
                Err(NegotiationError::Rejected(e.to_string()))
            }
        }
    }

    /// Answers a client offer; `Ok(None)` when it crossed our pending offer and was ignored.
    pub fn accept_offer(
        &mut self,
        sdp: &str,
        now: Instant,
    ) -> Result<Option<String>, NegotiationError> {
        let offer = SdpOffer::from_sdp_string(sdp)
            .map_err(|e| NegotiationError::InvalidSdp(e.to_string()))?;
        if self.negotiation.pending.is_some() {
            self.negotiation.client_reoffer_until = Some(now + REOFFER_GRACE);
            return Ok(None);
        }
        self.negotiation.client_reoffer_until = None;
        self.sim_groups = super::sim_group::parse(sdp);
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| NegotiationError::Rejected(e.to_string()))?;
        let n = &mut self.negotiation;
        n.described = true;
        n.channel_not_before = Some(now + CHANNEL_HOLD);
        if n.first_mid.is_none() {
            n.first_mid = first_mid(sdp);
        }
        self.refresh_nack_pts();
        Ok(Some(answer.to_sdp_string()))
    }
}
