//! A host's functions on one thread, called in place: the [`HostBridge`] a host installs on its thread (the C
//! ABI's `ext_wasm_set_host_callback`, the deno_core extension's `op_wasm_set_host_callback`), through which
//! guests call the host's functions by number without leaving the call that runs them.
//!
//! Two kinds of imports go through it:
//! - [`crate::HostFunc::bridged_sync`] ones (`syncImports`): synchronous, run on the thread's stack; the instance
//!   never runs on a fiber.
//! - [`crate::HostFunc::bridged`] ones (the TypeScript hosts' JavaScript imports by default): the guest runs on
//!   a fiber (or, for a caller that waits on the bridge's thread, without one, and then a later answer fails
//!   the call with 5007); the bridge is called on the thread's own stack below the poll (`crate::host_stack`)
//!   and answers [`Answer::Now`] (a plain result: the guest continues at once, no suspension) or
//!   [`Answer::Later`] (it returned a Promise: the guest suspends, and the host answers through the call
//!   protocol, see [`crate::HostRequest::started`]).

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::ValRaw;

use crate::error::{Error, ErrorCode, Result};
use crate::value::{ValType, Value};
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

/// A host's functions on one thread, numbered by the host, which a guest calls in place: made of a closure over
/// [`Value`]s ([`HostBridge::new`]) or over a host's value frame ([`frame_bridge`], what the C ABI and the
/// deno_core extension install). Called inside the guest's call, on the thread that called the instance; it may
/// use the instance by handle meanwhile (see [`crate::HostFunc::reentrant`]). Cheap to clone (an `Rc`).
#[derive(Clone)]
pub struct HostBridge(Rc<Bridge>);

enum Bridge {
    /// A closure over values, with the argument and result vectors it reuses (taken out while it runs: a
    /// nested call through the same bridge gets vectors of its own).
    Values {
        run: Box<ValuesFn>,
        spare: RefCell<(Vec<Value>, Vec<Value>)>,
    },
    /// A host's frame and callback (see [`frame_bridge`]).
    Frame {
        frame: *mut u8,
        len: usize,
        call: Box<dyn Fn(u32, u32) -> i32>,
    },
}

type ValuesFn = dyn Fn(u32, bool, &[Value], &mut Vec<Value>) -> Result<Answer>;

impl HostBridge {
    /// A bridge over values: `bridge(index, may_answer_later, args, out)` runs function `index` with `args`
    /// (typed by the import's signature) and pushes its results (converted by the import's result types
    /// afterwards, as any host function's, 5007 when they do not fit), or answers [`Answer::Later`] when
    /// `may_answer_later`. An `Err` traps the guest with its message. Cost: the closure, plus the conversion of
    /// each argument and result to a [`Value`] and back (a frame bridge's values skip that step).
    pub fn new(bridge: impl Fn(u32, bool, &[Value], &mut Vec<Value>) -> Result<Answer> + 'static) -> Self {
        Self(Rc::new(Bridge::Values {
            run: Box::new(bridge),
            spare: RefCell::default(),
        }))
    }

    /// Run function `index` of type `params` → `results` with its arguments in `raw` (wasmtime's slots of a host
    /// call, the first `params.len()` initialized with them), writing its results there by their types when it
    /// answers now (5007 when they do not fit). A frame bridge moves the slots to and from its frame directly.
    ///
    /// The error is boxed so that the answer comes back in registers: a 32-byte result, written by the callee
    /// and read back at once, stalled store forwarding (a fifth of a host call's time in a profile).
    ///
    /// # Safety
    /// The first `params.len()` entries of `raw` hold values of those types; `raw` has room for `results`.
    pub(crate) unsafe fn call_raw(
        &self,
        index: u32,
        may_answer_later: bool,
        params: &[ValType],
        results: &[ValType],
        raw: &mut [MaybeUninit<ValRaw>],
    ) -> std::result::Result<Answer, Box<Error>> {
        let (frame, len, call) = match &*self.0 {
            Bridge::Frame { frame, len, call } => (frame, len, call),
            Bridge::Values { run, spare } => {
                let ask = |args: &[Value], out: &mut Vec<Value>| run(index, may_answer_later, args, out);
                return call_values(ask, spare, may_answer_later, params, results, raw).map_err(Box::new);
            }
        };
        // SAFETY: the frame is valid for `len` bytes while the bridge is installed (`frame_bridge`'s contract); the
        // slice is last used before `call` runs (the only other writer) and made again after it returns. The first
        // `params.len()` slots of `raw` are initialized (this function's contract).
        let (slots, args) = unsafe {
            let args = std::slice::from_raw_parts(raw.as_ptr() as *const ValRaw, params.len());
            (std::slice::from_raw_parts_mut(*frame, *len), args)
        };
        let nargs = value_frame::encode_raw(slots, params, args)?;
        let (n, count) = frame_call(*frame, call, index, may_answer_later, nargs);
        let answered = answer_of(*frame, *len, n, may_answer_later)?;
        if answered == Answer::Now {
            crate::host_func::check_result_count(count as usize, results)?;
            // SAFETY: as above; `call` has returned.
            let slots = unsafe { std::slice::from_raw_parts(*frame as *const u8, *len) };
            value_frame::decode_raw_with(slots, results, |i, v| {
                raw[i].write(v);
            })
            .map_err(as_result_error)?;
        }
        Ok(answered)
    }
}

