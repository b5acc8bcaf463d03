//! The media engine: one thread, one `mio` poll loop driving every simulated peer connection.
//!
//! Signalling tasks (tokio) talk to the loop through a command channel and a waker; each
//! connection talks back through its own event channel. The loop ticks every [`TICK`]: it
//! writes the media due, fires the stacks' timers, and publishes a [`Snapshot`] for the progress
//! display.

mod conn;
pub mod stats;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use conn::Conn;
pub use conn::{ConnEvent, ConnId, PublishSpec};
use stats::{Counters, Distribution, Recorder};

/// Granularity of media writes and stack timers.
const TICK: Duration = Duration::from_millis(5);
/// How often the shared snapshot is refreshed.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(500);
const WAKER: Token = Token(usize::MAX);

enum Command {
    Open {
        id: ConnId,
        publish: PublishSpec,
        started: Instant,
        events: UnboundedSender<ConnEvent>,
    },
    RemoteOffer(ConnId, String),
    RemoteAnswer(ConnId, String),
    RemoteCandidate(ConnId, String),
    Close(ConnId),
    Measure(bool),
    Shutdown,
}

/// Totals over every connection, as of one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// Connections opened.
    pub conns: usize,
    /// Connections that reached ICE+DTLS connected.
    pub connected: usize,
    /// Connections that failed after opening.
    pub failed: usize,
    /// Traffic counters.
    pub counters: Counters,
    /// RTP packets expected by receivers (from sequence numbers).
    pub expected_in: u64,
    /// Of those, received.
    pub received_in: u64,
    /// NACKs our receivers sent.
    pub nacks_sent: u64,
    /// PLIs/FIRs our receivers sent.
    pub plis_sent: u64,
    /// NACKs the server sent our publishers.
    pub nacks_received: u64,
    /// PLIs/FIRs the server sent our publishers.
    pub plis_received: u64,
    /// Forwarding latency over the measurement window.
    pub latency: Distribution,
    /// Join times.
    pub join: Distribution,
}

/// A cloneable handle to the engine thread.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
    waker: Arc<Waker>,
    next_id: Arc<AtomicUsize>,
    snapshot: Arc<Mutex<Snapshot>>,
}

/// The engine thread; [`Engine::shutdown`] ends it and returns the final snapshot.
pub struct Engine {
    handle: EngineHandle,
    thread: JoinHandle<Snapshot>,
}

impl Engine {
    /// Starts the engine thread; connections bind sockets on `bind_ip`.
    pub fn start(bind_ip: IpAddr) -> anyhow::Result<Engine> {
        crate::probe::init_epoch();
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = mpsc::channel();
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        let shared = snapshot.clone();
        let thread = std::thread::Builder::new()
            .name("loadtest-engine".into())
            .spawn(move || Loop::new(poll, rx, shared, bind_ip).run())?;
        Ok(Engine {
            handle: EngineHandle {
                tx,
                waker,
                next_id: Arc::new(AtomicUsize::new(0)),
                snapshot,
            },
            thread,
        })
    }

    /// A handle for signalling tasks.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Closes every connection and returns the final totals.
    pub fn shutdown(self) -> Snapshot {
        self.handle.send(Command::Shutdown);
        self.thread.join().unwrap_or_default()
    }
}

impl EngineHandle {
    fn send(&self, c: Command) {
        if self.tx.send(c).is_ok() {
            let _ = self.waker.wake();
        }
    }

    /// Opens a connection publishing `publish`; it offers at once when it publishes anything.
    pub fn open(
        &self,
        publish: PublishSpec,
        started: Instant,
        events: UnboundedSender<ConnEvent>,
    ) -> ConnId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.send(Command::Open {
            id,
            publish,
            started,
            events,
        });
        id
    }

    /// Hands a server offer to a connection.
    pub fn remote_offer(&self, id: ConnId, sdp: String) {
        self.send(Command::RemoteOffer(id, sdp));
    }

    /// Hands a server answer to a connection.
    pub fn remote_answer(&self, id: ConnId, sdp: String) {
        self.send(Command::RemoteAnswer(id, sdp));
    }

    /// Hands a trickled server candidate to a connection.
    pub fn remote_candidate(&self, id: ConnId, candidate: String) {
        self.send(Command::RemoteCandidate(id, candidate));
    }

    /// Closes one connection.
    pub fn close(&self, id: ConnId) {
        self.send(Command::Close(id));
    }

    /// Starts (true) or pauses the latency measurement; starting drops earlier samples.
    pub fn measure(&self, on: bool) {
        self.send(Command::Measure(on));
    }

    /// The latest totals (refreshed every half second).
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

struct Loop {
    poll: Poll,
    rx: mpsc::Receiver<Command>,
    shared: Arc<Mutex<Snapshot>>,
    bind_ip: IpAddr,
    conns: Vec<Option<Conn>>,
    /// Totals of connections already closed.
    retired: Snapshot,
    opened: usize,
    rec: Recorder,
    buf: Vec<u8>,
    /// Connections whose socket may still hold datagrams (mio is edge-triggered).
    unread: HashSet<ConnId>,
}

impl Loop {
    fn new(
        poll: Poll,
        rx: mpsc::Receiver<Command>,
        shared: Arc<Mutex<Snapshot>>,
        bind_ip: IpAddr,
    ) -> Self {
        Loop {
            poll,
            rx,
            shared,
            bind_ip,
            conns: Vec::new(),
            retired: Snapshot::default(),
            opened: 0,
            rec: Recorder::default(),
            buf: vec![0u8; 2048],
            unread: HashSet::new(),
        }
    }

