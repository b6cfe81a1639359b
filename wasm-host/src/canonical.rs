//! NaN canonicalisation by rewriting the module at upload, so that every host, browsers
//! included, gives the same output bytes.
//!
//! Core wasm is deterministic except for the bits of a NaN that arithmetic produces: its
//! sign and payload may differ between CPUs and engines (x86 gives `0xffc00000` for 0/0,
//! Arm `0x7fc00000`). Those bits can only leave a float through a few instructions: a
//! store to memory, a reinterpret as an integer, the sign operand of `copysign`, and a move
//! into a SIMD vector (whose lanes are then plain bits). The rewrite puts the canonical NaN
//! (positive, quiet, no payload: `0x7fc00000`, `0x7ff8000000000000`) in place of any NaN
//! just before each of those, and after each SIMD float operation. Everything else a NaN
//! can do (compare unequal, propagate, turn into 0 by a saturating conversion) is the same
//! on every host.
//!
//! wasmtime can do this itself (`cranelift_nan_canonicalization`), but it canonicalises
//! after every float operation, which made the example kernels 2.4-3.5× slower, and a
//! browser cannot do it at all. The rewritten module needs neither.

use wasm_encoder::{
    Function, Ieee32, Ieee64, Instruction, ValType as Encoded,
    reencode::{Reencode, RoundtripReencoder},
};
use wasmparser::{FunctionBody, Operator};

/// The canonical NaNs.
pub const F32_NAN: u32 = 0x7fc0_0000;
/// See [`F32_NAN`].
pub const F64_NAN: u64 = 0x7ff8_0000_0000_0000;

/// Where a canonicalisation goes around an instruction.
enum Fix {
    /// The f32 on top of the stack, before the instruction.
    F32Before,
    /// The f64 on top of the stack, before the instruction.
    F64Before,
    /// The f32x4 the instruction leaves, after it.
    F32x4After,
    /// The f64x2 the instruction leaves, after it.
    F64x2After,
}

fn fix(op: &Operator<'_>) -> Option<Fix> {
    use Operator as O;
    Some(match op {
        O::F32Store { .. } | O::I32ReinterpretF32 | O::F32Copysign | O::F32x4Splat | O::F32x4ReplaceLane { .. } => {
            Fix::F32Before
        }
        O::F64Store { .. } | O::I64ReinterpretF64 | O::F64Copysign | O::F64x2Splat | O::F64x2ReplaceLane { .. } => {
            Fix::F64Before
        }
        O::F32x4Add
        | O::F32x4Sub
        | O::F32x4Mul
        | O::F32x4Div
        | O::F32x4Sqrt
        | O::F32x4Min
        | O::F32x4Max
        | O::F32x4Ceil
        | O::F32x4Floor
        | O::F32x4Trunc
        | O::F32x4Nearest
        | O::F32x4DemoteF64x2Zero => Fix::F32x4After,
        O::F64x2Add
        | O::F64x2Sub
        | O::F64x2Mul
        | O::F64x2Div
        | O::F64x2Sqrt
        | O::F64x2Min
        | O::F64x2Max
        | O::F64x2Ceil
        | O::F64x2Floor
        | O::F64x2Trunc
        | O::F64x2Nearest
        | O::F64x2PromoteLowF32x4 => Fix::F64x2After,
        _ => return None,
    })
}

/// The scratch locals a rewritten function gets after its own.
struct Scratch {
    f32: u32,
    f64: u32,
    v128: u32,
}

impl Scratch {
    /// Replaces the value on top of the stack by the canonical NaN if it is a NaN:
    /// `select(canonical, x, x != x)`, or lane-wise with `v128.bitselect`.
    fn emit(&self, fix: &Fix, f: &mut Function) {
        let (local, canonical, is_nan, select) = match fix {
            Fix::F32Before => {
                (self.f32, Instruction::F32Const(Ieee32::new(F32_NAN)), Instruction::F32Ne, Instruction::Select)
            }
            Fix::F64Before => {
                (self.f64, Instruction::F64Const(Ieee64::new(F64_NAN)), Instruction::F64Ne, Instruction::Select)
            }
            Fix::F32x4After => (
                self.v128,
                Instruction::V128Const(i128::from_le_bytes(splat16(&F32_NAN.to_le_bytes()))),
                Instruction::F32x4Ne,
                Instruction::V128Bitselect,
            ),
            Fix::F64x2After => (
                self.v128,
                Instruction::V128Const(i128::from_le_bytes(splat16(&F64_NAN.to_le_bytes()))),
                Instruction::F64x2Ne,
                Instruction::V128Bitselect,
            ),
        };
        f.instruction(&Instruction::LocalSet(local));
        f.instruction(&canonical);
        f.instruction(&Instruction::LocalGet(local));
        f.instruction(&Instruction::LocalGet(local));
        f.instruction(&Instruction::LocalGet(local));
        f.instruction(&is_nan);
        f.instruction(&select);
    }
}

/// A lane's bytes repeated over 16.
fn splat16(lane: &[u8]) -> [u8; 16] {
    let mut out = [0; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = lane[i % lane.len()];
    }
    out
}

/// Rewrites one function body; `params` is its parameter count (locals are numbered after
/// them).
pub fn function(body: &FunctionBody<'_>, params: u32) -> Result<Function, String> {
    let mut locals = Vec::new();
    let mut count = params;
    let mut reencoder = RoundtripReencoder;
    for pair in body.get_locals_reader().map_err(|e| e.to_string())? {
        let (n, ty) = pair.map_err(|e| e.to_string())?;
        count += n;
        locals.push((n, reencoder.val_type(ty).map_err(|e| e.to_string())?));
    }
    let scratch = Scratch { f32: count, f64: count + 1, v128: count + 2 };
    locals.extend([(1, Encoded::F32), (1, Encoded::F64), (1, Encoded::V128)]);
    let mut f = Function::new(locals);
    let mut reader = body.get_operators_reader().map_err(|e| e.to_string())?;
    while !reader.eof() {
        let op = reader.read().map_err(|e| e.to_string())?;
        let fix = fix(&op);
        if let Some(before @ (Fix::F32Before | Fix::F64Before)) = &fix {
            scratch.emit(before, &mut f);
        }
        f.instruction(&reencoder.instruction(op).map_err(|e| e.to_string())?);
        if let Some(after @ (Fix::F32x4After | Fix::F64x2After)) = &fix {
            scratch.emit(after, &mut f);
        }
    }
    Ok(f)
}
