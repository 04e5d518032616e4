//! `ext-wasm demo`: the newcomer's tour. Loads the plugins in `fixtures/plugins/`, runs many short-lived
//! instances of each and prints cold-compile vs cache-hit load times, instances/s and calls/s. Run it twice:
//! the second run's first load comes from the artifact cache.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use std::sync::atomic::{AtomicBool, Ordering};

use ext_wasm::{
    CallLimits, Error, HostCall, HostFunc, Imports, InstanceId, InstanceOptions, LoadOrigin, OutputMode, Runtime,
    RuntimeConfig, Tiering, Value, WasiOptions,
};

use crate::CacheArgs;

#[derive(Args)]
pub struct DemoArgs {
    /// Directory of plugins.
    #[arg(long, default_value = "fixtures/plugins")]
    plugins: PathBuf,
    /// Short-lived instances per plugin (instantiate + call + drop).
    #[arg(long, default_value_t = 20_000)]
    instances: u32,
    /// Calls on one long-lived instance per plugin.
    #[arg(long, default_value_t = 200_000)]
    calls: u32,
    /// A big module for the tiering tour (first launch on Winch code, then Cranelift's); skipped if missing.
    #[arg(long, default_value = "fixtures/bench/big.wasm")]
    big: PathBuf,
}

/// A repeated call on a live instance, reusing one result vector.
type CallFn = fn(&Runtime, InstanceId, &mut Vec<Value>) -> Result<(), Error>;

/// How the demo exercises one plugin.
struct Plugin {
    file: &'static str,
    what: &'static str,
    /// Instances created per unit of work are divided by this (WASI programs do more per instance).
    churn_divisor: u32,
    options: fn() -> InstanceOptions,
    /// One unit of work on a fresh instance.
    work: fn(&Runtime, InstanceId) -> Result<(), Error>,
    /// The call repeated for calls/s (`None`: a command runs once per instance).
    call: Option<CallFn>,
}

const PLUGINS: &[Plugin] = &[
    Plugin {
        file: "checksum.wasm",
        what: "CRC-32 over 64 bytes of guest memory",
        churn_divisor: 1,
        options: InstanceOptions::default,
        work: |rt, i| checksum_call(rt, i, &mut Vec::new()),
        call: Some(checksum_call),
    },
    Plugin {
        file: "text.wasm",
        what: "uppercase 64 bytes written into guest memory",
        churn_divisor: 1,
        options: InstanceOptions::default,
        work: |rt, i| text_call(rt, i, &mut Vec::new()),
        call: Some(text_call),
    },
    Plugin {
        file: "wasi_tool.wasm",
        what: "WASI C program (zig): `echo hello`, stdout captured",
        churn_divisor: 4,
        options: || InstanceOptions {
            wasi: Some(WasiOptions {
                program_name: Some("wasi_tool".into()),
                args: vec!["echo".into(), "hello".into()],
                stdout: OutputMode::Capture,
                ..Default::default()
            }),
            ..Default::default()
        },
        work: |rt, i| {
            let code = rt.run_command(i)?;
            let out = rt.stdout(i)?;
            if code != 0 || out != b"hello\n" {
                return Err(Error::Call(format!("unexpected output {out:?} (exit {code})")));
            }
            Ok(())
        },
        call: None,
    },
    Plugin {
        file: "greeter.wasm",
        what: "AssemblyScript plugin (asc): greets through the host's `host.log` import",
        churn_divisor: 1,
        options: || InstanceOptions {
            imports: greeter_imports(),
            ..Default::default()
        },
        work: |rt, i| greet(rt, i, &mut Vec::new()),
        call: Some(greet),
    },
];

const INPUT: &[u8; 64] = b"The quick brown fox jumps over the lazy dog. ext_wasm demo 0123!";

/// Write `input` into the plugin's buffer and run `kernel(ptr, len)` over it.
fn buffer_kernel(rt: &Runtime, i: InstanceId, kernel: &str, input: &[u8], out: &mut Vec<Value>) -> Result<(), Error> {
    out.clear();
    rt.call_into(i, "buffer", &[], CallLimits::default(), out)?;
    let Some(Value::I32(ptr)) = out.first().copied() else {
        return Err(Error::Type("buffer() -> i32".into()));
    };
    rt.write_memory(i, None, ptr as u32 as u64, input)?;
    out.clear();
    let args = [Value::I32(ptr), Value::I32(input.len() as i32)];
    rt.call_into(i, kernel, &args, CallLimits::default(), out)
}

