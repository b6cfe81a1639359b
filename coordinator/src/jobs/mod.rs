//! Jobs as the coordinator holds them: validation, splitting into tiles, the payload of each
//! task, verification of each result and assembly of the final output. Plain code, no
//! actors: the scheduler calls it, and the store keeps what it builds. User (wasm) jobs
//! keep their inputs and outputs in [`wasm`].

pub mod wasm;

use ostrich_kernels::{freivalds, mandelbrot, seeded};
use ostrich_protocol::{
    JobId, JobKind, JobProgress, JobSpec, JobState, MandelbrotView, MatrixSource, Record, Rect, SwarmId, TaskKind,
    TaskOutput,
};

use crate::modules::Modules;
use wasm::WasmWork;

/// The largest matrix edge a job may have.
pub const MAX_MATRIX_EDGE: u32 = 8192;
/// The largest matrix, in elements, a job may hold (64 MiB of f32).
pub const MAX_MATRIX_ELEMENTS: u64 = 16 * 1024 * 1024;
/// The largest image, in pixels, a Mandelbrot job may render.
pub const MAX_IMAGE_PIXELS: u64 = 16 * 1024 * 1024;
/// Tile edges allowed, in elements or pixels.
pub const TILE_RANGE: std::ops::RangeInclusive<u32> = 1..=512;
/// Pixels of each Mandelbrot tile that are recomputed on the coordinator.
pub const MANDELBROT_SAMPLES: usize = 12;
/// The largest iteration cap a Mandelbrot job may ask for.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// Why a job was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// A dimension, tile or parameter is out of range.
    #[error("invalid job: {0}")]
    Invalid(String),
}

pub(crate) fn invalid(message: impl Into<String>) -> JobError {
    JobError::Invalid(message.into())
}

/// What a job computes, with its inputs.
enum Work {
    /// `b_panels[j]` holds the columns of B that tile column `j` needs, k×w row-major, cut
    /// once at submission so neither a dispatch nor a verification gathers strided columns.
    Matmul {
        m: usize,
        k: usize,
        n: usize,
        tile: usize,
        a: Vec<f32>,
        b_panels: Vec<Vec<f32>>,
        c: Vec<f32>,
    },
    Mandelbrot {
        view: MandelbrotView,
        iterations: Vec<u32>,
    },
    Wasm(Box<WasmWork>),
}

/// A job: its inputs, its tiles, the outputs verified so far and its counters.
pub struct Job {
    /// The job's id.
    pub id: JobId,
    /// The swarm that owns it; no other swarm can see or touch it.
    pub swarm: SwarmId,
    /// Where it is in its life.
    pub state: JobState,
    /// Results that failed verification.
    pub verification_failures: u32,
    /// Times a task was dispatched again.
    pub redispatched: u32,
    label: String,
    work: Work,
    tiles: Vec<Rect>,
    done: Vec<bool>,
    verified: u32,
}

