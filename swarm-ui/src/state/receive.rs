//! How the state takes in what the coordinator says.

use std::collections::BTreeSet;

use ostrich_protocol::{
    CommandErrorCode, JobId, JobProgress, JobSpec, LogLevel, RejectCode, Role, Snapshot, ToDevice, Welcome,
};

use super::{
    Connection, CredentialKind, HISTORY_POINTS, InviteView, LOG_LINES, LogEntry, Page, Preview, PreviewSpec, State,
    credential_refused_message, reject_message,
};

/// How many of the latest log lines a live line is compared with, to drop an echo of the
/// welcome's history.
const LOG_ECHO: usize = 4;

impl State {
    pub(super) fn receive(&mut self, message: ToDevice, now_ms: f64) {
        match message {
            ToDevice::Welcome(welcome) => self.welcomed(welcome),
            // The session turns a refusal into `Action::Rejected`, which says what was
            // presented; tasks go straight to the pool; the session owns the power view and
            // shows it with `Action::Power`.
            ToDevice::Rejected { .. }
            | ToDevice::Assign { .. }
            | ToDevice::Cancel { .. }
            | ToDevice::PowerPolicy { .. }
            | ToDevice::Module { .. } => {}
            ToDevice::Throttle { percent } => self.throttle = percent.min(100),
            ToDevice::RunState { state } => self.run_state = state,
            ToDevice::DeviceEnabled { enabled } => self.enabled = enabled,
            ToDevice::Snapshot(snapshot) => self.snapshot(snapshot),
            ToDevice::JobProgress(progress) => self.merge_progress(progress),
            ToDevice::MandelbrotTile { job_id, rect, iterations } => {
                if let Some(preview) = self.previews.get_mut(&job_id) {
                    preview.add_tile(rect, &iterations);
                }
            }
            ToDevice::InviteCreated(invite) => {
                let expires_at_ms = now_ms + f64::from(invite.expires_in_s) * 1000.0;
                self.invite = Some(InviteView { invite, expires_at_ms, revoked: false });
                self.invite_pending = false;
                self.invite_error = None;
            }
            ToDevice::CommandOk { job_id, .. } => {
                if let Some(job_id) = job_id
                    && let Some(spec) = self.pending_specs.pop_front()
                    && let JobSpec::Mandelbrot(spec) = spec
                {
                    self.previews.insert(job_id, Preview::new(PreviewSpec::from(&spec)));
                }
            }
            ToDevice::CommandError { code, message } => self.command_error(code, message, now_ms),
            ToDevice::Log(line) => {
                let entry = LogEntry { at_ms: line.at_ms, level: line.level, message: line.message };
                // The welcome's history ends with the line of this very join, also sent live.
                if !self.log.iter().rev().take(LOG_ECHO).any(|e| *e == entry) {
                    self.push_log(entry);
                }
            }
        }
    }

    fn welcomed(&mut self, welcome: Welcome) {
        self.connection = Connection::Connected;
        self.throttle = welcome.throttle.min(100);
        self.run_state = welcome.run_state;
        self.enabled = welcome.enabled;
        self.page = match welcome.role {
            Role::Master => Page::Dashboard,
            Role::Worker => Page::Worker,
        };
        if welcome.master_key.is_some() {
            self.master_key.clone_from(&welcome.master_key);
        }
        if welcome.role == Role::Master {
            // The coordinator's history replaces what this page showed: a reload lost it, a
            // reconnection missed what happened meanwhile.
            self.log = welcome
                .log
                .iter()
                .rev()
                .take(LOG_LINES)
                .rev()
                .map(|l| LogEntry { at_ms: l.at_ms, level: l.level, message: l.message.clone() })
                .collect();
        }
        self.master_key_refused = false;
        self.join_error = None;
        self.welcome = Some(welcome);
    }

