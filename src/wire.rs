//! The wire layer: the host-neutral, byte-level API both hosts (the C ABI in [`crate::ffi`], the deno_core ops
//! in `src/deno/`) are transport over. Every rule about host input lives here, once: how JSON configuration and
//! instance options are read, what a handle given as a JavaScript number may be, how a call's arguments and
//! results cross in a value frame, how exports are listed, which output stream a number names. A host converts
//! its own argument types (pointers, V8 values) into the ones taken here and passes the result and any
//! [`Error`] (code and `Display` message) back unchanged; so both hosts give identical answers by construction.
//!
//! # Inputs, one rule each
//!
//! * **JSON** ([`runtime_config`], [`instance_options`]): empty or whitespace-only text means "all defaults";
//!   anything else must be a JSON object of the documented camelCase fields. Malformed JSON, a wrong field type
//!   and an unknown field are all 5007, reading `invalid runtime config: ...` / `invalid instance options: ...`
//!   with serde's description of what is wrong and where.
//! * **Handles** ([`module_handle`], [`instance_handle`]) arrive as `f64` (a JavaScript number): anything but a
//!   non-negative integer below 2^53 is 5004 / 5005 `<value> is not a module|an instance handle`; a well-formed
//!   handle that names nothing live is 5004 / 5005 from the registry (`... was dropped`, `no ... with handle`).
//! * **Offsets and page counts** ([`memory_read`] and friends) arrive as `f64` too: a non-integer is 5007, a
//!   negative or unsafe (≥ 2^53) one is 5006 (out of bounds).
//! * **Value frames** ([`call_frame`]): the layout below; a frame too short for its arguments or an unknown tag
//!   is 5007.
//!
//! # Value frames
//!
//! A frame is a 32-byte header (the C ABI's out record, which the ops ignore) followed by 16-byte slots, `tag:
//! u8` at slot offset 0 (bytes 1..8 ignored on input, zeroed on output) and a little-endian payload at slot
//! offset 8:
//!
//! | tag | name | payload | direction |
//! |---|---|---|---|
//! | 1 | `I32` | `i32` in bytes 8..12 | both |
//! | 2 | `I64` | `i64` | both |
//! | 3 | `F32` | `f32` bits in bytes 8..12 | both |
//! | 4 | `F64` | `f64` bits | both |
//! | 5 | `NUMBER` | `f64`: a JS number, converted by the parameter's type ([`crate::Value::Number`]) | argument |
//! | 6 | `BIGINT` | `i64`: a JS BigInt within the i64 range ([`crate::Value::BigInt`]) | argument |
//! | 7 | `BIGINT_WIDE` | low 64 bits here, high 64 bits (signed) in the *next* slot's payload: a BigInt outside the i64 range, as i128 | argument, 2 slots |
//!
//! Results overwrite the argument slots from slot 0. A frame of 1024 slots holds any call: wasm limits a
//! function type to 1000 results. `ts/frame.ts` is the TypeScript side of this encoding.
//!
//! # Calls and host functions: one suspension protocol
//!
//! `await instance.call` and every call of an instance with JavaScript imports go through three functions,
//! always on the host's JavaScript thread except where noted:
//!
//! 1. [`call_start`] runs the guest on a Wasmtime fiber, on the calling thread (a short export, with no loop
//!    and no call but of host functions that do not suspend, runs as a synchronous call: it cannot be
//!    suspended), and writes a [`Step`] into the frame header: **done** (results in the slots), **yielded** (its time slice ended: let the event loop
//!    turn, then run the next slice here with [`call_continue`]; up to `callerSlices` slices in all),
//!    **pending** (past those: finish it with [`call_finish`] on a worker thread, which blocks there and never
//!    on the JS thread), or **host** (the guest called import number `index` of the instance's `hostImports`,
//!    its `nargs` arguments typed in the slots).
//! 2. On a host step the host runs the JavaScript function on its own thread, at its own pace: a synchronous
//!    result at once, a Promise when it settles. Meanwhile the guest is parked on its fiber; the instance's
//!    memory operations and `callSync`/`call_start` of it **re-enter** the parked call (run on its fiber with
//!    its `Caller`), so they neither deadlock nor wait.
//! 3. [`call_resume`] writes the function's results (or its failure) back into the guest and continues it on the
//!    calling thread: the answer is again a step. A call may make any number of host steps.
//!
//! The token of a call that is not done names it in [`call_continue`] / [`call_finish`] / [`call_resume`]; a
//! call whose token is never resumed is abandoned when the instance is dropped (its pending host call fails,
//! the guest unwinds).
//! `sync` calls (`callSync` of an instance with imports) take the same steps without a time slice.
//!
//! # Bridged imports: in place first, a step only for a Promise
//!
//! Instance options with `"bridgedImports": true` (what the TypeScript hosts send for JavaScript imports by
//! default) make each `hostImports` entry a [`crate::HostFunc::bridged`] function: when the guest calls it
//! while its call is polled on the thread whose [`HostBridge`] numbered it, the bridge is called in place, on
//! that thread's own stack below the poll (`crate::host_stack`; the guest waits on its fiber meanwhile), with
//! [`MAY_ANSWER_LATER`] set in the index. A plain answer continues the guest at once: no step, no suspension
//! (~0.3 µs a host call from TypeScript instead of ~0.6 µs). An answer of [`LATER`] (the function returned a
//! Promise, which the host keeps) suspends the guest as above, with the host step's `started` flag set (the
//! frame header's word at byte 24): the host answers with what it kept instead of running the function again.
//! Where the bridge cannot run (a call finished on a worker thread, or no bridge on the thread) the import is
//! an ordinary host step. Inside the bridge the instance is re-entered through the running call, as from a
//! synchronous import (below); a call made there that reaches an import answered later fails with 5007.
//!
//! # Synchronous imports: a callback instead of steps
//!
//! Instance options with `"syncImports": true` make the `hostImports` synchronous
//! ([`crate::HostFunc::bridged_sync`]): the guest calls them in place, on the calling thread's own stack, through
//! the thread's [`HostBridge`] (the C ABI's `ext_wasm_set_host_callback` and the deno_core extension's
//! `op_wasm_set_host_callback` install a [`frame_bridge`]: `callback(index, nargs)` with the arguments in a
//! frame of the host's (the C ABI's callback takes no arguments and reads `index` and `nargs` in the frame's
//! header, at [`CALL_INDEX_AT`] and [`CALL_NARGS_AT`]), answered with results or `-code` and a message in the same frame). No fiber, no step:
//! a host call costs the callback (~0.12 µs from TypeScript) instead of two fiber switches and a round trip
//! through JavaScript (~0.45 µs). In exchange such an instance's calls never leave the calling thread
//! ([`call_start`] runs them to their end at once), an import cannot return a Promise, the instance answers
//! only on the thread that created it (5002), and it cannot share a store with instances that import
//! suspending functions (5001). Inside the callback, the instance's memory operations and calls by name
//! ([`memory_read`], [`call_frame`], [`call_start`], ...) re-enter it through the running call.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::async_call::{AsyncCall, CallStep};
use crate::capabilities::Capabilities;
use crate::config::RuntimeConfig;
use crate::engine::Interruption;
use crate::error::{Error, Result};
use crate::host_func::{HostFunc, Imports};
use crate::instance::{InstanceId, InstanceOptions, Target};
use crate::module::{ExportInfo, ExportKind, ModuleId};
use crate::runtime::Runtime;
use crate::store_lock::{StoreGuard, StoreLock};
use crate::value::ValType;
use crate::value_frame;
use crate::wasi::{InputMode, OutputMode, Preopen, WasiOptions};

