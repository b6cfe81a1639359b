//! How the session reacts: to its socket, its pool and its timers.

use gloo::timers::callback::{Interval, Timeout};
use ostrich_protocol::{
    Capabilities, HEARTBEAT_INTERVAL_MS, JoinCredential, LogLevel, RejectCode, Role, ToCoordinator, ToDevice, Welcome,
};

use super::{BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, Event, IDLE_HEARTBEATS, Inner, MIN_IDLE_MS, post};
use crate::compute::PoolEvent;
use crate::control::{Effect, Pause};
use crate::dom;
use crate::identity::Resume;
use crate::net::{CLOSE_INVALID, Socket, SocketEvent};
use crate::power::BatteryView;
use crate::route::Plan;
use crate::state::{Action, CredentialKind};

/// The coordinator's close reason when another session of this device took over.
const REPLACED: &str = "replaced by a newer session";

impl Inner {
    pub(super) fn handle(&mut self, event: Event) {
        match event {
            Event::Socket(generation, event) if generation == self.generation => self.on_socket(event),
            Event::Socket(..) => {}
            Event::Pool(event) => self.on_pool(event),
            Event::Heartbeat => self.on_heartbeat(),
            Event::Reconnect => {
                self.reconnect = None;
                if !self.halted {
                    self.connect();
                }
            }
            Event::Battery(battery) => {
                self.power.battery = battery.map_or(BatteryView::Missing, BatteryView::Present);
                self.apply_power();
            }
            Event::Visibility(hidden) => {
                self.dispatch.dispatch(Action::Hidden(hidden));
                let effects = self.control.set_paused(Pause::Hidden, hidden);
                self.run(effects);
            }
        }
    }

    fn on_socket(&mut self, event: SocketEvent) {
        match event {
            SocketEvent::Open => {
                self.last_heard_ms = dom::now_ms();
                self.send_hello();
            }
            SocketEvent::Message(message) => {
                self.last_heard_ms = dom::now_ms();
                self.on_message(*message);
            }
            SocketEvent::Malformed(reason) => {
                let reason = format!("undecodable frame from the coordinator: {reason}");
                if let Some(socket) = &self.socket {
                    socket.close(CLOSE_INVALID, "undecodable frame");
                }
                self.lost(reason);
            }
            SocketEvent::Closed { code, reason } => {
                let reason = if reason.is_empty() { format!("connection closed (code {code})") } else { reason };
                self.lost(reason);
            }
        }
    }

    /// Says hello once the socket is open. It does not wait for the kernel measurements:
    /// they follow as a `Kernels` report, which also says whether the GPU is used.
    fn send_hello(&mut self) {
        let open = self.socket.as_ref().is_some_and(Socket::is_open);
        let credential = match &self.plan {
            Plan::Master { key } => JoinCredential::Master { key: key.clone() },
            Plan::Worker { credential, .. } => credential.clone(),
            Plan::AskForCode | Plan::Landing => return,
        };
        if !open || self.hello_sent {
            return;
        }
        let gpu = self.kernels.as_ref().filter(|k| k.matmul.uses_gpu()).and_then(|k| k.gpu.as_ref());
        let hello = ToCoordinator::Hello {
            device_id: self.boot.device_id,
            name: self.boot.name.clone(),
            capabilities: Capabilities {
                logical_cores: self.boot.cores,
                memory_mb: self.boot.memory_mb,
                gpu: gpu.map(|g| g.info.clone()),
                ops_score: self.ops_score,
                platform: self.boot.platform.clone(),
                runtime: ostrich_protocol::WasmRuntime::Browser,
            },
            credential,
        };
        self.hello_sent = self.send(&hello);
    }

    fn on_message(&mut self, message: ToDevice) {
        let now_ms = dom::now_ms();
        match message {
            ToDevice::Welcome(welcome) => self.on_welcome(welcome, now_ms),
            ToDevice::Rejected { code, message } => self.on_rejected(code, &message),
            ToDevice::Assign { .. } | ToDevice::Cancel { .. } => {
                let effects = self.control.on_message(&message);
                self.run(effects);
            }
            message @ (ToDevice::Throttle { .. } | ToDevice::RunState { .. } | ToDevice::DeviceEnabled { .. }) => {
                if self.pool.is_some() {
                    let effects = self.control.on_message(&message);
                    self.run(effects);
                }
                self.dispatch.dispatch(Action::Received { message: Box::new(message), now_ms });
            }
            ToDevice::PowerPolicy { policy } => {
                self.power.swarm = policy;
                self.apply_power();
            }
            ToDevice::Module { module, bytes } => {
                if let Some(pool) = &self.pool {
                    pool.module_arrived(module, bytes.map(|b| b.0));
                }
            }
            message => self.dispatch.dispatch(Action::Received { message: Box::new(message), now_ms }),
        }
    }

