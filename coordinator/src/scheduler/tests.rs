//! The scheduler's decisions, driven without an actor system.

use std::time::{Duration, Instant};

use ostrich_protocol::{
    Capabilities, CommandErrorCode, JobId, JobSpec, MasterCommand, MatmulSpec, MatrixSource, ModuleHash, RejectCode,
    Role, RunState, SwarmId, Task, TaskKind, TaskLimits, TaskOutput, ToDevice, Verification, WasmInput, WasmSpec,
};
use uuid::Uuid;

use super::{Admission, Core, Effect, Settings};
use crate::modules::StoredModule;

fn core() -> Core {
    Core::new(Settings {
        lease: Duration::from_secs(30),
        quarantine_after: 2,
        max_task_attempts: 100,
        tls_fingerprint: None,
        ..Settings::default()
    })
}

fn caps(cores: u32) -> Capabilities {
    Capabilities {
        logical_cores: cores,
        memory_mb: 0,
        gpu: None,
        ops_score: 0,
        platform: "test".into(),
        runtime: ostrich_protocol::WasmRuntime::Native,
    }
}

/// Creates a swarm; answers its id and the master's session (1).
fn swarm(core: &mut Core) -> SwarmId {
    let welcome = core.register(1, Uuid::from_u128(1), "master", caps(1), Admission::NewSwarm).expect("master");
    assert_eq!(welcome.role, Role::Master);
    assert!(welcome.master_key.as_ref().is_some_and(|k| k.len() == 64));
    welcome.swarm_id
}

fn worker(core: &mut Core, swarm: SwarmId, session: u64, cores: u32) {
    core.register(session, Uuid::from_u128(session.into()), "w", caps(cores), Admission::Invited(swarm))
        .expect("worker");
}

fn seeded_job(tiles_per_side: u32) -> JobSpec {
    let edge = 4 * tiles_per_side;
    JobSpec::Matmul(MatmulSpec { m: edge, k: 4, n: edge, tile: 4, source: MatrixSource::Seeded { seed: 3 } })
}

/// Tasks assigned to each session by the effects.
fn assigned(effects: &[Effect]) -> Vec<(u64, Task)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(s, ToDevice::Assign { tasks }) => {
                Some(tasks.iter().map(|t| (*s, t.clone())).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect()
}

fn honest(task: &Task) -> TaskOutput {
    let TaskKind::MatmulTile { rows, k, cols, a, b } = &task.kind else { panic!("matmul expected") };
    let c = ostrich_kernels::matmul::matmul_tile(a, b, *rows as usize, *k as usize, *cols as usize).expect("kernel");
    TaskOutput::MatmulTile { c }
}

#[test]
fn the_master_key_resumes_mastership_and_a_wrong_key_is_refused() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    let key = core.master_keys.keys().next().cloned().expect("key");
    let welcome = core.register(2, Uuid::from_u128(1), "m", caps(1), Admission::MasterKey(key)).expect("resume");
    assert_eq!((welcome.swarm_id, welcome.role), (swarm_id, Role::Master));
    assert!(core.take_effects().contains(&Effect::Close(1, "replaced by a newer session of this device".into())));
    let wrong = core.register(3, Uuid::from_u128(9), "m", caps(1), Admission::MasterKey("0".repeat(64)));
    assert_eq!(wrong.map(|_| ()).map_err(|e| e.0), Err(RejectCode::InvalidCredential));
}

#[test]
fn resume_credentials_are_bound_to_their_device() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    let welcome = core.register(2, Uuid::from_u128(2), "w", caps(1), Admission::Invited(swarm_id)).expect("join");
    let credential = welcome.resume_credential.expect("credential");
    core.disconnect(2);
    let again =
        core.register(3, Uuid::from_u128(2), "w", caps(1), Admission::Resume(credential.clone())).expect("resume");
    assert_eq!(again.resume_credential, Some(credential.clone()));
    let thief = core.register(4, Uuid::from_u128(3), "w", caps(1), Admission::Resume(credential));
    assert!(thief.is_err());
    let clash = core.register(5, Uuid::from_u128(2), "w", caps(1), Admission::Invited(swarm_id));
    assert_eq!(clash.map(|_| ()).map_err(|e| e.0), Err(RejectCode::DeviceIdInUse));
}

