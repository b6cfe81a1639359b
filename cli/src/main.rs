//! `ostrich`: runs a WebAssembly kernel on an Ostrich-Legs swarm from the command line.
//!
//! ```text
//! ostrich submit --coordinator http://192.168.1.20:8080 --key $KEY \
//!     --module pi.wasm --range 1000 --args-file args.bin --out pi.bin
//! ostrich submit --module sweep.wasm --records scenarios.bin --out sweep.bin
//! ostrich submit --module render.wasm --lines frames.txt --out frames.bin
//! ```
//!
//! It uploads the module, submits the job (streaming records in batches), shows a progress
//! bar with the replicas run and the verification overhead, and writes the result file
//! (see `ostrich_protocol::RESULT_MAGIC`) where asked.

mod api;

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use ostrich_protocol::{
    DEFAULT_AUDIT_FLOOR_PPM, JobProgress, JobSpec, JobState, MAX_INPUT_BYTES, TaskLimits, Verification, WasmInput,
    WasmSpec, append_result,
};

use crate::api::Api;

/// Records uploaded per request: big enough to amortise a request, small enough to stay
/// well inside the coordinator's request limit.
const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Runs WebAssembly kernels on an Ostrich-Legs swarm.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Uploads a kernel and its inputs, shows the job's progress and writes its result.
    Submit(Submit),
}

#[derive(Debug, Args)]
struct Submit {
    /// The coordinator (http://host:port or https://host:port).
    #[arg(long, env = "OSTRICH_COORDINATOR")]
    coordinator: String,
    /// The swarm's master key.
    #[arg(long, env = "OSTRICH_MASTER_KEY", hide_env_values = true)]
    key: String,
    /// A PEM certificate to trust besides the public roots (a LAN coordinator's own).
    #[arg(long, env = "OSTRICH_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// The kernel: a `.wasm` module with the kernel ABI.
    #[arg(long)]
    module: PathBuf,
    /// Run tasks 0..N; each gets its index (8 bytes, little-endian) then the arguments.
    #[arg(long, group = "input")]
    range: Option<u32>,
    /// A file of bytes every range task gets after its index.
    #[arg(long, requires = "range")]
    args_file: Option<PathBuf>,
    /// One task per record of this file: each a little-endian u32 length and its bytes.
    #[arg(long, group = "input")]
    records: Option<PathBuf>,
    /// One task per line of this text file (without its newline).
    #[arg(long, group = "input")]
    lines: Option<PathBuf>,
    /// Where to write the result file.
    #[arg(long)]
    out: PathBuf,
    /// A name for the dashboard's job list.
    #[arg(long, default_value = "")]
    name: String,
    /// A task still running after this long fails.
    #[arg(long, default_value_t = TaskLimits::default().time_limit_ms)]
    time_limit_ms: u32,
    /// The largest output a task may return.
    #[arg(long, default_value_t = TaskLimits::default().max_output_bytes)]
    max_output_bytes: u32,
    /// The least share of a trusted device's results that is replicated, 0-1.
    #[arg(long, default_value_t = f64::from(DEFAULT_AUDIT_FLOOR_PPM) / 1e6)]
    audit_floor: f64,
    /// Accept every result unchecked (the job says so).
    #[arg(long)]
    no_verify: bool,
}

