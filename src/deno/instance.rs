//! Runtime configuration, instances (instantiate, exports, drop), WASI status and output, stats.

use deno_core::{op2, OpState};

use super::error::WasmOpError;
use super::state::{init_wasm_state_with_runtime, wasm_state, WasmState};
use super::{instance_id, module_id, ExportWire};
use crate::error::Error;
use crate::ffi::{WireInstanceOptions, WireRuntimeConfig};
use crate::runtime::Runtime;

/// `configure(config)`: create the runtime from a `WireRuntimeConfig` (JSON) unless the state already holds one
/// (from the embedder's `init_wasm_state` or an earlier op): `true` when applied, `false` when nothing changed.
/// Malformed JSON → 5007.
#[op2(fast)]
pub fn op_wasm_configure(state: &mut OpState, #[string] config_json: &str) -> Result<bool, WasmOpError> {
    let wire: WireRuntimeConfig = if config_json.trim().is_empty() {
        WireRuntimeConfig::default()
    } else {
        serde_json::from_str(config_json).map_err(|e| Error::Type(format!("invalid runtime configuration: {e}")))?
    };
    if state.has::<WasmState>() {
        return Ok(false);
    }
    init_wasm_state_with_runtime(state, Runtime::new(wire.into_config()));
    Ok(true)
}

/// `instantiate(module, options)`: `options_json` is a `WireInstanceOptions` as JSON (the C ABI's parser); returns
/// the instance handle.
#[op2(fast)]
#[number]
pub fn op_wasm_instantiate(state: &mut OpState, module: f64, #[string] options_json: &str) -> Result<u64, WasmOpError> {
    let id = module_id(module)?;
    let wire: WireInstanceOptions = if options_json.trim().is_empty() {
        WireInstanceOptions::default()
    } else {
        serde_json::from_str(options_json).map_err(|e| Error::Type(format!("invalid instance options: {e}")))?
    };
    let options = wire.into_options()?;
    Ok(wasm_state(state).runtime.instantiate(id, &options)?.0)
}

/// `instance.drop()`: returns the pool slot; the handle is invalid afterwards (5005).
#[op2(fast)]
pub fn op_wasm_instance_drop(state: &mut OpState, instance: f64) -> Result<(), WasmOpError> {
    let id = instance_id(instance)?;
    Ok(wasm_state(state).runtime.drop_instance(id)?)
}

/// `instance.getExports()`: `[{ name, kind, params?, results? }]`.
#[op2]
#[serde]
pub fn op_wasm_instance_exports(state: &mut OpState, instance: f64) -> Result<Vec<ExportWire>, WasmOpError> {
    let id = instance_id(instance)?;
    let exports = wasm_state(state).runtime.instance_exports(id)?;
    Ok(exports.iter().map(ExportWire::from).collect())
}

/// Exit status recorded by `proc_exit` or `runCommand`; `null` when none.
#[op2]
pub fn op_wasm_exit_code(state: &mut OpState, instance: f64) -> Result<Option<i32>, WasmOpError> {
    let id = instance_id(instance)?;
    Ok(wasm_state(state).runtime.exit_code(id)?)
}

/// Captured output as a `Uint8Array`: `stream` 1 = stdout, 2 = stderr (anything else → 5007).
#[op2]
#[buffer]
pub fn op_wasm_output(state: &mut OpState, instance: f64, stream: u32) -> Result<Vec<u8>, WasmOpError> {
    let id = instance_id(instance)?;
    let rt = &wasm_state(state).runtime;
    Ok(match stream {
        1 => rt.stdout(id)?,
        2 => rt.stderr(id)?,
        other => return Err(Error::Type(format!("stream must be 1 (stdout) or 2 (stderr), got {other}")).into()),
    })
}

/// Live counts.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct StatsWire {
    pub modules: usize,
    pub instances: usize,
}

/// `{ modules, instances }`.
#[op2]
#[serde]
pub fn op_wasm_stats(state: &mut OpState) -> StatsWire {
    let rt = &wasm_state(state).runtime;
    StatsWire {
        modules: rt.module_count(),
        instances: rt.instance_count(),
    }
}
