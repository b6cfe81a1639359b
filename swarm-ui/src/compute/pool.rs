//! [`ComputePool`]: the page's handle on its compute workers. It feeds calls and worker
//! messages to the [`Scheduler`] and carries out the effects it answers on real Web
//! Workers, each a module worker at `/worker.js` running [`super::worker_main`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::{Rc, Weak};

use ostrich_protocol::{Task, TaskId};
use yew::Callback;

use super::scheduler::{Effect, GPU_DEADLINE_MS, Scheduler, SlotId};
use ostrich_protocol::MatmulPath;

use super::{KernelPreference, PoolEvent};

/// The pool of Web Workers that computes this device's tasks.
///
/// A cheap handle: clones share one pool, and the workers are terminated when the last
/// clone is dropped. Events reach `on_event` in order, always from a fresh task of the
/// event loop, so the callback may call back into the pool.
#[derive(Clone)]
pub struct ComputePool {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    scheduler: Scheduler,
    workers: HashMap<SlotId, platform::WorkerHandle>,
    on_event: Callback<PoolEvent>,
}

impl ComputePool {
    /// Starts a pool with no CPU workers (call [`set_threads`](Self::set_threads)). It runs
    /// the benchmark in a worker and, unless the CPU is forced, opens and times WebGPU in
    /// another; the results arrive as [`PoolEvent::Benchmark`] and [`PoolEvent::Kernels`].
    /// `full_threads` is the CPU worker count at full throttle.
    pub fn new(preference: KernelPreference, full_threads: u32, on_event: Callback<PoolEvent>) -> Self {
        let scheduler = Scheduler::new(preference, full_threads);
        let inner = Rc::new(RefCell::new(Inner { scheduler, workers: HashMap::new(), on_event }));
        run(&inner, |_| {});
        let weak = Rc::downgrade(&inner);
        platform::after(GPU_DEADLINE_MS, move || {
            if let Some(inner) = weak.upgrade() {
                run(&inner, Scheduler::gpu_deadline);
            }
        });
        Self { inner }
    }

    /// Grows or shrinks the CPU workers to `n` live: idle workers above `n` are terminated,
    /// busy ones finish their task first. At 0 the pool takes no new tasks (pause).
    pub fn set_threads(&self, n: u32) {
        run(&self.inner, |s| s.set_threads(n));
    }

    /// Queues a task; its result arrives as [`PoolEvent::Done`] or [`PoolEvent::Failed`].
    pub fn submit(&self, task: Task) {
        run(&self.inner, |s| s.submit(task));
    }

    /// Drops these tasks: queued ones are forgotten, the workers running the others are
    /// terminated and replaced. No event follows for them.
    pub fn cancel(&self, task_ids: &[TaskId]) {
        run(&self.inner, |s| s.cancel(task_ids));
    }

    /// The coordinator answered a [`PoolEvent::NeedModule`]: the module's bytes, or why
    /// there are none (its waiting tasks then fail).
    pub fn module_arrived(&self, module: ostrich_protocol::ModuleHash, bytes: Result<Vec<u8>, String>) {
        run(&self.inner, |s| s.module_arrived(module, bytes));
    }

    /// Drops every task: clears the queue and terminates every running task's worker,
    /// starting fresh workers up to the thread count.
    pub fn stop(&self) {
        run(&self.inner, Scheduler::stop);
    }

    /// The CPU worker count last set.
    pub fn threads(&self) -> u32 {
        self.inner.borrow().scheduler.threads()
    }

    /// Where matrix products run now.
    pub fn matmul_path(&self) -> MatmulPath {
        self.inner.borrow().scheduler.matmul_path()
    }
}

impl PartialEq for ComputePool {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for ComputePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComputePool").field("threads", &self.threads()).field("matmul", &self.matmul_path()).finish()
    }
}

/// Applies `op` to the scheduler and carries out its effects until there are none left,
/// then hands the events to the app. Terminated workers are dropped and events emitted only
/// after the pool is released, so neither can re-enter it while it is borrowed.
fn run(inner: &Rc<RefCell<Inner>>, op: impl FnOnce(&mut Scheduler)) {
    let mut events = Vec::new();
    let mut terminated = Vec::new();
    let on_event = {
        let mut guard = inner.borrow_mut();
        let Inner { scheduler, workers, on_event } = &mut *guard;
        op(scheduler);
        loop {
            let effects = scheduler.take_effects();
            if effects.is_empty() {
                break;
            }
            for effect in effects {
                match effect {
                    Effect::Spawn(id) => match platform::spawn(Rc::downgrade(inner), id) {
                        Ok(handle) => {
                            workers.insert(id, handle);
                        }
                        Err(reason) => scheduler.on_error(id, &reason),
                    },
                    Effect::Send(id, message) => {
                        let sent = workers.get(&id).map_or(Err("no such worker".to_owned()), |w| w.post(&message));
                        if let Err(reason) = sent {
                            scheduler.on_error(id, &reason);
                        }
                    }
                    Effect::Terminate(id) => terminated.extend(workers.remove(&id)),
                    Effect::Emit(event) => events.push(event),
                    Effect::Log(line) => platform::warn(&line),
                    Effect::Deadline(id, task_id, ms) => {
                        let pool = Rc::downgrade(inner);
                        platform::after(ms, move || on_time_limit(&pool, id, task_id, ms));
                    }
                }
            }
        }
        on_event.clone()
    };
    drop(terminated);
    platform::deliver(on_event, events);
}

