//! Kernels written by hand in WAT, with no SDK: the proof that the ABI is all a language
//! needs, and the hostile kernels of the tests. Text only; parse it with the `wat` crate.

/// A module with a bump allocator and the ABI's exports around a `run` body (which has the
/// parameters `$ptr` and `$len` and the locals `$out` and `$i`), plus `extra` fields
/// (functions such as `verify`).
pub fn with_run(run_body: &str, extra: &str) -> String {
    format!(
        r#"(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (func $alloc (export "alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (local.get $p) (local.get $len)))
    (block $done
      (loop $grow
        (br_if $done (i32.le_u (global.get $next) (i32.shl (memory.size) (i32.const 16))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (br $grow)))
    (local.get $p))
  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $out i32) (local $i i32)
    {run_body})
  {extra})"#
    )
}

/// A kernel whose `run` answers its input reversed.
pub fn reverse() -> String {
    with_run(
        r#"(local.set $out (call $alloc (local.get $len)))
    (block $end
      (loop $copy
        (br_if $end (i32.ge_u (local.get $i) (local.get $len)))
        (i32.store8
          (i32.add (local.get $out) (local.get $i))
          (i32.load8_u (i32.sub (i32.add (local.get $ptr) (local.get $len)) (i32.add (local.get $i) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $copy)))
    (i64.or (i64.extend_i32_u (local.get $out)) (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32)))"#,
        "",
    )
}
