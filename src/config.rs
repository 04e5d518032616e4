//! Runtime configuration: cache location, pool sizing, caps and capabilities.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::capabilities::Capabilities;

/// Environment variable that overrides the default artifact cache directory.
pub const CACHE_DIR_ENV: &str = "EXT_WASM_CACHE_DIR";

/// Everything a [`crate::Runtime`] is built from. `RuntimeConfig::default()` fits a laptop and a container.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The on-disk artifact cache.
    pub cache: CacheConfig,
    /// The pooling instance allocator.
    pub pool: PoolConfig,
    /// What guests and callers may do.
    pub capabilities: Arc<Capabilities>,
    /// Cap on live instances across the runtime (5013 when reached). Defaults to the pool size.
    pub max_instances: Option<usize>,
    /// Cap on live module handles (5013 when reached).
    pub max_modules: Option<usize>,
    /// Granularity of wall-clock timeouts: the epoch ticker advances once per tick while a timed call runs.
    pub epoch_tick: Duration,
    /// Capacity of a captured stdout/stderr buffer; writes beyond it fail inside the guest.
    pub capture_limit: usize,
    /// How long an async call (`Runtime::call_start`, TypeScript's `await instance.call`) runs on the calling
    /// thread before it is suspended and continued on another: short calls finish inside it with no thread hop,
    /// long ones stop holding the caller's (JavaScript) thread after it. A slice lasts between `call_slice` and
    /// `call_slice + epoch_tick` (epochs advance on tick boundaries; the slice gets the partial tick on top).
    pub call_slice: Duration,
    /// How many time slices an async call may run on the calling thread in all: after each, the caller gets a
    /// turn (TypeScript: the event loop runs timers, I/O and other calls) and the call continues there
    /// ([`crate::wire::call_continue`]); past the last, it moves to another thread. Calls of a few slices
    /// then never pay the move (about 0.2 ms here: waking a worker and carrying the guest's working set to
    /// another core); longer ones run beside the caller's thread instead of taking its time. 1: move after
    /// the first slice. Default 8.
    pub caller_slices: u32,
    /// Artifact bundles shipped with the app ([`crate::bundle`]), consulted in order on a cache miss before
    /// compiling. A bundle that cannot be opened (or whose pinned manifest differs) is skipped with the reason
    /// in [`crate::Runtime::bundles`].
    pub bundles: Vec<BundleSource>,
    /// Which code generator compiles never-seen modules ([`Tiering`]).
    pub tiering: Tiering,
    /// Under [`Tiering::Auto`], modules smaller than this (wasm bytes) skip the baseline tier: Cranelift
    /// compiles them in milliseconds, so a second compile would cost more than it saves.
    pub baseline_min_bytes: u64,
    /// Cap on the WASI handles (open files and directories, their streams) one instance may hold at once. A
    /// guest that would open one more traps (5002, "resource table has no free keys") instead of exhausting the
    /// process's file descriptors; its handles close when the instance is dropped.
    pub wasi_max_handles: usize,
}

/// When a module gets baseline (Winch) code before optimized (Cranelift) code. Whatever the policy, a module
/// whose Cranelift code is in the cache or a bundle loads that; modules Winch refuses (GC, exceptions, tail
/// calls, function references, relaxed SIMD) compile with Cranelift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tiering {
    /// A never-seen module (of at least [`RuntimeConfig::baseline_min_bytes`]) compiles with Winch and runs at
    /// once; Cranelift compiles it again on one low-priority background thread, publishes it to the cache and
    /// serves new instances from then on (instances already running keep their code).
    #[default]
    Auto,
    /// Cranelift only: slower first launch, fastest code from the first call.
    Cranelift,
    /// Winch only, never tiered up: fastest compile, slower code.
    Winch,
}

impl Tiering {
    /// The policy a name (`auto`, `cranelift`, `winch`) names; anything else is 5007 listing them.
    pub fn from_name(name: &str) -> crate::Result<Self> {
        match name {
            "auto" => Ok(Self::Auto),
            "cranelift" => Ok(Self::Cranelift),
            "winch" => Ok(Self::Winch),
            _ => Err(crate::Error::Type(format!(
                "unknown tiering `{name}` (auto, cranelift, winch)"
            ))),
        }
    }
}

