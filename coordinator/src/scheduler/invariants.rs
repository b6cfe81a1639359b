//! The scheduler's invariants as checks that read the whole state: [`Core::check_invariants`]
//! (what must hold after every call) and [`Core::check_work_conserving`] (no dispatch was
//! missed). The fuzz target `scheduler_core` and the seeded fuzz test call both after every
//! step (see [`super::fuzzing`]); they cost O(state), so nothing on the hot path calls them.

use std::cmp::Reverse;

use ostrich_protocol::{JobId, JobState, RunState, SwarmId, TaskId};

use super::{core::Core, swarm::slot_limit};

/// How far into a swarm's queue dispatch looks for a task a device is not excluded from
/// (`EXCLUSION_LOOKAHEAD` in `dispatch.rs`); a task further back waits by design.
const LOOKAHEAD: usize = 64;

/// Answers an `Err` with the message when the condition does not hold.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}

impl Core {
    /// Checks every invariant of the scheduler's state and answers the first one broken:
    ///
    /// - sessions: the session table and each device's live session name each other;
    /// - leases: a task is leased to at most one device, the one whose lease set names it,
    ///   under that device's live session, never to a device it excludes, and with a
    ///   deadline, so the lease can expire; only an eligible device holds leases, at most
    ///   its slot limit; a stopped swarm holds none;
    /// - tasks: every tile of a running job is exactly one of fresh (never dispatched),
    ///   a task entry (queued or leased; a waiting one is in its swarm's queue exactly once)
    ///   or verified; an ended job has no fresh range and no task entry;
    /// - counters: verified ≤ total and equal to the tiles marked done, a job is complete
    ///   exactly when it is `Completed`, in flight ≤ total − verified, and a swarm's queued
    ///   figure does not exceed the tasks that wait;
    /// - dispatch: a device with room has a live entry in its swarm's ready heap, so a
    ///   dispatch finds it.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_sessions()?;
        // Sorted vectors rather than hash sets: the fuzzer runs this after every step.
        let mut tiles: Vec<(JobId, u32)> = self.tasks.values().map(|t| (t.job, t.index)).collect();
        tiles.sort_unstable();
        if let Some(pair) = tiles.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(format!("tile {} of job {} has two tasks", pair[0].1, pair[0].0));
        }
        self.check_tasks()?;
        for swarm in self.swarms.keys() {
            self.check_queue(*swarm)?;
            self.check_devices(*swarm)?;
            self.check_counters(*swarm)?;
        }
        self.check_jobs(&tiles)
    }

    /// Checks that no work waits while a device could take it: in a running swarm, a
    /// device with room has no fresh tile to take and no requeued task it is not excluded
    /// from. Holds after every call of the core that can give a device room or queue work,
    /// except [`Core::drain`], which requeues every lease and dispatches nothing because
    /// the coordinator is stopping.
    pub fn check_work_conserving(&self) -> Result<(), String> {
        for swarm in self.swarms.values().filter(|s| s.run_state == RunState::Running) {
            let fresh = swarm
                .fresh
                .iter()
                .any(|f| self.store.get(f.job).is_some_and(|job| (f.next..f.end).any(|index| !job.is_done(index))));
            let waiting: Vec<_> = swarm
                .queue
                .iter()
                .take(LOOKAHEAD)
                .filter_map(|id| self.tasks.get(id).map(|task| (id, task)))
                .filter(|(_, task)| task.lease.is_none())
                .collect();
            for device in swarm.devices.values().filter(|d| d.room() > 0) {
                ensure!(!fresh, "device {} has room for {} tasks while fresh tiles wait", device.id, device.room());
                if let Some((id, _)) = waiting.iter().find(|(_, task)| !task.excluded.contains(&device.id)) {
                    return Err(format!("device {} has room while task {id} waits in the queue", device.id));
                }
            }
        }
        Ok(())
    }

    /// The session table and the devices' live sessions agree; keys and credentials name
    /// swarms and devices that exist.
    fn check_sessions(&self) -> Result<(), String> {
        for (&session, &(swarm_id, device_id)) in &self.sessions {
            let device = self.swarms.get(&swarm_id).and_then(|s| s.devices.get(&device_id));
            let live = device.and_then(|d| d.session);
            ensure!(live == Some(session), "session {session} names device {device_id}, whose session is {live:?}");
        }
        for swarm in self.swarms.values() {
            for (id, device) in &swarm.devices {
                ensure!(device.id == *id, "device {id} is filed under another id");
                if let Some(session) = device.session {
                    let named = self.sessions.get(&session);
                    ensure!(named == Some(&(swarm.id, *id)), "device {id} holds session {session}, named {named:?}");
                }
            }
        }
        ensure!(self.master_keys.values().all(|s| self.swarms.contains_key(s)), "a master key opens no swarm");
        for (swarm_id, device_id) in self.resume.values() {
            let known = self.swarms.get(swarm_id).is_some_and(|s| s.devices.contains_key(device_id));
            ensure!(known, "a resume credential names device {device_id}, unknown in its swarm");
        }
        Ok(())
    }

    /// Every task entry belongs to a running job and is one of its undone tiles; a leased
    /// one is leased consistently on both sides and has a deadline.
    fn check_tasks(&self) -> Result<(), String> {
        let mut leased: Vec<(TaskId, u32)> = Vec::new();
        for (&id, task) in &self.tasks {
            let job = self.store.get(task.job).filter(|j| j.swarm == task.swarm && j.state == JobState::Running);
            let job = job.ok_or_else(|| format!("task {id} belongs to job {}, not running in its swarm", task.job))?;
            ensure!(id < self.next_task, "task {id} is past the next task id {}", self.next_task);
            let (job_id, index) = (task.job, task.index);
            ensure!(!job.is_done(index), "task {id} is tile {index} of job {job_id}, verified or out of range");
            ensure!(task.dispatches >= 1, "task {id} has an entry but was never dispatched");
            let (failures, max) = (task.failures, self.settings.max_task_attempts);
            ensure!(failures < max, "task {id} failed {failures} times (limit {max}) and its job runs");
            let Some(lease) = task.lease else { continue };
            let device = self.swarms.get(&task.swarm).and_then(|s| s.devices.get(&lease.device));
            let listed = device.is_some_and(|d| d.leases.contains(&id));
            ensure!(listed, "task {id} is leased to device {}, whose leases do not name it", lease.device);
            let session = device.and_then(|d| d.session);
            ensure!(
                session == Some(lease.session),
                "task {id} is leased to session {}, not {session:?}",
                lease.session
            );
            ensure!(!task.excluded.contains(&lease.device), "task {id} is leased to a device it excludes");
            leased.push((id, task.dispatches));
        }
        leased.sort_unstable();
        let mut due = vec![false; leased.len()];
        for std::cmp::Reverse((_, id, dispatch)) in &self.deadlines {
            if let Ok(at) = leased.binary_search(&(*id, *dispatch)) {
                due[at] = true;
            }
        }
        match due.iter().position(|due| !due) {
            Some(at) => Err(format!("leased task {} has no deadline: it never expires", leased[at].0)),
            None => Ok(()),
        }
    }

    /// The tasks waiting in a swarm (entries without a lease) are exactly the live ids of
    /// its queue, each once; a leased task is not in the queue.
    fn check_queue(&self, swarm_id: SwarmId) -> Result<(), String> {
        let Some(swarm) = self.swarms.get(&swarm_id) else { return Ok(()) };
        let mut live = Vec::new();
        for id in &swarm.queue {
            let Some(task) = self.tasks.get(id) else { continue };
            ensure!(task.swarm == swarm_id, "task {id} of swarm {} is in the queue of {swarm_id}", task.swarm);
            ensure!(task.lease.is_none(), "task {id} is leased and also queued");
            live.push(*id);
        }
        live.sort_unstable();
        if let Some(pair) = live.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(format!("task {} is in the queue twice", pair[0]));
        }
        let waiting = self.tasks.values().filter(|t| t.swarm == swarm_id && t.lease.is_none()).count();
        let queued = live.len();
        ensure!(queued == waiting, "swarm {swarm_id} has {waiting} tasks waiting, {queued} of them in its queue");
        Ok(())
    }

    /// Every lease a device lists is the task's lease; only eligible devices hold leases,
    /// within their slot limit; a device with room is in the ready heap.
    fn check_devices(&self, swarm_id: SwarmId) -> Result<(), String> {
        let Some(swarm) = self.swarms.get(&swarm_id) else { return Ok(()) };
        ensure!(swarm.virtual_time.is_finite(), "swarm {swarm_id} has virtual time {}", swarm.virtual_time);
        let mut leased = 0;
        for (&id, device) in &swarm.devices {
            ensure!(device.pass.is_finite() && device.pass >= 0.0, "device {id} has pass {}", device.pass);
            let held = device.leases.len();
            ensure!(device.eligible() || held == 0, "device {id} holds {held} leases while not eligible");
            let limit = slot_limit(&device.caps) as usize;
            ensure!(held <= limit, "device {id} holds {held} leases, over its slot limit {limit}");
            let mut owed = 0;
            for task_id in &device.leases {
                let lease = self.tasks.get(task_id).filter(|t| t.swarm == swarm_id).and_then(|t| t.lease);
                ensure!(lease.is_some_and(|l| l.device == id), "device {id} lists task {task_id}, leased to {lease:?}");
                owed += self.tasks.get(task_id).map_or(0, |t| t.result_bytes);
            }
            // Its frame limit follows the results it owes (see `crate::limits`).
            ensure!(device.owed == owed, "device {id} owes {} result bytes, its leases {owed}", device.owed);
            leased += held;
            if device.room() > 0 {
                let offered = swarm.ready.iter().any(|Reverse(c)| c.device == id && c.pass == device.pass);
                let live = device.offered == Some(device.pass) && offered;
                ensure!(live, "device {id} has room but no live entry in the ready heap");
            }
        }
        if swarm.run_state == RunState::Stopped {
            ensure!(leased == 0, "stopped swarm {swarm_id} has {leased} tasks leased");
        }
        Ok(())
    }

    /// A swarm's queued figure (what snapshots and `/metrics` show) does not exceed the
    /// tasks of its running jobs that wait for a device, nor its in-flight figure the tasks
    /// leased; each job's in-flight count stays within its unverified tiles.
    fn check_counters(&self, swarm_id: SwarmId) -> Result<(), String> {
        let Some(swarm) = self.swarms.get(&swarm_id) else { return Ok(()) };
        let in_flight = self.in_flight_by_job(swarm_id);
        let mut waiting = 0u64;
        for job in self.store.jobs_of(swarm_id) {
            let progress = job.progress(in_flight.get(&job.id).copied().unwrap_or(0));
            let open = progress.tasks_total.checked_sub(progress.tasks_verified);
            let open = open.ok_or_else(|| format!("job {} verified {progress:?} past its total", job.id))?;
            let flying = progress.in_flight;
            ensure!(flying <= open, "job {} has {flying} tasks in flight of {open} open tiles", job.id);
            if job.state == JobState::Running {
                waiting += u64::from(open - flying);
            }
        }
        let fresh_ok = swarm.fresh.iter().all(|f| f.next < f.end);
        ensure!(fresh_ok, "swarm {swarm_id} has an empty or reversed fresh range: {:?}", swarm.fresh);
        let queued = swarm.queued();
        ensure!(queued <= waiting, "swarm {swarm_id} counts {queued} tasks queued while {waiting} wait");
        let leased: usize = swarm.devices.values().map(|d| d.leases.len()).sum();
        let counted: u32 = in_flight.values().sum();
        ensure!(leased == counted as usize, "swarm {swarm_id} holds {leased} leases but counts {counted} in flight");
        Ok(())
    }

    /// Each job's verified count matches its done tiles, it is complete exactly when
    /// `Completed`, and every tile of a running job is fresh, a task or verified, once.
    /// `tiles` holds the job and index of every task entry, sorted.
    fn check_jobs(&self, tiles: &[(JobId, u32)]) -> Result<(), String> {
        for swarm in self.swarms.values() {
            for fresh in &swarm.fresh {
                let job = self.store.get(fresh.job).filter(|j| j.swarm == swarm.id && j.state == JobState::Running);
                ensure!(job.is_some(), "swarm {} has a fresh range of job {}, not running there", swarm.id, fresh.job);
            }
        }
        let mut accounted = 0;
        for id in 1..self.next_job {
            let Some(job) = self.store.get(id) else { continue };
            let swarm = self.swarms.get(&job.swarm).ok_or_else(|| format!("job {id} belongs to no swarm"))?;
            let total = job.task_count();
            let done = (0..total).filter(|&index| job.is_done(index)).count();
            let verified = job.progress(0).tasks_verified;
            ensure!(done == verified as usize, "job {id} counts {verified} verified tiles but {done} are done");
            let completed = job.state == JobState::Completed;
            ensure!(job.is_complete() == completed, "job {id} is {:?} with {verified} of {total} tiles", job.state);
            let start = tiles.partition_point(|&(job, _)| job < id);
            let tasks: Vec<u32> = tiles[start..].iter().take_while(|&&(job, _)| job == id).map(|&(_, i)| i).collect();
            accounted += tasks.len();
            let fresh: Vec<_> = swarm.fresh.iter().filter(|f| f.job == id).collect();
            if job.state != JobState::Running {
                ensure!(tasks.is_empty() && fresh.is_empty(), "job {id} ended ({:?}) but has tasks", job.state);
                continue;
            }
            // One range from the submission, one per append to an open records job and one
            // per result computed again after a quarantine: they never overlap, so a tile
            // is fresh at most once.
            let mut ranges: Vec<(u32, u32)> = fresh.iter().map(|f| (f.next, f.end)).collect();
            ranges.sort_unstable();
            ensure!(ranges.windows(2).all(|w| w[0].1 <= w[1].0), "job {id} has overlapping fresh ranges: {ranges:?}");
            ensure!(fresh.iter().all(|f| f.end <= total), "job {id} has a fresh range past its {total} tiles");
            for index in 0..total {
                let in_fresh = fresh.iter().any(|f| (f.next..f.end).contains(&index));
                let in_tasks = tasks.binary_search(&index).is_ok();
                let done = job.is_done(index);
                // A fresh range may cover tiles verified before a restart; dispatch skips them.
                let once = if done { !in_tasks } else { in_fresh != in_tasks };
                ensure!(once, "tile {index} of job {id}: fresh {in_fresh}, task {in_tasks}, verified {done}");
            }
        }
        let orphans = tiles.len() - accounted;
        ensure!(orphans == 0, "{orphans} tasks belong to jobs that are gone");
        Ok(())
    }
}
