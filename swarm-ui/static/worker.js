// A compute worker of the browser pool: loads the app's wasm module and hands over to
// Rust (`swarm_ui::compute::worker_main`), which posts "ready" before it takes any work.
import init, { start_worker } from "/swarm_ui.js";

// A crash inside asynchronous (WebGPU) work would only reject a promise; rethrown here, it
// reaches the page as this worker's `error` event, so the pool fails the task and replaces
// the worker instead of waiting for an answer that never comes.
self.addEventListener("unhandledrejection", (event) => {
  throw event.reason;
});

await init();
start_worker();
