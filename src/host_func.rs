//! Host functions: what a guest imports from its host. [`HostFunc`] is one function, [`Imports`] the set given
//! to one instance (or registered runtime-wide), [`HostCall`] what a Rust host function can do with the
//! instance that called it, and [`HostLink`] how a module's imports are linked to them.
//!
//! Linking follows the architecture's rule "shape, not closures, in the linker": for each module (and engine
//! variant) and each *shape* of its imports (which import is a Rust closure, which one the embedder answers
//! from outside the call), one linker defines a trampoline per function import, and the trampoline looks up the
//! calling instance's own function for that import slot in the store's data. So the `InstancePre` is built once
//! and instantiating with host functions stays pooled and pre-instantiated: no `Linker` per instance.

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use wasmtime::{Caller, Extern, InstancePre, Linker, Module, ValRaw};

use crate::error::{Error, Result};
use crate::host_request::suspending_trampoline;
use crate::instance::InstanceId;
use crate::linking::ExportRef;
use crate::module::{import_info, CompiledModule, ExportKind, ImportInfo};
use crate::store_data::StoreData;
use crate::value::{ValType, Value};

type Callback = dyn Fn(&mut HostCall<'_, '_>, &[Value], &mut Vec<Value>) -> Result<()> + Send + Sync;
/// A reentrant host function's body (see [`HostFunc::reentrant`]).
type ReentrantCallback = dyn Fn(&[Value], &mut Vec<Value>) -> Result<()> + Send + Sync;
/// A typed host function's body over wasmtime's raw slots (see `host_func_typed`).
pub(crate) type RawCallback = dyn Fn(&mut HostCall<'_, '_>, &mut [MaybeUninit<ValRaw>]) -> Result<()> + Send + Sync;

/// A host function.
///
/// - [`HostFunc::new`]: a Rust closure, called on the thread running the guest with the import's arguments
///   (typed [`Value`]s, converted by the import's signature); it pushes its results onto the vector (typed
///   values, or `Number`/`BigInt`, converted by the import's result types as call arguments are). An `Err`
///   traps the guest; the call fails with 5002 whose message names the import and carries the error's. Cost:
///   a few nanoseconds on top of the closure (no allocation per call).
/// - [`HostFunc::suspending`]: a function the embedder runs outside the call (how the TypeScript hosts serve
///   JavaScript imports): the guest suspends at it, and the async call returns
///   [`crate::CallStep::Host`] with the arguments; the embedder answers with [`crate::AsyncCall::resume`].
/// - [`HostFunc::reentrant`]: a closure that reaches its instance by handle, through the [`crate::Runtime`],
///   rather than through a [`HostCall`] (how the TypeScript hosts run synchronous JavaScript imports in place).
///
/// A function may declare its signature ([`HostFunc::typed`]); linking then checks it against the import's and
/// refuses a mismatch with 5001, as linking another instance's export would. Untyped functions take the
/// import's signature, whatever it is.
///
/// Cheap to clone (an `Arc` or an index).
#[derive(Clone)]
pub struct HostFunc {
    pub(crate) kind: Kind,
    signature: Option<Arc<(Vec<ValType>, Vec<ValType>)>>,
}

#[derive(Clone)]
pub(crate) enum Kind {
    Native(Arc<Callback>),
    /// Typed at compile time ([`HostFunc::wrap`]): reads and writes raw slots, no `Value`s.
    Raw(Arc<RawCallback>),
    /// Given no `HostCall`: lends the call's `Caller` to re-entries through the `Runtime` (`host_frames`).
    Reentrant(Arc<ReentrantCallback>),
    /// Function `index` of the bridge of thread `home`, run as a reentrant function over raw slots.
    BridgedSync {
        index: u32,
        home: u64,
    },
    /// Answered from outside the call; `bridged_on`: first offered in place to that thread's bridge.
    Suspending {
        index: u32,
        bridged_on: Option<u64>,
    },
}

