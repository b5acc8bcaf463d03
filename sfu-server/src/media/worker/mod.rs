//! The media worker: one thread, one UDP socket, every peer connection and room on it.
//!
//! The loop waits for a datagram, a command or the next deadline. A received datagram goes to
//! its peer connection, which is drained at once (its RTP is routed through its room and written
//! to the subscribers' connections). The subscribers are drained once per batch of datagrams, in
//! `flush`, so a connection that is written many packets runs its stack's timers and queue scans
//! once for all of them; what they emit leaves in one `sendmmsg` per
//! [`OUTBOX_CAPACITY`](crate::media::outbox::OUTBOX_CAPACITY)
//! datagrams.
//!
//! str0m wants every mutation of a connection followed by a drain before the next one: a
//! datagram for a connection that is still waiting to be drained drains it first. Writes of RTP
//! are the exception the batching relies on: they only append to the stream's send queue.

mod commands;
mod forwards;
mod hooks;
mod routing;
mod signal;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use sfu_core::{ParticipantId, TrackId, TrackSource};
use tokio::sync::mpsc;

use crate::config::IceServer;
use crate::media::command::{Command, SessionMsg};
use crate::media::histogram::{BANDWIDTH_BUCKETS, LATENCY_BUCKETS, LocalHistogram};
use crate::media::outbox::{Outbox, gso_supported};
use crate::media::room_entry::RoomEntry;
use crate::peer::{Datagram, Peer, PeerConfig, PeerEvent, Polled, Rid};
use crate::webhooks::{EventKind, Webhooks};

/// How often rooms and peers are checked for timeouts.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);
/// Datagrams read before the subscribers they fed are drained. Larger batches save CPU (one
/// drain of a subscriber for many packets) and add latency (a packet waits for the batch, about
/// 10 us per datagram read).
const RECV_BATCH: usize = 32;
/// Commands handled between two batches of datagrams, so signalling never waits behind a busy
/// socket.
const COMMAND_BATCH: usize = 16;
/// Timeouts already due fed back to one connection within one drain. str0m asks for one after
/// every write (to timestamp the send queue), and with estimation on its pacer asks again while
/// a burst is held back by its debt. The bound only guards against a stack that keeps asking;
/// what is left goes through the timers.
const DUE_TIMEOUTS_PER_DRAIN: usize = 256;

/// What the worker needs to know from the configuration.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Address to bind.
    pub udp_addr: SocketAddr,
    /// Kernel socket buffer size.
    pub socket_buffer_bytes: usize,
    /// UDP GSO for runs of datagrams to one subscriber (`media.udp_gso`).
    pub udp_gso: bool,
    /// IPs announced as candidates (empty = the bound address).
    pub announce_ips: Vec<std::net::IpAddr>,
    /// Rooms are created on first join.
    pub auto_create_rooms: bool,
    /// Default empty timeout of new rooms.
    pub empty_timeout: Duration,
    /// Default participant limit of new rooms (0 = none).
    pub max_participants: u32,
    /// Silence after which a connected peer is dropped.
    pub peer_timeout: Duration,
    /// Sent to clients in `joined`.
    pub ice_servers: Vec<IceServer>,
    /// Per-subscriber bandwidth estimation and allocation (`media.bandwidth_estimation`).
    pub bandwidth_estimation: bool,
    /// Pausing unneeded publisher encodings (`media.dynacast`).
    pub dynacast: bool,
    /// Where room events are reported (`[webhooks]`).
    pub webhooks: Webhooks,
    /// Most forwards open at once in one room (`forwards.max_per_room`).
    pub max_forwards_per_room: usize,
}

