//! Kernels written in WAT: the ABI honoured, every refusal at upload, and every way a
//! hostile kernel can fail its task.

use ostrich_protocol::MAX_MEMORY_PAGES;
use wasmparser::{Parser, Payload};

use super::*;

/// A kernel around a `run` body and any extra fields (see [`wat_kernels::with_run`]).
fn kernel(run_body: &str, extra: &str) -> Vec<u8> {
    wat::parse_str(wat_kernels::with_run(run_body, extra)).expect("valid WAT")
}

/// `run` answers its input reversed.
fn reverse() -> Vec<u8> {
    wat::parse_str(wat_kernels::reverse()).expect("valid WAT")
}

fn run(bytes: &[u8], input: &[u8]) -> Result<Vec<u8>, KernelError> {
    let prepared = prepare(bytes).expect("the module is accepted");
    let host = Host::worker().expect("host");
    let kernel = host.compile(&prepared.bytes).expect("compiles");
    host.run(&kernel, input, 2_000, 1 << 20)
}

fn refusal(bytes: &[u8]) -> String {
    prepare(bytes).expect_err("the module is refused").to_string()
}

#[test]
fn a_kernel_in_wat_runs_bytes_in_bytes_out() {
    assert_eq!(run(&reverse(), b"hello"), Ok(b"olleh".to_vec()));
    assert_eq!(run(&reverse(), b""), Ok(Vec::new()));
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let mut expected = big.clone();
    expected.reverse();
    assert_eq!(run(&reverse(), &big), Ok(expected), "an input larger than the first page grows memory");
}