    fn run(mut self) -> Snapshot {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now();
        let mut next_snapshot = Instant::now();
        loop {
            let timeout = if self.unread.is_empty() {
                next_tick.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != std::io::ErrorKind::Interrupted
            {
                tracing::error!(error = %e, "poll failed");
                break;
            }
            let mut commands = false;
            for event in events.iter() {
                match event.token() {
                    WAKER => commands = true,
                    Token(id) => {
                        self.unread.insert(id);
                    }
                }
            }
            let ready: Vec<ConnId> = self.unread.drain().collect();
            for id in ready {
                if let Some(conn) = self.conns.get_mut(id).and_then(Option::as_mut)
                    && conn.on_readable(&mut self.buf, &mut self.rec)
                {
                    self.unread.insert(id);
                }
            }
            if commands && self.on_commands() {
                break;
            }
            let now = Instant::now();
            if now >= next_tick {
                for conn in self.conns.iter_mut().flatten() {
                    conn.on_tick(now, &mut self.rec);
                }
                next_tick += TICK;
                if next_tick < now {
                    next_tick = now + TICK;
                }
            }
            if now >= next_snapshot {
                next_snapshot = now + SNAPSHOT_EVERY;
                self.publish();
            }
        }
        for id in 0..self.conns.len() {
            self.retire(id);
        }
        self.publish();
        self.totals()
    }

    /// Applies queued commands; true on shutdown.
    fn on_commands(&mut self) -> bool {
        while let Ok(command) = self.rx.try_recv() {
            let now = Instant::now();
            match command {
                Command::Open {
                    id,
                    publish,
                    started,
                    events,
                } => self.open(id, publish, started, events, now),
                Command::RemoteOffer(id, sdp) => {
                    self.with_conn(id, |c, rec| {
                        if let Err(e) = c.on_remote_offer(&sdp) {
                            tracing::warn!(conn = id, error = %e, "server offer refused");
                        }
                        c.on_tick(now, rec);
                    });
                }
                Command::RemoteAnswer(id, sdp) => {
                    self.with_conn(id, |c, rec| {
                        if let Err(e) = c.on_remote_answer(&sdp, now) {
                            tracing::warn!(conn = id, error = %e, "server answer refused");
                        }
                        c.on_tick(now, rec);
                    });
                }
                Command::RemoteCandidate(id, candidate) => {
                    self.with_conn(id, |c, rec| {
                        if let Err(e) = c.on_remote_candidate(&candidate) {
                            tracing::debug!(conn = id, error = %e, "server candidate refused");
                        }
                        c.on_tick(now, rec);
                    });
                }
                Command::Close(id) => self.retire(id),
                Command::Measure(on) => {
                    if on {
                        self.rec.reset_latency();
                    }
                    self.rec.measuring = on;
                }
                Command::Shutdown => return true,
            }
        }
        false
    }

    fn with_conn(&mut self, id: ConnId, f: impl FnOnce(&mut Conn, &mut Recorder)) {
        if let Some(conn) = self.conns.get_mut(id).and_then(Option::as_mut) {
            f(conn, &mut self.rec);
        }
    }

    fn open(
        &mut self,
        id: ConnId,
        publish: PublishSpec,
        started: Instant,
        events: UnboundedSender<ConnEvent>,
        now: Instant,
    ) {
        // Stream ids: room for an audio and three video layers per connection.
        let stream_base = u32::try_from(id).unwrap_or(u32::MAX / 8) * 8;
        let mut conn = match Conn::new(
            self.bind_ip,
            publish,
            stream_base,
            events.clone(),
            started,
            now,
        ) {
            Ok(c) => c,
            Err(e) => {
                let _ = events.send(ConnEvent::Failed(format!("socket: {e}")));
                return;
            }
        };
        if let Err(e) =
            self.poll
                .registry()
                .register(conn.socket_mut(), Token(id), Interest::READABLE)
        {
            let _ = events.send(ConnEvent::Failed(format!("poll register: {e}")));
            return;
        }
        conn.start();
        conn.on_tick(now, &mut self.rec);
        if self.conns.len() <= id {
            self.conns.resize_with(id + 1, || None);
        }
        self.conns[id] = Some(conn);
        self.opened += 1;
    }

    /// Closes a connection and folds its counters into the retired totals.
    fn retire(&mut self, id: ConnId) {
        let Some(mut conn) = self.conns.get_mut(id).and_then(Option::take) else {
            return;
        };
        conn.close();
        conn.on_tick(Instant::now(), &mut self.rec);
        let _ = self.poll.registry().deregister(conn.socket_mut());
        add_conn(&mut self.retired, &conn);
    }

    fn totals(&self) -> Snapshot {
        let mut s = self.retired.clone();
        for conn in self.conns.iter().flatten() {
            add_conn(&mut s, conn);
        }
        s.conns = self.opened;
        s.latency = self.rec.latency();
        s.join = self.rec.join();
        s
    }

    fn publish(&self) {
        let totals = self.totals();
        if let Ok(mut s) = self.shared.lock() {
            *s = totals;
        }
    }
}

fn add_conn(s: &mut Snapshot, conn: &Conn) {
    s.counters += conn.counters;
    let (expected, received) = conn.reception();
    s.expected_in += expected;
    s.received_in += received;
    let ((nacks_sent, plis_sent), (nacks_received, plis_received)) = conn.feedback();
    s.nacks_sent += nacks_sent;
    s.plis_sent += plis_sent;
    s.nacks_received += nacks_received;
    s.plis_received += plis_received;
    if conn.is_connected() {
        s.connected += 1;
    }
    if conn.is_failed() {
        s.failed += 1;
    }
}