#[test]
fn no_device_holds_more_than_its_slot_limit() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    for (session, cores) in [(2, 1), (3, 2), (4, 4)] {
        worker(&mut core, swarm_id, session, cores);
        core.work_request(session, 1000, Instant::now());
    }
    core.submit_job(swarm_id, seeded_job(7), Instant::now()).expect("job");
    let tasks = assigned(&core.take_effects());
    let count = |s| tasks.iter().filter(|(session, _)| *session == s).count();
    assert_eq!((count(2), count(3), count(4)), (4, 8, 16), "slot limits cap what a device may ask for");
    assert_eq!(core.snapshots(swarm_id, Instant::now()).map(|s| s.workers.len()), Some(3));
}

#[test]
fn stride_dispatch_is_proportional_to_weight() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    for (session, cores) in [(2, 4), (3, 8), (4, 16)] {
        worker(&mut core, swarm_id, session, cores);
        core.work_request(session, 1000, Instant::now());
    }
    core.submit_job(swarm_id, seeded_job(7), Instant::now()).expect("job");
    let tasks = assigned(&core.take_effects());
    let count = |s| tasks.iter().filter(|(session, _)| *session == s).count();
    assert_eq!((count(2), count(3), count(4)), (7, 14, 28));
}

#[test]
fn results_count_only_from_the_lease_holder_and_only_once() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 1);
    worker(&mut core, swarm_id, 3, 1);
    core.work_request(2, 1, Instant::now());
    core.submit_job(swarm_id, seeded_job(2), Instant::now()).expect("job");
    let (_, task) = assigned(&core.take_effects()).pop().expect("a task");
    core.task_result(3, task.id, honest(&task), Instant::now(), 1);
    assert_eq!(core.ignored_results, 1, "not the holder");
    core.task_result(2, task.id, honest(&task), Instant::now(), 1);
    core.task_result(2, task.id, honest(&task), Instant::now(), 1);
    assert_eq!(core.ignored_results, 2, "a duplicate");
    core.task_result(2, 9999, honest(&task), Instant::now(), 1);
    assert_eq!(core.ignored_results, 3, "an unknown task");
    let progress = core.jobs_progress(swarm_id).pop().expect("job");
    assert_eq!(progress.tasks_verified, 1);
}

#[test]
fn a_closed_session_requeues_at_once_and_an_expired_lease_is_dispatched_again() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 1);
    core.work_request(2, 1, Instant::now());
    core.submit_job(swarm_id, seeded_job(1), Instant::now()).expect("job");
    let (_, first) = assigned(&core.take_effects()).pop().expect("assigned");
    core.disconnect(2);
    worker(&mut core, swarm_id, 3, 1);
    let now = Instant::now();
    core.work_request(3, 1, now);
    let (session, again) = assigned(&core.take_effects()).pop().expect("requeued");
    assert_eq!((session, again.id), (3, first.id));
    core.expire_leases(now + Duration::from_secs(31));
    let effects = core.take_effects();
    assert!(effects.contains(&Effect::Send(3, ToDevice::Cancel { task_ids: vec![first.id] })));
    let (_, third) = assigned(&effects).pop().expect("dispatched after expiry");
    assert_eq!(third.id, first.id);
    assert_eq!(core.jobs_progress(swarm_id)[0].redispatched, 2);
}

#[test]
fn pause_holds_dispatch_and_stop_cancels_leases() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 2);
    core.work_request(2, 2, Instant::now());
    let pause = MasterCommand::SetRunState { state: RunState::Paused };
    core.submit_job(swarm_id, seeded_job(2), Instant::now()).expect("job");
    assert_eq!(assigned(&core.take_effects()).len(), 2);
    core.command(1, pause, Instant::now()).expect("pause");
    core.command(1, MasterCommand::SetRunState { state: RunState::Stopped }, Instant::now()).expect("stop");
    let effects = core.take_effects();
    assert!(effects.iter().any(|e| matches!(e, Effect::Send(2, ToDevice::Cancel { task_ids }) if task_ids.len() == 2)));
    assert!(effects.contains(&Effect::Send(2, ToDevice::RunState { state: RunState::Stopped })));
    assert!(assigned(&effects).is_empty());
    core.command(1, MasterCommand::SetRunState { state: RunState::Running }, Instant::now()).expect("run");
    assert_eq!(assigned(&core.take_effects()).len(), 2);
}

