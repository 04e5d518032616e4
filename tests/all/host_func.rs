//! Host functions through the Rust API: closures an instance imports (per instance or runtime-wide), their
//! access to the caller's memory and exports, their errors; and suspending imports through the wire protocol
//! (`wire::call_start` → `Step::Host` → `wire::call_resume`), which is how the TypeScript hosts serve JS imports.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use ext_wasm::wire::{self, tag, Step, OUT_HEADER, SLOT};
use ext_wasm::{ErrorCode, HostCall, HostFunc, Imports, InstanceOptions, ValType, Value};

use crate::*;

const PLUGIN: &str = r#"(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "host" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello")
  (func (export "sum") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
  (func (export "greet") (call $log (i32.const 16) (i32.const 5)))
  (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))"#;

fn add() -> HostFunc {
    HostFunc::new(|_, args, out| {
        let (Value::I32(a), Value::I32(b)) = (args[0], args[1]) else {
            unreachable!()
        };
        out.push(Value::I32(a + b));
        Ok(())
    })
}

fn ignore() -> HostFunc {
    HostFunc::new(|_, _, _| Ok(()))
}

fn with_imports(imports: Imports) -> InstanceOptions {
    InstanceOptions {
        imports,
        ..Default::default()
    }
}

#[test]
fn a_rust_host_function_is_called_with_typed_arguments() {
    let rt = runtime();
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    let imports = Imports::new().func("host", "add", add()).func("host", "log", ignore());
    let i = rt.instantiate(m, &with_imports(imports)).unwrap();
    assert_eq!(
        rt.call(i, "sum", &[Value::I32(40), Value::I32(2)]).unwrap(),
        vec![Value::I32(42)]
    );
}

#[test]
fn a_host_function_reads_the_callers_memory_and_calls_its_exports() {
    let rt = runtime();
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let sink = seen.clone();
    let log = HostFunc::new(move |call, args, _| {
        let (Value::I32(ptr), Value::I32(len)) = (args[0], args[1]) else {
            unreachable!()
        };
        let mut buf = vec![0; len as usize];
        call.read_memory(ptr as u64, &mut buf)?;
        call.write_memory(0, b"seen")?;
        let doubled = call.call("double", &[Value::I32(21)])?;
        *sink.lock().unwrap() = format!(
            "{} {:?} {}",
            String::from_utf8(buf).unwrap(),
            doubled,
            call.memory_size()?
        );
        Ok(())
    });
    let i = rt
        .instantiate(
            m,
            &with_imports(Imports::new().func("host", "add", add()).func("host", "log", log)),
        )
        .unwrap();
    rt.call(i, "greet", &[]).unwrap();
    assert_eq!(*seen.lock().unwrap(), "hello [I32(42)] 65536");
    let mut head = [0u8; 4];
    rt.read_memory(i, None, 0, &mut head).unwrap();
    assert_eq!(&head, b"seen");
}