pub use crate::host_bridge::{
    frame_bridge, host_error, set_host_bridge, Answer, HostBridge, CALL_INDEX_AT, CALL_NARGS_AT, LATER,
    MAX_BRIDGE_INDEX, MAY_ANSWER_LATER,
};
pub use crate::value_frame::{tag, OUT_HEADER, SLOT};

// ---------------------------------------------------------------------------------------------------------------
// JSON inputs
// ---------------------------------------------------------------------------------------------------------------

/// Runtime configuration on the wire (JSON, camelCase, every field optional): what `configure()` sends.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WireRuntimeConfig {
    /// Artifact cache directory (default: `$EXT_WASM_CACHE_DIR`, else the platform cache dir).
    pub cache_dir: Option<PathBuf>,
    /// Turn the disk cache off.
    pub no_cache: Option<bool>,
    /// Disk cache size cap in bytes.
    pub cache_max_bytes: Option<u64>,
    /// Cap on live instances (default: the pool size).
    pub max_instances: Option<usize>,
    /// Cap on live module handles.
    pub max_modules: Option<usize>,
    /// Instance slots in the pooling allocator.
    pub pool_instances: Option<u32>,
    /// `false` to allocate instances on demand instead of from the pool.
    pub pooling: Option<bool>,
    /// Reset freed pool slots by scanning for the pages their instance wrote, or (`false`) by zeroing; absent:
    /// whichever is cheaper on this machine ([`crate::PoolConfig::scan_dirty_pages`]).
    pub pool_scan_dirty_pages: Option<bool>,
    /// Bytes kept per captured stdout / stderr.
    pub capture_limit: Option<usize>,
    /// Refuse `compileFile`.
    pub deny_file_compile: Option<bool>,
    /// Refuse WASI instances.
    pub deny_wasi: Option<bool>,
    /// Every preopen must resolve inside one of these directories.
    pub preopen_roots: Option<Vec<PathBuf>>,
    /// Allow preopening `/`.
    pub allow_root_preopen: Option<bool>,
    /// How long an async call runs on the calling thread before it continues on another, in milliseconds.
    pub call_slice_ms: Option<f64>,
    /// How many slices an async call may run on the calling thread before it continues on another.
    pub caller_slices: Option<u32>,
    /// Artifact bundles (paths, or `{ path, manifest }` to pin one), consulted before compiling.
    pub bundles: Option<Vec<WireBundle>>,
    /// `"auto"` (default), `"cranelift"` or `"winch"`: see [`crate::Tiering`].
    pub tiering: Option<crate::Tiering>,
    /// Under `"auto"`, modules smaller than this (bytes) compile with Cranelift at once (default 64 KiB).
    pub baseline_min_bytes: Option<u64>,
    /// Open WASI handles one instance may hold (default 4096; one more traps).
    pub wasi_max_handles: Option<usize>,
}

/// What [`write_bundle`] takes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireBundleRequest {
    modules: Vec<PathBuf>,
    output: PathBuf,
    variants: Option<Vec<String>>,
}

/// A bundle in the runtime configuration: its path, or its path and the manifest it must have.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WireBundle {
    /// Unpinned.
    Path(PathBuf),
    /// Pinned to `manifest` (hex) when given.
    Pinned {
        /// The bundle file.
        path: PathBuf,
        /// The manifest `ext-wasm bundle` printed.
        manifest: Option<String>,
    },
}

impl WireRuntimeConfig {
    /// The runtime configuration: defaults with these fields overridden.
    pub fn into_config(self) -> RuntimeConfig {
        let mut c = RuntimeConfig::default();
        if let Some(dir) = self.cache_dir {
            c.cache.dir = Some(dir);
        }
        if self.no_cache == Some(true) {
            c.cache.enabled = false;
        }
        if let Some(max) = self.cache_max_bytes {
            c.cache.max_bytes = max;
        }
        c.max_instances = self.max_instances.or(c.max_instances);
        c.max_modules = self.max_modules.or(c.max_modules);
        if let Some(n) = self.pool_instances {
            c.pool.total_instances = n;
        }
        if let Some(on) = self.pooling {
            c.pool.enabled = on;
        }
        c.pool.scan_dirty_pages = self.pool_scan_dirty_pages.or(c.pool.scan_dirty_pages);
        if let Some(limit) = self.capture_limit {
            c.capture_limit = limit;
        }
        c.tiering = self.tiering.unwrap_or(c.tiering);
        c.caller_slices = self.caller_slices.unwrap_or(c.caller_slices);
        c.baseline_min_bytes = self.baseline_min_bytes.unwrap_or(c.baseline_min_bytes);
        c.wasi_max_handles = self.wasi_max_handles.unwrap_or(c.wasi_max_handles);
        c.bundles = (self.bundles.unwrap_or_default().into_iter())
            .map(|b| match b {
                WireBundle::Path(path) => crate::config::BundleSource { path, manifest: None },
                WireBundle::Pinned { path, manifest } => crate::config::BundleSource { path, manifest },
            })
            .collect();
        if let Some(ms) = self
            .call_slice_ms
            .filter(|ms| ms.is_finite() && *ms >= 0.0 && *ms < 1e9)
        {
            c.call_slice = Duration::from_secs_f64(ms / 1000.0);
        }
        c.capabilities = Arc::new(Capabilities {
            deny_file_compile: self.deny_file_compile.unwrap_or(false),
            deny_wasi: self.deny_wasi.unwrap_or(false),
            preopen_roots: self.preopen_roots,
            allow_root_preopen: self.allow_root_preopen.unwrap_or(false),
            checker: None,
        });
        c
    }
}