impl Job {
    /// Validates a spec and builds the job, generating seeded operands; a wasm job's module
    /// must be one of its swarm's `modules`.
    pub fn new(id: JobId, swarm: SwarmId, spec: JobSpec, modules: &Modules) -> Result<Self, JobError> {
        let (label, work, tiles) = match spec {
            JobSpec::Matmul(spec) => {
                let (m, k, n, tile) = (spec.m, spec.k, spec.n, spec.tile);
                for (name, edge) in [("m", m), ("k", k), ("n", n)] {
                    if !(1..=MAX_MATRIX_EDGE).contains(&edge) {
                        return Err(invalid(format!("{name} = {edge} is outside 1..={MAX_MATRIX_EDGE}")));
                    }
                }
                check_tile(tile)?;
                let (m, k, n) = (m as usize, k as usize, n as usize);
                for (name, elements) in [("A", m * k), ("B", k * n), ("C", m * n)] {
                    if elements as u64 > MAX_MATRIX_ELEMENTS {
                        return Err(invalid(format!("{name} has {elements} elements, over {MAX_MATRIX_ELEMENTS}")));
                    }
                }
                let (a, b) = match spec.source {
                    MatrixSource::Seeded { seed } => (
                        seeded::seeded_matrix(seed, seeded::STREAM_A, m * k),
                        seeded::seeded_matrix(seed, seeded::STREAM_B, k * n),
                    ),
                    MatrixSource::Data { a, b } => {
                        if a.len() != m * k || b.len() != k * n {
                            return Err(invalid(format!(
                                "A has {} values and B {}, expected {} and {}",
                                a.len(),
                                b.len(),
                                m * k,
                                k * n
                            )));
                        }
                        if a.iter().chain(&b).any(|v| !v.is_finite()) {
                            return Err(invalid("matrices must hold finite values"));
                        }
                        (a, b)
                    }
                };
                let tile_edge = tile as usize;
                let b_panels = column_panels(&b, k, n, tile_edge);
                let work = Work::Matmul { m, k, n, tile: tile_edge, a, b_panels, c: vec![0.0; m * n] };
                (format!("matmul {m}×{k}×{n}"), work, split(n as u32, m as u32, tile))
            }
            JobSpec::Mandelbrot(spec) => {
                let v = spec.view;
                if v.width == 0 || v.height == 0 || u64::from(v.width) * u64::from(v.height) > MAX_IMAGE_PIXELS {
                    return Err(invalid(format!(
                        "image {}×{} is empty or over {MAX_IMAGE_PIXELS} pixels",
                        v.width, v.height
                    )));
                }
                if !(1..=MAX_ITERATIONS).contains(&v.max_iter) {
                    return Err(invalid(format!("max_iter must be in 1..={MAX_ITERATIONS}")));
                }
                if !(v.zoom.is_finite() && v.zoom > 0.0 && v.center_re.is_finite() && v.center_im.is_finite()) {
                    return Err(invalid("centre and zoom must be finite, zoom positive"));
                }
                check_tile(spec.tile)?;
                let pixels = v.width as usize * v.height as usize;
                let work = Work::Mandelbrot { view: v, iterations: vec![0; pixels] };
                (format!("mandelbrot {}×{}", v.width, v.height), work, split(v.width, v.height, spec.tile))
            }
            JobSpec::Wasm(spec) => {
                let module = modules.get(swarm, spec.module).ok_or_else(|| {
                    invalid(format!("the swarm has no module {}; upload it first (POST /api/modules)", spec.module))
                })?;
                let work = WasmWork::new(spec, module.clone())?;
                (work.label(), Work::Wasm(Box::new(work)), Vec::new())
            }
        };
        let count = match &work {
            Work::Wasm(wasm) => wasm.task_count() as usize,
            _ => tiles.len(),
        };
        Ok(Self {
            id,
            swarm,
            state: JobState::Running,
            verification_failures: 0,
            redispatched: 0,
            label,
            work,
            tiles,
            done: vec![false; count],
            verified: 0,
        })
    }

    /// How many tasks the job was split into (so far, for an open records job).
    pub fn task_count(&self) -> u32 {
        self.done.len() as u32
    }

    /// The bytes its whole result takes in memory (and counts against its swarm's quota);
    /// a wasm job counts its inputs and every task's largest output.
    pub fn result_bytes(&self) -> u64 {
        match &self.work {
            Work::Matmul { c, .. } => c.len() as u64 * 4,
            Work::Mandelbrot { iterations, .. } => iterations.len() as u64 * 4,
            Work::Wasm(wasm) => wasm.stored_bytes(),
        }
    }

    /// Whether every task has a verified result (and an open records job was closed).
    pub fn is_complete(&self) -> bool {
        self.verified == self.task_count() && !self.wasm().is_some_and(WasmWork::is_open)
    }

    /// A wasm job's own part.
    pub fn wasm(&self) -> Option<&WasmWork> {
        match &self.work {
            Work::Wasm(wasm) => Some(wasm),
            _ => None,
        }
    }

    /// A wasm job's own part, to change.
    pub fn wasm_mut(&mut self) -> Option<&mut WasmWork> {
        match &mut self.work {
            Work::Wasm(wasm) => Some(wasm),
            _ => None,
        }
    }

    /// Appends records to an open records job; answers the range of new task indices.
    pub fn append(&mut self, records: Vec<Record>) -> Result<std::ops::Range<u32>, JobError> {
        let wasm = self.wasm_mut().ok_or_else(|| invalid("only a wasm records job takes records"))?;
        let first = wasm.append(records)?;
        let end = wasm.task_count();
        self.done.resize(end as usize, false);
        Ok(first..end)
    }