    pub(super) fn rejected(&mut self, code: RejectCode, credential: CredentialKind) {
        let message = match (code, credential) {
            (RejectCode::InvalidCredential, CredentialKind::Master) => {
                self.master_key_refused = true;
                credential_refused_message(Role::Master)
            }
            (RejectCode::InvalidCredential, CredentialKind::Resume) => credential_refused_message(Role::Worker),
            _ => reject_message(code),
        };
        if credential == CredentialKind::Master {
            self.connection = Connection::Halted { reason: message.to_string() };
            self.totals = None;
            self.devices.clear();
        } else {
            self.page = Page::Join;
            self.join_error = Some(message.to_string());
            self.connection = Connection::Idle;
        }
        self.welcome = None;
    }

    fn snapshot(&mut self, snapshot: Snapshot) {
        let totals = match snapshot {
            Snapshot::Master { totals, devices, jobs, usage } => {
                self.usage = Some(usage);
                let listed: BTreeSet<JobId> = jobs.iter().map(|j| j.job_id).collect();
                self.previews.retain(|id, preview| {
                    let now_listed = listed.contains(id);
                    let keep = now_listed || !preview.listed;
                    preview.listed |= now_listed;
                    keep
                });
                self.devices = devices;
                self.jobs = jobs.into_iter().filter(|j| !self.deleted_jobs.contains(&j.job_id)).collect();
                for job in &self.jobs {
                    if let Some(view) = &job.view {
                        self.previews.entry(job.job_id).or_insert_with(|| Preview::listed(PreviewSpec::from(view)));
                    }
                }
                totals
            }
            Snapshot::Worker { totals, me } => {
                self.worker.me = Some(me);
                totals
            }
        };
        // The throttle and run state come from `Throttle` and `RunState`, which the coordinator
        // sends on every change: a snapshot built just before a change can arrive just after it.
        if self.history.len() >= HISTORY_POINTS {
            self.history.pop_front();
        }
        self.history.push_back(totals.tasks_per_sec.max(0.0));
        self.totals = Some(totals);
    }

    fn merge_progress(&mut self, progress: JobProgress) {
        if self.deleted_jobs.contains(&progress.job_id) {
            return;
        }
        if let Some(view) = &progress.view {
            self.previews.entry(progress.job_id).or_insert_with(|| Preview::new(PreviewSpec::from(view)));
        }
        match self.jobs.iter_mut().find(|j| j.job_id == progress.job_id) {
            Some(job) => *job = progress,
            None => self.jobs.push(progress),
        }
    }

    fn command_error(&mut self, code: CommandErrorCode, message: String, now_ms: f64) {
        // The page sends no other command with an out-of-range value (the cancel button shows
        // only for running jobs), so an `InvalidValue` answers the oldest job submission; so
        // does a quota refusal, unless an invite was asked for.
        let about_a_job = match code {
            CommandErrorCode::InvalidValue | CommandErrorCode::TooLarge => true,
            CommandErrorCode::QuotaExceeded => !self.invite_pending,
            _ => false,
        };
        if about_a_job {
            self.pending_specs.pop_front();
        }
        let text = match code {
            CommandErrorCode::RateLimited => {
                format!("Too many invites in the last minute — wait and try again ({message})")
            }
            CommandErrorCode::NotMaster => format!("Only the swarm's master may do that ({message})"),
            CommandErrorCode::InvalidValue => format!("Refused: {message}"),
            CommandErrorCode::NotFound => format!("Not found: {message}"),
            CommandErrorCode::QuotaExceeded | CommandErrorCode::TooLarge => {
                format!("Over the swarm's quota: {message}")
            }
        };
        if self.invite_pending {
            self.invite_pending = false;
            self.invite_error = Some(text.clone());
        } else {
            self.notice = Some(text.clone());
        }
        self.push_log(LogEntry { at_ms: now_ms as u64, level: LogLevel::Error, message: text });
    }

    pub(super) fn push_log(&mut self, entry: LogEntry) {
        while self.log.len() >= LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(entry);
    }
}
