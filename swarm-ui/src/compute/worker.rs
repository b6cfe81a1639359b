//! The worker side of the pool: what runs inside each Web Worker.
//!
//! `static/worker.js` loads the wasm module and calls [`worker_main`], which installs the
//! message handler and posts `Ready`. From then on the worker answers each
//! [`ToWorker`](super::messages::ToWorker) with one [`FromWorker`](super::messages::FromWorker):
//! it probes WebGPU, runs the benchmark or computes a task. A matmul tile sent with `gpu`
//! runs on this worker's WebGPU device; if that fails for any reason the worker says
//! `GpuLost`, drops the device and computes the tile, and every later one, on the CPU.

/// The entry point of a compute worker, called by `start_worker` from `static/worker.js`.
///
/// Outside a dedicated worker (or outside the browser) it does nothing.
pub fn worker_main() {
    #[cfg(target_arch = "wasm32")]
    browser::main();
}

#[cfg(target_arch = "wasm32")]
mod browser {
    use std::cell::RefCell;
    use std::rc::Rc;

    use ostrich_protocol::{TaskId, TaskKind, TaskOutput};
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

    use crate::compute::gpu::GpuMatmul;
    use crate::compute::messages::{FromWorker, ToWorker, from_js, to_js};
    use crate::compute::{cpu, js};

    /// The GPU benchmark stops after this many milliseconds of timed runs...
    const GPU_BENCHMARK_MS: f64 = 300.0;
    /// ...or this many runs, whichever comes first.
    const GPU_BENCHMARK_RUNS: u32 = 16;

    /// This worker's WebGPU device, once probed and while it works.
    type GpuSlot = Rc<RefCell<Option<Rc<GpuMatmul>>>>;