    /// Forgets the verified output of a wasm task, which is to be computed again; false
    /// when there was none.
    pub fn revoke(&mut self, index: u32) -> bool {
        let Some(wasm) = self.wasm_mut() else { return false };
        if !wasm.revoke(index) {
            return false;
        }
        self.done[index as usize] = false;
        self.verified -= 1;
        true
    }

    /// The lease of this job's tasks, from the coordinator's: a wasm job adds its time
    /// limit.
    pub fn lease_ms(&self, base_ms: u64) -> u64 {
        self.wasm().map_or(base_ms, |wasm| wasm.lease_ms(base_ms))
    }

    /// Where tile `index` of a Mandelbrot job sits in its image.
    pub fn tile(&self, index: u32) -> Option<Rect> {
        matches!(self.work, Work::Mandelbrot { .. }).then(|| self.tiles.get(index as usize).copied()).flatten()
    }

    /// Whether task `index` already has a verified result.
    pub fn is_done(&self, index: u32) -> bool {
        self.done.get(index as usize).copied().unwrap_or(true)
    }

    /// The kind of job.
    pub fn kind(&self) -> JobKind {
        match self.work {
            Work::Matmul { .. } => JobKind::Matmul,
            Work::Mandelbrot { .. } => JobKind::Mandelbrot,
            Work::Wasm(_) => JobKind::Wasm,
        }
    }

    /// The inputs of task `index`, as sent to a device.
    pub fn task_kind(&self, index: u32) -> Option<TaskKind> {
        if let Work::Wasm(wasm) = &self.work {
            return wasm.task_kind(index);
        }
        let rect = *self.tiles.get(index as usize)?;
        Some(match &self.work {
            Work::Matmul { k, tile, a, b_panels, .. } => {
                let (a_panel, b_panel) = panels(a, b_panels, *k, *tile, rect);
                TaskKind::MatmulTile {
                    rows: rect.h,
                    k: *k as u32,
                    cols: rect.w,
                    a: a_panel.to_vec(),
                    b: b_panel.to_vec(),
                }
            }
            Work::Mandelbrot { view, .. } => {
                TaskKind::MandelbrotTile { view: *view, x: rect.x, y: rect.y, w: rect.w, h: rect.h }
            }
            Work::Wasm(_) => return None,
        })
    }

    /// Checks a claimed output of task `index`; `seed` draws the random probe.
    pub fn verify(&self, index: u32, output: &TaskOutput, seed: u64) -> Result<(), String> {
        if let (Work::Wasm(wasm), TaskOutput::Wasm { output }) = (&self.work, output) {
            return wasm.verify(index, output);
        }
        let rect = *self.tiles.get(index as usize).ok_or("no such task")?;
        match (&self.work, output) {
            (Work::Matmul { k, tile, a, b_panels, .. }, TaskOutput::MatmulTile { c }) => {
                let (a_panel, b_panel) = panels(a, b_panels, *k, *tile, rect);
                freivalds::verify_matmul_tile(a_panel, b_panel, c, rect.h as usize, *k, rect.w as usize, seed)
                    .map_err(|e| e.to_string())
            }
            (Work::Mandelbrot { view, .. }, TaskOutput::MandelbrotTile { iterations }) => {
                mandelbrot::spot_check(view, rect.x, rect.y, rect.w, rect.h, iterations, MANDELBROT_SAMPLES, seed)
                    .map_err(|e| e.to_string())
            }
            _ => Err("output is of the wrong kind for this task".into()),
        }
    }

    /// Stores a verified output of task `index`; false when it was done already or the
    /// output is of another kind.
    pub fn accept(&mut self, index: u32, output: TaskOutput) -> bool {
        if self.is_done(index) {
            return false;
        }
        if let (Work::Wasm(wasm), TaskOutput::Wasm { output }) = (&mut self.work, &output) {
            if !wasm.accept(index, output.clone()) {
                return false;
            }
            self.done[index as usize] = true;
            self.verified += 1;
            return true;
        }
        let Some(&rect) = self.tiles.get(index as usize) else {
            return false;
        };
        match (&mut self.work, output) {
            (Work::Matmul { n, c, .. }, TaskOutput::MatmulTile { c: tile }) => {
                copy_rect(c, *n, rect, &tile);
            }
            (Work::Mandelbrot { view, iterations, .. }, TaskOutput::MandelbrotTile { iterations: tile }) => {
                copy_rect(iterations, view.width as usize, rect, &tile);
            }
            _ => return false,
        }
        self.done[index as usize] = true;
        self.verified += 1;
        true
    }

