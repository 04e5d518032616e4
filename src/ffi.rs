//! The C ABI: flat `extern "C"` functions over one process-global [`Runtime`], loaded by stock Deno with
//! `Deno.dlopen` (see `ts/ffi_backend.ts`). Like every host, this file only converts: bytes in, handles, values
//! and errors out. Anything smarter belongs in the core.
//!
//! # Conventions
//!
//! * **Status.** Every fallible function returns an `i32`: `0` on success, otherwise the error code
//!   (`5000..=5013`, [`ErrorCode`]). Nothing here panics across the boundary: a panic inside the runtime is caught
//!   and reported as `5002`.
//! * **Out record.** Fallible functions take `out: *mut u8, out_len: usize`, a caller-owned buffer of at least
//!   [`OUT_HEADER`] (32) bytes, little-endian:
//!
//!   | offset | field | meaning |
//!   |---|---|---|
//!   | 0  | `u64 a` | primary result: a handle, a count, a size, an exit status |
//!   | 8  | `u64 b` | secondary result (documented per function) |
//!   | 16 | `u64 err_blob` | on error: id of the message blob (see [`ext_wasm_blob_take`]) |
//!   | 24 | `u64 err_len` | on error: message length in bytes (UTF-8, reads `[5003] export not found: ...`) |
//!
//!   The error travels in the caller's buffer, not in a thread-local, because Deno runs `nonblocking` symbols on a
//!   worker thread: a thread-local written there could not be read back from the JavaScript thread.
//! * **Blobs.** Variable-length results (error messages, export lists, captured output) are parked in a
//!   process-global table and fetched once with [`ext_wasm_blob_take`], which copies them into a caller buffer
//!   of exactly the announced length and frees them. Ids are never reused; an unknown id is an error, never a
//!   read of someone else's memory.
//! * **Values** cross in a *frame*: the out record followed by 16-byte slots, `tag: u8` at slot offset 0
//!   (bytes 1..8 ignored on input, zeroed on output), payload at slot offset 8:
//!
//!   | tag | name | payload | direction |
//!   |---|---|---|---|
//!   | 1 | `I32` | `i32` in bytes 8..12 | both |
//!   | 2 | `I64` | `i64` | both |
//!   | 3 | `F32` | `f32` bits in bytes 8..12 | both |
//!   | 4 | `F64` | `f64` bits | both |
//!   | 5 | `NUMBER` | `f64`: a JS number, converted by the parameter's type ([`Value::Number`]) | argument |
//!   | 6 | `BIGINT` | `i64`: a JS BigInt within the i64 range ([`Value::BigInt`]) | argument |
//!   | 7 | `BIGINT_WIDE` | low 64 bits here, high 64 bits (signed) in the *next* slot's payload: a BigInt outside the i64 range, as i128 | argument, 2 slots |
//!
//!   Results overwrite the argument slots from slot 0. A frame of 1024 slots holds any call: wasm limits a
//!   function type to 1000 results.
//! * **Handles** are `u64` below 2^52 (guaranteed by the core), so they survive a JavaScript `number`.
//! * **Threads.** Every function may be called from any thread, concurrently. `ts/ffi_backend.ts` binds
//!   `ext_wasm_compile` and `ext_wasm_compile_file` as `nonblocking` (Deno runs them on a worker thread),
//!   `ext_wasm_call` and `ext_wasm_run_command` twice (synchronously for `callSync`, `nonblocking` for `call`),
//!   and everything else synchronously on the JavaScript thread.
//! * **Unloading.** The library never unloads once the runtime exists (see `pin_library`): Deno closes a
//!   library when the worker that opened it ends, while the runtime's threads still run its code.
//! * **Buffers.** A `(ptr, len)` pair with `len == 0` may have any `ptr`, including null (Deno passes null for
//!   empty typed arrays); it is never dereferenced. Otherwise the pointer must be valid for `len` bytes for the
//!   duration of the call and not be written by anyone else meanwhile (for synchronous calls the JavaScript thread
//!   is blocked inside the call; for nonblocking calls `ts/ffi_backend.ts` passes only buffers it owns and does not
//!   touch until the promise settles: `compile` copies the caller's bytes first, because Deno does not keep a
//!   buffer argument of a nonblocking call alive or immutable). To C a Deno `buffer` and a `pointer` parameter
//!   are the same `*u8`: `ts/ffi_backend.ts` binds the out record of synchronous calls, the `callSync` frame and
//!   encoded export names as `pointer`s taken once (Deno's fast call path passes them for free; each `buffer`
//!   argument costs ~12 ns), over buffers it allocates off the V8 heap and keeps for as long as it uses them.
//!
//! The runtime is created on first use with [`RuntimeConfig::default()`] (artifact cache in the platform cache
//! directory or `$EXT_WASM_CACHE_DIR`), unless [`ext_wasm_init`] configured it first.

