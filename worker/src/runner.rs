//! The worker's life across sessions: which credential to present, when to reconnect and
//! how long to wait, and what to remember in the state file. One session at a time is run by
//! [`crate::connection`]; this module owns everything that outlives a session.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ostrich_protocol::{
    JoinCredential, KernelReport, MatmulPath, ModuleHash, RejectCode, Task, TaskKind, ToCoordinator, Welcome,
};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::connection::{self, SessionEnd};
use crate::error::{WorkerError, reject_is_retryable};
use crate::pool::{Completed, Pool};
use crate::state::WorkerState;
use crate::{WorkerConfig, WorkerStats, capabilities};

/// The first wait before reconnecting; it doubles after each failed attempt.
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(200);
/// The longest wait between reconnection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Publishes [`WorkerStats`] on every change; a killed worker's stats are frozen so a task
/// that has not noticed its abort yet cannot publish over the final state.
pub(crate) struct StatsCell {
    tx: watch::Sender<WorkerStats>,
    frozen: AtomicBool,
}

impl StatsCell {
    pub(crate) fn new(stats: WorkerStats) -> Self {
        Self { tx: watch::channel(stats).0, frozen: AtomicBool::new(false) }
    }

    /// Publishes `stats` if it differs from what was last published and the cell is live.
    pub(crate) fn publish(&self, stats: &WorkerStats) {
        self.tx.send_if_modified(|current| {
            if self.frozen.load(Ordering::Acquire) || current == stats {
                return false;
            }
            current.clone_from(stats);
            true
        });
    }

    /// Publishes a last change and ignores every later one.
    pub(crate) fn freeze(&self, last: impl FnOnce(&mut WorkerStats)) {
        self.tx.send_modify(|current| {
            self.frozen.store(true, Ordering::Release);
            last(current);
        });
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<WorkerStats> {
        self.tx.subscribe()
    }
}

/// Everything a session needs that outlives it.
pub(crate) struct Worker {
    pub(crate) config: WorkerConfig,
    pub(crate) pool: Pool,
    pub(crate) results: mpsc::UnboundedReceiver<Completed>,
    pub(crate) stats: WorkerStats,
    pub(crate) cell: Arc<StatsCell>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The credential that rejoins the swarm, once one is known.
    pub(crate) resume: Option<String>,
    /// The swarm's master key, once given or granted; every later hello presents it, so a
    /// reconnecting master never creates a second swarm.
    pub(crate) master_key: Option<String>,
    /// The benchmark score, once measured (or fixed by the config).
    pub(crate) ops_score: Option<u32>,
    /// The benchmark still running on a blocking thread.
    pub(crate) bench: Option<JoinHandle<u32>>,
    /// The kernel report the coordinator last got in this session.
    pub(crate) kernels_sent: Option<KernelReport>,
    /// Wasm tasks waiting for their module, which was asked for once (this session).
    pub(crate) parked: HashMap<ModuleHash, Vec<Task>>,
    /// Messages decided while handling an incoming one, sent before the next work request.
    pub(crate) outbox: Vec<ToCoordinator>,
    state: Option<WorkerState>,
}

impl Worker {
    /// The kernel report now: a native worker has one path, its CPU threads; the figure is
    /// the benchmark (a matrix product) times its cores. `None` before the benchmark.
    pub(crate) fn kernel_report(&self) -> Option<KernelReport> {
        let per_thread = self.ops_score.filter(|&score| score > 0)?;
        Some(KernelReport {
            threads: self.pool.active_threads(),
            cpu_mflops: per_thread.saturating_mul(self.config.cores.max(1)),
            gpu: None,
            matmul: MatmulPath::Cpu,
            forced: false,
        })
    }

    /// Takes assigned tasks: to the pool, or, for a wasm task whose module the worker does
    /// not hold, to wait for it (asking the coordinator once per module).
    pub(crate) fn take(&mut self, tasks: Vec<Task>) {
        for task in tasks {
            match &task.kind {
                TaskKind::Wasm { module, .. } if !self.pool.wasm().holds(*module) => {
                    let waiting = self.parked.entry(*module).or_default();
                    if waiting.is_empty() {
                        self.outbox.push(ToCoordinator::FetchModule { module: *module });
                    }
                    waiting.push(task);
                }
                _ => self.pool.submit(task),
            }
        }
    }

