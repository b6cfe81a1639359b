use ostrich_protocol::{HEARTBEAT_INTERVAL_MS, Role, TaskKind};
use uuid::Uuid;

use super::*;

fn welcome(throttle: u8, run_state: RunState, enabled: bool) -> Welcome {
    Welcome {
        swarm_id: Uuid::nil(),
        device_id: Uuid::nil(),
        role: Role::Worker,
        master_key: None,
        resume_credential: Some("r".into()),
        throttle,
        run_state,
        power_policy: ostrich_protocol::PowerPolicy::ALWAYS,
        enabled,
        heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
        tls_fingerprint: None,
        log: Vec::new(),
    }
}

fn task(id: TaskId) -> Task {
    Task {
        id,
        job_id: 1,
        lease_ms: 1000,
        kind: TaskKind::MatmulTile { rows: 1, k: 1, cols: 1, a: vec![1.0], b: vec![2.0] },
    }
}

fn work_request(effects: &[Effect]) -> Option<u32> {
    effects.iter().find_map(|e| match e {
        Effect::Send(ToCoordinator::WorkRequest { slots }) => Some(*slots),
        _ => None,
    })
}

fn threads(effects: &[Effect]) -> Option<u32> {
    effects.iter().find_map(|e| match e {
        Effect::SetThreads(n) => Some(*n),
        _ => None,
    })
}

#[test]
fn a_welcome_sizes_the_pool_and_asks_for_one_slot_per_thread() {
    let mut control = WorkerControl::new(8);
    let effects = control.welcomed(&welcome(100, RunState::Idle, true));
    assert_eq!(threads(&effects), Some(7));
    assert_eq!(work_request(&effects), Some(7));
}

#[test]
fn throttle_changes_resize_the_pool_live_and_zero_asks_for_nothing() {
    let mut control = WorkerControl::new(8);
    control.welcomed(&welcome(100, RunState::Running, true));
    let half = control.on_message(&ToDevice::Throttle { percent: 50 });
    assert_eq!((threads(&half), work_request(&half)), (Some(4), Some(4)));
    let zero = control.on_message(&ToDevice::Throttle { percent: 0 });
    assert_eq!((threads(&zero), work_request(&zero)), (Some(0), Some(0)));
    let same = control.on_message(&ToDevice::Throttle { percent: 0 });
    assert!(same.is_empty(), "nothing is repeated when nothing changed: {same:?}");
}

#[test]
fn pause_asks_for_nothing_but_keeps_threads_so_tasks_in_flight_finish() {
    let mut control = WorkerControl::new(4);
    control.welcomed(&welcome(100, RunState::Running, true));
    control.on_message(&ToDevice::Assign { tasks: vec![task(1)] });
    let paused = control.on_message(&ToDevice::RunState { state: RunState::Paused });
    assert_eq!(paused, vec![Effect::Send(ToCoordinator::WorkRequest { slots: 0 })]);
    assert!(control.done(1, TaskOutput::MatmulTile { c: vec![2.0] }).is_some(), "an in-flight result still counts");
}

#[test]
fn stop_and_disable_terminate_everything_and_drop_the_threads() {
    let mut control = WorkerControl::new(4);
    control.welcomed(&welcome(100, RunState::Running, true));
    control.on_message(&ToDevice::Assign { tasks: vec![task(1), task(2)] });
    let stopped = control.on_message(&ToDevice::RunState { state: RunState::Stopped });
    assert_eq!(stopped[0], Effect::StopAll);
    assert_eq!((threads(&stopped), work_request(&stopped)), (Some(0), Some(0)));
    assert_eq!(control.in_flight(), 0);
    assert!(control.done(1, TaskOutput::MatmulTile { c: vec![] }).is_none(), "a stopped task's result is dropped");

    let running = control.on_message(&ToDevice::RunState { state: RunState::Running });
    assert_eq!((threads(&running), work_request(&running)), (Some(3), Some(3)));
    let disabled = control.on_message(&ToDevice::DeviceEnabled { enabled: false });
    assert_eq!(disabled[0], Effect::StopAll);
    assert_eq!((threads(&disabled), work_request(&disabled)), (Some(0), Some(0)));
}

