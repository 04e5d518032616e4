//! Integration tests of the public API and the CLI. One binary (linking wasmtime once), one module per concern.

mod async_call;
mod bridged;
mod bundle;
mod cache;
mod call;
mod capabilities;
mod cli;
mod compile;
mod concurrency;
#[cfg(feature = "deno")]
mod deno_extension;
mod ffi;
mod frame_bridge;
mod host_func;
mod hostile;
mod limits;
mod linking;
mod memory;
mod reentrant;
mod tiering;
mod wasi;
mod wire;

use std::path::{Path, PathBuf};

use ext_wasm::{ErrorCode, InstanceId, InstanceOptions, ModuleId, Runtime, RuntimeConfig};

/// A runtime whose disk cache is off: most tests are about behaviour, not persistence.
pub fn runtime() -> Runtime {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    config.pool.total_instances = 200;
    Runtime::new(config)
}

/// A runtime with its disk cache in `dir`.
pub fn cached_runtime(dir: &Path) -> Runtime {
    let mut config = RuntimeConfig::default();
    config.cache.dir = Some(dir.to_path_buf());
    config.pool.total_instances = 50;
    Runtime::new(config)
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()))
        } else {
            out.push(e.path())
        }
    }
    out
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

pub fn fixture_bytes(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap()
}

/// Compile WAT and instantiate with default options.
pub fn instance(rt: &Runtime, wat: &str) -> (ModuleId, InstanceId) {
    let m = rt.compile(wat.as_bytes()).unwrap();
    let i = rt.instantiate(m, &InstanceOptions::default()).unwrap();
    (m, i)
}

/// The code of an error result.
pub fn code<T: std::fmt::Debug>(r: ext_wasm::Result<T>) -> ErrorCode {
    r.expect_err("expected an error").code()
}

pub const ADD: &str = r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;

/// A frame with `args` as i32 slots.
pub fn i32_frame(args: &[i32]) -> Vec<u8> {
    let mut f = vec![0u8; ext_wasm::wire::OUT_HEADER + 8 * ext_wasm::wire::SLOT];
    for (n, a) in args.iter().enumerate() {
        let at = ext_wasm::wire::OUT_HEADER + n * ext_wasm::wire::SLOT;
        f[at] = ext_wasm::wire::tag::I32;
        f[at + 8..at + 12].copy_from_slice(&a.to_le_bytes());
    }
    f
}

/// Slot `n` of a frame as an i32.
pub fn slot_i32(f: &[u8], n: usize) -> i32 {
    let at = ext_wasm::wire::OUT_HEADER + n * ext_wasm::wire::SLOT + 8;
    i32::from_le_bytes(f[at..at + 4].try_into().unwrap())
}
