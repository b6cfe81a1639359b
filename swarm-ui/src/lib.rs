//! The Ostrich-Legs browser app. One wasm module serves two entry points: [`start_app`]
//! mounts the Yew app (the master's dashboard, the join flow and the worker view), and
//! [`start_worker`] runs inside each Web Worker of the compute pool.
//!
//! - [`state`]: the one state and its pure reducer; [`control`]: the worker loop's decisions.
//! - [`session`]: the side effects (socket, pool, timers, storage); [`net`]: the socket.
//! - [`route`] and [`identity`]: what the URL and localStorage say about how to join.
//! - [`components`] and [`hooks`]: the views.
//! - [`compute`]: the Web Worker pool and the kernels it runs.
//! - [`wake_lock`], [`battery`] and [`power`]: keeping a phone's screen on, its battery, and
//!   the power policy that may pause it.

use wasm_bindgen::prelude::*;

pub mod app;
pub mod battery;
pub mod components;
pub mod compute;
pub mod control;
pub mod dom;
pub mod format;
pub mod hooks;
pub mod identity;
pub mod net;
pub mod power;
pub mod route;
pub mod session;
pub mod state;
pub mod wake_lock;

/// Mounts the app on the page, replacing the "Loading" placeholder.
#[wasm_bindgen]
pub fn start_app() {
    if let Some(boot) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("boot")) {
        boot.remove();
    }
    yew::Renderer::<app::App>::new().render();
}

/// Runs the compute side of a Web Worker.
#[wasm_bindgen]
pub fn start_worker() {
    crate::compute::worker_main();
}
