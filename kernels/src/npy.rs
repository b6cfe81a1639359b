//! NumPy `.npy` files holding a 2-D little-endian `f32` matrix.
//!
//! Only the exact kind of file [`encode_npy_f32`] writes is supported: format version 1.0,
//! dtype `'<f4'`, C order, two dimensions. NumPy's own `np.save` writes the same header for
//! such an array, so those files decode too.

use crate::KernelError;

/// The magic string that opens every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Magic, two version bytes and the two-byte header length.
const PREAMBLE_LEN: usize = 10;

/// The total header length is padded to a multiple of this, as NumPy requires.
const ALIGNMENT: usize = 64;

/// The header dictionary up to the shape tuple's contents.
const DICT_PREFIX: &str = "{'descr': '<f4', 'fortran_order': False, 'shape': (";

/// The header dictionary after the shape tuple's contents.
const DICT_SUFFIX: &str = "), }";

/// Encodes a `rows`×`cols` row-major matrix as a `.npy` version 1.0 file.
///
/// Fails when `data` does not hold `rows`·`cols` values.
pub fn encode_npy_f32(rows: usize, cols: usize, data: &[f32]) -> Result<Vec<u8>, KernelError> {
    let len = rows.checked_mul(cols).ok_or(KernelError::TooLarge { what: "npy shape" })?;
    if data.len() != len {
        return Err(KernelError::LengthMismatch { what: "npy data", expected: len, found: data.len() });
    }
    let mut header = format!("{DICT_PREFIX}{rows}, {cols}{DICT_SUFFIX}");
    // Pad with spaces so that the preamble, the dictionary and the final newline fill a
    // whole number of 64-byte blocks.
    let unpadded = PREAMBLE_LEN + header.len() + 1;
    header.extend(std::iter::repeat_n(' ', unpadded.next_multiple_of(ALIGNMENT) - unpadded));
    header.push('\n');
    // The dictionary is at most about 100 bytes, so its length always fits the u16 field.
    let header_len = u16::try_from(header.len()).map_err(|_| KernelError::TooLarge { what: "npy header" })?;
    let mut bytes = Vec::with_capacity(PREAMBLE_LEN + header.len() + 4 * len);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for value in data {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    Ok(bytes)
}

/// Decodes a file written by [`encode_npy_f32`] into `(rows, cols, data)`.
///
/// Rejects anything else: other versions, dtypes, orders or dimensions, and data whose
/// length does not match the shape.
pub fn decode_npy_f32(bytes: &[u8]) -> Result<(usize, usize, Vec<f32>), KernelError> {
    let bad = |reason| KernelError::BadFormat { reason };
    let preamble = bytes.get(..PREAMBLE_LEN).ok_or(bad("file is shorter than the preamble"))?;
    if &preamble[..6] != MAGIC {
        return Err(bad("magic string is missing"));
    }
    if preamble[6..8] != [1, 0] {
        return Err(bad("only format version 1.0 is supported"));
    }
    let header_len = usize::from(u16::from_le_bytes([preamble[8], preamble[9]]));
    let header = bytes.get(PREAMBLE_LEN..PREAMBLE_LEN + header_len).ok_or(bad("header is truncated"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    let (rows, cols) = parse_header(header)?;
    let len = rows.checked_mul(cols).ok_or(KernelError::TooLarge { what: "npy shape" })?;
    let payload = &bytes[PREAMBLE_LEN + header_len..];
    let expected = len.checked_mul(4).ok_or(KernelError::TooLarge { what: "npy shape" })?;
    if payload.len() != expected {
        return Err(KernelError::LengthMismatch { what: "npy data", expected, found: payload.len() });
    }
    let (chunks, _) = payload.as_chunks::<4>();
    Ok((rows, cols, chunks.iter().map(|&chunk| f32::from_le_bytes(chunk)).collect()))
}

/// Parses the header dictionary and returns the shape.
fn parse_header(header: &str) -> Result<(usize, usize), KernelError> {
    let bad = |reason| KernelError::BadFormat { reason };
    let dict = header.strip_suffix('\n').ok_or(bad("header does not end with a newline"))?.trim_end_matches(' ');
    let shape = dict
        .strip_prefix(DICT_PREFIX)
        .and_then(|rest| rest.strip_suffix(DICT_SUFFIX))
        .ok_or(bad("header is not a C-order '<f4' dictionary"))?;
    let (rows, cols) = shape.split_once(", ").ok_or(bad("shape is not two-dimensional"))?;
    let parse = |text: &str| {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("shape holds something other than a number"));
        }
        text.parse::<usize>().map_err(|_| KernelError::TooLarge { what: "npy shape" })
    };
    Ok((parse(rows)?, parse(cols)?))
}

#[cfg(test)]
mod tests;
