//! Getting code: cold compile (Cranelift, and Winch: the baseline tier) vs artifact-cache hit (mmap + MAC +
//! deserialize) vs in-process dedup, for a tiny module, a 3000-function module and a 1 MB C program; raw
//! `Module::deserialize_file` is the floor.

use criterion::{criterion_group, BatchSize, Criterion};
use ext_wasm::{Runtime, RuntimeConfig, Tiering};

use super::*;

fn cached(dir: &Path) -> Runtime {
    let mut config = RuntimeConfig::default();
    config.cache.dir = Some(dir.to_path_buf());
    config.tiering = Tiering::Cranelift;
    Runtime::new(config)
}

fn bench(c: &mut Criterion) {
    let inputs = [
        ("small", wat::parse_str(ADD).unwrap()),
        ("3000fn", many_functions(3000)),
        ("big_c", std::fs::read(fixture("bench/big.wasm")).unwrap()),
    ];
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    for (name, bytes) in &inputs {
        for (tier, tiering) in [("cold", Tiering::Cranelift), ("cold_winch", Tiering::Winch)] {
            let uncached = tiered(tiering);
            uncached.is_pooled().unwrap();
            g.bench_function(format!("{name}/{tier}"), |b| {
                b.iter_batched(
                    || (),
                    |()| {
                        let m = uncached.compile(bytes).unwrap();
                        uncached.drop_module(m).unwrap()
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        let dir = tempfile::tempdir().unwrap();
        cached(dir.path()).compile(bytes).unwrap();
        // A fresh runtime per iteration has no in-process copy: every load is a disk-cache hit.
        g.bench_function(format!("{name}/cache_hit"), |b| {
            b.iter_batched(
                || {
                    let rt = cached(dir.path());
                    rt.is_pooled().unwrap();
                    rt
                },
                |rt| {
                    rt.compile(bytes).unwrap();
                    rt
                },
                BatchSize::PerIteration,
            )
        });
        let rt = runtime();
        let keep = rt.compile(bytes).unwrap();
        g.bench_function(format!("{name}/dedup"), |b| {
            b.iter(|| {
                let m = rt.compile(bytes).unwrap();
                rt.drop_module(m).unwrap()
            })
        });
        let _ = keep;
        // Floor: wasmtime mapping a serialized module, no hashing or MAC.
        let engine = wasmtime::Engine::default();
        let file = dir.path().join(format!("{name}.cwasm"));
        std::fs::write(
            &file,
            wasmtime::Module::new(&engine, bytes).unwrap().serialize().unwrap(),
        )
        .unwrap();
        g.bench_function(format!("{name}/raw_deserialize_file"), |b| {
            // SAFETY: the file was serialized by this engine just above and is not modified.
            b.iter(|| unsafe { wasmtime::Module::deserialize_file(&engine, &file) }.unwrap())
        });
    }
    g.finish();
}

criterion_group!(group, bench);
