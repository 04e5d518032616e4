//! A host's functions on one thread, called in place: the [`HostBridge`] a host installs on its thread (the C
//! ABI's `ext_wasm_set_host_callback`, the deno_core extension's `op_wasm_set_host_callback`), through which
//! guests call the host's functions by number without leaving the call that runs them.
//!
//! Two kinds of imports go through it:
//! - [`crate::HostFunc::reentrant`] ones (`syncImports`): synchronous, run on the thread's stack; the instance
//!   never runs on a fiber.
//! - [`crate::HostFunc::bridged`] ones (the TypeScript hosts' JavaScript imports by default): the guest runs on
//!   a fiber (or, for a caller that waits on the bridge's thread, without one, and then a later answer fails
//!   the call with 5007); the bridge is called on the thread's own stack below the poll (`crate::host_stack`)
//!   and answers [`Answer::Now`] (a plain result: the guest continues at once, no suspension) or
//!   [`Answer::Later`] (it returned a Promise: the guest suspends, and the host answers through the call
//!   protocol, see [`crate::HostRequest::started`]).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, ErrorCode, Result};
use crate::value::Value;
use crate::value_frame::{self, OUT_HEADER};

/// What a bridge did with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// It ran; its results were pushed.
    Now,
    /// It started something that answers later (a Promise): the guest must suspend until the host answers the
    /// call's [`crate::CallStep::Host`] with what it kept. Allowed only when the bridge was told so.
    Later,
}

/// A host's functions on one thread: `bridge(index, may_answer_later, args, out)` runs function `index` with
/// `args` and pushes its results (converted by the import's result types afterwards, as any host function's),
/// or answers [`Answer::Later`] when `may_answer_later`. Called in place, inside the guest's call, on the thread
/// that called the instance; it may use the instance by handle meanwhile (see [`crate::HostFunc::reentrant`]).
/// An `Err` traps the guest with its message.
pub type HostBridge = std::rc::Rc<dyn Fn(u32, bool, &[Value], &mut Vec<Value>) -> Result<Answer>>;

