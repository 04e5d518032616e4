//! Compiled modules: one binary, lazily compiled per engine variant and tier, each with its `InstancePre` built once.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use wasmtime::{ExternType, InstancePre, Module};

use crate::engine::{EngineSlot, Interruption, Tier};
use crate::error::{Error, Result};
use crate::host_func::{self, HostFunc, HostLink};
use crate::module_binary::ModuleBinary;
use crate::store_data::StoreData;
use crate::value::ValType;

/// Handle to a compiled module. Cheap to copy; checked on every use (5004 when stale or forged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleId(pub u64);

/// What an export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportKind {
    /// A function.
    Func,
    /// A linear memory.
    Memory,
    /// A table.
    Table,
    /// A global.
    Global,
    /// Exception tags (exception-handling proposal).
    Tag,
}

impl ExportKind {
    /// `"func" | "memory" | "table" | "global" | "tag"`, as the `runtime:wasm` docs spell them.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Func => "func",
            Self::Memory => "memory",
            Self::Table => "table",
            Self::Global => "global",
            Self::Tag => "tag",
        }
    }
}

impl fmt::Display for ExportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One export of a module or instance. `params` and `results` are filled for functions only, `global` for
/// globals, `limits` for memories and tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportInfo {
    /// The export's name.
    pub name: String,
    /// What it exports.
    pub kind: ExportKind,
    /// Parameter types (functions only).
    pub params: Vec<ValType>,
    /// Result types (functions only).
    pub results: Vec<ValType>,
    /// A global's type (globals only).
    pub global: Option<GlobalInfo>,
    /// A memory's or table's limits (memories and tables only).
    pub limits: Option<Limits>,
}

/// A global's value type and mutability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalInfo {
    /// Its value type.
    pub ty: ValType,
    /// Whether it can be set (`setGlobal`; immutable globals refuse with 5007).
    pub mutable: bool,
}

/// A memory's size limits in pages, or a table's in elements (with its element type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The minimum (initial) size.
    pub min: u64,
    /// The maximum size, if any.
    pub max: Option<u64>,
    /// A table's element type: `funcref`, `externref`, or the text format of another reference type.
    pub element: Option<String>,
}

/// One import of a module: what it needs from its host before it can be instantiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportInfo {
    /// The import's module name (`env`, `wasi_snapshot_preview1`).
    pub module: String,
    /// The field name (`abort`).
    pub name: String,
    /// What it imports.
    pub kind: ExportKind,
    /// Parameter types (functions only).
    pub params: Vec<ValType>,
    /// Result types (functions only).
    pub results: Vec<ValType>,
}

impl ImportInfo {
    /// `env::abort (func (i32, i32, i32, i32) -> ())`: how errors name an import and the type it needs.
    pub fn describe(&self) -> String {
        format!("{}::{} {}", self.module, self.name, self.describe_type())
    }

    /// `(func (i32, i32) -> ())` or `(memory)`: the type alone.
    pub fn describe_type(&self) -> String {
        let list = |ts: &[ValType]| ts.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ");
        match self.kind {
            ExportKind::Func => format!("(func ({}) -> ({}))", list(&self.params), list(&self.results)),
            kind => format!("({})", kind.as_str()),
        }
    }
}

/// Where a module's code came from, for stats and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadOrigin {
    /// Compiled now (by the tier in [`crate::CompileReport::tier`]).
    Compiled,
    /// Mapped from the artifact cache.
    CacheHit,
    /// The same bytes were already compiled in this process.
    Dedup,
    /// Taken from an artifact bundle (and copied into the cache for the next load).
    Bundle,
}

