//! `ostrich-worker`: adds this machine to a swarm, or creates a swarm and becomes its master.
//!
//! ```text
//! ostrich-worker --join http://192.168.1.20:8080/join?token=ABCD1234
//! ostrich-worker --join ABCD-1234 --coordinator http://192.168.1.20:8080 --threads 4
//! ostrich-worker --new-swarm --coordinator http://192.168.1.20:8080   # prints the master key
//! ostrich-worker                      # rejoins with what ./ostrich-worker.json holds
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use ostrich_protocol::{JoinCredential, SwarmId};
use ostrich_worker::{WorkerConfig, WorkerError, WorkerState, capabilities, coordinator_url, parse_join};

/// Adds this machine to an Ostrich-Legs swarm and computes its tasks.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Invite link (http://host:port/join?token=CODE) or bare invite code. Optional when the
    /// state file holds a credential from an earlier join.
    #[arg(long, env = "OSTRICH_JOIN", conflicts_with_all = ["new_swarm", "master_key"])]
    join: Option<String>,
    /// Create a new swarm and become its master: prints the master key the HTTP API needs and
    /// keeps it in the state file. The master computes tasks too. Needs --coordinator.
    #[arg(long, requires = "coordinator", conflicts_with = "master_key")]
    new_swarm: bool,
    /// Resume mastership of a swarm with its master key. Needs --coordinator.
    #[arg(long, env = "OSTRICH_MASTER_KEY", hide_env_values = true, requires = "coordinator")]
    master_key: Option<String>,
    /// Coordinator address (http://host:port or ws://host:port/ws); needed with a bare code,
    /// --new-swarm or --master-key, and overrides the address in a link or the state file.
    #[arg(long, env = "OSTRICH_COORDINATOR")]
    coordinator: Option<String>,
    /// Name shown in the master's device table [default: host name].
    #[arg(long, env = "OSTRICH_NAME")]
    name: Option<String>,
    /// Compute threads at 100 % throttle [default: all logical cores].
    #[arg(long, env = "OSTRICH_THREADS", value_parser = clap::value_parser!(u32).range(1..=4096))]
    threads: Option<u32>,
    /// A PEM certificate to trust for https/wss besides the public roots: the
    /// coordinator's own when it generated one (`<data dir>/tls/cert.pem`).
    #[arg(long, env = "OSTRICH_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Where the device id and the resume credential or master key are kept.
    #[arg(long, env = "OSTRICH_STATE_FILE", default_value = "ostrich-worker.json")]
    state_file: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let new_swarm = cli.new_swarm;
    let config = match configure(cli) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("ostrich-worker: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ostrich-worker: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    log::info!(
        "device {} ({:?}) connecting to {} with {} threads",
        config.device_id,
        config.name,
        config.coordinator,
        config.cores
    );
    let state_file = config.state_file.clone();
    match runtime.block_on(serve(config, new_swarm)) {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("ostrich-worker: {err}");
            if let (WorkerError::MasterKeyRefused { .. }, Some(path)) = (&err, state_file) {
                eprintln!(
                    "ostrich-worker: {} keeps the refused key; delete it or pass another --state-file to use --new-swarm",
                    path.display()
                );
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs the worker until it ends or the process is told to stop, printing the master key
/// on stdout the first time a welcome grants mastership.
async fn serve(config: WorkerConfig, new_swarm: bool) -> Result<(), WorkerError> {
    let state_file = config.state_file.clone();
    let worker = ostrich_worker::spawn(config);
    let mut stats = worker.subscribe();
    let stop = termination();
    tokio::pin!(stop);
    let mut announced = false;
    loop {
        let (key, swarm, finished) = {
            let now = stats.borrow_and_update();
            (now.master_key.clone(), now.swarm_id, now.finished)
        };
        if let (false, Some(key), Some(swarm)) = (announced, key, swarm) {
            announce_master(swarm, &key, new_swarm, state_file.as_deref());
            announced = true;
        }
        if finished {
            return worker.join().await;
        }
        tokio::select! {
            changed = stats.changed() => if changed.is_err() {
                return worker.join().await;
            },
            () = &mut stop => return worker.shutdown().await,
        }
    }
}

/// Tells the person at the terminal which swarm this device masters and the key that opens
/// its HTTP API.
fn announce_master(swarm: SwarmId, key: &str, new_swarm: bool, state_file: Option<&Path>) {
    let what = if new_swarm { "created swarm" } else { "resumed mastership of swarm" };
    println!("ostrich-worker: {what} {swarm}; this device is its master and also computes");
    println!("  master key: {key}");
    println!("  use it as: Authorization: Bearer {key}");
    if let Some(path) = state_file {
        println!("  saved in {}; a later run without --join or --new-swarm resumes mastership", path.display());
    }
}

/// Builds the worker's config from the flags and the state file.
fn configure(cli: Cli) -> Result<WorkerConfig, String> {
    let default_name = cli.name.clone().unwrap_or_else(ostrich_worker::config::default_name);
    let mut state = WorkerState::load_or_create(&cli.state_file, &default_name).map_err(|err| err.to_string())?;
    let (coordinator, credential) = plan(&cli, &state)?;
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
        ca_cert: cli.ca_cert,
    })
}

