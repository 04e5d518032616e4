//! Raw Wasmtime, no ext_wasm: the floor the comparison harness (`bench/compare/`, `scripts/compare.sh`) measures
//! ext_wasm's start-up and load path against. Every mode uses a default `wasmtime::Engine` (on-demand allocation,
//! default code generation), so `precompile` and `run` agree on the artifact format.
//!
//! ```text
//! raw_start wat2wasm IN.wat OUT.wasm              WAT text → wasm binary (the `wat` crate; there is no wat2wasm here)
//! raw_start precompile IN.wasm OUT.cwasm          Module::new + serialize (setup, not timed)
//! raw_start run IN.cwasm FUNC [ARGS...]           deserialize_file + instantiate + call FUNC, results one per line
//!                                                 (the whole-process floor; WASI preview1 imports get an empty ctx)
//! raw_start run-wasi IN.cwasm [ARGS...]         deserialize_file + instantiate + `_start` with ARGS and inherited
//!                                                 stdio; exits with the program's status (a real program's floor,
//!                                                 as `wasmtime run --allow-precompiled`)
//! raw_start load-bench IN.cwasm N                 N × Module::deserialize_file on one warm engine → JSON samples (µs)
//! raw_start ext-load-bench IN.wasm CACHE_DIR N    N × ext_wasm cache hit, a fresh Runtime per iteration whose engine
//!                                                 is built (is_pooled) before the clock starts → JSON samples (µs)
//! raw_start tier-bench IN.wasm FUNC ARG N          steady state: N × FUNC(i32 ARG) on Winch code, on code after the
//!                                                 tier-up (policy auto) and on Cranelift-only code → JSON samples (µs)
//! raw_start churn-bench IN.wasm ROUNDS N          ROUNDS × (N × new store + instantiate + add(1, 2) + drop) with
//!                                                 ext_wasm's own pool and epoch-checked code → JSON samples (µs per
//!                                                 iteration, one per round): the floor of part A's churn row
//! ```
//!
//! Build: `cargo build --release --example raw_start` → `target/release/examples/raw_start`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use wasmtime::{Engine, Linker, Module, Store, Val, ValType};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::WasiCtxBuilder;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raw_start: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["wat2wasm", input, output] => {
            let wasm = wat::parse_file(input).with_context(|| format!("parsing {input}"))?;
            std::fs::write(output, wasm).with_context(|| format!("writing {output}"))?;
            Ok(())
        }
        ["precompile", input, output] => {
            let engine = Engine::default();
            let module = Module::from_file(&engine, input)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("compiling {input}"))?;
            std::fs::write(output, module.serialize()?).with_context(|| format!("writing {output}"))?;
            Ok(())
        }
        ["run-wasi", cwasm, rest @ ..] => run_wasi(cwasm, rest),
        ["run", cwasm, func, rest @ ..] => run(cwasm, func, rest),
        ["load-bench", cwasm, n] => load_bench(cwasm, n.parse().context("N")?),
        ["ext-load-bench", wasm, dir, n] => ext_load_bench(wasm, dir, n.parse().context("N")?),
        ["tier-bench", wasm, func, arg, n] => {
            tier_bench(wasm, func, arg.parse().context("ARG")?, n.parse().context("N")?)
        }
        ["churn-bench", wasm, rounds, n] => {
            churn_bench(wasm, rounds.parse().context("ROUNDS")?, n.parse().context("N")?)
        }
        _ => bail!(
            "usage: raw_start wat2wasm IN.wat OUT.wasm | precompile IN.wasm OUT.cwasm | run IN.cwasm FUNC [ARGS...] \
             | run-wasi IN.cwasm [ARGS...] \
             | load-bench IN.cwasm N | ext-load-bench IN.wasm CACHE_DIR N | tier-bench IN.wasm FUNC ARG N \
             | churn-bench IN.wasm ROUNDS N"
        ),
    }
}