#[test]
fn local_pause_asks_for_no_work_and_resume_asks_again() {
    let mut control = WorkerControl::new(4);
    control.welcomed(&welcome(100, RunState::Running, true));
    assert_eq!(control.set_paused(Pause::Local, true), vec![Effect::Send(ToCoordinator::WorkRequest { slots: 0 })]);
    assert_eq!(control.set_paused(Pause::Local, false), vec![Effect::Send(ToCoordinator::WorkRequest { slots: 3 })]);
}

#[test]
fn tasks_are_submitted_once_and_cancel_names_only_held_tasks() {
    let mut control = WorkerControl::new(4);
    control.welcomed(&welcome(100, RunState::Running, true));
    let assigned = control.on_message(&ToDevice::Assign { tasks: vec![task(1), task(2), task(1)] });
    assert_eq!(assigned, vec![Effect::Submit(task(1)), Effect::Submit(task(2))]);
    let cancelled = control.on_message(&ToDevice::Cancel { task_ids: vec![2, 9] });
    assert_eq!(cancelled, vec![Effect::Cancel(vec![2])]);
    assert!(control.failed(2, "gone".into()).is_none());
    assert_eq!(control.failed(1, "bad".into()), Some(ToCoordinator::TaskFailed { task_id: 1, reason: "bad".into() }));
    assert!(control.done(1, TaskOutput::MatmulTile { c: vec![] }).is_none(), "answered only once");
}

#[test]
fn a_lost_session_stops_the_pool_and_the_next_welcome_asks_again() {
    let mut control = WorkerControl::new(2);
    control.welcomed(&welcome(100, RunState::Running, true));
    control.on_message(&ToDevice::Assign { tasks: vec![task(5)] });
    assert_eq!(control.disconnected(), vec![Effect::StopAll]);
    assert!(control.done(5, TaskOutput::MatmulTile { c: vec![] }).is_none());
    let again = control.welcomed(&welcome(100, RunState::Running, true));
    assert_eq!(again, vec![Effect::Send(ToCoordinator::WorkRequest { slots: 1 })], "threads unchanged, slots re-sent");
}

#[test]
fn a_hidden_page_asks_for_nothing_and_finishes_what_it_holds() {
    let mut control = WorkerControl::new(4);
    control.welcomed(&welcome(100, RunState::Running, true));
    control.on_message(&ToDevice::Assign { tasks: vec![task(1)] });
    let effects = control.set_paused(Pause::Hidden, true);
    assert_eq!(work_request(&effects), Some(0));
    assert_eq!(threads(&effects), None, "the threads stay, so the task in flight finishes");
    assert!(control.done(1, TaskOutput::MatmulTile { c: vec![2.0] }).is_some());
    assert_eq!(work_request(&control.set_paused(Pause::Hidden, false)), Some(3), "visible again, it asks for work");
}

#[test]
fn compute_here_off_keeps_no_threads_and_on_asks_again() {
    let mut control = WorkerControl::new(4);
    control.welcomed(&welcome(100, RunState::Running, true));
    control.on_message(&ToDevice::Assign { tasks: vec![task(1)] });
    let effects = control.set_computing(false);
    assert_eq!((threads(&effects), work_request(&effects)), (Some(0), Some(0)));
    assert!(control.done(1, TaskOutput::MatmulTile { c: vec![2.0] }).is_some(), "its last result is still sent");
    let effects = control.set_computing(true);
    assert_eq!((threads(&effects), work_request(&effects)), (Some(3), Some(3)));
}

#[test]
fn the_power_policy_pauses_asking_and_resumes() {
    let mut control = WorkerControl::new(4);
    control.welcomed(&welcome(100, RunState::Running, true));
    let effects = control.set_paused(Pause::Power, true);
    assert_eq!((threads(&effects), work_request(&effects)), (None, Some(0)));
    assert_eq!(work_request(&control.set_paused(Pause::Power, false)), Some(3));
}