    /// Shows the power view and pauses or resumes asking for work as its policy says.
    pub(super) fn apply_power(&mut self) {
        self.dispatch.dispatch(Action::Power(self.power));
        let effects = self.control.set_paused(Pause::Power, self.power.pause().is_some());
        self.run(effects);
    }

    fn on_welcome(&mut self, welcome: Welcome, now_ms: f64) {
        self.backoff_ms = BACKOFF_INITIAL_MS;
        self.identity.set_role(Some(welcome.role));
        match welcome.role {
            Role::Master => {
                if let Some(key) = &welcome.master_key {
                    self.identity.set_master_key(key);
                    self.plan = Plan::Master { key: Some(key.clone()) };
                }
                // `/new` created the swarm; a reload of the dashboard resumes it from `/`.
                dom::replace_url("/");
            }
            Role::Worker => {
                let token = match &self.plan {
                    Plan::Worker { token, .. } => token.clone(),
                    _ => None,
                };
                if let Some(credential) = &welcome.resume_credential {
                    self.identity.set_resume(&Resume { credential: credential.clone(), token: token.clone() });
                    let credential = JoinCredential::Resume { credential: credential.clone() };
                    self.plan = Plan::Worker { credential, token };
                }
            }
        }
        let period = match welcome.heartbeat_interval_ms {
            0 => HEARTBEAT_INTERVAL_MS,
            ms => ms.max(100),
        };
        self.heartbeat_ms = f64::from(period);
        let weak = self.weak.clone();
        self.heartbeat = Some(Interval::new(period, move || post(&weak, Event::Heartbeat)));
        self.welcome = Some(welcome.clone());
        // The swarm's policy first, so the welcomed control's first work request follows it.
        self.power.swarm = welcome.power_policy;
        self.apply_power();
        if self.pool.is_some() {
            let effects = self.control.welcomed(&welcome);
            self.run(effects);
            if self.ops_score > 0 {
                self.send(&ToCoordinator::Benchmark { ops_score: self.ops_score });
            }
            self.send_kernels();
        }
        self.dispatch.dispatch(Action::Received { message: Box::new(ToDevice::Welcome(welcome)), now_ms });
    }

    fn on_rejected(&mut self, code: RejectCode, message: &str) {
        let presented = match &self.plan {
            Plan::Master { .. } => CredentialKind::Master,
            Plan::Worker { credential: JoinCredential::Resume { .. }, .. } => CredentialKind::Resume,
            _ => CredentialKind::Invite,
        };
        self.log(LogLevel::Warn, format!("the coordinator refused this device ({code:?}): {message}"));
        if code == RejectCode::InvalidCredential && presented == CredentialKind::Resume {
            self.identity.forget_resume();
            if let Plan::Worker { token: Some(token), .. } = &self.plan {
                let token = token.clone();
                self.log(LogLevel::Info, format!("joining again with code {token}"));
                self.plan =
                    Plan::Worker { credential: JoinCredential::Invite { token: token.clone() }, token: Some(token) };
                self.drop_socket();
                self.connect();
                return;
            }
            self.identity.set_role(None);
        }
        self.halted = true;
        self.drop_socket();
        self.dispatch.dispatch(Action::Rejected { code, credential: presented });
    }