/// Counters of the media plane.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerStats {
    /// Rooms open.
    pub rooms: usize,
    /// Participants joined.
    pub participants: usize,
    /// Tracks published.
    pub published_tracks: usize,
    /// Subscriptions (one per subscriber and track).
    pub subscribed_tracks: usize,
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Bytes received (UDP payload).
    pub bytes_in: u64,
    /// Bytes sent (UDP payload).
    pub bytes_out: u64,
    /// Datagrams that were no STUN/DTLS/RTP/RTCP at all.
    pub datagrams_malformed: u64,
    /// Datagrams no peer connection accepted.
    pub datagrams_unrouted: u64,
    /// Datagrams a peer connection failed to process.
    pub datagrams_rejected: u64,
    /// Datagrams the socket refused to send.
    pub send_errors: u64,
    /// Messages that carried several datagrams to one subscriber (UDP GSO).
    pub gso_messages: u64,
    /// RTP packets received from publishers.
    pub rtp_in: u64,
    /// RTP packets forwarded to subscribers.
    pub rtp_forwarded: u64,
    /// RTP packets not forwarded, by reason.
    pub rtp_dropped: Vec<(String, u64)>,
    /// Keyframe requests received from subscribers: PLI.
    pub pli_in: u64,
    /// Keyframe requests received from subscribers: FIR.
    pub fir_in: u64,
    /// Keyframe requests sent to publishers (after throttling): PLI.
    pub pli_out: u64,
    /// Keyframe requests sent to publishers (after throttling): FIR.
    pub fir_out: u64,
    /// Layer switches made on down tracks of the open rooms.
    pub layer_switches: u64,
    /// NACKs received from subscribers (the stack answers them from its RTX cache).
    pub nacks_in: u64,
    /// NACKs sent to publishers for packets lost on the way in.
    pub nacks_out: u64,
    /// Packets resent to subscribers on RTX streams.
    pub retransmissions: u64,
    /// `error` messages sent on the WebSocket by the worker, by code.
    pub signal_errors: std::collections::BTreeMap<String, u64>,
    /// Every subscriber downlink estimate (bits/s); empty unless estimation is on.
    #[serde(skip)]
    pub bandwidth_estimates: LocalHistogram,
    /// Seconds from reading a datagram to sending the packets forwarded from it.
    #[serde(skip)]
    pub forwarding_latency: LocalHistogram,
    /// Forwards (recording taps) open.
    pub forwards: usize,
    /// RTP packets sent by forwards.
    pub forward_rtp_sent: u64,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            rooms: 0,
            participants: 0,
            published_tracks: 0,
            subscribed_tracks: 0,
            datagrams_in: 0,
            datagrams_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            datagrams_malformed: 0,
            datagrams_unrouted: 0,
            datagrams_rejected: 0,
            send_errors: 0,
            gso_messages: 0,
            rtp_in: 0,
            rtp_forwarded: 0,
            rtp_dropped: Vec::new(),
            pli_in: 0,
            fir_in: 0,
            pli_out: 0,
            fir_out: 0,
            layer_switches: 0,
            nacks_in: 0,
            nacks_out: 0,
            retransmissions: 0,
            forwards: 0,
            forward_rtp_sent: 0,
            signal_errors: Default::default(),
            bandwidth_estimates: LocalHistogram::new(BANDWIDTH_BUCKETS),
            forwarding_latency: LocalHistogram::new(LATENCY_BUCKETS),
        }
    }
}

/// A joined participant.
struct Member {
    room: String,
    identity: String,
    session: mpsc::Sender<SessionMsg>,
    peer: Peer,
    /// `track_info` received before the m-line it describes.
    pending_track_info: HashMap<String, (TrackSource, Option<String>)>,
    /// Down tracks negotiated and not yet started: their forwarding (and the keyframe request
    /// that starts it) waits until the transport is connected. Media written before DTLS would
    /// queue and leave in one burst with the handshake's last flight, which some stacks
    /// (webrtc-rs) read before installing their SRTP keys, losing the start of the keyframe.
    awaiting_connection: Vec<TrackId>,
    timeout: Instant,
    /// Log span of this participant, inside its room's span.
    span: tracing::Span,
}

struct Worker {
    socket: tokio::net::UdpSocket,
    /// The address datagrams are addressed to, as the peers' candidates know it.
    local: SocketAddr,
    settings: WorkerSettings,
    peer_config: PeerConfig,
    rooms: HashMap<String, RoomEntry>,
    // The maps looked up per packet use the Fx hash: SipHash showed in profiles, and their keys
    // are server-assigned ids or addresses already proven by an ICE check.
    members: FxHashMap<ParticipantId, Member>,
    by_addr: FxHashMap<SocketAddr, ParticipantId>,
    dirty: Vec<ParticipantId>,
    dirty_set: FxHashSet<ParticipantId>,
    /// Peer deadlines, soonest first. Entries go stale when a peer's deadline changes and are
    /// skipped when they surface (checked against `Member::timeout`), so no scan per packet.
    timers: BinaryHeap<Reverse<(Instant, ParticipantId)>>,
    offers_due: BTreeSet<ParticipantId>,
    events: VecDeque<(ParticipantId, PeerEvent)>,
    removals: Vec<(ParticipantId, Option<String>)>,
    draining: bool,
    /// Open forwards (the recording tap), whatever their room.
    forwards: HashMap<sfu_core::ForwardId, crate::media::forward::ForwardSink>,
    /// Datagrams the peers emitted, sent together.
    outbox: Outbox,
    next_housekeeping: Instant,
    stats: WorkerStats,
}

