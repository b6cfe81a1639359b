//! The master's commands: throttle, run state, enabling and forgetting devices, jobs and
//! previews. Each is checked against the sender's swarm and role before it changes
//! anything; a device or job of another swarm answers `NotFound`.

use std::time::Instant;

use ostrich_protocol::{
    CommandErrorCode, DeviceId, JobId, JobKind, JobSpec, JobState, LogLevel, MasterCommand, PowerPolicy, Role,
    RunState, SwarmId, ToDevice,
};

use super::core::{CommandError, Core, Effect, tasks};
use super::quotas::unix_ms;
use super::swarm::{Fresh, SessionId};
use crate::{durable::SwarmControls, jobs::Job};

impl Core {
    /// A master command from a session. Answers what to tell the sender.
    pub fn command(
        &mut self,
        session: SessionId,
        command: MasterCommand,
        now: Instant,
    ) -> Result<ToDevice, CommandError> {
        let swarm_id = self.master_swarm(session)?;
        self.touch(swarm_id, unix_ms());
        match command {
            MasterCommand::SetThrottle { percent } => self.set_throttle(swarm_id, percent),
            MasterCommand::SetRunState { state } => self.set_run_state(swarm_id, state, now),
            MasterCommand::SetDeviceEnabled { device_id, enabled } => {
                self.set_enabled(swarm_id, device_id, enabled, now)
            }
            MasterCommand::SetPowerPolicy { policy } => self.set_power_policy(swarm_id, policy),
            MasterCommand::ForgetDevice { device_id } => self.forget_device(swarm_id, device_id),
            MasterCommand::SubmitJob { spec } => {
                let job_id = self.submit_job(swarm_id, spec, now)?;
                Ok(ToDevice::CommandOk { message: format!("job {job_id} accepted"), job_id: Some(job_id) })
            }
            MasterCommand::CancelJob { job_id } => {
                self.cancel_job(swarm_id, job_id)?;
                Ok(ok(format!("job {job_id} cancelled")))
            }
            MasterCommand::DeleteJob { job_id } => {
                self.delete_job(swarm_id, job_id)?;
                Ok(ok(format!("job {job_id} deleted")))
            }
            MasterCommand::SendPreview { job_id } => {
                let tiles = self.send_preview(session, swarm_id, job_id)?;
                Ok(ok(format!("preview of job {job_id}: {tiles} verified tiles sent again")))
            }
            MasterCommand::CreateInvite | MasterCommand::RevokeInvite { .. } => {
                Err((CommandErrorCode::InvalidValue, "invites are handled by the token authority".into()))
            }
        }
    }

    /// The swarm of a session whose device is a master, or `NotMaster`.
    pub fn master_swarm(&self, session: SessionId) -> Result<SwarmId, CommandError> {
        let not_master = || (CommandErrorCode::NotMaster, "only the swarm's master may do this".to_string());
        let (swarm_id, device_id) = self.session(session).ok_or_else(not_master)?;
        let device = self.swarms.get(&swarm_id).and_then(|s| s.devices.get(&device_id)).ok_or_else(not_master)?;
        if device.role == Role::Master { Ok(swarm_id) } else { Err(not_master()) }
    }

    fn set_throttle(&mut self, swarm_id: SwarmId, percent: u8) -> Result<ToDevice, CommandError> {
        if percent > 100 {
            return Err((CommandErrorCode::InvalidValue, format!("throttle {percent} is outside 0-100")));
        }
        self.swarm_mut(swarm_id)?.throttle = percent;
        self.keep_controls(swarm_id);
        self.broadcast(swarm_id, &ToDevice::Throttle { percent });
        self.log(swarm_id, LogLevel::Info, format!("throttle set to {percent} %"));
        Ok(ok(format!("throttle {percent} %")))
    }

    /// Keeps the swarm's controls in the store, so that a restart or a new owner (cluster
    /// mode) brings them back. (Idle and the running a submission starts need no write:
    /// both follow from the jobs when restored.)
    fn keep_controls(&mut self, swarm_id: SwarmId) {
        if let Some(swarm) = self.swarms.get(&swarm_id) {
            let (run_state, throttle, power_policy) = (swarm.run_state, swarm.throttle, swarm.power_policy);
            self.store.put_controls(swarm_id, SwarmControls { run_state, throttle, power_policy });
        }
    }

