//! The page's side effects: one [`Session`] owns the socket to the coordinator, the compute
//! pool (worker pages), the timers (heartbeat, reconnect, hello wait) and the stored
//! identity. Every browser event is posted to a task and handled there, so no handler runs
//! inside another; what the user sees changes only through the reducer's [`Action`]s.

mod actions;
mod handlers;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo::timers::callback::{Interval, Timeout};
use ostrich_protocol::{DeviceId, KernelReport, LogLevel, MasterCommand, ToCoordinator, Welcome};
use yew::UseReducerDispatcher;

use crate::compute::{ComputePool, KernelPreference, PoolEvent, thread_count};
use crate::control::{Pause, WorkerControl};
use crate::dom;
use crate::identity::Identity;
use crate::net::{Socket, SocketEvent};
use crate::route::Plan;
use crate::state::{Action, State};

/// The first wait before reconnecting; it doubles after each failed attempt.
pub const BACKOFF_INITIAL_MS: u32 = 200;
/// The longest wait between reconnection attempts.
pub const BACKOFF_MAX_MS: u32 = 5_000;
/// A session that hears nothing for this many heartbeat intervals is considered dead...
pub const IDLE_HEARTBEATS: u32 = 3;
/// ...but never sooner than this, so a short heartbeat does not outpace the snapshots.
pub const MIN_IDLE_MS: f64 = 30_000.0;

/// What the page knows at load time.
#[derive(Debug, Clone)]
pub struct Boot {
    /// How to join.
    pub plan: Plan,
    /// This device.
    pub device_id: DeviceId,
    /// Its display name.
    pub name: String,
    /// Operating system and browser, for the device table.
    pub platform: String,
    /// `navigator.hardwareConcurrency`.
    pub cores: u32,
    /// `navigator.deviceMemory` in MiB, 0 when the browser hides it.
    pub memory_mb: u32,
    /// The kernel path the user asked for.
    pub kernel_preference: KernelPreference,
    /// The master's "Compute here" switch, as stored.
    pub compute_here: bool,
}

/// A cheap handle on the page's session; components reach it through a context.
#[derive(Clone)]
pub struct Session(Rc<RefCell<Inner>>);

