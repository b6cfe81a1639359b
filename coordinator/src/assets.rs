//! The browser app, embedded in the binary: `cargo xtask build-ui` writes it to
//! `swarm-ui/dist/`, and this module serves it. A binary built without it serves a page
//! that says how to build it.

use actix_web::{HttpResponse, http::header, web};
use rust_embed::RustEmbed;

/// The built swarm-ui files.
#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../swarm-ui/dist"]
#[allow_missing = true]
struct Ui;

/// The page served when the binary was built without the UI.
const FALLBACK_INDEX: &str = include_str!("../../static/index.html");

/// The app's HTML page, for `/`, `/join` and `/new`.
pub async fn index() -> HttpResponse {
    match Ui::get("index.html") {
        Some(file) => respond("index.html", file.data.into_owned()),
        None => HttpResponse::Ok().content_type("text/html; charset=utf-8").body(FALLBACK_INDEX),
    }
}

/// Any other file of the app, by name.
pub async fn file(path: web::Path<String>) -> HttpResponse {
    let name = path.into_inner();
    match Ui::get(&name) {
        Some(file) => respond(&name, file.data.into_owned()),
        None => HttpResponse::NotFound().content_type("text/plain").body("not found"),
    }
}

/// Whether the binary carries the browser app.
pub fn embedded() -> bool {
    Ui::get("index.html").is_some()
}

fn respond(name: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type(name))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
        .insert_header(("Cross-Origin-Embedder-Policy", "require-corp"))
        .body(body)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn wasm_and_modules_get_the_types_browsers_require() {
        assert_eq!(content_type("swarm_ui_bg.wasm"), "application/wasm");
        assert!(content_type("worker.js").starts_with("text/javascript"));
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}
