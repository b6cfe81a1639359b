//! `cargo xtask bench`: runs every benchmark (micro-benchmarks, kernels natively and in wasm,
//! the swarm simulator, the 2048² matmul through a swarm, hostile sockets, a 10-minute soak,
//! the kernel choice on a headless-Chromium phone, cluster mode's gateway hop and failover)
//! and writes `BENCHMARKS.md`.
//!
//! Each part returns a [`Section`]; this module only runs them in order and renders the
//! markdown, so a part can also be run alone (`cargo xtask bench <part>`): its sections
//! then replace those of the same title in `BENCHMARKS.md` (or go before the profiling
//! notes, when new), dated, the others are kept and the profiling notes are rewritten.

use std::{fmt::Write as _, fs, path::Path, process::Command};

use anyhow::{Context, Result, bail};

mod cluster;
mod hardening;
mod kernels;
mod micro;
mod numpy;
mod phone;
mod swarm;
mod user_kernels;

/// One table of the report.
pub struct Section {
    /// Heading of the section.
    pub title: String,
    /// What was run and how, in a sentence or two; rendered above the table.
    pub intro: String,
    /// The figures.
    pub rows: Vec<Row>,
    /// Notes rendered below the table: what limits a figure, how to read it.
    pub notes: Vec<String>,
}

/// One measured figure.
pub struct Row {
    /// What was measured.
    pub measure: String,
    /// The figure with its unit.
    pub figure: String,
    /// The target, or empty where there is none.
    pub target: String,
    /// Whether the target was met; `None` where there is no target.
    pub met: Option<bool>,
}

impl Row {
    /// A figure with no target.
    pub fn info(measure: impl Into<String>, figure: impl Into<String>) -> Self {
        Self { measure: measure.into(), figure: figure.into(), target: String::new(), met: None }
    }

    /// A figure checked against a target.
    pub fn target(measure: impl Into<String>, figure: impl Into<String>, target: impl Into<String>, met: bool) -> Self {
        Self { measure: measure.into(), figure: figure.into(), target: target.into(), met: Some(met) }
    }
}

impl Section {
    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "## {}\n\n{}\n", self.title, self.intro);
        let _ = writeln!(out, "| Measure | Figure | Target | Met |\n|---|---:|---|:-:|");
        for row in &self.rows {
            let met = match row.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(out, "| {} | {} | {} | {} |", row.measure, row.figure, row.target, met);
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n{note}");
        }
        out.push('\n');
    }
}

type Part = fn(&Path) -> Result<Section>;

/// The parts in the order they run; the names select one from the command line.
const PARTS: &[(&str, Part)] = &[
    ("micro", micro::section),
    ("kernels", kernels::section),
    ("swarm", swarm::section),
    ("matmul", swarm::matmul),
    ("hostile", hardening::hostile),
    ("soak", hardening::soak),
    ("phone", phone::section),
    ("wasm", user_kernels::section),
    ("cluster", cluster::section),
];

/// The heading of the profiling notes, which stay last.
const NOTES_HEADING: &str = "## Where the time went";

