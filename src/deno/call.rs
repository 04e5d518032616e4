//! Calls: `callSync` (a fast op on the JavaScript thread) and `call` / `runCommand`, which start on the JavaScript
//! thread and, only when the guest outlives its time slice, continue on tokio's blocking pool (the protocol:
//! `crate::AsyncCall`). Arguments and results travel in the caller's value frame (`crate::wire`).

use std::cell::RefCell;
use std::rc::Rc;

use deno_core::{op2, JsBuffer, OpState};

use super::blocking;
use super::error::WasmOpError;
use super::state::{runtime, wasm_state};
use crate::wire;
use crate::CallStep;

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

/// `call(name, ...args)`: started on the JavaScript thread; a call done within its time slice resolves at once
/// (the op's future is ready on its first poll: no thread hop), a longer one finishes on the blocking pool.
/// `JsBuffer` keeps the frame alive until then; `ts/mod.ts` does not touch it until the promise settles.
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
    let step = wire::call_start(&rt, instance, &name, &mut frame, nargs)?;
    finish(step, frame).await.map(|n| n as u32)
}

/// The answer of a started call: at once when done, else from the blocking pool.
async fn finish(step: CallStep, mut frame: JsBuffer) -> Result<u64, WasmOpError> {
    match step {
        CallStep::Done(answer) => Ok(answer),
        CallStep::Pending(call) => blocking(move || call.finish(&mut frame)).await,
    }
}

/// `runCommandSync()`: a WASI command's `_start` on the JavaScript thread; its exit status.
#[op2(fast)]
pub fn op_wasm_run_command_sync(state: &mut OpState, instance: f64) -> Result<i32, WasmOpError> {
    Ok(wire::run_command(&wasm_state(state).runtime, instance)?)
}

/// `runCommand()`: as [`op_wasm_call`] for a WASI command's `_start`; its exit status.
#[op2]
pub async fn op_wasm_run_command(
    state: Rc<RefCell<OpState>>,
    instance: f64,
    #[buffer] frame: JsBuffer,
) -> Result<i32, WasmOpError> {
    let rt = runtime(&mut state.borrow_mut());
    let mut frame = frame;
    let step = wire::run_command_start(&rt, instance, &mut frame)?;
    finish(step, frame).await.map(|code| code as i64 as i32)
}
