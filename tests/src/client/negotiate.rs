//! The polite-peer negotiator: one task owning the offer/answer state of a `TestClient`.
//!
//! Rules (API.md): the client offers when it has changes; when a server offer arrives while
//! our own offer is in flight, we roll back, answer the server, then re-offer if changes remain.
//! Server candidates are trickled in (queued until a remote description exists); when a relay is
//! used, every server candidate (in SDP and in `candidate` messages) is rewritten to the relay.

use anyhow::{Result, anyhow};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use webrtc::peer_connection::{RTCIceCandidateInit, RTCSdpType, RTCSessionDescription};

use super::peer::WebrtcPeer;
use crate::signal::{CandidateInfo, SignalClient, msg_type};
use crate::util::lock;

/// A request to the negotiator.
pub(crate) enum NegCmd {
    /// Offer if there are changes (or always, with `force`); `done` fires once an answer to an
    /// offer containing the changes was applied (or nothing needed negotiating).
    Negotiate {
        force: bool,
        done: oneshot::Sender<Result<()>>,
    },
}

/// Rewrites server candidates on `from_port` to `to` (the lossy relay).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rewrite {
    pub(crate) from_port: u16,
    pub(crate) to: SocketAddr,
}

/// Rewrites one `candidate:` / `a=candidate:` value if it names `rw.from_port` over UDP.
pub fn rewrite_candidate(line: &str, from_port: u16, to: SocketAddr) -> String {
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() >= 6
        && parts[2].eq_ignore_ascii_case("udp")
        && parts[5].parse::<u16>().ok() == Some(from_port)
    {
        let ip = to.ip().to_string();
        let port = to.port().to_string();
        let mut out: Vec<&str> = parts.clone();
        out[4] = &ip;
        out[5] = &port;
        return out.join(" ");
    }
    line.to_owned()
}

/// Rewrites every `a=candidate:` line of an SDP (see [`rewrite_candidate`]).
pub fn rewrite_sdp_candidates(sdp: &str, from_port: u16, to: SocketAddr) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let (body, eol) = match line.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            },
        };
        if body.starts_with("a=candidate:") {
            out.push_str(&rewrite_candidate(body, from_port, to));
        } else {
            out.push_str(body);
        }
        out.push_str(eol);
    }
    out
}

/// Removes the RTX payload types (and their `rtpmap`/`fmtp`/`rtcp-fb` lines) from the media
/// sections whose mid is in `mids`.
///
/// webrtc 0.21 offers RTX on every video m-line once an RTX codec is registered (codec
/// preferences keep repair codecs), but RTX must not be negotiated with RID simulcast; the
/// offer sent to the server is munged instead, leaving the local description untouched.
pub fn strip_rtx_for_mids(sdp: &str, mids: &[String]) -> String {
    if mids.is_empty() {
        return sdp.to_owned();
    }
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = sdp.lines().collect();
    // Split into the session part and media sections.
    let mut sections: Vec<Vec<&str>> = vec![Vec::new()];
    for l in lines {
        if l.starts_with("m=") {
            sections.push(Vec::new());
        }
        if let Some(last) = sections.last_mut() {
            last.push(l);
        }
    }
    let mut out: Vec<String> = Vec::new();
    for (i, sec) in sections.iter().enumerate() {
        let mid = sec.iter().find_map(|l| l.strip_prefix("a=mid:"));
        let target = i > 0 && mid.is_some_and(|m| mids.iter().any(|x| x == m));
        if !target {
            out.extend(sec.iter().map(|l| (*l).to_owned()));
            continue;
        }
        let rtx: Vec<String> = sec
            .iter()
            .filter_map(|l| l.strip_prefix("a=rtpmap:"))
            .filter_map(|r| {
                let (pt, enc) = r.split_once(' ')?;
                enc.to_ascii_lowercase()
                    .starts_with("rtx/")
                    .then(|| pt.to_owned())
            })
            .collect();
        for l in sec {
            if l.starts_with("m=") {
                let kept: Vec<&str> = l
                    .split(' ')
                    .enumerate()
                    .filter(|(j, f)| *j < 3 || !rtx.iter().any(|p| p == f))
                    .map(|(_, f)| f)
                    .collect();
                out.push(kept.join(" "));
                continue;
            }
            let drop = ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"].iter().any(|pfx| {
                l.strip_prefix(pfx).is_some_and(|r| {
                    let pt = r.split(' ').next().unwrap_or("");
                    rtx.iter().any(|p| p == pt)
                })
            });
            if !drop {
                out.push((*l).to_owned());
            }
        }
    }
    let mut s = out.join(eol);
    s.push_str(eol);
    s
}