/// Runs the worker on the calling thread until the command channel closes.
pub fn run(
    socket: std::net::UdpSocket,
    settings: WorkerSettings,
    commands: mpsc::Receiver<Command>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the media worker runtime");
            return;
        }
    };
    runtime.block_on(async move {
        let bound = match socket.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "media socket has no address");
                return;
            }
        };
        let socket = match tokio::net::UdpSocket::from_std(socket) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot register the media socket");
                return;
            }
        };
        let candidates: Vec<SocketAddr> = if settings.announce_ips.is_empty() {
            vec![bound]
        } else {
            settings
                .announce_ips
                .iter()
                .map(|ip| SocketAddr::new(*ip, bound.port()))
                .collect()
        };
        let gso = settings.udp_gso && gso_supported(&socket);
        tracing::info!(
            udp_gso = gso,
            configured = settings.udp_gso,
            "media socket: UDP GSO {}",
            if gso { "on" } else { "off" }
        );
        let mut worker = Worker {
            socket,
            local: candidates[0],
            peer_config: PeerConfig {
                candidates,
                bandwidth_estimation: settings.bandwidth_estimation,
            },
            settings,
            rooms: HashMap::new(),
            members: FxHashMap::default(),
            by_addr: FxHashMap::default(),
            dirty: Vec::new(),
            dirty_set: FxHashSet::default(),
            timers: BinaryHeap::new(),
            offers_due: BTreeSet::new(),
            events: VecDeque::new(),
            removals: Vec::new(),
            draining: false,
            forwards: HashMap::new(),
            outbox: Outbox::new(gso),
            next_housekeeping: Instant::now() + HOUSEKEEPING_INTERVAL,
            stats: WorkerStats::default(),
        };
        worker.run(commands).await;
    });
}

impl Worker {
    async fn run(&mut self, mut commands: mpsc::Receiver<Command>) {
        let mut buf = vec![0u8; 2048];
        'run: loop {
            let deadline = self.next_deadline();
            tokio::select! {
                biased;
                readable = self.socket.readable() => {
                    if readable.is_ok() {
                        for _ in 0..RECV_BATCH {
                            match self.socket.try_recv_from(&mut buf) {
                                Ok((n, source)) => {
                                    let now = Instant::now();
                                    self.on_datagram(source, &buf[..n], now);
                                }
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                                Err(e) => {
                                    // ICMP errors surface here on Linux; they concern one peer.
                                    tracing::debug!(error = %e, "media socket receive error");
                                    break;
                                }
                            }
                        }
                        self.flush(Instant::now());
                    }
                }
                command = commands.recv() => {
                    let Some(command) = command else { break };
                    self.run_command(command);
                }
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            // The select prefers the socket: commands queued meanwhile get their turn here.
            for _ in 0..COMMAND_BATCH {
                match commands.try_recv() {
                    Ok(command) => self.run_command(command),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => break 'run,
                }
            }
            let now = Instant::now();
            self.on_timeouts(now);
            self.flush(now);
        }
        tracing::debug!("media worker stopped");
    }

    /// Carries out one command and everything it set in motion.
    fn run_command(&mut self, command: Command) {
        let now = Instant::now();
        self.on_command(command, now);
        self.flush(now);
    }