    /// A module arrived, or cannot: its waiting tasks go to the pool, or fail with the
    /// coordinator's reason.
    pub(crate) fn module_arrived(&mut self, module: ModuleHash, bytes: Result<Vec<u8>, String>) {
        let waiting = self.parked.remove(&module).unwrap_or_default();
        match bytes {
            Ok(bytes) => {
                self.pool.wasm().insert(module, bytes);
                waiting.into_iter().for_each(|task| self.pool.submit(task));
            }
            Err(reason) => {
                for task in waiting {
                    let reason = format!("module {module} unavailable: {reason}");
                    self.outbox.push(ToCoordinator::TaskFailed { task_id: task.id, reason });
                    self.stats.tasks_failed += 1;
                }
            }
        }
    }

    /// Drops waiting tasks: all of them, or those named. Answers how many were dropped.
    pub(crate) fn drop_parked(&mut self, only: Option<&[ostrich_protocol::TaskId]>) -> u32 {
        let mut dropped = 0;
        for waiting in self.parked.values_mut() {
            let before = waiting.len();
            waiting.retain(|task| only.is_some_and(|ids| !ids.contains(&task.id)));
            dropped += (before - waiting.len()) as u32;
        }
        // A module still asked for keeps its (now maybe empty) entry, so it is not asked
        // for twice when more of its tasks arrive before it does.
        dropped
    }

    /// Publishes the current stats, refreshing the pool figures first.
    pub(crate) fn publish(&mut self) {
        self.stats.active_threads = self.pool.active_threads();
        self.stats.in_flight = self.pool.in_flight() as u32 + self.parked.values().map(Vec::len).sum::<usize>() as u32;
        self.cell.publish(&self.stats);
    }

    /// Resolves when shutdown is requested; never when the requester is gone without asking.
    pub(crate) async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
        if shutdown.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Remembers what a welcome grants, in memory and in the state file.
    pub(crate) fn remember(&mut self, welcome: &Welcome) {
        if let Some(credential) = &welcome.resume_credential {
            self.resume = Some(credential.clone());
        }
        if let Some(key) = &welcome.master_key {
            self.master_key = Some(key.clone());
        }
        let Some(path) = self.config.state_file.clone() else {
            return;
        };
        let state = self.state.get_or_insert_with(|| WorkerState::new(self.config.name.clone()));
        state.device_id = self.config.device_id;
        state.name.clone_from(&self.config.name);
        state.coordinator = Some(self.config.coordinator.clone());
        state.swarm_id = Some(welcome.swarm_id);
        if let Some(token) = self.config.invite_token() {
            state.invite_token = Some(token.to_owned());
        }
        if welcome.resume_credential.is_some() {
            state.resume_credential.clone_from(&welcome.resume_credential);
        }
        if welcome.master_key.is_some() {
            state.master_key.clone_from(&welcome.master_key);
        }
        if let Err(err) = state.save(&path) {
            log::warn!("{err}");
        }
    }

    /// The credential for the next hello: the master key once known, else the resume
    /// credential, else the configured one. A master welcomed without a key cannot come back,
    /// since a keyless hello would create a second swarm.
    fn next_credential(&self) -> Result<JoinCredential, WorkerError> {
        if let Some(key) = &self.master_key {
            return Ok(JoinCredential::Master { key: Some(key.clone()) });
        }
        if let Some(credential) = &self.resume {
            return Ok(JoinCredential::Resume { credential: credential.clone() });
        }
        if self.stats.sessions > 0 && matches!(self.config.credential, JoinCredential::Master { .. }) {
            return Err(WorkerError::Protocol("the coordinator granted mastership without a master key".into()));
        }
        Ok(self.config.credential.clone())
    }

