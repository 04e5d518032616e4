//! Churn throughput (instantiate + call + drop) on 1 and 2 threads sharing one runtime.

use criterion::{criterion_group, Criterion, Throughput};

use super::*;

const PER_THREAD: u64 = 1000;

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let mut g = c.benchmark_group("threads");
    for threads in [1u64, 2] {
        g.throughput(Throughput::Elements(threads * PER_THREAD));
        g.bench_function(format!("churn/{threads}"), |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        s.spawn(|| {
                            let mut out = Vec::with_capacity(1);
                            for _ in 0..PER_THREAD {
                                churn_once(&rt, m, &Default::default(), &mut out);
                            }
                        });
                    }
                })
            })
        });
    }
    g.finish();
}

criterion_group!(group, bench);