#[test]
fn commands_are_checked_against_role_swarm_and_range() {
    let mut core = core();
    let swarm_a = swarm(&mut core);
    worker(&mut core, swarm_a, 2, 1);
    let other = core.register(10, Uuid::from_u128(10), "b", caps(1), Admission::NewSwarm).expect("swarm b");
    let code = |r: Result<ToDevice, (CommandErrorCode, String)>| r.map(|_| ()).map_err(|e| e.0);
    let throttle = MasterCommand::SetThrottle { percent: 50 };
    assert_eq!(code(core.command(2, throttle.clone(), Instant::now())), Err(CommandErrorCode::NotMaster));
    assert_eq!(
        code(core.command(1, MasterCommand::SetThrottle { percent: 101 }, Instant::now())),
        Err(CommandErrorCode::InvalidValue)
    );
    assert_eq!(
        code(core.command(1, MasterCommand::SetRunState { state: RunState::Idle }, Instant::now())),
        Err(CommandErrorCode::InvalidValue)
    );
    let foreign = MasterCommand::SetDeviceEnabled { device_id: Uuid::from_u128(2), enabled: false };
    assert_eq!(code(core.command(10, foreign, Instant::now())), Err(CommandErrorCode::NotFound));
    assert_ne!(other.swarm_id, swarm_a);
    assert_eq!(code(core.command(1, throttle, Instant::now())), Ok(()));
    assert!(core.take_effects().contains(&Effect::Send(2, ToDevice::Throttle { percent: 50 })));
}

#[test]
fn a_device_failing_verification_is_quarantined_and_the_tile_goes_elsewhere() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 1);
    core.work_request(2, 2, Instant::now());
    core.submit_job(swarm_id, seeded_job(2), Instant::now()).expect("job");
    let tasks = assigned(&core.take_effects());
    for (_, task) in &tasks {
        let TaskOutput::MatmulTile { mut c } = honest(task) else { unreachable!() };
        c[0] += 1.0;
        core.task_result(2, task.id, TaskOutput::MatmulTile { c }, Instant::now(), 7);
    }
    let liar = core.swarms[&swarm_id].devices[&Uuid::from_u128(2)].status();
    assert!(matches!(liar, ostrich_protocol::DeviceStatus::Quarantined { .. }), "{liar:?}");
    core.take_effects();
    core.work_request(2, 2, Instant::now());
    assert!(assigned(&core.take_effects()).is_empty(), "a quarantined device gets nothing");
    worker(&mut core, swarm_id, 3, 1);
    core.work_request(3, 4, Instant::now());
    let redone = assigned(&core.take_effects());
    assert_eq!(redone.len(), 4, "every tile goes to the honest device");
    assert_eq!(core.jobs_progress(swarm_id)[0].verification_failures, 2);
}

#[test]
fn a_worker_snapshot_does_not_grow_with_the_swarm() {
    let worker_bytes = |workers: u64| {
        let mut core = core();
        let swarm_id = swarm(&mut core);
        for session in 2..2 + workers {
            worker(&mut core, swarm_id, session, 4);
        }
        let snapshots = core.snapshots(swarm_id, Instant::now()).expect("live swarm");
        assert_eq!(snapshots.workers.len() as u64, workers);
        let master = ostrich_protocol::encode(&ToDevice::Snapshot(snapshots.masters[0].1.clone())).expect("encode");
        let worker = ostrich_protocol::encode(&ToDevice::Snapshot(snapshots.workers[0].1.clone())).expect("encode");
        (worker.len(), master.len())
    };
    let (small, small_master) = worker_bytes(1);
    let (large, large_master) = worker_bytes(1000);
    assert!(large <= 200, "{large} bytes per worker");
    assert!(large - small <= 8, "only varint widths may change: {small} vs {large}");
    assert!(large_master > 100 * small_master, "the master's table does grow: {small_master} vs {large_master}");
}

#[test]
fn benchmark_scores_change_weights_at_the_next_refresh() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 2);
    let weight = |core: &Core| core.swarms[&swarm_id].devices[&Uuid::from_u128(2)].weight;
    assert_eq!(weight(&core), 20);
    core.benchmark(2, 45_000);
    assert_eq!(weight(&core), 20, "weights change only on the periodic refresh");
    core.refresh_weights();
    assert_eq!(weight(&core), 20 + 45);
    core.benchmark(2, u32::MAX);
    core.refresh_weights();
    assert_eq!(weight(&core), 20 + 100, "the score term is capped at 100");
}

#[test]
fn a_large_job_costs_nothing_per_task_until_dispatched() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 1);
    core.work_request(2, 4, Instant::now());
    core.submit_job(swarm_id, seeded_job(1000), Instant::now()).expect("a million tasks");
    assert_eq!(assigned(&core.take_effects()).len(), 4);
    assert_eq!(core.tasks.len(), 4, "only dispatched tasks have entries");
    let snapshot = core.snapshots(swarm_id, Instant::now()).expect("snapshot");
    let Some((_, ostrich_protocol::Snapshot::Worker { totals, .. })) = snapshot.workers.first() else {
        panic!("a worker snapshot")
    };
    assert_eq!((totals.queued, totals.in_flight), (1_000_000 - 4, 4));
}

