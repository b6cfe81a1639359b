//! Round trips of every variant, and decoding of hostile bytes.

use proptest::prelude::*;
use uuid::Uuid;

use super::*;

/// Generates one test per message that encodes it, decodes it and compares.
macro_rules! round_trip {
    ($($name:ident: $ty:ty = $value:expr;)*) => {$(
        #[test]
        fn $name() {
            let message: $ty = $value;
            let frame = encode(&message).expect("encode");
            let back: $ty = decode(&frame).expect("decode");
            assert_eq!(back, message);
        }
    )*};
}

fn capabilities() -> Capabilities {
    Capabilities {
        logical_cores: 8,
        memory_mb: 16_384,
        gpu: Some(GpuInfo { vendor: "acme".into(), description: "swiftshader".into(), fallback: true }),
        ops_score: 12_345,
        platform: "Linux x86_64".into(),
        runtime: WasmRuntime::Browser,
    }
}

fn view() -> MandelbrotView {
    MandelbrotView { width: 64, height: 48, center_re: -0.5, center_im: 0.0, zoom: 1.0, max_iter: 200 }
}

fn totals() -> SwarmTotals {
    SwarmTotals {
        online: 3,
        cores: 12,
        gpus: 1,
        tasks_per_sec: 41.5,
        queued: 7,
        in_flight: 2,
        throttle: 80,
        run_state: RunState::Running,
    }
}

fn stats() -> DeviceStats {
    DeviceStats {
        tasks_done: 9,
        tasks_per_sec: 1.5,
        in_flight: 1,
        status: DeviceStatus::Quarantined { reason: "3 failed checks".into() },
        weight: 90,
        slots: 3,
    }
}

fn progress() -> JobProgress {
    JobProgress {
        job_id: 4,
        kind: JobKind::Matmul,
        label: "matmul 8×8×8".into(),
        state: JobState::Failed { reason: "task 3 failed 5 times".into() },
        tasks_total: 4,
        tasks_verified: 2,
        verification_failures: 1,
        redispatched: 1,
        in_flight: 1,
        view: None,
        replication: None,
    }
}

