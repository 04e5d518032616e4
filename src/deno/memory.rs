//! Linear memory of an instance (its first memory export): read into a caller's `Uint8Array`, write from one,
//! size, grow. All fast ops; one copy each way.

use deno_core::{op2, OpState};

use super::error::WasmOpError;
use super::instance_id;
use super::state::wasm_state;

/// `readInto(offset, target)`: fill `dst` from memory at `offset` (5006 when out of bounds, nothing copied).
#[op2(fast)]
pub fn op_wasm_memory_read(
    state: &mut OpState,
    instance: f64,
    #[number] offset: u64,
    #[buffer] dst: &mut [u8],
) -> Result<(), WasmOpError> {
    let id = instance_id(instance)?;
    Ok(wasm_state(state).runtime.read_memory(id, None, offset, dst)?)
}

/// `write(offset, bytes)`: copy `src` into memory at `offset` (5006 when out of bounds, nothing written).
#[op2(fast)]
pub fn op_wasm_memory_write(
    state: &mut OpState,
    instance: f64,
    #[number] offset: u64,
    #[buffer] src: &[u8],
) -> Result<(), WasmOpError> {
    let id = instance_id(instance)?;
    Ok(wasm_state(state).runtime.write_memory(id, None, offset, src)?)
}

/// Size in 64 KiB pages.
#[op2(fast)]
#[number]
pub fn op_wasm_memory_size(state: &mut OpState, instance: f64) -> Result<u64, WasmOpError> {
    let id = instance_id(instance)?;
    Ok(wasm_state(state).runtime.memory_size(id, None)?)
}

/// Size in bytes.
#[op2(fast)]
#[number]
pub fn op_wasm_memory_byte_length(state: &mut OpState, instance: f64) -> Result<u64, WasmOpError> {
    let id = instance_id(instance)?;
    Ok(wasm_state(state).runtime.memory_byte_len(id, None)?)
}

/// Grow by `pages`; returns the old size in pages (5013 past the instance's cap, 5006 past the module's maximum).
#[op2(fast)]
#[number]
pub fn op_wasm_memory_grow(state: &mut OpState, instance: f64, #[number] pages: u64) -> Result<u64, WasmOpError> {
    let id = instance_id(instance)?;
    Ok(wasm_state(state).runtime.memory_grow(id, None, pages)?)
}
