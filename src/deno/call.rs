//! Calls: `callSync` (a fast op on the JavaScript thread) and the steps of `call` / `runCommand` (the protocol:
//! `crate::AsyncCall`, `crate::wire::Step`): started on the JavaScript thread, finished on tokio's blocking pool
//! only when the guest outlives its time slice, resumed on the JavaScript thread after a host import ran.
//! Arguments and results travel in the caller's value frame (`crate::wire`).

use std::cell::RefCell;
use std::rc::Rc;

use deno_core::{op2, JsBuffer, OpState};

use super::blocking;
use super::error::WasmOpError;
use super::state::{rt, runtime};
use crate::wire;

/// Defines each op that runs guest code twice: as a fast op, and as its reentrant twin (`nofast, reentrant`, the
/// state borrowed only to clone the runtime) for when a guest may call `syncImports` back in JavaScript (see
/// `super::host`). `$rt` names the `&Runtime` in the body, a `wire` call returning `crate::Result`.
macro_rules! guest_op {
    // Parameters pass as raw tokens: `#[op2]` parses their types, which a `ty` fragment would hide from it.
    ($($(#[$attr:meta])* fn $fast:ident / $twin:ident ($($params:tt)*) -> $ret:ident = |$rt:ident| $body:expr;)*) => {$(
        #[op2(fast)]
        $(#[$attr])*
        pub fn $fast(state: &mut OpState, $($params)*) -> Result<$ret, WasmOpError> {
            let $rt = rt(state);
            Ok($body?)
        }

        /// The reentrant twin of the op of the same name without `_reentrant`.
        #[op2(nofast, reentrant)]
        $(#[$attr])*
        pub fn $twin(state: Rc<RefCell<OpState>>, $($params)*) -> Result<$ret, WasmOpError> {
            let runtime = runtime(&mut state.borrow_mut());
            let $rt = &runtime;
            Ok($body?)
        }
    )*};
}

guest_op! {
    /// `callSync(name, ...args)`: the result count; results in `frame`.
    fn op_wasm_call_sync / op_wasm_call_sync_reentrant(
        instance: f64, #[string] name: &str, #[buffer] frame: &mut [u8], nargs: u32,
    ) -> u32 = |rt| wire::call_frame(rt, instance, name, frame, nargs);

    /// A bound function's call: as [`op_wasm_call_sync`], by index.
    fn op_wasm_call_func / op_wasm_call_func_reentrant(
        instance: f64, index: u32, #[buffer] frame: &mut [u8], nargs: u32,
    ) -> u32 = |rt| wire::call_func(rt, instance, index, frame, nargs);

    /// A bound function's call with numbers ([`wire::call_numbers`]): the result count as an i32 (`NOT_NUMBERS`
    /// is -1, a small integer for V8); the result in `out[8..16]`.
    fn op_wasm_call_numbers / op_wasm_call_numbers_reentrant(
        instance: f64, index: u32, a0: f64, a1: f64, a2: f64, a3: f64, nargs: u32, #[buffer] out: &mut [u8],
    ) -> i32 = |rt| wire::call_numbers(rt, instance, index, [a0, a1, a2, a3], nargs, out).map(|n| n as i32);

    /// A new instance's first call with numbers ([`wire::call_numbers_named`]): as [`op_wasm_call_numbers`], and
    /// the export's index in `out[16..24]`.
    fn op_wasm_call_numbers_named / op_wasm_call_numbers_named_reentrant(
        instance: f64, #[string] name: &str, a0: f64, a1: f64, a2: f64, a3: f64, nargs: u32, #[buffer] out: &mut [u8],
    ) -> i32 = |rt| wire::call_numbers_named(rt, instance, name, [a0, a1, a2, a3], nargs, out).map(|n| n as i32);

    /// Start a call on the JavaScript thread (`call`, and `callSync` of an instance with host imports: `sync`);
    /// the step kind (0 done, 1 pending, 2 waiting in a host import), with the details in the frame's header
    /// (`crate::wire::Step`).
    fn op_wasm_call_start / op_wasm_call_start_reentrant(
        instance: f64, #[string] name: &str, #[buffer] frame: &mut [u8], nargs: u32, sync: bool,
    ) -> u32 = |rt| wire::call_start(rt, instance, name, frame, nargs, sync).map(|step| step.kind());

    /// `runCommandSync()`: a WASI command's `_start` on the JavaScript thread; its exit status.
    fn op_wasm_run_command_sync / op_wasm_run_command_sync_reentrant(instance: f64) -> i32 =
        |rt| wire::run_command(rt, instance);

    /// `runCommand()`: as [`op_wasm_call_start`] for a WASI command's `_start` (the answer: its exit status).
    fn op_wasm_run_command_start / op_wasm_run_command_start_reentrant(
        instance: f64, #[buffer] frame: &mut [u8], sync: bool,
    ) -> u32 = |rt| wire::run_command_start(rt, instance, frame, sync).map(|step| step.kind());

    /// `instantiate(module, options)`: `wire::instance_options` JSON plus WASI stdin bytes; the instance handle.
    #[number]
    fn op_wasm_instantiate / op_wasm_instantiate_reentrant(
        module: f64, #[string] options_json: &str, #[buffer] stdin: &[u8],
    ) -> u64 = |rt| wire::instantiate(rt, module, options_json.as_bytes(), stdin);
}

/// `instance.func(name)`: resolve a function export once; its index for [`op_wasm_call_func`].
#[op2(fast)]
pub fn op_wasm_func(state: &mut OpState, instance: f64, #[string] name: &str) -> Result<u32, WasmOpError> {
    Ok(wire::func(rt(state), instance, name)?)
}

guest_op! {
    /// `instantiate` of an instance with JavaScript imports: through the call protocol (its start function may
    /// call them); the step kind, and when done the instance handle in the frame's header.
    fn op_wasm_instantiate_start / op_wasm_instantiate_start_reentrant(
        module: f64, #[string] options_json: &str, #[buffer] stdin: &[u8], #[buffer] frame: &mut [u8],
    ) -> u32 = |rt| wire::instantiate_start(rt, module, options_json.as_bytes(), stdin, frame).map(|s| s.kind());
}

/// Finish a pending call on the blocking pool (it ends, or waits in a host import); the step kind.
/// `JsBuffer` keeps the frame alive until then; `ts/mod.ts` does not touch it until the promise settles.
#[op2]
pub async fn op_wasm_call_finish(token: f64, #[buffer] mut frame: JsBuffer) -> Result<u32, WasmOpError> {
    let step = blocking(move || wire::call_finish(wire::call_token(token)?, &mut frame)).await?;
    Ok(step.kind())
}

/// Run one more time slice of a yielded call on the JavaScript thread after the event loop's next turn
/// (timers, I/O and other ops run first); the step kind. The JavaScript imports the guest calls in that slice
/// run in place from this op's poll, on the JavaScript thread inside the event loop (where deno_core itself
/// calls into V8), as from inside the reentrant ops.
#[op2]
pub async fn op_wasm_call_continue(token: f64, #[buffer] mut frame: JsBuffer) -> Result<u32, WasmOpError> {
    tokio::task::yield_now().await;
    Ok(wire::call_continue(wire::call_token(token)?, &mut frame)?.kind())
}

guest_op! {
    /// Answer the host import a call waits in and continue it on the JavaScript thread; the step kind.
    fn op_wasm_call_resume / op_wasm_call_resume_reentrant(
        token: f64, #[buffer] frame: &mut [u8], nresults: i32, #[string] message: &str,
    ) -> u32 = |_rt| wire::call_resume(wire::call_token(token)?, frame, nresults, message).map(|s| s.kind());
}

/// `getGlobal(name)` / `setGlobal(name, value)` ([`wire::global`]): the slot count written.
#[op2(fast)]
pub fn op_wasm_global(
    state: &mut OpState,
    instance: f64,
    #[string] name: &str,
    #[buffer] frame: &mut [u8],
    set: bool,
) -> Result<u32, WasmOpError> {
    Ok(wire::global(rt(state), instance, name, frame, set)?)
}
