//! Part `micro`: criterion micro-benchmarks of the codec, the kernels with their checks,
//! and the scheduler's result-and-dispatch path.
//!
//! Each bench runs through `cargo bench` with criterion's bencher-style output (`test
//! <id> ... bench: <n> ns/iter (+/- <m>)`), which this part parses; the codec bench also
//! prints the encoded size of each message (`codec-size <name> <bytes>`).

use std::{collections::HashMap, path::Path};

use anyhow::{Context, Result, bail};

use super::{Row, Section};

/// The benches: package and bench target.
const BENCHES: [(&str, &str); 3] =
    [("ostrich-protocol", "codec"), ("ostrich-kernels", "kernels"), ("ostrich-coordinator", "dispatch")];

/// Criterion's options: short runs keep the part to a few minutes on two cores.
const CRITERION_ARGS: [&str; 6] = ["--output-format", "bencher", "--warm-up-time", "1", "--measurement-time", "2"];

/// What the benches printed: nanoseconds per iteration and encoded sizes, by id.
#[derive(Default)]
struct Results {
    nanos: HashMap<String, f64>,
    sizes: HashMap<String, u64>,
}

impl Results {
    fn nanos(&self, id: &str) -> Result<f64> {
        self.nanos.get(id).copied().with_context(|| format!("no figure for benchmark {id}"))
    }

    /// A row with the time per call of benchmark `id`.
    fn time(&self, measure: impl Into<String>, id: &str) -> Result<Row> {
        Ok(Row::info(measure, duration(self.nanos(id)?)))
    }

    /// A row with the ratio of two benchmarks' times.
    fn ratio(&self, measure: impl Into<String>, part: &str, whole: &str) -> Result<Row> {
        Ok(Row::info(measure, format!("{:.3}×", self.nanos(part)? / self.nanos(whole)?)))
    }

    fn size(&self, name: &str) -> Result<u64> {
        self.sizes.get(name).copied().with_context(|| format!("no encoded size for {name}"))
    }
}

/// Runs the benches; answers the section.
pub fn section(root: &Path) -> Result<Section> {
    let mut results = Results::default();
    for (package, bench) in BENCHES {
        run(root, package, bench, &mut results)?;
    }
    let mut rows = Vec::new();
    for (task, tile, what) in [("64x256x64", "64x64", "64×64 tile, k = 256"), ("4x4x4", "4x4", "4×4 tile, k = 4")] {
        let assign = results.size(&format!("assign/{task}"))?;
        let result = results.size(&format!("result/{tile}"))?;
        rows.extend([
            results.time(
                format!("Encode `Assign`, one matmul task, {what} ({assign} B)"),
                &format!("codec/encode/assign/{task}"),
            )?,
            results.time(format!("Decode `Assign`, {what}"), &format!("codec/decode/assign/{task}"))?,
            results
                .time(format!("Encode `TaskResult`, {what} ({result} B)"), &format!("codec/encode/result/{tile}"))?,
            results.time(format!("Decode `TaskResult`, {what}"), &format!("codec/decode/result/{tile}"))?,
        ]);
    }
    for shape in ["128x256x128", "256x256x256"] {
        let pretty = shape.replace('x', "×");
        rows.extend([
            results.time(format!("`matmul_tile` {pretty}"), &format!("matmul/tile/{shape}"))?,
            results.time(format!("Freivalds check of the {pretty} tile"), &format!("matmul/freivalds/{shape}"))?,
            results.ratio(
                format!("Freivalds check / computing the {pretty} tile"),
                &format!("matmul/freivalds/{shape}"),
                &format!("matmul/tile/{shape}"),
            )?,
        ]);
    }
    let dispatch = results.nanos("scheduler/result_and_dispatch/1000x4")?;
    let wasm_dispatch = results.nanos("scheduler/wasm_result_and_dispatch/1000x4")?;
    rows.extend([
        results.time("Mandelbrot `render_tile` 64×64, max_iter 256", "mandelbrot/tile/64x64")?,
        results.time("Mandelbrot `spot_check` of that tile, 12 samples + 4 corners", "mandelbrot/spot_check/64x64")?,
        results.ratio("Spot check / rendering the tile", "mandelbrot/spot_check/64x64", "mandelbrot/tile/64x64")?,
        Row::info(
            "Scheduler: one verified 4×4 result + the dispatch it triggers, 1000 devices × 4 slots",
            duration(dispatch),
        ),
        Row::info("→ results the scheduler actor can take per second", format!("{:.0} k/s", 1e6 / dispatch)),
        Row::target(
            "Scheduler: one user-kernel result + its dispatch, with adaptive replication's bookkeeping \
             (candidates, replicas, trust), 1000 devices × 4 slots",
            duration(wasm_dispatch),
            "≤ 10 µs",
            wasm_dispatch <= 10_000.0,
        ),
    ]);
    Ok(Section {
        title: "Micro-benchmarks".into(),
        intro: format!(
            "criterion (`cargo bench`, {}), one thread; each figure is the median time per call that criterion's \
             bencher output reports. Codec: `encode`/`decode` of an `Assign` with one matmul task and of its \
             `TaskResult`. Kernels: the product of a tile against its Freivalds check, a Mandelbrot tile against \
             its spot check (as the coordinator verifies). Scheduler: `Core::task_result` with a correct 4×4 tile \
             (k = 4, verified by Freivalds) plus `take_effects`, while 1000 workers hold 4 leases each of a job \
             with a million tasks.",
            CRITERION_ARGS[2..].join(" "),
        ),
        rows,
        notes: vec![
            "Freivalds' check does far fewer flops than the product (about 1/40 at 256³: O(k·(rows + cols) + \
             rows·cols) against 2·rows·k·cols), but it sums each row in f64 in one dependency chain, while \
             `matmul_tile` keeps many SIMD accumulators busy; so its time is a larger share of the product's \
             than the flop count suggests."
                .into(),
        ],
    })
}

