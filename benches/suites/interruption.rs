//! The price of limits on realistic kernels: CRC-32, Adler-32 and FNV-1a over 1 MiB in C (checksum.wasm),
//! compiled plain, with fuel metering and with epoch checks. Report the ratios to `plain`.

use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use ext_wasm::{CallLimits, InstanceOptions, Value};

use super::*;

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let m = rt.compile_file(fixture("plugins/checksum.wasm")).unwrap();
    let variants = [
        ("plain", InstanceOptions::default()),
        (
            "fuel",
            InstanceOptions {
                call_fuel: Some(u64::MAX / 4),
                ..Default::default()
            },
        ),
        (
            "epoch",
            InstanceOptions {
                timeout: Some(Duration::from_secs(3600)),
                ..Default::default()
            },
        ),
    ];
    let mut g = c.benchmark_group("interruption");
    g.throughput(Throughput::Bytes(1 << 20));
    for (name, opts) in &variants {
        let i = rt.instantiate(m, opts).unwrap();
        let Value::I32(ptr) = rt.call(i, "buffer", &[]).unwrap()[0] else {
            unreachable!()
        };
        let data: Vec<u8> = (0..1u32 << 20)
            .map(|k| (k.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        rt.write_memory(i, None, ptr as u64, &data).unwrap();
        let args = [Value::I32(ptr), Value::I32(1 << 20)];
        let mut out = Vec::with_capacity(1);
        for kernel in ["crc32", "adler32", "fnv1a64"] {
            g.bench_function(format!("{kernel}_1MiB/{name}"), |b| {
                b.iter(|| {
                    out.clear();
                    rt.call_into(i, kernel, &args, CallLimits::default(), &mut out).unwrap();
                })
            });
        }
    }
    g.finish();
}

criterion_group!(group, bench);