    pub fn main() {
        let Ok(scope) = js_sys::global().dyn_into::<DedicatedWorkerGlobalScope>() else {
            js::warn("worker_main runs only inside a dedicated Web Worker");
            return;
        };
        let gpu: GpuSlot = Rc::default();
        let handler_scope = scope.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            match from_js::<ToWorker>(&event.data()) {
                Ok(message) => handle(message, &handler_scope, &gpu),
                Err(reason) => js::warn(&format!("compute worker: {reason}")),
            }
        });
        scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // The handler lives as long as the worker, which ends only by termination.
        on_message.forget();
        post(&scope, &FromWorker::Ready);
    }

    /// Answers one message. CPU work runs right in the message handler, so a crash in it
    /// reaches the pool as the worker's `error` event; WebGPU work is asynchronous, and
    /// `worker.js` turns a crash there into the same event.
    fn handle(message: ToWorker, scope: &DedicatedWorkerGlobalScope, gpu: &GpuSlot) {
        match message {
            ToWorker::ProbeGpu => {
                let (scope, gpu) = (scope.clone(), gpu.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let reply = probe(&scope, &gpu).await;
                    post(&scope, &reply);
                });
            }
            ToWorker::Benchmark { rounds } => {
                let ops_score = cpu::benchmark(rounds, js::now_ms);
                let matmul_mflops = cpu::matmul_benchmark(rounds, js::now_ms);
                post(scope, &FromWorker::Benchmarked { ops_score, matmul_mflops });
            }
            ToWorker::BenchmarkGpu => {
                let (scope, gpu) = (scope.clone(), gpu.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let mflops = benchmark_gpu(&scope, &gpu).await;
                    post(&scope, &FromWorker::GpuBenchmarked { mflops });
                });
            }
            ToWorker::Run { task, gpu: true } => {
                let (scope, gpu) = (scope.clone(), gpu.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let outcome = match run_on_gpu(&task.kind, &scope, &gpu).await {
                        Some(outcome) => outcome,
                        None => cpu::run_task(&task.kind),
                    };
                    post(&scope, &answer(task.id, outcome));
                });
            }
            ToWorker::Run { task, gpu: false } => post(scope, &answer(task.id, cpu::run_task(&task.kind))),
            ToWorker::RunWasm { task, module } => {
                post(scope, &answer(task.id, crate::compute::user_kernel::run(&task, module)));
            }
        }
    }

    fn answer(task_id: TaskId, outcome: Result<TaskOutput, String>) -> FromWorker {
        match outcome {
            Ok(output) => FromWorker::Done { task_id, output },
            Err(reason) => FromWorker::Failed { task_id, reason },
        }
    }

    /// Opens the WebGPU device; a later loss of it is reported as `GpuLost`.
    async fn probe(scope: &DedicatedWorkerGlobalScope, gpu: &GpuSlot) -> FromWorker {
        let (lost_scope, lost_gpu) = (scope.clone(), gpu.clone());
        let on_lost = move |reason: String| lose_gpu(&lost_scope, &lost_gpu, reason);
        match GpuMatmul::open(on_lost).await {
            Ok((device, info)) => {
                *gpu.borrow_mut() = Some(Rc::new(device));
                FromWorker::GpuReady { info }
            }
            Err(reason) => FromWorker::GpuUnavailable { reason },
        }
    }

    /// Times this worker's WebGPU matrix product on the reference tile: one untimed run
    /// (the shader compiles on first use), then runs until [`GPU_BENCHMARK_MS`] have passed
    /// or [`GPU_BENCHMARK_RUNS`] were timed. 0 when there is no device or it failed.
    async fn benchmark_gpu(scope: &DedicatedWorkerGlobalScope, gpu: &GpuSlot) -> u32 {
        let Some(device) = gpu.borrow().clone() else {
            return 0;
        };
        let (a, b) = cpu::reference_inputs();
        let n = cpu::REFERENCE_TILE as u32;
        if let Err(reason) = device.matmul(&a, &b, n, n, n).await {
            lose_gpu(scope, gpu, reason);
            return 0;
        }
        let (start, mut runs) = (js::now_ms(), 0u32);
        while runs < GPU_BENCHMARK_RUNS && js::now_ms() - start < GPU_BENCHMARK_MS {
            if let Err(reason) = device.matmul(&a, &b, n, n, n).await {
                lose_gpu(scope, gpu, reason);
                return 0;
            }
            runs += 1;
        }
        ostrich_kernels::ops_score(cpu::reference_flops() * f64::from(runs), (js::now_ms() - start) / 1000.0)
    }

    /// Runs a matmul tile on the GPU; `None` when it must run on the CPU instead (no
    /// device, not a well-formed matmul tile, or the GPU just failed).
    async fn run_on_gpu(
        kind: &TaskKind,
        scope: &DedicatedWorkerGlobalScope,
        gpu: &GpuSlot,
    ) -> Option<Result<TaskOutput, String>> {
        let TaskKind::MatmulTile { rows, k, cols, a, b } = kind else {
            return None;
        };
        if !cpu::gpu_runnable(*rows, *k, *cols, a, b) {
            return None;
        }
        let device = gpu.borrow().clone()?;
        match device.matmul(a, b, *rows, *k, *cols).await {
            Ok(c) => Some(Ok(TaskOutput::MatmulTile { c })),
            Err(reason) => {
                lose_gpu(scope, gpu, reason);
                None
            }
        }
    }

    /// Drops the device and tells the pool, once.
    fn lose_gpu(scope: &DedicatedWorkerGlobalScope, gpu: &GpuSlot, reason: String) {
        if gpu.borrow_mut().take().is_some() {
            js::warn(&format!("WebGPU failed, computing on the CPU: {reason}"));
            post(scope, &FromWorker::GpuLost { reason });
        }
    }

    fn post(scope: &DedicatedWorkerGlobalScope, message: &FromWorker) {
        let sent = to_js(message).and_then(|(bytes, transfer)| {
            scope.post_message_with_transfer(&bytes, &transfer).map_err(|err| js::reason(&err))
        });
        if let Err(reason) = sent {
            js::warn(&format!("compute worker cannot answer: {reason}"));
        }
    }
}