impl HostFunc {
    /// Wrap a Rust closure (see the type's docs).
    pub fn new(
        f: impl Fn(&mut HostCall<'_, '_>, &[Value], &mut Vec<Value>) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind: Kind::Native(Arc::new(f)),
            signature: None,
        }
    }

    /// A closure over plain numbers, typed by its Rust signature (up to six `i32`/`i64`/`f32`/`f64`
    /// parameters; `()` or one number as result). Name the [`HostCall`] parameter's type so the closure
    /// accepts any call's lifetimes:
    ///
    /// ```
    /// use ext_wasm::{HostCall, HostFunc};
    /// let inc = HostFunc::wrap(|_: &mut HostCall, x: i32| Ok(x + 1));
    /// ```
    /// Linking checks its type
    /// against the import's (5001). The fastest kind: arguments and results cross as raw slots, with no
    /// [`Value`] conversion (see the `host_call` benchmark).
    pub fn wrap<Marker>(f: impl crate::host_func_typed::IntoHostFunc<Marker>) -> Self {
        f.into_host_func()
    }

    /// A closure over the import's arguments and results, as [`HostFunc::new`]'s, that is given no [`HostCall`]:
    /// it reaches its instance by handle instead. While it runs, the [`crate::Runtime`]'s memory operations
    /// (`read_memory`, `write_memory`, `memory_size`, `memory_grow`, …) and calls by name (`call`, `call_into`,
    /// and calls of a [`crate::Func`] resolved beforehand) on any instance of the calling store run through the
    /// call that runs it, on this thread, with that call's limits; other operations on that store (globals,
    /// resolving a `Func`, dropping) fail with 5002. This is what a bridge to another language needs,
    /// whose callbacks know only handles: the C ABI's and the deno_core extension's synchronous JavaScript
    /// imports are these.
    ///
    /// The function always runs on the thread that called the instance, on that thread's own stack: an instance
    /// importing one is never run on a fiber or another thread (an async call of it,
    /// [`crate::wire::call_start`], runs to its end at once; no time slice), so it cannot share a store with
    /// instances that import [`HostFunc::suspending`] functions (5001). A language runtime that cannot run on
    /// a foreign stack (V8) may run inside it. Cost: as [`HostFunc::new`], plus a thread-local link; a
    /// re-entry costs a handle lookup more than [`HostCall`]'s.
    pub fn reentrant(f: impl Fn(&[Value], &mut Vec<Value>) -> Result<()> + Send + Sync + 'static) -> Self {
        Self {
            kind: Kind::Reentrant(Arc::new(f)),
            signature: None,
        }
    }

    /// Function `index` of this thread's [`crate::wire::HostBridge`], run as a [`HostFunc::reentrant`] one
    /// (synchronous, in place, never on a fiber): what the TypeScript hosts' `syncImports` are. Only this thread
    /// may call it (5002 on another). Cost: the bridge's own, with arguments and results moved between
    /// wasmtime's slots and a frame bridge's frame directly (no [`Value`]s).
    pub fn bridged_sync(index: u32) -> Self {
        Self::from_kind(Kind::BridgedSync {
            index,
            home: crate::host_bridge::this_thread(),
        })
    }

    pub(crate) fn from_kind(kind: Kind) -> Self {
        Self { kind, signature: None }
    }

    /// A function the embedder answers from outside the call; `index` is the embedder's own number for it,
    /// reported back in [`crate::HostRequest::index`]. Instances importing one can only be called through the
    /// async-call protocol ([`crate::wire::call_start`]); plain calls fail with 5007.
    pub fn suspending(index: u32) -> Self {
        Self {
            kind: Kind::Suspending {
                index,
                bridged_on: None,
            },
            signature: None,
        }
    }

    /// A [`HostFunc::suspending`] function first offered, in place, to the [`crate::wire::HostBridge`] of the
    /// thread that calls the guest (number `index` there): the bridge runs on that thread's own stack (see
    /// `crate::host_stack`), where a language runtime that cannot run on a foreign stack (V8) can run, while the
    /// guest waits on its fiber. When it answers at once ([`crate::wire::Answer::Now`]) the guest continues
    /// without suspending; when it answers later (a Promise) the guest suspends and the call returns
    /// [`crate::CallStep::Host`] with [`crate::HostRequest::started`] set. Off that thread (no bridge there,
    /// another thread, or a call finishing on a worker thread) it is an ordinary suspending function. While the
    /// bridge runs, the instance can be used by handle as from inside a [`HostFunc::reentrant`] function. A caller
    /// that waits ([`crate::wire::call_start`] with `sync`) on the bridge's thread runs the guest without a fiber
    /// when every suspending import of the store is bridged on that thread: imports are answered in place, and
    /// one that would answer later fails the call with 5007.
    /// Numbered on the thread that creates it. Cost: the bridge's own, plus a lent `Caller` and, on a fiber, two
    /// stack switches: ~35 ns a call through a frame bridge in the criterion `host_call` group (~38 on a fiber),
    /// where raw Wasmtime's `func_new_unchecked` costs ~5; a suspension costs ~0.6 µs.
    pub fn bridged(index: u32) -> Self {
        Self {
            kind: Kind::Suspending {
                index,
                bridged_on: Some(crate::host_bridge::this_thread()),
            },
            signature: None,
        }
    }

    /// Declare the function's signature: an import of another type is refused at instantiation (5001).
    pub fn typed(mut self, params: &[ValType], results: &[ValType]) -> Self {
        self.signature = Some(Arc::new((params.to_vec(), results.to_vec())));
        self
    }

    pub(crate) fn is_suspending(&self) -> bool {
        matches!(self.kind, Kind::Suspending { .. })
    }

    /// Whose bridge answers it in place, for [`BridgeHome`]: no one (not a suspending function), a thread's
    /// (bridged), or not always a bridge (a plain suspending function).
    pub(crate) fn bridge_home(&self) -> BridgeHome {
        match self.kind {
            Kind::Suspending {
                bridged_on: Some(home), ..
            } => BridgeHome(home),
            Kind::Suspending { bridged_on: None, .. } => BridgeHome::MIXED,
            _ => BridgeHome::NONE,
        }
    }

    /// Whether it must run in place (see [`HostFunc::reentrant`]).
    pub(crate) fn is_reentrant(&self) -> bool {
        matches!(self.kind, Kind::Reentrant(_) | Kind::BridgedSync { .. })
    }

    /// `Err` (5001) when a declared signature differs from the import's.
    fn check_signature(&self, import: &ImportInfo) -> Result<()> {
        let Some(sig) = &self.signature else { return Ok(()) };
        if sig.0 == import.params && sig.1 == import.results {
            return Ok(());
        }
        let given = ImportInfo {
            params: sig.0.clone(),
            results: sig.1.clone(),
            ..import.clone()
        };
        Err(Error::Instantiate(format!(
            "incompatible import {}: the function given has type {}",
            import.describe(),
            given.describe_type()
        )))
    }
}

