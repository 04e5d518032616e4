//! Async calls (`wire::call_start` / `AsyncCall::finish`, the protocol behind `await instance.call`): short
//! calls finish on the calling thread, long ones are suspended at the end of their time slice, continued there
//! for a few slices (`call_continue`) and then finished on another thread, with the instance busy (5002)
//! meanwhile.

use std::time::{Duration, Instant};

use ext_wasm::wire::{self, tag, Step, OUT_HEADER, SLOT};
use ext_wasm::{ErrorCode, HostCall, HostFunc, Runtime, RuntimeConfig};

use crate::*;

const GUEST: &str = r#"(module
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "spin") (param i32) (result i32) (local i32)
    (loop $l (local.set 1 (i32.add (local.get 1) (i32.const 1))) (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1))
  (func (export "boom") unreachable))"#;

/// A runtime with 2 ms slices whose calls may run `caller_slices` of them on the calling thread.
fn runtime_with_slices(caller_slices: u32) -> Runtime {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    config.pool.total_instances = 20;
    config.call_slice = Duration::from_millis(2);
    config.caller_slices = caller_slices;
    Runtime::new(config)
}

/// Most tests here are about the move to another thread: it happens after the first slice.
fn sliced_runtime() -> Runtime {
    runtime_with_slices(1)
}

/// A runtime whose calls may run three slices on the calling thread before they move.
fn three_slices_here() -> Runtime {
    runtime_with_slices(3)
}

/// An instance of [`GUEST`] created with instance `options` (JSON), as a handle.
fn guest(rt: &Runtime, options: &[u8]) -> f64 {
    let m = wire::compile(rt, GUEST.as_bytes()).unwrap() as f64;
    wire::instantiate(rt, m, options, b"").unwrap() as f64
}

fn frame_with(args: &[i32]) -> Vec<u8> {
    let mut f = vec![0u8; OUT_HEADER + 4 * SLOT];
    for (i, a) in args.iter().enumerate() {
        let at = OUT_HEADER + i * SLOT;
        f[at] = tag::I32;
        f[at + 8..at + 12].copy_from_slice(&a.to_le_bytes());
    }
    f
}

fn result0(f: &[u8]) -> i32 {
    i32::from_le_bytes(f[OUT_HEADER + 8..OUT_HEADER + 12].try_into().unwrap())
}

fn start(rt: &Runtime, i: f64, name: &str, f: &mut [u8], nargs: u32) -> Step {
    wire::call_start(rt, i, name, f, nargs, false).unwrap()
}

/// Take a started call to its end as a host does: continue it while it yields, finish it once it is pending.
/// The last step, and how many times it was continued.
fn to_the_end(mut step: ext_wasm::Result<Step>, f: &mut [u8]) -> (ext_wasm::Result<Step>, u32) {
    let mut continued = 0;
    while let Ok(Step::Yielded(token)) = step {
        continued += 1;
        step = wire::call_continue(token, f);
    }
    if let Ok(Step::Pending(token)) = step {
        step = wire::call_finish(token, f);
    }
    (step, continued)
}

#[test]
fn a_short_call_is_done_on_the_calling_thread() {
    let rt = sliced_runtime();
    let i = guest(&rt, b"");
    let mut f = frame_with(&[40, 2]);
    match start(&rt, i, "add", &mut f, 2) {
        Step::Done(count) => assert_eq!((count, result0(&f)), (1, 42)),
        other => panic!("a 2-instruction call outlived a 2 ms slice: {other:?}"),
    }
}

/// A plugin with a suspending import (none of its calls may run off a fiber but the short ones), a short
/// export `add` and an export `spin` that could be suspended (it has a loop).
const SHORT_AND_LONG: &str = r#"(module (import "host" "f" (func (result i32)))
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "spin") (param i32) (result i32) (loop) (local.get 0)))"#;

