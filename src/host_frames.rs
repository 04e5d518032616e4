//! The Rust host functions running on this thread, innermost first: how a store's lock tells a re-entry from
//! one of the store's own host functions on this thread (whose wait would never end: the lock is held by the
//! call that is running the host function) from another thread's call (which it waits for).
//!
//! Kept as a chain of frames on the stack, linked through one thread-local pointer: entering a host function
//! costs two thread-local accesses; the chain is walked only when a store's lock is found taken.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A store's identity for this check ([`crate::store_data::StoreData::store_id`]): unique in the process.
pub(crate) fn next_store_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One running host function: its store, and the frame it runs inside of (null at the outermost).
struct Frame {
    store: u64,
    outer: *const Frame,
}

thread_local! {
    static INNERMOST: Cell<*const Frame> = const { Cell::new(std::ptr::null()) };
}

/// Restores the outer frame when a host function returns or unwinds.
struct Leave(*const Frame);

impl Drop for Leave {
    fn drop(&mut self) {
        INNERMOST.set(self.0);
    }
}

/// Run `f`, a host function of store `store`, on this thread.
#[inline]
pub(crate) fn run_in<R>(store: u64, f: impl FnOnce() -> R) -> R {
    let frame = Frame {
        store,
        outer: INNERMOST.get(),
    };
    let _leave = Leave(frame.outer);
    INNERMOST.set(&frame);
    f()
}

/// Whether a host function of `store` runs on this thread (innermost or further out). One thread-local load
/// when none runs.
pub(crate) fn running_in(store: u64) -> bool {
    let mut at = INNERMOST.get();
    while !at.is_null() {
        // SAFETY: every pointer in the chain is a `Frame` on this thread's stack, owned by a `run_in` call that
        // has not returned: each call links its frame before running its host function and unlinks it when
        // that returns or unwinds (`Leave`), innermost first, and only this thread reads the chain. A frame
        // cannot be left linked while its stack is suspended: the host functions run here (Rust closures and
        // typed closures) never suspend the fiber they may run on — wasmtime refuses their nested guest calls
        // there (`HostCall::call` uses the checked `Func::call`), and they are not async.
        let frame = unsafe { &*at };
        if frame.store == store {
            return true;
        }
        at = frame.outer;
    }
    false
}
