//! Puts a session's frames on its socket, in order, from a task of its own: messages over
//! [`FRAGMENT_BYTES`] go as continuation fragments.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use actix_ws::{CloseReason, Item};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::cluster::relay::RelayWrite;

/// Largest WebSocket frame sent; bigger messages are fragmented (see [`send_binary`]).
const FRAGMENT_BYTES: usize = 64 * 1024;

/// What the writer task puts on the socket.
pub(super) enum Write {
    Frame(Bytes),
    Pong(Bytes),
    Close(CloseReason),
    /// The session's frame limit changed: only a relayed session's writer tells anyone
    /// (the gateway, which checks the device's frames).
    Limit(usize),
}

/// Sends one binary message; one over [`FRAGMENT_BYTES`] goes as continuation fragments of
/// that size. A client reading a big message in one WebSocket frame may reserve (and, in
/// tungstenite, zero on every read) a buffer of the whole message: with 8 MiB matmul tasks
/// that zeroing was the native worker's largest cost after the kernel.
async fn send_binary(socket: &mut actix_ws::Session, frame: Bytes) -> Result<(), actix_ws::Closed> {
    if frame.len() <= FRAGMENT_BYTES {
        return socket.binary(frame).await;
    }
    let count = frame.len().div_ceil(FRAGMENT_BYTES);
    for index in 0..count {
        let chunk = frame.slice(index * FRAGMENT_BYTES..((index + 1) * FRAGMENT_BYTES).min(frame.len()));
        let item = match index {
            0 => Item::FirstBinary(chunk),
            i if i + 1 == count => Item::Last(chunk),
            _ => Item::Continue(chunk),
        };
        socket.continuation(item).await?;
    }
    Ok(())
}

/// Puts frames on the socket in order; ends when the session actor is gone.
pub(super) async fn write_frames(
    mut socket: actix_ws::Session,
    mut frames: mpsc::UnboundedReceiver<Write>,
    queued: Arc<AtomicUsize>,
) {
    while let Some(item) = frames.recv().await {
        let sent = match item {
            Write::Frame(frame) => {
                queued.fetch_sub(frame.len(), Ordering::Relaxed);
                send_binary(&mut socket, frame).await
            }
            Write::Pong(payload) => socket.pong(&payload).await,
            Write::Limit(_) => Ok(()),
            Write::Close(reason) => {
                let _ = socket.close(Some(reason)).await;
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
    let _ = socket.close(None).await;
}

/// A relayed session's writer: hands its frames, limits and close to the relay, in order
/// (cluster mode; the socket is on the gateway node).
pub(super) async fn relay_frames(
    relay: Box<dyn Fn(RelayWrite) + Send>,
    mut frames: mpsc::UnboundedReceiver<Write>,
    queued: Arc<AtomicUsize>,
) {
    while let Some(item) = frames.recv().await {
        match item {
            Write::Frame(frame) => {
                queued.fetch_sub(frame.len(), Ordering::Relaxed);
                relay(RelayWrite::Frame(frame));
            }
            Write::Pong(_) => {}
            Write::Limit(bytes) => relay(RelayWrite::Limit(bytes)),
            Write::Close(reason) => {
                relay(RelayWrite::Close(reason.code.into(), reason.description.unwrap_or_default()));
                return;
            }
        }
    }
    relay(RelayWrite::Close(1000, String::new()));
}
