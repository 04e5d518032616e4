//! Modules: compile (bytes or file, on a blocking thread), exports, drop.

use std::cell::RefCell;
use std::rc::Rc;

use deno_core::{op2, JsBuffer, OpState};

use super::blocking;
use super::error::WasmOpError;
use super::state::{rt, runtime};
use crate::wire;

/// `compile(bytes)` on a blocking thread; resolves to the module handle. `ts/mod.ts` passes its own copy of the
/// caller's bytes (nobody else can write it), which `JsBuffer` keeps alive until the compile is done.
#[op2]
#[number]
pub async fn op_wasm_compile(state: Rc<RefCell<OpState>>, #[buffer] bytes: JsBuffer) -> Result<u64, WasmOpError> {
    let rt = runtime(&mut state.borrow_mut());
    blocking(move || wire::compile(&rt, &bytes)).await
}

/// `compileFile(path)` on a blocking thread.
#[op2]
#[number]
pub async fn op_wasm_compile_file(state: Rc<RefCell<OpState>>, #[string] path: String) -> Result<u64, WasmOpError> {
    let rt = runtime(&mut state.borrow_mut());
    blocking(move || wire::compile_file(&rt, path.as_ref())).await
}

/// `writeBundle(request)` on a blocking thread ([`wire::write_bundle`]); resolves to the manifest.
#[op2]
#[string]
pub async fn op_wasm_write_bundle(
    state: Rc<RefCell<OpState>>,
    #[string] request: String,
) -> Result<String, WasmOpError> {
    let rt = runtime(&mut state.borrow_mut());
    blocking(move || wire::write_bundle(&rt, request.as_bytes())).await
}

/// `tierStats()`: tier-up counters as JSON text.
#[op2]
#[string]
pub fn op_wasm_tier_stats(state: &mut OpState) -> String {
    wire::tier_stats(rt(state))
}

/// `waitForTierUp(timeoutMs)` on a blocking thread: true when no tier-up is queued or running.
#[op2]
pub async fn op_wasm_wait_for_tier_up(state: Rc<RefCell<OpState>>, timeout_ms: f64) -> Result<bool, WasmOpError> {
    let rt = runtime(&mut state.borrow_mut());
    blocking(move || Ok(wire::wait_for_tier_up(&rt, timeout_ms))).await
}

/// `bundleStatus()`: the configured bundles as JSON text.
#[op2]
#[string]
pub fn op_wasm_bundles(state: &mut OpState) -> String {
    wire::bundles(rt(state))
}

/// `dropModule(module)`.
#[op2(fast)]
pub fn op_wasm_module_drop(state: &mut OpState, module: f64) -> Result<(), WasmOpError> {
    Ok(wire::module_drop(rt(state), module)?)
}

/// `moduleImports(module)`: a module's imports as JSON text.
#[op2]
#[string]
pub fn op_wasm_module_imports(state: &mut OpState, module: f64) -> Result<String, WasmOpError> {
    Ok(wire::module_imports(rt(state), module)?)
}

/// A module's exports as JSON text.
#[op2]
#[string]
pub fn op_wasm_module_exports(state: &mut OpState, module: f64) -> Result<String, WasmOpError> {
    Ok(wire::module_exports(rt(state), module)?)
}