thread_local! {
    static BRIDGE: std::cell::RefCell<Option<HostBridge>> = const { std::cell::RefCell::new(None) };
    /// This thread's number, for telling the thread whose bridge an instance's imports were given on.
    static THREAD: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

/// This thread's number (see [`call_bridge`]).
pub(crate) fn this_thread() -> u64 {
    THREAD.with(|t| *t)
}

/// Set (or with `None`, clear) this thread's [`HostBridge`]. Instances whose imports go through a bridge, called
/// on a thread without one, fail those imports with 5002 (`syncImports`) or suspend at them (bridged).
pub fn set_host_bridge(bridge: Option<HostBridge>) {
    BRIDGE.set(bridge);
}

/// This thread's bridge, when this thread is `home` (the thread an instance's bridged imports were numbered on)
/// and has one.
pub(crate) fn bridge_here(home: u64) -> Option<HostBridge> {
    if this_thread() != home {
        return None;
    }
    BRIDGE.with_borrow(|b| b.clone())
}

/// Run function `index` through this thread's bridge, refusing (5002) a thread other than `home`, the one the
/// instance was created on: another thread's bridge numbers its functions apart (a Deno worker has its own).
pub(crate) fn call_bridge(
    home: u64,
    index: u32,
    may_answer_later: bool,
    args: &[Value],
    out: &mut Vec<Value>,
) -> Result<Answer> {
    if this_thread() != home {
        return Err(Error::Call(
            "an instance with `syncImports` can only be called on the thread (Deno worker) that created it".into(),
        ));
    }
    let bridge = BRIDGE.with_borrow(|b| b.clone()).ok_or_else(|| {
        Error::Call(
            "no host bridge on this thread: an instance with `syncImports` must be called from the thread that \
             runs its host functions"
                .into(),
        )
    })?;
    bridge(index, may_answer_later, args, out)
}

/// The bit of a frame bridge's `index` that tells the host it may answer [`LATER`]. Bit 24, not 31: a
/// JavaScript host receives the index as a number, and V8 keeps numbers below 2^30 unboxed (a small integer),
/// where 2^31 would cost an allocation per call and make the dispatcher's code polymorphic.
pub const MAY_ANSWER_LATER: u32 = 1 << 24;

/// The bridge numbers its functions below this ([`MAY_ANSWER_LATER`] is above them).
pub const MAX_BRIDGE_INDEX: u32 = MAY_ANSWER_LATER;

/// A frame bridge's answer for [`Answer::Later`].
pub const LATER: i32 = -1;

/// Where a frame bridge also writes `call`'s `index` (with [`MAY_ANSWER_LATER`]) in the frame's header, as a
/// little-endian `u32`, before each call: a host whose callback takes no arguments reads it there (Deno's
/// `UnsafeCallback` converts each argument and collects them in a vector it allocates per call; with none, a
/// host call costs ~35 ns less).
pub const CALL_INDEX_AT: usize = 8;

/// Where a frame bridge also writes `call`'s `nargs` in the frame's header (see [`CALL_INDEX_AT`]).
pub const CALL_NARGS_AT: usize = 12;

/// A [`HostBridge`] trading values with its host through a value frame, for hosts whose functions live in
/// another language: `call(index, nargs)` runs function `index` (with [`MAY_ANSWER_LATER`] set when it may
/// answer later) with the arguments in the frame's slots (typed tags) and answers with its results in the
/// slots and their count (`index` and `nargs` are also in the frame's header, at [`CALL_INDEX_AT`] and
/// [`CALL_NARGS_AT`]), [`LATER`] (allowed only with that bit), or fails: `-code` (5002 for an exception, 5007
/// for results it could not encode) with the message's UTF-8 length as `u32` at offset 0 and its bytes from
/// [`OUT_HEADER`] on. The frame is written before `call` and read after it returns; `call` may re-enter
/// instances meanwhile, nested calls reusing the frame (they end before it returns).
///
/// A frame shorter than a header and one slot (or null) → 5007.
///
/// # Safety
/// `frame` must be valid for reads and writes of `len` bytes for as long as the bridge is installed, and
/// written by nobody else except inside `call`.
pub unsafe fn frame_bridge(frame: *mut u8, len: usize, call: impl Fn(u32, u32) -> i32 + 'static) -> Result<HostBridge> {
    if frame.is_null() || len < OUT_HEADER + value_frame::SLOT {
        return Err(Error::Type(format!(
            "the host callback's frame is {len} bytes; it needs at least a header and a slot"
        )));
    }
    let frame = frame as usize;
    Ok(std::rc::Rc::new(move |index, may_answer_later, args, out| {
        // SAFETY: valid for `len` bytes while the bridge is installed (this function's contract); the slice
        // lives until `call`, which is the only other writer, and is made again after it returns.
        let slots = unsafe { std::slice::from_raw_parts_mut(frame as *mut u8, len) };
        let nargs = value_frame::encode_values(slots, args)?;
        let flag = if may_answer_later { MAY_ANSWER_LATER } else { 0 };
        slots[CALL_INDEX_AT..CALL_INDEX_AT + 4].copy_from_slice(&(index | flag).to_le_bytes());
        slots[CALL_NARGS_AT..CALL_NARGS_AT + 4].copy_from_slice(&nargs.to_le_bytes());
        let answer = call(index | flag, nargs);
        // SAFETY: as above; `call` has returned.
        let slots = unsafe { std::slice::from_raw_parts(frame as *const u8, len) };
        match u32::try_from(answer) {
            Ok(n) => value_frame::decode_values_into(slots, n as usize, out)
                .map(|()| Answer::Now)
                .map_err(|e| Error::Type(e.message().replace("argument", "result"))),
            Err(_) if answer == LATER && may_answer_later => Ok(Answer::Later),
            Err(_) if answer == LATER => Err(Error::Type(
                "the host answered later (a Promise) where a synchronous answer was required".into(),
            )),
            Err(_) => {
                let said = u32::from_le_bytes([slots[0], slots[1], slots[2], slots[3]]) as usize;
                let text = &slots[OUT_HEADER..(OUT_HEADER + said).min(len)];
                Err(host_error(
                    answer.unsigned_abs(),
                    String::from_utf8_lossy(text).into_owned(),
                ))
            }
        }
    }))
}

/// The error a host reports for a failed host function: `code` 5007 (a result it could not encode) or anything
/// else (an exception: 5002), with `message`.
pub fn host_error(code: u32, message: String) -> Error {
    if code == ErrorCode::TypeError.as_u16() as u32 {
        Error::Type(message)
    } else {
        Error::Call(message)
    }
}
