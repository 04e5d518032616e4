//! Suspending host functions ([`crate::HostFunc::suspending`]): imports the embedder answers from outside the
//! call, which is how the TypeScript hosts run JavaScript imports on the JavaScript thread when they return a
//! Promise (or cannot be called in place), and their bridged kind ([`crate::HostFunc::bridged`]), which is
//! offered to the thread's host bridge in place first.
//!
//! The guest runs on a wasmtime fiber (an async call). The import's trampoline is a synchronous host function
//! over raw slots. When it cannot be answered in place, it posts a [`HostRequest`] on the instance's
//! [`HostChannel`] and waits for a command through the store's *waiter*, an async host function it calls
//! (`wait_for_reply`), which suspends the fiber: the call returns [`crate::CallStep::Host`]. While it waits the
//! embedder may
//!
//! * answer it ([`crate::AsyncCall::resume`] with the results or an error): the trampoline converts the results
//!   by the import's types (5007 in the trap's message when they do not fit) and the guest continues, or traps;
//! * re-enter the instance (read or write its memory, call its exports: [`Reentry`]): the waiting trampoline
//!   runs the operation with its `Caller`, on the fiber, and posts the outcome. A re-entrant call may itself
//!   reach a suspending import: the innermost waiting trampoline always takes the next command, so nesting
//!   needs no bookkeeping.
//!
//! Why synchronous trampolines and a waiter, rather than Wasmtime's async host functions: an async host
//! function converts every argument and result to a `Val` and allocates its future at every call, even one
//! that never waits; that was ~60 ns of a bridged import's ~120 (criterion `host_call`). A synchronous one
//! answered in place pays neither; one that waits pays a nested call of the waiter instead (~0.1 µs on top of a
//! suspension's ~0.5).
//!
//! A bridged import first calls the bridge on the thread's own stack (`crate::host_stack`) while the fiber waits
//! inside the trampoline; only an answer of later (a Promise) takes the path above. Meanwhile the trampoline's
//! `Caller` is lent to the re-entries the bridge makes (`crate::host_frames`), used from that stack until the
//! bridge returns; otherwise everything that touches the store runs on the fiber, through that `Caller`.

use std::future::{poll_fn, Future};
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use wasmtime::{Caller, Extern, Func, FuncType, Memory, Trap, Val, ValRaw};

use crate::error::{Error, Result};
use crate::host_func::{fail, write_results, Kind, Source};
use crate::store_data::StoreData;
use crate::store_lock::{StoreGuard, StoreLock};
use crate::value::{ValType, Value};

/// A guest waiting in a suspending import: the embedder's index for the function and the arguments, typed by
/// the import's signature.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRequest {
    /// The index given to [`crate::HostFunc::suspending`].
    pub index: u32,
    /// The arguments (none when `started`).
    pub args: Vec<Value>,
    /// The host's bridge already ran the function in place and answered [`crate::wire::Answer::Later`]: answer
    /// with what it kept (its Promise), do not run it again ([`crate::HostFunc::bridged`]).
    pub started: bool,
}

/// The mailbox between a suspended guest and its embedder (one per instance with suspending imports). Each
/// host call locks it four or five times, from one thread at a time but possibly a different one each call
/// (the call moves between threads): a [`StoreLock`] (one atomic swap a lock, a plain store to unlock) rather
/// than a mutex (two), since locked instructions, not the others, were most of this type's time in a profile.
#[derive(Default)]
pub(crate) struct HostChannel {
    state: StoreLock<ChannelState>,
}

#[derive(Default)]
struct ChannelState {
    /// From the guest side: what the embedder must look at.
    event: Option<Event>,
    /// From the embedder: what the innermost waiting trampoline does next.
    command: Option<Command>,
    /// Whether a trampoline is waiting for a command (re-entry is possible only then).
    waiting: bool,
}

pub(crate) enum Event {
    Request(HostRequest),
    Reentered(Result<Reentered>),
}

pub(crate) enum Command {
    Reply(Result<Vec<Value>>),
    Reenter(Reentry),
}

