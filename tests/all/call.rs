use ext_wasm::{ErrorCode, Value};

use crate::*;

const VALUES: &str = r#"(module
  (func (export "sqrt") (param f64) (result f64) local.get 0 f64.sqrt)
  (func (export "id_i64") (param i64) (result i64) local.get 0)
  (func (export "id_i32") (param i32) (result i32) local.get 0)
  (func (export "id_f32") (param f32) (result f32) local.get 0)
  (func (export "id_f64") (param f64) (result f64) local.get 0)
  (func (export "divmod") (param i32 i32) (result i32 i32)
    (i32.div_s (local.get 0) (local.get 1)) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "mixed") (param i32 i64 f32 f64) (result f64 f32 i64 i32)
    local.get 3 local.get 2 local.get 1 local.get 0)
  (func (export "simd") (param v128) (result i32) i32.const 0)
  (func (export "ref") (result externref) ref.null extern)
  (func (export "boom") (call $inner))
  (func $inner unreachable)
  (func (export "div0") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0))))"#;

fn call(name: &str, args: &[Value]) -> ext_wasm::Result<Vec<Value>> {
    let rt = runtime();
    let (_, i) = instance(&rt, VALUES);
    rt.call(i, name, args)
}

#[test]
fn numbers_follow_the_signature() {
    assert_eq!(call("sqrt", &[Value::Number(4.0)]).unwrap(), [Value::F64(2.0)]);
    assert_eq!(call("id_i32", &[Value::Number(-7.0)]).unwrap(), [Value::I32(-7)]);
    assert_eq!(call("id_i64", &[Value::Number(42.0)]).unwrap(), [Value::I64(42)]);
}

#[test]
fn i64_is_lossless_through_bigint() {
    assert_eq!(
        call("id_i64", &[Value::BigInt(i64::MIN.into())]).unwrap(),
        [Value::I64(i64::MIN)]
    );
    assert_eq!(
        call("id_i64", &[Value::BigInt(i64::MAX.into())]).unwrap(),
        [Value::I64(i64::MAX)]
    );
    assert_eq!(
        call("id_i64", &[Value::I64(9007199254740993)]).unwrap(),
        [Value::I64(9007199254740993)]
    );
    // Unsigned bit patterns wrap.
    assert_eq!(
        call("id_i64", &[Value::BigInt(u64::MAX.into())]).unwrap(),
        [Value::I64(-1)]
    );
    assert_eq!(code(call("id_i64", &[Value::BigInt(1 << 64)])), ErrorCode::TypeError);
}

#[test]
fn unsafe_integers_as_numbers_are_refused_not_rounded() {
    let err = call("id_i64", &[Value::Number(9007199254740992.0)]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TypeError);
    assert!(err.to_string().contains("BigInt"), "{err}");
}

#[test]
fn out_of_range_and_fractional_i32_arguments_are_type_errors() {
    assert_eq!(
        code(call("id_i32", &[Value::Number(4294967296.0)])),
        ErrorCode::TypeError
    );
    assert_eq!(
        code(call("id_i32", &[Value::Number(-2147483649.0)])),
        ErrorCode::TypeError
    );
    assert_eq!(code(call("id_i32", &[Value::Number(1.5)])), ErrorCode::TypeError);
    assert_eq!(code(call("id_i32", &[Value::Number(f64::NAN)])), ErrorCode::TypeError);
    assert_eq!(
        call("id_i32", &[Value::Number(4294967295.0)]).unwrap(),
        [Value::I32(-1)]
    );
}

#[test]
fn floats_keep_negative_zero_nan_and_round_like_fround() {
    let r = call("id_f64", &[Value::Number(-0.0)]).unwrap();
    assert!(matches!(r[0], Value::F64(v) if v == 0.0 && v.is_sign_negative()));
    assert!(matches!(call("id_f64", &[Value::Number(f64::NAN)]).unwrap()[0], Value::F64(v) if v.is_nan()));
    assert_eq!(call("id_f32", &[Value::Number(0.1)]).unwrap(), [Value::F32(0.1f32)]);
    assert_eq!(
        call("id_f32", &[Value::Number(16777217.0)]).unwrap(),
        [Value::F32(16777216.0)]
    );
}

#[test]
fn multi_value_results_keep_their_positions() {
    assert_eq!(
        call("divmod", &[Value::Number(42.0), Value::Number(5.0)]).unwrap(),
        [Value::I32(8), Value::I32(2)]
    );
    assert_eq!(
        call(
            "mixed",
            &[Value::I32(1), Value::I64(2), Value::F32(3.5), Value::F64(4.25)]
        )
        .unwrap(),
        [Value::F64(4.25), Value::F32(3.5), Value::I64(2), Value::I32(1)]
    );
}

#[test]
fn forced_types_must_match_the_parameter() {
    let err = call("id_i64", &[Value::I32(1)]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TypeError);
    assert_eq!(err.to_string(), "[5007] type error: argument 0: expected i64, got i32");
    assert_eq!(code(call("sqrt", &[Value::BigInt(4)])), ErrorCode::TypeError);
}

