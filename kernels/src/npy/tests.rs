//! Tests that the encoding follows the `.npy` format and round-trips.

use super::{decode_npy_f32, encode_npy_f32};
use crate::KernelError;

#[test]
fn header_follows_the_format() {
    let data = [1.0f32, -2.5, 3.25, 0.0, f32::MAX, f32::MIN_POSITIVE];
    let bytes = encode_npy_f32(2, 3, &data).expect("valid shape");
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    assert_eq!(&bytes[6..8], &[1, 0], "version 1.0");
    let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let data_start = 10 + header_len;
    assert_eq!(data_start % 64, 0, "header is padded to 64 bytes");
    let header = std::str::from_utf8(&bytes[10..data_start]).expect("ascii header");
    assert!(header.ends_with('\n'));
    assert_eq!(header.trim_end(), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    assert_eq!(bytes.len(), data_start + 4 * data.len());
    assert_eq!(&bytes[data_start..data_start + 4], &1.0f32.to_le_bytes());
    assert_eq!(&bytes[data_start + 4..data_start + 8], &[0x00, 0x00, 0x20, 0xC0], "-2.5 little-endian");
}

#[test]
fn round_trip_preserves_shape_and_bits() {
    let data: Vec<f32> = (0..35).map(|i| (i as f32 - 17.0) / 3.0).collect();
    let bytes = encode_npy_f32(5, 7, &data).expect("valid shape");
    let (rows, cols, decoded) = decode_npy_f32(&bytes).expect("own output decodes");
    assert_eq!((rows, cols), (5, 7));
    assert_eq!(decoded, data);
    let big = vec![0.5f32; 1000 * 1000];
    assert_eq!(decode_npy_f32(&encode_npy_f32(1000, 1000, &big).expect("valid")), Ok((1000, 1000, big)));
}

#[test]
fn empty_matrices_round_trip() {
    for (rows, cols) in [(0, 0), (0, 5), (3, 0)] {
        let bytes = encode_npy_f32(rows, cols, &[]).expect("valid shape");
        assert_eq!(bytes.len() % 64, 0);
        assert_eq!(decode_npy_f32(&bytes), Ok((rows, cols, vec![])));
    }
}

#[test]
fn encode_rejects_wrong_lengths() {
    let result = encode_npy_f32(2, 2, &[1.0; 3]);
    assert_eq!(result, Err(KernelError::LengthMismatch { what: "npy data", expected: 4, found: 3 }));
    assert!(encode_npy_f32(usize::MAX, 2, &[]).is_err());
}

#[test]
fn decode_rejects_other_files() {
    let good = encode_npy_f32(2, 2, &[1.0, 2.0, 3.0, 4.0]).expect("valid shape");
    let is_bad_format = |bytes: &[u8]| matches!(decode_npy_f32(bytes), Err(KernelError::BadFormat { .. }));
    assert!(is_bad_format(&good[..5]));
    assert!(is_bad_format(&good[..40]));
    let mut wrong_magic = good.clone();
    wrong_magic[1] = b'X';
    assert!(is_bad_format(&wrong_magic));
    let mut version_two = good.clone();
    version_two[6] = 2;
    assert!(is_bad_format(&version_two));
    let with_header = |dict: &str| {
        let mut bytes = good[..10].to_vec();
        let header = format!("{dict:<117}\n");
        bytes[8..10].copy_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&good[good.len() - 16..]);
        bytes
    };
    let same = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }");
    assert_eq!(same, good, "the helper rebuilds the encoder's output");
    assert!(is_bad_format(&with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }")));
    assert!(is_bad_format(&with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }")));
    assert!(is_bad_format(&with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }")));
    assert!(is_bad_format(&with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }")));
}

#[test]
fn decode_rejects_data_of_the_wrong_length() {
    let good = encode_npy_f32(2, 2, &[1.0, 2.0, 3.0, 4.0]).expect("valid shape");
    let result = decode_npy_f32(&good[..good.len() - 1]);
    assert_eq!(result, Err(KernelError::LengthMismatch { what: "npy data", expected: 16, found: 15 }));
    let mut longer = good.clone();
    longer.push(0);
    assert!(decode_npy_f32(&longer).is_err());
}
