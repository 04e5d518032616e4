//! Where a bridged host function runs ([`crate::HostFunc::bridged`]): on the calling thread's own stack, while
//! the guest that called it waits on its Wasmtime fiber.
//!
//! A host's language runtime may refuse a foreign stack: V8 checks every JavaScript call's stack pointer
//! against a limit below the thread's own stack, and its garbage collector scans that stack, so JavaScript
//! cannot run on a fiber. But while a guest runs on its fiber, the thread's stack is idle: it is suspended
//! inside Wasmtime's poll (the fiber switch), a few frames below the frame that called the poll, and nothing
//! uses the stack below those frames until the fiber switches back. [`polling`] records, for the length of a
//! poll on this thread, a point [`GAP`] below the poll's caller; [`run`], called on the fiber, switches the
//! stack pointer to that point, runs the host function there, and switches back. The host function thus runs
//! on the thread's stack as if the poll had called it: deeper than every frame in use, above the language
//! runtime's limit (which still guards its own recursion).
//!
//! Cost: a thread-local write per poll; per bridged host call, two stack switches (a few instructions each,
//! through `psm`) instead of the two fiber switches and the round trip through the embedder that a suspending
//! host call takes.

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// How far below the poll's caller a bridged host function's frames start: room for Wasmtime's frames between
/// the poll and the fiber switch, about 2 KB (the test `the_gap_covers_wasmtimes_frames` measures them and
/// asserts they stay under a quarter of this).
pub(crate) const GAP: usize = 16 * 1024;

/// The size handed to `psm` for the region below the switch point. Not allocated and not enforced: the
/// thread's stack grows into it as a host function needs, and the host's runtime keeps its own limit.
const REGION: usize = 1 << 20;

/// Room a bridged host function needs below the point at least: a point closer than this to the end of the
/// thread's stack is not offered (the call suspends instead).
const MIN_ROOM: usize = 256 * 1024;

thread_local! {
    /// The stack top bridged host functions switch to while a poll runs on this thread (0: none runs).
    static TOP: Cell<usize> = const { Cell::new(0) };
    /// This thread's stack, `(lowest, highest)` address; `(0, 0)` where the platform does not say.
    static BOUNDS: (usize, usize) = thread_stack();
}

/// This thread's stack range, from `pthread_getattr_np` (once per thread).
#[cfg(target_os = "linux")]
fn thread_stack() -> (usize, usize) {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    let (mut base, mut size) = (std::ptr::null_mut(), 0usize);
    // SAFETY: `attr` is initialized by `pthread_getattr_np` before it is read, and destroyed once; `base` and
    // `size` are plain out-parameters.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return (0, 0);
        }
        let got = libc::pthread_attr_getstack(attr.as_ptr(), &mut base, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if got != 0 {
            return (0, 0);
        }
    }
    (base as usize, base as usize + size)
}

#[cfg(not(target_os = "linux"))]
fn thread_stack() -> (usize, usize) {
    (0, 0)
}

/// Whether this code may run off this thread's own stack (on a Wasmtime fiber): `true` when it does, and where
/// the platform does not say where the thread's stack is (the careful answer).
pub(crate) fn maybe_on_fiber() -> bool {
    let (low, high) = BOUNDS.with(|b| *b);
    let sp = psm::stack_pointer() as usize;
    high == 0 || !(low..high).contains(&sp)
}

/// The point below `here` where bridged host functions may run, or 0: `here` is not on this thread's own stack
/// (a poll made from a fiber, e.g. by a Rust host function, whose stack a language runtime cannot use either),
/// or the stack has too little room left below it.
fn point_below(here: usize) -> usize {
    let (low, high) = BOUNDS.with(|b| *b);
    // 16-byte aligned, as the ABIs `psm` supports want a stack pointer at a call.
    let top = here.saturating_sub(GAP) & !15;
    if here < high && top > low.saturating_add(MIN_ROOM) {
        top
    } else {
        0
    }
}