#![deny(unsafe_op_in_unsafe_fn)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Deserialize;

use crate::capabilities::Capabilities;
use crate::config::RuntimeConfig;
use crate::error::{Error, ErrorCode, Result};
use crate::instance::{CallLimits, InstanceId, InstanceOptions};
use crate::module::{ExportInfo, ModuleId};
use crate::runtime::Runtime;
use crate::value::Value;
use crate::wasi::{InputMode, OutputMode, Preopen, WasiOptions};

/// Version of this ABI. `ts/ffi_backend.ts` refuses a library whose version differs (a stale build).
pub const ABI_VERSION: u32 = 1;

use crate::value_frame;
pub use crate::value_frame::{tag, OUT_HEADER, SLOT};

// ---------------------------------------------------------------------------------------------------------------
// The process-global runtime
// ---------------------------------------------------------------------------------------------------------------

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime, created with the default configuration on first use.
fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        pin_library();
        Runtime::new(RuntimeConfig::default())
    })
}

/// Keep this shared library mapped for the life of the process.
///
/// Deno closes a `Deno.dlopen` library when the worker (or test module) that opened it goes away. The runtime
/// owns threads (the epoch ticker, Cranelift's compile pool) that run this library's code; unmapping it under
/// them would crash the process. Re-opening ourselves with `RTLD_NODELETE` makes the loader ignore the final
/// `dlclose`, so a later `Deno.dlopen` finds the same library and the same runtime.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn pin_library() {
    use std::ffi::{c_char, c_int, c_void};

    #[repr(C)]
    struct DlInfo {
        dli_fname: *const c_char,
        dli_fbase: *mut c_void,
        dli_sname: *const c_char,
        dli_saddr: *mut c_void,
    }
    extern "C" {
        fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
        fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    }
    #[cfg(target_os = "linux")]
    const FLAGS: c_int = 0x0001 /* RTLD_LAZY */ | 0x0004 /* RTLD_NOLOAD */ | 0x1000 /* RTLD_NODELETE */;
    #[cfg(target_os = "macos")]
    const FLAGS: c_int = 0x1 /* RTLD_LAZY */ | 0x10 /* RTLD_NOLOAD */ | 0x80 /* RTLD_NODELETE */;

    let mut info = DlInfo {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: `dladdr` only reads the address (a function of this library, so it lies in a mapped object) and
    // writes the four fields of `info`, a properly laid out `Dl_info` we own. `dli_fname` then points to the
    // loader's NUL-terminated path of this object, valid while the object is loaded, which it is during this
    // call; `dlopen` with `RTLD_NOLOAD` only bumps the reference count of that already-loaded object (and sets
    // `RTLD_NODELETE` on it); the handle is deliberately leaked.
    unsafe {
        if dladdr(pin_library as *const c_void, &mut info) != 0 && !info.dli_fname.is_null() {
            dlopen(info.dli_fname, FLAGS);
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn pin_library() {}

/// Runtime configuration accepted by [`ext_wasm_init`] (JSON, camelCase, every field optional).
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
        if let Some(limit) = self.capture_limit {
            c.capture_limit = limit;
        }
        let caps = Capabilities {
            deny_file_compile: self.deny_file_compile.unwrap_or(false),
            deny_wasi: self.deny_wasi.unwrap_or(false),
            preopen_roots: self.preopen_roots,
            allow_root_preopen: self.allow_root_preopen.unwrap_or(false),
            checker: None,
        };
        c.capabilities = Arc::new(caps);
        c
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Instance options on the wire
// ---------------------------------------------------------------------------------------------------------------

/// A fuel amount: a JSON number, or a decimal string for values a JavaScript number cannot hold exactly.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WireFuel {
    Number(u64),
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

/// Where a WASI output stream goes on the wire: `"discard"` (default), `"inherit"` or `"capture"`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireOutput {
    #[default]
    Discard,
    Inherit,
    Capture,
}

/// Where WASI stdin comes from on the wire: `"empty"` (default), `"inherit"`, or `{ "bytes": [..] }`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireInput {
    #[default]
    Empty,
    Inherit,
    Bytes(Vec<u8>),
}

/// Instance options as `ts/mod.ts` normalizes them (the `InstanceOptionsWire` type of `ts/backend.ts`): JSON for
/// the C ABI, the same shape through `serde_v8` for the deno_core ops. `wasi: None` when the caller set no WASI
/// field at all.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WireInstanceOptions {
    pub wasi: Option<WireWasi>,
    pub fuel: Option<WireFuel>,
    pub call_fuel: Option<WireFuel>,
    pub timeout_ms: Option<f64>,
    pub max_memory_bytes: Option<u64>,
}

