//! A userspace UDP relay on 127.0.0.1 that drops a configurable fraction of packets and can
//! emulate a bandwidth-limited link.
//!
//! Clients send to [`LossyRelay::addr`]; for each client address the relay opens its own
//! upstream socket toward the real server, so the server sees one distinct peer per client and
//! replies find their way back. The client is pointed at the relay by rewriting the server's
//! ICE candidates (see `TestClient::join_via_relay`). Loss uses a seeded RNG; the relay stops by
//! itself after `max_lifetime`.
//!
//! Each direction passes through an emulated link ([`LinkOptions`], see
//! [`crate::bandwidth_limit`]): a rate-limited FIFO queue with drop-tail plus a fixed delay, so
//! a client can be put behind a tight link (and the limit lifted) to exercise the server's
//! congestion control. Random loss is applied first, on the datagrams its [`LossFilter`]
//! covers; the link then carries every remaining datagram (STUN, DTLS, RTP, RTCP) like a real
//! link does. By default the link is unlimited and the relay forwards at once, as it always did.

use anyhow::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::bandwidth_limit::{Link, LinkOptions};
use crate::util::lock;

/// Which datagrams the loss applies to (classified per RFC 7983 by the first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossFilter {
    /// Every datagram (STUN, DTLS, RTP, RTCP).
    All,
    /// SRTP and SRTCP only (first byte 128..=191): the handshake is never dropped.
    Media,
    /// SRTP only (RTCP packet types 192..=223 pass).
    RtpOnly,
}

/// Options for [`LossyRelay::start`].
///
/// The emulated link's options are a separate [`LinkOptions`] (see
/// [`LossyRelay::start_with_link`]) so that code building this struct field by field keeps
/// compiling.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Fraction of client -> server datagrams dropped (0.0..=1.0).
    pub loss_up: f64,
    /// Fraction of server -> client datagrams dropped (0.0..=1.0).
    pub loss_down: f64,
    /// Which datagrams may be dropped.
    pub filter: LossFilter,
    /// RNG seed (loss is reproducible for a given packet order).
    pub seed: u64,
    /// The relay shuts down after this long (bounds a leaked relay).
    pub max_lifetime: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            loss_up: 0.0,
            loss_down: 0.0,
            filter: LossFilter::Media,
            seed: 1,
            max_lifetime: Duration::from_secs(300),
        }
    }
}

/// Counters of one relay.
///
/// `*_forwarded` counts datagrams that left the relay; datagrams still queued in the link count
/// nowhere yet, so `forwarded + dropped + queue_dropped` reaches the number received once the
/// link has drained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Client -> server datagrams forwarded.
    pub up_forwarded: u64,
    /// Client -> server datagrams dropped by random loss.
    pub up_dropped: u64,
    /// Server -> client datagrams forwarded.
    pub down_forwarded: u64,
    /// Server -> client datagrams dropped by random loss.
    pub down_dropped: u64,
    /// Client -> server payload bytes forwarded (UDP payload, without headers).
    pub up_bytes_forwarded: u64,
    /// Server -> client payload bytes forwarded (UDP payload, without headers).
    pub down_bytes_forwarded: u64,
    /// Client -> server datagrams dropped because the link's queue was full.
    pub up_queue_dropped: u64,
    /// Server -> client datagrams dropped because the link's queue was full.
    pub down_queue_dropped: u64,
    /// Longest time a client -> server datagram waited in the link's queue (serialization
    /// included, fixed delay excluded).
    pub up_max_queue_delay: Duration,
    /// Longest time a server -> client datagram waited in the link's queue (serialization
    /// included, fixed delay excluded).
    pub down_max_queue_delay: Duration,
    /// Largest client -> server queue occupancy seen, in wire bytes (payload plus
    /// [`PACKET_OVERHEAD_BYTES`](crate::bandwidth_limit::PACKET_OVERHEAD_BYTES) each).
    pub up_queue_peak_bytes: u64,
    /// Largest server -> client queue occupancy seen, in wire bytes (payload plus
    /// [`PACKET_OVERHEAD_BYTES`](crate::bandwidth_limit::PACKET_OVERHEAD_BYTES) each).
    pub down_queue_peak_bytes: u64,
}

