//! The value frame: how call arguments and results cross a byte boundary between a host and the core, shared
//! by the C ABI (`src/ffi.rs`) and the deno_core ops (`src/deno/call.rs`). A frame is a 32-byte out record
//! followed by 16-byte slots: a tag byte at slot offset 0 (bytes 1..8 ignored on input, zeroed on output) and
//! the little-endian payload at slot offset 8. Tags are listed in [`tag`]; the layout is documented for callers
//! in `src/ffi.rs` and implemented on the TypeScript side by `ts/frame.ts`.

use crate::error::{Error, Result};
use crate::value::Value;

/// Bytes of the out record that starts every out buffer and frame.
pub const OUT_HEADER: usize = 32;
/// Bytes per value slot in a frame.
pub const SLOT: usize = 16;

/// Value tags of the frame encoding (see the module docs).
pub mod tag {
    pub const I32: u8 = 1;
    pub const I64: u8 = 2;
    pub const F32: u8 = 3;
    pub const F64: u8 = 4;
    pub const NUMBER: u8 = 5;
    pub const BIGINT: u8 = 6;
    pub const BIGINT_WIDE: u8 = 7;
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
pub(crate) fn decode_args(frame: &[u8], nargs: usize, args: &mut Vec<Value>) -> Result<()> {
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
pub(crate) fn encode_results(frame: &mut [u8], results: &[Value]) -> Result<u32> {
    let slots = slot_count(frame);
    if results.len() > slots {
        return Err(Error::Type(format!(
            "{} results do not fit the frame's {slots} slots",
            results.len()
        )));
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
        assert_eq!(
            args,
            [Value::Number(2.5), Value::BigInt(u64::MAX as i128), Value::I32(-7)]
        );
        assert_eq!(
            decode_args(&frame, 4, &mut Vec::new()).unwrap_err().code(),
            crate::error::ErrorCode::TypeError
        );

        assert_eq!(
            encode_results(&mut frame, &[Value::I64(-1), Value::F32(1.5)]).unwrap(),
            2
        );
        assert_eq!(slot(&frame, 0), (tag::I64, (-1i64).to_le_bytes()));
        assert_eq!(slot(&frame, 1).0, tag::F32);
        assert!(encode_results(&mut frame, &[Value::I32(0); 5]).is_err());
    }
}
