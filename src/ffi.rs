//! The C ABI: flat `extern "C"` functions over one process-global [`Runtime`], loaded by stock Deno with
//! `Deno.dlopen` (see `ts/ffi_backend.ts`). Transport only: each function turns pointers into slices, calls the
//! [`crate::wire`] function of the same name, and writes the answer (or the error) into the caller's out record.
//! Every rule about the inputs themselves (JSON, handles, frames, streams) lives in the wire layer.
//!
//! # Conventions
//!
//! * **Status.** Every fallible function returns an `i32`: `0` on success, otherwise the error code
//!   (`5000..=5013`, [`ErrorCode`]). Nothing panics across the boundary: a panic inside the runtime is caught and
//!   reported as `5002`.
//! * **Out record.** Fallible functions take `out: *mut u8, out_len: usize`, a caller-owned buffer of at least
//!   [`OUT_HEADER`] (32) bytes, little-endian: `u64 a` at 0 (the primary result: a handle, a count, a size, an
//!   exit status), `u64 b` at 8 (secondary, per function), and on error `u64 err_blob` at 16 and `u64 err_len` at
//!   24: the message (`[5003] export not found: ...`) as a blob. The error travels in the caller's buffer, not in
//!   a thread-local, because Deno runs `nonblocking` symbols on a worker thread.
//! * **Blobs.** Variable-length results (messages, export lists, captured output) are parked in a process-global
//!   table and fetched once with [`ext_wasm_blob_take`]. Ids are never reused; an unknown id is an error.
//! * **Values** cross in a value frame (layout: [`crate::wire`]) whose header is the out record.
//! * **Handles, offsets and page counts** are `f64`: a JavaScript number goes through Deno's fast call path
//!   as is, and the wire layer applies the one rule for what it may be.
//! * **Threads.** Every function may be called from any thread, concurrently. `ts/ffi_backend.ts` binds
//!   `ext_wasm_compile`, `ext_wasm_compile_file` and `ext_wasm_call_finish` as `nonblocking` (a Deno worker
//!   thread); everything else runs on the JS thread.
//! * **Calls and host functions** (the protocol: [`crate::wire`], "one suspension protocol"):
//!   `ext_wasm_call_start` / `ext_wasm_run_command_start` start a call on the calling thread and write its step
//!   into the frame header; `ext_wasm_call_continue` runs one more time slice of a yielded one on the calling
//!   thread (after the event loop had a turn); `ext_wasm_call_finish` finishes a pending one (blocking: bind it
//!   `nonblocking`); `ext_wasm_call_resume` answers the JavaScript import a call waits in and continues it:
//!   such imports run between these calls, on the JS thread.
//! * **Imports called in place** (`bridgedImports`, the default of the TypeScript API, and `syncImports`):
//!   [`ext_wasm_set_host_callback`] registers one function pointer per thread, which the guest calls in place,
//!   inside the function that runs it (`ext_wasm_call`, `ext_wasm_call_func`, `ext_wasm_instantiate`, the
//!   `_start` functions, `ext_wasm_call_continue`, `ext_wasm_call_resume`, ...): bind those `callback: true`.
//! * **Unloading.** The library never unloads once the runtime exists (see `pin_library`): Deno closes a library
//!   when the worker that opened it ends, while the runtime's threads still run its code.
//! * **Buffers.** A `(ptr, len)` pair with `len == 0` may have any `ptr`, including null; it is never
//!   dereferenced. Otherwise the pointer must be valid for `len` bytes for the duration of the call and not be
//!   written by anyone else meanwhile. Buffers passed beside an out record must not overlap it (refused, 5007).
//!
//! The runtime is created on first use with [`RuntimeConfig::default()`] (artifact cache in the platform cache
//! directory or `$EXT_WASM_CACHE_DIR`), unless [`ext_wasm_init`] configured it first.

#![deny(unsafe_op_in_unsafe_fn)]

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::config::RuntimeConfig;
use crate::error::{Error, ErrorCode, Result};
use crate::runtime::Runtime;
use crate::wire;
pub use crate::wire::{tag, OUT_HEADER, SLOT};