fn main() -> ExitCode {
    let Cli { command: Command::Submit(submit) } = Cli::parse();
    match run(&submit) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ostrich: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(submit: &Submit) -> Result<()> {
    if submit.range.is_none() && submit.records.is_none() && submit.lines.is_none() {
        bail!("give the inputs: --range N, --records FILE or --lines FILE");
    }
    if !(0.0..=1.0).contains(&submit.audit_floor) {
        bail!("--audit-floor is a share between 0 and 1");
    }
    let api = Api::new(&submit.coordinator, &submit.key, submit.ca_cert.as_deref())?;
    let module = std::fs::read(&submit.module).with_context(|| format!("reading {}", submit.module.display()))?;
    let hash = api.upload_module(&module)?;
    eprintln!("module {hash} uploaded ({} bytes)", module.len());
    let input = match (submit.range, &submit.args_file) {
        (Some(count), args) => {
            let args = args.as_ref().map(std::fs::read).transpose().context("reading --args-file")?;
            WasmInput::Range { count, args: args.unwrap_or_default() }
        }
        (None, _) => WasmInput::Records { records: Vec::new(), open: true },
    };
    let verification = if submit.no_verify {
        Verification::None
    } else {
        Verification::Adaptive { audit_floor_ppm: (submit.audit_floor * 1e6).round() as u32 }
    };
    let spec = WasmSpec {
        module: hash,
        name: submit.name.clone(),
        input,
        limits: TaskLimits { time_limit_ms: submit.time_limit_ms, max_output_bytes: submit.max_output_bytes },
        verification,
    };
    let job = api.submit(&JobSpec::Wasm(spec))?;
    eprintln!("job {job} submitted");
    if let Some(path) = &submit.records {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        upload_records(&api, job, framed_records(BufReader::new(file)))?;
    } else if let Some(path) = &submit.lines {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let lines = BufReader::new(file).split(b'\n').map(|line| line.map_err(anyhow::Error::from));
        upload_records(&api, job, lines)?;
    }
    let progress = follow(&api, job)?;
    if progress.state != JobState::Completed {
        bail!("job {job} ended {:?}", progress.state);
    }
    let file = api.result(job)?;
    std::fs::write(&submit.out, &file).with_context(|| format!("writing {}", submit.out.display()))?;
    eprintln!("{} tasks, {} bytes written to {}", progress.tasks_total, file.len(), submit.out.display());
    Ok(())
}

/// Reads records in the upload format (a u32 length, then the bytes) one at a time.
fn framed_records(mut reader: impl Read) -> impl Iterator<Item = Result<Vec<u8>>> {
    std::iter::from_fn(move || {
        let mut len = [0u8; 4];
        match reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(error) => return Some(Err(error.into())),
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_INPUT_BYTES {
            return Some(Err(anyhow::anyhow!("a record of {len} bytes is over the {MAX_INPUT_BYTES} byte limit")));
        }
        let mut record = vec![0; len as usize];
        Some(reader.read_exact(&mut record).map(|()| record).context("a record is cut short"))
    })
}

/// Streams records to an open job in batches of about [`BATCH_BYTES`], closing it with the
/// last batch.
fn upload_records(api: &Api, job: u64, records: impl Iterator<Item = Result<Vec<u8>>>) -> Result<()> {
    let mut batch = Vec::new();
    let mut count = 0u64;
    for record in records {
        let record = record?;
        if !batch.is_empty() && batch.len() + record.len() + 4 > BATCH_BYTES {
            api.append(job, &batch, false)?;
            batch.clear();
        }
        append_result(&mut batch, &record);
        count += 1;
    }
    api.append(job, &batch, true)?;
    eprintln!("{count} records uploaded");
    Ok(())
}

/// Shows the job's progress until it ends; answers its last progress.
fn follow(api: &Api, job: u64) -> Result<JobProgress> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} tasks {msg}")
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .progress_chars("=> "),
    );
    loop {
        let progress = api.progress(job)?;
        bar.set_length(u64::from(progress.tasks_total));
        bar.set_position(u64::from(progress.tasks_verified));
        bar.set_message(describe(&progress));
        if progress.state != JobState::Running {
            bar.finish();
            return Ok(progress);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// "· 12 replicas, 4.0 % overhead, 3 await a second device".
fn describe(progress: &JobProgress) -> String {
    let Some(r) = progress.replication else { return String::new() };
    if !r.checked {
        return "· unverified".into();
    }
    if r.by_verify {
        return "· checked by the module's verify".into();
    }
    let mut text = format!("· {} replicas, {:.1} % overhead", r.replicas, r.overhead_percent(progress.tasks_verified));
    if r.disagreed > 0 {
        text += &format!(", {} disagreed", r.disagreed);
    }
    if r.awaiting > 0 {
        text += &format!(", {} await a second device", r.awaiting);
    }
    text
}