/// Where a bundle is, and optionally the manifest it must have (hex, as `ext-wasm bundle` prints it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleSource {
    /// The bundle file.
    pub path: PathBuf,
    /// Pin: load the bundle only if its manifest is this (see the trust model in [`crate::bundle`]).
    pub manifest: Option<String>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache: CacheConfig::default(),
            pool: PoolConfig::default(),
            capabilities: Arc::new(Capabilities::default()),
            max_instances: None,
            max_modules: None,
            epoch_tick: Duration::from_millis(1),
            capture_limit: 16 << 20,
            call_slice: Duration::from_millis(1),
            caller_slices: 8,
            bundles: Vec::new(),
            tiering: Tiering::Auto,
            baseline_min_bytes: 64 << 10,
            wasi_max_handles: 4096,
        }
    }
}

/// Where compiled artifacts persist between processes.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// `false` turns the disk cache off (the in-process dedup stays on).
    pub enabled: bool,
    /// Explicit directory. `None` means `$EXT_WASM_CACHE_DIR`, else the platform cache dir.
    pub dir: Option<PathBuf>,
    /// Size cap for all entries; least recently used entries are evicted past it.
    pub max_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: None,
            max_bytes: 1 << 30,
        }
    }
}

impl CacheConfig {
    /// The directory this config resolves to: explicit, then `$EXT_WASM_CACHE_DIR`, then the platform cache dir
    /// (`~/.cache/ext_wasm` on Linux). `None` when disabled or when no home directory exists.
    pub fn resolve_dir(&self) -> Option<PathBuf> {
        if !self.enabled {
            return None;
        }
        if let Some(dir) = &self.dir {
            return Some(dir.clone());
        }
        if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        directories::ProjectDirs::from("dev", "forge", "ext_wasm").map(|d| d.cache_dir().to_path_buf())
    }
}

/// Sizing of wasmtime's pooling allocator. Each engine variant (see [`crate::Interruption`]) that is used
/// reserves its own pool, lazily.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// `false` uses on-demand allocation (an `mmap` per instance).
    pub enabled: bool,
    /// Instance slots (and memory and table slots) per pool.
    pub total_instances: u32,
    /// Virtual reservation per linear memory. 4 GiB lets compiled code skip bounds checks; the whole pool then
    /// reserves about `total_instances × (4 GiB + guard)` of address space (PROT_NONE, no RAM).
    pub memory_reservation: u64,
    /// Guard region after each memory.
    pub memory_guard_size: u64,
    /// Largest linear memory an instance in the pool may grow to.
    pub max_memory_size: usize,
    /// Bytes of each memory slot reset with `memset` instead of `madvise` on reuse (cheaper churn for small guests).
    /// Each slot an instance has used keeps this much resident afterwards (unless reset by scanning, see
    /// [`Self::scan_dirty_pages`]): at most `total_instances × linear_memory_keep_resident`, 64 MiB for the
    /// default pool.
    pub linear_memory_keep_resident: usize,
    /// Bytes of each table slot kept resident the same way.
    pub table_keep_resident: usize,
    /// Slots kept warm (not decommitted) for reuse by the same module.
    pub max_unused_warm_slots: u32,
    /// Decommits are batched this many at a time.
    pub decommit_batch_size: usize,
    /// Reservation used when the pool cannot be reserved (bounded address space) and we fall back to on-demand.
    pub fallback_memory_reservation: u64,
    /// How a freed memory slot is reset: `Some(true)` asks the kernel which of its first
    /// `linear_memory_keep_resident` bytes the instance wrote (Linux 6.7+'s `PAGEMAP_SCAN`; elsewhere ignored)
    /// and zeroes only those; `Some(false)` zeroes all of them. `None` (the default): whichever is cheaper on
    /// this machine, timed once per process when the first pool is built (~80 µs; see
    /// [`PoolConfig::scans_dirty_pages`]). The scan is a system call, the zeroing costs memory bandwidth: on this
    /// project's VMs each was 15–30% of a churn iteration cheaper than the other on different days. With the scan,
    /// freed slots keep only what their instance touched resident: `Some(true)` suits hosts that keep thousands
    /// of instances alive at once (10,000 dropped instances: 86 MiB resident afterwards instead of 711 MiB).
    pub scan_dirty_pages: Option<bool>,
    /// Fiber stacks for async calls; `None` (the default): one per instance slot. Wasmtime keeps a store's stack
    /// from its first async call until the store is dropped, so every live instance that has been called with
    /// `call` (or called at all, if it has suspending imports: each of its calls runs on a fiber) holds one. With
    /// fewer, an async call that finds none free runs on a worker thread instead, and a call of an instance with
    /// suspending imports fails with 5013. Each stack reserves `async_stack_size` of address space (no RAM until
    /// used) and costs a guard-page `mprotect` when the engine is built: ~1.7 ms for 1,000 here.
    pub total_stacks: Option<u32>,
}

