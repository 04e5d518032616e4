//! Reentrant host functions (`HostFunc::reentrant`): closures given no `HostCall`, which reach their instance by
//! handle through the `Runtime` while they run — how the TypeScript hosts run synchronous JavaScript imports.

use std::sync::{Arc, Mutex};

use ext_wasm::wire::{self, Step, OUT_HEADER, SLOT};
use ext_wasm::{ErrorCode, HostFunc, Imports, InstanceId, InstanceOptions, Runtime, Value};

use crate::*;

const PLUGIN: &str = r#"(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "host" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global (export "counter") (mut i32) (i32.const 7))
  (data (i32.const 16) "hello")
  (func (export "sum") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
  (func (export "greet") (call $log (i32.const 16) (i32.const 5)))
  (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))"#;

/// The instance's own handle, for closures made before it exists.
type Me = Arc<Mutex<Option<InstanceId>>>;

fn me_of(me: &Me) -> InstanceId {
    me.lock().unwrap().expect("set before any call")
}

/// `host.add` as a plain sum, `host.log` as `log(runtime, me, ptr, len)`, both reentrant.
fn instance_with_log(
    rt: &Runtime,
    log: impl Fn(&Runtime, InstanceId, i32, i32) -> ext_wasm::Result<()> + Send + Sync + 'static,
) -> InstanceId {
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    let me: Me = Arc::default();
    let add = HostFunc::reentrant(|args, out| {
        let (Value::I32(a), Value::I32(b)) = (args[0], args[1]) else {
            unreachable!()
        };
        out.push(Value::I32(a + b));
        Ok(())
    });
    let (inner_rt, inner_me) = (rt.clone(), me.clone());
    let log = HostFunc::reentrant(move |args, _| {
        let (Value::I32(ptr), Value::I32(len)) = (args[0], args[1]) else {
            unreachable!()
        };
        log(&inner_rt, me_of(&inner_me), ptr, len)
    });
    let imports = Imports::new().func("host", "add", add).func("host", "log", log);
    let options = InstanceOptions {
        imports,
        ..Default::default()
    };
    let i = rt.instantiate(m, &options).unwrap();
    *me.lock().unwrap() = Some(i);
    i
}

#[test]
fn a_reentrant_host_function_reads_its_callers_memory_by_handle() {
    let rt = runtime();
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = seen.clone();
    let i = instance_with_log(&rt, move |rt, me, ptr, len| {
        let mut buf = vec![0u8; len as usize];
        rt.read_memory(me, None, ptr as u64, &mut buf)?;
        *sink.lock().unwrap() = String::from_utf8(buf).unwrap();
        Ok(())
    });
    rt.call(i, "greet", &[]).unwrap();
    assert_eq!(*seen.lock().unwrap(), "hello");
}

#[test]
fn a_reentrant_host_function_writes_sizes_and_grows_its_callers_memory() {
    let rt = runtime();
    let i = instance_with_log(&rt, |rt, me, ptr, _| {
        rt.write_memory(me, None, ptr as u64, b"HELLO")?;
        assert_eq!(rt.memory_size(me, None)?, 1);
        assert_eq!(rt.memory_grow(me, None, 1)?, 1);
        assert_eq!(rt.memory_byte_len(me, None)?, 2 * 65536);
        Ok(())
    });
    rt.call(i, "greet", &[]).unwrap();
    let mut buf = [0u8; 5];
    rt.read_memory(i, None, 16, &mut buf).unwrap();
    assert_eq!(&buf, b"HELLO");
    assert_eq!(rt.memory_size(i, None).unwrap(), 2);
}

#[test]
fn a_reentrant_host_function_calls_its_callers_exports_by_name_and_through_a_func() {
    let rt = runtime();
    let results = Arc::new(Mutex::new(Vec::new()));
    let (sink, double) = (results.clone(), Arc::new(Mutex::new(None::<ext_wasm::Func>)));
    let inner_double = double.clone();
    let i = instance_with_log(&rt, move |rt, me, _, _| {
        let by_name = rt.call(me, "double", &[Value::I32(21)])?;
        // Resolved before the call (resolving needs the instance's state, which the running call holds).
        let by_func = inner_double.lock().unwrap().as_ref().unwrap().call(&[Value::I32(5)]);
        // Reached through the guest again: `sum` calls the reentrant `host.add`.
        let nested = rt.call(me, "sum", &[Value::I32(40), Value::I32(2)])?;
        sink.lock().unwrap().extend([by_name, by_func?, nested]);
        Ok(())
    });
    *double.lock().unwrap() = Some(rt.func(i, "double").unwrap());
    rt.call(i, "greet", &[]).unwrap();
    let expected = vec![vec![Value::I32(42)], vec![Value::I32(10)], vec![Value::I32(42)]];
    assert_eq!(*results.lock().unwrap(), expected);
}

