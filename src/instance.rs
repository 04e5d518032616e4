//! A live instance: its store, cached export lookups, limits and captured output.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use wasmtime::{
    Caller, Extern, Func, InstancePre, Memory, Store, StoreContextMut, StoreLimitsBuilder, Trap, TypedFunc,
    UpdateDeadline, ValRaw,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::I32Exit;

use crate::async_call::Suspended;
use crate::engine::{EngineSlot, Interruption};
use crate::epoch_ticker::{EpochTicker, StoreTicker};
use crate::error::{describe, Error, Result};
use crate::host_func::{BridgeHome, HostError, HostFunc, HostLink, Imports};
use crate::host_request::HostChannel;
use crate::module::CompiledModule;
use crate::module_binary::Straight;
use crate::store_data::{CallClock, EntryCall, StoreData};
use crate::store_lock::{StoreGuard, StoreLock};
use crate::value::{ValType, Value};
use crate::value_frame;
use crate::wasi::{BuiltWasi, WasiOptions};

/// Handle to a live instance. Cheap to copy; checked on every use (5005 when stale or forged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceId(pub u64);

/// How to instantiate.
#[derive(Debug, Clone, Default)]
pub struct InstanceOptions {
    /// WASI context. Modules importing `wasi_snapshot_preview1` get an empty one when this is `None`.
    pub wasi: Option<WasiOptions>,
    /// Fuel budget for the instance's whole life (5011 when spent). Instances with fuel run fuel-metered code.
    pub fuel: Option<u64>,
    /// Fuel budget for each call (on top of, and capped by, `fuel`).
    pub call_fuel: Option<u64>,
    /// Wall-clock limit for each call (5012). Instances with a timeout run epoch-checked code.
    pub timeout: Option<Duration>,
    /// Cap on linear memory: guest `memory.grow` past it returns -1, host grow fails with 5013.
    pub max_memory_bytes: Option<usize>,
    /// Host functions the module may import, by module and name (see [`Imports`]); the runtime's own host
    /// modules ([`crate::Runtime::define_host_func`]) serve the imports not given here.
    pub imports: Imports,
    /// Whether the code carries epoch checks, so an async call can be suspended at the end of its time slice
    /// (and a timeout set per call). `None` means yes. `Some(false)` runs code without the checks (a few percent
    /// faster in tight loops); async calls on such an instance then run on a worker thread from the start.
    pub preemptible: Option<bool>,
}

/// Per-call overrides of the instance's limits. Fuel needs an instance created with fuel, a timeout one created
/// with a timeout (the code must carry the checks).
#[derive(Debug, Clone, Copy, Default)]
pub struct CallLimits {
    /// Fuel for this call (capped by the instance's remaining fuel).
    pub fuel: Option<u64>,
    /// Wall-clock limit for this call.
    pub timeout: Option<Duration>,
}

/// What [`InstanceState::begin_call`] set up for one call.
struct CallSetup {
    granted: Option<u64>,
    /// Whether the call runs on the clock (a timeout or a time slice): [`StoreTicker::begin`] was called.
    timed: bool,
}

/// A cached function export: looked up and type-checked once per instance.
struct FuncEntry {
    /// The store member ([`Member`]) whose export this is.
    member: usize,
    /// Its name, parameter and result types, in the member's module's export table (see [`Borrowed`]).
    name: Borrowed<str>,
    func: Func,
    params: Borrowed<[ValType]>,
    results: Borrowed<[ValType]>,
    /// The export as a [`DirectFunc`] for async calls, made at its first one (see [`direct_func`]).
    direct: Option<DirectFunc>,
    /// Whether it is short ([`InstanceState::is_short`]), found at its first async call.
    short: Option<bool>,
}

/// A shared reference into the export table of a module a store's member keeps ([`Member::compiled`]), without
/// its lifetime: the table is built once per module and never changed, and a store never lets go of a member's
/// module, so what it points to lives as long as the store state that holds it. Counting references instead
/// (the `Arc`s the table holds) cost each new instance three atomic increments and three decrements, on three
/// cache lines every instance of the module shares.
struct Borrowed<T: ?Sized>(NonNull<T>);

impl<T: ?Sized> Borrowed<T> {
    /// # Safety
    /// `value` must live, unchanged, as long as the [`InstanceState`] the result is stored in: it is in the export
    /// table of a module held by one of that state's members.
    unsafe fn new(value: &T) -> Self {
        Self(NonNull::from(value))
    }

    fn get(&self) -> &T {
        // SAFETY: `new`'s contract: the value outlives the state this is stored in, so it outlives `&self`.
        unsafe { self.0.as_ref() }
    }
}

// SAFETY: a `Borrowed<T>` is a shared reference to a `T` (see `get`), which may cross threads when `T` is `Sync`
// (`str` and `[ValType]` are): the value is never written while it lives.
unsafe impl<T: ?Sized + Sync> Send for Borrowed<T> {}
// SAFETY: as for `Send`: sharing a shared reference to a `Sync` value.
unsafe impl<T: ?Sized + Sync> Sync for Borrowed<T> {}

/// An export of up to [`INLINE_SLOTS`] parameters and results, typed for `call_async` as four raw slots in and
/// out: see [`direct_func`].
type DirectFunc = TypedFunc<RawSlots, RawSlots>;
/// Four raw values, each as the 64 bits every numeric [`ValRaw`] starts with.
type RawSlots = (u64, u64, u64, u64);

/// One instance's handle: which member of which store it is. Most stores hold one instance; an instance
/// linked to another's exports lives in that instance's store (wasm objects cannot cross stores), so a store
/// may hold several (see [`crate::linking`]). Calls on any instance of a store take turns; different stores
/// never share a lock. Dropping the handle marks it dropped at once (5005 from then on, even through some
/// thread's recent-instance cache); the store, its pool slots and its other members live until its last
/// handle is dropped.
pub(crate) struct InstanceCell {
    pub(crate) store: Arc<StoreCell>,
    pub(crate) member: usize,
    /// The instance in its store (for operations run through a parked call's `Caller`).
    pub(crate) instance: wasmtime::Instance,
    /// Its module's first exported memory, the one unnamed memory access means.
    pub(crate) first_memory: Option<Arc<str>>,
    dropped: AtomicBool,
}

/// A store and the instances in it, behind one lock.
pub(crate) struct StoreCell {
    state: StoreLock<Slot>,
    /// The store's `StoreData::store_id`.
    id: u64,
    /// Handles of this store's instances not yet dropped; the store is freed when the last one goes.
    live: AtomicUsize,
    /// Whether the store has a WASI context.
    uses_wasi: AtomicBool,
    /// Whether the code carries epoch checks (async calls can be suspended).
    preemptible: bool,
    /// The engine variant of the store's code: instances joining it must be compiled for the same one.
    pub(crate) interruption: Interruption,
    /// The compiler of the store's code: instances joining it must be compiled by the same one.
    pub(crate) tier: crate::engine::Tier,
    /// Whether an instance of the store imports suspending host functions: every call goes through the
    /// async protocol (a linked call may reach one from any instance of the store).
    suspends: AtomicBool,
    /// Whether an instance of the store imports reentrant host functions ([`crate::HostFunc::reentrant`]):
    /// every call runs in place, on the calling thread's stack.
    in_place: AtomicBool,
    /// [`BridgeHome`] of the store's suspending imports: a synchronous call on that thread needs no fiber.
    bridge_home: AtomicU64,
    /// Whether the slot holds an async call ([`StoreCell::hold`]): checked before taking the lock in
    /// [`StoreCell::parked`], which every async call start asks.
    held: AtomicBool,
}

/// Where a store's state is.
enum Slot {
    /// In the cell: calls and memory access lock the cell and use it.
    Live(Box<InstanceState>),
    /// Moved into an async call that is suspended or running off the JavaScript thread ([`AsyncCall`]); it comes
    /// back when that call ends. With the call, when the instance has suspending imports (so a host function
    /// can re-enter it).
    Busy(Option<Arc<Suspended>>),
    /// Dropped (or dropped while busy: the async call frees the state when it ends).
    Dropped,
}

/// Resolved function exports are found by scanning the store's cache while it holds at most this many, and
/// through each member's `by_name` map past it: most plugins call one to a few exports, and a map cost every
/// new instance an allocation and a hash on its first call.
const SCAN_LIMIT: usize = 8;

/// Signatures whose `max(params, results)` is at most this many values are called with their raw values on the
/// stack; longer ones use the instance's buffer.
const INLINE_SLOTS: usize = 4;

