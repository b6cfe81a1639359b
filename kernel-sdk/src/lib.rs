//! Write an Ostrich-Legs user kernel in Rust.
//!
//! A kernel is one function from the task's input bytes to its output bytes. The
//! [`kernel!`] macro exports it with the kernel ABI (`memory`, `alloc`, `run` and, if
//! given, `verify`), so the crate builds to a module the coordinator accepts:
//!
//! ```ignore
//! // src/lib.rs of a crate with `crate-type = ["cdylib", "rlib"]`
//! pub fn run(input: &[u8]) -> Vec<u8> {
//!     let (index, _args) = ostrich_kernel_sdk::range_task(input).expect("a range task");
//!     (index * index).to_le_bytes().to_vec()
//! }
//! ostrich_kernel_sdk::kernel!(run);
//! ```
//!
//! `cargo build --target wasm32-unknown-unknown --release` then writes the module. Natively
//! the same crate is an ordinary library, so the kernel can be tested and run as a local
//! reference without wasm.
//!
//! The ABI, for authors of other languages: the module imports nothing and exports
//! `memory`, `alloc(len: i32) -> i32` (a buffer of `len` bytes the host writes the input
//! into) and `run(ptr: i32, len: i32) -> i64` (the output's pointer in the low 32 bits,
//! its length in the high 32), and may export
//! `verify(in_ptr: i32, in_len: i32, out_ptr: i32, out_len: i32) -> i32` (nonzero when the
//! output is right), which the coordinator then runs instead of replicating. Every call
//! gets a fresh instance.
//!
//! For outputs that are the same bytes on every machine (results are checked by comparing
//! two devices' outputs byte for byte): use the `libm` crate for `sin`, `exp`, `ln` and
//! the like rather than `f64::sin` (the platform's math library differs between targets),
//! and this crate's [`math`] for square roots and roundings (`libm`'s are software ones in
//! wasm); draw random numbers from a generator seeded by the task ([`SplitMix64`]), and do not
//! depend on the order of a `HashMap`.

#![no_std]

extern crate alloc;

pub mod math;

use alloc::{boxed::Box, vec::Vec};

/// A range task's input: its index, then the job's shared arguments.
pub fn range_task(input: &[u8]) -> Option<(u64, &[u8])> {
    let (index, args) = input.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*index), args))
}

/// Packs `run`'s answer: pointer in the low 32 bits, length in the high 32.
pub fn pack(ptr: u32, len: u32) -> i64 {
    ((u64::from(len) << 32) | u64::from(ptr)) as i64
}

/// SplitMix64: a small, fast, seedable generator whose stream is the same on every
/// target, for Monte Carlo kernels. Seed it from the task index so every task draws its
/// own numbers and a replica draws the same ones.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform f64 in [0, 1), from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The ABI's functions, called by the code [`kernel!`] generates. Not for direct use.
#[doc(hidden)]
pub mod abi {
    use super::{Box, Vec, pack};

    /// A kernel's `run`.
    pub type Run = fn(&[u8]) -> Vec<u8>;
    /// A kernel's `verify`.
    pub type Verify = fn(&[u8], &[u8]) -> bool;

    /// `alloc(len)`: a buffer for the host to write `len` bytes into. Never freed: each
    /// call runs in a fresh instance, whose memory goes with it.
    pub fn alloc(len: i32) -> i32 {
        let buffer: Box<[u8]> = alloc::vec![0u8; len.max(0) as usize].into_boxed_slice();
        Box::leak(buffer).as_mut_ptr() as usize as i32
    }

    /// Borrows `len` bytes at `ptr` of this instance's memory.
    ///
    /// # Safety
    /// `ptr..ptr + len` must be a buffer returned by [`alloc`] and written by the host.
    pub unsafe fn bytes<'a>(ptr: i32, len: i32) -> &'a [u8] {
        if len <= 0 {
            return &[];
        }
        // SAFETY: the host wrote `len` bytes into the buffer `alloc(len)` returned at `ptr`.
        unsafe { core::slice::from_raw_parts(ptr as usize as *const u8, len as usize) }
    }

    /// `run(ptr, len)`: the kernel on the input at `ptr`; the output is leaked for the
    /// host to read.
    ///
    /// # Safety
    /// As for [`bytes`].
    pub unsafe fn run(ptr: i32, len: i32, kernel: fn(&[u8]) -> Vec<u8>) -> i64 {
        // SAFETY: the caller passes the host's buffer.
        let output = kernel(unsafe { bytes(ptr, len) }).into_boxed_slice();
        let len = output.len() as u32;
        pack(Box::leak(output).as_ptr() as usize as u32, len)
    }

    /// `verify(input, output)`: 1 when `check` accepts the output, else 0.
    ///
    /// # Safety
    /// As for [`bytes`], for both buffers.
    pub unsafe fn verify(ip: i32, il: i32, op: i32, ol: i32, check: fn(&[u8], &[u8]) -> bool) -> i32 {
        // SAFETY: the caller passes the host's buffers.
        let (input, output) = unsafe { (bytes(ip, il), bytes(op, ol)) };
        i32::from(check(input, output))
    }
}

/// Exports a kernel with the ABI: `kernel!(run)` or `kernel!(run, verify)`, where `run`
/// is a `fn(&[u8]) -> Vec<u8>` and `verify` a `fn(input: &[u8], output: &[u8]) -> bool`.
/// The exports exist only when building for wasm, so the crate stays an ordinary library
/// natively.
#[macro_export]
macro_rules! kernel {
    ($run:path) => {
        // Named outside the module below, where `run` would mean the export itself.
        #[cfg(target_arch = "wasm32")]
        const __OSTRICH_RUN: $crate::abi::Run = $run;

        #[cfg(target_arch = "wasm32")]
        mod __ostrich_kernel_exports {
            /// The ABI's `alloc`.
            #[unsafe(no_mangle)]
            pub extern "C" fn alloc(len: i32) -> i32 {
                $crate::abi::alloc(len)
            }

            /// The ABI's `run`.
            #[unsafe(no_mangle)]
            pub extern "C" fn run(ptr: i32, len: i32) -> i64 {
                // SAFETY: the host calls `run` with the buffer it got from `alloc`.
                unsafe { $crate::abi::run(ptr, len, super::__OSTRICH_RUN) }
            }
        }
    };
    ($run:path, $verify:path) => {
        $crate::kernel!($run);

        #[cfg(target_arch = "wasm32")]
        const __OSTRICH_VERIFY: $crate::abi::Verify = $verify;

        #[cfg(target_arch = "wasm32")]
        mod __ostrich_kernel_verify {
            /// The ABI's `verify`.
            #[unsafe(no_mangle)]
            pub extern "C" fn verify(ip: i32, il: i32, op: i32, ol: i32) -> i32 {
                // SAFETY: the host calls `verify` with buffers it got from `alloc`.
                unsafe { $crate::abi::verify(ip, il, op, ol, super::__OSTRICH_VERIFY) }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_inputs_split_and_the_generator_is_reproducible() {
        let mut input = 7u64.to_le_bytes().to_vec();
        input.extend_from_slice(b"args");
        assert_eq!(range_task(&input), Some((7, b"args".as_slice())));
        assert_eq!(range_task(b"short"), None);
        let (mut a, mut b) = (SplitMix64::new(3), SplitMix64::new(3));
        for _ in 0..100 {
            let x = a.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.next_f64().to_bits());
        }
        // The published first output of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(pack(1, 2), (2i64 << 32) | 1);
    }
}
