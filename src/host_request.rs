//! Suspending host functions ([`crate::HostFunc::suspending`]): imports the embedder answers from outside the
//! call, which is how the TypeScript hosts run JavaScript imports on the JavaScript thread when they return a
//! Promise (or cannot be called in place), and their bridged kind ([`crate::HostFunc::bridged`]), which is
//! offered to the thread's host bridge in place first.
//!
//! The guest runs on a wasmtime fiber (an async call). When it calls a suspending import, the trampoline posts
//! a [`HostRequest`] on the instance's [`HostChannel`] and waits for a command, which suspends the fiber: the
//! call returns [`crate::CallStep::Host`]. While it waits the embedder may
//!
//! * answer it ([`crate::AsyncCall::resume`] with the results or an error): the trampoline converts the results
//!   by the import's types (5007 in the trap's message when they do not fit) and the guest continues, or traps;
//! * re-enter the instance (read or write its memory, call its exports: [`Reentry`]): the waiting trampoline
//!   runs the operation with its `Caller`, on the fiber, and posts the outcome. A re-entrant call may itself
//!   reach a suspending import: the innermost waiting trampoline always takes the next command, so nesting
//!   needs no bookkeeping.
//!
//! A bridged import first calls the bridge on the thread's own stack (`crate::host_stack`) while the fiber waits
//! inside the trampoline; only an answer of later (a Promise) takes the path above. Meanwhile the trampoline's
//! `Caller` is lent to the re-entries the bridge makes (`crate::host_frames`), used from that stack until the
//! bridge returns; otherwise everything that touches the store runs on the fiber, through that `Caller`.

use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use wasmtime::{Caller, Extern, Memory, Trap, Val};

use crate::error::{Error, Result};
use crate::host_func::{check_result_count, fail, result_to_raw, Kind, Source};
use crate::store_data::StoreData;
use crate::store_lock::{StoreGuard, StoreLock};
use crate::value::{raw_to_val, ValType, Value};

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

type Trampoline = dyn for<'a> Fn(
        Caller<'a, StoreData>,
        &'a [Val],
        &'a mut [Val],
    ) -> Box<dyn std::future::Future<Output = wasmtime::Result<()>> + Send + 'a>
    + Send
    + Sync
    + 'static;

/// What a suspending import's trampoline needs at each call: its name (for errors) and result types. One
/// `Arc` for both, so a call clones one reference count, not two.
struct ImportInfo {
    name: Arc<str>,
    results: Box<[ValType]>,
}

/// The trampoline of a suspending import in slot `slot` with result types `results`.
pub(crate) fn suspending_trampoline(source: Source, name: Arc<str>, results: &[ValType]) -> Box<Trampoline> {
    let info = Arc::new(ImportInfo {
        name,
        results: results.into(),
    });
    Box::new(move |mut caller, params, out| {
        // SAFETY: the kind lives in the store's fixed `host` slice or in this trampoline's `source`; both
        // outlive this read (see `Source::kind`).
        let kind = unsafe { &*source.kind(caller.data()) };
        let (index, bridged_on) = match kind {
            Kind::Suspending { index, bridged_on } => (Some(*index), *bridged_on),
            _ => (None, None),
        };
        let mut started = false;
        if let (Some(index), Some(home)) = (index, bridged_on) {
            // Answered in place, before any future of ours exists: a zero-sized one is not allocated.
            match answer_in_place(&mut caller, &info, home, index, params, out) {
                Some(Ok(true)) => return Box::new(std::future::ready(Ok(()))),
                Some(Ok(false)) => started = true,
                Some(Err(e)) => return Box::new(std::future::ready(Err(e))),
                None => {}
            }
        }
        let info = info.clone();
        Box::new(async move {
            let name = &info.name;
            let Some(index) = index else {
                return Err(fail(name, Error::Call("internal error: slot shape changed".into())));
            };
            // A call the bridge started needs no arguments: the host answers with what it kept.
            let args = if started {
                Vec::new()
            } else {
                params.iter().map(Value::from_val).collect()
            };
            // The channel is borrowed from the store at each use, not counted once more per call.
            mailbox(&caller, name)?.post(Event::Request(HostRequest { index, args, started }));
            loop {
                let command = mailbox(&caller, name)?.next_command().await;
                match command {
                    Command::Reply(reply) => {
                        // Time spent in the host counts against the call's timeout: trap now if it is over.
                        if caller.data().clock.deadline.is_some_and(|d| Instant::now() >= d) {
                            return Err(Trap::Interrupt.into());
                        }
                        let values = reply.map_err(|e| fail(name, e))?;
                        return write_vals(&values, &info.results, out).map_err(|e| fail(name, e));
                    }
                    Command::Reenter(op) => {
                        // Boxed: the rare path's future would otherwise size every host call's.
                        let done = Box::pin(reenter(&mut caller, op)).await;
                        mailbox(&caller, name)?.post(Event::Reentered(done));
                    }
                }
            }
        })
    })
}

