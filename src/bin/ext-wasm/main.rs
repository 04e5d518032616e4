//! `ext-wasm`: run, precompile and inspect WebAssembly modules with the ext_wasm runtime.

mod cache_cmd;
mod demo;
mod progress;
mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ext_wasm::{BundleSource, Error, Interruption, Runtime, RuntimeConfig, Tiering};

#[derive(Parser)]
#[command(
    name = "ext-wasm",
    version,
    about = "Run WebAssembly plugins with ext_wasm (Wasmtime + artifact cache + pooled instances)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run a WASI command, or invoke one export and print its results.
    Run(run::RunArgs),
    /// Precompile modules into the artifact cache.
    Compile {
        /// `.wasm` or `.wat` files.
        #[arg(required = true)]
        modules: Vec<PathBuf>,
    },
    /// Precompile modules into one bundle file an app ships (loaded with `--bundle` / `configure({ bundles })`).
    Bundle {
        /// `.wasm` or `.wat` files.
        #[arg(required = true)]
        modules: Vec<PathBuf>,
        /// The bundle to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Engine variants to include (repeatable): plain, fuel, epoch (what instances without limits run,
        /// and instances with a timeout), fuel+epoch. Default: epoch.
        #[arg(long = "variant", value_name = "NAME", default_value = "epoch")]
        variants: Vec<String>,
    },
    /// Inspect and maintain the artifact cache.
    Cache {
        #[command(subcommand)]
        action: cache_cmd::CacheAction,
    },
    /// Load the plugins in fixtures/plugins, churn through many short-lived instances and print a table.
    Demo(demo::DemoArgs),
}

/// Cache location flags shared by every subcommand.
#[derive(Args, Clone, Default)]
pub struct CacheArgs {
    /// Artifact cache directory (default: $EXT_WASM_CACHE_DIR, else the platform cache dir).
    #[arg(long, value_name = "DIR", global = true)]
    cache_dir: Option<PathBuf>,
    /// Do not read or write the disk cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// An artifact bundle to load precompiled modules from before compiling (repeatable); `FILE@MANIFEST`
    /// loads it only if its manifest is MANIFEST (as `ext-wasm bundle` printed it).
    #[arg(long = "bundle", value_name = "FILE[@MANIFEST]", global = true)]
    bundles: Vec<String>,
    /// Code generator for never-seen modules: `auto` (Winch now, Cranelift in the background for the next
    /// instances and runs; the default), `cranelift`, `winch`. `compile` and `bundle` default to `cranelift`.
    #[arg(long, value_name = "POLICY", global = true,
          value_parser = clap::builder::PossibleValuesParser::new(["auto", "cranelift", "winch"]))]
    tier: Option<String>,
}

impl CacheArgs {
    /// A runtime configuration honouring these flags.
    pub fn config(&self) -> RuntimeConfig {
        let mut config = RuntimeConfig::default();
        config.cache.enabled = !self.no_cache;
        config.cache.dir = self.cache_dir.clone();
        config.bundles = self
            .bundles
            .iter()
            .map(|spec| match spec.rsplit_once('@') {
                Some((path, manifest)) => BundleSource {
                    path: path.into(),
                    manifest: Some(manifest.into()),
                },
                None => BundleSource {
                    path: spec.into(),
                    manifest: None,
                },
            })
            .collect();
        if let Some(tier) = &self.tier {
            config.tiering = Tiering::from_name(tier).expect("clap checked the name");
        }
        config
    }

    /// [`Self::config`] for commands that fill the cache: Cranelift unless `--tier` says otherwise (a Winch
    /// artifact would be tiered up by the next run anyway).
    pub fn precompile_config(&self) -> RuntimeConfig {
        let mut config = self.config();
        if self.tier.is_none() {
            config.tiering = Tiering::Cranelift;
        }
        config
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("EXT_WASM_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args, &cli.cache),
        Command::Compile { modules } => compile(&modules, &cli.cache),
        Command::Bundle {
            modules,
            output,
            variants,
        } => bundle(&modules, &output, &variants, &cli.cache),
        Command::Cache { action } => cache_cmd::cache(action, &cli.cache),
        Command::Demo(args) => demo::demo(args, &cli.cache),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error[{}]: {}", e.code(), e.message());
            ExitCode::FAILURE
        }
    }
}

fn compile(modules: &[PathBuf], cache: &CacheArgs) -> Result<ExitCode, Error> {
    let runtime = Runtime::new(cache.precompile_config());
    for path in modules {
        let start = std::time::Instant::now();
        let report = progress::compiling(path, || runtime.compile_file_report(path))?;
        let took = start.elapsed();
        println!(
            "{}: {:?} ({}) in {:.2} ms",
            path.display(),
            report.origin,
            report.tier,
            took.as_secs_f64() * 1e3
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn bundle(modules: &[PathBuf], output: &Path, variants: &[String], cache: &CacheArgs) -> Result<ExitCode, Error> {
    let variants = variants
        .iter()
        .map(|name| Interruption::from_name(name))
        .collect::<Result<Vec<_>, _>>()?;
    let wasm = modules
        .iter()
        .map(|p| std::fs::read(p).map_err(|e| Error::Io(format!("cannot read {}: {e}", p.display()))))
        .collect::<Result<Vec<_>, _>>()?;
    let runtime = Runtime::new(cache.config());
    let refs: Vec<&[u8]> = wasm.iter().map(Vec::as_slice).collect();
    let manifest = progress::compiling(output, || runtime.write_bundle(&refs, &variants, output))?;
    let size = std::fs::metadata(output).map_or(0, |m| m.len());
    println!(
        "{}: {} modules × {} variants, {:.1} MB, manifest {manifest}",
        output.display(),
        modules.len(),
        variants.len(),
        size as f64 / 1e6
    );
    Ok(ExitCode::SUCCESS)
}
