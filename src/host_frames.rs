//! The host functions that lend their call's `Caller`, running on this thread, innermost first: a
//! [`crate::HostFunc::reentrant`] function, a bridged import (the hosts' JavaScript functions). The `Runtime`'s
//! memory operations and calls on the store, from inside such a function, run through that `Caller`
//! ([`reentry_caller`]) instead of locking the store, which the function's own call holds.
//!
//! While a re-entry uses a lent `Caller`, a frame that lends nothing shadows it ([`shadowing`]): a host function
//! the re-entry reaches must not find the same `Caller` again (it is in use further up the stack). Host
//! functions given a `HostCall` link no frame: a re-entry from one of them through the `Runtime` meets its
//! store's lock held by this thread and is refused there (`crate::store_lock`), or the store busy in its async
//! call.
//!
//! Kept as a chain of frames on the stack, linked through one thread-local pointer: entering a lending host
//! function costs two thread-local accesses; the chain is walked only by a re-entry or a refused lock.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A store's identity for this check ([`crate::store_data::StoreData::store_id`]): unique in the process.
pub(crate) fn next_store_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One running lending host function, or a shadow: its store, the `Caller` it lends for re-entry (null: none,
/// a shadow), and the frame it runs inside of (null at the outermost).
struct Frame {
    store: u64,
    caller: *mut (),
    /// The caller's call runs on a fiber (a bridged host function): re-entrant calls must be async.
    on_fiber: bool,
    outer: *const Frame,
}

/// A `Caller` lent by a running host function (see [`reentry_caller`]).
#[derive(Clone, Copy)]
pub(crate) struct Lent {
    /// A `*mut Caller<'_, StoreData>`.
    pub(crate) caller: *mut (),
    /// Its call runs on a fiber: a call through it must be async, polled in place.
    pub(crate) on_fiber: bool,
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

/// Run `f`, a re-entry of store `store` through a lent `Caller`, with a frame lending nothing: the store's
/// host functions that `f` reaches find no `Caller` of this store further out (see the module docs).
#[inline]
pub(crate) fn shadowing<R>(store: u64, f: impl FnOnce() -> R) -> R {
    link(store, std::ptr::null_mut(), false, f)
}

/// Run `f`, a reentrant host function of store `store`, on this thread, lending `caller` (a
/// `*mut Caller<'_, StoreData>` of `store`, not used by anyone else until `f` returns) to the re-entries `f`
/// makes through the `Runtime`.
#[inline]
pub(crate) fn run_lending<R>(store: u64, caller: *mut (), f: impl FnOnce() -> R) -> R {
    link(store, caller, false, f)
}

/// [`run_lending`] for a bridged host function, whose `caller` belongs to a call on a fiber: `f` runs on this
/// thread's stack (`crate::host_stack`) while that fiber waits for it, so the frame is never left linked across
/// a suspension either.
#[inline]
pub(crate) fn run_lending_from_fiber<R>(store: u64, caller: *mut (), f: impl FnOnce() -> R) -> R {
    link(store, caller, true, f)
}

#[inline]
fn link<R>(store: u64, caller: *mut (), on_fiber: bool, f: impl FnOnce() -> R) -> R {
    let frame = Frame {
        store,
        caller,
        on_fiber,
        outer: INNERMOST.get(),
    };
    let _leave = Leave(frame.outer);
    INNERMOST.set(&frame);
    f()
}

/// Whether any host function runs on this thread: one thread-local load.
#[inline(always)]
pub(crate) fn any_running() -> bool {
    !INNERMOST.get().is_null()
}

/// Whether a host function of `store` runs on this thread (innermost or further out). One thread-local load
/// when none runs.
pub(crate) fn running_in(store: u64) -> bool {
    innermost_in(store).is_some()
}

/// The `Caller` lent by the innermost host function of `store` running on this thread, if that one is
/// reentrant (`None` when it is not, or none runs). The pointer is valid, and only its user's, until the host
/// function that lent it returns; the caller must use it only before returning itself (it runs inside that
/// host function: its frame is innermost or inside it).
pub(crate) fn reentry_caller(store: u64) -> Option<Lent> {
    innermost_in(store).filter(|lent| !lent.caller.is_null())
}

/// The innermost frame of `store` on this thread: its lent `Caller` (null when none).
#[inline]
fn innermost_in(store: u64) -> Option<Lent> {
    let mut at = INNERMOST.get();
    while !at.is_null() {
        // SAFETY: every pointer in the chain is a `Frame` on this thread's stack, owned by a `link` call that
        // has not returned: each call links its frame before running its function and unlinks it when that
        // returns or unwinds (`Leave`), innermost first, and only this thread reads the chain. A frame cannot be
        // left linked while its stack is suspended: reentrant functions never run on a fiber at all (their
        // stores' calls run in place, `StoreCell::in_place`); bridged ones run on this thread's stack while
        // their fiber waits, and return before it continues; a shadow lives for one re-entry, which never
        // suspends the fiber it may run on (its nested call runs on a fiber of its own, polled once, and fails
        // rather than wait: `host_request::reenter_in_place`).
        let frame = unsafe { &*at };
        if frame.store == store {
            return Some(Lent {
                caller: frame.caller,
                on_fiber: frame.on_fiber,
            });
        }
        at = frame.outer;
    }
    None
}