/// The WASI part of [`WireInstanceOptions`].
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WireWasi {
    pub program_name: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// `[name, value]` pairs, in order.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// `[guest, host, readOnly]` triples.
    #[serde(default)]
    pub preopens: Vec<(String, PathBuf, bool)>,
    #[serde(default)]
    pub stdin: WireInput,
    #[serde(default)]
    pub stdout: WireOutput,
    #[serde(default)]
    pub stderr: WireOutput,
}

impl WireInstanceOptions {
    /// The core's options. A non-positive or non-finite timeout, or an unparsable fuel amount → 5007.
    pub fn into_options(self) -> Result<InstanceOptions> {
        let timeout = match self.timeout_ms {
            None => None,
            Some(ms) if ms.is_finite() && ms > 0.0 && ms < 1e15 => Some(Duration::from_secs_f64(ms / 1000.0)),
            Some(ms) => {
                return Err(Error::Type(format!(
                    "`timeoutMs` must be a positive number of milliseconds, got {ms}"
                )))
            }
        };
        let max_memory_bytes = match self.max_memory_bytes {
            None => None,
            Some(n) => Some(usize::try_from(n).map_err(|_| Error::Type(format!("`maxMemoryBytes` {n} is too large")))?),
        };
        let output = |o: WireOutput| match o {
            WireOutput::Discard => OutputMode::Discard,
            WireOutput::Inherit => OutputMode::Inherit,
            WireOutput::Capture => OutputMode::Capture,
        };
        let wasi = self.wasi.map(|w| WasiOptions {
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
                WireInput::Bytes(b) => InputMode::Bytes(b),
            },
            stdout: output(w.stdout),
            stderr: output(w.stderr),
        });
        Ok(InstanceOptions {
            wasi,
            fuel: self.fuel.as_ref().map(|f| f.get("fuel")).transpose()?,
            call_fuel: self.call_fuel.as_ref().map(|f| f.get("callFuel")).transpose()?,
            timeout,
            max_memory_bytes,
        })
    }
}

/// Exports as JSON: `[{"name","kind","params"?,"results"?}]`, `params`/`results` for functions only.
fn exports_json(exports: &[ExportInfo]) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Item<'a> {
        name: &'a str,
        kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        params: Option<Vec<&'static str>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        results: Option<Vec<&'static str>>,
    }
    let items: Vec<Item<'_>> = exports
        .iter()
        .map(|e| {
            let func = e.kind == crate::module::ExportKind::Func;
            Item {
                name: &e.name,
                kind: e.kind.as_str(),
                params: func.then(|| e.params.iter().map(|t| t.as_str()).collect()),
                results: func.then(|| e.results.iter().map(|t| t.as_str()).collect()),
            }
        })
        .collect();
    serde_json::to_vec(&items).unwrap_or_else(|_| b"[]".to_vec())
}

// ---------------------------------------------------------------------------------------------------------------
// Blobs, out records, frames
// ---------------------------------------------------------------------------------------------------------------

static BLOB_IDS: AtomicU64 = AtomicU64::new(1);
static BLOBS: OnceLock<Mutex<HashMap<u64, Vec<u8>>>> = OnceLock::new();

fn blobs() -> std::sync::MutexGuard<'static, HashMap<u64, Vec<u8>>> {
    BLOBS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Park `bytes`; returns `(id, len)`.
fn park(bytes: Vec<u8>) -> (u64, u64) {
    let id = BLOB_IDS.fetch_add(1, Ordering::Relaxed);
    let len = bytes.len() as u64;
    blobs().insert(id, bytes);
    (id, len)
}

/// The caller's out record (and, for calls, the value slots after it).
struct Out<'a> {
    bytes: &'a mut [u8],
}

impl Out<'_> {
    fn put_u64(&mut self, at: usize, v: u64) {
        self.bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    fn set_a(&mut self, v: u64) {
        self.put_u64(0, v);
    }
    fn set_b(&mut self, v: u64) {
        self.put_u64(8, v);
    }
    fn set_blob(&mut self, bytes: Vec<u8>) {
        let (id, len) = park(bytes);
        self.set_a(id);
        self.set_b(len);
    }
    fn set_error(&mut self, e: &Error) {
        let (id, len) = park(e.to_string().into_bytes());
        self.put_u64(16, id);
        self.put_u64(24, len);
    }
}