fn checksum_call(rt: &Runtime, i: InstanceId, out: &mut Vec<Value>) -> Result<(), Error> {
    buffer_kernel(rt, i, "crc32", INPUT, out)
}

fn text_call(rt: &Runtime, i: InstanceId, out: &mut Vec<Value>) -> Result<(), Error> {
    buffer_kernel(rt, i, "upper", INPUT, out)
}

/// The host side of greeter.wasm: `host.log` reads the plugin's UTF-8 text from its memory (and prints the
/// first line it sees, so the demo shows the plugin talking), `host.now`, and AssemblyScript's `env.abort`.
fn greeter_imports() -> Imports {
    static SHOWN: AtomicBool = AtomicBool::new(false);
    let log = HostFunc::wrap(|call: &mut HostCall, ptr: i32, len: i32| {
        let mut text = vec![0; len as u32 as usize];
        call.read_memory(ptr as u32 as u64, &mut text)?;
        if !SHOWN.swap(true, Ordering::Relaxed) {
            eprintln!(
                "  the plugin logs through its host: {:?}",
                String::from_utf8_lossy(&text)
            );
        }
        Ok(())
    });
    let now = HostFunc::wrap(|_: &mut HostCall| {
        Ok(std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3)
    });
    let abort = HostFunc::new(|_, _, _| Err(Error::Call("the plugin aborted".into())));
    Imports::new()
        .func("host", "log", log)
        .func("host", "now", now)
        .func("env", "abort", abort)
}

/// Write a name into greeter.wasm's buffer and have it greet (it logs through `host.log`).
fn greet(rt: &Runtime, i: InstanceId, out: &mut Vec<Value>) -> Result<(), Error> {
    buffer_kernel(rt, i, "greet", b"Forge", out)
}

struct Row {
    name: &'static str,
    kib: u64,
    first_load: (LoadOrigin, Duration),
    cold: Duration,
    cached: Option<Duration>,
    instances_per_s: f64,
    calls_per_s: Option<f64>,
}

pub fn demo(args: DemoArgs, cache: &CacheArgs) -> Result<ExitCode, Error> {
    let mut cache = cache.clone();
    if cache.cache_dir.is_none() && Path::new("cache/README.md").exists() {
        // Inside the repository: use its own cache root so runs are self-contained.
        cache.cache_dir = Some(PathBuf::from("cache"));
    }
    let runtime = Runtime::new(cache.config());
    let uncached = Runtime::new(
        CacheArgs {
            cache_dir: None,
            no_cache: true,
            bundles: Vec::new(),
            tier: cache.tier.clone(),
        }
        .config(),
    );
    let dir = runtime.cache_stats().dir;
    eprintln!(
        "ext-wasm demo: plugins from {}, cache {}",
        args.plugins.display(),
        dir.as_ref().map_or("off".into(), |d| d.display().to_string())
    );
    let mut rows = Vec::new();
    for plugin in PLUGINS {
        rows.push(measure(plugin, &args, &runtime, &uncached)?);
    }
    print_table(&rows);
    if args.big.exists() {
        tiering_tour(&args.big)?;
    }
    let s = runtime.cache_stats();
    println!(
        "\ncache: {} hits, {} misses, {} rejected, {} entries, {:.1} KiB on disk{}",
        s.hits,
        s.misses,
        s.rejected,
        s.entries,
        s.bytes_on_disk as f64 / 1024.0,
        if s.hits == 0 {
            "  (run `ext-wasm demo` again to see the warm start)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn measure(plugin: &Plugin, args: &DemoArgs, runtime: &Runtime, uncached: &Runtime) -> Result<Row, Error> {
    let path = args.plugins.join(plugin.file);
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::Io(format!(
            "cannot read {}: {e} (run from the repository root)",
            path.display()
        ))
    })?;
    eprintln!("• {} ({} KiB): {}", plugin.file, bytes.len() / 1024, plugin.what);

    // This process's first load: compiled on the first run ever, a cache hit afterwards.
    let t = Instant::now();
    let report = crate::progress::compiling(&path, || runtime.compile_report(&bytes))?;
    let first_load = (report.origin, t.elapsed());
    // Cold compile, measured on a runtime without a disk cache (engine already built).
    uncached.is_pooled()?;
    let t = Instant::now();
    let cold_id = crate::progress::compiling(&path, || uncached.compile(&bytes))?;
    let cold = t.elapsed();
    uncached.drop_module(cold_id)?;
    // A fresh runtime (as after a restart) loading the same bytes from the cache.
    let cached = if runtime.cache().is_some() {
        let fresh = Runtime::new(runtime.config().clone());
        // Engine and pool setup is a once-per-process cost, shown in the first-load column; time the load alone.
        fresh.is_pooled()?;
        let t = Instant::now();
        let r = fresh.compile_report(&bytes)?;
        (r.origin == LoadOrigin::CacheHit).then(|| t.elapsed())
    } else {
        None
    };

    let opts = (plugin.options)();
    let n = (args.instances / plugin.churn_divisor).max(1);
    let t = Instant::now();
    for k in 0..n {
        let i = runtime.instantiate(report.id, &opts)?;
        (plugin.work)(runtime, i)?;
        runtime.drop_instance(i)?;
        progress(k, n, "instances");
    }
    let instances_per_s = f64::from(n) / t.elapsed().as_secs_f64();

    let calls_per_s = match plugin.call {
        Some(call) => {
            let i = runtime.instantiate(report.id, &opts)?;
            let mut out = Vec::with_capacity(4);
            let t = Instant::now();
            for k in 0..args.calls {
                call(runtime, i, &mut out)?;
                progress(k, args.calls, "calls");
            }
            runtime.drop_instance(i)?;
            Some(f64::from(args.calls) / t.elapsed().as_secs_f64())
        }
        None => None,
    };
    runtime.drop_module(report.id)?;
    eprintln!();
    Ok(Row {
        name: plugin.file,
        kib: bytes.len() as u64 / 1024,
        first_load,
        cold,
        cached,
        instances_per_s,
        calls_per_s,
    })
}

