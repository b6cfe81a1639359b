use ostrich_protocol::{
    DeviceStatus, HEARTBEAT_INTERVAL_MS, JobKind, JobState, LogLine, MandelbrotSpec, MandelbrotView, MatmulSpec,
    MatrixSource, Rect,
};
use uuid::Uuid;

use super::*;
use ostrich_protocol::{CommandErrorCode, RejectCode, Snapshot, ToDevice};

fn state() -> State {
    State::new(Page::Dashboard, Uuid::nil(), "Linux PC 1a2b".into(), None)
}

fn receive(state: &mut State, message: ToDevice) {
    state.apply(Action::Received { message: Box::new(message), now_ms: 1_000_000.0 });
}

fn welcome(role: Role) -> Welcome {
    Welcome {
        swarm_id: Uuid::nil(),
        device_id: Uuid::nil(),
        role,
        master_key: (role == Role::Master).then(|| "k".repeat(64)),
        resume_credential: (role == Role::Worker).then(|| "resume".into()),
        throttle: 60,
        run_state: RunState::Running,
        power_policy: ostrich_protocol::PowerPolicy::ALWAYS,
        enabled: true,
        heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
        tls_fingerprint: None,
        log: Vec::new(),
    }
}

fn progress(job_id: JobId, verified: u32) -> JobProgress {
    JobProgress {
        job_id,
        kind: JobKind::Matmul,
        label: format!("matmul {job_id}"),
        state: JobState::Running,
        tasks_total: 10,
        tasks_verified: verified,
        verification_failures: 0,
        redispatched: 0,
        in_flight: 1,
        view: None,
        replication: None,
    }
}

fn totals(tasks_per_sec: f32) -> SwarmTotals {
    SwarmTotals {
        online: 2,
        cores: 8,
        gpus: 1,
        tasks_per_sec,
        queued: 0,
        in_flight: 0,
        throttle: 100,
        run_state: RunState::Running,
    }
}

fn master_snapshot(jobs: Vec<JobProgress>) -> ToDevice {
    ToDevice::Snapshot(Snapshot::Master { totals: totals(1.0), devices: vec![], jobs, usage: SwarmUsage::default() })
}

fn mandelbrot(width: u32, height: u32) -> JobSpec {
    let view = MandelbrotView { width, height, center_re: -0.75, center_im: 0.0, zoom: 1.0, max_iter: 50 };
    JobSpec::Mandelbrot(MandelbrotSpec { view, tile: 2 })
}

fn ok(job_id: Option<JobId>) -> ToDevice {
    ToDevice::CommandOk { message: "ok".into(), job_id }
}

#[test]
fn the_log_keeps_the_last_fifty_lines() {
    let mut state = state();
    for i in 0..70 {
        let line = LogLine { at_ms: i, level: LogLevel::Info, message: format!("line {i}") };
        receive(&mut state, ToDevice::Log(line));
    }
    assert_eq!(state.log.len(), LOG_LINES);
    assert_eq!(state.log.front().map(|l| l.message.as_str()), Some("line 20"));
    assert_eq!(state.log.back().map(|l| l.message.as_str()), Some("line 69"));
}

#[test]
fn progress_replaces_by_job_id_and_deleted_jobs_stay_gone() {
    let mut state = state();
    receive(&mut state, ToDevice::JobProgress(progress(1, 0)));
    receive(&mut state, ToDevice::JobProgress(progress(2, 0)));
    receive(&mut state, ToDevice::JobProgress(progress(1, 5)));
    assert_eq!(state.jobs.iter().map(|j| (j.job_id, j.tasks_verified)).collect::<Vec<_>>(), [(1, 5), (2, 0)]);
    state.apply(Action::JobDeleted(1));
    receive(&mut state, ToDevice::JobProgress(progress(1, 6)));
    receive(&mut state, master_snapshot(vec![progress(1, 6), progress(2, 1)]));
    assert_eq!(
        state.jobs.iter().map(|j| j.job_id).collect::<Vec<_>>(),
        [2],
        "late progress of a deleted job is ignored"
    );
}