/// A caller buffer as a shared slice; `len == 0` never touches `ptr`.
///
/// # Safety
/// When `len > 0`, `ptr` must be valid for reads of `len` bytes for `'a`, and not written meanwhile.
unsafe fn bytes_in<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::Type("null buffer with a non-zero length".into()));
    }
    // SAFETY: non-null, and valid for `len` bytes and unaliased by writers for `'a` per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A caller buffer as a mutable slice; `len == 0` never touches `ptr`.
///
/// # Safety
/// When `len > 0`, `ptr` must be valid for reads and writes of `len` bytes for `'a`, and nobody else may access
/// it meanwhile.
unsafe fn bytes_out<'a>(ptr: *mut u8, len: usize) -> Result<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(Error::Type("null buffer with a non-zero length".into()));
    }
    // SAFETY: non-null, valid and exclusively ours for `len` bytes for `'a` per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// [`bytes_in`] for an argument passed beside the out record (or frame) `out`: refused (5007) when the two
/// overlap, as when a caller passes one buffer as both.
///
/// # Safety
/// As [`bytes_in`] for `ptr`.
unsafe fn input_beside<'a>(ptr: *const u8, len: usize, out: *mut u8, out_len: usize, what: &str) -> Result<&'a [u8]> {
    if overlap(ptr, len, out, out_len) {
        return Err(Error::Type(format!("the {what} and the out buffer overlap")));
    }
    // SAFETY: forwarded contract.
    unsafe { bytes_in(ptr, len) }
}

/// [`bytes_out`] for a destination passed beside the out record `out`, refusing an overlap as [`input_beside`].
///
/// # Safety
/// As [`bytes_out`] for `ptr`.
unsafe fn output_beside<'a>(
    ptr: *mut u8,
    len: usize,
    out: *mut u8,
    out_len: usize,
    what: &str,
) -> Result<&'a mut [u8]> {
    if overlap(ptr, len, out, out_len) {
        return Err(Error::Type(format!("the {what} and the out buffer overlap")));
    }
    // SAFETY: forwarded contract.
    unsafe { bytes_out(ptr, len) }
}

/// Whether two byte ranges overlap (a caller passing one buffer as two arguments).
fn overlap(a: *const u8, a_len: usize, b: *const u8, b_len: usize) -> bool {
    let (a, b) = (a as usize, b as usize);
    a_len != 0 && b_len != 0 && a < b.wrapping_add(b_len) && b < a.wrapping_add(a_len)
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|_| Error::Type(format!("{what} is not valid UTF-8")))
}

impl Out<'_> {
    /// The caller's out record, or `None` when the buffer is null or shorter than [`OUT_HEADER`].
    ///
    /// # Safety
    /// When non-null, `ptr` must be valid for reads and writes of `len` bytes for `'a` and accessed by nobody
    /// else meanwhile (every `ext_wasm_*` function states this contract for its `out`).
    unsafe fn new<'a>(ptr: *mut u8, len: usize) -> Option<Out<'a>> {
        if ptr.is_null() || len < OUT_HEADER {
            return None;
        }
        // SAFETY: non-null, valid and exclusively ours for `len` bytes for `'a` (this function's contract).
        Some(Out {
            bytes: unsafe { std::slice::from_raw_parts_mut(ptr, len) },
        })
    }
}

/// Run `f` with the caller's out record, turning errors and panics into a status code plus a parked message.
fn run(out: Option<Out<'_>>, f: impl FnOnce(&mut Out<'_>) -> Result<()>) -> i32 {
    let Some(mut out) = out else {
        // Nowhere to put a message: the bare code still tells the caller what went wrong.
        return ErrorCode::TypeError.as_u16() as i32;
    };
    out.bytes[..OUT_HEADER].fill(0);
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut out))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(Error::Call(format!("internal error (panic in ext_wasm): {what}")))
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            out.bytes[..OUT_HEADER].fill(0);
            out.set_error(&e);
            e.code().as_u16() as i32
        }
    }
}