/// A fuel amount: a JSON number, or a decimal string for values a JavaScript number cannot hold exactly.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WireFuel {
    /// A JSON integer.
    Number(u64),
    /// Decimal text (`"18446744073709551615"`).
    Text(String),
}

impl WireFuel {
    fn get(&self, field: &str) -> Result<u64> {
        match self {
            Self::Number(n) => Ok(*n),
            Self::Text(t) => t
                .parse::<u64>()
                .map_err(|_| Error::Type(format!("`{field}` must be an integer in 0..2^64, got {t:?}"))),
        }
    }
}

/// Where a WASI output stream goes on the wire.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireOutput {
    /// Dropped (the default: a plugin stays off the terminal unless asked).
    #[default]
    Discard,
    /// The host process's stream.
    Inherit,
    /// Kept in memory, read back with [`output`].
    Capture,
}

/// Where WASI stdin comes from on the wire. The bytes of `"bytes"` travel beside the JSON (the `stdin` argument
/// of [`instance_options`]), never as JSON numbers.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireInput {
    /// End of file at once (the default).
    #[default]
    Empty,
    /// The host process's stdin.
    Inherit,
    /// The bytes passed beside the options.
    Bytes,
}

/// Instance options on the wire (JSON, camelCase), as `ts/mod.ts` normalizes `instantiate()`'s options.
/// `wasi` is absent when the caller set no WASI field at all.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WireInstanceOptions {
    /// WASI context.
    pub wasi: Option<WireWasi>,
    /// Fuel for the instance's life.
    pub fuel: Option<WireFuel>,
    /// Fuel per call.
    pub call_fuel: Option<WireFuel>,
    /// Wall-clock limit per call, in milliseconds (positive, finite).
    pub timeout_ms: Option<f64>,
    /// Cap on linear memory, in bytes.
    pub max_memory_bytes: Option<u64>,
    /// `false` for code without epoch checks (see [`InstanceOptions::preemptible`]).
    pub preemptible: Option<bool>,
    /// Imports the host answers outside the call, `[module, name]` pairs (pair `i` becomes
    /// [`crate::HostFunc::suspending`]`(i)`, see [`call_start`]) or `[module, name, index]` triples (an index of
    /// the host's choosing: instances linked into one store must number their host functions apart, since a
    /// call on one may reach another's).
    #[serde(default)]
    pub host_imports: Vec<WireHostImport>,
    /// Imports served by other instances' exports: `[module, name, instance, export]` (see [`crate::linking`]).
    #[serde(default)]
    pub export_imports: Vec<(String, String, f64, String)>,
    /// Whole instances as import namespaces: `[module, instance]`.
    #[serde(default)]
    pub instance_imports: Vec<(String, f64)>,
    /// `true`: `hostImports` are synchronous, called in place through this thread's [`HostBridge`]
    /// ([`crate::HostFunc::bridged_sync`]) instead of suspending the call; their index is the bridge's.
    #[serde(default)]
    pub sync_imports: bool,
    /// `true`: `hostImports` are offered to this thread's [`HostBridge`] in place first and suspend the call
    /// only when it answers later ([`crate::HostFunc::bridged`]); their index is the bridge's.
    #[serde(default)]
    pub bridged_imports: bool,
}

/// How `hostImports` are served.
#[derive(Clone, Copy)]
enum ImportMode {
    Suspending,
    Bridged,
    Sync,
}

impl ImportMode {
    fn of(wire: &WireInstanceOptions) -> Result<Self> {
        match (wire.sync_imports, wire.bridged_imports) {
            (false, false) => Ok(Self::Suspending),
            (false, true) => Ok(Self::Bridged),
            (true, false) => Ok(Self::Sync),
            (true, true) => Err(Error::Type(
                "`syncImports` and `bridgedImports` exclude each other".into(),
            )),
        }
    }
}

/// One entry of [`WireInstanceOptions::host_imports`]: `[module, name, index]`, or `[module, name]` numbered by
/// position. Read with a visitor of its own: an untagged enum of the two shapes buffered every entry and built
/// an error per shape it tried (a tenth of an instantiate with host imports).
#[derive(Debug)]
pub struct WireHostImport {
    /// The import's module name.
    pub module: String,
    /// The import's field name.
    pub name: String,
    /// The host function's number (its position when absent).
    pub index: Option<u32>,
}

impl<'de> Deserialize<'de> for WireHostImport {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = WireHostImport;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("[module, name] or [module, name, index]")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                use serde::de::Error as _;
                let module = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(0, &self))?;
                let name = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(1, &self))?;
                let index = seq.next_element()?;
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(4, &self));
                }
                Ok(WireHostImport { module, name, index })
            }
        }
        d.deserialize_seq(Entry)
    }
}

/// The WASI part of [`WireInstanceOptions`].
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WireWasi {
    /// `argv[0]` (default `main.wasm`).
    pub program_name: Option<String>,
    /// Arguments after `argv[0]`.
    #[serde(default)]
    pub args: Vec<String>,
    /// `[name, value]` pairs, in order.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// `[guest, host, readOnly]` triples.
    #[serde(default)]
    pub preopens: Vec<(String, PathBuf, bool)>,
    /// Where stdin comes from.
    #[serde(default)]
    pub stdin: WireInput,
    /// Where stdout goes.
    #[serde(default)]
    pub stdout: WireOutput,
    /// Where stderr goes.
    #[serde(default)]
    pub stderr: WireOutput,
}

