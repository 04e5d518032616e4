//! Bridged host functions (`HostFunc::bridged`, `"bridgedImports": true`): how the TypeScript hosts run
//! JavaScript imports by default. The guest runs on a fiber; each import is offered in place to the calling
//! thread's bridge, on that thread's own stack, and suspends the call only when the bridge answers later.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use ext_wasm::wire::{self, Answer, Step};
use ext_wasm::{ErrorCode, HostFunc, Runtime, Value};

use crate::*;

const PLUGIN: &str = r#"(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "host" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello")
  (func (export "sum") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
  (func (export "greet") (call $log (i32.const 16) (i32.const 5)))
  (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))"#;

const OPTIONS: &[u8] = br#"{"hostImports":[["host","add",0],["host","log",1]],"bridgedImports":true}"#;

/// What the test bridge does with `host.log`'s call: given the instance's handle and the log's arguments.
type LogBody = dyn Fn(f64, i32, i32) -> ext_wasm::Result<Answer>;

/// Install a bridge on this thread: `host.add` sums (or answers later when `add_later` is set), `host.log`
/// runs `log`. Returns the list of calls it saw (index, may answer later).
fn install(add_later: Rc<Cell<bool>>, me: Rc<Cell<f64>>, log: Box<LogBody>) -> Rc<RefCell<Vec<(u32, bool)>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    wire::set_host_bridge(Some(wire::HostBridge::new(
        move |index, may_answer_later, args: &[Value], out: &mut Vec<Value>| {
            sink.borrow_mut().push((index, may_answer_later));
            match (index, args) {
                (0, _) if add_later.get() => Ok(Answer::Later),
                (0, [Value::I32(a), Value::I32(b)]) => {
                    out.push(Value::I32(a + b));
                    Ok(Answer::Now)
                }
                (1, [Value::I32(ptr), Value::I32(len)]) => log(me.get(), *ptr, *len),
                _ => unreachable!("host.wat has two imports"),
            }
        },
    )));
    seen
}

fn plugin(rt: &Runtime) -> f64 {
    let m = wire::compile(rt, PLUGIN.as_bytes()).unwrap() as f64;
    wire::instantiate(rt, m, OPTIONS, b"").unwrap() as f64
}

/// `sum(40, 2)` through `call_start` (`sync` as given) ends at once with 42: the instance works.
fn assert_sums(rt: &Runtime, i: f64, sync: bool) {
    let mut f = i32_frame(&[40, 2]);
    let step = wire::call_start(rt, i, "sum", &mut f, 2, sync).unwrap();
    assert!(matches!(step, Step::Done(1)), "{step:?}");
    assert_eq!(slot_i32(&f, 0), 42);
}

/// Make `i`'s store wait once (`sum(1, 1)` with `host.add` answering later, then answered with 2): the store
/// then has its waiter (an async host function), and Wasmtime refuses it checked synchronous calls.
fn wait_once(rt: &Runtime, i: f64) {
    let Step::Host { token, .. } = wire::call_start(rt, i, "sum", &mut i32_frame(&[1, 1]), 2, false).unwrap() else {
        panic!("the import answered later")
    };
    wire::call_resume(token, &mut i32_frame(&[2]), 1, "").unwrap();
}

fn no_log() -> Box<LogBody> {
    Box::new(|_, _, _| Ok(Answer::Now))
}

#[test]
fn a_bridged_import_answers_in_place_without_a_host_step() {
    let rt = runtime();
    let seen = install(Rc::default(), Rc::default(), no_log());
    let i = plugin(&rt);
    for sync in [false, true] {
        assert_sums(&rt, i, sync);
    }
    assert_eq!(*seen.borrow(), [(0, true), (0, true)]);
    wire::set_host_bridge(None);
}