#[test]
fn devices_with_room_are_served_when_work_arrives_after_a_stop_and_a_pass_over() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 1);
    worker(&mut core, swarm_id, 3, 1);
    core.work_request(2, 4, Instant::now());
    core.work_request(3, 4, Instant::now());
    let now = Instant::now();
    let stop = MasterCommand::SetRunState { state: RunState::Stopped };
    core.submit_job(swarm_id, seeded_job(4), now).expect("job");
    assert_eq!(assigned(&core.take_effects()).len(), 8);
    core.command(1, stop, now).expect("stop");
    core.take_effects();
    core.command(1, MasterCommand::SetRunState { state: RunState::Running }, now).expect("start");
    let again = assigned(&core.take_effects());
    assert_eq!(again.len(), 8, "drained devices are offered again after a stop");
    // Session 2 returns a wrong result: the task is requeued and excluded for it, so it
    // is passed over for that task and served a fresh one instead.
    let (_, task) = again.iter().find(|(s, _)| *s == 2).cloned().expect("a task of session 2");
    core.task_result(2, task.id, TaskOutput::MatmulTile { c: vec![1e9; 16] }, now, 1);
    let next = assigned(&core.take_effects());
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].0, 2);
    assert_ne!(next[0].1.id, task.id, "a device never gets back a task it failed");
}

#[test]
fn results_in_one_frame_are_each_verified_and_refilled_in_one_assign() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 1);
    core.work_request(2, 4, Instant::now());
    core.submit_job(swarm_id, seeded_job(4), Instant::now()).expect("job");
    let tasks = assigned(&core.take_effects());
    assert_eq!(tasks.len(), 4);
    let mut results: Vec<_> = tasks[..3].iter().map(|(_, t)| (t.id, honest(t))).collect();
    results[2].1 = TaskOutput::MatmulTile { c: vec![1e9; 16] };
    results.push((tasks[0].1.id, honest(&tasks[0].1)));
    core.task_results(2, results, Instant::now(), || 7);
    let effects = core.take_effects();
    let assigns = effects.iter().filter(|e| matches!(e, Effect::Send(_, ToDevice::Assign { .. }))).count();
    assert_eq!(assigns, 1, "the freed slots are refilled in one Assign");
    assert_eq!(assigned(&effects).len(), 3, "two verified, one rejected: three slots free");
    assert_eq!(core.ignored_results, 1, "the repeated result is ignored");
    let progress = core.job_progress(swarm_id, 1).expect("job");
    assert_eq!((progress.tasks_verified, progress.verification_failures), (2, 1));
}

/// The frame limits the core set for a session, in order.
fn frame_limits(effects: &[Effect], session: u64) -> Vec<usize> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::FrameLimit(s, bytes) if *s == session => Some(*bytes),
            _ => None,
        })
        .collect()
}

#[test]
fn a_workers_frame_limit_follows_the_results_of_the_tasks_it_holds() {
    use crate::limits::{WORKER_FRAME_BYTES, result_bytes};
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 1);
    assert_eq!(frame_limits(&core.take_effects(), 2), vec![WORKER_FRAME_BYTES], "set on admission");
    core.submit_job(swarm_id, seeded_job(4), Instant::now()).expect("job");
    core.work_request(2, 3, Instant::now());
    let effects = core.take_effects();
    let tasks = assigned(&effects);
    assert_eq!(tasks.len(), 3);
    let per_task = result_bytes(4 * 4 * 4) as usize;
    assert_eq!(frame_limits(&effects, 2), vec![WORKER_FRAME_BYTES + 3 * per_task], "raised before the assign");
    let first = &tasks[0].1;
    core.task_result(2, first.id, honest(first), Instant::now(), 1);
    let limits = frame_limits(&core.take_effects(), 2);
    assert_eq!(limits.first(), Some(&(WORKER_FRAME_BYTES + 2 * per_task)), "lowered as a result settles");
    let stop = MasterCommand::SetRunState { state: RunState::Stopped };
    core.command(1, stop, Instant::now()).expect("stop");
    let effects = core.take_effects();
    assert!(effects.iter().any(|e| matches!(e, Effect::Send(2, ToDevice::Cancel { .. }))));
    assert!(frame_limits(&effects, 2).is_empty(), "cancelled results may be on the wire: the limit stays");
    core.disconnect(2);
    assert!(core.swarms[&swarm_id].devices.values().all(|d| d.owed == 0));
}

