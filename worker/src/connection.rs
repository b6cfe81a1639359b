//! One session with the coordinator: connect, hello, welcome, then a loop over incoming
//! frames, pool results, heartbeats, the benchmark and the shutdown signal. A session owns
//! its socket; `socket` frames and closes it, and nothing else touches it.

use std::time::Duration;

use futures_util::StreamExt;
use ostrich_protocol::{
    HEARTBEAT_INTERVAL_MS, JoinCredential, RejectCode, Role, RunState, Snapshot, ToCoordinator, ToDevice, Welcome,
};
use tokio::time::{Instant, MissedTickBehavior, interval_at, timeout};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::capabilities;
use crate::error::WorkerError;
use crate::pool::Completed;
use crate::runner::Worker;
use crate::socket::{self, Socket, close, first_message, name_of, read, send};

/// How long the coordinator may take to answer the hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A session that hears nothing for this many heartbeat intervals is considered dead...
pub const IDLE_HEARTBEATS: u32 = 3;
/// ...but never sooner than this, so a short heartbeat does not outpace the snapshots.
pub const MIN_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How a session ended.
pub(crate) enum SessionEnd {
    /// Shutdown was requested and the socket closed cleanly.
    Shutdown,
    /// The coordinator refused the hello.
    Rejected {
        /// Machine-readable cause.
        code: RejectCode,
        /// The coordinator's detail.
        message: String,
    },
    /// The connection failed or dropped.
    Lost {
        /// What happened.
        error: WorkerError,
        /// Whether the session got as far as a welcome (resets the reconnect backoff).
        welcomed: bool,
    },
}

fn lost(error: WorkerError, welcomed: bool) -> SessionEnd {
    SessionEnd::Lost { error, welcomed }
}

/// Runs one session to its end. Whatever the pool holds when it ends is dropped.
pub(crate) async fn session(worker: &mut Worker, credential: JoinCredential) -> SessionEnd {
    let end = match open(worker, credential).await {
        Ok((mut socket, welcome)) => {
            let end = serve(worker, &mut socket, &welcome).await;
            if let SessionEnd::Lost { error: WorkerError::Protocol(_) | WorkerError::VersionMismatch { .. }, .. } = &end
            {
                close(&mut socket, CloseCode::Protocol, "undecodable frame").await;
            }
            end
        }
        Err(end) => end,
    };
    worker.pool.clear();
    worker.parked.clear();
    worker.outbox.clear();
    worker.stats.connected = false;
    worker.stats.slots = 0;
    worker.publish();
    end
}

/// Connects, says hello and waits for the welcome.
async fn open(worker: &mut Worker, credential: JoinCredential) -> Result<(Socket, Welcome), SessionEnd> {
    let url = worker.config.coordinator.clone();
    let connect_error = |reason: String| lost(WorkerError::Connect { url: url.clone(), reason }, false);
    let mut socket = tokio::select! {
        connected = socket::connect(&url, worker.config.ca_cert.as_deref()) => connected.map_err(connect_error)?,
        () = Worker::shutdown_requested(&mut worker.shutdown) => return Err(SessionEnd::Shutdown),
    };
    log::info!("connected to {url}");
    let score = worker.ops_score.unwrap_or(0);
    let hello = ToCoordinator::Hello {
        device_id: worker.config.device_id,
        name: worker.config.name.clone(),
        capabilities: capabilities::detect(worker.config.cores, score),
        credential,
    };
    if let Err(error) = send(&mut socket, &hello).await {
        return Err(lost(error, false));
    }
    let answer = tokio::select! {
        answer = timeout(HELLO_TIMEOUT, first_message(&mut socket)) => answer,
        () = Worker::shutdown_requested(&mut worker.shutdown) => {
            close(&mut socket, CloseCode::Normal, "shutting down").await;
            return Err(SessionEnd::Shutdown);
        }
    };
    match answer {
        Err(_) => Err(lost(WorkerError::ConnectionLost("no answer to the hello".into()), false)),
        Ok(Err(error)) => Err(lost(error, false)),
        Ok(Ok(ToDevice::Welcome(welcome))) => Ok((socket, welcome)),
        Ok(Ok(ToDevice::Rejected { code, message })) => Err(SessionEnd::Rejected { code, message }),
        Ok(Ok(other)) => {
            let error = WorkerError::Protocol(format!("expected a welcome, got {}", name_of(&other)));
            close(&mut socket, CloseCode::Protocol, "welcome expected").await;
            Err(lost(error, false))
        }
    }
}