#[test]
fn a_bridged_import_answering_later_suspends_the_call_until_the_host_answers() {
    let rt = runtime();
    let later = Rc::new(Cell::new(true));
    install(later.clone(), Rc::default(), no_log());
    let i = plugin(&rt);
    let mut f = i32_frame(&[40, 2]);
    let Step::Host {
        token, index, started, ..
    } = wire::call_start(&rt, i, "sum", &mut f, 2, false).unwrap()
    else {
        panic!("the import answered later: the call waits in it");
    };
    assert_eq!((index, started), (0, true));
    assert_eq!(f[24], 1, "the frame's header says the host started it");
    let mut f = i32_frame(&[42]);
    let step = wire::call_resume(token, &mut f, 1, "").unwrap();
    assert!(matches!(step, Step::Done(1)), "{step:?}");
    assert_eq!(slot_i32(&f, 0), 42);
    wire::set_host_bridge(None);
}

#[test]
fn inside_a_bridged_import_the_instance_is_reentered_through_the_running_call() {
    let rt = runtime();
    let me = Rc::new(Cell::new(0.0));
    let inner = rt.clone();
    let said = Rc::new(RefCell::new(Vec::new()));
    let sink = said.clone();
    let log = Box::new(move |i: f64, ptr: i32, len: i32| {
        let mut text = vec![0u8; len as usize];
        wire::memory_read(&inner, i, f64::from(ptr), &mut text)?;
        sink.borrow_mut().push(String::from_utf8(text).unwrap());
        // A call of an export that calls the other import (in place again, nested), and a plain one.
        let mut f = i32_frame(&[20, 1]);
        let Step::Done(1) = wire::call_start(&inner, i, "sum", &mut f, 2, true)? else {
            panic!("a nested call ends at once");
        };
        let mut g = i32_frame(&[slot_i32(&f, 0)]);
        assert_eq!(wire::call_frame(&inner, i, "double", &mut g, 1)?, 1);
        sink.borrow_mut().push(slot_i32(&g, 0).to_string());
        Ok(Answer::Now)
    });
    let seen = install(Rc::default(), me.clone(), log);
    let i = plugin(&rt);
    me.set(i);
    let step = wire::call_start(&rt, i, "greet", &mut i32_frame(&[]), 0, false).unwrap();
    assert!(matches!(step, Step::Done(0)), "{step:?}");
    assert_eq!(*said.borrow(), ["hello", "42"]);
    assert_eq!(*seen.borrow(), [(1, true), (0, true)]);
    wire::set_host_bridge(None);
}

#[test]
fn a_call_made_inside_a_bridged_import_cannot_wait_for_a_later_answer() {
    let rt = runtime();
    let me = Rc::new(Cell::new(0.0));
    let later = Rc::new(Cell::new(false));
    let (inner, add_later) = (rt.clone(), later.clone());
    let log = Box::new(move |i: f64, _: i32, _: i32| {
        add_later.set(true);
        let nested = wire::call_start(&inner, i, "sum", &mut i32_frame(&[1, 2]), 2, true);
        add_later.set(false);
        let err = nested.unwrap_err();
        assert_eq!(err.code(), ErrorCode::TypeError);
        assert!(err.to_string().contains("async host function needs `call`"), "{err}");
        Err(err)
    });
    install(later, me.clone(), log);
    let i = plugin(&rt);
    me.set(i);
    let err = wire::call_start(&rt, i, "greet", &mut i32_frame(&[]), 0, false).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(err.to_string().contains("host function host::log failed"), "{err}");
    // The instance lives on.
    assert_sums(&rt, i, false);
    wire::set_host_bridge(None);
}

#[test]
fn a_failing_bridged_import_traps_the_guest_with_its_message() {
    let rt = runtime();
    let log = Box::new(|_: f64, _: i32, _: i32| Err(wire::host_error(5002, "the plugin may not log".into())));
    install(Rc::default(), Rc::default(), log);
    let i = plugin(&rt);
    let err = wire::call_start(&rt, i, "greet", &mut i32_frame(&[]), 0, false).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(
        err.to_string()
            .contains("host function host::log failed: the plugin may not log"),
        "{err}"
    );
    wire::set_host_bridge(None);
}

