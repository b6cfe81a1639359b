//! `ostrich-sim`: the swarm simulator's command line. It prints a human summary on stderr
//! and the report as one JSON document on stdout, which `cargo xtask bench` reads.

use std::{path::PathBuf, time::Duration};

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};
use ostrich_sim::{
    coordinator::Coordinator,
    matmul,
    swarm::{self, Scenario},
};

/// Simulates a swarm against a real coordinator and measures it.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// N simulated devices: connect, hold idle, optionally compute a job of tiny tasks.
    Swarm(SwarmArgs),
    /// A square matmul through native worker processes against one process alone.
    Matmul(MatmulArgs),
}

/// Which coordinator to use.
#[derive(Debug, Args)]
struct Target {
    /// Start this coordinator binary on a loopback port (its memory and CPU are measured).
    #[arg(long, conflicts_with = "coordinator")]
    spawn: Option<PathBuf>,
    /// Use a running coordinator at this http:// address instead.
    #[arg(long)]
    coordinator: Option<String>,
    /// The running coordinator's pid, for memory and CPU figures.
    #[arg(long, requires = "coordinator")]
    pid: Option<u32>,
    /// Lease lifetime of a started coordinator, seconds.
    #[arg(long, default_value_t = 120.0)]
    lease_s: f64,
    /// Start the coordinator with its store off (`OSTRICH_EPHEMERAL`), to see what the store
    /// costs.
    #[arg(long)]
    ephemeral: bool,
}

impl Target {
    fn open(&self) -> Result<Coordinator> {
        match (&self.spawn, &self.coordinator) {
            (Some(binary), _) => Coordinator::spawn(
                binary,
                &[("OSTRICH_LEASE_S", self.lease_s.to_string()), ("OSTRICH_EPHEMERAL", self.ephemeral.to_string())],
            ),
            (None, Some(url)) => Coordinator::attach(url, self.pid),
            (None, None) => bail!("give --spawn <coordinator binary> or --coordinator <url>"),
        }
    }
}

#[derive(Debug, Args)]
struct SwarmArgs {
    #[command(flatten)]
    target: Target,
    /// Simulated devices.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Tasks each device keeps in flight.
    #[arg(long, default_value_t = 8)]
    slots: u32,
    /// Milliseconds each task takes a device.
    #[arg(long, default_value_t = 0.0)]
    task_ms: f64,
    /// Seconds of busy work to measure; 0 holds the devices idle.
    #[arg(long, default_value_t = 5.0)]
    window_s: f64,
    /// Tasks in the job.
    #[arg(long, default_value_t = 1_000_000)]
    tasks: u32,
    /// Run the job to its end and check its result.
    #[arg(long)]
    to_completion: bool,
    /// Fraction of devices that stall on their first tasks.
    #[arg(long, default_value_t = 0.0)]
    sleepers: f64,
    /// Fraction of devices that drop their connection and rejoin.
    #[arg(long, default_value_t = 0.0)]
    droppers: f64,
    /// Fraction of devices that return wrong results.
    #[arg(long, default_value_t = 0.0)]
    liars: f64,
    /// Devices connecting at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
}

#[derive(Debug, Args)]
struct MatmulArgs {
    #[command(flatten)]
    target: Target,
    /// The ostrich-worker binary.
    #[arg(long)]
    worker: PathBuf,
    /// Matrix edge.
    #[arg(long, default_value_t = 2048)]
    size: u32,
    /// Output tile edge of the swarm job.
    #[arg(long, default_value_t = 512)]
    tile: u32,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    workers: u32,
    /// Threads per worker.
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// Runs of each side; the fastest of each is reported.
    #[arg(long, default_value_t = 3)]
    repeats: u32,
}

fn main() -> Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => log::info!("open-file limit {limit}"),
        Err(error) => log::warn!("cannot raise the open-file limit: {error}"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let json = match cli.command {
        Mode::Swarm(args) => {
            let coordinator = args.target.open()?;
            let window = (args.window_s > 0.0).then(|| Duration::from_secs_f64(args.window_s));
            let scenario = Scenario {
                devices: args.devices,
                slots: args.slots,
                task_time: Duration::from_secs_f64(args.task_ms / 1000.0),
                sleepers: args.sleepers,
                droppers: args.droppers,
                liars: args.liars,
                window,
                job: Scenario::tiny_tasks(args.tasks),
                to_completion: args.to_completion,
                connect_concurrency: args.connect_concurrency,
            };
            let report = runtime.block_on(swarm::run(&coordinator, &scenario))?;
            eprintln!("{report:#?}");
            serde_json::to_string(&report)?
        }
        Mode::Matmul(args) => {
            let coordinator = args.target.open()?;
            let report = runtime.block_on(matmul::compare(
                &coordinator,
                &args.worker,
                args.size,
                args.tile,
                args.workers,
                args.threads,
                args.repeats,
            ))?;
            eprintln!("{report:#?}");
            serde_json::to_string(&report)?
        }
    };
    println!("{json}");
    Ok(())
}
