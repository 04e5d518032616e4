//! `ext-wasm run`: a WASI command (exit status passes through) or one `--invoke`d export.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use ext_wasm::{
    Error, ExportKind, HostFunc, Imports, InputMode, InstanceOptions, ModuleId, OutputMode, Preopen, Runtime, Tier,
    Tiering, Value, WasiOptions,
};

use crate::CacheArgs;

#[derive(Args)]
#[command(trailing_var_arg = true)]
pub struct RunArgs {
    /// The module: `.wasm` or `.wat`.
    module: PathBuf,
    /// Call this export instead of running `_start`; results print one per line.
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,
    /// Preopen a host directory, read-write (`HOST` or `HOST::GUEST`). Repeatable.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Preopen a host directory read-only. Repeatable.
    #[arg(long = "dir-ro", value_name = "HOST[::GUEST]")]
    dirs_ro: Vec<String>,
    /// Set a guest environment variable. Repeatable.
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Fuel budget (error 5011 when spent).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Wall-clock limit for the call (error 5012).
    #[arg(long, value_name = "N")]
    timeout_ms: Option<u64>,
    /// Cap on linear memory, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_memory: Option<usize>,
    /// Instantiate MODULE first and link its exports (functions, memories, tables, globals: shared, not
    /// copied) as imports from NAME (as `wasmtime run --preload`). Repeatable; a later preload may import from
    /// earlier ones. All of them share one store: the limits and WASI options apply to it.
    #[arg(long = "preload", value_name = "NAME=MODULE")]
    preloads: Vec<String>,
    /// Function imports nothing provides trap when called instead of failing instantiation (as wasmtime's
    /// `-W unknown-imports-trap`): runs a plugin's exports that never reach those imports.
    #[arg(long)]
    trap_unknown_imports: bool,
    /// Print cache hit/miss, the tier, and load / instantiate / call times on stderr.
    #[arg(long)]
    stats: bool,
    /// When the module ran Winch code (first run under `--tier auto`), wait after the program for Cranelift's
    /// code to be compiled and cached, so the next run starts with it. Without it, an unfinished tier-up is
    /// dropped at exit and resumed by the next run (which loads the cached Winch code meanwhile).
    #[arg(long)]
    wait_tier_up: bool,
    /// Arguments: for `--invoke`, values parsed by the export's parameter types; otherwise the guest's argv.
    #[arg(allow_hyphen_values = true, value_name = "ARGS")]
    args: Vec<String>,
}

fn preopen(spec: &str, read_only: bool) -> Preopen {
    let (host, guest) = match spec.split_once("::") {
        Some((h, g)) => (h, g.to_string()),
        None => (spec, spec.to_string()),
    };
    Preopen {
        host: PathBuf::from(host),
        guest,
        read_only,
    }
}

fn env_pair(spec: &str) -> Result<(String, String), Error> {
    spec.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| Error::Wasi(format!("--env expects K=V, got `{spec}`")))
}

/// Instance slots of `run`'s pool: the program, its `--preload`s and what they link.
const RUN_POOL_SLOTS: u32 = 16;

