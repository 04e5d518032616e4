//! Typed host functions: [`HostFunc::wrap`] takes a closure over plain Rust numbers (`|call, x: i32| Ok(x + 1)`),
//! whose signature is known at compile time, so the trampoline reads and writes wasmtime's raw slots directly:
//! no [`crate::Value`] conversion and no result vector per call.

use std::mem::MaybeUninit;
use std::sync::Arc;

use wasmtime::ValRaw;

use crate::error::Result;
use crate::host_func::{HostCall, HostFunc, Kind, RawCallback};
use crate::value::ValType;

/// A wasm number type a typed host function takes or returns: `i32`, `i64`, `f32`, `f64`.
pub trait HostNumber: Copy + Send + Sync + 'static {
    /// Its wasm type.
    const TYPE: ValType;
    /// Read it from a raw slot of its type.
    fn from_raw(raw: &ValRaw) -> Self;
    /// Write it as a raw slot.
    fn to_raw(self) -> ValRaw;
}

macro_rules! number {
    ($t:ty, $ty:ident, $get:ident, $new:ident, $to:expr, $from:expr) => {
        impl HostNumber for $t {
            const TYPE: ValType = ValType::$ty;
            #[inline]
            fn from_raw(raw: &ValRaw) -> Self {
                $from(raw.$get())
            }
            #[inline]
            fn to_raw(self) -> ValRaw {
                ValRaw::$new($to(self))
            }
        }
    };
}
number!(i32, I32, get_i32, i32, |v| v, |v| v);
number!(i64, I64, get_i64, i64, |v| v, |v| v);
number!(f32, F32, get_f32, f32, f32::to_bits, f32::from_bits);
number!(f64, F64, get_f64, f64, f64::to_bits, f64::from_bits);

/// What a typed host function returns: nothing (`()`) or one [`HostNumber`].
pub trait HostResult: Send + Sync + 'static {
    /// Its wasm result types.
    fn types() -> Vec<ValType>;
    /// Write it into the raw slots (slot 0 onwards).
    fn store(self, raw: &mut [MaybeUninit<ValRaw>]);
}

impl HostResult for () {
    fn types() -> Vec<ValType> {
        Vec::new()
    }
    #[inline]
    fn store(self, _: &mut [MaybeUninit<ValRaw>]) {}
}

impl<T: HostNumber> HostResult for T {
    fn types() -> Vec<ValType> {
        vec![T::TYPE]
    }
    #[inline]
    fn store(self, raw: &mut [MaybeUninit<ValRaw>]) {
        raw[0].write(self.to_raw());
    }
}

/// Closures [`HostFunc::wrap`] accepts: `Fn(&mut HostCall, A, B, ..) -> Result<R>` with up to six
/// [`HostNumber`] parameters and a [`HostResult`]. `Marker` only tells the arities apart.
pub trait IntoHostFunc<Marker>: Send + Sync + 'static {
    /// The function, typed by its Rust signature.
    fn into_host_func(self) -> HostFunc;
}

macro_rules! arity {
    ($($a:ident $i:tt),*) => {
        impl<F, R, $($a: HostNumber),*> IntoHostFunc<(R, $($a,)*)> for F
        where
            F: Fn(&mut HostCall<'_, '_>, $($a),*) -> Result<R> + Send + Sync + 'static,
            R: HostResult,
        {
            #[allow(unused_variables)]
            fn into_host_func(self) -> HostFunc {
                let call = move |call: &mut HostCall<'_, '_>, raw: &mut [MaybeUninit<ValRaw>]| {
                    // SAFETY: linking checked the import's type against this signature (`HostFunc::typed`
                    // below), so wasmtime initialized one slot per parameter, each of that parameter's type.
                    let result = self(call, $(unsafe { $a::from_raw(raw[$i].assume_init_ref()) }),*)?;
                    result.store(raw);
                    Ok(())
                };
                let callback: Arc<RawCallback> = Arc::new(call);
                HostFunc::from_kind(Kind::Raw(callback)).typed(&[$($a::TYPE),*], &R::types())
            }
        }
    };
}
arity!();
arity!(A0 0);
arity!(A0 0, A1 1);
arity!(A0 0, A1 1, A2 2);
arity!(A0 0, A1 1, A2 2, A3 3);
arity!(A0 0, A1 1, A2 2, A3 3, A4 4);
arity!(A0 0, A1 1, A2 2, A3 3, A4 4, A5 5);