/// A module's code for one engine variant, ready to instantiate.
pub(crate) struct CompiledModule {
    pub(crate) module: Module,
    pub(crate) slot: Arc<EngineSlot>,
    /// The binary it was compiled from (shared by every variant).
    pub(crate) binary: Arc<ModuleBinary>,
    /// Built on the first instantiate without host imports (a load need not pay the linker's name lookups, and
    /// modules with host imports use their [`HostLink`]'s instead). `Err` when an import cannot be satisfied;
    /// surfaces as 5001 at instantiate.
    pre: OnceLock<std::result::Result<InstancePre<StoreData>, String>>,
    pub(crate) origin: LoadOrigin,
    needs_wasi: bool,
    /// The imports host functions must serve, found on the first instantiate that needs them.
    host_slots: OnceLock<Result<Arc<[ImportInfo]>>>,
    /// Links of those imports, one per shape seen (nearly always one).
    host_links: Mutex<Vec<Arc<HostLink>>>,
    /// What instances resolve their exports from, found on first use.
    exports: OnceLock<ModuleExports>,
}

/// A module's exports as its instances resolve them, found once per module: walking the export list builds a
/// wasmtime type per export (a type-registry lock and refcounts each), which every instantiate and every first
/// call by name used to pay.
pub(crate) struct ModuleExports {
    /// The first exported memory's name: the memory unnamed memory access means.
    pub(crate) first_memory: Option<Arc<str>>,
    /// Every export by name (the names shared with instances' caches of resolved exports).
    by_name: rustc_hash::FxHashMap<Arc<str>, ExportEntry>,
}

/// One export of [`ModuleExports`].
struct ExportEntry {
    /// Where instances find it without a name lookup.
    index: wasmtime::ModuleExport,
    /// A function's signature, or the export's kind when it is not a function.
    sig: std::result::Result<FuncSig, &'static str>,
}

/// A function export's signature as this API sees it (`Err`: a value type that cannot cross it).
pub(crate) type FuncSig = std::result::Result<(Arc<[ValType]>, Arc<[ValType]>), ValType>;

impl ModuleExports {
    fn new(module: &Module) -> Self {
        let mut by_name = rustc_hash::FxHashMap::default();
        let mut first_memory = None;
        for export in module.exports() {
            let ty = export.ty();
            let sig = match &ty {
                ExternType::Func(f) => {
                    let params: Arc<[ValType]> = f.params().map(|t| ValType::from_wasmtime(&t)).collect();
                    let results: Arc<[ValType]> = f.results().map(|t| ValType::from_wasmtime(&t)).collect();
                    Ok(match params.iter().chain(results.iter()).find(|t| !t.is_numeric()) {
                        Some(bad) => Err(*bad),
                        None => Ok((params, results)),
                    })
                }
                ExternType::Memory(_) => {
                    first_memory.get_or_insert_with(|| Arc::from(export.name()));
                    Err("memory")
                }
                ExternType::Table(_) => Err("table"),
                ExternType::Global(_) => Err("global"),
                ExternType::Tag(_) => Err("non-function"),
            };
            if let Some(index) = module.get_export_index(export.name()) {
                by_name.insert(export.name().into(), ExportEntry { index, sig });
            }
        }
        Self { first_memory, by_name }
    }

    /// Function export `name`: its name as the table holds it, where instances find it and its signature.
    /// 5003 when there is no such export or it is not a function (the message says which).
    pub(crate) fn func(&self, name: &str) -> Result<(&Arc<str>, &wasmtime::ModuleExport, &FuncSig)> {
        match self.by_name.get_key_value(name) {
            Some((key, ExportEntry { index, sig: Ok(sig) })) => Ok((key, index, sig)),
            Some((_, ExportEntry { sig: Err(kind), .. })) => {
                Err(Error::ExportNotFound(format!("`{name}` is a {kind}, not a function")))
            }
            None => Err(Error::ExportNotFound(format!("no export named `{name}`"))),
        }
    }
}

impl CompiledModule {
    pub(crate) fn new(
        module: Module,
        slot: Arc<EngineSlot>,
        binary: Arc<ModuleBinary>,
        needs_wasi: bool,
        origin: LoadOrigin,
    ) -> Self {
        Self {
            module,
            slot,
            binary,
            pre: OnceLock::new(),
            origin,
            needs_wasi,
            host_slots: OnceLock::new(),
            host_links: Mutex::new(Vec::new()),
            exports: OnceLock::new(),
        }
    }

