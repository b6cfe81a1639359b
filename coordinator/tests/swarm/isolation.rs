use ostrich_protocol::{CommandErrorCode, JobSpec, MasterCommand, MatmulSpec, MatrixSource, RunState, ToDevice};

use crate::common::*;

async fn command_error(client: &mut Client, command: MasterCommand) -> CommandErrorCode {
    client.command(command).await;
    client
        .recv_until(|m| match m {
            ToDevice::CommandError { code, .. } => Some(code),
            ToDevice::CommandOk { message, .. } => {
                panic!("command should be refused, got ok: {message}")
            }
            _ => None,
        })
        .await
}

#[tokio::test]
async fn a_worker_in_swarm_b_cannot_control_swarm_a() {
    let server = Server::with_defaults();
    let (mut master_a, _, key_a) = master(&server).await;
    let (mut master_b, _, key_b) = master(&server).await;
    let invite_a = invite(&mut master_a).await;
    let invite_b = invite(&mut master_b).await;
    let (worker_a, _) = raw_worker(&server, &invite_a.token, 1).await;
    let (mut worker_b, _) = raw_worker(&server, &invite_b.token, 1).await;

    let spec = JobSpec::Matmul(MatmulSpec { m: 8, k: 8, n: 8, tile: 8, source: MatrixSource::Seeded { seed: 1 } });
    master_a.command(MasterCommand::SubmitJob { spec }).await;
    let job_a = master_a
        .recv_until(|m| match m {
            ToDevice::CommandOk { job_id, .. } => job_id,
            _ => None,
        })
        .await;

    for command in [
        MasterCommand::SetThrottle { percent: 100 },
        MasterCommand::SetRunState { state: RunState::Stopped },
        MasterCommand::SetDeviceEnabled { device_id: worker_a.device_id, enabled: false },
        MasterCommand::CreateInvite,
        MasterCommand::CancelJob { job_id: job_a },
    ] {
        assert_eq!(command_error(&mut worker_b, command).await, CommandErrorCode::NotMaster);
    }
    let foreign_device = MasterCommand::SetDeviceEnabled { device_id: worker_a.device_id, enabled: false };
    assert_eq!(command_error(&mut master_b, foreign_device).await, CommandErrorCode::NotFound);
    assert_eq!(
        command_error(&mut master_b, MasterCommand::CancelJob { job_id: job_a }).await,
        CommandErrorCode::NotFound
    );
    master_b.command(MasterCommand::RevokeInvite { token: invite_a.token.clone() }).await;
    let revoke = master_b
        .recv_until(|m| match m {
            ToDevice::CommandError { code, .. } => Some(code),
            _ => None,
        })
        .await;
    assert_eq!(revoke, CommandErrorCode::NotFound);

    match get(&server, &format!("/api/jobs/{job_a}"), &key_b) {
        Err(ureq::Error::Status(404, _)) => {}
        other => panic!("swarm B must not see swarm A's job, got {other:?}"),
    }
    assert_eq!(get(&server, &format!("/api/jobs/{job_a}"), &key_a).expect("own job").status(), 200);
}

#[tokio::test]
async fn out_of_range_values_get_an_error_back() {
    let server = Server::with_defaults();
    let (mut master, _, _) = master(&server).await;
    assert_eq!(
        command_error(&mut master, MasterCommand::SetThrottle { percent: 101 }).await,
        CommandErrorCode::InvalidValue
    );
    assert_eq!(
        command_error(&mut master, MasterCommand::SetThrottle { percent: 255 }).await,
        CommandErrorCode::InvalidValue
    );
    let idle = MasterCommand::SetRunState { state: RunState::Idle };
    assert_eq!(command_error(&mut master, idle).await, CommandErrorCode::InvalidValue);
    let huge =
        JobSpec::Matmul(MatmulSpec { m: 100_000, k: 1, n: 1, tile: 8, source: MatrixSource::Seeded { seed: 1 } });
    assert_eq!(
        command_error(&mut master, MasterCommand::SubmitJob { spec: huge }).await,
        CommandErrorCode::InvalidValue
    );
}
