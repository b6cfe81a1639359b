//! What the user asks of the session: commands for the swarm, joining, leaving, renaming,
//! pausing this device.

use ostrich_protocol::{JobId, JobSpec, JoinCredential, LogLevel, MasterCommand};

use super::{BACKOFF_INITIAL_MS, Session};
use crate::control::Pause;
use crate::dom;
use crate::net::CLOSE_NORMAL;
use crate::power::PolicyChoice;
use crate::route::Plan;
use crate::state::Action;

impl Session {
    /// Writes a line of the page's own to the terminal.
    pub fn log(&self, level: LogLevel, message: String) {
        self.0.borrow().log(level, message);
    }

    /// Sends a master command; false when there is no welcomed session to carry it.
    pub fn command(&self, command: MasterCommand) -> bool {
        self.0.borrow_mut().command(command)
    }

    /// Submits a job, remembering its spec for the preview.
    pub fn submit_job(&self, spec: JobSpec) -> bool {
        let mut inner = self.0.borrow_mut();
        if !inner.can_send() {
            inner.log(LogLevel::Warn, "not connected: the job was not submitted".into());
            return false;
        }
        inner.dispatch.dispatch(Action::JobSubmitted(spec.clone()));
        inner.command(MasterCommand::SubmitJob { spec })
    }

    /// Asks for a new invite.
    pub fn create_invite(&self) {
        let mut inner = self.0.borrow_mut();
        if inner.can_send() {
            inner.dispatch.dispatch(Action::InviteRequested);
        }
        inner.command(MasterCommand::CreateInvite);
    }

    /// Revokes an invite.
    pub fn revoke_invite(&self, token: String) {
        let mut inner = self.0.borrow_mut();
        if inner.command(MasterCommand::RevokeInvite { token }) {
            inner.dispatch.dispatch(Action::InviteRevoked);
        }
    }

    /// Deletes a job and its result.
    pub fn delete_job(&self, job_id: JobId) {
        let mut inner = self.0.borrow_mut();
        if inner.command(MasterCommand::DeleteJob { job_id }) {
            inner.dispatch.dispatch(Action::JobDeleted(job_id));
        }
    }

    /// Pauses or resumes this device: paused, it asks for no work and tasks in flight finish.
    pub fn set_local_pause(&self, paused: bool) {
        let mut inner = self.0.borrow_mut();
        inner.dispatch.dispatch(Action::LocalPause(paused));
        let effects = inner.control.set_paused(Pause::Local, paused);
        inner.run(effects);
    }

    /// Turns "Compute here" on or off (the master's page): off, this browser keeps no
    /// compute threads and asks for no tasks; the ones it holds finish and are sent.
    pub fn set_compute_here(&self, on: bool) {
        let mut inner = self.0.borrow_mut();
        inner.identity.set_compute_here(on);
        inner.dispatch.dispatch(Action::ComputeHere(on));
        let effects = inner.control.set_computing(on);
        inner.run(effects);
    }

    /// Sets this device's own power policy, or follows the swarm's again.
    pub fn set_power_choice(&self, choice: PolicyChoice) {
        let mut inner = self.0.borrow_mut();
        inner.identity.set_power_policy(choice);
        inner.power.own = choice.policy();
        inner.apply_power();
    }

    /// Turns "Keep the screen on" on or off.
    pub fn set_wake_lock(&self, on: bool) {
        let inner = self.0.borrow();
        inner.identity.set_wake_lock(on);
        inner.wake_lock.set_wanted(on, inner.computing(), &inner.dispatch);
    }

    /// Renames this device; the name reaches the coordinator with a fresh hello.
    pub fn rename(&self, name: &str) {
        let mut inner = self.0.borrow_mut();
        let Some(name) = inner.identity.set_device_name(name) else {
            return;
        };
        if name == inner.boot.name {
            return;
        }
        inner.boot.name.clone_from(&name);
        inner.dispatch.dispatch(Action::Renamed(name.clone()));
        if inner.welcome.is_some() {
            inner.log(LogLevel::Info, format!("renamed to {name}; reconnecting to tell the coordinator"));
            inner.drop_socket();
            inner.connect();
        }
    }

    /// Joins with a typed code.
    pub fn join(&self, code: String) {
        let mut inner = self.0.borrow_mut();
        dom::replace_url(&format!("/join?token={code}"));
        inner.dispatch.dispatch(Action::JoinRequested { code: code.clone() });
        inner.plan = Plan::Worker { credential: JoinCredential::Invite { token: code.clone() }, token: Some(code) };
        inner.halted = false;
        inner.backoff_ms = BACKOFF_INITIAL_MS;
        inner.drop_socket();
        inner.connect();
    }

    /// Forgets a master key the coordinator refused and creates a new swarm.
    pub fn new_swarm(&self) {
        let mut inner = self.0.borrow_mut();
        inner.identity.clear_master_key();
        inner.dispatch.dispatch(Action::NewSwarmRequested);
        inner.plan = Plan::Master { key: None };
        inner.halted = false;
        inner.drop_socket();
        inner.connect();
    }

    /// Connects again after the user was told why the page stopped (another tab took over).
    pub fn reconnect_now(&self) {
        let mut inner = self.0.borrow_mut();
        inner.halted = false;
        inner.backoff_ms = BACKOFF_INITIAL_MS;
        inner.drop_socket();
        inner.connect();
    }

    /// Leaves the swarm: forgets the worker role and credential, stops computing, closes the
    /// socket and goes to `/`, which shows the landing page (unless this browser also holds a
    /// master key, whose dashboard it then shows).
    pub fn leave(&self) {
        let mut inner = self.0.borrow_mut();
        inner.halted = true;
        inner.identity.forget_resume();
        inner.identity.set_role(None);
        if let Some(socket) = &inner.socket {
            socket.close(CLOSE_NORMAL, "the device left");
        }
        inner.drop_socket();
        if let Some(pool) = &inner.pool {
            pool.set_threads(0);
        }
        dom::navigate("/");
    }
}
