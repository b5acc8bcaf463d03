//! An emulated bottleneck link for [`LossyRelay`](crate::lossy_relay::LossyRelay).
//!
//! The kernel of the test machines has no netem, so a constrained network has to be built in
//! userspace. Each direction of a relay is one link: a FIFO queue drained at the link rate
//! (every datagram occupies the link for its serialization time, `wire bytes * 8 / rate`), with
//! drop-tail when the queue's byte size would exceed its bound, followed by an optional fixed
//! one-way delay. That is what a real access link does, and it matters for the server's
//! congestion control: delay-based GCC reacts to the queueing delay growing as the queue fills,
//! long before the queue overflows and drops.
//!
//! Cost per datagram: one mutex lock, and with a limit or delay in force one copy into the queue.
//! Without a limit, without a delay and with an empty queue a datagram is sent inline as before.
//! One task per direction drains the queue, sleeping on tokio timers until the head's departure
//! time or until woken by a new datagram or a rate change, and one more task per direction
//! releases datagrams after the fixed delay when one is configured. Memory is bounded by the
//! queue bound ([`MAX_QUEUE_BYTES`] at most) and by the delay line's capacity.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::util::lock;

/// Default queue bound expressed as time: 100 ms worth of bytes at the current rate.
pub const DEFAULT_QUEUE_DELAY: Duration = Duration::from_millis(100);

/// Smallest queue bound derived from [`LinkOptions::queue_delay`]: four full-size packets.
///
/// At a few hundred kbit/s 100 ms is less than three video packets; a queue that cannot hold a
/// frame's worth of packets would only ever drop, never delay, which no real link does.
pub const MIN_QUEUE_BYTES: usize = 4 * 1500;

/// Largest queue bound, whatever the options say, so a relay's memory stays bounded.
pub const MAX_QUEUE_BYTES: usize = 8 << 20;

/// Bytes of IPv4 + UDP header a datagram costs on the link besides its payload.
///
/// The link rate is the rate of a real link, which carries the headers too; queue occupancy is
/// counted in the same wire bytes.
pub const PACKET_OVERHEAD_BYTES: usize = 28;

/// Smallest rate a limit is raised to (a zero rate would never drain; use
/// [`LossyRelay::blackhole`](crate::lossy_relay::LossyRelay::blackhole) for a dead link).
pub const MIN_RATE_BPS: u64 = 1_000;

/// Capacity in datagrams of the fixed-delay stage (bounds memory when a delay is configured
/// without a rate limit).
const DELAY_LINE_PACKETS: usize = 8_192;

/// The emulated link of a relay: rate limits, queue bound and one-way delays.
///
/// The default is an unlimited link without delay, which behaves exactly like the relay without
/// a link. Pass it to [`LossyRelay::start_with_link`](crate::lossy_relay::LossyRelay::start_with_link);
/// limits change at runtime with
/// [`LossyRelay::set_rate_limit`](crate::lossy_relay::LossyRelay::set_rate_limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOptions {
    /// Initial server -> client rate in bits per second (IP level); `None` is unlimited.
    pub rate_down: Option<u64>,
    /// Initial client -> server rate in bits per second (IP level); `None` is unlimited.
    pub rate_up: Option<u64>,
    /// Fixed queue bound in wire bytes per direction; `None` derives it from `queue_delay`.
    /// Capped at [`MAX_QUEUE_BYTES`].
    pub queue_bytes: Option<usize>,
    /// Queue bound as time at the current rate (used when `queue_bytes` is `None`), at least
    /// [`MIN_QUEUE_BYTES`]. Recomputed when the rate changes, like a router's time-based buffer.
    pub queue_delay: Duration,
    /// Fixed one-way delay added server -> client after the queue.
    pub delay_down: Duration,
    /// Fixed one-way delay added client -> server after the queue.
    pub delay_up: Duration,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            rate_down: None,
            rate_up: None,
            queue_bytes: None,
            queue_delay: DEFAULT_QUEUE_DELAY,
            delay_down: Duration::ZERO,
            delay_up: Duration::ZERO,
        }
    }
}

impl LinkOptions {
    /// A link limited to `bps` bits per second server -> client, everything else default.
    pub fn down(bps: u64) -> Self {
        Self {
            rate_down: Some(bps),
            ..Self::default()
        }
    }
}

