//! Datagrams waiting to leave the media socket, sent many per system call with `sendmmsg`.
//!
//! A forwarded packet fans out to every subscriber, so the worker sends far more datagrams than
//! it receives; one `sendto` each was a third of the server's CPU (docs/benchmarks.md). The
//! worker queues what its peers emit while it works through a batch of input and sends the queue
//! in one call when it is full or the batch is done.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Instant;

use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};

use crate::peer::Egress;

/// Most datagrams per `sendmmsg` (Linux caps one call at `UIO_MAXIOV`, 1024).
pub const OUTBOX_CAPACITY: usize = 64;

/// One queued datagram.
struct Queued {
    destination: SockaddrStorage,
    bytes: Vec<u8>,
    egress: Egress,
}

/// What one [`Outbox::send`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendReport {
    /// Datagrams the kernel took.
    pub sent: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Datagrams dropped because the socket refused them (buffer full, unreachable).
    pub failed: u64,
    /// Of the sent, retransmissions.
    pub retransmissions: u64,
}

/// A queue of datagrams for one socket.
pub struct Outbox {
    queue: Vec<Queued>,
    headers: MultiHeaders<SockaddrStorage>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            queue: Vec::with_capacity(OUTBOX_CAPACITY),
            headers: MultiHeaders::preallocate(OUTBOX_CAPACITY, None),
        }
    }
}

impl Outbox {
    /// Queues a datagram; true when the queue is full and must be sent before the next push.
    pub fn push(&mut self, destination: SocketAddr, bytes: Vec<u8>, egress: Egress) -> bool {
        self.queue.push(Queued {
            destination: SockaddrStorage::from(destination),
            bytes,
            egress,
        });
        self.queue.len() >= OUTBOX_CAPACITY
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Sends everything queued; `on_forwarded` gets the receive time of each forwarded packet
    /// (for the latency histogram) and the time it left.
    pub fn send(
        &mut self,
        socket: &impl AsRawFd,
        mut on_forwarded: impl FnMut(Instant, Instant),
    ) -> SendReport {
        let mut report = SendReport::default();
        let mut start = 0;
        while start < self.queue.len() {
            let batch = &self.queue[start..];
            match send_batch(socket, &mut self.headers, batch) {
                Ok(0) | Err(_) => {
                    // The first datagram was refused (EAGAIN with a full buffer, or an ICMP
                    // error of one peer): drop it, as a single `sendto` would, and go on.
                    report.failed += 1;
                    start += 1;
                }
                Ok(n) => {
                    let left = Instant::now();
                    for q in &batch[..n] {
                        report.sent += 1;
                        report.bytes += q.bytes.len() as u64;
                        match q.egress {
                            Egress::Forwarded(arrival) => on_forwarded(arrival, left),
                            Egress::Retransmission => report.retransmissions += 1,
                            Egress::Other => {}
                        }
                    }
                    start += n;
                }
            }
        }
        self.queue.clear();
        report
    }
}

fn send_batch(
    socket: &impl AsRawFd,
    headers: &mut MultiHeaders<SockaddrStorage>,
    batch: &[Queued],
) -> io::Result<usize> {
    let slices: Vec<[IoSlice<'_>; 1]> = batch.iter().map(|q| [IoSlice::new(&q.bytes)]).collect();
    let addresses: Vec<Option<SockaddrStorage>> =
        batch.iter().map(|q| Some(q.destination)).collect();
    let no_control: [ControlMessage<'_>; 0] = [];
    let results = sendmmsg(
        socket.as_raw_fd(),
        headers,
        &slices,
        &addresses,
        no_control,
        MsgFlags::MSG_DONTWAIT,
    )?;
    Ok(results.count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    fn receiver() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    }

    #[test]
    fn sends_every_queued_datagram_to_its_own_destination_in_order() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, b) = (receiver(), receiver());
        let mut outbox = Outbox::default();
        let t0 = Instant::now();
        outbox.push(
            a.local_addr().unwrap(),
            b"one".to_vec(),
            Egress::Forwarded(t0),
        );
        outbox.push(
            b.local_addr().unwrap(),
            b"two".to_vec(),
            Egress::Retransmission,
        );
        outbox.push(a.local_addr().unwrap(), b"three".to_vec(), Egress::Other);
        let mut arrivals = Vec::new();
        let report = outbox.send(&sender, |arrival, left| arrivals.push((arrival, left)));
        assert_eq!(
            report,
            SendReport {
                sent: 3,
                bytes: 11,
                failed: 0,
                retransmissions: 1
            }
        );
        assert_eq!(arrivals.len(), 1);
        assert_eq!(arrivals[0].0, t0);
        assert!(arrivals[0].1 >= t0);
        assert!(outbox.is_empty());
        let mut buf = [0u8; 16];
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"three");
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two");
    }

    #[test]
    fn a_full_queue_asks_to_be_sent_and_more_than_one_call_is_made_when_needed() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = receiver();
        let mut outbox = Outbox::default();
        for i in 0..OUTBOX_CAPACITY - 1 {
            assert!(!outbox.push(r.local_addr().unwrap(), vec![i as u8], Egress::Other));
        }
        assert!(outbox.push(r.local_addr().unwrap(), vec![0xff], Egress::Other));
        let report = outbox.send(&sender, |_, _| {});
        assert_eq!(report.sent, OUTBOX_CAPACITY as u64);
        let mut buf = [0u8; 4];
        for i in 0..OUTBOX_CAPACITY - 1 {
            let n = r.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i as u8]);
        }
    }

    #[test]
    fn an_ipv6_destination_from_an_ipv4_socket_is_dropped_without_losing_the_rest() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = receiver();
        let mut outbox = Outbox::default();
        outbox.push("[::1]:9".parse().unwrap(), b"x".to_vec(), Egress::Other);
        outbox.push(r.local_addr().unwrap(), b"y".to_vec(), Egress::Other);
        let report = outbox.send(&sender, |_, _| {});
        assert_eq!((report.sent, report.failed), (1, 1));
        let mut buf = [0u8; 4];
        let n = r.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"y");
    }
}
