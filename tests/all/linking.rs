//! Linking instances through the Rust API: another instance's exports as imports (`ExportRef`), a whole
//! instance as a namespace, shared memories / globals / tables / functions, the ownership rule, and globals
//! read and set by name.

use ext_wasm::{
    ErrorCode, ExportKind, ExportRef, GlobalInfo, HostCall, HostFunc, Imports, InstanceId, InstanceOptions, Limits,
    ValType, Value,
};

use crate::*;

const LIB: &str = r#"(module
  (memory (export "memory") 1 4)
  (global (export "counter") (mut i32) (i32.const 7))
  (global (export "big") i64 (i64.const 9007199254740993))
  (table (export "table") 2 10 funcref)
  (func $seven (result i32) (i32.const 7))
  (elem (i32.const 0) $seven)
  (func (export "bump") (result i32)
    (global.set 0 (i32.add (global.get 0) (i32.const 1))) (global.get 0))
  (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0))))"#;

const USER: &str = r#"(module
  (import "lib" "memory" (memory 1))
  (import "lib" "counter" (global $counter (mut i32)))
  (import "lib" "table" (table 2 funcref))
  (import "lib" "bump" (func $bump (result i32)))
  (type $t (func (result i32)))
  (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "counter") (result i32) (global.get $counter))
  (func (export "bump_twice") (result i32) (drop (call $bump)) (call $bump))
  (func (export "call_slot") (param i32) (result i32) (call_indirect (type $t) (local.get 0))))"#;

fn linked(imports: Imports) -> InstanceOptions {
    InstanceOptions {
        imports,
        ..Default::default()
    }
}

/// A runtime, the library instance, and the user instance linked to it as namespace `lib`.
fn lib_and_user() -> (ext_wasm::Runtime, InstanceId, InstanceId) {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    let user = rt.compile(USER.as_bytes()).unwrap();
    let user = rt
        .instantiate(user, &linked(Imports::new().instance("lib", lib)))
        .unwrap();
    (rt, lib, user)
}

#[test]
fn a_namespace_instance_shares_its_memory() {
    let (rt, lib, user) = lib_and_user();
    rt.call(user, "poke", &[Value::I32(100), Value::I32(42)]).unwrap();
    assert_eq!(rt.call(lib, "peek", &[Value::I32(100)]).unwrap(), [Value::I32(42)]);
    let mut byte = [0u8];
    rt.read_memory(lib, None, 100, &mut byte).unwrap();
    assert_eq!(byte, [42]);
}

#[test]
fn a_shared_global_is_one_cell() {
    let (rt, lib, user) = lib_and_user();
    rt.set_global(lib, "counter", Value::Number(40.0)).unwrap();
    assert_eq!(rt.call(user, "counter", &[]).unwrap(), [Value::I32(40)]);
    assert_eq!(rt.call(user, "bump_twice", &[]).unwrap(), [Value::I32(42)]);
    assert_eq!(rt.get_global(lib, "counter").unwrap(), Value::I32(42));
}

#[test]
fn a_shared_table_calls_the_exporters_function() {
    let (rt, _, user) = lib_and_user();
    assert_eq!(rt.call(user, "call_slot", &[Value::I32(0)]).unwrap(), [Value::I32(7)]);
    let err = rt.call(user, "call_slot", &[Value::I32(1)]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallError);
    assert!(err.message().contains("uninitialized element"), "{err}");
}

#[test]
fn export_refs_link_one_export_each() {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    let module = rt
        .compile(
            br#"(module (import "env" "mem" (memory 1)) (import "env" "next" (func $n (result i32)))
            (func (export "next") (result i32) (call $n))
            (func (export "first_byte") (result i32) (i32.load8_u (i32.const 0))))"#,
        )
        .unwrap();
    let imports = Imports::new()
        .export("env", "mem", ExportRef::new(lib, "memory"))
        .export("env", "next", ExportRef::new(lib, "bump"));
    let user = rt.instantiate(module, &linked(imports)).unwrap();
    assert_eq!(rt.call(user, "next", &[]).unwrap(), [Value::I32(8)]);
    rt.write_memory(lib, None, 0, &[9]).unwrap();
    assert_eq!(rt.call(user, "first_byte", &[]).unwrap(), [Value::I32(9)]);
}

