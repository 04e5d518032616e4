//! The wire layer (`ext_wasm::wire`): what every host operation does, with exact codes and messages. Both hosts
//! (the C ABI, the deno_core ops) are transport over these functions, so these are the answers users see.

use ext_wasm::wire::{self, tag, OUT_HEADER, SLOT};
use ext_wasm::{ErrorCode, Runtime};

use crate::*;

/// The error's `Display`: what both hosts pass on as the message.
fn message<T: std::fmt::Debug>(r: ext_wasm::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

fn frame(slots: usize) -> Vec<u8> {
    vec![0u8; OUT_HEADER + slots * SLOT]
}

fn put(frame: &mut [u8], i: usize, t: u8, payload: u64) {
    let at = OUT_HEADER + i * SLOT;
    frame[at] = t;
    frame[at + 8..at + 16].copy_from_slice(&payload.to_le_bytes());
}

fn slot(frame: &[u8], i: usize) -> (u8, u64) {
    let at = OUT_HEADER + i * SLOT;
    (
        frame[at],
        u64::from_le_bytes(frame[at + 8..at + 16].try_into().unwrap()),
    )
}

fn module(rt: &Runtime, wat: &str) -> f64 {
    wire::compile(rt, wat.as_bytes()).unwrap() as f64
}

fn inst(rt: &Runtime, wat: &str) -> f64 {
    let m = module(rt, wat);
    wire::instantiate(rt, m, b"", b"").unwrap() as f64
}

#[test]
fn empty_and_whitespace_json_mean_defaults() {
    for json in [&b""[..], b"  \n\t", b"{}"] {
        let config = wire::runtime_config(json).unwrap();
        assert!(config.cache.enabled);
        let options = wire::instance_options(json, b"").unwrap();
        assert!(options.wasi.is_none() && options.fuel.is_none());
    }
}

#[test]
fn malformed_json_unknown_keys_and_wrong_types_are_5007() {
    assert_eq!(
        message(wire::instance_options(b"{", b"")),
        "[5007] type error: invalid instance options: EOF while parsing an object at line 1 column 1"
    );
    assert_eq!(
        message(wire::instance_options(br#"{"fuell":1}"#, b"")),
        "[5007] type error: invalid instance options: unknown field `fuell`, expected one of `wasi`, `fuel`, \
         `callFuel`, `timeoutMs`, `maxMemoryBytes`, `preemptible`, `hostImports`, `exportImports`, `instanceImports`, `syncImports`, `bridgedImports` at line 1 column 8"
    );
    assert_eq!(
        code(wire::runtime_config(br#"{"noCache":"yes"}"#)),
        ErrorCode::TypeError
    );
    assert!(message(wire::runtime_config(b"[]")).starts_with("[5007] type error: invalid runtime config: "));
}

#[test]
fn option_values_are_checked() {
    assert_eq!(
        message(wire::instance_options(br#"{"timeoutMs":"NaN"}"#, b"")),
        "[5007] type error: invalid instance options: invalid type: string \"NaN\", expected f64 at line 1 column 18"
    );
    assert_eq!(
        message(wire::instance_options(br#"{"timeoutMs":-1}"#, b"")),
        "[5007] type error: `timeoutMs` must be a positive number of milliseconds, got -1"
    );
    assert_eq!(
        message(wire::instance_options(br#"{"fuel":"12x"}"#, b"")),
        "[5007] type error: `fuel` must be an integer in 0..2^64, got \"12x\""
    );
    let o = wire::instance_options(br#"{"fuel":"18446744073709551615","callFuel":5}"#, b"").unwrap();
    assert_eq!((o.fuel, o.call_fuel), (Some(u64::MAX), Some(5)));
}

#[test]
fn stdin_bytes_travel_beside_the_json() {
    let json = br#"{"wasi":{"stdin":"bytes"}}"#;
    let o = wire::instance_options(json, b"hi\0").unwrap();
    assert_eq!(o.wasi.unwrap().stdin, ext_wasm::InputMode::Bytes(b"hi\0".to_vec()));
    assert_eq!(
        message(wire::instance_options(b"", b"x")),
        "[5007] type error: stdin bytes were given but the options do not ask for them (`wasi.stdin` is not \"bytes\")"
    );
}

#[test]
fn options_sent_again_give_the_same_instances_and_the_same_errors() {
    // The wire remembers recent option texts: an instantiate repeated with them behaves as the first one did.
    let rt = runtime();
    let m = module(&rt, r#"(module (func (export "f") (result i32) i32.const 7))"#);
    let fueled = br#"{"fuel":1000}"#;
    for _ in 0..3 {
        let i = wire::instantiate(&rt, m, fueled, b"").unwrap() as f64;
        assert_eq!(rt.fuel_left(wire::instance_handle(i).unwrap()).unwrap(), Some(1000));
        wire::instance_drop(&rt, i).unwrap();
    }
    for _ in 0..2 {
        assert_eq!(
            message(wire::instantiate(&rt, m, br#"{"timeoutMs":-1}"#, b"")),
            "[5007] type error: `timeoutMs` must be a positive number of milliseconds, got -1"
        );
    }
    // More texts than are remembered, then the first again: each still means what it says.
    for fuel in 1..=12u64 {
        let i = wire::instantiate(&rt, m, format!(r#"{{"fuel":{fuel}}}"#).as_bytes(), b"").unwrap() as f64;
        assert_eq!(rt.fuel_left(wire::instance_handle(i).unwrap()).unwrap(), Some(fuel));
        wire::instance_drop(&rt, i).unwrap();
    }
}

#[test]
fn handles_must_be_non_negative_safe_integers() {
    let rt = runtime();
    assert_eq!(
        message(wire::module_drop(&rt, -1.0)),
        "[5004] invalid module handle: -1 is not a module handle"
    );
    assert_eq!(
        message(wire::instance_drop(&rt, 1.5)),
        "[5005] invalid instance handle: 1.5 is not an instance handle"
    );
    assert_eq!(code(wire::run_command(&rt, f64::NAN)), ErrorCode::InvalidInstanceHandle);
    assert_eq!(
        code(wire::exit_code(&rt, 2f64.powi(53))),
        ErrorCode::InvalidInstanceHandle
    );
    assert_eq!(
        message(wire::module_exports(&rt, 7.0)),
        "[5004] invalid module handle: no module with handle 7"
    );
    let i = inst(&rt, ADD);
    wire::instance_drop(&rt, i).unwrap();
    assert_eq!(
        message(wire::instance_drop(&rt, i)),
        format!("[5005] invalid instance handle: instance {i} was dropped")
    );
}

#[test]
fn call_tokens_are_safe_integers_naming_a_waiting_call() {
    assert_eq!(
        message(wire::call_token(-1.0)),
        "[5007] type error: -1 is not a call token"
    );
    assert_eq!(
        message(wire::call_token(0.5)),
        "[5007] type error: 0.5 is not a call token"
    );
    let token = wire::call_token(123_456.0).unwrap();
    assert_eq!(
        message(wire::call_finish(token, &mut frame(4))),
        "[5007] type error: no call waiting with token 123456"
    );
}

#[test]
fn call_frame_converts_by_signature_and_overwrites_slots() {
    let rt = runtime();
    let i = inst(
        &rt,
        r#"(module (func (export "f") (param i32 i64) (result i64 f32)
            local.get 1 local.get 0 i64.extend_i32_s i64.add f32.const 0.5))"#,
    );
    let mut f = frame(4);
    put(&mut f, 0, tag::NUMBER, 2f64.to_bits());
    put(&mut f, 1, tag::BIGINT_WIDE, u64::MAX); // 2^64 - 1 as a wide BigInt: fits i64 as -1
    put(&mut f, 2, 0, 0);
    assert_eq!(wire::call_frame(&rt, i, "f", &mut f, 2).unwrap(), 2);
    assert_eq!(slot(&f, 0), (tag::I64, 1));
    assert_eq!(slot(&f, 1), (tag::F32, u64::from(0.5f32.to_bits())));
}

#[test]
fn call_frame_errors() {
    let rt = runtime();
    let i = inst(&rt, ADD);
    let mut f = frame(2);
    assert_eq!(
        message(wire::call_frame(&rt, i, "nope", &mut f, 0)),
        "[5003] export not found: no export named `nope`"
    );
    assert_eq!(
        message(wire::call_frame(&rt, i, "add", &mut f, 1)),
        "[5007] type error: `add` takes 2 argument(s), got 1"
    );
    put(&mut f, 0, tag::NUMBER, 1.5f64.to_bits());
    put(&mut f, 1, tag::NUMBER, 1f64.to_bits());
    assert_eq!(
        message(wire::call_frame(&rt, i, "add", &mut f, 2)),
        "[5007] type error: argument 0: expected i32, got number 1.5"
    );
    put(&mut f, 0, 42, 0);
    assert_eq!(
        message(wire::call_frame(&rt, i, "add", &mut f, 2)),
        "[5007] type error: argument 0: unknown value tag 42"
    );
    let mut one = frame(1);
    put(&mut one, 0, tag::I32, 1);
    assert_eq!(
        message(wire::call_frame(&rt, i, "add", &mut one, 2)),
        "[5007] type error: argument 1: the frame holds only 1 slots"
    );
}

#[test]
fn traps_keep_their_trap_code() {
    let rt = runtime();
    let i = inst(&rt, r#"(module (func (export "boom") unreachable))"#);
    let err = wire::call_frame(&rt, i, "boom", &mut frame(1), 0).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert_eq!(err.trap(), Some(ext_wasm::Trap::UnreachableCodeReached));
    assert!(err.to_string().starts_with("[5002] call error: "), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn exports_are_json() {
    let rt = runtime();
    let m = module(
        &rt,
        r#"(module (memory (export "mem") 1) (global (export "g") i32 (i32.const 1))
            (func (export "f") (param i64) (result f32) f32.const 0))"#,
    );
    let expected = concat!(
        r#"[{"name":"mem","kind":"memory","min":1,"max":null},"#,
        r#"{"name":"g","kind":"global","type":"i32","mutable":false},"#,
        r#"{"name":"f","kind":"func","params":["i64"],"results":["f32"]}]"#
    );
    assert_eq!(wire::module_exports(&rt, m).unwrap(), expected);
    let i = wire::instantiate(&rt, m, b"", b"").unwrap() as f64;
    assert_eq!(wire::instance_exports(&rt, i).unwrap(), expected);
}

#[test]
fn output_streams_are_1_and_2() {
    let rt = runtime();
    let i = inst(&rt, ADD);
    assert_eq!(wire::output(&rt, i, 1).unwrap(), b"");
    assert_eq!(
        message(wire::output(&rt, i, 3)),
        "[5007] type error: unknown output stream 3 (1 = stdout, 2 = stderr)"
    );
}

#[test]
fn memory_numbers_follow_one_rule() {
    let rt = runtime();
    let i = inst(&rt, r#"(module (memory (export "memory") 1 2))"#);
    wire::memory_write(&rt, i, 8.0, b"abc").unwrap();
    let mut buf = [0u8; 3];
    wire::memory_read(&rt, i, 8.0, &mut buf).unwrap();
    assert_eq!(&buf, b"abc");
    assert_eq!(
        message(wire::memory_read(&rt, i, 0.5, &mut buf)),
        "[5007] type error: offset must be an integer, got 0.5"
    );
    assert_eq!(
        message(wire::memory_read(&rt, i, -1.0, &mut buf)),
        "[5006] memory error: out of bounds: offset -1 is negative"
    );
    assert_eq!(
        message(wire::memory_write(&rt, i, 65535.0, b"ab")),
        "[5006] memory error: out of bounds: 2 byte(s) at offset 65535, memory is 65536 bytes"
    );
    assert_eq!(wire::memory_size(&rt, i).unwrap(), (1, 65536));
    assert_eq!(wire::memory_grow(&rt, i, 1.0).unwrap(), 1);
    assert_eq!(code(wire::memory_grow(&rt, i, 1.0)), ErrorCode::MemoryError);
    assert_eq!(
        message(wire::memory_grow(&rt, i, f64::INFINITY)),
        "[5007] type error: pages must be an integer, got inf"
    );
}

#[test]
fn run_command_reports_each_runs_own_status() {
    // `quit` records exit status 7 through `proc_exit`; a later `_start` that returns normally is status 0.
    let rt = runtime();
    let i = inst(
        &rt,
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (func (export "_start"))
            (func (export "quit") (call $exit (i32.const 7))))"#,
    );
    assert_eq!(wire::call_frame(&rt, i, "quit", &mut frame(1), 0).unwrap(), 0);
    assert_eq!(wire::exit_code(&rt, i).unwrap(), Some(7));
    assert_eq!(wire::run_command(&rt, i).unwrap(), 0);
    assert_eq!(wire::exit_code(&rt, i).unwrap(), Some(0));
}

/// `ts/errors.ts` repeats the code table for JavaScript (`ErrorCode`: name → number, and the words after
/// `[code] `); it must say exactly what `src/error.rs` says.
#[test]
fn the_typescript_error_table_matches_the_rust_one() {
    use ext_wasm::Error;
    let ts = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ts/errors.ts")).unwrap();
    let every = [
        Error::Compile(String::new()),
        Error::Instantiate(String::new()),
        Error::Call(String::new()),
        Error::ExportNotFound(String::new()),
        Error::InvalidModuleHandle(String::new()),
        Error::InvalidInstanceHandle(String::new()),
        Error::Memory(String::new()),
        Error::Type(String::new()),
        Error::Io(String::new()),
        Error::PermissionDenied(String::new()),
        Error::Wasi(String::new()),
        Error::FuelExhausted(String::new()),
        Error::Timeout(String::new()),
        Error::LimitExceeded(String::new()),
    ];
    assert_eq!(every.clone().map(|e| e.code()), ErrorCode::ALL);
    for e in every {
        let (code, name) = (e.code().as_u16(), e.code().name());
        let display = e.to_string();
        let words = display
            .strip_prefix(&format!("[{code}] "))
            .unwrap()
            .trim_end_matches(": ");
        let has = |line: String| ts.lines().any(|l| l.trim() == line);
        assert!(
            has(format!("{name}: {code},")),
            "ErrorCode.{name} = {code} in ts/errors.ts"
        );
        assert!(
            has(format!("{code}: \"{words}\",")),
            "WORDS[{code}] = {words:?} in ts/errors.ts"
        );
    }
    for extra in (4990..5000).chain(5014..5100) {
        assert!(
            !ts.contains(&format!("{extra}")),
            "ts/errors.ts has a code {extra} that src/error.rs lacks"
        );
    }
}

#[test]
fn call_func_calls_by_resolved_index() {
    let rt = runtime();
    let i = inst(&rt, ADD);
    let index = wire::func(&rt, i, "add").unwrap();
    let mut f = frame(2);
    put(&mut f, 0, tag::NUMBER, 40f64.to_bits());
    put(&mut f, 1, tag::I32, 2);
    assert_eq!(wire::call_func(&rt, i, index, &mut f, 2).unwrap(), 1);
    assert_eq!(slot(&f, 0), (tag::I32, 42));
    assert_eq!(
        message(wire::call_func(&rt, i, index + 1, &mut f, 0)),
        format!("[5003] export not found: no resolved function with index {}", index + 1)
    );
    assert_eq!(
        message(wire::func(&rt, i, "nope")),
        "[5003] export not found: no export named `nope`"
    );
}

#[test]
fn module_imports_list_what_a_plugin_needs() {
    let rt = runtime();
    let m = module(
        &rt,
        r#"(module (import "env" "abort" (func (param i32 i32 i32 i32)))
            (import "host" "now" (func (result f64)))
            (import "env" "memory" (memory 1))
            (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))))"#,
    );
    assert_eq!(
        wire::module_imports(&rt, m).unwrap(),
        r#"[{"module":"env","name":"abort","kind":"func","params":["i32","i32","i32","i32"],"results":[]},{"module":"host","name":"now","kind":"func","params":[],"results":["f64"]},{"module":"env","name":"memory","kind":"memory"},{"module":"wasi_snapshot_preview1","name":"proc_exit","kind":"func","params":["i32"],"results":[]}]"#
    );
    assert_eq!(
        message(wire::instantiate(&rt, m, b"", b"")),
        "[5001] instantiate error: unknown import env::abort (func (i32, i32, i32, i32) -> ()): no host function or \
         module provides it"
    );
    assert_eq!(
        message(wire::module_imports(&rt, -2.0)),
        "[5004] invalid module handle: -2 is not a module handle"
    );
}

#[test]
fn export_and_instance_imports_link_by_handle() {
    let rt = runtime();
    let lib = inst(
        &rt,
        r#"(module (memory (export "memory") 1) (func (export "seven") (result i32) i32.const 7))"#,
    );
    let user = module(
        &rt,
        r#"(module (import "env" "seven" (func $s (result i32))) (import "lib" "memory" (memory 1))
            (func (export "run") (result i32) (call $s)))"#,
    );
    let options = format!(r#"{{"exportImports":[["env","seven",{lib},"seven"]],"instanceImports":[["lib",{lib}]]}}"#);
    let linked = wire::instantiate(&rt, user, options.as_bytes(), b"").unwrap() as f64;
    let mut f = frame(1);
    assert_eq!(wire::call_frame(&rt, linked, "run", &mut f, 0).unwrap(), 1);
    assert_eq!(slot(&f, 0), (tag::I32, 7));
    let stale = br#"{"instanceImports":[["lib",99]]}"#;
    assert_eq!(
        message(wire::instantiate(&rt, user, stale, b"")),
        "[5005] invalid instance handle: no instance with handle 99"
    );
}

#[test]
fn globals_cross_in_slot_zero_typed_by_the_global() {
    let rt = runtime();
    let i = inst(&rt, r#"(module (global (export "g") (mut i64) (i64.const 5)))"#);
    let mut f = frame(1);
    assert_eq!(wire::global_get(&rt, i, "g", &mut f).unwrap(), 1);
    assert_eq!(slot(&f, 0), (tag::I64, 5));
    put(&mut f, 0, tag::NUMBER, 9f64.to_bits());
    wire::global_set(&rt, i, "g", &f).unwrap();
    wire::global_get(&rt, i, "g", &mut f).unwrap();
    assert_eq!(slot(&f, 0), (tag::I64, 9));
    assert_eq!(
        message(wire::global_get(&rt, i, "h", &mut f)),
        "[5003] export not found: no export named `h`"
    );
}

#[test]
fn tiering_and_the_wasi_handle_cap_come_from_the_config() {
    let config = wire::runtime_config(br#"{"tiering": "winch", "baselineMinBytes": 0, "wasiMaxHandles": 64}"#).unwrap();
    assert_eq!(
        (config.tiering, config.baseline_min_bytes, config.wasi_max_handles),
        (ext_wasm::Tiering::Winch, 0, 64)
    );
    let defaults = wire::runtime_config(b"{}").unwrap();
    assert_eq!(
        (defaults.tiering, defaults.baseline_min_bytes, defaults.wasi_max_handles),
        (ext_wasm::Tiering::Auto, 65536, 4096)
    );
    let e = message(wire::runtime_config(br#"{"tiering": "fast"}"#));
    assert!(
        e.contains("unknown variant `fast`, expected one of `auto`, `cranelift`, `winch`"),
        "{e}"
    );
}

#[test]
fn the_pool_settings_come_from_the_config() {
    let config =
        wire::runtime_config(br#"{"poolInstances": 7, "pooling": false, "poolScanDirtyPages": true}"#).unwrap();
    assert_eq!(
        (
            config.pool.total_instances,
            config.pool.enabled,
            config.pool.scan_dirty_pages
        ),
        (7, false, Some(true))
    );
    let defaults = wire::runtime_config(b"{}").unwrap();
    assert_eq!(
        (
            defaults.pool.total_instances,
            defaults.pool.enabled,
            defaults.pool.scan_dirty_pages
        ),
        (1000, true, None)
    );
}

#[test]
fn bundles_are_paths_or_pinned_paths() {
    let config =
        wire::runtime_config(br#"{"bundles": ["a.bundle", {"path": "b.bundle", "manifest": "ab12"}]}"#).unwrap();
    assert_eq!(
        config.bundles,
        [
            ext_wasm::BundleSource {
                path: "a.bundle".into(),
                manifest: None
            },
            ext_wasm::BundleSource {
                path: "b.bundle".into(),
                manifest: Some("ab12".into())
            }
        ]
    );
    assert_eq!(code(wire::runtime_config(br#"{"bundles": [7]}"#)), ErrorCode::TypeError);
}

#[test]
fn write_bundle_takes_a_request_and_answers_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let wasm = dir.path().join("add.wat");
    std::fs::write(&wasm, ADD).unwrap();
    let output = dir.path().join("app.wasmbundle");
    let request = serde_json::json!({ "modules": [wasm], "output": output, "variants": ["plain", "epoch"] });
    let manifest = wire::write_bundle(&rt, request.to_string().as_bytes()).unwrap();
    assert_eq!(manifest.len(), 64);
    assert_eq!(ext_wasm::Bundle::open(&output, Some(&manifest)).unwrap().len(), 2);
    assert_eq!(
        message(wire::write_bundle(
            &rt,
            br#"{"modules": [], "output": "x", "variants": ["turbo"]}"#
        )),
        "[5007] type error: unknown variant `turbo` (plain, fuel, epoch, fuel+epoch)"
    );
    assert_eq!(
        code(wire::write_bundle(&rt, br#"{"modules": []}"#)),
        ErrorCode::TypeError
    );
    assert_eq!(wire::bundles(&rt), "[]");
}

/// Exports of every result shape `call_numbers` meets: one number, none, an i64, two, and a trap.
const SHAPES: &str = r#"(module
    (global $calls (export "calls") (mut i32) (i32.const 0))
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "half") (param f32) (result f32) local.get 0 f32.const 0.5 f32.mul)
    (func (export "mix") (param i32 i64 f32 f64) (result f64)
        local.get 0 f64.convert_i32_s local.get 1 f64.convert_i64_s f64.add
        local.get 2 f64.promote_f32 f64.add local.get 3 f64.add)
    (func (export "count") global.get $calls i32.const 1 i32.add global.set $calls)
    (func (export "wide") (param i32) (result i64)
        global.get $calls i32.const 1 i32.add global.set $calls local.get 0 i64.extend_i32_s)
    (func (export "pair") (result i32 i32) i32.const 1 i32.const 2)
    (func (export "boom") (param i32) (result i32) unreachable))"#;

/// `call_numbers` on the export `name` resolves: its count and result.
fn numbers(rt: &Runtime, i: f64, name: &str, args: &[f64]) -> ext_wasm::Result<(u32, f64)> {
    let index = wire::func(rt, i, name)?;
    let mut padded = [0.0; wire::NUMBER_ARGS];
    padded[..args.len()].copy_from_slice(args);
    let mut out = [0u8; OUT_HEADER];
    let count = wire::call_numbers(rt, i, index, padded, args.len() as u32, &mut out)?;
    Ok((count, f64::from_le_bytes(out[8..16].try_into().unwrap())))
}

/// `call_func` on the same export with the same numbers in a frame: the answer `call_numbers` must match.
fn numbers_by_frame(rt: &Runtime, i: f64, name: &str, args: &[f64]) -> ext_wasm::Result<Vec<(u8, u64)>> {
    let index = wire::func(rt, i, name)?;
    let mut f = frame(4);
    for (n, a) in args.iter().enumerate() {
        put(&mut f, n, tag::NUMBER, a.to_bits());
    }
    let count = wire::call_func(rt, i, index, &mut f, args.len() as u32)?;
    Ok((0..count as usize).map(|n| slot(&f, n)).collect())
}

#[test]
fn call_numbers_passes_numbers_in_and_the_result_out() {
    let rt = runtime();
    let i = inst(&rt, SHAPES);
    assert_eq!(numbers(&rt, i, "add", &[40.0, 2.0]).unwrap(), (1, 42.0));
    assert_eq!(numbers(&rt, i, "add", &[-1.0, 4294967295.0]).unwrap(), (1, -2.0));
    assert_eq!(numbers(&rt, i, "half", &[3.0]).unwrap(), (1, 1.5));
    assert_eq!(numbers(&rt, i, "mix", &[1.0, 2.0, 0.25, 0.5]).unwrap(), (1, 3.75));
    assert_eq!(numbers(&rt, i, "count", &[]).unwrap(), (0, 0.0));
}

#[test]
fn call_numbers_answers_not_numbers_for_other_results_without_running_them() {
    let rt = runtime();
    let i = inst(&rt, SHAPES);
    assert_eq!(numbers(&rt, i, "wide", &[7.0]).unwrap().0, wire::NOT_NUMBERS);
    assert_eq!(numbers(&rt, i, "pair", &[]).unwrap().0, wire::NOT_NUMBERS);
    let mut f = frame(1);
    assert_eq!(wire::global(&rt, i, "calls", &mut f, false).unwrap(), 1);
    assert_eq!(slot(&f, 0), (tag::I32, 0), "`wide` did not run");
}

#[test]
fn call_numbers_fails_exactly_as_a_frame_call_does() {
    let rt = runtime();
    let i = inst(&rt, SHAPES);
    for (name, args) in [
        ("add", &[1.5, 2.0][..]),
        ("add", &[1.0][..]),
        ("add", &[2f64.powi(32), 0.0][..]),
        ("mix", &[0.0, 2f64.powi(60), 0.0, 0.0][..]),
        ("boom", &[1.0][..]),
        ("nope", &[][..]),
    ] {
        let by_numbers = message(numbers(&rt, i, name, args));
        assert_eq!(
            by_numbers,
            message(numbers_by_frame(&rt, i, name, args)),
            "{name}{args:?}"
        );
    }
    let trap = numbers(&rt, i, "boom", &[1.0]).unwrap_err();
    assert_eq!(trap.trap(), Some(ext_wasm::Trap::UnreachableCodeReached));
}

/// `call_numbers_named` of `name`: its count, result and the index it resolved.
fn named(rt: &Runtime, i: f64, name: &str, args: &[f64]) -> ext_wasm::Result<(u32, f64, u64)> {
    let mut padded = [0.0; wire::NUMBER_ARGS];
    padded[..args.len()].copy_from_slice(args);
    let mut out = [0u8; OUT_HEADER];
    let count = wire::call_numbers_named(rt, i, name, padded, args.len() as u32, &mut out)?;
    let word = |at: usize| out[at..at + 8].try_into().unwrap();
    Ok((count, f64::from_le_bytes(word(8)), u64::from_le_bytes(word(16))))
}

#[test]
fn call_numbers_named_answers_as_by_index_and_resolves_on_the_way() {
    let rt = runtime();
    let i = inst(&rt, SHAPES);
    let (count, value, add) = named(&rt, i, "add", &[40.0, 2.0]).unwrap();
    assert_eq!((count, value), (1, 42.0));
    let (count, value, half) = named(&rt, i, "half", &[3.0]).unwrap();
    assert_eq!((count, value), (1, 1.5));
    assert_eq!(
        add,
        u64::from(wire::func(&rt, i, "add").unwrap()),
        "the index `func` gives"
    );
    assert_eq!(half, u64::from(wire::func(&rt, i, "half").unwrap()));
    assert_ne!(add, half);
    let mut out = [0u8; OUT_HEADER];
    let by_index = wire::call_numbers(&rt, i, add as u32, [1.0, 2.0, 0.0, 0.0], 2, &mut out);
    assert_eq!(by_index.unwrap(), 1, "the index calls the same export");
    assert_eq!(f64::from_le_bytes(out[8..16].try_into().unwrap()), 3.0);
}

#[test]
fn call_numbers_named_resolves_other_results_without_running_them() {
    let rt = runtime();
    let i = inst(&rt, SHAPES);
    let (count, _, index) = named(&rt, i, "wide", &[7.0]).unwrap();
    assert_eq!(count, wire::NOT_NUMBERS);
    assert_eq!(
        index,
        u64::from(wire::func(&rt, i, "wide").unwrap()),
        "resolved for a frame call by index"
    );
    let mut f = frame(1);
    assert_eq!(wire::global(&rt, i, "calls", &mut f, false).unwrap(), 1);
    assert_eq!(slot(&f, 0), (tag::I32, 0), "`wide` did not run");
}

#[test]
fn call_numbers_named_fails_exactly_as_a_frame_call_by_name_does() {
    let rt = runtime();
    let i = inst(&rt, SHAPES);
    for (name, args) in [
        ("add", &[1.5, 2.0][..]),
        ("add", &[1.0][..]),
        ("mix", &[0.0, 2f64.powi(60), 0.0, 0.0][..]),
        ("boom", &[1.0][..]),
        ("nope", &[][..]),
        ("calls", &[][..]),
    ] {
        let mut f = frame(4);
        for (n, a) in args.iter().enumerate() {
            put(&mut f, n, tag::NUMBER, a.to_bits());
        }
        let by_frame = wire::call_frame(&rt, i, name, &mut f, args.len() as u32);
        assert_eq!(message(named(&rt, i, name, args)), message(by_frame), "{name}{args:?}");
    }
    let mut out = [0u8; OUT_HEADER];
    assert_eq!(
        message(wire::call_numbers_named(
            &rt,
            i,
            "add",
            [1.0, 2.0, 0.0, 0.0],
            2,
            &mut out[..16]
        )),
        "[5007] type error: a call with numbers needs a 24-byte out record, got 16"
    );
    assert_eq!(
        message(wire::call_numbers_named(&rt, -1.0, "add", [0.0; 4], 0, &mut out)),
        "[5005] invalid instance handle: -1 is not an instance handle"
    );
}

#[test]
fn call_numbers_refuses_five_arguments_a_short_record_and_a_bad_index() {
    let rt = runtime();
    let i = inst(&rt, SHAPES);
    let index = wire::func(&rt, i, "add").unwrap();
    let mut out = [0u8; OUT_HEADER];
    assert_eq!(
        message(wire::call_numbers(&rt, i, index, [0.0; 4], 5, &mut out)),
        "[5007] type error: a call with numbers takes at most 4 arguments, got 5"
    );
    assert_eq!(
        message(wire::call_numbers(
            &rt,
            i,
            index,
            [1.0, 2.0, 0.0, 0.0],
            2,
            &mut out[..8]
        )),
        "[5007] type error: a call with numbers needs a 16-byte out record, got 8"
    );
    assert_eq!(
        message(wire::call_numbers(&rt, i, index + 1, [0.0; 4], 0, &mut out)),
        format!("[5003] export not found: no resolved function with index {}", index + 1)
    );
    assert_eq!(
        message(wire::call_numbers(&rt, -1.0, index, [0.0; 4], 0, &mut out)),
        "[5005] invalid instance handle: -1 is not an instance handle"
    );
}
