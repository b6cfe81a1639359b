//! Small bridges to the JavaScript environment that work alike on the page and in a worker.

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// Milliseconds from `performance.now()` of whichever global runs this code (a window or a
/// worker), or from `Date.now()` where there is none.
pub fn now_ms() -> f64 {
    let performance = Reflect::get(&js_sys::global(), &"performance".into()).ok();
    match performance.and_then(|p| p.dyn_into::<web_sys::Performance>().ok()) {
        Some(performance) => performance.now(),
        None => js_sys::Date::now(),
    }
}

/// A property of a JS object, or `undefined` when the object or the property is missing.
pub fn property(object: &JsValue, name: &str) -> JsValue {
    if object.is_object() {
        Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// A string property of a JS object, or an empty string.
pub fn string_property(object: &JsValue, name: &str) -> String {
    property(object, name).as_string().unwrap_or_default()
}

/// A readable reason from a thrown or rejected JS value (an `Error`'s message, or the
/// value itself).
pub fn reason(value: &JsValue) -> String {
    if let Some(text) = value.as_string() {
        return text;
    }
    let message = string_property(value, "message");
    if !message.is_empty() {
        return message;
    }
    let to_string = property(value, "toString").dyn_into::<Function>().ok();
    to_string.and_then(|f| f.call0(value).ok()).and_then(|s| s.as_string()).unwrap_or_else(|| format!("{value:?}"))
}

/// Writes a warning to the browser console.
pub fn warn(line: &str) {
    web_sys::console::warn_1(&line.into());
}