    /// The module's exports as instances resolve them (found on first use).
    pub(crate) fn exports(&self) -> &ModuleExports {
        self.exports.get_or_init(|| ModuleExports::new(&self.module))
    }

    /// The module pre-linked with WASI (or nothing), built on first use; `Err` names the import nothing provides.
    pub(crate) fn pre(&self) -> &std::result::Result<InstancePre<StoreData>, String> {
        self.pre.get_or_init(|| {
            let linker = if self.needs_wasi {
                &self.slot.wasi_linker
            } else {
                &self.slot.plain_linker
            };
            linker
                .instantiate_pre(&self.module)
                .map_err(|e| unlinkable(&self.module, self.needs_wasi, &e))
        })
    }

    /// Whether the module imports WASI (and was linked with the WASI linker).
    pub(crate) fn needs_wasi(&self) -> bool {
        self.needs_wasi
    }

    /// The imports host functions must serve (every import but WASI), or the 5001 saying why they cannot be.
    pub(crate) fn host_slots(&self) -> Result<Arc<[ImportInfo]>> {
        self.host_slots
            .get_or_init(|| host_func::host_slots(&self.module, self.needs_wasi))
            .clone()
    }

    /// The link of the host imports for the shape of `funcs` (see [`host_func::shape`]), built on first use.
    /// Cost after that: a short lock and a comparison per instantiate (no allocation).
    pub(crate) fn host_link(&self, slots: &[ImportInfo], funcs: &[HostFunc]) -> Result<Arc<HostLink>> {
        let mut links = self.host_links.lock().unwrap_or_else(|p| p.into_inner());
        let same_shape = |l: &&Arc<HostLink>| l.shape.iter().copied().eq(funcs.iter().map(HostFunc::is_suspending));
        if let Some(link) = links.iter().find(same_shape) {
            return Ok(link.clone());
        }
        let shape = host_func::shape(funcs);
        let base = if self.needs_wasi {
            &self.slot.wasi_linker
        } else {
            &self.slot.plain_linker
        };
        let link = Arc::new(HostLink::new(
            &self.module,
            base,
            self.needs_wasi,
            slots,
            shape,
            self.exports().first_memory.clone(),
        )?);
        links.push(link.clone());
        Ok(link)
    }
}

/// A wasm binary and its compiled variants, shared by every handle to the same bytes in this process.
pub(crate) struct SharedModule {
    /// The binary (or where to read it), to compile further variants on demand.
    pub(crate) binary: Arc<ModuleBinary>,
    pub(crate) needs_wasi: bool,
    /// Whether the module imports anything but WASI (host functions).
    pub(crate) needs_host: bool,
    /// Built on first request: a 3000-export module spends ~0.2 ms allocating these, which a cache-hit load
    /// should not pay.
    exports: OnceLock<Vec<ExportInfo>>,
    /// The variant the module was first loaded as (it always succeeded): introspection reads its current code.
    first: Interruption,
    variants: [Variant; Interruption::COUNT],
}

/// One engine variant of a module: its code per tier.
#[derive(Default)]
struct Variant {
    /// Cranelift's code once compiled or loaded; the load's error too when loading failed.
    cranelift: OnceLock<Result<Arc<CompiledModule>>>,
    /// Winch's code until Cranelift's is published; then dropped here, so its memory goes with the last
    /// instance still running it.
    winch: RwLock<Option<Arc<CompiledModule>>>,
    /// Serializes the first load, so racing instantiates compile once.
    loading: Mutex<()>,
    /// Whether a tier-up of this variant is queued or done.
    tier_up: AtomicBool,
}

impl Variant {
    /// The code new instances get: Cranelift's when present (or the error loading failed with), else Winch's.
    /// Cost: one atomic load once Cranelift's code is there; a read lock before.
    fn best(&self) -> Option<Result<Arc<CompiledModule>>> {
        match self.cranelift.get() {
            Some(code) => Some(code.clone()),
            None => self.winch().map(Ok),
        }
    }

