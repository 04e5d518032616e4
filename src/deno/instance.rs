//! Runtime configuration, instances (instantiate, exports, drop), WASI status and output, stats.

use deno_core::{op2, OpState};

use super::error::WasmOpError;
use super::state::{init_wasm_state_with_runtime, rt, WasmState};
use crate::runtime::Runtime;
use crate::wire;

/// `configure(config)`: create the runtime from `wire::runtime_config` JSON unless the state already holds one
/// (the embedder's `init_wasm_state`, or an earlier op): `true` when applied, `false` when nothing changed.
#[op2(fast)]
pub fn op_wasm_configure(state: &mut OpState, #[string] config_json: &str) -> Result<bool, WasmOpError> {
    let config = wire::runtime_config(config_json.as_bytes())?;
    if state.has::<WasmState>() {
        return Ok(false);
    }
    init_wasm_state_with_runtime(state, Runtime::new(config));
    Ok(true)
}

/// `instance.drop()`.
#[op2(fast)]
pub fn op_wasm_instance_drop(state: &mut OpState, instance: f64) -> Result<(), WasmOpError> {
    Ok(wire::instance_drop(rt(state), instance)?)
}

/// `instance.getExports()` as JSON text.
#[op2]
#[string]
pub fn op_wasm_instance_exports(state: &mut OpState, instance: f64) -> Result<String, WasmOpError> {
    Ok(wire::instance_exports(rt(state), instance)?)
}

/// Exit status recorded by `proc_exit` or `runCommand`; `null` when none.
#[op2]
pub fn op_wasm_exit_code(state: &mut OpState, instance: f64) -> Result<Option<i32>, WasmOpError> {
    Ok(wire::exit_code(rt(state), instance)?)
}

/// Whether a host function of the instance's store lends its call on this thread (`wire::in_host_function`).
#[op2(fast)]
pub fn op_wasm_in_host_function(state: &mut OpState, instance: f64) -> Result<bool, WasmOpError> {
    Ok(wire::in_host_function(rt(state), instance)? == 1)
}

/// Captured output of `stream` (1 = stdout, 2 = stderr).
#[op2]
#[buffer]
pub fn op_wasm_output(state: &mut OpState, instance: f64, stream: u32) -> Result<Vec<u8>, WasmOpError> {
    Ok(wire::output(rt(state), instance, stream)?)
}

/// Live counts: `[modules, instances]`.
#[op2]
#[serde]
pub fn op_wasm_stats(state: &mut OpState) -> (u64, u64) {
    wire::stats(rt(state))
}