/// An operation on an instance from inside one of its host functions.
/// `instance` is the instance the handle names: in a store shared by linked instances, not always the one
/// whose host function is running.
pub(crate) enum Reentry {
    /// Call export `name`.
    Call {
        instance: wasmtime::Instance,
        name: String,
        args: Vec<Value>,
    },
    /// A memory operation on memory `memory` (`None`: the instance exports none).
    Memory {
        instance: wasmtime::Instance,
        memory: Option<Arc<str>>,
        op: MemoryOp,
    },
}

/// Memory operations, as [`crate::Runtime::read_memory`] and friends.
pub(crate) enum MemoryOp {
    Read { offset: u64, len: usize },
    Write { offset: u64, data: Vec<u8> },
    Size,
    ByteLen,
    Grow { pages: u64 },
}

/// What a [`Reentry`] produced.
#[derive(Debug)]
pub(crate) enum Reentered {
    Values(Vec<Value>),
    Bytes(Vec<u8>),
    Number(u64),
}

impl HostChannel {
    fn lock(&self) -> StoreGuard<'_, ChannelState> {
        self.state.lock()
    }

    pub(crate) fn take_event(&self) -> Option<Event> {
        self.lock().event.take()
    }

    /// Whether a trampoline waits for a command: the instance can be re-entered.
    pub(crate) fn waiting(&self) -> bool {
        self.lock().waiting
    }

    pub(crate) fn send(&self, command: Command) {
        self.lock().command = Some(command);
    }

    fn post(&self, event: Event) {
        self.lock().event = Some(event);
    }

    /// Wait (suspending the fiber) until the embedder sends a command.
    async fn next_command(&self) -> Command {
        poll_fn(|_| {
            let mut state = self.lock();
            match state.command.take() {
                Some(c) => {
                    state.waiting = false;
                    Poll::Ready(c)
                }
                None => {
                    state.waiting = true;
                    // No waker is kept: the embedder polls the call again after sending a command.
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// What a suspending import's trampoline needs at each call: its name (for errors) and its types.
struct ImportTypes {
    name: Arc<str>,
    params: Box<[ValType]>,
    results: Box<[ValType]>,
}

/// The trampoline of a suspending import (found through `source`, of the types in `info`), over Wasmtime's raw
/// slots. A bridged import is first offered to the thread's bridge in place ([`answer_in_place`]); when that
/// answers, the guest continues without a suspension or a `Val`. Otherwise the trampoline posts a
/// [`HostRequest`] and waits for the reply ([`wait_for_reply`], which suspends the fiber), then converts it by
/// the import's result types (5007 in the trap's message when it does not fit).
pub(crate) fn suspending_trampoline(
    source: Source,
    name: Arc<str>,
    info: &crate::module::ImportInfo,
) -> impl Fn(Caller<'_, StoreData>, &mut [MaybeUninit<ValRaw>]) -> wasmtime::Result<()> + Send + Sync + 'static {
    let info = ImportTypes {
        name,
        params: info.params.clone().into(),
        results: info.results.clone().into(),
    };
    move |mut caller, raw| {
        let name = &info.name;
        // SAFETY: the kind lives in the store's fixed `host` slice or in this trampoline's `source`; both
        // outlive this read (see `Source::kind`).
        let kind = unsafe { &*source.kind(caller.data()) };
        let Kind::Suspending { index, bridged_on } = *kind else {
            return Err(fail(name, Error::Call("internal error: slot shape changed".into())));
        };
        if caller.data().fiberless {
            // A synchronous call (`call_frame_fiberless`): on this thread's stack already, and nothing to suspend.
            return match answer_in_place(&mut caller, &info, bridged_on, index, raw, false) {
                Some(Ok(true)) => Ok(()),
                Some(Ok(false)) => Err(fail(
                    name,
                    Error::Type(format!(
                        "host function {name} returned a Promise: async host function needs `call`"
                    )),
                )),
                Some(Err(e)) => Err(e),
                None => Err(fail(name, Error::Call("no host bridge on this thread".into()))),
            };
        }
        let mut started = false;
        if bridged_on.is_some() {
            match answer_in_place(&mut caller, &info, bridged_on, index, raw, true) {
                Some(Ok(true)) => return Ok(()),
                Some(Ok(false)) => started = true,
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        // A call the bridge started needs no arguments: the host answers with what it kept.
        let args = if started {
            Vec::new()
        } else {
            // SAFETY: wasmtime initializes the first `params.len()` slots with the arguments, of the import's
            // parameter types (this trampoline is linked with exactly that type).
            let args = info.params.iter().zip(raw.iter());
            args.map(|(ty, r)| Value::from_raw(unsafe { r.assume_init_ref() }, *ty))
                .collect()
        };
        mailbox(&caller, name)?.post(Event::Request(HostRequest { index, args, started }));
        let reply = wait_for_reply(&mut caller, name)?;
        // Time spent in the host counts against the call's timeout: trap now if it is over.
        if caller.data().clock.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Trap::Interrupt.into());
        }
        let values = reply.map_err(|e| fail(name, e))?;
        write_results(&values, &info.results, raw).map_err(|e| fail(name, e))
    }
}

/// Wait, suspending the guest's fiber, until the embedder replies to the request just posted; run the
/// re-entries it sends meanwhile. The waiting is done by the store's waiter, an async host function of no
/// parameters created on first use (see [`waiter`]) and called from here, from inside this synchronous host
/// function: Wasmtime 48 offers no other way for a synchronous host function to suspend its fiber, and the
/// suspending imports are synchronous so that those answered in place (most calls) pay no `Val` conversion and
/// no allocation of Wasmtime's async host-function call.
fn wait_for_reply(caller: &mut Caller<'_, StoreData>, name: &Arc<str>) -> wasmtime::Result<Result<Vec<Value>>> {
    let waiter = match caller.data().waiter {
        Some(f) => f,
        None => {
            let f = waiter(caller);
            caller.data_mut().waiter = Some(f);
            f
        }
    };
    // SAFETY: the waiter takes no parameters and returns no results, so an empty slice is its whole frame.
    // `call_unchecked`'s docs also ask that the call not be recursive from within an async call, which this one
    // is (the guest runs on its fiber). The reasons behind that rule, from Wasmtime's `validate_sync_call`, do not
    // hold here: (1) a fiber suspended with the frames of a synchronous host function on it might be resumed
    // on another thread, unsound if those frames hold data that is not `Send`: this function's and the
    // trampoline's frames hold only the `Caller` (of `StoreData`, which is `Send`), an `Arc<str>`, and references
    // to the trampoline's types and Wasmtime's slots (`Sync`), and the bridge (an `Rc`, not `Send`) was dropped
    // by `answer_in_place` before this call; (2) wasm run from a blocking call could reach a yield
    // point and hand the store to another poll: the waiter is a host function and runs no wasm; the re-entries
    // it runs are `call_async`s on fibers of their own, as from any async host function. Wasmtime's fiber
    // switch saves and restores every activation pushed on the fiber (its `AsyncWasmCallState` is a list), this
    // nested one included, so the guest may resume on another thread. Instances with suspending imports are only
    // ever called through async entry points (`InstanceState::suspends`), so this runs on a fiber, as the
    // waiter's `block_on` requires; the tests of suspending imports cover suspension, resumption on a worker
    // thread, re-entry while waiting, and dropping a waiting call.
    unsafe { waiter.call_unchecked(&mut *caller, &mut [] as *mut [ValRaw]) }?;
    caller
        .data_mut()
        .host_reply
        .take()
        .ok_or_else(|| fail(name, Error::Call("internal error: no reply".into())))
}

/// The store's waiter: an async host function that waits for the embedder's commands on the store's channel,
/// runs the re-entries, and leaves the reply in `StoreData::host_reply`.
fn waiter(caller: &mut Caller<'_, StoreData>) -> Func {
    let ty = FuncType::new(caller.engine(), [], []);
    let name: Arc<str> = "a suspending import".into();
    Func::new_async(caller, ty, move |mut caller, _, _| {
        let name = name.clone();
        Box::new(async move {
            loop {
                let command = mailbox(&caller, &name)?.next_command().await;
                match command {
                    Command::Reply(reply) => {
                        caller.data_mut().host_reply = Some(reply);
                        return Ok(());
                    }
                    Command::Reenter(op) => {
                        // Boxed: the rare path's future would otherwise size every wait's.
                        let done = Box::pin(reenter(&mut caller, op)).await;
                        mailbox(&caller, &name)?.post(Event::Reentered(done));
                    }
                }
            }
        })
    })
}

/// Offer a bridged import's call to this thread's bridge, on this thread's own stack (`crate::host_stack`),
/// lending the `Caller` to what the bridge does with the instance meanwhile: `Some(Ok(true))` when it answered
/// (its results are in `raw`), `Some(Ok(false))` when it will answer later (the guest suspends; the host answers
/// with what it started), its failure, or `None` when it cannot run here (no bridge on this thread, another
/// thread than the instance's, or a poll that did not offer its stack). Time slices are off while it runs, so
/// that a call it makes into the instance ends in one poll; its time counts against the call's timeout. The
/// argument and result buffers are the store's (no allocation). `on_fiber: false`: the guest runs on this
/// thread's stack (a fiberless call), and so does the bridge, right here.
fn answer_in_place(
    caller: &mut Caller<'_, StoreData>,
    info: &ImportTypes,
    home: Option<u64>,
    index: u32,
    raw: &mut [MaybeUninit<ValRaw>],
    on_fiber: bool,
) -> Option<wasmtime::Result<bool>> {
    if on_fiber && !crate::host_stack::available() {
        return None;
    }
    let bridge = crate::host_bridge::bridge_here(home?)?;
    let store = caller.data().store_id;
    let sliced = std::mem::replace(&mut caller.data_mut().clock.sliced, false);
    let lent = caller as *mut Caller<'_, StoreData> as *mut ();
    // SAFETY: wasmtime initializes the first `params.len()` slots with the arguments, of the import's types, and
    // gives room for its results (the trampoline is linked with exactly that type).
    let ask = || unsafe { bridge.call_raw(index, true, &info.params, &info.results, raw) };
    let answer = if on_fiber {
        crate::host_stack::run(|| crate::host_frames::run_lending_from_fiber(store, lent, ask))
    } else {
        Some(crate::host_frames::run_lending(store, lent, ask))
    };
    drop(bridge);
    let data = caller.data_mut();
    data.clock.sliced = sliced;
    let timed_out = data.clock.deadline.is_some_and(|d| Instant::now() >= d);
    answer.map(|answer| {
        if timed_out {
            return Err(Trap::Interrupt.into());
        }
        match answer.map_err(|e| fail(&info.name, *e))? {
            crate::host_bridge::Answer::Now => Ok(true),
            crate::host_bridge::Answer::Later => Ok(false),
        }
    })
}

/// The channel of the store a suspending import runs in (made with the store, never replaced).
fn mailbox<'c>(caller: &'c Caller<'_, StoreData>, name: &Arc<str>) -> wasmtime::Result<&'c HostChannel> {
    (caller.data().channel.as_deref()).ok_or_else(|| fail(name, Error::Call("internal error: no host channel".into())))
}

/// Run `op` on the instance the trampoline was called from.
async fn reenter(caller: &mut Caller<'_, StoreData>, op: Reentry) -> Result<Reentered> {
    match op {
        Reentry::Call { instance, name, args } => {
            let (func, vals, mut results) = prepare_call(caller, instance, &name, &args)?;
            func.call_async(&mut *caller, &vals, &mut results)
                .await
                .map_err(|e| crate::instance::guest_error(&e))?;
            Ok(Reentered::Values(results.iter().map(Value::from_val).collect()))
        }
        Reentry::Memory { instance, memory, op } => memory_reentry(caller, instance, memory, op),
    }
}

/// Run `op` through the `Caller` of a reentrant or bridged host function running on this thread. A bridged
/// one's call runs on a fiber (`on_fiber`): a call through its `Caller` must be async, and is polled here, to
/// its end, in one poll (see [`call_async_in_place`]).
pub(crate) fn reenter_in_place(caller: &mut Caller<'_, StoreData>, op: Reentry, on_fiber: bool) -> Result<Reentered> {
    match op {
        Reentry::Call { instance, name, args } => {
            let (func, vals, mut results) = prepare_call(caller, instance, &name, &args)?;
            if on_fiber {
                call_async_in_place(caller, func, &vals, &mut results)?;
            } else {
                call_sync_in_place(caller, func, &vals, &mut results)?;
            }
            Ok(Reentered::Values(results.iter().map(Value::from_val).collect()))
        }
        Reentry::Memory { instance, memory, op } => memory_reentry(caller, instance, memory, op),
    }
}

/// Function export `name` of `instance`, `args` converted by its parameter types and room for its results
/// (5003 when there is no such function, 5007 for a wrong count or a value that does not fit).
fn prepare_call(
    caller: &mut Caller<'_, StoreData>,
    instance: wasmtime::Instance,
    name: &str,
    args: &[Value],
) -> Result<(wasmtime::Func, Vec<Val>, Vec<Val>)> {
    let export = instance.get_export(&mut *caller, name);
    call_parts(caller, export, name, args)
}

/// `export` (found by `name`) as a function with `args` converted by its parameter types and room for its
/// results: what every re-entrant call checks first (5003 when it is not a function, 5007 for a wrong count or a
/// value that does not fit).
pub(crate) fn call_parts(
    caller: &Caller<'_, StoreData>,
    export: Option<Extern>,
    name: &str,
    args: &[Value],
) -> Result<(wasmtime::Func, Vec<Val>, Vec<Val>)> {
    let Some(Extern::Func(func)) = export else {
        return Err(Error::ExportNotFound(format!("no function export named `{name}`")));
    };
    let ty = func.ty(caller);
    let params: Vec<ValType> = ty.params().map(|t| ValType::from_wasmtime(&t)).collect();
    if args.len() != params.len() {
        return Err(Error::Type(format!(
            "`{name}` takes {} argument(s), got {}",
            params.len(),
            args.len()
        )));
    }
    let vals = args.iter().zip(&params).enumerate().map(|(i, (a, t))| a.to_val(*t, i));
    let vals = vals.collect::<Result<Vec<_>>>()?;
    let results = vec![Val::I32(0); ty.results().len()];
    Ok((func, vals, results))
}

fn memory_reentry(
    caller: &mut Caller<'_, StoreData>,
    instance: wasmtime::Instance,
    memory: Option<Arc<str>>,
    op: MemoryOp,
) -> Result<Reentered> {
    let mem = instance_memory(caller, instance, memory)?;
    let max = caller.data().max_memory_bytes;
    memory_op(mem, caller, op, max)
}

fn instance_memory(
    caller: &mut Caller<'_, StoreData>,
    instance: wasmtime::Instance,
    name: Option<Arc<str>>,
) -> Result<Memory> {
    match name.as_deref().and_then(|n| instance.get_export(&mut *caller, n)) {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(Error::Memory(match name {
            Some(n) => format!("no memory export named `{n}`"),
            None => "the instance exports no memory".into(),
        })),
    }
}

fn memory_op(mem: Memory, caller: &mut Caller<'_, StoreData>, op: MemoryOp, max: Option<usize>) -> Result<Reentered> {
    use crate::instance::{grow_error, oob};
    let size = mem.data_size(&*caller);
    Ok(match op {
        MemoryOp::Read { offset, len } => {
            let mut buf = vec![0; len];
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            mem.read(&*caller, start, &mut buf)
                .map_err(|_| oob(offset, len, size))?;
            Reentered::Bytes(buf)
        }
        MemoryOp::Write { offset, data } => {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            mem.write(&mut *caller, start, &data)
                .map_err(|_| oob(offset, data.len(), size))?;
            Reentered::Number(0)
        }
        MemoryOp::Size => Reentered::Number(mem.size(&*caller)),
        MemoryOp::ByteLen => Reentered::Number(size as u64),
        MemoryOp::Grow { pages } => {
            let before = mem.size(&*caller);
            let page = mem.page_size(&*caller);
            mem.grow(&mut *caller, pages)
                .map_err(|e| grow_error(&e, before, pages, page, max))?;
            Reentered::Number(before)
        }
    })
}

/// Call `func` from inside a Rust host function ([`crate::HostCall::call`]), which runs on its guest's stack: on
/// a fiber (an async call), on a fiber of its own polled once, with time slices off (see
/// [`call_async_in_place`]): Wasmtime refuses a blocking call there, and the outer fiber must not suspend with
/// the host function's frames on it (they could then resume on another thread). Known to be off any fiber (on
/// the thread's own stack), as a plain call, made unchecked (a store that once waited is refused a checked one).
pub(crate) fn call_from_host_function(
    caller: &mut Caller<'_, StoreData>,
    func: wasmtime::Func,
    vals: &[Val],
    results: &mut [Val],
) -> Result<()> {
    if !crate::host_stack::maybe_on_fiber() {
        return call_sync_in_place(caller, func, vals, results);
    }
    let sliced = std::mem::replace(&mut caller.data_mut().clock.sliced, false);
    let called = call_async_in_place(caller, func, vals, results);
    caller.data_mut().clock.sliced = sliced;
    called
}

/// Call `func` from inside a host function of a synchronous call (a reentrant one's, or a bridged one's in a
/// fiberless call), on this thread's stack: `Func::call` would refuse a store that once suspended (its waiter
/// makes it an async store), so the call is made unchecked, its values converted here.
fn call_sync_in_place(
    caller: &mut Caller<'_, StoreData>,
    func: wasmtime::Func,
    vals: &[Val],
    results: &mut [Val],
) -> Result<()> {
    let mut raw = Vec::with_capacity(vals.len().max(results.len()));
    for v in vals {
        raw.push(v.to_raw(&mut *caller).map_err(|e| Error::Call(format!("{e:#}")))?);
    }
    raw.resize(vals.len().max(results.len()), ValRaw::i64(0));
    // SAFETY: `raw` holds max(params, results) slots, the first ones the arguments `call_parts` checked against
    // `func`'s parameter types (numbers only: no reference to root). The call is not made from inside an async
    // call of the store's: the running call is synchronous (this host function's `Caller` was lent by a
    // non-fiber call, `host_frames::Lent::on_fiber` false, or a Rust host function runs off any fiber,
    // `call_from_host_function`).
    unsafe { func.call_unchecked(&mut *caller, raw.as_mut_slice() as *mut [ValRaw]) }
        .map_err(|e| crate::instance::guest_error(&e))?;
    let ty = func.ty(&*caller);
    for ((slot, t), r) in results.iter_mut().zip(ty.results()).zip(&raw) {
        // SAFETY: `r` is the result of type `t` the call just wrote, read before anything could collect it.
        *slot = unsafe { Val::from_raw(&mut *caller, *r, t) };
    }
    Ok(())
}

/// Call `func` from inside a bridged host function (on this thread's stack, while the caller's guest waits on
/// its fiber): on a fiber of its own, polled once, here. It cannot suspend: time slices are off while a bridged
/// function runs (`answer_in_place`), so only a suspending import answered later (a Promise) can stop it: the
/// call is then abandoned (its guest unwinds) and fails with 5007, as a `callSync` reaching an async import.
fn call_async_in_place(
    caller: &mut Caller<'_, StoreData>,
    func: wasmtime::Func,
    vals: &[Val],
    results: &mut [Val],
) -> Result<()> {
    let polled = {
        let mut call = std::pin::pin!(func.call_async(&mut *caller, vals, results));
        crate::host_stack::polling(|| {
            call.as_mut()
                .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        })
    };
    match polled {
        Poll::Ready(done) => done.map_err(|e| crate::instance::guest_error(&e)),
        Poll::Pending => {
            // The abandoned call's request is not the embedder's to answer.
            if let Some(channel) = caller.data().channel.as_deref() {
                channel.take_event();
            }
            Err(Error::Type(
                "a host function waited for a Promise inside a call made from a host function: async host \
                 function needs `call`"
                    .into(),
            ))
        }
    }
}
