//! Shared fixtures for the suites.

pub mod cache_hit;
pub mod call;
pub mod churn;
pub mod compile;
pub mod host_call;
pub mod interruption;
pub mod linking;
pub mod memory;
pub mod threads;

use std::path::{Path, PathBuf};

use ext_wasm::{CallLimits, InstanceOptions, ModuleId, Runtime, RuntimeConfig, Value};

pub const ADD: &str = r#"(module (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

/// A runtime without a disk cache (suites that measure the cache make their own).
pub fn runtime() -> Runtime {
    tiered(ext_wasm::Tiering::Cranelift)
}

/// [`runtime`] with the tiering policy `tiering` (Winch-only tiers even the smallest module).
pub fn tiered(tiering: ext_wasm::Tiering) -> Runtime {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    // The suites measure one code generator at a time: no background tier-up competing for the cores.
    config.tiering = tiering;
    config.baseline_min_bytes = 0;
    Runtime::new(config)
}

/// A module with `n` small functions (the "large module" of the compile suite: 3000 → 190 KB of wasm, 1.5 MB
/// compiled; the comparison harness generates the same bytes).
pub fn many_functions(n: usize) -> Vec<u8> {
    let mut wat = String::from("(module (memory (export \"memory\") 1)\n");
    for i in 0..n {
        wat.push_str(&format!(
            "(func (export \"f{i}\") (param i32 i32) (result i32) (local i32)
               (local.set 2 (i32.mul (local.get 0) (i32.const {k})))
               (if (i32.gt_s (local.get 2) (local.get 1))
                 (then (local.set 2 (i32.xor (local.get 2) (i32.load (i32.and (local.get 1) (i32.const 0xfff0))))))
                 (else (local.set 2 (i32.add (local.get 2) (i32.rotl (local.get 1) (i32.const {r}))))))
               (i32.sub (local.get 2) (i32.const {i})))\n",
            k = i * 7 + 3,
            r = i % 31
        ));
    }
    wat.push(')');
    wat::parse_str(&wat).unwrap()
}

/// Raw wasmtime with the same pooling allocator as ext_wasm's default: the floor for churn and calls.
pub fn raw_engine(fuel: bool, epoch: bool) -> wasmtime::Engine {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(100)
        .total_memories(100)
        .total_tables(100)
        .total_stacks(100);
    let mut config = wasmtime::Config::new();
    config
        .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool))
        .consume_fuel(fuel)
        .epoch_interruption(epoch);
    wasmtime::Engine::new(&config).unwrap()
}

/// [`raw_engine`] with the pool settings, memory reservation and epoch checks of ext_wasm's default engine
/// (`PoolConfig::default()`: freed slots reset the way that timed cheaper on this machine, a fiber stack per
/// slot), so churn and cache hits compare the same Wasmtime work.
pub fn raw_engine_like_ext() -> wasmtime::Engine {
    let mut config = wasmtime::Config::new();
    ext_wasm::PoolConfig::default()
        .configure(&mut config)
        .epoch_interruption(true);
    wasmtime::Engine::new(&config).unwrap()
}

/// One unit of plugin-host churn: instantiate, call `add(1, 2)`, drop.
pub fn churn_once(rt: &Runtime, m: ModuleId, opts: &InstanceOptions, out: &mut Vec<Value>) {
    let i = rt.instantiate(m, opts).unwrap();
    out.clear();
    rt.call_into(i, "add", &[Value::I32(1), Value::I32(2)], CallLimits::default(), out)
        .unwrap();
    rt.drop_instance(i).unwrap();
}
