//! The call path's cost, instruction by instruction: a loop of `add(i32, i32)` calls through the C ABI
//! (`ext_wasm_call`, what `callSync` from TypeScript runs), through `Runtime::call_into` and through a resolved
//! [`ext_wasm::Func`], for profiling with `valgrind --tool=callgrind` (instruction counts are repeatable on a
//! noisy machine, unlike times). Prints ns per call for each, the minimum of 5 rounds.
//!
//! ```sh
//! cargo build --release --example call_cost
//! target/release/examples/call_cost                       # times
//! target/release/examples/call_cost 2000000 call_func      # one row (labels containing `call_func`)
//! valgrind --tool=callgrind target/release/examples/call_cost 100000   # instructions
//! ```

use std::time::Instant;

use ext_wasm::ffi::{
    ext_wasm_call, ext_wasm_call_continue, ext_wasm_call_finish, ext_wasm_call_func, ext_wasm_call_numbers,
    ext_wasm_call_resume, ext_wasm_call_start, ext_wasm_compile, ext_wasm_func, ext_wasm_instance_drop,
    ext_wasm_instantiate, ext_wasm_instantiate_start, ext_wasm_set_host_callback, tag, OUT_HEADER, SLOT,
};
use ext_wasm::wire::CALL_INDEX_AT;
use ext_wasm::{CallLimits, InstanceOptions, Runtime, RuntimeConfig, Value};