#[test]
fn time_spent_in_a_bridged_import_counts_against_the_calls_timeout() {
    let rt = runtime();
    let log = Box::new(|_: f64, _: i32, _: i32| {
        std::thread::sleep(std::time::Duration::from_millis(60));
        Ok(Answer::Now)
    });
    install(Rc::default(), Rc::default(), log);
    let m = wire::compile(&rt, PLUGIN.as_bytes()).unwrap() as f64;
    let options = br#"{"hostImports":[["host","add",0],["host","log",1]],"bridgedImports":true,"timeoutMs":20}"#;
    let i = wire::instantiate(&rt, m, options, b"").unwrap() as f64;
    let err = wire::call_start(&rt, i, "greet", &mut i32_frame(&[]), 0, false).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Timeout, "{err}");
    wire::set_host_bridge(None);
}

#[test]
fn off_the_bridges_thread_a_bridged_import_is_an_ordinary_host_step() {
    let rt = runtime();
    let seen = install(Rc::default(), Rc::default(), no_log());
    let i = plugin(&rt);
    let other = rt.clone();
    let (index, started, answer) = std::thread::spawn(move || {
        let mut f = i32_frame(&[40, 2]);
        let Step::Host {
            token, index, started, ..
        } = wire::call_start(&other, i, "sum", &mut f, 2, false).unwrap()
        else {
            panic!("no bridge on this thread: the import is a host step");
        };
        let mut f = i32_frame(&[42]);
        wire::call_resume(token, &mut f, 1, "").unwrap();
        (index, started, slot_i32(&f, 0))
    })
    .join()
    .unwrap();
    assert_eq!((index, started, answer), (0, false, 42));
    assert!(
        seen.borrow().is_empty(),
        "this thread's bridge was not called from the other"
    );
    wire::set_host_bridge(None);
}

#[test]
fn a_bridge_numbers_its_functions_below_2_pow_24() {
    let rt = runtime();
    let m = wire::compile(&rt, PLUGIN.as_bytes()).unwrap() as f64;
    let options = br#"{"hostImports":[["host","add",16777216],["host","log",1]],"bridgedImports":true}"#;
    let err = wire::instantiate(&rt, m, options, b"").unwrap_err();
    assert_eq!(err.code(), ErrorCode::TypeError);
    assert!(
        err.to_string().contains("index 16777216 of host::add is too large"),
        "{err}"
    );
}

#[test]
fn both_import_modes_at_once_are_refused() {
    let rt = runtime();
    let m = wire::compile(&rt, PLUGIN.as_bytes()).unwrap() as f64;
    let options = br#"{"hostImports":[["host","add",0],["host","log",1]],"bridgedImports":true,"syncImports":true}"#;
    let err = wire::instantiate(&rt, m, options, b"").unwrap_err();
    assert_eq!(err.code(), ErrorCode::TypeError);
    assert!(err.to_string().contains("exclude each other"), "{err}");
}

#[test]
fn a_start_function_calls_bridged_imports_in_place() {
    let rt = runtime();
    let seen = install(Rc::default(), Rc::default(), no_log());
    let wat = r#"(module
      (import "host" "add" (func $add (param i32 i32) (result i32)))
      (import "host" "log" (func $log (param i32 i32)))
      (global $sum (mut i32) (i32.const 0))
      (func $init (global.set $sum (call $add (i32.const 40) (i32.const 2))))
      (start $init)
      (func (export "sum") (result i32) (global.get $sum)))"#;
    let m = wire::compile(&rt, wat.as_bytes()).unwrap() as f64;
    let i = wire::instantiate(&rt, m, OPTIONS, b"").unwrap() as f64;
    assert_eq!(
        *seen.borrow(),
        [(0, true)],
        "the start function's import ran in place, during instantiate"
    );
    let mut f = i32_frame(&[]);
    assert!(matches!(
        wire::call_start(&rt, i, "sum", &mut f, 0, false).unwrap(),
        Step::Done(1)
    ));
    assert_eq!(slot_i32(&f, 0), 42);
    wire::set_host_bridge(None);
}

