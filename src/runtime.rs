//! [`Runtime`]: the public API every host (deno_core ops, the C ABI, the CLI) is a thin adapter over.

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use dashmap::DashMap;

use crate::artifact_cache::{ArtifactCache, CacheStats, Lookup};
use crate::async_call::CallStep;
use crate::config::{RuntimeConfig, Tiering};
use crate::engine::{EngineSet, EngineSlot, Interruption, Tier};
use crate::epoch_ticker::EpochTicker;
use crate::error::{Error, Result};
use crate::func::Func;
use crate::host_func::{self, HostFunc, HostLink, Imports};
use crate::host_request::{MemoryOp, Reentered, Reentry};
use crate::instance::{CallLimits, InstanceCell, InstanceId, InstanceOptions, InstanceState, NewStore};
use crate::linking;
use crate::module::{to_binary, CompiledModule, ExportInfo, ImportInfo, LoadOrigin, ModuleId, SharedModule};
use crate::module_binary::{ModuleBinary, WasmSource};
use crate::registry::{Miss, Registry};
use crate::tier_up::{self, TierStats, TierUpQueue};
use crate::value::Value;
use crate::wasi::WasiOptions;

/// A WebAssembly runtime: engines, artifact cache, module and instance tables. Cheap to clone (an `Arc`);
/// every method takes `&self` and may be called from any thread.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    /// Process-unique, never reused: keys this thread's recent-instance cache.
    id: u64,
    config: RuntimeConfig,
    engines: EngineSet,
    cache: Option<ArtifactCache>,
    /// In-process dedup: identical bytes share one [`SharedModule`] while any handle holds it.
    dedup: DashMap<[u8; 32], Weak<SharedModule>>,
    modules: Registry<Arc<SharedModule>>,
    instances: Registry<Arc<InstanceCell>>,
    ticker: EpochTicker,
    /// Runtime-wide host modules ([`Runtime::define_host_func`]).
    host: RwLock<Imports>,
    /// How many times `host` changed: host functions resolved before a change are resolved again.
    host_generation: AtomicU64,
    /// The configured bundles, opened (or why not), with their hit and refusal counts.
    bundles: Vec<OpenBundle>,
    /// Background Cranelift compiles of modules running Winch code.
    tier_up: Arc<TierUpQueue>,
}

struct OpenBundle {
    source: crate::config::BundleSource,
    bundle: std::result::Result<crate::bundle::Bundle, String>,
    hits: std::sync::atomic::AtomicU64,
    rejected: std::sync::atomic::AtomicU64,
}

/// A configured bundle as [`Runtime::bundles`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundleStatus {
    /// The bundle file.
    pub path: std::path::PathBuf,
    /// Its manifest (hex), when it opened.
    pub manifest: Option<String>,
    /// Artifacts it holds.
    pub entries: usize,
    /// Loads it served.
    pub hits: u64,
    /// Entries refused (their bytes are not the ones the index names).
    pub rejected: u64,
    /// Why it is not used, when it is not.
    pub error: Option<String>,
}

fn open_bundle(source: &crate::config::BundleSource) -> OpenBundle {
    let bundle = crate::bundle::Bundle::open(&source.path, source.manifest.as_deref());
    if let Err(why) = &bundle {
        tracing::warn!(bundle = %source.path.display(), %why, "bundle not used");
    }
    OpenBundle {
        source: source.clone(),
        bundle,
        hits: Default::default(),
        rejected: Default::default(),
    }
}

/// What [`Runtime::compile`] did, for callers that report it (the CLI's `--stats`, the demo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileReport {
    /// The module handle.
    pub id: ModuleId,
    /// Where its code came from.
    pub origin: LoadOrigin,
    /// Which compiler made the code new instances get now (Winch until a tier-up publishes Cranelift's).
    pub tier: Tier,
}

