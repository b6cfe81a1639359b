//! A WebSocket client written byte by byte, for what a well-behaved library will not do:
//! come from a chosen loopback address, and announce a frame it has no right to send
//! before its hello. The hostile sockets of [`crate::hostile`] are made of it.

use std::{
    io,
    net::{IpAddr, SocketAddr},
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

/// The largest response head read before the upgrade is given up.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How a connection attempt ended before it became a WebSocket.
#[derive(Debug)]
pub enum Refused {
    /// The TCP connection or the request failed.
    Io(io::Error),
    /// The server answered the upgrade with this HTTP status instead of 101.
    Status(u16),
}

impl From<io::Error> for Refused {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Connects to `server` from the local address `from` (any 127.x.y.z address is loopback)
/// and upgrades to a WebSocket. Answers the stream and any bytes the server sent past the
/// response head.
pub async fn upgrade(server: SocketAddr, from: IpAddr) -> Result<(TcpStream, Vec<u8>), Refused> {
    let socket = if from.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(from, 0))?;
    let mut stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut bytes = Vec::new();
    let end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if bytes.len() > MAX_HEAD_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "response head too long").into());
        }
        let mut chunk = [0; 4096];
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before answering").into());
        }
        bytes.extend_from_slice(&chunk[..read]);
    };
    let rest = bytes.split_off(end + 4);
    let head = String::from_utf8_lossy(&bytes);
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no status line"))?;
    if status != 101 {
        return Err(Refused::Status(status));
    }
    Ok((stream, rest))
}

/// A client frame header (RFC 6455 §5.2) announcing `len` payload bytes, masked with a zero
/// mask so the payload goes as it is.
pub fn header(opcode: u8, fin: bool, len: u64) -> Vec<u8> {
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
    header.extend_from_slice(&[0; 4]);
    header
}

/// Reads server frames until the connection ends (or fails); answers the code of the close
/// frame among them (1005 when it had none), or `None` when there was none. `buf` holds
/// bytes already read past the upgrade.
pub async fn closed(reader: &mut (impl AsyncRead + Unpin), mut buf: Vec<u8>) -> Option<u16> {
    let mut code = None;
    loop {
        while let Some((opcode, at, len)) = parse(&buf) {
            if buf.len() < at + len {
                break;
            }
            if opcode == 0x8 && code.is_none() {
                let payload = &buf[at..at + len];
                code = Some(payload.get(..2).map_or(1005, |c| u16::from_be_bytes([c[0], c[1]])));
            }
            buf.drain(..at + len);
        }
        let mut chunk = [0; 4096];
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return code,
            Ok(read) => buf.extend_from_slice(&chunk[..read]),
        }
    }
}

/// A server frame header at the front of `buf`: its opcode, where its payload starts and
/// how long it is; `None` until the header is whole.
fn parse(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (&first, rest) = buf.split_first()?;
    let (&second, rest) = rest.split_first()?;
    let (len, at) = match second & 0x7f {
        126 => (u64::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)), 4),
        127 => (u64::from_be_bytes(rest.get(..8)?.try_into().ok()?), 10),
        short => (u64::from(short), 2),
    };
    Some((first & 0x0f, at, usize::try_from(len).ok()?))
}

#[cfg(test)]
mod tests {
    use super::{closed, header, parse};

    #[test]
    fn headers_use_the_shortest_length_form() {
        assert_eq!(header(0x2, true, 5), vec![0x82, 0x85, 0, 0, 0, 0]);
        assert_eq!(header(0x2, true, 300)[..4], [0x82, 0xfe, 0x01, 0x2c]);
        let big = header(0x2, true, 64 << 20);
        assert_eq!(big.len(), 14);
        assert_eq!(u64::from_be_bytes(big[2..10].try_into().expect("8 bytes")), 64 << 20);
    }

    #[tokio::test]
    async fn the_close_code_is_found_behind_other_frames() {
        assert_eq!(parse(&[0x88]), None);
        let mut frames = vec![0x82, 0x02, 7, 7]; // a binary frame first
        frames.extend_from_slice(&[0x88, 0x05, 0x03, 0xf1, b'b', b'i', b'g']);
        assert_eq!(closed(&mut &frames[4..], frames[..4].to_vec()).await, Some(1009));
        assert_eq!(closed(&mut &[0x88u8, 0x00][..], Vec::new()).await, Some(1005));
        assert_eq!(closed(&mut &[0x82u8, 0x05, 1][..], Vec::new()).await, None);
    }
}