round_trip! {
    hello_master: ToCoordinator = ToCoordinator::Hello {
        device_id: Uuid::from_u128(7),
        name: "phone".into(),
        capabilities: capabilities(),
        credential: JoinCredential::Master { key: Some("k".into()) },
    };
    hello_invite: ToCoordinator = ToCoordinator::Hello {
        device_id: Uuid::from_u128(8),
        name: String::new(),
        capabilities: Capabilities { gpu: None, ..capabilities() },
        credential: JoinCredential::Invite { token: "ABCD1234".into() },
    };
    hello_resume: ToCoordinator = ToCoordinator::Hello {
        device_id: Uuid::from_u128(9),
        name: "x".into(),
        capabilities: capabilities(),
        credential: JoinCredential::Resume { credential: "r".into() },
    };
    heartbeat: ToCoordinator = ToCoordinator::Heartbeat;
    work_request: ToCoordinator = ToCoordinator::WorkRequest { slots: 4 };
    task_result_matmul: ToCoordinator = ToCoordinator::TaskResult {
        task_id: 1,
        output: TaskOutput::MatmulTile { c: vec![1.0, -2.5, f32::MAX] },
    };
    task_results: ToCoordinator = ToCoordinator::TaskResults {
        results: vec![(1, TaskOutput::MatmulTile { c: vec![1.0, 2.0] }), (2, TaskOutput::MandelbrotTile { iterations: vec![3] })],
    };
    task_result_mandelbrot: ToCoordinator = ToCoordinator::TaskResult {
        task_id: u64::MAX,
        output: TaskOutput::MandelbrotTile { iterations: vec![0, 5, 200] },
    };
    task_failed: ToCoordinator = ToCoordinator::TaskFailed { task_id: 2, reason: "gpu lost".into() };
    benchmark: ToCoordinator = ToCoordinator::Benchmark { ops_score: 900 };
    cmd_throttle: ToCoordinator = ToCoordinator::Command(MasterCommand::SetThrottle { percent: 55 });
    cmd_run_state: ToCoordinator =
        ToCoordinator::Command(MasterCommand::SetRunState { state: RunState::Paused });
    cmd_enable: ToCoordinator = ToCoordinator::Command(MasterCommand::SetDeviceEnabled {
        device_id: Uuid::from_u128(3),
        enabled: false,
    });
    cmd_create_invite: ToCoordinator = ToCoordinator::Command(MasterCommand::CreateInvite);
    cmd_revoke_invite: ToCoordinator =
        ToCoordinator::Command(MasterCommand::RevokeInvite { token: "ABCD1234".into() });
    cmd_submit_matmul_seeded: ToCoordinator = ToCoordinator::Command(MasterCommand::SubmitJob {
        spec: JobSpec::Matmul(MatmulSpec { m: 4, k: 5, n: 6, tile: 2, source: MatrixSource::Seeded { seed: 42 } }),
    });
    cmd_submit_matmul_data: ToCoordinator = ToCoordinator::Command(MasterCommand::SubmitJob {
        spec: JobSpec::Matmul(MatmulSpec {
            m: 1,
            k: 2,
            n: 1,
            tile: 1,
            source: MatrixSource::Data { a: vec![1.0, 2.0], b: vec![3.0, 4.0] },
        }),
    });
    cmd_submit_mandelbrot: ToCoordinator = ToCoordinator::Command(MasterCommand::SubmitJob {
        spec: JobSpec::Mandelbrot(MandelbrotSpec { view: view(), tile: 16 }),
    });
    cmd_cancel_job: ToCoordinator = ToCoordinator::Command(MasterCommand::CancelJob { job_id: 12 });
    cmd_delete_job: ToCoordinator = ToCoordinator::Command(MasterCommand::DeleteJob { job_id: 13 });
    cmd_power_policy: ToCoordinator = ToCoordinator::Command(MasterCommand::SetPowerPolicy {
        policy: PowerPolicy { plugged_in_only: false, min_battery_percent: 30 },
    });
    power_policy: ToDevice = ToDevice::PowerPolicy { policy: PowerPolicy::ALWAYS };
    cmd_forget_device: ToCoordinator =
        ToCoordinator::Command(MasterCommand::ForgetDevice { device_id: Uuid::from_u128(4) });
    kernels: ToCoordinator = ToCoordinator::Kernels(KernelReport {
        threads: 1,
        cpu_mflops: 900,
        gpu: None,
        matmul: MatmulPath::Both,
        forced: true,
    });
    cmd_send_preview: ToCoordinator = ToCoordinator::Command(MasterCommand::SendPreview { job_id: 14 });
    cmd_submit_wasm_range: ToCoordinator = ToCoordinator::Command(MasterCommand::SubmitJob {
        spec: JobSpec::Wasm(WasmSpec {
            module: ModuleHash([7; 32]),
            name: "pi".into(),
            input: WasmInput::Range { count: 1000, args: vec![1, 2, 3] },
            limits: TaskLimits::default(),
            verification: Verification::default(),
        }),
    });
    cmd_submit_wasm_records: ToCoordinator = ToCoordinator::Command(MasterCommand::SubmitJob {
        spec: JobSpec::Wasm(WasmSpec {
            module: ModuleHash([8; 32]),
            name: String::new(),
            input: WasmInput::Records { records: vec![Record(vec![]), Record(vec![9; 300])], open: true },
            limits: TaskLimits { time_limit_ms: 5, max_output_bytes: 6 },
            verification: Verification::None,
        }),
    });
    fetch_module: ToCoordinator = ToCoordinator::FetchModule { module: ModuleHash([1; 32]) };
    task_result_wasm: ToCoordinator = ToCoordinator::TaskResult {
        task_id: 3,
        output: TaskOutput::Wasm { output: vec![0, 255, 7] },
    };

    welcome: ToDevice = ToDevice::Welcome(Welcome {
        swarm_id: Uuid::from_u128(1),
        device_id: Uuid::from_u128(2),
        role: Role::Master,
        master_key: Some("secret".into()),
        resume_credential: None,
        throttle: 100,
        run_state: RunState::Idle,
        power_policy: PowerPolicy { plugged_in_only: true, min_battery_percent: 20 },
        enabled: true,
        heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
        tls_fingerprint: None,
        log: vec![LogLine { at_ms: 1, level: LogLevel::Warn, message: "device lost".into() }],
    });
    rejected: ToDevice = ToDevice::Rejected { code: RejectCode::ExpiredCode, message: "expired".into() };
    assign: ToDevice = ToDevice::Assign {
        tasks: vec![
            Task {
                id: 1,
                job_id: 2,
                lease_ms: 30_000,
                kind: TaskKind::MatmulTile { rows: 1, k: 1, cols: 1, a: vec![2.0], b: vec![3.0] },
            },
            Task {
                id: 2,
                job_id: 3,
                lease_ms: 1,
                kind: TaskKind::MandelbrotTile { view: view(), x: 16, y: 0, w: 16, h: 16 },
            },
        ],
    };
    cancel: ToDevice = ToDevice::Cancel { task_ids: vec![1, 2, 3] };
    throttle: ToDevice = ToDevice::Throttle { percent: 0 };
    run_state: ToDevice = ToDevice::RunState { state: RunState::Stopped };
    device_enabled: ToDevice = ToDevice::DeviceEnabled { enabled: false };
    snapshot_master: ToDevice = ToDevice::Snapshot(Snapshot::Master {
        totals: totals(),
        devices: vec![DeviceRow {
            device_id: Uuid::from_u128(5),
            name: "laptop".into(),
            platform: "macOS".into(),
            cores: 8,
            gpu: Some("apple".into()),
            ops_score: 3000,
            role: Role::Worker,
            stats: stats(),
            kernels: Some(KernelReport {
                threads: 7,
                cpu_mflops: 21_700,
                gpu: Some(GpuPath {
                    info: GpuInfo { vendor: "google".into(), description: "SwiftShader".into(), fallback: true },
                    mflops: 2_900,
                }),
                matmul: MatmulPath::Cpu,
                forced: false,
            }),
        }],
        jobs: vec![progress()],
        usage: SwarmUsage {
            jobs: Quota { used: 1, limit: 32 },
            result_bytes: Quota { used: 1 << 24, limit: 1 << 30 },
            devices: Quota { used: 3, limit: 10_000 },
            invites: Quota { used: 0, limit: 16 },
        },
    });
    snapshot_worker: ToDevice = ToDevice::Snapshot(Snapshot::Worker {
        totals: totals(),
        me: DeviceStats { status: DeviceStatus::Online, ..stats() },
    });
    job_progress: ToDevice = ToDevice::JobProgress(progress());
    job_progress_mandelbrot: ToDevice = ToDevice::JobProgress(JobProgress {
        kind: JobKind::Mandelbrot,
        view: Some(view()),
        ..progress()
    });
    mandelbrot_tile: ToDevice = ToDevice::MandelbrotTile {
        job_id: 1,
        rect: Rect { x: 0, y: 16, w: 2, h: 1 },
        iterations: vec![3, 200],
    };
    invite_created: ToDevice = ToDevice::InviteCreated(Invite {
        token: "ABCD1234".into(),
        url: "http://192.168.1.2:8080/join?token=ABCD1234".into(),
        expires_in_s: 900,
        qr_svg: "<svg/>".into(),
    });
    command_ok: ToDevice = ToDevice::CommandOk { message: "job 3 accepted".into(), job_id: Some(3) };
    command_error: ToDevice = ToDevice::CommandError {
        code: CommandErrorCode::NotMaster,
        message: "only the master".into(),
    };
    log_line: ToDevice = ToDevice::Log(LogLine { at_ms: 1, level: LogLevel::Warn, message: "hi".into() });
    module: ToDevice = ToDevice::Module { module: ModuleHash([2; 32]), bytes: Ok(ModuleBytes(vec![0, 97, 115, 109])) };
    module_missing: ToDevice = ToDevice::Module { module: ModuleHash([3; 32]), bytes: Err("deleted".into()) };
    assign_wasm: ToDevice = ToDevice::Assign {
        tasks: vec![Task {
            id: 4,
            job_id: 5,
            lease_ms: 90_000,
            kind: TaskKind::Wasm { module: ModuleHash([4; 32]), input: vec![1; 9], time_limit_ms: 1000, max_output_bytes: 64 },
        }],
    };
    job_progress_wasm: ToDevice = ToDevice::JobProgress(JobProgress {
        kind: JobKind::Wasm,
        replication: Some(ReplicationStats { checked: true, results: 12, replicas: 4, agreed: 3, awaiting: 1, ..Default::default() }),
        ..progress()
    });
}

