//! Calls: `callSync` (a fast op on the JavaScript thread), `call` and `runCommand` (blocking pool). Arguments and
//! results travel in the caller's value frame (`crate::wire`).

use std::cell::RefCell;
use std::rc::Rc;

use deno_core::{op2, JsBuffer, OpState};

use super::blocking;
use super::error::WasmOpError;
use super::state::{runtime, wasm_state};
use crate::wire;

/// `callSync(name, ...args)`: the result count; results in `frame`.
#[op2(fast)]
pub fn op_wasm_call_sync(
    state: &mut OpState,
    instance: f64,
    #[string] name: &str,
    #[buffer] frame: &mut [u8],
    nargs: u32,
) -> Result<u32, WasmOpError> {
    Ok(wire::call_frame(
        &wasm_state(state).runtime,
        instance,
        name,
        frame,
        nargs,
    )?)
}

/// `instance.func(name)`: resolve a function export once; its index for [`op_wasm_call_func`].
#[op2(fast)]
pub fn op_wasm_func(state: &mut OpState, instance: f64, #[string] name: &str) -> Result<u32, WasmOpError> {
    Ok(wire::func(&wasm_state(state).runtime, instance, name)?)
}

/// A bound function's call: as [`op_wasm_call_sync`], by index.
#[op2(fast)]
pub fn op_wasm_call_func(
    state: &mut OpState,
    instance: f64,
    index: u32,
    #[buffer] frame: &mut [u8],
    nargs: u32,
) -> Result<u32, WasmOpError> {
    Ok(wire::call_func(
        &wasm_state(state).runtime,
        instance,
        index,
        frame,
        nargs,
    )?)
}

/// `call(name, ...args)`: as [`op_wasm_call_sync`], on the blocking pool. `JsBuffer` keeps the frame alive until
/// the call is done; `ts/ops_backend.ts` does not touch it until the promise settles.
#[op2]
pub async fn op_wasm_call(
    state: Rc<RefCell<OpState>>,
    instance: f64,
    #[string] name: String,
    #[buffer] frame: JsBuffer,
    nargs: u32,
) -> Result<u32, WasmOpError> {
    let rt = runtime(&mut state.borrow_mut());
    let mut frame = frame;
    blocking(move || wire::call_frame(&rt, instance, &name, &mut frame, nargs)).await
}

/// `runCommandSync()`: a WASI command's `_start` on the JavaScript thread; its exit status.
#[op2(fast)]
pub fn op_wasm_run_command_sync(state: &mut OpState, instance: f64) -> Result<i32, WasmOpError> {
    Ok(wire::run_command(&wasm_state(state).runtime, instance)?)
}

/// `runCommand()`: as [`op_wasm_run_command_sync`], on the blocking pool.
#[op2]
pub async fn op_wasm_run_command(state: Rc<RefCell<OpState>>, instance: f64) -> Result<i32, WasmOpError> {
    let rt = runtime(&mut state.borrow_mut());
    blocking(move || wire::run_command(&rt, instance)).await
}
