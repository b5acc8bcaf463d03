//! Datagrams waiting to leave the media socket, sent many per system call with `sendmmsg` and,
//! where the kernel offers it, many per socket buffer with UDP GSO.
//!
//! A forwarded packet fans out to every subscriber, so the worker sends far more datagrams than
//! it receives; one `sendto` each was a third of the server's CPU (docs/benchmarks.md). The
//! worker queues what its peers emit while it works through a batch of input and sends the queue
//! in one call when it is full or the batch is done.
//!
//! GSO (`UDP_SEGMENT`, Linux 4.18): the worker drains each peer at once, so a subscriber's
//! packets of one batch (the packets of a video frame) sit next to each other in the queue.
//! A run of them to one address, all of one size but the last, which may be shorter, goes down
//! the network stack as one message that is cut into datagrams at the end (on the NIC, or in
//! software). The kernel's cost is per message more than per byte, so this takes most of the
//! per-datagram cost off all but the first datagram of a run (`udp_floor` in docs/benchmarks.md).

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, getsockopt, sendmmsg, sockopt,
};

use crate::peer::Egress;

/// Datagrams queued before the worker must send (Linux caps one `sendmmsg` at `UIO_MAXIOV`,
/// 1024 messages).
pub const OUTBOX_CAPACITY: usize = 128;

/// Most datagrams in one GSO message: the kernel's `UDP_MAX_SEGMENTS` (64 before Linux 6.9).
const MAX_SEGMENTS: usize = 64;

/// Most bytes in one GSO message: a UDP datagram's length field is 16 bits.
const MAX_GSO_BYTES: usize = 65_000;

/// One queued datagram.
struct Queued {
    destination: SocketAddr,
    bytes: Vec<u8>,
    egress: Egress,
}

/// Consecutive queued datagrams `start..end` that leave as one message: one datagram, or a GSO
/// run cut into datagrams of `segment` bytes (the last may be shorter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Message {
    start: usize,
    end: usize,
    segment: usize,
}

impl Message {
    fn is_gso(&self) -> bool {
        self.end - self.start > 1
    }
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
    /// Messages that carried more than one datagram (GSO).
    pub gso_messages: u64,
}

/// Whether the kernel takes `UDP_SEGMENT` on this socket (it answers the option's query).
pub fn gso_supported(socket: &impl AsFd) -> bool {
    getsockopt(socket, sockopt::UdpGsoSegment).is_ok()
}

/// A queue of datagrams for one socket.
pub struct Outbox {
    queue: Vec<Queued>,
    messages: Vec<Message>,
    plain_headers: MultiHeaders<SockaddrStorage>,
    gso_headers: MultiHeaders<SockaddrStorage>,
    /// Runs are sent as GSO messages.
    gso: bool,
    /// A GSO message has gone out: later refusals are about their destination, not GSO.
    gso_proven: bool,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::new(false)
    }
}

impl Outbox {
    /// An empty outbox; `gso` sends runs to one address as one message (see the module docs).
    pub fn new(gso: bool) -> Self {
        Outbox {
            queue: Vec::with_capacity(OUTBOX_CAPACITY),
            messages: Vec::with_capacity(OUTBOX_CAPACITY),
            plain_headers: MultiHeaders::preallocate(OUTBOX_CAPACITY, None),
            // A control buffer only here: the kernel refuses an empty one on plain messages.
            gso_headers: MultiHeaders::preallocate(OUTBOX_CAPACITY, Some(nix::cmsg_space!(u16))),
            gso,
            gso_proven: false,
        }
    }

    /// Whether runs go out as GSO messages (false after the kernel refused one).
    #[cfg(test)]
    fn gso(&self) -> bool {
        self.gso
    }

