use ostrich_coordinator::Config;
use ostrich_e2e::{Browser, BrowserOptions, Chromedriver, Server, eventually};
use ostrich_kernels::{
    matmul::matmul_tile,
    seeded::{STREAM_A, STREAM_B, seeded_matrix},
};

use crate::common::*;

/// The text of the device table's first row that is not the master's own and contains
/// `needle`, once there is one; both in lower case (the table's CSS may change the case).
async fn row_text(master: &Browser, needle: &str) -> String {
    eventually(&format!("a device-table row showing {needle}"), || async {
        let css = "#device-table tr[data-device-id]:not(.own)";
        let rows = master.client.find_all(fantoccini::Locator::Css(css)).await.ok()?;
        for row in rows {
            let text = row.text().await.ok()?.to_lowercase();
            if text.contains(&needle.to_lowercase()) {
                return Some(text);
            }
        }
        None
    })
    .await
}

/// A coordinator, its chromedriver and a desktop master whose own browser does not compute
/// (the phones do the work); answers them and the master key.
async fn swarm_of_phones() -> (Server, Chromedriver, Browser, String) {
    let server = Server::start(Config { snapshot_interval_s: 0.5, ..Config::default() });
    let driver = Chromedriver::start().await;
    let master = Browser::open(&driver, BrowserOptions::DESKTOP).await;
    create_swarm(&master, &server).await;
    let key = api_key(&master).await;
    master.click("#compute-here").await;
    master.wait_text("#compute-here-summary", "off", |t| t.starts_with("off")).await;
    (server, driver, master, key)
}

/// A phone without WebGPU joined through `link`, once connected.
async fn join_cpu_phone(driver: &Chromedriver, link: &str) -> Browser {
    let phone = Browser::open(driver, BrowserOptions { webgpu: false, ..BrowserOptions::PHONE }).await;
    phone.goto(link).await;
    phone.wait_text("#connection-status", "connected", |t| t.to_lowercase().contains("connected")).await;
    phone
}

/// Submits a small Mandelbrot job that no device takes (every phone is paused), and checks
/// that the dashboard says so and that nothing of it was computed; answers its id.
async fn job_nobody_takes(master: &Browser, server: &Server, key: &str) -> u64 {
    submit_mandelbrot(master, 160, 120, 300, 32).await;
    let id = job_id(server, key, "mandelbrot 160").await;
    master.wait_text("#no-device-hint", "no device takes work", |t| t.contains("No device is taking work")).await;
    assert_eq!(job(server, key, id)["tasks_verified"], 0, "a paused phone computed part of job {id}");
    id
}