thread_local! {
    /// Argument and result vectors reused by every call made on this thread (no allocation once warm).
    static CALL_SCRATCH: RefCell<(Vec<Value>, Vec<Value>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

// ---------------------------------------------------------------------------------------------------------------
// The ABI
// ---------------------------------------------------------------------------------------------------------------

/// The ABI version ([`ABI_VERSION`]). Costs nothing; call it once after loading to detect a stale library.
#[no_mangle]
pub extern "C" fn ext_wasm_abi_version() -> u32 {
    ABI_VERSION
}

/// Configure the process-global runtime before its first use. `config_json` is a [`WireRuntimeConfig`] as JSON
/// (UTF-8, `len` bytes; an empty buffer means defaults). On success `a = 1` when this configuration was applied,
/// `a = 0` when the runtime already existed (the configuration is then ignored). Malformed JSON → 5007.
/// Cost: opening the cache directory and its key file, once.
///
/// # Safety
/// `config_json` valid for reads of `len` bytes (or `len == 0`); `out` valid for reads and writes of `out_len`
/// bytes, both untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_init(config_json: *const u8, len: usize, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |out| {
        // SAFETY: forwarded contract: `config_json` is valid for `len` bytes and not written during the call.
        let text = unsafe { bytes_in(config_json, len) }?;
        let wire: WireRuntimeConfig = if text.iter().all(u8::is_ascii_whitespace) {
            WireRuntimeConfig::default()
        } else {
            serde_json::from_slice(text).map_err(|e| Error::Type(format!("invalid runtime config: {e}")))?
        };
        let mut applied = false;
        RUNTIME.get_or_init(|| {
            applied = true;
            pin_library();
            Runtime::new(wire.into_config())
        });
        out.set_a(applied as u64);
        Ok(())
    })
}

/// Compile a module from `len` bytes of wasm binary or text. On success `a` = the module handle. Invalid bytes →
/// 5000; the live-module cap → 5013. Cost: Cranelift compile (milliseconds to seconds) unless the same bytes are
/// already live in this process (a hash) or in the artifact cache (a hash, a MAC check and an `mmap`). Deno binds
/// it `nonblocking`.
///
/// # Safety
/// `bytes` valid for reads of `len` bytes (or `len == 0`) and not written during the call; `out` valid for reads
/// and writes of `out_len` bytes and untouched by others during the call; the two do not overlap.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_compile(bytes: *const u8, len: usize, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |o| {
        // SAFETY: forwarded contract for `bytes`; the helper refuses an overlap with `out`.
        let bytes = unsafe { input_beside(bytes, len, out, out_len, "bytes") }?;
        let id = runtime().compile(bytes)?;
        o.set_a(id.0);
        Ok(())
    })
}

/// Read and compile a `.wasm` or `.wat` file (`path`: `len` bytes of path, UTF-8 or, on Unix, any bytes;
/// relative paths resolve against the process's working directory). On success `a` = the module handle.
/// Unreadable → 5008; refused by the capability policy → 5009; invalid → 5000. Cost: a file read plus
/// [`ext_wasm_compile`]. Deno binds it `nonblocking`.
///
/// # Safety
/// As [`ext_wasm_compile`], with `path` in place of `bytes`.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_compile_file(path: *const u8, len: usize, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |o| {
        // SAFETY: forwarded contract for `path`; the helper refuses an overlap with `out`.
        let raw = unsafe { input_beside(path, len, out, out_len, "path") }?;
        #[cfg(unix)]
        let path = std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(raw));
        #[cfg(not(unix))]
        let path = std::path::Path::new(utf8(raw, "the path")?);
        let id = runtime().compile_file(path)?;
        o.set_a(id.0);
        Ok(())
    })
}

/// Drop a module handle. Instances created from it keep working. Stale or unknown handle → 5004. Cost: a table
/// removal; the code is freed when its last instance goes.
///
/// # Safety
/// `out` valid for reads and writes of `out_len` bytes and untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_module_drop(module: u64, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |_| runtime().drop_module(ModuleId(module)))
}

/// A module's exports as a JSON blob: `a` = blob id, `b` = length (see [`ext_wasm_blob_take`]). Stale handle →
/// 5004. Cost: serializing the export list.
///
/// # Safety
/// `out` valid for reads and writes of `out_len` bytes and untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_module_exports(module: u64, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |o| {
        let exports = runtime().module_exports(ModuleId(module))?;
        o.set_blob(exports_json(&exports));
        Ok(())
    })
}

/// Instantiate a module. `options_json` is a [`WireInstanceOptions`] as JSON (`len == 0` for defaults). On
/// success `a` = the instance handle. Stale module → 5004; bad options → 5007; WASI setup → 5010 or 5009; link
/// or start failure → 5001; a cap → 5013. Cost: microseconds on a warm pool, plus, the first time a module is
/// used with `fuel` or `timeoutMs`, compiling (or loading) the instrumented variant of its code.
///
/// # Safety
/// `options_json` valid for reads of `len` bytes (or `len == 0`) and not written during the call; `out` valid
/// for reads and writes of `out_len` bytes and untouched by others during the call; the two do not overlap.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_instantiate(
    module: u64,
    options_json: *const u8,
    len: usize,
    out: *mut u8,
    out_len: usize,
) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |o| {
        // SAFETY: forwarded contract for `options_json`; the helper refuses an overlap with `out`.
        let text = unsafe { input_beside(options_json, len, out, out_len, "options") }?;
        let options = if len == 0 {
            InstanceOptions::default()
        } else {
            let wire: WireInstanceOptions =
                serde_json::from_slice(text).map_err(|e| Error::Type(format!("invalid instance options: {e}")))?;
            wire.into_options()?
        };
        let id = runtime().instantiate(ModuleId(module), &options)?;
        o.set_a(id.0);
        Ok(())
    })
}