impl Runtime {
    /// A runtime with `config`. Engines and pools are created lazily on first compile, so this is cheap; the
    /// cache directory and its key are opened here.
    pub fn new(config: RuntimeConfig) -> Self {
        let cache = config
            .cache
            .resolve_dir()
            .map(|dir| ArtifactCache::open(dir, config.cache.max_bytes));
        let inner = Inner {
            id: NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed),
            engines: EngineSet::new(config.pool.clone()),
            ticker: EpochTicker::new(config.epoch_tick),
            cache,
            dedup: DashMap::new(),
            modules: Registry::new(),
            instances: Registry::new(),
            host: RwLock::new(Imports::new()),
            host_generation: AtomicU64::new(0),
            bundles: config.bundles.iter().map(open_bundle).collect(),
            tier_up: Arc::default(),
            config,
        };
        Self { inner: Arc::new(inner) }
    }

    /// The configured bundles: opened or why not, and what each served.
    pub fn bundles(&self) -> Vec<BundleStatus> {
        self.inner
            .bundles
            .iter()
            .map(|b| BundleStatus {
                path: b.source.path.clone(),
                manifest: b.bundle.as_ref().ok().map(|x| x.manifest().to_hex().to_string()),
                entries: b.bundle.as_ref().map_or(0, |x| x.len()),
                hits: b.hits.load(Ordering::Relaxed),
                rejected: b.rejected.load(Ordering::Relaxed),
                error: b.bundle.as_ref().err().cloned(),
            })
            .collect()
    }

    /// Precompile each wasm in `modules` for each engine variant in `variants` and write them as a bundle at
    /// `path` ([`crate::bundle`]); returns the bundle's manifest, for an app to pin. Invalid wasm → 5000; an
    /// unwritable path → 5008. Cost: a Cranelift compile per module and variant.
    pub fn write_bundle(&self, modules: &[&[u8]], variants: &[Interruption], path: &Path) -> Result<blake3::Hash> {
        let mut entries = Vec::new();
        for bytes in modules {
            let binary = to_binary(bytes)?;
            let wasm_hash = blake3::hash(&binary);
            for &variant in variants {
                let slot = self.inner.engines.get(variant, Tier::Cranelift)?;
                let module = wasmtime::Module::from_binary(&slot.engine, &binary)
                    .map_err(|e| Error::Compile(format!("{e:#}")))?;
                let artifact = module.serialize().map_err(|e| Error::Compile(format!("{e:#}")))?;
                entries.push(crate::bundle::BundleEntry {
                    fingerprint: slot.fingerprint.clone(),
                    wasm_hash,
                    artifact,
                });
            }
        }
        crate::bundle::write_bundle(path, &entries)
            .map_err(|e| Error::Io(format!("cannot write bundle {}: {e}", path.display())))
    }

    /// The artifact for `hash` on `slot`'s engine from the first bundle that has a sound one, loaded: copied
    /// into the disk cache and mapped from there, or deserialized in memory without a cache.
    fn load_from_bundles(&self, slot: &EngineSlot, hash: &blake3::Hash) -> Option<wasmtime::Module> {
        for open in &self.inner.bundles {
            let Ok(bundle) = &open.bundle else { continue };
            let bytes = match bundle.artifact(&slot.fingerprint, hash)? {
                Ok(bytes) => bytes,
                Err(reason) => {
                    tracing::warn!(bundle = %bundle.path().display(), %reason, "bundle entry refused; compiling");
                    open.rejected.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let module = match &self.inner.cache {
                Some(cache) if cache.store_serialized(&slot.fingerprint, hash, bytes) => {
                    match cache.load(&slot.engine, &slot.fingerprint, hash) {
                        Lookup::Hit(module) => Some(module),
                        _ => None,
                    }
                }
                // SAFETY: `bytes` hash to what the bundle's index names (pinned bundles: to what the app pinned;
                // see the trust model in `crate::bundle`): an artifact serialized for this engine fingerprint,
                // whose compatibility header wasmtime checks again.
                _ => unsafe { wasmtime::Module::deserialize(&slot.engine, bytes) }.ok(),
            };
            if module.is_some() {
                open.hits.fetch_add(1, Ordering::Relaxed);
                return module;
            }
        }
        None
    }

    /// The configuration this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// The artifact cache, when the disk cache is on.
    pub fn cache(&self) -> Option<&ArtifactCache> {
        self.inner.cache.as_ref()
    }

    /// Cache counters and disk usage (`dir: None` when the disk cache is off).
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.as_ref().map(|c| c.stats()).unwrap_or_default()
    }

    /// Whether instances created with default options come from the pooling allocator (false after a fallback).
    pub fn is_pooled(&self) -> Result<bool> {
        Ok(self.inner.engines.get(Interruption::DEFAULT, Tier::Cranelift)?.pooled)
    }

    /// Compile a module from binary or text bytes. Identical bytes share one compiled module per process; on a
    /// disk-cache hit the code is mapped instead of compiled. Invalid bytes → 5000.
    pub fn compile(&self, bytes: &[u8]) -> Result<ModuleId> {
        self.compile_report(bytes).map(|r| r.id)
    }

    /// [`Runtime::compile`], also saying where the code came from.
    pub fn compile_report(&self, bytes: &[u8]) -> Result<CompileReport> {
        let _span = tracing::debug_span!("compile", len = bytes.len()).entered();
        let binary = to_binary(bytes)?;
        self.compile_hashed(&binary, &blake3::hash(&binary))
    }

    fn compile_hashed(&self, binary: &[u8], hash: &blake3::Hash) -> Result<CompileReport> {
        let (shared, origin) = self.intern(hash, || WasmSource::Bytes(Arc::from(binary)))?;
        self.register_module(shared, origin)
    }

    fn register_module(&self, shared: Arc<SharedModule>, origin: LoadOrigin) -> Result<CompileReport> {
        let compiled = shared.variant(Interruption::DEFAULT, || {
            self.load_variant(&shared.binary, Interruption::DEFAULT, Some(shared.needs_wasi))
        })?;
        self.tier_up_if_baseline(&shared, &compiled);
        let tier = compiled.slot.tier;
        let id = self
            .inner
            .modules
            .insert(shared, self.inner.config.max_modules)
            .map_err(|_| {
                Error::LimitExceeded(format!(
                    "live module cap of {} reached",
                    self.inner.config.max_modules.unwrap_or(crate::registry::MAX_SLOTS)
                ))
            })?;
        Ok(CompileReport {
            id: ModuleId(id),
            origin,
            tier,
        })
    }

    /// The process-wide module for these bytes: the live one if any handle holds it, else loaded (disk cache)
    /// or compiled now and registered for dedup. Two threads racing on new bytes both load; one result wins.
    /// `source` says where the wasm is, for a compile now and for later variants.
    fn intern(
        &self,
        hash: &blake3::Hash,
        source: impl FnOnce() -> WasmSource,
    ) -> Result<(Arc<SharedModule>, LoadOrigin)> {
        if let Some(shared) = self.inner.dedup.get(hash.as_bytes()).and_then(|w| w.upgrade()) {
            return Ok((shared, LoadOrigin::Dedup));
        }
        let binary = Arc::new(ModuleBinary::new(*hash, source()));
        let first = self.load_variant(&binary, Interruption::DEFAULT, None)?;
        let origin = first.origin;
        let mine = Arc::new(SharedModule::new(binary, first));
        let mut entry = self.inner.dedup.entry(*hash.as_bytes()).or_default();
        if let Some(winner) = entry.upgrade() {
            return Ok((winner, origin));
        }
        *entry = Arc::downgrade(&mine);
        Ok((mine, origin))
    }

    /// Read a `.wasm` or `.wat` file and compile it. Refused (5009) unless file compiles are allowed; an
    /// unreadable file → 5008.
    pub fn compile_file(&self, path: impl AsRef<Path>) -> Result<ModuleId> {
        self.compile_file_report(path).map(|r| r.id)
    }

    /// [`Runtime::compile_file`], also saying where the code came from.
    pub fn compile_file_report(&self, path: impl AsRef<Path>) -> Result<CompileReport> {
        let path = path.as_ref();
        self.inner.config.capabilities.check_compile_file(path)?;
        // A file this cache has hashed before, unchanged since: its hash without reading it, and on a cache
        // hit the artifact without the wasm (read again only if another engine variant must be compiled).
        let io = |e: std::io::Error| Error::Io(format!("cannot read {}: {e}", path.display()));
        let cached = match self.inner.cache.as_ref() {
            Some(cache) => Some((cache, std::fs::metadata(path).map_err(io)?)),
            None => None,
        };
        if let Some(hash) = cached
            .as_ref()
            .and_then(|(cache, meta)| cache.remembered_hash(path, meta))
        {
            let len = cached.as_ref().map_or(0, |(_, meta)| meta.len());
            let (shared, origin) = self.intern(&hash, || WasmSource::File(path.to_path_buf(), len))?;
            return self.register_module(shared, origin);
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let binary = to_binary(&bytes)?;
        let hash = blake3::hash(&binary);
        let report = self.compile_hashed(&binary, &hash)?;
        if let Some((cache, meta)) = cached {
            cache.remember_hash(path, &meta, &hash);
        }
        Ok(report)
    }

    /// Load the code of one engine variant as the tiering policy says: Cranelift's from the cache or a bundle
    /// when there; else Winch's (cached or compiled now) when the policy wants baseline code first; else
    /// Cranelift compiles now (also when Winch refuses the module).
    fn load_variant(
        &self,
        binary: &Arc<ModuleBinary>,
        interruption: Interruption,
        needs_wasi: Option<bool>,
    ) -> Result<CompiledModule> {
        let cranelift = self.inner.engines.get(interruption, Tier::Cranelift)?;
        let found = self.lookup(&cranelift, &binary.hash);
        let mut refused = false;
        if found.is_none() && self.baseline_first(binary) {
            let winch = self.inner.engines.get(interruption, Tier::Winch)?;
            match self.load_on(&winch, binary, needs_wasi) {
                Ok(compiled) => {
                    self.inner.tier_up.count_load(Tier::Winch, false);
                    return Ok(compiled);
                }
                Err(Error::Compile(why)) => {
                    tracing::debug!(%why, "Winch refused the module; compiling with Cranelift");
                    refused = true;
                }
                Err(e) => return Err(e),
            }
        }
        let (module, origin) = match found {
            Some(found) => found,
            None => self.compile_on(&cranelift, binary)?,
        };
        self.inner.tier_up.count_load(Tier::Cranelift, refused);
        Ok(compiled_module(module, cranelift, binary, needs_wasi, origin))
    }

    /// Whether a never-seen module gets Winch code first.
    fn baseline_first(&self, binary: &ModuleBinary) -> bool {
        match self.inner.config.tiering {
            Tiering::Cranelift => false,
            Tiering::Winch => true,
            Tiering::Auto => binary.len() >= self.inner.config.baseline_min_bytes,
        }
    }

    /// `slot`'s code for the module: from the cache or a bundle, else compiled now (and cached).
    fn load_on(
        &self,
        slot: &Arc<EngineSlot>,
        binary: &Arc<ModuleBinary>,
        needs_wasi: Option<bool>,
    ) -> Result<CompiledModule> {
        let (module, origin) = match self.lookup(slot, &binary.hash) {
            Some(found) => found,
            None => self.compile_on(slot, binary)?,
        };
        Ok(compiled_module(module, slot.clone(), binary, needs_wasi, origin))
    }

    /// `slot`'s code for the module from the disk cache, else from a bundle.
    fn lookup(&self, slot: &EngineSlot, hash: &blake3::Hash) -> Option<(wasmtime::Module, LoadOrigin)> {
        let cache = self.inner.cache.as_ref();
        match cache.map(|c| c.load(&slot.engine, &slot.fingerprint, hash)) {
            Some(Lookup::Hit(module)) => Some((module, LoadOrigin::CacheHit)),
            _ => self
                .load_from_bundles(slot, hash)
                .map(|module| (module, LoadOrigin::Bundle)),
        }
    }

    /// Compile the module on `slot`'s engine now and publish it to the cache.
    fn compile_on(&self, slot: &EngineSlot, binary: &ModuleBinary) -> Result<(wasmtime::Module, LoadOrigin)> {
        let _span =
            tracing::debug_span!("compile", variant = slot.interruption.name(), tier = slot.tier.name()).entered();
        let wasm = binary.wasm()?;
        let module =
            wasmtime::Module::from_binary(&slot.engine, &wasm).map_err(|e| Error::Compile(format!("{e:#}")))?;
        if let Some(cache) = &self.inner.cache {
            cache.store(&slot.fingerprint, &binary.hash, &module);
        }
        Ok((module, LoadOrigin::Compiled))
    }

    /// Queue the Cranelift compile of `compiled`'s variant if it is Winch code and the policy tiers up (once per
    /// variant; again after the queue was full). Cost when there is nothing to do: a comparison.
    fn tier_up_if_baseline(&self, shared: &Arc<SharedModule>, compiled: &CompiledModule) {
        let interruption = compiled.slot.interruption;
        if compiled.slot.tier != Tier::Winch
            || self.inner.config.tiering != Tiering::Auto
            || !shared.claim_tier_up(interruption)
        {
            return;
        }
        let job = tier_up::Job {
            module: Arc::downgrade(shared),
            interruption,
            queued: std::time::Instant::now(),
        };
        let runtime = Arc::downgrade(&self.inner);
        let queued = self.inner.tier_up.push(job, move |job| match runtime.upgrade() {
            Some(inner) => Runtime { inner }.tier_up(job),
            None => tier_up::Outcome::Cancelled,
        });
        if !queued {
            shared.release_tier_up(interruption);
        }
    }

    /// Run one tier-up job (on the tier-up thread): compile with Cranelift, publish to the cache (dropping the
    /// Winch entry) and to the module. The runtime is held only while looking up and publishing, so dropping
    /// it during the compile cancels the job.
    fn tier_up(self, job: tier_up::Job) -> tier_up::Outcome {
        let Some(shared) = job.module.upgrade() else {
            return tier_up::Outcome::Cancelled;
        };
        if !shared.awaits_tier_up(job.interruption) {
            return tier_up::Outcome::Cancelled;
        }
        let (cranelift, winch) = match (
            self.inner.engines.get(job.interruption, Tier::Cranelift),
            self.inner.engines.get(job.interruption, Tier::Winch),
        ) {
            (Ok(c), Ok(w)) => (c, w),
            _ => return tier_up::Outcome::Failed,
        };
        let found = self.lookup(&cranelift, &shared.binary.hash);
        let weak = Arc::downgrade(&self.inner);
        drop(self);
        let module = match found {
            Some((module, _)) => module,
            None => {
                let _span = tracing::debug_span!("tier-up", variant = job.interruption.name()).entered();
                let compiled = shared.binary.wasm().and_then(|binary| {
                    wasmtime::Module::from_binary(&cranelift.engine, &binary)
                        .map_err(|e| Error::Compile(format!("{e:#}")))
                });
                match compiled {
                    Ok(module) => module,
                    Err(e) => {
                        tracing::warn!(error = %e, "tier-up failed; the module keeps its Winch code");
                        return tier_up::Outcome::Failed;
                    }
                }
            }
        };
        let Some(inner) = weak.upgrade() else {
            return tier_up::Outcome::Cancelled;
        };
        if let Some(cache) = &inner.cache {
            cache.store(&cranelift.fingerprint, &shared.binary.hash, &module);
            cache.remove(&winch.fingerprint, &shared.binary.hash);
        }
        let needs_wasi = Some(shared.needs_wasi);
        shared.publish(compiled_module(
            module,
            cranelift,
            &shared.binary,
            needs_wasi,
            LoadOrigin::Compiled,
        ));
        tier_up::Outcome::Published
    }

    /// Tier-up counters: which tier served loads, tier-ups queued, done and failed.
    pub fn tier_stats(&self) -> TierStats {
        self.inner.tier_up.stats()
    }

    /// Wait until no tier-up is queued or running, at most `timeout`; true when none is (Cranelift code then
    /// serves new instances of every module that ran Winch code). For tests, benchmarks and a CLI that wants
    /// its next run warm; an app never needs to.
    pub fn wait_for_tier_up(&self, timeout: std::time::Duration) -> bool {
        self.inner.tier_up.wait_idle(timeout)
    }

    fn module(&self, id: ModuleId) -> Result<Arc<SharedModule>> {
        self.inner.modules.get(id.0).map_err(|miss| module_miss(id, miss))
    }

    /// Run `f` on module `id`. Instantiating one module again and again from one thread (a plugin churn) skips the
    /// module table (a read lock and two reference-count updates) through a one-entry thread-local cache, valid
    /// while no module of this runtime has been dropped since it was filled.
    fn with_module<R>(&self, id: ModuleId, f: impl FnOnce(&Arc<SharedModule>) -> Result<R>) -> Result<R> {
        let removals = self.inner.modules.removals();
        let recent = RECENT_MODULE.with(|recent| recent as *const RefCell<RecentModule>);
        // SAFETY: as in `with_instance`: this thread's cache, alive for the whole of this function.
        let recent = unsafe { &*recent };
        if let Ok(slot) = recent.try_borrow() {
            if let Some((runtime, handle, seen, shared)) = slot.as_ref() {
                if *runtime == self.inner.id && *handle == id.0 && *seen == removals {
                    // Held across `f`: a nested instantiate on this thread cannot free the module in use.
                    return f(shared);
                }
            }
        }
        let shared = self.module(id)?;
        let result = f(&shared);
        if let Ok(mut slot) = recent.try_borrow_mut() {
            *slot = Some((self.inner.id, id.0, removals, shared));
        }
        result
    }

    /// The epoch ticker (timeouts and time slices).
    pub(crate) fn ticker(&self) -> &EpochTicker {
        &self.inner.ticker
    }

    fn instance(&self, id: InstanceId) -> Result<Arc<InstanceCell>> {
        self.inner.instances.get(id.0).map_err(|miss| instance_miss(id, miss))
    }

    /// Run `f` on the live state of instance `id`. Repeated use of one instance from one thread skips the
    /// registry (a shard lock and two reference-count updates) through a one-entry thread-local cache; a
    /// cached cell whose instance was dropped is empty, so it still answers 5005.
    #[inline(always)]
    pub(crate) fn with_instance<R>(&self, id: InstanceId, f: impl FnOnce(&InstanceCell) -> Result<R>) -> Result<R> {
        // The cache is used through a reference taken out of `LocalKey::with` rather than inside its closure,
        // so `f`'s result is written straight into ours: returned through `with`, a `Result` of this size
        // was moved with wide loads over the narrower stores that built it (a store-forwarding stall, a tenth
        // of a `callSync`).
        let recent = RECENT.with(|recent| recent as *const RefCell<Recent>);
        // SAFETY: `recent` points to this thread's cache, which lives until this thread exits; we are running on
        // this thread (inside this function), so it is alive for the whole of this function.
        let recent = unsafe { &*recent };
        if let Ok(slot) = recent.try_borrow() {
            if let Some((runtime, handle, cell)) = slot.as_ref() {
                if *runtime == self.inner.id && *handle == id.0 {
                    // The borrow is held across `f`, so a re-entrant call on this thread cannot replace (and
                    // free) the cell being used.
                    return f(cell);
                }
            }
        }
        let cell = self.instance(id)?;
        let result = f(&cell);
        remember(self.inner.id, id.0, cell);
        result
    }

    /// [`Self::with_instance`] straight to the instance's state.
    #[inline(always)]
    fn with_live<R>(&self, id: InstanceId, f: impl FnOnce(&mut InstanceState) -> Result<R>) -> Result<R> {
        self.with_instance(id, |cell| cell.with(id.0, f))
    }

    /// Drop a module handle. Instances created from it keep working; the handle is invalid afterwards (5004).
    pub fn drop_module(&self, id: ModuleId) -> Result<()> {
        let shared = self.inner.modules.remove(id.0).map_err(|miss| module_miss(id, miss))?;
        // The cache would keep the module alive (and its dedup entry below) until this thread's next instantiate.
        forget_recent_module(self.inner.id);
        // Forget the dedup entry once no handle holds the module any more.
        if Arc::strong_count(&shared) == 1 {
            self.inner
                .dedup
                .remove_if(shared.binary.hash.as_bytes(), |_, w| w.strong_count() <= 1);
        }
        Ok(())
    }

    /// Exports of a module: name, kind and, for functions, parameter and result types.
    pub fn module_exports(&self, id: ModuleId) -> Result<Vec<ExportInfo>> {
        Ok(self.module(id)?.exports().to_vec())
    }

    /// Imports of a module: what it needs from its host (module, name, kind and, for functions, signature).
    pub fn module_imports(&self, id: ModuleId) -> Result<Vec<ImportInfo>> {
        Ok(self.module(id)?.imports())
    }

    /// Which compiler made the code new instances of a module (created with default options) get now: Winch
    /// until its tier-up publishes Cranelift's. Cost: a handle lookup and two atomic loads.
    pub fn module_tier(&self, id: ModuleId) -> Result<Tier> {
        self.module(id)?.tier(Interruption::DEFAULT)
    }

    /// Which compiler made an instance's code (fixed for its life: a tier-up serves instances created after
    /// it). Instances linked into one store share its tier.
    pub fn instance_tier(&self, id: InstanceId) -> Result<Tier> {
        Ok(self.instance(id)?.store.tier)
    }

    /// Live module handles.
    pub fn module_count(&self) -> usize {
        self.inner.modules.len()
    }

    /// Live instances.
    pub fn instance_count(&self) -> usize {
        self.inner.instances.len()
    }

    /// Instantiate a module. Instances with `fuel`/`call_fuel` or `timeout` run code compiled with those checks
    /// (compiled on first use, cached on disk like any other). Cost for a small guest on a warm pool: a few
    /// microseconds.
    pub fn instantiate(&self, id: ModuleId, options: &InstanceOptions) -> Result<InstanceId> {
        match self.create(id, options, None)? {
            CallStep::Done(handle) => Ok(InstanceId(handle)),
            _ => Err(Error::Instantiate("internal error: instantiation did not end".into())),
        }
    }

    /// [`Runtime::instantiate`] as an async call (the protocol of [`crate::AsyncCall`]), on this thread: the
    /// module's start function may wait in host functions answered outside the call ([`CallStep::Host`]; how
    /// the TypeScript hosts run JavaScript imports). The answer of [`CallStep::Done`] is the instance handle.
    /// `sync`: the caller waits on this thread (never pending).
    pub(crate) fn instantiate_start(
        &self,
        id: ModuleId,
        options: &InstanceOptions,
        frame: &mut [u8],
        sync: bool,
    ) -> Result<CallStep> {
        self.create(id, options, Some((frame, sync)))
    }

    /// Instantiate now (`protocol: None`) or through the async-call protocol.
    fn create(&self, id: ModuleId, options: &InstanceOptions, protocol: Option<(&mut [u8], bool)>) -> Result<CallStep> {
        let _span = tracing::debug_span!("instantiate", module = id.0).entered();
        self.with_module(id, |shared| self.create_from(shared, options, protocol))
    }

    /// [`Self::create`] of `shared`.
    fn create_from(
        &self,
        shared: &Arc<SharedModule>,
        options: &InstanceOptions,
        protocol: Option<(&mut [u8], bool)>,
    ) -> Result<CallStep> {
        let cap = self.instance_cap();
        if self.inner.instances.len() >= cap {
            return Err(Error::LimitExceeded(format!("live instance cap of {cap} reached")));
        }
        let links = options.imports.linked_instances();
        if !links.is_empty() {
            return self.instantiate_linked(shared, options, &links, protocol);
        }
        let interruption = Interruption {
            fuel: options.fuel.is_some() || options.call_fuel.is_some(),
            epoch: options.timeout.is_some() || options.preemptible != Some(false),
        };
        let compiled = shared.variant(interruption, || {
            self.load_variant(&shared.binary, interruption, Some(shared.needs_wasi))
        })?;
        self.tier_up_if_baseline(shared, &compiled);
        let wasi = if shared.needs_wasi {
            let default = WasiOptions::default();
            let opts = options.wasi.as_ref().unwrap_or(&default);
            Some(opts.build(
                &self.inner.config.capabilities,
                self.inner.config.capture_limit,
                self.inner.config.wasi_max_handles,
            )?)
        } else {
            None
        };
        let host = if shared.needs_host {
            let (link, funcs) = self.host_for(&compiled, &options.imports)?;
            // A copy per store: stores sharing the `Arc` instead cost instances *without* imports ~80 ns (their
            // store's data changed type, and LLVM stopped inlining `Store::new`, copying it twice).
            Some((link, funcs.to_vec()))
        } else {
            None
        };
        let new = NewStore::new(compiled, options, wasi, host)?;
        match protocol {
            Some((frame, sync)) if new.runs_on_fiber() => {
                let channel = new.channel();
                let (store, running) = new.start();
                self.instantiation_call(store, channel, running, frame, sync)
            }
            _ => self.register(new.instantiate()?).map(|id| CallStep::Done(id.0)),
        }
    }

    /// The host functions `imports` (or the runtime's own host modules) give `compiled`'s imports, checked
    /// against its capabilities and signatures, and their link: resolved once for the same imports and module
    /// (see [`crate::host_func::ResolvedHost`]). Out of line: instances without imports never call it.
    #[inline(never)]
    fn host_for(&self, compiled: &Arc<CompiledModule>, imports: &Imports) -> Result<(Arc<HostLink>, Arc<[HostFunc]>)> {
        let generation = self.inner.host_generation.load(Ordering::Acquire);
        if let Some(hit) = imports.resolved().get(compiled, generation) {
            return Ok(hit);
        }
        let slots = compiled.host_slots()?;
        for slot in slots.iter() {
            self.inner.config.capabilities.check_import(&slot.module, &slot.name)?;
        }
        let shared_host = self.inner.host.read().unwrap_or_else(|p| p.into_inner());
        let funcs: Arc<[HostFunc]> = host_func::resolve(&slots, imports, &shared_host)?.into();
        drop(shared_host);
        let link = compiled.host_link(&slots, &funcs)?;
        imports.resolved().set(compiled, generation, &link, &funcs);
        Ok((link, funcs))
    }

    /// The live-instance cap: the configured one, else the pool's size (at most what a handle can index).
    fn instance_cap(&self) -> usize {
        let config = &self.inner.config;
        let cap = config.max_instances.unwrap_or(config.pool.total_instances as usize);
        cap.min(crate::registry::MAX_SLOTS)
    }

    /// Give `cell` a handle (5013 past the cap; the instance is dropped then). The new instance becomes this
    /// thread's recent one ([`Self::with_instance`]): its first call, usually next, skips the handle table.
    pub(crate) fn register(&self, cell: InstanceCell) -> Result<InstanceId> {
        let cap = self.instance_cap();
        let cell = Arc::new(cell);
        match self.inner.instances.insert(cell.clone(), Some(cap)) {
            Ok(handle) => {
                remember(self.inner.id, handle, cell);
                Ok(InstanceId(handle))
            }
            Err(cell) => {
                cell.retire();
                Err(Error::LimitExceeded(format!("live instance cap of {cap} reached")))
            }
        }
    }

    /// Instantiate into the store of the instances `links` (see [`crate::linking`] for the rules).
    fn instantiate_linked(
        &self,
        shared: &SharedModule,
        options: &InstanceOptions,
        links: &[InstanceId],
        protocol: Option<(&mut [u8], bool)>,
    ) -> Result<CallStep> {
        let first = links[0];
        linking::check_options(options, first)?;
        let cells = links.iter().map(|id| self.instance(*id)).collect::<Result<Vec<_>>>()?;
        let store = cells[0].store.clone();
        if let Some((id, _)) = links.iter().zip(&cells).find(|(_, c)| !Arc::ptr_eq(&c.store, &store)) {
            return Err(Error::Instantiate(format!(
                "imports link instances {} and {}, which live in different stores; an instance can only link \
                 to instances of one store (create the second with the first in its imports)",
                first.0, id.0
            )));
        }
        let compiled = shared.variant_on(store.interruption, store.tier, || {
            let slot = self.inner.engines.get(store.interruption, store.tier)?;
            self.load_on(&slot, &shared.binary, Some(shared.needs_wasi))
        })?;
        for import in compiled.module.imports() {
            self.inner
                .config
                .capabilities
                .check_import(import.module(), import.name())?;
        }
        let has_wasi = cells[0].uses_wasi();
        let wasi = match (&options.wasi, shared.needs_wasi, has_wasi) {
            (Some(_), _, true) => {
                return Err(Error::Instantiate(format!(
                    "instance {} already gave its store a WASI context; an instance linked to it shares that one",
                    first.0
                )))
            }
            (given, true, false) => {
                let default = WasiOptions::default();
                let opts = given.as_ref().unwrap_or(&default);
                Some(opts.build(
                    &self.inner.config.capabilities,
                    self.inner.config.capture_limit,
                    self.inner.config.wasi_max_handles,
                )?)
            }
            _ => None,
        };
        let members: Vec<(InstanceId, usize)> = links.iter().zip(&cells).map(|(id, c)| (*id, c.member)).collect();
        let host = self.inner.host.read().unwrap_or_else(|p| p.into_inner());
        let join = linking::Join {
            compiled: &compiled,
            imports: &options.imports,
            members: &members,
            shared: &host,
            wasi,
        };
        let Some((frame, sync)) = protocol else {
            let cell = store.join(first.0, |state| join.add_to(state))?;
            drop(host);
            return self.register(cell).map(|id| CallStep::Done(id.0));
        };
        let (running, channel) = match join.start(store.take(first.0)?) {
            Ok(started) => started,
            Err((state, e)) => {
                store.put_back(state);
                return Err(e);
            }
        };
        drop(host);
        self.instantiation_call(store, channel, running, frame, sync)
    }

    /// Define host function `module::name` for every instance of this runtime (a *host module*, such as an
    /// app's `forge:log`): imports an instance's own [`InstanceOptions::imports`] do not give are linked to these
    /// by name. Instances created before keep what they linked. Cost: a write lock; lookups at instantiate take
    /// a read lock and a short scan.
    pub fn define_host_func(&self, module: &str, name: &str, func: HostFunc) {
        let mut host = self.inner.host.write().unwrap_or_else(|p| p.into_inner());
        host.define(module.to_string(), name.to_string(), func);
        // Under the lock: a resolution that read the old functions carries the old count.
        self.inner.host_generation.fetch_add(1, Ordering::Release);
    }

    /// Drop an instance, returning its pool slot. The handle is invalid afterwards (5005). From inside one of
    /// the instance's own Rust host functions (on the thread running it): 5002, nothing dropped.
    pub fn drop_instance(&self, id: InstanceId) -> Result<()> {
        self.with_instance(id, |cell| cell.check_droppable(id.0))?;
        let cell = self
            .inner
            .instances
            .remove(id.0)
            .map_err(|miss| instance_miss(id, miss))?;
        cell.retire();
        Ok(())
    }

    /// Run `f` on the instance's state (see [`Self::on_cell`]).
    #[inline(always)]
    fn with_state<R: Send>(
        &self,
        id: InstanceId,
        f: impl FnOnce(&mut InstanceState, &EpochTicker) -> Result<R> + Send,
    ) -> Result<R> {
        self.with_instance(id, |cell| self.on_cell(cell, id, f))
    }

    /// Run `f` on the state in `cell`, on a helper thread when WASI host calls might otherwise panic:
    /// wasmtime-wasi's synchronous bindings `block_on` the ambient tokio runtime, which panics on a thread that
    /// is already driving one (a current-thread `block_on`, a worker). Costs a thread spawn, only for WASI
    /// instances called from inside a tokio context.
    #[inline(always)]
    pub(crate) fn on_cell<R: Send>(
        &self,
        cell: &InstanceCell,
        id: InstanceId,
        f: impl FnOnce(&mut InstanceState, &EpochTicker) -> Result<R> + Send,
    ) -> Result<R> {
        let ticker = &self.inner.ticker;
        if cell.uses_wasi() && tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|s| {
                s.spawn(|| cell.with(id.0, |state| f(state, ticker)))
                    .join()
                    .unwrap_or_else(|_| Err(Error::Call("the call panicked".into())))
            });
        }
        cell.with(id.0, |state| f(state, ticker))
    }

    /// Resolve function export `name` of instance `id` once, for calls without a name lookup, a handle-table
    /// lookup or the thread-local instance cache ([`Func::call_into`]). Missing → 5003; a signature with v128 or
    /// reference types → 5007; stale handle → 5005.
    pub fn func(&self, id: InstanceId, name: &str) -> Result<Func> {
        let cell = self.instance(id)?;
        let index = cell.with(id.0, |s| s.func_index(name))?;
        Ok(Func::new(self.clone(), cell, id, index, name.into()))
    }

    /// The index [`Self::func`] resolves `name` to, for hosts that keep indexes instead of [`Func`]s.
    pub(crate) fn func_index(&self, id: InstanceId, name: &str) -> Result<usize> {
        self.with_live(id, |s| s.func_index(name))
    }

    /// Call export `name` with arguments converted by its signature; returns its results in order.
    /// Traps → 5002 (with trap code and wasm backtrace), fuel → 5011, timeout → 5012, missing export → 5003,
    /// wrong arity or type → 5007. A WASI `proc_exit` returns no results and sets [`Runtime::exit_code`].
    pub fn call(&self, id: InstanceId, name: &str, args: &[Value]) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        self.call_into(id, name, args, CallLimits::default(), &mut out)?;
        Ok(out)
    }

    /// [`Runtime::call`] with per-call limits, appending results to a caller-owned buffer (no allocation on the
    /// hot path once the buffer and the instance's export cache are warm).
    #[inline]
    pub fn call_into(
        &self,
        id: InstanceId,
        name: &str,
        args: &[Value],
        limits: CallLimits,
        out: &mut Vec<Value>,
    ) -> Result<()> {
        self.with_instance(id, |cell| {
            match self.on_cell(cell, id, |s, ticker| s.call(name, args, limits, ticker, out)) {
                Err(e) => match call_in_place(cell, name, args) {
                    Some(values) => values.map(|v| out.extend(v)),
                    None => Err(e),
                },
                done => done,
            }
        })
    }

    /// Call export `name` with `nargs` arguments read from a value frame (the byte encoding hosts use, see
    /// [`crate::wire`]); results overwrite the frame's slots and their count is returned. Errors as for
    /// [`Runtime::call`]. No allocation once the instance's export cache is warm.
    pub(crate) fn call_frame(&self, id: InstanceId, name: &str, frame: &mut [u8], nargs: usize) -> Result<u32> {
        self.with_instance(id, |cell| {
            let called = self.on_cell(cell, id, |s, ticker| {
                let index = s.func_index(name)?;
                s.call_frame(index, frame, nargs, ticker)
            });
            match called {
                Err(e) => frame_call_in_place(cell, name, frame, nargs).unwrap_or(Err(e)),
                done => done,
            }
        })
    }

    /// [`Self::call_frame`] without a fiber, of an instance whose suspending imports are all bridged on this
    /// thread (see [`crate::instance::InstanceState::call_frame_fiberless`]).
    /// On `cell`, already found: no second handle lookup.
    pub(crate) fn call_frame_fiberless(
        &self,
        cell: &InstanceCell,
        id: InstanceId,
        name: &str,
        frame: &mut [u8],
        nargs: usize,
    ) -> Result<u32> {
        self.on_cell(cell, id, |s, ticker| {
            let index = s.func_index(name)?;
            s.call_frame_fiberless(index, frame, nargs, ticker)
        })
    }

    /// [`Self::call_frame_index`] with numbers in and out (see [`crate::instance::InstanceState::call_numbers`]).
    #[inline]
    pub(crate) fn call_numbers(&self, id: InstanceId, index: usize, args: &[f64]) -> Result<Option<(u32, f64)>> {
        self.with_state(id, |s, ticker| s.call_numbers(index, args, ticker))
    }

    /// [`Self::call_numbers`] of export `name`, resolved on the way as [`Self::call_frame`] resolves it (the same
    /// errors); also returns its index ([`Self::func_index`]) for the calls after it.
    pub(crate) fn call_numbers_named(
        &self,
        id: InstanceId,
        name: &str,
        args: &[f64],
    ) -> Result<(usize, Option<(u32, f64)>)> {
        self.with_state(id, |s, ticker| {
            let index = s.func_index(name)?;
            s.call_numbers(index, args, ticker).map(|done| (index, done))
        })
    }

    /// [`Self::call_frame`] of the function export at `index` (from [`Self::func_index`]).
    pub(crate) fn call_frame_index(&self, id: InstanceId, index: usize, frame: &mut [u8], nargs: usize) -> Result<u32> {
        self.with_state(id, |s, ticker| s.call_frame(index, frame, nargs, ticker))
    }

    /// Run a WASI command's `_start` and return its exit status (0 when `_start` returns, `n` after
    /// `proc_exit(n)`). Traps are errors as for [`Runtime::call`]. A status recorded by an earlier run is
    /// forgotten first, so each run reports its own.
    pub fn run_command(&self, id: InstanceId) -> Result<i32> {
        self.with_state(id, |s, ticker| {
            if !s.has_export("_start") {
                return Err(Error::ExportNotFound("no `_start`: not a WASI command".into()));
            }
            s.clear_exit_code();
            let mut out = Vec::new();
            s.call("_start", &[], CallLimits::default(), ticker, &mut out)?;
            let code = s.exit_code().unwrap_or(0);
            s.set_exit_code(code);
            Ok(code)
        })
    }

    /// Exit status recorded by `proc_exit` or [`Runtime::run_command`].
    pub fn exit_code(&self, id: InstanceId) -> Result<Option<i32>> {
        self.with_live(id, |s| Ok(s.exit_code()))
    }

    /// Remaining instance fuel (`None` when the instance has no fuel budget).
    pub fn fuel_left(&self, id: InstanceId) -> Result<Option<u64>> {
        self.with_live(id, |s| Ok(s.fuel_left()))
    }

    /// Captured stdout (empty unless the instance was created with `OutputMode::Capture`).
    pub fn stdout(&self, id: InstanceId) -> Result<Vec<u8>> {
        self.with_live(id, |s| Ok(s.stdout()))
    }

    /// Captured stderr (empty unless captured).
    pub fn stderr(&self, id: InstanceId) -> Result<Vec<u8>> {
        self.with_live(id, |s| Ok(s.stderr()))
    }

    /// The value of exported global `name` (i64 exact). Missing → 5003; a v128 or reference global → 5007.
    pub fn get_global(&self, id: InstanceId, name: &str) -> Result<Value> {
        self.with_live(id, |s| s.get_global(name))
    }

    /// Set exported global `name`; `value` is converted by the global's type as call arguments are. Missing →
    /// 5003; immutable, or a value that does not fit → 5007. Instances linked to the global see the new value.
    pub fn set_global(&self, id: InstanceId, name: &str, value: Value) -> Result<()> {
        self.with_live(id, |s| s.set_global(name, value))
    }

    /// Exports of an instance (those of its module).
    pub fn instance_exports(&self, id: InstanceId) -> Result<Vec<ExportInfo>> {
        let module = self.with_live(id, |s| Ok(s.module()))?;
        Ok(module
            .exports()
            .map(|e| crate::module::export_info(e.name(), &e.ty()))
            .collect())
    }

    /// Copy `buf.len()` bytes of memory (`memory`: export name, or the first memory) at `offset` into `buf`.
    /// Works from inside the instance's own suspending and reentrant host functions too (through the call that
    /// runs them). From inside one of its own Rust host functions given a [`crate::HostCall`], on the thread
    /// running it, this and every other call on the instance fail with 5002 (the running call holds the
    /// instance): use the `HostCall`.
    pub fn read_memory(&self, id: InstanceId, memory: Option<&str>, offset: u64, buf: &mut [u8]) -> Result<()> {
        let op = || MemoryOp::Read { offset, len: buf.len() };
        match self.reenter_memory(id, memory, op)? {
            Some(Reentered::Bytes(bytes)) => {
                buf.copy_from_slice(&bytes);
                Ok(())
            }
            Some(_) => Err(reentry_mismatch()),
            None => self.with_live(id, |s| s.read(memory, offset, buf)),
        }
    }

    /// Copy `data` into memory at `offset`. Out of bounds → 5006, nothing written.
    pub fn write_memory(&self, id: InstanceId, memory: Option<&str>, offset: u64, data: &[u8]) -> Result<()> {
        let op = || MemoryOp::Write {
            offset,
            data: data.to_vec(),
        };
        match self.reenter_memory(id, memory, op)? {
            Some(_) => Ok(()),
            None => self.with_live(id, |s| s.write(memory, offset, data)),
        }
    }

    /// Memory size in 64 KiB pages.
    pub fn memory_size(&self, id: InstanceId, memory: Option<&str>) -> Result<u64> {
        match self.reenter_memory(id, memory, || MemoryOp::Size)? {
            Some(done) => number(done),
            None => self.with_live(id, |s| s.size(memory)),
        }
    }

    /// Memory size in bytes.
    pub fn memory_byte_len(&self, id: InstanceId, memory: Option<&str>) -> Result<u64> {
        match self.reenter_memory(id, memory, || MemoryOp::ByteLen)? {
            Some(done) => number(done),
            None => self.with_live(id, |s| s.byte_len(memory)),
        }
    }

    /// Grow memory by `pages`; returns the old size in pages. Past the instance's cap → 5013, past the module's
    /// maximum → 5006.
    pub fn memory_grow(&self, id: InstanceId, memory: Option<&str>, pages: u64) -> Result<u64> {
        match self.reenter_memory(id, memory, || MemoryOp::Grow { pages })? {
            Some(done) => number(done),
            None => self.with_live(id, |s| s.grow(memory, pages)),
        }
    }

    /// Run a memory operation through the instance's running host function, when one is running (`None`
    /// otherwise: the caller uses the live state). Cost when none runs: one lock.
    fn reenter_memory(
        &self,
        id: InstanceId,
        memory: Option<&str>,
        op: impl FnOnce() -> MemoryOp,
    ) -> Result<Option<Reentered>> {
        let reentry = |instance, first: Option<Arc<str>>| Reentry::Memory {
            instance,
            memory: memory.map(Arc::from).or(first),
            op: op(),
        };
        self.with_instance(id, |cell| {
            if let Some(call) = cell.parked() {
                return call
                    .reenter(reentry(cell.instance, cell.first_memory.clone()))
                    .map(Some);
            }
            reenter_in_place(cell, reentry).transpose()
        })
    }
}