    fn set_run_state(&mut self, swarm_id: SwarmId, state: RunState, now: Instant) -> Result<ToDevice, CommandError> {
        if state == RunState::Idle {
            return Err((CommandErrorCode::InvalidValue, "idle is entered on its own when no job is left".into()));
        }
        self.swarm_mut(swarm_id)?.run_state = state;
        self.keep_controls(swarm_id);
        if state == RunState::Stopped {
            self.cancel_leases(swarm_id, |_| true);
        }
        self.broadcast(swarm_id, &ToDevice::RunState { state });
        self.log(swarm_id, LogLevel::Info, format!("run state set to {state:?}"));
        self.dispatch(swarm_id, now);
        Ok(ok(format!("run state {state:?}")))
    }

    fn set_enabled(
        &mut self,
        swarm_id: SwarmId,
        device_id: DeviceId,
        enabled: bool,
        now: Instant,
    ) -> Result<ToDevice, CommandError> {
        let swarm = self.swarm_mut(swarm_id)?;
        let virtual_time = swarm.virtual_time;
        let device = swarm
            .devices
            .get_mut(&device_id)
            .ok_or((CommandErrorCode::NotFound, "no such device in this swarm".into()))?;
        device.enabled = enabled;
        if enabled {
            device.quarantine = None;
            device.failures = 0;
            device.pass = device.pass.max(virtual_time);
        }
        let (name, session) = (device.name.clone(), device.session);
        if !enabled {
            self.cancel_leases(swarm_id, |d| d == device_id);
        }
        if let Some(swarm) = self.swarms.get_mut(&swarm_id) {
            swarm.offer(device_id);
        }
        if let Some(session) = session {
            self.out.push(Effect::Send(session, ToDevice::DeviceEnabled { enabled }));
        }
        let verb = if enabled { "enabled" } else { "disabled" };
        self.log(swarm_id, LogLevel::Info, format!("{name} {verb}"));
        self.dispatch(swarm_id, now);
        Ok(ok(format!("{name} {verb}")))
    }

    /// Sets the swarm's power policy and tells every device; each applies it unless it set
    /// its own.
    fn set_power_policy(&mut self, swarm_id: SwarmId, policy: PowerPolicy) -> Result<ToDevice, CommandError> {
        if !policy.is_valid() {
            let message = format!("a battery level of {} % is outside 0-100", policy.min_battery_percent);
            return Err((CommandErrorCode::InvalidValue, message));
        }
        self.swarm_mut(swarm_id)?.power_policy = policy;
        self.keep_controls(swarm_id);
        self.broadcast(swarm_id, &ToDevice::PowerPolicy { policy });
        let words = policy.describe();
        self.log(swarm_id, LogLevel::Info, format!("power policy: compute {words}"));
        Ok(ok(format!("power policy: compute {words}")))
    }

    /// Forgets an offline device of the swarm: its record and its resume credential, so it
    /// needs a new invite to come back. An online one is refused: it would only reappear.
    fn forget_device(&mut self, swarm_id: SwarmId, device_id: DeviceId) -> Result<ToDevice, CommandError> {
        let swarm = self.swarm_mut(swarm_id)?;
        let not_found = || (CommandErrorCode::NotFound, "no such device in this swarm".to_string());
        match swarm.devices.get(&device_id) {
            None => return Err(not_found()),
            Some(device) if device.session.is_some() => {
                let message = format!("{} is online: disable it, or forget it once it is offline", device.name);
                return Err((CommandErrorCode::InvalidValue, message));
            }
            Some(_) => {}
        }
        let device = swarm.devices.remove(&device_id).ok_or_else(not_found)?;
        if let Some(credential) = &device.resume_credential {
            self.resume.remove(credential);
            self.store.forget_resume(swarm_id, credential);
        }
        self.log(swarm_id, LogLevel::Info, format!("{} forgotten", device.name));
        Ok(ok(format!("{} forgotten", device.name)))
    }

    /// The next job's id: the next of the counter, or in cluster mode the next of a block
    /// reserved from the cluster's counter (swarms move between nodes, so a counter per
    /// node would collide), skipping any id a job here has.
    fn new_job_id(&mut self) -> Result<JobId, CommandError> {
        if !self.settings.cluster {
            return Ok(self.next_job);
        }
        loop {
            if self.job_ids.is_empty() {
                match self.store.reserve_job_ids() {
                    Ok(Some(block)) => self.job_ids = block,
                    Ok(None) => return Ok(self.next_job),
                    Err(reason) => return Err((CommandErrorCode::RateLimited, reason)),
                }
            }
            let id = self.job_ids.start;
            self.job_ids.start += 1;
            if self.store.get(id).is_none() {
                return Ok(id);
            }
        }
    }

