//! Linear-memory writes and reads of 64 B, 4 KiB and 1 MiB vs a plain `memcpy` of the same size.

use criterion::{criterion_group, Criterion, Throughput};

use super::*;

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let m = rt.compile(br#"(module (memory (export "memory") 32))"#).unwrap();
    let i = rt.instantiate(m, &Default::default()).unwrap();
    let mut g = c.benchmark_group("memory");
    for size in [64usize, 4096, 1 << 20] {
        g.throughput(Throughput::Bytes(size as u64));
        let src = vec![0xabu8; size];
        let mut dst = vec![0u8; size];
        g.bench_function(format!("write/{size}"), |b| {
            b.iter(|| rt.write_memory(i, None, 64, &src).unwrap())
        });
        g.bench_function(format!("read/{size}"), |b| {
            b.iter(|| rt.read_memory(i, None, 64, &mut dst).unwrap())
        });
        g.bench_function(format!("memcpy/{size}"), |b| {
            b.iter(|| dst.copy_from_slice(std::hint::black_box(&src)))
        });
    }
    g.finish();
}

criterion_group!(group, bench);