impl fmt::Debug for HostFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Native(_) => f.write_str("HostFunc::Native"),
            Kind::Reentrant(_) => f.write_str("HostFunc::Reentrant"),
            Kind::BridgedSync { index, .. } => write!(f, "HostFunc::BridgedSync({index})"),
            Kind::Raw(_) => f.write_str("HostFunc::Typed"),
            Kind::Suspending {
                index,
                bridged_on: None,
            } => write!(f, "HostFunc::Suspending({index})"),
            Kind::Suspending { index, .. } => write!(f, "HostFunc::Bridged({index})"),
        }
    }
}

/// What an instance imports, by import module and field name (`env`, `abort`): host functions, exports of
/// other instances ([`ExportRef`]) and whole instances as namespaces (every export by name, the spec's
/// `register`). Imports a module does not have are ignored, as in the JS API. An instance linked to other
/// instances lives in their store (see [`crate::linking`]).
#[derive(Debug, Clone, Default)]
pub struct Imports {
    funcs: Vec<(String, String, HostFunc)>,
    exports: Vec<(String, String, ExportRef)>,
    instances: Vec<(String, InstanceId)>,
    /// What these functions resolved to for the module last instantiated with them (shared by clones until
    /// either is changed: every change starts an empty one).
    resolved: ResolvedHost,
}

/// The host functions [`resolve`] found for one compiled module and the link built for them, kept with the
/// [`Imports`] that gave them: a host instantiating one plugin again and again with the same options (the wire
/// layer parses an options text once) skips the lookups, the capability and signature checks and the link
/// search per instance (−0.25 µs of ~3.2 in a churn with two imports). Valid for that compiled module while the
/// runtime's own host modules are unchanged (their generation). Cost of a hit: a short lock and two `Arc`
/// clones; nothing is allocated until the first resolution.
#[derive(Clone, Default)]
pub(crate) struct ResolvedHost(OnceLock<Arc<Mutex<Option<Resolution>>>>);

/// One entry of [`ResolvedHost`].
struct Resolution {
    /// The compiled module, by identity: the weak reference keeps its allocation (so its address) from being
    /// reused by another.
    compiled: Weak<CompiledModule>,
    /// [`crate::Runtime::define_host_func`]'s count when it was resolved.
    generation: u64,
    link: Arc<HostLink>,
    funcs: Arc<[HostFunc]>,
}

impl fmt::Debug for ResolvedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResolvedHost")
    }
}