#[test]
fn an_abandoned_swarm_goes_with_its_keys_and_jobs_and_a_busy_one_stays() {
    let mut core = core();
    let abandoned = swarm(&mut core);
    let busy = {
        let welcome = core.register(5, Uuid::from_u128(5), "m", caps(1), Admission::NewSwarm).expect("master");
        welcome.swarm_id
    };
    core.submit_job(busy, seeded_job(2), Instant::now()).expect("job");
    let now = super::unix_ms();
    let ttl = Duration::from_secs(60);
    assert!(core.expire_swarms(now + 120_000, ttl).is_empty(), "masters online keep both");
    core.disconnect(1);
    core.disconnect(5);
    assert!(core.expire_swarms(now + 30_000, ttl).is_empty(), "not abandoned long enough");
    assert_eq!(core.expire_swarms(now + 120_000, ttl), vec![abandoned], "the busy swarm has an unfinished job");
    assert!(!core.swarms.contains_key(&abandoned));
    assert!(core.master_keys.values().all(|s| *s == busy));
    assert_eq!(core.store.jobs_of(busy).count(), 1);
}

#[test]
fn quotas_refuse_jobs_and_devices_past_their_limits() {
    let mut core = Core::new(Settings {
        quotas: super::Quotas { jobs: 2, result_bytes: 3 * 8 * 8 * 4, devices: 2 },
        ..Settings::default()
    });
    let swarm_id = swarm(&mut core);
    let small = seeded_job(2); // 8×8 result: 256 bytes
    core.submit_job(swarm_id, small.clone(), Instant::now()).expect("first");
    core.submit_job(swarm_id, small.clone(), Instant::now()).expect("second");
    let refused = core.submit_job(swarm_id, small.clone(), Instant::now()).expect_err("third");
    assert_eq!(refused.0, CommandErrorCode::QuotaExceeded);
    core.cancel_job(swarm_id, 1).expect("cancel");
    let refused = core.submit_job(swarm_id, seeded_job(4), Instant::now()).expect_err("too big");
    assert_eq!(refused.0, CommandErrorCode::TooLarge, "{}", refused.1);
    core.submit_job(swarm_id, small, Instant::now()).expect("fits beside the two");
    assert_eq!(core.usage(swarm_id).result_bytes.used, 3 * 256);

    worker(&mut core, swarm_id, 2, 1);
    let full = core.register(3, Uuid::from_u128(3), "w", caps(1), Admission::Invited(swarm_id));
    assert_eq!(full.map(|_| ()).map_err(|e| e.0), Err(RejectCode::SwarmFull));
    let again = core.register(4, Uuid::from_u128(2), "w", caps(1), Admission::Invited(swarm_id));
    assert_eq!(again.map(|_| ()).map_err(|e| e.0), Err(RejectCode::DeviceIdInUse), "not refused for the quota");
    assert_eq!(core.usage(swarm_id).devices.used, 2);
}

/// The master's device table rows, from a fresh snapshot.
fn rows(core: &mut Core, swarm_id: SwarmId) -> Vec<ostrich_protocol::DeviceRow> {
    let snapshots = core.snapshots(swarm_id, Instant::now()).expect("live swarm");
    match &snapshots.masters[0].1 {
        ostrich_protocol::Snapshot::Master { devices, .. } => devices.clone(),
        other => panic!("a master snapshot expected, got {other:?}"),
    }
}

#[test]
fn only_an_offline_device_can_be_forgotten_and_its_credential_goes_with_it() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    let welcome = core.register(2, Uuid::from_u128(2), "phone", caps(4), Admission::Invited(swarm_id)).expect("worker");
    let credential = welcome.resume_credential.expect("a worker gets a credential");
    let forget = MasterCommand::ForgetDevice { device_id: Uuid::from_u128(2) };

    let online = core.command(1, forget.clone(), Instant::now()).map_err(|e| e.0);
    assert_eq!(online.map(|_| ()), Err(CommandErrorCode::InvalidValue), "an online device is refused");
    let by_worker = core.command(2, forget.clone(), Instant::now()).map_err(|e| e.0);
    assert_eq!(by_worker.map(|_| ()), Err(CommandErrorCode::NotMaster));

    core.disconnect(2);
    assert_eq!(rows(&mut core, swarm_id).len(), 2, "an offline device keeps its row");
    assert!(core.command(1, forget.clone(), Instant::now()).is_ok());
    let names: Vec<String> = rows(&mut core, swarm_id).into_iter().map(|r| r.name).collect();
    assert_eq!(names, vec!["master".to_string()]);
    let back = core.register(3, Uuid::from_u128(2), "phone", caps(4), Admission::Resume(credential));
    assert_eq!(back.map(|_| ()).map_err(|e| e.0), Err(RejectCode::InvalidCredential), "it needs a new invite");
    let again = core.command(1, forget, Instant::now()).map_err(|e| e.0);
    assert_eq!(again.map(|_| ()), Err(CommandErrorCode::NotFound));
    core.check_invariants().expect("invariants hold");
}