/// How many `call_start` rows' calls yielded (a time slice ended inside a two-instruction call).
static YIELDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What the comparison harness calls and churns (a plugin has a memory: dropping it resets the memory's slot).
const ADD: &str = include_str!("../bench/compare/add.wat");
/// `loop(n)` calls the import `host.inc` n times: the module the comparison harness measures from TypeScript.
const HOST: &str = include_str!("../bench/compare/host.wat");
/// [`ADD`] with a loop that runs once: its calls could be suspended, so async ones run on a fiber (a short
/// export, with no loop and no call, runs without one).
const ADD_WITH_LOOP: &str =
    r#"(module (func (export "add") (param i32 i32) (result i32) (loop) local.get 0 local.get 1 i32.add))"#;

/// `n` rounds of `ext_wasm_instantiate` (with `options` JSON, empty for none) + `ext_wasm_call("add")` +
/// `ext_wasm_instance_drop` through the C ABI.
fn c_abi_churn(module: f64, options: &[u8], frame: &mut [u8], n: u32) {
    let nul = std::ptr::null();
    for _ in 0..n {
        // SAFETY: `frame` and `options` are live and distinct from each other and from the name; stdin is empty.
        unsafe {
            let rc = ext_wasm_instantiate(
                module,
                options.as_ptr(),
                options.len(),
                nul,
                0,
                frame.as_mut_ptr(),
                frame.len(),
            );
            assert_eq!(rc, 0);
            let inst = header_u64(frame, 0) as f64;
            put_add_args(frame, 1);
            assert_eq!(
                ext_wasm_call(inst, b"add".as_ptr(), 3, frame.as_mut_ptr(), frame.len(), 2),
                0
            );
            assert_eq!(ext_wasm_instance_drop(inst, frame.as_mut_ptr(), frame.len()), 0);
        }
    }
}

/// `add(i & 0xffff, 1)`'s arguments as two number slots of the frame.
fn put_add_args(frame: &mut [u8], i: u32) {
    frame[32] = tag::NUMBER;
    frame[40..48].copy_from_slice(&f64::from(i & 0xffff).to_bits().to_le_bytes());
    frame[48] = tag::NUMBER;
    frame[56..64].copy_from_slice(&1f64.to_bits().to_le_bytes());
}

/// The frame `answer_inc` trades values in (registered with `ext_wasm_set_host_callback`).
static CALLBACK_FRAME: std::sync::atomic::AtomicPtr<u8> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// The host callback of `host.wat`'s imports: `inc` (index 0) answers its argument plus one, `log` nothing.
extern "C" fn answer_inc() -> i32 {
    // SAFETY: the frame registered in `main`, live for the process, written only here while the core waits.
    let frame = unsafe {
        std::slice::from_raw_parts_mut(
            CALLBACK_FRAME.load(std::sync::atomic::Ordering::Relaxed),
            OUT_HEADER + 4 * SLOT,
        )
    };
    let index = u32::from_le_bytes(frame[CALL_INDEX_AT..CALL_INDEX_AT + 4].try_into().unwrap());
    if index & 0xff_ffff != 0 {
        return 0;
    }
    let arg = i32::from_le_bytes(frame[40..44].try_into().unwrap());
    frame[32] = tag::I32;
    frame[40..48].copy_from_slice(&i64::from(arg + 1).to_le_bytes());
    1
}

/// Compile `wat` and instantiate it with `options` through the C ABI; the instance handle.
fn instance_with(wat: &str, options: &[u8], frame: &mut [u8]) -> f64 {
    // SAFETY: every buffer is a live slice of the stated length, distinct from the others; stdin is empty.
    unsafe {
        assert_eq!(
            ext_wasm_compile(wat.as_ptr(), wat.len(), frame.as_mut_ptr(), frame.len()),
            0
        );
        let module = header_u64(frame, 0) as f64;
        let nul = std::ptr::null();
        let rc = ext_wasm_instantiate_start(
            module,
            options.as_ptr(),
            options.len(),
            nul,
            0,
            frame.as_mut_ptr(),
            frame.len(),
        );
        assert_eq!((rc, frame[8]), (0, 0));
        header_u64(frame, 0) as f64
    }
}

fn header_u64(frame: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(frame[at..at + 8].try_into().unwrap())
}

/// Whether row `label` runs: an optional second argument picks the rows whose label contains it (for `perf
/// record` or callgrind of one path).
fn selected(label: &str) -> bool {
    std::env::args().nth(2).is_none_or(|only| label.contains(&only))
}

/// Run `f(n)` 5 times; print the best time per unit of work (`f(n)` does `n * per` units).
fn best(label: &str, n: u32, per: u32, mut f: impl FnMut(u32)) {
    if !selected(label) {
        return;
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        f(n);
        best = best.min(t.elapsed().as_nanos() as f64 / f64::from(n * per));
    }
    println!("{label:<40} {best:>7.1} ns");
}

fn main() {
    let n: u32 = std::env::args().nth(1).map_or(2_000_000, |s| s.parse().unwrap());
    let mut frame = vec![0u8; OUT_HEADER + 4 * SLOT];
    let inst = instance_of(ADD, &mut frame);
    best("C ABI ext_wasm_call add(i32, i32)", n, 1, |n| {
        for i in 0..n {
            put_add_args(&mut frame, i);
            // SAFETY: `frame` is live and distinct from the name.
            let rc = unsafe { ext_wasm_call(inst, b"add".as_ptr(), 3, frame.as_mut_ptr(), frame.len(), 2) };
            assert_eq!(rc, 0);
        }
    });
    // SAFETY: `frame` is live and distinct from the name.
    let index = unsafe {
        assert_eq!(
            ext_wasm_func(inst, b"add".as_ptr(), 3, frame.as_mut_ptr(), frame.len()),
            0
        );
        frame[0] as u32
    };
    best("C ABI ext_wasm_call_func add(i32, i32)", n, 1, |n| {
        for i in 0..n {
            put_add_args(&mut frame, i);
            // SAFETY: `frame` is live.
            let rc = unsafe { ext_wasm_call_func(inst, index, frame.as_mut_ptr(), frame.len(), 2) };
            assert_eq!(rc, 0);
        }
    });
    // The same with numbers in registers and the result in the out record: no frame either way.
    let mut record = [0u8; OUT_HEADER];
    best("C ABI ext_wasm_call_numbers add(i32, i32)", n, 1, |n| {
        for i in 0..n {
            let x = f64::from(i & 0xffff);
            // SAFETY: `record` is live and ours.
            let rc =
                unsafe { ext_wasm_call_numbers(inst, index, x, 1.0, 0.0, 0.0, 2, record.as_mut_ptr(), OUT_HEADER) };
            assert_eq!(rc, 0);
        }
    });
    call_start_row("C ABI ext_wasm_call_start add(i32, i32)", inst, n, &mut frame);
    // The same with a loop in `add` (it runs once): a call that could be suspended runs on a fiber.
    let looping = instance_of(ADD_WITH_LOOP, &mut frame);
    call_start_row("C ABI ext_wasm_call_start add+loop (fiber)", looping, n, &mut frame);
    let yields = YIELDS.load(std::sync::atomic::Ordering::Relaxed);
    if yields > 0 {
        println!("  ({yields} of those calls yielded at a slice's end)");
    }
    // A JavaScript import's round trip as the FFI backend makes it: `callSync` of `loop(n)` starts the call
    // (sync), and each host step is answered with `ext_wasm_call_resume` (here: the argument plus one).
    // SAFETY: every buffer is a live Vec or literal of the stated length, distinct from the others.
    let hosted = unsafe {
        assert_eq!(
            ext_wasm_compile(HOST.as_ptr(), HOST.len(), frame.as_mut_ptr(), frame.len()),
            0
        );
        let module = header_u64(&frame, 0) as f64;
        let options = br#"{"hostImports":[["host","inc"],["host","log"]]}"#;
        let nul = std::ptr::null();
        assert_eq!(
            ext_wasm_instantiate(
                module,
                options.as_ptr(),
                options.len(),
                nul,
                0,
                frame.as_mut_ptr(),
                frame.len()
            ),
            0
        );
        header_u64(&frame, 0) as f64
    };
    let per_loop: u32 = 1000;
    best("C ABI host call (call_resume), per call", n / per_loop, per_loop, |n| {
        for _ in 0..n {
            frame[32] = tag::NUMBER;
            frame[40..48].copy_from_slice(&f64::from(per_loop).to_bits().to_le_bytes());
            // SAFETY: `frame` is live and distinct from the name.
            let mut rc =
                unsafe { ext_wasm_call_start(hosted, b"loop".as_ptr(), 4, frame.as_mut_ptr(), frame.len(), 1, 1) };
            while rc == 0 && frame[8] == 2 {
                let token = header_u64(&frame, 0) as f64;
                let arg = i32::from_le_bytes(frame[40..44].try_into().unwrap());
                frame[32] = tag::I32;
                frame[40..48].copy_from_slice(&i64::from(arg + 1).to_le_bytes());
                // SAFETY: `frame` is live; the message is empty.
                rc = unsafe { ext_wasm_call_resume(token, frame.as_mut_ptr(), frame.len(), 1, std::ptr::null(), 0) };
            }
            assert_eq!((rc, frame[8]), (0, 0));
            assert_eq!(i32::from_le_bytes(frame[40..44].try_into().unwrap()), per_loop as i32);
        }
    });

    // The same imports called in place through the thread's host callback, as the FFI backend's dispatcher is:
    // bridged (the default for JavaScript imports: under `callSync` without a fiber, under `await call` on one,
    // the callback on this thread's stack) and `syncImports` (no fiber).
    // SAFETY: the callback frame is a leaked (static) buffer, written only by `answer_inc` inside the callback.
    unsafe {
        let callback_frame: &'static mut [u8] = Box::leak(vec![0u8; OUT_HEADER + 4 * SLOT].into_boxed_slice());
        CALLBACK_FRAME.store(callback_frame.as_mut_ptr(), std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            ext_wasm_set_host_callback(Some(answer_inc), callback_frame.as_mut_ptr(), callback_frame.len()),
            0
        );
    }
    for (label, mode, sync) in [
        ("C ABI host call, bridged, callSync (no fiber)", "bridgedImports", 1),
        ("C ABI host call, bridged, on a fiber (await call)", "bridgedImports", 0),
        ("C ABI host call, syncImports, per call", "syncImports", 1),
    ] {
        // Not preemptible: a call on a fiber must not yield at the end of a time slice (a slow moment would
        // otherwise end the row's loop in a `Yielded` step).
        let options =
            format!(r#"{{"hostImports":[["host","inc",0],["host","log",1]],"{mode}":true,"preemptible":false}}"#);
        let inst = instance_with(HOST, options.as_bytes(), &mut frame);
        best(label, n / per_loop, per_loop, |n| {
            for _ in 0..n {
                frame[32] = tag::NUMBER;
                frame[40..48].copy_from_slice(&f64::from(per_loop).to_bits().to_le_bytes());
                // SAFETY: `frame` is live and distinct from the name.
                let rc =
                    unsafe { ext_wasm_call_start(inst, b"loop".as_ptr(), 4, frame.as_mut_ptr(), frame.len(), 1, sync) };
                assert_eq!((rc, frame[8]), (0, 0));
                assert_eq!(i32::from_le_bytes(frame[40..44].try_into().unwrap()), per_loop as i32);
            }
        });
    }

    // Churn as the FFI backend makes it, per instance: instantiate, `callSync("add", 1, 2)`, drop. Without
    // imports: `instantiate` + `call`; with two JavaScript imports: `instantiate_start` + `call_start` (sync).
    let (add_module, host_module) = unsafe {
        // SAFETY: `frame` is live and distinct from the sources.
        assert_eq!(
            ext_wasm_compile(ADD.as_ptr(), ADD.len(), frame.as_mut_ptr(), frame.len()),
            0
        );
        let add_module = header_u64(&frame, 0) as f64;
        assert_eq!(
            ext_wasm_compile(HOST.as_ptr(), HOST.len(), frame.as_mut_ptr(), frame.len()),
            0
        );
        (add_module, header_u64(&frame, 0) as f64)
    };
    best("C ABI churn: instantiate + call + drop", n / 10, 1, |n| {
        c_abi_churn(add_module, b"", &mut frame, n)
    });
    best("C ABI churn with two host imports", n / 10, 1, |n| {
        let options = br#"{"hostImports":[["host","inc",0],["host","log",1]]}"#;
        for _ in 0..n {
            let nul = std::ptr::null();
            // SAFETY: `frame` and `options` are live and distinct; stdin is empty.
            unsafe {
                let rc = ext_wasm_instantiate_start(
                    host_module,
                    options.as_ptr(),
                    options.len(),
                    nul,
                    0,
                    frame.as_mut_ptr(),
                    frame.len(),
                );
                assert_eq!((rc, frame[8]), (0, 0));
                let inst = header_u64(&frame, 0) as f64;
                put_add_args(&mut frame, 1);
                let rc = ext_wasm_call_start(inst, b"add".as_ptr(), 3, frame.as_mut_ptr(), frame.len(), 2, 1);
                assert_eq!((rc, frame[8]), (0, 0));
                assert_eq!(ext_wasm_instance_drop(inst, frame.as_mut_ptr(), frame.len()), 0);
            }
        }
    });

    best("C ABI churn with two syncImports", n / 10, 1, |n| {
        let options = br#"{"hostImports":[["host","inc",0],["host","log",1]],"syncImports":true}"#;
        c_abi_churn(host_module, options, &mut frame, n)
    });

    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    let rt = Runtime::new(config);
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let i = rt.instantiate(m, &InstanceOptions::default()).unwrap();
    let mut out = Vec::with_capacity(1);
    best("Runtime::call_into add(i32, i32)", n, 1, |n| {
        for k in 0..n {
            out.clear();
            let args = [Value::I32((k & 0xffff) as i32), Value::I32(1)];
            rt.call_into(i, "add", &args, CallLimits::default(), &mut out).unwrap();
        }
    });
    // The default pool resets freed slots the way that timed cheaper on this machine (the next two rows).
    let scans = ext_wasm::PoolConfig::default().scans_dirty_pages();
    println!(
        "(default pool resets freed slots by {})",
        if scans { "scanning" } else { "zeroing" }
    );
    runtime_churn("Runtime churn: instantiate + call_into + drop", &rt, n / 10);
    for (label, scan) in [
        ("Runtime churn, pool scan_dirty_pages: Some(true)", true),
        ("Runtime churn, pool scan_dirty_pages: Some(false)", false),
    ] {
        let mut config = RuntimeConfig::default();
        config.cache.enabled = false;
        config.pool.scan_dirty_pages = Some(scan);
        runtime_churn(label, &Runtime::new(config), n / 10);
    }
    raw_churn(n / 10, false);
    raw_churn(n / 10, true);
    raw_churn_with_imports(n / 10);
    raw_call_async(n);
    raw_sync_calls(n);
    let add = rt.func(i, "add").unwrap();
    best("Func::call_into add(i32, i32)", n, 1, |n| {
        for k in 0..n {
            out.clear();
            add.call_into(&[Value::I32((k & 0xffff) as i32), Value::I32(1)], &mut out)
                .unwrap();
        }
    });
}

/// `n` async calls of `add` of `inst` through `ext_wasm_call_start`, each taken to its end as a host would.
fn call_start_row(label: &str, inst: f64, n: u32, frame: &mut [u8]) {
    best(label, n, 1, |n| {
        for i in 0..n {
            put_add_args(frame, i);
            // SAFETY: `frame` is live and distinct from the name.
            let rc = unsafe { ext_wasm_call_start(inst, b"add".as_ptr(), 3, frame.as_mut_ptr(), frame.len(), 2, 0) };
            assert_eq!(rc, 0);
            // A short call is done at once (step kind 0 in the header's second word). On a fiber, it may not
            // be if this thread was descheduled for longer than a time slice in the middle of it: then it
            // yielded (3, continued here as the JavaScript thread would after its event loop's turn) or is
            // pending (1, finished here as the worker thread would).
            while frame[8] == 3 {
                YIELDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let token = header_u64(frame, 0) as f64;
                // SAFETY: `frame` is live; it is the frame the call was started with.
                assert_eq!(
                    unsafe { ext_wasm_call_continue(token, frame.as_mut_ptr(), frame.len()) },
                    0
                );
            }
            if frame[8] == 1 {
                let token = header_u64(frame, 0) as f64;
                // SAFETY: `frame` is live; it is the frame the call was started with.
                assert_eq!(
                    unsafe { ext_wasm_call_finish(token, frame.as_mut_ptr(), frame.len()) },
                    0
                );
            }
            assert_eq!(frame[8], 0);
        }
    });
}

/// An instance of `wat` (no options) through the C ABI.
fn instance_of(wat: &str, frame: &mut [u8]) -> f64 {
    let nul = std::ptr::null();
    // SAFETY: every buffer is a live slice of the stated length, distinct from the others.
    unsafe {
        assert_eq!(
            ext_wasm_compile(wat.as_ptr(), wat.len(), frame.as_mut_ptr(), frame.len()),
            0
        );
        let module = header_u64(frame, 0) as f64;
        assert_eq!(
            ext_wasm_instantiate(module, nul, 0, nul, 0, frame.as_mut_ptr(), frame.len()),
            0
        );
        header_u64(frame, 0) as f64
    }
}

/// Churn through the Rust API: instantiate `add.wat`, call it, drop the instance.
fn runtime_churn(label: &str, rt: &Runtime, n: u32) {
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let options = InstanceOptions::default();
    let mut out = Vec::with_capacity(1);
    best(label, n, 1, |n| {
        for _ in 0..n {
            let inst = rt.instantiate(m, &options).unwrap();
            out.clear();
            let args = [Value::I32(1), Value::I32(2)];
            rt.call_into(inst, "add", &args, CallLimits::default(), &mut out)
                .unwrap();
            rt.drop_instance(inst).unwrap();
        }
    });
}

/// The floor of the churn rows: raw wasmtime with the pool (`PoolConfig::configure`: settings, memory reservation
/// and guard) and epoch checks of ext_wasm's default engine (`RuntimeConfig::default()`), an `InstancePre` and a `TypedFunc` per instance; `defaults`: with
/// wasmtime's default pool settings instead (no memory kept resident: freed slots are decommitted).
fn raw_churn(n: u32, defaults: bool) {
    let label = if defaults {
        "raw wasmtime churn (default pool)"
    } else {
        "raw wasmtime churn (same pool, epoch code)"
    };
    // Not built unless measured: the pool cannot be reserved under valgrind.
    if !selected(label) {
        return;
    }
    use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig, Store};
    let mut config = Config::new();
    if defaults {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(1000).total_memories(1000).total_tables(1000);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    } else {
        ext_wasm::PoolConfig::default().configure(&mut config);
    }
    config.epoch_interruption(true);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, ADD).unwrap();
    let pre = Linker::<()>::new(&engine).instantiate_pre(&module).unwrap();
    best(label, n, 1, |n| {
        for _ in 0..n {
            let mut store = Store::new(&engine, ());
            store.set_epoch_deadline(u64::MAX / 2);
            let inst = pre.instantiate(&mut store).unwrap();
            let add = inst.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
            assert_eq!(add.call(&mut store, (1, 2)).unwrap(), 3);
        }
    });
}

