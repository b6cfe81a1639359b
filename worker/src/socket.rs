//! The coordinator's socket: connecting, framing messages with the protocol codec, and
//! closing. Only the session in [`crate::connection`] holds a socket.

use std::{path::Path, sync::Arc, time::Duration};

use futures_util::{SinkExt, StreamExt};
use ostrich_protocol::{DecodeError, MAX_FRAME_BYTES, ToCoordinator, ToDevice, decode, encode};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig, frame::coding::CloseCode};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::error::WorkerError;

/// How long a TCP connect plus WebSocket handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a clean close waits for the coordinator to acknowledge and hang up.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Bytes read from the socket at a time. tungstenite zeroes its whole read buffer before
/// every read, so its 128 KiB default cost more than the frames themselves with small tasks
/// (a third of the simulator's CPU); 16 KiB keeps big frames cheap too.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// A client WebSocket to the coordinator.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens the WebSocket, accepting frames up to the protocol's limit; `wss://` trusts the
/// public roots and `ca_cert`, if given. The error is a reason for the log.
pub async fn connect(url: &str, ca_cert: Option<&Path>) -> Result<Socket, String> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .read_buffer_size(READ_BUFFER_BYTES);
    let connector = if url.starts_with("wss://") { Some(Connector::Rustls(tls_config(ca_cert)?)) } else { None };
    let connecting = tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, connector);
    match timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// A TLS client configuration trusting the public roots and `ca_cert`.
pub fn tls_config(ca_cert: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Reads until the first protocol message.
pub async fn first_message(socket: &mut Socket) -> Result<ToDevice, WorkerError> {
    loop {
        match socket.next().await {
            Some(Ok(message)) => {
                if let Some(decoded) = read(message)? {
                    return Ok(decoded);
                }
            }
            Some(Err(err)) => return Err(WorkerError::ConnectionLost(err.to_string())),
            None => {
                return Err(WorkerError::ConnectionLost("closed before the welcome".into()));
            }
        }
    }
}

/// Decodes a frame: `Ok(None)` for control frames, an error for text frames, closes and
/// undecodable bodies.
pub fn read(message: Message) -> Result<Option<ToDevice>, WorkerError> {
    match message {
        Message::Binary(bytes) => decode(&bytes).map(Some).map_err(|err| match err {
            DecodeError::VersionMismatch { found } => WorkerError::VersionMismatch { found },
            other => WorkerError::Protocol(other.to_string()),
        }),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(None),
        Message::Text(_) => Err(WorkerError::Protocol("text frame from the coordinator".into())),
        Message::Close(frame) => Err(WorkerError::ConnectionLost(match frame {
            Some(frame) => format!("closed by the coordinator ({}): {}", frame.code, frame.reason),
            None => "closed by the coordinator".into(),
        })),
    }
}

/// Encodes and sends one message.
pub async fn send(socket: &mut Socket, message: &ToCoordinator) -> Result<(), WorkerError> {
    let bytes = encode(message).map_err(|err| WorkerError::Protocol(err.to_string()))?;
    socket.send(Message::binary(bytes)).await.map_err(sent_error)
}

/// Sends a task result; the inner `Err` says why it could not be encoded (nothing was sent).
pub(crate) async fn send_result(
    socket: &mut Socket,
    message: &ToCoordinator,
) -> Result<Result<(), String>, WorkerError> {
    match encode(message) {
        Ok(bytes) => socket.send(Message::binary(bytes)).await.map(Ok).map_err(sent_error),
        Err(err) => Ok(Err(err.to_string())),
    }
}

fn sent_error(err: tungstenite::Error) -> WorkerError {
    WorkerError::ConnectionLost(format!("send failed: {err}"))
}

/// Sends a close frame and waits briefly for the coordinator's reply.
pub async fn close(socket: &mut Socket, code: CloseCode, reason: &str) {
    let frame = CloseFrame { code, reason: reason.into() };
    let drain = async {
        if socket.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = socket.next().await {}
        }
    };
    let _ = timeout(CLOSE_TIMEOUT, drain).await;
}

/// A message's variant name, for logs and errors.
pub fn name_of(message: &ToDevice) -> &'static str {
    match message {
        ToDevice::Welcome(_) => "Welcome",
        ToDevice::Rejected { .. } => "Rejected",
        ToDevice::Assign { .. } => "Assign",
        ToDevice::Cancel { .. } => "Cancel",
        ToDevice::Throttle { .. } => "Throttle",
        ToDevice::RunState { .. } => "RunState",
        ToDevice::DeviceEnabled { .. } => "DeviceEnabled",
        ToDevice::PowerPolicy { .. } => "PowerPolicy",
        ToDevice::Snapshot(_) => "Snapshot",
        ToDevice::JobProgress(_) => "JobProgress",
        ToDevice::MandelbrotTile { .. } => "MandelbrotTile",
        ToDevice::InviteCreated(_) => "InviteCreated",
        ToDevice::CommandOk { .. } => "CommandOk",
        ToDevice::CommandError { .. } => "CommandError",
        ToDevice::Log(_) => "Log",
        ToDevice::Module { .. } => "Module",
    }
}
