//! The messages between the page's pool and its Web Workers.
//!
//! They travel as bytes: [`ostrich_protocol::encode`] of one of these enums in a
//! `Uint8Array` whose buffer is transferred, not copied. Both sides decode with
//! [`ostrich_protocol::decode`], so a malformed message is an error, never a panic.

use ostrich_protocol::{GpuInfo, ModuleBytes, Task, TaskId, TaskOutput};
use serde::{Deserialize, Serialize};

/// What the pool sends to a worker. A worker gets one message at a time and answers it
/// before it is sent another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Open a WebGPU device and build the matmul pipeline; answered by `GpuReady` or
    /// `GpuUnavailable`.
    ProbeGpu,
    /// Time the standard benchmark kernel and the CPU matrix product on the reference tile;
    /// answered by `Benchmarked`.
    Benchmark {
        /// Timed rounds; the best one counts.
        rounds: u32,
    },
    /// Time the WebGPU matrix product on the reference tile (after `GpuReady`); answered by
    /// `GpuBenchmarked`.
    BenchmarkGpu,
    /// Compute a task; answered by `Done` or `Failed`.
    Run {
        /// The task, with all its inputs.
        task: Task,
        /// Whether to run a matmul tile on this worker's WebGPU device.
        gpu: bool,
    },
    /// Run a user kernel's task in a fresh instance with an empty import object; answered
    /// by `Done` or `Failed`. The module's bytes come with the first task of that module a
    /// worker gets; it compiles them once and keeps the compiled module.
    RunWasm {
        /// The task (its kind is `TaskKind::Wasm`).
        task: Task,
        /// The module, when this worker has not been given it yet.
        module: Option<ModuleBytes>,
    },
}

/// What a worker sends to the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    /// The wasm module is initialised; the worker takes messages from now on.
    Ready,
    /// The WebGPU device and pipeline are ready.
    GpuReady {
        /// The adapter, as the device reports it to the coordinator.
        info: GpuInfo,
    },
    /// There is no usable WebGPU here; matrix products run on the CPU.
    GpuUnavailable {
        /// Why, for the console.
        reason: String,
    },
    /// The WebGPU device failed; this worker computes on the CPU from now on. If a task is
    /// running, its `Done` or `Failed` follows.
    GpuLost {
        /// Why, for the console.
        reason: String,
    },
    /// The benchmark's result.
    Benchmarked {
        /// Millions of f32 operations per second in the best round.
        ops_score: u32,
        /// MFLOP/s of one thread's CPU matrix product on the reference tile.
        matmul_mflops: u32,
    },
    /// The WebGPU matrix product's figure on the reference tile.
    GpuBenchmarked {
        /// MFLOP/s; 0 when it could not be timed.
        mflops: u32,
    },
    /// A task's output.
    Done {
        /// The task.
        task_id: TaskId,
        /// What it computed.
        output: TaskOutput,
    },
    /// A task that could not be computed.
    Failed {
        /// The task.
        task_id: TaskId,
        /// Why.
        reason: String,
    },
}

#[cfg(target_arch = "wasm32")]
mod js_bytes {
    use js_sys::{Array, Uint8Array};
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use wasm_bindgen::{JsCast, JsValue};

    /// Encodes a message into a `Uint8Array`, and the array's buffer to transfer with it.
    pub fn to_js<T: Serialize>(message: &T) -> Result<(Uint8Array, Array), String> {
        let bytes = ostrich_protocol::encode(message).map_err(|err| format!("cannot encode: {err}"))?;
        let array = Uint8Array::from(bytes.as_slice());
        let transfer = Array::of1(&array.buffer());
        Ok((array, transfer))
    }

    /// Decodes a message from a `MessageEvent`'s data.
    pub fn from_js<T: DeserializeOwned>(data: &JsValue) -> Result<T, String> {
        let array = data.dyn_ref::<Uint8Array>().ok_or("a message that is not bytes")?;
        ostrich_protocol::decode(&array.to_vec()).map_err(|err| format!("a bad message: {err}"))
    }
}

#[cfg(target_arch = "wasm32")]
pub use js_bytes::{from_js, to_js};

#[cfg(test)]
mod tests {
    use ostrich_protocol::{GpuInfo, MandelbrotView, Task, TaskKind, TaskOutput, decode, encode};

    use super::{FromWorker, ToWorker};

    fn round_trip<T>(message: T)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let bytes = encode(&message).expect("encodes");
        assert_eq!(decode::<T>(&bytes).expect("decodes"), message);
    }

    fn task(kind: TaskKind) -> Task {
        Task { id: 7, job_id: 3, lease_ms: 120_000, kind }
    }

    #[test]
    fn every_message_to_a_worker_survives_the_codec() {
        round_trip(ToWorker::ProbeGpu);
        round_trip(ToWorker::Benchmark { rounds: 3 });
        round_trip(ToWorker::BenchmarkGpu);
        let matmul = TaskKind::MatmulTile { rows: 1, k: 2, cols: 1, a: vec![1.0, 2.0], b: vec![3.0, 4.0] };
        round_trip(ToWorker::Run { task: task(matmul), gpu: true });
        let view = MandelbrotView { width: 64, height: 48, center_re: -0.5, center_im: 0.0, zoom: 1.0, max_iter: 100 };
        round_trip(ToWorker::Run {
            task: task(TaskKind::MandelbrotTile { view, x: 0, y: 8, w: 16, h: 8 }),
            gpu: false,
        });
        let wasm = TaskKind::Wasm {
            module: ostrich_protocol::ModuleHash([5; 32]),
            input: vec![1, 2],
            time_limit_ms: 100,
            max_output_bytes: 8,
        };
        round_trip(ToWorker::RunWasm { task: task(wasm), module: Some(ostrich_protocol::ModuleBytes(vec![0, 97])) });
    }

    #[test]
    fn every_message_from_a_worker_survives_the_codec() {
        round_trip(FromWorker::Ready);
        let info = GpuInfo { vendor: "google".into(), description: "swiftshader".into(), fallback: true };
        round_trip(FromWorker::GpuReady { info });
        round_trip(FromWorker::GpuUnavailable { reason: "no adapter".into() });
        round_trip(FromWorker::GpuLost { reason: "device lost".into() });
        round_trip(FromWorker::Benchmarked { ops_score: 12_345, matmul_mflops: 4_321 });
        round_trip(FromWorker::GpuBenchmarked { mflops: 2_900 });
        round_trip(FromWorker::Done { task_id: 9, output: TaskOutput::MatmulTile { c: vec![0.5; 4] } });
        round_trip(FromWorker::Done { task_id: 9, output: TaskOutput::MandelbrotTile { iterations: vec![1, 2] } });
        round_trip(FromWorker::Failed { task_id: 9, reason: "matmul tile: bad a".into() });
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode::<FromWorker>(&[]).is_err());
        let mut frame = ostrich_protocol::PROTOCOL_VERSION.to_le_bytes().to_vec();
        frame.extend([200, 200, 200]);
        assert!(decode::<FromWorker>(&frame).is_err(), "a body that is not a message");
        assert!(decode::<ToWorker>(&[0xff; 64]).is_err());
    }
}