/// The floor of the churn rows with two host imports: raw wasmtime as in [`raw_churn`], `host.wat` linked to two
/// `func_wrap` closures once (one `InstancePre`).
fn raw_churn_with_imports(n: u32) {
    let label = "raw wasmtime churn with two host imports (same pool)";
    if !selected(label) {
        return;
    }
    use wasmtime::{Config, Engine, Linker, Module, Store};
    let mut config = Config::new();
    ext_wasm::PoolConfig::default()
        .configure(&mut config)
        .epoch_interruption(true);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, HOST).unwrap();
    let mut linker = Linker::<()>::new(&engine);
    linker.func_wrap("host", "inc", |x: i32| x + 1).unwrap();
    linker.func_wrap("host", "log", |_: i32, _: i32| {}).unwrap();
    let pre = linker.instantiate_pre(&module).unwrap();
    best(label, n, 1, |n| {
        for _ in 0..n {
            let mut store = Store::new(&engine, ());
            store.set_epoch_deadline(u64::MAX / 2);
            let inst = pre.instantiate(&mut store).unwrap();
            let add = inst.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
            assert_eq!(add.call(&mut store, (1, 2)).unwrap(), 3);
        }
    });
}

/// The floor of the `call_start` row: raw wasmtime's `TypedFunc::call_async` of `add`, polled once with a no-op
/// waker on the calling thread (what a short `await call` needs), on an epoch-instrumented engine whose store
/// yields at its deadline. On-demand allocation (the store keeps its fiber stack from call to call either way),
/// so that callgrind can run it.
fn raw_call_async(n: u32) {
    let label = "raw wasmtime call_async polled once";
    if !selected(label) {
        return;
    }
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    use wasmtime::{Config, Engine, Linker, Module, Store};
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, ADD).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_epoch_deadline(1_000);
    let inst = Linker::<()>::new(&engine).instantiate(&mut store, &module).unwrap();
    store.epoch_deadline_async_yield_and_update(1_000);
    let add = inst.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    best(label, n, 1, |n| {
        for k in 0..n {
            let mut fut = std::pin::pin!(add.call_async(&mut store, ((k & 0xffff) as i32, 1)));
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(r) => assert_eq!(r.unwrap(), (k & 0xffff) as i32 + 1),
                Poll::Pending => panic!("add did not finish in one poll"),
            }
        }
    });
}