/// One instance of a store: what resolving its exports needs.
pub(crate) struct Member {
    pub(crate) instance: wasmtime::Instance,
    pub(crate) compiled: Arc<CompiledModule>,
    /// Its function exports resolved so far, as indexes into the store's `funcs`, once the store has resolved
    /// more than [`SCAN_LIMIT`] (FxHash: names are short and chosen by the embedder).
    by_name: FxHashMap<Box<str>, usize>,
    /// The first exported memory, resolved on first unnamed access (the common case for plugins).
    first_memory: Option<Memory>,
}

impl Member {
    pub(crate) fn new(instance: wasmtime::Instance, compiled: Arc<CompiledModule>) -> Self {
        Self {
            instance,
            compiled,
            by_name: FxHashMap::default(),
            first_memory: None,
        }
    }
}

/// A store's state: the store, its instances and what calls need.
pub(crate) struct InstanceState {
    pub(crate) store: Store<StoreData>,
    /// The store's instances; the first is the one the store was created for. Most stores hold one, inline.
    pub(crate) members: SmallVec<[Member; 1]>,
    /// The member the handle that locked the state names: set on every entry ([`InstanceCell::with`],
    /// [`InstanceCell::take`]), read by name lookups (exports, memories, globals).
    current: usize,
    /// Function exports of all members resolved so far (indexes are stable for the store's life); `last`
    /// short-circuits the common case of calling one export repeatedly. The first is inline: a plugin
    /// instantiated for one call resolves one export, and each allocation is footprint its churn pays for.
    funcs: SmallVec<[FuncEntry; 1]>,
    last: usize,
    raw: Vec<ValRaw>,
    /// The store's entry trampoline for async calls (see [`InstanceState::run_async`]), made on first use.
    entry: Option<TypedFunc<(), ()>>,
    /// The epoch ticker, from this store's first timed call on (it then advances the store's engine).
    ticker: Option<StoreTicker>,
    /// Remaining instance-wide fuel; `None` when unlimited.
    fuel_left: Option<u64>,
    call_fuel: Option<u64>,
    timeout: Option<Duration>,
    max_memory_bytes: Option<usize>,
    exit_code: Option<i32>,
    stdout: Option<MemoryOutputPipe>,
    stderr: Option<MemoryOutputPipe>,
    /// Whether the instance imports suspending host functions (only async calls can run it).
    suspends: bool,
    /// Whether an instance of the store imports reentrant host functions (calls run in place only).
    in_place: bool,
    /// Whose bridge answers all the store's suspending imports (see [`BridgeHome`]).
    bridge_home: BridgeHome,
}

/// A store made for a new instance, before the instance is in it: its state (no member yet) and how to
/// instantiate into it, now ([`NewStore::instantiate`]) or as an async call ([`NewStore::start`]).
pub(crate) struct NewStore {
    state: Box<InstanceState>,
    /// The instance's host functions linked, if it imports any; else it is linked by `compiled` alone.
    host_link: Option<Arc<HostLink>>,
    compiled: Arc<CompiledModule>,
}

/// An instantiation running as an async call: the store's state travels in the future, which adds the
/// instance as the store's newest member.
pub(crate) type Instantiating =
    std::pin::Pin<Box<dyn std::future::Future<Output = (Box<InstanceState>, Result<Outcome>)> + Send>>;

impl NewStore {
    /// A store for `compiled` with `options`. Cost: a WASI context (if any) and the store.
    pub(crate) fn new(
        compiled: Arc<CompiledModule>,
        options: &InstanceOptions,
        wasi: Option<BuiltWasi>,
        host: Option<(Arc<HostLink>, Vec<HostFunc>)>,
    ) -> Result<Self> {
        let (host_link, host_funcs) = match host {
            Some((link, funcs)) => (Some(link), funcs),
            None => (None, Vec::new()),
        };
        if host_link.is_none() {
            // Unlinkable (an import nothing provides): fail before making the store.
            compiled.pre().as_ref().map_err(|e| Error::Instantiate(e.clone()))?;
        }
        let first_memory = host_link.as_ref().and_then(|l| l.first_memory.clone());
        let suspends = host_link.as_ref().is_some_and(|l| l.suspends);
        let in_place = host_funcs.iter().any(HostFunc::is_reentrant);
        check_mix(suspends, in_place)?;
        let bridge_home = BridgeHome::of(&host_funcs);
        let mut limits = StoreLimitsBuilder::new();
        if let Some(max) = options.max_memory_bytes {
            limits = limits.memory_size(max);
        }
        let (ctx, stdout, stderr) = match wasi {
            Some(w) => (Some(w.ctx), w.stdout, w.stderr),
            None => (None, None, None),
        };
        let mut store = Store::new(
            &compiled.slot.engine,
            StoreData {
                store_id: crate::host_frames::next_store_id(),
                wasi: ctx,
                limits: limits.build(),
                clock: CallClock::default(),
                host: host_funcs.into(),
                first_memory,
                channel: suspends.then(|| Arc::new(HostChannel::default())),
                max_memory_bytes: options.max_memory_bytes,
                host_buffers: Default::default(),
                entry: None,
                waiter: None,
                host_reply: None,
                fiberless: false,
            },
        );
        store.limiter(|d| &mut d.limits);
        let interruption = compiled.slot.interruption;
        if interruption.fuel {
            store
                .set_fuel(options.fuel.unwrap_or(u64::MAX))
                .map_err(|e| Error::Instantiate(describe(&e)))?;
        }
        if interruption.epoch {
            store.epoch_deadline_callback(on_epoch_deadline);
            store.set_epoch_deadline(NO_DEADLINE);
        }
        let state = InstanceState {
            store,
            members: SmallVec::new(),
            current: 0,
            funcs: SmallVec::new(),
            last: 0,
            raw: Vec::new(),
            entry: None,
            ticker: None,
            fuel_left: options.fuel,
            call_fuel: options.call_fuel,
            timeout: options.timeout,
            max_memory_bytes: options.max_memory_bytes,
            exit_code: None,
            stdout,
            stderr,
            suspends,
            in_place,
            bridge_home,
        };
        Ok(Self {
            state: Box::new(state),
            host_link,
            compiled,
        })
    }

    /// Whether instantiating needs a fiber: the instance imports host functions answered outside the call and
    /// the module has a start function, which may reach one. Otherwise nothing can suspend while it is
    /// instantiated (its imports are synchronous host functions until one waits: see `host_request`).
    pub(crate) fn runs_on_fiber(&self) -> bool {
        self.state.suspends && self.compiled.binary.may_run_at_start()
    }

    /// The store's mailbox for suspending host functions, if the instance imports any.
    pub(crate) fn channel(&self) -> Option<Arc<HostChannel>> {
        self.state.store.data().channel.clone()
    }

    /// The cell for this store around `slot`, counting `live` handles.
    fn cell(&self, slot: Slot, live: usize) -> StoreCell {
        let interruption = self.compiled.slot.interruption;
        let id = self.state.store.data().store_id;
        StoreCell {
            state: StoreLock::new(slot),
            id,
            live: AtomicUsize::new(live),
            uses_wasi: AtomicBool::new(self.state.store.data().wasi.is_some()),
            preemptible: interruption.epoch,
            suspends: AtomicBool::new(self.state.suspends),
            in_place: AtomicBool::new(self.state.in_place),
            bridge_home: AtomicU64::new(self.state.bridge_home.0),
            held: AtomicBool::new(false),
            interruption,
            tier: self.compiled.slot.tier,
        }
    }

    /// Instantiate on this thread (the module's start function included) and return the handle's cell. A
    /// start function that reaches a host function answered outside the call fails (see [`Self::start`]).
    /// Cost: a pooled slot and the start function, microseconds for small guests.
    pub(crate) fn instantiate(mut self) -> Result<InstanceCell> {
        let on_fiber = self.runs_on_fiber();
        // Borrowed, not cloned: a clone and its drop are six atomic counts per instance.
        let pre = pre_of(self.host_link.as_deref(), &self.compiled)?;
        let instance = if on_fiber {
            instantiate_suspending(pre, &mut self.state.store)
        } else {
            pre.instantiate(&mut self.state.store)
        };
        let instance = instance.map_err(|e| instantiate_error(&e))?;
        let memory_name = first_memory_name(&self.compiled);
        let mut store = self.cell(Slot::Dropped, 1);
        let Self {
            mut state, compiled, ..
        } = self;
        state.members.push(Member::new(instance, compiled));
        // Not shared yet: the state goes in without taking the lock.
        *store.state.get_mut() = Slot::Live(state);
        Ok(InstanceCell::member_of(Arc::new(store), 0, instance, memory_name))
    }

