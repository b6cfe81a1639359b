//! Small browser helpers: the clock, the location, the navigator's figures, the clipboard
//! and result downloads. Each degrades quietly where the browser lacks the API.

use js_sys::{Function, Promise, Reflect};
use ostrich_protocol::JobId;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlAnchorElement, Request, RequestInit, Response, Url};

/// `Date.now()`.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// The page's path and query string.
pub fn location() -> (String, String) {
    let Some(location) = window().map(|w| w.location()) else {
        return ("/".into(), String::new());
    };
    (location.pathname().unwrap_or_else(|_| "/".into()), location.search().unwrap_or_default())
}

/// The page's origin (`http://host:port`).
pub fn origin() -> String {
    window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}

/// The coordinator's WebSocket URL for this page.
pub fn ws_url() -> String {
    let location = window().map(|w| w.location());
    let protocol = location.as_ref().and_then(|l| l.protocol().ok()).unwrap_or_default();
    let host = location.as_ref().and_then(|l| l.host().ok()).unwrap_or_default();
    crate::net::ws_url(&protocol, &host)
}

/// Replaces the address bar's URL without loading it (so a reload keeps the join link).
pub fn replace_url(url: &str) {
    if let Some(history) = window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(url));
    }
}

/// Loads another page.
pub fn navigate(url: &str) {
    if let Some(window) = window() {
        let _ = window.location().set_href(url);
    }
}

/// `navigator.userAgent`.
pub fn user_agent() -> String {
    window().and_then(|w| w.navigator().user_agent().ok()).unwrap_or_default()
}

/// `navigator.hardwareConcurrency`, at least 1.
pub fn logical_cores() -> u32 {
    window().map_or(1.0, |w| w.navigator().hardware_concurrency()).max(1.0) as u32
}

/// `navigator.deviceMemory` (GiB, where the browser reveals it) in MiB; 0 otherwise.
pub fn memory_mb() -> u32 {
    let Some(navigator) = window().map(|w| w.navigator()) else {
        return 0;
    };
    let gib = Reflect::get(&navigator, &JsValue::from_str("deviceMemory")).ok().and_then(|v| v.as_f64());
    gib.map_or(0, |gib| (gib * 1024.0) as u32)
}

/// A wall-clock time as `HH:MM:SS` in the browser's time zone.
pub fn clock_time(at_ms: u64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(at_ms as f64));
    format!("{:02}:{:02}:{:02}", date.get_hours(), date.get_minutes(), date.get_seconds())
}

/// Copies `text` to the clipboard. Where the async clipboard is missing (plain-HTTP LAN
/// pages are not a secure context) it selects the text of the element `fallback_id` and
/// tries the old `execCommand("copy")`; the selection lets the user copy by hand if that
/// fails too. Answers whether the text was copied.
pub async fn copy_text(text: &str, fallback_id: &str) -> bool {
    if let Some(window) = window() {
        let navigator = window.navigator();
        let clipboard = Reflect::get(&navigator, &JsValue::from_str("clipboard")).unwrap_or(JsValue::UNDEFINED);
        if clipboard.is_object() {
            let write = Reflect::get(&clipboard, &JsValue::from_str("writeText")).ok();
            if let Some(write) = write.and_then(|w| w.dyn_into::<Function>().ok())
                && let Ok(promise) = write.call1(&clipboard, &JsValue::from_str(text))
                && let Ok(promise) = promise.dyn_into::<Promise>()
                && JsFuture::from(promise).await.is_ok()
            {
                return true;
            }
        }
    }
    select_and_copy(fallback_id)
}

fn select_and_copy(id: &str) -> bool {
    let Some(window) = window() else {
        return false;
    };
    let Some(document) = window.document() else {
        return false;
    };
    let (Some(element), Ok(Some(selection)), Ok(range)) =
        (document.get_element_by_id(id), window.get_selection(), document.create_range())
    else {
        return false;
    };
    if range.select_node_contents(&element).is_err() {
        return false;
    }
    let _ = selection.remove_all_ranges();
    let _ = selection.add_range(&range);
    let exec =
        Reflect::get(&document, &JsValue::from_str("execCommand")).ok().and_then(|f| f.dyn_into::<Function>().ok());
    exec.and_then(|f| f.call1(&document, &JsValue::from_str("copy")).ok()).and_then(|v| v.as_bool()).unwrap_or(false)
}