    /// The job's progress; `in_flight` comes from the scheduler's leases.
    pub fn progress(&self, in_flight: u32) -> JobProgress {
        JobProgress {
            job_id: self.id,
            kind: self.kind(),
            label: self.label.clone(),
            state: self.state.clone(),
            tasks_total: self.task_count(),
            tasks_verified: self.verified,
            verification_failures: self.verification_failures,
            redispatched: self.redispatched,
            in_flight,
            view: match &self.work {
                Work::Mandelbrot { view, .. } => Some(*view),
                _ => None,
            },
            replication: self.wasm().map(|wasm| ostrich_protocol::ReplicationStats {
                awaiting: wasm.candidates.len() as u32,
                ..wasm.stats
            }),
        }
    }

    /// The verified tiles of a Mandelbrot job, each with its iteration counts (w×h
    /// row-major); nothing for a matmul job.
    pub fn verified_tiles(&self) -> impl Iterator<Item = (Rect, Vec<u32>)> + '_ {
        let image = match &self.work {
            Work::Mandelbrot { view, iterations } => Some((view.width as usize, iterations)),
            _ => None,
        };
        image.into_iter().flat_map(move |(width, iterations)| {
            self.tiles.iter().zip(&self.done).filter(|(_, done)| **done).map(move |(rect, _)| {
                let (x, w) = (rect.x as usize, rect.w as usize);
                let counts = (rect.y as usize..(rect.y + rect.h) as usize)
                    .flat_map(|row| &iterations[row * width + x..row * width + x + w])
                    .copied()
                    .collect();
                (*rect, counts)
            })
        })
    }

    /// The result as a file, once complete: matmul as NumPy `.npy`, Mandelbrot as PNG, a
    /// wasm job's outputs in task order (`ostrich_protocol::RESULT_MAGIC`).
    pub fn result_file(&self) -> Option<ResultFile> {
        if self.state != JobState::Completed {
            return None;
        }
        match &self.work {
            Work::Matmul { m, n, c, .. } => Some(ResultFile {
                content_type: "application/octet-stream",
                file_name: format!("job-{}.npy", self.id),
                bytes: ostrich_kernels::npy::encode_npy_f32(*m, *n, c).ok()?,
            }),
            Work::Mandelbrot { view, iterations, .. } => Some(ResultFile {
                content_type: "image/png",
                file_name: format!("job-{}.png", self.id),
                bytes: crate::image::mandelbrot_png(view, iterations).ok()?,
            }),
            Work::Wasm(wasm) => Some(ResultFile {
                content_type: "application/octet-stream",
                file_name: format!("job-{}-results.bin", self.id),
                bytes: wasm.result_file()?,
            }),
        }
    }
}

/// A downloadable result.
pub struct ResultFile {
    /// MIME type.
    pub content_type: &'static str,
    /// Suggested file name.
    pub file_name: String,
    /// The file.
    pub bytes: Vec<u8>,
}

fn check_tile(tile: u32) -> Result<(), JobError> {
    if TILE_RANGE.contains(&tile) {
        Ok(())
    } else {
        Err(invalid(format!("tile = {tile} is outside {}..={}", TILE_RANGE.start(), TILE_RANGE.end())))
    }
}

/// Splits a width×height area into tiles of at most `tile`×`tile`, row by row.
fn split(width: u32, height: u32, tile: u32) -> Vec<Rect> {
    let mut tiles = Vec::new();
    for y in (0..height).step_by(tile as usize) {
        for x in (0..width).step_by(tile as usize) {
            tiles.push(Rect { x, y, w: tile.min(width - x), h: tile.min(height - y) });
        }
    }
    tiles
}

/// The rows of A and the columns of B that the C tile `rect` needs.
/// The rows of A and the column panel of B that the tile at `rect` needs.
fn panels<'a>(a: &'a [f32], b_panels: &'a [Vec<f32>], k: usize, tile: usize, rect: Rect) -> (&'a [f32], &'a [f32]) {
    let (x, y, h) = (rect.x as usize, rect.y as usize, rect.h as usize);
    (&a[y * k..(y + h) * k], &b_panels[x / tile])
}

