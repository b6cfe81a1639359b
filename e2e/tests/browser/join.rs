use ostrich_coordinator::Config;
use ostrich_e2e::{Browser, BrowserOptions, Chromedriver, Server, eventually};
use std::time::{Duration, Instant};

use crate::common::*;

/// Mints an invite through the API; answers its link.
fn mint(server: &Server, key: &str) -> String {
    let invite: serde_json::Value = ureq::post(&server.url("/api/invites"))
        .set("Authorization", &format!("Bearer {key}"))
        .call()
        .expect("mint")
        .into_json()
        .expect("json");
    invite["url"].as_str().expect("a link").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_creates_nothing_and_wrong_codes_and_leaving_each_say_what_happened() {
    // Long enough for a phone to load the page and join with a fresh code on a loaded
    // machine; the expired code below is minted early, so its wait overlaps the rest.
    let ttl = Duration::from_secs(20);
    let server = Server::start(Config { invite_ttl_s: ttl.as_secs_f64(), ..Config::default() });
    let driver = Chromedriver::start().await;

    // A first visit to `/` shows the landing page and opens no session.
    let master = Browser::open(&driver, BrowserOptions::DESKTOP).await;
    master.goto(&server.url("/")).await;
    master.find("#landing").await;
    master.wait_text("#connection-status", "not joined", |t| t.contains("not joined")).await;
    master.screenshot("landing-desktop").await;
    assert_eq!(metric(&server, "ostrich_swarms"), Some(0.0), "the landing page created a swarm");
    // "Create a swarm" does.
    master.click("#create-swarm").await;
    master.wait_text("#connection-status", "connected", |t| t.to_lowercase().contains("connected")).await;
    let key = api_key(&master).await;
    eventually("one swarm held", || async { (metric(&server, "ostrich_swarms") == Some(1.0)).then_some(()) }).await;
    let minted = Instant::now();
    let expired = mint(&server, &key);

    // A phone that opens `/` instead of the invite link chooses "Join with a code".
    let phone = Browser::open(&driver, BrowserOptions::PHONE).await;
    phone.goto(&server.url("/")).await;
    phone.find("#landing").await;
    phone.screenshot("landing-phone").await;
    phone.click("#join-with-code").await;
    phone.set_value("#join-code", "zzzz-zzzz").await;
    phone.screenshot("join-phone").await;
    phone.click("#join-submit").await;
    phone.wait_text("#join-error", "the invalid-code message", |t| t.to_lowercase().contains("not valid")).await;
    phone.screenshot("join-phone-invalid").await;

    eventually("the code to expire", || async { (minted.elapsed() > ttl).then_some(()) }).await;
    phone.goto(&expired).await;
    phone.wait_text("#join-error", "the expired-code message", |t| t.to_lowercase().contains("expired")).await;
    phone.screenshot("join-phone-expired").await;

    // It joins with a fresh code, then leaves: asked first, it returns to the landing page.
    phone.goto(&mint(&server, &key)).await;
    phone.wait_text("#connection-status", "connected", |t| t.to_lowercase().contains("connected")).await;
    eventually("the phone online", || async { (metric(&server, "ostrich_devices_online") == Some(2.0)).then_some(()) })
        .await;
    phone.click("#leave").await;
    phone.find("#confirm-leave").await;
    phone.screenshot("leave-confirm-phone").await;
    phone.click("#confirm-leave").await;
    phone.find("#landing").await;
    // A second visit still creates nothing: once the phone's session is gone, one swarm.
    phone.goto(&server.url("/")).await;
    phone.find("#landing").await;
    phone.wait_text("#connection-status", "not joined", |t| t.contains("not joined")).await;
    eventually("the phone gone", || async { (metric(&server, "ostrich_devices_online") == Some(1.0)).then_some(()) })
        .await;
    assert_eq!(metric(&server, "ostrich_swarms"), Some(1.0), "leaving or visiting `/` created a swarm");
    phone.close().await;
    master.close().await;
}
