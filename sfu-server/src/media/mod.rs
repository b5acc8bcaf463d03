//! The media plane: a worker thread that owns the UDP socket, every peer connection on it and
//! the sfu-core rooms living there. The packet path takes no lock and crosses no channel;
//! signalling and the REST API talk to the worker through a bounded command channel.

mod command;
pub mod forward;
pub mod histogram;
mod outbox;
mod room_entry;
mod socket;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

pub use command::{Command, JoinRequest, RoomError, SessionMsg};
pub use worker::{WorkerSettings, WorkerStats};

use crate::model::{ForwardJson, ParticipantJson, RoomJson, TrackJson};
use crate::signal::messages::ClientMessage;
use forward::ForwardRequest;
use sfu_core::ParticipantId;

/// Capacity of the command channel; signalling waits when the worker is this far behind.
const COMMAND_QUEUE: usize = 4096;

/// A cloneable handle to the media worker.
#[derive(Clone)]
pub struct MediaHandle {
    commands: mpsc::Sender<Command>,
    /// The address the media socket is bound to.
    pub udp_addr: SocketAddr,
    _thread: Arc<std::thread::JoinHandle<()>>,
}

/// The media socket could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind media socket {addr}: {source}")]
pub struct StartError {
    addr: SocketAddr,
    source: std::io::Error,
}

impl MediaHandle {
    /// Binds the media socket and starts the worker thread.
    pub fn start(settings: WorkerSettings) -> Result<MediaHandle, StartError> {
        let addr = settings.udp_addr;
        let std_socket = socket::bind(addr, settings.socket_buffer_bytes)
            .map_err(|source| StartError { addr, source })?;
        let udp_addr = std_socket
            .local_addr()
            .map_err(|source| StartError { addr, source })?;
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let thread = std::thread::Builder::new()
            .name("media-worker".into())
            .spawn(move || worker::run(std_socket, settings, rx))
            .map_err(|source| StartError { addr, source })?;
        Ok(MediaHandle {
            commands: tx,
            udp_addr,
            _thread: Arc::new(thread),
        })
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, RoomError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| RoomError::Unavailable)?;
        rx.await.map_err(|_| RoomError::Unavailable)
    }

    /// Joins a participant; its messages arrive on the request's session channel.
    pub async fn join(&self, request: JoinRequest) -> Result<ParticipantId, RoomError> {
        self.ask(|reply| Command::Join { request, reply }).await?
    }

    /// Forwards a client message of a joined participant.
    pub async fn signal(&self, participant: ParticipantId, message: ClientMessage) {
        let _ = self
            .commands
            .send(Command::Signal {
                participant,
                message,
            })
            .await;
    }

    /// The participant's WebSocket closed.
    pub async fn disconnected(&self, participant: ParticipantId) {
        let _ = self
            .commands
            .send(Command::Disconnected { participant })
            .await;
    }

    /// `POST /v1/rooms`.
    pub async fn create_room(
        &self,
        name: String,
        max_participants: Option<u32>,
        empty_timeout_s: Option<u64>,
    ) -> Result<RoomJson, RoomError> {
        self.ask(|reply| Command::CreateRoom {
            name,
            max_participants,
            empty_timeout_s,
            reply,
        })
        .await?
    }

    /// `GET /v1/rooms`.
    pub async fn list_rooms(&self) -> Result<Vec<RoomJson>, RoomError> {
        self.ask(|reply| Command::ListRooms { reply }).await
    }

    /// `GET /v1/rooms/{room}`.
    pub async fn get_room(&self, name: String) -> Result<RoomJson, RoomError> {
        self.ask(|reply| Command::GetRoom { name, reply }).await?
    }

    /// `DELETE /v1/rooms/{room}`.
    pub async fn delete_room(&self, name: String) -> Result<(), RoomError> {
        self.ask(|reply| Command::DeleteRoom { name, reply })
            .await?
    }

    /// `GET /v1/rooms/{room}/participants`.
    pub async fn list_participants(&self, room: String) -> Result<Vec<ParticipantJson>, RoomError> {
        self.ask(|reply| Command::ListParticipants { room, reply })
            .await?
    }

    /// `DELETE /v1/rooms/{room}/participants/{identity}`.
    pub async fn remove_participant(
        &self,
        room: String,
        identity: String,
    ) -> Result<(), RoomError> {
        self.ask(|reply| Command::RemoveParticipant {
            room,
            identity,
            reply,
        })
        .await?
    }

    /// `POST …/tracks/{track_id}/mute`.
    pub async fn mute_track(
        &self,
        room: String,
        identity: String,
        track_id: String,
        muted: bool,
    ) -> Result<TrackJson, RoomError> {
        self.ask(|reply| Command::MuteTrack {
            room,
            identity,
            track_id,
            muted,
            reply,
        })
        .await?
    }

    /// `POST /v1/rooms/{room}/forwards`.
    pub async fn create_forward(
        &self,
        room: String,
        request: ForwardRequest,
    ) -> Result<ForwardJson, RoomError> {
        self.ask(|reply| Command::CreateForward {
            room,
            request,
            reply,
        })
        .await?
    }

    /// `GET /v1/rooms/{room}/forwards`.
    pub async fn list_forwards(&self, room: String) -> Result<Vec<ForwardJson>, RoomError> {
        self.ask(|reply| Command::ListForwards { room, reply })
            .await?
    }

    /// `PATCH /v1/rooms/{room}/forwards/{id}`.
    pub async fn update_forward(
        &self,
        room: String,
        id: String,
        layer: Option<Option<String>>,
        paused: Option<bool>,
    ) -> Result<ForwardJson, RoomError> {
        self.ask(|reply| Command::UpdateForward {
            room,
            id,
            layer,
            paused,
            reply,
        })
        .await?
    }

    /// `DELETE /v1/rooms/{room}/forwards/{id}`.
    pub async fn delete_forward(&self, room: String, id: String) -> Result<(), RoomError> {
        self.ask(|reply| Command::DeleteForward { room, id, reply })
            .await?
    }

    /// Refuses new joins from now on.
    pub async fn drain(&self) {
        let _ = self.commands.send(Command::Drain).await;
    }

    /// Disconnects everyone with `{"type":"leave","reason"}`.
    pub async fn close_all(&self, reason: &'static str) -> Result<(), RoomError> {
        self.ask(|reply| Command::CloseAll { reason, reply }).await
    }

    /// Counters of the media plane (for tests and, later, metrics).
    pub async fn stats(&self) -> Result<worker::WorkerStats, RoomError> {
        self.ask(|reply| Command::Stats { reply }).await
    }
}