/// Runs the parts `only` names (all when empty) and writes `BENCHMARKS.md`: the whole file
/// when all ran, else only the sections of the parts that ran.
pub fn run(root: &Path, only: &[String]) -> Result<()> {
    for name in only {
        if !PARTS.iter().any(|(part, _)| part == name) {
            let names: Vec<&str> = PARTS.iter().map(|(n, _)| *n).collect();
            bail!("unknown benchmark part {name}; parts: {}", names.join(", "));
        }
    }
    let path = root.join("BENCHMARKS.md");
    let mut report = String::new();
    let mut sections = Vec::new();
    for (name, part) in PARTS.iter().filter(|(name, _)| only.is_empty() || only.iter().any(|o| o == name)) {
        eprintln!("== bench {name}");
        let mut section = part(root).with_context(|| format!("benchmark part {name} failed"))?;
        if !only.is_empty() {
            section.intro.push_str(&format!(
                "\n\n_Measured {} by `cargo xtask bench {name}`, apart from the full run above._",
                tool(root, "date", "-u")
            ));
        }
        section.render(&mut report);
        sections.push(section);
    }
    let text = if only.is_empty() {
        format!("{}{report}{PROFILE_NOTES}", header(root))
    } else {
        print!("{report}");
        let old = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let text = sections.iter().fold(old, |text, section| replace_section(&text, section));
        // The profiling notes are this file's text, so they are always the current ones.
        let notes = text.find(&format!("\n{NOTES_HEADING}")).map_or(text.len(), |at| at + 1);
        format!("{}{PROFILE_NOTES}", &text[..notes])
    };
    fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// `text` (a `BENCHMARKS.md`) with `section` in place of the section of the same title, or
/// before the profiling notes (at the end, without them) when it has none.
fn replace_section(text: &str, section: &Section) -> String {
    let mut rendered = String::new();
    section.render(&mut rendered);
    let heading = format!("## {}\n", section.title);
    let start = text.find(&heading).filter(|&at| at == 0 || text[..at].ends_with('\n'));
    let (start, end) = match start {
        Some(start) => {
            let after = start + heading.len();
            let end = text[after..].find("\n## ").map_or(text.len(), |at| after + at + 1);
            (start, end)
        }
        None => {
            let at = text.find(&format!("\n{NOTES_HEADING}")).map_or(text.len(), |at| at + 1);
            (at, at)
        }
    };
    format!("{}{rendered}{}", &text[..start], &text[end..])
}

/// What profiling found and what was fixed before these figures were recorded (perf on the
/// coordinator and the simulator, massif on the coordinator). Kept here so a regenerated
/// report keeps the history.
const PROFILE_NOTES: &str = "## Where the time went, and what was fixed

Measured with `perf record` on the coordinator, the workers and the simulator, and with
valgrind's massif for the coordinator's heap, on this machine. Figures are from runs during
the work, so each row compares like with like:

| Cost found | Fix | Before → after |
|---|---|---|
| Dispatch built a heap over every device of the swarm on each result (`from_iter`, 18 % of the scheduler thread) | a per-swarm ready heap fed by `Swarm::offer` when a device gains room | 67 000 → 195 000 tasks/s; 13.5 → 6.1 µs CPU per task |
| Every task of a job had an entry from submission (1 M entries for a 1 M-tile job; each snapshot counted the queue by lookups) | undispatched tasks are index ranges; entries exist only in flight | the task table holds in-flight tasks only |
| Lease deadlines were a heap keeping one entry per dispatch for the lease's 120 s | a FIFO, compacted when ended leases outnumber live ones | bounded by tasks in flight |
| One frame, one actor message, one dispatch and one `Assign` per result | `TaskResults`: a device sends the results it has ready in one frame; one dispatch refills them all | 185 000 → 246 000-285 000 tasks/s; 6.4 → 4.0-4.8 µs CPU per task |
| tungstenite zeroes its whole 128 KiB read buffer before every read (`memset`, 30 % of the simulator's CPU) | 16 KiB read buffer in the worker's socket | simulator CPU per task down by about a third |
| Mandelbrot's loop under pulp's dispatch was a closure, which LLVM did not inline into pulp's `#[target_feature]` function: `perf annotate` showed SSE2 code (`mulpd %xmm`) on an AVX-512 CPU | a `WithSimd` struct whose `#[inline(always)]` method calls only `#[inline(always)]` code; then the lanes per group measured per level (32 AVX-512, 8 AVX2, 16 SSE2, 8 wasm) | 1.43 → 3.5-3.7 G iterations/s natively (scalar: 0.33) |
| The 2048² matmul through the swarm, coordinator's scheduler thread: Freivalds' checks 36 %, page faults and zeroing of fresh 8 MB task buffers 30 %, copying frames into sockets 19 %, generating the seeded operands 6 % (the workers' compute threads: 90 % in `gemm`'s AVX-512 micro-kernel) | Freivalds' check under pulp's dispatch too (the same f64 operations in the same order) | 160 → 122 µs per 256³ check; the buffers and copies are left (see the section on the 2048² matmul through the swarm) |
| For a big frame tungstenite reserves the frame's length and zeroes the rest on every read (7 % of the 2048² run) | the coordinator sends messages over 64 KiB as 64 KiB fragments | `memset` gone from the worker's profile |
| `Vec<f32>` operands were encoded and decoded one value at a time by bincode's serde path | operands travel as one run of little-endian bytes (`protocol/src/f32_bytes.rs`, bytemuck, borrowed decoding) | a 131 KB `Assign`: encode 22.3 → 2.8 µs, decode 56.1 → 4.3 µs; 2048² swarm run 0.47 → 0.37-0.42 s |
| Each dispatch and each verification gathered a strided column panel of B; verification copied both panels | B is cut into column panels once per job; verification reads slices | no per-task gather or copy on the coordinator |
| Freivalds summed in one f64 dependency chain | four partial sums | its share of the 2048² run 3.6 → 2.2 % of samples |
| A worker asked for one task per thread, so each thread waited a round trip (an 8 MiB transfer) between tasks | two tasks per thread (`TASKS_PER_THREAD`) | the next tile is local when a thread finishes |
| The store (issue 5) wrote one redb row per verified tile on the scheduler thread | tiles appended to one chunk per job per 250 ms commit; resume credentials committed on the tick, not one disk sync per join | store on: 145 000-213 000 → 181 000-249 000 tasks/s, about the same as with the store off |
| `std` listens with a backlog of 128; 1 000 joins at once overflowed it and waited 1 s for SYN retries | listen backlog 4096 | 1 000 devices registered in 1.05 → 0.15-0.21 s |
| A socket refused before its hello (a 64 MiB frame announced) was still read and discarded by actix-http's lingering close for its 1 s disconnect timeout, up to 4 MiB per poll of a worker thread, and its place among the address's unadmitted sockets was already free | the session shuts a socket it refuses before admission for reading, through a duplicate of the descriptor kept from `on_connect` (`session/socket.rs`) | 1 000 hostile sockets against 100 honest devices: honest rate under attack 0.03× → 0.77× of undisturbed; 1.76 → 0.20 s per attempt |

What still limits the figures:

- **Memory per idle device** (about 19.5 KB): massif shows that actix-http's HTTP/1
  dispatcher keeps a read and a write buffer of 8 KiB each (`HW_BUFFER_SIZE`, not
  configurable) for the life of every upgraded WebSocket; tokio task cells (about 3.8 KB
  per connection: the connection's dispatcher future, the session actor, its writer task)
  and two channel blocks (about 1.3 KB each) make most of the rest. mimalloc (27.7 KB) and
  jemalloc (19.5 KB) did not help: the buffers' pages are written. Reaching 16 KB needs the
  socket taken out of actix-http's dispatcher after the upgrade, which actix-web's
  `HttpServer` does not offer.
- **Throughput, CPU per task and the 2048² ratio** vary between runs (±15 %; the ratio
  was 1.35-1.85× over the runs of this session, mostly through the single-process side): the simulator and the
  coordinator share the 2 cores, and the coordinator uses about 1.2 of them at full load.
- **The 2048² product**: the compute is 2 × 0.25 s of one core; the overhead is data
  movement. Each 512×512 tile ships 8 MiB of operands, copied by the coordinator's encoder,
  actix's writer, the kernel twice and tungstenite's reassembly, and each copy faults in
  fresh pages, all on the 2 cores the workers compute on. Sharing panels between tasks
  (`Arc`) would save the coordinator's copy; letting workers generate seeded operands
  themselves would remove the transfer for seeded jobs.
";

/// The title and the machine the figures came from.
fn header(root: &Path) -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or_else(|| "unknown".into(), |kb| format!("{} GiB", kb / 1024 / 1024));
    let date = tool(root, "date", "-u");
    format!(
        "# Benchmarks\n\nWritten by `cargo xtask bench` (`just bench`); every figure below comes from one run of \
         that command, except in sections that give their own date (`cargo xtask bench <part>` rewrites only its \
         part's sections). Targets are from the issues (4, and the hardening issue for hostile sockets and the \
         soak); they are benchmark targets, not tests.\n\n\
         - Machine: {cpu}, {cores} cores, {memory} memory\n- Toolchain: {}, node {}\n- Date: {date}\n\n",
        tool(root, "rustc", "--version"),
        tool(root, "node", "--version"),
    )
}

/// What `cmd arg` prints, trimmed.
fn tool(root: &Path, cmd: &str, arg: &str) -> String {
    Command::new(cmd)
        .arg(arg)
        .current_dir(root)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| format!("{cmd}: not found"))
}

#[cfg(test)]
mod tests {
    use super::{Section, replace_section};

    fn section(title: &str, intro: &str) -> Section {
        Section { title: title.into(), intro: intro.into(), rows: vec![], notes: vec![] }
    }

    #[test]
    fn a_part_replaces_its_own_section_and_keeps_the_others() {
        let text = "# B\n\nhead\n\n## One\n\nold one\n\n## Two\n\nold two\n\n## Where the time went\n\nnotes\n";
        let replaced = replace_section(text, &section("One", "new one"));
        assert!(replaced.starts_with("# B\n\nhead\n\n## One\n\nnew one\n"), "{replaced}");
        assert!(!replaced.contains("old one"));
        assert!(replaced.contains("## Two\n\nold two\n\n## Where the time went\n\nnotes\n"), "{replaced}");
        let added = replace_section(&replaced, &section("Three", "three"));
        let (three, notes) = (added.find("## Three").expect("added"), added.find("## Where").expect("kept"));
        assert!(added.find("## Two").expect("kept") < three && three < notes, "{added}");
        let last = replace_section(&added, &section("Two", "new two"));
        assert!(last.contains("## Two\n\nnew two\n") && !last.contains("old two"), "{last}");
        assert!(last.ends_with("## Where the time went\n\nnotes\n"), "{last}");
    }
}