/// Counters of one direction, read by the relay's `stats()`.
#[derive(Default)]
pub(crate) struct LinkCounters {
    /// Datagrams and payload bytes handed to the socket.
    pub(crate) packets: AtomicU64,
    pub(crate) bytes: AtomicU64,
    /// Datagrams refused because the queue (or the delay line) was full.
    pub(crate) queue_dropped: AtomicU64,
    /// Longest time a datagram spent in the queue, serialization included, in microseconds.
    pub(crate) max_queue_delay_us: AtomicU64,
    /// Largest queue occupancy seen, in wire bytes.
    pub(crate) peak_queue_bytes: AtomicU64,
}

impl LinkCounters {
    fn sent(&self, len: usize) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(len as u64, Ordering::Relaxed);
    }
}

/// A datagram waiting for the link, with where it goes once it is through.
struct Queued {
    data: Vec<u8>,
    sock: Arc<UdpSocket>,
    to: SocketAddr,
    arrived: Instant,
}

/// A datagram through the queue, waiting out the fixed delay.
struct Delayed {
    packet: Queued,
    release: Instant,
}

struct State {
    rate: Option<u64>,
    queue: VecDeque<Queued>,
    /// Wire bytes in `queue`.
    queued_bytes: usize,
    /// When the link finished (or finishes) serializing the previous datagram. Departures are
    /// computed from this virtual clock rather than from when the task happened to wake, so a
    /// late timer makes a small burst instead of lowering the average rate.
    link_free: Instant,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the drain task: first datagram into an empty queue, or a rate change.
    wake: Notify,
    delay: Duration,
    queue_bytes: Option<usize>,
    queue_delay: Duration,
    counters: LinkCounters,
}

impl Shared {
    fn bound(&self, rate: Option<u64>) -> usize {
        let Some(rate) = rate else {
            // Unlimited: the queue only holds what was left when a limit was lifted (or what
            // waits for the delay stage), and drains at once.
            return MAX_QUEUE_BYTES;
        };
        match self.queue_bytes {
            Some(b) => b.min(MAX_QUEUE_BYTES),
            None => {
                let b = u128::from(rate) * self.queue_delay.as_nanos() / 8_000_000_000;
                (b.min(MAX_QUEUE_BYTES as u128) as usize).max(MIN_QUEUE_BYTES)
            }
        }
    }
}

/// One direction of an emulated link; cheap to clone.
#[derive(Clone)]
pub(crate) struct Link {
    sh: Arc<Shared>,
}

