//! Offer/answer of one connection with the client as the polite peer: it offers what it
//! publishes, answers every server (re-)offer, and rolls its own offer back when one crosses it.

use std::time::Instant;

use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;

/// Bound on remote candidates held until the remote description arrives.
const MAX_EARLY_CANDIDATES: usize = 16;

/// Negotiation state that rtc does not expose (or gets wrong) and the client needs.
#[derive(Debug, Default)]
pub struct Negotiation {
    /// Our offer awaits its answer (signalling state have-local-offer).
    offering: bool,
    /// Our published m-lines have been answered.
    published: bool,
    /// The DTLS role, once the first exchange fixed it: true when we are the DTLS server.
    dtls_server: Option<bool>,
    /// Remote candidates trickled before any remote description (rtc refuses those).
    early_candidates: Vec<String>,
}

/// The `a=setup:` value of an SDP, if any.
fn setup(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=setup:"))
}

impl Negotiation {
    /// Whether our published m-lines have been answered.
    pub fn is_published(&self) -> bool {
        self.published
    }

    /// Creates and applies an offer of everything added to `pc`.
    pub fn offer(&mut self, pc: &mut RTCPeerConnection, now: Instant) -> anyhow::Result<String> {
        let offer = pc.create_offer(None)?;
        let sdp = offer.sdp.clone();
        pc.set_local_description(now, offer)?;
        self.offering = true;
        Ok(sdp)
    }

    /// Applies the answer to our offer.
    pub fn on_answer(
        &mut self,
        pc: &mut RTCPeerConnection,
        sdp: &str,
        now: Instant,
    ) -> anyhow::Result<()> {
        if !self.offering {
            anyhow::bail!("an answer without an offer in flight");
        }
        self.offering = false;
        if self.dtls_server.is_none() {
            // The answerer picked the role: `active` makes it the DTLS client.
            self.dtls_server = Some(setup(sdp) == Some("active"));
        }
        pc.set_remote_description(now, RTCSessionDescription::answer(sdp.to_owned())?)?;
        self.published = true;
        self.apply_early_candidates(pc);
        Ok(())
    }

    /// Answers a server offer, rolling back a crossing offer of ours first; returns the answer
    /// and whether our offer was rolled back (and must be made again).
    pub fn on_offer(
        &mut self,
        pc: &mut RTCPeerConnection,
        sdp: &str,
        now: Instant,
    ) -> anyhow::Result<(String, bool)> {
        let rolled_back = self.offering;
        if rolled_back {
            pc.set_local_description(now, RTCSessionDescription::rollback(None)?)?;
            self.offering = false;
        }
        pc.set_remote_description(now, RTCSessionDescription::offer(sdp.to_owned())?)?;
        self.apply_early_candidates(pc);
        let mut answer = pc.create_answer(None)?;
        let dtls_server = *self
            .dtls_server
            .get_or_insert_with(|| setup(&answer.sdp) == Some("passive"));
        // rtc 0.21 answers with the configured answering role, not the one it holds: a client
        // that became the DTLS server as offerer would claim `active` on a re-offer. Say what
        // is true (the handshake is done; the attribute only informs the server).
        if dtls_server && setup(&answer.sdp) == Some("active") {
            answer.sdp = answer.sdp.replace("a=setup:active", "a=setup:passive");
        }
        let sdp = answer.sdp.clone();
        pc.set_local_description(now, RTCSessionDescription::answer(answer.sdp)?)?;
        Ok((sdp, rolled_back))
    }

    /// Adds a trickled remote candidate (held until a remote description exists).
    pub fn on_candidate(
        &mut self,
        pc: &mut RTCPeerConnection,
        candidate: &str,
    ) -> anyhow::Result<()> {
        let line = candidate.strip_prefix("a=").unwrap_or(candidate).trim();
        if line.is_empty() {
            return Ok(());
        }
        if pc.remote_description().is_none() {
            if self.early_candidates.len() < MAX_EARLY_CANDIDATES {
                self.early_candidates.push(line.to_owned());
            }
            return Ok(());
        }
        pc.add_remote_candidate(RTCIceCandidateInit {
            candidate: line.to_owned(),
            ..Default::default()
        })?;
        Ok(())
    }

    fn apply_early_candidates(&mut self, pc: &mut RTCPeerConnection) {
        for line in std::mem::take(&mut self.early_candidates) {
            let _ = pc.add_remote_candidate(RTCIceCandidateInit {
                candidate: line,
                ..Default::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::setup;

    #[test]
    fn setup_reads_the_attribute() {
        assert_eq!(setup("v=0\r\na=setup:active\r\n"), Some("active"));
        assert_eq!(setup("v=0\r\n"), None);
    }
}
