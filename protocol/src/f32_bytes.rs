//! `Vec<f32>` on the wire as one run of little-endian bytes.
//!
//! bincode's serde path writes a sequence element by element, one call per value; operand
//! panels of a big matmul tile are millions of values, and that loop was most of the cost of
//! encoding and decoding a task (see `BENCHMARKS.md`). As bytes, a panel is a length and a
//! copy. Used with `#[serde(with = "crate::f32_bytes")]` on the task and output fields only;
//! the JSON API keeps plain number arrays.

use std::fmt;

use serde::{
    Deserializer, Serializer,
    de::{self, SeqAccess, Visitor},
};

/// Writes the values as `4 × len` little-endian bytes; on a little-endian machine the slice
/// itself, without a copy.
pub fn serialize<S: Serializer>(values: &[f32], serializer: S) -> Result<S::Ok, S::Error> {
    if cfg!(target_endian = "little") {
        return serializer.serialize_bytes(bytemuck::cast_slice(values));
    }
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    serializer.serialize_bytes(&bytes)
}

/// Reads values written by [`serialize`]; a byte count that is not a multiple of 4 is an
/// error. A sequence of numbers is accepted too, for self-describing formats.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
    deserializer.deserialize_bytes(F32s)
}

struct F32s;

impl<'de> Visitor<'de> for F32s {
    type Value = Vec<f32>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("f32 values as little-endian bytes")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<f32>, E> {
        if !bytes.len().is_multiple_of(4) {
            return Err(E::invalid_length(bytes.len(), &self));
        }
        if cfg!(target_endian = "little") {
            return Ok(bytemuck::pod_collect_to_vec(bytes));
        }
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<f32>, E> {
        self.visit_bytes(&bytes)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f32>, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(value) = seq.next_element()? {
            values.push(value);
        }
        Ok(values)
    }
}