#[test]
fn a_kernel_report_reaches_the_device_table_clamped_and_the_gpu_counts_only_while_used() {
    use ostrich_protocol::{GpuInfo, GpuPath, KernelReport, MatmulPath};
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 4);
    let swiftshader = GpuPath {
        info: GpuInfo { vendor: "google".into(), description: "SwiftShader ".repeat(20), fallback: true },
        mflops: u32::MAX,
    };
    let report =
        KernelReport { threads: 3, cpu_mflops: 21_700, gpu: Some(swiftshader), matmul: MatmulPath::Cpu, forced: false };
    core.kernels(2, report.clone());
    let row = rows(&mut core, swarm_id).into_iter().find(|r| r.device_id == Uuid::from_u128(2)).expect("row");
    let kernels = row.kernels.expect("the report is kept");
    assert_eq!((kernels.threads, kernels.cpu_mflops, kernels.matmul), (3, 21_700, MatmulPath::Cpu));
    let gpu = kernels.gpu.expect("the unused adapter is still shown");
    assert!(gpu.mflops <= super::swarm::limits::MAX_PATH_MFLOPS && gpu.info.description.chars().count() <= 64);
    assert_eq!(row.gpu, None, "an adapter the device does not use is not counted as its GPU");

    core.kernels(2, KernelReport { matmul: MatmulPath::Gpu, forced: true, ..report });
    let row = rows(&mut core, swarm_id).into_iter().find(|r| r.device_id == Uuid::from_u128(2)).expect("row");
    assert!(row.gpu.is_some_and(|g| g.starts_with("SwiftShader")), "forced onto the GPU, it counts");
    assert_eq!(row.stats.slots, 0, "no work asked for yet");
    core.work_request(2, 3, Instant::now());
    let row = rows(&mut core, swarm_id).into_iter().find(|r| r.device_id == Uuid::from_u128(2)).expect("row");
    assert_eq!(row.stats.slots, 3);
}

#[test]
fn the_power_policy_reaches_every_device_and_later_welcomes() {
    use ostrich_protocol::PowerPolicy;
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 4);
    core.take_effects();
    let policy = PowerPolicy { plugged_in_only: false, min_battery_percent: 30 };
    let bad = PowerPolicy { min_battery_percent: 101, ..policy };
    let refused = core.command(1, MasterCommand::SetPowerPolicy { policy: bad }, Instant::now()).map_err(|e| e.0);
    assert_eq!(refused.map(|_| ()), Err(CommandErrorCode::InvalidValue));
    assert!(core.command(2, MasterCommand::SetPowerPolicy { policy }, Instant::now()).is_err(), "workers may not");
    assert!(core.command(1, MasterCommand::SetPowerPolicy { policy }, Instant::now()).is_ok());
    let mut told: Vec<u64> = core
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Send(session, ToDevice::PowerPolicy { policy: sent }) if sent == policy => Some(session),
            _ => None,
        })
        .collect();
    told.sort_unstable();
    assert_eq!(told, vec![1, 2], "the master and the worker are told");
    let later = core.register(3, Uuid::from_u128(3), "late", caps(2), Admission::Invited(swarm_id)).expect("join");
    assert_eq!(later.power_policy, policy);
}

#[test]
fn a_job_submitted_to_a_swarm_that_went_idle_runs_it_again_and_says_so() {
    let mut core = core();
    let swarm_id = swarm(&mut core);
    worker(&mut core, swarm_id, 2, 1);
    core.work_request(2, 4, Instant::now());
    let run_states = |effects: &[Effect]| -> Vec<(u64, RunState)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(s, ToDevice::RunState { state }) => Some((*s, *state)),
                _ => None,
            })
            .collect()
    };
    for round in 0..2 {
        core.take_effects();
        core.submit_job(swarm_id, seeded_job(1), Instant::now()).expect("accepted");
        let effects = core.take_effects();
        let mut told = run_states(&effects);
        told.sort_unstable_by_key(|(s, _)| *s);
        assert_eq!(told, vec![(1, RunState::Running), (2, RunState::Running)], "round {round}");
        for (session, task) in assigned(&effects) {
            core.task_result(session, task.id, honest(&task), Instant::now(), 1);
        }
        let told = run_states(&core.take_effects());
        assert!(told.contains(&(1, RunState::Idle)), "round {round}: the master hears the swarm went idle");
        assert_eq!(core.swarms[&swarm_id].run_state, RunState::Idle);
    }
}

