//! What each wasmtime `Store` carries: the WASI context (if any), the resource limiter and the call clock.

use std::sync::Arc;
use std::time::Instant;

use crate::host_func::HostFunc;
use crate::host_request::HostChannel;
use crate::value::Value;

use wasmtime::{Func, StoreLimits, ValRaw};
use wasmtime_wasi::p1::WasiP1Ctx;

/// Per-instance host state.
pub(crate) struct StoreData {
    /// This store's identity for telling a re-entry from its own host function apart (`crate::host_frames`).
    pub(crate) store_id: u64,
    /// Boxed (see `BuiltWasi::ctx`).
    pub(crate) wasi: Option<Box<WasiP1Ctx>>,
    pub(crate) limits: StoreLimits,
    /// The running call's clock, read by the epoch-deadline callback.
    pub(crate) clock: CallClock,
    /// This instance's host functions, by import slot (see `HostLink`). Fixed when the store is created and
    /// never changed while it lives: the trampolines rely on it (they call a closure in place, no refcount).
    pub(crate) host: Box<[HostFunc]>,
    /// The first exported memory's name, for host functions' memory access.
    pub(crate) first_memory: Option<Arc<str>>,
    /// The mailbox of suspending host functions (instances that import one).
    pub(crate) channel: Option<Arc<HostChannel>>,
    /// The instance's memory cap, for errors of memory grown from inside a host function.
    pub(crate) max_memory_bytes: Option<usize>,
    /// Argument and result buffers of Rust host functions, reused across calls.
    pub(crate) host_buffers: (Vec<Value>, Vec<Value>),
    /// The export an async call runs, with its raw arguments (results on return), held here for the length
    /// of the call: the store's entry trampoline takes it (signatures of more than four values; see
    /// `InstanceState::enter_async`).
    pub(crate) entry: Option<EntryCall>,
    /// The async host function through which a suspending import waits for its reply (made on first use; see
    /// `host_request::wait_for_reply`).
    pub(crate) waiter: Option<Func>,
    /// The reply the waiter received, for the import that called it.
    pub(crate) host_reply: Option<crate::error::Result<Vec<Value>>>,
    /// Whether the running call is a synchronous one with suspending imports (`call_frame_fiberless`): no fiber
    /// to suspend, so its bridged imports are answered here, on this stack, or fail.
    pub(crate) fiberless: bool,
}

/// What the entry trampoline of an async call calls: `func` with `raw` (at least max(params, results)
/// slots, the arguments first, converted by `func`'s parameter types).
pub(crate) struct EntryCall {
    pub(crate) func: Func,
    pub(crate) raw: Vec<ValRaw>,
}

/// When the running call must stop (its timeout) and whether it yields once its epoch deadline comes (an async
/// call: the deadline is set to the end of its time slice, so reaching it means the slice is over).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CallClock {
    pub(crate) deadline: Option<Instant>,
    pub(crate) sliced: bool,
}

impl StoreData {
    /// The WASI context. Only the WASI linker calls this, and instances are linked with it only when they were
    /// given a context, so a missing context is a bug in this crate.
    pub(crate) fn wasi_mut(&mut self) -> &mut WasiP1Ctx {
        self.wasi
            .as_mut()
            .expect("WASI imports are only linked for instances built with a WASI context")
    }
}