#[test]
fn reject_codes_become_clear_messages_on_the_join_page() {
    for (code, words) in [
        (RejectCode::InvalidCode, "not valid"),
        (RejectCode::ExpiredCode, "expired"),
        (RejectCode::RateLimited, "wait a minute"),
        (RejectCode::DeviceIdInUse, "another tab"),
    ] {
        let mut state = state();
        state.page = Page::Worker;
        state.apply(Action::Rejected { code, credential: CredentialKind::Invite });
        assert_eq!(state.page, Page::Join);
        let message = state.join_error.clone().unwrap_or_default();
        assert!(message.contains(words), "{code:?}: {message}");
        assert_eq!(state.connection, Connection::Idle, "the join page waits for another code");
    }
}

#[test]
fn a_refused_master_key_offers_a_new_swarm_and_a_refused_resume_asks_for_a_code() {
    let mut master = state();
    master.apply(Action::Rejected { code: RejectCode::InvalidCredential, credential: CredentialKind::Master });
    assert!(master.master_key_refused);
    assert_eq!(master.page, Page::Dashboard);
    assert!(matches!(master.connection, Connection::Halted { .. }));
    master.apply(Action::NewSwarmRequested);
    assert!(!master.master_key_refused && master.master_key.is_none());

    let mut worker = state();
    worker.page = Page::Worker;
    worker.apply(Action::Rejected { code: RejectCode::InvalidCredential, credential: CredentialKind::Resume });
    assert_eq!(worker.page, Page::Join);
    assert!(worker.join_error.unwrap_or_default().contains("join again"));
}

#[test]
fn a_welcome_picks_the_page_and_keeps_the_master_key() {
    let mut state = state();
    receive(&mut state, ToDevice::Welcome(welcome(Role::Master)));
    assert_eq!((state.page, state.role()), (Page::Dashboard, Some(Role::Master)));
    assert_eq!(state.connection, Connection::Connected);
    assert_eq!(state.master_key.as_deref().map(str::len), Some(64));
    assert_eq!((state.throttle, state.run_state), (60, RunState::Running));

    let mut worker = state.clone();
    worker.page = Page::Join;
    receive(&mut worker, ToDevice::Welcome(welcome(Role::Worker)));
    assert_eq!(worker.page, Page::Worker);
    worker.apply(Action::Disconnected { reason: "gone".into() });
    assert_eq!(worker.role(), None);
    assert!(matches!(worker.connection, Connection::Offline { .. }));
}

#[test]
fn worker_figures_track_threads_tasks_pause_and_pushed_settings() {
    let mut state = state();
    let report = ostrich_protocol::KernelReport {
        threads: 3,
        cpu_mflops: 900,
        gpu: None,
        matmul: ostrich_protocol::MatmulPath::Cpu,
        forced: true,
    };
    state.apply(Action::Kernels(report.clone()));
    state.apply(Action::Hidden(true));
    state.apply(Action::Threads(3));
    state.apply(Action::Threads(0));
    state.apply(Action::TaskComputed);
    state.apply(Action::TaskComputed);
    state.apply(Action::TaskFailed);
    state.apply(Action::LocalPause(true));
    receive(&mut state, ToDevice::Throttle { percent: 150 });
    receive(&mut state, ToDevice::DeviceEnabled { enabled: false });
    let w = &state.worker;
    assert_eq!((w.threads, w.computed, w.failed, w.local_pause), (0, 2, 1, true));
    assert_eq!(w.kernels.as_ref(), Some(&report));
    assert!(w.hidden);
    assert_eq!((state.throttle, state.enabled), (100, false));
}

#[test]
fn throughput_history_keeps_the_last_points_of_every_snapshot() {
    let mut state = state();
    for i in 0..(HISTORY_POINTS + 30) {
        receive(
            &mut state,
            ToDevice::Snapshot(Snapshot::Master {
                totals: totals(i as f32),
                devices: vec![],
                jobs: vec![],
                usage: SwarmUsage::default(),
            }),
        );
    }
    assert_eq!(state.history.len(), HISTORY_POINTS);
    assert_eq!(state.history.front(), Some(&30.0));
    assert_eq!(state.totals.as_ref().map(|t| t.online), Some(2));
}

