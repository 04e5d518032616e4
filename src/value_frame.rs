//! The value frame: how call arguments and results cross a byte boundary between a host and the core, shared
//! by the C ABI (`src/ffi.rs`) and the deno_core ops (`src/deno/call.rs`). A frame is a 32-byte out record
//! followed by 16-byte slots: a tag byte at slot offset 0 (bytes 1..8 ignored on input, zeroed on output) and
//! the little-endian payload at slot offset 8. Tags are listed in [`tag`]; the layout is documented for callers
//! in `src/ffi.rs` and implemented on the TypeScript side by `ts/frame.ts`.

use crate::error::{Error, Result};
use wasmtime::ValRaw;

use crate::value::{ValType, Value};

/// Bytes of the out record that starts every out buffer and frame.
pub const OUT_HEADER: usize = 32;
/// Bytes per value slot in a frame.
pub const SLOT: usize = 16;

/// Value tags of the frame encoding (see the module docs).
pub mod tag {
    /// An i32 (both directions).
    pub const I32: u8 = 1;
    /// An i64 (both directions).
    pub const I64: u8 = 2;
    /// An f32's bits (both directions).
    pub const F32: u8 = 3;
    /// An f64's bits (both directions).
    pub const F64: u8 = 4;
    /// A JS number, converted by the parameter's type (arguments only).
    pub const NUMBER: u8 = 5;
    /// A JS BigInt within the i64 range (arguments only).
    pub const BIGINT: u8 = 6;
    /// A JS BigInt beyond the i64 range: low 64 bits here, high 64 in the next slot (arguments only).
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

/// Decode one argument per parameter from the frame's slots (a wide BigInt takes two), converting each by its
/// parameter's type straight into wasmtime's raw form, into `raw` (as many entries as `params`). The pairs callers send
/// nearly always (a JS number for any numeric type, an exact tag) are converted inline; everything else, errors
/// included, goes through [`Value::to_raw`], so the rules live in one place.
pub(crate) fn decode_raw(frame: &[u8], params: &[ValType], raw: &mut [ValRaw]) -> Result<()> {
    let raw = &mut raw[..params.len()];
    decode_raw_with(frame, params, |n, v| raw[n] = v)
}

/// [`decode_raw`], handing value `n` to `put(n, value)` (for slots that are not initialized yet).
#[inline(always)]
pub(crate) fn decode_raw_with(frame: &[u8], params: &[ValType], mut put: impl FnMut(usize, ValRaw)) -> Result<()> {
    let body = frame.get(OUT_HEADER..).unwrap_or_default();
    let mut i = 0;
    for (n, ty) in params.iter().enumerate() {
        // A fixed-size view of the slot: no bounds checks below.
        if let Some(slot) = body.get(i * SLOT..).and_then(<[u8]>::first_chunk::<SLOT>) {
            let bits = u64::from_le_bytes(*slot[8..].first_chunk::<8>().expect("a slot has a payload"));
            let fast = match (slot[0], ty) {
                (tag::NUMBER, _) => number_raw(f64::from_bits(bits), *ty),
                (tag::F64, ValType::F64) => Some(ValRaw::f64(bits)),
                (tag::I32, ValType::I32) => Some(ValRaw::i32(bits as u32 as i32)),
                (tag::I64 | tag::BIGINT, ValType::I64) => Some(ValRaw::i64(bits as i64)),
                (tag::F32, ValType::F32) => Some(ValRaw::f32(bits as u32)),
                _ => None,
            };
            if let Some(v) = fast {
                put(n, v);
                i += 1;
                continue;
            }
        }
        let value = decode_one(frame, slot_count(frame), &mut i, n)?;
        put(n, value.to_raw(*ty, n)?);
    }
    Ok(())
}

/// A JavaScript number as a parameter of type `ty`, for the types that take one as it is (f64) or as an exact
/// integer (i32); `None` for every other case, which [`Value::Number`]'s conversion decides (and reports).
#[inline(always)]
fn number_raw(n: f64, ty: ValType) -> Option<ValRaw> {
    match ty {
        ValType::F64 => Some(ValRaw::f64(n.to_bits())),
        ValType::I32 => crate::value::number_to_i32(n).map(ValRaw::i32),
        _ => None,
    }
}

/// JavaScript numbers as the parameters `params` (one each, in order) in raw form, by the rules of the
/// [`tag::NUMBER`] tag: what [`decode_raw`] does for a frame of numbers, without the frame.
#[inline]
pub(crate) fn numbers_to_raw(args: &[f64], params: &[ValType], raw: &mut [ValRaw]) -> Result<()> {
    for (n, ((ty, &a), slot)) in params.iter().zip(args).zip(raw).enumerate() {
        *slot = match number_raw(a, *ty) {
            Some(v) => v,
            None => Value::Number(a).to_raw(*ty, n)?,
        };
    }
    Ok(())
}

/// Whether results of types `results` come back as at most one JavaScript number: none, or one i32, f32 or
/// f64 (an i64 is a BigInt; several results are an array).
#[inline]
pub(crate) fn is_number_result(results: &[ValType]) -> bool {
    matches!(results, [] | [ValType::I32 | ValType::F32 | ValType::F64])
}

/// The result of a [`is_number_result`] signature as a JavaScript number (`0.0` for none): exactly the value
/// [`encode_raw`]'s slot decodes to.
#[inline]
pub(crate) fn number_result(results: &[ValType], raw: &[ValRaw]) -> f64 {
    match (results, raw) {
        ([ValType::I32], [v, ..]) => f64::from(v.get_i32()),
        ([ValType::F32], [v, ..]) => f64::from(f32::from_bits(v.get_f32())),
        ([ValType::F64], [v, ..]) => f64::from_bits(v.get_f64()),
        _ => 0.0,
    }
}

/// Decode `count` values from the frame's slots as they are tagged (no signature to convert them by yet).
pub(crate) fn decode_values(frame: &[u8], count: usize) -> Result<Vec<Value>> {
    let slots = slot_count(frame);
    let mut i = 0;
    (0..count).map(|n| decode_one(frame, slots, &mut i, n)).collect()
}

/// Encode typed values into the frame's slots from slot 0; their count. Untyped values (never produced by
/// the core) are refused. Written slot by slot: no buffers (this runs once per host step of a call).
pub(crate) fn encode_values(frame: &mut [u8], values: &[Value]) -> Result<u32> {
    let slots = slot_count(frame);
    if values.len() > slots {
        return Err(Error::Type(format!(
            "{} values do not fit the frame's {slots} slots",
            values.len()
        )));
    }
    for (i, v) in values.iter().enumerate() {
        let (t, p) = match *v {
            Value::I32(x) => (tag::I32, u64::from(x as u32)),
            Value::I64(x) => (tag::I64, x as u64),
            Value::F32(x) => (tag::F32, u64::from(x.to_bits())),
            Value::F64(x) => (tag::F64, x.to_bits()),
            Value::Number(_) | Value::BigInt(_) => {
                return Err(Error::Type(format!("value {i}: untyped values cannot be encoded")))
            }
        };
        put_slot(frame, i, t, p);
    }
    Ok(values.len() as u32)
}

/// Write slot `i`: its tag, zeroed padding and little-endian payload. The caller checked that it fits.
fn put_slot(frame: &mut [u8], i: usize, t: u8, payload: u64) {
    let at = OUT_HEADER + i * SLOT;
    if let Some(slot) = frame.get_mut(at..).and_then(<[u8]>::first_chunk_mut::<SLOT>) {
        // Two 8-byte stores straight into the frame (the tag word is the tag, zero-extended). Building the
        // slot in a local array first made the compiler copy it with one 16-byte load spanning two smaller
        // stores: a store-forwarding stall that was a fifth of a synchronous call's time.
        slot[..8].copy_from_slice(&u64::from(t).to_le_bytes());
        slot[8..].copy_from_slice(&payload.to_le_bytes());
    }
}

/// Decode argument `n` starting at slot `*i`, advancing `*i` past it.
fn decode_one(frame: &[u8], slots: usize, i: &mut usize, n: usize) -> Result<Value> {
    if *i >= slots {
        return Err(Error::Type(format!("argument {n}: the frame holds only {slots} slots")));
    }
    let (t, p) = slot(frame, *i);
    *i += 1;
    let lo4 = [p[0], p[1], p[2], p[3]];
    Ok(match t {
        tag::I32 => Value::I32(i32::from_le_bytes(lo4)),
        tag::I64 => Value::I64(i64::from_le_bytes(p)),
        tag::F32 => Value::F32(f32::from_bits(u32::from_le_bytes(lo4))),
        tag::F64 => Value::F64(f64::from_bits(u64::from_le_bytes(p))),
        tag::NUMBER => Value::Number(f64::from_bits(u64::from_le_bytes(p))),
        tag::BIGINT => Value::BigInt(i128::from(i64::from_le_bytes(p))),
        tag::BIGINT_WIDE => {
            if *i >= slots {
                return Err(Error::Type(format!("argument {n}: wide BigInt runs past the frame")));
            }
            let (_, hi) = slot(frame, *i);
            *i += 1;
            let lo = u128::from(u64::from_le_bytes(p));
            let hi = (i128::from(i64::from_le_bytes(hi)) as u128) << 64;
            Value::BigInt((hi | lo) as i128)
        }
        other => return Err(Error::Type(format!("argument {n}: unknown value tag {other}"))),
    })
}

/// Encode results of types `results` from `raw` into the frame's slots from slot 0; returns their count.
pub(crate) fn encode_raw(frame: &mut [u8], results: &[ValType], raw: &[ValRaw]) -> Result<u32> {
    let slots = slot_count(frame);
    if results.len() > slots {
        return Err(Error::Type(format!(
            "{} results do not fit the frame's {slots} slots",
            results.len()
        )));
    }
    for (i, (ty, v)) in results.iter().zip(raw).enumerate() {
        let (t, p) = match ty {
            ValType::I32 => (tag::I32, u64::from(v.get_i32() as u32)),
            ValType::I64 => (tag::I64, v.get_i64() as u64),
            ValType::F32 => (tag::F32, u64::from(v.get_f32())),
            ValType::F64 => (tag::F64, v.get_f64()),
            // Signatures with these are refused before the call.
            ValType::V128 | ValType::Ref => return Err(Error::Call("non-numeric result".into())),
        };
        put_slot(frame, i, t, p);
    }
    Ok(results.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(frame: &mut [u8], i: usize, t: u8, p: [u8; 8]) {
        let at = OUT_HEADER + i * SLOT;
        frame[at] = t;
        frame[at + 8..at + 16].copy_from_slice(&p);
    }

    #[test]
    fn arguments_decode_by_parameter_type() {
        let mut frame = vec![0u8; OUT_HEADER + 4 * SLOT];
        put(&mut frame, 0, tag::NUMBER, 2.5f64.to_bits().to_le_bytes());
        put(&mut frame, 1, tag::BIGINT_WIDE, u64::MAX.to_le_bytes());
        put(&mut frame, 2, 0, 0i64.to_le_bytes());
        put(&mut frame, 3, tag::I32, (-7i64).to_le_bytes());
        let mut raw = [ValRaw::i64(0); 3];
        decode_raw(&frame, &[ValType::F64, ValType::I64, ValType::I32], &mut raw).unwrap();
        assert_eq!(f64::from_bits(raw[0].get_f64()), 2.5);
        assert_eq!(raw[1].get_i64(), -1); // 2^64 - 1 wraps to its bit pattern
        assert_eq!(raw[2].get_i32(), -7);
        let err = decode_raw(
            &frame,
            &[ValType::F64, ValType::I64, ValType::I32, ValType::I32],
            &mut [ValRaw::i64(0); 4],
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "[5007] type error: argument 3: the frame holds only 4 slots"
        );
        put(&mut frame, 0, 9, [0; 8]);
        let err = decode_raw(&frame, &[ValType::I32], &mut [ValRaw::i64(0)]).unwrap_err();
        assert_eq!(err.to_string(), "[5007] type error: argument 0: unknown value tag 9");
    }

    #[test]
    fn results_encode_from_raw() {
        let mut frame = vec![0xffu8; OUT_HEADER + 2 * SLOT];
        let types = [ValType::I32, ValType::F32];
        let raw = [ValRaw::i32(-1), ValRaw::f32(1.5f32.to_bits())];
        assert_eq!(encode_raw(&mut frame, &types, &raw).unwrap(), 2);
        assert_eq!(slot(&frame, 0), (tag::I32, 0xffff_ffffu64.to_le_bytes()));
        assert_eq!(slot(&frame, 1), (tag::F32, u64::from(1.5f32.to_bits()).to_le_bytes()));
        assert_eq!(&frame[OUT_HEADER + 1..OUT_HEADER + 8], &[0; 7]);
        let three = [ValType::I32; 3];
        assert!(encode_raw(&mut frame, &three, &[ValRaw::i32(0); 3]).is_err());
    }

    #[test]
    fn typed_values_encode_slot_by_slot() {
        let mut frame = vec![0xffu8; OUT_HEADER + 2 * SLOT];
        assert_eq!(
            encode_values(&mut frame, &[Value::I64(-2), Value::F64(0.5)]).unwrap(),
            2
        );
        assert_eq!(slot(&frame, 0), (tag::I64, (-2i64).to_le_bytes()));
        assert_eq!(slot(&frame, 1), (tag::F64, 0.5f64.to_bits().to_le_bytes()));
        assert_eq!(&frame[OUT_HEADER + SLOT + 1..OUT_HEADER + SLOT + 8], &[0; 7]);
        let err = encode_values(&mut frame, &[Value::Number(1.0)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "[5007] type error: value 0: untyped values cannot be encoded"
        );
        let err = encode_values(&mut frame, &[Value::I32(0); 3]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "[5007] type error: 3 values do not fit the frame's 2 slots"
        );
    }
}
