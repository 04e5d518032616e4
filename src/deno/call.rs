//! Calls: `callSync` (a fast op on the JavaScript thread) and the steps of `call` / `runCommand` (the protocol:
//! `crate::AsyncCall`, `crate::wire::Step`): started on the JavaScript thread, finished on tokio's blocking pool
//! only when the guest outlives its time slice, resumed on the JavaScript thread after a host import ran.
//! Arguments and results travel in the caller's value frame (`crate::wire`).

use deno_core::{op2, JsBuffer, OpState};

use super::blocking;
use super::error::WasmOpError;
use super::state::rt;
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
    Ok(wire::call_frame(rt(state), instance, name, frame, nargs)?)
}

/// `instance.func(name)`: resolve a function export once; its index for [`op_wasm_call_func`].
#[op2(fast)]
pub fn op_wasm_func(state: &mut OpState, instance: f64, #[string] name: &str) -> Result<u32, WasmOpError> {
    Ok(wire::func(rt(state), instance, name)?)
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
    Ok(wire::call_func(rt(state), instance, index, frame, nargs)?)
}

/// Start a call on the JavaScript thread (`call`, and `callSync` of an instance with host imports: `sync`);
/// the step kind (0 done, 1 pending, 2 waiting in a host import), with the details in the frame's header
/// (`crate::wire::Step`).
#[op2(fast)]
pub fn op_wasm_call_start(
    state: &mut OpState,
    instance: f64,
    #[string] name: &str,
    #[buffer] frame: &mut [u8],
    nargs: u32,
    sync: bool,
) -> Result<u32, WasmOpError> {
    let step = wire::call_start(rt(state), instance, name, frame, nargs, sync)?;
    Ok(step.kind())
}

/// `instantiate` of an instance with JavaScript imports: through the call protocol (its start function may
/// call them); the step kind, and when done the instance handle in the frame's header.
#[op2(fast)]
pub fn op_wasm_instantiate_start(
    state: &mut OpState,
    module: f64,
    #[string] options_json: &str,
    #[buffer] stdin: &[u8],
    #[buffer] frame: &mut [u8],
) -> Result<u32, WasmOpError> {
    let runtime = rt(state);
    let step = wire::instantiate_start(runtime, module, options_json.as_bytes(), stdin, frame)?;
    Ok(step.kind())
}

/// Finish a pending call on the blocking pool (it ends, or waits in a host import); the step kind.
/// `JsBuffer` keeps the frame alive until then; `ts/mod.ts` does not touch it until the promise settles.
#[op2]
pub async fn op_wasm_call_finish(token: f64, #[buffer] frame: JsBuffer) -> Result<u32, WasmOpError> {
    let mut frame = frame;
    let step = blocking(move || wire::call_finish(wire::call_token(token)?, &mut frame)).await?;
    Ok(step.kind())
}

/// Answer the host import a call waits in and continue it on the JavaScript thread; the step kind.
#[op2(fast)]
pub fn op_wasm_call_resume(
    token: f64,
    #[buffer] frame: &mut [u8],
    nresults: i32,
    #[string] message: &str,
) -> Result<u32, WasmOpError> {
    Ok(wire::call_resume(wire::call_token(token)?, frame, nresults, message)?.kind())
}

/// `runCommandSync()`: a WASI command's `_start` on the JavaScript thread; its exit status.
#[op2(fast)]
pub fn op_wasm_run_command_sync(state: &mut OpState, instance: f64) -> Result<i32, WasmOpError> {
    Ok(wire::run_command(rt(state), instance)?)
}

/// `runCommand()`: as [`op_wasm_call_start`] for a WASI command's `_start` (the answer: its exit status).
#[op2(fast)]
pub fn op_wasm_run_command_start(
    state: &mut OpState,
    instance: f64,
    #[buffer] frame: &mut [u8],
    sync: bool,
) -> Result<u32, WasmOpError> {
    Ok(wire::run_command_start(rt(state), instance, frame, sync)?.kind())
}

/// `getGlobal(name)` (`set = false`: the value into slot 0, returns 1) and `setGlobal(name, value)` (`set = true`:
/// the value from slot 0, returns 0).
#[op2(fast)]
pub fn op_wasm_global(
    state: &mut OpState,
    instance: f64,
    #[string] name: &str,
    #[buffer] frame: &mut [u8],
    set: bool,
) -> Result<u32, WasmOpError> {
    let runtime = rt(state);
    Ok(match set {
        false => wire::global_get(runtime, instance, name, frame)?,
        true => wire::global_set(runtime, instance, name, frame).map(|()| 0)?,
    })
}