/// A device trusted by its agreements lies where it is not audited; once it is caught
/// (audited lies, quarantine), every result accepted on its word alone is computed again
/// by others, so the job's result is exact.
#[test]
fn results_accepted_on_a_liars_word_are_computed_again_when_it_is_quarantined() {
    let mut core = core();
    let swarm = swarm(&mut core);
    // The liar (2) first, then two honest devices.
    let module = wasm_devices(&mut core, swarm, 2..=4);
    let never_audited = Verification::Adaptive { audit_floor_ppm: 0 };
    let job = core.submit_job(swarm, range_job(module, 400, never_audited), Instant::now()).expect("job");
    let reversed = |task: &Task| {
        let TaskKind::Wasm { input, .. } = &task.kind else { panic!("a wasm task") };
        input.iter().rev().copied().collect::<Vec<u8>>()
    };
    let trust = |core: &Core| core.swarms[&swarm].devices[&Uuid::from_u128(2)].trust;
    let (mut unaudited_lies, mut audited_lies) = (0, 0);
    let mut pending = assigned(&core.take_effects());
    while !pending.is_empty() {
        for (session, task) in std::mem::take(&mut pending) {
            let mut output = reversed(&task);
            // A never-audited coin, unless the liar is to be caught.
            let mut coin = 999_999;
            let quarantined = core.swarms[&swarm].devices[&Uuid::from_u128(2)].quarantine.is_some();
            if session == 2 && !quarantined && trust(&core) >= ostrich_protocol::TRUST_THRESHOLD {
                output[0] ^= 1;
                if unaudited_lies < 5 {
                    unaudited_lies += 1;
                } else {
                    coin = 0;
                    audited_lies += 1;
                }
            }
            core.task_result(session, task.id, TaskOutput::Wasm { output }, Instant::now(), coin);
            pending.extend(assigned(&core.take_effects()));
        }
    }
    assert_eq!(unaudited_lies, 5, "the liar earned trust and lied unaudited");
    assert!(audited_lies >= 2, "then its audited lies got it quarantined");
    let liar = &core.swarms[&swarm].devices[&Uuid::from_u128(2)];
    assert!(liar.quarantine.is_some());
    let progress = core.job_progress(swarm, job).expect("job");
    assert_eq!(progress.state, ostrich_protocol::JobState::Completed);
    assert_reversed_result(&core, swarm, job);
}

/// Two liars that give the same wrong output agree with each other whenever one replicates
/// the other's task, so replication alone accepts those results (and may outvote an honest
/// device in a tie-break); once either is quarantined (it also disagrees with the honest
/// majority), every result that rests on its word is computed again, and the job's result
/// is exact.
#[test]
fn results_two_liars_agreed_on_are_computed_again_when_one_is_quarantined() {
    let mut core = core();
    let swarm = swarm(&mut core);
    // Liars 2 and 3, then eight honest devices.
    let module = wasm_devices(&mut core, swarm, 2..=11);
    let job = core.submit_job(swarm, range_job(module, 300, Verification::default()), Instant::now()).expect("job");
    let (mut seed, mut collusions) = (7u64, 0);
    let mut pending = assigned(&core.take_effects());
    while !pending.is_empty() {
        for (session, task) in std::mem::take(&mut pending) {
            let TaskKind::Wasm { input, .. } = &task.kind else { panic!("a wasm task") };
            let mut output: Vec<u8> = input.iter().rev().copied().collect();
            if session <= 3 {
                output[0] ^= 1;
            }
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let before = core.job_progress(swarm, job).map_or(0, |p| p.tasks_verified);
            core.task_result(session, task.id, TaskOutput::Wasm { output }, Instant::now(), seed >> 11);
            let after = core.job_progress(swarm, job).map_or(0, |p| p.tasks_verified);
            let wrong_accepted = session <= 3 && after > before && {
                let index = u32::try_from(u64::from_le_bytes(input[..8].try_into().expect("an index"))).expect("u32");
                core.store
                    .get(job)
                    .and_then(|j| j.wasm())
                    .and_then(|w| w.output(index))
                    .is_some_and(|o| o[0] != input[7])
            };
            collusions += usize::from(wrong_accepted);
            pending.extend(assigned(&core.take_effects()));
        }
    }
    assert!(collusions > 0, "the liars agreed on some task before they were caught");
    for liar in [2, 3] {
        assert!(core.swarms[&swarm].devices[&Uuid::from_u128(liar)].quarantine.is_some(), "liar {liar} is caught");
    }
    let progress = core.job_progress(swarm, job).expect("job");
    assert_eq!(progress.state, ostrich_protocol::JobState::Completed);
    assert_reversed_result(&core, swarm, job);
}

