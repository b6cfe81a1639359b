//! `ostrich-worker`: adds this machine to a swarm.
//!
//! ```text
//! ostrich-worker --join http://192.168.1.20:8080/join?token=ABCD1234
//! ostrich-worker --join ABCD-1234 --coordinator http://192.168.1.20:8080 --threads 4
//! ostrich-worker                      # rejoins with the credential in ./ostrich-worker.json
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ostrich_protocol::JoinCredential;
use ostrich_worker::{WorkerConfig, WorkerState, capabilities, coordinator_url, parse_join};

/// Adds this machine to an Ostrich-Legs swarm and computes its tasks.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Invite link (http://host:port/join?token=CODE) or bare invite code. Optional when the
    /// state file holds a credential from an earlier join.
    #[arg(long, env = "OSTRICH_JOIN")]
    join: Option<String>,
    /// Coordinator address (http://host:port or ws://host:port/ws); needed with a bare code,
    /// and overrides the address in a link.
    #[arg(long, env = "OSTRICH_COORDINATOR")]
    coordinator: Option<String>,
    /// Name shown in the master's device table [default: host name].
    #[arg(long, env = "OSTRICH_NAME")]
    name: Option<String>,
    /// Compute threads at 100 % throttle [default: all logical cores].
    #[arg(long, env = "OSTRICH_THREADS", value_parser = clap::value_parser!(u32).range(1..=4096))]
    threads: Option<u32>,
    /// Where the device id and the resume credential are kept.
    #[arg(
        long,
        env = "OSTRICH_STATE_FILE",
        default_value = "ostrich-worker.json"
    )]
    state_file: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = match configure(cli) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("ostrich-worker: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ostrich-worker: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    log::info!(
        "device {} ({:?}) joining {} with {} threads",
        config.device_id,
        config.name,
        config.coordinator,
        config.cores
    );
    match runtime.block_on(ostrich_worker::run_until(config, termination())) {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("ostrich-worker: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the worker's config from the flags and the state file.
fn configure(cli: Cli) -> Result<WorkerConfig, String> {
    let default_name = cli
        .name
        .clone()
        .unwrap_or_else(ostrich_worker::config::default_name);
    let mut state = WorkerState::load_or_create(&cli.state_file, &default_name)
        .map_err(|err| err.to_string())?;
    let (coordinator, credential) = match &cli.join {
        Some(join) => {
            let (url, token) =
                parse_join(join, cli.coordinator.as_deref()).map_err(|err| err.to_string())?;
            (url, JoinCredential::Invite { token })
        }
        None => {
            let stored = state.resume_credential.clone().ok_or_else(|| {
                format!(
                    "nothing to join with: pass --join <invite link or code> ({} holds no credential yet)",
                    cli.state_file.display()
                )
            })?;
            let url = match (&cli.coordinator, &state.coordinator) {
                (Some(explicit), _) => coordinator_url(explicit).map_err(|err| err.to_string())?,
                (None, Some(url)) => url.clone(),
                (None, None) => {
                    return Err("the state file names no coordinator: pass --coordinator".into());
                }
            };
            (url, JoinCredential::Resume { credential: stored })
        }
    };
    if let Some(name) = &cli.name
        && *name != state.name
    {
        state.name.clone_from(name);
        state.save(&cli.state_file).map_err(|err| err.to_string())?;
    }
    Ok(WorkerConfig {
        coordinator,
        credential,
        device_id: state.device_id,
        name: state.name,
        cores: cli.threads.unwrap_or_else(capabilities::logical_cores),
        state_file: Some(cli.state_file),
        reconnect: true,
        ops_score: None,
    })
}

/// Resolves on Ctrl-C, or on SIGTERM under Unix (as PID 1 in a container).
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            log::info!("shutting down");
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    log::info!("shutting down");
}
