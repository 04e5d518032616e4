//! Hostile input, no reference engine needed: mutated and truncated binaries must compile or fail with 5000,
//! and random handles, offsets, frames and JSON given to the wire layer (what both hosts are transport over)
//! must give a clean error code. A panic anywhere is a failure (the driver catches it and prints the seed).

use ext_wasm::{wire, ErrorCode, Runtime};

use crate::generate::Rng;

/// Compile `mutants` broken copies of `bytes`; returns how many compiled anyway.
pub fn mutated_binaries(rt: &Runtime, rng: &mut Rng, bytes: &[u8], mutants: usize) -> Result<usize, String> {
    let mut compiled = 0;
    for _ in 0..mutants {
        let mut broken = bytes.to_vec();
        match rng.below(3) {
            0 => broken.truncate(rng.below(bytes.len().max(1))),
            1 => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(broken.len());
                    broken[at] ^= 1 << rng.below(8);
                }
            }
            _ => {
                let at = rng.below(broken.len() + 1);
                broken.insert(at, rng.next() as u8);
            }
        }
        match rt.compile(&broken) {
            Ok(id) => {
                compiled += 1;
                rt.drop_module(id).map_err(|e| format!("dropping a mutant: {e}"))?;
            }
            Err(e) if e.code() == ErrorCode::CompileError => {}
            Err(e) => return Err(format!("a mutated binary gave {e}, expected 5000")),
        }
    }
    Ok(compiled)
}

/// A number a host might pass where a handle, offset or count goes.
fn number(rng: &mut Rng) -> f64 {
    let edges = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        9007199254740992.0,
        1e300,
        4294967296.0,
        65536.0,
    ];
    match rng.below(3) {
        0 => f64::from_bits(rng.next()),
        1 => (rng.next() % 1_000_000) as f64,
        _ => edges[rng.below(edges.len())],
    }
}

/// Text that is sometimes JSON, sometimes almost.
fn json(rng: &mut Rng) -> Vec<u8> {
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"fuel\"",
        "\"timeoutMs\"",
        "\"imports\"",
        "\"hostImports\"",
        "\"env\"",
        "\"args\"",
        "\"maxMemoryBytes\"",
        "\"exportImports\"",
        "\"cache\"",
        "1",
        "-1",
        "1e99",
        "null",
        "true",
        "\"x\"",
        " ",
        "\u{0}",
        "\"\\u0000\"",
        "18446744073709551616",
    ];
    if rng.below(4) == 0 {
        let len = rng.below(64);
        return rng.bytes(len);
    }
    let mut text = String::new();
    for _ in 0..rng.below(16) {
        text.push_str(PIECES[rng.below(PIECES.len())]);
    }
    text.into_bytes()
}

/// Throw random input at every wire entry point; `live` is a live instance of some module (random calls may
/// reach it). Any `Err` is fine as long as its code fits the input; returns how many entry-point calls ran.
pub fn wire_inputs(rt: &Runtime, rng: &mut Rng, live: Option<u64>, rounds: usize) -> Result<usize, String> {
    let mut calls = 0;
    for _ in 0..rounds {
        let handle = match (live, rng.below(2)) {
            (Some(h), 0) => h as f64,
            _ => number(rng),
        };
        let text = json(rng);
        let len = rng.below(12);
        let name = String::from_utf8_lossy(&rng.bytes(len)).into_owned();
        let len = rng.below(96);
        let mut frame = rng.bytes(len);
        let nargs = (rng.next() % 8) as u32;
        let mut buf = vec![0u8; rng.below(64)];

        let _ = wire::runtime_config(&text);
        let _ = wire::instance_options(&text, &[]);
        if let Err(e) = wire::instance_handle(number(rng)) {
            expect(&e, &[ErrorCode::InvalidInstanceHandle])?;
        }
        if let Err(e) = wire::module_handle(number(rng)) {
            expect(&e, &[ErrorCode::InvalidModuleHandle])?;
        }
        let _ = wire::instantiate(rt, number(rng), &text, &[]).map(|id| rt.drop_instance(ext_wasm::InstanceId(id)));
        let _ = wire::call_frame(rt, handle, &name, &mut frame, nargs);
        let _ = wire::func(rt, handle, &name).map(|i| wire::call_func(rt, handle, i, &mut frame, nargs));
        let _ = wire::call_func(rt, handle, rng.next() as u32, &mut frame, nargs);
        let _ = wire::memory_read(rt, handle, number(rng), &mut buf);
        let _ = wire::memory_size(rt, handle);
        let _ = wire::global_get(rt, handle, &name, &mut frame);
        let _ = wire::global_set(rt, handle, &name, &frame);
        let _ = wire::output(rt, handle, rng.next() as u32);
        let _ = wire::instance_exports(rt, handle);
        let _ = wire::module_exports(rt, number(rng));
        let _ = wire::module_imports(rt, number(rng));
        let _ = wire::call_token(number(rng));
        let _ = wire::call_finish(rng.next(), &mut frame);
        let _ = wire::call_resume(rng.next(), &mut frame, nargs as i32 - 2, &name);
        if live.is_none() || rng.below(8) == 0 {
            // Writes and grows change the live instance; keep them rare so calls still get compared.
            let _ = wire::memory_write(rt, handle, number(rng), &buf);
            let _ = wire::memory_grow(rt, handle, number(rng));
        }
        calls += 20;
    }
    Ok(calls)
}

