//! Heap allocations per churn iteration (instantiate `add.wat`, call it, drop it): ext_wasm's `Runtime` and C ABI
//! against raw Wasmtime with the same pool, counted by a global allocator wrapper. The churn is bound by what it
//! keeps in cache (see the README, "Calls with numbers without a frame"), so every allocation our layer adds over
//! Wasmtime's own is footprint a churn pays for.
//!
//! `cargo run --release --example alloc_count` prints allocations and bytes per iteration for each.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use ext_wasm::ffi::{
    ext_wasm_call_numbers, ext_wasm_call_start, ext_wasm_compile, ext_wasm_func, ext_wasm_instance_drop,
    ext_wasm_instantiate, ext_wasm_instantiate_start,
};
use ext_wasm::{CallLimits, InstanceOptions, Runtime, RuntimeConfig, Value};

/// The system allocator, counting calls and bytes.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `GlobalAlloc::alloc` is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc` or `realloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`; the caller's contract for `realloc` is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ADD: &str = include_str!("../bench/compare/add.wat");
const HOST: &str = include_str!("../bench/compare/host.wat");
const N: u64 = 10_000;

/// Runs `iteration` `N` times after a warm-up and prints allocations and bytes per iteration.
fn count(label: &str, mut iteration: impl FnMut()) {
    for _ in 0..100 {
        iteration();
    }
    let (a, b) = (ALLOCS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    for _ in 0..N {
        iteration();
    }
    let allocs = (ALLOCS.load(Ordering::Relaxed) - a) as f64 / N as f64;
    let bytes = (BYTES.load(Ordering::Relaxed) - b) as f64 / N as f64;
    println!("{label:<44} {allocs:>5.1} allocations {bytes:>7.0} bytes");
}

fn main() {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    let rt = Runtime::new(config);
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let options = InstanceOptions::default();
    let mut out = Vec::with_capacity(1);
    count("Runtime: instantiate + call_into + drop", || {
        let inst = rt.instantiate(m, &options).unwrap();
        out.clear();
        rt.call_into(
            inst,
            "add",
            &[Value::I32(1), Value::I32(2)],
            CallLimits::default(),
            &mut out,
        )
        .unwrap();
        rt.drop_instance(inst).unwrap();
    });
    let mut frame = vec![0u8; 128];
    let module = compiled(ADD, &mut frame);
    count("C ABI: instantiate + func + call_numbers + drop", || {
        let nul = std::ptr::null();
        // SAFETY: as above; the handle is the one `ext_wasm_instantiate` wrote.
        unsafe {
            assert_eq!(
                ext_wasm_instantiate(module, nul, 0, nul, 0, frame.as_mut_ptr(), frame.len()),
                0
            );
            let inst = handle(&frame);
            assert_eq!(
                ext_wasm_func(inst, b"add".as_ptr(), 3, frame.as_mut_ptr(), frame.len()),
                0
            );
            let index = u32::from_le_bytes(frame[..4].try_into().unwrap());
            let rc = ext_wasm_call_numbers(inst, index, 1.0, 2.0, 0.0, 0.0, 2, frame.as_mut_ptr(), frame.len());
            assert_eq!(rc, 0);
            assert_eq!(ext_wasm_instance_drop(inst, frame.as_mut_ptr(), frame.len()), 0);
        }
    });
    with_imports(&mut frame);
    raw_churn();
}

/// `wat` compiled through the C ABI: its module handle.
fn compiled(wat: &str, frame: &mut [u8]) -> f64 {
    // SAFETY: `wat` and `frame` are live slices of the stated lengths, distinct from each other.
    let rc = unsafe { ext_wasm_compile(wat.as_ptr(), wat.len(), frame.as_mut_ptr(), frame.len()) };
    assert_eq!(rc, 0);
    handle(frame)
}

/// The handle an out record's `a` holds.
fn handle(frame: &[u8]) -> f64 {
    u64::from_le_bytes(frame[..8].try_into().unwrap()) as f64
}

/// The churn of a module with two JavaScript imports (`host.wat`) as the TypeScript API makes it: instantiated and
/// called through the host-call protocol (`instantiate_start`, `call_start`), with its import table as options.
fn with_imports(frame: &mut [u8]) {
    let options = br#"{"hostImports":[["host","inc",0],["host","log",1]]}"#;
    let module = compiled(HOST, frame);
    count("C ABI, two JS imports: start + call_start + drop", || {
        let nul = std::ptr::null();
        // SAFETY: as above; the handle is the one `ext_wasm_instantiate_start` wrote. `add` calls no import.
        unsafe {
            let (o, n) = (options.as_ptr(), options.len());
            assert_eq!(
                ext_wasm_instantiate_start(module, o, n, nul, 0, frame.as_mut_ptr(), frame.len()),
                0
            );
            let inst = handle(frame);
            frame[32] = ext_wasm::ffi::tag::NUMBER;
            frame[40..48].copy_from_slice(&1f64.to_bits().to_le_bytes());
            frame[48] = ext_wasm::ffi::tag::NUMBER;
            frame[56..64].copy_from_slice(&2f64.to_bits().to_le_bytes());
            let rc = ext_wasm_call_start(inst, b"add".as_ptr(), 3, frame.as_mut_ptr(), frame.len(), 2, 1);
            assert_eq!((rc, frame[8]), (0, 0));
            assert_eq!(ext_wasm_instance_drop(inst, frame.as_mut_ptr(), frame.len()), 0);
        }
    });
}

/// Raw Wasmtime with ext_wasm's pool and epoch checks: a store, `InstancePre::instantiate`, a `TypedFunc` call.
fn raw_churn() {
    use wasmtime::{Config, Engine, Linker, Module, Store};
    let mut config = Config::new();
    ext_wasm::PoolConfig::default().configure(&mut config);
    config.epoch_interruption(true);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, ADD).unwrap();
    let pre = Linker::<()>::new(&engine).instantiate_pre(&module).unwrap();
    count("raw wasmtime: store + instantiate + call + drop", || {
        let mut store = Store::new(&engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        let inst = pre.instantiate(&mut store).unwrap();
        let add = inst.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
        assert_eq!(add.call(&mut store, (1, 2)).unwrap(), 3);
    });
}