    fn winch(&self) -> Option<Arc<CompiledModule>> {
        self.winch.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keep `compiled` as its tier's code (an error as Cranelift's); Cranelift's code retires Winch's.
    fn set(&self, compiled: Result<Arc<CompiledModule>>) {
        let mut winch = self.winch.write().unwrap_or_else(|p| p.into_inner());
        match compiled {
            Ok(code) if code.slot.tier == Tier::Winch => {
                if self.cranelift.get().is_none() && winch.is_none() {
                    *winch = Some(code);
                }
            }
            other => {
                let _ = self.cranelift.set(other);
                *winch = None;
            }
        }
    }
}

impl SharedModule {
    pub(crate) fn new(binary: Arc<ModuleBinary>, first: CompiledModule) -> Self {
        let module = &first.module;
        let needs_wasi = module.imports().any(|i| i.module() == "wasi_snapshot_preview1");
        let needs_host = module.imports().any(|i| i.module() != "wasi_snapshot_preview1");
        let first_variant = first.slot.interruption;
        let variants: [Variant; Interruption::COUNT] = Default::default();
        variants[first_variant.index()].set(Ok(Arc::new(first)));
        Self {
            binary,
            needs_wasi,
            needs_host,
            exports: OnceLock::new(),
            first: first_variant,
            variants,
        }
    }

    /// The code of the first-loaded variant, for introspection (not a field: holding it would keep retired
    /// Winch code alive).
    fn introspection(&self) -> Module {
        let variant = &self.variants[self.first.index()];
        match (variant.cranelift.get(), variant.winch()) {
            (Some(Ok(code)), _) => code.module.clone(),
            (_, Some(code)) => code.module.clone(),
            _ => unreachable!("the first variant loaded, and Winch code is only retired for Cranelift code"),
        }
    }

    /// Module, name, kind and signature of every import.
    pub(crate) fn imports(&self) -> Vec<ImportInfo> {
        self.introspection()
            .imports()
            .map(|i| import_info(i.module(), i.name(), &i.ty()))
            .collect()
    }

    /// Name, kind and signature of every export.
    pub(crate) fn exports(&self) -> &[ExportInfo] {
        self.exports.get_or_init(|| {
            let module = self.introspection();
            module.exports().map(|e| export_info(e.name(), &e.ty())).collect()
        })
    }

    /// The code new instances of `interruption` get (Cranelift's once present), loading it with `load` on
    /// first use. Cost after that: an atomic load (a read lock while Winch code serves).
    pub(crate) fn variant(
        &self,
        interruption: Interruption,
        load: impl FnOnce() -> Result<CompiledModule>,
    ) -> Result<Arc<CompiledModule>> {
        let variant = &self.variants[interruption.index()];
        if let Some(best) = variant.best() {
            return best;
        }
        let _loading = variant.loading.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(best) = variant.best() {
            return best;
        }
        let loaded = load().map(Arc::new);
        variant.set(loaded.clone());
        loaded
    }

    /// The code of `interruption` compiled by `tier` exactly (instances joining a store must match its engine),
    /// loading it with `load` on first use.
    pub(crate) fn variant_on(
        &self,
        interruption: Interruption,
        tier: Tier,
        load: impl FnOnce() -> Result<CompiledModule>,
    ) -> Result<Arc<CompiledModule>> {
        let variant = &self.variants[interruption.index()];
        match tier {
            // A failed load is not kept: it would hide the Winch code new instances of this variant still get.
            Tier::Cranelift => match variant.cranelift.get() {
                Some(code) => code.clone(),
                None => {
                    let code = Arc::new(load()?);
                    variant.set(Ok(code.clone()));
                    Ok(code)
                }
            },
            Tier::Winch => match variant.winch() {
                Some(code) => Ok(code),
                // Winch's code was retired by the tier-up (or never loaded): load it for this store alone.
                None => load().map(Arc::new),
            },
        }
    }

    /// The tier of the code new instances of `interruption` get; the load's error when it failed.
    pub(crate) fn tier(&self, interruption: Interruption) -> Result<Tier> {
        match self.variants[interruption.index()].best() {
            Some(best) => best.map(|c| c.slot.tier),
            // Not loaded yet: it will be by the policy; report what a load gives first.
            None => Ok(Tier::Cranelift),
        }
    }