#[derive(Default)]
struct Counters {
    up_dropped: AtomicU64,
    down_dropped: AtomicU64,
}

struct Shared {
    /// Loss fractions in parts per million.
    loss_up_ppm: AtomicU32,
    loss_down_ppm: AtomicU32,
    filter: LossFilter,
    rng: Mutex<StdRng>,
    counters: Counters,
    /// Client -> server link; one for the whole relay, shared by every client address.
    up: Link,
    /// Server -> client link: one bottleneck for everything the relay sends to its clients,
    /// like the access link of the client's host.
    down: Link,
    stopped: AtomicBool,
    /// Upstream socket and link tasks, aborted on stop.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn should_drop(&self, up: bool, datagram: &[u8]) -> bool {
        let ppm = if up {
            self.loss_up_ppm.load(Ordering::Relaxed)
        } else {
            self.loss_down_ppm.load(Ordering::Relaxed)
        };
        if ppm == 0 || !applies(self.filter, datagram) {
            return false;
        }
        let r: u32 = lock(&self.rng).random_range(0..1_000_000);
        r < ppm
    }
}

fn applies(filter: LossFilter, d: &[u8]) -> bool {
    let Some(&b0) = d.first() else {
        return false;
    };
    let media = (128..=191).contains(&b0);
    match filter {
        LossFilter::All => true,
        LossFilter::Media => media,
        LossFilter::RtpOnly => media && !d.get(1).is_some_and(|pt| (192..=223).contains(pt)),
    }
}

fn to_ppm(f: f64) -> u32 {
    (f.clamp(0.0, 1.0) * 1_000_000.0).round() as u32
}

/// A running relay; stopped on drop.
pub struct LossyRelay {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    main: JoinHandle<()>,
}

impl LossyRelay {
    /// Binds 127.0.0.1:0 and relays to `upstream` (the server's media address), over an
    /// unlimited link.
    pub async fn start(upstream: SocketAddr, opts: RelayOptions) -> Result<LossyRelay> {
        Self::start_with_link(upstream, opts, LinkOptions::default()).await
    }

    /// Like [`LossyRelay::start`], through an emulated link with the given initial limits,
    /// queue bound and delays.
    pub async fn start_with_link(
        upstream: SocketAddr,
        opts: RelayOptions,
        link: LinkOptions,
    ) -> Result<LossyRelay> {
        anyhow::ensure!(
            upstream.ip().is_loopback(),
            "the relay only forwards to loopback"
        );
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = sock.local_addr()?;
        let (up, mut tasks) = Link::spawn(
            link.rate_up,
            link.queue_bytes,
            link.queue_delay,
            link.delay_up,
        );
        let (down, down_tasks) = Link::spawn(
            link.rate_down,
            link.queue_bytes,
            link.queue_delay,
            link.delay_down,
        );
        tasks.extend(down_tasks);
        let shared = Arc::new(Shared {
            loss_up_ppm: AtomicU32::new(to_ppm(opts.loss_up)),
            loss_down_ppm: AtomicU32::new(to_ppm(opts.loss_down)),
            filter: opts.filter,
            rng: Mutex::new(StdRng::seed_from_u64(opts.seed)),
            counters: Counters::default(),
            up,
            down,
            stopped: AtomicBool::new(false),
            tasks: Mutex::new(tasks),
        });
        let sh = shared.clone();
        let deadline = Instant::now() + opts.max_lifetime;
        let main = tokio::spawn(async move {
            let mut peers: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
            let mut buf = vec![0u8; 65_536];
            loop {
                let remaining = deadline.saturating_duration_since(Instant::now());
                let Ok(res) = tokio::time::timeout(remaining, sock.recv_from(&mut buf)).await
                else {
                    break;
                };
                let Ok((n, from)) = res else {
                    continue;
                };
                if sh.stopped.load(Ordering::Relaxed) {
                    break;
                }
                let up = match peers.get(&from) {
                    Some(u) => u.clone(),
                    None => {
                        let Ok(u) = UdpSocket::bind("127.0.0.1:0").await else {
                            continue;
                        };
                        let u = Arc::new(u);
                        peers.insert(from, u.clone());
                        let task = tokio::spawn(downstream(
                            u.clone(),
                            sock.clone(),
                            from,
                            sh.clone(),
                            deadline,
                        ));
                        lock(&sh.tasks).push(task);
                        u
                    }
                };
                let d = &buf[..n];
                if sh.should_drop(true, d) {
                    sh.counters.up_dropped.fetch_add(1, Ordering::Relaxed);
                } else {
                    sh.up.forward(d, &up, upstream).await;
                }
            }
            sh.stopped.store(true, Ordering::Relaxed);
            for t in lock(&sh.tasks).drain(..) {
                t.abort();
            }
        });
        Ok(LossyRelay {
            addr,
            upstream,
            shared,
            main,
        })
    }