/// The first `a=mid:` value of an SDP.
pub fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .map(str::to_owned)
}

pub(crate) struct Negotiator {
    pub(crate) peer: Arc<WebrtcPeer>,
    pub(crate) signal: Arc<SignalClient>,
    pub(crate) rewrite: Option<Rewrite>,
    pub(crate) log: Arc<Mutex<Vec<String>>>,
    in_flight: bool,
    pending: Vec<oneshot::Sender<Result<()>>>,
    inflight_waiters: Vec<oneshot::Sender<Result<()>>>,
    want: bool,
    force_requested: u64,
    force_offered: u64,
    force_done: u64,
    remote_set: bool,
    queued: Vec<RTCIceCandidateInit>,
    start: Instant,
}

impl Negotiator {
    pub(crate) fn new(
        peer: Arc<WebrtcPeer>,
        signal: Arc<SignalClient>,
        rewrite: Option<Rewrite>,
        log: Arc<Mutex<Vec<String>>>,
    ) -> Self {
        Self {
            peer,
            signal,
            rewrite,
            log,
            in_flight: false,
            pending: Vec::new(),
            inflight_waiters: Vec::new(),
            want: false,
            force_requested: 0,
            force_offered: 0,
            force_done: 0,
            remote_set: false,
            queued: Vec::new(),
            start: Instant::now(),
        }
    }

    fn note(&self, s: String) {
        let mut l = lock(&self.log);
        if l.len() < 10_000 {
            l.push(format!("{:>7.3}s {s}", self.start.elapsed().as_secs_f64()));
        }
    }