#[test]
fn invites_expire_on_the_page_clock_and_a_rate_limit_shows_in_the_dialog() {
    let mut state = state();
    state.apply(Action::InviteRequested);
    let invite = Invite {
        token: "K3M9QX2B".into(),
        url: "http://h/join?token=K3M9QX2B".into(),
        expires_in_s: 900,
        qr_svg: "<svg/>".into(),
    };
    receive(&mut state, ToDevice::InviteCreated(invite));
    let view = state.invite.clone().expect("an invite");
    assert_eq!(view.expires_at_ms, 1_000_000.0 + 900_000.0);
    assert!(!state.invite_pending);
    state.apply(Action::InviteRevoked);
    assert!(state.invite.as_ref().is_some_and(|i| i.revoked));

    state.apply(Action::InviteRequested);
    receive(&mut state, ToDevice::CommandError { code: CommandErrorCode::RateLimited, message: "5 per minute".into() });
    assert!(state.invite_error.as_deref().is_some_and(|e| e.contains("Too many")));
    assert!(state.notice.is_none());
    receive(&mut state, ToDevice::CommandError { code: CommandErrorCode::NotFound, message: "no such job".into() });
    assert!(state.notice.as_deref().is_some_and(|n| n.contains("no such job")));
    assert_eq!(state.log.len(), 2, "refused commands are logged");
}

#[test]
fn mandelbrot_previews_fill_in_tile_by_tile() {
    let mut state = state();
    state.apply(Action::JobSubmitted(mandelbrot(4, 2)));
    receive(&mut state, ok(Some(7)));
    let tile =
        |x| ToDevice::MandelbrotTile { job_id: 7, rect: Rect { x, y: 0, w: 2, h: 2 }, iterations: vec![0, 1, 50, 3] };
    receive(&mut state, tile(0));
    receive(&mut state, tile(2));
    receive(&mut state, tile(3));
    receive(
        &mut state,
        ToDevice::MandelbrotTile { job_id: 7, rect: Rect { x: 0, y: 0, w: 2, h: 2 }, iterations: vec![1] },
    );
    receive(
        &mut state,
        ToDevice::MandelbrotTile { job_id: 8, rect: Rect { x: 0, y: 0, w: 1, h: 1 }, iterations: vec![1] },
    );
    let preview = &state.previews[&7];
    assert_eq!(preview.tiles.len(), 2, "tiles outside the image or of the wrong size are dropped");
    assert_eq!(preview.tiles[0].rgba.len(), 16);
    assert_eq!(&preview.tiles[0].rgba[8..12], &[0, 0, 0, 255], "points inside the set are black");
    assert_eq!(preview.pixels_done(), 8);
}

#[test]
fn a_refused_submission_does_not_shift_later_previews() {
    let mut state = state();
    let matmul = JobSpec::Matmul(MatmulSpec { m: 2, k: 2, n: 2, tile: 2, source: MatrixSource::Seeded { seed: 1 } });
    state.apply(Action::JobSubmitted(matmul));
    state.apply(Action::JobSubmitted(mandelbrot(0, 2)));
    state.apply(Action::JobSubmitted(mandelbrot(8, 8)));
    receive(&mut state, ok(Some(1)));
    receive(&mut state, ToDevice::CommandError { code: CommandErrorCode::InvalidValue, message: "width 0".into() });
    receive(&mut state, ok(Some(2)));
    assert_eq!(state.previews.keys().copied().collect::<Vec<_>>(), [2]);
    assert_eq!(state.previews[&2].spec.width, 8);
    assert!(state.pending_specs.is_empty());
}

#[test]
fn previews_go_when_a_listed_job_leaves_the_snapshots() {
    let mut state = state();
    state.apply(Action::JobSubmitted(mandelbrot(4, 4)));
    receive(&mut state, ok(Some(3)));
    receive(&mut state, master_snapshot(vec![]));
    assert!(state.previews.contains_key(&3), "a job not yet listed keeps its preview");
    receive(&mut state, master_snapshot(vec![progress(3, 0)]));
    receive(&mut state, master_snapshot(vec![]));
    assert!(!state.previews.contains_key(&3), "a job deleted elsewhere loses its preview");
}