/// A never-seen big module under each policy, on runtimes without a disk cache (so every run shows it): Winch
/// code at once, Cranelift's after the background tier-up, and Cranelift alone for comparison.
fn tiering_tour(path: &Path) -> Result<(), Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
    println!(
        "\ntiering: {} ({} KiB) never seen before",
        path.display(),
        bytes.len() / 1024
    );
    let fresh = |tiering| {
        let mut config = RuntimeConfig::default();
        config.cache.enabled = false;
        config.tiering = tiering;
        let rt = Runtime::new(config);
        rt.is_pooled().map(|_| rt)
    };
    let call = |rt: &Runtime, m| -> Result<Duration, Error> {
        let i = rt.instantiate(m, &InstanceOptions::default())?;
        let t = Instant::now();
        rt.call(i, "big_sum", &[Value::I32(7)])?;
        let took = t.elapsed();
        rt.drop_instance(i)?;
        Ok(took)
    };
    let rt = fresh(Tiering::Auto)?;
    let t = Instant::now();
    let report = crate::progress::compiling(path, || rt.compile_report(&bytes))?;
    let load = t.elapsed();
    let baseline_call = call(&rt, report.id)?;
    println!(
        "  first load: {} {} (runs at once), a call: {}",
        report.tier,
        ms(load),
        ms(baseline_call)
    );
    rt.wait_for_tier_up(Duration::from_secs(600));
    let stats = rt.tier_stats();
    let tiered_call = call(&rt, report.id)?;
    println!(
        "  tier-up: {} code ready {} ms after the load (background, one core); a new instance's call: {}",
        rt.module_tier(report.id)?,
        stats.last_ms.unwrap_or_default(),
        ms(tiered_call)
    );
    let cranelift = fresh(Tiering::Cranelift)?;
    let t = Instant::now();
    crate::progress::compiling(path, || cranelift.compile(&bytes))?;
    println!("  for comparison, Cranelift before the first call: {}", ms(t.elapsed()));
    Ok(())
}

fn progress(k: u32, n: u32, what: &str) {
    let step = (n / 10).max(1);
    if (k + 1).is_multiple_of(step) {
        eprint!("\r  {what}: {:>3}%", (u64::from(k + 1) * 100 / u64::from(n)));
        let _ = std::io::stderr().flush();
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<16} {:>6}  {:<24} {:>12} {:>12} {:>12} {:>14}",
        "plugin", "KiB", "first load (this run)", "cold compile", "cache hit", "instances/s", "calls/s"
    );
    for r in rows {
        let origin = match r.first_load.0 {
            LoadOrigin::Compiled => "compiled",
            LoadOrigin::CacheHit => "cache hit",
            LoadOrigin::Dedup => "in-process",
            LoadOrigin::Bundle => "bundle",
        };
        println!(
            "{:<16} {:>6}  {:<24} {:>12} {:>12} {:>12.0} {:>14}",
            r.name,
            r.kib,
            format!("{origin} {}", ms(r.first_load.1)),
            ms(r.cold),
            r.cached.map_or("-".into(), ms),
            r.instances_per_s,
            r.calls_per_s.map_or("-".into(), |c| format!("{c:.0}"))
        );
    }
}
