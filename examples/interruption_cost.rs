//! Fuel and epoch slowdown on real kernels, robust to a noisy machine: the three variants of each kernel run
//! interleaved, 40 times, and the minimum of each is compared. `cargo run --release --example interruption_cost`
//! (from the repository root). "plain" is `preemptible: false` (no checks); "epoch" is what instances created
//! with default options run (epoch checks, so `await call` can suspend them); "fuel" is fuel metering alone.

use ext_wasm::*;
use std::time::{Duration, Instant};
fn main() {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    let rt = Runtime::new(config);
    let m = rt.compile_file("fixtures/plugins/checksum.wasm").unwrap();
    let variants = [
        (
            "plain",
            InstanceOptions {
                preemptible: Some(false),
                ..Default::default()
            },
        ),
        (
            "fuel",
            InstanceOptions {
                call_fuel: Some(u64::MAX / 4),
                preemptible: Some(false),
                ..Default::default()
            },
        ),
        ("epoch", InstanceOptions::default()),
    ];
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|k| (k.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let mut insts = vec![];
    for (name, o) in &variants {
        let i = rt.instantiate(m, o).unwrap();
        let Value::I32(ptr) = rt.call(i, "buffer", &[]).unwrap()[0] else {
            panic!()
        };
        rt.write_memory(i, None, ptr as u64, &data).unwrap();
        insts.push((name, i, ptr));
    }
    for kernel in ["crc32", "adler32", "fnv1a64"] {
        let mut best = [Duration::MAX; 3];
        for _ in 0..40 {
            for (k, (_, i, ptr)) in insts.iter().enumerate() {
                let t = Instant::now();
                rt.call(*i, kernel, &[Value::I32(*ptr), Value::I32(1 << 20)]).unwrap();
                best[k] = best[k].min(t.elapsed());
            }
        }
        println!(
            "{kernel}: plain {:?}  fuel {:?} ({:.2}x)  epoch {:?} ({:.2}x)",
            best[0],
            best[1],
            best[1].as_secs_f64() / best[0].as_secs_f64(),
            best[2],
            best[2].as_secs_f64() / best[0].as_secs_f64()
        );
    }
}
