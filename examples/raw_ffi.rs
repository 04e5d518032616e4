//! The floor of the churn rows inside Deno's process: raw Wasmtime, with ext_wasm's pool and epoch checks, one
//! churn iteration (a new `Store`, `InstancePre::instantiate`, a `TypedFunc` call of `add(1, 2)`, the drop) per
//! call of a C function Deno's FFI calls. No handles, no frames, no JavaScript objects: what any Wasmtime-based
//! runtime pays per instance from Deno, and the same Rust work `raw_start churn-bench` times in a Rust loop.
//!
//! Built as a C library (`cargo build --release --example raw_ffi` → `target/release/examples/libraw_ffi.so`) by
//! `scripts/compare.sh`; `bench/compare/throughput.ts --raw-floor=LIB` measures it beside ext_wasm's churn and
//! Deno native's in the same process and run.

use std::sync::OnceLock;

use wasmtime::{Config, Engine, InstancePre, Linker, Module, Store};

/// The engine and the module ready to instantiate, made by [`raw_ffi_setup`].
static READY: OnceLock<(Engine, InstancePre<()>)> = OnceLock::new();

/// Compile `wat` (WebAssembly text or binary, `len` bytes) with ext_wasm's pool settings and epoch checks, once
/// per process. Returns 0, or -1 when it does not compile or has imports (the module must export
/// `add(i32, i32) -> i32`; [`raw_ffi_churn_once`] checks that).
///
/// # Safety
/// `wat` must point to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn raw_ffi_setup(wat: *const u8, len: usize) -> i32 {
    // SAFETY: the caller's contract.
    let bytes = unsafe { std::slice::from_raw_parts(wat, len) };
    let build = || -> wasmtime::Result<(Engine, InstancePre<()>)> {
        let mut config = Config::new();
        ext_wasm::PoolConfig::default().configure(&mut config);
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let module = Module::new(&engine, bytes)?;
        let pre = Linker::<()>::new(&engine).instantiate_pre(&module)?;
        Ok((engine, pre))
    };
    match build() {
        Ok(ready) => {
            let _ = READY.set(ready);
            0
        }
        Err(_) => -1,
    }
}

/// One churn iteration: a store, an instance of the module set up by [`raw_ffi_setup`], `add(1, 2)`, the drop.
/// Returns the call's result (3), or -1 before setup or on any error.
#[unsafe(no_mangle)]
pub extern "C" fn raw_ffi_churn_once() -> i32 {
    let Some((engine, pre)) = READY.get() else {
        return -1;
    };
    let mut store = Store::new(engine, ());
    store.set_epoch_deadline(u64::MAX / 2);
    let result = pre.instantiate(&mut store).and_then(|instance| {
        let add = instance.get_typed_func::<(i32, i32), i32>(&mut store, "add")?;
        add.call(&mut store, (1, 2))
    });
    result.unwrap_or(-1)
}
