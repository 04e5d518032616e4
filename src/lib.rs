//! # ext_wasm
//!
//! The WebAssembly runtime behind `runtime:wasm` for Forge apps: Wasmtime with a content-addressed, MAC-checked
//! artifact cache, pooled instances, fuel / timeout / memory limits, WASI preview1 and capability checks.
//!
//! The core ([`Runtime`]) knows nothing about JavaScript. [`wire`] is the host-neutral byte-level API over it
//! (JSON options, value frames, handles as numbers, one rule per input). Hosts are transport over that: the C
//! ABI in [`ffi`] (loaded by stock Deno with `Deno.dlopen`) and the deno_core extension (cargo feature `deno`);
//! the `ext-wasm` CLI uses [`Runtime`] directly.
//!
//! ```
//! use ext_wasm::{Runtime, RuntimeConfig, InstanceOptions, Value};
//! let mut config = RuntimeConfig::default();
//! config.cache.enabled = false;
//! let rt = Runtime::new(config);
//! let module = rt.compile(br#"(module (func (export "add") (param i32 i32) (result i32)
//!     local.get 0 local.get 1 i32.add))"#).unwrap();
//! let instance = rt.instantiate(module, &InstanceOptions::default()).unwrap();
//! assert_eq!(rt.call(instance, "add", &[Value::Number(10.0), Value::Number(32.0)]).unwrap(), [Value::I32(42)]);
//! ```

#![deny(missing_docs)]

mod artifact_cache;
mod async_call;
pub mod bundle;
mod capabilities;
mod config;
#[cfg(feature = "deno")]
pub mod deno;
mod engine;
mod epoch_ticker;
mod error;
pub mod ffi;
mod func;
mod global;
mod host_bridge;
mod host_frames;
mod host_func;
mod host_func_typed;
mod host_request;
mod host_stack;
mod instance;
pub mod linking;
mod module;
mod module_binary;
mod registry;
mod runtime;
mod slot_reset;
mod store_data;
mod store_lock;
mod tier_up;
mod value;
mod value_frame;
mod verified_files;
mod wasi;
pub mod wire;

pub use artifact_cache::{
    ArtifactCache, CacheEntry, CacheStats, VerifyReport, LRU_GRANULARITY, STALE_TEMP_AGE, STAMP_SETTLE,
};
pub use async_call::{AsyncCall, CallStep};
pub use bundle::{write_bundle, Bundle, BundleEntry};
pub use capabilities::{Capabilities, CapabilityChecker};
pub use config::{BundleSource, CacheConfig, PoolConfig, RuntimeConfig, Tiering, CACHE_DIR_ENV};
#[cfg(feature = "deno")]
pub use deno::{init_wasm_state, wasm_extension, WasmCapabilityChecker};
pub use engine::{Interruption, Tier};
pub use error::{Error, ErrorCode, Result};
pub use func::Func;
pub use host_func::{HostCall, HostFunc, Imports};
pub use host_func_typed::{HostNumber, HostResult, IntoHostFunc};
pub use host_request::HostRequest;
pub use instance::{CallLimits, InstanceId, InstanceOptions};
pub use linking::ExportRef;
pub use module::{ExportInfo, ExportKind, GlobalInfo, ImportInfo, Limits, LoadOrigin, ModuleId};
pub use runtime::{BundleStatus, CompileReport, Runtime};
pub use tier_up::TierStats;
pub use value::{ValType, Value};
pub use wasi::{InputMode, OutputMode, Preopen, WasiOptions};
/// What trapped, as [`Error::trap`] reports it (wasmtime's own type).
pub use wasmtime::Trap;