/// A runtime with one fiber stack, already taken: the first store that calls on a fiber keeps it.
fn no_free_stack(cache: Option<&std::path::Path>) -> Runtime {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = cache.is_some();
    config.cache.dir = cache.map(|d| d.to_path_buf());
    config.pool.total_instances = 4;
    config.pool.total_stacks = Some(1);
    let rt = Runtime::new(config);
    let holder = guest(&rt, b"");
    let mut f = frame_with(&[1000]);
    assert_eq!(
        to_the_end(Ok(start(&rt, holder, "spin", &mut f, 1)), &mut f).0.unwrap(),
        Step::Done(1)
    );
    rt
}

/// `add` of a [`SHORT_AND_LONG`] module is done at once; `spin` fails for want of a fiber stack (5013).
fn assert_short_runs_without_a_fiber(rt: &Runtime, module: f64) {
    let plugin = wire::instantiate(rt, module, br#"{"hostImports":[["host","f"]]}"#, b"").unwrap() as f64;
    let mut f = frame_with(&[40, 2]);
    assert_eq!(start(rt, plugin, "add", &mut f, 2), Step::Done(1));
    assert_eq!(result0(&f), 42);
    let mut f = frame_with(&[7]);
    let err = wire::call_start(rt, plugin, "spin", &mut f, 1, false).unwrap_err();
    assert_eq!(err.code(), ErrorCode::LimitExceeded, "{err}");
}

/// A short export (no loop, no call: Wasmtime's code checks for the end of a slice only at function entries and
/// loop headers, so it cannot be suspended once begun) runs without a fiber: its async call is done even when
/// no fiber stack is free, where an export that could be suspended fails with 5013.
#[test]
fn a_short_export_needs_no_fiber_stack() {
    let rt = no_free_stack(None);
    let m = wire::compile(&rt, SHORT_AND_LONG.as_bytes()).unwrap() as f64;
    assert_short_runs_without_a_fiber(&rt, m);
}

/// A file the cache remembers is loaded without reading it: its short exports are found from the file, read
/// at the first async call.
#[test]
fn a_remembered_files_short_exports_are_found_from_the_file() {
    let cache = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("plugin.wasm");
    std::fs::write(&path, wat::parse_str(SHORT_AND_LONG).unwrap()).unwrap();
    std::thread::sleep(ext_wasm::STAMP_SETTLE + Duration::from_millis(100));
    no_free_stack(Some(cache.path())).compile_file(&path).unwrap();
    let rt = no_free_stack(Some(cache.path()));
    let report = rt.compile_file_report(&path).unwrap();
    assert_eq!(report.origin, ext_wasm::LoadOrigin::CacheHit);
    assert_short_runs_without_a_fiber(&rt, report.id.0 as f64);
}

/// An export whose only calls are of a host function that does not suspend (Rust's `HostFunc::wrap`, WASI) is
/// short too: the host function runs on the calling thread's stack either way and has no epoch check. Without
/// a free fiber stack its async call is done at once, where a call that could be suspended is pending (it runs
/// whole on another thread).
#[test]
fn an_export_calling_only_a_host_function_that_does_not_suspend_needs_no_fiber_stack() {
    let rt = no_free_stack(None);
    rt.define_host_func("forge", "twice", HostFunc::wrap(|_: &mut HostCall, x: i32| Ok(2 * x)));
    let m = wire::compile(
        &rt,
        br#"(module (import "forge" "twice" (func $twice (param i32) (result i32)))
              (func (export "quad") (param i32) (result i32) (call $twice (call $twice (local.get 0))))
              (func (export "quad_loop") (param i32) (result i32) (loop) (call $twice (call $twice (local.get 0)))))"#,
    )
    .unwrap() as f64;
    let i = wire::instantiate(&rt, m, b"", b"").unwrap() as f64;
    let mut f = frame_with(&[5]);
    assert_eq!(start(&rt, i, "quad", &mut f, 1), Step::Done(1));
    assert_eq!(result0(&f), 20);
    assert_eq!(result_of_a_pending_call(&rt, i, "quad_loop", &[5]), 20);
}

