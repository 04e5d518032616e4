//! Soak: does anything grow that should not? Three runs through the Rust API, printing resident memory and open
//! file descriptors as they go (numbers, not a pass/fail test; the README keeps the latest).
//!
//! 1. `--cycles N` (default 1,000,000) instantiate → call → drop cycles of a module with one Rust host import,
//!    sampled every N/10 cycles; growth is measured from the second sample (the first fifth of the cycles is
//!    the warm-up) to the last.
//! 2. `--live N` (default 10,000) instances alive at once, then all dropped: memory before, at the peak, after.
//! 3. `--host-calls N` (default 1,000,000) wasm → Rust host calls in one instance, sampled every N/10.
//!
//! ```sh
//! cargo run --release --example soak                # the defaults above
//! cargo run --release --example soak -- --cycles 100000 --live 1000 --host-calls 100000
//! ```

use std::time::Instant;

use ext_wasm::{HostCall, HostFunc, Imports, InstanceOptions, Runtime, RuntimeConfig, Value};

const PLUGIN: &str = r#"(module
  (import "host" "inc" (func $inc (param i32) (result i32)))
  (memory 1)
  (func (export "add") (param i32 i32) (result i32) (i32.add (call $inc (local.get 0)) (local.get 1)))
  (func (export "spin") (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $more
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (call $inc (local.get $acc)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $more)))
    (local.get $acc)))"#;

/// Resident set size in MiB, from /proc/self/statm.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1 << 20) as f64
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn options() -> InstanceOptions {
    let mut imports = Imports::new();
    imports.define(
        "host".into(),
        "inc".into(),
        HostFunc::wrap(|_: &mut HostCall, x: i32| Ok(x + 1)),
    );
    InstanceOptions {
        imports,
        ..Default::default()
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn growth(first: f64, last: f64) -> String {
    format!("{:+.1}%", (last - first) / first * 100.0)
}

fn churn(rt: &Runtime, cycles: u64) {
    let module = rt.compile(PLUGIN.as_bytes()).expect("the plugin compiles");
    let options = options();
    let every = (cycles / 10).max(1);
    println!("churn: instantiate → call → drop, {cycles} cycles");
    println!("{:>10} {:>10} {:>6} {:>10}", "cycles", "RSS MiB", "fds", "µs/cycle");
    let (mut first, mut last) = (None, 0.0);
    let mut t = Instant::now();
    for n in 1..=cycles {
        let i = rt.instantiate(module, &options).expect("instantiate");
        let out = rt.call(i, "add", &[Value::I32(n as i32), Value::I32(1)]).expect("call");
        assert_eq!(out, [Value::I32(n as i32 + 2)]);
        rt.drop_instance(i).expect("drop");
        if n % every == 0 {
            let rss = rss_mib();
            let per = t.elapsed().as_secs_f64() * 1e6 / every as f64;
            println!("{n:>10} {rss:>10.1} {:>6} {per:>10.2}", open_fds());
            if n == 2 * every {
                first = Some(rss); // warm-up: the first fifth of the cycles
            }
            last = rss;
            t = Instant::now();
        }
    }
    println!(
        "churn: RSS growth after warm-up {}\n",
        growth(first.unwrap_or(last), last)
    );
}

fn live(live: u64) {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    config.pool.total_instances = live as u32 + 10;
    // Small slots: 10,000 × the default 4 GiB reservation would not fit in the address space.
    config.pool.memory_reservation = 1 << 20;
    config.pool.max_memory_size = 1 << 20;
    // Thousands alive at once: freed slots keep resident only what their instance wrote.
    config.pool.scan_dirty_pages = Some(true);
    let rt = Runtime::new(config);
    let module = rt.compile(PLUGIN.as_bytes()).expect("the plugin compiles");
    let options = options();
    let start = rss_mib();
    println!("live: {live} instances at once, made, called, then all dropped; three rounds");
    for round in 1..=3 {
        let t = Instant::now();
        let ids: Vec<_> = (0..live)
            .map(|_| rt.instantiate(module, &options).expect("instantiate"))
            .collect();
        for &i in &ids {
            rt.call(i, "add", &[Value::I32(1), Value::I32(1)]).expect("call");
        }
        let peak = rss_mib();
        let made = t.elapsed();
        for i in ids {
            rt.drop_instance(i).expect("drop");
        }
        let after = rss_mib();
        // What the allocator keeps for reuse rather than leaks: give free heap pages back and look again.
        // SAFETY: malloc_trim has no preconditions; it only releases free memory.
        unsafe { libc::malloc_trim(0) };
        let trimmed = rss_mib();
        println!(
            "  round {round}: made and called in {:.0} ms; RSS {start:.1} MiB at the start, {peak:.1} at the peak \
             ({:.1} KiB an instance), {after:.1} after the drops, {trimmed:.1} once the allocator trims its free \
             pages ({} from the start); fds {}",
            made.as_secs_f64() * 1e3,
            (peak - start) * 1024.0 / live as f64,
            growth(start, trimmed),
            open_fds()
        );
    }
    println!();
}

fn host_calls(rt: &Runtime, calls: u64) {
    let module = rt.compile(PLUGIN.as_bytes()).expect("the plugin compiles");
    let i = rt.instantiate(module, &options()).expect("instantiate");
    let every = (calls / 10).max(1);
    println!("host calls: wasm → Rust, {calls} in one instance");
    println!("{:>10} {:>10} {:>6} {:>10}", "calls", "RSS MiB", "fds", "ns/call");
    let (mut first, mut last) = (None, 0.0);
    for n in 1..=calls / every {
        let t = Instant::now();
        let out = rt.call(i, "spin", &[Value::I32(every as i32)]).expect("call");
        assert_eq!(out, [Value::I32(every as i32)]);
        let per = t.elapsed().as_secs_f64() * 1e9 / every as f64;
        let rss = rss_mib();
        println!("{:>10} {rss:>10.1} {:>6} {per:>10.1}", n * every, open_fds());
        first.get_or_insert(rss);
        last = rss;
    }
    println!("host calls: RSS growth {}", growth(first.unwrap_or(last), last));
}

fn main() {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    let rt = Runtime::new(config);
    churn(&rt, arg("--cycles", 1_000_000));
    live(arg("--live", 10_000));
    host_calls(&rt, arg("--host-calls", 1_000_000));
}
