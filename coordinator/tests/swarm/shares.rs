use ostrich_protocol::{JobSpec, MasterCommand, MatmulSpec, MatrixSource, ToCoordinator, ToDevice};

use crate::common::*;

/// Three devices of weights 40, 80 and 160 (4, 8 and 16 cores) ask for more slots than
/// there are tasks; the 70 tasks of one job must split 10 : 20 : 40 within ±10 %.
#[tokio::test]
async fn devices_weighted_one_two_four_get_proportional_shares() {
    let server = Server::with_defaults();
    let (mut master, _, _) = master(&server).await;
    let token = invite(&mut master).await.token;
    let mut devices = Vec::new();
    for cores in [4, 8, 16] {
        let (mut device, _) = raw_worker(&server, &token, cores).await;
        device.send(&ToCoordinator::WorkRequest { slots: 1000 }).await;
        devices.push(device);
    }
    for device in &mut devices {
        device.settle().await;
    }
    let spec = JobSpec::Matmul(MatmulSpec { m: 80, k: 8, n: 56, tile: 8, source: MatrixSource::Seeded { seed: 5 } });
    master.command(MasterCommand::SubmitJob { spec }).await;
    let mut shares = Vec::new();
    for device in &mut devices {
        let tasks = device
            .recv_until(|m| match m {
                ToDevice::Assign { tasks } => Some(tasks.len()),
                _ => None,
            })
            .await;
        shares.push(tasks as f64);
    }
    let total: f64 = shares.iter().sum();
    assert_eq!(total, 70.0, "every task is dispatched at once: {shares:?}");
    for (share, weight) in shares.iter().zip([1.0, 2.0, 4.0]) {
        let expected = total * weight / 7.0;
        assert!((share - expected).abs() <= expected * 0.1, "shares {shares:?} are not 1:2:4");
    }
}
