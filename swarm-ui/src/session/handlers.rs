//! How the session reacts: to its socket, its pool and its timers.

use gloo::timers::callback::{Interval, Timeout};
use ostrich_protocol::{
    Capabilities, HEARTBEAT_INTERVAL_MS, JoinCredential, LogLevel, RejectCode, Role, ToCoordinator, ToDevice, Welcome,
};

use super::{BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, Event, HELLO_WAIT_MS, IDLE_HEARTBEATS, Inner, MIN_IDLE_MS, post};
use crate::compute::PoolEvent;
use crate::control::Effect;
use crate::dom;
use crate::identity::Resume;
use crate::net::{CLOSE_INVALID, Socket, SocketEvent};
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
            Event::HelloWait => {
                self.hello_wait = None;
                self.hello_wait_over = true;
                self.send_hello();
            }
        }
    }

    fn on_socket(&mut self, event: SocketEvent) {
        match event {
            SocketEvent::Open => {
                self.last_heard_ms = dom::now_ms();
                let probing = self.pool.is_some() && !self.pool_ready && !self.hello_wait_over;
                if probing {
                    let weak = self.weak.clone();
                    self.hello_wait = Some(Timeout::new(HELLO_WAIT_MS, move || post(&weak, Event::HelloWait)));
                } else {
                    self.send_hello();
                }
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

    /// Says hello once the socket is open (and, on worker pages, the GPU probe is over).
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
        self.hello_wait = None;
        let platform = match self.kernel {
            Some(kernel) => format!("{} · {kernel}", self.boot.platform),
            None => self.boot.platform.clone(),
        };
        let hello = ToCoordinator::Hello {
            device_id: self.boot.device_id,
            name: self.boot.name.clone(),
            capabilities: Capabilities {
                logical_cores: self.boot.cores,
                memory_mb: self.boot.memory_mb,
                gpu: self.gpu.clone(),
                ops_score: self.ops_score,
                platform,
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
                if self.welcome.as_ref().is_some_and(|w| w.role == Role::Worker) {
                    let effects = self.control.on_message(&message);
                    self.run(effects);
                }
                self.dispatch.dispatch(Action::Received { message: Box::new(message), now_ms });
            }
            message => self.dispatch.dispatch(Action::Received { message: Box::new(message), now_ms }),
        }
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
        if welcome.role == Role::Worker {
            let effects = self.control.welcomed(&welcome);
            self.run(effects);
            if self.ops_score > 0 {
                self.send(&ToCoordinator::Benchmark { ops_score: self.ops_score });
            }
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
            PoolEvent::Ready { kernel, gpu } => {
                if self.kernel.is_some_and(|k| k != kernel) {
                    self.log(LogLevel::Warn, format!("the kernel is now {kernel}"));
                }
                self.pool_ready = true;
                self.kernel = Some(kernel);
                self.gpu.clone_from(&gpu);
                self.dispatch.dispatch(Action::PoolReady { kernel: kernel.to_string(), gpu });
                self.send_hello();
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
            PoolEvent::Threads { running } => self.dispatch.dispatch(Action::Threads(running)),
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

    /// Carries out the worker loop's decisions on the pool and the socket.
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
    }
}

/// A wait between half and all of `backoff_ms`, so pages that lost the same coordinator do
/// not all come back at the same instant.
fn jittered(backoff_ms: u32) -> u32 {
    let fraction = 0.5 + js_sys::Math::random() * 0.5;
    (f64::from(backoff_ms) * fraction) as u32
}