#[test]
fn a_waiting_caller_on_the_bridges_thread_runs_the_guest_without_a_fiber() {
    let rt = runtime();
    let later = Rc::new(Cell::new(true));
    install(later.clone(), Rc::default(), no_log());
    let i = plugin(&rt);
    // No fiber to suspend: an import that would answer later fails the call at once, with no host step.
    let err = wire::call_start(&rt, i, "sum", &mut i32_frame(&[40, 2]), 2, true).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(
        err.to_string().contains(
            "host function host::add failed: [5007] type error: host function host::add returned a Promise: async \
             host function needs `call`"
        ),
        "{err}"
    );
    // A caller that does not wait still gets the host step; the instance lives on.
    let step = wire::call_start(&rt, i, "sum", &mut i32_frame(&[40, 2]), 2, false).unwrap();
    let Step::Host {
        token, started: true, ..
    } = step
    else {
        panic!("{step:?}")
    };
    assert!(matches!(
        wire::call_resume(token, &mut i32_frame(&[42]), 1, "").unwrap(),
        Step::Done(1)
    ));
    later.set(false);
    assert_sums(&rt, i, true);
    wire::set_host_bridge(None);
}

/// `call_numbers_named` of `name` with `args`: the count, the result.
fn numbers(rt: &Runtime, i: f64, name: &str, args: [f64; 4], nargs: u32) -> ext_wasm::Result<(u32, f64)> {
    let mut out = [0u8; ext_wasm::ffi::OUT_HEADER];
    let count = wire::call_numbers_named(rt, i, name, args, nargs, &mut out)?;
    Ok((count, f64::from_le_bytes(out[8..16].try_into().unwrap())))
}

#[test]
fn a_call_with_numbers_on_the_bridges_thread_answers_its_imports_in_place() {
    let rt = runtime();
    let later = Rc::new(Cell::new(false));
    let seen = install(later.clone(), Rc::default(), no_log());
    let i = plugin(&rt);
    // (A plain call of an instance whose imports may answer later was refused: 5007, "through the async protocol".)
    assert_eq!(numbers(&rt, i, "sum", [40.0, 2.0, 0.0, 0.0], 2).unwrap(), (1, 42.0));
    assert_eq!(seen.borrow().len(), 1, "answered in place by this thread's bridge");
    // No fiber to suspend: an import that would answer later fails the call, as a waiting `call_start` does.
    later.set(true);
    let err = numbers(&rt, i, "sum", [1.0, 2.0, 0.0, 0.0], 2).unwrap_err();
    assert!(
        err.to_string()
            .contains("host function host::add returned a Promise: async host function needs `call`"),
        "{err}"
    );
    later.set(false);
    assert_sums(&rt, i, true);
    wire::set_host_bridge(None);
}

#[test]
fn off_the_bridges_thread_a_call_with_numbers_declines_before_running() {
    let rt = runtime();
    let seen = install(Rc::default(), Rc::default(), no_log());
    let i = plugin(&rt);
    let other = rt.clone();
    let answer = std::thread::spawn(move || numbers(&other, i, "sum", [40.0, 2.0, 0.0, 0.0], 2).unwrap())
        .join()
        .unwrap();
    assert_eq!(answer.0, wire::NOT_NUMBERS, "the call protocol serves it there");
    assert!(seen.borrow().is_empty(), "nothing ran");
    assert_sums(&rt, i, false);
    wire::set_host_bridge(None);
}

#[test]
fn an_import_of_a_call_without_a_fiber_reenters_its_instance_even_after_a_call_waited() {
    let rt = runtime();
    let me = Rc::new(Cell::new(0.0));
    let later = Rc::new(Cell::new(true));
    let inner = rt.clone();
    let said = Rc::new(RefCell::new(Vec::new()));
    let sink = said.clone();
    let log = Box::new(move |i: f64, ptr: i32, len: i32| {
        let mut text = vec![0u8; len as usize];
        wire::memory_read(&inner, i, f64::from(ptr), &mut text)?;
        let mut f = i32_frame(&[20, 1]);
        let Step::Done(1) = wire::call_start(&inner, i, "sum", &mut f, 2, true)? else {
            panic!("a nested call ends at once");
        };
        sink.borrow_mut()
            .push(format!("{} {}", String::from_utf8(text).unwrap(), slot_i32(&f, 0)));
        Ok(Answer::Now)
    });
    install(later.clone(), me.clone(), log);
    let i = plugin(&rt);
    me.set(i);
    // Re-entries of synchronous calls must not depend on Wasmtime's checked calls (see `wait_once`).
    wait_once(&rt, i);
    later.set(false);
    let step = wire::call_start(&rt, i, "greet", &mut i32_frame(&[]), 0, true).unwrap();
    assert!(matches!(step, Step::Done(0)), "{step:?}");
    assert_eq!(*said.borrow(), ["hello 21"]);
    wire::set_host_bridge(None);
}