#[test]
fn devices_want_work_only_while_running_or_idle_and_enabled() {
    assert!(RunState::Running.wants_work(true));
    assert!(RunState::Idle.wants_work(true));
    assert!(!RunState::Paused.wants_work(true));
    assert!(!RunState::Stopped.wants_work(true));
    assert!(!RunState::Running.wants_work(false));
}

#[test]
fn other_version_is_refused() {
    let mut frame = encode(&ToCoordinator::Heartbeat).expect("encode");
    frame[0] ^= 0xff;
    let err = decode::<ToCoordinator>(&frame).expect_err("version must be checked");
    assert!(err.version_mismatch().is_some(), "{err}");
}

#[test]
fn trailing_bytes_are_refused() {
    let mut frame = encode(&ToCoordinator::Heartbeat).expect("encode");
    frame.push(0);
    assert!(matches!(decode::<ToCoordinator>(&frame), Err(DecodeError::TrailingBytes(1))));
}

#[test]
fn empty_and_header_only_frames_are_refused() {
    assert!(matches!(decode::<ToDevice>(&[]), Err(DecodeError::TooShort(0))));
    let header = PROTOCOL_VERSION.to_le_bytes();
    assert!(matches!(decode::<ToDevice>(&header), Err(DecodeError::Malformed(_))));
}