/// Version of this ABI. `ts/ffi_backend.ts` refuses a library whose version differs (a stale build). Version 2:
/// handles, offsets and page counts as `f64`; WASI stdin bytes beside the instance options. Version 3: host
/// imports (`hostImports`, the `sync` flag of the start functions, [`ext_wasm_call_resume`]). Version 4: linking
/// (`exportImports`, `instanceImports`, indexed `hostImports`) and globals ([`ext_wasm_global`]). Version 7:
/// synchronous imports ([`ext_wasm_set_host_callback`], `syncImports`). Version 8: bridged imports
/// (`bridgedImports`; the callback's index bit 24 and answer `-1`; the host step's `started` word;
/// [`ext_wasm_in_host_function`]). Version 9: the host callback takes no arguments (they are in the frame's
/// header). Version 10: [`ext_wasm_call_numbers`]. Version 11: [`ext_wasm_call_numbers_named`].
pub const ABI_VERSION: u32 = 11;

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
    // SAFETY: `Dl_info` is plain data (pointers and integers): all zeroes is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let this = pin_library as *const libc::c_void;
    let flags = libc::RTLD_LAZY | libc::RTLD_NOLOAD | libc::RTLD_NODELETE;
    // SAFETY: `dladdr` only reads the address (a function of this library, so it lies in a mapped object) and
    // writes the fields of `info`, which we own. `dli_fname` then points to the loader's NUL-terminated path of
    // this object, valid while the object is loaded, which it is during this call; `dlopen` with `RTLD_NOLOAD`
    // only bumps the reference count of that already-loaded object (and sets `RTLD_NODELETE` on it); the handle
    // is deliberately leaked.
    unsafe {
        if libc::dladdr(this, &mut info) != 0 && !info.dli_fname.is_null() {
            libc::dlopen(info.dli_fname, flags);
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn pin_library() {}

// ---------------------------------------------------------------------------------------------------------------
// Blobs, out records, caller buffers
// ---------------------------------------------------------------------------------------------------------------

static BLOB_IDS: AtomicU64 = AtomicU64::new(1);
static BLOBS: OnceLock<Mutex<HashMap<u64, Vec<u8>>>> = OnceLock::new();

fn blobs() -> std::sync::MutexGuard<'static, HashMap<u64, Vec<u8>>> {
    BLOBS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Park `bytes` in the blob table; returns `(id, len)`.
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
    fn put(&mut self, at: usize, v: u64) {
        self.bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
}

/// A successful answer, as it goes into the out record's `a` and `b` fields.
trait Record {
    fn write(self, o: &mut Out<'_>);
}

impl Record for () {
    fn write(self, _: &mut Out<'_>) {}
}

/// `a`.
impl Record for u64 {
    fn write(self, o: &mut Out<'_>) {
        o.put(0, self);
    }
}

/// `a`, `b`.
impl Record for (u64, u64) {
    fn write(self, o: &mut Out<'_>) {
        o.put(0, self.0);
        o.put(8, self.1);
    }
}

/// Bytes as a blob: `a` = its id, `b` = its length.
impl Record for Vec<u8> {
    fn write(self, o: &mut Out<'_>) {
        park(self).write(o);
    }
}

/// Text (JSON) as a blob of its UTF-8 bytes.
impl Record for String {
    fn write(self, o: &mut Out<'_>) {
        self.into_bytes().write(o);
    }
}

/// An exit status: `a` = its i64 bits.
impl Record for i32 {
    fn write(self, o: &mut Out<'_>) {
        (self as i64 as u64).write(o);
    }
}

/// An exit status if any: `b = 1` and `a` = the status, or `b = 0`.
impl Record for Option<i32> {
    fn write(self, o: &mut Out<'_>) {
        if let Some(code) = self {
            (code as i64 as u64, 1).write(o);
        }
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

/// Refuse a buffer passed beside the out record `o` that overlaps it (a caller passing one buffer as two).
fn apart(o: &Out<'_>, ptr: *const u8, len: usize, what: &str) -> Result<()> {
    let (a, b) = (ptr as usize, o.bytes.as_ptr() as usize);
    if len != 0 && a < b.wrapping_add(o.bytes.len()) && b < a.wrapping_add(len) {
        return Err(Error::Type(format!("the {what} and the out buffer overlap")));
    }
    Ok(())
}

/// [`bytes_in`] for an argument beside the out record, refusing an overlap.
///
/// # Safety
/// As [`bytes_in`].
unsafe fn input<'a>(o: &Out<'_>, ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    apart(o, ptr, len, what)?;
    // SAFETY: forwarded contract.
    unsafe { bytes_in(ptr, len) }
}

/// UTF-8 text beside the out record. JavaScript strings always encode to valid UTF-8; ASCII (nearly every
/// export name) skips the general validation.
///
/// # Safety
/// As [`bytes_in`].
unsafe fn text<'a>(o: &Out<'_>, ptr: *const u8, len: usize, what: &str) -> Result<&'a str> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { input(o, ptr, len, what) }?;
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).map_err(|_| Error::Type(format!("the {what} is not valid UTF-8")))
}

/// Run `f` with the caller's out record and write its answer there; errors and panics become a status code plus
/// a parked message.
///
/// # Safety
/// When non-null, `out` must be valid for reads and writes of `out_len` bytes for the duration of the call and
/// accessed by nobody else meanwhile (every `ext_wasm_*` function states this contract for its `out`).
unsafe fn run<R: Record>(out: *mut u8, out_len: usize, f: impl FnOnce(&mut Out<'_>) -> Result<R>) -> i32 {
    if out.is_null() || out_len < OUT_HEADER {
        // Nowhere to put a message: the bare code still tells the caller what went wrong.
        return ErrorCode::TypeError.as_u16() as i32;
    }
    // SAFETY: non-null, and valid and exclusively ours for `out_len` bytes during the call (this function's
    // contract).
    let mut o = Out {
        bytes: unsafe { std::slice::from_raw_parts_mut(out, out_len) },
    };
    o.bytes[..OUT_HEADER].fill(0);
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut o))).unwrap_or_else(|panic| {
        let what = (panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(Error::Call(format!("internal error (panic in ext_wasm): {what}")))
    });
    match result {
        Ok(answer) => {
            answer.write(&mut o);
            0
        }
        Err(e) => {
            o.bytes[..OUT_HEADER].fill(0);
            let (id, len) = park(e.to_string().into_bytes());
            o.put(16, id);
            o.put(24, len);
            e.code().as_u16() as i32
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The ABI. Every function taking `out, out_len` has the contract of [`run`] for them; every `(ptr, len)` input
// pair that of [`bytes_in`] (`(ptr, len)` outputs, named so in their docs: [`bytes_out`]).
// ---------------------------------------------------------------------------------------------------------------

/// Defines C functions that answer in an out record, each running its body (a closure of the record) through
/// [`run`]. The record `(out, out_len)` follows the arguments written; in the functions that trade values in a
/// frame it is the frame, `(frame, frame_len)`, and stands where `; frame;` is written.
macro_rules! abi {
    () => {};
    ($(#[doc = $doc:literal])* fn $name:ident($($arg:ident: $ty:ty),*) = $body:expr; $($rest:tt)*) => {
        abi_fn!($(#[doc = $doc])* fn $name($($arg: $ty,)* out: *mut u8, out_len: usize) in (out, out_len) = $body);
        abi!($($rest)*);
    };
    (
        $(#[doc = $doc:literal])*
        fn $name:ident($($arg:ident: $ty:ty),*; frame; $($post:ident: $pty:ty),*) = $body:expr; $($rest:tt)*
    ) => {
        abi_fn!(
            $(#[doc = $doc])*
            fn $name($($arg: $ty,)* frame: *mut u8, frame_len: usize, $($post: $pty),*) in (frame, frame_len) = $body
        );
        abi!($($rest)*);
    };
}

/// One function of [`abi`], its out record named.
macro_rules! abi_fn {
    (
        $(#[doc = $doc:literal])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) in ($out:ident, $len:ident) = $body:expr
    ) => {
        $(#[doc = $doc])*
        ///
        /// # Safety
        /// The out record and each `(pointer, length)` pair of the arguments as the section above says.
        #[no_mangle]
        #[allow(clippy::too_many_arguments)] // one register per argument is the point
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> i32 {
            // SAFETY: forwarded contracts: [`run`]'s for the out record; the body turns each other pair into a
            // slice with [`input`], [`text`] or [`bytes_out`], whose contracts are this function's.
            unsafe { run($out, $len, $body) }
        }
    };
}

/// The ABI version ([`ABI_VERSION`]). Costs nothing; call it once after loading to detect a stale library.
#[no_mangle]
pub extern "C" fn ext_wasm_abi_version() -> u32 {
    ABI_VERSION
}

/// Wait until no tier-up is queued or running, at most `timeout_ms` ([`wire::wait_for_tier_up`]): 1 when none
/// is, else 0. Deno binds it `nonblocking` (it waits).
#[no_mangle]
pub extern "C" fn ext_wasm_wait_for_tier_up(timeout_ms: f64) -> i32 {
    i32::from(wire::wait_for_tier_up(runtime(), timeout_ms))
}

/// A call's step: [`wire`] wrote it into the frame's header already ([`wire::Step`]).
impl Record for wire::Step {
    fn write(self, _: &mut Out<'_>) {}
}

abi! {
    /// Configure the process-global runtime before its first use from [`wire::runtime_config`] JSON. `a = 1` when
    /// applied, `0` when the runtime already existed (the configuration is then ignored). Cost: opening the cache.
    fn ext_wasm_init(json: *const u8, len: usize) = |o| {
        let config = wire::runtime_config(input(o, json, len, "config")?)?;
        let mut applied = false;
        RUNTIME.get_or_init(|| {
            applied = true;
            pin_library();
            Runtime::new(config)
        });
        Ok(u64::from(applied))
    };
    /// Compile wasm binary or text; `a` = the module handle. Cost: a Cranelift compile unless the bytes are live
    /// in this process or in the artifact cache. Deno binds it `nonblocking`.
    fn ext_wasm_compile(bytes: *const u8, len: usize) = |o| wire::compile(runtime(), input(o, bytes, len, "bytes")?);
    /// Read and compile a `.wasm` / `.wat` file (`path`: any bytes on Unix, UTF-8 elsewhere); `a` = the module
    /// handle. Deno binds it `nonblocking`.
    fn ext_wasm_compile_file(path: *const u8, len: usize) = |o| {
        #[cfg(unix)]
        let path = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(input(o, path, len, "path")?);
        #[cfg(not(unix))]
        let path = text(o, path, len, "path")?;
        wire::compile_file(runtime(), std::path::Path::new(path))
    };
    /// Precompile module files into an artifact bundle ([`wire::write_bundle`], request JSON); the answer is the
    /// bundle's manifest (hex) as a blob. Deno binds it `nonblocking` (it compiles).
    fn ext_wasm_write_bundle(json: *const u8, len: usize) =
        |o| wire::write_bundle(runtime(), input(o, json, len, "request")?);
    /// Tier-up counters as a JSON blob ([`wire::tier_stats`]).
    fn ext_wasm_tier_stats() = |_| Ok(wire::tier_stats(runtime()));
    /// The configured bundles as a JSON blob ([`wire::bundles`]).
    fn ext_wasm_bundles() = |_| Ok(wire::bundles(runtime()));
    /// A module's imports as a JSON blob ([`wire::module_imports`]).
    fn ext_wasm_module_imports(module: f64) = |_| wire::module_imports(runtime(), module);
    /// A module's exports as a JSON blob ([`wire::module_exports`]).
    fn ext_wasm_module_exports(module: f64) = |_| wire::module_exports(runtime(), module);
    /// An instance's exports as a JSON blob ([`wire::instance_exports`]).
    fn ext_wasm_instance_exports(instance: f64) = |_| wire::instance_exports(runtime(), instance);
    /// Run a WASI command's `_start` ([`wire::run_command`]); `a` = its exit status (as i64 bits), on this thread.
    fn ext_wasm_run_command(instance: f64) = |_| wire::run_command(runtime(), instance);
    /// [`ext_wasm_call_start`] of a WASI command's `_start` (the answer: its exit status).
    fn ext_wasm_run_command_start(instance: f64, sync: u8) =
        |o| wire::run_command_start(runtime(), instance, o.bytes, sync != 0);
    /// The exit status a WASI command recorded: `b = 1` and `a` = the status (as i64 bits), or `b = 0` for none.
    fn ext_wasm_exit_code(instance: f64) = |_| wire::exit_code(runtime(), instance);
    /// Drop a module handle ([`wire::module_drop`]).
    fn ext_wasm_module_drop(module: f64) = |_| wire::module_drop(runtime(), module);
    /// Drop an instance ([`wire::instance_drop`]); a call still running on it finishes first.
    fn ext_wasm_instance_drop(instance: f64) = |_| wire::instance_drop(runtime(), instance);
    /// Captured output of `stream` as a blob ([`wire::output`]).
    fn ext_wasm_output(instance: f64, stream: u32) = |_| wire::output(runtime(), instance, stream);
    /// `a` = 1 when a host function of the instance's store lends its call on this thread ([`wire::in_host_function`]).
    fn ext_wasm_in_host_function(instance: f64) = |_| wire::in_host_function(runtime(), instance);
    /// Size of the instance's memory: `a` = pages, `b` = bytes ([`wire::memory_size`]).
    fn ext_wasm_memory_size(instance: f64) = |_| wire::memory_size(runtime(), instance);
    /// Grow the instance's memory by `pages`; `a` = the old size in pages ([`wire::memory_grow`]).
    fn ext_wasm_memory_grow(instance: f64, pages: f64) = |_| wire::memory_grow(runtime(), instance, pages);
    /// Live counts: `a` = module handles, `b` = instances. Cost: two atomic loads.
    fn ext_wasm_stats() = |_| Ok(wire::stats(runtime()));
    /// Instantiate from [`wire::instance_options`] JSON and WASI stdin bytes; `a` = the instance handle. Cost:
    /// microseconds on a warm pool (plus, the first time, compiling the fuel / epoch variant of the code).
    fn ext_wasm_instantiate(module: f64, options: *const u8, len: usize, stdin: *const u8, stdin_len: usize) = |o| {
        let (options, stdin) = (input(o, options, len, "options")?, input(o, stdin, stdin_len, "stdin")?);
        wire::instantiate(runtime(), module, options, stdin)
    };
    /// [`ext_wasm_instantiate`] through the call protocol ([`wire::instantiate_start`]): the frame's header holds
    /// the step; done: `a` = the instance handle; waiting in a host import: answer with [`ext_wasm_call_resume`].
    fn ext_wasm_instantiate_start(
        module: f64, options: *const u8, len: usize, stdin: *const u8, stdin_len: usize; frame;
    ) = |o| {
        let (options, stdin) = (input(o, options, len, "options")?, input(o, stdin, stdin_len, "stdin")?);
        wire::instantiate_start(runtime(), module, options, stdin, o.bytes)
    };
    /// Resolve function export `name` once ([`wire::func`]); `a` = its index for [`ext_wasm_call_func`].
    fn ext_wasm_func(instance: f64, name: *const u8, name_len: usize) =
        |o| wire::func(runtime(), instance, text(o, name, name_len, "export name")?).map(u64::from);
    /// Start a call on this (the JavaScript) thread ([`wire::call_start`], protocol in [`crate::AsyncCall`]); the
    /// frame's header says where it stands ([`wire::Step`]): done (results in the slots), pending (finish it with
    /// the `nonblocking` binding of [`ext_wasm_call_finish`]) or waiting in host import `index` (run it, answer
    /// with [`ext_wasm_call_resume`]). `sync != 0`: `callSync` of an instance with host imports (never pending).
    /// Cost for a short call: ~0.3 µs plus the guest.
    fn ext_wasm_call_start(instance: f64, name: *const u8, name_len: usize; frame; nargs: u32, sync: u8) = |o| {
        let name = text(o, name, name_len, "export name")?;
        wire::call_start(runtime(), instance, name, o.bytes, nargs, sync != 0)
    };
    /// Run a pending call to its end, or until it waits in a host function, on this thread (Deno binds it
    /// `nonblocking`: a worker thread) ([`wire::call_finish`]). `frame` must be the frame the call was started
    /// with. Unknown or finished token → 5007.
    fn ext_wasm_call_finish(token: f64; frame;) = |o| wire::call_finish(wire::call_token(token)?, o.bytes);
    /// Run one more time slice of a yielded call (step kind 3) on this thread, once the caller's event loop had a
    /// turn ([`wire::call_continue`]). `frame` must be the frame the call was started with. Unknown token → 5007.
    fn ext_wasm_call_continue(token: f64; frame;) = |o| wire::call_continue(wire::call_token(token)?, o.bytes);
    /// Answer the host import a call waits in and continue it on this thread ([`wire::call_resume`]):
    /// `nresults >= 0` values in the frame's slots, or `nresults = -code` with the error's `message` (UTF-8).
    fn ext_wasm_call_resume(token: f64; frame; nresults: i32, message: *const u8, message_len: usize) = |o| {
        let message = text(o, message, message_len, "message")?;
        wire::call_resume(wire::call_token(token)?, o.bytes, nresults, message)
    };
    /// Call the function [`ext_wasm_func`] resolved to `index` with `nargs` arguments from the value frame
    /// ([`wire::call_func`]); `a` = the number of results. `callSync` of a bound function: no name crosses.
    fn ext_wasm_call_func(instance: f64, index: u32; frame; nargs: u32) =
        |o| wire::call_func(runtime(), instance, index, o.bytes, nargs).map(u64::from);
    /// [`ext_wasm_call_func`] with the first `nargs` of `a0..a3` as the arguments, JavaScript numbers
    /// ([`wire::call_numbers`]): `a` = the result count (0 or 1; [`wire::NOT_NUMBERS`]: the export's results are
    /// not numbers, nothing ran), `b` = the result's `f64` bits. No frame: a number argument passes in a register.
    fn ext_wasm_call_numbers(instance: f64, index: u32, a0: f64, a1: f64, a2: f64, a3: f64, nargs: u32) =
        |o| wire::call_numbers(runtime(), instance, index, [a0, a1, a2, a3], nargs, o.bytes).map(u64::from);
    /// [`ext_wasm_call_numbers`] of export `name` ([`wire::call_numbers_named`]): also `c` = its index, for
    /// [`ext_wasm_call_numbers`] and [`ext_wasm_call_func`] after it. A new instance's first call, in one crossing.
    fn ext_wasm_call_numbers_named(
        instance: f64, name: *const u8, name_len: usize, a0: f64, a1: f64, a2: f64, a3: f64, nargs: u32
    ) = |o| {
        let name = text(o, name, name_len, "export name")?;
        wire::call_numbers_named(runtime(), instance, name, [a0, a1, a2, a3], nargs, o.bytes).map(u64::from)
    };
    /// Call export `name` with `nargs` arguments from the value frame ([`wire::call_frame`]); `a` = the number of
    /// results, written to the slots. Cost: the guest's run time plus ~100 ns. Deno binds it twice: synchronously
    /// (`callSync`) and `nonblocking` (`call`).
    fn ext_wasm_call(instance: f64, name: *const u8, name_len: usize; frame; nargs: u32) = |o| {
        let name = text(o, name, name_len, "export name")?;
        wire::call_frame(runtime(), instance, name, o.bytes, nargs).map(u64::from)
    };
    /// Read (`set = 0`: the value into slot 0, `a = 1`) or set (`set = 1`: from slot 0) exported global `name`
    /// ([`wire::global`]), with `frame` as the out record.
    fn ext_wasm_global(instance: f64, name: *const u8, name_len: usize; frame; set: u8) = |o| {
        let name = text(o, name, name_len, "global name")?;
        wire::global(runtime(), instance, name, o.bytes, set != 0).map(u64::from)
    };
    /// Fill `(dst, len)` (an output) from the instance's memory at `offset` ([`wire::memory_read`]): one copy.
    fn ext_wasm_memory_read(instance: f64, offset: f64, dst: *mut u8, len: usize) = |o| {
        // The overlap with the out record is refused before `dst` becomes a slice.
        apart(o, dst, len, "destination")?;
        wire::memory_read(runtime(), instance, offset, bytes_out(dst, len)?)
    };
    /// Copy `(src, len)` into the instance's memory at `offset` ([`wire::memory_write`]): one copy.
    fn ext_wasm_memory_write(instance: f64, offset: f64, src: *const u8, len: usize) =
        |o| wire::memory_write(runtime(), instance, offset, input(o, src, len, "source")?);
}

/// Copy blob `id` into `(dst, len)` and free it. `len` must equal the announced length, else nothing is copied
/// and the blob stays (5007); an unknown or already taken id → 5007. Returns the status only (no out record:
/// this is how a caller reads the messages of failed out records). Cost: one copy of the blob.
///
/// # Safety
/// `(dst, len)` as an output, as the section above says.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_blob_take(id: u64, dst: *mut u8, len: usize) -> i32 {
    let mut table = blobs();
    let fits = table.get(&id).is_some_and(|blob| blob.len() == len);
    // SAFETY: forwarded contract for `dst`.
    match (fits, unsafe { bytes_out(dst, len) }) {
        (true, Ok(dst)) => {
            dst.copy_from_slice(&table.remove(&id).unwrap_or_default());
            0
        }
        _ => ErrorCode::TypeError.as_u16() as i32,
    }
}

/// The host's imports called in place (`syncImports` and `bridgedImports`): `callback()`, with the protocol of
/// [`wire::frame_bridge`] over the registered frame, whose header holds the call's `index` (bit 24: it may answer
/// later, `-1`) at [`wire::CALL_INDEX_AT`] and its `nargs` at [`wire::CALL_NARGS_AT`]. No arguments: Deno's
/// `UnsafeCallback` allocates a vector per call for them (version 8 passed both, ~35 ns more per host call).
pub type HostCallback = extern "C" fn() -> i32;

/// Register this thread's callback for imports called in place and the frame it trades values in; a null
/// `callback` unregisters. Instances created with `syncImports` or `bridgedImports` call it in place, on this
/// thread, while a function running their guest is called (so bind those `callback: true`). Frame too small →
/// 5007.
///
/// # Safety
/// `frame` must be valid for reads and writes of `frame_len` bytes until the callback is replaced or cleared,
/// and be written by nobody else except inside the callback; `callback` must be callable on this thread until
/// then.
#[no_mangle]
pub unsafe extern "C" fn ext_wasm_set_host_callback(
    callback: Option<HostCallback>,
    frame: *mut u8,
    frame_len: usize,
) -> i32 {
    let Some(callback) = callback else {
        wire::set_host_bridge(None);
        return 0;
    };
    // SAFETY: forwarded contract (the frame outlives the bridge, which is replaced or cleared with the callback).
    match unsafe { wire::frame_bridge(frame, frame_len, move |_, _| callback()) } {
        Ok(bridge) => {
            wire::set_host_bridge(Some(bridge));
            0
        }
        Err(e) => e.code().as_u16() as i32,
    }
}