#[test]
fn the_device_table_comes_from_the_master_snapshot() {
    let mut state = state();
    let row = DeviceRow {
        device_id: Uuid::from_u128(1),
        name: "Pixel".into(),
        platform: "Android · Chrome".into(),
        cores: 8,
        gpu: None,
        ops_score: 900,
        role: Role::Worker,
        stats: DeviceStats {
            tasks_done: 3,
            tasks_per_sec: 0.5,
            in_flight: 1,
            status: DeviceStatus::Online,
            weight: 80,
            slots: 7,
        },
        kernels: None,
    };
    receive(
        &mut state,
        ToDevice::Snapshot(Snapshot::Master {
            totals: totals(0.5),
            devices: vec![row.clone()],
            jobs: vec![],
            usage: SwarmUsage::default(),
        }),
    );
    assert_eq!(state.devices, vec![row]);
}

#[test]
fn a_snapshot_built_before_a_change_does_not_undo_it() {
    let mut state = state();
    receive(&mut state, ToDevice::Welcome(welcome(Role::Master)));
    receive(&mut state, ToDevice::Throttle { percent: 0 });
    receive(&mut state, ToDevice::RunState { state: RunState::Paused });
    receive(&mut state, master_snapshot(vec![]));
    assert_eq!((state.throttle, state.run_state), (0, RunState::Paused), "the stale totals say 100 % and running");
}

#[test]
fn a_master_welcome_brings_back_the_swarm_log_and_its_live_echo_is_dropped() {
    let mut state = state();
    state.apply(Action::LocalLog { level: LogLevel::Warn, message: "not connected".into(), at_ms: 5 });
    let line = |at_ms, message: &str| LogLine { at_ms, level: LogLevel::Info, message: message.into() };
    let history = vec![line(1, "job 1 (mandelbrot 8×8) accepted: 4 tasks"), line(2, "laptop joined as Master")];
    receive(&mut state, ToDevice::Welcome(Welcome { log: history, ..welcome(Role::Master) }));
    let messages = |state: &State| state.log.iter().map(|l| l.message.clone()).collect::<Vec<_>>();
    assert_eq!(messages(&state), ["job 1 (mandelbrot 8×8) accepted: 4 tasks", "laptop joined as Master"]);
    // The join line also arrives live, after the welcome: it is kept once.
    receive(&mut state, ToDevice::Log(line(2, "laptop joined as Master")));
    receive(&mut state, ToDevice::Log(line(3, "phone joined as Worker")));
    assert_eq!(messages(&state).len(), 3);
    // A worker's welcome leaves the page's own log alone.
    let mut worker = State::new(Page::Worker, Uuid::nil(), "phone".into(), None);
    worker.apply(Action::LocalLog { level: LogLevel::Info, message: "probing".into(), at_ms: 1 });
    receive(&mut worker, ToDevice::Welcome(welcome(Role::Worker)));
    assert_eq!(messages(&worker), ["probing"]);
}

#[test]
fn every_listed_mandelbrot_job_gets_a_preview_and_a_tile_sent_twice_is_kept_once() {
    let mut state = state();
    let view = MandelbrotView { width: 4, height: 2, center_re: -0.75, center_im: 0.0, zoom: 1.0, max_iter: 50 };
    let mandelbrot = JobProgress { kind: JobKind::Mandelbrot, view: Some(view), ..progress(5, 0) };
    receive(&mut state, master_snapshot(vec![mandelbrot.clone(), progress(6, 0)]));
    assert_eq!(state.previews.keys().copied().collect::<Vec<_>>(), [5], "matmul jobs have no preview");
    assert_eq!(state.previews[&5].spec, PreviewSpec { width: 4, height: 2, max_iter: 50 });
    let tile = ToDevice::MandelbrotTile { job_id: 5, rect: Rect { x: 0, y: 0, w: 2, h: 2 }, iterations: vec![1; 4] };
    receive(&mut state, tile.clone());
    receive(&mut state, tile);
    assert_eq!(state.previews[&5].tiles.len(), 1);
    // Progress of a job not yet in a snapshot (submitted elsewhere) also brings its preview.
    receive(&mut state, ToDevice::JobProgress(JobProgress { job_id: 7, ..mandelbrot }));
    assert!(state.previews.contains_key(&7));
}
