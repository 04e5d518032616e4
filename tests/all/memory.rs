use ext_wasm::{ErrorCode, InstanceOptions, Value};

use crate::*;

const MEM: &str = r#"(module
  (memory (export "memory") 1 4)
  (memory (export "second") 2)
  (data (memory 0) (i32.const 16) "hello")
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0))))"#;

fn setup() -> (Runtime, InstanceId) {
    let rt = runtime();
    let (_, i) = instance(&rt, MEM);
    (rt, i)
}

#[test]
fn write_then_read_round_trips() {
    let (rt, i) = setup();
    rt.write_memory(i, None, 100, b"Hello, WASM!").unwrap();
    let mut buf = [0u8; 12];
    rt.read_memory(i, None, 100, &mut buf).unwrap();
    assert_eq!(&buf, b"Hello, WASM!");
    assert_eq!(
        rt.call(i, "load", &[Value::I32(100)]).unwrap(),
        [Value::I32(b'H' as i32)]
    );
}

#[test]
fn reads_see_data_segments() {
    let (rt, i) = setup();
    let mut buf = [0u8; 5];
    rt.read_memory(i, None, 16, &mut buf).unwrap();
    assert_eq!(&buf, b"hello");
}

#[test]
fn out_of_bounds_access_is_a_memory_error_and_writes_nothing() {
    let (rt, i) = setup();
    let err = rt.read_memory(i, None, 999_999_999, &mut [0u8; 1024]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::MemoryError);
    assert!(err.to_string().contains("out of bounds"), "{err}");
    assert_eq!(
        code(rt.write_memory(i, None, 65530, b"0123456789")),
        ErrorCode::MemoryError
    );
    let mut tail = [1u8; 6];
    rt.read_memory(i, None, 65530, &mut tail).unwrap();
    assert_eq!(tail, [0; 6], "a failed write must not write a prefix");
    assert_eq!(
        code(rt.read_memory(i, None, u64::MAX, &mut [0u8; 1])),
        ErrorCode::MemoryError
    );
}

#[test]
fn size_and_grow_report_pages() {
    let (rt, i) = setup();
    assert_eq!(rt.memory_size(i, None).unwrap(), 1);
    assert_eq!(rt.memory_grow(i, None, 2).unwrap(), 1);
    assert_eq!(rt.memory_size(i, None).unwrap(), 3);
    assert_eq!(rt.memory_byte_len(i, None).unwrap(), 3 * 65536);
    // Past the module's declared maximum (4 pages).
    assert_eq!(code(rt.memory_grow(i, None, 2)), ErrorCode::MemoryError);
    assert_eq!(rt.memory_size(i, None).unwrap(), 3);
}

#[test]
fn a_named_memory_can_be_chosen() {
    let (rt, i) = setup();
    assert_eq!(rt.memory_size(i, Some("second")).unwrap(), 2);
    rt.write_memory(i, Some("second"), 70000, b"x").unwrap();
    assert_eq!(code(rt.memory_size(i, Some("nope"))), ErrorCode::MemoryError);
}

#[test]
fn an_instance_without_memory_says_so() {
    let rt = runtime();
    let (_, i) = instance(&rt, ADD);
    let err = rt.memory_size(i, None).unwrap_err();
    assert_eq!(err.to_string(), "[5006] memory error: the instance exports no memory");
}

#[test]
fn the_memory_cap_stops_guest_and_host_growth() {
    let rt = runtime();
    let m = rt.compile(MEM.as_bytes()).unwrap();
    let opts = InstanceOptions {
        max_memory_bytes: Some(2 * 65536),
        ..Default::default()
    };
    let i = rt.instantiate(m, &opts).unwrap();
    assert_eq!(rt.call(i, "grow", &[Value::I32(1)]).unwrap(), [Value::I32(1)]);
    // The guest's memory.grow past the cap returns -1 …
    assert_eq!(rt.call(i, "grow", &[Value::I32(1)]).unwrap(), [Value::I32(-1)]);
    // … and the host's grow is a LimitExceeded error.
    let err = rt.memory_grow(i, None, 1).unwrap_err();
    assert_eq!(err.code(), ErrorCode::LimitExceeded);
    assert_eq!(rt.memory_size(i, None).unwrap(), 2);
}

#[test]
fn a_module_needing_more_than_the_cap_fails_to_instantiate() {
    let rt = runtime();
    let m = rt.compile(br#"(module (memory 4))"#).unwrap();
    let opts = InstanceOptions {
        max_memory_bytes: Some(65536),
        ..Default::default()
    };
    assert_eq!(code(rt.instantiate(m, &opts)), ErrorCode::InstantiateError);
}

/// A freed pool slot is reset before its next instance, whichever way the pool resets it: written pages are
/// zero again (inside and beyond the part kept resident) and data segments are back.
#[test]
fn a_reused_slot_starts_from_the_modules_memory_with_either_reset() {
    for scan_dirty_pages in [false, true] {
        let mut config = RuntimeConfig::default();
        config.cache.enabled = false;
        config.pool.total_instances = 2;
        config.pool.scan_dirty_pages = Some(scan_dirty_pages);
        let rt = Runtime::new(config);
        let m = rt.compile(MEM.as_bytes()).unwrap();
        for round in 0..3 {
            let i = rt.instantiate(m, &InstanceOptions::default()).unwrap();
            assert_eq!(rt.call(i, "grow", &[Value::I32(1)]).unwrap(), [Value::I32(1)]);
            for at in [16, 100, 70_000] {
                assert_eq!(
                    rt.call(i, "load", &[Value::I32(at)]).unwrap(),
                    [Value::I32(if at == 16 { i32::from(b'h') } else { 0 })],
                    "offset {at}, round {round}, scan_dirty_pages {scan_dirty_pages}"
                );
            }
            rt.write_memory(i, None, 16, b"HELLO").unwrap();
            rt.write_memory(i, None, 100, b"dirty").unwrap();
            rt.write_memory(i, None, 70_000, b"dirty").unwrap();
            rt.drop_instance(i).unwrap();
        }
    }
}

/// `scan_dirty_pages` set either way is what the pool uses; unset, the pool uses what timed cheaper here, the
/// same answer every time in a process.
#[test]
fn the_slot_reset_is_the_configured_one_or_this_machines_cheaper_one() {
    let mut pool = ext_wasm::PoolConfig::default();
    assert_eq!(pool.scan_dirty_pages, None);
    let chosen = pool.scans_dirty_pages();
    assert_eq!(pool.scans_dirty_pages(), chosen);
    pool.scan_dirty_pages = Some(!chosen);
    assert_eq!(pool.scans_dirty_pages(), !chosen);
}