#[test]
fn a_failing_host_function_traps_the_guest_with_its_message_and_the_instance_lives_on() {
    let rt = runtime();
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    let fail = HostFunc::new(|_, _, _| Err(ext_wasm::Error::Call("the app said no".into())));
    let i = rt
        .instantiate(
            m,
            &with_imports(Imports::new().func("host", "add", fail).func("host", "log", ignore())),
        )
        .unwrap();
    let err = rt.call(i, "sum", &[Value::I32(1), Value::I32(2)]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert_eq!(err.message(), "host function host::add failed: the app said no");
    assert_eq!(rt.call(i, "double", &[Value::I32(4)]).unwrap(), vec![Value::I32(8)]);
}

#[test]
fn results_that_do_not_fit_the_import_trap_with_5007_in_the_message() {
    let rt = runtime();
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    let none = HostFunc::new(|_, _, _| Ok(()));
    let fraction = HostFunc::new(|_, _, out| {
        out.push(Value::Number(1.5));
        Ok(())
    });
    let i = rt
        .instantiate(
            m,
            &with_imports(Imports::new().func("host", "add", none).func("host", "log", ignore())),
        )
        .unwrap();
    let err = rt.call(i, "sum", &[Value::I32(1), Value::I32(2)]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(
        err.message()
            .contains("[5007] type error: returned 0 value(s), the import's type has 1 result(s)"),
        "{err}"
    );
    let j = rt
        .instantiate(
            m,
            &with_imports(
                Imports::new()
                    .func("host", "add", fraction)
                    .func("host", "log", ignore()),
            ),
        )
        .unwrap();
    let err = rt.call(j, "sum", &[Value::I32(1), Value::I32(2)]).unwrap_err();
    assert!(err.message().contains("[5007] type error: result 0: "), "{err}");
}

#[test]
fn a_missing_import_is_5001_naming_it_and_its_type() {
    let rt = runtime();
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    let err = rt
        .instantiate(m, &with_imports(Imports::new().func("host", "add", add())))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
    assert_eq!(
        err.message(),
        "unknown import host::log (func (i32, i32) -> ()): no host function or module provides it"
    );
}

#[test]
fn a_typed_host_function_must_match_the_imports_signature() {
    let rt = runtime();
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    let i32s = [ValType::I32, ValType::I32];
    let good = Imports::new().func("host", "add", add().typed(&i32s, &[ValType::I32]));
    let i = rt
        .instantiate(m, &with_imports(good.func("host", "log", ignore())))
        .unwrap();
    assert_eq!(
        rt.call(i, "sum", &[Value::I32(1), Value::I32(2)]).unwrap(),
        vec![Value::I32(3)]
    );

    let bad = Imports::new().func("host", "add", add().typed(&i32s, &[ValType::I64]));
    let err = rt
        .instantiate(m, &with_imports(bad.func("host", "log", ignore())))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
    assert_eq!(
        err.message(),
        "incompatible import host::add (func (i32, i32) -> (i32)): the function given has type (func (i32, i32) -> (i64))"
    );
}

#[test]
fn a_typed_closure_takes_and_returns_plain_numbers_and_is_checked_at_link_time() {
    let rt = runtime();
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    let add = HostFunc::wrap(|_: &mut HostCall, a: i32, b: i32| Ok(a.wrapping_add(b)));
    let log = HostFunc::wrap(|call: &mut HostCall, ptr: i32, len: i32| {
        let mut text = vec![0; len as usize];
        call.read_memory(ptr as u64, &mut text)?;
        assert_eq!(text, b"hello");
        Ok(())
    });
    let imports = Imports::new().func("host", "add", add).func("host", "log", log);
    let i = rt.instantiate(m, &with_imports(imports)).unwrap();
    assert_eq!(
        rt.call(i, "sum", &[Value::I32(i32::MAX), Value::I32(1)]).unwrap(),
        vec![Value::I32(i32::MIN)]
    );
    assert_eq!(rt.call(i, "greet", &[]).unwrap(), vec![]);

    let wrong = HostFunc::wrap(|_: &mut HostCall, a: i64| Ok(a as f64));
    let imports = Imports::new().func("host", "add", wrong).func("host", "log", ignore());
    let err = rt.instantiate(m, &with_imports(imports)).unwrap_err();
    assert_eq!(
        err.message(),
        "incompatible import host::add (func (i32, i32) -> (i32)): the function given has type (func (i64) -> (f64))"
    );
    let failing = HostFunc::wrap(|_: &mut HostCall, _: i32, _: i32| -> ext_wasm::Result<i32> {
        Err(ext_wasm::Error::Call("no".into()))
    });
    let imports = Imports::new()
        .func("host", "add", failing)
        .func("host", "log", ignore());
    let i = rt.instantiate(m, &with_imports(imports)).unwrap();
    let err = rt.call(i, "sum", &[Value::I32(1), Value::I32(2)]).unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (ErrorCode::CallError, "host function host::add failed: no")
    );
}

/// A host function answering `sum` with `k` whatever its arguments.
fn constant(k: i32) -> HostFunc {
    HostFunc::new(move |_, _, out| {
        out.push(Value::I32(k));
        Ok(())
    })
}

fn sum_of_new_instance(rt: &ext_wasm::Runtime, m: ext_wasm::ModuleId, options: &InstanceOptions) -> Value {
    let i = rt.instantiate(m, options).unwrap();
    let result = rt.call(i, "sum", &[Value::I32(2), Value::I32(3)]).unwrap()[0];
    rt.drop_instance(i).unwrap();
    result
}

#[test]
fn options_used_again_after_their_functions_change_call_the_new_ones() {
    let rt = runtime();
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    let mut options = with_imports(Imports::new().func("host", "add", add()).func("host", "log", ignore()));
    assert_eq!(sum_of_new_instance(&rt, m, &options), Value::I32(5));
    options.imports.define("host".into(), "add".into(), constant(7));
    assert_eq!(sum_of_new_instance(&rt, m, &options), Value::I32(7));
}

#[test]
fn options_used_again_after_a_runtime_wide_function_changes_call_the_new_one() {
    let rt = runtime();
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    rt.define_host_func("host", "add", constant(1));
    let options = with_imports(Imports::new().func("host", "log", ignore()));
    assert_eq!(sum_of_new_instance(&rt, m, &options), Value::I32(1));
    rt.define_host_func("host", "add", constant(2));
    assert_eq!(sum_of_new_instance(&rt, m, &options), Value::I32(2));
}

#[test]
fn one_imports_object_serves_two_modules_in_turn() {
    let rt = runtime();
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    // The same imports, a module with one import only: linked (and checked) for each in turn.
    let small = rt
        .compile(
            br#"(module (import "host" "add" (func $add (param i32 i32) (result i32)))
            (func (export "sum") (param i32 i32) (result i32) (call $add (local.get 1) (local.get 1))))"#,
        )
        .unwrap();
    let options = with_imports(Imports::new().func("host", "add", add()).func("host", "log", ignore()));
    for _ in 0..2 {
        assert_eq!(sum_of_new_instance(&rt, m, &options), Value::I32(5));
        assert_eq!(sum_of_new_instance(&rt, small, &options), Value::I32(6));
    }
}

