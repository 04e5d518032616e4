//! Cache hits at any size: `compile_file` of a file the cache remembers, whose artifact is stamped, in a fresh
//! runtime each time (no in-process copy) vs wasmtime's own `Module::deserialize_file` of the same artifact (the
//! floor: mmap, no hashing), for generated modules whose artifacts are about 0.1, 2 and 20 MB, and 100 MB with
//! `EXT_WASM_BENCH_HUGE=1` (about 20 s to compile it first); the same hit on a runtime that loaded before (warm
//! engine, module dropped each time); the first load from an artifact bundle into an empty cache (hash
//! check, copy into the cache with fsync, map); and the floor again on an engine configured as ours (pooled).

use criterion::{criterion_group, BatchSize, Criterion};
use ext_wasm::{Runtime, RuntimeConfig};
use wasm_encoder::{
    CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction, TypeSection, ValType,
};

/// A module of `funcs` functions of 1,000 straight-line operations each: about 15.7 KB of code per function.
fn sized_module(funcs: u32) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    let (mut functions, mut exports, mut code) = (FunctionSection::new(), ExportSection::new(), CodeSection::new());
    for f in 0..funcs {
        functions.function(0);
        exports.export(&format!("f{f}"), ExportKind::Func, f);
        let mut body = Function::new([]);
        body.instruction(&Instruction::LocalGet(0));
        for k in 0..1000i32 {
            body.instruction(&Instruction::I32Const(k.wrapping_mul(7) + f as i32))
                .instruction(&Instruction::I32Add)
                .instruction(&Instruction::I32Const(k.wrapping_mul(13) + 1))
                .instruction(&Instruction::I32Xor);
        }
        body.instruction(&Instruction::End);
        code.function(&body);
    }
    let mut module = wasm_encoder::Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&exports)
        .section(&code);
    module.finish()
}

fn cached(dir: &std::path::Path) -> Runtime {
    let mut config = RuntimeConfig::default();
    config.cache.dir = Some(dir.to_path_buf());
    // Hits on Cranelift artifacts, the ones a warm start maps.
    config.tiering = ext_wasm::Tiering::Cranelift;
    Runtime::new(config)
}