fn expect(e: &ext_wasm::Error, codes: &[ErrorCode]) -> Result<(), String> {
    if codes.contains(&e.code()) {
        Ok(())
    } else {
        Err(format!("expected one of {codes:?}, got {e}"))
    }
}

/// Configure the C ABI's process-wide runtime before its first use: no disk cache (the fuzzer must not fill
/// the user's cache with thousands of throwaway artifacts).
pub fn init_c_runtime() {
    let json = br#"{"noCache": true}"#;
    let mut out = vec![0u8; ext_wasm::ffi::OUT_HEADER];
    // SAFETY: both buffers are live for their lengths and distinct.
    let status = unsafe { ext_wasm::ffi::ext_wasm_init(json.as_ptr(), json.len(), out.as_mut_ptr(), out.len()) };
    assert_eq!(status, 0, "ext_wasm_init");
}

/// Random input to the C functions themselves (the process-wide runtime the C ABI serves): random handles,
/// names, frames, JSON, offsets, tokens and out-record lengths (too short included). Every status must be 0 or
/// an error code with its message blob, never a caught panic ("internal error"); every blob is taken, so none
/// is left behind. Returns how many C calls ran.
pub fn c_functions(rng: &mut Rng, bytes: &[u8], rounds: usize) -> Result<usize, String> {
    use ext_wasm::ffi::*;
    let mut calls = 0;
    let mut out = vec![0u8; OUT_HEADER + 64 * SLOT];
    // SAFETY (for every call below): each pointer is a live buffer of at least the length passed with it, and
    // the out record (`out`) never overlaps an input; null pointers come only with length 0.
    unsafe {
        let status = ext_wasm_compile(bytes.as_ptr(), bytes.len(), out.as_mut_ptr(), out.len());
        let module = answer(status, &out, out.len())?.map_or(-1.0, |a| a as f64);
        for _ in 0..rounds {
            let handle = if rng.below(3) == 0 { module } else { number(rng) };
            let text = json(rng);
            let len = rng.below(12);
            let name = rng.bytes(len);
            let out_len = [0, 8, OUT_HEADER, out.len()][rng.below(4)];
            let (o, n) = (out.as_mut_ptr(), out_len);
            let nargs = (rng.next() % 8) as u32;
            for b in out.iter_mut().take(16 * SLOT) {
                *b = rng.next() as u8;
            }
            let status = ext_wasm_instantiate(handle, text.as_ptr(), text.len(), std::ptr::null(), 0, o, n);
            if let Some(instance) = answer(status, &out, n)? {
                answer(ext_wasm_instance_drop(instance as f64, o, out.len()), &out, out.len())?;
            }
            let mut dst = vec![0u8; rng.below(64)];
            // Each answer is checked before the next call overwrites the record.
            macro_rules! check {
                ($call:expr) => {
                    answer($call, &out, n)?
                };
            }
            check!(ext_wasm_call(handle, name.as_ptr(), name.len(), o, n, nargs));
            check!(ext_wasm_func(handle, name.as_ptr(), name.len(), o, n));
            check!(ext_wasm_call_func(handle, rng.next() as u32, o, n, nargs));
            check!(ext_wasm_call_start(
                handle,
                name.as_ptr(),
                name.len(),
                o,
                n,
                nargs,
                rng.next() as u8
            ));
            check!(ext_wasm_call_finish(number(rng), o, n));
            check!(ext_wasm_call_resume(
                number(rng),
                o,
                n,
                nargs as i32 - 2,
                name.as_ptr(),
                name.len()
            ));
            check!(ext_wasm_global(
                handle,
                name.as_ptr(),
                name.len(),
                o,
                n,
                rng.next() as u8 & 1
            ));
            check!(ext_wasm_memory_read(
                handle,
                number(rng),
                dst.as_mut_ptr(),
                dst.len(),
                o,
                n
            ));
            check!(ext_wasm_memory_write(
                handle,
                number(rng),
                dst.as_ptr(),
                dst.len(),
                o,
                n
            ));
            check!(ext_wasm_memory_size(handle, o, n));
            check!(ext_wasm_memory_grow(handle, number(rng), o, n));
            check!(ext_wasm_exit_code(handle, o, n));
            check!(ext_wasm_run_command(handle, o, n));
            // Successful answers that are blobs (JSON, output): take them so none is left parked.
            macro_rules! check_blob {
                ($call:expr) => {
                    if answer($call, &out, n)?.is_some() {
                        take(&out, 0)?;
                    }
                };
            }
            check_blob!(ext_wasm_output(handle, rng.next() as u32, o, n));
            check_blob!(ext_wasm_instance_exports(handle, o, n));
            check_blob!(ext_wasm_module_exports(handle, o, n));
            check_blob!(ext_wasm_module_imports(handle, o, n));
            let mut blob = vec![0u8; rng.below(16)];
            let status = ext_wasm_blob_take(rng.next() % 1000, blob.as_mut_ptr(), blob.len());
            if status != 0 && !(5000..=5013).contains(&status) {
                return Err(format!("ext_wasm_blob_take gave status {status}"));
            }
            calls += 20;
        }
        if module >= 0.0 {
            answer(
                ext_wasm_module_drop(module, out.as_mut_ptr(), out.len()),
                &out,
                out.len(),
            )?;
        }
    }
    Ok(calls)
}

