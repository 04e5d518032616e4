//! [`AsyncCall`]: how `await instance.call(...)` runs without a thread hop for short calls and without holding
//! the caller's thread for long ones. One protocol, used by both hosts:
//!
//! 1. [`Runtime::call_start`] runs on the caller's thread (the JavaScript thread). It moves the instance's
//!    state out of its cell (the instance is *busy*: other calls and memory access fail fast with 5002 until
//!    the call ends; hosts queue `call`s per instance so they never see it), decodes the arguments and starts
//!    the guest on a wasmtime fiber (`TypedFunc::call_async` of the export typed as four raw slots, or for
//!    longer signatures of the store's entry trampoline: see `InstanceState::run_async`) with the runtime's
//!    time slice ([`crate::RuntimeConfig::call_slice`], 1 ms by default, plus up to one epoch tick). The
//!    guest's epoch checks yield at the end of the slice. A *short* export (no loop, and no call but of host
//!    functions that do not suspend: it can stop only at its entry, see `InstanceState::is_short`) skips the
//!    fiber: it runs as a synchronous call, here and now.
//! 2. Most calls finish inside the slice: the answer is written at once ([`CallStep::Done`]), with no thread
//!    hop and no allocation but the call's boxed future and wasmtime's fiber. (An instance without suspending
//!    imports is polled by the starter itself, owning the future; only a call that outlives its slice is
//!    shared, as below.)
//! 3. A call that yields is returned as [`CallStep::Yielded`] while it may run more slices on the caller's
//!    thread ([`crate::RuntimeConfig::caller_slices`]): the caller lets its other work run (the event loop
//!    turns) and continues it with [`AsyncCall::run_slice`], on the same thread, where the guest's memory is
//!    still in this core's caches. Past the last of those slices it is returned as [`CallStep::Pending`]: the
//!    caller hands it to another thread, which runs it to the end with [`AsyncCall::finish`] (the C ABI: a
//!    `nonblocking` symbol; the deno_core ops: tokio's blocking pool). Its answer is written into the frame
//!    given there.
//!
//! 4. A guest that calls a suspending host function ([`crate::HostFunc::suspending`]; the TypeScript hosts'
//!    JavaScript imports) stops there: [`CallStep::Host`] carries the call, whose [`AsyncCall::request`] says
//!    which function and with what arguments. The embedder runs it (on its own thread, at its own pace: a
//!    Promise may settle much later) and answers with [`AsyncCall::resume`], which continues the guest on the
//!    caller's thread. Meanwhile the instance can be re-entered (its memory read and written, its exports
//!    called: see `crate::host_request`) through the ordinary calls on its handle.
//!
//! Instances that cannot be suspended (created with `preemptible: false`, or no fiber stack free), and WASI
//! instances called from inside a tokio runtime (whose WASI calls would block it), skip step 1: their call is
//! pending from the start and runs entirely in `finish`, on the other thread.

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use crate::error::{Error, Result};
use crate::host_request::{Command, Event, HostChannel, HostRequest, Reentered, Reentry};
use crate::instance::{InstanceCell, InstanceId, InstanceState, Instantiating, Outcome, Started, StoreCell, Target};
use crate::runtime::Runtime;
use crate::store_lock::StoreLock;
use crate::value::Value;
use crate::value_frame;

/// What [`crate::wire::call_start`] (and [`AsyncCall::finish`] / [`AsyncCall::resume`]) did.
pub enum CallStep {
    /// The call finished. The answer: the number of results written to the frame, or a command's exit status
    /// (as i64 bits).
    Done(u64),
    /// The call continues: finish it on another thread with [`AsyncCall::finish`].
    Pending(AsyncCall),
    /// The call's time slice ended and it may run another on this thread: let the caller's other work run,
    /// then continue it with [`AsyncCall::run_slice`] (or finish it elsewhere with [`AsyncCall::finish`]).
    Yielded(AsyncCall),
    /// The guest waits in a suspending host function: run [`AsyncCall::request`] and answer with
    /// [`AsyncCall::resume`].
    Host(AsyncCall),
}

/// A call that did not finish at once. `Send`: finish or resume it on any thread. Dropping it unfinished
/// finishes it first (blocking; a pending host function is answered with an error), so the instance always
/// gets its state back.
pub struct AsyncCall {
    work: Option<Work>,
    request: Option<HostRequest>,
    /// A `callSync`-style call: never handed to another thread (time slices are not set).
    sync: bool,
    /// How many more time slices it may run on the caller's thread after the next one there (a yielded
    /// call's next slice runs there; past these it moves to another thread).
    here: u32,
}