/// Parse JSON text of a wire type: empty or whitespace-only means all defaults (see the module docs).
fn parse_json<T: Default + serde::de::DeserializeOwned>(json: &[u8], what: &str) -> Result<T> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(json).map_err(|e| Error::Type(format!("invalid {what}: {e}")))
}

/// The runtime configuration from [`WireRuntimeConfig`] JSON. Malformed → 5007.
pub fn runtime_config(json: &[u8]) -> Result<RuntimeConfig> {
    parse_json::<WireRuntimeConfig>(json, "runtime config").map(WireRuntimeConfig::into_config)
}

/// Instance options from [`WireInstanceOptions`] JSON plus the stdin bytes (used when `wasi.stdin` is
/// `"bytes"`, and then only). Malformed JSON, a bad fuel or timeout, or stdin bytes without `"bytes"` → 5007.
pub fn instance_options(json: &[u8], stdin: &[u8]) -> Result<InstanceOptions> {
    let wire: WireInstanceOptions = parse_json(json, "instance options")?;
    let timeout = match wire.timeout_ms {
        None => None,
        Some(ms) if ms.is_finite() && ms > 0.0 && ms < 1e15 => Some(Duration::from_secs_f64(ms / 1000.0)),
        Some(ms) => {
            return Err(Error::Type(format!(
                "`timeoutMs` must be a positive number of milliseconds, got {ms}"
            )))
        }
    };
    let max_memory_bytes = match wire.max_memory_bytes {
        None => None,
        Some(n) => Some(usize::try_from(n).map_err(|_| Error::Type(format!("`maxMemoryBytes` {n} is too large")))?),
    };
    let wants_bytes = matches!(&wire.wasi, Some(w) if matches!(w.stdin, WireInput::Bytes));
    if !stdin.is_empty() && !wants_bytes {
        return Err(Error::Type(
            "stdin bytes were given but the options do not ask for them (`wasi.stdin` is not \"bytes\")".into(),
        ));
    }
    let mode = ImportMode::of(&wire)?;
    Ok(InstanceOptions {
        wasi: wire.wasi.map(|w| wasi_options(w, stdin)),
        fuel: wire.fuel.as_ref().map(|f| f.get("fuel")).transpose()?,
        call_fuel: wire.call_fuel.as_ref().map(|f| f.get("callFuel")).transpose()?,
        timeout,
        max_memory_bytes,
        preemptible: wire.preemptible,
        imports: imports(wire.host_imports, wire.export_imports, wire.instance_imports, mode)?,
    })
}

fn imports(
    host: Vec<WireHostImport>,
    exports: Vec<(String, String, f64, String)>,
    instances: Vec<(String, f64)>,
    mode: ImportMode,
) -> Result<Imports> {
    let mut imports = Imports::new();
    for (i, entry) in host.into_iter().enumerate() {
        let WireHostImport { module, name, index } = entry;
        let index = match index {
            Some(index) => index,
            None => u32::try_from(i).map_err(|_| Error::Type("too many `hostImports`".into()))?,
        };
        if !matches!(mode, ImportMode::Suspending) && index >= MAX_BRIDGE_INDEX {
            return Err(Error::Type(format!(
                "`hostImports` index {index} of {module}::{name} is too large: a host bridge numbers its functions \
                 below 2^24"
            )));
        }
        if imports.get(&module, &name).is_some() {
            return Err(Error::Type(format!("`hostImports` names {module}::{name} twice")));
        }
        let f = match mode {
            ImportMode::Sync => HostFunc::bridged_sync(index),
            ImportMode::Bridged => HostFunc::bridged(index),
            ImportMode::Suspending => HostFunc::suspending(index),
        };
        imports.define(module, name, f);
    }
    for (module, name, instance, export) in exports {
        let export = crate::ExportRef::new(instance_handle(instance)?, export);
        imports.define_export(module, name, export);
    }
    for (module, instance) in instances {
        imports.define_instance(module, instance_handle(instance)?);
    }
    Ok(imports)
}

fn wasi_options(w: WireWasi, stdin: &[u8]) -> WasiOptions {
    let output = |o: WireOutput| match o {
        WireOutput::Discard => OutputMode::Discard,
        WireOutput::Inherit => OutputMode::Inherit,
        WireOutput::Capture => OutputMode::Capture,
    };
    WasiOptions {
        program_name: w.program_name,
        args: w.args,
        env: w.env,
        preopens: w
            .preopens
            .into_iter()
            .map(|(guest, host, read_only)| Preopen { host, guest, read_only })
            .collect(),
        stdin: match w.stdin {
            WireInput::Empty => InputMode::Empty,
            WireInput::Inherit => InputMode::Inherit,
            WireInput::Bytes => InputMode::Bytes(stdin.to_vec()),
        },
        stdout: output(w.stdout),
        stderr: output(w.stderr),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Handles and numbers from JavaScript
// ---------------------------------------------------------------------------------------------------------------

/// Largest integer a JavaScript number holds exactly.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

fn safe_integer(v: f64) -> Option<u64> {
    // A round trip through i64 (no libm `trunc`): `as` saturates, so NaN and fractions fail it, and the range
    // check refuses negatives. Signed, not unsigned: x86-64 converts i64 <-> f64 in one instruction each way
    // but u64 -> f64 in five, on every call's handle.
    let i = v as i64;
    (i as f64 == v && (0.0..=MAX_SAFE).contains(&v)).then_some(i as u64)
}

/// A module handle given as a JavaScript number; anything but a non-negative safe integer → 5004.
pub fn module_handle(v: f64) -> Result<ModuleId> {
    safe_integer(v)
        .map(ModuleId)
        .ok_or_else(|| Error::InvalidModuleHandle(format!("{v} is not a module handle")))
}

/// An instance handle given as a JavaScript number; anything but a non-negative safe integer → 5005.
pub fn instance_handle(v: f64) -> Result<InstanceId> {
    safe_integer(v)
        .map(InstanceId)
        .ok_or_else(|| Error::InvalidInstanceHandle(format!("{v} is not an instance handle")))
}

/// A call's token given as a JavaScript number ([`Step`]): anything but a non-negative integer below 2^53 → 5007.
pub fn call_token(v: f64) -> Result<u64> {
    safe_integer(v).ok_or_else(|| Error::Type(format!("{v} is not a call token")))
}

/// A memory offset, length or page count given as a JavaScript number: non-integer → 5007, negative or beyond
/// 2^53 → 5006.
fn memory_number(v: f64, what: &str) -> Result<u64> {
    if !v.is_finite() || v.trunc() != v {
        return Err(Error::Type(format!("{what} must be an integer, got {v}")));
    }
    let why = if v < 0.0 { "negative" } else { "too large" };
    safe_integer(v).ok_or_else(|| Error::Memory(format!("out of bounds: {what} {v} is {why}")))
}

// ---------------------------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------------------------

/// Compile wasm binary or text bytes; returns the module handle (as a number hosts pass back unchanged).
pub fn compile(rt: &Runtime, bytes: &[u8]) -> Result<u64> {
    rt.compile(bytes).map(|id| id.0)
}

/// Read and compile a file; returns the module handle.
pub fn compile_file(rt: &Runtime, path: &std::path::Path) -> Result<u64> {
    rt.compile_file(path).map(|id| id.0)
}

/// Drop a module handle.
pub fn module_drop(rt: &Runtime, module: f64) -> Result<()> {
    rt.drop_module(module_handle(module)?)
}

/// A module's exports as JSON (see [`exports_json`]).
pub fn module_exports(rt: &Runtime, module: f64) -> Result<String> {
    Ok(exports_json(&rt.module_exports(module_handle(module)?)?))
}

/// A module's imports as JSON: `[{"module","name","kind","params"?,"results"?}]`, `params`/`results` for
/// functions only.
pub fn module_imports(rt: &Runtime, module: f64) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Item<'a> {
        module: &'a str,
        #[serde(flatten)]
        export: ExportItem<'a>,
    }
    let imports = rt.module_imports(module_handle(module)?)?;
    let items: Vec<Item<'_>> = imports
        .iter()
        .map(|i| Item {
            module: &i.module,
            export: ExportItem::new(&i.name, i.kind, &i.params, &i.results),
        })
        .collect();
    Ok(serde_json::to_string(&items).unwrap_or_else(|_| "[]".into()))
}

