//! Instantiate + call + drop, the plugin-host loop: ext_wasm vs raw wasmtime (pooling + `InstancePre` +
//! `TypedFunc`), without and with WASI.

use criterion::{criterion_group, Criterion};
use ext_wasm::{InstanceOptions, OutputMode, WasiOptions};
use wasmtime::{Linker, Module, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::WasiCtxBuilder;

use super::*;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn");
    let rt = runtime();
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let opts = InstanceOptions::default();
    let mut out = Vec::with_capacity(1);
    g.bench_function("ext_wasm/no_wasi", |b| {
        b.iter(|| {
            churn_once(&rt, m, &opts, &mut out);
        })
    });
    // The same without epoch checks: what default instances pay for being preemptible.
    let plain = InstanceOptions {
        preemptible: Some(false),
        ..Default::default()
    };
    g.bench_function("ext_wasm/no_wasi_plain", |b| {
        b.iter(|| {
            churn_once(&rt, m, &plain, &mut out);
        })
    });

    let engine = raw_engine(false, false);
    let module = Module::new(&engine, ADD).unwrap();
    let pre = Linker::<()>::new(&engine).instantiate_pre(&module).unwrap();
    g.bench_function("raw_wasmtime/no_wasi", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine, ());
            let inst = pre.instantiate(&mut store).unwrap();
            let add = inst.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
            add.call(&mut store, (1, 2)).unwrap()
        })
    });

    // The same with ext_wasm's pool settings and epoch-checked code: the floor for `ext_wasm/no_wasi`.
    let like_ext = raw_engine_like_ext();
    let module = Module::new(&like_ext, ADD).unwrap();
    let pre_like_ext = Linker::<()>::new(&like_ext).instantiate_pre(&module).unwrap();
    g.bench_function("raw_wasmtime/no_wasi_same_pool", |b| {
        b.iter(|| {
            let mut store = Store::new(&like_ext, ());
            store.set_epoch_deadline(u64::MAX / 2);
            let inst = pre_like_ext.instantiate(&mut store).unwrap();
            let add = inst.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
            add.call(&mut store, (1, 2)).unwrap()
        })
    });

    // WASI, small: a module importing WASI; instantiate (with a WASI context) + `add` + drop.
    let wasi_add = r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
      (memory (export "memory") 1)
      (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;
    let m_small = rt.compile(wasi_add.as_bytes()).unwrap();
    let small_opts = InstanceOptions {
        wasi: Some(WasiOptions::default()),
        ..Default::default()
    };
    g.bench_function("ext_wasm/wasi_add", |b| {
        b.iter(|| {
            churn_once(&rt, m_small, &small_opts, &mut out);
        })
    });

    // WASI: context + instantiate + drop of the 1 MB C program (stdout captured); no call, since `big_sum`
    // itself runs ~0.4 ms and would hide the instantiation cost.
    let big = std::fs::read(fixture("bench/big.wasm")).unwrap();
    let m = rt.compile(&big).unwrap();
    let wasi_opts = InstanceOptions {
        wasi: Some(WasiOptions {
            stdout: OutputMode::Capture,
            ..Default::default()
        }),
        ..Default::default()
    };
    g.bench_function("ext_wasm/wasi_big_instantiate", |b| {
        b.iter(|| {
            let i = rt.instantiate(m, &wasi_opts).unwrap();
            rt.drop_instance(i).unwrap();
        })
    });
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| s).unwrap();
    let pre_small = linker
        .instantiate_pre(&Module::new(&engine, wasi_add).unwrap())
        .unwrap();
    g.bench_function("raw_wasmtime/wasi_add", |b| {
        b.iter(|| {
            let ctx = WasiCtxBuilder::new().arg("main.wasm").build_p1();
            let mut store = Store::new(&engine, ctx);
            let inst = pre_small.instantiate(&mut store).unwrap();
            let add = inst.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
            add.call(&mut store, (1, 2)).unwrap()
        })
    });
    let module = Module::new(&engine, &big).unwrap();
    let pre = linker.instantiate_pre(&module).unwrap();
    g.bench_function("raw_wasmtime/wasi_big_instantiate", |b| {
        b.iter(|| {
            let ctx = WasiCtxBuilder::new()
                .arg("main.wasm")
                .stdout(MemoryOutputPipe::new(1 << 20))
                .build_p1();
            let mut store = Store::new(&engine, ctx);
            pre.instantiate(&mut store).unwrap()
        })
    });
    g.finish();
}

criterion_group!(group, bench);