type Running = Instantiating;

/// A guest call suspended on its fiber, shared by the call and (for instances with suspending imports) the
/// instance's cell, through which host functions re-enter the instance.
pub(crate) struct Suspended {
    /// The store's state travels in the future: behind the same kind of lock as in its cell.
    running: StoreLock<Option<Running>>,
    channel: Option<Arc<HostChannel>>,
}

enum Work {
    /// On a fiber; the store's state travels inside the future. `register`: an instantiation, whose answer
    /// is the new instance's handle (registered in this runtime).
    Fiber {
        call: Arc<Suspended>,
        store: Arc<StoreCell>,
        register: Option<Runtime>,
    },
    /// A re-entrant call of an instance whose host function is running: it ends with the `Reentered` event.
    Reentry { call: Arc<Suspended> },
    /// Not started: run as an ordinary (synchronous) call where `finish` runs.
    Whole {
        runtime: Runtime,
        instance: InstanceId,
        target: OwnedTarget,
        nargs: usize,
    },
}

/// [`Target`] without the borrow, for calls that start later.
enum OwnedTarget {
    Export(String),
    Command,
}

/// Why polling a suspended call stopped.
enum Stop {
    Finished(Box<InstanceState>, Result<Outcome>),
    Request(HostRequest),
    Reentered(Result<Reentered>),
    Yielded,
}

impl Suspended {
    /// Whether a host function of the call is running (the instance can be re-entered).
    pub(crate) fn waiting(&self) -> bool {
        self.channel.as_ref().is_some_and(|c| c.waiting())
    }

    fn send(&self, command: Command) {
        if let Some(channel) = &self.channel {
            channel.send(command);
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Stop {
        let mut running = self.running.lock();
        let Some(future) = running.as_mut() else {
            return Stop::Reentered(Err(Error::Call("internal error: the call already ended".into())));
        };
        match crate::host_stack::polling(|| future.as_mut().poll(cx)) {
            Poll::Ready((state, outcome)) => {
                *running = None;
                Stop::Finished(state, outcome)
            }
            Poll::Pending => self.after_pending(),
        }
    }

    /// Why the call's future returned `Pending`: a host function's request, a re-entry's end, or a yield.
    fn after_pending(&self) -> Stop {
        match self.channel.as_ref().and_then(|c| c.take_event()) {
            Some(Event::Request(request)) => Stop::Request(request),
            Some(Event::Reentered(done)) => Stop::Reentered(done),
            None => Stop::Yielded,
        }
    }

    /// Run `op` on the instance from inside its running host function; a re-entrant operation cannot itself
    /// reach a host function (calls go through [`crate::wire::call_start`]).
    pub(crate) fn reenter(self: &Arc<Self>, op: Reentry) -> Result<Reentered> {
        self.send(Command::Reenter(op));
        let waker = thread_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            match self.poll(&mut cx) {
                Stop::Reentered(done) => return done,
                Stop::Yielded => std::thread::park_timeout(std::time::Duration::from_millis(1)),
                Stop::Request(_) | Stop::Finished(..) => {
                    return Err(Error::Call(
                        "internal error: a memory operation reached the guest".into(),
                    ))
                }
            }
        }
    }
}

impl AsyncCall {
    fn new(work: Work, sync: bool, here: u32) -> Self {
        Self {
            work: Some(work),
            request: None,
            sync,
            here,
        }
    }

    /// The host function the guest waits in ([`CallStep::Host`]); `None` otherwise.
    pub fn request(&self) -> Option<&HostRequest> {
        self.request.as_ref()
    }

    /// Run the call on this thread (blocking it) until it ends or waits in a host function; write its answer
    /// into `frame` (the frame the call was started or last resumed with, untouched since: its arguments are
    /// read from it again when the call had not started). Returns [`CallStep::Done`] or [`CallStep::Host`].
    /// Errors as for [`Runtime::call`].
    pub fn finish(mut self, frame: &mut [u8]) -> Result<CallStep> {
        let sync = self.sync;
        match self.work.take() {
            Some(work) => drive(work, frame, true, sync, 0),
            None => Err(Error::Call("internal error: the call was already finished".into())),
        }
    }

