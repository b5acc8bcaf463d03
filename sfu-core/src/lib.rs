//! Sans-IO routing logic of the SFU.
//!
//! This crate owns everything that needs the room: which packets go to whom, sequence number and
//! timestamp rewriting, layer choice, keyframe request routing and throttling, data message
//! fan-out. It performs no I/O, spawns no threads and never reads a clock: time is an input
//! (`now` on every call), so its tests run in virtual time.
//!
//! The driver (the server's media worker) calls `handle_*` methods on a [`Room`] and then drains
//! [`Room::poll_output`] until it returns `None`, and calls [`Room::handle_timeout`] no later than
//! [`Room::poll_timeout`].

pub mod allocation;
pub mod clock_sync;
pub mod codec;
pub mod error;
pub mod ids;
pub mod rate;
pub mod rewrite;
pub mod room;
pub mod rtp;
pub mod speakers;
pub mod temporal;
pub mod vp8_munger;

pub use codec::Codec;
pub use error::CoreError;
pub use ids::{ForwardId, ParticipantId, TrackId};
pub use room::{
    BandwidthSource, BandwidthStats, DownTrackStats, DropReason, ForwardStats, KeyframeKind,
    LayerInfo, MediaKind, Output, ParticipantInfo, Permissions, Room, RoomConfig, RoomEvent,
    SubscriptionCaps, TrackInfo, TrackSource,
};
pub use rtp::{MediaPacket, SeqNo};
