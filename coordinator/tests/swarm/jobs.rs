use ostrich_coordinator::image::mandelbrot_png;
use ostrich_kernels::mandelbrot::render_tile;
use ostrich_protocol::{
    JobSpec, JobState, MandelbrotSpec, MandelbrotView, MasterCommand, MatmulSpec, MatrixSource, ToDevice,
};

use crate::common::*;

async fn completed(master: &mut Client, job_id: u64) {
    master
        .recv_until(|m| match m {
            ToDevice::JobProgress(p) if p.job_id == job_id && p.state == JobState::Completed => Some(()),
            ToDevice::JobProgress(p) if p.job_id == job_id && p.state != JobState::Running => {
                panic!("{p:?}")
            }
            _ => None,
        })
        .await;
}

async fn submit(master: &mut Client, spec: JobSpec) -> u64 {
    master.command(MasterCommand::SubmitJob { spec }).await;
    master
        .recv_until(|m| match m {
            ToDevice::CommandOk { job_id, .. } => job_id,
            _ => None,
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matmul_and_mandelbrot_through_three_native_workers_equal_one_process() {
    let server = Server::with_defaults();
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let workers =
        [native_worker(&server, &token, 1), native_worker(&server, &token, 2), native_worker(&server, &token, 1)];

    let matmul =
        JobSpec::Matmul(MatmulSpec { m: 200, k: 150, n: 170, tile: 48, source: MatrixSource::Seeded { seed: 77 } });
    let job = submit(&mut master, matmul.clone()).await;
    completed(&mut master, job).await;
    assert_eq!(download_matmul(&server, &key, job), local_matmul(&matmul));

    let view = MandelbrotView { width: 160, height: 120, center_re: -0.75, center_im: 0.1, zoom: 1.5, max_iter: 300 };
    let job = submit(&mut master, JobSpec::Mandelbrot(MandelbrotSpec { view, tile: 32 })).await;
    completed(&mut master, job).await;
    let response = get(&server, &format!("/api/jobs/{job}/result"), &key).expect("download");
    assert_eq!(response.content_type(), "image/png");
    let mut png = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut png).expect("body");

    let iterations = render_tile(&view, 0, 0, view.width, view.height).expect("render");
    assert_eq!(png, mandelbrot_png(&view, &iterations).expect("png"), "the PNG equals a local render");
    drop(workers);
}