impl ResolvedHost {
    /// The link and functions resolved for `compiled` at `generation`, if these are.
    pub(crate) fn get(
        &self,
        compiled: &Arc<CompiledModule>,
        generation: u64,
    ) -> Option<(Arc<HostLink>, Arc<[HostFunc]>)> {
        let entry = self.0.get()?.lock().unwrap_or_else(|p| p.into_inner());
        let hit = entry.as_ref()?;
        (hit.generation == generation && std::ptr::eq(hit.compiled.as_ptr(), Arc::as_ptr(compiled)))
            .then(|| (hit.link.clone(), hit.funcs.clone()))
    }

    /// Remember what `compiled` resolved to at `generation` (replacing the entry of another module).
    pub(crate) fn set(
        &self,
        compiled: &Arc<CompiledModule>,
        generation: u64,
        link: &Arc<HostLink>,
        funcs: &Arc<[HostFunc]>,
    ) {
        let cell = self.0.get_or_init(Arc::default);
        *cell.lock().unwrap_or_else(|p| p.into_inner()) = Some(Resolution {
            compiled: Arc::downgrade(compiled),
            generation,
            link: link.clone(),
            funcs: funcs.clone(),
        });
    }
}

/// What [`Imports`] provides for one import.
pub(crate) enum Provided<'a> {
    Func(&'a HostFunc),
    Export(&'a ExportRef),
    /// A whole instance given as the import's module: its export of the import's name.
    Namespace(InstanceId),
}

impl Imports {
    /// Nothing imported.
    pub fn new() -> Self {
        Self::default()
    }

    /// Provide `module::name` (replacing an earlier definition of the same name).
    pub fn func(mut self, module: impl Into<String>, name: impl Into<String>, f: HostFunc) -> Self {
        self.define(module.into(), name.into(), f);
        self
    }

    /// Provide `module::name` in place (replacing an earlier definition of the same name).
    pub fn define(&mut self, module: String, name: String, f: HostFunc) {
        self.forget(&module, &name);
        self.funcs.push((module, name, f));
    }

    /// Provide `module::name` as another instance's export (a function, memory, table or global; shared,
    /// not copied), replacing an earlier definition of the same name.
    pub fn export(mut self, module: impl Into<String>, name: impl Into<String>, export: ExportRef) -> Self {
        self.define_export(module.into(), name.into(), export);
        self
    }

    /// [`Self::export`] in place.
    pub fn define_export(&mut self, module: String, name: String, export: ExportRef) {
        self.forget(&module, &name);
        self.exports.push((module, name, export));
    }

    /// Provide every import of `module` from `instance`'s export of the same name (names given one by one
    /// win).
    pub fn instance(mut self, module: impl Into<String>, instance: InstanceId) -> Self {
        self.define_instance(module.into(), instance);
        self
    }

    /// [`Self::instance`] in place.
    pub fn define_instance(&mut self, module: String, instance: InstanceId) {
        self.resolved = ResolvedHost::default();
        self.instances.retain(|(m, _)| *m != module);
        self.instances.push((module, instance));
    }

    fn forget(&mut self, module: &str, name: &str) {
        self.resolved = ResolvedHost::default();
        self.funcs.retain(|(m, n, _)| !(m == module && n == name));
        self.exports.retain(|(m, n, _)| !(m == module && n == name));
    }

    /// The host function given for `module::name`, if any.
    pub fn get(&self, module: &str, name: &str) -> Option<&HostFunc> {
        self.funcs
            .iter()
            .find(|(m, n, _)| m == module && n == name)
            .map(|(_, _, f)| f)
    }

    /// The instance given as import module `module`, if one is.
    pub fn namespace(&self, module: &str) -> Option<InstanceId> {
        self.instances.iter().find(|(m, _)| m == module).map(|(_, i)| *i)
    }

    /// What is given for `module::name`: a function or export by name first, then a namespace instance.
    pub(crate) fn lookup(&self, module: &str, name: &str) -> Option<Provided<'_>> {
        if let Some(f) = self.get(module, name) {
            return Some(Provided::Func(f));
        }
        if let Some((_, _, e)) = self.exports.iter().find(|(m, n, _)| m == module && n == name) {
            return Some(Provided::Export(e));
        }
        let (_, instance) = self.instances.iter().find(|(m, _)| m == module)?;
        Some(Provided::Namespace(*instance))
    }

    /// What these functions resolved to last (see [`ResolvedHost`]).
    pub(crate) fn resolved(&self) -> &ResolvedHost {
        &self.resolved
    }

    /// The instances whose exports are given (each once, in order).
    pub(crate) fn linked_instances(&self) -> Vec<InstanceId> {
        let mut ids: Vec<InstanceId> = Vec::new();
        let given = self.exports.iter().map(|(_, _, e)| e.instance);
        for id in given.chain(self.instances.iter().map(|(_, i)| *i)) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// Whether nothing is given.
    pub fn is_empty(&self) -> bool {
        self.funcs.is_empty() && self.exports.is_empty() && self.instances.is_empty()
    }
}

/// The instance a Rust host function was called from, while the call runs: its (first exported) memory and its
/// exports. Access goes through the running call, never the instance's handle (whose state the call holds),
/// so it cannot deadlock.
pub struct HostCall<'a, 'b> {
    caller: &'a mut Caller<'b, StoreData>,
    /// The calling instance's first memory when it is not the store's first instance's.
    memory_name: Option<&'a str>,
}

impl HostCall<'_, '_> {
    fn memory(&mut self) -> Result<wasmtime::Memory> {
        let export = match self.memory_name {
            Some(name) => self.caller.get_export(name),
            None => {
                let name = self.caller.data().first_memory.clone();
                name.and_then(|n| self.caller.get_export(&n))
            }
        };
        match export {
            Some(Extern::Memory(m)) => Ok(m),
            _ => Err(Error::Memory("the calling instance exports no memory".into())),
        }
    }

    /// Copy `buf.len()` bytes of the caller's memory at `offset` into `buf`. Out of bounds → 5006.
    pub fn read_memory(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mem = self.memory()?;
        let size = mem.data_size(&*self.caller);
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        mem.read(&*self.caller, start, buf)
            .map_err(|_| oob(offset, buf.len(), size))
    }

    /// Copy `data` into the caller's memory at `offset`. Out of bounds → 5006, nothing written.
    pub fn write_memory(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let mem = self.memory()?;
        let size = mem.data_size(&*self.caller);
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        mem.write(&mut *self.caller, start, data)
            .map_err(|_| oob(offset, data.len(), size))
    }

    /// Size of the caller's memory in bytes.
    pub fn memory_size(&mut self) -> Result<u64> {
        let mem = self.memory()?;
        Ok(mem.data_size(&*self.caller) as u64)
    }

    /// Call the caller's export `name` (re-entering the instance, as a JS import may call back into its
    /// instance), under the outer call's timeout and fuel. Inside an async call (`await call`, the guest on a
    /// fiber) the nested call runs on a fiber of its own, to its end, without time slices: an import in it that
    /// would wait (a JavaScript import returning a Promise) fails it with 5007, since the outer fiber cannot be
    /// suspended with this host function's frames on it. Cost: a plain synchronous call outside async calls;
    /// a fiber's start and end (~1 µs) inside them.
    pub fn call(&mut self, name: &str, args: &[Value]) -> Result<Vec<Value>> {
        let export = self.caller.get_export(name);
        let (func, vals, mut results) = crate::host_request::call_parts(self.caller, export, name, args)?;
        crate::host_request::call_from_host_function(self.caller, func, &vals, &mut results)?;
        Ok(results.iter().map(Value::from_val).collect())
    }
}

fn oob(offset: u64, len: usize, size: usize) -> Error {
    Error::Memory(format!(
        "out of bounds: {len} byte(s) at offset {offset}, memory is {size} bytes"
    ))
}

/// A host function's failure on its way through wasmtime (a trap of the guest), back to a 5002.
#[derive(Debug)]
pub(crate) struct HostError {
    pub(crate) import: Arc<str>,
    pub(crate) error: Error,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            // A thrown exception or a Rust error: its own words.
            Error::Call(message) => write!(f, "host function {} failed: {message}", self.import),
            // Anything else keeps its code in the text (`[5007] type error: result 0: ...`).
            other => write!(f, "host function {} failed: {other}", self.import),
        }
    }
}

