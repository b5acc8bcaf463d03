//! Test helpers for the end-to-end tests in `tests/tests/*.rs`.
//!
//! Everything here drives the REAL server binary on 127.0.0.1 ([`server::TestServer`]) with
//! WebRTC clients built on the async `webrtc` 0.21 crate ([`client::TestClient`]) and a
//! WebSocket signalling client speaking `API.md` ([`signal::SignalClient`]). Loss can be injected
//! with a userspace UDP relay ([`lossy_relay::LossyRelay`]).
//!
//! Every wait is bounded by a timeout and every address is on loopback.
//!
//! A typical test:
//!
//! ```text
//! let server = TestServer::start_default().await?;           // free ports, waits for /healthz
//! let alice = TestClient::join(&server, "room", "alice").await?;  // joined + connected
//! let bob = TestClient::join(&server, "room", "bob").await?;
//! let video = alice.publish_video(true).await?;              // q/h/f simulcast, negotiated
//! let track = bob
//!     .wait_for_packets_where(|t| t.stream_id == alice.participant_id(), 60, T)
//!     .await?;
//! assert!(compare_forwarded(&track.packets(), &video, true).all_match());
//! track.send_pli().await?;                                   // recorded on video.streams[..]
//! ```
//!
//! Set `SFU_SERVER_BIN` to test another binary, `SFU_TEST_PRINT_SERVER_LOG=1` to print each
//! server's log when it is dropped; logs live in `<target>/tmp/sfu-tests/`.

pub mod bandwidth_limit;
pub mod check;
pub mod client;
pub mod js;
pub mod lossy_relay;
pub mod server;
pub mod signal;
pub mod util;
pub mod vp8;

pub use bandwidth_limit::LinkOptions;
pub use check::{ForwardReport, compare_forwarded};
pub use client::{
    ClientOptions, KeyframeRequestKind, MediaKind, PublishedTrack, ReceivedPacket, RemoteTrack,
    SentPacket, SentStream, TestClient, VideoOptions, WebrtcPeer,
};
pub use lossy_relay::{LossFilter, LossyRelay, RelayOptions, RelayStats};
pub use server::{ServerOptions, TestServer};
pub use signal::{ServerMsg, SignalClient};
pub use util::{wait_until, wait_until_async};
