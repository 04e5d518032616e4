//! Modules: compile (bytes or file, on a blocking thread), exports, drop.

use std::cell::RefCell;
use std::rc::Rc;

use deno_core::{op2, OpState};

use super::error::WasmOpError;
use super::state::{runtime, wasm_state};
use super::{blocking, module_id, ExportWire};

/// `compile(bytes)`: compile on a blocking thread; resolves to the module handle (a number).
///
/// The bytes are copied once on the JavaScript thread, so the caller may reuse its buffer at once and the bytes
/// that are hashed for the artifact cache are the bytes that get compiled.
#[op2]
#[number]
pub async fn op_wasm_compile(state: Rc<RefCell<OpState>>, #[buffer(copy)] bytes: Vec<u8>) -> Result<u64, WasmOpError> {
    let rt = runtime(&mut state.borrow_mut());
    blocking(move || rt.compile(&bytes).map(|id| id.0)).await
}

/// `compileFile(path)`: read and compile a `.wasm`/`.wat` file on a blocking thread (capability-checked, 5009).
#[op2]
#[number]
pub async fn op_wasm_compile_file(state: Rc<RefCell<OpState>>, #[string] path: String) -> Result<u64, WasmOpError> {
    let rt = runtime(&mut state.borrow_mut());
    blocking(move || rt.compile_file(&path).map(|id| id.0)).await
}

/// `dropModule(module)`. Instances created from it keep working.
#[op2(fast)]
pub fn op_wasm_module_drop(state: &mut OpState, module: f64) -> Result<(), WasmOpError> {
    let id = module_id(module)?;
    Ok(wasm_state(state).runtime.drop_module(id)?)
}

/// Exports of a module: `[{ name, kind, params?, results? }]`.
#[op2]
#[serde]
pub fn op_wasm_module_exports(state: &mut OpState, module: f64) -> Result<Vec<ExportWire>, WasmOpError> {
    let id = module_id(module)?;
    let exports = wasm_state(state).runtime.module_exports(id)?;
    Ok(exports.iter().map(ExportWire::from).collect())
}