    /// The address clients must send to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The real server address datagrams are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Changes the loss fractions at runtime.
    pub fn set_loss(&self, up: f64, down: f64) {
        self.shared.loss_up_ppm.store(to_ppm(up), Ordering::Relaxed);
        self.shared
            .loss_down_ppm
            .store(to_ppm(down), Ordering::Relaxed);
    }

    /// Changes the link's rate limits at runtime, in bits per second (IP level); `None` is
    /// unlimited.
    ///
    /// Datagrams already queued stay queued and leave at the new rate from now on, so lifting a
    /// limit flushes the queue at once. The queue bound derived from
    /// [`LinkOptions::queue_delay`] follows the new rate; a queue above it is not trimmed but
    /// takes no more datagrams until it drains below it. Rates below
    /// [`MIN_RATE_BPS`](crate::bandwidth_limit::MIN_RATE_BPS) are raised to it.
    pub fn set_rate_limit(&self, down: Option<u64>, up: Option<u64>) {
        self.shared.down.set_rate(down);
        self.shared.up.set_rate(up);
    }

    /// The current rate limits as `(down, up)` in bits per second; `None` is unlimited.
    pub fn rate_limit(&self) -> (Option<u64>, Option<u64>) {
        (self.shared.down.rate(), self.shared.up.rate())
    }

    /// Drops everything that the filter covers in both directions (a dead link).
    pub fn blackhole(&self) {
        self.set_loss(1.0, 1.0);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RelayStats {
        let c = &self.shared.counters;
        let up = self.shared.up.counters();
        let down = self.shared.down.counters();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RelayStats {
            up_forwarded: load(&up.packets),
            up_dropped: load(&c.up_dropped),
            down_forwarded: load(&down.packets),
            down_dropped: load(&c.down_dropped),
            up_bytes_forwarded: load(&up.bytes),
            down_bytes_forwarded: load(&down.bytes),
            up_queue_dropped: load(&up.queue_dropped),
            down_queue_dropped: load(&down.queue_dropped),
            up_max_queue_delay: Duration::from_micros(load(&up.max_queue_delay_us)),
            down_max_queue_delay: Duration::from_micros(load(&down.max_queue_delay_us)),
            up_queue_peak_bytes: load(&up.peak_queue_bytes),
            down_queue_peak_bytes: load(&down.peak_queue_bytes),
        }
    }

    /// Stops relaying (idempotent).
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        self.main.abort();
        for t in lock(&self.shared.tasks).drain(..) {
            t.abort();
        }
    }
}

async fn downstream(
    up: Arc<UdpSocket>,
    main: Arc<UdpSocket>,
    client: SocketAddr,
    sh: Arc<Shared>,
    deadline: Instant,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let Ok(res) = tokio::time::timeout(remaining, up.recv_from(&mut buf)).await else {
            break;
        };
        let Ok((n, _from)) = res else {
            continue;
        };
        if sh.stopped.load(Ordering::Relaxed) {
            break;
        }
        let d = &buf[..n];
        if sh.should_drop(false, d) {
            sh.counters.down_dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            sh.down.forward(d, &main, client).await;
        }
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.stop();
    }
}
