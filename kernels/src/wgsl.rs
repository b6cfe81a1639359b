//! The WebGPU compute shader for the matrix product, and how to dispatch it.
//!
//! Bind group 0 holds `a` (binding 0, read-only storage), `b` (binding 1, read-only
//! storage), `c` (binding 2, read-write storage) and the [`MATMUL_WGSL`] `Dims` uniform
//! (binding 3: `rows`, `k`, `cols` and a padding word, four `u32`s). All matrices are
//! row-major `f32`. Dispatch [`matmul_dispatch`] workgroups with entry point `main`.
//!
//! The GPU sums each output in tiles of 16 along `k`, possibly with fused multiply-adds, so
//! its results differ from [`crate::matmul::matmul_tile`] by rounding; the verifier in
//! [`crate::freivalds`] tolerates exactly that.

/// The side of the square workgroup and of the shared-memory tiles.
pub const MATMUL_WORKGROUP: u32 = 16;

/// A tiled WGSL compute shader computing `c = a · b`.
///
/// Each 16×16 workgroup computes a 16×16 block of `c`. It walks along `k` in steps of 16,
/// each invocation loading one element of A and one of B into workgroup memory (zero when
/// outside the matrices), so sizes that are not multiples of 16 work; only invocations
/// inside `c` write. The barriers are reached in uniform control flow, since the loop bound
/// comes from the uniform buffer.
pub const MATMUL_WGSL: &str = r#"struct Dims {
    rows: u32,
    k: u32,
    cols: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

const TILE: u32 = 16u;

var<workgroup> tile_a: array<array<f32, 16>, 16>;
var<workgroup> tile_b: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16)
fn main(
    @builtin(global_invocation_id) global_id: vec3<u32>,
    @builtin(local_invocation_id) local_id: vec3<u32>,
) {
    let row = global_id.y;
    let col = global_id.x;
    let ly = local_id.y;
    let lx = local_id.x;
    let tiles = (dims.k + TILE - 1u) / TILE;
    var sum: f32 = 0.0;
    for (var t: u32 = 0u; t < tiles; t = t + 1u) {
        let a_col = t * TILE + lx;
        if (row < dims.rows && a_col < dims.k) {
            tile_a[ly][lx] = a[row * dims.k + a_col];
        } else {
            tile_a[ly][lx] = 0.0;
        }
        let b_row = t * TILE + ly;
        if (b_row < dims.k && col < dims.cols) {
            tile_b[ly][lx] = b[b_row * dims.cols + col];
        } else {
            tile_b[ly][lx] = 0.0;
        }
        workgroupBarrier();
        for (var i: u32 = 0u; i < TILE; i = i + 1u) {
            sum = sum + tile_a[ly][i] * tile_b[i][lx];
        }
        workgroupBarrier();
    }
    if (row < dims.rows && col < dims.cols) {
        c[row * dims.cols + col] = sum;
    }
}
"#;

/// Returns the workgroup counts `(x, y)` that cover a `rows`×`cols` output: `x` over
/// columns and `y` over rows, each rounded up to whole workgroups.
pub fn matmul_dispatch(rows: u32, cols: u32) -> (u32, u32) {
    (cols.div_ceil(MATMUL_WORKGROUP), rows.div_ceil(MATMUL_WORKGROUP))
}

#[cfg(test)]
mod tests {
    use super::{MATMUL_WGSL, MATMUL_WORKGROUP, matmul_dispatch};

    #[test]
    fn shader_declares_entry_point_and_bindings() {
        let declarations = [
            "@compute @workgroup_size(16, 16)",
            "fn main(",
            "@group(0) @binding(0) var<storage, read> a: array<f32>;",
            "@group(0) @binding(1) var<storage, read> b: array<f32>;",
            "@group(0) @binding(2) var<storage, read_write> c: array<f32>;",
            "@group(0) @binding(3) var<uniform> dims: Dims;",
            "struct Dims {\n    rows: u32,\n    k: u32,\n    cols: u32,\n    _pad: u32,\n}",
            "workgroupBarrier();",
        ];
        for declaration in declarations {
            assert!(MATMUL_WGSL.contains(declaration), "missing {declaration}");
        }
        assert_eq!(MATMUL_WGSL.matches("fn ").count(), 1, "one function, the entry point");
    }

    #[test]
    fn shader_text_is_balanced_and_plain() {
        for (open, close) in [('{', '}'), ('(', ')'), ('[', ']')] {
            let opens = MATMUL_WGSL.matches(open).count();
            assert_eq!(opens, MATMUL_WGSL.matches(close).count(), "{open}{close}");
        }
        assert!(MATMUL_WGSL.is_ascii());
        assert!(!MATMUL_WGSL.contains('\t'));
        // The workgroup size in the source must match the constant the host uses.
        let size = format!("@workgroup_size({MATMUL_WORKGROUP}, {MATMUL_WORKGROUP})");
        assert!(MATMUL_WGSL.contains(&size));
        assert!(MATMUL_WGSL.contains(&format!("array<array<f32, {MATMUL_WORKGROUP}>, {MATMUL_WORKGROUP}>")));
    }

    #[test]
    fn dispatch_covers_the_output_with_whole_workgroups() {
        assert_eq!(matmul_dispatch(0, 0), (0, 0));
        assert_eq!(matmul_dispatch(1, 1), (1, 1));
        assert_eq!(matmul_dispatch(16, 32), (2, 1));
        assert_eq!(matmul_dispatch(17, 33), (3, 2));
        assert_eq!(matmul_dispatch(u32::MAX, 15), (1, u32::MAX.div_ceil(16)));
    }
}
