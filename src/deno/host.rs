//! JavaScript imports: the guest calls the JavaScript dispatcher of `ts/mod.ts` in place, from inside the op that
//! runs it, on the JavaScript thread (`crate::HostFunc::bridged_sync` for `syncImports`, `crate::HostFunc::bridged`
//! for the default ones, through [`wire::frame_bridge`], the protocol the C ABI's `ext_wasm_set_host_callback`
//! follows).
//!
//! V8 does not allow JavaScript to run inside a fast-call op, and an op holding `&mut OpState` would make the
//! ops the dispatcher calls (memory access, nested calls) fail to borrow it. So the ops that run guest code
//! come twice (`guest_op!` in `super::call`): the fast ones, and `*_reentrant` twins (`nofast`, `reentrant`,
//! borrowing the state only to clone the runtime) that `ts/ops_backend.ts` switches to once a dispatcher is
//! registered.

use std::cell::RefCell;

use deno_core::{op2, v8, JsBuffer};

use super::error::WasmOpError;
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
/// in `ts/backend.ts`). Replaces any earlier one. A frame smaller than a header and one slot → 5007
/// ([`wire::frame_bridge`]).
#[op2(reentrant)]
pub fn op_wasm_set_host_callback(
    scope: &mut v8::PinScope,
    callback: v8::Local<v8::Function>,
    #[buffer] frame: JsBuffer,
) -> Result<(), WasmOpError> {
    let mut frame = frame;
    let (ptr, len) = (frame.as_mut_ptr(), frame.len());
    // SAFETY: the frame's backing store is kept alive by `DISPATCHER` for as long as this bridge is installed
    // (both are replaced together below), and JavaScript writes it only inside the dispatcher.
    let bridge = unsafe { wire::frame_bridge(ptr, len, call_dispatcher) }?;
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