/// [`HostBridge::call_raw`] for a bridge over values: the arguments converted to values for `ask`, in the
/// bridge's `spare` vectors, and its results back by their types.
#[inline(never)]
fn call_values(
    ask: impl FnOnce(&[Value], &mut Vec<Value>) -> Result<Answer>,
    spare: &RefCell<(Vec<Value>, Vec<Value>)>,
    may_answer_later: bool,
    params: &[ValType],
    results: &[ValType],
    raw: &mut [MaybeUninit<ValRaw>],
) -> Result<Answer> {
    let (mut args, mut out) = spare.take();
    args.clear();
    out.clear();
    for (ty, r) in params.iter().zip(raw.iter()) {
        // SAFETY: the first `params.len()` slots are initialized (`call_raw`'s contract).
        args.push(Value::from_raw(unsafe { r.assume_init_ref() }, *ty));
    }
    let answered = ask(&args, &mut out);
    let written = match answered {
        Ok(Answer::Now) => crate::host_func::write_results(&out, results, raw).map(|()| Answer::Now),
        Ok(Answer::Later) if !may_answer_later => Err(later_refused()),
        other => other,
    };
    spare.replace((args, out));
    written
}

/// Call a frame bridge's host: `index` (with [`MAY_ANSWER_LATER`] when it may) and `nargs` in the header of
/// `frame` (of `len` bytes, valid while the bridge is installed), then `call`; its answer, twice (as the answer
/// and as a count). Given the pointer, not a slice: `call` writes the frame while this runs.
#[inline(always)]
fn frame_call(frame: *mut u8, call: &dyn Fn(u32, u32) -> i32, index: u32, later: bool, nargs: u32) -> (i32, u32) {
    let index = index | if later { MAY_ANSWER_LATER } else { 0 };
    // SAFETY: the header is within the frame (`frame_bridge` refuses one shorter than a header and a slot), and
    // nothing else writes it until `call`.
    unsafe {
        frame.add(CALL_INDEX_AT).cast::<[u8; 4]>().write(index.to_le_bytes());
        frame.add(CALL_NARGS_AT).cast::<[u8; 4]>().write(nargs.to_le_bytes());
    }
    let answer = call(index, nargs);
    (answer, answer as u32)
}

/// What a frame host's answer `n` means: results now (`n ≥ 0`), later, or its failure, read from the frame.
#[inline(always)]
fn answer_of(frame: *mut u8, len: usize, n: i32, may_answer_later: bool) -> Result<Answer> {
    if n >= 0 {
        return Ok(Answer::Now);
    }
    failed_answer(frame, len, n, may_answer_later)
}

/// [`answer_of`] for a negative answer: later, or the host's failure with its message from the frame.
#[inline(never)]
fn failed_answer(frame: *mut u8, len: usize, n: i32, may_answer_later: bool) -> Result<Answer> {
    if n == LATER && may_answer_later {
        return Ok(Answer::Later);
    }
    if n == LATER {
        return Err(later_refused());
    }
    // SAFETY: valid for `len` bytes while the bridge is installed; the host's call has returned.
    let slots = unsafe { std::slice::from_raw_parts(frame as *const u8, len) };
    let said = u32::from_le_bytes([slots[0], slots[1], slots[2], slots[3]]) as usize;
    let text = &slots[OUT_HEADER..(OUT_HEADER + said).min(len)];
    Err(host_error(n.unsigned_abs(), String::from_utf8_lossy(text).into_owned()))
}

/// A host's answer of later where it had to answer at once.
fn later_refused() -> Error {
    Error::Type("the host answered later (a Promise) where a synchronous answer was required".into())
}

/// A frame's decoding error, about a result rather than an argument.
fn as_result_error(e: Error) -> Error {
    Error::Type(e.message().replace("argument", "result"))
}

thread_local! {
    static BRIDGE: RefCell<Option<HostBridge>> = const { RefCell::new(None) };
    /// This thread's number, for telling the thread whose bridge an instance's imports were given on.
    static THREAD: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

/// This thread's number (see [`call_bridge_raw`]).
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

/// Run function `index` through this thread's bridge over raw slots ([`HostBridge::call_raw`], synchronously),
/// refusing (5002) a thread other than `home`, the one the instance was created on: another thread's bridge
/// numbers its functions apart (a Deno worker has its own).
///
/// The error boxed, as [`HostBridge::call_raw`]'s.
///
/// # Safety
/// As [`HostBridge::call_raw`]'s.
pub(crate) unsafe fn call_bridge_raw(
    home: u64,
    index: u32,
    params: &[ValType],
    results: &[ValType],
    raw: &mut [MaybeUninit<ValRaw>],
) -> std::result::Result<(), Box<Error>> {
    if this_thread() != home {
        return Err(Box::new(Error::Call(
            "an instance with `syncImports` can only be called on the thread (Deno worker) that created it".into(),
        )));
    }
    let bridge = BRIDGE.with_borrow(|b| b.clone()).ok_or_else(|| {
        Box::new(Error::Call(
            "no host bridge on this thread: an instance with `syncImports` must be called from the thread that \
             runs its host functions"
                .into(),
        ))
    })?;
    // SAFETY: forwarded contract.
    unsafe { bridge.call_raw(index, false, params, results, raw) }.map(|_| ())
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
    Ok(HostBridge(Rc::new(Bridge::Frame {
        frame,
        len,
        call: Box::new(call),
    })))
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
