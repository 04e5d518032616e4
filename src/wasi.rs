//! WASI preview1 options and the per-instance context built from them.

use std::path::PathBuf;

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::capabilities::Capabilities;
use crate::error::{Error, Result};

/// A host directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// Directory on the host (canonicalized and checked against the capability policy).
    pub host: PathBuf,
    /// Path the guest sees (`/data`, `.`).
    pub guest: String,
    /// Refuse writes, creates and deletes.
    pub read_only: bool,
}

/// Where a guest's stdout or stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// Dropped (the default: a plugin does not write on the host's terminal unless asked).
    #[default]
    Discard,
    /// The host process's own stream.
    Inherit,
    /// Kept in memory and returned by [`crate::Runtime::stdout`] / [`crate::Runtime::stderr`].
    Capture,
}

/// Where a guest's stdin comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum InputMode {
    /// End of file at once.
    #[default]
    Empty,
    /// The host process's stdin.
    Inherit,
    /// These bytes.
    Bytes(Vec<u8>),
}

/// The WASI view a guest gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WasiOptions {
    /// `argv[0]`; defaults to `"main.wasm"`. WASI programs expect it, callers rarely think of it.
    pub program_name: Option<String>,
    /// Arguments after `argv[0]`.
    pub args: Vec<String>,
    /// Environment, in order.
    pub env: Vec<(String, String)>,
    /// Directories the guest may open.
    pub preopens: Vec<Preopen>,
    /// Where stdin comes from.
    pub stdin: InputMode,
    /// Where stdout goes.
    pub stdout: OutputMode,
    /// Where stderr goes.
    pub stderr: OutputMode,
}

/// A built context plus the capture pipes whose contents the caller can read back.
pub(crate) struct BuiltWasi {
    /// Boxed: it is half a store's data, which stores without WASI would otherwise carry (and copy) too.
    pub(crate) ctx: Box<WasiP1Ctx>,
    pub(crate) stdout: Option<MemoryOutputPipe>,
    pub(crate) stderr: Option<MemoryOutputPipe>,
}

impl WasiOptions {
    /// Check every preopen against `caps` and build the context. Cost: a few microseconds plus one directory
    /// open per preopen.
    /// The context for one instance: at most `max_handles` open handles (see
    /// [`crate::RuntimeConfig::wasi_max_handles`]), captures capped at `capture_limit` bytes.
    pub(crate) fn build(&self, caps: &Capabilities, capture_limit: usize, max_handles: usize) -> Result<BuiltWasi> {
        caps.check_wasi()?;
        let mut b = WasiCtxBuilder::new();
        // Blocking file operations run on the calling thread instead of bouncing through tokio's blocking pool.
        b.allow_blocking_current_thread(true);
        b.arg(self.program_name.as_deref().unwrap_or("main.wasm"));
        b.args(&self.args);
        for (k, v) in &self.env {
            if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                return Err(Error::Wasi(format!(
                    "invalid environment variable name or value: {k:?}"
                )));
            }
            b.env(k, v);
        }
        for p in &self.preopens {
            let host = caps.check_preopen(&p.host, p.read_only)?;
            let perms = if p.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            b.preopened_dir(&host, &p.guest, perms)
                .map_err(|e| Error::Wasi(format!("cannot preopen {}: {e:#}", p.host.display())))?;
        }
        match &self.stdin {
            InputMode::Empty => {}
            InputMode::Inherit => {
                b.inherit_stdin();
            }
            InputMode::Bytes(bytes) => {
                b.stdin(MemoryInputPipe::new(bytes.clone()));
            }
        }
        let stdout = output(
            &mut b,
            self.stdout,
            capture_limit,
            |b| b.inherit_stdout(),
            |b, p| b.stdout(p),
        );
        let stderr = output(
            &mut b,
            self.stderr,
            capture_limit,
            |b| b.inherit_stderr(),
            |b, p| b.stderr(p),
        );
        let mut ctx = b.build_p1();
        wasmtime_wasi::WasiView::ctx(&mut ctx)
            .table
            .set_max_capacity(max_handles);
        Ok(BuiltWasi {
            ctx: Box::new(ctx),
            stdout,
            stderr,
        })
    }
}

fn output(
    b: &mut WasiCtxBuilder,
    mode: OutputMode,
    capture_limit: usize,
    inherit: impl FnOnce(&mut WasiCtxBuilder) -> &mut WasiCtxBuilder,
    set: impl FnOnce(&mut WasiCtxBuilder, MemoryOutputPipe) -> &mut WasiCtxBuilder,
) -> Option<MemoryOutputPipe> {
    match mode {
        OutputMode::Discard => None,
        OutputMode::Inherit => {
            inherit(b);
            None
        }
        OutputMode::Capture => {
            let pipe = MemoryOutputPipe::new(capture_limit);
            set(b, pipe.clone());
            Some(pipe)
        }
    }
}