    pub(crate) async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<NegCmd>,
        mut msgs: mpsc::UnboundedReceiver<Value>,
    ) {
        loop {
            tokio::select! {
                c = cmds.recv() => match c {
                    Some(NegCmd::Negotiate { force, done }) => {
                        self.pending.push(done);
                        self.want = true;
                        if force {
                            self.force_requested += 1;
                        }
                        self.maybe_offer().await;
                    }
                    None => break,
                },
                m = msgs.recv() => match m {
                    Some(v) => self.on_signal(v).await,
                    None => break,
                },
            }
        }
        let err = || Err(anyhow!("negotiator stopped (signalling closed)"));
        for w in self
            .pending
            .drain(..)
            .chain(self.inflight_waiters.drain(..))
        {
            let _ = w.send(err());
        }
    }

    fn rw_sdp(&self, sdp: String) -> String {
        match self.rewrite {
            Some(r) => rewrite_sdp_candidates(&sdp, r.from_port, r.to),
            None => sdp,
        }
    }

    async fn needs_offer(&self) -> bool {
        if self.force_requested > self.force_done {
            return true;
        }
        for t in self.peer.published() {
            if !t.is_stopped() && t.mid().await.is_none() {
                return true;
            }
        }
        let has_local_dc = self.peer.data_channels().iter().any(|(_, local, _)| *local);
        if has_local_dc {
            let remote = self.peer.pc().remote_description().await;
            if !remote.is_some_and(|d| d.sdp.contains("m=application")) {
                return true;
            }
        }
        false
    }

    async fn maybe_offer(&mut self) {
        if self.in_flight || !self.want {
            return;
        }
        if !self.needs_offer().await {
            self.want = false;
            for w in self.pending.drain(..) {
                let _ = w.send(Ok(()));
            }
            return;
        }
        let forced = self.force_requested;
        match self.send_offer().await {
            Ok(()) => {
                self.in_flight = true;
                self.want = false;
                self.force_offered = forced;
                self.inflight_waiters.append(&mut self.pending);
            }
            Err(e) => {
                self.note(format!("offer failed: {e:#}"));
                self.want = false;
                for w in self.pending.drain(..) {
                    let _ = w.send(Err(anyhow!("creating/sending offer: {e:#}")));
                }
            }
        }
    }

    async fn send_offer(&self) -> Result<()> {
        let pc = self.peer.pc();
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer.clone()).await?;
        if self.peer.options().send_track_info {
            for t in self.peer.published() {
                if t.is_stopped() {
                    continue;
                }
                if let Some(mid) = t.mid().await {
                    self.signal.send(&json!({
                        "type": "track_info", "mid": mid, "source": t.source,
                    }))?;
                }
            }
        }
        let sdp = self.peer.munge_offer(&offer.sdp).await;
        self.signal.send(&json!({"type": "offer", "sdp": sdp}))?;
        self.note("sent offer".into());
        Ok(())
    }

    async fn flush_candidates(&mut self) {
        for c in std::mem::take(&mut self.queued) {
            if let Err(e) = self.peer.pc().add_ice_candidate(c).await {
                self.note(format!("add_ice_candidate failed: {e}"));
            }
        }
    }

    async fn on_signal(&mut self, v: Value) {
        match msg_type(&v) {
            "answer" => {
                let Some(sdp) = v.get("sdp").and_then(Value::as_str) else {
                    self.note("answer without sdp".into());
                    return;
                };
                if !self.in_flight {
                    self.note("ignored an answer with no offer in flight".into());
                    return;
                }
                self.in_flight = false;
                let sdp = self.rw_sdp(sdp.to_owned());
                let res = match RTCSessionDescription::answer(sdp) {
                    Ok(d) => self.peer.pc().set_remote_description(d).await,
                    Err(e) => Err(e),
                };
                match res {
                    Ok(()) => {
                        self.note("applied answer".into());
                        self.force_done = self.force_offered;
                        self.remote_set = true;
                        self.flush_candidates().await;
                        self.peer.mark_negotiated();
                        for w in self.inflight_waiters.drain(..) {
                            let _ = w.send(Ok(()));
                        }
                    }
                    Err(e) => {
                        self.note(format!("set_remote_description(answer) failed: {e}"));
                        for w in self.inflight_waiters.drain(..) {
                            let _ = w.send(Err(anyhow!("applying the server answer: {e}")));
                        }
                    }
                }
                self.maybe_offer().await;
            }
            "offer" => {
                let Some(sdp) = v.get("sdp").and_then(Value::as_str) else {
                    self.note("offer without sdp".into());
                    return;
                };
                if self.in_flight {
                    // Polite peer: our offer crossed the server's; the server ignores ours.
                    let mut rollback = RTCSessionDescription::default();
                    rollback.sdp_type = RTCSdpType::Rollback;
                    match self.peer.pc().set_local_description(rollback).await {
                        Ok(()) => self.note("rolled back our offer".into()),
                        Err(e) => self.note(format!("rollback failed: {e}")),
                    }
                    self.in_flight = false;
                    self.pending.append(&mut self.inflight_waiters);
                    self.want = true;
                }
                let sdp = self.rw_sdp(sdp.to_owned());
                match self.answer(sdp).await {
                    Ok(()) => {
                        self.note("answered server offer".into());
                        self.remote_set = true;
                        self.flush_candidates().await;
                        self.peer.mark_negotiated();
                    }
                    Err(e) => self.note(format!("answering the server offer failed: {e:#}")),
                }
                if !self.pending.is_empty() {
                    self.want = true;
                }
                self.maybe_offer().await;
            }
            "candidate" => {
                let Some(c) = v
                    .get("candidate")
                    .and_then(|c| serde_json::from_value::<CandidateInfo>(c.clone()).ok())
                else {
                    self.note(format!("bad candidate message: {v}"));
                    return;
                };
                let candidate = match self.rewrite {
                    Some(r) => rewrite_candidate(&c.candidate, r.from_port, r.to),
                    None => c.candidate,
                };
                let init = RTCIceCandidateInit {
                    candidate,
                    sdp_mid: c.sdp_mid,
                    sdp_mline_index: c.sdp_mline_index,
                    ..Default::default()
                };
                if self.remote_set {
                    if let Err(e) = self.peer.pc().add_ice_candidate(init).await {
                        self.note(format!("add_ice_candidate failed: {e}"));
                    }
                } else {
                    self.queued.push(init);
                }
            }
            _ => {}
        }
    }

    async fn answer(&self, sdp: String) -> Result<()> {
        let pc = self.peer.pc();
        pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
            .await?;
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer.clone()).await?;
        self.signal
            .send(&json!({"type": "answer", "sdp": answer.sdp}))?;
        Ok(())
    }
}

/// Forwards locally gathered candidates to the server as `candidate` messages.
pub(crate) async fn send_candidates(
    peer: Arc<WebrtcPeer>,
    signal: Arc<SignalClient>,
    mut rx: mpsc::UnboundedReceiver<RTCIceCandidateInit>,
) {
    while let Some(c) = rx.recv().await {
        let mid = match peer.pc().local_description().await {
            Some(d) => first_mid(&d.sdp),
            None => None,
        };
        let msg = json!({
            "type": "candidate",
            "candidate": {
                "candidate": c.candidate,
                "sdpMid": mid.unwrap_or_else(|| "0".into()),
                "sdpMLineIndex": 0,
            }
        });
        if signal.send(&msg).is_err() {
            break;
        }
    }
}
