use ext_wasm::{ErrorCode, ExportKind, LoadOrigin, ValType, Value};

use crate::*;

#[test]
fn compile_and_call_add() {
    let rt = runtime();
    let (_, i) = instance(&rt, ADD);
    assert_eq!(
        rt.call(i, "add", &[Value::Number(10.0), Value::Number(32.0)]).unwrap(),
        [Value::I32(42)]
    );
}

#[test]
fn identical_bytes_share_one_compiled_module() {
    let rt = runtime();
    let a = rt.compile_report(ADD.as_bytes()).unwrap();
    let b = rt.compile_report(ADD.as_bytes()).unwrap();
    assert_eq!(a.origin, LoadOrigin::Compiled);
    assert_eq!(b.origin, LoadOrigin::Dedup);
    assert_ne!(a.id, b.id, "each compile gets its own handle");
    rt.drop_module(a.id).unwrap();
    // The other handle still works.
    rt.instantiate(b.id, &Default::default()).unwrap();
}

#[test]
fn garbage_bytes_are_a_compile_error_with_the_validator_message() {
    let rt = runtime();
    let err = rt.compile(&[0, 0x61, 0x73, 0x6d, 9, 9, 9, 9]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CompileError);
    assert!(err.to_string().starts_with("[5000] "), "{err}");
    assert!(err.to_string().contains("version"), "validator message expected: {err}");
    let err = rt.compile(br#"(module (func (result i32) i64.const 1))"#).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CompileError);
    assert!(err.to_string().contains("type mismatch"), "{err}");
    assert_eq!(code(rt.compile(b"\xff\xfe not wasm")), ErrorCode::CompileError);
}

#[test]
fn compile_file_reads_wasm_and_wat() {
    let rt = runtime();
    let m = rt.compile_file(fixture("wat/add.wat")).unwrap();
    let i = rt.instantiate(m, &Default::default()).unwrap();
    assert_eq!(
        rt.call(i, "add", &[Value::I32(1), Value::I32(2)]).unwrap(),
        [Value::I32(3)]
    );
    rt.compile_file(fixture("plugins/checksum.wasm")).unwrap();
}

#[test]
fn unreadable_file_is_an_io_error() {
    let rt = runtime();
    assert_eq!(code(rt.compile_file("/definitely/not/here.wasm")), ErrorCode::IoError);
    assert_eq!(code(rt.compile_file(env!("CARGO_MANIFEST_DIR"))), ErrorCode::IoError);
}

#[test]
fn module_and_instance_exports_report_kinds_and_signatures() {
    let rt = runtime();
    let (m, i) = instance(
        &rt,
        r#"(module (memory (export "mem") 1) (table (export "tab") 1 funcref) (global (export "g") i32 (i32.const 7))
           (func (export "f") (param i64 f32) (result f64 i32) f64.const 0 i32.const 0))"#,
    );
    let exports = rt.module_exports(m).unwrap();
    let kinds: Vec<_> = exports.iter().map(|e| (e.name.as_str(), e.kind.as_str())).collect();
    assert_eq!(
        kinds,
        [("mem", "memory"), ("tab", "table"), ("g", "global"), ("f", "func")]
    );
    let f = &exports[3];
    assert_eq!(f.kind, ExportKind::Func);
    assert_eq!(f.params, [ValType::I64, ValType::F32]);
    assert_eq!(f.results, [ValType::F64, ValType::I32]);
    assert_eq!(rt.instance_exports(i).unwrap(), exports);
}

#[test]
fn dropping_a_module_keeps_its_instances_working() {
    let rt = runtime();
    let (m, i) = instance(&rt, ADD);
    rt.drop_module(m).unwrap();
    assert_eq!(
        rt.call(i, "add", &[Value::I32(2), Value::I32(3)]).unwrap(),
        [Value::I32(5)]
    );
    assert_eq!(
        code(rt.instantiate(m, &Default::default())),
        ErrorCode::InvalidModuleHandle
    );
    assert_eq!(code(rt.drop_module(m)), ErrorCode::InvalidModuleHandle);
    assert_eq!(code(rt.module_exports(m)), ErrorCode::InvalidModuleHandle);
    rt.drop_instance(i).unwrap();
}

#[test]
fn a_module_dropped_on_another_thread_is_not_instantiated_from_this_threads_last_one() {
    let rt = runtime();
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let i = rt.instantiate(m, &Default::default()).unwrap(); // this thread now remembers `m`
    let other = rt.clone();
    std::thread::spawn(move || other.drop_module(m).unwrap())
        .join()
        .unwrap();
    assert_eq!(
        code(rt.instantiate(m, &Default::default())),
        ErrorCode::InvalidModuleHandle
    );
    rt.drop_instance(i).unwrap();
}

#[test]
fn a_dropped_module_is_let_go_even_right_after_an_instantiate() {
    let rt = runtime();
    let a = rt.compile(ADD.as_bytes()).unwrap();
    let i = rt.instantiate(a, &Default::default()).unwrap();
    rt.drop_instance(i).unwrap();
    rt.drop_module(a).unwrap();
    let again = rt.compile_report(ADD.as_bytes()).unwrap();
    assert_ne!(again.origin, LoadOrigin::Dedup, "nothing held the module any more");
}

#[test]
fn stale_and_forged_handles_are_rejected() {
    let rt = runtime();
    let (m, i) = instance(&rt, ADD);
    rt.drop_instance(i).unwrap();
    let err = rt.call(i, "add", &[Value::I32(1), Value::I32(1)]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInstanceHandle);
    assert!(err.to_string().contains("was dropped"), "{err}");
    assert_eq!(code(rt.drop_instance(i)), ErrorCode::InvalidInstanceHandle);
    // The slot is reused by the next instance; the old handle must not reach it.
    let j = rt.instantiate(m, &Default::default()).unwrap();
    assert_ne!(i, j);
    assert_eq!(
        code(rt.call(i, "add", &[Value::I32(1), Value::I32(1)])),
        ErrorCode::InvalidInstanceHandle
    );
    assert_eq!(
        rt.call(j, "add", &[Value::I32(1), Value::I32(1)]).unwrap(),
        [Value::I32(2)]
    );
    assert_eq!(
        code(rt.call(InstanceId(0xdead_beef), "add", &[])),
        ErrorCode::InvalidInstanceHandle
    );
    assert_eq!(
        code(rt.instantiate(ModuleId(u64::MAX), &Default::default())),
        ErrorCode::InvalidModuleHandle
    );
}

#[test]
fn errors_display_code_and_message() {
    let rt = runtime();
    let (_, i) = instance(&rt, ADD);
    let err = rt.call(i, "nope", &[]).unwrap_err();
    assert_eq!(err.code().as_u16(), 5003);
    assert_eq!(err.code().name(), "ExportNotFound");
    assert_eq!(err.to_string(), "[5003] export not found: no export named `nope`");
    let codes: Vec<u16> = ErrorCode::ALL.iter().map(|c| c.as_u16()).collect();
    assert_eq!(codes, (5000..=5013).collect::<Vec<_>>());
}