#[test]
fn the_stored_module_carries_the_memory_limit_and_its_name_is_the_uploads_hash() {
    let upload = reverse();
    let prepared = prepare(&upload).expect("accepted");
    assert_eq!(prepared.hash, module_hash(&upload));
    assert!(!prepared.has_verify);
    let maximum = Parser::new(0).parse_all(&prepared.bytes).find_map(|payload| match payload {
        Ok(Payload::MemorySection(reader)) => reader.into_iter().next().and_then(Result::ok).map(|m| m.maximum),
        _ => None,
    });
    assert_eq!(maximum, Some(Some(MAX_MEMORY_PAGES)));
    // A module that declares a lower maximum keeps it.
    let limited = wat::parse_str(
        r#"(module (memory (export "memory") 1 3)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "run") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .expect("wat");
    let prepared = prepare(&limited).expect("accepted");
    let maximum = Parser::new(0).parse_all(&prepared.bytes).find_map(|payload| match payload {
        Ok(Payload::MemorySection(reader)) => reader.into_iter().next().and_then(Result::ok).map(|m| m.maximum),
        _ => None,
    });
    assert_eq!(maximum, Some(Some(3)));
}

#[test]
fn uploads_are_refused_with_their_cause_named() {
    let with_import = wat::parse_str(
        r#"(module (import "env" "now" (func)) (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "run") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .expect("wat");
    assert!(refusal(&with_import).contains("imports `env`.`now`"), "{}", refusal(&with_import));

    let shared = wat::parse_str(
        r#"(module (memory (export "memory") 1 2 shared)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "run") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .expect("wat");
    assert!(refusal(&shared).contains("threads"), "{}", refusal(&shared));

    let atomics = kernel("(drop (i32.atomic.load (i32.const 0))) (i64.const 0)", "");
    assert!(refusal(&atomics).contains("threads"), "{}", refusal(&atomics));

    let relaxed = kernel("(drop (i32x4.relaxed_trunc_f32x4_s (v128.const i32x4 0 0 0 0))) (i64.const 0)", "");
    assert!(refusal(&relaxed).contains("relaxed SIMD"), "{}", refusal(&relaxed));

    let memory64 = wat::parse_str(
        r#"(module (memory (export "memory") i64 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "run") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .expect("wat");
    assert!(refusal(&memory64).contains("memory64"), "{}", refusal(&memory64));

    let huge_memory = wat::parse_str(
        r#"(module (memory (export "memory") 1 65536)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "run") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .expect("wat");
    assert!(refusal(&huge_memory).contains("maximum is 65536 pages"), "{}", refusal(&huge_memory));

    let no_run = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "alloc") (param i32) (result i32) (i32.const 0)))"#,
    )
    .expect("wat");
    assert!(refusal(&no_run).contains("does not export `run`"), "{}", refusal(&no_run));

    let wrong_run = wat::parse_str(
        r#"(module (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "run") (param i32 i32) (result i32) (i32.const 0)))"#,
    )
    .expect("wat");
    assert!(refusal(&wrong_run).contains("`run` must be"), "{}", refusal(&wrong_run));

    let simd = kernel("(drop (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 1 2 3 4))) (i64.const 0)", "");
    assert!(prepare(&simd).is_ok(), "fixed-width SIMD128 is allowed");

    assert!(refusal(b"not wasm at all").contains("not a WebAssembly module"));
    let too_big = vec![0u8; ostrich_protocol::MAX_MODULE_BYTES + 1];
    assert!(refusal(&too_big).contains("over the limit"));
}

#[test]
fn hostile_kernels_fail_their_call_with_a_reason_and_the_host_carries_on() {
    let spin = kernel("(loop $forever (br $forever)) (i64.const 0)", "");
    let prepared = prepare(&spin).expect("accepted");
    let host = Host::worker().expect("host");
    let kernel_spin = host.compile(&prepared.bytes).expect("compiles");
    assert_eq!(host.run(&kernel_spin, b"", 50, 64), Err(KernelError::TimeLimit(50)));

    // Grows memory until refused at the limit, then traps.
    let bomb = kernel(
        "(block $full (loop $more (br_if $full (i32.eq (memory.grow (i32.const 256)) (i32.const -1))) (br $more))) unreachable",
        "",
    );
    let error = run(&bomb, b"").expect_err("the bomb traps");
    assert!(matches!(&error, KernelError::Trap(reason) if reason.contains("unreachable")), "{error}");

    let recursion = kernel(
        "(call $deep (i32.const 0)) (i64.const 0)",
        "(func $deep (param i32) (call $deep (i32.add (local.get 0) (i32.const 1))))",
    );
    let error = run(&recursion, b"").expect_err("the recursion traps");
    assert!(error.to_string().contains("stack"), "{error}");

    let huge = kernel("(i64.shl (i64.const 1048577) (i64.const 32))", "");
    assert_eq!(run(&huge, b""), Err(KernelError::OutputTooLarge { len: 1_048_577, limit: 1 << 20 }));

    let outside = kernel("(i64.or (i64.const 0xffff0000) (i64.shl (i64.const 65536) (i64.const 32)))", "");
    assert!(matches!(run(&outside, b""), Err(KernelError::Abi(_))));

    // The host still runs an honest kernel after all of that.
    assert_eq!(run(&reverse(), b"ab"), Ok(b"ba".to_vec()));
}

#[test]
fn nans_are_canonical_so_outputs_are_the_same_bytes_everywhere() {
    // Writes the bits of 0/0 (f32) as the 4-byte output.
    let nan = kernel(
        "(local.set $out (call $alloc (i32.const 4)))
    (f32.store (local.get $out) (f32.div (f32.const 0) (f32.convert_i32_s (local.get $len))))
    (i64.or (i64.extend_i32_u (local.get $out)) (i64.shl (i64.const 4) (i64.const 32)))",
        "",
    );
    let output = run(&nan, b"").expect("runs");
    assert_eq!(output, 0x7fc0_0000u32.to_le_bytes());
}

#[test]
fn every_way_a_nans_bits_leave_a_float_gives_the_canonical_nan() {
    // 0/0 at run time; x86 computes the negative NaN, so none of this is canonical unless
    // the rewrite made it so.
    let nan = "(f64.div (f64.const 0) (f64.convert_i32_s (local.get $len)))";
    let zero = "(f64.convert_i32_s (local.get $len))";
    let bits = kernel(
        &format!(
            "(local.set $out (call $alloc (i32.const 72)))
    (f64.store (local.get $out) {nan})
    (i64.store offset=8 (local.get $out) (i64.reinterpret_f64 {nan}))
    (f64.store offset=16 (local.get $out) (f64.copysign (f64.const 1) {nan}))
    (v128.store offset=24 (local.get $out) (f64x2.splat {nan}))
    (v128.store offset=40 (local.get $out) (f64x2.div (f64x2.splat {zero}) (f64x2.splat {zero})))
    (v128.store offset=56 (local.get $out)
      (f32x4.sqrt (f32x4.splat (f32.sub (f32.const -1) (f32.convert_i32_s (local.get $len))))))
    (i64.or (i64.extend_i32_u (local.get $out)) (i64.shl (i64.const 72) (i64.const 32)))"
        ),
        "",
    );
    let output = run(&bits, b"").expect("runs");
    let f64_nan = canonical::F64_NAN.to_le_bytes();
    let mut expected = Vec::new();
    expected.extend(f64_nan); // f64.store
    expected.extend(f64_nan); // i64.reinterpret_f64
    expected.extend(1.0f64.to_le_bytes()); // copysign takes the canonical NaN's + sign
    expected.extend([f64_nan, f64_nan].concat()); // f64x2.splat
    expected.extend([f64_nan, f64_nan].concat()); // f64x2.div
    expected.extend(canonical::F32_NAN.to_le_bytes().repeat(4)); // f32x4.sqrt
    assert_eq!(output, expected);
}

#[test]
fn the_stored_module_keeps_no_debug_info_but_keeps_names() {
    let mut upload = reverse();
    // A custom section as a compiler's DWARF would be: its code offsets would be stale.
    let mut debug = wasm_encoder::Module::new();
    debug.section(&wasm_encoder::CustomSection { name: ".debug_info".into(), data: vec![1, 2, 3].into() });
    upload.extend_from_slice(&debug.finish()[8..]);
    let stored = prepare(&upload).expect("accepted").bytes;
    let customs: Vec<String> = Parser::new(0)
        .parse_all(&stored)
        .filter_map(|p| match p.expect("valid") {
            Payload::CustomSection(c) => Some(c.name().to_string()),
            _ => None,
        })
        .collect();
    assert!(!customs.contains(&".debug_info".to_string()), "{customs:?}");
    assert_eq!(run(&upload, b"abc"), Ok(b"cba".to_vec()));
}

#[test]
fn verify_is_run_under_fuel() {
    // verify: the output must be the input reversed (checked by its first and last bytes).
    let checking = kernel(
        "(i64.const 0)",
        r#"(func (export "verify") (param $ip i32) (param $il i32) (param $op i32) (param $ol i32) (result i32)
            (if (result i32) (i32.ne (local.get $il) (local.get $ol)) (then (i32.const 0))
              (else (i32.eq (i32.load8_u (local.get $ip))
                            (i32.load8_u (i32.sub (i32.add (local.get $op) (local.get $ol)) (i32.const 1)))))))"#,
    );
    let prepared = prepare(&checking).expect("accepted");
    assert!(prepared.has_verify);
    let host = Host::verifier().expect("host");
    let compiled = host.compile(&prepared.bytes).expect("compiles");
    assert_eq!(host.verify(&compiled, b"abc", b"cba"), Ok(true));
    assert_eq!(host.verify(&compiled, b"abc", b"abd"), Ok(false));
    assert_eq!(host.verify(&compiled, b"abc", b"ab"), Ok(false));

    let endless = kernel(
        "(i64.const 0)",
        r#"(func (export "verify") (param i32 i32 i32 i32) (result i32) (loop $forever (br $forever)) (i32.const 1))"#,
    );
    let prepared = prepare(&endless).expect("accepted");
    let compiled = host.compile(&prepared.bytes).expect("compiles");
    assert_eq!(host.verify(&compiled, b"a", b"a"), Err(KernelError::OutOfFuel));

    let wrong_verify = kernel("(i64.const 0)", r#"(func (export "verify") (param i32) (result i32) (i32.const 1))"#);
    assert!(refusal(&wrong_verify).contains("`verify` must be"));
}

#[test]
fn the_cache_compiles_each_module_once() {
    let host = Host::worker().expect("host");
    let cache = Cache::default();
    let prepared = prepare(&reverse()).expect("accepted");
    let bytes: std::sync::Arc<[u8]> = prepared.bytes.clone().into();
    let mut compiles = 0;
    for _ in 0..3 {
        let kernel = cache
            .get_or_compile(&host, prepared.hash, || {
                compiles += 1;
                Some(bytes.clone())
            })
            .expect("compiled");
        assert!(kernel.as_ref().as_ref().is_ok());
    }
    assert_eq!(compiles, 1);
    assert!(cache.contains(prepared.hash));
}