/// Drop an instance, returning its pool slot (a call still running on it finishes first). Stale handle → 5005.
/// Cost: a table removal plus the slot's reset.
///
/// # Safety
/// `out` valid for reads and writes of `out_len` bytes and untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_instance_drop(instance: u64, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |_| runtime().drop_instance(InstanceId(instance)))
}

/// Call export `name` (`name_len` bytes of UTF-8) with `nargs` arguments read from the frame's slots; on success
/// `a` = the number of results, written to the slots from slot 0 (see the module docs for the encoding).
/// Missing export → 5003; stale handle → 5005; arity or type mismatch, an integer out of range for its
/// parameter → 5007; trap → 5002; fuel → 5011; timeout → 5012. A WASI `proc_exit(n)` is not an error: it
/// returns no results and records the exit status ([`ext_wasm_exit_code`]). Cost: the guest's run time plus
/// ~100 ns; no allocation once the thread's scratch vectors and the instance's export cache are warm. Deno binds
/// it twice: synchronously (`callSync`) and `nonblocking` (`call`).
///
/// # Safety
/// `name` valid for reads of `name_len` bytes (or `name_len == 0`) and not written during the call; `frame`
/// valid for reads and writes of `frame_len` bytes and untouched by others during the call. Overlapping buffers
/// are refused.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_call(
    instance: u64,
    name: *const u8,
    name_len: usize,
    frame: *mut u8,
    frame_len: usize,
    nargs: u32,
) -> i32 {
    // SAFETY: the caller guarantees `frame` is valid and exclusively ours for `frame_len` bytes during the call.
    let record = unsafe { Out::new(frame, frame_len) };
    run(record, |o| {
        // SAFETY: forwarded contract for `name`; the helper refuses an overlap with `frame`.
        let name = export_name(unsafe { input_beside(name, name_len, frame, frame_len, "name") }?)?;
        let instance = InstanceId(instance);
        // The thread's scratch vectors, borrowed in place. Busy only if this thread re-entered `ext_wasm_call`
        // during a call (guests cannot call back into the host today); then the call gets vectors of its own.
        CALL_SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                let (args, results) = &mut *scratch;
                call_frame(o, instance, name, nargs as usize, args, results)
            }
            Err(_) => call_frame(o, instance, name, nargs as usize, &mut Vec::new(), &mut Vec::new()),
        })
    })
}

/// Decode the frame's arguments, call, encode the results; leaves `args` and `results` empty.
fn call_frame(
    o: &mut Out<'_>,
    instance: InstanceId,
    name: &str,
    nargs: usize,
    args: &mut Vec<Value>,
    results: &mut Vec<Value>,
) -> Result<()> {
    args.clear();
    results.clear();
    let outcome = value_frame::decode_args(o.bytes, nargs, args)
        .and_then(|()| runtime().call_into(instance, name, args, CallLimits::default(), results))
        .and_then(|()| value_frame::encode_results(o.bytes, results))
        .map(|n| o.set_a(u64::from(n)));
    args.clear();
    results.clear();
    outcome
}

/// An export name as `&str`. ASCII names (nearly all) skip the general UTF-8 validation (~60 instructions for a
/// short name, a tenth of this file's share of a call).
fn export_name(bytes: &[u8]) -> Result<&str> {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    utf8(bytes, "the export name")
}

/// Run a WASI command's `_start`; on success `a` = its exit status (0 when `_start` returns, `n` after
/// `proc_exit(n)`), also kept for [`ext_wasm_exit_code`]. No `_start` → 5003; traps and limits as for
/// [`ext_wasm_call`]. Cost: the command's run time. Deno binds it synchronously and `nonblocking`.
///
/// # Safety
/// `out` valid for reads and writes of `out_len` bytes and untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_run_command(instance: u64, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |o| {
        let code = runtime().run_command(InstanceId(instance))?;
        o.set_a(code as i64 as u64);
        Ok(())
    })
}