impl std::error::Error for HostError {}

/// A module's host-function import slots: every import not served by WASI, in order.
pub(crate) fn host_slots(module: &Module, wasi_linked: bool) -> Result<Arc<[ImportInfo]>> {
    let imports = module
        .imports()
        .filter(|i| !(wasi_linked && i.module() == "wasi_snapshot_preview1"));
    Ok(imports.map(|i| import_info(i.module(), i.name(), &i.ty())).collect())
}

/// The functions for an instance, in slot order: from `imports`, else from `shared` (the runtime's host
/// modules). The first slot that cannot be served, in the module's order → 5001 naming it and its type: a
/// missing function, a memory, table or global import (the host provides functions only), a signature with
/// v128 or reference types.
pub(crate) fn resolve(slots: &[ImportInfo], imports: &Imports, shared: &Imports) -> Result<Vec<HostFunc>> {
    slots
        .iter()
        .map(|i| {
            host_import(
                i,
                imports
                    .get(&i.module, &i.name)
                    .or_else(|| shared.get(&i.module, &i.name)),
            )
        })
        .collect()
}

/// The host function `found` for import `i`, checked: 5001 when none was found, when `i` is not a function
/// (the host provides functions only), when its signature has v128 or reference types, or when `found`
/// declares another signature.
pub(crate) fn host_import(i: &ImportInfo, found: Option<&HostFunc>) -> Result<HostFunc> {
    if i.kind != ExportKind::Func {
        return Err(Error::Instantiate(format!(
            "unknown import {}: no host function or module provides it (the host provides functions only)",
            i.describe()
        )));
    }
    if let Some(bad) = i.params.iter().chain(&i.results).find(|t| !t.is_numeric()) {
        return Err(Error::Instantiate(format!(
            "import {} has a {bad} in its signature; host functions take and return i32, i64, f32 and f64",
            i.describe()
        )));
    }
    let f = found.ok_or_else(|| {
        Error::Instantiate(format!(
            "unknown import {}: no host function or module provides it",
            i.describe()
        ))
    })?;
    f.check_signature(i)?;
    Ok(f.clone())
}