/// Load a precompiled module, instantiate it, call one export, print its results.
fn run(cwasm: &str, func: &str, args: &[&str]) -> Result<()> {
    let engine = Engine::default();
    // SAFETY: the file was written by `raw_start precompile` (same wasmtime, default config) and is not modified
    // while mapped; this is the trusted-input floor ext_wasm's MAC check is measured against.
    let module = unsafe { Module::deserialize_file(&engine, cwasm) }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("loading {cwasm}"))?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    if module.imports().any(|i| i.module() == "wasi_snapshot_preview1") {
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
    }
    let mut store = Store::new(&engine, WasiCtxBuilder::new().build_p1());
    let instance = linker.instantiate(&mut store, &module)?;
    let f = instance
        .get_func(&mut store, func)
        .with_context(|| format!("no function export `{func}`"))?;
    let ty = f.ty(&store);
    if ty.params().len() != args.len() {
        bail!("`{func}` takes {} argument(s), got {}", ty.params().len(), args.len());
    }
    let params = ty
        .params()
        .zip(args)
        .map(|(t, s)| parse(&t, s))
        .collect::<Result<Vec<_>>>()?;
    let mut results = vec![Val::I32(0); ty.results().len()];
    f.call(&mut store, &params, &mut results)?;
    for r in results {
        match r {
            Val::I32(v) => println!("{v}"),
            Val::I64(v) => println!("{v}"),
            Val::F32(b) => println!("{}", f32::from_bits(b)),
            Val::F64(b) => println!("{}", f64::from_bits(b)),
            other => println!("{other:?}"),
        }
    }
    Ok(())
}

/// Run a precompiled WASI command as `wasmtime run --allow-precompiled` does, and exit with its status.
fn run_wasi(cwasm: &str, args: &[&str]) -> Result<()> {
    let engine = Engine::default();
    // SAFETY: as in `run`.
    let module = unsafe { Module::deserialize_file(&engine, cwasm) }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("loading {cwasm}"))?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
    let name = Path::new(cwasm).with_extension("wasm");
    let name = name
        .file_name()
        .map_or("program".into(), |n| n.to_string_lossy().into_owned());
    let ctx = WasiCtxBuilder::new()
        .inherit_stdio()
        .args(
            &std::iter::once(name.as_str())
                .chain(args.iter().copied())
                .collect::<Vec<_>>(),
        )
        .build_p1();
    let mut store = Store::new(&engine, ctx);
    let instance = linker.instantiate(&mut store, &module)?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
    match start.call(&mut store, ()) {
        Ok(()) => Ok(()),
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => std::process::exit(exit.0),
            None => Err(e.into()),
        },
    }
}

fn parse(ty: &ValType, s: &str) -> Result<Val> {
    Ok(match ty {
        // Unsigned spellings wrap to the bit pattern, as `ext-wasm run --invoke` accepts them.
        ValType::I32 => Val::I32(s.parse::<i32>().or_else(|_| s.parse::<u32>().map(|u| u as i32))?),
        ValType::I64 => Val::I64(s.parse::<i64>().or_else(|_| s.parse::<u64>().map(|u| u as i64))?),
        ValType::F32 => Val::F32(s.parse::<f32>()?.to_bits()),
        ValType::F64 => Val::F64(s.parse::<f64>()?.to_bits()),
        other => bail!("unsupported parameter type {other}"),
    })
}

fn print_samples(what: &str, samples: &[f64]) {
    let list: Vec<String> = samples.iter().map(|s| format!("{s:.3}")).collect();
    println!("{{\"what\":\"{what}\",\"samples_us\":[{}]}}", list.join(","));
}

/// The floor of instantiation churn: what ext_wasm's default engine does to instantiate, call and drop (its pool,
/// reservation and guard as `PoolConfig::configure` sets them, including how freed slots are reset;
/// epoch-checked code), with nothing of ext_wasm around it: a new `Store`, an `InstancePre` instantiated, a
/// `TypedFunc` called, the store dropped.
fn churn_bench(wasm: &str, rounds: usize, n: u32) -> Result<()> {
    let mut config = wasmtime::Config::new();
    ext_wasm::PoolConfig::default()
        .configure(&mut config)
        .epoch_interruption(true);
    let engine = Engine::new(&config)?;
    let module = Module::from_file(&engine, wasm)?;
    let pre = Linker::<()>::new(&engine).instantiate_pre(&module)?;
    let round = |n: u32| -> Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            let mut store = Store::new(&engine, ());
            store.set_epoch_deadline(u64::MAX / 2);
            let instance = pre.instantiate(&mut store)?;
            let add = instance.get_typed_func::<(i32, i32), i32>(&mut store, "add")?;
            anyhow::ensure!(add.call(&mut store, (1, 2))? == 3, "add(1, 2)");
        }
        Ok(t.elapsed().as_secs_f64() * 1e6 / f64::from(n))
    };
    round(n / 10 + 1)?; // warm-up: the pool's slots and the code's pages
    let samples: Vec<f64> = (0..rounds).map(|_| round(n)).collect::<Result<_>>()?;
    print_samples("raw_churn_same_pool", &samples);
    Ok(())
}

/// The floor of a warm load: `Module::deserialize_file` (open + mmap + header checks + code publish), no hash, no
/// MAC, on one engine built beforehand.
fn load_bench(cwasm: &str, n: usize) -> Result<()> {
    let engine = Engine::default();
    // SAFETY: as in `run`.
    drop(unsafe { Module::deserialize_file(&engine, cwasm) }?); // warm-up (page cache, engine code registry)
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        // SAFETY: as in `run`.
        let module = unsafe { Module::deserialize_file(&engine, cwasm) }?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        drop(module);
    }
    print_samples("raw_deserialize_file", &samples);
    Ok(())
}