/// The welcomed session's loop.
async fn serve(worker: &mut Worker, socket: &mut Socket, welcome: &Welcome) -> SessionEnd {
    log::info!("joined swarm {} as {:?}", welcome.swarm_id, welcome.role);
    worker.remember(welcome);
    worker.pool.set_throttle(welcome.throttle);
    let stats = &mut worker.stats;
    stats.connected = true;
    stats.sessions += 1;
    stats.role = Some(welcome.role);
    stats.swarm_id = Some(welcome.swarm_id);
    stats.master_key = match welcome.role {
        Role::Master => worker.master_key.clone(),
        Role::Worker => None,
    };
    stats.throttle = welcome.throttle.min(100);
    stats.run_state = welcome.run_state;
    stats.enabled = welcome.enabled;
    stats.slots = 0;
    worker.kernels_sent = None;
    if let Err(error) = request_work(worker, socket, true).await {
        return lost(error, true);
    }
    let period = heartbeat_period(welcome.heartbeat_interval_ms);
    let idle_limit = (period * IDLE_HEARTBEATS).max(MIN_IDLE_TIMEOUT);
    let mut heartbeat = interval_at(Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        let step = tokio::select! {
            incoming = socket.next() => match incoming {
                Some(Ok(message)) => {
                    last_heard = Instant::now();
                    match read(message) {
                        Ok(Some(message)) => on_message(worker, message),
                        Ok(None) => Ok(()),
                        Err(error) => Err(error),
                    }
                }
                Some(Err(err)) => Err(WorkerError::ConnectionLost(err.to_string())),
                None => Err(WorkerError::ConnectionLost("the coordinator closed the connection".into())),
            },
            Some(done) = worker.results.recv() => on_completed(worker, socket, done).await,
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > idle_limit {
                    Err(WorkerError::ConnectionLost(format!("nothing heard for {} s", idle_limit.as_secs())))
                } else {
                    send(socket, &ToCoordinator::Heartbeat).await
                }
            }
            score = benchmark_done(&mut worker.bench) => {
                worker.ops_score = Some(score);
                worker.stats.ops_score = score;
                if score == 0 { Ok(()) } else { send(socket, &ToCoordinator::Benchmark { ops_score: score }).await }
            }
            () = Worker::shutdown_requested(&mut worker.shutdown) => {
                close(socket, CloseCode::Normal, "shutting down").await;
                return SessionEnd::Shutdown;
            }
        };
        if let Err(error) = step {
            return lost(error, true);
        }
        if let Err(error) = request_work(worker, socket, false).await {
            return lost(error, true);
        }
    }
}

/// The heartbeat period a welcome asks for, with the protocol default when it says 0.
fn heartbeat_period(ms: u32) -> Duration {
    let ms = if ms == 0 { HEARTBEAT_INTERVAL_MS } else { ms };
    Duration::from_millis(u64::from(ms.max(10)))
}

/// Resolves with the benchmark score once it is measured; never when there is none running.
async fn benchmark_done(bench: &mut Option<tokio::task::JoinHandle<u32>>) -> u32 {
    let Some(handle) = bench else {
        return std::future::pending().await;
    };
    let score = handle.await.unwrap_or(0);
    *bench = None;
    score
}

