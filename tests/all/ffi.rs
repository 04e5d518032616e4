//! The C ABI (`ext_wasm::ffi`): transport over the wire layer. What is its own: the out record, blobs, overlap
//! and null-buffer refusals, and the status codes.

use ext_wasm::ffi::*;

fn frame(slots: usize) -> Vec<u8> {
    vec![0u8; OUT_HEADER + slots * SLOT]
}

fn a(buf: &[u8]) -> u64 {
    u64::from_le_bytes(buf[..8].try_into().unwrap())
}

fn take_error(buf: &[u8]) -> String {
    let id = u64::from_le_bytes(buf[16..24].try_into().unwrap());
    let len = u64::from_le_bytes(buf[24..32].try_into().unwrap()) as usize;
    let mut msg = vec![0u8; len];
    // SAFETY: `msg` is a live buffer of exactly `len` bytes.
    assert_eq!(unsafe { ext_wasm_blob_take(id, msg.as_mut_ptr(), len) }, 0);
    String::from_utf8(msg).unwrap()
}

#[test]
fn compile_call_and_errors_round_trip() {
    let wat = br#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;
    let mut f = frame(8);
    // SAFETY: all buffers are live, distinct Vecs of the stated lengths.
    unsafe {
        assert_eq!(ext_wasm_compile(wat.as_ptr(), wat.len(), f.as_mut_ptr(), f.len()), 0);
        let module = a(&f) as f64;
        let nul = std::ptr::null();
        assert_eq!(ext_wasm_instantiate(module, nul, 0, nul, 0, f.as_mut_ptr(), f.len()), 0);
        let inst = a(&f) as f64;
        f[32] = tag::NUMBER;
        f[40..48].copy_from_slice(&40f64.to_bits().to_le_bytes());
        f[48] = tag::I32;
        f[56..64].copy_from_slice(&2i64.to_le_bytes());
        assert_eq!(ext_wasm_call(inst, b"add".as_ptr(), 3, f.as_mut_ptr(), f.len(), 2), 0);
        assert_eq!(a(&f), 1);
        assert_eq!((f[32], f[40]), (tag::I32, 42));
        assert_eq!(
            ext_wasm_call(inst, b"nope".as_ptr(), 4, f.as_mut_ptr(), f.len(), 0),
            5003
        );
        assert_eq!(take_error(&f), "[5003] export not found: no export named `nope`");
        assert_eq!(a(&f), 0, "the record's results are cleared on error");
        assert_eq!(ext_wasm_instance_drop(inst, f.as_mut_ptr(), f.len()), 0);
        assert_eq!(ext_wasm_instance_drop(inst, f.as_mut_ptr(), f.len()), 5005);
        assert_eq!(ext_wasm_instance_drop(-1.0, f.as_mut_ptr(), f.len()), 5005);
        assert_eq!(
            take_error(&f),
            "[5005] invalid instance handle: -1 is not an instance handle"
        );
        assert_eq!(ext_wasm_module_drop(module, f.as_mut_ptr(), f.len()), 0);
    }
}

#[test]
fn short_out_buffer_null_buffers_and_unknown_blobs_are_refused() {
    let mut small = [0u8; 8];
    // SAFETY: `small` is a live 8-byte buffer; the function refuses it before writing.
    assert_eq!(unsafe { ext_wasm_stats(small.as_mut_ptr(), small.len()) }, 5007);
    // SAFETY: a zero-length destination is never dereferenced.
    assert_eq!(unsafe { ext_wasm_blob_take(u64::MAX, std::ptr::null_mut(), 0) }, 5007);
    let mut f = frame(0);
    // SAFETY: a null pointer with a non-zero length is refused before any read; `f` is live.
    assert_eq!(
        unsafe { ext_wasm_compile(std::ptr::null(), 8, f.as_mut_ptr(), f.len()) },
        5007
    );
    assert_eq!(take_error(&f), "[5007] type error: null buffer with a non-zero length");
}

#[test]
fn a_buffer_overlapping_the_out_record_is_refused() {
    let mut f = frame(2);
    let p = f.as_mut_ptr();
    // SAFETY: `p` points into the live `f`; the overlap is detected before the source is read.
    assert_eq!(unsafe { ext_wasm_compile(p.add(8), 16, p, 32) }, 5007);
    assert_eq!(
        take_error(&f),
        "[5007] type error: the bytes and the out buffer overlap"
    );
}