/// Start `name(args)`, which must come back pending (it needs a fiber and none is free: it runs whole on
/// another thread), take it to its end and give its one result.
fn result_of_a_pending_call(rt: &Runtime, i: f64, name: &str, args: &[i32]) -> i32 {
    let mut f = frame_with(args);
    let step = start(rt, i, name, &mut f, args.len() as u32);
    assert!(matches!(step, Step::Pending(_)), "{step:?}");
    assert_eq!(to_the_end(Ok(step), &mut f).0.unwrap(), Step::Done(1));
    result0(&f)
}

/// An export calling a suspending import is never short: the import needs the fiber (without a stack: 5013).
#[test]
fn an_export_calling_a_suspending_import_keeps_the_fiber() {
    let rt = no_free_stack(None);
    let m = wire::compile(
        &rt,
        br#"(module (import "host" "f" (func $f (result i32))) (func (export "ask") (result i32) (call $f)))"#,
    )
    .unwrap() as f64;
    let plugin = wire::instantiate(&rt, m, br#"{"hostImports":[["host","f"]]}"#, b"").unwrap() as f64;
    let err = wire::call_start(&rt, plugin, "ask", &mut frame_with(&[]), 0, false).unwrap_err();
    assert_eq!(err.code(), ErrorCode::LimitExceeded, "{err}");
}

/// An instance linked to another's function export calls wasm code through that import: not short.
#[test]
fn an_export_calling_a_linked_function_keeps_the_fiber() {
    let rt = no_free_stack(None);
    let lib = wire::compile(&rt, br#"(module (func (export "seven") (result i32) (i32.const 7)))"#).unwrap() as f64;
    let lib = wire::instantiate(&rt, lib, b"", b"").unwrap() as f64;
    let app = wire::compile(
        &rt,
        br#"(module (import "lib" "seven" (func $seven (result i32))) (func (export "run") (result i32) (call $seven)))"#,
    )
    .unwrap() as f64;
    let options = format!(r#"{{"instanceImports":[["lib",{lib}]]}}"#);
    let app = wire::instantiate(&rt, app, options.as_bytes(), b"").unwrap() as f64;
    assert_eq!(result_of_a_pending_call(&rt, app, "run", &[]), 7);
}

#[test]
fn a_long_call_yields_after_its_slice_and_finishes_on_another_thread() {
    let rt = sliced_runtime();
    let i = guest(&rt, b"");
    let n = 1_500_000_000;
    let mut f = frame_with(&[n]);
    let t0 = Instant::now();
    let Step::Pending(call) = start(&rt, i, "spin", &mut f, 1) else {
        panic!("1.5 billion iterations finished within a 2 ms slice");
    };
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "the first slice held the caller {:?}",
        t0.elapsed()
    );
    // Busy meanwhile: fail fast, never block.
    assert_eq!(
        code(wire::call_frame(&rt, i, "add", &mut frame_with(&[1, 2]), 2)),
        ErrorCode::CallError
    );
    assert_eq!(code(wire::memory_size(&rt, i)), ErrorCode::CallError);
    let answer = std::thread::spawn(move || wire::call_finish(call, &mut f).map(|step| (step, result0(&f))));
    assert_eq!(answer.join().unwrap().unwrap(), (Step::Done(1), n));
    // Usable again once the call ended.
    let mut g = frame_with(&[1, 2]);
    assert_eq!(wire::call_frame(&rt, i, "add", &mut g, 2).unwrap(), 1);
}

#[test]
fn traps_and_bad_arguments_come_back_with_their_codes() {
    let rt = sliced_runtime();
    let i = guest(&rt, b"");
    let err = wire::call_start(&rt, i, "boom", &mut frame_with(&[]), 0, false)
        .err()
        .unwrap();
    assert_eq!(err.trap(), Some(ext_wasm::Trap::UnreachableCodeReached));
    assert_eq!(
        code(wire::call_start(&rt, i, "add", &mut frame_with(&[1]), 1, false).map(|_| ())),
        ErrorCode::TypeError
    );
    assert_eq!(
        code(wire::call_start(&rt, i, "nope", &mut frame_with(&[]), 0, false).map(|_| ())),
        ErrorCode::ExportNotFound
    );
    assert_eq!(
        code(wire::call_start(&rt, -1.0, "add", &mut frame_with(&[]), 0, false).map(|_| ())),
        ErrorCode::InvalidInstanceHandle
    );
}

#[test]
fn a_timeout_still_applies_to_a_suspended_call() {
    let rt = sliced_runtime();
    let i = guest(&rt, br#"{"timeoutMs":50}"#);
    let mut f = frame_with(&[i32::MAX]);
    let Step::Pending(call) = start(&rt, i, "spin", &mut f, 1) else {
        panic!("done within the slice")
    };
    assert_eq!(code(wire::call_finish(call, &mut f)), ErrorCode::Timeout);
}

#[test]
fn dropping_the_instance_while_a_call_is_suspended_lets_the_call_finish() {
    let rt = sliced_runtime();
    let i = guest(&rt, b"");
    let n = 1_000_000_000;
    let mut f = frame_with(&[n]);
    let Step::Pending(call) = start(&rt, i, "spin", &mut f, 1) else {
        panic!("done within the slice")
    };
    wire::instance_drop(&rt, i).unwrap();
    assert_eq!(wire::call_finish(call, &mut f).unwrap(), Step::Done(1));
    assert_eq!(result0(&f), n);
    assert_eq!(
        code(wire::call_frame(&rt, i, "add", &mut f, 0)),
        ErrorCode::InvalidInstanceHandle
    );
    assert_eq!(rt.instance_count(), 0);
}

/// Each instance called with `await call` keeps its fiber stack until dropped (wasmtime caches it in the
/// store), so the pool has one per instance slot: with 64, the 65th live instance's short calls went to a
/// worker thread (pending) instead of finishing on the caller's.
#[test]
fn short_calls_finish_at_once_on_every_live_instance() {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    config.pool.total_instances = 200;
    // No slice runs out here, however the machine schedules this thread: pending means no stack was free.
    config.call_slice = Duration::from_secs(60);
    let rt = Runtime::new(config);
    let m = wire::compile(&rt, GUEST.as_bytes()).unwrap() as f64;
    let live: Vec<f64> = (0..150)
        .map(|_| wire::instantiate(&rt, m, b"", b"").unwrap() as f64)
        .collect();
    for (n, &i) in live.iter().enumerate() {
        let mut f = frame_with(&[n as i32, 1]);
        assert_eq!(
            wire::call_start(&rt, i, "add", &mut f, 2, false).unwrap(),
            Step::Done(1),
            "instance {n}"
        );
        assert_eq!(result0(&f), n as i32 + 1);
    }
}

#[test]
fn a_long_call_continues_in_slices_on_the_calling_thread_then_moves() {
    let rt = three_slices_here();
    let i = guest(&rt, b"");
    let n = 1_500_000_000;
    let mut f = frame_with(&[n]);
    let Step::Yielded(first) = start(&rt, i, "spin", &mut f, 1) else {
        panic!("1.5 billion iterations finished within a 2 ms slice");
    };
    // Busy between slices too: fail fast, never block.
    assert_eq!(
        code(wire::call_frame(&rt, i, "add", &mut frame_with(&[1, 2]), 2)),
        ErrorCode::CallError
    );
    let Step::Yielded(second) = wire::call_continue(first, &mut f).unwrap() else {
        panic!("the second slice did not yield");
    };
    // The third slice is its last here: then it moves.
    let Step::Pending(rest) = wire::call_continue(second, &mut f).unwrap() else {
        panic!("the call stayed on the calling thread past its three slices");
    };
    let answer = std::thread::spawn(move || wire::call_finish(rest, &mut f).map(|step| (step, result0(&f))));
    assert_eq!(answer.join().unwrap().unwrap(), (Step::Done(1), n));
}

#[test]
fn a_call_continued_in_slices_gives_its_result() {
    let rt = three_slices_here();
    let i = guest(&rt, b"");
    // About a slice's worth of work: it ends in one of its slices here, or after the move.
    let n = 3_000_000;
    let mut f = frame_with(&[n]);
    let (step, continued) = to_the_end(Ok(start(&rt, i, "spin", &mut f, 1)), &mut f);
    assert!(continued <= 2, "{continued} continuations for three slices");
    assert_eq!((step.unwrap(), result0(&f)), (Step::Done(1), n));
    assert_eq!(wire::call_frame(&rt, i, "add", &mut frame_with(&[1, 2]), 2).unwrap(), 1);
}

#[test]
fn continuing_an_unknown_call_is_a_type_error() {
    assert_eq!(
        code(wire::call_continue(u64::MAX, &mut frame_with(&[])).map(|_| ())),
        ErrorCode::TypeError
    );
}

#[test]
fn a_timeout_applies_across_slices_on_the_calling_thread() {
    let rt = three_slices_here();
    let i = guest(&rt, br#"{"timeoutMs":3}"#);
    let mut f = frame_with(&[i32::MAX]);
    let (step, _) = to_the_end(wire::call_start(&rt, i, "spin", &mut f, 1, false), &mut f);
    assert_eq!(code(step.map(|_| ())), ErrorCode::Timeout);
}

/// Each numeric type, bit for bit, through a short async call: signatures of up to four values (called straight,
/// as a typed function of four raw slots) and longer ones (through the entry trampoline) answer exactly what the
/// same call on the synchronous path does.
#[test]
fn an_async_call_gives_every_numeric_type_bit_for_bit() {
    let rt = sliced_runtime();
    let m = wire::compile(
        &rt,
        br#"(module
          (func (export "swap") (param i32 i64 f32 f64) (result f64 f32 i64 i32)
            local.get 3 local.get 2 local.get 1 local.get 0)
          (func (export "five") (param i32 i64 f32 f64 i32) (result i32 f64 f32 i64 i32)
            local.get 4 local.get 3 local.get 2 local.get 1 local.get 0)
          (func (export "nothing")))"#,
    )
    .unwrap() as f64;
    let i = wire::instantiate(&rt, m, b"", b"").unwrap() as f64;
    // A negative i32, an i64 beyond 2^53, a signalling NaN with a payload (wasm moves it unchanged), -0.0.
    let args = [
        (tag::I32, u64::from((-7i32).cast_unsigned())),
        (tag::I64, (-(1i64 << 60) + 3).cast_unsigned()),
        (tag::F32, u64::from(0x7fa0_0001u32)),
        (tag::F64, (-0.0f64).to_bits()),
        (tag::I32, u64::from(u32::MAX)),
    ];
    let frame_of = |n: usize| {
        let mut f = vec![0u8; OUT_HEADER + 5 * SLOT];
        for (k, (t, bits)) in args[..n].iter().enumerate() {
            let at = OUT_HEADER + k * SLOT;
            f[at] = *t;
            f[at + 8..]
                .first_chunk_mut::<8>()
                .unwrap()
                .copy_from_slice(&bits.to_le_bytes());
        }
        f
    };
    let slots = |f: &[u8], n: usize| -> Vec<(u8, u64)> {
        (0..n)
            .map(|k| {
                let at = OUT_HEADER + k * SLOT;
                (f[at], u64::from_le_bytes(*f[at + 8..].first_chunk::<8>().unwrap()))
            })
            .collect()
    };
    for (name, n) in [("swap", 4), ("five", 5), ("nothing", 0)] {
        let (mut sync, mut started) = (frame_of(n), frame_of(n));
        let count = wire::call_frame(&rt, i, name, &mut sync, n as u32).unwrap();
        match start(&rt, i, name, &mut started, n as u32) {
            Step::Done(c) => assert_eq!(c, u64::from(count), "{name}"),
            other => panic!("{name}: a short call did not finish at once: {other:?}"),
        }
        let mut reversed: Vec<_> = args[..n].to_vec();
        reversed.reverse();
        assert_eq!(slots(&sync, n), reversed, "{name} on the synchronous path");
        assert_eq!(slots(&started, n), reversed, "{name} as an async call");
    }
}