    /// The store, busy, and the instantiation as an async call's future: the start function runs on a fiber,
    /// so it can wait in host functions answered outside the call.
    pub(crate) fn start(self) -> (Arc<StoreCell>, Instantiating) {
        let store = Arc::new(self.cell(Slot::Busy(None), 0));
        let pre = pre_of(self.host_link.as_deref(), &self.compiled).cloned();
        let Self {
            mut state, compiled, ..
        } = self;
        let future = Box::pin(async move {
            let result = match pre {
                Ok(pre) => pre.instantiate_async(&mut state.store).await,
                Err(e) => return (state, Err(e)),
            };
            let outcome = match result {
                Ok(instance) => {
                    state.members.push(Member::new(instance, compiled));
                    Ok(Outcome::Instantiated)
                }
                Err(e) => Err(instantiate_error(&e)),
            };
            (state, outcome)
        });
        (store, future)
    }
}

/// What instantiates `compiled`: the link of its host functions when it imports any, else its own (5001 when it
/// cannot be linked: an import nothing provides).
fn pre_of<'a>(host_link: Option<&'a HostLink>, compiled: &'a CompiledModule) -> Result<&'a InstancePre<StoreData>> {
    match host_link {
        Some(link) => Ok(&link.pre),
        None => compiled.pre().as_ref().map_err(|e| Error::Instantiate(e.clone())),
    }
}

impl InstanceCell {
    /// The handle of member `member` of `store` (counted among the store's live handles by the caller).
    fn member_of(
        store: Arc<StoreCell>,
        member: usize,
        instance: wasmtime::Instance,
        first_memory: Option<Arc<str>>,
    ) -> Self {
        Self {
            store,
            member,
            instance,
            first_memory,
            dropped: AtomicBool::new(false),
        }
    }

    /// Whether the store has a WASI context (its host calls may `block_on` tokio).
    #[inline]
    pub(crate) fn uses_wasi(&self) -> bool {
        self.store.uses_wasi.load(Ordering::Relaxed)
    }

    /// Whether the code carries epoch checks (async calls can be suspended).
    #[inline]
    pub(crate) fn preemptible(&self) -> bool {
        self.store.preemptible
    }

    /// Whether calls must go through the async protocol (see [`StoreCell::suspends`]).
    #[inline]
    pub(crate) fn suspends(&self) -> bool {
        self.store.suspends.load(Ordering::Relaxed)
    }

    /// Whether a synchronous call made on this thread can run without a fiber: the store has suspending imports,
    /// all answered in place by this thread's bridge (see [`InstanceState::call_frame_fiberless`]).
    #[inline]
    pub(crate) fn fiberless_here(&self) -> bool {
        BridgeHome(self.store.bridge_home.load(Ordering::Relaxed)).is_this_thread()
    }

    /// Whether calls run in place only (see [`StoreCell::in_place`]).
    #[inline]
    pub(crate) fn in_place(&self) -> bool {
        self.store.in_place.load(Ordering::Relaxed)
    }

    /// Whether this handle was dropped.
    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The store's identity (`StoreData::store_id`).
    pub(crate) fn store_id(&self) -> u64 {
        self.store.id
    }

    #[inline]
    fn lock(&self) -> StoreGuard<'_, Slot> {
        self.store.lock()
    }

    fn dropped_error(handle: u64) -> Error {
        Error::InvalidInstanceHandle(format!("instance {handle} was dropped"))
    }

    /// Run `f` on the live state, this instance selected; 5005 if the instance was dropped, 5002 while an
    /// async call holds its store.
    #[inline(always)]
    pub(crate) fn with<R>(&self, handle: u64, f: impl FnOnce(&mut InstanceState) -> Result<R>) -> Result<R> {
        if self.dropped.load(Ordering::Relaxed) {
            return Err(Self::dropped_error(handle));
        }
        match &mut *self.store.lock_from(handle)? {
            Slot::Live(state) => {
                state.current = self.member;
                f(state)
            }
            Slot::Busy(_) => Err(busy(handle)),
            Slot::Dropped => Err(Self::dropped_error(handle)),
        }
    }

    /// The async call holding this instance's store while one of its host functions runs (so the host
    /// function can re-enter the store through it).
    pub(crate) fn parked(&self) -> Option<Arc<Suspended>> {
        self.store.parked()
    }

    /// Prepare an async call under one lock of the store (see [`InstanceState::prepare_async`]): a short export
    /// runs there and then, and the state stays in the cell; a call that needs a fiber moves the state out with
    /// its preparation (the store is busy until [`StoreCell::put_back`]). One lock where taking the state first
    /// and putting it back after a short call took two. Errors leave the state in the cell.
    pub(crate) fn start_async(
        &self,
        handle: u64,
        prepare: impl FnOnce(&mut InstanceState) -> Result<AsyncStart>,
    ) -> Result<Started> {
        if self.dropped.load(Ordering::Relaxed) {
            return Err(Self::dropped_error(handle));
        }
        let mut slot = self.store.lock_from(handle)?;
        let state = match &mut *slot {
            Slot::Live(state) => state,
            Slot::Busy(_) => return Err(busy(handle)),
            Slot::Dropped => return Err(Self::dropped_error(handle)),
        };
        state.current = self.member;
        match prepare(state)? {
            AsyncStart::Done(count) => Ok(Started::Done(count)),
            AsyncStart::Fiber(prepared) => match std::mem::replace(&mut *slot, Slot::Busy(None)) {
                Slot::Live(state) => Ok(Started::Fiber(prepared, state)),
                _ => unreachable!("the slot was live under this lock"),
            },
        }
    }

    /// Refuse to drop this instance from inside one of its store's own host functions on this thread (5002):
    /// a synchronous call running that function holds the store, so freeing it would wait for that call
    /// forever; a function that lends its call (`crate::host_frames`) is refused alike. (A Rust host function
    /// of an async call, whose state is out of the lock, may drop it: the call frees the store when it ends,
    /// as for a drop from another thread.)
    pub(crate) fn check_droppable(&self, handle: u64) -> Result<()> {
        if self.store.state.held_here() || crate::host_frames::running_in(self.store.id) {
            return Err(Error::Call(format!(
                "instance {handle} is running one of its own host functions on this thread; drop it after \
                 that call returns"
            )));
        }
        Ok(())
    }

    /// Drop this handle; free the store now if it was the store's last (waiting for a synchronous call in
    /// progress to finish; an async call in progress frees it when it ends). Idempotent.
    pub(crate) fn retire(&self) {
        if self.dropped.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.store.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            let state = std::mem::replace(&mut *self.lock(), Slot::Dropped);
            drop(state);
        }
    }
}

