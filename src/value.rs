//! Values crossing the API, converted by the export's signature rather than guessed from the caller's value.

use std::fmt;

use wasmtime::{Val, ValRaw};

use crate::error::{Error, Result};

/// A WebAssembly value type as the API reports it (`"i32"`, `"i64"`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// Carried in signatures for introspection; calls with it fail with 5007.
    V128,
    /// Any reference type (`funcref`, `externref`, GC refs); calls with it fail with 5007.
    Ref,
}

impl ValType {
    /// The text-format name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::V128 => "v128",
            Self::Ref => "ref",
        }
    }

    pub(crate) fn from_wasmtime(ty: &wasmtime::ValType) -> Self {
        match ty {
            wasmtime::ValType::I32 => Self::I32,
            wasmtime::ValType::I64 => Self::I64,
            wasmtime::ValType::F32 => Self::F32,
            wasmtime::ValType::F64 => Self::F64,
            wasmtime::ValType::V128 => Self::V128,
            wasmtime::ValType::Ref(_) => Self::Ref,
        }
    }

    /// Whether calls can carry this type.
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::I32 | Self::I64 | Self::F32 | Self::F64)
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value passed to or returned from a call.
///
/// Results are always one of the four typed variants. Arguments may also be *untyped* ([`Value::Number`],
/// [`Value::BigInt`]): those are converted to the parameter's type, and refused (5007) when that would lose
/// information. Typed arguments must match the parameter type exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// An i32 (bit pattern: unsigned values are negative here).
    I32(i32),
    /// An i64.
    I64(i64),
    /// An f32.
    F32(f32),
    /// An f64.
    F64(f64),
    /// A JavaScript-style number: becomes i32 (integers in `-2^31..2^32`, unsigned values wrap), i64 (safe
    /// integers only), f32 (rounded like `Math.fround`) or f64.
    Number(f64),
    /// An arbitrary-precision integer: becomes i64 (`-2^63..2^64`, unsigned values wrap) or i32 (in range).
    BigInt(i128),
}

impl Value {
    /// Convert this argument for a parameter of type `ty` at `position`, into wasmtime's raw representation.
    /// The exact-type cases are inlined into the call path; conversions and errors are not (with them inline
    /// the function was a call of its own: 32 instructions an argument).
    #[inline(always)]
    pub(crate) fn to_raw(self, ty: ValType, position: usize) -> Result<ValRaw> {
        match (ty, self) {
            (ValType::I32, Value::I32(v)) => Ok(ValRaw::i32(v)),
            (ValType::I64, Value::I64(v)) => Ok(ValRaw::i64(v)),
            (ValType::F32, Value::F32(v)) => Ok(ValRaw::f32(v.to_bits())),
            (ValType::F64, Value::F64(v)) => Ok(ValRaw::f64(v.to_bits())),
            _ => self.convert_to_raw(ty, position),
        }
    }

    /// [`Self::to_raw`] for the cases that convert (numbers, BigInts) or fail; exact types never come here.
    #[inline(never)]
    fn convert_to_raw(self, ty: ValType, position: usize) -> Result<ValRaw> {
        let mismatch = |what: &str| Error::Type(format!("argument {position}: expected {ty}, got {what}"));
        Ok(match (ty, self) {
            (ValType::I32, Value::Number(n)) => {
                ValRaw::i32(number_to_i32(n).ok_or_else(|| mismatch(&describe_number(n)))?)
            }
            (ValType::I64, Value::Number(n)) => ValRaw::i64(number_to_i64(n).ok_or_else(|| {
                Error::Type(format!(
                    "argument {position}: expected i64, got {}; numbers beyond ±2^53 lose precision, pass a BigInt",
                    describe_number(n)
                ))
            })?),
            (ValType::F32, Value::Number(n)) => ValRaw::f32((n as f32).to_bits()),
            (ValType::F64, Value::Number(n)) => ValRaw::f64(n.to_bits()),
            (ValType::I64, Value::BigInt(b)) => {
                ValRaw::i64(wrap_integer(b, 64).ok_or_else(|| mismatch(&format!("BigInt {b} (out of range)")))?)
            }
            (ValType::I32, Value::BigInt(b)) => {
                ValRaw::i32(wrap_integer(b, 32).ok_or_else(|| mismatch(&format!("BigInt {b} (out of range)")))? as i32)
            }
            (ValType::V128 | ValType::Ref, _) => {
                return Err(Error::Type(format!(
                    "argument {position}: {ty} parameters cannot be passed through this API"
                )))
            }
            (_, other) => return Err(mismatch(other.kind_name())),
        })
    }

    /// Read a value of type `ty` out of a raw slot (only the slot's bytes of `ty`).
    #[inline]
    pub(crate) fn from_raw(raw: &ValRaw, ty: ValType) -> Value {
        match ty {
            ValType::I32 => Value::I32(raw.get_i32()),
            ValType::I64 => Value::I64(raw.get_i64()),
            ValType::F32 => Value::F32(f32::from_bits(raw.get_f32())),
            ValType::F64 => Value::F64(f64::from_bits(raw.get_f64())),
            ValType::V128 | ValType::Ref => {
                unreachable!("non-numeric signatures are refused before linking or calling")
            }
        }
    }

    /// [`Self::to_raw`] as a wasmtime `Val` (for the dynamic, async call path).
    pub(crate) fn to_val(self, ty: ValType, position: usize) -> Result<Val> {
        Ok(raw_to_val(self.to_raw(ty, position)?, ty))
    }