impl Runtime {
    /// Whether one of the instance's store's host functions that lend their call (reentrant or bridged: the hosts'
    /// JavaScript imports run in place) is running on this thread: a call of the instance made now re-enters
    /// that call rather than waiting for it. Stale handle → 5005.
    pub fn in_host_function(&self, id: InstanceId) -> Result<bool> {
        self.with_instance(id, |cell| {
            Ok(crate::host_frames::reentry_caller(cell.store_id()).is_some())
        })
    }
}

/// Run `op` through the reentrant host function of `cell`'s store that runs on this thread, if one runs (its
/// call holds the store: see [`HostFunc::reentrant`]); `None` otherwise. `op` is given the instance and its
/// first memory's name. Cost when none runs: a thread-local load.
pub(crate) fn reenter_in_place(
    cell: &InstanceCell,
    op: impl FnOnce(wasmtime::Instance, Option<Arc<str>>) -> Reentry,
) -> Option<Result<Reentered>> {
    if cell.is_dropped() {
        return None;
    }
    let lent = crate::host_frames::reentry_caller(cell.store_id())?;
    // SAFETY: `lent` is the `Caller` a reentrant or bridged host function's trampoline lent
    // (`host_func::native_trampoline`, `host_request::answer_in_place`, from `&mut caller` of that call), found
    // in this thread's chain of running host functions, so the function has not returned and we run inside it,
    // on its thread. While it runs nothing else uses that `Caller`: the trampoline touches it again only after
    // the function returns, and while this re-entry uses it, the store's innermost frame is the shadow linked
    // below (which lends nothing), so a host function of the re-entry that reaches the `Runtime` finds no
    // `Caller` to take, or its own when it lends one. The reference lives only for this re-entry, which ends
    // before we return into the function. Its lifetime parameter is the trampoline's store borrow, alive for
    // the whole call.
    let caller = unsafe { &mut *(lent.caller as *mut wasmtime::Caller<'_, crate::store_data::StoreData>) };
    let op = op(cell.instance, cell.first_memory.clone());
    let reenter = || crate::host_request::reenter_in_place(caller, op, lent.on_fiber);
    Some(crate::host_frames::shadowing(cell.store_id(), reenter))
}

/// Call export `name` of `cell`'s instance through its store's running reentrant host function, if one runs.
pub(crate) fn call_in_place(cell: &InstanceCell, name: &str, args: &[Value]) -> Option<Result<Vec<Value>>> {
    let op = |instance, _| Reentry::Call {
        instance,
        name: name.to_string(),
        args: args.to_vec(),
    };
    reenter_in_place(cell, op).map(|done| match done? {
        Reentered::Values(values) => Ok(values),
        _ => Err(reentry_mismatch()),
    })
}

/// [`call_in_place`] with the arguments and results in a value frame.
pub(crate) fn frame_call_in_place(
    cell: &InstanceCell,
    name: &str,
    frame: &mut [u8],
    nargs: usize,
) -> Option<Result<u32>> {
    if cell.is_dropped() || crate::host_frames::reentry_caller(cell.store_id()).is_none() {
        return None;
    }
    let args = match crate::value_frame::decode_values(frame, nargs) {
        Ok(args) => args,
        Err(e) => return Some(Err(e)),
    };
    call_in_place(cell, name, &args).map(|values| crate::value_frame::encode_values(frame, &values?))
}

fn number(done: Reentered) -> Result<u64> {
    match done {
        Reentered::Number(n) => Ok(n),
        _ => Err(reentry_mismatch()),
    }
}

fn reentry_mismatch() -> Error {
    Error::Call("internal error: a re-entrant memory operation answered another kind".into())
}

fn module_miss(id: ModuleId, miss: Miss) -> Error {
    match miss {
        Miss::Stale => Error::InvalidModuleHandle(format!("module {} was dropped", id.0)),
        Miss::Unknown => Error::InvalidModuleHandle(format!("no module with handle {}", id.0)),
    }
}

fn instance_miss(id: InstanceId, miss: Miss) -> Error {
    match miss {
        Miss::Stale => Error::InvalidInstanceHandle(format!("instance {} was dropped", id.0)),
        Miss::Unknown => Error::InvalidInstanceHandle(format!("no instance with handle {}", id.0)),
    }
}

static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The instance this thread used last: (runtime id, handle, cell).
    static RECENT: RefCell<Recent> = const { RefCell::new(None) };
    /// The module this thread instantiated last: (runtime id, handle, the module table's removals then, module).
    static RECENT_MODULE: RefCell<RecentModule> = const { RefCell::new(None) };
}

/// A thread's recent-module cache (see [`Runtime::with_module`]).
type RecentModule = Option<(u64, u64, u64, Arc<SharedModule>)>;

/// A thread's recent-instance cache: (runtime id, handle, cell).
type Recent = Option<(u64, u64, Arc<InstanceCell>)>;

/// Make `cell` this thread's recent instance. Skipped while the cache is borrowed (by a call on this thread that
/// re-entered the runtime: replacing the entry would free the cell that call uses).
fn remember(runtime: u64, handle: u64, cell: Arc<InstanceCell>) {
    RECENT.with(|recent| {
        if let Ok(mut slot) = recent.try_borrow_mut() {
            *slot = Some((runtime, handle, cell));
        }
    });
}

/// Empty this thread's recent-module cache if it holds a module of runtime `runtime` (not while it is in use).
fn forget_recent_module(runtime: u64) {
    RECENT_MODULE.with(|recent| {
        if let Ok(mut slot) = recent.try_borrow_mut() {
            if slot.as_ref().is_some_and(|(owner, ..)| *owner == runtime) {
                *slot = None;
            }
        }
    });
}

impl Drop for Inner {
    /// Free every instance now, even if some thread's recent-instance cache still holds its (then empty) cell,
    /// and cancel queued tier-ups (one running finishes on its thread and is discarded).
    fn drop(&mut self) {
        self.tier_up.close();
        // This thread's recent-module cache may hold one of ours (other threads' let theirs go at their next
        // instantiate).
        forget_recent_module(self.id);
        for handle in self.instances.handles() {
            if let Ok(cell) = self.instances.get(handle) {
                cell.retire();
            }
        }
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new(RuntimeConfig::default())
    }
}

/// A module's code on `slot`'s engine, linked; `needs_wasi` when already known (else read from its imports).
fn compiled_module(
    module: wasmtime::Module,
    slot: Arc<EngineSlot>,
    binary: &Arc<ModuleBinary>,
    needs_wasi: Option<bool>,
    origin: LoadOrigin,
) -> CompiledModule {
    let needs_wasi = needs_wasi.unwrap_or_else(|| module.imports().any(|i| i.module() == "wasi_snapshot_preview1"));
    CompiledModule::new(module, slot, binary.clone(), needs_wasi, origin)
}