#[test]
fn a_reentrant_call_that_traps_fails_inside_the_host_function_only() {
    let rt = runtime();
    let m = rt
        .compile(
            br#"(module (import "host" "cb" (func $cb (result i32)))
                 (func (export "boom") unreachable)
                 (func (export "run") (result i32) (call $cb)))"#
                .as_slice(),
        )
        .unwrap();
    let (inner_rt, me): (Runtime, Me) = (rt.clone(), Arc::default());
    let inner_me = me.clone();
    let cb = HostFunc::reentrant(move |_, out| {
        let err = inner_rt.call(me_of(&inner_me), "boom", &[]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::CallError);
        out.push(Value::I32(1));
        Ok(())
    });
    let options = InstanceOptions {
        imports: Imports::new().func("host", "cb", cb),
        ..Default::default()
    };
    let i = rt.instantiate(m, &options).unwrap();
    *me.lock().unwrap() = Some(i);
    assert_eq!(rt.call(i, "run", &[]).unwrap(), vec![Value::I32(1)]);
}

#[test]
fn other_operations_on_the_instance_from_inside_a_reentrant_host_function_are_5002() {
    let rt = runtime();
    let codes = Arc::new(Mutex::new(Vec::new()));
    let sink = codes.clone();
    let i = instance_with_log(&rt, move |rt, me, _, _| {
        let global = rt.get_global(me, "counter").unwrap_err();
        assert!(
            global.to_string().contains("only its memory and calls of its exports"),
            "{global}"
        );
        let dropped = rt.drop_instance(me).unwrap_err();
        sink.lock().unwrap().extend([global.code(), dropped.code()]);
        Ok(())
    });
    rt.call(i, "greet", &[]).unwrap();
    assert_eq!(*codes.lock().unwrap(), [ErrorCode::CallError, ErrorCode::CallError]);
    // Afterwards the instance works as before.
    assert_eq!(rt.get_global(i, "counter").unwrap(), Value::I32(7));
}

#[test]
fn inside_a_hostcall_host_function_nested_in_a_reentrant_one_the_runtime_is_refused() {
    let rt = runtime();
    let m = rt.compile(PLUGIN.as_bytes()).unwrap();
    let (me, refused): (Me, Arc<Mutex<Option<ext_wasm::Error>>>) = (Arc::default(), Arc::default());
    let (rt_add, me_add, sink) = (rt.clone(), me.clone(), refused.clone());
    // `host.add` is given a `HostCall`: the Runtime's memory access from inside it is refused, even though the
    // reentrant `host.log` further out lent its caller.
    let add = HostFunc::new(move |_, _, out| {
        let err = rt_add.read_memory(me_of(&me_add), None, 16, &mut [0u8; 5]).unwrap_err();
        *sink.lock().unwrap() = Some(err);
        out.push(Value::I32(0));
        Ok(())
    });
    let (rt_log, me_log) = (rt.clone(), me.clone());
    let log = HostFunc::reentrant(move |_, _| {
        rt_log
            .call(me_of(&me_log), "sum", &[Value::I32(1), Value::I32(2)])
            .map(drop)
    });
    let options = InstanceOptions {
        imports: Imports::new().func("host", "add", add).func("host", "log", log),
        ..Default::default()
    };
    let i = rt.instantiate(m, &options).unwrap();
    *me.lock().unwrap() = Some(i);
    rt.call(i, "greet", &[]).unwrap();
    let err = refused.lock().unwrap().take().expect("host.add ran");
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(err.to_string().contains("through the `HostCall`"), "{err}");
}