impl PartialEq for Session {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// Something to handle in a task of its own.
enum Event {
    Socket(u32, SocketEvent),
    Pool(PoolEvent),
    Heartbeat,
    Reconnect,
    /// The page became hidden or visible.
    Visibility(bool),
    /// The battery changed (`None`: the browser has no Battery Status API).
    Battery(Option<ostrich_protocol::Battery>),
}

struct Inner {
    weak: Weak<RefCell<Inner>>,
    dispatch: UseReducerDispatcher<State>,
    identity: Identity,
    boot: Boot,
    plan: Plan,
    socket: Option<Socket>,
    /// Bumped for every socket, so late events of an older one are ignored.
    generation: u32,
    welcome: Option<Welcome>,
    hello_sent: bool,
    heartbeat: Option<Interval>,
    heartbeat_ms: f64,
    reconnect: Option<Timeout>,
    backoff_ms: u32,
    last_heard_ms: f64,
    /// No reconnection until the user acts.
    halted: bool,
    pool: Option<ComputePool>,
    /// The pool's kernel report, with the thread count kept current; `sent` is what the
    /// coordinator last got.
    kernels: Option<KernelReport>,
    kernels_sent: Option<KernelReport>,
    ops_score: u32,
    control: WorkerControl,
    wake_lock: crate::wake_lock::WakeLock,
    /// The battery and the power policies.
    power: crate::power::PowerView,
    /// Keeps the `visibilitychange` listener alive.
    _visibility: Option<dom::Listener>,
    /// Keeps the battery's listeners alive.
    _battery: Option<Rc<RefCell<crate::battery::BatteryWatch>>>,
}

/// Handles `event` in a task of its own, if the session still exists.
fn post(weak: &Weak<RefCell<Inner>>, event: Event) {
    let weak = weak.clone();
    wasm_bindgen_futures::spawn_local(async move {
        if let Some(inner) = weak.upgrade() {
            inner.borrow_mut().handle(event);
        }
    });
}

impl Session {
    /// A session for `boot`; pages that may compute (a worker's, and a master's: it computes
    /// too unless "Compute here" is off) start their pool (benchmark and GPU measurement) at
    /// once. Nothing connects before [`Session::start`].
    pub fn new(dispatch: UseReducerDispatcher<State>, boot: Boot) -> Self {
        let needs_pool = !matches!(boot.plan, Plan::Landing);
        let inner = Rc::new_cyclic(|weak| {
            RefCell::new(Inner {
                weak: weak.clone(),
                dispatch,
                identity: Identity::local(),
                plan: boot.plan.clone(),
                control: WorkerControl::new(boot.cores),
                boot,
                socket: None,
                generation: 0,
                welcome: None,
                hello_sent: false,
                heartbeat: None,
                heartbeat_ms: f64::from(ostrich_protocol::HEARTBEAT_INTERVAL_MS),
                reconnect: None,
                backoff_ms: BACKOFF_INITIAL_MS,
                last_heard_ms: 0.0,
                halted: false,
                pool: None,
                kernels: None,
                kernels_sent: None,
                ops_score: 0,
                wake_lock: crate::wake_lock::WakeLock::new(Identity::local().wake_lock()),
                power: crate::power::PowerView {
                    own: Identity::local().power_policy(),
                    ..crate::power::PowerView::default()
                },
                _visibility: None,
                _battery: None,
            })
        });
        if needs_pool {
            let weak = Rc::downgrade(&inner);
            let (preference, cores) = (inner.borrow().boot.kernel_preference, inner.borrow().boot.cores);
            let on_event = yew::Callback::from(move |e| post(&weak, Event::Pool(e)));
            let pool = ComputePool::new(preference, thread_count(cores, 100), on_event);
            inner.borrow_mut().pool = Some(pool);
        }
        {
            let mut guard = inner.borrow_mut();
            let computing = !matches!(guard.plan, Plan::Master { .. }) || guard.boot.compute_here;
            let mut effects = guard.control.set_computing(computing);
            effects.extend(guard.control.set_paused(Pause::Hidden, dom::hidden()));
            guard.run(effects);
            let weak = Rc::downgrade(&inner);
            guard._visibility = dom::on_visibility_change(move |hidden| post(&weak, Event::Visibility(hidden)));
            if needs_pool {
                let weak = Rc::downgrade(&inner);
                guard._battery = Some(crate::battery::watch(move |battery| post(&weak, Event::Battery(battery))));
            }
        }
        Self(inner)
    }

    /// Connects, unless the page waits for a code.
    pub fn start(&self) {
        let mut inner = self.0.borrow_mut();
        if !matches!(inner.plan, Plan::AskForCode | Plan::Landing) {
            inner.connect();
        }
    }
}

impl Inner {
    fn can_send(&self) -> bool {
        self.welcome.is_some() && self.socket.as_ref().is_some_and(Socket::is_open)
    }

    fn command(&mut self, command: MasterCommand) -> bool {
        if !self.can_send() {
            self.log(LogLevel::Warn, "not connected: the command was not sent".into());
            return false;
        }
        self.send(&ToCoordinator::Command(command))
    }

    /// Sends a frame on the open socket; false (and a log line) when it cannot.
    fn send(&mut self, message: &ToCoordinator) -> bool {
        let Some(socket) = &self.socket else {
            return false;
        };
        match socket.send(message) {
            Ok(()) => true,
            Err(error) => {
                self.log(LogLevel::Error, error);
                false
            }
        }
    }

    fn log(&self, level: LogLevel, message: String) {
        self.dispatch.dispatch(Action::LocalLog { level, message, at_ms: dom::now_ms() as u64 });
    }

    /// Opens a socket to the page's own coordinator.
    fn connect(&mut self) {
        self.reconnect = None;
        self.generation = self.generation.wrapping_add(1);
        self.hello_sent = false;
        self.dispatch.dispatch(Action::Connecting);
        let (weak, generation) = (self.weak.clone(), self.generation);
        match Socket::open(&dom::ws_url(), move |event| post(&weak, Event::Socket(generation, event))) {
            Ok(socket) => self.socket = Some(socket),
            Err(reason) => self.lost(reason),
        }
    }

    /// Drops the socket and its timers; whatever the pool computes for it no longer counts.
    fn drop_socket(&mut self) {
        self.socket = None;
        self.heartbeat = None;
        self.reconnect = None;
        self.welcome = None;
        self.hello_sent = false;
        self.kernels_sent = None;
        let effects = self.control.disconnected();
        self.run(effects);
    }
}