/// The floors of the `call_into` rows: raw wasmtime's `TypedFunc::call` of `add` (typed: no conversion, no
/// lock) and `Func::call_unchecked` on raw values (what ours calls), on an epoch-instrumented engine as ours.
fn raw_sync_calls(n: u32) {
    use wasmtime::{Config, Engine, Linker, Module, Store, ValRaw};
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, ADD).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_epoch_deadline(u64::MAX / 2);
    let inst = Linker::<()>::new(&engine).instantiate(&mut store, &module).unwrap();
    let add = inst.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
    best("raw wasmtime TypedFunc::call add", n, 1, |n| {
        for k in 0..n {
            assert_eq!(
                add.call(&mut store, ((k & 0xffff) as i32, 1)).unwrap(),
                (k & 0xffff) as i32 + 1
            );
        }
    });
    let func = *add.func();
    best("raw wasmtime Func::call_unchecked add", n, 1, |n| {
        for k in 0..n {
            let mut raw = [ValRaw::i32((k & 0xffff) as i32), ValRaw::i32(1)];
            // SAFETY: `add` is `(i32, i32) -> i32`: two raw slots hold both parameters and the result, and
            // `func` belongs to `store`.
            unsafe { func.call_unchecked(&mut store, &mut raw as *mut [ValRaw]) }.unwrap();
            assert_eq!(raw[0].get_i32(), (k & 0xffff) as i32 + 1);
        }
    });
}