/// The exit status a WASI command recorded: `b = 1` and `a` = the status (as i64 bits) when there is one,
/// `b = 0` otherwise. Stale handle → 5005. Cost: an instance lock.
///
/// # Safety
/// `out` valid for reads and writes of `out_len` bytes and untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_exit_code(instance: u64, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |o| {
        if let Some(code) = runtime().exit_code(InstanceId(instance))? {
            o.set_a(code as i64 as u64);
            o.set_b(1);
        }
        Ok(())
    })
}

/// An instance's exports as a JSON blob (`a` = blob id, `b` = length), same format as
/// [`ext_wasm_module_exports`]. Stale handle → 5005. Cost: walking the module's export list.
///
/// # Safety
/// `out` valid for reads and writes of `out_len` bytes and untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_instance_exports(instance: u64, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |o| {
        let exports = runtime().instance_exports(InstanceId(instance))?;
        o.set_blob(exports_json(&exports));
        Ok(())
    })
}

/// Captured output as a blob (`a` = blob id, `b` = length): `stream` 1 = stdout, 2 = stderr. Empty unless the
/// instance was created capturing that stream. Stale handle → 5005; another `stream` → 5007. Cost: one copy of
/// the captured bytes (plus the one into the caller's buffer at [`ext_wasm_blob_take`]).
///
/// # Safety
/// `out` valid for reads and writes of `out_len` bytes and untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_output(instance: u64, stream: u32, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |o| {
        let bytes = match stream {
            1 => runtime().stdout(InstanceId(instance))?,
            2 => runtime().stderr(InstanceId(instance))?,
            other => {
                return Err(Error::Type(format!(
                    "unknown output stream {other} (1 = stdout, 2 = stderr)"
                )))
            }
        };
        o.set_blob(bytes);
        Ok(())
    })
}

/// Copy `len` bytes of the instance's (first) memory at `offset` into `dst`: one copy, no allocation. Out of
/// bounds → 5006 (nothing copied); no memory → 5006; stale handle → 5005.
///
/// # Safety
/// `dst` valid for writes of `len` bytes (or `len == 0`) and `out` valid for reads and writes of `out_len`
/// bytes, both untouched by others during the call. Overlapping buffers are refused.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_memory_read(
    instance: u64,
    offset: u64,
    dst: *mut u8,
    len: usize,
    out: *mut u8,
    out_len: usize,
) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |_| {
        // SAFETY: forwarded contract for `dst`; the helper refuses an overlap with `out`.
        let dst = unsafe { output_beside(dst, len, out, out_len, "destination") }?;
        runtime().read_memory(InstanceId(instance), None, offset, dst)
    })
}

/// Copy `len` bytes from `src` into the instance's (first) memory at `offset`: one copy. Out of bounds → 5006
/// (nothing written); stale handle → 5005.
///
/// # Safety
/// `src` valid for reads of `len` bytes (or `len == 0`) and not written during the call; `out` valid for reads
/// and writes of `out_len` bytes and untouched by others during the call. Overlapping buffers are refused.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_memory_write(
    instance: u64,
    offset: u64,
    src: *const u8,
    len: usize,
    out: *mut u8,
    out_len: usize,
) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |_| {
        // SAFETY: forwarded contract for `src`; the helper refuses an overlap with `out`.
        let src = unsafe { input_beside(src, len, out, out_len, "source") }?;
        runtime().write_memory(InstanceId(instance), None, offset, src)
    })
}

/// Size of the instance's (first) memory: `a` = pages (64 KiB), `b` = bytes. No memory → 5006; stale handle →
/// 5005. Cost: an instance lock.
///
/// # Safety
/// `out` valid for reads and writes of `out_len` bytes and untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_memory_size(instance: u64, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |o| {
        let rt = runtime();
        let id = InstanceId(instance);
        o.set_a(rt.memory_size(id, None)?);
        o.set_b(rt.memory_byte_len(id, None)?);
        Ok(())
    })
}

/// Grow the instance's (first) memory by `pages`; `a` = the old size in pages. Past the instance's
/// `maxMemoryBytes` → 5013; past the module's maximum or the address space → 5006. Cost: a `mprotect` at most
/// (pooled memories are reserved up front).
///
/// # Safety
/// `out` valid for reads and writes of `out_len` bytes and untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_memory_grow(instance: u64, pages: u64, out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |o| {
        o.set_a(runtime().memory_grow(InstanceId(instance), None, pages)?);
        Ok(())
    })
}

/// Live counts: `a` = module handles, `b` = instances. Cost: two atomic loads.
///
/// # Safety
/// `out` valid for reads and writes of `out_len` bytes and untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_stats(out: *mut u8, out_len: usize) -> i32 {
    // SAFETY: the caller guarantees `out` is valid and exclusively ours for `out_len` bytes during the call.
    let record = unsafe { Out::new(out, out_len) };
    run(record, |o| {
        let rt = runtime();
        o.set_a(rt.module_count() as u64);
        o.set_b(rt.instance_count() as u64);
        Ok(())
    })
}

