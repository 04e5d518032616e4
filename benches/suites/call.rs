//! One call of `add(i32, i32)` on a live instance: ext_wasm's dynamic path vs wasmtime `TypedFunc` (the floor)
//! vs untyped `Func::call`.

use criterion::{criterion_group, Criterion};
use ext_wasm::{CallLimits, Value};
use wasmtime::{Linker, Module, Store, Val};

use super::*;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("call");
    let rt = runtime();
    let (_, i) = {
        let m = rt.compile(ADD.as_bytes()).unwrap();
        (m, rt.instantiate(m, &Default::default()).unwrap())
    };
    let mut out = Vec::with_capacity(1);
    let args = [Value::I32(1), Value::I32(2)];
    g.bench_function("ext_wasm/call_into", |b| {
        b.iter(|| {
            out.clear();
            rt.call_into(i, "add", &args, CallLimits::default(), &mut out).unwrap();
        })
    });
    let untyped = [Value::Number(1.0), Value::Number(2.0)];
    g.bench_function("ext_wasm/call_into_numbers", |b| {
        b.iter(|| {
            out.clear();
            rt.call_into(i, "add", &untyped, CallLimits::default(), &mut out)
                .unwrap();
        })
    });

    let add = rt.func(i, "add").unwrap();
    g.bench_function("ext_wasm/func_call_into", |b| {
        b.iter(|| {
            out.clear();
            add.call_into(&args, &mut out).unwrap();
        })
    });

    let engine = raw_engine(false, false);
    let module = Module::new(&engine, ADD).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let typed = inst.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
    g.bench_function("raw_wasmtime/typed_func", |b| {
        b.iter(|| typed.call(&mut store, (1, 2)).unwrap())
    });
    let func = inst.get_func(&mut store, "add").unwrap();
    let mut results = [Val::I32(0)];
    g.bench_function("raw_wasmtime/func_call", |b| {
        b.iter(|| {
            func.call(&mut store, &[Val::I32(1), Val::I32(2)], &mut results)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(group, bench);