/// A user kernel's time limit passed, if the pool still exists. A plain function, not a
/// closure inside [`run`], which would make `run` instantiate itself without end.
fn on_time_limit(pool: &Weak<RefCell<Inner>>, id: SlotId, task_id: TaskId, ms: u32) {
    if let Some(inner) = pool.upgrade() {
        run(&inner, |s| s.time_limit(id, task_id, ms));
    }
}

/// Feeds one message from a worker to the pool, if the pool still exists.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn on_worker_message(pool: &Weak<RefCell<Inner>>, id: SlotId, message: Result<super::messages::FromWorker, String>) {
    let Some(inner) = pool.upgrade() else {
        return;
    };
    match message {
        Ok(message) => run(&inner, |s| s.on_message(id, message)),
        Err(reason) => run(&inner, |s| s.on_error(id, &reason)),
    }
}

#[cfg(target_arch = "wasm32")]
mod platform {
    use std::cell::RefCell;
    use std::rc::Weak;

    use wasm_bindgen::JsCast;
    use wasm_bindgen::JsValue;
    use wasm_bindgen::closure::Closure;
    use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};
    use yew::Callback;

    use super::{Inner, on_worker_message};
    use crate::compute::messages::{ToWorker, from_js, to_js};
    use crate::compute::scheduler::SlotId;
    use crate::compute::{PoolEvent, js};

    /// The script every compute worker runs; see `static/worker.js`.
    const WORKER_SCRIPT: &str = "/worker.js";

    /// A running worker and its handlers; dropping it terminates the worker.
    pub struct WorkerHandle {
        worker: Worker,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
        _on_error: Closure<dyn FnMut(JsValue)>,
    }

    impl WorkerHandle {
        /// Posts a message, transferring its bytes.
        pub fn post(&self, message: &ToWorker) -> Result<(), String> {
            let (bytes, transfer) = to_js(message)?;
            self.worker.post_message_with_transfer(&bytes, &transfer).map_err(|err| js::reason(&err))
        }
    }

    impl Drop for WorkerHandle {
        fn drop(&mut self) {
            self.worker.set_onmessage(None);
            self.worker.set_onerror(None);
            self.worker.terminate();
        }
    }

    /// Starts a module worker whose messages and errors go to the pool as slot `id`.
    pub fn spawn(pool: Weak<RefCell<Inner>>, id: SlotId) -> Result<WorkerHandle, String> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(WORKER_SCRIPT, &options).map_err(|err| js::reason(&err))?;
        let messages_to = pool.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            on_worker_message(&messages_to, id, from_js(&event.data()));
        });
        // A script that fails to load raises a plain `Event`, a crash an `ErrorEvent`.
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let message = js::string_property(&event, "message");
            let reason = if message.is_empty() { "the worker raised an error".to_owned() } else { message };
            on_worker_message(&pool, id, Err(reason));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(WorkerHandle { worker, _on_message: on_message, _on_error: on_error })
    }

    /// Emits the events from a fresh task, so the app's callback may use the pool.
    pub fn deliver(on_event: Callback<PoolEvent>, events: Vec<PoolEvent>) {
        if !events.is_empty() {
            wasm_bindgen_futures::spawn_local(async move {
                for event in events {
                    on_event.emit(event);
                }
            });
        }
    }

    /// Writes a line to the console.
    pub fn warn(line: &str) {
        js::warn(line);
    }

    /// Calls `f` once after `ms` milliseconds.
    pub fn after(ms: u32, f: impl FnOnce() + 'static) {
        gloo::timers::callback::Timeout::new(ms, f).forget();
    }
}

/// Outside the browser there are no workers: every spawn fails, so the pool stays empty
/// and reports what it would have done only through its events.
#[cfg(not(target_arch = "wasm32"))]
mod platform {
    use std::cell::RefCell;
    use std::rc::Weak;

    use yew::Callback;

    use super::Inner;
    use crate::compute::PoolEvent;
    use crate::compute::messages::ToWorker;
    use crate::compute::scheduler::SlotId;

    /// Never constructed natively.
    pub struct WorkerHandle;

    impl WorkerHandle {
        /// There is nothing to post to.
        pub fn post(&self, _message: &ToWorker) -> Result<(), String> {
            Err("web workers need a browser".to_owned())
        }
    }

    /// Fails: web workers need a browser.
    pub fn spawn(_pool: Weak<RefCell<Inner>>, _id: SlotId) -> Result<WorkerHandle, String> {
        Err("web workers need a browser".to_owned())
    }

    /// Emits the events at once.
    pub fn deliver(on_event: Callback<PoolEvent>, events: Vec<PoolEvent>) {
        for event in events {
            on_event.emit(event);
        }
    }

    /// Drops the line: there is no console.
    pub fn warn(_line: &str) {}

    /// Never calls `f`: there is no event loop (the unit tests call the scheduler directly).
    pub fn after(_ms: u32, _f: impl FnOnce() + 'static) {}
}