impl PoolConfig {
    /// Whether freed slots are reset by scanning for the pages written: [`Self::scan_dirty_pages`] if set (where
    /// the kernel cannot scan, Wasmtime then zeroes instead), else whether the scan timed cheaper than zeroing on
    /// this machine (timed on the first such call in the process, ~80 µs, then remembered; `false` where the
    /// kernel cannot scan).
    pub fn scans_dirty_pages(&self) -> bool {
        self.scan_dirty_pages
            .unwrap_or_else(|| crate::slot_reset::scan_is_cheaper(self.linear_memory_keep_resident))
    }

    /// Set `config` to allocate from this pool as ext_wasm's engines do: the pooling strategy
    /// ([`Self::to_wasmtime`]) with this memory reservation and guard. What a benchmark uses to build a raw
    /// Wasmtime floor on the same pool; the engine-specific settings (code generation, fuel, epochs) stay the
    /// caller's.
    pub fn configure<'c>(&self, config: &'c mut wasmtime::Config) -> &'c mut wasmtime::Config {
        config
            .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(self.to_wasmtime()))
            .memory_reservation(self.memory_reservation)
            .memory_guard_size(self.memory_guard_size)
    }

    /// Wasmtime's pooling settings for this configuration, what ext_wasm's engines use. Engine-level settings
    /// (memory reservation and guard: [`Self::configure`] sets those too; async stack size) are not part of it.
    pub fn to_wasmtime(&self) -> wasmtime::PoolingAllocationConfig {
        let mut p = wasmtime::PoolingAllocationConfig::new();
        p.total_core_instances(self.total_instances)
            .total_memories(self.total_instances)
            .total_tables(self.total_instances)
            // A store keeps its fiber stack: one per slot by default (see `total_stacks`).
            .total_stacks(self.total_stacks.unwrap_or(self.total_instances))
            .total_gc_heaps(self.total_instances)
            .total_component_instances(0)
            .max_memories_per_module(4)
            .max_tables_per_module(4)
            .max_memory_size(self.max_memory_size)
            .linear_memory_keep_resident(self.linear_memory_keep_resident)
            .table_keep_resident(self.table_keep_resident)
            .max_unused_warm_slots(self.max_unused_warm_slots)
            .decommit_batch_size(self.decommit_batch_size)
            .pagemap_scan(if self.scans_dirty_pages() {
                wasmtime::Enabled::Auto
            } else {
                wasmtime::Enabled::No
            });
        p
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            total_instances: 1000,
            memory_reservation: 4 << 30,
            memory_guard_size: 32 << 20,
            max_memory_size: 4 << 30,
            linear_memory_keep_resident: 64 << 10,
            table_keep_resident: 16 << 10,
            max_unused_warm_slots: 100,
            decommit_batch_size: 16,
            fallback_memory_reservation: 64 << 20,
            total_stacks: None,
            scan_dirty_pages: None,
        }
    }
}
