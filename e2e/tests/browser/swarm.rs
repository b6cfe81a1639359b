use ostrich_coordinator::{Config, image::mandelbrot_png};
use ostrich_e2e::{Browser, BrowserOptions, Chromedriver, Server, eventually};
use ostrich_kernels::{
    mandelbrot::render_tile,
    matmul::matmul_tile,
    seeded::{STREAM_A, STREAM_B, seeded_matrix},
};
use ostrich_protocol::MandelbrotView;

use crate::common::*;

/// The number a worker page shows for its live thread count.
async fn threads(worker: &Browser) -> u32 {
    worker.text("#worker-threads").await.trim().parse().unwrap_or(u32::MAX)
}

async fn wait_threads(worker: &Browser, what: &str, pred: impl Fn(u32) -> bool) {
    worker.wait_text("#worker-threads", what, |t| t.trim().parse().is_ok_and(&pred)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_and_two_browser_workers_compute_verified_jobs() {
    let server = Server::start(Config { snapshot_interval_s: 0.5, ..Config::default() });
    let driver = Chromedriver::start().await;

    // The master opens the dashboard and the share dialog.
    let master = Browser::open(&driver, BrowserOptions::DESKTOP).await;
    create_swarm(&master, &server).await;
    let key = api_key(&master).await;
    master.click("#share-button").await;
    let link = master.wait_text("#invite-link", "the join link", |t| t.contains("/join?token=")).await;
    let code = master.text("#invite-code").await;
    assert!(link.trim().ends_with(code.trim()), "the link carries the code: {link} / {code}");
    master.find("#invite-qr svg").await;
    // Served over plain HTTP here: the panel says phones need --tls for WebGPU.
    master.wait_text("#tls-missing", "the plain-HTTP notice", |t| t.contains("--tls")).await;
    // The test server's link is on 127.0.0.1, which no phone can reach: the panel says so.
    master.wait_text("#loopback-warning", "the loopback warning", |t| t.contains("127.0.0.1")).await;
    let swarm_id = master.text("#swarm-id").await;
    master.screenshot("share-dialog").await;
    master.click("#close-share").await;

    // Two browsers join through the link: one with WebGPU forced on (SwiftShader here
    // measures slower than the CPU, so the automatic choice would not use it), one forced to
    // the CPU. The master's own browser computes too.
    let gpu = Browser::open(&driver, BrowserOptions::DESKTOP).await;
    gpu.goto(&format!("{}&kernel=gpu", link.trim())).await;
    gpu.find("#worker-view").await;
    let cpu = Browser::open(&driver, BrowserOptions { webgpu: false, ..BrowserOptions::PHONE }).await;
    cpu.goto(&format!("{}&kernel=cpu", link.trim())).await;
    cpu.find("#worker-view").await;
    gpu.wait_text("#worker-kernel", "WebGPU", |t| t.contains("WebGPU")).await;
    // The master sees the swarm id its phones show.
    assert_eq!(cpu.wait_text("#worker-swarm", "the swarm id", |t| t.len() == 8).await, swarm_id);
    cpu.wait_text("#worker-kernel", "CPU", |t| t.contains("CPU")).await;
    eventually("three rows in the device table", || async {
        let rows = master.client.find_all(fantoccini::Locator::Css("#device-table tr[data-device-id]")).await.ok()?;
        (rows.len() == 3).then_some(())
    })
    .await;
    let you = master.client.find_all(fantoccini::Locator::Css("#device-table tr[data-device-id]")).await.expect("rows");
    let mut marked = 0;
    for row in you {
        if row.text().await.unwrap_or_default().to_lowercase().contains("you") {
            marked += 1;
        }
    }
    assert_eq!(marked, 1, "only the viewer's own row is marked 'you'");
    // The quotas card counts the three devices against the swarm's limit.
    master.wait_text("#quota-devices", "3 devices online of the limit", |t| t.contains("3 of 10\u{202f}000")).await;
    master.wait_text("#quota-jobs", "no unfinished job", |t| t.contains("0 of 32")).await;
    master.screenshot_of("section.quotas", "dashboard-quotas").await;
    cpu.screenshot("worker-phone").await;

    // A throttle change reaches the workers as a change in thread count.
    wait_threads(&gpu, "threads at full throttle", |n| n >= 1).await;
    let full = threads(&gpu).await;
    master.set_value("#throttle", "0").await;
    wait_threads(&gpu, "no threads at throttle 0", |n| n == 0).await;
    wait_threads(&cpu, "no threads at throttle 0", |n| n == 0).await;
    master.set_value("#throttle", "100").await;
    wait_threads(&gpu, "threads back at throttle 100", |n| n == full).await;

    // A Mandelbrot job and a matmul job complete verified and equal a native computation.
    submit_mandelbrot(&master, 160, 120, 300, 32).await;
    submit_matmul(&master, 128, 32, 7).await;
    let mandel = job_id(&server, &key, "mandelbrot").await;
    let matmul = job_id(&server, &key, "matmul").await;
    for id in [mandel, matmul] {
        job_until(&server, &key, id, "completes", |p| p["state"] == "Completed").await;
        master
            .wait_text(&format!("[data-job-id=\"{id}\"] .job-state"), "completed", |t| {
                t.to_lowercase().contains("complete")
            })
            .await;
    }
    master.screenshot("dashboard").await;

    // A reload brings back the preview (the tiles verified before it) and the swarm's log.
    master.client.refresh().await.expect("reload");
    master.wait_text("#connection-status", "connected again", |t| t.to_lowercase().contains("connected")).await;
    let opaque = "const c = document.querySelector(arguments[0]); if (!c) return 0; \
                  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
                  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] === 255) n++; return n;";
    let canvas = format!("[data-job-id=\"{mandel}\"] canvas");
    eventually("the whole preview drawn again after the reload", || async {
        let drawn = master.client.execute(opaque, vec![serde_json::json!(canvas)]).await.ok()?.as_u64()?;
        (drawn == 160 * 120).then_some(())
    })
    .await;
    master.wait_text("#terminal", "the log from before the reload", |t| t.contains(&format!("job {mandel} ("))).await;
    master.screenshot_of(&format!("[data-job-id=\"{mandel}\"]"), "dashboard-preview-after-reload").await;

    // The "Use from Python" script, run as copied: it submits a job, waits, downloads the
    // result and loads it with NumPy.
    let script = master.wait_text("#python-code", "the Python script", |t| t.contains(&key)).await;
    master.screenshot_of("section.python-card", "dashboard-python").await;
    // Beside a kernel.wasm (the factoring example), it also runs the user's kernel.
    let folder = std::env::temp_dir().join(format!("ostrich-python-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("a folder for the script");
    std::fs::write(folder.join("kernel.wasm"), example_kernel("factor")).expect("kernel.wasm");
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").arg("-c").arg(script).current_dir(folder).output()
    });
    let output = tokio::time::timeout(std::time::Duration::from_secs(180), run)
        .await
        .expect("the Python script finishes within 3 minutes")
        .expect("join")
        .expect("python3 runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the script failed: {printed}{}", String::from_utf8_lossy(&output.stderr));
    assert!(printed.contains("Completed") && printed.contains("(512, 512) float32"), "{printed}");
    // Task 0 factors 10^12 = 2^12 · 5^12: its first factor is 2 as a little-endian u64.
    assert!(printed.contains("8 outputs; the first: 0200000000000000"), "{printed}");
    let view = MandelbrotView { width: 160, height: 120, center_re: -0.75, center_im: 0.1, zoom: 1.5, max_iter: 300 };
    let iterations = render_tile(&view, 0, 0, 160, 120).expect("render");
    assert_eq!(download(&server, &key, mandel), mandelbrot_png(&view, &iterations).expect("png"));
    let (_, _, c) = ostrich_kernels::npy::decode_npy_f32(&download(&server, &key, matmul)).expect("npy");
    let a = seeded_matrix(7, STREAM_A, 128 * 128);
    let b = seeded_matrix(7, STREAM_B, 128 * 128);
    let native = matmul_tile(&a, &b, 128, 128, 128).expect("kernel");
    let worst = c.iter().zip(&native).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "browser matmul differs from native by {worst}");

    // Pause stops dispatch: once in-flight tasks drain, no result arrives for 10 s.
    submit_mandelbrot(&master, 1200, 900, 20000, 32).await;
    let long = job_id(&server, &key, "mandelbrot 1200").await;
    job_until(&server, &key, long, "has results", |p| p["tasks_verified"].as_u64() > Some(0)).await;
    master.click("#run-pause").await;
    let paused = job_until(&server, &key, long, "drains", |p| p["in_flight"] == 0).await;
    master
        .wait_text("#totals-tasks-per-sec", "no results for 10 s", |t| {
            t.trim().trim_end_matches("/s").trim().parse::<f32>() == Ok(0.0)
        })
        .await;
    assert_eq!(job(&server, &key, long)["tasks_verified"], paused["tasks_verified"], "nothing verified while paused");

    // Stop cancels what the devices hold; Start resumes.
    master.click("#run-start").await;
    job_until(&server, &key, long, "has tasks in flight", |p| p["in_flight"].as_u64() > Some(0)).await;
    let before = job(&server, &key, long)["redispatched"].as_u64().unwrap_or(0);
    master.click("#run-stop").await;
    master.click("#confirm-stop").await;
    job_until(&server, &key, long, "cancelled leases requeued", |p| {
        p["in_flight"] == 0 && p["redispatched"].as_u64() > Some(before)
    })
    .await;
    master.click("#run-start").await;

    // Disabling a device stops its tasks; the other finishes.
    let gpu_id = eventually("the GPU worker's row", || async {
        let rows = master.client.find_all(fantoccini::Locator::Css("#device-table tr[data-device-id]")).await.ok()?;
        for row in rows {
            let kernel = row.find(fantoccini::Locator::Css(".kernel-in-use")).await.ok()?.text().await.ok()?;
            if kernel.contains("WebGPU") {
                return row.attr("data-device-id").await.ok()?;
            }
        }
        None
    })
    .await;
    master.click(&format!("tr[data-device-id=\"{gpu_id}\"] .enable-toggle")).await;
    master
        .wait_text(&format!("tr[data-device-id=\"{gpu_id}\"] .device-status"), "disabled", |t| {
            t.to_lowercase().contains("disabled")
        })
        .await;
    wait_threads(&gpu, "no threads while disabled", |n| n == 0).await;

    // Re-enabled, it computes again; the long job completes with the right image.
    master.click(&format!("tr[data-device-id=\"{gpu_id}\"] .enable-toggle")).await;
    wait_threads(&gpu, "threads again once enabled", |n| n == full).await;
    let done = job_until(&server, &key, long, "completes", |p| p["state"] == "Completed").await;
    assert_eq!(done["tasks_verified"], done["tasks_total"]);
    let view =
        MandelbrotView { width: 1200, height: 900, center_re: -0.75, center_im: 0.1, zoom: 1.5, max_iter: 20000 };
    let iterations = render_tile(&view, 0, 0, 1200, 900).expect("render");
    assert_eq!(download(&server, &key, long), mandelbrot_png(&view, &iterations).expect("png"));

    // A worker page closed mid-job loses nothing: the job completes on the last worker.
    submit_matmul(&master, 256, 16, 21).await;
    let last = job_id(&server, &key, "matmul 256").await;
    // A job submitted to a swarm that went idle sets it running again, on the dashboard too.
    master.wait_text("#run-state", "running again", |t| t.to_lowercase().contains("running")).await;
    job_until(&server, &key, last, "has results", |p| p["tasks_verified"].as_u64() > Some(0)).await;
    gpu.close().await;
    let done = job_until(&server, &key, last, "completes", |p| p["state"] == "Completed").await;
    assert_eq!(done["tasks_verified"], done["tasks_total"]);
    let (_, _, c) = ostrich_kernels::npy::decode_npy_f32(&download(&server, &key, last)).expect("npy");
    let a = seeded_matrix(21, STREAM_A, 256 * 256);
    let b = seeded_matrix(21, STREAM_B, 256 * 256);
    let native = matmul_tile(&a, &b, 256, 256, 256).expect("kernel");
    let worst = c.iter().zip(&native).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "browser matmul differs from native by {worst}");
    // The dashboard catches up: the job completed and the swarm idle.
    master
        .wait_text(&format!("[data-job-id=\"{last}\"] .job-state"), "completed", |t| {
            t.to_lowercase().contains("complete")
        })
        .await;
    master.wait_text("#run-state", "idle", |t| t.to_lowercase().contains("idle")).await;
    // The totals follow with the next snapshot.
    master.wait_text("#totals-queued", "nothing queued", |t| t.trim() == "0").await;
    master.wait_text("#totals-in-flight", "nothing in flight", |t| t.trim() == "0").await;
    master.screenshot("dashboard-after").await;
    cpu.close().await;
    master.close().await;
}
