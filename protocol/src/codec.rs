//! The one codec: a two-byte protocol version followed by a bincode 2 body.

use serde::{Serialize, de::DeserializeOwned};

/// Bumped whenever a message changes shape; peers with another version are rejected.
pub const PROTOCOL_VERSION: u16 = 6;

/// The largest frame either side encodes or decodes. A matmul task carries two operand
/// panels (at most 2 × 256 × 8192 f32 = 16 MiB), so 64 MiB leaves room for job submissions
/// that carry their matrices while still bounding what one hostile frame can cost.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

const VERSION_BYTES: usize = 2;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_FRAME_BYTES>,
>;

const CONFIG: Config = bincode::config::standard().with_limit::<MAX_FRAME_BYTES>();

/// Why a message could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The message does not fit in [`MAX_FRAME_BYTES`], or serde refused it.
    #[error("cannot encode message: {0}")]
    Bincode(#[from] bincode::error::EncodeError),
}

/// Why a frame could not be decoded. Every variant is a property of the bytes received.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The frame is shorter than its version header.
    #[error("frame of {0} bytes is too short")]
    TooShort(usize),
    /// The frame exceeds [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES} byte limit")]
    TooLarge(usize),
    /// The peer speaks another protocol version.
    #[error("protocol version {found} is not the supported version {PROTOCOL_VERSION}")]
    VersionMismatch {
        /// The version the frame carries.
        found: u16,
    },
    /// The body is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(#[from] bincode::error::DecodeError),
    /// The body decoded but bytes were left over.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
}

impl DecodeError {
    /// The version found in the frame when it was a version mismatch.
    pub fn version_mismatch(&self) -> Option<u16> {
        match self {
            Self::VersionMismatch { found } => Some(*found),
            _ => None,
        }
    }
}

/// Encodes a message as one frame: version header, then the bincode body.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, EncodeError> {
    let mut frame = Vec::with_capacity(64);
    encode_into(message, &mut frame)?;
    Ok(frame)
}

/// Appends one frame to `out`, as [`encode`] would return it; answers its length. For
/// callers that pack many frames into one buffer without a buffer each.
pub fn encode_into<T: Serialize>(message: &T, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
    let start = out.len();
    out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    if let Err(error) = bincode::serde::encode_into_std_write(message, out, CONFIG) {
        out.truncate(start);
        return Err(error.into());
    }
    Ok(out.len() - start)
}

/// Decodes one frame. Never panics on arbitrary input and never allocates past
/// [`MAX_FRAME_BYTES`].
pub fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, DecodeError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge(frame.len()));
    }
    let Some((header, body)) = frame.split_first_chunk::<VERSION_BYTES>() else {
        return Err(DecodeError::TooShort(frame.len()));
    };
    let found = u16::from_le_bytes(*header);
    if found != PROTOCOL_VERSION {
        return Err(DecodeError::VersionMismatch { found });
    }
    // Borrowing from the frame lets byte runs (operand panels) be read without a copy.
    let (message, read) = bincode::serde::borrow_decode_from_slice(body, CONFIG)?;
    match body.len() - read {
        0 => Ok(message),
        extra => Err(DecodeError::TrailingBytes(extra)),
    }
}