/// The coordinator endpoint and the credential this run joins with: the flags' invite, new
/// swarm or master key, else what the state file holds.
fn plan(cli: &Cli, state: &WorkerState) -> Result<(String, JoinCredential), String> {
    keep_master_key(cli, state)?;
    if let Some(join) = &cli.join {
        let (url, token) = parse_join(join, cli.coordinator.as_deref()).map_err(|err| err.to_string())?;
        return Ok((url, JoinCredential::Invite { token }));
    }
    let credential = match (cli.new_swarm, cli.master_key.as_deref().map(str::trim)) {
        (true, _) => JoinCredential::Master { key: None },
        (false, Some("")) => return Err("the master key is empty".into()),
        (false, Some(key)) => JoinCredential::Master { key: Some(key.to_owned()) },
        (false, None) => state.stored_credential().ok_or_else(|| {
            format!(
                "nothing to join with: pass --join <invite link or code>, or --new-swarm --coordinator URL \
                 ({} holds no credential yet)",
                cli.state_file.display()
            )
        })?,
    };
    let url = match (&cli.coordinator, &state.coordinator) {
        (Some(explicit), _) => coordinator_url(explicit).map_err(|err| err.to_string())?,
        (None, Some(url)) => url.clone(),
        (None, None) => return Err("the state file names no coordinator: pass --coordinator".into()),
    };
    Ok((url, credential))
}

/// Refuses a run that would replace the master key the state file holds, since losing the
/// key loses control of its swarm.
fn keep_master_key(cli: &Cli, state: &WorkerState) -> Result<(), String> {
    let Some(stored) = &state.master_key else {
        return Ok(());
    };
    let other_key = cli.master_key.as_deref().is_some_and(|key| key.trim() != stored);
    if !(cli.new_swarm || cli.join.is_some() || other_key) {
        return Ok(());
    }
    let swarm = state.swarm_id.map_or_else(|| "?".to_owned(), |id| id.to_string());
    Err(format!(
        "{} holds the master key of swarm {swarm}: run without --join, --new-swarm or --master-key to \
         resume it, or pass another --state-file (deleting the file gives the key up)",
        cli.state_file.display()
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ostrich-worker").chain(args.iter().copied()))
    }

    fn parsed(args: &[&str]) -> Cli {
        cli(args).unwrap_or_else(|err| panic!("{args:?}: {err}"))
    }

    fn master_state() -> WorkerState {
        WorkerState {
            coordinator: Some("ws://h:1/ws".into()),
            swarm_id: Some(SwarmId::from_u128(4)),
            master_key: Some("K1".into()),
            ..WorkerState::new("box")
        }
    }

    #[test]
    fn new_swarm_and_master_key_need_a_coordinator() {
        for args in [&["--new-swarm"][..], &["--master-key", "K1"]] {
            let kind = cli(args).map(|_| ()).map_err(|err| err.kind());
            assert_eq!(kind, Err(clap::error::ErrorKind::MissingRequiredArgument), "{args:?}");
        }
    }

    #[test]
    fn join_new_swarm_and_master_key_exclude_each_other() {
        for args in [
            &["--join", "ABCD1234", "--new-swarm", "--coordinator", "h:1"][..],
            &["--join", "ABCD1234", "--master-key", "K1", "--coordinator", "h:1"],
            &["--new-swarm", "--master-key", "K1", "--coordinator", "h:1"],
        ] {
            let kind = cli(args).map(|_| ()).map_err(|err| err.kind());
            assert_eq!(kind, Err(clap::error::ErrorKind::ArgumentConflict), "{args:?}");
        }
    }

    #[test]
    fn new_swarm_asks_for_mastership_without_a_key() {
        let got = plan(&parsed(&["--new-swarm", "--coordinator", "http://h:1"]), &WorkerState::new("box"));
        assert_eq!(got, Ok(("ws://h:1/ws".into(), JoinCredential::Master { key: None })));
    }

    #[test]
    fn master_key_flag_resumes_mastership() {
        let got = plan(&parsed(&["--master-key", " K1 ", "--coordinator", "h:1"]), &master_state());
        assert_eq!(got, Ok(("ws://h:1/ws".into(), JoinCredential::Master { key: Some("K1".into()) })));
        let empty = plan(&parsed(&["--master-key", " ", "--coordinator", "h:1"]), &WorkerState::new("box"));
        assert_eq!(empty, Err("the master key is empty".into()));
    }

    #[test]
    fn a_run_without_flags_resumes_the_stored_mastership() {
        let got = plan(&parsed(&[]), &master_state());
        assert_eq!(got, Ok(("ws://h:1/ws".into(), JoinCredential::Master { key: Some("K1".into()) })));
    }

    #[test]
    fn a_stored_master_key_is_never_replaced() {
        for args in [
            &["--new-swarm", "--coordinator", "h:1"][..],
            &["--join", "ABCD1234", "--coordinator", "h:1"],
            &["--master-key", "K2", "--coordinator", "h:1"],
        ] {
            let err = plan(&parsed(args), &master_state()).expect_err("must refuse");
            assert!(err.contains("holds the master key of swarm"), "{args:?}: {err}");
        }
    }

    #[test]
    fn nothing_stored_and_no_flags_says_what_to_pass() {
        let err = plan(&parsed(&[]), &WorkerState::new("box")).expect_err("must refuse");
        assert!(err.contains("--new-swarm"), "{err}");
    }
}
