//! Runs one task's kernel: the bridge between the wire's task kinds and the kernels crate
//! (built-in kernels) or the worker's wasm host (user kernels).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use ostrich_protocol::{TaskKind, TaskOutput};

use crate::wasm::WasmKernels;

/// Computes a task, or says why it could not; the pool sends the reason as a `TaskFailed`.
pub type ComputeFn = Arc<dyn Fn(&TaskKind) -> Result<TaskOutput, String> + Send + Sync>;

/// The real kernels, as a [`ComputeFn`]: built-in ones, and user kernels from `wasm`.
pub fn kernels(wasm: Arc<WasmKernels>) -> ComputeFn {
    Arc::new(move |kind| match kind {
        TaskKind::Wasm { module, input, time_limit_ms, max_output_bytes } => {
            wasm.run(*module, input, *time_limit_ms, *max_output_bytes)
        }
        _ => run_task(kind),
    })
}

/// Runs the kernel a task asks for. A kernel error or a panic becomes an `Err` with a reason;
/// it never takes the calling thread down.
pub fn run_task(kind: &TaskKind) -> Result<TaskOutput, String> {
    match catch_unwind(AssertUnwindSafe(|| ostrich_kernels::run_task(kind))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".to_owned());
            Err(format!("kernel panicked: {what}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use ostrich_protocol::MandelbrotView;

    use super::*;

    #[test]
    fn matmul_task_gives_the_product() {
        let kind = TaskKind::MatmulTile { rows: 1, k: 2, cols: 1, a: vec![1.0, 2.0], b: vec![3.0, 4.0] };
        assert_eq!(run_task(&kind), Ok(TaskOutput::MatmulTile { c: vec![11.0] }));
    }

    #[test]
    fn malformed_matmul_task_fails_instead_of_panicking() {
        let kind = TaskKind::MatmulTile { rows: 2, k: 2, cols: 2, a: vec![1.0], b: vec![] };
        assert!(run_task(&kind).is_err());
    }

    #[test]
    fn mandelbrot_task_gives_one_count_per_pixel() {
        let view = MandelbrotView { width: 8, height: 8, center_re: -0.5, center_im: 0.0, zoom: 1.0, max_iter: 50 };
        let kind = TaskKind::MandelbrotTile { view, x: 2, y: 2, w: 3, h: 2 };
        match run_task(&kind) {
            Ok(TaskOutput::MandelbrotTile { iterations }) => assert_eq!(iterations.len(), 6),
            other => panic!("unexpected {other:?}"),
        }
    }
}
