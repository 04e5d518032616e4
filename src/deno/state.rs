//! The extension's state in `OpState`: one [`Runtime`] (an `Arc`, shared with the blocking threads that run
//! compiles and async calls).

use std::sync::Arc;

use deno_core::OpState;

use crate::capabilities::Capabilities;
use crate::config::RuntimeConfig;
use crate::runtime::Runtime;

/// The host's permission hook, under the name Forge's registry uses. It *is* the core's
/// [`crate::CapabilityChecker`]: every method returns `Err(reason)` to deny, which surfaces as 5009.
pub use crate::capabilities::CapabilityChecker as WasmCapabilityChecker;

/// What the ops find in `OpState`: the runtime they use.
pub struct WasmState {
    /// The runtime (a cheap `Arc` clone of the embedder's, if it built one).
    pub runtime: Runtime,
}

/// Put a runtime into `state`, as Forge's extension registry does before the first op runs: default
/// configuration (artifact cache in the platform cache dir or `$EXT_WASM_CACHE_DIR`, pooled instances), with the
/// host's permission hook consulted after the built-in capability checks, and an optional cap on live
/// instances (5013 past it; default: the pool size). Replaces any runtime already there.
pub fn init_wasm_state(
    state: &mut OpState,
    checker: Option<Arc<dyn WasmCapabilityChecker>>,
    max_instances: Option<usize>,
) {
    let config = RuntimeConfig {
        capabilities: Arc::new(Capabilities {
            checker,
            ..Capabilities::default()
        }),
        max_instances,
        ..RuntimeConfig::default()
    };
    init_wasm_state_with_runtime(state, Runtime::new(config));
}

/// Put a caller-built runtime into `state` (custom cache, pool or capability settings). Embedders running
/// several isolates can hand each a clone of one runtime so they share engines, pool and cache; handles are then
/// valid across those isolates.
pub fn init_wasm_state_with_runtime(state: &mut OpState, runtime: Runtime) {
    state.put(WasmState { runtime });
}

/// The state, created with [`RuntimeConfig::default()`] on first use when the embedder did not call
/// [`init_wasm_state`] (the same fallback as the C ABI).
pub(crate) fn wasm_state(state: &mut OpState) -> &mut WasmState {
    if !state.has::<WasmState>() {
        init_wasm_state_with_runtime(state, Runtime::default());
    }
    state.borrow_mut::<WasmState>()
}

/// The runtime, for an op running on the JavaScript thread.
pub(crate) fn rt(state: &mut OpState) -> &Runtime {
    &wasm_state(state).runtime
}

/// A clone of the runtime, for work moved to a blocking thread.
pub(crate) fn runtime(state: &mut OpState) -> Runtime {
    wasm_state(state).runtime.clone()
}
