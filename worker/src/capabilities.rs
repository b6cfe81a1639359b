//! What this machine can do, as reported in the hello: cores, memory, platform, and a
//! benchmark score measured once per process.

use std::sync::OnceLock;
use std::time::Instant;

use ostrich_kernels::benchmark;
use ostrich_protocol::{Capabilities, WasmRuntime};

/// Benchmark runs per measurement; the fastest counts, so a cold cache or a busy moment does
/// not drag the score down.
pub const BENCHMARK_RUNS: u32 = 3;

/// Logical cores of this machine, at least 1.
pub fn logical_cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Total memory in MiB from `/proc/meminfo`, or 0 where the platform does not reveal it.
pub fn memory_mb() -> u32 {
    std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| parse_meminfo(&text)).unwrap_or(0)
}

/// The `MemTotal` line of a meminfo document, in MiB.
fn parse_meminfo(text: &str) -> Option<u32> {
    let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kib / 1024).min(u64::from(u32::MAX)) as u32)
}

/// A platform description such as "Linux x86_64 native, AVX-512": the last part is the
/// SIMD instruction set the kernels chose on this CPU, shown in the master's device table.
pub fn platform() -> String {
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        "freebsd" => "FreeBSD",
        other => other,
    };
    format!("{os} {} native, {}", std::env::consts::ARCH, ostrich_kernels::simd_level())
}

/// The capabilities to put in a hello: `cores` is the thread count the worker offers.
pub fn detect(cores: u32, ops_score: u32) -> Capabilities {
    Capabilities {
        logical_cores: cores,
        memory_mb: memory_mb(),
        gpu: None,
        ops_score,
        platform: platform(),
        runtime: WasmRuntime::Native,
    }
}

/// Runs the benchmark kernel [`BENCHMARK_RUNS`] times and scores the fastest run. Blocks for
/// as long as that takes; call it from a blocking thread.
pub fn measure_ops_score() -> u32 {
    let mut flops = 0.0;
    let mut best = f64::INFINITY;
    for _ in 0..BENCHMARK_RUNS {
        let start = Instant::now();
        let (output, counted) = benchmark::benchmark_kernel(benchmark::BENCHMARK_SIZE);
        let seconds = start.elapsed().as_secs_f64();
        std::hint::black_box(output);
        flops = counted;
        best = best.min(seconds);
    }
    benchmark::ops_score(flops, best.max(1e-9))
}

/// The benchmark score, measured on the first call and shared by every worker of the process
/// (they run on the same machine). Blocks; call it from a blocking thread.
pub fn cached_ops_score() -> u32 {
    static SCORE: OnceLock<u32> = OnceLock::new();
    *SCORE.get_or_init(|| {
        let score = measure_ops_score();
        log::info!("benchmark: {score} Mop/s");
        score
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_total_is_read_in_mib() {
        let text = "MemFree:  100 kB\nMemTotal:       16384000 kB\nBuffers: 1 kB\n";
        assert_eq!(parse_meminfo(text), Some(16_000));
        assert_eq!(parse_meminfo("nothing here"), None);
    }

    #[test]
    fn platform_names_os_and_arch() {
        let platform = platform();
        assert!(platform.contains(" native, ") && platform.contains(std::env::consts::ARCH), "{platform}");
        assert!(platform.ends_with(ostrich_kernels::simd_level()), "{platform}");
    }

    #[test]
    fn benchmark_gives_a_positive_score() {
        assert!(measure_ops_score() > 0);
    }

    #[test]
    fn detected_capabilities_carry_the_offered_cores() {
        let caps = detect(3, 42);
        assert_eq!((caps.logical_cores, caps.ops_score, caps.gpu), (3, 42, None));
        assert!(logical_cores() >= 1);
    }
}
