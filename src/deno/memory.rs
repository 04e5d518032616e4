//! Linear memory of an instance (its first memory export): read into a caller's `Uint8Array`, write from one,
//! size, grow. All fast ops; one copy each way.

use deno_core::{op2, OpState};

use super::error::WasmOpError;
use super::state::rt;
use crate::wire;

/// `readInto(offset, target)`: fill `dst` from memory at `offset`.
#[op2(fast)]
pub fn op_wasm_memory_read(
    state: &mut OpState,
    instance: f64,
    offset: f64,
    #[buffer] dst: &mut [u8],
) -> Result<(), WasmOpError> {
    Ok(wire::memory_read(rt(state), instance, offset, dst)?)
}

/// `write(offset, bytes)`: copy `src` into memory at `offset`.
#[op2(fast)]
pub fn op_wasm_memory_write(
    state: &mut OpState,
    instance: f64,
    offset: f64,
    #[buffer] src: &[u8],
) -> Result<(), WasmOpError> {
    Ok(wire::memory_write(rt(state), instance, offset, src)?)
}

/// Size in bytes (`bytes = true`) or in pages.
#[op2(fast)]
#[number]
pub fn op_wasm_memory_size(state: &mut OpState, instance: f64, bytes: bool) -> Result<u64, WasmOpError> {
    let (pages, byte_length) = wire::memory_size(rt(state), instance)?;
    Ok(if bytes { byte_length } else { pages })
}

/// Grow by `pages`; the old size in pages.
#[op2(fast)]
#[number]
pub fn op_wasm_memory_grow(state: &mut OpState, instance: f64, pages: f64) -> Result<u64, WasmOpError> {
    Ok(wire::memory_grow(rt(state), instance, pages)?)
}