/// Offer a bridged import's call to this thread's bridge, on this thread's own stack (`crate::host_stack`),
/// lending the `Caller` to what the bridge does with the instance meanwhile: `Some(Ok(true))` when it answered
/// (its results are in `out`), `Some(Ok(false))` when it will answer later (the guest suspends; the host answers
/// with what it started), its failure, or `None` when it cannot run here (no bridge on this thread, another
/// thread than the instance's, or a poll that did not offer its stack). Time slices are off while it runs, so
/// that a call it makes into the instance ends in one poll; its time counts against the call's timeout. The
/// argument and result buffers are the store's (no allocation).
fn answer_in_place(
    caller: &mut Caller<'_, StoreData>,
    info: &ImportInfo,
    home: u64,
    index: u32,
    params: &[Val],
    out: &mut [Val],
) -> Option<wasmtime::Result<bool>> {
    if !crate::host_stack::available() {
        return None;
    }
    let bridge = crate::host_bridge::bridge_here(home)?;
    let (mut args, mut results) = std::mem::take(&mut caller.data_mut().host_buffers);
    args.clear();
    results.clear();
    args.extend(params.iter().map(Value::from_val));
    let store = caller.data().store_id;
    let sliced = std::mem::replace(&mut caller.data_mut().clock.sliced, false);
    let lent = caller as *mut Caller<'_, StoreData> as *mut ();
    let answer = crate::host_stack::run(|| {
        crate::host_frames::run_lending_from_fiber(store, lent, || bridge(index, true, &args, &mut results))
    });
    let data = caller.data_mut();
    data.clock.sliced = sliced;
    let timed_out = data.clock.deadline.is_some_and(|d| Instant::now() >= d);
    let done = answer.map(|answer| {
        if timed_out {
            return Err(Trap::Interrupt.into());
        }
        match answer.map_err(|e| fail(&info.name, e))? {
            crate::host_bridge::Answer::Now => write_vals(&results, &info.results, out)
                .map(|()| true)
                .map_err(|e| fail(&info.name, e)),
            crate::host_bridge::Answer::Later => Ok(false),
        }
    });
    caller.data_mut().host_buffers = (args, results);
    done
}

/// The channel of the store a suspending import runs in (made with the store, never replaced).
fn mailbox<'c>(caller: &'c Caller<'_, StoreData>, name: &Arc<str>) -> wasmtime::Result<&'c HostChannel> {
    (caller.data().channel.as_deref()).ok_or_else(|| fail(name, Error::Call("internal error: no host channel".into())))
}

/// Convert a host function's results by the import's result types (5007 when they do not fit).
fn write_vals(values: &[Value], types: &[ValType], out: &mut [Val]) -> Result<()> {
    check_result_count(values.len(), types)?;
    for (i, ((value, ty), slot)) in values.iter().zip(types).zip(out.iter_mut()).enumerate() {
        *slot = raw_to_val(result_to_raw(*value, *ty, i)?, *ty);
    }
    Ok(())
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
                func.call(&mut *caller, &vals, &mut results)
                    .map_err(|e| crate::instance::guest_error(&e))?;
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