/// The thread whose bridge answers every suspending import of a store in place ([`HostFunc::bridged`]), as a
/// number: [`BridgeHome::NONE`] when the store has none, [`BridgeHome::MIXED`] when they are not all bridged on
/// one thread. A synchronous call made on that thread needs no fiber: an import that would wait fails instead
/// (see `InstanceState::call_frame_fiberless`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BridgeHome(pub(crate) u64);

impl BridgeHome {
    pub(crate) const NONE: Self = Self(0);
    pub(crate) const MIXED: Self = Self(u64::MAX);

    /// The home of a store holding the imports of both (thread numbers start at 1).
    pub(crate) fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::NONE, x) | (x, Self::NONE) => x,
            (a, b) if a == b => a,
            _ => Self::MIXED,
        }
    }

    /// Of a set of host functions.
    pub(crate) fn of(funcs: &[HostFunc]) -> Self {
        funcs.iter().fold(Self::NONE, |home, f| home.and(f.bridge_home()))
    }

    /// Whether this thread's bridge answers every such import: a synchronous call made here needs no fiber.
    #[inline]
    pub(crate) fn is_this_thread(self) -> bool {
        self != Self::NONE && self.0 == crate::host_bridge::this_thread()
    }
}

/// Which slots are answered from outside the call: the key of a [`HostLink`].
pub(crate) fn shape(funcs: &[HostFunc]) -> Vec<bool> {
    funcs.iter().map(HostFunc::is_suspending).collect()
}

/// A module's host-function imports linked for one shape: the `InstancePre` whose trampolines find each
/// instance's functions by slot.
pub(crate) struct HostLink {
    pub(crate) pre: InstancePre<StoreData>,
    pub(crate) shape: Vec<bool>,
    /// Whether any slot suspends: such instances are called through the async protocol only.
    pub(crate) suspends: bool,
    /// The module's first exported memory, which host functions read and write.
    pub(crate) first_memory: Option<Arc<str>>,
}

impl HostLink {
    /// Link every slot of `module` (from [`host_slots`]) on top of `base` (which provides WASI when
    /// `wasi_linked`), each as `shape` says: a Rust closure's trampoline or a suspending one. `first_memory`: the
    /// module's first exported memory (from its export table), what host functions' unnamed memory access means.
    pub(crate) fn new(
        module: &Module,
        base: &Linker<StoreData>,
        wasi_linked: bool,
        slots: &[ImportInfo],
        shape: Vec<bool>,
        first_memory: Option<Arc<str>>,
    ) -> Result<Self> {
        let mut linker = base.clone();
        // A module may import one name twice: the first slot's trampoline serves both (they resolve alike).
        let mut defined_names = std::collections::HashSet::new();
        let imports = module
            .imports()
            .filter(|i| !(wasi_linked && i.module() == "wasi_snapshot_preview1"));
        for (slot, (import, info)) in imports.zip(slots).enumerate() {
            let Some(ty) = import.ty().func().cloned() else {
                continue;
            };
            if !defined_names.insert((import.module(), import.name())) {
                continue;
            }
            define(&mut linker, info, ty, Source::Slot(slot), shape[slot])?;
        }
        let pre = linker
            .instantiate_pre(module)
            .map_err(|e| Error::Instantiate(format!("{e:#}")))?;
        let suspends = shape.iter().any(|s| *s);
        Ok(Self {
            pre,
            shape,
            suspends,
            first_memory,
        })
    }
}