pub fn run(a: RunArgs, cache: &CacheArgs) -> Result<ExitCode, Error> {
    let mut config = cache.config();
    // One program and its `--preload`s: a pool of a few slots starts ~0.15 ms sooner than the default 1000-slot
    // one (one fiber-stack guard to mprotect instead of 1000, small slot tables), and its engine is the default's,
    // so the cache entries are the ones the library and `ext-wasm compile` use.
    config.pool.total_instances = RUN_POOL_SLOTS;
    config.pool.total_stacks = Some(1);
    // No slot is reused in one run: skip timing the two ways to reset one (~80 µs of a first launch).
    config.pool.scan_dirty_pages = Some(false);
    let runtime = Runtime::new(config);
    let t0 = Instant::now();
    let report = crate::progress::compiling(&a.module, || runtime.compile_file_report(&a.module))?;
    let load = t0.elapsed();

    let mut preopens: Vec<Preopen> = a.dirs.iter().map(|d| preopen(d, false)).collect();
    preopens.extend(a.dirs_ro.iter().map(|d| preopen(d, true)));
    let program_name = a.module.file_name().map(|n| n.to_string_lossy().into_owned());
    let wasi = WasiOptions {
        program_name,
        args: if a.invoke.is_some() { vec![] } else { a.args.clone() },
        env: a.env.iter().map(|e| env_pair(e)).collect::<Result<_, _>>()?,
        preopens,
        stdin: InputMode::Inherit,
        stdout: OutputMode::Inherit,
        stderr: OutputMode::Inherit,
    };
    let mut options = InstanceOptions {
        wasi: Some(wasi),
        fuel: a.fuel,
        call_fuel: None,
        timeout: a.timeout_ms.map(Duration::from_millis),
        max_memory_bytes: a.max_memory,
        // The code `ext-wasm compile` and the TypeScript API use, so one cache entry serves all three.
        preemptible: None,
        imports: Imports::new(),
    };
    let mut wasi_given = false;
    for spec in &a.preloads {
        preload(&runtime, spec, &mut options, &mut wasi_given)?;
    }
    if !a.preloads.is_empty() {
        options = joiner(&runtime, report.id, options, &mut wasi_given)?;
    }
    if a.trap_unknown_imports {
        trap_unknown(&runtime, report.id, &mut options.imports)?;
    }
    let t1 = Instant::now();
    let instance = runtime.instantiate(report.id, &options)?;
    let instantiate = t1.elapsed();

    let t2 = Instant::now();
    let outcome = match &a.invoke {
        Some(name) => invoke(&runtime, report.id, instance, name, &a.args).map(|()| 0),
        None => runtime.run_command(instance),
    };
    let call = t2.elapsed();
    let _ = std::io::stdout().flush();
    let tier_up = finish_tier_up(&runtime, &a, report.tier, load);
    if a.stats {
        let s = runtime.cache_stats();
        eprintln!(
            "stats: load {:?} ({}) {:.3} ms | instantiate {:.3} ms | call {:.3} ms | cache hits {} misses {} rejected {} write_errors {}",
            report.origin,
            report.tier,
            load.as_secs_f64() * 1e3,
            instantiate.as_secs_f64() * 1e3,
            call.as_secs_f64() * 1e3,
            s.hits,
            s.misses,
            s.rejected,
            s.write_errors
        );
        if let Some(why) = &s.disk_error {
            eprintln!("stats: disk cache: {why}");
        }
        if let Some(line) = tier_up {
            eprintln!("stats: {line}");
        }
    }
    let code = outcome?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// `--preload NAME=MODULE`: instantiate MODULE (the first with the run's limits and WASI options, the others
/// linked into its store) and offer the instance as import module NAME to the ones after it.
fn preload(runtime: &Runtime, spec: &str, options: &mut InstanceOptions, wasi_given: &mut bool) -> Result<(), Error> {
    let (name, path) = spec
        .split_once('=')
        .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        .ok_or_else(|| Error::Instantiate(format!("--preload expects NAME=MODULE, got `{spec}`")))?;
    let module = crate::progress::compiling(Path::new(path), || runtime.compile_file(path))?;
    let first = options.imports.is_empty();
    let own = match first {
        true => {
            *wasi_given = needs_wasi(runtime, module)?;
            options.clone()
        }
        false => joiner(runtime, module, options.clone(), wasi_given)?,
    };
    let instance = runtime.instantiate(module, &own)?;
    options.imports.define_instance(name.to_string(), instance);
    Ok(())
}

/// The options of an instance joining the preloads' store: their imports only, plus the WASI options if
/// no instance of the store took them yet (a store has one WASI context; limits are the store's).
fn joiner(
    runtime: &Runtime,
    module: ModuleId,
    options: InstanceOptions,
    wasi_given: &mut bool,
) -> Result<InstanceOptions, Error> {
    let takes_wasi = !*wasi_given && needs_wasi(runtime, module)?;
    *wasi_given |= takes_wasi;
    Ok(InstanceOptions {
        wasi: options.wasi.filter(|_| takes_wasi),
        imports: options.imports,
        ..InstanceOptions::default()
    })
}

fn needs_wasi(runtime: &Runtime, module: ModuleId) -> Result<bool, Error> {
    let imports = runtime.module_imports(module)?;
    Ok(imports.iter().any(|i| i.module == "wasi_snapshot_preview1"))
}

/// `--trap-unknown-imports`: a trapping function for every function import not provided otherwise.
fn trap_unknown(runtime: &Runtime, module: ModuleId, imports: &mut Imports) -> Result<(), Error> {
    for import in runtime.module_imports(module)? {
        let linked = match imports.namespace(&import.module) {
            Some(id) => runtime.instance_exports(id)?.iter().any(|e| e.name == import.name),
            None => false,
        };
        let provided =
            import.module == "wasi_snapshot_preview1" || imports.get(&import.module, &import.name).is_some() || linked;
        if import.kind != ExportKind::Func || provided {
            continue;
        }
        let what = import.describe();
        let trap = HostFunc::new(move |_, _, _| Err(Error::Call(format!("unknown import {what} was called"))));
        imports.define(import.module, import.name, trap);
    }
    Ok(())
}

fn invoke(
    runtime: &Runtime,
    module: ModuleId,
    instance: ext_wasm::InstanceId,
    name: &str,
    args: &[String],
) -> Result<(), Error> {
    let exports = runtime.module_exports(module)?;
    let export = exports
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| Error::ExportNotFound(format!("no export named `{name}`")))?;
    if export.kind != ExportKind::Func {
        return Err(Error::ExportNotFound(format!(
            "`{name}` is a {}, not a function",
            export.kind
        )));
    }
    if args.len() != export.params.len() {
        return Err(Error::Type(format!(
            "`{name}` takes {} argument(s), got {}",
            export.params.len(),
            args.len()
        )));
    }
    let values = args
        .iter()
        .zip(&export.params)
        .enumerate()
        .map(|(i, (text, ty))| Value::parse(text, *ty, i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = std::io::stdout().lock();
    for v in runtime.call(instance, name, &values)? {
        let _ = writeln!(out, "{v}");
    }
    Ok(())
}

/// After the program: when it ran Winch code, say so on a terminal (and how the tier-up went), waiting for it
/// with `--wait-tier-up`. Returns the tier-up line for `--stats`.
fn finish_tier_up(runtime: &Runtime, a: &RunArgs, tier: Tier, load: Duration) -> Option<String> {
    if tier != Tier::Winch {
        return None;
    }
    let baseline = format!("baseline (winch) load {:.0} ms", load.as_secs_f64() * 1e3);
    if runtime.config().tiering != Tiering::Auto {
        return Some(format!("{baseline}; no tier-up (--tier winch)"));
    }
    let t = Instant::now();
    let done = runtime.wait_for_tier_up(if a.wait_tier_up {
        Duration::from_secs(86_400)
    } else {
        Duration::ZERO
    });
    let stats = runtime.tier_stats();
    let line = match (done, stats.last_ms) {
        (true, Some(ms)) if stats.done > 0 => format!(
            "{baseline}; cranelift code ready after {ms} ms{}",
            if a.wait_tier_up {
                format!(" (waited {:.0} ms)", t.elapsed().as_secs_f64() * 1e3)
            } else {
                String::new()
            }
        ),
        (true, _) if stats.failed > 0 => format!("{baseline}; cranelift tier-up failed (see EXT_WASM_LOG=warn)"),
        _ => {
            format!("{baseline}; cranelift tier-up unfinished at exit: the next run resumes it (--wait-tier-up waits)")
        }
    };
    if std::io::stderr().is_terminal() && !a.stats {
        eprintln!("ext-wasm: {line}");
    }
    Some(line)
}