    fn next_deadline(&mut self) -> Instant {
        let mut deadline = self.next_housekeeping;
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if self.members.get(&id).is_some_and(|m| m.timeout == t) {
                deadline = deadline.min(t);
                break;
            }
            self.timers.pop();
        }
        for r in self.rooms.values() {
            if let Some(t) = r.core.poll_timeout() {
                deadline = deadline.min(t);
            }
        }
        deadline
    }

    fn on_datagram(&mut self, source: SocketAddr, bytes: &[u8], now: Instant) {
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        let Some(datagram) = Datagram::parse(now, source, self.local, bytes) else {
            self.stats.datagrams_malformed += 1;
            return;
        };
        let id = match self.by_addr.get(&source) {
            Some(id) => *id,
            None => {
                // A new address: only a STUN check with a peer's ICE credentials is accepted,
                // which also covers a client whose address changed (ICE restart, NAT rebinding).
                let Some(id) = self
                    .members
                    .iter()
                    .find(|(_, m)| m.peer.accepts(&datagram))
                    .map(|(id, _)| *id)
                else {
                    self.stats.datagrams_unrouted += 1;
                    return;
                };
                self.by_addr.insert(source, id);
                id
            }
        };
        if self.dirty_set.remove(&id) {
            // Written to since its last drain: drained before it takes new input.
            self.drain_peer(id, now);
        }
        let Some(member) = self.members.get_mut(&id) else {
            self.stats.datagrams_unrouted += 1;
            return;
        };
        if let Err(e) = member.peer.handle_datagram(datagram, now) {
            self.stats.datagrams_rejected += 1;
            tracing::trace!(participant = %id, error = %e, "datagram rejected");
        }
        self.drain_peer(id, now);
    }

    fn on_timeouts(&mut self, now: Instant) {
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            if m.timeout != t {
                continue; // stale entry
            }
            m.peer.handle_timeout(now);
            // Until drained the peer has no known deadline; drain_peer records the new one.
            m.timeout = now + HOUSEKEEPING_INTERVAL;
            self.timers.push(Reverse((m.timeout, id)));
            self.mark_dirty(id);
        }
        let rooms: Vec<String> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.core.poll_timeout().is_some_and(|t| t <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in rooms {
            if let Some(r) = self.rooms.get_mut(&name) {
                r.core.handle_timeout(now);
            }
            self.route_room(&name, now);
        }
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING_INTERVAL;
            self.housekeeping(now);
        }
    }

    /// Drops dead or silent peers and closes rooms that stayed empty too long.
    fn housekeeping(&mut self, now: Instant) {
        let timeout = self.settings.peer_timeout;
        for (id, m) in &self.members {
            // Offers held back for a client re-offer that never came go out now.
            self.offers_due.insert(*id);
            if !m.peer.is_alive() {
                self.removals.push((*id, Some("connection_closed".into())));
            } else if m.peer.is_connected() && m.peer.idle_for(now) > timeout {
                self.removals.push((*id, Some("peer_timeout".into())));
            }
        }
        let expired: Vec<String> = self
            .rooms
            .values()
            .filter(|r| {
                r.members.is_empty()
                    && r.empty_since
                        .is_some_and(|t| now.saturating_duration_since(t) >= r.empty_timeout)
            })
            .map(|r| r.name.clone())
            .collect();
        for name in expired {
            self.end_room_forwards(&name, now);
            self.hook_room(EventKind::RoomFinished, &name);
            if let Some(room) = self.rooms.remove(&name) {
                room.span
                    .in_scope(|| tracing::info!("room closed after empty timeout"));
            }
        }
        self.send_forward_reports();
    }

    fn mark_dirty(&mut self, id: ParticipantId) {
        if self.dirty_set.insert(id) {
            self.dirty.push(id);
        }
    }

    /// Runs everything that became due until the worker is quiescent, then sends what it said.
    fn flush(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(id) = self.dirty.pop() {
                // Not in the set: drained early, when a datagram for it arrived.
                if self.dirty_set.remove(&id) {
                    self.drain_peer(id, now);
                    progressed = true;
                }
            }
            while let Some((id, event)) = self.events.pop_front() {
                self.on_peer_event(id, event, now);
                progressed = true;
            }
            let offers = std::mem::take(&mut self.offers_due);
            for id in offers {
                self.send_offer_if_due(id, now);
                progressed = true;
            }
            let removals = std::mem::take(&mut self.removals);
            for (id, reason) in removals {
                self.remove_participant(id, reason, now);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        send_outbox(&mut self.outbox, &self.socket, &mut self.stats);
    }

    /// Polls one peer until it has nothing more to say; its RTP goes straight into its room.
    fn drain_peer(&mut self, id: ParticipantId, now: Instant) {
        let Worker {
            members,
            rooms,
            socket,
            events,
            stats,
            timers,
            outbox,
            ..
        } = self;
        let Some(member) = members.get_mut(&id) else {
            return;
        };
        let mut room = rooms.get_mut(&member.room);
        member.peer.release_written(now);
        let mut due_timeouts = 0;
        loop {
            match member.peer.poll() {
                Polled::Timeout(t)
                    if due_timeouts < DUE_TIMEOUTS_PER_DRAIN
                        && (t <= now || t <= Instant::now()) =>
                {
                    // Already due, fed straight back instead of a round through the timer heap
                    // (one loop iteration each). The pacer asks for its next packet at the last
                    // timeout + 1 us, after `now`: hence the fresh clock.
                    due_timeouts += 1;
                    member.peer.handle_timeout(Instant::now().max(t));
                }
                Polled::Timeout(t) => {
                    if member.timeout != t {
                        member.timeout = t;
                        timers.push(Reverse((t, id)));
                    }
                    break;
                }
                Polled::Transmit(t) => {
                    let (destination, bytes, egress) = t.into_parts();
                    if outbox.push(destination, bytes, egress) {
                        send_outbox(outbox, socket, stats);
                    }
                }
                Polled::Rtp { track, rid, packet } => {
                    stats.rtp_in += 1;
                    if let Some(room) = room.as_mut() {
                        room.core
                            .handle_rtp(track, rid.as_ref().map(Rid::as_str), packet, now);
                    }
                }
                Polled::Event(event) => events.push_back((id, event)),
            }
        }
        let nacks = member.peer.take_nack_counts();
        stats.nacks_in += nacks.received;
        stats.nacks_out += nacks.sent;
        let name = member.room.clone();
        self.route_room(&name, now);
    }

    /// Sends a message to a participant's WebSocket; a full or closed queue ends the session.
    fn send(&mut self, to: ParticipantId, message: &crate::signal::messages::ServerMessage) {
        let Some(member) = self.members.get(&to) else {
            return;
        };
        if let crate::signal::messages::ServerMessage::Error { code, .. } = message {
            *self.stats.signal_errors.entry(code.clone()).or_default() += 1;
        }
        match member.session.try_send(SessionMsg::Text(message.to_json())) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(participant = %to, "signalling queue full; disconnecting the slow client");
                self.removals.push((to, Some("slow_client".into())));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.removals.push((to, None)),
        }
    }

    /// Leaves a participant out of everything; `reason` is sent as `leave` first when given.
    fn remove_participant(&mut self, id: ParticipantId, reason: Option<String>, now: Instant) {
        let Some(mut member) = self.members.remove(&id) else {
            return;
        };
        let _span = member.span.clone().entered();
        if let Some(reason) = reason {
            tracing::info!(participant = %id, identity = %member.identity, room = %member.room, %reason, "participant removed");
            let _ = member.session.try_send(SessionMsg::Leave(reason));
        } else {
            tracing::info!(participant = %id, identity = %member.identity, room = %member.room, "participant left");
        }
        // Let DTLS say goodbye so the client notices at once.
        member.peer.close();
        loop {
            match member.peer.poll() {
                Polled::Transmit(t) => {
                    let _ = self.socket.try_send_to(t.contents(), t.destination());
                }
                Polled::Timeout(_) => break,
                _ => {}
            }
        }
        self.by_addr.retain(|_, p| *p != id);
        self.offers_due.remove(&id);
        let leaving = self.leaving_participant(&member.room, id);
        if let Some(room) = self.rooms.get_mut(&member.room) {
            room.members.remove(&id);
            let _ = room.core.handle_leave(id, now);
            if room.members.is_empty() {
                room.empty_since = Some(now);
            }
        }
        if let Some(participant) = leaving {
            self.hook_left(&member.room, participant);
        }
        self.route_room(&member.room, now);
    }
}

/// Sends an outbox on the media socket and counts what left.
fn send_outbox(outbox: &mut Outbox, socket: &tokio::net::UdpSocket, stats: &mut WorkerStats) {
    if outbox.is_empty() {
        return;
    }
    let latency = &mut stats.forwarding_latency;
    let report = outbox.send(socket, |arrival, left| {
        latency.observe(left.saturating_duration_since(arrival).as_secs_f64());
    });
    stats.datagrams_out += report.sent;
    stats.bytes_out += report.bytes;
    stats.send_errors += report.failed;
    stats.gso_messages += report.gso_messages;
    stats.retransmissions += report.retransmissions;
}
