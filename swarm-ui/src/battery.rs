//! The Battery Status API (`navigator.getBattery()`, Chromium browsers): the level and the
//! charger, read once and again on every change. Where it does not exist (Firefox, Safari)
//! the session is told so once, and power policies do not apply to the device.

use js_sys::{Function, Promise, Reflect};
use ostrich_protocol::Battery;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Keeps the battery's event listeners alive.
pub struct BatteryWatch {
    _on_change: Option<Closure<dyn FnMut(JsValue)>>,
}

/// Reads the battery and calls `on_change` with it now and after every change of level or
/// charger; with `None` once when the browser has no Battery Status API.
pub fn watch(on_change: impl Fn(Option<Battery>) + 'static) -> std::rc::Rc<std::cell::RefCell<BatteryWatch>> {
    let watch = std::rc::Rc::new(std::cell::RefCell::new(BatteryWatch { _on_change: None }));
    let promise = web_sys::window().and_then(|w| {
        let navigator: JsValue = w.navigator().into();
        let get = Reflect::get(&navigator, &"getBattery".into()).ok()?.dyn_into::<Function>().ok()?;
        get.call0(&navigator).ok()?.dyn_into::<Promise>().ok()
    });
    let keep = watch.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let manager = match promise {
            Some(promise) => JsFuture::from(promise).await.ok(),
            None => None,
        };
        let Some(manager) = manager else {
            on_change(None);
            return;
        };
        let on_change = std::rc::Rc::new(on_change);
        on_change(read(&manager));
        let listener = {
            let (manager, on_change) = (manager.clone(), on_change.clone());
            Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| on_change(read(&manager)))
        };
        if let Ok(target) = manager.clone().dyn_into::<web_sys::EventTarget>() {
            for kind in ["levelchange", "chargingchange"] {
                let _ = target.add_event_listener_with_callback(kind, listener.as_ref().unchecked_ref());
            }
        }
        keep.borrow_mut()._on_change = Some(listener);
    });
    watch
}

/// The level and charger of a `BatteryManager`.
fn read(manager: &JsValue) -> Option<Battery> {
    let level = Reflect::get(manager, &"level".into()).ok()?.as_f64()?;
    let charging = Reflect::get(manager, &"charging".into()).ok()?.as_bool()?;
    Some(Battery { level, charging })
}
