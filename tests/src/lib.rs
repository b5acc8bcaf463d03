//! Test helpers for the end-to-end tests in `tests/tests/*.rs`.
//!
//! Everything here drives the REAL server binary on 127.0.0.1 ([`server::TestServer`]) with
//! WebRTC clients built on the async `webrtc` 0.21 crate ([`client::TestClient`]) and a
//! WebSocket signalling client speaking `API.md` ([`signal::SignalClient`]). Loss can be injected
//! with a userspace UDP relay ([`lossy_relay::LossyRelay`]).
//!
//! Every wait is bounded by a timeout and every address is on loopback.

pub mod check;
pub mod client;
pub mod lossy_relay;
pub mod server;
pub mod signal;
pub mod util;
pub mod vp8;

pub use check::{ForwardReport, compare_forwarded};
pub use client::{
    ClientOptions, KeyframeRequestKind, MediaKind, PublishedTrack, ReceivedPacket, RemoteTrack,
    SentPacket, SentStream, TestClient, VideoOptions, WebrtcPeer,
};
pub use lossy_relay::{LossFilter, LossyRelay, RelayOptions, RelayStats};
pub use server::{ServerOptions, TestServer};
pub use signal::{ServerMsg, SignalClient};
pub use util::{wait_until, wait_until_async};