/// Copy blob `id` into `dst` and free it. `len` must equal the announced length, else nothing is copied and the
/// blob stays (5007); an unknown or already taken id → 5007. Returns the status only (no out record: this is how
/// a caller reads the messages of failed out records). Cost: one copy of the blob.
///
/// # Safety
/// `dst` valid for writes of `len` bytes (or `len == 0`) and untouched by others during the call.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_blob_take(id: u64, dst: *mut u8, len: usize) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut table = blobs();
        match table.get(&id) {
            Some(blob) if blob.len() == len => {}
            _ => return ErrorCode::TypeError.as_u16() as i32,
        }
        // SAFETY: forwarded contract for `dst`.
        let Ok(dst) = (unsafe { bytes_out(dst, len) }) else {
            return ErrorCode::TypeError.as_u16() as i32;
        };
        if let Some(blob) = table.remove(&id) {
            dst.copy_from_slice(&blob);
        }
        0
    }));
    result.unwrap_or(ErrorCode::CallError.as_u16() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(slots: usize) -> Vec<u8> {
        vec![0u8; OUT_HEADER + slots * SLOT]
    }

    fn take_error(buf: &[u8]) -> String {
        let id = u64::from_le_bytes(buf[16..24].try_into().unwrap());
        let len = u64::from_le_bytes(buf[24..32].try_into().unwrap()) as usize;
        let mut msg = vec![0u8; len];
        // SAFETY: `msg` is a live buffer of exactly `len` bytes.
        assert_eq!(unsafe { ext_wasm_blob_take(id, msg.as_mut_ptr(), len) }, 0);
        String::from_utf8(msg).unwrap()
    }

    #[test]
    fn compile_call_and_errors_round_trip() {
        let wat = br#"(module (func (export "add") (param i32 i64) (result i64 f32)
            local.get 1 local.get 0 i64.extend_i32_s i64.add f32.const 0.5))"#;
        let mut f = frame(8);
        // SAFETY: all buffers are live, distinct Vecs of the stated lengths.
        unsafe {
            assert_eq!(ext_wasm_compile(wat.as_ptr(), wat.len(), f.as_mut_ptr(), f.len()), 0);
            let module = u64::from_le_bytes(f[..8].try_into().unwrap());
            assert_eq!(
                ext_wasm_instantiate(module, std::ptr::null(), 0, f.as_mut_ptr(), f.len()),
                0
            );
            let inst = u64::from_le_bytes(f[..8].try_into().unwrap());
            f[32] = tag::NUMBER;
            f[40..48].copy_from_slice(&2.0f64.to_bits().to_le_bytes());
            f[48] = tag::BIGINT_WIDE;
            f[56..64].copy_from_slice(&u64::MAX.to_le_bytes());
            f[72..80].copy_from_slice(&0i64.to_le_bytes()); // 2^64 - 1: fits i64 as -1
            let name = b"add";
            assert_eq!(ext_wasm_call(inst, name.as_ptr(), 3, f.as_mut_ptr(), f.len(), 2), 0);
            assert_eq!(u64::from_le_bytes(f[..8].try_into().unwrap()), 2);
            assert_eq!(f[32], tag::I64);
            assert_eq!(i64::from_le_bytes(f[40..48].try_into().unwrap()), 1);
            assert_eq!(f[48], tag::F32);
            let missing = b"nope";
            let code = ext_wasm_call(inst, missing.as_ptr(), 4, f.as_mut_ptr(), f.len(), 0);
            assert_eq!(code, 5003);
            assert!(take_error(&f).starts_with("[5003] "));
            assert_eq!(ext_wasm_instance_drop(inst, f.as_mut_ptr(), f.len()), 0);
            assert_eq!(ext_wasm_instance_drop(inst, f.as_mut_ptr(), f.len()), 5005);
            assert_eq!(ext_wasm_module_drop(module, f.as_mut_ptr(), f.len()), 0);
        }
    }

    #[test]
    fn short_out_buffer_and_unknown_blob_are_refused() {
        let mut small = [0u8; 8];
        // SAFETY: `small` is a live 8-byte buffer; the function refuses it before writing.
        assert_eq!(unsafe { ext_wasm_stats(small.as_mut_ptr(), small.len()) }, 5007);
        // SAFETY: a zero-length destination is never dereferenced.
        assert_eq!(unsafe { ext_wasm_blob_take(u64::MAX, std::ptr::null_mut(), 0) }, 5007);
    }
}
