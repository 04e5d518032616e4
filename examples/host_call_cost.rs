//! What a wasm → Rust host call costs: `HostFunc::wrap` (typed), on plain and on epoch-checked code, and
//! `HostFunc::new` (a closure over `Value`s), against raw wasmtime's `Func::wrap` in the same process, alternating
//! rounds (best of each). No arguments: `cargo run --release --example host_call_cost`.

use std::time::Instant;

use ext_wasm::{CallLimits, HostCall, HostFunc, Imports, InstanceOptions, Runtime, RuntimeConfig, Value};
use wasmtime::{Caller, Config, Engine, Linker, Module, Store};

/// `loop(n)` calls the host's `inc` n times, threading the value through it (the comparison harness's module).
const HOST: &str = include_str!("../bench/compare/host.wat");

const CALLS: i32 = 1_000_000;

fn main() {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    config.tiering = ext_wasm::Tiering::Cranelift;
    let rt = Runtime::new(config);
    let m = rt.compile(HOST.as_bytes()).unwrap();
    let instance = |inc: HostFunc, preemptible| {
        let opts = InstanceOptions {
            imports: Imports::new().func("host", "inc", inc).func(
                "host",
                "log",
                HostFunc::wrap(|_: &mut HostCall, _: i32, _: i32| Ok(())),
            ),
            preemptible: Some(preemptible),
            ..Default::default()
        };
        rt.instantiate(m, &opts).unwrap()
    };
    let typed = || HostFunc::wrap(|_: &mut HostCall, x: i32| Ok(x + 1));
    let (plain, checked) = (instance(typed(), false), instance(typed(), true));
    let values = HostFunc::new(|_, args, out| {
        let Value::I32(x) = args[0] else {
            unreachable!("typed i32")
        };
        out.push(Value::I32(x + 1));
        Ok(())
    });
    let values = instance(values, true);
    let mut out = Vec::with_capacity(1);
    let mut ours = |id| {
        out.clear();
        rt.call_into(id, "loop", &[Value::I32(CALLS)], CallLimits::default(), &mut out)
            .unwrap();
    };

    let engine = Engine::new(&Config::new()).unwrap();
    let module = Module::new(&engine, HOST).unwrap();
    let mut linker = Linker::<()>::new(&engine);
    linker
        .func_wrap("host", "inc", |_: Caller<'_, ()>, x: i32| x + 1)
        .unwrap();
    linker
        .func_wrap("host", "log", |_: Caller<'_, ()>, _: i32, _: i32| {})
        .unwrap();
    let mut store = Store::new(&engine, ());
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let looped = inst.get_typed_func::<i32, i32>(&mut store, "loop").unwrap();
    let mut raw = || assert_eq!(looped.call(&mut store, CALLS).unwrap(), CALLS);

    let ns = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_nanos() as f64 / CALLS as f64
    };
    let mut best = [f64::MAX; 4];
    for _ in 0..15 {
        best[0] = best[0].min(ns(&mut || ours(plain)));
        best[1] = best[1].min(ns(&mut || ours(checked)));
        best[2] = best[2].min(ns(&mut || ours(values)));
        best[3] = best[3].min(ns(&mut raw));
    }
    println!(
        "per host call, best of 15: HostFunc::wrap {:.2} ns (plain code) / {:.2} ns (epoch checks); \
         HostFunc::new {:.2} ns (epoch checks); raw func_wrap {:.2} ns",
        best[0], best[1], best[2], best[3]
    );
}
