//! Synchronous imports (`syncImports`): the guest calls the JavaScript dispatcher of `ts/mod.ts` in place,
//! from inside the op that runs it, on the JavaScript thread (`crate::HostFunc::reentrant` through
//! [`wire::frame_bridge`], the protocol the C ABI's `ext_wasm_set_host_callback` follows).
//!
//! V8 does not allow JavaScript to run inside a fast-call op, and an op holding `&mut OpState` would make the
//! ops the dispatcher calls (memory access, nested calls) fail to borrow it. So the ops that run guest code
//! come twice: the fast ones, and `*_reentrant` twins (`nofast`, `reentrant`, borrowing the state only to
//! clone the runtime) that `ts/ops_backend.ts` switches to once a dispatcher is registered.

use std::cell::RefCell;
use std::rc::Rc;

use deno_core::{op2, v8, JsBuffer, OpState};

use super::error::WasmOpError;
use super::state::runtime;
use crate::error::Error;
use crate::wire;

/// The registered dispatcher: its isolate and context, the function, and the frame it trades values in.
struct Dispatcher {
    isolate: v8::UnsafeRawIsolatePtr,
    context: v8::Global<v8::Context>,
    callback: v8::Global<v8::Function>,
    /// Kept alive for as long as the bridge writes into it (never read here).
    _frame: JsBuffer,
}

thread_local! {
    static DISPATCHER: RefCell<Option<Dispatcher>> = const { RefCell::new(None) };
}

/// `setHostCallback(callback, frame)`: this thread's dispatcher of synchronous imports (`Backend.setHostCallback`
/// in `ts/backend.ts`). Replaces any earlier one. A frame smaller than a header and one slot → 5007.
#[op2(reentrant)]
pub fn op_wasm_set_host_callback(
    scope: &mut v8::PinScope,
    callback: v8::Local<v8::Function>,
    #[buffer] frame: JsBuffer,
) -> Result<(), WasmOpError> {
    let mut frame = frame;
    let (ptr, len) = (frame.as_mut_ptr(), frame.len());
    if len < wire::OUT_HEADER + wire::SLOT {
        return Err(Error::Type("the host callback's frame is too small".into()).into());
    }
    let context = scope.get_current_context();
    let dispatcher = Dispatcher {
        // SAFETY: the pointer names this thread's isolate, which outlives every op call on it; it is used only
        // from `call_dispatcher`, on this thread, while an op of this isolate runs.
        isolate: unsafe { scope.as_raw_isolate_ptr() },
        context: v8::Global::new(scope, context),
        callback: v8::Global::new(scope, callback),
        _frame: frame,
    };
    DISPATCHER.set(Some(dispatcher));
    // SAFETY: the frame's backing store is kept alive by `DISPATCHER` for as long as this bridge is installed
    // (both are replaced together), and JavaScript writes it only inside the dispatcher.
    let bridge = unsafe { wire::frame_bridge(ptr, len, call_dispatcher) };
    wire::set_host_bridge(Some(bridge));
    Ok(())
}

/// Run the dispatcher for import `index` with `nargs` arguments in the frame: its answer (a count, or `-code`).
fn call_dispatcher(index: u32, nargs: u32) -> i32 {
    const FAILED: i32 = -5002;
    DISPATCHER.with_borrow(|dispatcher| {
        let Some(d) = dispatcher else { return FAILED };
        // SAFETY: see `op_wasm_set_host_callback`: we run inside an op of this isolate, on its thread (the bridge
        // is thread-local and only the ops that run guest code reach it).
        let mut isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(d.isolate) };
        v8::scope_with_context!(let scope, &mut isolate, &d.context);
        v8::tc_scope!(let scope, scope);
        let callback = v8::Local::new(scope, &d.callback);
        let recv = v8::undefined(scope).into();
        let args = [
            v8::Integer::new_from_unsigned(scope, index).into(),
            v8::Integer::new_from_unsigned(scope, nargs).into(),
        ];
        // The dispatcher catches what an import throws; this catches only what it cannot (termination, stack
        // overflow): the guest traps with an empty message.
        match callback.call(scope, recv, &args) {
            Some(answer) => answer.int32_value(scope).unwrap_or(FAILED),
            None => FAILED,
        }
    })
}

/// The runtime, borrowing the state only for the clone (the dispatcher's ops borrow it again meanwhile).
fn runtime_of(state: &Rc<RefCell<OpState>>) -> crate::Runtime {
    runtime(&mut state.borrow_mut())
}

/// [`super::call::op_wasm_call_sync`], for a store whose imports may call the dispatcher.
#[op2(nofast, reentrant)]
pub fn op_wasm_call_sync_reentrant(
    state: Rc<RefCell<OpState>>,
    instance: f64,
    #[string] name: &str,
    #[buffer] frame: &mut [u8],
    nargs: u32,
) -> Result<u32, WasmOpError> {
    Ok(wire::call_frame(&runtime_of(&state), instance, name, frame, nargs)?)
}

/// [`super::call::op_wasm_call_func`], reentrant.
#[op2(nofast, reentrant)]
pub fn op_wasm_call_func_reentrant(
    state: Rc<RefCell<OpState>>,
    instance: f64,
    index: u32,
    #[buffer] frame: &mut [u8],
    nargs: u32,
) -> Result<u32, WasmOpError> {
    Ok(wire::call_func(&runtime_of(&state), instance, index, frame, nargs)?)
}

/// [`super::call::op_wasm_call_start`], reentrant.
#[op2(nofast, reentrant)]
pub fn op_wasm_call_start_reentrant(
    state: Rc<RefCell<OpState>>,
    instance: f64,
    #[string] name: &str,
    #[buffer] frame: &mut [u8],
    nargs: u32,
    sync: bool,
) -> Result<u32, WasmOpError> {
    Ok(wire::call_start(&runtime_of(&state), instance, name, frame, nargs, sync)?.kind())
}

/// [`super::call::op_wasm_run_command_sync`], reentrant.
#[op2(nofast, reentrant)]
pub fn op_wasm_run_command_sync_reentrant(state: Rc<RefCell<OpState>>, instance: f64) -> Result<i32, WasmOpError> {
    Ok(wire::run_command(&runtime_of(&state), instance)?)
}

/// [`super::call::op_wasm_run_command_start`], reentrant.
#[op2(nofast, reentrant)]
pub fn op_wasm_run_command_start_reentrant(
    state: Rc<RefCell<OpState>>,
    instance: f64,
    #[buffer] frame: &mut [u8],
    sync: bool,
) -> Result<u32, WasmOpError> {
    Ok(wire::run_command_start(&runtime_of(&state), instance, frame, sync)?.kind())
}

/// [`super::instance::op_wasm_instantiate`], reentrant (a start function may call the dispatcher).
#[op2(nofast, reentrant)]
#[number]
pub fn op_wasm_instantiate_reentrant(
    state: Rc<RefCell<OpState>>,
    module: f64,
    #[string] options_json: &str,
    #[buffer] stdin: &[u8],
) -> Result<u64, WasmOpError> {
    Ok(wire::instantiate(
        &runtime_of(&state),
        module,
        options_json.as_bytes(),
        stdin,
    )?)
}