/// Define the trampoline of host-function import `info` (of type `ty`) in `linker`: a suspending one or a
/// Rust closure's, finding its function through `source`.
pub(crate) fn define(
    linker: &mut Linker<StoreData>,
    info: &ImportInfo,
    ty: wasmtime::FuncType,
    source: Source,
    suspending: bool,
) -> Result<()> {
    let name: Arc<str> = format!("{}::{}", info.module, info.name).into();
    // SAFETY: either trampoline reads `params.len()` raw values as the import's parameter types and writes one
    // raw value per result type of the same `ty` (see `native_trampoline`, `suspending_trampoline`).
    let defined = unsafe {
        if suspending {
            let trampoline = suspending_trampoline(source, name, info);
            linker.func_new_unchecked(&info.module, &info.name, ty, trampoline)
        } else {
            linker.func_new_unchecked(&info.module, &info.name, ty, native_trampoline(source, name, info))
        }
    };
    defined
        .map(|_| ())
        .map_err(|e| Error::Instantiate(format!("cannot link {}: {e:#}", info.describe())))
}

/// Where a trampoline finds its host function.
#[derive(Clone)]
pub(crate) enum Source {
    /// In the store's slot table (`StoreData::host`): instances created with their own store.
    Slot(usize),
    /// Its own copy, with the calling instance's first memory: instances that joined another's store (whose
    /// slot table is fixed).
    Own(HostFunc, Option<Arc<str>>),
}

impl Source {
    /// The function's kind, valid for as long as the store or the trampoline lives (see the callers' proofs).
    pub(crate) fn kind(&self, data: &StoreData) -> *const Kind {
        match self {
            Self::Slot(slot) => &data.host[*slot].kind,
            Self::Own(f, _) => &f.kind,
        }
    }

    fn memory_name(&self) -> Option<&str> {
        match self {
            Self::Slot(_) => None,
            Self::Own(_, memory) => memory.as_deref(),
        }
    }
}

/// The trampoline of a Rust host function: find the instance's closure (in the store's slot table, or its own)
/// and run it. A typed closure ([`HostFunc::wrap`]) reads and writes the raw slots itself, on the short path
/// kept here; the other kinds run in [`run_kind`].
fn native_trampoline(
    source: Source,
    name: Arc<str>,
    info: &ImportInfo,
) -> impl Fn(Caller<'_, StoreData>, &mut [MaybeUninit<ValRaw>]) -> wasmtime::Result<()> + Send + Sync + 'static {
    let types = Types {
        params: info.params.clone().into(),
        results: info.results.clone().into(),
    };
    move |mut caller, raw| {
        // SAFETY: the kind lives either in the store's `host` slice, which is set when the store is created
        // and never changed or dropped while the store lives (`StoreData::host`), or in this trampoline's
        // captured `source`, which the store's function definition owns; both outlive this call, which runs
        // inside the store. So the reference stays valid for the whole call, even when the closure re-enters
        // the instance through `HostCall` (which reaches memory and exports, never `host`). Borrowing it
        // this way instead of cloning the `Arc` saves two atomic operations per host call.
        let kind = unsafe { &*source.kind(caller.data()) };
        let memory_name = source.memory_name();
        // A re-entry into this store through the `Runtime` from inside a closure given a `HostCall` is refused by
        // the store's lock, which this thread holds (`StoreLock::lock_unless_held_here`), or meets the store busy
        // in its async call; the kinds that lend the `Caller` to such re-entries link a frame (`host_frames`).
        let done = match kind {
            Kind::Raw(f) => f(
                &mut HostCall {
                    caller: &mut caller,
                    memory_name,
                },
                raw,
            ),
            _ => run_kind(kind, &mut caller, memory_name, &types, raw),
        };
        done.map_err(|e| fail(&name, e))
    }
}

/// An import's parameter and result types, as its trampoline converts by them.
struct Types {
    params: Box<[ValType]>,
    results: Box<[ValType]>,
}

/// Run a host function of any kind but a typed one (see [`native_trampoline`]): closures over `Value`s
/// (buffers reused from the store's data: no allocation per call, results checked and converted by the import's
/// types) and bridged ones.
#[inline(never)]
fn run_kind(
    kind: &Kind,
    caller: &mut Caller<'_, StoreData>,
    memory_name: Option<&str>,
    types: &Types,
    raw: &mut [MaybeUninit<ValRaw>],
) -> Result<()> {
    let store = caller.data().store_id;
    let f: ValueFn<'_> = match kind {
        Kind::Native(f) => ValueFn::Native(&**f),
        Kind::Reentrant(f) => ValueFn::Reentrant(&**f),
        Kind::BridgedSync { index, home } => {
            // The caller is lent to the re-entries the bridge makes, as for `Reentrant`.
            let lent = caller as *mut Caller<'_, StoreData> as *mut ();
            // SAFETY: wasmtime initializes the first `params.len()` slots with the arguments, of the
            // import's types, and gives room for its results (this trampoline is linked with that type).
            let run =
                || unsafe { crate::host_bridge::call_bridge_raw(*home, *index, &types.params, &types.results, raw) };
            return crate::host_frames::run_lending(store, lent, run).map_err(|e| *e);
        }
        Kind::Raw(_) | Kind::Suspending { .. } => {
            return Err(Error::Call("internal error: slot shape changed".into()));
        }
    };
    let (mut args, mut out) = std::mem::take(&mut caller.data_mut().host_buffers);
    args.clear();
    out.clear();
    for (ty, r) in types.params.iter().zip(raw.iter()) {
        // SAFETY: wasmtime initializes the first `params.len()` slots with the arguments, of the import's
        // parameter types (this trampoline is linked with exactly that type). Read through a reference:
        // copying the whole 16-byte slot would load across wasm's narrower store (a forwarding stall).
        args.push(Value::from_raw(unsafe { r.assume_init_ref() }, *ty));
    }
    let called = match f {
        ValueFn::Native(f) => f(&mut HostCall { caller, memory_name }, &args, &mut out),
        ValueFn::Reentrant(f) => {
            // The caller is lent to the re-entries `f` makes through the `Runtime` (see `host_frames`);
            // nothing here touches it until `f` returns.
            let lent = caller as *mut Caller<'_, StoreData> as *mut ();
            crate::host_frames::run_lending(store, lent, || f(&args, &mut out))
        }
    };
    let written = called.and_then(|()| write_results(&out, &types.results, raw));
    caller.data_mut().host_buffers = (args, out);
    written
}