fn serialization(wire: usize, rate: u64) -> Duration {
    let nanos = wire as u128 * 8 * 1_000_000_000 / u128::from(rate);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

fn clamp_rate(rate: Option<u64>) -> Option<u64> {
    rate.map(|r| r.max(MIN_RATE_BPS))
}

impl Link {
    /// Creates the link and spawns its tasks; the caller aborts the returned handles on stop.
    pub(crate) fn spawn(
        rate: Option<u64>,
        queue_bytes: Option<usize>,
        queue_delay: Duration,
        delay: Duration,
    ) -> (Link, Vec<JoinHandle<()>>) {
        let sh = Arc::new(Shared {
            state: Mutex::new(State {
                rate: clamp_rate(rate),
                queue: VecDeque::new(),
                queued_bytes: 0,
                link_free: Instant::now(),
            }),
            wake: Notify::new(),
            delay,
            queue_bytes,
            queue_delay,
            counters: LinkCounters::default(),
        });
        let mut tasks = Vec::new();
        let delay_tx = if delay.is_zero() {
            None
        } else {
            let (tx, rx) = mpsc::channel(DELAY_LINE_PACKETS);
            tasks.push(tokio::spawn(delay_line(rx, sh.clone())));
            Some(tx)
        };
        tasks.push(tokio::spawn(drain(sh.clone(), delay_tx)));
        (Link { sh }, tasks)
    }

    /// The link's counters.
    pub(crate) fn counters(&self) -> &LinkCounters {
        &self.sh.counters
    }

    /// The current rate limit (after clamping to [`MIN_RATE_BPS`]).
    pub(crate) fn rate(&self) -> Option<u64> {
        lock(&self.sh.state).rate
    }

    /// Changes the rate; the queue keeps its contents and drains at the new rate at once.
    pub(crate) fn set_rate(&self, rate: Option<u64>) {
        lock(&self.sh.state).rate = clamp_rate(rate);
        self.sh.wake.notify_one();
    }

    /// Sends `data` from `sock` to `to` through the link: at once when nothing limits it,
    /// otherwise queued (or dropped when the queue is full).
    pub(crate) async fn forward(&self, data: &[u8], sock: &Arc<UdpSocket>, to: SocketAddr) {
        let sh = &self.sh;
        let wire = data.len() + PACKET_OVERHEAD_BYTES;
        let action = {
            let mut st = lock(&sh.state);
            if st.rate.is_none() && st.queue.is_empty() && sh.delay.is_zero() {
                // Keeps the unlimited relay as cheap as it was: no copy, no task hop.
                Enqueue::Direct
            } else if !st.queue.is_empty() && st.queued_bytes + wire > sh.bound(st.rate) {
                // Drop-tail; a datagram always fits an empty queue, as on a real link.
                Enqueue::Dropped
            } else {
                let was_empty = st.queue.is_empty();
                st.queue.push_back(Queued {
                    data: data.to_vec(),
                    sock: sock.clone(),
                    to,
                    arrived: Instant::now(),
                });
                st.queued_bytes += wire;
                sh.counters
                    .peak_queue_bytes
                    .fetch_max(st.queued_bytes as u64, Ordering::Relaxed);
                Enqueue::Queued { was_empty }
            }
        };
        match action {
            Enqueue::Direct => {
                sh.counters.sent(data.len());
                let _ = sock.send_to(data, to).await;
            }
            Enqueue::Dropped => {
                sh.counters.queue_dropped.fetch_add(1, Ordering::Relaxed);
            }
            // Appending behind other datagrams does not change when the head leaves, so only
            // the first one needs to wake the drain task.
            Enqueue::Queued { was_empty } => {
                if was_empty {
                    sh.wake.notify_one();
                }
            }
        }
    }
}

enum Enqueue {
    Direct,
    Dropped,
    Queued { was_empty: bool },
}

enum Step {
    Idle,
    SleepUntil(Instant),
    Depart(Queued, Instant),
}

/// Drains the queue at the link rate: the head departs when the link has serialized it.
async fn drain(sh: Arc<Shared>, delay_tx: Option<mpsc::Sender<Delayed>>) {
    loop {
        let step = {
            let mut st = lock(&sh.state);
            let now = Instant::now();
            let due = st.queue.front().map(|head| match st.rate {
                None => now,
                Some(rate) => {
                    head.arrived.max(st.link_free)
                        + serialization(head.data.len() + PACKET_OVERHEAD_BYTES, rate)
                }
            });
            match due {
                None => Step::Idle,
                Some(due) if due > now => Step::SleepUntil(due),
                Some(due) => {
                    let p = st.queue.pop_front().expect("head exists");
                    st.queued_bytes -= p.data.len() + PACKET_OVERHEAD_BYTES;
                    st.link_free = due;
                    Step::Depart(p, due)
                }
            }
        };
        match step {
            Step::Idle => sh.wake.notified().await,
            // A rate change recomputes the head's departure, so lifting a limit flushes the
            // queue at once instead of after the current (possibly long) serialization.
            Step::SleepUntil(t) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(t)) => {}
                    _ = sh.wake.notified() => {}
                }
            }
            Step::Depart(p, departed) => {
                let waited = departed.saturating_duration_since(p.arrived);
                sh.counters.max_queue_delay_us.fetch_max(
                    u64::try_from(waited.as_micros()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                match &delay_tx {
                    None => {
                        sh.counters.sent(p.data.len());
                        let _ = p.sock.send_to(&p.data, p.to).await;
                    }
                    Some(tx) => {
                        let release = departed + sh.delay;
                        if tx.try_send(Delayed { packet: p, release }).is_err() {
                            sh.counters.queue_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    }
}

/// Releases datagrams after the fixed delay. Departures are in order and the delay is constant,
/// so release times are in order too and one timer at a time suffices.
async fn delay_line(mut rx: mpsc::Receiver<Delayed>, sh: Arc<Shared>) {
    while let Some(Delayed { packet, release }) = rx.recv().await {
        tokio::time::sleep_until(tokio::time::Instant::from_std(release)).await;
        sh.counters.sent(packet.data.len());
        let _ = packet.sock.send_to(&packet.data, packet.to).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lossy_relay::{LossyRelay, RelayOptions};
    use crate::util::wait_until;
    use anyhow::{Context, Result, ensure};

    const PAYLOAD: usize = 1000;

    /// A relay between two plain UDP sockets: `client` talks to the relay, `server` is its
    /// upstream and knows the relay's per-client socket after the first datagram.
    struct Rig {
        relay: LossyRelay,
        client: Arc<UdpSocket>,
        server: Arc<UdpSocket>,
        /// The relay's upstream socket for `client`, as the server sees it.
        relay_up: SocketAddr,
    }

    async fn rig(link: LinkOptions) -> Result<Rig> {
        let server = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let relay = LossyRelay::start_with_link(
            server.local_addr()?,
            RelayOptions {
                max_lifetime: Duration::from_secs(30),
                ..RelayOptions::default()
            },
            link,
        )
        .await?;
        let client = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        client.send_to(b"hello", relay.addr()).await?;
        let mut buf = [0u8; 64];
        let (_, relay_up) =
            tokio::time::timeout(Duration::from_secs(3), server.recv_from(&mut buf))
                .await
                .context("the first datagram did not get through")??;
        Ok(Rig {
            relay,
            client,
            server,
            relay_up,
        })
    }

    /// What a socket received: (sequence number, payload length, when).
    type Log = Arc<Mutex<Vec<(u32, usize, Instant)>>>;

    /// Records every datagram `sock` receives until aborted.
    fn record(sock: Arc<UdpSocket>) -> (Log, JoinHandle<()>) {
        let log: Log = Arc::default();
        let l = log.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((n, _)) = sock.recv_from(&mut buf).await {
                if n >= 4 {
                    let seq = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    lock(&l).push((seq, n, Instant::now()));
                }
            }
        });
        (log, task)
    }

    /// Sends `count` numbered datagrams of [`PAYLOAD`] bytes at about `bps`, in 20 ms bursts
    /// (a missed tick is caught up, so the average rate holds on a busy machine).
    async fn blast(sock: &UdpSocket, to: SocketAddr, first: u32, count: u32, bps: u64) {
        let per_tick = (bps / 50 / (PAYLOAD as u64 * 8)).max(1) as u32;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut pkt = vec![0u8; PAYLOAD];
        let mut seq = first;
        while seq < first + count {
            tick.tick().await;
            for _ in 0..per_tick.min(first + count - seq) {
                pkt[..4].copy_from_slice(&seq.to_be_bytes());
                let _ = sock.send_to(&pkt, to).await;
                seq += 1;
            }
        }
    }

    /// Payload bit rate between the first and the last datagram of `log[from..]`.
    fn rate_bps(log: &[(u32, usize, Instant)]) -> f64 {
        let (Some(first), Some(last)) = (log.first(), log.last()) else {
            return 0.0;
        };
        let secs = last.2.duration_since(first.2).as_secs_f64().max(1e-3);
        // The first datagram opens the interval, so it does not count towards the rate.
        let bits: usize = log[1..].iter().map(|r| r.1 * 8).sum();
        bits as f64 / secs
    }

    fn in_order(log: &[(u32, usize, Instant)]) -> bool {
        log.windows(2).all(|w| w[0].0 < w[1].0)
    }

    #[tokio::test]
    async fn down_limit_paces_to_link_rate_and_drops_excess() -> Result<()> {
        let rig = rig(LinkOptions::down(400_000)).await?;
        let (log, rx) = record(rig.client.clone());
        // ~2 Mbit/s for ~2 s into a 400 kbit/s link.
        let sent = 500;
        blast(&rig.server, rig.relay_up, 0, sent, 2_000_000).await;
        let r = &rig.relay;
        let settled = wait_until(Duration::from_secs(3), || {
            let s = r.stats();
            s.down_forwarded + s.down_queue_dropped == u64::from(sent)
                && lock(&log).len() as u64 == s.down_forwarded
        })
        .await;
        rx.abort();
        let s = r.stats();
        let log = lock(&log).clone();
        let rate = rate_bps(&log);
        eprintln!(
            "400 kbit/s link: delivered {} of {sent} at {:.0} bit/s; {s:?}",
            log.len(),
            rate
        );
        ensure!(
            settled,
            "queue did not drain: {s:?}, received {}",
            log.len()
        );
        ensure!((250_000.0..600_000.0).contains(&rate), "rate {rate:.0}");
        ensure!(in_order(&log), "reordered");
        ensure!(s.down_queue_dropped > 100, "excess not dropped: {s:?}");
        ensure!(s.down_dropped == 0, "random loss counted: {s:?}");
        let bytes: usize = log.iter().map(|r| r.1).sum();
        ensure!(s.down_bytes_forwarded == bytes as u64, "{s:?}");
        // 100 ms at 400 kbit/s is 5000 bytes, below the floor.
        ensure!(s.down_queue_peak_bytes <= MIN_QUEUE_BYTES as u64, "{s:?}");
        ensure!(
            s.down_queue_peak_bytes > (MIN_QUEUE_BYTES / 2) as u64,
            "queue never filled: {s:?}"
        );
        // The queue delays before it drops: what delay-based congestion control sees. It is
        // bounded by the queue bound at the link rate (120 ms here).
        ensure!(
            (Duration::from_millis(50)..Duration::from_millis(300))
                .contains(&s.down_max_queue_delay),
            "{s:?}"
        );
        // The client -> server direction is untouched.
        ensure!(s.up_forwarded == 1 && s.up_queue_dropped == 0, "{s:?}");
        Ok(())
    }

    #[tokio::test]
    async fn lifting_the_limit_flushes_the_queue_and_lets_the_full_rate_through() -> Result<()> {
        // 100 kbit/s with a 30 kB queue: a full queue takes ~2.4 s to drain at that rate.
        let rig = rig(LinkOptions {
            rate_down: Some(100_000),
            queue_bytes: Some(30_000),
            ..LinkOptions::default()
        })
        .await?;
        let r = &rig.relay;
        let (log, rx) = record(rig.client.clone());
        blast(&rig.server, rig.relay_up, 0, 60, 20_000_000).await;
        let filled = wait_until(Duration::from_secs(2), || r.stats().down_queue_dropped > 0).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = r.stats();
        ensure!(
            filled && before.down_forwarded < 20,
            "limit not in force: {before:?}"
        );
        ensure!(r.rate_limit() == (Some(100_000), None));

        let lifted = Instant::now();
        r.set_rate_limit(None, None);
        let flushed = wait_until(Duration::from_secs(2), || {
            let s = r.stats();
            s.down_forwarded + s.down_queue_dropped == 60
                && lock(&log).len() == 60 - s.down_queue_dropped as usize
        })
        .await;
        let flush_time = lifted.elapsed();
        let after_flush = r.stats();
        eprintln!("queue flushed in {flush_time:?}: {after_flush:?}");
        ensure!(flushed, "queue not flushed: {after_flush:?}");
        // Far below the ~2 s the backlog would take at 100 kbit/s.
        ensure!(flush_time < Duration::from_millis(1500), "{flush_time:?}");

        // Unlimited again: ~2 Mbit/s for ~1 s all gets through.
        let phase1 = lock(&log).len();
        blast(&rig.server, rig.relay_up, 1000, 250, 2_000_000).await;
        let delivered =
            wait_until(Duration::from_secs(2), || lock(&log).len() == phase1 + 250).await;
        rx.abort();
        let s = r.stats();
        let log = lock(&log).clone();
        let rate = rate_bps(&log[phase1..]);
        eprintln!(
            "unlimited: {} datagrams at {rate:.0} bit/s; {s:?}",
            log.len() - phase1
        );
        ensure!(delivered, "lost datagrams without a limit: {s:?}");
        ensure!(
            s.down_queue_dropped == after_flush.down_queue_dropped,
            "{s:?}"
        );
        ensure!(rate > 1_000_000.0, "rate {rate:.0}");
        ensure!(in_order(&log), "reordered");
        Ok(())
    }

    #[tokio::test]
    async fn queue_bound_holds_upstream_with_delay() -> Result<()> {
        let rig = rig(LinkOptions {
            rate_up: Some(200_000),
            queue_bytes: Some(10_000),
            delay_up: Duration::from_millis(50),
            ..LinkOptions::default()
        })
        .await?;
        let r = &rig.relay;
        let (log, rx) = record(rig.server.clone());
        let start = Instant::now();
        // ~100 kB within 0.1 s into a 10 kB queue. Not all at once: a burst of 100 datagrams
        // overflows the relay socket's receive buffer in the kernel before the relay sees it.
        blast(&rig.client, r.addr(), 0, 100, 8_000_000).await;
        // The handshake datagram went up too.
        let settled = wait_until(Duration::from_secs(3), || {
            let s = r.stats();
            s.up_forwarded + s.up_queue_dropped == 101
                && lock(&log).len() as u64 + 1 == s.up_forwarded
        })
        .await;
        rx.abort();
        let s = r.stats();
        let log = lock(&log).clone();
        eprintln!("10 kB queue: {} of 100 delivered; {s:?}", log.len());
        ensure!(settled, "did not settle: {s:?}");
        ensure!(s.up_queue_peak_bytes <= 10_000, "bound exceeded: {s:?}");
        ensure!(s.up_queue_dropped >= 50, "{s:?}");
        ensure!(in_order(&log), "reordered");
        let first = log.first().context("nothing delivered")?;
        // Fixed delay plus one serialization (41 ms): a lower bound only.
        ensure!(first.2.duration_since(start) >= Duration::from_millis(50));
        ensure!(s.down_forwarded == 0 && s.down_queue_dropped == 0, "{s:?}");
        Ok(())
    }
}
