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