#[test]
fn dropping_the_exporters_handle_keeps_its_objects_for_the_importer() {
    let (rt, lib, user) = lib_and_user();
    rt.drop_instance(lib).unwrap();
    assert_eq!(code(rt.call(lib, "bump", &[])), ErrorCode::InvalidInstanceHandle);
    assert_eq!(code(rt.get_global(lib, "counter")), ErrorCode::InvalidInstanceHandle);
    assert_eq!(rt.call(user, "bump_twice", &[]).unwrap(), [Value::I32(9)]);
    rt.drop_instance(user).unwrap();
    assert_eq!(rt.instance_count(), 0);
}

#[test]
fn a_dropped_exporter_cannot_be_linked_to() {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    rt.drop_instance(lib).unwrap();
    let user = rt.compile(USER.as_bytes()).unwrap();
    let err = rt.instantiate(user, &linked(Imports::new().instance("lib", lib)));
    assert_eq!(code(err), ErrorCode::InvalidInstanceHandle);
}

#[test]
fn a_missing_export_is_unlinkable_and_named() {
    let rt = runtime();
    let (_, lib) = instance(&rt, ADD);
    let user = rt.compile(USER.as_bytes()).unwrap();
    let err = rt
        .instantiate(user, &linked(Imports::new().instance("lib", lib)))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
    assert!(err.message().contains("lib::memory"), "{err}");
}