/// Offers the slots the worker wants now when the figure changed (or always, right after a
/// welcome), reports its kernel when that changed, then publishes the stats.
async fn request_work(worker: &mut Worker, socket: &mut Socket, force: bool) -> Result<(), WorkerError> {
    for message in std::mem::take(&mut worker.outbox) {
        send(socket, &message).await?;
    }
    let slots = worker.pool.slots(worker.stats.run_state.wants_work(worker.stats.enabled));
    if force || slots != worker.stats.slots {
        send(socket, &ToCoordinator::WorkRequest { slots }).await?;
        worker.stats.slots = slots;
    }
    // The kernel report follows the benchmark and every change of the thread count.
    if let Some(report) = worker.kernel_report()
        && worker.kernels_sent.as_ref() != Some(&report)
    {
        send(socket, &ToCoordinator::Kernels(report.clone())).await?;
        worker.kernels_sent = Some(report);
    }
    worker.publish();
    Ok(())
}

/// Applies one message from the coordinator.
fn on_message(worker: &mut Worker, message: ToDevice) -> Result<(), WorkerError> {
    let stats = &mut worker.stats;
    match message {
        ToDevice::Assign { tasks } => {
            log::debug!("assigned {} tasks", tasks.len());
            worker.take(tasks);
        }
        ToDevice::Cancel { task_ids } => {
            let parked = worker.drop_parked(Some(&task_ids));
            worker.stats.tasks_cancelled += u64::from(worker.pool.cancel(&task_ids) + parked);
        }
        ToDevice::Module { module, bytes } => worker.module_arrived(module, bytes.map(|b| b.0)),
        ToDevice::Throttle { percent } => {
            stats.throttle = percent.min(100);
            worker.pool.set_throttle(percent);
        }
        ToDevice::RunState { state } => {
            stats.run_state = state;
            if state == RunState::Stopped {
                let dropped = worker.pool.clear() + worker.drop_parked(None);
                worker.stats.tasks_cancelled += u64::from(dropped);
            }
        }
        ToDevice::DeviceEnabled { enabled } => {
            stats.enabled = enabled;
            if !enabled {
                let dropped = worker.pool.clear() + worker.drop_parked(None);
                worker.stats.tasks_cancelled += u64::from(dropped);
            }
        }
        ToDevice::Snapshot(Snapshot::Worker { me, .. }) => log::trace!("snapshot: {me:?}"),
        ToDevice::Rejected { code, message } => {
            return Err(WorkerError::Rejected { code, message });
        }
        ToDevice::Welcome(_) => log::warn!("ignoring a second welcome"),
        other => log::debug!("ignoring {}", name_of(&other)),
    }
    Ok(())
}

/// Sends a computed task's outcome unless it was cancelled meanwhile.
async fn on_completed(worker: &mut Worker, socket: &mut Socket, done: Completed) -> Result<(), WorkerError> {
    if !worker.pool.finish(&done) {
        return Ok(());
    }
    let task_id = done.task_id;
    match done.outcome {
        Ok(output) => {
            let frame = ToCoordinator::TaskResult { task_id, output };
            match socket::send_result(socket, &frame).await? {
                Ok(()) => worker.stats.tasks_done += 1,
                Err(err) => {
                    let reason = format!("result cannot be encoded: {err}");
                    send(socket, &ToCoordinator::TaskFailed { task_id, reason }).await?;
                    worker.stats.tasks_failed += 1;
                }
            }
        }
        Err(reason) => {
            log::warn!("task {task_id} failed: {reason}");
            send(socket, &ToCoordinator::TaskFailed { task_id, reason }).await?;
            worker.stats.tasks_failed += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_period_defaults_and_floors() {
        assert_eq!(heartbeat_period(0), Duration::from_millis(u64::from(HEARTBEAT_INTERVAL_MS)));
        assert_eq!(heartbeat_period(1), Duration::from_millis(10));
        assert_eq!(heartbeat_period(2_000), Duration::from_secs(2));
    }
}