/// Mints an invite on the dashboard and answers its link.
async fn invite_link(master: &Browser) -> String {
    master.click("#share-button").await;
    let link = master.wait_text("#invite-link", "the join link", |t| t.contains("/join?token=")).await;
    master.click("#close-share").await;
    link.trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_master_computes_its_own_job_and_compute_here_off_stops_it() {
    let server = Server::start(Config { snapshot_interval_s: 0.5, ..Config::default() });
    let driver = Chromedriver::start().await;
    let master = Browser::open(&driver, BrowserOptions::DESKTOP).await;
    create_swarm(&master, &server).await;
    let key = api_key(&master).await;

    // "Compute here" is on by default: a job with no other device completes on this browser.
    let summary =
        master.wait_text("#compute-here-summary", "the measured kernel", |t| t.contains("matrix products on")).await;
    assert!(summary.contains("thread"), "{summary}");
    submit_mandelbrot(&master, 160, 120, 300, 32).await;
    let first = job_id(&server, &key, "mandelbrot 160").await;
    let done =
        job_until(&server, &key, first, "completes on the master's browser", |p| p["state"] == "Completed").await;
    assert_eq!(done["tasks_verified"], done["tasks_total"]);
    master.screenshot("master-computes").await;

    // Turned off, the master takes no more tasks: a second job waits, and the dashboard says
    // why and points to "Invite devices".
    master.click("#compute-here").await;
    master.wait_text("#compute-here-summary", "off", |t| t.starts_with("off")).await;
    submit_mandelbrot(&master, 800, 600, 3000, 32).await;
    let second = job_id(&server, &key, "mandelbrot 800").await;
    master.wait_text("#no-device-hint", "the no-device hint", |t| t.contains("No device is taking work")).await;
    let stalled = job_until(&server, &key, second, "holds no task", |p| p["in_flight"] == 0).await;
    master.screenshot("master-compute-off-hint").await;
    assert_eq!(stalled["state"], "Running");
    master.click("#hint-invite").await;
    master.wait_text("#invite-link", "the invite from the hint", |t| t.contains("/join?token=")).await;
    master.click("#close-share").await;
    assert_eq!(
        job(&server, &key, second)["tasks_verified"],
        stalled["tasks_verified"],
        "nothing was computed while Compute here was off"
    );

    // On again, after a reload too (the switch is kept), the job completes here.
    master.client.refresh().await.expect("reload");
    master.wait_text("#connection-status", "connected again", |t| t.to_lowercase().contains("connected")).await;
    let off = master.find("#compute-here").await.prop("checked").await.expect("checked");
    assert_eq!(off.as_deref(), Some("false"), "the switch is kept across a reload");
    master.click("#compute-here").await;
    job_until(&server, &key, second, "completes once Compute here is on", |p| p["state"] == "Completed").await;
    eventually("the hint gone", || async {
        master.client.find(fantoccini::Locator::Css("#no-device-hint")).await.is_err().then_some(())
    })
    .await;
    master.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swiftshader_phone_runs_matmul_on_the_cpu_and_forced_webgpu_shows_in_the_table() {
    let (server, driver, master, key) = swarm_of_phones().await;
    let link = invite_link(&master).await;

    // A phone whose only adapter is SwiftShader measures both paths and picks the CPU.
    let phone = Browser::open(&driver, BrowserOptions::PHONE).await;
    phone.goto(&link).await;
    phone.find("#worker-view").await;
    let figures = phone
        .wait_text("#worker-kernel-figures", "both paths measured", |t| t.contains("CPU") && t.contains("WebGPU"))
        .await;
    assert!(figures.contains("(software)"), "SwiftShader is a software adapter: {figures}");
    let kernel =
        phone.wait_text("#worker-kernel", "a chosen kernel", |t| !t.trim().is_empty() && !t.contains('—')).await;
    assert_eq!(kernel.trim(), "CPU", "the automatic choice with SwiftShader only ({figures})");
    // While it computes it holds the screen on, or says why it cannot.
    let state = eventually("the wake lock requested", || async {
        let state = phone.find("#wake-lock-state").await.attr("data-state").await.ok()??;
        matches!(state.as_str(), "held" | "unavailable").then_some(state)
    })
    .await;
    let wake_text = phone.text("#wake-lock-state").await;
    println!("wake lock in headless Chromium: {state}: {wake_text}");
    phone.screenshot("phone-kernel-choice").await;
    let row = row_text(&master, "(software)").await;
    assert!(row.contains("cpu") && row.contains("gflop/s") && !row.contains("forced"), "the phone's row: {row}");

    // Its matmul results are right.
    submit_matmul(&master, 256, 64, 5).await;
    let id = job_id(&server, &key, "matmul 256").await;
    let done = job_until(&server, &key, id, "completes on the phone", |p| p["state"] == "Completed").await;
    assert_eq!(done["tasks_verified"], done["tasks_total"]);
    let (_, _, c) = ostrich_kernels::npy::decode_npy_f32(&download(&server, &key, id)).expect("npy");
    let native =
        matmul_tile(&seeded_matrix(5, STREAM_A, 256 * 256), &seeded_matrix(5, STREAM_B, 256 * 256), 256, 256, 256)
            .expect("kernel");
    let worst = c.iter().zip(&native).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "the phone's matmul differs from native by {worst}");
    phone.close().await;

    // A device with WebGPU forced on uses it, and the master's table says so.
    let forced = Browser::open(&driver, BrowserOptions::DESKTOP).await;
    forced.goto(&format!("{link}&kernel=gpu")).await;
    forced.wait_text("#worker-kernel", "WebGPU", |t| t.contains("WebGPU")).await;
    let choice = forced.text("#kernel-choice").await;
    assert!(choice.contains("force WebGPU"), "{choice}");
    let row = row_text(&master, "WebGPU (forced)").await;
    assert!(row.contains("gflop/s"), "the forced desktop's row: {row}");
    master.screenshot_of("section.devices", "device-table-kernels").await;
    forced.close().await;
    master.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_768_px_the_device_table_fits_and_an_offline_device_can_be_forgotten() {
    let server = Server::start(Config { snapshot_interval_s: 0.5, ..Config::default() });
    let driver = Chromedriver::start().await;
    let tablet = BrowserOptions { width: 768, height: 1024, ..BrowserOptions::PHONE };
    let master = Browser::open(&driver, tablet).await;
    create_swarm(&master, &server).await;
    let link = invite_link(&master).await;
    let phone = join_cpu_phone(&driver, &link).await;
    row_text(&master, "Online").await;

    let overflow = "const w = document.querySelector('.table-wrap'); \
                    return [document.documentElement.scrollWidth - document.documentElement.clientWidth, \
                            w.scrollWidth - w.clientWidth];";
    let excess = master.client.execute(overflow, vec![]).await.expect("measure");
    assert_eq!(excess, serde_json::json!([0, 0]), "nothing overflows sideways at 768 px");

    // Online, a device can be disabled but not forgotten; offline, the reverse.
    let online = row_text(&master, "Online").await;
    assert!(online.contains("disable") && !online.contains("forget"), "{online}");
    phone.close().await;
    let offline = row_text(&master, "Offline").await;
    assert!(offline.contains("forget") && !offline.contains("disable"), "{offline}");
    master.screenshot_of("section.devices", "device-table-768").await;
    master.click("#device-table .forget").await;
    master.click("#device-table .confirm-forget").await;
    eventually("the row gone", || async {
        let rows = master.client.find_all(fantoccini::Locator::Css("#device-table tr[data-device-id]")).await.ok()?;
        (rows.len() == 1).then_some(())
    })
    .await;
    master.wait_text("#terminal", "the log line", |t| t.contains("forgotten")).await;
    master.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_on_battery_follows_the_swarms_power_policy_or_its_own_and_says_why() {
    let (server, driver, master, key) = swarm_of_phones().await;
    // The master asks for a charger: "compute only while plugged in".
    master.set_value("#swarm-power-policy", "plugged").await;
    master
        .wait_text("#terminal", "the policy logged", |t| t.contains("power policy: compute only while plugged in"))
        .await;
    let link = invite_link(&master).await;

    let phone = join_cpu_phone(&driver, &link).await;
    let battery = phone.wait_text("#battery-state", "the battery read", |t| !t.contains("reading")).await;
    assert!(battery.contains("on the charger"), "headless Chromium reports a charging battery: {battery}");
    let policy = phone.find("#power-policy").await.prop("value").await.expect("value");
    assert_eq!(policy.as_deref(), Some("swarm"), "a device follows the swarm by default");

    // Unplugged (the page's own BatteryManager says so), it pauses and says why.
    let unplug = "return navigator.getBattery().then(b => { \
                    Object.defineProperty(b, 'charging', { get: () => false }); \
                    Object.defineProperty(b, 'level', { get: () => 0.15 }); \
                    b.dispatchEvent(new Event('chargingchange')); return true; });";
    phone.client.execute(unplug, vec![]).await.expect("unplug");
    phone.wait_text("#power-pause", "the pause reason", |t| t.contains("not plugged in")).await;
    phone.wait_text("#battery-state", "on battery", |t| t.contains("15 %, on battery")).await;
    phone.screenshot("phone-power-paused").await;
    let id = job_nobody_takes(&master, &server, &key).await;

    // Its own policy ("on battery too") overrides the swarm's: it computes the job.
    phone.set_value("#power-policy", "always").await;
    eventually("the pause lifted", || async {
        phone.client.find(fantoccini::Locator::Css("#power-pause")).await.is_err().then_some(())
    })
    .await;
    job_until(&server, &key, id, "completes on the phone", |p| p["state"] == "Completed").await;
    phone.close().await;
    master.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_phone_takes_no_work_says_so_and_resumes_when_visible() {
    let (server, driver, master, key) = swarm_of_phones().await;
    let link = invite_link(&master).await;
    let phone = join_cpu_phone(&driver, &link).await;
    // The page is hidden (another tab in front, the phone locked): what the browser tells it
    // through `document.hidden` and a `visibilitychange` event.
    let visibility = "const hidden = arguments[0]; \
                      Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden }); \
                      document.dispatchEvent(new Event('visibilitychange'));";
    phone.client.execute(visibility, vec![serde_json::json!(true)]).await.expect("hide");
    phone.wait_text("#pause-reason", "why it pauses", |t| t.contains("hidden")).await;
    phone.screenshot("phone-hidden").await;
    let id = job_nobody_takes(&master, &server, &key).await;
    // Visible again, it takes the job.
    phone.client.execute(visibility, vec![serde_json::json!(false)]).await.expect("show");
    job_until(&server, &key, id, "completes once the phone is visible", |p| p["state"] == "Completed").await;
    phone.close().await;
    master.close().await;
}
