//! Weighted dispatch and leases: which device gets which task, and what happens when a
//! lease ends without a verified result.

use std::{
    cmp::Reverse,
    collections::HashMap,
    time::{Duration, Instant},
};

use ostrich_protocol::{DeviceId, JobId, JobState, LogLevel, RunState, SwarmId, Task, TaskId, ToDevice};

use super::core::{Core, Effect, Lease, TaskEntry};
use super::swarm::Swarm;
use crate::{limits::result_bytes, store::Store};

/// How far into the requeued tasks dispatch looks for one a device is not excluded from.
const EXCLUSION_LOOKAHEAD: usize = 64;

/// Stale lease deadlines tolerated beyond twice the live tasks before they are compacted.
const DEADLINE_SLACK: usize = 1024;

impl Core {
    /// Hands queued tasks to devices with room, in stride-scheduling order: the device with
    /// the lowest pass gets the next task and its pass grows by 1/weight, so while devices
    /// have room their shares are proportional to their weights. Devices come from the
    /// swarm's ready heap, so the cost is per task dispatched, not per device in the swarm.
    pub fn dispatch(&mut self, swarm_id: SwarmId, now: Instant) {
        let base_lease_ms = self.settings.lease.as_millis().min(u128::from(u32::MAX)) as u64;
        let Some(swarm) = self.swarms.get_mut(&swarm_id) else {
            return;
        };
        if swarm.run_state != RunState::Running {
            return;
        }
        let mut batches: Vec<(u64, DeviceId, Vec<Task>)> = Vec::new();
        // Devices with room that every waiting task excludes; offered again at the end.
        let mut passed_over: Vec<DeviceId> = Vec::new();
        loop {
            swarm.queue.retain_front(|id| self.tasks.get(id).is_some_and(|t| t.lease.is_none()));
            if swarm.nothing_queued() {
                break;
            }
            let Some(std::cmp::Reverse(candidate)) = swarm.ready.pop() else {
                break;
            };
            let Some(device) = swarm.devices.get_mut(&candidate.device) else {
                continue;
            };
            if device.offered != Some(candidate.pass) || device.pass != candidate.pass {
                continue;
            }
            device.offered = None;
            let Some(session) = device.session.filter(|_| device.room() > 0) else {
                continue;
            };
            let Some(task_id) = next_task(swarm, &self.store, &mut self.tasks, &mut self.next_task, candidate.device)
            else {
                passed_over.push(candidate.device);
                continue;
            };
            let Some(entry) = self.tasks.get_mut(&task_id) else {
                continue;
            };
            let Some(job) = self.store.get(entry.job) else {
                continue;
            };
            let Some(kind) = job.task_kind(entry.index) else {
                continue;
            };
            let lease_ms = job.lease_ms(base_lease_ms).min(u64::from(u32::MAX));
            let Some(device) = swarm.devices.get_mut(&candidate.device) else {
                continue;
            };
            entry.lease = Some(Lease { device: device.id, session });
            entry.dispatches += 1;
            entry.result_bytes = result_bytes(kind.max_output_bytes());
            self.deadlines.push(Reverse((now + Duration::from_millis(lease_ms), task_id, entry.dispatches)));
            device.leases.insert(task_id);
            device.owed += entry.result_bytes;
            swarm.virtual_time = candidate.pass;
            device.pass = candidate.pass + 1.0 / f64::from(device.weight.max(1));
            swarm.offer(candidate.device);
            let task = Task { id: task_id, job_id: entry.job, lease_ms: lease_ms as u32, kind };
            match batches.iter_mut().find(|(s, _, _)| *s == session) {
                Some((_, _, tasks)) => tasks.push(task),
                None => batches.push((session, candidate.device, vec![task])),
            }
            self.dirty_jobs.insert(entry.job);
        }
        for device in passed_over {
            swarm.offer(device);
        }
        // The frame limit grows before the tasks leave, so no result can outrun it.
        self.out.extend(batches.iter().filter_map(|(_, device, _)| swarm.frame_limit(*device)));
        self.out
            .extend(batches.into_iter().map(|(session, _, tasks)| Effect::Send(session, ToDevice::Assign { tasks })));
        self.compact_deadlines();
    }

    /// Drops the deadlines of leases that already ended once they outnumber the live tasks,
    /// so a long run at a high rate does not keep one entry per task ever dispatched.
    fn compact_deadlines(&mut self) {
        if self.deadlines.len() > 2 * self.tasks.len() + DEADLINE_SLACK {
            let tasks = &self.tasks;
            self.deadlines.retain(|Reverse((_, task_id, dispatch))| {
                tasks.get(task_id).is_some_and(|t| t.lease.is_some() && t.dispatches == *dispatch)
            });
        }
    }

    /// Puts a task back in its swarm's queue (at the front, so it is not starved).
    pub(super) fn requeue(&mut self, task_id: TaskId, count_failure: bool) {
        let Some(entry) = self.tasks.get_mut(&task_id) else {
            return;
        };
        entry.lease = None;
        if count_failure {
            entry.failures += 1;
        }
        let (swarm_id, job_id) = (entry.swarm, entry.job);
        if let Some(job) = self.store.get_mut(job_id) {
            job.redispatched += 1;
        }
        self.dirty_jobs.insert(job_id);
        if let Some(swarm) = self.swarms.get_mut(&swarm_id) {
            swarm.queue.push_front(task_id);
        }
    }