#[test]
fn wrong_arity_is_a_type_error() {
    let err = call("divmod", &[Value::I32(1)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "[5007] type error: `divmod` takes 2 argument(s), got 1"
    );
}

#[test]
fn v128_and_reference_types_are_refused_clearly() {
    let err = call("simd", &[Value::I32(0)]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TypeError);
    assert!(err.to_string().contains("v128"), "{err}");
    let err = call("ref", &[]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TypeError);
    assert!(err.to_string().contains("ref"), "{err}");
}

#[test]
fn traps_carry_the_trap_code_and_a_wasm_backtrace() {
    let err = call("boom", &[]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    let msg = err.to_string();
    assert!(msg.contains("unreachable"), "{msg}");
    assert!(msg.contains("wasm backtrace"), "{msg}");
    assert!(msg.contains("inner"), "backtrace names the function: {msg}");
    let err = call("div0", &[Value::I32(0)]).unwrap_err();
    assert!(err.to_string().contains("integer divide by zero"), "{err}");
}

#[test]
fn an_instance_keeps_serving_after_a_trap() {
    let rt = runtime();
    let (_, i) = instance(&rt, VALUES);
    assert_eq!(code(rt.call(i, "boom", &[])), ErrorCode::CallError);
    assert_eq!(rt.call(i, "id_i32", &[Value::I32(5)]).unwrap(), [Value::I32(5)]);
}

#[test]
fn missing_exports_and_non_functions_are_export_not_found() {
    let rt = runtime();
    let (_, i) = instance(&rt, r#"(module (memory (export "memory") 1))"#);
    assert_eq!(code(rt.call(i, "missing", &[])), ErrorCode::ExportNotFound);
    let err = rt.call(i, "memory", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "[5003] export not found: `memory` is a memory, not a function"
    );
}

#[test]
fn unknown_imports_fail_instantiation() {
    let rt = runtime();
    let m = rt.compile(br#"(module (import "env" "host_fn" (func)))"#).unwrap();
    let err = rt.instantiate(m, &Default::default()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
    assert!(err.to_string().contains("host_fn"), "{err}");
}

#[test]
fn a_trapping_start_function_fails_instantiation() {
    let rt = runtime();
    let m = rt.compile(br#"(module (func $s unreachable) (start $s))"#).unwrap();
    assert_eq!(
        code(rt.instantiate(m, &Default::default())),
        ErrorCode::InstantiateError
    );
}

#[test]
fn the_checksum_plugin_computes_crc32() {
    let rt = runtime();
    let m = rt.compile_file(fixture("plugins/checksum.wasm")).unwrap();
    let i = rt.instantiate(m, &Default::default()).unwrap();
    let Value::I32(ptr) = rt.call(i, "buffer", &[]).unwrap()[0] else {
        panic!()
    };
    rt.write_memory(i, None, ptr as u64, b"123456789").unwrap();
    let r = rt.call(i, "crc32", &[Value::I32(ptr), Value::I32(9)]).unwrap();
    assert_eq!(r, [Value::I32(0xCBF43926u32 as i32)]);
    let r = rt.call(i, "fnv1a64", &[Value::I32(ptr), Value::I32(0)]).unwrap();
    assert_eq!(r, [Value::I64(0xcbf29ce484222325u64 as i64)]);
}

#[test]
fn a_resolved_func_calls_without_a_name_and_goes_stale_with_its_instance() {
    let rt = runtime();
    let (_, i) = instance(&rt, VALUES);
    let divmod = rt.func(i, "divmod").unwrap();
    assert_eq!(divmod.instance(), i);
    assert_eq!(
        divmod.call(&[Value::Number(7.0), Value::Number(2.0)]).unwrap(),
        [Value::I32(3), Value::I32(1)]
    );
    assert_eq!(code(divmod.call(&[Value::Number(1.0)])), ErrorCode::TypeError);
    assert_eq!(
        code(divmod.call(&[Value::Number(1.0), Value::Number(0.0)])),
        ErrorCode::CallError
    );
    assert_eq!(code(rt.func(i, "nope")), ErrorCode::ExportNotFound);
    assert_eq!(code(rt.func(i, "simd")), ErrorCode::TypeError);
    rt.drop_instance(i).unwrap();
    assert_eq!(
        code(divmod.call(&[Value::Number(7.0), Value::Number(2.0)])),
        ErrorCode::InvalidInstanceHandle
    );
}

/// Exports are remembered per instance by scanning up to eight, through a map past that: calls keep finding the
/// right function before, at and after the crossing, in any order.
#[test]
fn many_exports_called_in_any_order_each_run_their_own_code() {
    let funcs: String = (0..12)
        .map(|i| format!(r#"(func (export "f{i}") (result i32) i32.const {i})"#))
        .collect();
    let rt = runtime();
    let (_, i) = instance(&rt, &format!("(module {funcs})"));
    let order: Vec<i32> = (0..12).chain((0..12).rev()).chain([5, 11, 0, 8, 8, 3, 9]).collect();
    for n in order {
        assert_eq!(rt.call(i, &format!("f{n}"), &[]).unwrap(), [Value::I32(n)], "f{n}");
    }
}
