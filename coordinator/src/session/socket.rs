//! A second handle on a connection's socket, so that a session refused before admission
//! stops the coordinator reading from it at once.
//!
//! When a session ends, actix-http keeps the connection for its disconnect timeout (1 s)
//! and reads and discards whatever the client still sends, as fast as it arrives: a hostile
//! socket streaming a frame it announced before its hello made the coordinator read it for
//! that second at full speed, then reconnected and did it again (on loopback, 1 000 such
//! sockets cut an honest swarm's rate to a thirtieth). Shutting the socket for reading ends
//! that: the coordinator reads what the kernel already holds, sees the end of the stream,
//! sends its close frame and closes, and the client cannot send more meanwhile. Admitted
//! sessions keep actix-http's lingering close, so a client that overshot its frame limit
//! can finish writing and read the reason.
//!
//! The handle is a duplicate of the descriptor taken when the connection is accepted
//! ([`ConnectionSocket::on_connect`]); a WebSocket session takes it over and drops it on
//! admission. Only plain TCP connections get one: over TLS, a read shut down mid-stream is
//! an error that would drop the close frame, so TLS connections keep the lingering close.

use std::{any::Any, sync::Mutex};

use actix_web::dev::Extensions;

/// The duplicate handle of a connection's socket, kept in the connection's data until a
/// WebSocket session takes it.
#[derive(Debug, Default)]
pub struct ConnectionSocket(Mutex<Option<ReadShutter>>);

impl ConnectionSocket {
    /// For `HttpServer::on_connect`: keeps a duplicate handle of a plain TCP connection's
    /// socket in its data. Nothing is kept when the descriptor cannot be duplicated (the
    /// open-file limit): that connection keeps the lingering close.
    pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
        if let Some(shutter) = ReadShutter::of(connection) {
            data.insert(Self(Mutex::new(Some(shutter))));
        }
    }

    /// Takes the handle, once.
    pub fn take(&self) -> Option<ReadShutter> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// Shuts a socket for reading; the connection stays open for writing.
#[derive(Debug)]
pub struct ReadShutter {
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
}

impl ReadShutter {
    #[cfg(unix)]
    fn of(connection: &dyn Any) -> Option<Self> {
        use std::os::fd::AsFd as _;
        let tcp = connection.downcast_ref::<actix_web::rt::net::TcpStream>()?;
        tcp.as_fd().try_clone_to_owned().ok().map(|fd| Self { fd })
    }

    #[cfg(not(unix))]
    fn of(_: &dyn Any) -> Option<Self> {
        None
    }

    /// Stops reading: what the kernel holds can still be read, then the stream ends, and
    /// the client's further bytes are not accepted.
    pub fn shut(&self) {
        #[cfg(unix)]
        if let Err(error) = socket2::SockRef::from(&self.fd).shutdown(std::net::Shutdown::Read) {
            log::debug!("cannot shut a refused socket for reading: {error}");
        }
    }
}
