//! `udp_floor`: what the kernel alone charges a sender per UDP datagram on this machine, the
//! floor under the server's "CPU per forwarded packet".
//!
//! It sends RTP-sized datagrams round robin to many sockets on a loopback address at a set rate,
//! with `sendto` (one call a datagram) and with `sendmmsg` (64 a call), and prints the sending
//! thread's CPU time per datagram. On loopback the receiving side's network processing runs in
//! the sender's system call, as it does for the SFU when a load generator on the same machine
//! receives its packets, so the figure is comparable with the server's.
//!
//! ```sh
//! cargo run --release -p sfu-loadtest --bin udp_floor -- --sockets 100 --rate 20000 --seconds 5
//! ```

use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};

/// Datagrams per `sendmmsg`, as the server's outbox.
const BATCH: usize = 64;

#[derive(Parser, Debug)]
#[command(about = "Kernel CPU per sent UDP datagram on loopback (sendto and sendmmsg)")]
struct Args {
    /// Receiving sockets (subscribers).
    #[arg(long, default_value_t = 100)]
    sockets: usize,
    /// Datagrams per second.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Seconds per mode.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Datagram size in bytes.
    #[arg(long, default_value_t = 1200)]
    size: usize,
    /// Address to bind the sockets to.
    #[arg(long, default_value = "127.0.0.1")]
    ip: std::net::IpAddr,
    /// Datagrams per message in the GSO mode (UDP_SEGMENT: one socket buffer for a run of
    /// equal datagrams to one destination, as a subscriber's packets of one frame).
    #[arg(long, default_value_t = 8)]
    gso_segments: usize,
}

/// How a mode hands datagrams to the kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// One `sendto` a datagram.
    SendTo,
    /// `sendmmsg`, 64 datagrams a call.
    SendMmsg,
    /// `sendmmsg` of messages that each carry `gso_segments` datagrams to one destination.
    Gso,
}

/// CPU time of the calling thread.
fn thread_cpu() -> anyhow::Result<Duration> {
    let usage = getrusage(UsageWho::RUSAGE_THREAD)?;
    let to = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    Ok(to(usage.user_time()) + to(usage.system_time()))
}

/// Reads every receiving socket until told to stop; returns the datagrams received.
fn spawn_receiver(
    sockets: Vec<UdpSocket>,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let mut got = 0;
            for s in &sockets {
                while s.recv(&mut buf).is_ok() {
                    got += 1;
                }
            }
            received.fetch_add(got, Ordering::Relaxed);
            if got == 0 {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
    })
}

/// One measured mode: sends `rate` datagrams/s for `seconds`; returns (sent, CPU).
fn run_mode(
    args: &Args,
    sender: &UdpSocket,
    targets: &[SocketAddr],
    mode: Mode,
) -> anyhow::Result<(u64, Duration)> {
    let per_message = if mode == Mode::Gso {
        args.gso_segments.max(1)
    } else {
        1
    };
    let payload = vec![0x80u8; args.size * per_message];
    let storage: Vec<SockaddrStorage> = targets.iter().map(|a| (*a).into()).collect();
    // A control buffer only where there is a control message: the kernel refuses an empty one.
    let cmsg_buffer = (mode == Mode::Gso).then(|| nix::cmsg_space!(u16));
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, cmsg_buffer);
    let segment = args.size as u16;
    let start = Instant::now();
    let cpu_start = thread_cpu()?;
    let mut sent = 0u64;
    let mut next = 0usize;
    let end = start + Duration::from_secs(args.seconds);
    while Instant::now() < end {
        // Send what is due by now, in batches, then sleep a millisecond.
        let due = (start.elapsed().as_secs_f64() * args.rate as f64) as u64;
        while sent < due {
            let n = ((due - sent) as usize).div_ceil(per_message).min(BATCH);
            if mode == Mode::SendTo {
                for _ in 0..n {
                    let _ = sender.send_to(&payload, targets[next % targets.len()]);
                    next += 1;
                    sent += 1;
                }
                continue;
            }
            let slices: Vec<[IoSlice<'_>; 1]> = (0..n).map(|_| [IoSlice::new(&payload)]).collect();
            let addrs: Vec<Option<SockaddrStorage>> = (0..n)
                .map(|i| Some(storage[(next + i) % storage.len()]))
                .collect();
            let gso = [ControlMessage::UdpGsoSegments(&segment)];
            let cmsgs: &[ControlMessage<'_>] = if mode == Mode::Gso { &gso } else { &[] };
            let done = sendmmsg(
                sender.as_raw_fd(),
                &mut headers,
                &slices,
                &addrs,
                cmsgs,
                MsgFlags::empty(),
            )
            .map(|r| r.count())
            .unwrap_or(0)
            .max(1);
            next += done;
            sent += (done * per_message) as u64;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok((sent, thread_cpu()? - cpu_start))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sockets: Vec<UdpSocket> = (0..args.sockets)
        .map(|_| {
            let s = UdpSocket::bind(SocketAddr::new(args.ip, 0))?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect::<std::io::Result<_>>()?;
    let targets: Vec<SocketAddr> = sockets
        .iter()
        .map(|s| s.local_addr())
        .collect::<std::io::Result<_>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let receiver = spawn_receiver(sockets, stop.clone(), received.clone());
    let sender = UdpSocket::bind(SocketAddr::new(args.ip, 0))?;
    println!(
        "{} datagrams/s of {} bytes to {} sockets on {}, {} s per mode",
        args.rate, args.size, args.sockets, args.ip, args.seconds
    );
    println!("mode      sent      received  sender CPU s  CPU us / datagram");
    for (name, mode) in [
        ("sendto", Mode::SendTo),
        ("sendmmsg", Mode::SendMmsg),
        ("gso", Mode::Gso),
    ] {
        let before = received.load(Ordering::Relaxed);
        let (sent, cpu) = run_mode(&args, &sender, &targets, mode)?;
        std::thread::sleep(Duration::from_millis(200));
        let got = received.load(Ordering::Relaxed) - before;
        println!(
            "{name:<9} {sent:<9} {got:<9} {:<13.3} {:.2}",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / sent.max(1) as f64
        );
    }
    stop.store(true, Ordering::Relaxed);
    let _ = receiver.join();
    Ok(())
}
