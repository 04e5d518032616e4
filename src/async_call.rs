//! [`AsyncCall`]: how `await instance.call(...)` runs without a thread hop for short calls and without holding
//! the caller's thread for long ones. One protocol, used by both hosts:
//!
//! 1. [`Runtime::call_start`] runs on the caller's thread (the JavaScript thread). It moves the instance's
//!    state out of its cell (the instance is *busy*: other calls and memory access fail fast with 5002 until
//!    the call ends; hosts queue `call`s per instance so they never see it), decodes the arguments and starts
//!    the guest on a wasmtime fiber (`Func::call_async`) with the runtime's time slice
//!    ([`crate::RuntimeConfig::call_slice`], 1 ms by default). The guest's epoch checks yield at the end of
//!    the slice.
//! 2. Most calls finish inside the slice: the answer is written at once ([`CallStep::Done`]), with no thread
//!    hop and no allocation but the fiber's future.
//! 3. A call that yields is returned as [`CallStep::Pending`]: the caller hands it to another thread, which
//!    runs it to the end with [`AsyncCall::finish`] (the C ABI: a `nonblocking` symbol; the deno_core ops:
//!    tokio's blocking pool). Its answer is written into the frame given there.
//!
//! Instances that cannot be suspended (created with `preemptible: false`, or no fiber stack free), and WASI
//! instances called from inside a tokio runtime (whose WASI calls would block it), skip step 1: their call is
//! pending from the start and runs entirely in `finish`, on the other thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use crate::error::{Error, Result};
use crate::instance::{InstanceCell, InstanceId, InstanceState, Outcome, Target};
use crate::runtime::Runtime;

/// What [`Runtime::call_start`] did.
pub enum CallStep {
    /// The call finished on the calling thread. The answer: the number of results written to the frame, or a
    /// command's exit status (as i64 bits).
    Done(u64),
    /// The call continues: finish it on another thread with [`AsyncCall::finish`].
    Pending(AsyncCall),
}

/// An async call that outlived its first time slice (or never started on the calling thread). `Send`: finish
/// it on any thread. Dropping it unfinished finishes it first (blocking), so the instance always gets its
/// state back.
pub struct AsyncCall {
    work: Option<Work>,
}

type Running = Pin<Box<dyn Future<Output = (Box<InstanceState>, Result<Outcome>)> + Send>>;

enum Work {
    /// Suspended on a fiber; the state travels inside the future.
    Fiber { running: Running, cell: Arc<InstanceCell> },
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

impl AsyncCall {
    /// Run the call to its end on this thread (blocking it), write its answer into `frame` (the frame the call
    /// was started with, untouched since: its arguments are read from it again when the call had not started)
    /// and return it as [`CallStep::Done`] would. Errors as for [`Runtime::call`].
    pub fn finish(mut self, frame: &mut [u8]) -> Result<u64> {
        match self.work.take() {
            Some(work) => run_to_end(work, frame),
            None => Err(Error::Call("internal error: the call was already finished".into())),
        }
    }
}

impl Drop for AsyncCall {
    fn drop(&mut self) {
        if let Some(Work::Fiber { running, cell }) = self.work.take() {
            let (state, _) = block_on(running);
            cell.put_back(state);
        }
    }
}

fn run_to_end(work: Work, frame: &mut [u8]) -> Result<u64> {
    match work {
        Work::Fiber { running, cell } => {
            let (state, outcome) = block_on(running);
            let answer = outcome.and_then(|o| state.answer(o, frame));
            cell.put_back(state);
            answer
        }
        Work::Whole {
            runtime,
            instance,
            target,
            nargs,
        } => match target {
            OwnedTarget::Export(name) => runtime.call_frame(instance, &name, frame, nargs).map(u64::from),
            OwnedTarget::Command => runtime.run_command(instance).map(|code| code as i64 as u64),
        },
    }
}

impl Runtime {
    /// Start an async call of `target` with `nargs` arguments from `frame` on this thread (see the module
    /// docs). Errors found before the guest runs (stale handle, missing export, bad arguments, a busy instance)
    /// are returned here; errors of the guest come with the answer.
    pub(crate) fn call_start(
        &self,
        id: InstanceId,
        target: Target<'_>,
        frame: &mut [u8],
        nargs: usize,
    ) -> Result<CallStep> {
        let cell = self.instance_cell(id)?;
        let whole = || {
            let target = match &target {
                Target::Export(name) => OwnedTarget::Export(name.to_string()),
                Target::Command => OwnedTarget::Command,
            };
            let (runtime, instance) = (self.clone(), id);
            CallStep::Pending(AsyncCall {
                work: Some(Work::Whole {
                    runtime,
                    instance,
                    target,
                    nargs,
                }),
            })
        };
        if !cell.preemptible || (cell.uses_wasi && tokio::runtime::Handle::try_current().is_ok()) {
            return Ok(whole());
        }
        let mut state = cell.take(id.0)?;
        let prepared = match state.prepare_async(&target, frame, nargs, self.ticker(), self.config().call_slice) {
            Ok(prepared) => prepared,
            Err(e) => {
                cell.put_back(state);
                return Err(e);
            }
        };
        let mut running: Running = Box::pin(async move {
            let outcome = state.run_async(prepared).await;
            (state, outcome)
        });
        match running.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready((state, Ok(Outcome::NoFiber))) => {
                cell.put_back(state);
                Ok(whole())
            }
            Poll::Ready((state, outcome)) => {
                let answer = outcome.and_then(|o| state.answer(o, frame));
                cell.put_back(state);
                answer.map(CallStep::Done)
            }
            Poll::Pending => Ok(CallStep::Pending(AsyncCall {
                work: Some(Work::Fiber { running, cell }),
            })),
        }
    }
}

/// Poll `future` to completion on this thread, parking between polls (a wasmtime yield wakes at once).
fn block_on<T>(mut future: Pin<Box<dyn Future<Output = T> + Send>>) -> T {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(value) => return value,
            Poll::Pending => std::thread::park(),
        }
    }
}
