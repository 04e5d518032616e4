//! Linking: the unit of work of an app that links a plugin to a library instance (instantiate the library,
//! instantiate the plugin importing its memory and a function, call, drop both), against raw wasmtime doing the
//! same in one `Store` with a `Linker` (the floor), and against two unlinked instances (what linking adds).
//! Linked instances share a store, and a store frees its instances together: churn links a fresh library per
//! plugin, as the README recommends.

use criterion::{criterion_group, Criterion, Throughput};
use ext_wasm::{CallLimits, Imports, InstanceOptions};
use wasmtime::{Linker, Module, Store};

use super::*;

const LIB: &str = r#"(module (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;
const PLUGIN: &str = r#"(module (import "lib" "memory" (memory 1))
  (import "lib" "add" (func $add (param i32 i32) (result i32)))
  (func (export "run") (result i32) (call $add (i32.load (i32.const 0)) (i32.const 2))))"#;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("linking");
    g.throughput(Throughput::Elements(1));
    let rt = runtime();
    let lib = rt.compile(LIB.as_bytes()).unwrap();
    let plugin = rt.compile(PLUGIN.as_bytes()).unwrap();
    let unlinked = rt.compile(ADD.as_bytes()).unwrap();
    let none = InstanceOptions::default();
    let mut out = Vec::with_capacity(1);
    g.bench_function("ext_wasm/lib_and_linked_plugin", |b| {
        b.iter(|| {
            let l = rt.instantiate(lib, &none).unwrap();
            let options = InstanceOptions {
                imports: Imports::new().instance("lib", l),
                ..Default::default()
            };
            let p = rt.instantiate(plugin, &options).unwrap();
            out.clear();
            rt.call_into(p, "run", &[], CallLimits::default(), &mut out).unwrap();
            rt.drop_instance(p).unwrap();
            rt.drop_instance(l).unwrap();
        })
    });
    g.bench_function("ext_wasm/two_unlinked", |b| {
        b.iter(|| {
            let l = rt.instantiate(lib, &none).unwrap();
            churn_once(&rt, unlinked, &none, &mut out);
            rt.drop_instance(l).unwrap();
        })
    });
    let engine = raw_engine(false, false);
    let lib_module = Module::new(&engine, LIB).unwrap();
    let plugin_module = Module::new(&engine, PLUGIN).unwrap();
    let lib_pre = Linker::new(&engine).instantiate_pre(&lib_module).unwrap();
    g.bench_function("raw_wasmtime/lib_and_linked_plugin", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine, ());
            let l = lib_pre.instantiate(&mut store).unwrap();
            let mut linker = Linker::new(&engine);
            linker.instance(&mut store, "lib", l).unwrap();
            let p = linker.instantiate(&mut store, &plugin_module).unwrap();
            let run = p.get_typed_func::<(), i32>(&mut store, "run").unwrap();
            run.call(&mut store, ()).unwrap()
        })
    });
    g.finish();
}

criterion_group!(group, bench);
