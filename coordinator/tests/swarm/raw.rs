//! A WebSocket client written byte by byte, for what a well-behaved library will not do:
//! announce a frame and send only part of it, or come from another loopback address.

use std::net::{IpAddr, SocketAddr};

use ostrich_protocol::{ToCoordinator, ToDevice, decode, encode};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

use crate::common::within;

/// A socket after the WebSocket handshake.
pub struct RawSocket {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// What the server answered the upgrade with, when it was not 101.
#[derive(Debug)]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: String,
}

/// A server frame.
#[derive(Debug)]
pub enum ServerFrame {
    /// A protocol message.
    Message(ToDevice),
    /// A close frame's code and reason.
    Close(u16, String),
    /// The connection ended without a close frame.
    Ended,
}

impl RawSocket {
    /// Connects from `from` (any 127.x.y.z address is loopback) and upgrades.
    pub async fn connect_from(server: SocketAddr, from: IpAddr) -> Result<Self, Refused> {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::new(from, 0)).expect("bind the source address");
        let mut stream = within("connect", socket.connect(server)).await.expect("connect");
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        within("the upgrade request", stream.write_all(request.as_bytes())).await.expect("write");
        let (head, rest) = read_head(&mut stream).await;
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
        if status != 101 {
            return Err(Refused { status, body: String::from_utf8_lossy(&rest).into_owned() });
        }
        Ok(Self { stream, buf: rest })
    }

    /// Connects from 127.0.0.1 and upgrades.
    pub async fn connect(server: SocketAddr) -> Self {
        Self::connect_from(server, [127, 0, 0, 1].into()).await.expect("the upgrade is accepted")
    }

    /// Writes a masked frame header announcing `len` payload bytes; the payload follows
    /// with [`RawSocket::payload`], or never.
    pub async fn header(&mut self, opcode: u8, fin: bool, len: u64) {
        let mut header = vec![opcode | if fin { 0x80 } else { 0 }];
        match len {
            0..=125 => header.push(0x80 | len as u8),
            126..=0xffff => {
                header.push(0x80 | 126);
                header.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                header.push(0x80 | 127);
                header.extend_from_slice(&len.to_be_bytes());
            }
        }
        header.extend_from_slice(&[0; 4]); // a zero mask leaves the payload as it is
        within("a frame header", self.stream.write_all(&header)).await.expect("write");
    }

    /// Writes payload bytes (masked with the zero mask of [`RawSocket::header`]).
    pub async fn payload(&mut self, bytes: &[u8]) {
        within("a payload", self.stream.write_all(bytes)).await.expect("write");
    }

    /// Writes zeros, up to `len` bytes, for as long as the server takes them: until the
    /// connection fails. Answers the bytes written.
    pub async fn flood(&mut self, len: u64) -> u64 {
        let chunk = vec![0; 64 * 1024];
        let mut written = 0;
        within("a flood of payload", async {
            while written < len {
                let size = chunk.len().min((len - written) as usize);
                match self.stream.write(&chunk[..size]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => written += n as u64,
                }
            }
        })
        .await;
        written
    }

    /// Sends one protocol message as a whole binary frame.
    pub async fn send(&mut self, message: &ToCoordinator) {
        let frame = encode(message).expect("encode");
        self.header(0x2, true, frame.len() as u64).await;
        self.payload(&frame).await;
    }

    /// The next server frame; pings and pongs are skipped.
    pub async fn next(&mut self) -> ServerFrame {
        within("a server frame", async {
            loop {
                let Some((opcode, payload)) = self.frame().await else { return ServerFrame::Ended };
                match opcode {
                    0x2 => return ServerFrame::Message(decode(&payload).expect("server frames decode")),
                    0x8 => {
                        let code = payload.get(..2).map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]));
                        let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default()).into_owned();
                        return ServerFrame::Close(code, reason);
                    }
                    _ => {}
                }
            }
        })
        .await
    }

    /// Skips messages until the close frame; answers its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.next().await {
                ServerFrame::Message(_) => {}
                ServerFrame::Close(code, reason) => return (code, reason),
                ServerFrame::Ended => panic!("the connection ended without a close frame"),
            }
        }
    }

    /// One whole unfragmented-or-joined frame: its opcode and payload.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut message = Vec::new();
        let mut first_opcode = None;
        loop {
            self.fill(2).await?;
            let (fin, opcode) = (self.buf[0] & 0x80 != 0, self.buf[0] & 0x0f);
            let (len, at) = match self.buf[1] & 0x7f {
                126 => {
                    self.fill(4).await?;
                    (u64::from(u16::from_be_bytes([self.buf[2], self.buf[3]])), 4)
                }
                127 => {
                    self.fill(10).await?;
                    (u64::from_be_bytes(self.buf[2..10].try_into().ok()?), 10)
                }
                short => (u64::from(short), 2),
            };
            self.fill(at + len as usize).await?;
            let payload: Vec<u8> = self.buf.drain(..at + len as usize).skip(at).collect();
            message.extend_from_slice(&payload);
            let opcode = *first_opcode.get_or_insert(opcode);
            if fin {
                return Some((opcode, message));
            }
        }
    }

    async fn fill(&mut self, wanted: usize) -> Option<()> {
        while self.buf.len() < wanted {
            let mut chunk = [0; 16 * 1024];
            let read = self.stream.read(&mut chunk).await.ok()?;
            if read == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..read]);
        }
        Some(())
    }
}

/// Reads an HTTP response head; answers it and the bytes read past it.
async fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut bytes = Vec::new();
    within("the response head", async {
        loop {
            if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                let rest = bytes.split_off(end + 4);
                return (String::from_utf8_lossy(&bytes).into_owned(), rest);
            }
            let mut chunk = [0; 4096];
            let read = stream.read(&mut chunk).await.expect("read");
            assert!(read > 0, "the server closed before answering");
            bytes.extend_from_slice(&chunk[..read]);
        }
    })
    .await
}

/// Sends an HTTP request with `head` (no trailing blank line) and `body`, reads the whole
/// response; answers its status and body.
pub async fn http(server: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = within("connect", TcpStream::connect(server)).await.expect("connect");
    within("the request", async {
        stream.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
        stream.write_all(body).await
    })
    .await
    .ok();
    let (head, mut rest) = read_head(&mut stream).await;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    within("the response body", stream.read_to_end(&mut rest)).await.ok();
    (status, String::from_utf8_lossy(&rest).into_owned())
}