#[test]
fn an_export_of_the_wrong_type_is_unlinkable() {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    let module = rt
        .compile(br#"(module (import "lib" "bump" (func (param i64))))"#)
        .unwrap();
    let err = rt
        .instantiate(module, &linked(Imports::new().instance("lib", lib)))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
    assert!(err.message().contains("lib::bump"), "{err}");
    let module = rt.compile(br#"(module (import "lib" "bump" (memory 1)))"#).unwrap();
    let err = rt
        .instantiate(module, &linked(Imports::new().instance("lib", lib)))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
}

#[test]
fn a_trapping_start_function_is_an_instantiate_error() {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    let module = rt
        .compile(
            br#"(module (import "lib" "memory" (memory 1))
            (func $start (i32.store8 (i32.const 5) (i32.const 1)) unreachable) (start $start))"#,
        )
        .unwrap();
    let err = rt
        .instantiate(module, &linked(Imports::new().instance("lib", lib)))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
    // As in wasm, what the start function did to shared memory before trapping stays.
    assert_eq!(rt.call(lib, "peek", &[Value::I32(5)]).unwrap(), [Value::I32(1)]);
}

#[test]
fn instances_of_different_stores_cannot_be_linked_together() {
    let rt = runtime();
    let (_, a) = instance(&rt, LIB);
    let (_, b) = instance(&rt, ADD);
    let module = rt.compile(br#"(module)"#).unwrap();
    let imports = Imports::new().instance("a", a).instance("b", b);
    let err = rt.instantiate(module, &linked(imports)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
    assert!(err.message().contains("different stores"), "{err}");
}

#[test]
fn a_linked_instance_takes_no_limits_of_its_own() {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    let module = rt.compile(br#"(module)"#).unwrap();
    let options = InstanceOptions {
        fuel: Some(1000),
        ..linked(Imports::new().instance("lib", lib))
    };
    let err = rt.instantiate(module, &options).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InstantiateError);
    assert!(err.message().contains("`fuel`"), "{err}");
}

#[test]
fn a_linked_instance_can_also_import_host_functions() {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    let module = rt
        .compile(
            br#"(module (import "lib" "memory" (memory 1)) (import "host" "len" (func $len (result i32)))
            (export "memory" (memory 0))
            (func (export "run") (result i32) (call $len)))"#,
        )
        .unwrap();
    let len = HostFunc::new(|call: &mut HostCall, _, out| {
        out.push(Value::I32(call.memory_size()? as i32));
        Ok(())
    });
    let imports = Imports::new().instance("lib", lib).func("host", "len", len);
    let user = rt.instantiate(module, &linked(imports)).unwrap();
    assert_eq!(rt.call(user, "run", &[]).unwrap(), [Value::I32(65536)]);
}

#[test]
fn runtime_host_modules_serve_what_a_namespace_lacks() {
    let rt = runtime();
    rt.define_host_func("lib", "extra", HostFunc::wrap(|_: &mut HostCall| Ok(5i32)));
    let (_, lib) = instance(&rt, LIB);
    let module = rt
        .compile(
            br#"(module (import "lib" "extra" (func $e (result i32))) (import "lib" "bump" (func $b (result i32)))
            (func (export "both") (result i32) (i32.add (call $e) (call $b))))"#,
        )
        .unwrap();
    let user = rt
        .instantiate(module, &linked(Imports::new().instance("lib", lib)))
        .unwrap();
    assert_eq!(rt.call(user, "both", &[]).unwrap(), [Value::I32(13)]);
}

#[test]
fn globals_read_and_set_by_name() {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    assert_eq!(rt.get_global(lib, "counter").unwrap(), Value::I32(7));
    assert_eq!(rt.get_global(lib, "big").unwrap(), Value::I64(9007199254740993));
    rt.set_global(lib, "counter", Value::I32(-1)).unwrap();
    assert_eq!(rt.call(lib, "bump", &[]).unwrap(), [Value::I32(0)]);
}

#[test]
fn an_immutable_global_refuses_a_set() {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    let err = rt.set_global(lib, "big", Value::I64(1)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TypeError);
    assert!(err.message().contains("immutable"), "{err}");
}

#[test]
fn a_global_that_is_missing_or_not_a_global_is_5003() {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    assert_eq!(code(rt.get_global(lib, "nope")), ErrorCode::ExportNotFound);
    assert_eq!(code(rt.get_global(lib, "memory")), ErrorCode::ExportNotFound);
    assert_eq!(
        code(rt.set_global(lib, "bump", Value::I32(1))),
        ErrorCode::ExportNotFound
    );
}

#[test]
fn a_value_that_does_not_fit_the_global_is_5007() {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    assert_eq!(
        code(rt.set_global(lib, "counter", Value::Number(0.5))),
        ErrorCode::TypeError
    );
    assert_eq!(
        code(rt.set_global(lib, "counter", Value::F64(1.0))),
        ErrorCode::TypeError
    );
}

#[test]
fn exports_report_global_memory_and_table_types() {
    let rt = runtime();
    let (_, lib) = instance(&rt, LIB);
    let exports = rt.instance_exports(lib).unwrap();
    let find = |name: &str| exports.iter().find(|e| e.name == name).unwrap().clone();
    let counter = find("counter");
    assert_eq!(counter.kind, ExportKind::Global);
    assert_eq!(
        counter.global,
        Some(GlobalInfo {
            ty: ValType::I32,
            mutable: true
        })
    );
    assert!(!find("big").global.unwrap().mutable);
    let memory = find("memory").limits.unwrap();
    assert_eq!((memory.min, memory.max, memory.element), (1, Some(4), None));
    assert_eq!(
        find("table").limits,
        Some(Limits {
            min: 2,
            max: Some(10),
            element: Some("funcref".into())
        })
    );
}

/// Instances of one store keep their resolved exports apart: the same name on two linked instances runs each
/// one's own function, however the calls alternate.
#[test]
fn the_same_export_name_on_linked_instances_runs_each_ones_own() {
    let rt = runtime();
    let (_, lib) = instance(
        &rt,
        r#"(module (memory (export "memory") 1) (func (export "who") (result i32) i32.const 1))"#,
    );
    let user = rt
        .compile(br#"(module (import "lib" "memory" (memory 1)) (func (export "who") (result i32) i32.const 2))"#)
        .unwrap();
    let user = rt
        .instantiate(user, &linked(Imports::new().instance("lib", lib)))
        .unwrap();
    for (id, want) in [(lib, 1), (user, 2), (user, 2), (lib, 1), (user, 2), (lib, 1)] {
        assert_eq!(rt.call(id, "who", &[]).unwrap(), [Value::I32(want)]);
    }
}