    /// Run one more time slice of a [`CallStep::Yielded`] call on this thread: it ends ([`CallStep::Done`]),
    /// waits in a host function ([`CallStep::Host`]), or yields again ([`CallStep::Yielded`], or
    /// [`CallStep::Pending`] once its slices on this thread are used up). A call that cannot run in slices
    /// comes back [`CallStep::Pending`] untouched.
    pub fn run_slice(mut self, frame: &mut [u8]) -> Result<CallStep> {
        let (sync, here) = (self.sync, self.here);
        match self.work.take() {
            Some(work @ Work::Fiber { .. }) if !sync => drive(work, frame, false, false, here),
            Some(work) => {
                self.work = Some(work);
                Ok(CallStep::Pending(self))
            }
            None => Err(Error::Call("internal error: the call was already finished".into())),
        }
    }

    /// Answer the host function the guest waits in with its results (converted by the import's result types;
    /// when they do not fit the guest traps and the call fails with 5002 naming the 5007) or with an error
    /// (the guest traps; the call fails with 5002 carrying the error's message). The guest continues on this
    /// thread until it ends ([`CallStep::Done`], results in `frame`), waits in a host function again, or (an
    /// async call) outlives its time slice ([`CallStep::Pending`]).
    pub fn resume(mut self, reply: Result<Vec<Value>>, frame: &mut [u8]) -> Result<CallStep> {
        let sync = self.sync;
        let Some(work) = self.work.take() else {
            return Err(Error::Call("internal error: the call was already finished".into()));
        };
        if self.request.take().is_none() {
            self.work = Some(work);
            return Err(Error::Type("the call is not waiting in a host function".into()));
        }
        match &work {
            Work::Fiber { call, .. } | Work::Reentry { call } => call.send(Command::Reply(reply)),
            Work::Whole { .. } => {}
        }
        drive(work, frame, false, sync, self.here)
    }
}

impl Drop for AsyncCall {
    fn drop(&mut self) {
        let Some(mut work) = self.work.take() else {
            return;
        };
        // Unanswered host functions fail; the guest runs to its end so the instance gets its state back. An
        // abandoned instantiation's instance is dropped: nobody has its handle.
        let mut waiting = self.request.take().is_some();
        let registering = match &work {
            Work::Fiber { register, .. } => register.clone(),
            _ => None,
        };
        loop {
            if waiting {
                if let Work::Fiber { call, .. } | Work::Reentry { call } = &work {
                    call.send(Command::Reply(Err(Error::Call("the call was abandoned".into()))));
                }
            }
            match drive(work, &mut [], true, true, 0) {
                Ok(CallStep::Host(mut next)) => match next.work.take() {
                    Some(w) => {
                        work = w;
                        waiting = true;
                        next.request = None;
                    }
                    None => return,
                },
                Ok(CallStep::Done(handle)) => {
                    if let Some(runtime) = &registering {
                        let _ = runtime.drop_instance(InstanceId(handle));
                    }
                    return;
                }
                _ => return,
            }
        }
    }
}

/// Poll `work` until it ends, waits in a host function or (not `blocking`, not `sync`) yields; `here`: how
/// many more slices it may run on this thread after this one.
fn drive(work: Work, frame: &mut [u8], blocking: bool, sync: bool, here: u32) -> Result<CallStep> {
    drive_from(None, work, frame, blocking, sync, here)
}

/// [`drive`], starting from `first` when the caller polled the work already.
fn drive_from(
    mut first: Option<Stop>,
    work: Work,
    frame: &mut [u8],
    blocking: bool,
    sync: bool,
    here: u32,
) -> Result<CallStep> {
    // Borrowed from `work` (no reference count per step): every arm that moves `work` returns.
    let call = match &work {
        Work::Fiber { call, .. } | Work::Reentry { call } => call,
        Work::Whole {
            runtime,
            instance,
            target,
            nargs,
        } => {
            return match target {
                OwnedTarget::Export(name) => runtime.call_frame(*instance, name, frame, *nargs).map(u64::from),
                OwnedTarget::Command => runtime.run_command(*instance).map(|code| code as i64 as u64),
            }
            .map(CallStep::Done)
        }
    };
    let waker = if blocking {
        thread_waker()
    } else {
        Waker::noop().clone()
    };
    let mut cx = Context::from_waker(&waker);
    loop {
        match first.take().unwrap_or_else(|| call.poll(&mut cx)) {
            Stop::Finished(state, outcome) => {
                let Work::Fiber { store, register, .. } = work else {
                    return Err(Error::Call("internal error: a re-entrant call ended its caller".into()));
                };
                let Some(runtime) = register else {
                    let answer = outcome.and_then(|o| state.answer(o, frame));
                    store.put_back(state);
                    return answer.map(CallStep::Done);
                };
                let added = outcome.map(|_| store.newest_member(&state));
                store.put_back(state);
                return runtime.register(added?).map(|id| CallStep::Done(id.0));
            }
            Stop::Request(request) => {
                let mut next = AsyncCall::new(work, sync, here);
                next.request = Some(request);
                return Ok(CallStep::Host(next));
            }
            Stop::Reentered(done) => {
                let Reentered::Values(values) = done? else {
                    return Err(Error::Call(
                        "internal error: a call re-entered as a memory operation".into(),
                    ));
                };
                return value_frame::encode_values(frame, &values).map(|n| CallStep::Done(n.into()));
            }
            Stop::Yielded if blocking => std::thread::park_timeout(std::time::Duration::from_millis(1)),
            Stop::Yielded if sync || matches!(work, Work::Reentry { .. }) => {}
            Stop::Yielded => return Ok(yielded(work, here)),
        }
    }
}

impl Runtime {
    /// Start an async call of `target` with `nargs` arguments from `frame` on this thread (see the module
    /// docs). `sync`: the caller waits for it on this thread (no time slice; [`CallStep::Pending`] never comes
    /// back). Errors found before the guest runs (stale handle, missing export, bad arguments, a busy instance)
    /// are returned here; errors of the guest come with the answer. On an instance whose host function is
    /// running, the call re-enters it (it then ends before that host function returns).
    pub(crate) fn call_start(
        &self,
        id: InstanceId,
        target: Target<'_>,
        frame: &mut [u8],
        nargs: usize,
        sync: bool,
    ) -> Result<CallStep> {
        // Through the recent-instance cache, as synchronous calls go: no registry lookup or reference count.
        self.with_instance(id, |cell| self.start_on(cell, id, target, frame, nargs, sync))
    }

