//! `ext-wasm`: run, precompile and inspect WebAssembly modules with the ext_wasm runtime.

mod cache_cmd;
mod demo;
mod progress;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ext_wasm::{Error, Runtime, RuntimeConfig};

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
}

impl CacheArgs {
    /// A runtime configuration honouring these flags.
    pub fn config(&self) -> RuntimeConfig {
        let mut config = RuntimeConfig::default();
        config.cache.enabled = !self.no_cache;
        config.cache.dir = self.cache_dir.clone();
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
    let runtime = Runtime::new(cache.config());
    for path in modules {
        let start = std::time::Instant::now();
        let report = progress::compiling(path, || runtime.compile_file_report(path))?;
        let took = start.elapsed();
        println!(
            "{}: {:?} in {:.2} ms",
            path.display(),
            report.origin,
            took.as_secs_f64() * 1e3
        );
    }
    Ok(ExitCode::SUCCESS)
}