/// Downloads a job's result through the HTTP API with the master key, saved as `file_name`.
pub async fn download_result(job_id: JobId, key: &str, file_name: &str) -> Result<(), String> {
    let window = window().ok_or("no window")?;
    let init = RequestInit::new();
    init.set_method("GET");
    let request = Request::new_with_str_and_init(&format!("/api/jobs/{job_id}/result"), &init).map_err(js_error)?;
    request.headers().set("Authorization", &format!("Bearer {key}")).map_err(js_error)?;
    let response = JsFuture::from(window.fetch_with_request(&request)).await.map_err(js_error)?;
    let response: Response = response.dyn_into().map_err(js_error)?;
    if !response.ok() {
        let body = match response.text() {
            Ok(text) => JsFuture::from(text).await.ok().and_then(|t| t.as_string()).unwrap_or_default(),
            Err(_) => String::new(),
        };
        return Err(format!("download of job {job_id} failed ({}): {body}", response.status()));
    }
    let blob = JsFuture::from(response.blob().map_err(js_error)?).await.map_err(js_error)?;
    let blob: web_sys::Blob = blob.dyn_into().map_err(js_error)?;
    let url = Url::create_object_url_with_blob(&blob).map_err(js_error)?;
    let document = window.document().ok_or("no document")?;
    let anchor: HtmlAnchorElement =
        document.create_element("a").map_err(js_error)?.dyn_into().map_err(|_| "cannot create a link")?;
    anchor.set_href(&url);
    anchor.set_download(file_name);
    anchor.click();
    // Revoked a little later: some browsers start reading the blob after the click returns.
    gloo::timers::callback::Timeout::new(10_000, move || {
        let _ = Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

/// Calls the coordinator's HTTP API with the master key: `body` with its content type, if
/// any. Answers the response's text, or an error naming the status and the coordinator's
/// message.
pub async fn api_call(method: &str, path: &str, key: &str, body: Option<(&[u8], &str)>) -> Result<String, String> {
    let window = window().ok_or("no window")?;
    let init = RequestInit::new();
    init.set_method(method);
    if let Some((bytes, _)) = body {
        init.set_body(&js_sys::Uint8Array::from(bytes).into());
    }
    let request = Request::new_with_str_and_init(path, &init).map_err(js_error)?;
    request.headers().set("Authorization", &format!("Bearer {key}")).map_err(js_error)?;
    if let Some((_, content_type)) = body {
        request.headers().set("Content-Type", content_type).map_err(js_error)?;
    }
    let response = JsFuture::from(window.fetch_with_request(&request)).await.map_err(js_error)?;
    let response: Response = response.dyn_into().map_err(js_error)?;
    let text = match response.text() {
        Ok(text) => JsFuture::from(text).await.ok().and_then(|t| t.as_string()).unwrap_or_default(),
        Err(_) => String::new(),
    };
    if response.ok() {
        return Ok(text);
    }
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or(text);
    Err(format!("{} ({})", message, response.status()))
}

/// The bytes of a file the user picked.
pub async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer()).await.map_err(js_error)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

fn js_error(value: JsValue) -> String {
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

/// A listener added to a DOM target; it is removed when this is dropped.
pub struct Listener {
    target: web_sys::EventTarget,
    kind: &'static str,
    closure: wasm_bindgen::closure::Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback(self.kind, self.closure.as_ref().unchecked_ref());
    }
}

/// Whether the page is hidden now (another tab in front, the window minimised, the phone
/// locked).
pub fn hidden() -> bool {
    window().and_then(|w| w.document()).is_some_and(|d| d.hidden())
}

/// Calls `on_change(hidden)` whenever the page becomes hidden or visible, as long as the
/// returned listener lives; `None` outside a browser page.
pub fn on_visibility_change(on_change: impl Fn(bool) + 'static) -> Option<Listener> {
    let document = window()?.document()?;
    let closure = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        on_change(hidden());
    });
    let target: web_sys::EventTarget = document.into();
    target.add_event_listener_with_callback("visibilitychange", closure.as_ref().unchecked_ref()).ok()?;
    Some(Listener { target, kind: "visibilitychange", closure })
}