/// The closures that take `Value`s: given a `HostCall`, or lending the `Caller`.
enum ValueFn<'a> {
    Native(&'a Callback),
    Reentrant(&'a ReentrantCallback),
}

/// Convert a host function's results by the import's result types into `raw` (5007 when they do not fit).
#[inline]
pub(crate) fn write_results(out: &[Value], types: &[ValType], raw: &mut [MaybeUninit<ValRaw>]) -> Result<()> {
    check_result_count(out.len(), types)?;
    for (i, ((value, ty), slot)) in out.iter().zip(types).zip(raw.iter_mut()).enumerate() {
        // The exact-type cases read only the tag and the number, through the reference: copying the whole
        // 32-byte `Value` the closure just wrote with narrower stores stalls store forwarding (twice per result,
        // a third of a host call over `Value`s in the profile).
        let converted = match (ty, value) {
            (ValType::I32, Value::I32(v)) => ValRaw::i32(*v),
            (ValType::I64, Value::I64(v)) => ValRaw::i64(*v),
            (ValType::F32, Value::F32(v)) => ValRaw::f32(v.to_bits()),
            (ValType::F64, Value::F64(v)) => ValRaw::f64(v.to_bits()),
            _ => result_to_raw(*value, *ty, i)?,
        };
        slot.write(converted);
    }
    Ok(())
}

/// A host function returned as many values as the import's type has results (5007 otherwise).
pub(crate) fn check_result_count(returned: usize, types: &[ValType]) -> Result<()> {
    if returned == types.len() {
        return Ok(());
    }
    Err(Error::Type(format!(
        "returned {returned} value(s), the import's type has {} result(s)",
        types.len()
    )))
}

/// Host function result `i` converted by the import's result type, as call arguments are (5007 naming the
/// result when it does not fit).
pub(crate) fn result_to_raw(value: Value, ty: ValType, i: usize) -> Result<ValRaw> {
    value.to_raw(ty, i).map_err(|e| {
        let detail = e
            .message()
            .strip_prefix(&format!("argument {i}: "))
            .unwrap_or(e.message());
        Error::Type(format!("result {i}: {detail}"))
    })
}

#[cold]
#[inline(never)]
pub(crate) fn fail(name: &Arc<str>, error: Error) -> wasmtime::Error {
    wasmtime::Error::new(HostError {
        import: name.clone(),
        error,
    })
}