#[cfg(test)]
thread_local! {
    /// Measuring (tests only): the poll's caller's stack pointer, and the deepest Wasmtime's frames reached.
    static MEASURE: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// A pattern written below the poll's caller while measuring.
#[cfg(test)]
const PATTERN: u8 = 0xa5;

/// Restores the outer poll's point when a poll returns or unwinds.
struct Restore(usize);

impl Drop for Restore {
    fn drop(&mut self) {
        TOP.set(self.0);
    }
}

/// Run `poll` (a poll of a guest's fiber on this thread), letting bridged host functions the guest calls run
/// on this thread's stack below it (see the module docs). Nested polls (a call made from inside a bridged
/// host function) record their own, deeper point.
#[inline]
pub(crate) fn polling<R>(poll: impl FnOnce() -> R) -> R {
    let here = psm::stack_pointer() as usize;
    // A poll made on a fiber (a Rust host function calling its instance inside an async call) keeps the point
    // below the poll that runs that fiber: this thread's stack is idle below that poll until the fiber returns.
    let top = if maybe_on_fiber() { TOP.get() } else { point_below(here) };
    let _restore = Restore(TOP.replace(top));
    #[cfg(test)]
    if let (Some((_, deepest)), true) = (MEASURE.get(), top != 0) {
        // Below this frame (keeping 512 bytes for the calls until the poll) down to the point: unused stack.
        // SAFETY: tests only; the range lies between the stack pointer and `GAP` below it, in this thread's
        // stack, which no live frame uses.
        unsafe { std::ptr::write_bytes(top as *mut u8, PATTERN, here - 512 - top) };
        MEASURE.set(Some((here, deepest)));
    }
    poll()
}

/// Run `f` on this thread's stack below the innermost poll (see the module docs); `None` when no poll runs
/// on this thread (the guest is being polled by a caller that did not offer its stack: `f` is not run).
/// Called on the guest's fiber. A panic in `f` is carried across the switch and resumed here.
pub(crate) fn run<R>(f: impl FnOnce() -> R) -> Option<R> {
    let top = TOP.get();
    if top == 0 {
        return None;
    }
    let sp = psm::stack_pointer() as usize;
    if sp <= top && top - sp < REGION {
        // Already on the thread's stack, below the point (a host function called without a fiber): stay.
        return Some(f());
    }
    #[cfg(test)]
    if let Some((here, deepest)) = MEASURE.get() {
        // The lowest byte the poll's frames changed is how deep they went.
        // SAFETY: tests only; see `polling`: the range was written there and is still unused below the frames.
        let region = unsafe { std::slice::from_raw_parts(top as *const u8, here - 512 - top) };
        let lowest = region.iter().position(|b| *b != PATTERN).map_or(here, |at| top + at);
        MEASURE.set(Some((here, deepest.max(here - lowest))));
    }
    let mut f = Some(f);
    // SAFETY: `top` is 16-byte aligned, and so is `top - REGION` (`REGION` is a multiple of 16), as `psm`
    // requires of the base and size. The region below `top` is this thread's own stack (`point_below` checked
    // the poll ran on it, with room below), unused while we run: `top` was recorded by `polling` on this
    // thread, `GAP` below the frame that called the poll, and that
    // poll is still running (it restores the previous point before returning) and is suspended in the fiber
    // switch that runs us, whose frames end within `GAP` of its caller (the test
    // `the_gap_covers_wasmtimes_frames` measures them). Every frame below that is dead until the fiber switches
    // back, which happens only after this function returns (nothing here suspends the fiber). The thread's
    // stack grows into the region on demand like any deep call, under the host runtime's own limit. The
    // callback does not unwind: it catches any panic, which is resumed after the switch back.
    let outcome = unsafe {
        psm::on_stack((top - REGION) as *mut u8, REGION, || {
            catch_unwind(AssertUnwindSafe(|| (f.take().expect("run once"))()))
        })
    };
    Some(outcome.unwrap_or_else(|panic| resume_unwind(panic)))
}

/// Whether bridged host functions can run in place on this thread now (a poll offered its stack).
pub(crate) fn available() -> bool {
    TOP.get() != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_poll_nothing_runs() {
        assert_eq!(run(|| 1), None);
        assert!(!available());
    }

    #[test]
    fn a_poll_lends_its_stack_below_the_gap() {
        let outer = psm::stack_pointer() as usize;
        let inner = polling(|| run(|| psm::stack_pointer() as usize)).unwrap();
        // Called above the point (here not on a fiber), it still runs below it: `GAP` under the caller.
        assert!(outer - inner >= GAP && outer - inner < GAP + 4096, "{}", outer - inner);
        // Called below the point, it stays where it is.
        let nested = polling(|| run(|| run(|| psm::stack_pointer() as usize)))
            .unwrap()
            .unwrap();
        assert!(nested < inner && inner - nested < 4096, "{}", inner - nested);
        assert!(!available(), "the point is cleared when the poll returns");
    }

    /// Wasmtime's frames between a poll and its fiber switch, measured while a bridged import runs: well
    /// inside [`GAP`] (a Wasmtime upgrade that deepened them would fail here before it could overwrite them).
    #[test]
    fn the_gap_covers_wasmtimes_frames() {
        use crate::wire::{self, Answer};
        let rt = crate::Runtime::new({
            let mut config = crate::RuntimeConfig::default();
            config.cache.enabled = false;
            config
        });
        let wat = br#"(module (import "host" "inc" (func $inc (param i32) (result i32)))
            (func (export "run") (param i32) (result i32) (call $inc (local.get 0))))"#;
        let m = wire::compile(&rt, wat).unwrap() as f64;
        let options = br#"{"hostImports":[["host","inc",0]],"bridgedImports":true}"#;
        wire::set_host_bridge(Some(wire::HostBridge::new(
            |_, _, args: &[crate::Value], out: &mut Vec<crate::Value>| {
                let crate::Value::I32(x) = args[0] else { unreachable!() };
                out.push(crate::Value::I32(x + 1));
                Ok(Answer::Now)
            },
        )));
        let i = wire::instantiate(&rt, m, options, b"").unwrap() as f64;
        MEASURE.set(Some((0, 0)));
        let mut frame = vec![0u8; wire::OUT_HEADER + 2 * wire::SLOT];
        frame[wire::OUT_HEADER] = wire::tag::I32;
        frame[wire::OUT_HEADER + 8] = 41;
        let step = wire::call_start(&rt, i, "run", &mut frame, 1, false).unwrap();
        let (_, deepest) = MEASURE.replace(None).unwrap();
        wire::set_host_bridge(None);
        assert!(matches!(step, wire::Step::Done(1)), "{step:?}");
        assert_eq!(frame[wire::OUT_HEADER + 8], 42);
        assert!(deepest > 0, "the bridged import ran in place, below the poll");
        assert!(
            deepest < GAP / 4,
            "Wasmtime's frames below the poll reached {deepest} bytes"
        );
        eprintln!("Wasmtime's frames below the poll: {deepest} bytes");
    }

    #[test]
    fn a_poll_made_off_the_threads_stack_offers_nothing() {
        let (low, high) = BOUNDS.with(|b| *b);
        assert!(low < high, "this platform reports the thread's stack");
        let here = psm::stack_pointer() as usize;
        assert!(low < here && here < high);
        assert_ne!(point_below(here), 0);
        // A fiber's stack lies elsewhere; the stack's own end leaves no room.
        let elsewhere = vec![0u8; 1 << 20];
        assert_eq!(point_below(elsewhere.as_ptr() as usize + (1 << 19)), 0);
        assert_eq!(point_below(low + GAP + 4096), 0);
    }

    #[test]
    fn a_panic_crosses_the_switch() {
        let caught = std::panic::catch_unwind(|| polling(|| run(|| panic!("boom"))));
        assert!(caught.is_err());
        assert!(!available());
    }
}