/// Runs one bench and adds what it printed to `results`.
fn run(root: &Path, package: &str, bench: &str, results: &mut Results) -> Result<()> {
    let output = crate::cargo(root)
        .args(["bench", "--locked", "-p", package, "--bench", bench, "--"])
        .args(CRITERION_ARGS)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run cargo bench")?;
    if !output.status.success() {
        bail!("cargo bench -p {package} --bench {bench} failed");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let before = results.nanos.len();
    for line in stdout.lines() {
        if let Some((id, nanos)) = parse_bencher(line) {
            results.nanos.insert(id, nanos);
        } else if let Some(rest) = line.strip_prefix("codec-size ") {
            let (name, bytes) = rest.split_once(' ').with_context(|| format!("bad size line: {line}"))?;
            results.sizes.insert(name.to_string(), bytes.trim().parse().with_context(|| format!("bad size: {line}"))?);
        }
    }
    if results.nanos.len() == before {
        bail!("bench {bench} printed no bencher lines:\n{stdout}");
    }
    Ok(())
}

/// Parses `test <id> ... bench: <n> ns/iter (+/- <m>)`, where `<n>` may hold commas.
fn parse_bencher(line: &str) -> Option<(String, f64)> {
    let rest = line.strip_prefix("test ")?;
    let (id, figure) = rest.split_once(" ... bench:")?;
    let nanos = figure.split_whitespace().next()?.replace(',', "").parse().ok()?;
    Some((id.trim().to_string(), nanos))
}

/// A time per call in the unit that reads best.
fn duration(nanos: f64) -> String {
    if nanos < 1e3 {
        format!("{nanos:.0} ns")
    } else if nanos < 1e6 {
        format!("{:.1} µs", nanos / 1e3)
    } else {
        format!("{:.2} ms", nanos / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::{duration, parse_bencher};

    #[test]
    fn bencher_lines_parse_with_thousands_separators() {
        let line = "test codec/encode/assign/4x4x4 ... bench:      28,974 ns/iter (+/- 446)";
        assert_eq!(parse_bencher(line), Some(("codec/encode/assign/4x4x4".into(), 28_974.0)));
        assert_eq!(parse_bencher("codec-size assign/4x4x4 147"), None);
        assert_eq!(
            (duration(171.0), duration(28_974.0), duration(11_877_359.0)),
            ("171 ns".into(), "29.0 µs".into(), "11.88 ms".into())
        );
    }
}
