//! The Ostrich-Legs coordinator. It hands compute tasks to a swarm of devices over
//! WebSocket, verifies every result, and assembles jobs. Each concern is an actix actor:
//! [`session::DeviceSession`] (one per socket), [`scheduler::Scheduler`],
//! [`tokens::TokenAuthority`] and [`ticker::Ticker`].

pub mod assets;
pub mod banner;
pub mod cluster;
pub mod config;
pub mod durable;
pub mod http;
pub mod image;
pub mod jobs;
pub mod limits;
pub mod metrics;
pub mod modules;
pub mod net;
pub mod scheduler;
pub mod session;
pub mod store;
pub mod ticker;
pub mod tls;
pub mod tokens;

use std::{net::TcpListener, sync::Arc};

use actix::{Actor, Arbiter};
use actix_web::{App, HttpServer, web};

pub use config::Config;

/// How long a node waits for NATS at start in cluster mode.
const CLUSTER_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Seconds a stopping server waits for open connections (device sockets never end on
/// their own) before it closes them.
const SHUTDOWN_TIMEOUT_S: u64 = 5;

/// The coordinator's command line: reads the configuration from the arguments and the
/// environment, starts logging, and serves until stopped. The `ostrich-coordinator` binary
/// is this; so are the cluster nodes of the browser suite, which need a process to kill.
pub fn run_command_line() -> anyhow::Result<()> {
    use anyhow::Context;
    use clap::Parser;

    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = Config::parse();
    let listener = TcpListener::bind(config.bind).with_context(|| format!("cannot listen on {}", config.bind))?;
    actix_web::rt::System::new().block_on(run(listener, config)).context("server failed")
}

/// Starts the coordinator on 127.0.0.1 with a port the OS picks, on a thread and actix
/// system of its own, and answers its address; it runs until the process ends. Tests and
/// load tools use it to run the real server next to their clients.
pub fn spawn_local(mut config: Config) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    config.http_workers = 1;
    config.ephemeral = true;
    std::thread::Builder::new().name("coordinator".into()).spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            if let Err(error) = serve(listener, config, false).await {
                log::error!("coordinator stopped: {error}");
            }
        });
    })?;
    Ok(addr)
}

/// Runs the coordinator on a bound listener until the server stops. SIGTERM or Ctrl-C
/// drains it: every lease goes back to its queue, every device is told to reconnect later
/// (close code 1012), and the process exits within a few seconds.
pub async fn run(listener: TcpListener, config: Config) -> std::io::Result<()> {
    serve(listener, config, true).await
}

