use ostrich_coordinator::Config;
use ostrich_e2e::{Browser, BrowserOptions, Chromedriver, Server, eventually};
use std::time::{Duration, Instant};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_expired_codes_each_show_their_message() {
    let ttl = Duration::from_secs(2);
    let server = Server::start(Config { invite_ttl_s: ttl.as_secs_f64(), ..Config::default() });
    let driver = Chromedriver::start().await;
    let master = Browser::open(&driver, BrowserOptions::DESKTOP).await;
    master.goto(&server.url("/")).await;
    let key = api_key(&master).await;

    let phone = Browser::open(&driver, BrowserOptions::PHONE).await;
    phone.goto(&server.url("/join")).await;
    phone.set_value("#join-code", "zzzz-zzzz").await;
    phone.screenshot("join-phone").await;
    phone.click("#join-submit").await;
    phone.wait_text("#join-error", "the invalid-code message", |t| t.to_lowercase().contains("not valid")).await;
    phone.screenshot("join-phone-invalid").await;

    let minted = Instant::now();
    let invite: serde_json::Value = ureq::post(&server.url("/api/invites"))
        .set("Authorization", &format!("Bearer {key}"))
        .call()
        .expect("mint")
        .into_json()
        .expect("json");
    let link = invite["url"].as_str().expect("a link").to_string();
    eventually("the code to expire", || async { (minted.elapsed() > ttl).then_some(()) }).await;
    phone.goto(&link).await;
    phone.wait_text("#join-error", "the expired-code message", |t| t.to_lowercase().contains("expired")).await;
    phone.screenshot("join-phone-expired").await;
    phone.close().await;
    master.close().await;
}