#[test]
fn a_failing_reentrant_host_function_traps_the_guest_with_its_message() {
    let rt = runtime();
    let i = instance_with_log(&rt, |_, _, _, _| Err(ext_wasm::Error::Call("no logger".into())));
    let err = rt.call(i, "greet", &[]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(
        err.to_string().contains("host function host::log failed: no logger"),
        "{err}"
    );
    assert_eq!(
        rt.call(i, "sum", &[Value::I32(1), Value::I32(2)]).unwrap(),
        vec![Value::I32(3)]
    );
}

#[test]
fn an_async_call_of_an_instance_with_reentrant_imports_runs_to_its_end_at_once() {
    let rt = runtime();
    let i = instance_with_log(&rt, |_, _, _, _| Ok(()));
    let mut f = vec![0u8; OUT_HEADER + 4 * SLOT];
    f[OUT_HEADER] = wire::tag::I32;
    f[OUT_HEADER + 8..OUT_HEADER + 12].copy_from_slice(&20i32.to_le_bytes());
    f[OUT_HEADER + SLOT] = wire::tag::I32;
    f[OUT_HEADER + SLOT + 8..OUT_HEADER + SLOT + 12].copy_from_slice(&22i32.to_le_bytes());
    let step = wire::call_start(&rt, i.0 as f64, "sum", &mut f, 2, false).unwrap();
    assert_eq!(step, Step::Done(1));
    assert_eq!(
        i32::from_le_bytes(f[OUT_HEADER + 8..OUT_HEADER + 12].try_into().unwrap()),
        42
    );
}

#[test]
fn reentrant_and_suspending_host_functions_cannot_share_a_store() {
    let rt = runtime();
    let lib = rt
        .compile(br#"(module (import "host" "wait" (func)) (memory (export "memory") 1))"#.as_slice())
        .unwrap();
    let options = InstanceOptions {
        imports: Imports::new().func("host", "wait", HostFunc::suspending(0)),
        ..Default::default()
    };
    let lib = rt.instantiate(lib, &options).unwrap();
    let user = rt
        .compile(br#"(module (import "lib" "memory" (memory 1)) (import "host" "now" (func)))"#.as_slice())
        .unwrap();
    let options = InstanceOptions {
        imports: Imports::new()
            .instance("lib", lib)
            .func("host", "now", HostFunc::reentrant(|_, _| Ok(()))),
        ..Default::default()
    };
    let err = rt.instantiate(user, &options).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
    assert!(err.to_string().contains("cannot serve one store"), "{err}");
}

#[test]
fn sync_imports_go_through_the_calling_threads_bridge_and_only_on_that_thread() {
    let rt = runtime();
    let m = wire::compile(&rt, PLUGIN.as_bytes()).unwrap() as f64;
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = seen.clone();
    wire::set_host_bridge(Some(wire::HostBridge::new(
        move |index, may_answer_later, args: &[Value], out: &mut Vec<Value>| {
            assert!(!may_answer_later, "a synchronous import must answer at once");
            sink.borrow_mut().push(index);
            if let [Value::I32(a), Value::I32(b)] = args {
                out.push(Value::I32(a + b));
            }
            Ok(wire::Answer::Now)
        },
    )));
    let options = br#"{"hostImports":[["host","add",7],["host","log",8]],"syncImports":true}"#;
    let i = wire::instantiate(&rt, m, options, b"").unwrap() as f64;
    let mut f = i32_frame(&[40, 2]);
    assert_eq!(wire::call_frame(&rt, i, "sum", &mut f, 2).unwrap(), 1);
    assert_eq!(slot_i32(&f, 0), 42);
    assert_eq!(*seen.borrow(), [7]);

    // Another thread (a Deno worker has its own bridge, numbering its imports apart) is refused.
    let other = rt.clone();
    let err = std::thread::spawn(move || wire::call_frame(&other, i, "sum", &mut i32_frame(&[1, 2]), 2).unwrap_err())
        .join()
        .unwrap();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(
        err.to_string()
            .contains("only be called on the thread (Deno worker) that created it"),
        "{err}"
    );

    // This thread without a bridge: the import fails, the instance lives on.
    wire::set_host_bridge(None);
    let err = wire::call_frame(&rt, i, "greet", &mut i32_frame(&[]), 0).unwrap_err();
    assert!(err.to_string().contains("no host bridge on this thread"), "{err}");
    let mut f = i32_frame(&[21]);
    assert_eq!(wire::call_frame(&rt, i, "double", &mut f, 1).unwrap(), 1);
    assert_eq!(slot_i32(&f, 0), 42);
}

#[test]
fn a_frame_bridge_reports_the_hosts_failure_code_and_message() {
    let rt = runtime();
    let m = wire::compile(&rt, PLUGIN.as_bytes()).unwrap() as f64;
    let frame: &'static mut [u8] = Box::leak(vec![0u8; OUT_HEADER + 4 * SLOT].into_boxed_slice());
    let ptr = frame.as_mut_ptr() as usize;
    // The host fails import 0 with 5007 and a message, answers import 1 with nothing.
    let host = move |index: u32, _nargs: u32| -> i32 {
        if index == 1 {
            return 0;
        }
        let message = b"result 0: not a number";
        // SAFETY: the leaked frame lives for the process; the bridge does not hold it while the host runs.
        let f = unsafe { std::slice::from_raw_parts_mut(ptr as *mut u8, OUT_HEADER + 4 * SLOT) };
        f[..4].copy_from_slice(&(message.len() as u32).to_le_bytes());
        f[OUT_HEADER..OUT_HEADER + message.len()].copy_from_slice(message);
        -5007
    };
    // SAFETY: the frame is leaked (valid for the process) and written only inside `host`.
    let bridge = unsafe { wire::frame_bridge(frame.as_mut_ptr(), frame.len(), host) }.unwrap();
    wire::set_host_bridge(Some(bridge));
    let options = br#"{"hostImports":[["host","add",0],["host","log",1]],"syncImports":true}"#;
    let i = wire::instantiate(&rt, m, options, b"").unwrap() as f64;
    let err = wire::call_frame(&rt, i, "sum", &mut i32_frame(&[1, 2]), 2).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(
        err.to_string()
            .contains("host function host::add failed: [5007] type error: result 0: not a number"),
        "{err}"
    );
    assert_eq!(wire::call_frame(&rt, i, "greet", &mut i32_frame(&[]), 0).unwrap(), 0);
    wire::set_host_bridge(None);
    // SAFETY: a null frame is refused before anything could read it.
    let refused = unsafe { wire::frame_bridge(std::ptr::null_mut(), 0, |_, _| 0) }
        .err()
        .unwrap();
    assert_eq!(refused.code(), ErrorCode::TypeError);
}