/// The plugin's imports plus two Rust host functions (runtime-wide) that call back into their instance through
/// `HostCall::call`: `rust.twice(x)` calls `double(x)`, `rust.sum_of(a, b)` calls `sum(a, b)` (which calls the
/// bridged `host.add`).
const WITH_RUST: &str = r#"(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "host" "log" (func $log (param i32 i32)))
  (import "rust" "twice" (func $twice (param i32) (result i32)))
  (import "rust" "sum_of" (func $sum_of (param i32 i32) (result i32)))
  (func (export "sum") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
  (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "twice") (param i32) (result i32) (call $twice (local.get 0)))
  (func (export "sum_of") (param i32 i32) (result i32) (call $sum_of (local.get 0) (local.get 1))))"#;

/// A runtime whose `rust` host module re-enters the calling instance, and an instance of `WITH_RUST` on it.
fn with_rust_host_functions() -> (Runtime, f64) {
    let rt = runtime();
    let reenter = |export: &'static str| {
        HostFunc::new(move |call, args, out| {
            out.extend(call.call(export, args)?);
            Ok(())
        })
    };
    rt.define_host_func("rust", "twice", reenter("double"));
    rt.define_host_func("rust", "sum_of", reenter("sum"));
    let m = wire::compile(&rt, WITH_RUST.as_bytes()).unwrap() as f64;
    let i = wire::instantiate(&rt, m, OPTIONS, b"").unwrap() as f64;
    (rt, i)
}

/// `export(args)` through `call_start` (`sync` as given): its one i32 result, or the error.
fn call_i32(rt: &Runtime, i: f64, export: &str, args: &[i32], sync: bool) -> ext_wasm::Result<i32> {
    let mut f = i32_frame(args);
    match wire::call_start(rt, i, export, &mut f, args.len() as u32, sync)? {
        Step::Done(1) => Ok(slot_i32(&f, 0)),
        step => panic!("{export} ends at once with one result, not {step:?}"),
    }
}

#[test]
fn a_rust_host_function_calls_its_instance_with_or_without_a_fiber() {
    install(Rc::default(), Rc::default(), no_log());
    let (rt, i) = with_rust_host_functions();
    for sync in [false, true] {
        assert_eq!(call_i32(&rt, i, "twice", &[21], sync).unwrap(), 42);
        // Its call reaches the bridged import, answered in place.
        assert_eq!(call_i32(&rt, i, "sum_of", &[40, 2], sync).unwrap(), 42);
    }
    wire::set_host_bridge(None);
}

#[test]
fn a_rust_host_function_calls_its_instance_after_the_store_waited() {
    let later = Rc::new(Cell::new(true));
    install(later.clone(), Rc::default(), no_log());
    let (rt, i) = with_rust_host_functions();
    wait_once(&rt, i);
    later.set(false);
    for sync in [true, false] {
        assert_eq!(call_i32(&rt, i, "twice", &[21], sync).unwrap(), 42);
    }
    wire::set_host_bridge(None);
}

#[test]
fn a_call_a_rust_host_function_makes_on_a_fiber_cannot_wait_for_a_later_answer() {
    let later = Rc::new(Cell::new(true));
    install(later.clone(), Rc::default(), no_log());
    let (rt, i) = with_rust_host_functions();
    let err = call_i32(&rt, i, "sum_of", &[40, 2], false).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(
        err.to_string().contains(
            "host function rust::sum_of failed: [5007] type error: a host function waited for a Promise inside a \
             call made from a host function"
        ),
        "{err}"
    );
    later.set(false);
    assert_eq!(call_i32(&rt, i, "sum_of", &[40, 2], false).unwrap(), 42);
    wire::set_host_bridge(None);
}
