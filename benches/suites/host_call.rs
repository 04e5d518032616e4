//! Host functions: a wasm → host call from inside a call, and churn of a module with host imports.
//! ext_wasm's Rust `HostFunc` (per-instance closure behind a shared `InstancePre`; `Value`s, or typed with
//! `HostFunc::wrap`; the JavaScript hosts' bridged and suspending kinds through the wire API) vs raw wasmtime's
//! `Func::wrap` (the floor). Each iteration of the host-call benches is one guest call making 1,000 host
//! calls: criterion's element throughput is host calls per second.

use criterion::{criterion_group, Criterion, Throughput};
use ext_wasm::{wire, CallLimits, HostCall, HostFunc, Imports, InstanceOptions, ValType, Value};
use wasmtime::{Caller, Linker, Module, Store};

use super::*;

/// `loop(n)` calls the host's `inc` n times, threading the value through it; `add` makes no host call.
const HOST: &str = r#"(module
  (import "host" "inc" (func $inc (param i32) (result i32)))
  (import "host" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "loop") (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (call $inc (local.get $acc)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $acc)))"#;

const CALLS: i32 = 1000;

fn imports() -> Imports {
    let inc = HostFunc::new(|_, args, out| {
        let Value::I32(x) = args[0] else { unreachable!() };
        out.push(Value::I32(x + 1));
        Ok(())
    });
    let log = HostFunc::new(|_, _, _| Ok(()));
    Imports::new()
        .func("host", "inc", inc.typed(&[ValType::I32], &[ValType::I32]))
        .func("host", "log", log)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("host_call");
    let rt = runtime();
    let m = rt.compile(HOST.as_bytes()).unwrap();
    let opts = InstanceOptions {
        imports: imports(),
        ..Default::default()
    };
    let i = rt.instantiate(m, &opts).unwrap();
    let mut out = Vec::with_capacity(1);
    g.throughput(Throughput::Elements(CALLS as u64));
    g.bench_function("ext_wasm/rust_host_fn", |b| {
        b.iter(|| {
            out.clear();
            rt.call_into(i, "loop", &[Value::I32(CALLS)], CallLimits::default(), &mut out)
                .unwrap();
            assert_eq!(out[0], Value::I32(CALLS));
        })
    });

    // The same import as a typed closure (`HostFunc::wrap`): raw slots, no `Value`s.
    let typed = InstanceOptions {
        imports: Imports::new()
            .func("host", "inc", HostFunc::wrap(|_: &mut HostCall, x: i32| Ok(x + 1)))
            .func("host", "log", HostFunc::wrap(|_: &mut HostCall, _: i32, _: i32| Ok(()))),
        ..Default::default()
    };
    let t = rt.instantiate(m, &typed).unwrap();
    g.bench_function("ext_wasm/rust_host_fn_typed", |b| {
        b.iter(|| {
            out.clear();
            rt.call_into(t, "loop", &[Value::I32(CALLS)], CallLimits::default(), &mut out)
                .unwrap();
            assert_eq!(out[0], Value::I32(CALLS));
        })
    });

    // The same import as a reentrant closure (`HostFunc::reentrant`, what `syncImports` JS imports are): `Value`s,
    // plus lending the call to re-entries through the `Runtime`.
    let reentrant = InstanceOptions {
        imports: Imports::new()
            .func(
                "host",
                "inc",
                HostFunc::reentrant(|args, out| {
                    let Value::I32(x) = args[0] else { unreachable!() };
                    out.push(Value::I32(x + 1));
                    Ok(())
                }),
            )
            .func("host", "log", HostFunc::reentrant(|_, _| Ok(()))),
        ..Default::default()
    };
    let r = rt.instantiate(m, &reentrant).unwrap();
    g.bench_function("ext_wasm/rust_host_fn_reentrant", |b| {
        b.iter(|| {
            out.clear();
            rt.call_into(r, "loop", &[Value::I32(CALLS)], CallLimits::default(), &mut out)
                .unwrap();
            assert_eq!(out[0], Value::I32(CALLS));
        })
    });

    // The JavaScript hosts' kinds, through the wire API they use: bridged (`HostFunc::bridged`, default JS imports
    // since 2026-12-06: the import answered in place by this thread's bridge; the guest without a fiber for a
    // caller that waits, `callSync`, since 2026-12-07, and on one for `await call`) and
    // suspending (`HostFunc::suspending`: a host step answered with `call_resume` per host call, what a JS import
    // returning a Promise still takes). The bridge is a frame bridge, as the hosts install (since 2026-12-07 its
    // values move between Wasmtime's slots and the frame with no `Value` between).
    let callback_frame: &'static mut [u8] = Box::leak(vec![0u8; wire::OUT_HEADER + 4 * wire::SLOT].into_boxed_slice());
    let at = callback_frame.as_mut_ptr() as usize;
    let answer_inc = move |index: u32, _nargs: u32| -> i32 {
        // SAFETY: the leaked frame registered below, written only here while the core waits for the answer.
        let frame = unsafe { std::slice::from_raw_parts_mut(at as *mut u8, wire::OUT_HEADER + 4 * wire::SLOT) };
        if index & 0xff_ffff != 0 {
            return 0;
        }
        let x = i32::from_le_bytes(frame[wire::OUT_HEADER + 8..wire::OUT_HEADER + 12].try_into().unwrap());
        put_i32(frame, x + 1);
        1
    };
    // SAFETY: the frame is leaked (lives for the process) and written by nobody else.
    let bridge = unsafe { wire::frame_bridge(callback_frame.as_mut_ptr(), callback_frame.len(), answer_inc) };
    wire::set_host_bridge(Some(bridge.unwrap()));
    let wat = wire::compile(&rt, HOST.as_bytes()).unwrap() as f64;
    // Not preemptible: the call on a fiber must not yield at the end of a time slice (a `Yielded` step).
    let bridged = br#"{"hostImports":[["host","inc",0],["host","log",1]],"bridgedImports":true,"preemptible":false}"#;
    let bi = wire::instantiate(&rt, wat, bridged, b"").unwrap() as f64;
    let mut frame = vec![0u8; wire::OUT_HEADER + 2 * wire::SLOT];
    g.bench_function("ext_wasm/bridged_in_place", |b| {
        b.iter(|| {
            put_i32(&mut frame, CALLS);
            let step = wire::call_start(&rt, bi, "loop", &mut frame, 1, true).unwrap();
            assert!(matches!(step, wire::Step::Done(1)));
        })
    });
    g.bench_function("ext_wasm/bridged_in_place_on_fiber", |b| {
        b.iter(|| {
            put_i32(&mut frame, CALLS);
            let step = wire::call_start(&rt, bi, "loop", &mut frame, 1, false).unwrap();
            assert!(matches!(step, wire::Step::Done(1)));
        })
    });
    let suspending = br#"{"hostImports":[["host","inc",0],["host","log",1]]}"#;
    let si = wire::instantiate(&rt, wat, suspending, b"").unwrap() as f64;
    g.bench_function("ext_wasm/suspending", |b| {
        b.iter(|| {
            put_i32(&mut frame, CALLS);
            let mut step = wire::call_start(&rt, si, "loop", &mut frame, 1, true).unwrap();
            while let wire::Step::Host { token, .. } = step {
                let x = i32::from_le_bytes(frame[wire::OUT_HEADER + 8..wire::OUT_HEADER + 12].try_into().unwrap());
                put_i32(&mut frame, x + 1);
                step = wire::call_resume(token, &mut frame, 1, "").unwrap();
            }
            assert!(matches!(step, wire::Step::Done(1)));
        })
    });
    wire::set_host_bridge(None);

    // The same on plain code (no epoch checks): what default, preemptible instances pay in the guest's loop.
    let plain = InstanceOptions {
        preemptible: Some(false),
        ..opts.clone()
    };
    let p = rt.instantiate(m, &plain).unwrap();
    g.bench_function("ext_wasm/rust_host_fn_plain", |b| {
        b.iter(|| {
            out.clear();
            rt.call_into(p, "loop", &[Value::I32(CALLS)], CallLimits::default(), &mut out)
                .unwrap();
        })
    });

    let engine = raw_engine(false, false);
    let module = Module::new(&engine, HOST).unwrap();
    let mut linker = Linker::<()>::new(&engine);
    linker
        .func_wrap("host", "inc", |_: Caller<'_, ()>, x: i32| x + 1)
        .unwrap();
    linker
        .func_wrap("host", "log", |_: Caller<'_, ()>, _: i32, _: i32| {})
        .unwrap();
    let pre = linker.instantiate_pre(&module).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = pre.instantiate(&mut store).unwrap();
    let looped = inst.get_typed_func::<i32, i32>(&mut store, "loop").unwrap();
    g.bench_function("raw_wasmtime/func_wrap", |b| {
        b.iter(|| assert_eq!(looped.call(&mut store, CALLS).unwrap(), CALLS))
    });

    // The same closure shape ext_wasm links (raw slots, `Linker::func_new_unchecked`): the floor for a
    // per-instance dynamic host function.
    let mut linker = Linker::<()>::new(&engine);
    let ty = wasmtime::FuncType::new(&engine, [wasmtime::ValType::I32], [wasmtime::ValType::I32]);
    // SAFETY: the closure reads one i32 argument and writes one i32 result, as `ty` says.
    unsafe {
        linker
            .func_new_unchecked("host", "inc", ty, |_, raw| {
                let x = raw[0].assume_init().get_i32();
                raw[0].write(wasmtime::ValRaw::i32(x + 1));
                Ok(())
            })
            .unwrap();
    }
    linker
        .func_wrap("host", "log", |_: Caller<'_, ()>, _: i32, _: i32| {})
        .unwrap();
    let mut store2 = Store::new(&engine, ());
    let inst2 = linker.instantiate(&mut store2, &module).unwrap();
    let looped2 = inst2.get_typed_func::<i32, i32>(&mut store2, "loop").unwrap();
    g.bench_function("raw_wasmtime/func_new_unchecked", |b| {
        b.iter(|| assert_eq!(looped2.call(&mut store2, CALLS).unwrap(), CALLS))
    });

    // Churn: instantiate + `add(1, 2)` + drop, with the two host imports vs the same module without imports.
    g.throughput(Throughput::Elements(1));
    g.bench_function("ext_wasm/churn_two_imports", |b| {
        b.iter(|| churn_once(&rt, m, &opts, &mut out))
    });
    let bare = rt.compile(ADD.as_bytes()).unwrap();
    let none = InstanceOptions::default();
    g.bench_function("ext_wasm/churn_no_imports", |b| {
        b.iter(|| churn_once(&rt, bare, &none, &mut out))
    });
    g.bench_function("raw_wasmtime/churn_two_imports", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine, ());
            let inst = pre.instantiate(&mut store).unwrap();
            let add = inst.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
            add.call(&mut store, (1, 2)).unwrap()
        })
    });
    g.finish();
}

/// One i32 in the frame's first slot.
fn put_i32(frame: &mut [u8], x: i32) {
    frame[wire::OUT_HEADER] = wire::tag::I32;
    frame[wire::OUT_HEADER + 8..wire::OUT_HEADER + 16].copy_from_slice(&i64::from(x).to_le_bytes());
}

criterion_group!(group, bench);