/// A wasm job counts its inputs and, per task, its output limit plus the coordinator's
/// bookkeeping against the storage quota, so many tiny tasks are bounded too.
#[test]
fn a_wasm_jobs_tasks_count_their_bookkeeping_against_the_quota() {
    use crate::jobs::wasm::TASK_BOOKKEEPING_BYTES;

    let per_task = 16 + TASK_BOOKKEEPING_BYTES;
    let mut core = Core::new(Settings {
        quotas: super::Quotas { jobs: 4, result_bytes: 8 + 10 * per_task, devices: 2 },
        ..Settings::default()
    });
    let swarm = swarm(&mut core);
    let module = wasm_devices(&mut core, swarm, []);
    let spec = |count| range_job(module, count, Verification::None);
    let refused = core.submit_job(swarm, spec(11), Instant::now()).expect_err("11 tasks are over");
    assert_eq!(refused.0, CommandErrorCode::TooLarge, "{}", refused.1);
    core.submit_job(swarm, spec(10), Instant::now()).expect("10 fit");
    assert_eq!(core.usage(swarm).result_bytes.used, 8 + 10 * per_task);
}

/// A stand-in module in `swarm` (the scheduler core never runs it; its 8 bytes count in the
/// quota), and one-core workers on `sessions`, each asking for one task.
fn wasm_devices(core: &mut Core, swarm: SwarmId, sessions: impl IntoIterator<Item = u64>) -> ModuleHash {
    let module = ModuleHash([9; 32]);
    core.put_module(swarm, StoredModule { hash: module, bytes: vec![0; 8].into(), verifier: None }).expect("module");
    for session in sessions {
        worker(core, swarm, session, 1);
        core.work_request(session, 1, Instant::now());
    }
    module
}

/// A range job of `count` tasks of `module`, outputs of at most 16 bytes.
fn range_job(module: ModuleHash, count: u32, verification: Verification) -> JobSpec {
    JobSpec::Wasm(WasmSpec {
        module,
        name: "range".into(),
        input: WasmInput::Range { count, args: Vec::new() },
        limits: TaskLimits { time_limit_ms: 1000, max_output_bytes: 16 },
        verification,
    })
}

/// Asserts that every output of `job` is its input reversed, as the honest devices answer.
fn assert_reversed_result(core: &Core, swarm: SwarmId, job: JobId) {
    let file = core.result_file(swarm, job).flatten().expect("a result");
    let outputs = ostrich_protocol::read_results(&file.bytes).expect("a result file");
    for (index, output) in outputs.iter().enumerate() {
        let mut expected = ostrich_protocol::range_input(index as u64, &[]);
        expected.reverse();
        assert_eq!(*output, expected.as_slice(), "task {index} holds no lie");
    }
}

/// An open records job may start empty: it queues nothing until records arrive, then runs
/// them, one range per append (both found by the scheduler fuzzer: an empty range in the
/// queue, and an invariant that allowed one range per job).
#[test]
fn an_open_records_job_may_start_empty_and_runs_what_is_appended() {
    use ostrich_protocol::Record;

    let mut core = core();
    let swarm = swarm(&mut core);
    // No device yet, so whatever the submission queues stays queued.
    let module = wasm_devices(&mut core, swarm, []);
    let spec = JobSpec::Wasm(WasmSpec {
        module,
        name: "open".into(),
        input: WasmInput::Records { records: Vec::new(), open: true },
        limits: TaskLimits { time_limit_ms: 1000, max_output_bytes: 16 },
        verification: Verification::None,
    });
    let job = core.submit_job(swarm, spec, Instant::now()).expect("an empty open job is accepted");
    core.check_invariants().expect("nothing empty is queued");
    assert!(assigned(&core.take_effects()).is_empty(), "no task yet");
    let records = vec![Record(vec![1, 2]), Record(vec![3])];
    core.append_records(swarm, job, records, false, Instant::now()).expect("appended");
    core.check_invariants().expect("invariants hold");
    // A second append before anything ran: a second range of the same job.
    core.append_records(swarm, job, vec![Record(vec![4])], true, Instant::now()).expect("appended");
    core.check_invariants().expect("invariants hold with two ranges");
    worker(&mut core, swarm, 2, 1);
    core.work_request(2, 4, Instant::now());
    let tasks = assigned(&core.take_effects());
    assert_eq!(tasks.len(), 3, "every record is dispatched");
}