/// Runs the server; with `signals`, SIGTERM and Ctrl-C drain it (see [`shutdown_signal`]).
/// [`spawn_local`] leaves the process's signals alone.
async fn serve(listener: TcpListener, config: Config, signals: bool) -> std::io::Result<()> {
    let config = Arc::new(config);
    let tls = tls_listener(&config)?;
    let detected = match &tls {
        Some((tls_listener, _)) => net::url("https", tls_listener.local_addr().ok()),
        None => net::public_url(listener.local_addr().ok()),
    };
    let public_url = config.public_url.clone().unwrap_or(detected);
    let fingerprint = tls.as_ref().map(|(_, tls)| tls.fingerprint.clone());
    if signals {
        banner::print(&public_url, listener.local_addr().ok(), tls.as_ref().map(|(_, tls)| tls));
    }
    let settings = scheduler::Settings {
        lease: config.lease(),
        quarantine_after: config.quarantine_after.max(1),
        max_task_attempts: config.max_task_attempts.max(1),
        tls_fingerprint: fingerprint,
        quotas: scheduler::Quotas {
            jobs: config.max_jobs,
            result_bytes: config.max_result_mib.saturating_mul(1024 * 1024),
            devices: config.max_devices,
        },
        swarm_ttl: config.swarm_ttl(),
        cluster: config.cluster.is_some(),
    };
    let cluster = match config.cluster_settings() {
        Some(settings) => {
            let url = settings.url.clone();
            let cluster = cluster::store::Cluster::open(settings, CLUSTER_CONNECT_TIMEOUT)
                .map_err(|e| std::io::Error::other(format!("cluster {url}: {e}")))?;
            log::info!("cluster {url}: node {}", cluster.node());
            Some(cluster)
        }
        None => None,
    };
    let core = if let Some(cluster) = &cluster {
        let mut core = scheduler::Core::new(settings);
        core.set_store(store::Store::durable(cluster.backend()));
        core
    } else if config.ephemeral {
        scheduler::Core::new(settings)
    } else {
        let path = config.data_dir.join("ostrich.redb");
        let durable =
            durable::Durable::open(&path).map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        let restored = durable.load().map_err(std::io::Error::other)?;
        log::info!("store {}: {} swarms, {} jobs", path.display(), restored.swarms.len(), restored.jobs.len());
        scheduler::Core::restore(settings, store::Store::durable(durable), restored)
    };
    let scheduler = scheduler::Scheduler::with_core(core, config.weight_interval());
    let metrics = scheduler.metrics();
    let scheduler = scheduler.start();
    let table = tokens::TokenTable::new(tokens::TokenLimits {
        ttl: config.invite_ttl(),
        mints_per_minute: config.invites_per_minute,
        failures_per_minute: config.failed_joins_per_minute,
        swarms_per_minute: config.swarms_per_minute,
        outstanding_invites: config.max_invites,
    });
    let mut tokens = tokens::TokenAuthority::new(table, public_url.clone(), scheduler.clone().recipient());
    if let Some(cluster) = &cluster {
        tokens = tokens.with_cluster(cluster.clone());
    }
    let tokens = tokens.start();
    let budget = limits::ReceiveBudget::new(config.receive_budget());
    let peers = session::Peers {
        scheduler: scheduler.clone(),
        tokens: tokens.clone(),
        heartbeat_timeout: config.heartbeat_timeout(),
        hello_timeout: config.hello_timeout(),
    };
    let leaving = cluster.clone();
    let gateway = match cluster {
        Some(cluster) => {
            let hub =
                cluster::relay::HubSetup { peers: peers.clone(), budget: budget.clone(), metrics: metrics.clone() };
            let router = cluster::route::Router::new(cluster.clone(), scheduler.clone());
            // A dead owner's swarms are free one TTL after its death; the sweep comes by
            // within two.
            router.clone().adopt_orphans_every(cluster.settings().lease_ttl * 2);
            // API calls relayed from other nodes are answered by this server on loopback.
            let mut local = listener.local_addr()?;
            if local.ip().is_unspecified() {
                local.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            cluster::api::serve(cluster.clone(), local).map_err(std::io::Error::other)?;
            let (hub, outbox) = cluster::relay::RelayHub::start(cluster, hub).map_err(std::io::Error::other)?;
            Some(session::Gateway { router, hub, outbox })
        }
        None => None,
    };
    let ticker = ticker::Ticker::new(scheduler.clone(), config.snapshot_interval());
    let ticker_arbiter = Arbiter::new();
    ticker::Ticker::start_in_arbiter(&ticker_arbiter.handle(), move |_| ticker);
    log::info!("coordinator listening on {public_url}");
    let state = http::AppState {
        scheduler,
        tokens,
        metrics,
        config: config.clone(),
        budget,
        unadmitted: limits::UnadmittedGate::new(config.unadmitted_per_address),
        verifier: ostrich_wasm::Host::verifier().map_err(std::io::Error::other)?,
        gateway,
        peers,
    };
    let drain = state.scheduler.clone();
    let mut server =
        HttpServer::new(move || App::new().app_data(web::Data::new(state.clone())).configure(http::routes))
            .shutdown_timeout(SHUTDOWN_TIMEOUT_S)
            .on_connect(session::ConnectionSocket::on_connect)
            .disable_signals()
            .listen(with_backlog(listener)?)?;
    if let Some((tls_listener, tls)) = tls {
        server = server.listen_rustls_0_23(with_backlog(tls_listener)?, tls.config)?;
    }
    if config.http_workers > 0 {
        server = server.workers(config.http_workers);
    }
    let server = server.run();
    if signals {
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            let signal = shutdown_signal().await;
            log::info!("{signal}: telling devices and shutting down");
            match drain.send(scheduler::Drain).await {
                Ok(told) => log::info!("{told} sessions told to reconnect later"),
                Err(error) => log::error!("cannot drain the scheduler: {error}"),
            }
            // Cluster mode: hand the swarms over at once rather than after their lease TTL.
            if let Some(cluster) = leaving {
                cluster.stop_renewing();
                for swarm in cluster.owned() {
                    cluster.release(swarm).await;
                }
            }
            handle.stop(true).await;
        });
    }
    let result = server.await;
    ticker_arbiter.stop();
    result
}

/// Waits for SIGTERM (a service manager or `docker stop`) or Ctrl-C; answers which.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "interrupt",
            },
            Err(error) => {
                log::warn!("cannot watch SIGTERM: {error}");
                let _ = tokio::signal::ctrl_c().await;
                "interrupt"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}

/// Connections the kernel may queue before the server accepts them (capped by
/// `net.core.somaxconn`). A listener bound by `std` gets 128, and a room of devices joining
/// at once overflowed it: dropped handshakes are retried by the client only after 1 s.
const LISTEN_BACKLOG: i32 = 4096;

/// Raises a bound listener's accept backlog to [`LISTEN_BACKLOG`].
fn with_backlog(listener: TcpListener) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::from(listener);
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Binds the HTTPS listener and loads or generates its certificate, when `--tls` is on.
fn tls_listener(config: &Config) -> std::io::Result<Option<(TcpListener, tls::Tls)>> {
    if !config.tls {
        return Ok(None);
    }
    let mut names = tls::local_names(&net::interface_addresses());
    // In a container the box's LAN address is not among the interfaces: the public URL names it.
    if let Some(host) = config.public_url.as_deref().and_then(net::host_of) {
        names.push(host);
    }
    let user = config.tls_cert.as_deref().zip(config.tls_key.as_deref());
    let tls = tls::load_or_generate(user, &config.data_dir, &names).map_err(std::io::Error::other)?;
    let listener = TcpListener::bind(config.tls_bind)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", config.tls_bind)))?;
    Ok(Some((listener, tls)))
}
