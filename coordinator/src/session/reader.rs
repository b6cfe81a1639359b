//! Reads a session's WebSocket frames from the request body, bounded before anything is
//! buffered: each frame header is checked against the session's [`FrameLimit`] and, for a
//! big frame, against the global [`ReceiveBudget`], as soon as the header arrives. A frame
//! over either is refused with a reason and never buffered, so what a peer can make the
//! coordinator hold is its limit plus one read chunk, whatever it sends.
//!
//! actix-ws's own `MessageStream` reads everything the socket has before it parses a frame,
//! so a 60 MiB frame within the protocol's limit was buffered whole before anyone looked
//! at it; this reader parses after every chunk.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame, Item, ProtocolError};
use actix_web::dev::Payload;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use ostrich_protocol::MAX_FRAME_BYTES;

use crate::limits::{FrameLimit, ReceiveBudget, Reservation};

/// A message read from the socket.
#[derive(Debug)]
pub enum Inbound {
    /// A whole binary message (continuations joined), with the budget it holds.
    Binary {
        /// The message.
        frame: Bytes,
        /// Its bytes in the receive budget, given back when dropped.
        held: Reservation,
    },
    /// A text message: not part of the protocol.
    Text,
    /// A ping to answer.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// The peer closes.
    Close,
}

/// Why the socket cannot be read further.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A frame (or a message of several) over the session's limit.
    #[error("a frame of {size} bytes exceeds this session's limit of {limit} bytes")]
    TooLarge {
        /// Bytes announced.
        size: u64,
        /// The session's limit.
        limit: usize,
    },
    /// A big frame that the receive budget has no room for now.
    #[error("the coordinator is receiving too much to take a frame of {size} bytes now; try again later")]
    Busy {
        /// Bytes announced.
        size: u64,
    },
    /// A WebSocket protocol violation.
    #[error("websocket protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The connection failed.
    #[error("connection error: {0}")]
    Io(String),
}

/// The stream of [`Inbound`] messages of one socket.
pub struct FrameReader {
    payload: Payload,
    buf: BytesMut,
    codec: Codec,
    limit: FrameLimit,
    budget: ReceiveBudget,
    /// The first fragments of a message in several frames.
    partial: Option<BytesMut>,
    /// What the message being received holds of the budget.
    held: Option<Reservation>,
    /// Whether the header at the front of `buf` has been checked.
    checked: bool,
    finished: bool,
}

impl FrameReader {
    /// A reader of `payload` (an upgraded request's body) within `limit` and `budget`.
    pub fn new(payload: Payload, limit: FrameLimit, budget: ReceiveBudget) -> Self {
        Self {
            payload,
            buf: BytesMut::new(),
            codec: Codec::new().max_size(MAX_FRAME_BYTES),
            limit,
            budget,
            partial: None,
            held: None,
            checked: false,
            finished: false,
        }
    }

    /// Checks the header at the front of the buffer, once it is complete: the frame (with
    /// the fragments before it) must fit the session's limit, and a big one the budget.
    fn check_header(&mut self) -> Result<(), ReadError> {
        if self.checked {
            return Ok(());
        }
        let Some(header) = Header::parse(&self.buf) else {
            return Ok(());
        };
        self.checked = true;
        let before = if header.control { 0 } else { self.partial.as_ref().map_or(0, |p| p.len() as u64) };
        let size = before.saturating_add(header.len);
        let limit = self.limit.get();
        if size > limit as u64 {
            return Err(ReadError::TooLarge { size, limit });
        }
        if header.control {
            return Ok(());
        }
        let reservation = self.budget.reserve(header.len as usize).ok_or(ReadError::Busy { size })?;
        match &mut self.held {
            Some(held) => held.absorb(reservation),
            None => self.held = Some(reservation),
        }
        Ok(())
    }

    /// The next whole message in the buffer, if one is there.
    fn next_message(&mut self) -> Result<Option<Inbound>, ReadError> {
        loop {
            self.check_header()?;
            let Some(frame) = self.codec.decode(&mut self.buf)? else {
                return Ok(None);
            };
            self.checked = false;
            let message = match frame {
                Frame::Binary(frame) => self.binary(frame),
                Frame::Continuation(Item::FirstBinary(first)) => {
                    self.partial = Some(BytesMut::from(first));
                    continue;
                }
                Frame::Continuation(Item::Continue(more)) => {
                    self.partial.get_or_insert_default().extend_from_slice(&more);
                    continue;
                }
                Frame::Continuation(Item::Last(last)) => {
                    let mut whole = self.partial.take().unwrap_or_default();
                    whole.extend_from_slice(&last);
                    self.binary(whole.freeze())
                }
                Frame::Text(_) | Frame::Continuation(Item::FirstText(_)) => Inbound::Text,
                Frame::Ping(payload) => Inbound::Ping(payload),
                Frame::Pong(_) => Inbound::Pong,
                Frame::Close(_) => Inbound::Close,
            };
            return Ok(Some(message));
        }
    }

    fn binary(&mut self, frame: Bytes) -> Inbound {
        let held = self.held.take().unwrap_or_else(|| self.budget.nothing());
        Inbound::Binary { frame, held }
    }
}

impl Stream for FrameReader {
    type Item = Result<Inbound, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.next_message() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) if this.finished => return Poll::Ready(None),
                Ok(None) => {}
                Err(error) => {
                    this.finished = true;
                    this.buf.clear();
                    return Poll::Ready(Some(Err(error)));
                }
            }
            match Pin::new(&mut this.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.buf.extend_from_slice(&chunk),
                Poll::Ready(Some(Err(error))) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(ReadError::Io(error.to_string()))));
                }
                Poll::Ready(None) => this.finished = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// What a frame header says, read before the frame's payload is buffered.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    /// Payload bytes announced.
    len: u64,
    /// A control frame (close, ping, pong), which may come between fragments.
    control: bool,
}

impl Header {
    /// Parses the header at the front of `buf` (RFC 6455 §5.2), or `None` until it is whole.
    fn parse(buf: &[u8]) -> Option<Self> {
        let (&first, rest) = buf.split_first()?;
        let (&second, rest) = rest.split_first()?;
        let control = first & 0x08 != 0;
        let len = match second & 0x7f {
            126 => u64::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            127 => u64::from_be_bytes(rest.get(..8)?.try_into().ok()?),
            short => u64::from(short),
        };
        Some(Self { len, control })
    }
}

#[cfg(test)]
mod tests {
    use super::Header;

    #[test]
    fn headers_are_read_in_every_length_form_and_not_before_they_are_whole() {
        assert_eq!(Header::parse(&[0x82, 0x85]), Some(Header { len: 5, control: false }));
        assert_eq!(Header::parse(&[0x82, 0xfe, 0x01]), None);
        assert_eq!(Header::parse(&[0x82, 0xfe, 0x01, 0x00]), Some(Header { len: 256, control: false }));
        let mut long = vec![0x02, 0xff];
        long.extend_from_slice(&(60u64 << 20).to_be_bytes());
        assert_eq!(Header::parse(&long), Some(Header { len: 60 << 20, control: false }));
        assert_eq!(Header::parse(&long[..9]), None);
        assert_eq!(Header::parse(&[0x89, 0x80]), Some(Header { len: 0, control: true }));
    }
}