impl StoreCell {
    /// Lock for a call or a memory operation on instance `handle`: waits while another thread's call runs,
    /// but refuses (5002) when this thread holds the lock: one of this store's own host functions runs here,
    /// inside the call that holds it until that function returns (it reaches the instance through its
    /// `HostCall`).
    #[inline(always)]
    fn lock_from(&self, handle: u64) -> Result<StoreGuard<'_, Slot>> {
        match self.state.lock_unless_held_here() {
            Some(guard) => Ok(guard),
            None => Err(reentered(handle, self.id)),
        }
    }

    fn lock(&self) -> StoreGuard<'_, Slot> {
        // A panic while holding the lock can only come from a bug in this crate; the store itself stays sound
        // (the lock has no poisoning: the guard unlocks while unwinding).
        self.state.lock()
    }

    /// The async call holding the store while one of its host functions runs.
    pub(crate) fn parked(&self) -> Option<Arc<Suspended>> {
        // Most stores never hold a call: answer them without taking the lock.
        if !self.held.load(Ordering::Acquire) {
            return None;
        }
        match &*self.lock() {
            Slot::Busy(Some(call)) if call.waiting() => Some(call.clone()),
            _ => None,
        }
    }

    /// Record the async call that took the state (see [`Slot::Busy`]).
    pub(crate) fn hold(&self, call: Arc<Suspended>) {
        let mut slot = self.lock();
        if let Slot::Busy(held) = &mut *slot {
            *held = Some(call);
            self.held.store(true, Ordering::Release);
        }
    }

    /// Move the state out for an async call (busy until [`Self::put_back`]); `handle` names the instance
    /// asking, for errors.
    pub(crate) fn take(&self, handle: u64) -> Result<Box<InstanceState>> {
        let mut slot = self.lock_from(handle)?;
        match std::mem::replace(&mut *slot, Slot::Busy(None)) {
            Slot::Live(state) => Ok(state),
            other => {
                *slot = other;
                match &*slot {
                    Slot::Busy(_) => Err(busy(handle)),
                    _ => Err(InstanceCell::dropped_error(handle)),
                }
            }
        }
    }

    /// Return the state an async call took; freed at once if the store was dropped meanwhile.
    pub(crate) fn put_back(&self, state: Box<InstanceState>) {
        let mut slot = self.lock();
        self.held.store(false, Ordering::Release);
        if matches!(*slot, Slot::Busy(_)) {
            *slot = Slot::Live(state);
        } else {
            drop(slot);
            drop(state);
        }
    }

    /// A handle for the store's newest member (an instantiation just added it), counted among its live ones.
    pub(crate) fn newest_member(self: &Arc<Self>, state: &InstanceState) -> InstanceCell {
        let member = state.members.len() - 1;
        let added = &state.members[member];
        if state.suspends {
            self.suspends.store(true, Ordering::Relaxed);
        }
        if state.in_place {
            self.in_place.store(true, Ordering::Relaxed);
        }
        self.bridge_home.store(state.bridge_home.0, Ordering::Relaxed);
        if state.store.data().wasi.is_some() {
            self.uses_wasi.store(true, Ordering::Relaxed);
        }
        self.live.fetch_add(1, Ordering::AcqRel);
        InstanceCell::member_of(self.clone(), member, added.instance, first_memory_name(&added.compiled))
    }

    /// Add an instance to the live store with `add` (which pushes a [`Member`]), counting its handle.
    /// `handle` names the instance whose store this is, for errors.
    pub(crate) fn join(
        self: &Arc<Self>,
        handle: u64,
        add: impl FnOnce(&mut InstanceState) -> Result<()>,
    ) -> Result<InstanceCell> {
        match &mut *self.lock_from(handle)? {
            Slot::Live(state) => {
                add(state)?;
                Ok(self.newest_member(state))
            }
            Slot::Busy(_) => Err(busy(handle)),
            Slot::Dropped => Err(InstanceCell::dropped_error(handle)),
        }
    }
}

/// Refuse a store that would import both suspending and reentrant host functions (5001): the first run only on
/// a fiber, the second never.
pub(crate) fn check_mix(suspends: bool, in_place: bool) -> Result<()> {
    if suspends && in_place {
        return Err(Error::Instantiate(
            "host functions answered outside the call (async JavaScript imports) and reentrant ones \
             (`syncImports`) cannot serve one store: link instances of one kind only"
                .into(),
        ));
    }
    Ok(())
}

/// The name of a module's first exported memory (found once per module).
pub(crate) fn first_memory_name(module: &CompiledModule) -> Option<Arc<str>> {
    module.exports().first_memory.clone()
}

fn busy(handle: u64) -> Error {
    Error::Call(format!(
        "instance {handle} is busy in an async call (`call` is still running); await it first"
    ))
}

/// A call or memory operation on an instance from inside one of its own Rust host functions (see
/// `StoreCell::lock_from`).
#[cold]
#[inline(never)]
fn reentered(handle: u64, store: u64) -> Error {
    if crate::host_frames::reentry_caller(store).is_some() {
        return Error::Call(format!(
            "instance {handle} is running one of its own host functions on this thread; from inside it, only \
             its memory and calls of its exports by name can be used"
        ));
    }
    Error::Call(format!(
        "instance {handle} is running one of its own host functions on this thread; reach its memory and \
         exports through the `HostCall` that function was given"
    ))
}

/// Far enough in the future to never fire (ticks beyond the current epoch).
const NO_DEADLINE: u64 = 1 << 62;

/// What the guest's epoch checks do once the deadline tick comes: trap when the call's timeout has passed (5012),
/// yield to the caller when an async call's time slice is over (it then continues off the JavaScript thread),
/// otherwise look again one tick later.
fn on_epoch_deadline(store: StoreContextMut<'_, StoreData>) -> wasmtime::Result<UpdateDeadline> {
    let clock = store.data().clock;
    if clock.deadline.is_some_and(|d| Instant::now() >= d) {
        return Ok(UpdateDeadline::Interrupt);
    }
    Ok(if clock.sliced {
        UpdateDeadline::Yield(1)
    } else {
        UpdateDeadline::Continue(1)
    })
}

/// Instantiate on a fiber, as a store with suspending imports requires, on this thread. A start function that
/// reaches a suspending import cannot be answered (nobody has the instance yet): the import fails.
fn instantiate_suspending(
    pre: &InstancePre<StoreData>,
    store: &mut Store<StoreData>,
) -> wasmtime::Result<wasmtime::Instance> {
    let channel = store.data().channel.clone();
    instantiate_on_fiber(channel, pre.instantiate_async(&mut *store))
}

/// Drive an async instantiation to its end on this thread (see [`instantiate_suspending`]).
pub(crate) fn instantiate_on_fiber(
    channel: Option<Arc<HostChannel>>,
    future: impl std::future::Future<Output = wasmtime::Result<wasmtime::Instance>>,
) -> wasmtime::Result<wasmtime::Instance> {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match crate::host_stack::polling(|| future.as_mut().poll(&mut cx)) {
            Poll::Ready(result) => return result,
            Poll::Pending => {
                if let Some(channel) = &channel {
                    if channel.take_event().is_some() {
                        let why = "a start function cannot call a host function answered outside the call";
                        channel.send(crate::host_request::Command::Reply(Err(Error::Call(why.into()))));
                    }
                }
            }
        }
    }
}

pub(crate) fn instantiate_error(e: &wasmtime::Error) -> Error {
    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        return Error::LimitExceeded(format!("instance pool exhausted: {e:#}"));
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Error::FuelExhausted(describe(e)),
        Some(Trap::Interrupt) => Error::Timeout(describe(e)),
        // The start function trapped: the instance never came to be.
        Some(_) => Error::Instantiate(describe(e)),
        None => Error::Instantiate(format!("{e:#}")),
    }
}

/// The error of a guest that failed: a host function's failure (5002 carrying its error, code included), a
/// trap (5002 with its code, 5011 fuel, 5012 timeout), anything else 5002.
pub(crate) fn guest_error(e: &wasmtime::Error) -> Error {
    if let Some(host) = e.downcast_ref::<HostError>() {
        return Error::Call(host.to_string());
    }
    match e.downcast_ref::<Trap>() {
        Some(trap) => trap_error(*trap, e),
        None => Error::Call(describe(e)),
    }
}

fn trap_error(trap: Trap, e: &wasmtime::Error) -> Error {
    match trap {
        Trap::OutOfFuel => Error::FuelExhausted(describe(e)),
        Trap::Interrupt => Error::Timeout(describe(e)),
        _ => Error::Trap {
            message: describe(e),
            trap,
        },
    }
}

impl InstanceState {
    /// Call export `name`. Arguments are converted by the export's signature; results are appended to `out`.
    #[inline]
    pub(crate) fn call(
        &mut self,
        name: &str,
        args: &[Value],
        limits: CallLimits,
        ticker: &EpochTicker,
        out: &mut Vec<Value>,
    ) -> Result<()> {
        let index = self.func_index(name)?;
        self.call_index(index, args, limits, ticker, out)
    }

    /// [`Self::call`] of the function export at `index` (from [`Self::func_index`]): no name lookup.
    pub(crate) fn call_index(
        &mut self,
        index: usize,
        args: &[Value],
        limits: CallLimits,
        ticker: &EpochTicker,
        out: &mut Vec<Value>,
    ) -> Result<()> {
        let fill = move |params: &[ValType], raw: &mut [ValRaw]| {
            // Equal lengths (checked by `invoke`), stated so the loop needs no bounds checks.
            let (args, raw) = (&args[..params.len()], &mut raw[..params.len()]);
            for i in 0..params.len() {
                raw[i] = args[i].to_raw(params[i], i)?;
            }
            Ok(move |results: &[ValType], raw: &[ValRaw]| {
                out.reserve(results.len());
                for (ty, raw) in results.iter().zip(raw) {
                    out.push(Value::from_raw(raw, *ty));
                }
                Ok(())
            })
        };
        self.invoke(index, args.len(), limits, ticker, fill).map(drop)
    }