#[test]
fn blobs_are_taken_once_with_their_exact_length() {
    let wat = br#"(module (memory (export "m") 1))"#;
    let mut f = frame(0);
    // SAFETY: all buffers are live and of the stated lengths.
    unsafe {
        assert_eq!(ext_wasm_compile(wat.as_ptr(), wat.len(), f.as_mut_ptr(), f.len()), 0);
        assert_eq!(ext_wasm_module_exports(a(&f) as f64, f.as_mut_ptr(), f.len()), 0);
        let (id, len) = (a(&f), u64::from_le_bytes(f[8..16].try_into().unwrap()) as usize);
        let mut short = vec![0u8; len - 1];
        assert_eq!(ext_wasm_blob_take(id, short.as_mut_ptr(), short.len()), 5007);
        let mut json = vec![0u8; len];
        assert_eq!(ext_wasm_blob_take(id, json.as_mut_ptr(), len), 0);
        assert_eq!(json, br#"[{"name":"m","kind":"memory","min":1,"max":null}]"#);
        assert_eq!(ext_wasm_blob_take(id, json.as_mut_ptr(), len), 5007, "taken once");
    }
}

/// An instance of a module exporting `add(i32, i32) -> i32`, made through the C ABI with `rec` as the out record.
fn add_instance(rec: &mut [u8]) -> f64 {
    let wat = br#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;
    // SAFETY: `wat` and `rec` are live, distinct buffers of the stated lengths; stdin and options are empty.
    unsafe {
        assert_eq!(
            ext_wasm_compile(wat.as_ptr(), wat.len(), rec.as_mut_ptr(), rec.len()),
            0
        );
        let module = a(rec) as f64;
        let nul = std::ptr::null();
        assert_eq!(
            ext_wasm_instantiate(module, nul, 0, nul, 0, rec.as_mut_ptr(), rec.len()),
            0
        );
    }
    a(rec) as f64
}

#[test]
fn call_numbers_answers_in_the_out_record() {
    let mut rec = frame(0);
    let inst = add_instance(&mut rec);
    // SAFETY: all buffers are live, distinct arrays and Vecs of the stated lengths.
    unsafe {
        assert_eq!(ext_wasm_func(inst, b"add".as_ptr(), 3, rec.as_mut_ptr(), rec.len()), 0);
        let index = a(&rec) as u32;
        let call = |x: f64, rec: &mut [u8]| {
            ext_wasm_call_numbers(inst, index, x, 2.0, 0.0, 0.0, 2, rec.as_mut_ptr(), rec.len())
        };
        assert_eq!(call(40.0, &mut rec), 0);
        assert_eq!(a(&rec), 1, "a: the result count");
        assert_eq!(
            f64::from_le_bytes(rec[8..16].try_into().unwrap()),
            42.0,
            "b: the result"
        );
        assert_eq!(call(0.5, &mut rec), 5007);
        assert_eq!(
            take_error(&rec),
            "[5007] type error: argument 0: expected i32, got number 0.5"
        );
        assert_eq!(call(1.0, &mut rec[..16]), 5007, "no room for the out record");
        assert_eq!(ext_wasm_instance_drop(inst, rec.as_mut_ptr(), rec.len()), 0);
    }
}

#[test]
fn call_numbers_named_answers_and_resolves_in_the_out_record() {
    let mut rec = frame(0);
    let inst = add_instance(&mut rec);
    // SAFETY: all buffers are live, distinct arrays and Vecs of the stated lengths.
    unsafe {
        let call = |name: &[u8], rec: &mut [u8]| {
            let (ptr, len) = (name.as_ptr(), name.len());
            ext_wasm_call_numbers_named(inst, ptr, len, 40.0, 2.0, 0.0, 0.0, 2, rec.as_mut_ptr(), rec.len())
        };
        assert_eq!(call(b"add", &mut rec), 0);
        assert_eq!(a(&rec), 1, "a: the result count");
        assert_eq!(
            f64::from_le_bytes(rec[8..16].try_into().unwrap()),
            42.0,
            "b: the result"
        );
        let index = u64::from_le_bytes(rec[16..24].try_into().unwrap());
        assert_eq!(ext_wasm_func(inst, b"add".as_ptr(), 3, rec.as_mut_ptr(), rec.len()), 0);
        assert_eq!(index, a(&rec), "c: the index `ext_wasm_func` gives");
        assert_eq!(call(b"sub", &mut rec), 5003);
        assert_eq!(take_error(&rec), "[5003] export not found: no export named `sub`");
        assert_eq!(call(b"\xff", &mut rec), 5007);
        assert_eq!(
            take_error(&rec),
            "[5007] type error: the export name is not valid UTF-8"
        );
        assert_eq!(ext_wasm_instance_drop(inst, rec.as_mut_ptr(), rec.len()), 0);
    }
}
