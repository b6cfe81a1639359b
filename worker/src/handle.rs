//! Embedding: a worker started on the current Tokio runtime and the handle that watches,
//! stops or kills it. Tests and the load simulator run many of these in one process.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::error::WorkerError;
use crate::pool::{Pool, PoolStopper};
use crate::runner::{self, StatsCell};
use crate::{WorkerConfig, WorkerStats};

/// Starts a worker on the current Tokio runtime and returns its handle.
///
/// The worker connects, joins and computes until [`WorkerHandle::shutdown`],
/// [`WorkerHandle::kill`], a refusal that needs the user, or (without reconnection) the first
/// lost connection. Dropping the handle asks for a clean shutdown.
///
/// # Panics
///
/// When called outside a Tokio runtime, like `tokio::spawn`.
pub fn spawn(config: WorkerConfig) -> WorkerHandle {
    let device_id = config.device_id;
    let (pool, results) = Pool::new(config.cores);
    let stopper = pool.stopper();
    let cell = Arc::new(StatsCell::new(WorkerStats::new(device_id)));
    let stats = cell.subscribe();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(runner::drive(config, pool, results, shutdown_rx, Arc::clone(&cell)));
    WorkerHandle { device_id, stats, cell, shutdown, stopper, task: Some(task) }
}

/// Runs a worker in the calling task until it ends on its own (see [`spawn`]); the binary's
/// entry point.
pub async fn run(config: WorkerConfig) -> Result<(), WorkerError> {
    run_until(config, std::future::pending()).await
}

/// Runs a worker in the calling task until it ends on its own or `signal` resolves, which
/// closes the session cleanly.
pub async fn run_until(config: WorkerConfig, signal: impl Future<Output = ()>) -> Result<(), WorkerError> {
    let (pool, results) = Pool::new(config.cores);
    let cell = Arc::new(StatsCell::new(WorkerStats::new(config.device_id)));
    let (shutdown, shutdown_rx) = watch::channel(false);
    let drive = runner::drive(config, pool, results, shutdown_rx, cell);
    tokio::pin!(drive, signal);
    tokio::select! {
        outcome = &mut drive => outcome,
        () = &mut signal => {
            shutdown.send_replace(true);
            drive.await
        }
    }
}

/// Controls a worker started by [`spawn`].
#[must_use = "dropping the handle shuts the worker down"]
pub struct WorkerHandle {
    device_id: Uuid,
    stats: watch::Receiver<WorkerStats>,
    cell: Arc<StatsCell>,
    shutdown: watch::Sender<bool>,
    stopper: PoolStopper,
    task: Option<JoinHandle<Result<(), WorkerError>>>,
}

impl WorkerHandle {
    /// The device id the worker says hello with.
    pub fn device_id(&self) -> Uuid {
        self.device_id
    }

    /// The worker's state now.
    pub fn stats(&self) -> WorkerStats {
        self.stats.borrow().clone()
    }

    /// A receiver that sees every change of the stats.
    pub fn subscribe(&self) -> watch::Receiver<WorkerStats> {
        self.stats.clone()
    }

    /// Waits until `pred` holds for the stats, for at most `deadline`. `Ok` carries the stats
    /// that satisfied it; `Err` the last stats seen when the deadline passed.
    pub async fn wait_for(
        &self,
        deadline: Duration,
        pred: impl Fn(&WorkerStats) -> bool,
    ) -> Result<WorkerStats, WorkerStats> {
        let mut stats = self.stats.clone();
        let waited = tokio::time::timeout(deadline, async {
            stats.wait_for(|current| pred(current)).await.map(|current| current.clone())
        })
        .await;
        match waited {
            Ok(Ok(stats)) => Ok(stats),
            _ => Err(stats.borrow().clone()),
        }
    }

    /// Simulates a crash: the connection is dropped without a close frame and the pool stops.
    /// Threads may finish the kernel they are running, but no result is ever sent.
    pub fn kill(&self) {
        self.stopper.stop();
        self.cell.freeze(|stats| {
            stats.connected = false;
            stats.finished = true;
            stats.slots = 0;
            stats.in_flight = 0;
        });
        if let Some(task) = &self.task {
            task.abort();
        }
    }

    /// Closes the session cleanly (a close frame, tasks in flight dropped) and waits for the
    /// worker to end; returns how it ended.
    pub async fn shutdown(mut self) -> Result<(), WorkerError> {
        self.shutdown.send_replace(true);
        self.finish().await
    }

    /// Waits for the worker to end on its own (a refusal, or a lost connection without
    /// reconnection) and returns how it ended.
    pub async fn join(mut self) -> Result<(), WorkerError> {
        self.finish().await
    }

    async fn finish(&mut self) -> Result<(), WorkerError> {
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(outcome) => outcome,
            Err(err) if err.is_cancelled() => Ok(()),
            Err(err) => Err(WorkerError::Crashed(err.to_string())),
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}