    /// Forgets a resume credential the coordinator refused, here and in the state file.
    fn forget_resume(&mut self) {
        self.resume = None;
        let (Some(path), Some(state)) = (&self.config.state_file, &mut self.state) else {
            return;
        };
        state.resume_credential = None;
        if let Err(err) = state.save(path) {
            log::warn!("{err}");
        }
    }
}

/// Runs the worker until shutdown, a refusal that needs the user, or, without reconnection,
/// the first lost connection.
pub(crate) async fn drive(
    config: WorkerConfig,
    pool: Pool,
    results: mpsc::UnboundedReceiver<Completed>,
    shutdown: watch::Receiver<bool>,
    cell: Arc<StatsCell>,
) -> Result<(), WorkerError> {
    let state = match &config.state_file {
        Some(path) => WorkerState::load(path)?,
        None => None,
    };
    let resume = match &config.credential {
        JoinCredential::Resume { credential } => Some(credential.clone()),
        JoinCredential::Invite { token } => {
            state.as_ref().and_then(|state| state.resume_for(&config.coordinator, Some(token))).map(str::to_owned)
        }
        JoinCredential::Master { .. } => None,
    };
    let master_key = match &config.credential {
        JoinCredential::Master { key } => key.clone(),
        JoinCredential::Invite { .. } | JoinCredential::Resume { .. } => None,
    };
    let bench = match config.ops_score {
        Some(_) => None,
        None => Some(tokio::task::spawn_blocking(capabilities::cached_ops_score)),
    };
    let mut worker = Worker {
        ops_score: config.ops_score,
        stats: WorkerStats { ops_score: config.ops_score.unwrap_or(0), ..WorkerStats::new(config.device_id) },
        config,
        pool,
        results,
        cell,
        shutdown,
        resume,
        master_key,
        bench,
        kernels_sent: None,
        parked: HashMap::new(),
        outbox: Vec::new(),
        state,
    };
    let outcome = reconnect_loop(&mut worker).await;
    if let Err(err) = &outcome {
        log::error!("worker stopped: {err}");
    }
    worker.pool.clear();
    worker.stats.connected = false;
    worker.stats.finished = true;
    worker.publish();
    outcome
}

async fn reconnect_loop(worker: &mut Worker) -> Result<(), WorkerError> {
    let mut backoff = BACKOFF_INITIAL;
    loop {
        let credential = worker.next_credential()?;
        let resuming = matches!(credential, JoinCredential::Resume { .. });
        let mastering = matches!(credential, JoinCredential::Master { key: Some(_) });
        match connection::session(worker, credential).await {
            SessionEnd::Shutdown => return Ok(()),
            SessionEnd::Rejected { code, message } => {
                worker.stats.last_reject = Some(code);
                worker.publish();
                if code == RejectCode::InvalidCredential && mastering {
                    return Err(WorkerError::MasterKeyRefused { url: worker.config.coordinator.clone(), message });
                }
                let fallback = matches!(worker.config.credential, JoinCredential::Invite { .. });
                if code == RejectCode::InvalidCredential && resuming {
                    log::warn!("the coordinator no longer knows this worker's resume credential");
                    worker.forget_resume();
                    if fallback {
                        continue;
                    }
                }
                if !reject_is_retryable(code) || !worker.config.reconnect {
                    return Err(WorkerError::Rejected { code, message });
                }
                log::warn!("hello refused ({code:?}): {message}");
            }
            SessionEnd::Lost { error, welcomed } => {
                if !worker.config.reconnect || !error.is_retryable() {
                    return Err(error);
                }
                log::warn!("{error}");
                if welcomed {
                    backoff = BACKOFF_INITIAL;
                }
            }
        }
        let wait = jittered(backoff);
        log::info!("reconnecting in {} ms", wait.as_millis());
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = Worker::shutdown_requested(&mut worker.shutdown) => return Ok(()),
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// A wait between half and all of `backoff`, so workers that lost the same coordinator do
/// not all come back at the same instant.
fn jittered(backoff: Duration) -> Duration {
    backoff.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_jitter_stays_within_it() {
        let mut backoff = BACKOFF_INITIAL;
        let mut steps = vec![];
        for _ in 0..8 {
            steps.push(backoff.as_millis());
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        assert_eq!(steps, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        for _ in 0..100 {
            let wait = jittered(BACKOFF_MAX);
            assert!(wait >= BACKOFF_MAX / 2 && wait <= BACKOFF_MAX, "{wait:?}");
        }
    }

    #[test]
    fn frozen_stats_ignore_later_publications() {
        let cell = StatsCell::new(WorkerStats::new(uuid::Uuid::nil()));
        let rx = cell.subscribe();
        cell.freeze(|stats| stats.finished = true);
        let mut late = WorkerStats::new(uuid::Uuid::nil());
        late.connected = true;
        cell.publish(&late);
        assert!(rx.borrow().finished && !rx.borrow().connected);
    }
}
