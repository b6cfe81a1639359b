//! The Screen Wake Lock: a phone that computes keeps its screen on, or it locks itself and
//! the browser freezes the page. The session asks for the lock while the device takes work,
//! lets it go otherwise, and asks again when the page becomes visible (the browser releases
//! it whenever the page is hidden). Where the browser has no such API, or refuses, the
//! worker view says so.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use yew::UseReducerDispatcher;

use crate::state::{Action, State, WakeLockState};

/// The page's wake lock.
pub struct WakeLock {
    shared: Rc<RefCell<Shared>>,
}

struct Shared {
    state: WakeLockState,
    /// The `WakeLockSentinel` while one is held.
    sentinel: Option<JsValue>,
    /// A request is on its way.
    pending: bool,
    /// Whether the lock should be held now.
    hold: bool,
    /// The state last shown, so the page re-renders only on a change.
    shown: Option<WakeLockState>,
}

impl Shared {
    /// The state to show, if it changed since it was last shown.
    fn changed(&mut self) -> Option<WakeLockState> {
        (self.shown.as_ref() != Some(&self.state)).then(|| {
            self.shown = Some(self.state.clone());
            self.state.clone()
        })
    }
}

impl WakeLock {
    /// No lock held; `wanted` is the user's switch.
    pub fn new(wanted: bool) -> Self {
        let state = WakeLockState { wanted, ..WakeLockState::default() };
        Self {
            shared: Rc::new(RefCell::new(Shared { state, sentinel: None, pending: false, hold: false, shown: None })),
        }
    }

    /// The user turned "Keep the screen on" on or off.
    pub fn set_wanted(&self, wanted: bool, computing: bool, dispatch: &UseReducerDispatcher<State>) {
        self.shared.borrow_mut().state.wanted = wanted;
        self.apply(computing, true, dispatch);
    }

    /// Holds the lock while `computing` (and the user wants it), releases it otherwise. Called
    /// after every change the session makes, so it does nothing unless whether to hold
    /// changed: a refused request is tried again only at the next change (the page becoming
    /// visible, the swarm running again), not at every message.
    pub fn sync(&self, computing: bool, dispatch: &UseReducerDispatcher<State>) {
        self.apply(computing, false, dispatch);
    }

    fn apply(&self, computing: bool, force: bool, dispatch: &UseReducerDispatcher<State>) {
        let mut shared = self.shared.borrow_mut();
        let hold = computing && shared.state.wanted;
        if hold == shared.hold && !force {
            return;
        }
        shared.hold = hold;
        // The browser drops the lock when the page is hidden; its sentinel says so.
        if shared.sentinel.as_ref().is_some_and(released) {
            shared.sentinel = None;
            shared.state.held = false;
        }
        if hold && shared.sentinel.is_none() && !shared.pending {
            shared.pending = true;
            drop(shared);
            self.request(dispatch.clone());
            return;
        }
        if !hold && let Some(sentinel) = shared.sentinel.take() {
            call(&sentinel, "release", None);
            shared.state.held = false;
        }
        let changed = shared.changed();
        drop(shared);
        if let Some(state) = changed {
            dispatch.dispatch(Action::WakeLock(state));
        }
    }

    fn request(&self, dispatch: UseReducerDispatcher<State>) {
        let shared = self.shared.clone();
        let promise = web_sys::window().and_then(|w| {
            let wake_lock = Reflect::get(&w.navigator(), &"wakeLock".into()).ok().filter(|v| !v.is_undefined())?;
            call(&wake_lock, "request", Some(&"screen".into()))?.dyn_into::<Promise>().ok()
        });
        wasm_bindgen_futures::spawn_local(async move {
            let outcome = match promise {
                Some(promise) => JsFuture::from(promise).await.map_err(|e| reason(&e)),
                None => Err("this browser has no Screen Wake Lock".to_owned()),
            };
            let mut guard = shared.borrow_mut();
            guard.pending = false;
            match outcome {
                Ok(sentinel) if guard.hold => {
                    guard.sentinel = Some(sentinel);
                    guard.state.held = true;
                    guard.state.unavailable = None;
                }
                Ok(sentinel) => {
                    call(&sentinel, "release", None);
                }
                Err(why) => {
                    guard.state.held = false;
                    guard.state.unavailable = Some(why);
                }
            }
            let changed = guard.changed();
            drop(guard);
            if let Some(state) = changed {
                dispatch.dispatch(Action::WakeLock(state));
            }
        });
    }
}

/// Whether a `WakeLockSentinel` was released (by the browser, when the page was hidden).
fn released(sentinel: &JsValue) -> bool {
    Reflect::get(sentinel, &"released".into()).ok().and_then(|v| v.as_bool()).unwrap_or(true)
}

/// Calls `target.name(arg)`, if it is a function; answers what it returned.
fn call(target: &JsValue, name: &str, arg: Option<&JsValue>) -> Option<JsValue> {
    let function = Reflect::get(target, &name.into()).ok()?.dyn_into::<Function>().ok()?;
    match arg {
        Some(arg) => function.call1(target, arg).ok(),
        None => function.call0(target).ok(),
    }
}

/// A rejected promise's message.
fn reason(error: &JsValue) -> String {
    Reflect::get(error, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "the browser refused".to_owned())
}