    /// A failed attempt (bad result, reported failure, expired lease): the task goes back to
    /// the queue, or its job fails once the task has failed too often.
    pub(super) fn fail_attempt(&mut self, task_id: TaskId) {
        self.requeue(task_id, true);
        let Some(entry) = self.tasks.get(&task_id) else {
            return;
        };
        if entry.failures >= self.settings.max_task_attempts {
            let reason = format!("task {task_id} failed {} times", entry.failures);
            let job_id = entry.job;
            self.end_job(job_id, JobState::Failed { reason });
        }
    }

    /// Cancels the leases of the devices `which` selects: they are told to drop the tasks,
    /// and the tasks go back to the queue.
    pub(super) fn cancel_leases(&mut self, swarm_id: SwarmId, which: impl Fn(DeviceId) -> bool) {
        let Some(swarm) = self.swarms.get_mut(&swarm_id) else {
            return;
        };
        let mut cancelled = Vec::new();
        let mut drained = Vec::new();
        for device in swarm.devices.values_mut().filter(|d| which(d.id)) {
            let tasks: Vec<TaskId> = device.leases.drain().collect();
            device.owed = 0;
            if let (Some(session), false) = (device.session, tasks.is_empty()) {
                self.out.push(Effect::Send(session, ToDevice::Cancel { task_ids: tasks.clone() }));
                drained.push(device.id);
            }
            cancelled.extend(tasks);
        }
        for device in drained {
            swarm.offer(device);
        }
        for task in cancelled {
            self.requeue(task, false);
        }
    }

    /// Dispatches again every task whose lease expired; the holder is told to drop it.
    pub fn expire_leases(&mut self, now: Instant) {
        let mut touched = Vec::new();
        while let Some(&Reverse((deadline, task_id, dispatch))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            let Some(entry) = self.tasks.get(&task_id) else {
                continue;
            };
            let Some(lease) = entry.lease.filter(|_| entry.dispatches == dispatch) else {
                continue;
            };
            let swarm_id = entry.swarm;
            self.release(swarm_id, lease.device, task_id);
            self.out.push(Effect::Send(lease.session, ToDevice::Cancel { task_ids: vec![task_id] }));
            self.log(swarm_id, LogLevel::Warn, format!("lease of task {task_id} expired; dispatching it again"));
            self.fail_attempt(task_id);
            touched.push(swarm_id);
        }
        touched.dedup();
        for swarm_id in touched {
            self.dispatch(swarm_id, now);
        }
    }

    /// Progress of every job changed since the last call, for the masters.
    pub fn flush_progress(&mut self) {
        let dirty = std::mem::take(&mut self.dirty_jobs);
        for &job in &dirty {
            self.store.put_job(job);
        }
        self.store_activity();
        self.store.commit();
        let mut leased: HashMap<SwarmId, HashMap<JobId, u32>> = HashMap::new();
        for job_id in dirty {
            let Some(job) = self.store.get(job_id) else { continue };
            let swarm_id = job.swarm;
            let in_flight = leased.entry(swarm_id).or_insert_with(|| self.in_flight_by_job(swarm_id));
            let in_flight = in_flight.get(&job_id).copied().unwrap_or(0);
            let progress = ToDevice::JobProgress(job.progress(in_flight));
            if let Some(swarm) = self.swarms.get(&swarm_id) {
                self.out.extend(swarm.sessions(true).map(|s| Effect::Send(s, progress.clone())));
            }
        }
    }

    /// Tasks leased now, per job, in one swarm: O(leases), not O(tasks).
    pub(super) fn in_flight_by_job(&self, swarm_id: SwarmId) -> HashMap<JobId, u32> {
        let mut counts = HashMap::new();
        let leases = self.swarms.get(&swarm_id).into_iter().flat_map(|s| s.devices.values()).flat_map(|d| &d.leases);
        for task in leases.filter_map(|id| self.tasks.get(id)) {
            *counts.entry(task.job).or_default() += 1;
        }
        counts
    }
}

/// The task `device` should get next: a requeued one it is not excluded from, else the next
/// fresh one not yet verified, whose entry is created now.
fn next_task(
    swarm: &mut Swarm,
    store: &Store,
    tasks: &mut HashMap<TaskId, TaskEntry>,
    next_id: &mut TaskId,
    device: DeviceId,
) -> Option<TaskId> {
    let requeued = swarm
        .queue
        .iter()
        .take(EXCLUSION_LOOKAHEAD)
        .position(|id| tasks.get(id).is_some_and(|t| t.lease.is_none() && !t.excluded.contains(&device)));
    if let Some(position) = requeued {
        return swarm.queue.remove(position);
    }
    // Tiles verified before a restart are skipped.
    let (job, index) = loop {
        let fresh = swarm.fresh.front_mut()?;
        let (job, index) = (fresh.job, fresh.next);
        fresh.next += 1;
        if fresh.next >= fresh.end {
            swarm.fresh.pop_front();
        }
        if !store.get(job).is_some_and(|j| j.is_done(index)) {
            break (job, index);
        }
    };
    let id = *next_id;
    *next_id += 1;
    let entry = TaskEntry {
        job,
        index,
        swarm: swarm.id,
        lease: None,
        dispatches: 0,
        failures: 0,
        excluded: Vec::new(),
        result_bytes: 0,
    };
    tasks.insert(id, entry);
    Some(id)
}

/// Drops stale ids from the front of a queue.
trait RetainFront<T> {
    fn retain_front(&mut self, keep: impl Fn(&T) -> bool);
}

impl<T> RetainFront<T> for std::collections::VecDeque<T> {
    fn retain_front(&mut self, keep: impl Fn(&T) -> bool) {
        while self.front().is_some_and(|id| !keep(id)) {
            self.pop_front();
        }
    }
}
