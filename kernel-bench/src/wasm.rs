//! The wasm entry point: `report()` answers the same JSON lines as the native binary,
//! timed with `performance.now()` (a global in browsers and in Node).

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
extern "C" {
    /// Milliseconds since the time origin, with sub-millisecond resolution.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// Runs both measurements and answers them as JSON lines.
#[wasm_bindgen]
pub fn report() -> String {
    super::report(&|| performance_now() / 1000.0)
}