    /// Accepts a job for a swarm; an idle swarm starts running.
    pub fn submit_job(&mut self, swarm_id: SwarmId, spec: JobSpec, now: Instant) -> Result<JobId, CommandError> {
        self.swarm_mut(swarm_id)?;
        let job_id = self.new_job_id()?;
        let job = Job::new(job_id, swarm_id, spec.clone(), &self.store.modules)
            .map_err(|e| (CommandErrorCode::InvalidValue, e.to_string()))?;
        self.check_job_quota(swarm_id, &job)?;
        self.next_job = self.next_job.max(job_id + 1);
        let count = job.task_count();
        let label = job.progress(0).label;
        self.store.insert(job);
        self.store.put_submission(job_id, &spec).map_err(|reason| (CommandErrorCode::RateLimited, reason))?;
        let swarm = self.swarms.get_mut(&swarm_id).ok_or((CommandErrorCode::NotFound, "no such swarm".into()))?;
        // An open records job may start with no records; its appends bring its ranges.
        if count > 0 {
            swarm.fresh.push_back(Fresh { job: job_id, next: 0, end: count });
        }
        let started = swarm.run_state == RunState::Idle;
        if started {
            swarm.run_state = RunState::Running;
            self.broadcast(swarm_id, &ToDevice::RunState { state: RunState::Running });
        }
        self.dirty_jobs.insert(job_id);
        self.log(swarm_id, LogLevel::Info, format!("job {job_id} ({label}) accepted: {}", tasks(u64::from(count))));
        self.dispatch(swarm_id, now);
        Ok(job_id)
    }

    /// Cancels a job of the swarm; its leased tasks are cancelled on the devices.
    pub fn cancel_job(&mut self, swarm_id: SwarmId, job_id: JobId) -> Result<(), CommandError> {
        let job = self
            .store
            .get_in(swarm_id, job_id)
            .ok_or((CommandErrorCode::NotFound, "no such job in this swarm".into()))?;
        if job.state != JobState::Running {
            return Err((CommandErrorCode::InvalidValue, format!("job {job_id} has already ended")));
        }
        self.end_job(job_id, JobState::Cancelled);
        // Its leases freed slots: fill them from the swarm's other jobs now, or a swarm whose
        // devices held only this job's tasks would wait for a work request that never comes.
        self.dispatch(swarm_id, Instant::now());
        Ok(())
    }

    /// Deletes a job of the swarm and its result, cancelling it first if it still runs.
    pub fn delete_job(&mut self, swarm_id: SwarmId, job_id: JobId) -> Result<(), CommandError> {
        let job = self
            .store
            .get_in(swarm_id, job_id)
            .ok_or((CommandErrorCode::NotFound, "no such job in this swarm".into()))?;
        if job.state == JobState::Running {
            self.end_job(job_id, JobState::Cancelled);
            self.dispatch(swarm_id, Instant::now());
        }
        self.store.remove(job_id);
        self.log(swarm_id, LogLevel::Info, format!("job {job_id} deleted"));
        Ok(())
    }

    /// Sends a message to every online device of a swarm.
    pub(super) fn broadcast(&mut self, swarm_id: SwarmId, message: &ToDevice) {
        if let Some(swarm) = self.swarms.get(&swarm_id) {
            self.out.extend(swarm.sessions(false).map(|s| Effect::Send(s, message.clone())));
        }
    }

    /// Sends the verified tiles of a Mandelbrot job of the swarm to one session; answers how
    /// many.
    fn send_preview(&mut self, session: SessionId, swarm_id: SwarmId, job_id: JobId) -> Result<usize, CommandError> {
        let job =
            self.store.get_in(swarm_id, job_id).ok_or((CommandErrorCode::NotFound, format!("no job {job_id}")))?;
        if job.kind() != JobKind::Mandelbrot {
            return Err((CommandErrorCode::InvalidValue, format!("job {job_id} is not a Mandelbrot render")));
        }
        let before = self.out.len();
        self.out
            .extend(job.verified_tiles().map(|(rect, iterations)| {
                Effect::Send(session, ToDevice::MandelbrotTile { job_id, rect, iterations })
            }));
        Ok(self.out.len() - before)
    }
}

fn ok(message: String) -> ToDevice {
    ToDevice::CommandOk { message, job_id: None }
}