    /// [`Self::call_frame`] of an instance whose suspending imports are all bridged on this thread
    /// ([`InstanceCell::fiberless_here`]), for a caller that waits (`callSync`): a synchronous call, no fiber.
    /// Its imports are answered in place as `syncImports`' are; one that would answer later (a Promise) fails
    /// with 5007, as it would on this path with a fiber. Saves the fiber's entry and exit (~0.3 µs a call).
    pub(crate) fn call_frame_fiberless(
        &mut self,
        index: usize,
        frame: &mut [u8],
        nargs: usize,
        ticker: &EpochTicker,
    ) -> Result<u32> {
        self.fiberless(|state| state.call_frame(index, frame, nargs, ticker))
    }

    /// Run `call` with the store marked fiberless: its bridged imports answer in place, and one that would answer
    /// later fails instead of suspending.
    #[inline(always)]
    fn fiberless<R>(&mut self, call: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let outer = std::mem::replace(&mut self.store.data_mut().fiberless, true);
        let called = call(self);
        self.store.data_mut().fiberless = outer;
        called
    }

    /// Call the function export at `index` with `nargs` arguments decoded from a value frame; the results
    /// overwrite the frame's slots from slot 0 and their count is returned. Slots are decoded straight into
    /// wasmtime's raw values and results encoded straight from them: no intermediate `Value` vectors.
    pub(crate) fn call_frame(
        &mut self,
        index: usize,
        frame: &mut [u8],
        nargs: usize,
        ticker: &EpochTicker,
    ) -> Result<u32> {
        let fill = move |params: &[ValType], raw: &mut [ValRaw]| {
            value_frame::decode_raw(frame, params, raw)?;
            Ok(move |results: &[ValType], raw: &[ValRaw]| value_frame::encode_raw(frame, results, raw))
        };
        let called = self.invoke(index, nargs, CallLimits::default(), ticker, fill)?;
        Ok(called.unwrap_or(0))
    }

    /// [`Self::call_frame`] with JavaScript numbers for arguments (converted as the frame's `NUMBER` tag is) and
    /// its result as a number: `Some((count, value))`, the count 0 or 1 (0 also after a WASI `proc_exit`).
    /// `None`, before anything runs, when the export's results are not one number or none (an i64, several),
    /// or when the store imports host functions answered outside the call that this thread cannot answer in
    /// place (the caller then takes the call protocol). A store whose such imports are all bridged on this
    /// thread runs the call without a fiber, as [`Self::call_frame_fiberless`] does. No frame to encode or
    /// decode: the commonest call shape, a few ns cheaper.
    #[inline]
    pub(crate) fn call_numbers(
        &mut self,
        index: usize,
        args: &[f64],
        ticker: &EpochTicker,
    ) -> Result<Option<(u32, f64)>> {
        if self
            .funcs
            .get(index)
            .is_some_and(|f| !value_frame::is_number_result(f.results.get()))
        {
            return Ok(None);
        }
        if self.suspends {
            return self.call_numbers_fiberless(index, args, ticker);
        }
        self.invoke_numbers(index, args, ticker)
    }

    /// [`Self::call_numbers`] of a store with imports answered outside the call: without a fiber when they are all
    /// bridged on this thread, else `None` (nothing runs). Out of line: the plain path stays as it was.
    #[inline(never)]
    fn call_numbers_fiberless(
        &mut self,
        index: usize,
        args: &[f64],
        ticker: &EpochTicker,
    ) -> Result<Option<(u32, f64)>> {
        if !self.bridge_home.is_this_thread() {
            return Ok(None);
        }
        self.fiberless(|state| state.invoke_numbers(index, args, ticker))
    }

    /// The call of [`Self::call_numbers`], its checks done.
    #[inline(always)]
    fn invoke_numbers(&mut self, index: usize, args: &[f64], ticker: &EpochTicker) -> Result<Option<(u32, f64)>> {
        let fill = move |params: &[ValType], raw: &mut [ValRaw]| {
            value_frame::numbers_to_raw(args, params, raw)?;
            Ok(|results: &[ValType], raw: &[ValRaw]| {
                Ok((results.len() as u32, value_frame::number_result(results, raw)))
            })
        };
        Ok(Some(
            self.invoke(index, args.len(), CallLimits::default(), ticker, fill)?
                .unwrap_or((0, 0.0)),
        ))
    }

    /// Whether the function export at `index` is *short*: it cannot be suspended once it has begun, so an async
    /// call runs it without a fiber. Its body is straight ([`crate::module_binary::ModuleBinary::straight`])
    /// and calls nothing, or calls only imports that are host functions that do not suspend: those of the
    /// store's first member (never linked to other instances' exports) when the store has no suspending
    /// import. Found at its first async call and kept with it (later members never change the first's imports).
    fn is_short(&mut self, index: usize) -> bool {
        let entry = &self.funcs[index];
        if let Some(short) = entry.short {
            return short;
        }
        let short = match self.members[entry.member].compiled.binary.straight(entry.name.get()) {
            Some(Straight::CallsNothing) => true,
            Some(Straight::CallsImports) => entry.member == 0 && !self.suspends,
            None => false,
        };
        self.funcs[index].short = Some(short);
        short
    }

    /// The call pipeline every caller shares: check the arity of the function export at `index`, let `fill`
    /// write one raw value per parameter (it returns `take`, which reads the results), apply the limits, run
    /// the guest, `take` the results. `None` when a WASI `proc_exit` ended the call (no results). The raw
    /// values live on the stack for signatures of up to [`INLINE_SLOTS`] (no buffer to size or clear), in
    /// `self.raw` beyond.
    #[inline(always)]
    fn invoke<R, Take>(
        &mut self,
        index: usize,
        nargs: usize,
        limits: CallLimits,
        ticker: &EpochTicker,
        fill: impl FnOnce(&[ValType], &mut [ValRaw]) -> Result<Take>,
    ) -> Result<Option<R>>
    where
        Take: FnOnce(&[ValType], &[ValRaw]) -> Result<R>,
    {
        let Some(entry) = self.funcs.get(index) else {
            return Err(Error::ExportNotFound(format!(
                "no resolved function with index {index}"
            )));
        };
        if nargs != entry.params.get().len() {
            return Err(Error::Type(format!(
                "`{}` takes {} argument(s), got {nargs}",
                entry.name.get(),
                entry.params.get().len(),
            )));
        }
        if self.suspends && entry.short != Some(true) && !self.store.data().fiberless {
            return Err(Error::Type(format!(
                "instance imports host functions its embedder answers outside the call; call `{}` through \
                 the async protocol (`call_start`; TypeScript `call`/`callSync` do)",
                entry.name.get()
            )));
        }
        let slots = entry.params.get().len().max(entry.results.get().len());
        let mut inline = [ValRaw::i64(0); INLINE_SLOTS];
        // A longer signature borrows the instance's buffer for the call (an error before the call drops it:
        // the next long call makes another).
        let mut spilled = Vec::new();
        let raw = if slots <= INLINE_SLOTS {
            &mut inline[..slots]
        } else {
            spilled = std::mem::take(&mut self.raw);
            spilled.clear();
            spilled.resize(slots, ValRaw::i64(0));
            &mut spilled[..]
        };
        let take = fill(entry.params.get(), &mut raw[..entry.params.get().len()])?;
        let func = entry.func;

        let setup = self.begin_call(limits, ticker, None)?;

        // SAFETY: `raw` holds `slots = max(params, results)` entries; the first `params.len()` were written by
        // `fill` for exactly the parameter types of `func` (its contract: one raw value per parameter, converted
        // by that parameter's type, into a slice of exactly that length), and `resolve_func` refuses signatures
        // with reference or v128 types, so no raw value needs to be rooted in this store. `func` belongs to
        // `self.store`, and the call is not made from inside an async call of it: this store is synchronous, or
        // the call is fiberless (`call_frame_fiberless`), made with the store's lock held, which a running async
        // call of the store would hold (a re-entry from one of its host functions goes through its `Caller`).
        let result = unsafe { func.call_unchecked(&mut self.store, raw as *mut [ValRaw]) };

        self.end_call(setup);
        let answer = match result {
            Ok(()) => take(self.funcs[index].results.get(), raw).map(Some),
            Err(e) => self.call_error(e).map(|()| None),
        };
        if spilled.capacity() > 0 {
            self.raw = spilled;
        }
        answer
    }