/// Instantiate from [`instance_options`] JSON and stdin bytes; returns the instance handle.
pub fn instantiate(rt: &Runtime, module: f64, options_json: &[u8], stdin: &[u8]) -> Result<u64> {
    let module = module_handle(module)?;
    with_options(options_json, stdin, |options| rt.instantiate(module, options)).map(|id| id.0)
}

/// How many distinct option texts [`with_options`] remembers per thread.
const REMEMBERED_OPTIONS: usize = 8;

/// Options parsed from a JSON text, remembered with it.
type RememberedOptions = (Box<[u8]>, std::rc::Rc<InstanceOptions>);

thread_local! {
    /// Options parsed lately on this thread, by their JSON text (most recent last).
    static RECENT_OPTIONS: std::cell::RefCell<Vec<RememberedOptions>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` on the options `json` and `stdin` describe ([`instance_options`]). A host instantiating plugins sends
/// the same text again and again (the same imports, the same limits), and parsing it was a sixth of an
/// instantiate with two host imports: texts seen lately on this thread are parsed once (only without stdin
/// bytes, which are not part of the text; errors are never remembered).
fn with_options<R>(json: &[u8], stdin: &[u8], f: impl FnOnce(&InstanceOptions) -> Result<R>) -> Result<R> {
    if !stdin.is_empty() || json.len() > 4096 {
        return f(&instance_options(json, stdin)?);
    }
    let known = RECENT_OPTIONS.with_borrow(|recent| {
        recent
            .iter()
            .rev()
            .find(|(text, _)| same_bytes(text, json))
            .map(|(_, o)| o.clone())
    });
    let options = match known {
        Some(options) => options,
        None => {
            let options = std::rc::Rc::new(instance_options(json, stdin)?);
            RECENT_OPTIONS.with_borrow_mut(|recent| {
                if recent.len() == REMEMBERED_OPTIONS {
                    recent.remove(0);
                }
                recent.push((json.into(), options.clone()));
            });
            options
        }
    };
    f(&options)
}

/// `a == b`, without calling `memcmp` for empty slices: their pointers are dangling (0x1), and glibc's AVX-512
/// `memcmp` reads them with a fully masked load, which on an unmapped page takes a microcode assist of hundreds
/// of cycles (profiled: 6% of a churn iteration without options, whose text is empty).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// [`instantiate`] through the call protocol (see [`call_start`]): the module's start function runs on this
/// thread and may wait in host imports ([`Step::Host`], answered with [`call_resume`]); [`Step::Done`]'s answer
/// is the instance handle. What `instantiate` of an instance with JavaScript imports uses.
pub fn instantiate_start(
    rt: &Runtime,
    module: f64,
    options_json: &[u8],
    stdin: &[u8],
    frame: &mut [u8],
) -> Result<Step> {
    let module = module_handle(module)?;
    let step = with_options(options_json, stdin, |options| {
        rt.instantiate_start(module, options, frame, false)
    })?;
    step_out(step, frame)
}

/// Drop an instance.
pub fn instance_drop(rt: &Runtime, instance: f64) -> Result<()> {
    rt.drop_instance(instance_handle(instance)?)
}

/// Precompile module files into an artifact bundle ([`Runtime::write_bundle`]). `json`: `{ "modules": [path],
/// "output": path, "variants": [name] }` (`variants` default `["epoch"]`: `plain`, `fuel`, `epoch`,
/// `fuel+epoch`); malformed or unknown → 5007 as every JSON input. Each module is a file compile (capability
/// checked: 5009; unreadable: 5008). The answer is the bundle's manifest (hex). Cost: a compile per module and
/// variant.
pub fn write_bundle(rt: &Runtime, json: &[u8]) -> Result<String> {
    let request: WireBundleRequest =
        serde_json::from_slice(json).map_err(|e| Error::Type(format!("invalid bundle request: {e}")))?;
    let variants = request.variants.unwrap_or_else(|| vec!["epoch".into()]);
    let variants = variants
        .iter()
        .map(|name| Interruption::from_name(name))
        .collect::<Result<Vec<_>>>()?;
    let mut wasm = Vec::new();
    for path in &request.modules {
        rt.config().capabilities.check_compile_file(path)?;
        wasm.push(std::fs::read(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?);
    }
    let refs: Vec<&[u8]> = wasm.iter().map(Vec::as_slice).collect();
    Ok(rt.write_bundle(&refs, &variants, &request.output)?.to_hex().to_string())
}

/// The configured bundles as JSON ([`Runtime::bundles`]): `[{ path, manifest, entries, hits, rejected, error }]`.
pub fn bundles(rt: &Runtime) -> String {
    serde_json::to_string(&rt.bundles()).expect("bundle status serializes")
}

/// Tier-up counters as JSON ([`Runtime::tier_stats`]): `{ baselineLoads, optimizedLoads, baselineRefused,
/// pending, done, failed, cancelled, lastMs }`.
pub fn tier_stats(rt: &Runtime) -> String {
    serde_json::to_string(&rt.tier_stats()).expect("tier stats serialize")
}

/// Wait until no tier-up is queued or running, at most `timeout_ms` (clamped to 0..=1 day; NaN waits not at
/// all); true when none is ([`Runtime::wait_for_tier_up`]).
pub fn wait_for_tier_up(rt: &Runtime, timeout_ms: f64) -> bool {
    let ms = if timeout_ms.is_nan() {
        0.0
    } else {
        timeout_ms.clamp(0.0, 86_400_000.0)
    };
    rt.wait_for_tier_up(Duration::from_secs_f64(ms / 1000.0))
}

/// An instance's exports as JSON (see [`exports_json`]).
pub fn instance_exports(rt: &Runtime, instance: f64) -> Result<String> {
    Ok(exports_json(&rt.instance_exports(instance_handle(instance)?)?))
}

/// Call export `name` with `nargs` arguments read from `frame` (see the module docs); results overwrite the
/// slots from slot 0 and their count is returned. Errors as for [`Runtime::call`]. Cost: the guest's run time
/// plus the instance lock and one conversion per value; no allocation once the export cache is warm.
pub fn call_frame(rt: &Runtime, instance: f64, name: &str, frame: &mut [u8], nargs: u32) -> Result<u32> {
    rt.call_frame(instance_handle(instance)?, name, frame, nargs as usize)
}

/// Resolve function export `name` once; returns its index for [`call_func`] (stable for the instance's life).
/// Missing → 5003; a signature with v128 or reference types → 5007.
pub fn func(rt: &Runtime, instance: f64, name: &str) -> Result<u32> {
    let index = rt.func_index(instance_handle(instance)?, name)?;
    // Each index names a distinct export of one module: far below 2^32.
    Ok(index as u32)
}

/// [`call_frame`] of the function [`func`] resolved to `index`: no name crosses and none is looked up. An index
/// that [`func`] did not return for this instance → 5003.
pub fn call_func(rt: &Runtime, instance: f64, index: u32, frame: &mut [u8], nargs: u32) -> Result<u32> {
    rt.call_frame_index(instance_handle(instance)?, index as usize, frame, nargs as usize)
}

/// The most arguments [`call_numbers`] takes.
pub const NUMBER_ARGS: usize = 4;

/// [`call_numbers`]' result count when nothing was called: the export's results are not one number or none, or
/// its instance's imports need the call protocol here (see [`call_numbers`]).
pub const NOT_NUMBERS: u32 = u32::MAX;

/// [`call_func`] for the commonest call: the first `nargs` of `args` (JavaScript numbers, converted by the
/// parameter types as the frame's `NUMBER` tag is) in; the result count (0 or 1) out, and the result as a
/// number's `f64` bits in `out[8..16]` (an out record's `b`; 0.0 for none). No frame crosses either way: 2–4
/// ns cheaper a call from Deno. An export whose results are not one i32, f32 or f64 or none (an i64 is a
/// BigInt; several are an array) answers [`NOT_NUMBERS`] before anything runs: call it with [`call_func`]. So
/// does one whose store imports host functions answered outside the call (bridged JavaScript imports) when they
/// cannot all be answered in place on this thread: call it through [`call_start`]. (When they can, the call runs
/// here without a fiber, as a synchronous [`call_start`] would.) More than [`NUMBER_ARGS`] arguments, or an `out` shorter than 16 bytes → 5007; every other error as
/// [`call_func`] gives it, word for word.
#[inline]
pub fn call_numbers(
    rt: &Runtime,
    instance: f64,
    index: u32,
    args: [f64; NUMBER_ARGS],
    nargs: u32,
    out: &mut [u8],
) -> Result<u32> {
    numbers_call(instance, args, nargs, out, 16, |id, args| {
        rt.call_numbers(id, index as usize, args)
    })
}

/// [`call_numbers`] of export `name`, which it resolves as [`call_frame`] does (the same errors, word for word),
/// writing its index ([`func`]'s) to `out[16..24]` (an out record's third word) for the calls after it: a new
/// instance's first call with numbers, in one crossing and without a frame. An `out` shorter than 24 bytes →
/// 5007; [`NOT_NUMBERS`] as for [`call_numbers`] (the index is written: call it with [`call_func`]).
pub fn call_numbers_named(
    rt: &Runtime,
    instance: f64,
    name: &str,
    args: [f64; NUMBER_ARGS],
    nargs: u32,
    out: &mut [u8],
) -> Result<u32> {
    let mut index = 0;
    let count = numbers_call(instance, args, nargs, out, 24, |id, args| {
        let (resolved, done) = rt.call_numbers_named(id, name, args)?;
        index = resolved;
        Ok(done)
    })?;
    out[16..24].copy_from_slice(&(index as u64).to_le_bytes());
    Ok(count)
}

/// The checks and the answer of [`call_numbers`] and [`call_numbers_named`] around `call`, which runs the export
/// (`None`: its results are not numbers); `out` must hold `needs` bytes.
#[inline(always)]
fn numbers_call(
    instance: f64,
    args: [f64; NUMBER_ARGS],
    nargs: u32,
    out: &mut [u8],
    needs: usize,
    call: impl FnOnce(InstanceId, &[f64]) -> Result<Option<(u32, f64)>>,
) -> Result<u32> {
    let id = instance_handle(instance)?;
    let Some(args) = args.get(..nargs as usize) else {
        return Err(Error::Type(format!(
            "a call with numbers takes at most {NUMBER_ARGS} arguments, got {nargs}"
        )));
    };
    if out.len() < needs {
        return Err(Error::Type(format!(
            "a call with numbers needs a {needs}-byte out record, got {}",
            out.len()
        )));
    }
    let (count, value) = call(id, args)?.unwrap_or((NOT_NUMBERS, 0.0));
    out[8..16].copy_from_slice(&value.to_le_bytes());
    Ok(count)
}

/// Start a call of export `name` with `nargs` arguments from `frame` on this thread (the protocol:
/// [`crate::AsyncCall`]) and write where it stands into the frame's header ([`Step`]). `sync`: the caller
/// waits on this thread (`callSync` of an instance with host imports): no time slice, never pending. Errors
/// found before the guest runs are returned here, the guest's own with the answer.
pub fn call_start(rt: &Runtime, instance: f64, name: &str, frame: &mut [u8], nargs: u32, sync: bool) -> Result<Step> {
    let step = rt.call_start(
        instance_handle(instance)?,
        Target::Export(name),
        frame,
        nargs as usize,
        sync,
    );
    step_out(step?, frame)
}

/// [`call_start`] of a WASI command's `_start`; the answer is its exit status (as i64 bits).
pub fn run_command_start(rt: &Runtime, instance: f64, frame: &mut [u8], sync: bool) -> Result<Step> {
    step_out(
        rt.call_start(instance_handle(instance)?, Target::Command, frame, 0, sync)?,
        frame,
    )
}

/// Run the call `token` names ([`Step::Pending`]) to its end on this thread, blocking it (a worker thread),
/// or until it waits in a host function. Its frame must be the one it was started with. Unknown token → 5007.
pub fn call_finish(token: u64, frame: &mut [u8]) -> Result<Step> {
    step_out(take_call(token)?.finish(frame)?, frame)
}

/// Run one more time slice of the call `token` names ([`Step::Yielded`]) on this thread, after the caller's
/// other work had its turn: it ends, waits in a host function, or yields again (or, its slices here used up,
/// is [`Step::Pending`]). Its frame must be the one it was started with. Unknown token → 5007.
pub fn call_continue(token: u64, frame: &mut [u8]) -> Result<Step> {
    step_out(take_call(token)?.run_slice(frame)?, frame)
}

/// Answer the host function the call `token` waits in ([`Step::Host`]) and continue the guest on this thread.
/// `nresults >= 0`: the function returned that many values, in the frame's slots (converted by the import's
/// result types; misfits trap the guest with 5007 in the message). `nresults < 0`: it failed with error code
/// `-nresults` (5002 for a thrown exception, 5007 for a result the host could not encode) and `message`.
pub fn call_resume(token: u64, frame: &mut [u8], nresults: i32, message: &str) -> Result<Step> {
    let call = take_call(token)?;
    let reply = match u32::try_from(nresults) {
        Ok(n) => value_frame::decode_values(frame, n as usize)
            .map_err(|e| Error::Type(e.message().replace("argument", "result"))),
        Err(_) => Err(host_error(nresults.unsigned_abs(), message.to_string())),
    };
    step_out(call.resume(reply, frame)?, frame)
}

/// Where a call stands, as [`call_start`], [`call_finish`], [`call_continue`] and [`call_resume`] also write it into
/// the frame's header: `u64 a` at 0 (the answer, or the call's token), `u64 kind` at 8 (0 done, 1 pending, 2 host, 3
/// yielded), and for a host step `u32 index` at 16 (the position of the import in `hostImports`) and `u32 nargs` at 20
/// (its arguments, typed, in the slots from slot 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Finished: the result count (results in the slots) or a command's exit status (as i64 bits).
    Done(u64),
    /// Still running: finish it with [`call_finish`] on another thread.
    Pending(u64),
    /// Its time slice ended: let the caller's other work run (the event loop turn), then continue it on this
    /// thread with [`call_continue`].
    Yielded(u64),
    /// Waiting in host function `index`: run it with the `nargs` arguments and answer with [`call_resume`].
    Host {
        /// The call's token.
        token: u64,
        /// The import's position in `hostImports`.
        index: u32,
        /// Its argument count (0 when `started`: the host answers with what it kept).
        nargs: u32,
        /// The host's bridge already started it ([`crate::HostRequest::started`]).
        started: bool,
    },
}

impl Step {
    /// The step's kind as it crosses to JavaScript (the frame header's second word): 0 done, 1 pending, 2 waiting
    /// in a host function, 3 yielded (continue it here).
    pub fn kind(&self) -> u32 {
        match self {
            Step::Done(_) => 0,
            Step::Pending(_) => 1,
            Step::Host { .. } => 2,
            Step::Yielded(_) => 3,
        }
    }
}

/// Calls parked between host steps, by token, and the next token. FxHash: tokens are our own counter, and
/// SipHash was a tenth of a host call's cost. Behind a [`StoreLock`] (one atomic swap per lock, where a mutex
/// and a separate token counter took three per park): a host call parks and takes its call once each.
#[derive(Default)]
struct Parked {
    next: u64,
    calls: FxHashMap<u64, AsyncCall>,
}

static PARKED: OnceLock<StoreLock<Parked>> = OnceLock::new();

fn parked() -> StoreGuard<'static, Parked> {
    PARKED.get_or_init(Default::default).lock()
}

fn take_call(token: u64) -> Result<AsyncCall> {
    (parked().calls.remove(&token)).ok_or_else(|| Error::Type(format!("no call waiting with token {token}")))
}

fn park_call(call: AsyncCall) -> u64 {
    let mut parked = parked();
    parked.next += 1;
    let token = parked.next;
    parked.calls.insert(token, call);
    token
}

fn step_out(step: CallStep, frame: &mut [u8]) -> Result<Step> {
    let out = match step {
        CallStep::Done(answer) => Step::Done(answer),
        CallStep::Pending(call) => Step::Pending(park_call(call)),
        CallStep::Yielded(call) => Step::Yielded(park_call(call)),
        CallStep::Host(call) => {
            let (index, args, started) = call
                .request()
                .map_or((0, &[][..], false), |r| (r.index, &r.args[..], r.started));
            let nargs = value_frame::encode_values(frame, args)?;
            Step::Host {
                token: park_call(call),
                index,
                nargs,
                started,
            }
        }
    };
    if frame.len() >= OUT_HEADER {
        let (a, index, nargs, started) = match out {
            Step::Done(a) | Step::Pending(a) | Step::Yielded(a) => (a, 0u32, 0u32, false),
            Step::Host {
                token,
                index,
                nargs,
                started,
            } => (token, index, nargs, started),
        };
        frame[0..8].copy_from_slice(&a.to_le_bytes());
        frame[8..16].copy_from_slice(&u64::from(out.kind()).to_le_bytes());
        frame[16..20].copy_from_slice(&index.to_le_bytes());
        frame[20..24].copy_from_slice(&nargs.to_le_bytes());
        frame[24..28].copy_from_slice(&u32::from(started).to_le_bytes());
    }
    Ok(out)
}

/// Run a WASI command's `_start`; returns its exit status.
pub fn run_command(rt: &Runtime, instance: f64) -> Result<i32> {
    rt.run_command(instance_handle(instance)?)
}

/// The exit status a WASI command recorded, if any.
pub fn exit_code(rt: &Runtime, instance: f64) -> Result<Option<i32>> {
    rt.exit_code(instance_handle(instance)?)
}

/// Whether a host function of the instance's store lends its running call on this thread (1) or not (0): a
/// `call` made now re-enters that call instead of queueing behind it ([`Runtime::in_host_function`]).
pub fn in_host_function(rt: &Runtime, instance: f64) -> Result<u64> {
    rt.in_host_function(instance_handle(instance)?).map(u64::from)
}

/// Captured output of `stream`: 1 = stdout, 2 = stderr; anything else → 5007.
pub fn output(rt: &Runtime, instance: f64, stream: u32) -> Result<Vec<u8>> {
    let id = instance_handle(instance)?;
    match stream {
        1 => rt.stdout(id),
        2 => rt.stderr(id),
        other => Err(Error::Type(format!(
            "unknown output stream {other} (1 = stdout, 2 = stderr)"
        ))),
    }
}

/// Fill `dst` from the instance's first memory at `offset`.
pub fn memory_read(rt: &Runtime, instance: f64, offset: f64, dst: &mut [u8]) -> Result<()> {
    let id = instance_handle(instance)?;
    rt.read_memory(id, None, memory_number(offset, "offset")?, dst)
}

/// Copy `src` into the instance's first memory at `offset`.
pub fn memory_write(rt: &Runtime, instance: f64, offset: f64, src: &[u8]) -> Result<()> {
    let id = instance_handle(instance)?;
    rt.write_memory(id, None, memory_number(offset, "offset")?, src)
}

/// Size of the instance's first memory: `(pages, bytes)`.
pub fn memory_size(rt: &Runtime, instance: f64) -> Result<(u64, u64)> {
    let id = instance_handle(instance)?;
    Ok((rt.memory_size(id, None)?, rt.memory_byte_len(id, None)?))
}

/// Grow the instance's first memory by `pages`; returns the old size in pages.
pub fn memory_grow(rt: &Runtime, instance: f64, pages: f64) -> Result<u64> {
    let id = instance_handle(instance)?;
    rt.memory_grow(id, None, memory_number(pages, "pages")?)
}

/// Read exported global `name` into slot 0 of `frame` (typed by the global: i64 exact); returns 1, the slot
/// count. Missing → 5003; v128 or reference global → 5007.
pub fn global_get(rt: &Runtime, instance: f64, name: &str, frame: &mut [u8]) -> Result<u32> {
    let value = rt.get_global(instance_handle(instance)?, name)?;
    value_frame::encode_values(frame, &[value])
}

/// Set exported global `name` to the value in slot 0 of `frame`, converted by the global's type. Missing →
/// 5003; immutable or not fitting → 5007.
pub fn global_set(rt: &Runtime, instance: f64, name: &str, frame: &[u8]) -> Result<()> {
    let value = value_frame::decode_values(frame, 1)?;
    rt.set_global(instance_handle(instance)?, name, value[0])
}

/// `getGlobal` (`set = false`: [`global_get`], returns 1) and `setGlobal` (`set = true`: [`global_set`], returns 0)
/// in one entry point, the shape both hosts expose.
pub fn global(rt: &Runtime, instance: f64, name: &str, frame: &mut [u8], set: bool) -> Result<u32> {
    match set {
        false => global_get(rt, instance, name, frame),
        true => global_set(rt, instance, name, frame).map(|()| 0),
    }
}

/// Live counts: `(modules, instances)`.
pub fn stats(rt: &Runtime) -> (u64, u64) {
    (rt.module_count() as u64, rt.instance_count() as u64)
}

/// Exports as JSON: `[{"name","kind","params"?,"results"?,"type"?,"mutable"?,"min"?,"max"?,"element"?}]`:
/// `params`/`results` for functions, `type`/`mutable` for globals, `min`/`max` (pages or elements; `max`
/// `null` when unbounded) for memories and tables, `element` for tables.
pub fn exports_json(exports: &[ExportInfo]) -> String {
    let items: Vec<ExportItem<'_>> = exports.iter().map(ExportItem::of_export).collect();
    // Serializing plain strings and lists cannot fail.
    serde_json::to_string(&items).unwrap_or_else(|_| "[]".into())
}

/// One export or import as JSON: `{"name","kind","params"?,"results"?}`.
#[derive(serde::Serialize)]
struct ExportItem<'a> {
    name: &'a str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<Vec<&'static str>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    ty: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mutable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    element: Option<&'a str>,
}

impl<'a> ExportItem<'a> {
    fn new(name: &'a str, kind: ExportKind, params: &[ValType], results: &[ValType]) -> Self {
        let func = kind == ExportKind::Func;
        Self {
            name,
            kind: kind.as_str(),
            params: func.then(|| params.iter().map(|t| t.as_str()).collect()),
            results: func.then(|| results.iter().map(|t| t.as_str()).collect()),
            ty: None,
            mutable: None,
            min: None,
            max: None,
            element: None,
        }
    }

    fn of_export(e: &'a ExportInfo) -> Self {
        let mut item = Self::new(&e.name, e.kind, &e.params, &e.results);
        if let Some(g) = &e.global {
            item.ty = Some(g.ty.as_str());
            item.mutable = Some(g.mutable);
        }
        if let Some(l) = &e.limits {
            item.min = Some(l.min);
            item.max = Some(l.max);
            item.element = l.element.as_deref();
        }
        item
    }
}
