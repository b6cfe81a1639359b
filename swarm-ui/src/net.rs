//! One WebSocket to the coordinator, speaking the protocol's binary frames. The socket turns
//! browser events into [`SocketEvent`]s for its owner and does nothing else: reconnecting,
//! heartbeats and what a message means are [`crate::session`]'s business.

use std::rc::Rc;

use ostrich_protocol::{ToCoordinator, ToDevice, decode, encode};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

/// Close code for a frame this page could not decode. Browsers only let a page send 1000 or
/// 3000-4999, so this is 4000 plus the standard "invalid frame payload" code.
pub const CLOSE_INVALID: u16 = 4007;
/// Close code for a normal close by this page.
pub const CLOSE_NORMAL: u16 = 1000;

/// What happened on a socket.
#[derive(Debug)]
pub enum SocketEvent {
    /// The connection is open.
    Open,
    /// A decoded message.
    Message(Box<ToDevice>),
    /// A frame that is not a valid message; the owner closes the socket.
    Malformed(String),
    /// The connection closed (or could not open).
    Closed {
        /// The close code.
        code: u16,
        /// The peer's reason, if it gave one.
        reason: String,
    },
}

/// An open or opening WebSocket with its handlers. Dropping it detaches the handlers and
/// closes the connection.
pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

/// The coordinator's WebSocket URL for a page served from `host` over `protocol`.
pub fn ws_url(protocol: &str, host: &str) -> String {
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    format!("{scheme}://{host}/ws")
}

impl Socket {
    /// Opens a socket to `url`; every event goes to `on_event`, which must not drop the
    /// socket synchronously (the session handles events in a task of their own).
    pub fn open(url: &str, on_event: impl Fn(SocketEvent) + 'static) -> Result<Self, String> {
        let ws = WebSocket::new(url).map_err(|e| format!("cannot open {url}: {e:?}"))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let on_event = Rc::new(on_event);
        let open = on_event.clone();
        let on_open = Closure::<dyn FnMut(Event)>::new(move |_| open(SocketEvent::Open));
        let message = on_event.clone();
        let on_message =
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| message(read_frame(&event)));
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            on_event(SocketEvent::Closed { code: event.code(), reason: event.reason() });
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Self { ws, _on_open: on_open, _on_message: on_message, _on_close: on_close })
    }

    /// Encodes and sends a message.
    pub fn send(&self, message: &ToCoordinator) -> Result<(), String> {
        let frame = encode(message).map_err(|e| e.to_string())?;
        self.ws.send_with_u8_array(&frame).map_err(|e| format!("cannot send: {e:?}"))
    }

    /// Whether the connection is open for sending.
    pub fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
    }

    /// Closes the connection with a code and reason.
    pub fn close(&self, code: u16, reason: &str) {
        let _ = self.ws.close_with_code_and_reason(code, reason);
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let state = self.ws.ready_state();
        if state == WebSocket::CONNECTING || state == WebSocket::OPEN {
            let _ = self.ws.close_with_code_and_reason(CLOSE_NORMAL, "closing");
        }
    }
}

/// Decodes a message event's binary payload; text frames are not part of the protocol.
fn read_frame(event: &MessageEvent) -> SocketEvent {
    let data = event.data();
    let Some(buffer) = data.dyn_ref::<js_sys::ArrayBuffer>() else {
        return SocketEvent::Malformed("a text frame is not part of the protocol".into());
    };
    let bytes = js_sys::Uint8Array::new(buffer).to_vec();
    match decode::<ToDevice>(&bytes) {
        Ok(message) => SocketEvent::Message(Box::new(message)),
        Err(error) => SocketEvent::Malformed(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::ws_url;

    #[test]
    fn the_socket_url_follows_the_page_origin() {
        assert_eq!(ws_url("http:", "192.168.1.20:8080"), "ws://192.168.1.20:8080/ws");
        assert_eq!(ws_url("https:", "swarm.example"), "wss://swarm.example/ws");
    }
}
