//! `ostrich-sim`: the swarm simulator's command line. It prints a human summary on stderr
//! and the report as one JSON document on stdout, which `cargo xtask bench` reads.

use std::{path::PathBuf, time::Duration};

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};
use ostrich_sim::{
    cluster,
    coordinator::Coordinator,
    hostile::{self, Attack},
    matmul,
    soak::{self, Soak},
    swarm::{self, Scenario},
    wasm_scale,
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
    /// A compute-bound user-kernel job (the Monte Carlo example) on one native worker of
    /// one thread against two.
    WasmScale(WasmScaleArgs),
    /// Hostile sockets announcing the largest frame before their hello, against an honest
    /// swarm: the coordinator's RSS and the swarm's rate, undisturbed and under attack.
    Hostile(HostileArgs),
    /// Thousands of devices for minutes, with churn and jobs one after another: the
    /// coordinator's RSS over time.
    Soak(SoakArgs),
    /// Cluster mode: two nodes on a private nats-server; the swarm scenario with its devices
    /// on the owner and then on the other node, and the failover time after SIGKILL of the
    /// owner.
    Cluster(ClusterArgs),
}

#[derive(Debug, Args)]
struct ClusterArgs {
    /// The coordinator binary to start twice.
    #[arg(long)]
    spawn: PathBuf,
    /// Simulated devices.
    #[arg(long, default_value_t = 200)]
    devices: usize,
    /// Tasks each device keeps in flight.
    #[arg(long, default_value_t = 8)]
    slots: u32,
    /// Seconds of busy work to measure.
    #[arg(long, default_value_t = 5.0)]
    window_s: f64,
    /// The nodes' lease TTL, seconds.
    #[arg(long, default_value_t = 5.0)]
    lease_s: f64,
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
    /// The coordinator; a started one gets `env` besides the lease and store settings.
    fn open(&self, env: &[(&str, String)]) -> Result<Coordinator> {
        match (&self.spawn, &self.coordinator) {
            (Some(binary), _) => {
                let mut all = vec![
                    ("OSTRICH_LEASE_S", self.lease_s.to_string()),
                    ("OSTRICH_EPHEMERAL", self.ephemeral.to_string()),
                ];
                all.extend(env.iter().cloned());
                Coordinator::spawn(binary, &all)
            }
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
    /// Tasks each device computes at once, the rest of its slots waiting in line; 0: all.
    #[arg(long, default_value_t = 0)]
    lanes: u32,
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
    /// The job is a user kernel (the WAT reverse kernel, uploaded first) under adaptive
    /// replication, instead of matmul tiles.
    #[arg(long)]
    wasm: bool,
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

#[derive(Debug, Args)]
struct WasmScaleArgs {
    #[command(flatten)]
    target: Target,
    /// The ostrich-worker binary.
    #[arg(long)]
    worker: PathBuf,
    /// The Monte Carlo module (`cargo xtask build-kernels` writes it).
    #[arg(long, default_value = "target/kernels/monte-carlo.wasm")]
    module: PathBuf,
    /// Tasks in the job.
    #[arg(long, default_value_t = 96)]
    tasks: u32,
    /// Paths each task simulates.
    #[arg(long, default_value_t = 400_000)]
    paths: u32,
    /// Runs of each configuration; the fastest counts.
    #[arg(long, default_value_t = 2)]
    repeats: u32,
}

#[derive(Debug, Args)]
struct HostileArgs {
    #[command(flatten)]
    target: Target,
    /// Hostile sockets attacking at once.
    #[arg(long, default_value_t = 1000)]
    sockets: usize,
    /// Hostile sockets per source address (127.0.x.y).
    #[arg(long, default_value_t = 1)]
    per_address: usize,
    /// Unadmitted sockets one address may hold, for a started coordinator (its shipped
    /// default; the simulator otherwise lifts it, since its devices share 127.0.0.1).
    #[arg(long, default_value_t = 64)]
    unadmitted_per_address: u32,
    /// Honest devices.
    #[arg(long, default_value_t = 100)]
    devices: usize,
    /// Tasks each honest device keeps in flight.
    #[arg(long, default_value_t = 4)]
    slots: u32,
    /// Milliseconds each task takes an honest device.
    #[arg(long, default_value_t = 20.0)]
    task_ms: f64,
    /// Seconds of each measuring window (undisturbed, then under attack).
    #[arg(long, default_value_t = 10.0)]
    window_s: f64,
    /// Seconds from the start of the job, and of the attack, to its measuring window.
    #[arg(long, default_value_t = 3.0)]
    settle_s: f64,
    /// Honest devices connecting at once (all from 127.0.0.1).
    #[arg(long, default_value_t = 32)]
    connect_concurrency: usize,
}

#[derive(Debug, Args)]
struct SoakArgs {
    #[command(flatten)]
    target: Target,
    /// Devices that stay (churners among them).
    #[arg(long, default_value_t = 10_000)]
    devices: usize,
    /// Minutes the run lasts once every device has registered.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Minutes of warm-up left out of the growth figures (a fifth of a run no longer than it).
    #[arg(long, default_value_t = 2.0)]
    warmup_minutes: f64,
    /// Tasks each device keeps in flight.
    #[arg(long, default_value_t = 2)]
    slots: u32,
    /// Milliseconds each task takes a device.
    #[arg(long, default_value_t = 1000.0)]
    task_ms: f64,
    /// Fraction of devices that drop their connection and rejoin, again and again.
    #[arg(long, default_value_t = 0.05)]
    churners: f64,
    /// Mean seconds a churner stays online between drops.
    #[arg(long, default_value_t = 60.0)]
    online_s: f64,
    /// Mean seconds a churner stays away before rejoining.
    #[arg(long, default_value_t = 2.0)]
    away_s: f64,
    /// Brand-new devices online at any time, each leaving for good and replaced.
    #[arg(long, default_value_t = 50)]
    transients: usize,
    /// Mean seconds a brand-new device stays.
    #[arg(long, default_value_t = 30.0)]
    transient_life_s: f64,
    /// Tasks per job.
    #[arg(long, default_value_t = 200_000)]
    job_tasks: u32,
    /// Jobs submitted ahead.
    #[arg(long, default_value_t = 2)]
    jobs_ahead: usize,
    /// Seconds between RSS samples.
    #[arg(long, default_value_t = 5.0)]
    sample_s: f64,
    /// Devices connecting at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
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
            let coordinator = args.target.open(&[])?;
            let window = (args.window_s > 0.0).then(|| Duration::from_secs_f64(args.window_s));
            let (job, module) = if args.wasm {
                let (job, module) = Scenario::wasm_tasks(args.tasks)?;
                (job, Some(module))
            } else {
                (Scenario::tiny_tasks(args.tasks), None)
            };
            let scenario = Scenario {
                devices: args.devices,
                slots: args.slots,
                lanes: args.lanes,
                task_time: Duration::from_secs_f64(args.task_ms / 1000.0),
                sleepers: args.sleepers,
                droppers: args.droppers,
                liars: args.liars,
                window,
                job,
                module,
                to_completion: args.to_completion,
                connect_concurrency: args.connect_concurrency,
                device_url: None,
                observe: Vec::new(),
            };
            let report = runtime.block_on(swarm::run(&coordinator, &scenario))?;
            eprintln!("{report:#?}");
            serde_json::to_string(&report)?
        }
        Mode::Matmul(args) => {
            let coordinator = args.target.open(&[])?;
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
        Mode::WasmScale(args) => {
            let coordinator = args.target.open(&[])?;
            let report = runtime.block_on(wasm_scale::compare(
                &coordinator,
                &args.worker,
                &args.module,
                args.tasks,
                args.paths,
                args.repeats,
            ))?;
            eprintln!("{report:#?}");
            serde_json::to_string(&report)?
        }
        Mode::Hostile(args) => {
            let coordinator =
                args.target.open(&[("OSTRICH_UNADMITTED_PER_ADDRESS", args.unadmitted_per_address.to_string())])?;
            let attack = Attack {
                sockets: args.sockets,
                per_address: args.per_address,
                devices: args.devices,
                slots: args.slots,
                task_time: Duration::from_secs_f64(args.task_ms / 1000.0),
                window: Duration::from_secs_f64(args.window_s),
                settle: Duration::from_secs_f64(args.settle_s),
                after: Duration::from_secs(6),
                connect_concurrency: args.connect_concurrency,
            };
            let report = runtime.block_on(hostile::run(&coordinator, &attack))?;
            eprintln!("{report:#?}");
            serde_json::to_string(&report)?
        }
        Mode::Soak(args) => {
            let coordinator = args.target.open(&[])?;
            let duration = Duration::from_secs_f64(args.minutes * 60.0);
            let warmup = Duration::from_secs_f64(args.warmup_minutes * 60.0);
            let soak = Soak {
                devices: args.devices,
                duration,
                warmup: if warmup < duration { warmup } else { duration / 5 },
                slots: args.slots,
                task_time: Duration::from_secs_f64(args.task_ms / 1000.0),
                churners: args.churners,
                online: Duration::from_secs_f64(args.online_s),
                away: Duration::from_secs_f64(args.away_s),
                transients: args.transients,
                transient_life: Duration::from_secs_f64(args.transient_life_s),
                job_tasks: args.job_tasks,
                jobs_ahead: args.jobs_ahead,
                sample_every: Duration::from_secs_f64(args.sample_s),
                connect_concurrency: args.connect_concurrency,
            };
            let mut report = runtime.block_on(soak::run(&coordinator, &soak))?;
            // The summary on stderr leaves out the samples, which the JSON carries.
            let samples = std::mem::take(&mut report.samples);
            eprintln!("{report:#?}");
            report.samples = samples;
            serde_json::to_string(&report)?
        }
        Mode::Cluster(args) => {
            let scenario = Scenario {
                devices: args.devices,
                slots: args.slots,
                lanes: 0,
                task_time: Duration::ZERO,
                sleepers: 0.0,
                droppers: 0.0,
                liars: 0.0,
                window: Some(Duration::from_secs_f64(args.window_s)),
                job: Scenario::tiny_tasks(10_000_000),
                module: None,
                to_completion: false,
                connect_concurrency: 64,
                device_url: None,
                observe: Vec::new(),
            };
            let report = runtime.block_on(cluster::run(&args.spawn, &scenario, args.lease_s))?;
            eprintln!(
                "owner {:.0} tasks/s, gateway {:.0} tasks/s (cost {:.1} %), failover {:.2} s (detected {:.2} s)",
                report.owner_tasks_per_s,
                report.gateway_tasks_per_s,
                report.gateway_cost * 100.0,
                report.failover_s,
                report.detect_s
            );
            serde_json::to_string(&report)?
        }
    };
    println!("{json}");
    Ok(())
}