#[test]
fn huge_length_prefix_is_refused_without_allocating() {
    // A TaskResult whose vector claims u64::MAX / 2 elements.
    let mut frame = encode(&ToCoordinator::TaskResult { task_id: 1, output: TaskOutput::MatmulTile { c: vec![] } })
        .expect("encode");
    frame.pop(); // the zero length
    frame.push(0xfd); // varint marker for a u64
    frame.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(decode::<ToCoordinator>(&frame).is_err());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode::<ToCoordinator>(&bytes);
        let _ = decode::<ToDevice>(&bytes);
    }

    #[test]
    fn random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut frame = PROTOCOL_VERSION.to_le_bytes().to_vec();
        frame.extend_from_slice(&body);
        let _ = decode::<ToCoordinator>(&frame);
        let _ = decode::<ToDevice>(&frame);
    }
}

#[test]
fn f32_panels_travel_as_bytes_and_a_ragged_byte_count_is_refused() {
    let values: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5 - 7.25).collect();
    let result = ToCoordinator::TaskResult { task_id: 1, output: TaskOutput::MatmulTile { c: values.clone() } };
    let frame = encode(&result).expect("encodes");
    assert!(frame.len() < 4 * values.len() + 16, "4 bytes per value plus headers, got {}", frame.len());
    assert_eq!(decode::<ToCoordinator>(&frame).expect("decodes"), result);
    // Claim one byte fewer: the body no longer holds whole f32 values.
    let short = ToCoordinator::TaskResult { task_id: 1, output: TaskOutput::MatmulTile { c: vec![1.0] } };
    let mut frame = encode(&short).expect("encodes");
    let at = frame.len() - 5;
    assert_eq!(frame[at], 4, "the byte count precedes the bytes");
    frame[at] = 3;
    frame.pop();
    assert!(decode::<ToCoordinator>(&frame).is_err());
}
