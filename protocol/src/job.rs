//! Jobs and tasks as they travel: what a master submits, what a device is asked to compute,
//! what it answers, and how a job's progress is reported.

use serde::{Deserialize, Serialize};

use crate::{JobId, ModuleHash, ReplicationStats, TaskId, WasmSpec};

/// A unit of real work submitted by a master; the coordinator splits it into tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobSpec {
    /// C = A·B over f32 matrices, split into output tiles.
    Matmul(MatmulSpec),
    /// A Mandelbrot render, split into pixel tiles; the result is a PNG.
    Mandelbrot(MandelbrotSpec),
    /// A user's WebAssembly kernel run on every task's input.
    Wasm(WasmSpec),
}

/// C (m×n) = A (m×k) · B (k×n), all row-major f32.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatmulSpec {
    /// Rows of A and C.
    pub m: u32,
    /// Columns of A, rows of B.
    pub k: u32,
    /// Columns of B and C.
    pub n: u32,
    /// Edge of a square output tile; edge tiles may be smaller.
    pub tile: u32,
    /// Where the operands come from.
    pub source: MatrixSource,
}

/// The operands of a matmul job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MatrixSource {
    /// Generated deterministically from a seed (uniform in [-1, 1)); for demos and tests.
    Seeded {
        /// Seed of the generator; the same seed always gives the same matrices.
        seed: u64,
    },
    /// Supplied by the master, row-major.
    Data {
        /// A, m×k values.
        a: Vec<f32>,
        /// B, k×n values.
        b: Vec<f32>,
    },
}

/// Where a Mandelbrot image looks, and how hard.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MandelbrotView {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Real part of the image centre.
    pub center_re: f64,
    /// Imaginary part of the image centre.
    pub center_im: f64,
    /// Magnification: at zoom 1 the image spans 3.5 units of the real axis.
    pub zoom: f64,
    /// Iteration cap; points that survive it are inside the set.
    pub max_iter: u32,
}

/// A Mandelbrot job.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MandelbrotSpec {
    /// The image to render.
    pub view: MandelbrotView,
    /// Edge of a square pixel tile; edge tiles may be smaller.
    pub tile: u32,
}

/// One task as assigned to a device under a lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Identity of the task; the result must name it.
    pub id: TaskId,
    /// The job the task belongs to.
    pub job_id: JobId,
    /// Milliseconds until the lease expires and the task is dispatched elsewhere.
    pub lease_ms: u32,
    /// What to compute.
    pub kind: TaskKind,
}

/// The computation a task asks for, with every input it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskKind {
    /// C tile (rows×cols) = A panel (rows×k) · B panel (k×cols), row-major.
    MatmulTile {
        /// Rows of the tile.
        rows: u32,
        /// Shared dimension.
        k: u32,
        /// Columns of the tile.
        cols: u32,
        /// The rows of A that the tile needs, rows×k.
        #[serde(with = "crate::f32_bytes")]
        a: Vec<f32>,
        /// The columns of B that the tile needs, k×cols.
        #[serde(with = "crate::f32_bytes")]
        b: Vec<f32>,
    },
    /// Iteration counts of a rectangle of a Mandelbrot image.
    MandelbrotTile {
        /// The whole image the tile belongs to.
        view: MandelbrotView,
        /// Left edge of the tile in pixels.
        x: u32,
        /// Top edge of the tile in pixels.
        y: u32,
        /// Width of the tile in pixels.
        w: u32,
        /// Height of the tile in pixels.
        h: u32,
    },
    /// A user kernel's `run` on one input.
    Wasm {
        /// The module; a device that does not hold it asks for it once
        /// ([`crate::ToCoordinator::FetchModule`]).
        module: ModuleHash,
        /// The task's input bytes.
        #[serde(with = "crate::byte_buf")]
        input: Vec<u8>,
        /// Stop the kernel and report the task failed after this long.
        time_limit_ms: u32,
        /// A larger output fails the task.
        max_output_bytes: u32,
    },
}

impl TaskKind {
    /// The most bytes the task's output takes in an encoded frame: f32 tiles are raw bytes,
    /// iteration counts are varints of up to 5 bytes. The coordinator sizes what a worker
    /// may send by the outputs of the tasks it holds.
    pub fn max_output_bytes(&self) -> usize {
        match self {
            Self::MatmulTile { rows, cols, .. } => *rows as usize * *cols as usize * 4,
            Self::MandelbrotTile { w, h, .. } => *w as usize * *h as usize * 5,
            // A length prefix of up to 5 bytes, then the bytes.
            Self::Wasm { max_output_bytes, .. } => *max_output_bytes as usize + 5,
        }
    }
}

/// What a device computed for a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskOutput {
    /// The C tile, rows×cols row-major.
    MatmulTile {
        /// Tile values.
        #[serde(with = "crate::f32_bytes")]
        c: Vec<f32>,
    },
    /// Iteration counts, w×h row-major.
    MandelbrotTile {
        /// One count per pixel.
        iterations: Vec<u32>,
    },
    /// What a user kernel's `run` returned.
    Wasm {
        /// The output bytes.
        #[serde(with = "crate::byte_buf")]
        output: Vec<u8>,
    },
}

/// A pixel rectangle of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// The kind of a job, for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobKind {
    /// A matrix product.
    Matmul,
    /// A Mandelbrot render.
    Mandelbrot,
    /// A user's WebAssembly kernel.
    Wasm,
}

/// Where a job is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Accepted, with tasks still waiting or in flight.
    Running,
    /// Every task verified; the result can be downloaded.
    Completed,
    /// A task failed too often; the reason says which and why.
    Failed {
        /// Human-readable cause.
        reason: String,
    },
    /// Cancelled by the master.
    Cancelled,
}

/// A job's progress, pushed to the master and served by the HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    /// The job.
    pub job_id: JobId,
    /// What it computes.
    pub kind: JobKind,
    /// A short human description ("matmul 512×512×512", "mandelbrot 800×600").
    pub label: String,
    /// Where it is in its life.
    pub state: JobState,
    /// Tasks the job was split into.
    pub tasks_total: u32,
    /// Tasks whose result passed verification and was accepted.
    pub tasks_verified: u32,
    /// Results that failed verification.
    pub verification_failures: u32,
    /// Times a task was dispatched again (failed check, expired lease, lost device).
    pub redispatched: u32,
    /// Tasks currently leased to devices.
    pub in_flight: u32,
    /// The image a Mandelbrot job renders, so any dashboard can draw its preview; `None`
    /// for a matmul job.
    pub view: Option<MandelbrotView>,
    /// How a wasm job's results were checked so far; `None` for built-in kernels, which
    /// keep their exact checks.
    pub replication: Option<ReplicationStats>,
}
