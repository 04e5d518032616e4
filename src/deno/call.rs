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
use crate::error::{Error, Result};
use crate::ffi::{tag, OUT_HEADER, SLOT};
use crate::instance::CallLimits;
use crate::value::Value;

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
        .and_then(|()| st.runtime.call_into(id, name, &args, CallLimits::default(), &mut results))
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

fn slot_count(frame: &[u8]) -> usize {
    frame.len().saturating_sub(OUT_HEADER) / SLOT
}

fn slot(frame: &[u8], i: usize) -> (u8, [u8; 8]) {
    let at = OUT_HEADER + i * SLOT;
    let mut payload = [0u8; 8];
    payload.copy_from_slice(&frame[at + 8..at + 16]);
    (frame[at], payload)
}

/// Decode `nargs` values from the frame's slots (a wide BigInt takes two).
fn decode_args(frame: &[u8], nargs: usize, args: &mut Vec<Value>) -> Result<()> {
    let slots = slot_count(frame);
    let mut i = 0;
    for n in 0..nargs {
        if i >= slots {
            return Err(Error::Type(format!("argument {n}: the frame holds only {slots} slots")));
        }
        let (t, p) = slot(frame, i);
        let lo4 = [p[0], p[1], p[2], p[3]];
        args.push(match t {
            tag::I32 => Value::I32(i32::from_le_bytes(lo4)),
            tag::I64 => Value::I64(i64::from_le_bytes(p)),
            tag::F32 => Value::F32(f32::from_bits(u32::from_le_bytes(lo4))),
            tag::F64 => Value::F64(f64::from_bits(u64::from_le_bytes(p))),
            tag::NUMBER => Value::Number(f64::from_bits(u64::from_le_bytes(p))),
            tag::BIGINT => Value::BigInt(i128::from(i64::from_le_bytes(p))),
            tag::BIGINT_WIDE => {
                i += 1;
                if i >= slots {
                    return Err(Error::Type(format!("argument {n}: wide BigInt runs past the frame")));
                }
                let (_, hi) = slot(frame, i);
                let lo = u128::from(u64::from_le_bytes(p));
                let hi = (i128::from(i64::from_le_bytes(hi)) as u128) << 64;
                Value::BigInt((hi | lo) as i128)
            }
            other => return Err(Error::Type(format!("argument {n}: unknown value tag {other}"))),
        });
        i += 1;
    }
    Ok(())
}

/// Encode results into the frame's slots from slot 0; returns their count.
fn encode_results(frame: &mut [u8], results: &[Value]) -> Result<u32> {
    let slots = slot_count(frame);
    if results.len() > slots {
        return Err(Error::Type(format!("{} results do not fit the frame's {slots} slots", results.len())));
    }
    for (i, v) in results.iter().enumerate() {
        let mut p = [0u8; 8];
        let t = match *v {
            Value::I32(x) => {
                p[..4].copy_from_slice(&x.to_le_bytes());
                tag::I32
            }
            Value::I64(x) => {
                p = x.to_le_bytes();
                tag::I64
            }
            Value::F32(x) => {
                p[..4].copy_from_slice(&x.to_bits().to_le_bytes());
                tag::F32
            }
            Value::F64(x) => {
                p = x.to_bits().to_le_bytes();
                tag::F64
            }
            // The core returns typed values only.
            Value::Number(_) | Value::BigInt(_) => return Err(Error::Call("untyped result from the core".into())),
        };
        let at = OUT_HEADER + i * SLOT;
        frame[at..at + 8].fill(0);
        frame[at] = t;
        frame[at + 8..at + 16].copy_from_slice(&p);
    }
    Ok(results.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let mut frame = vec![0u8; OUT_HEADER + 4 * SLOT];
        let put = |frame: &mut [u8], i: usize, t: u8, p: [u8; 8]| {
            let at = OUT_HEADER + i * SLOT;
            frame[at] = t;
            frame[at + 8..at + 16].copy_from_slice(&p);
        };
        put(&mut frame, 0, tag::NUMBER, 2.5f64.to_bits().to_le_bytes());
        put(&mut frame, 1, tag::BIGINT_WIDE, u64::MAX.to_le_bytes());
        put(&mut frame, 2, 0, 0i64.to_le_bytes());
        put(&mut frame, 3, tag::I32, (-7i64).to_le_bytes());
        let mut args = Vec::new();
        decode_args(&frame, 3, &mut args).unwrap();
        assert_eq!(args, [Value::Number(2.5), Value::BigInt(u64::MAX as i128), Value::I32(-7)]);
        assert_eq!(decode_args(&frame, 4, &mut Vec::new()).unwrap_err().code(), crate::ErrorCode::TypeError);

        assert_eq!(encode_results(&mut frame, &[Value::I64(-1), Value::F32(1.5)]).unwrap(), 2);
        assert_eq!(slot(&frame, 0), (tag::I64, (-1i64).to_le_bytes()));
        assert_eq!(slot(&frame, 1).0, tag::F32);
        assert!(encode_results(&mut frame, &[Value::I32(0); 5]).is_err());
    }
}