/// A C function's status: `Ok(Some(a))` on success (when the record had room), `Ok(None)` for a clean error
/// (its message taken), `Err` for anything else.
fn answer(status: i32, out: &[u8], out_len: usize) -> Result<Option<u64>, String> {
    if status == 0 {
        return Ok((out_len >= ext_wasm::ffi::OUT_HEADER).then(|| u64::from_le_bytes(out[..8].try_into().unwrap())));
    }
    if !(5000..=5013).contains(&status) {
        return Err(format!("status {status} is not an error code"));
    }
    if out_len >= ext_wasm::ffi::OUT_HEADER {
        let message = take(out, 16)?;
        if message.contains("internal error") {
            return Err(format!("a C function panicked: {message}"));
        }
    }
    Ok(None)
}

/// Take the blob whose id and length are at `at` and `at + 8` of the record.
fn take(out: &[u8], at: usize) -> Result<String, String> {
    let id = u64::from_le_bytes(out[at..at + 8].try_into().unwrap());
    let len = u64::from_le_bytes(out[at + 8..at + 16].try_into().unwrap()) as usize;
    let mut bytes = vec![0u8; len];
    // SAFETY: `bytes` is a live buffer of exactly `len` bytes.
    let status = unsafe { ext_wasm::ffi::ext_wasm_blob_take(id, bytes.as_mut_ptr(), len) };
    if status != 0 {
        return Err(format!("blob {id} of {len} bytes could not be taken: status {status}"));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