    /// Apply a call's limits: check that the code carries the checks they need, grant the fuel, set the clock
    /// (timeout and, for async calls, the time slice) and keep the epoch ticker running for them.
    #[inline(always)]
    fn begin_call(&mut self, limits: CallLimits, ticker: &EpochTicker, slice: Option<Duration>) -> Result<CallSetup> {
        let interruption = self.members[0].compiled.slot.interruption;
        let fuel = limits.fuel.or(self.call_fuel);
        let timeout = limits.timeout.or(self.timeout);
        if fuel.is_some() && !interruption.fuel {
            return Err(Error::Call(
                "a per-call fuel limit needs an instance created with `fuel` or `call_fuel`".into(),
            ));
        }
        if timeout.is_some() && !interruption.epoch {
            return Err(Error::Call(
                "a per-call timeout needs an instance created with `timeout` (or preemptible code)".into(),
            ));
        }
        let granted = match (self.fuel_left, fuel) {
            (Some(left), Some(call)) => Some(left.min(call)),
            (left, call) => left.or(call),
        };
        if interruption.fuel {
            self.store
                .set_fuel(granted.unwrap_or(u64::MAX))
                .map_err(|e| Error::Call(describe(&e)))?;
        }
        let slice = slice.filter(|_| interruption.epoch);
        let first = match (timeout, slice) {
            (Some(t), Some(s)) => Some(t.min(s)),
            (t, s) => t.or(s),
        };
        if let Some(first) = first {
            self.store.data_mut().clock = CallClock {
                deadline: timeout.map(|t| Instant::now() + t),
                sliced: slice.is_some(),
            };
            let engine = &self.members[0].compiled.slot.engine;
            let clock = self.ticker.get_or_insert_with(|| ticker.for_store(engine));
            // Epochs advance on tick boundaries and the current tick is already partly gone: a slice gets one
            // tick more than it spans, so it lasts between one and two slices' worth (1–2 ms by default), never
            // next to nothing (which sent ~every call longer than a few µs to a worker thread).
            let ticks = clock.ticks_for(first) + u64::from(slice == Some(first));
            clock.begin();
            self.store.set_epoch_deadline(ticks);
        }
        Ok(CallSetup {
            granted,
            timed: first.is_some(),
        })
    }

    /// Undo [`Self::begin_call`]: charge the fuel used, stop the clock.
    #[inline(always)]
    fn end_call(&mut self, setup: CallSetup) {
        if let Some(granted) = setup.granted {
            let remaining = self.store.get_fuel().unwrap_or(0);
            if let Some(left) = &mut self.fuel_left {
                *left -= granted - remaining;
            }
        }
        if setup.timed {
            self.store.data_mut().clock = CallClock::default();
            self.store.set_epoch_deadline(NO_DEADLINE);
            if let Some(clock) = &mut self.ticker {
                clock.end();
            }
        }
    }

    fn call_error(&mut self, e: wasmtime::Error) -> Result<()> {
        if let Some(exit) = e.downcast_ref::<I32Exit>() {
            // `proc_exit(n)` is how a WASI command ends: an exit status, not a failure.
            self.exit_code = Some(exit.0);
            return Ok(());
        }
        Err(guest_error(&e))
    }

