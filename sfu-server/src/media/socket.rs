//! The media UDP socket.

use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds the non-blocking media socket with large kernel buffers: the default (~208 KB) drops
/// packets when a keyframe burst meets a busy worker.
pub fn bind(addr: SocketAddr, buffer_bytes: usize) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(buffer_bytes) {
        tracing::warn!(error = %e, "cannot set SO_RCVBUF");
    }
    if let Err(e) = socket.set_send_buffer_size(buffer_bytes) {
        tracing::warn!(error = %e, "cannot set SO_SNDBUF");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let rcv = socket.recv_buffer_size().unwrap_or(0);
    let snd = socket.send_buffer_size().unwrap_or(0);
    if rcv < buffer_bytes || snd < buffer_bytes {
        tracing::warn!(
            requested = buffer_bytes,
            rcvbuf = rcv,
            sndbuf = snd,
            "the kernel capped the media socket buffers; raise net.core.rmem_max / wmem_max"
        );
    }
    Ok(socket.into())
}