fn bench(c: &mut Criterion) {
    let mut sizes = vec![("0.1MB", 7), ("2MB", 130), ("20MB", 1300)];
    if std::env::var_os("EXT_WASM_BENCH_HUGE").is_some() {
        sizes.push(("100MB", 6400));
    }
    let mut g = c.benchmark_group("cache_hit");
    g.sample_size(10);
    for (name, funcs) in sizes {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("plugin.wasm");
        std::fs::write(&wasm, sized_module(funcs)).unwrap();
        let cache = dir.path().join("cache");
        cached(&cache).compile_file(&wasm).unwrap();
        // Past the settle time, one more load remembers the file and stamps the artifact.
        std::thread::sleep(ext_wasm::STAMP_SETTLE + std::time::Duration::from_millis(100));
        cached(&cache).compile_file(&wasm).unwrap();
        let artifact = walk(&cache)
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .unwrap();
        let sidecar = std::fs::metadata(artifact.with_extension("mac")).unwrap().len();
        assert_eq!(sidecar, 64, "the artifact is stamped");
        let bytes = std::fs::metadata(&artifact).unwrap().len();
        eprintln!("cache_hit/{name}: artifact {:.2} MB", bytes as f64 / 1e6);
        g.bench_function(format!("{name}/ext_wasm_compile_file"), |b| {
            b.iter_batched(
                || {
                    let rt = cached(&cache);
                    rt.is_pooled().unwrap();
                    rt
                },
                |rt| {
                    rt.compile_file(&wasm).unwrap();
                    rt
                },
                BatchSize::PerIteration,
            )
        });
        // The same hit on a runtime that already loaded something (an app's second plugin): the engine's first-use
        // costs (compatibility checks, cold caches after building the pool) are paid already. The module is
        // dropped between loads, untimed (as the floors' modules are).
        let warm = cached(&cache);
        let first = warm.compile_file(&wasm).unwrap();
        warm.drop_module(first).unwrap();
        g.bench_function(format!("{name}/ext_wasm_compile_file_warm_runtime"), |b| {
            b.iter_custom(|iters| {
                timed_loads(
                    iters,
                    || warm.compile_file(&wasm).unwrap(),
                    |m| warm.drop_module(m).unwrap(),
                )
            })
        });
        // First launch from a bundle: a fresh cache each time, so the artifact is hash-checked, copied into the
        // cache (written and fsynced) and mapped from there.
        let bundle = dir.path().join("app.wasmbundle");
        let wasm_bytes = std::fs::read(&wasm).unwrap();
        cached(&cache)
            .write_bundle(&[&wasm_bytes], &[ext_wasm::Interruption::DEFAULT], &bundle)
            .unwrap();
        g.bench_function(format!("{name}/ext_wasm_bundle_first_load"), |b| {
            b.iter_batched(
                || {
                    let fresh = tempfile::tempdir().unwrap();
                    let mut config = RuntimeConfig::default();
                    config.cache.dir = Some(fresh.path().to_path_buf());
                    config.bundles = vec![ext_wasm::BundleSource {
                        path: bundle.clone(),
                        manifest: None,
                    }];
                    let rt = Runtime::new(config);
                    rt.is_pooled().unwrap();
                    (rt, fresh)
                },
                |(rt, fresh)| {
                    assert_eq!(
                        rt.compile_file_report(&wasm).unwrap().origin,
                        ext_wasm::LoadOrigin::Bundle
                    );
                    (rt, fresh)
                },
                BatchSize::PerIteration,
            )
        });
        // The floor: the same module serialized by a default engine, mapped by wasmtime with no checks, by a
        // fresh engine each time as in a process start (ext_wasm's side gets a fresh runtime, so a fresh engine,
        // too: both pay the engine's first-use checks, about 3 µs).
        let engine = wasmtime::Engine::default();
        let raw = dir.path().join("raw.cwasm");
        let module = wasmtime::Module::from_file(&engine, &wasm).unwrap();
        std::fs::write(&raw, module.serialize().unwrap()).unwrap();
        g.bench_function(format!("{name}/raw_deserialize_file"), |b| {
            b.iter_batched(
                wasmtime::Engine::default,
                // SAFETY: the file was serialized by an engine of this configuration just above and is not
                // modified.
                |engine| unsafe { wasmtime::Module::deserialize_file(&engine, &raw) }.unwrap(),
                BatchSize::PerIteration,
            )
        });
        // The same floor on an engine configured as ext_wasm's default one (its instance pool, with a fiber stack
        // per slot, and epoch checks), built fresh each time: building the pool maps and protects a thousand
        // stacks, and the first load after it pays for that in cold caches, in raw Wasmtime as in ours.
        let same = dir.path().join("raw_same_config.cwasm");
        let module = wasmtime::Module::from_file(&super::raw_engine_like_ext(), &wasm).unwrap();
        std::fs::write(&same, module.serialize().unwrap()).unwrap();
        g.bench_function(format!("{name}/raw_deserialize_file_same_config"), |b| {
            b.iter_batched(
                super::raw_engine_like_ext,
                // SAFETY: the file was serialized by an engine of this configuration just above and is not
                // modified.
                |engine| {
                    let module = unsafe { wasmtime::Module::deserialize_file(&engine, &same) }.unwrap();
                    (engine, module)
                },
                BatchSize::PerIteration,
            )
        });
        // ...and on one such engine that loaded before, as the warm-runtime row above (its module dropped between
        // loads, untimed in both).
        let engine = super::raw_engine_like_ext();
        g.bench_function(format!("{name}/raw_deserialize_file_same_config_warm_engine"), |b| {
            b.iter_custom(|iters| {
                timed_loads(
                    iters,
                    // SAFETY: as above: serialized by an engine of this configuration, not modified since.
                    || unsafe { wasmtime::Module::deserialize_file(&engine, &same) }.unwrap(),
                    drop,
                )
            })
        });
    }
    g.finish();
}

/// Time `iters` calls of `load`, each result handed to `unload` outside the timed part.
fn timed_loads<T>(iters: u64, mut load: impl FnMut() -> T, mut unload: impl FnMut(T)) -> std::time::Duration {
    let mut total = std::time::Duration::ZERO;
    for _ in 0..iters {
        let start = std::time::Instant::now();
        let loaded = load();
        total += start.elapsed();
        unload(loaded);
    }
    total
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()))
        } else {
            out.push(e.path())
        }
    }
    out
}

criterion_group!(group, bench);