    /// [`Self::call_start`] on the instance's cell.
    fn start_on(
        &self,
        cell: &InstanceCell,
        id: InstanceId,
        target: Target<'_>,
        frame: &mut [u8],
        nargs: usize,
        sync: bool,
    ) -> Result<CallStep> {
        if let (Target::Export(name), true) = (&target, crate::host_frames::any_running()) {
            // From inside a bridged host function of this store, running on this thread: through its `Caller`.
            if let Some(done) = crate::runtime::frame_call_in_place(cell, name, frame, nargs) {
                return done.map(|n| CallStep::Done(n.into()));
            }
        }
        if let Some(call) = cell.parked() {
            let Target::Export(name) = target else {
                return Err(Error::Call(
                    "a WASI command cannot be re-entered from its host function".into(),
                ));
            };
            let args = value_frame::decode_values(frame, nargs)?;
            call.send(Command::Reenter(Reentry::Call {
                instance: cell.instance,
                name: name.to_string(),
                args,
            }));
            return drive(Work::Reentry { call }, frame, false, true, 0);
        }
        let fiberless = sync
            && cell.fiberless_here()
            // (A WASI instance's synchronous call runs on a helper thread inside a tokio context: see `on_cell`.)
            && !(cell.uses_wasi() && tokio::runtime::Handle::try_current().is_ok());
        if let (Target::Export(name), true) = (&target, fiberless) {
            // A caller that waits, on the thread whose bridge answers every import in place: no fiber needed.
            return self
                .call_frame_fiberless(cell, id, name, frame, nargs)
                .map(|n| CallStep::Done(n.into()));
        }
        if cell.in_place() {
            // Reentrant host functions run on this thread's stack only: the whole call runs here, now.
            return match target {
                Target::Export(name) => self
                    .call_frame(id, name, frame, nargs)
                    .map(|n| CallStep::Done(n.into())),
                Target::Command => self.run_command(id).map(|code| CallStep::Done(code as i64 as u64)),
            };
        }
        let whole = || {
            let target = match &target {
                Target::Export(name) => OwnedTarget::Export(name.to_string()),
                Target::Command => OwnedTarget::Command,
            };
            let (runtime, instance) = (self.clone(), id);
            let work = Work::Whole {
                runtime,
                instance,
                target,
                nargs,
            };
            CallStep::Pending(AsyncCall::new(work, sync, 0))
        };
        let in_tokio = cell.uses_wasi() && tokio::runtime::Handle::try_current().is_ok();
        if !cell.suspends() && (!cell.preemptible() || in_tokio) {
            return Ok(whole());
        }
        let slice = (!sync).then_some(self.config().call_slice);
        let prepare = |state: &mut InstanceState| state.prepare_async(&target, frame, nargs, self.ticker(), slice);
        let (prepared, mut state) = match cell.start_async(id.0, prepare)? {
            Started::Fiber(prepared, state) => (prepared, state),
            // A short export cannot be suspended once begun: it ran here and now, with no fiber.
            Started::Done(count) => return Ok(CallStep::Done(count.into())),
        };
        let channel = state.channel();
        let mut running: Running = Box::pin(async move {
            let outcome = state.run_async(prepared).await;
            (state, outcome)
        });
        let suspends = cell.suspends();
        // Poll here first, owning the call: most calls end within this poll. Only one that outlives it is
        // shared (an `Arc`, a lock, the store's reference), and held in the store when its host functions may
        // re-enter the instance (no JavaScript runs before this poll returns, so holding it now is in time).
        let first = match crate::host_stack::polling(|| running.as_mut().poll(&mut Context::from_waker(Waker::noop())))
        {
            Poll::Ready((state, outcome)) => {
                let answer = outcome.and_then(|o| state.answer(o, frame));
                cell.store.put_back(state);
                return match answer {
                    Err(e) if e.message() == NO_FIBER && suspends => Err(no_fiber_stack()),
                    Err(e) if e.message() == NO_FIBER => Ok(whole()),
                    other => other.map(CallStep::Done),
                };
            }
            Poll::Pending => running,
        };
        let call = Arc::new(Suspended {
            running: StoreLock::new(Some(first)),
            channel,
        });
        if suspends {
            cell.store.hold(call.clone());
        }
        let work = Work::Fiber {
            call: call.clone(),
            store: cell.store.clone(),
            register: None,
        };
        let stop = call.after_pending();
        let here = self.config().caller_slices.saturating_sub(1);
        if matches!(stop, Stop::Yielded) && !sync {
            // Its time slice ran out: it continues after the caller's other work had a turn, or elsewhere.
            return Ok(yielded(work, here));
        }
        // A synchronous caller waits: poll on, as every call did.
        match drive_from(Some(stop), work, frame, false, sync, here) {
            Err(e) if e.message() == NO_FIBER && suspends => Err(no_fiber_stack()),
            Err(e) if e.message() == NO_FIBER => Ok(whole()),
            other => other,
        }
    }
}

/// A call whose slice ended: [`CallStep::Yielded`] while it may run `here` more slices on this thread, else
/// [`CallStep::Pending`].
fn yielded(work: Work, here: u32) -> CallStep {
    match here.checked_sub(1) {
        Some(left) => CallStep::Yielded(AsyncCall::new(work, false, left)),
        None => CallStep::Pending(AsyncCall::new(work, false, 0)),
    }
}

/// A call on an instance with suspending imports found no fiber stack (it cannot run the other way).
fn no_fiber_stack() -> Error {
    Error::LimitExceeded("no fiber stack free for the call (see `PoolConfig::total_stacks`)".into())
}

impl Runtime {
    /// Run an instantiation as an async call on this thread (see [`crate::instance::NewStore::start`]): its
    /// start function may wait in host functions answered outside the call ([`CallStep::Host`]). The answer
    /// ([`CallStep::Done`]) is the new instance's handle.
    pub(crate) fn instantiation_call(
        &self,
        store: Arc<StoreCell>,
        channel: Option<Arc<HostChannel>>,
        running: Instantiating,
        frame: &mut [u8],
        sync: bool,
    ) -> Result<CallStep> {
        // Polled here first, owning it: without a start function (or one that waits in no host function)
        // it ends within this poll, and nothing is shared. Held in the store before any host function runs.
        let mut running = running;
        let first = match crate::host_stack::polling(|| running.as_mut().poll(&mut Context::from_waker(Waker::noop())))
        {
            Poll::Ready((state, outcome)) => Stop::Finished(state, outcome),
            Poll::Pending => Stop::Yielded,
        };
        let call = Arc::new(Suspended {
            running: StoreLock::new(matches!(first, Stop::Yielded).then_some(running)),
            channel,
        });
        let first = match first {
            Stop::Yielded => {
                store.hold(call.clone());
                call.after_pending()
            }
            finished => finished,
        };
        let work = Work::Fiber {
            call,
            store,
            register: Some(self.clone()),
        };
        drive_from(Some(first), work, frame, false, sync, 0)
    }
}

/// The message of [`Outcome::NoFiber`]'s answer: no fiber stack was free, so the call runs the other way.
pub(crate) const NO_FIBER: &str = "internal error: no fiber outcome to answer";

/// A waker that unparks this thread.
fn thread_waker() -> Waker {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    Waker::from(Arc::new(Unpark(std::thread::current())))
}
