//! A userspace UDP relay on 127.0.0.1 that drops a configurable fraction of packets.
//!
//! Clients send to [`LossyRelay::addr`]; for each client address the relay opens its own
//! upstream socket toward the real server, so the server sees one distinct peer per client and
//! replies find their way back. The client is pointed at the relay by rewriting the server's
//! ICE candidates (see `TestClient::join_via_relay`). Loss uses a seeded RNG; the relay stops by
//! itself after `max_lifetime`.

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Client -> server datagrams forwarded.
    pub up_forwarded: u64,
    /// Client -> server datagrams dropped.
    pub up_dropped: u64,
    /// Server -> client datagrams forwarded.
    pub down_forwarded: u64,
    /// Server -> client datagrams dropped.
    pub down_dropped: u64,
}

#[derive(Default)]
struct Counters {
    up_forwarded: AtomicU64,
    up_dropped: AtomicU64,
    down_forwarded: AtomicU64,
    down_dropped: AtomicU64,
}

struct Shared {
    /// Loss fractions in parts per million.
    loss_up_ppm: AtomicU32,
    loss_down_ppm: AtomicU32,
    filter: LossFilter,
    rng: Mutex<StdRng>,
    counters: Counters,
    stopped: AtomicBool,
    /// Upstream socket tasks, aborted on stop.
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
    /// Binds 127.0.0.1:0 and relays to `upstream` (the server's media address).
    pub async fn start(upstream: SocketAddr, opts: RelayOptions) -> Result<LossyRelay> {
        anyhow::ensure!(
            upstream.ip().is_loopback(),
            "the relay only forwards to loopback"
        );
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = sock.local_addr()?;
        let shared = Arc::new(Shared {
            loss_up_ppm: AtomicU32::new(to_ppm(opts.loss_up)),
            loss_down_ppm: AtomicU32::new(to_ppm(opts.loss_down)),
            filter: opts.filter,
            rng: Mutex::new(StdRng::seed_from_u64(opts.seed)),
            counters: Counters::default(),
            stopped: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
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
                    sh.counters.up_forwarded.fetch_add(1, Ordering::Relaxed);
                    let _ = up.send_to(d, upstream).await;
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

    /// Drops everything that the filter covers in both directions (a dead link).
    pub fn blackhole(&self) {
        self.set_loss(1.0, 1.0);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RelayStats {
        let c = &self.shared.counters;
        RelayStats {
            up_forwarded: c.up_forwarded.load(Ordering::Relaxed),
            up_dropped: c.up_dropped.load(Ordering::Relaxed),
            down_forwarded: c.down_forwarded.load(Ordering::Relaxed),
            down_dropped: c.down_dropped.load(Ordering::Relaxed),
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
            sh.counters.down_forwarded.fetch_add(1, Ordering::Relaxed);
            let _ = main.send_to(d, client).await;
        }
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.stop();
    }
}