    /// Queues a datagram; true when the queue is full and must be sent before the next push.
    pub fn push(&mut self, destination: SocketAddr, bytes: Vec<u8>, egress: Egress) -> bool {
        self.queue.push(Queued {
            destination,
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
        plan_messages(&self.queue, 0, self.gso, &mut self.messages);
        let mut next = 0;
        while next < self.messages.len() {
            let (count, segment) = call_extent(&self.messages[next..]);
            let call = &self.messages[next..next + count];
            let headers = match segment {
                Some(_) => &mut self.gso_headers,
                None => &mut self.plain_headers,
            };
            match send_call(socket, headers, &self.queue, call, segment) {
                Ok(n) if n > 0 => {
                    let left = Instant::now();
                    for m in &call[..n] {
                        report.gso_messages += u64::from(m.is_gso());
                        account(
                            &self.queue[m.start..m.end],
                            left,
                            &mut report,
                            &mut on_forwarded,
                        );
                    }
                    self.gso_proven |= call[..n].iter().any(Message::is_gso);
                    next += n;
                }
                result => {
                    let refused = call[0];
                    next += 1;
                    if !refused.is_gso() {
                        // EAGAIN with a full buffer, or an ICMP error of one peer: drop the
                        // datagram, as a single `sendto` would, and go on.
                        report.failed += 1;
                        continue;
                    }
                    // If GSO never worked on this socket and the datagrams go one by one, the
                    // kernel or the route cannot do GSO.
                    let sent_plain =
                        self.send_one_by_one(socket, refused, &mut report, &mut on_forwarded);
                    if sent_plain && !self.gso_proven {
                        tracing::warn!(error = ?result.err(), "UDP GSO refused by the kernel; sending one datagram per message");
                        self.gso = false;
                        let resume = self.messages.get(next).map(|m| m.start);
                        if let Some(start) = resume {
                            plan_messages(&self.queue, start, false, &mut self.messages);
                            next = 0;
                        }
                    }
                }
            }
        }
        self.queue.clear();
        self.messages.clear();
        report
    }

    /// Sends the datagrams of a refused GSO message one per message; whether any went out.
    fn send_one_by_one(
        &mut self,
        socket: &impl AsRawFd,
        refused: Message,
        report: &mut SendReport,
        on_forwarded: &mut impl FnMut(Instant, Instant),
    ) -> bool {
        let mut sent = false;
        for i in refused.start..refused.end {
            let single = Message {
                start: i,
                end: i + 1,
                segment: self.queue[i].bytes.len(),
            };
            match send_call(
                socket,
                &mut self.plain_headers,
                &self.queue,
                &[single],
                None,
            ) {
                Ok(1) => {
                    sent = true;
                    account(&self.queue[i..=i], Instant::now(), report, on_forwarded);
                }
                _ => report.failed += 1,
            }
        }
        sent
    }
}

/// Counts the datagrams of a sent message.
fn account(
    datagrams: &[Queued],
    left: Instant,
    report: &mut SendReport,
    on_forwarded: &mut impl FnMut(Instant, Instant),
) {
    for q in datagrams {
        report.sent += 1;
        report.bytes += q.bytes.len() as u64;
        match q.egress {
            Egress::Forwarded(arrival) => on_forwarded(arrival, left),
            Egress::Retransmission => report.retransmissions += 1,
            Egress::Other => {}
        }
    }
}

/// Groups `queue[from..]` into messages: with `gso`, each run to one address whose datagrams
/// are all as long as the first, but the last, which may be shorter, is one message.
fn plan_messages(queue: &[Queued], from: usize, gso: bool, out: &mut Vec<Message>) {
    out.clear();
    let mut start = from;
    while start < queue.len() {
        let first = &queue[start];
        let segment = first.bytes.len();
        let mut end = start + 1;
        let mut total = segment;
        if gso && segment > 0 {
            while let Some(q) = queue.get(end) {
                let len = q.bytes.len();
                if q.destination != first.destination
                    || len > segment
                    || len == 0
                    || end - start >= MAX_SEGMENTS
                    || total + len > MAX_GSO_BYTES
                {
                    break;
                }
                total += len;
                end += 1;
                if len < segment {
                    // Only the last datagram of a message may be shorter.
                    break;
                }
            }
        }
        out.push(Message {
            start,
            end,
            segment,
        });
        start = end;
    }
}

/// How many of `messages` (from the first) go in one `sendmmsg`, and the segment size of its
/// `UDP_SEGMENT` control message: one per call, so the GSO messages of a call share a segment
/// size and no single datagram may be longer (a datagram no longer than it is sent whole).
fn call_extent(messages: &[Message]) -> (usize, Option<u16>) {
    let mut segment: Option<usize> = None;
    let mut longest_single = 0;
    let mut count = 0;
    for m in messages.iter().take(OUTBOX_CAPACITY) {
        let fits = match (m.is_gso(), segment) {
            (true, None) => longest_single <= m.segment,
            (true, Some(s)) => s == m.segment,
            (false, s) => s.is_none_or(|s| m.segment <= s),
        };
        if !fits {
            break;
        }
        if m.is_gso() {
            segment = Some(m.segment);
        } else {
            longest_single = longest_single.max(m.segment);
        }
        count += 1;
    }
    // A GSO message holds at most MAX_GSO_BYTES, so its segment size fits in 16 bits.
    (count, segment.map(|s| s as u16))
}

/// One `sendmmsg` of `call`; the number of messages the kernel took.
fn send_call(
    socket: &impl AsRawFd,
    headers: &mut MultiHeaders<SockaddrStorage>,
    queue: &[Queued],
    call: &[Message],
    segment: Option<u16>,
) -> io::Result<usize> {
    let (Some(first), Some(last)) = (call.first(), call.last()) else {
        return Ok(0);
    };
    let datagrams = &queue[first.start..last.end];
    let iov: Vec<IoSlice<'_>> = datagrams.iter().map(|q| IoSlice::new(&q.bytes)).collect();
    let slices: Vec<&[IoSlice<'_>]> = call
        .iter()
        .map(|m| &iov[m.start - first.start..m.end - first.start])
        .collect();
    let addresses: Vec<Option<SockaddrStorage>> = call
        .iter()
        .map(|m| Some(SockaddrStorage::from(queue[m.start].destination)))
        .collect();
    let segment_size = segment.unwrap_or(0);
    let gso = [ControlMessage::UdpGsoSegments(&segment_size)];
    let control: &[ControlMessage<'_>] = if segment.is_some() { &gso } else { &[] };
    let results = sendmmsg(
        socket.as_raw_fd(),
        headers,
        &slices,
        &addresses,
        control,
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(|e: Errno| io::Error::from(e))?;
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
                retransmissions: 1,
                gso_messages: 0,
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

    fn queued(destination: &str, len: usize) -> Queued {
        Queued {
            destination: destination.parse().unwrap(),
            bytes: vec![0; len],
            egress: Egress::Other,
        }
    }

    fn spans(messages: &[Message]) -> Vec<(usize, usize)> {
        messages.iter().map(|m| (m.start, m.end)).collect()
    }

    #[test]
    fn runs_to_one_address_of_one_size_become_one_message_ending_at_a_shorter_datagram() {
        let (a, b) = ("127.0.0.1:1000", "127.0.0.1:2000");
        let queue = vec![
            queued(a, 1200),
            queued(a, 1200),
            queued(a, 1200),
            queued(a, 900), // shorter: ends the run
            queued(a, 900),
            queued(b, 900),  // another address
            queued(b, 1000), // longer than the first of its run
            queued(b, 1000),
        ];
        let mut out = Vec::new();
        plan_messages(&queue, 0, true, &mut out);
        assert_eq!(spans(&out), vec![(0, 4), (4, 5), (5, 6), (6, 8)]);
        assert_eq!(out[0].segment, 1200);
        plan_messages(&queue, 0, false, &mut out);
        assert_eq!(
            out.len(),
            queue.len(),
            "without GSO every datagram is a message"
        );
        plan_messages(&queue, 5, true, &mut out);
        assert_eq!(
            spans(&out),
            vec![(5, 6), (6, 8)],
            "planning resumes mid-queue"
        );
    }

    #[test]
    fn a_run_is_cut_at_the_kernels_segment_and_size_limits() {
        let a = "127.0.0.1:1000";
        let queue: Vec<Queued> = (0..MAX_SEGMENTS + 3).map(|_| queued(a, 100)).collect();
        let mut out = Vec::new();
        plan_messages(&queue, 0, true, &mut out);
        assert_eq!(
            spans(&out),
            vec![(0, MAX_SEGMENTS), (MAX_SEGMENTS, MAX_SEGMENTS + 3)]
        );
        let big: Vec<Queued> = (0..60).map(|_| queued(a, 1400)).collect();
        plan_messages(&big, 0, true, &mut out);
        let per_message = MAX_GSO_BYTES / 1400;
        assert_eq!(
            out[0].end, per_message,
            "at most {MAX_GSO_BYTES} bytes a message"
        );
    }

    #[test]
    fn a_call_shares_one_segment_size_and_takes_no_single_datagram_longer_than_it() {
        let m = |start: usize, end: usize, segment: usize| Message {
            start,
            end,
            segment,
        };
        // Singles, then a run no shorter than them, then a run of another size.
        let messages = [m(0, 1, 100), m(1, 4, 1200), m(4, 5, 300), m(5, 7, 1100)];
        assert_eq!(call_extent(&messages), (3, Some(1200)));
        // A single longer than the call's segment size starts a new call.
        let messages = [m(0, 3, 1000), m(3, 4, 1200)];
        assert_eq!(call_extent(&messages), (1, Some(1000)));
        // A run after a longer single: the single goes alone, without GSO.
        let messages = [m(0, 1, 1200), m(1, 3, 1000)];
        assert_eq!(call_extent(&messages), (1, None));
        // No run at all: one plain call.
        let messages = [m(0, 1, 1200), m(1, 2, 80)];
        assert_eq!(call_extent(&messages), (2, None));
    }

    #[test]
    fn gso_runs_arrive_as_the_datagrams_queued_in_order() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        if !gso_supported(&sender) {
            eprintln!("this kernel has no UDP GSO; the plain path is tested above");
            return;
        }
        let (a, b) = (receiver(), receiver());
        let mut outbox = Outbox::new(true);
        let mut expected_a = Vec::new();
        let mut expected_b = Vec::new();
        let t0 = Instant::now();
        // Three runs to A (one ending on a shorter datagram), interleaved with B's.
        for (i, len) in [(0u8, 1000), (1, 1000), (2, 1000), (3, 400)] {
            let bytes = vec![i; len];
            expected_a.push(bytes.clone());
            outbox.push(a.local_addr().unwrap(), bytes, Egress::Forwarded(t0));
        }
        for i in 10u8..13 {
            let bytes = vec![i; 1000];
            expected_b.push(bytes.clone());
            outbox.push(b.local_addr().unwrap(), bytes, Egress::Retransmission);
        }
        let bytes = vec![20u8; 60];
        expected_a.push(bytes.clone());
        outbox.push(a.local_addr().unwrap(), bytes, Egress::Other);
        let mut forwarded = 0;
        let report = outbox.send(&sender, |_, _| forwarded += 1);
        assert_eq!((report.sent, report.failed), (8, 0));
        assert_eq!(report.retransmissions, 3);
        assert_eq!(report.gso_messages, 2);
        assert_eq!(forwarded, 4);
        assert!(outbox.gso());
        let mut buf = [0u8; 2048];
        for (socket, expected) in [(&a, expected_a), (&b, expected_b)] {
            for want in expected {
                let n = socket.recv(&mut buf).unwrap();
                assert_eq!(&buf[..n], &want[..]);
            }
        }
    }

    #[test]
    fn a_refused_gso_run_drops_only_its_own_datagrams() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        if !gso_supported(&sender) {
            return;
        }
        let r = receiver();
        let mut outbox = Outbox::new(true);
        for _ in 0..3 {
            outbox.push("[::1]:9".parse().unwrap(), vec![1; 500], Egress::Other);
        }
        for _ in 0..2 {
            outbox.push(r.local_addr().unwrap(), vec![2; 500], Egress::Other);
        }
        let report = outbox.send(&sender, |_, _| {});
        assert_eq!((report.sent, report.failed), (2, 3));
        assert!(outbox.gso(), "a bad address says nothing about GSO");
        let mut buf = [0u8; 1024];
        for _ in 0..2 {
            assert_eq!(r.recv(&mut buf).unwrap(), 500);
        }
    }
}
