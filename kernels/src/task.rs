//! A protocol task to its kernel: the one place that maps `TaskKind` to the code that
//! computes it, shared by the native worker and the browser's CPU workers. User (wasm)
//! kernels are not here: each device runs them in its own wasm host.

use ostrich_protocol::{TaskKind, TaskOutput};

use crate::{mandelbrot, matmul};

/// Runs the kernel a task asks for. Bad input (lengths that do not match the dimensions, a
/// degenerate view) becomes an `Err` with a reason for a `TaskFailed` message.
pub fn run_task(kind: &TaskKind) -> Result<TaskOutput, String> {
    match kind {
        TaskKind::MatmulTile { rows, k, cols, a, b } => {
            matmul::matmul_tile(a, b, *rows as usize, *k as usize, *cols as usize)
                .map(|c| TaskOutput::MatmulTile { c })
                .map_err(|err| format!("matmul tile: {err}"))
        }
        TaskKind::MandelbrotTile { view, x, y, w, h } => mandelbrot::render_tile(view, *x, *y, *w, *h)
            .map(|iterations| TaskOutput::MandelbrotTile { iterations })
            .map_err(|err| format!("mandelbrot tile: {err}")),
        // User kernels run in a wasm host (wasmtime natively, a Web Worker's engine in the
        // browser), never as built-in code.
        TaskKind::Wasm { .. } => Err("a user kernel runs in a wasm host, not as a built-in kernel".into()),
    }
}

#[cfg(test)]
mod tests {
    use ostrich_protocol::MandelbrotView;

    use super::*;

    #[test]
    fn tasks_run_their_kernel_and_bad_input_is_an_error() {
        let kind = TaskKind::MatmulTile { rows: 1, k: 2, cols: 1, a: vec![1.0, 2.0], b: vec![3.0, 4.0] };
        assert_eq!(run_task(&kind), Ok(TaskOutput::MatmulTile { c: vec![11.0] }));
        let short = TaskKind::MatmulTile { rows: 2, k: 2, cols: 1, a: vec![1.0], b: vec![3.0, 4.0] };
        assert!(run_task(&short).is_err_and(|e| e.starts_with("matmul tile")));
        let view = MandelbrotView { width: 4, height: 4, center_re: -0.5, center_im: 0.0, zoom: 1.0, max_iter: 20 };
        let tile = TaskKind::MandelbrotTile { view, x: 0, y: 0, w: 4, h: 4 };
        assert!(matches!(run_task(&tile), Ok(TaskOutput::MandelbrotTile { iterations }) if iterations.len() == 16));
        let outside = TaskKind::MandelbrotTile { view, x: 2, y: 0, w: 4, h: 4 };
        assert!(run_task(&outside).is_err());
    }
}