    fn on_pool(&mut self, event: PoolEvent) {
        match event {
            PoolEvent::Kernels(mut report) => {
                let previous = self.kernels.as_ref().map(|k| k.matmul);
                if previous.is_some_and(|p| p != report.matmul) {
                    self.log(LogLevel::Warn, format!("matrix products now run on {}", report.matmul.label()));
                }
                report.threads = self.pool.as_ref().map_or(0, |p| p.threads());
                self.kernels = Some(report.clone());
                self.dispatch.dispatch(Action::Kernels(report));
                self.send_kernels();
            }
            PoolEvent::Benchmark { ops_score } => {
                self.ops_score = ops_score;
                self.dispatch.dispatch(Action::Benchmarked(ops_score));
                if self.welcome.is_some() && ops_score > 0 {
                    self.send(&ToCoordinator::Benchmark { ops_score });
                }
            }
            PoolEvent::Done { task_id, output } => {
                if let Some(frame) = self.control.done(task_id, output)
                    && self.send(&frame)
                {
                    self.dispatch.dispatch(Action::TaskComputed);
                }
            }
            PoolEvent::Failed { task_id, reason } => {
                if let Some(frame) = self.control.failed(task_id, reason.clone())
                    && self.send(&frame)
                {
                    self.log(LogLevel::Warn, format!("task {task_id} failed here: {reason}"));
                    self.dispatch.dispatch(Action::TaskFailed);
                }
            }
            PoolEvent::NeedModule(module) => {
                self.send(&ToCoordinator::FetchModule { module });
            }
            PoolEvent::Threads { running } => {
                self.dispatch.dispatch(Action::Threads(running));
                if let Some(report) = &mut self.kernels {
                    report.threads = running;
                    self.dispatch.dispatch(Action::Kernels(report.clone()));
                }
                self.send_kernels();
            }
        }
    }

    fn on_heartbeat(&mut self) {
        let idle_limit = (self.heartbeat_ms * f64::from(IDLE_HEARTBEATS)).max(MIN_IDLE_MS);
        if dom::now_ms() - self.last_heard_ms > idle_limit {
            self.lost(format!("nothing heard for {} s", (idle_limit / 1000.0).round()));
        } else {
            self.send(&ToCoordinator::Heartbeat);
        }
    }

    /// The socket is gone: stop what it leased, then reconnect after a backoff, unless the
    /// user has to act first.
    pub(super) fn lost(&mut self, reason: String) {
        self.drop_socket();
        if self.halted {
            return;
        }
        if reason.contains(REPLACED) {
            self.halted = true;
            let reason = "This device connected again from another tab or window".to_string();
            self.log(LogLevel::Warn, reason.clone());
            self.dispatch.dispatch(Action::Halted { reason });
            return;
        }
        let wait = jittered(self.backoff_ms);
        self.log(LogLevel::Warn, format!("{reason}; reconnecting in {:.1} s", f64::from(wait) / 1000.0));
        self.dispatch.dispatch(Action::Disconnected { reason });
        self.backoff_ms = (self.backoff_ms * 2).min(BACKOFF_MAX_MS);
        let weak = self.weak.clone();
        self.reconnect = Some(Timeout::new(wait, move || post(&weak, Event::Reconnect)));
    }

    /// Sends the kernel report, when welcomed and when it changed since the last one sent.
    fn send_kernels(&mut self) {
        if self.welcome.is_none() || self.kernels == self.kernels_sent {
            return;
        }
        if let Some(report) = self.kernels.clone()
            && self.send(&ToCoordinator::Kernels(report.clone()))
        {
            self.kernels_sent = Some(report);
        }
    }

    /// Whether this device takes work now: welcomed, and asking for tasks.
    pub(super) fn computing(&self) -> bool {
        self.welcome.is_some() && self.control.wanted_slots() > 0
    }

    /// Carries out the worker loop's decisions on the pool and the socket, then holds or
    /// releases the wake lock to match.
    pub(super) fn run(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            if let Effect::Send(message) = &effect {
                self.send(message);
                continue;
            }
            let Some(pool) = &self.pool else {
                continue;
            };
            match effect {
                Effect::SetThreads(n) => pool.set_threads(n),
                Effect::Submit(task) => pool.submit(task),
                Effect::Cancel(ids) => pool.cancel(&ids),
                Effect::StopAll => pool.stop(),
                Effect::Send(_) => {}
            }
        }
        self.wake_lock.sync(self.computing(), &self.dispatch);
    }
}

/// A wait between half and all of `backoff_ms`, so pages that lost the same coordinator do
/// not all come back at the same instant.
fn jittered(backoff_ms: u32) -> u32 {
    let fraction = 0.5 + js_sys::Math::random() * 0.5;
    (f64::from(backoff_ms) * fraction) as u32
}