    /// Index of function export `name` in this instance's export cache, resolving and type-checking it on first
    /// use (5003 when there is no such function, 5007 when its signature cannot cross the API). Stable for the
    /// instance's life.
    #[inline]
    pub(crate) fn func_index(&mut self, name: &str) -> Result<usize> {
        // Compared inline: export names are short, and a libc `memcmp` call costs more than the bytes.
        let same = |a: &[u8], b: &[u8]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y);
        if self
            .funcs
            .get(self.last)
            .is_some_and(|f| f.member == self.current && same(f.name.get().as_bytes(), name.as_bytes()))
        {
            return Ok(self.last);
        }
        let found = if self.funcs.len() <= SCAN_LIMIT {
            let current = self.current;
            (self.funcs.iter()).position(|f| f.member == current && same(f.name.get().as_bytes(), name.as_bytes()))
        } else {
            self.members[self.current].by_name.get(name).copied()
        };
        if let Some(index) = found {
            self.last = index;
            return Ok(index);
        }
        self.resolve_func(name)?;
        self.last = self.funcs.len() - 1;
        Ok(self.last)
    }

    /// Resolve and type-check export `name` into the cache (once per instance and name), from its module's
    /// export table (no wasmtime types built per instance).
    fn resolve_func(&mut self, name: &str) -> Result<()> {
        let member = &mut self.members[self.current];
        let (export_name, index, sig) = member.compiled.exports().func(name)?;
        let (params, results) = sig.as_ref().map_err(|&bad| {
            Error::Type(format!(
                "`{name}` has a {bad} in its signature; only i32, i64, f32 and f64 can cross this API"
            ))
        })?;
        let Some(Extern::Func(func)) = member.instance.get_module_export(&mut self.store, index) else {
            return Err(Error::ExportNotFound(format!("no function export named `{name}`")));
        };
        // SAFETY: the name and types are in the export table of `member.compiled`, which this state keeps as long
        // as it lives (members are never removed) and which never changes once built.
        let (name, params, results) = unsafe {
            (
                Borrowed::new(&**export_name),
                Borrowed::new(&**params),
                Borrowed::new(&**results),
            )
        };
        self.funcs.push(FuncEntry {
            member: self.current,
            name,
            func,
            params,
            results,
            direct: None,
            short: None,
        });
        // Past the scan limit every resolved export is in its member's map (all of them at the crossing).
        let indexed = match self.funcs.len() {
            n if n <= SCAN_LIMIT => 0..0,
            n if n == SCAN_LIMIT + 1 => 0..n,
            n => n - 1..n,
        };
        for i in indexed {
            let f = &self.funcs[i];
            self.members[f.member].by_name.insert(f.name.get().into(), i);
        }
        Ok(())
    }

    /// The named memory, or the first exported memory when `name` is `None`.
    fn memory(&mut self, name: Option<&str>) -> Result<Memory> {
        match name {
            Some(n) => self.members[self.current]
                .instance
                .get_memory(&mut self.store, n)
                .ok_or_else(|| Error::Memory(format!("no memory export named `{n}`"))),
            None => {
                if let Some(mem) = self.members[self.current].first_memory {
                    return Ok(mem);
                }
                let first = self.members[self.current].compiled.exports().first_memory.clone();
                let n = first.ok_or_else(|| Error::Memory("the instance exports no memory".into()))?;
                let mem = self.memory(Some(&n))?;
                self.members[self.current].first_memory = Some(mem);
                Ok(mem)
            }
        }
    }

    /// Copy memory at `offset` into `buf` (one copy).
    pub(crate) fn read(&mut self, name: Option<&str>, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mem = self.memory(name)?;
        let start = usize::try_from(offset).map_err(|_| oob(offset, buf.len(), 0))?;
        mem.read(&self.store, start, buf)
            .map_err(|_| oob(offset, buf.len(), mem.data_size(&self.store)))
    }

    /// Copy `data` into memory at `offset` (one copy).
    pub(crate) fn write(&mut self, name: Option<&str>, offset: u64, data: &[u8]) -> Result<()> {
        let mem = self.memory(name)?;
        let start = usize::try_from(offset).map_err(|_| oob(offset, data.len(), 0))?;
        mem.write(&mut self.store, start, data)
            .map_err(|_| oob(offset, data.len(), mem.data_size(&self.store)))
    }

    /// Memory size in pages (64 KiB for ordinary memories).
    pub(crate) fn size(&mut self, name: Option<&str>) -> Result<u64> {
        let mem = self.memory(name)?;
        Ok(mem.size(&self.store))
    }

    /// Memory size in bytes.
    pub(crate) fn byte_len(&mut self, name: Option<&str>) -> Result<u64> {
        let mem = self.memory(name)?;
        Ok(mem.data_size(&self.store) as u64)
    }

    /// Grow memory by `pages`; returns the previous size in pages.
    pub(crate) fn grow(&mut self, name: Option<&str>, pages: u64) -> Result<u64> {
        let mem = self.memory(name)?;
        let before = mem.size(&self.store);
        let page = mem.page_size(&self.store);
        mem.grow(&mut self.store, pages)
            .map_err(|e| grow_error(&e, before, pages, page, self.max_memory_bytes))
    }

    /// Exit status after a WASI command called `proc_exit` (or returned from `_start`, which is 0).
    pub(crate) fn exit_code(&self) -> Option<i32> {
        self.exit_code
    }

    pub(crate) fn set_exit_code(&mut self, code: i32) {
        self.exit_code = Some(code);
    }

    pub(crate) fn clear_exit_code(&mut self) {
        self.exit_code = None;
    }

    /// Remaining instance fuel (`None` when unlimited).
    pub(crate) fn fuel_left(&self) -> Option<u64> {
        self.fuel_left
    }

    /// Captured stdout so far (empty unless captured).
    pub(crate) fn stdout(&self) -> Vec<u8> {
        self.stdout.as_ref().map(|p| p.contents().to_vec()).unwrap_or_default()
    }

    /// Captured stderr so far (empty unless captured).
    pub(crate) fn stderr(&self) -> Vec<u8> {
        self.stderr.as_ref().map(|p| p.contents().to_vec()).unwrap_or_default()
    }

    pub(crate) fn has_export(&mut self, name: &str) -> bool {
        let instance = self.members[self.current].instance;
        instance.get_export(&mut self.store, name).is_some()
    }

    /// Everything an async call does before the guest runs, on the caller's thread: resolve the target, decode
    /// the arguments from the frame, apply the limits with a time slice. Errors leave the state as it was.
    /// A short export (it cannot be suspended once begun: see [`InstanceState::is_short`])
    /// is not prepared but called, here and now, as a synchronous call: the same results and errors as on the
    /// fiber, without its cost.
    pub(crate) fn prepare_async(
        &mut self,
        target: &Target<'_>,
        frame: &mut [u8],
        nargs: usize,
        ticker: &EpochTicker,
        slice: Option<Duration>,
    ) -> Result<AsyncStart> {
        let (index, command) = match target {
            Target::Export(name) => (self.func_index(name)?, false),
            Target::Command => {
                if !self.has_export("_start") {
                    return Err(Error::ExportNotFound("no `_start`: not a WASI command".into()));
                }
                (self.func_index("_start")?, true)
            }
        };
        if !command && self.is_short(index) {
            return self.call_frame(index, frame, nargs, ticker).map(AsyncStart::Done);
        }
        let entry = &self.funcs[index];
        if nargs != entry.params.get().len() {
            return Err(Error::Type(format!(
                "`{}` takes {} argument(s), got {nargs}",
                entry.name.get(),
                entry.params.get().len()
            )));
        }
        let slots = entry.params.get().len().max(entry.results.get().len());
        self.raw.clear();
        self.raw.resize(slots, ValRaw::i64(0));
        value_frame::decode_raw(frame, entry.params.get(), &mut self.raw[..entry.params.get().len()])?;
        if command {
            self.exit_code = None;
        }
        let setup = self.begin_call(CallLimits::default(), ticker, slice)?;
        Ok(AsyncStart::Fiber(Prepared { index, setup, command }))
    }

    /// Run a prepared async call on a fiber: it yields when its time slice is over. On success the results are
    /// in `self.raw`.
    ///
    /// Signatures of up to four values call the export as a [`DirectFunc`] on the raw values decoded from the
    /// frame; longer ones go through [`Self::enter_async`]. `Func::call_async` would take `Val`s: it
    /// type-checks each one and roots the function's type in the engine's registry twice per call (a lock and
    /// a dozen reference counts), ~40% of a short async call's cost.
    pub(crate) async fn run_async(&mut self, prepared: Prepared) -> Result<Outcome> {
        let Prepared { index, setup, command } = prepared;
        let entry = &mut self.funcs[index];
        if entry.direct.is_none() {
            entry.direct = direct_func(&self.store, entry);
        }
        let result = match &self.funcs[index].direct {
            Some(direct) => (direct.call_async(&mut self.store, raw_slots(&self.raw)).await)
                .map(|out| put_raw_slots(out, &mut self.raw)),
            None => self.enter_async(index).await?,
        };
        self.end_call(setup);
        match result {
            Ok(()) if command => {
                let code = self.exit_code.unwrap_or(0);
                self.exit_code = Some(code);
                Ok(Outcome::Exit(code))
            }
            Ok(()) => Ok(Outcome::Results(index)),
            Err(e) if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => Ok(Outcome::NoFiber),
            Err(e) => {
                self.call_error(e)?;
                // `proc_exit`: a command's status; for an export call, no results.
                Ok(if command {
                    Outcome::Exit(self.exit_code.unwrap_or(0))
                } else {
                    Outcome::Exited
                })
            }
        }
    }

    /// [`Self::run_async`] of a signature too long for a [`DirectFunc`]: through the store's entry trampoline,
    /// a host function of type `() -> ()` called with `TypedFunc::call_async`, which calls the export with
    /// `Func::call_unchecked` on the raw values in `self.raw` (see its safety proof in [`enter`]).
    async fn enter_async(&mut self, index: usize) -> Result<wasmtime::Result<()>> {
        let entry = match self.entry.take() {
            Some(entry) => entry,
            None => entry_trampoline(&mut self.store, &self.members[0].compiled.slot)?,
        };
        let func = self.funcs[index].func;
        let raw = std::mem::take(&mut self.raw);
        self.store.data_mut().entry = Some(EntryCall { func, raw });
        let result = entry.call_async(&mut self.store, ()).await;
        if let Some(call) = self.store.data_mut().entry.take() {
            self.raw = call.raw;
        }
        self.entry = Some(entry);
        Ok(result)
    }

    /// The mailbox of the instance's suspending host functions, if it has any.
    pub(crate) fn channel(&self) -> Option<Arc<HostChannel>> {
        self.store.data().channel.clone()
    }

    /// Write an async call's answer: its results into the frame (their count), or a command's exit status.
    pub(crate) fn answer(&self, outcome: Outcome, frame: &mut [u8]) -> Result<u64> {
        match outcome {
            Outcome::Results(index) => {
                value_frame::encode_raw(frame, self.funcs[index].results.get(), &self.raw).map(u64::from)
            }
            Outcome::Exited => Ok(0),
            Outcome::Exit(code) => Ok(code as i64 as u64),
            Outcome::NoFiber => Err(Error::Call(crate::async_call::NO_FIBER.into())),
            Outcome::Instantiated => Err(Error::Call(
                "internal error: an instantiation answered as a call".into(),
            )),
        }
    }
}

/// The store's entry trampoline for async calls ([`enter`], defined once per engine in
/// [`crate::engine::EngineSlot::entry_linker`]), as a typed function of this store. Made once per store: the
/// function's registration in the store. Taken as the linker's only definition rather than looked up by name:
/// `Linker::get` hashes both names through the linker's string pool with SipHash, half of this function's cost.
fn entry_trampoline(store: &mut Store<StoreData>, slot: &EngineSlot) -> Result<TypedFunc<(), ()>> {
    let internal = |what: &str| Error::Call(format!("internal error: entry trampoline: {what}"));
    let (module, name, enter) = (slot.entry_linker.iter(&mut *store).next()).ok_or_else(|| internal("not defined"))?;
    if (module, name) != (ENTRY_MODULE, ENTRY_NAME) {
        return Err(internal("the entry linker defines something else"));
    }
    let enter = enter.into_func().ok_or_else(|| internal("not a function"))?;
    // SAFETY: `typed::<(), ()>` would return `Ok`: the entry linker defines this name once, with `enter`, whose
    // Rust signature (`Caller` only, `Result<()>`) is the wasm type `() -> ()`. Unchecked because the check
    // builds the function's type from the engine's registry (a lock and refcounts) on every store.
    Ok(unsafe { TypedFunc::new_unchecked(&*store, enter) })
}

/// Whether async calls of short signatures go straight to the export as a [`DirectFunc`] (release builds). In
/// builds with debug assertions, Wasmtime's `TypedFunc` checks each call's Rust types against the function's
/// wasm types and would panic at the four `u64`s (see [`direct_func`]), so they take the entry trampoline.
/// (This crate's setting stands for Wasmtime's: the profiles in `Cargo.toml` turn both off in release.)
const DIRECT_CALLS: bool = !cfg!(debug_assertions);

