//! Calls: `callSync` (a fast op on the JavaScript thread), `call` and `runCommand` (blocking pool).
//!
//! Arguments and results travel in the caller's *frame* (`ts/frame.ts`, layout in `src/ffi.rs`): a 32-byte header
//! (the C ABI's out record; ignored here) and 16-byte slots, `tag: u8` at slot offset 0 and a little-endian
//! payload at offset 8. Arguments are read from slot 0; results overwrite the slots from slot 0 and the op returns
//! their count.

use std::cell::RefCell;
use std::rc::Rc;

use deno_core::{op2, JsBuffer, OpState};

use super::error::WasmOpError;
use super::state::{runtime, wasm_state};
use super::{blocking, instance_id};
use crate::instance::CallLimits;
use crate::value_frame::{decode_args, encode_results};

/// `callSync(name, ...args)`: decode `nargs` arguments from `frame`, call, write the results back; returns the
/// result count. Reuses the state's argument and result vectors, so a warm call does not allocate.
#[op2(fast)]
pub fn op_wasm_call_sync(
    state: &mut OpState,
    instance: f64,
    #[string] name: &str,
    #[buffer] frame: &mut [u8],
    nargs: u32,
) -> std::result::Result<u32, WasmOpError> {
    let id = instance_id(instance)?;
    let st = wasm_state(state);
    let (mut args, mut results) = (std::mem::take(&mut st.args), std::mem::take(&mut st.results));
    args.clear();
    results.clear();
    let outcome = decode_args(frame, nargs as usize, &mut args)
        .and_then(|()| {
            st.runtime
                .call_into(id, name, &args, CallLimits::default(), &mut results)
        })
        .and_then(|()| encode_results(frame, &results));
    st.args = args;
    st.results = results;
    Ok(outcome?)
}

/// `call(name, ...args)`: as [`op_wasm_call_sync`], on the blocking pool. `JsBuffer` keeps the frame's memory
/// alive until the call is done; `ts/ops_backend.ts` does not touch the frame until the promise settles.
#[op2]
pub async fn op_wasm_call(
    state: Rc<RefCell<OpState>>,
    instance: f64,
    #[string] name: String,
    #[buffer] frame: JsBuffer,
    nargs: u32,
) -> std::result::Result<u32, WasmOpError> {
    let id = instance_id(instance)?;
    let rt = runtime(&mut state.borrow_mut());
    let mut frame = frame;
    blocking(move || {
        let mut args = Vec::with_capacity(nargs as usize);
        let mut results = Vec::new();
        decode_args(&frame, nargs as usize, &mut args)?;
        rt.call_into(id, &name, &args, CallLimits::default(), &mut results)?;
        encode_results(&mut frame, &results)
    })
    .await
}

/// `runCommandSync()`: run a WASI command's `_start` on the JavaScript thread; returns its exit status.
#[op2(fast)]
pub fn op_wasm_run_command_sync(state: &mut OpState, instance: f64) -> std::result::Result<i32, WasmOpError> {
    let id = instance_id(instance)?;
    Ok(wasm_state(state).runtime.run_command(id)?)
}

/// `runCommand()`: as [`op_wasm_run_command_sync`], on the blocking pool.
#[op2]
pub async fn op_wasm_run_command(state: Rc<RefCell<OpState>>, instance: f64) -> std::result::Result<i32, WasmOpError> {
    let id = instance_id(instance)?;
    let rt = runtime(&mut state.borrow_mut());
    blocking(move || rt.run_command(id)).await
}