#[test]
fn runtime_wide_host_modules_serve_what_an_instance_does_not_give() {
    let rt = runtime();
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    rt.define_host_func(
        "host",
        "log",
        HostFunc::new(move |_, _, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }),
    );
    rt.define_host_func(
        "host",
        "add",
        HostFunc::new(|_, _, out| {
            out.push(Value::I32(-1));
            Ok(())
        }),
    );
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    // The instance's own `add` wins over the runtime's.
    let i = rt
        .instantiate(m, &with_imports(Imports::new().func("host", "add", add())))
        .unwrap();
    rt.call(i, "greet", &[]).unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(
        rt.call(i, "sum", &[Value::I32(2), Value::I32(3)]).unwrap(),
        vec![Value::I32(5)]
    );
    let j = rt.instantiate(m, &InstanceOptions::default()).unwrap();
    assert_eq!(
        rt.call(j, "sum", &[Value::I32(2), Value::I32(3)]).unwrap(),
        vec![Value::I32(-1)]
    );
}

#[test]
fn memory_table_and_global_imports_are_5001() {
    let rt = runtime();
    let m = rt
        .compile(br#"(module (import "env" "memory" (memory 1)))"#.as_slice())
        .unwrap();
    let err = rt.instantiate(m, &InstanceOptions::default()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
    assert!(
        err.message().starts_with("unknown import env::memory (memory)"),
        "{err}"
    );
}

#[test]
fn an_embedder_can_refuse_imports_by_name() {
    struct NoNetwork;
    impl ext_wasm::CapabilityChecker for NoNetwork {
        fn check_import(&self, module: &str, _name: &str) -> Result<(), String> {
            if module == "net" {
                Err("no network for plugins".into())
            } else {
                Ok(())
            }
        }
    }
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    config.capabilities = Arc::new(ext_wasm::Capabilities {
        checker: Some(Arc::new(NoNetwork)),
        ..Default::default()
    });
    let rt = Runtime::new(config);
    let m = rt
        .compile(br#"(module (import "net" "fetch" (func)))"#.as_slice())
        .unwrap();
    let imports = Imports::new().func("net", "fetch", ignore());
    let err = rt.instantiate(m, &with_imports(imports)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::PermissionDenied);
    assert_eq!(
        err.message(),
        "importing net::fetch is not allowed: no network for plugins"
    );
}

// --- Suspending imports: the protocol the TypeScript hosts use ---------------------------------------------

fn frame() -> Vec<u8> {
    vec![0u8; OUT_HEADER + 8 * SLOT]
}

fn put_i32(f: &mut [u8], slot: usize, v: i32) {
    let at = OUT_HEADER + slot * SLOT;
    f[at] = tag::I32;
    f[at + 8..at + 12].copy_from_slice(&v.to_le_bytes());
}

fn get_i32(f: &[u8], slot: usize) -> i32 {
    let at = OUT_HEADER + slot * SLOT;
    i32::from_le_bytes(f[at + 8..at + 12].try_into().unwrap())
}

fn suspending_instance(rt: &Runtime) -> f64 {
    let m = wire::compile(rt, PLUGIN.as_bytes()).unwrap() as f64;
    let options = br#"{"hostImports":[["host","add"],["host","log"]]}"#;
    wire::instantiate(rt, m, options, b"").unwrap() as f64
}

#[test]
fn a_suspending_import_hands_the_call_to_its_host_and_resumes_with_the_answer() {
    let rt = runtime();
    let i = suspending_instance(&rt);
    let mut f = frame();
    put_i32(&mut f, 0, 40);
    put_i32(&mut f, 1, 2);
    let Step::Host {
        token, index, nargs, ..
    } = wire::call_start(&rt, i, "sum", &mut f, 2, true).unwrap()
    else {
        panic!("the guest did not wait in its import");
    };
    assert_eq!((index, nargs, get_i32(&f, 0), get_i32(&f, 1)), (0, 2, 40, 2));
    put_i32(&mut f, 0, 42);
    assert_eq!(wire::call_resume(token, &mut f, 1, "").unwrap(), Step::Done(1));
    assert_eq!(get_i32(&f, 0), 42);
}

#[test]
fn a_call_waiting_in_a_suspending_import_is_answered_from_another_thread() {
    let rt = runtime();
    let i = suspending_instance(&rt);
    let mut f = frame();
    put_i32(&mut f, 0, 40);
    put_i32(&mut f, 1, 2);
    let Step::Host { token, .. } = wire::call_start(&rt, i, "sum", &mut f, 2, false).unwrap() else {
        panic!("the guest did not wait in its import");
    };
    // The guest's fiber, suspended inside the import, resumes and finishes on the other thread.
    let answered = std::thread::spawn(move || {
        put_i32(&mut f, 0, 42);
        let step = wire::call_resume(token, &mut f, 1, "").unwrap();
        (step, get_i32(&f, 0))
    })
    .join()
    .unwrap();
    assert_eq!(answered, (Step::Done(1), 42));
    let mut g = frame();
    put_i32(&mut g, 0, 21);
    assert_eq!(
        wire::call_start(&rt, i, "double", &mut g, 1, true).unwrap(),
        Step::Done(1)
    );
    assert_eq!(get_i32(&g, 0), 42);
}

#[test]
fn inside_a_suspending_import_the_instance_can_be_reentered() {
    let rt = runtime();
    let i = suspending_instance(&rt);
    let mut f = frame();
    let Step::Host { token, index, .. } = wire::call_start(&rt, i, "greet", &mut f, 0, false).unwrap() else {
        panic!("greet did not call log");
    };
    assert_eq!(index, 1);
    // Memory, through the waiting call.
    let mut hello = [0u8; 5];
    wire::memory_read(&rt, i, 16.0, &mut hello).unwrap();
    assert_eq!(&hello, b"hello");
    wire::memory_write(&rt, i, 0.0, b"ok").unwrap();
    assert_eq!(wire::memory_size(&rt, i).unwrap(), (1, 65536));
    // An export, re-entrantly (its own frame).
    let mut g = frame();
    put_i32(&mut g, 0, 21);
    assert_eq!(
        wire::call_start(&rt, i, "double", &mut g, 1, true).unwrap(),
        Step::Done(1)
    );
    assert_eq!(get_i32(&g, 0), 42);
    // A re-entrant call that itself reaches an import: answered like any other.
    let mut h = frame();
    put_i32(&mut h, 0, 1);
    put_i32(&mut h, 1, 2);
    let Step::Host { token: inner, .. } = wire::call_start(&rt, i, "sum", &mut h, 2, true).unwrap() else {
        panic!("the nested call did not wait");
    };
    put_i32(&mut h, 0, 3);
    assert_eq!(wire::call_resume(inner, &mut h, 1, "").unwrap(), Step::Done(1));
    assert_eq!(get_i32(&h, 0), 3);
    // Finally the outer import returns.
    assert_eq!(wire::call_resume(token, &mut f, 0, "").unwrap(), Step::Done(0));
    let mut ok = [0u8; 2];
    wire::memory_read(&rt, i, 0.0, &mut ok).unwrap();
    assert_eq!(&ok, b"ok");
}

#[test]
fn a_failed_suspending_import_traps_with_the_hosts_message() {
    let rt = runtime();
    let i = suspending_instance(&rt);
    let mut f = frame();
    let Step::Host { token, .. } = wire::call_start(&rt, i, "greet", &mut f, 0, true).unwrap() else {
        panic!()
    };
    let err = wire::call_resume(token, &mut f, -5002, "Error: boom").unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert_eq!(err.message(), "host function host::log failed: Error: boom");
    // A result the host could not encode: 5007 inside the 5002.
    let Step::Host { token, .. } = wire::call_start(&rt, i, "greet", &mut f, 0, true).unwrap() else {
        panic!()
    };
    let err = wire::call_resume(token, &mut f, -5007, "result 0: expected a number, got string").unwrap_err();
    assert_eq!(
        err.message(),
        "host function host::log failed: [5007] type error: result 0: expected a number, got string"
    );
    // Still usable.
    let mut g = frame();
    put_i32(&mut g, 0, 5);
    assert_eq!(
        wire::call_start(&rt, i, "double", &mut g, 1, true).unwrap(),
        Step::Done(1)
    );
}

#[test]
fn plain_calls_of_an_instance_with_suspending_imports_are_refused_clearly() {
    let rt = runtime();
    let i = suspending_instance(&rt);
    let mut f = frame();
    put_i32(&mut f, 0, 1);
    let err = wire::call_frame(&rt, i, "double", &mut f, 1).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TypeError);
    assert!(err.message().contains("through the async protocol"), "{err}");
}

#[test]
fn an_abandoned_host_call_fails_the_guest_and_frees_the_instance() {
    let rt = runtime();
    let i = suspending_instance(&rt);
    let mut f = frame();
    let Step::Host { token, .. } = wire::call_start(&rt, i, "greet", &mut f, 0, true).unwrap() else {
        panic!()
    };
    wire::instance_drop(&rt, i).unwrap();
    // The host answers late: the call ends, and the instance is gone.
    assert_eq!(wire::call_resume(token, &mut f, 0, "").unwrap(), Step::Done(0));
    assert_eq!(code(wire::memory_size(&rt, i)), ErrorCode::InvalidInstanceHandle);
    assert_eq!(rt.instance_count(), 0);
}

#[test]
fn many_concurrent_calls_wait_in_host_functions_at_once() {
    let rt = runtime();
    let instances: Vec<f64> = (0..50).map(|_| suspending_instance(&rt)).collect();
    let mut frames: Vec<Vec<u8>> = instances.iter().map(|_| frame()).collect();
    let mut tokens = Vec::new();
    for (n, (i, f)) in instances.iter().zip(frames.iter_mut()).enumerate() {
        put_i32(f, 0, n as i32);
        put_i32(f, 1, 1);
        let Step::Host { token, .. } = wire::call_start(&rt, *i, "sum", f, 2, false).unwrap() else {
            panic!()
        };
        tokens.push(token);
    }
    // Answered in reverse order, each with its own sum.
    for (n, (token, f)) in tokens.iter().zip(frames.iter_mut()).enumerate().rev() {
        put_i32(f, 0, n as i32 + 1);
        assert_eq!(wire::call_resume(*token, f, 1, "").unwrap(), Step::Done(1));
        assert_eq!(get_i32(f, 0), n as i32 + 1);
    }
}

const STARTS_WITH_IMPORT: &str = r#"(module
  (import "host" "seed" (func $seed (result i32)))
  (global $g (mut i32) (i32.const 0))
  (func $start (global.set $g (call $seed)))
  (start $start)
  (func (export "g") (result i32) (global.get $g)))"#;

#[test]
fn a_start_function_waits_in_a_suspending_import_through_instantiate_start() {
    let rt = runtime();
    let m = wire::compile(&rt, STARTS_WITH_IMPORT.as_bytes()).unwrap() as f64;
    let options = br#"{"hostImports":[["host","seed",5]]}"#;
    let mut f = frame();
    let Step::Host {
        token, index, nargs, ..
    } = wire::instantiate_start(&rt, m, options, b"", &mut f).unwrap()
    else {
        panic!("the start function did not wait in its import");
    };
    assert_eq!((index, nargs), (5, 0));
    assert_eq!(rt.instance_count(), 0, "no handle before the start function ends");
    put_i32(&mut f, 0, 42);
    let Step::Done(handle) = wire::call_resume(token, &mut f, 1, "").unwrap() else {
        panic!("instantiation did not end");
    };
    let mut g = frame();
    assert_eq!(
        wire::call_start(&rt, handle as f64, "g", &mut g, 0, true).unwrap(),
        Step::Done(1)
    );
    assert_eq!(get_i32(&g, 0), 42);
    // Plain `instantiate` cannot serve the start function's import: 5001, as before.
    assert_eq!(
        wire::instantiate(&rt, m, options, b"").unwrap_err().code(),
        ErrorCode::InstantiateError
    );
}

#[test]
fn a_start_function_whose_import_fails_leaves_no_instance() {
    let rt = runtime();
    let m = wire::compile(&rt, STARTS_WITH_IMPORT.as_bytes()).unwrap() as f64;
    let mut f = frame();
    let step = wire::instantiate_start(&rt, m, br#"{"hostImports":[["host","seed"]]}"#, b"", &mut f).unwrap();
    let Step::Host { token, .. } = step else {
        panic!("no host step")
    };
    let err = wire::call_resume(token, &mut f, -5002, "refused").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
    assert!(err.message().contains("refused"), "{err}");
    assert_eq!(rt.instance_count(), 0);
}

/// Wasmtime keeps a store's fiber stack from its first async call until the store is dropped, and every call of
/// an instance with suspending imports runs on a fiber: so each such live instance holds a stack, and the pool
/// has one per instance slot (it had 64: the 65th live instance's calls failed with 5013).
#[test]
fn every_live_instance_with_suspending_imports_can_be_called() {
    let rt = runtime();
    let live: Vec<f64> = (0..150).map(|_| suspending_instance(&rt)).collect();
    for (n, &i) in live.iter().enumerate() {
        let mut f = frame();
        put_i32(&mut f, 0, n as i32);
        put_i32(&mut f, 1, 2);
        let Step::Host { token, .. } = wire::call_start(&rt, i, "sum", &mut f, 2, true).unwrap() else {
            panic!("instance {n}: the guest did not wait in its import");
        };
        put_i32(&mut f, 0, n as i32 + 2);
        assert_eq!(
            wire::call_resume(token, &mut f, 1, "").unwrap(),
            Step::Done(1),
            "instance {n}"
        );
        assert_eq!(get_i32(&f, 0), n as i32 + 2);
    }
}

/// A Rust host function's kind: a closure over `Value`s (`HostFunc::new`), or typed (`HostFunc::wrap`).
#[derive(Clone, Copy)]
enum Kind {
    Values,
    Typed,
}

/// Call `greet` of a `PLUGIN` instance whose `host.log` (of `kind`) runs `reenter(runtime, its own handle)` (instead of using
/// its `HostCall`), on another thread so that a hang fails the test (`hang` names it) instead of stalling the
/// suite. Returns the instance and the call's error.
fn greet_reentering(
    rt: &ext_wasm::Runtime,
    kind: Kind,
    hang: &str,
    reenter: impl Fn(&ext_wasm::Runtime, ext_wasm::InstanceId) -> ext_wasm::Result<()> + Send + Sync + 'static,
) -> (ext_wasm::InstanceId, ext_wasm::Error) {
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    let me = Arc::new(std::sync::Mutex::new(None::<ext_wasm::InstanceId>));
    let (inner_rt, inner_me) = (rt.clone(), me.clone());
    let log = move || {
        let id = inner_me.lock().unwrap().expect("set before the call");
        reenter(&inner_rt, id)
    };
    let log = match kind {
        Kind::Values => HostFunc::new(move |_, _, _| log()),
        Kind::Typed => HostFunc::wrap(move |_: &mut HostCall, _: i32, _: i32| log()),
    };
    let imports = Imports::new().func("host", "add", add()).func("host", "log", log);
    let i = rt.instantiate(m, &with_imports(imports)).unwrap();
    *me.lock().unwrap() = Some(i);
    let (tx, rx) = std::sync::mpsc::channel();
    let caller = rt.clone();
    std::thread::spawn(move || tx.send(caller.call(i, "greet", &[])).unwrap());
    let err = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect(hang)
        .unwrap_err();
    (i, err)
}

#[test]
fn a_host_function_reaching_its_own_instance_through_the_runtime_gets_5002_not_a_hang() {
    let rt = runtime();
    // Should have used `call.read_memory`: the call running this function holds the instance.
    let (i, err) = greet_reentering(
        &rt,
        Kind::Values,
        "the re-entry waited for a lock its own call holds",
        |rt, id| rt.read_memory(id, None, 16, &mut [0u8; 5]),
    );
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(err.to_string().contains("through the `HostCall`"), "{err}");
    assert_eq!(rt.call(i, "double", &[Value::I32(21)]).unwrap(), vec![Value::I32(42)]);
}

#[test]
fn a_typed_host_function_reaching_its_own_instance_through_the_runtime_gets_5002_not_a_hang() {
    let rt = runtime();
    // A typed function links no frame: the store's lock, held by this thread's call, refuses the re-entry.
    let (i, err) = greet_reentering(
        &rt,
        Kind::Typed,
        "the re-entry waited for a lock its own call holds",
        |rt, id| rt.read_memory(id, None, 16, &mut [0u8; 5]),
    );
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(err.to_string().contains("through the `HostCall`"), "{err}");
    let (_, err) = greet_reentering(
        &rt,
        Kind::Typed,
        "the drop waited for a lock its own call holds",
        |rt, id| rt.drop_instance(id),
    );
    assert!(err.to_string().contains("drop it after that call returns"), "{err}");
    assert_eq!(rt.call(i, "double", &[Value::I32(21)]).unwrap(), vec![Value::I32(42)]);
}

#[test]
fn a_rust_host_function_on_an_async_calls_fiber_may_drop_its_own_instance_which_goes_when_the_call_ends() {
    let rt = runtime();
    // A loop: the async call runs on a fiber, its store's state out of the lock (a short export would run
    // under the lock, and the drop would be refused as in a synchronous call).
    let m = rt
        .compile(
            br#"(module (import "host" "log" (func $log (param i32 i32)))
              (func (export "log_twice") (local $n i32)
                (loop $again
                  (call $log (local.get $n) (i32.const 0))
                  (local.set $n (i32.add (local.get $n) (i32.const 1)))
                  (br_if $again (i32.lt_u (local.get $n) (i32.const 2))))))"#
                .as_slice(),
        )
        .unwrap();
    let me = Arc::new(std::sync::Mutex::new(None::<ext_wasm::InstanceId>));
    let (inner_rt, inner_me, calls) = (rt.clone(), me.clone(), Arc::new(AtomicU32::new(0)));
    let counted = calls.clone();
    let log = HostFunc::wrap(move |_: &mut HostCall, n: i32, _: i32| {
        counted.fetch_add(1, Ordering::Relaxed);
        match n {
            0 => inner_rt.drop_instance(inner_me.lock().unwrap().expect("set before the call")),
            _ => Ok(()),
        }
    });
    let i = rt
        .instantiate(m, &with_imports(Imports::new().func("host", "log", log)))
        .unwrap();
    *me.lock().unwrap() = Some(i);
    let mut frame = vec![0u8; OUT_HEADER + SLOT];
    // The call goes on after the drop (its store is its own until it ends) ...
    let step = wire::call_start(&rt, i.0 as f64, "log_twice", &mut frame, 0, false).unwrap();
    assert_eq!(step, Step::Done(0));
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    // ... and then the instance is gone.
    let err = rt.call(i, "log_twice", &[]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInstanceHandle);
}

#[test]
fn a_host_function_cannot_drop_its_own_instance_mid_call_and_gets_5002() {
    let rt = runtime();
    let (i, err) = greet_reentering(
        &rt,
        Kind::Values,
        "the drop waited for a lock its own call holds",
        |rt, id| rt.drop_instance(id),
    );
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(err.to_string().contains("drop it after that call returns"), "{err}");
    // Nothing was dropped; after the call, dropping works.
    assert_eq!(rt.call(i, "double", &[Value::I32(4)]).unwrap(), vec![Value::I32(8)]);
    rt.drop_instance(i).unwrap();
    assert_eq!(
        rt.call(i, "double", &[Value::I32(4)]).unwrap_err().code(),
        ErrorCode::InvalidInstanceHandle
    );
}

#[test]
fn a_host_function_linking_a_new_instance_to_its_own_gets_5002_not_a_hang() {
    let rt = runtime();
    let user = rt
        .compile(br#"(module (import "lib" "memory" (memory 1)))"#.as_slice())
        .unwrap();
    // Joining the instance's store needs the store, which the call running this function holds.
    let (i, err) = greet_reentering(
        &rt,
        Kind::Values,
        "linking waited for a lock its own call holds",
        move |rt, id| {
            rt.instantiate(user, &with_imports(Imports::new().instance("lib", id)))
                .map(drop)
        },
    );
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(err.to_string().contains("through the `HostCall`"), "{err}");
    // After the call, the same link works.
    rt.instantiate(user, &with_imports(Imports::new().instance("lib", i)))
        .unwrap();
}