/// The export of `entry` as a [`DirectFunc`], if its signature fits in [`INLINE_SLOTS`] slots: called with
/// `TypedFunc::call_async`, as raw Wasmtime calls a typed export, instead of through the entry trampoline
/// (a host call and a nested wasm entry on every call: 6% of a short `call`'s instructions, 2,972 → 2,795 by
/// callgrind). Made once per instance and export, at its first async call (`new_unchecked` looks up the
/// function's type once; `Func::typed` would also build and compare it).
fn direct_func(store: &Store<StoreData>, entry: &FuncEntry) -> Option<DirectFunc> {
    if !DIRECT_CALLS || entry.params.get().len().max(entry.results.get().len()) > INLINE_SLOTS {
        return None;
    }
    // SAFETY: the `TypedFunc` is called only by `run_async` of this instance (`entry.func` belongs to its
    // store), with `raw_slots` of `self.raw`, whose first `params.len()` values `prepare_async` decoded for
    // exactly `entry.func`'s parameter types. Its types are not the function's (`typed` would refuse them), so
    // here is why the call is still exactly `Func::call_unchecked` with those raw values, which is sound
    // (see `invoke`'s proof): in Wasmtime 48 `TypedFunc::call_async` stores each `u64` as `ValRaw::u64` into
    // a `[ValRaw; 4]` (no check, no rooting: `u64` is not a reference) and passes that array to
    // `VMFuncRef::array_call`, the entry `call_unchecked` uses, with length 4 ≥ max(params, results). The
    // callee reads its parameters from the first slots by its own types and writes its results there. Every
    // numeric `ValRaw` constructor (`i32`, `u32`, `i64`, `f32`, `f64`) writes the value's bits zero-extended
    // to 64 bits, so `ValRaw::u64(v.get_u64())` is `v` bit for bit, in and out; slots the callee does not
    // write keep initialized argument bits. `resolve_func` refuses reference and v128 types, the only ones
    // whose slots would need more than 64 bits or rooting. Debug builds, where `TypedFunc` re-checks types,
    // never get here (`DIRECT_CALLS`).
    Some(unsafe { TypedFunc::new_unchecked(store, entry.func) })
}

/// The first [`INLINE_SLOTS`] raw values as a [`DirectFunc`]'s arguments (zero past the end).
fn raw_slots(raw: &[ValRaw]) -> RawSlots {
    let bits = |i: usize| raw.get(i).map_or(0, ValRaw::get_u64);
    (bits(0), bits(1), bits(2), bits(3))
}

/// A [`DirectFunc`]'s results back into the raw values (as many as `raw` holds).
fn put_raw_slots(out: RawSlots, raw: &mut [ValRaw]) {
    for (slot, bits) in raw.iter_mut().zip([out.0, out.1, out.2, out.3]) {
        *slot = ValRaw::u64(bits);
    }
}

/// Where [`enter`] is defined in the entry linker.
pub(crate) const ENTRY_MODULE: &str = "ext_wasm";
/// See [`ENTRY_MODULE`].
pub(crate) const ENTRY_NAME: &str = "enter";

/// The body of the entry trampoline: call the export with the raw values `run_async` left in the store's data
/// ([`StoreData::entry`]) with `Func::call_unchecked`, and put them back (results in place) for `run_async` to
/// take.
pub(crate) fn enter(mut caller: Caller<'_, StoreData>) -> wasmtime::Result<()> {
    let Some(mut call) = caller.data_mut().entry.take() else {
        return Err(wasmtime::Error::msg(
            "internal error: an async call entered without its export",
        ));
    };
    // SAFETY: `call.raw` holds max(params, results) slots whose first `params` values `prepare_async`
    // decoded for exactly `call.func`'s parameter types (`decode_raw` over the resolved entry's types),
    // and `resolve_func` refuses signatures with reference or v128 types, so nothing needs rooting.
    // `call.func` belongs to this store (it was resolved from one of its instances).
    //
    // `call_unchecked`'s contract also asks that the call not be recursive from within a `call_async`,
    // which this is (the trampoline runs on `call_async`'s fiber). Wasmtime refuses its checked blocking
    // calls there for two reasons (`StoreOpaque::validate_sync_call`), neither of which holds here:
    // - a suspension (epoch yield) while a host frame holding `!Send` data is on the fiber, which may then
    //   be resumed on another thread: the only host frame between the fiber's entry and the guest is this
    //   function's, which holds `call` (a `Func` and a `Vec<ValRaw>`: `Send`) and the `Caller` (of a
    //   `Send` store); every other host function the guest reaches is a `Send + Sync` closure, and ours
    //   that re-enter the store (`HostCall::call`) do so on a fiber of their own, polled once, which fails
    //   rather than suspend this one (`host_request::call_from_host_function`).
    // - stack overflow: on a fiber wasmtime recomputes the stack limit from the current stack pointer for
    //   each entry (`invoke_wasm_and_catch_traps` → `enter_wasm` when `can_block()`), and the fiber stack
    //   (`async_stack_size`, 2 MiB by default, not configurable here) exceeds `max_wasm_stack` (512 KiB)
    //   by far more than the few frames between the fiber's entry and this call.
    // The nested activation is one more entry in the thread's activation list, which wasmtime saves and
    // restores as a list on every suspension and resumption (`AsyncWasmCallState::push`/`restore`).
    let result = unsafe {
        call.func
            .call_unchecked(&mut caller, &mut call.raw[..] as *mut [ValRaw])
    };
    caller.data_mut().entry = Some(call);
    result
}

/// What an async call runs.
#[derive(Debug, Clone)]
pub(crate) enum Target<'a> {
    /// A function export by name.
    Export(&'a str),
    /// A WASI command's `_start`, answered with its exit status.
    Command,
}

/// What [`InstanceState::prepare_async`] did.
pub(crate) enum AsyncStart {
    /// The call is ready to run on a fiber.
    Fiber(Prepared),
    /// A short export was called: its result count (results in the frame).
    Done(u32),
}

/// What [`InstanceCell::start_async`] did.
pub(crate) enum Started {
    /// A short export was called in the cell: its result count (results in the frame).
    Done(u32),
    /// The call is ready to run on a fiber, with the store's state it took.
    Fiber(Prepared, Box<InstanceState>),
}

/// An async call ready to run on a fiber: see [`InstanceState::prepare_async`].
pub(crate) struct Prepared {
    index: usize,
    setup: CallSetup,
    command: bool,
}

/// How an async call ended, before its answer is written.
pub(crate) enum Outcome {
    /// Results of the export at this index are in `raw`.
    Results(usize),
    /// A WASI `proc_exit` ended an export call: no results.
    Exited,
    /// A command ended with this status.
    Exit(i32),
    /// No fiber stack was free: nothing ran; the caller runs the call another way.
    NoFiber,
    /// An instantiation added the store's newest member.
    Instantiated,
}

/// Why `memory.grow` by `pages` from `before` pages failed: the instance's cap (5013) or the memory's own limit.
pub(crate) fn grow_error(e: &wasmtime::Error, before: u64, pages: u64, page: u64, max: Option<usize>) -> Error {
    let wanted = before.saturating_add(pages).saturating_mul(page);
    match max {
        Some(max) if wanted > max as u64 => Error::LimitExceeded(format!(
            "growing memory to {wanted} bytes exceeds the instance's cap of {max} bytes"
        )),
        _ => Error::Memory(format!("cannot grow memory by {pages} page(s) from {before}: {e:#}")),
    }
}

pub(crate) fn oob(offset: u64, len: usize, size: usize) -> Error {
    Error::Memory(format!(
        "out of bounds: {len} byte(s) at offset {offset}, memory is {size} bytes"
    ))
}

impl InstanceState {
    /// The module this instance was created from.
    pub(crate) fn module(&self) -> wasmtime::Module {
        self.members[self.current].compiled.module.clone()
    }

    /// The selected instance (see [`InstanceState::current`]).
    pub(crate) fn selected(&self) -> wasmtime::Instance {
        self.members[self.current].instance
    }

    /// Give the store the WASI context a joining instance brought (the store had none).
    pub(crate) fn adopt_wasi(&mut self, wasi: BuiltWasi) {
        self.store.data_mut().wasi = Some(wasi.ctx);
        self.stdout = wasi.stdout;
        self.stderr = wasi.stderr;
    }

    /// A joining instance imports suspending host functions: from now on every call of the store goes
    /// through the async protocol, and the store needs a mailbox for them.
    /// Record which kinds of host functions a joining instance imports (5001 when they cannot share the store,
    /// see [`check_mix`]).
    pub(crate) fn add_host_kinds(&mut self, suspends: bool, in_place: bool, home: BridgeHome) -> Result<()> {
        check_mix(self.suspends || suspends, self.in_place || in_place)?;
        self.in_place |= in_place;
        self.bridge_home = self.bridge_home.and(home);
        Ok(())
    }

    pub(crate) fn enable_suspending(&mut self) -> Arc<HostChannel> {
        self.suspends = true;
        self.store
            .data_mut()
            .channel
            .get_or_insert_with(|| Arc::new(HostChannel::default()))
            .clone()
    }
}
