//! RTCP feedback seen at the wire: NACKs and keyframe requests, counted both ways, and the
//! keyframe requests queued for the publisher.
//!
//! rtc 0.21 ends inbound RTCP at the end of its interceptor chain unless an interceptor tags it
//! `DeliverToApplication`, and even tagged RTCP reaches the application routed by the first
//! packet of a compound. Reading it in an interceptor of our own, wire-most, sees every packet in
//! both directions (including the NACKs the generator and the keyframe requests nobody sends)
//! without either problem.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::shared::error::Error;

/// Bound on keyframe requests waiting for the publisher (it drains them after every input).
const MAX_PENDING_KEYFRAMES: usize = 64;

/// Feedback counted so far, shared by the interceptor and its connection.
#[derive(Debug, Default)]
pub struct Feedback {
    /// NACK packets we sent (our receivers asking the server to retransmit).
    pub nacks_sent: u64,
    /// PLIs and FIRs we sent.
    pub keyframe_requests_sent: u64,
    /// NACK packets the server sent about our published streams.
    pub nacks_received: u64,
    /// PLIs and FIRs (entries) the server sent about our published streams.
    pub keyframe_requests_received: u64,
    /// Media SSRCs a received PLI/FIR named, not yet answered.
    pub keyframe_ssrcs: Vec<u32>,
}

/// The shared record; the connection and its interceptor run on one thread, so the lock is
/// never contended (the interceptor trait requires `Send + Sync`).
#[derive(Debug, Default, Clone)]
pub struct FeedbackLog(Arc<Mutex<Feedback>>);

impl FeedbackLog {
    /// The record, locked.
    pub fn lock(&self) -> MutexGuard<'_, Feedback> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn on_inbound(log: &FeedbackLog, packets: &[Box<dyn rtc::rtcp::Packet>]) {
    let mut f = log.lock();
    for p in packets {
        let any = p.as_any();
        if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
            f.keyframe_requests_received += 1;
            if f.keyframe_ssrcs.len() < MAX_PENDING_KEYFRAMES {
                f.keyframe_ssrcs.push(pli.media_ssrc);
            }
        } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
            for entry in &fir.fir {
                f.keyframe_requests_received += 1;
                if f.keyframe_ssrcs.len() < MAX_PENDING_KEYFRAMES {
                    f.keyframe_ssrcs.push(entry.ssrc);
                }
            }
        } else if any.is::<TransportLayerNack>() {
            f.nacks_received += 1;
        }
    }
}

fn on_outbound(log: &FeedbackLog, packets: &[Box<dyn rtc::rtcp::Packet>]) {
    let mut f = log.lock();
    for p in packets {
        let any = p.as_any();
        if any.is::<PictureLossIndication>() {
            f.keyframe_requests_sent += 1;
        } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
            f.keyframe_requests_sent += fir.fir.len() as u64;
        } else if any.is::<TransportLayerNack>() {
            f.nacks_sent += 1;
        }
    }
}

/// The recording interceptor: every packet passes through unchanged.
pub struct FeedbackInterceptor {
    log: FeedbackLog,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl FeedbackInterceptor {
    /// An interceptor recording into `log`.
    pub fn new(log: FeedbackLog) -> Self {
        FeedbackInterceptor {
            log,
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
        }
    }
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for FeedbackInterceptor {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            on_inbound(&self.log, packets);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            on_outbound(&self.log, packets);
        }
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for FeedbackInterceptor {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::NackPair;
    use rtc::sansio::Protocol;

    fn rtcp(packets: Vec<Box<dyn rtc::rtcp::Packet>>) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: Default::default(),
            message: Packet::Rtcp(packets).into(),
        }
    }

    fn nack() -> Box<dyn rtc::rtcp::Packet> {
        Box::new(TransportLayerNack {
            sender_ssrc: 1,
            media_ssrc: 2,
            nacks: vec![NackPair {
                packet_id: 10,
                lost_packets: 0,
            }],
        })
    }

    fn pli(media_ssrc: u32) -> Box<dyn rtc::rtcp::Packet> {
        Box::new(PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc,
        })
    }

    #[test]
    fn feedback_is_counted_both_ways_and_keyframe_requests_queued() {
        let log = FeedbackLog::default();
        let mut i = FeedbackInterceptor::new(log.clone());
        i.handle_read(rtcp(vec![pli(7), nack()])).unwrap();
        i.handle_write(rtcp(vec![nack(), nack(), pli(9)])).unwrap();
        // Everything passes through untouched.
        assert!(i.poll_read().is_some());
        assert!(i.poll_write().is_some());
        let f = log.lock();
        assert_eq!((f.nacks_received, f.keyframe_requests_received), (1, 1));
        assert_eq!((f.nacks_sent, f.keyframe_requests_sent), (2, 1));
        assert_eq!(f.keyframe_ssrcs, vec![7]);
    }
}