    /// Claim the tier-up of `interruption`: true once per variant, to the caller that queues it.
    pub(crate) fn claim_tier_up(&self, interruption: Interruption) -> bool {
        !self.variants[interruption.index()]
            .tier_up
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    /// Give the tier-up back (the queue was full): the next instantiate queues it again.
    pub(crate) fn release_tier_up(&self, interruption: Interruption) {
        self.variants[interruption.index()]
            .tier_up
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// Whether `interruption` still runs Winch code with no Cranelift code yet.
    pub(crate) fn awaits_tier_up(&self, interruption: Interruption) -> bool {
        let variant = &self.variants[interruption.index()];
        variant.cranelift.get().is_none() && variant.winch().is_some()
    }

    /// Publish Cranelift code for `interruption`: new instances use it from now on.
    pub(crate) fn publish(&self, compiled: CompiledModule) {
        self.variants[compiled.slot.interruption.index()].set(Ok(Arc::new(compiled)));
    }
}

/// The 5001 message for a module whose imports the linker cannot satisfy: the first import that nothing
/// provides, by name and type, then wasmtime's own words.
fn unlinkable(module: &Module, wasi_linked: bool, e: &wasmtime::Error) -> String {
    let missing = module
        .imports()
        .find(|i| !(wasi_linked && i.module() == "wasi_snapshot_preview1"))
        .map(|i| import_info(i.module(), i.name(), &i.ty()));
    match missing {
        Some(i) => format!(
            "unknown import {}: no host function or module provides it ({e:#})",
            i.describe()
        ),
        None => format!("{e:#}"),
    }
}

pub(crate) fn import_info(module: &str, name: &str, ty: &ExternType) -> ImportInfo {
    let ExportInfo {
        kind, params, results, ..
    } = export_info(name, ty);
    ImportInfo {
        module: module.to_string(),
        name: name.to_string(),
        kind,
        params,
        results,
    }
}

pub(crate) fn export_info(name: &str, ty: &ExternType) -> ExportInfo {
    let global = ty.global().map(|g| GlobalInfo {
        ty: ValType::from_wasmtime(g.content()),
        mutable: g.mutability() == wasmtime::Mutability::Var,
    });
    let limits = match ty {
        ExternType::Memory(m) => Some(Limits {
            min: m.minimum(),
            max: m.maximum(),
            element: None,
        }),
        ExternType::Table(t) => Some(Limits {
            min: t.minimum(),
            max: t.maximum(),
            element: Some(element_name(t.element())),
        }),
        _ => None,
    };
    let (kind, params, results) = match ty {
        ExternType::Func(f) => (
            ExportKind::Func,
            f.params().map(|t| ValType::from_wasmtime(&t)).collect(),
            f.results().map(|t| ValType::from_wasmtime(&t)).collect(),
        ),
        ExternType::Memory(_) => (ExportKind::Memory, vec![], vec![]),
        ExternType::Table(_) => (ExportKind::Table, vec![], vec![]),
        ExternType::Global(_) => (ExportKind::Global, vec![], vec![]),
        ExternType::Tag(_) => (ExportKind::Tag, vec![], vec![]),
    };
    ExportInfo {
        name: name.to_string(),
        kind,
        params,
        results,
        global,
        limits,
    }
}

/// `funcref` / `externref` for the two MVP reference types, the text format for the others.
fn element_name(ty: &wasmtime::RefType) -> String {
    match (ty.is_nullable(), ty.heap_type()) {
        (true, wasmtime::HeapType::Func) => "funcref".into(),
        (true, wasmtime::HeapType::Extern) => "externref".into(),
        _ => ty.to_string(),
    }
}

/// Turn a wasm-or-wat input into a binary; text is accepted so `.wat` files and inline modules just work.
pub(crate) fn to_binary(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>> {
    if bytes.starts_with(b"\0asm") {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    wat::parse_bytes(bytes).map_err(|e| Error::Compile(format!("not a wasm binary, and not valid text format: {e}")))
}
