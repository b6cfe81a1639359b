//! The Ostrich-Legs browser app. One wasm module serves two entry points: [`start_app`]
//! mounts the Yew app (the master's dashboard, the join flow and the worker view), and
//! [`start_worker`] runs inside each Web Worker of the compute pool.

use wasm_bindgen::prelude::*;

/// Mounts the app on the page.
#[wasm_bindgen]
pub fn start_app() {
    yew::Renderer::<App>::new().render();
}

/// Runs the compute side of a Web Worker.
#[wasm_bindgen]
pub fn start_worker() {}

#[yew::function_component]
fn App() -> yew::Html {
    yew::html! { <h1>{ "Ostrich-Legs" }</h1> }
}