/// ext_wasm's warm load: a fresh `Runtime` (empty in-process dedup map) whose engine and pool are built before
/// the clock starts, then `compile_file_report` (the remembered file's hash, the entry's stamp, deserialize_file),
/// and `compile_report` on bytes already in memory (blake3 of the bytes + stamp + deserialize_file), of an entry
/// published and stamped before the first sample, as on an app's next start. Every sample must be a cache hit.
fn ext_load_bench(wasm: &str, dir: &str, n: usize) -> Result<()> {
    use ext_wasm::{LoadOrigin, Runtime, RuntimeConfig};
    let runtime = || {
        let mut config = RuntimeConfig::default();
        config.cache.dir = Some(Path::new(dir).to_path_buf());
        // Cranelift artifacts, as a warm start maps them (and no tier-up thread competing with the clock).
        config.tiering = ext_wasm::Tiering::Cranelift;
        let rt = Runtime::new(config);
        rt.is_pooled().map(|_| rt)
    };
    let bytes = std::fs::read(wasm)?;
    runtime()?.compile_file(wasm)?; // make sure the entry exists (a miss here publishes it)
                                    // As on an app's next start: the entry was published a while ago, so the first hit verified it in full
                                    // and stamped it (an entry younger than `STAMP_SETTLE` is verified in full on every hit, never stamped).
    std::thread::sleep(ext_wasm::STAMP_SETTLE + std::time::Duration::from_millis(100));
    runtime()?.compile_file(wasm)?;
    let mut file_samples = Vec::with_capacity(n);
    let mut bytes_samples = Vec::with_capacity(n);
    for i in 0..n {
        let rt = runtime()?;
        let t = Instant::now();
        let report = rt.compile_file_report(wasm)?;
        file_samples.push(t.elapsed().as_secs_f64() * 1e6);
        if report.origin != LoadOrigin::CacheHit {
            bail!("iteration {i}: expected a cache hit, got {:?}", report.origin);
        }
        drop(rt);
        let rt = runtime()?;
        let t = Instant::now();
        let report = rt.compile_report(&bytes)?;
        bytes_samples.push(t.elapsed().as_secs_f64() * 1e6);
        if report.origin != LoadOrigin::CacheHit {
            bail!("iteration {i}: expected a cache hit, got {:?}", report.origin);
        }
    }
    print_samples("ext_cache_hit_file", &file_samples);
    print_samples("ext_cache_hit_bytes", &bytes_samples);
    Ok(())
}

/// Steady-state call time per tier: the same export called `n` times on an instance of Winch code, of the code a
/// tier-up published (policy `auto`, after waiting for it) and of Cranelift-only code, interleaved per sample.
fn tier_bench(wasm: &str, func: &str, arg: i32, n: usize) -> Result<()> {
    use ext_wasm::{InstanceOptions, Runtime, RuntimeConfig, Tier, Tiering, Value};
    let bytes = std::fs::read(wasm)?;
    let instance = |tiering: Tiering| -> Result<(Runtime, ext_wasm::InstanceId)> {
        let mut config = RuntimeConfig::default();
        config.cache.enabled = false;
        config.tiering = tiering;
        config.baseline_min_bytes = 0;
        let rt = Runtime::new(config);
        let module = rt.compile(&bytes)?;
        if tiering == Tiering::Auto && !rt.wait_for_tier_up(std::time::Duration::from_secs(600)) {
            bail!("tier-up did not finish");
        }
        let id = rt.instantiate(module, &InstanceOptions::default())?;
        Ok((rt, id))
    };
    let cases = [
        ("winch", instance(Tiering::Winch)?),
        ("tiered_up", instance(Tiering::Auto)?),
        ("cranelift_only", instance(Tiering::Cranelift)?),
    ];
    if cases[1].0 != "tiered_up" || cases[1].1 .0.instance_tier(cases[1].1 .1)? != Tier::Cranelift {
        bail!("the tiered-up instance does not run Cranelift code");
    }
    let mut samples = vec![Vec::with_capacity(n); cases.len()];
    let args = [Value::I32(arg)];
    for _ in 0..n {
        for (k, (_, (rt, id))) in cases.iter().enumerate() {
            let t = Instant::now();
            rt.call(*id, func, &args)?;
            samples[k].push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    for ((name, _), s) in cases.iter().zip(&samples) {
        print_samples(name, s);
    }
    Ok(())
}