    /// A numeric wasmtime `Val` as a typed value.
    pub(crate) fn from_val(val: &Val) -> Value {
        match *val {
            Val::I32(x) => Value::I32(x),
            Val::I64(x) => Value::I64(x),
            Val::F32(bits) => Value::F32(f32::from_bits(bits)),
            Val::F64(bits) => Value::F64(f64::from_bits(bits)),
            // Signatures with v128 or references are refused before any call.
            _ => Value::I32(0),
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Self::I32(_) => "i32",
            Self::I64(_) => "i64",
            Self::F32(_) => "f32",
            Self::F64(_) => "f64",
            Self::Number(_) => "number",
            Self::BigInt(_) => "BigInt",
        }
    }

    /// Parse a CLI argument for a parameter of type `ty`: integers in decimal (or `0x` hex), floats as Rust parses
    /// them (`inf`, `NaN` included).
    pub fn parse(text: &str, ty: ValType, position: usize) -> Result<Value> {
        let bad = || Error::Type(format!("argument {position}: `{text}` is not a valid {ty}"));
        match ty {
            ValType::I32 | ValType::I64 => {
                let n = parse_int(text).ok_or_else(bad)?;
                let bits = if ty == ValType::I32 { 32 } else { 64 };
                let v = wrap_integer(n, bits).ok_or_else(bad)?;
                Ok(if ty == ValType::I32 {
                    Value::I32(v as i32)
                } else {
                    Value::I64(v)
                })
            }
            ValType::F32 => text.parse::<f32>().map(Value::F32).map_err(|_| bad()),
            ValType::F64 => text.parse::<f64>().map(Value::F64).map_err(|_| bad()),
            ValType::V128 | ValType::Ref => Err(Error::Type(format!("argument {position}: {ty} cannot be passed"))),
        }
    }
}

impl fmt::Display for Value {
    /// Integers in decimal, floats in Rust's shortest round-trip form (the CLI's output format).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::I32(v) => write!(f, "{v}"),
            Self::I64(v) => write!(f, "{v}"),
            Self::F32(v) => write!(f, "{v:?}"),
            Self::F64(v) | Self::Number(v) => write!(f, "{v:?}"),
            Self::BigInt(v) => write!(f, "{v}"),
        }
    }
}

fn parse_int(text: &str) -> Option<i128> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None => body.parse::<i128>().ok()?,
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// Fit an integer into `bits` bits, accepting both the signed and the unsigned range (unsigned values wrap to
/// their two's-complement bit pattern, as WebAssembly integers have no sign).
fn wrap_integer(n: i128, bits: u32) -> Option<i64> {
    let min = -(1i128 << (bits - 1));
    let max_unsigned = (1i128 << bits) - 1;
    if n < min || n > max_unsigned {
        return None;
    }
    Some(if bits == 64 {
        n as u64 as i64
    } else {
        n as u32 as i32 as i64
    })
}

/// A JS number as an i32 parameter: any integer in `-2^31..2^32` (unsigned values wrap). The exact-int32 test
/// comes first because it is one conversion and one compare; `fract()` would be a libm call per argument.
pub(crate) fn number_to_i32(n: f64) -> Option<i32> {
    let i = n as i32;
    if f64::from(i) == n {
        return Some(i);
    }
    let u = n as u32;
    (f64::from(u) == n).then_some(u as i32)
}

/// A JS number as an i64 parameter: safe integers only (beyond ±2^53 the number has already lost precision).
fn number_to_i64(n: f64) -> Option<i64> {
    const MAX_SAFE: i64 = (1 << 53) - 1;
    let i = n as i64;
    (i as f64 == n && (-MAX_SAFE..=MAX_SAFE).contains(&i)).then_some(i)
}

fn describe_number(n: f64) -> String {
    format!("number {n}")
}

/// A raw slot of type `ty` as a wasmtime `Val`.
pub(crate) fn raw_to_val(raw: ValRaw, ty: ValType) -> Val {
    match ty {
        ValType::I32 => Val::I32(raw.get_i32()),
        ValType::I64 => Val::I64(raw.get_i64()),
        ValType::F32 => Val::F32(raw.get_f32()),
        // Signatures with v128 or references are refused before any call.
        ValType::F64 | ValType::V128 | ValType::Ref => Val::F64(raw.get_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i32_accepts_signed_and_unsigned_range() {
        assert_eq!(
            Value::Number(-2147483648.0).to_raw(ValType::I32, 0).unwrap().get_i32(),
            i32::MIN
        );
        assert_eq!(
            Value::Number(4294967295.0).to_raw(ValType::I32, 0).unwrap().get_i32(),
            -1
        );
        assert!(Value::Number(4294967296.0).to_raw(ValType::I32, 0).is_err());
        assert!(Value::Number(1.5).to_raw(ValType::I32, 0).is_err());
    }

    #[test]
    fn i64_numbers_must_be_safe_integers() {
        assert!(Value::Number(9007199254740992.0).to_raw(ValType::I64, 0).is_err());
        assert_eq!(
            Value::BigInt(i64::MIN as i128)
                .to_raw(ValType::I64, 0)
                .unwrap()
                .get_i64(),
            i64::MIN
        );
        assert_eq!(
            Value::BigInt(u64::MAX as i128)
                .to_raw(ValType::I64, 0)
                .unwrap()
                .get_i64(),
            -1
        );
    }

    #[test]
    fn f32_rounds_like_fround() {
        let raw = Value::Number(0.1).to_raw(ValType::F32, 0).unwrap();
        assert_eq!(f32::from_bits(raw.get_f32()), 0.1f32);
    }
}