/// Cuts B (k×n) into panels of `tile` columns (the last may be narrower), each k×w
/// row-major.
fn column_panels(b: &[f32], k: usize, n: usize, tile: usize) -> Vec<Vec<f32>> {
    (0..n)
        .step_by(tile)
        .map(|x| {
            let w = tile.min(n - x);
            let mut panel = Vec::with_capacity(k * w);
            for row in b.chunks_exact(n) {
                panel.extend_from_slice(&row[x..x + w]);
            }
            panel
        })
        .collect()
}

/// Copies a w×h tile into a row-major image of the given width.
fn copy_rect<T: Copy>(image: &mut [T], width: usize, rect: Rect, tile: &[T]) {
    let (x, y, w) = (rect.x as usize, rect.y as usize, rect.w as usize);
    for (row, values) in tile.chunks_exact(w).enumerate() {
        let start = (y + row) * width + x;
        image[start..start + w].copy_from_slice(values);
    }
}

#[cfg(test)]
mod tests {
    use ostrich_protocol::{MandelbrotSpec, MatmulSpec};

    use super::*;

    fn matmul(m: u32, k: u32, n: u32, tile: u32) -> Job {
        let spec = MatmulSpec { m, k, n, tile, source: MatrixSource::Seeded { seed: 7 } };
        Job::new(1, SwarmId::nil(), JobSpec::Matmul(spec), &Modules::default()).expect("valid job")
    }

    #[test]
    fn split_covers_every_cell_once() {
        let tiles = split(10, 7, 4);
        assert_eq!(tiles.len(), 3 * 2);
        let area: u32 = tiles.iter().map(|t| t.w * t.h).sum();
        assert_eq!(area, 70);
        assert_eq!(tiles[5], Rect { x: 8, y: 4, w: 2, h: 3 });
    }

    #[test]
    fn computed_tiles_verify_assemble_and_equal_one_product() {
        let mut job = matmul(9, 5, 7, 4);
        for index in 0..job.task_count() {
            let Some(TaskKind::MatmulTile { rows, k, cols, a, b }) = job.task_kind(index) else {
                panic!("matmul task expected")
            };
            let c =
                ostrich_kernels::matmul::matmul_tile(&a, &b, rows as usize, k as usize, cols as usize).expect("kernel");
            let output = TaskOutput::MatmulTile { c };
            job.verify(index, &output, index.into()).expect("honest tile verifies");
            assert!(job.accept(index, output), "accepted");
        }
        assert!(job.is_complete());
        let Work::Matmul { a, c, .. } = &job.work else { unreachable!() };
        let b = ostrich_kernels::seeded::seeded_matrix(7, ostrich_kernels::seeded::STREAM_B, 5 * 7);
        let whole = ostrich_kernels::matmul::matmul_tile(a, &b, 9, 5, 7).expect("kernel");
        assert_eq!(c, &whole);
    }

    #[test]
    fn a_wrong_tile_fails_verification() {
        let job = matmul(8, 8, 8, 8);
        let output = TaskOutput::MatmulTile { c: vec![0.5; 64] };
        assert!(job.verify(0, &output, 1).is_err());
        let wrong_kind = TaskOutput::MandelbrotTile { iterations: vec![0; 64] };
        assert!(job.verify(0, &wrong_kind, 1).is_err());
    }

    #[test]
    fn out_of_range_specs_are_refused() {
        let too_big = MatmulSpec { m: 9000, k: 1, n: 1, tile: 8, source: MatrixSource::Seeded { seed: 1 } };
        let modules = Modules::default();
        assert!(Job::new(1, SwarmId::nil(), JobSpec::Matmul(too_big), &modules).is_err());
        let short = MatmulSpec { m: 2, k: 2, n: 2, tile: 2, source: MatrixSource::Data { a: vec![1.0], b: vec![] } };
        assert!(Job::new(1, SwarmId::nil(), JobSpec::Matmul(short), &modules).is_err());
        let view =
            MandelbrotView { width: 10, height: 10, center_re: 0.0, center_im: 0.0, zoom: f64::NAN, max_iter: 10 };
        assert!(Job::new(1, SwarmId::nil(), JobSpec::Mandelbrot(MandelbrotSpec { view, tile: 4 }), &modules).is_err());
    }
}
