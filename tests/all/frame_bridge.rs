//! A frame bridge (`wire::frame_bridge`, what the C ABI's `ext_wasm_set_host_callback` and the deno_core ops
//! install): a host call's arguments go from Wasmtime's slots straight into the frame, typed by the import's
//! parameters, with the call's index and count in the header; the results come back converted by the import's
//! result types. The same for each kind that goes through it: bridged imports under a waiting caller (no
//! fiber), bridged imports on a fiber, and `syncImports`.

use std::cell::RefCell;
use std::rc::Rc;

use ext_wasm::wire::{self, tag, Step, CALL_INDEX_AT, CALL_NARGS_AT, OUT_HEADER, SLOT};
use ext_wasm::{ErrorCode, Runtime};

use crate::*;

/// `run(a, b, c, d)` passes its four arguments to `host.mix` and returns what it answers.
const MIX: &str = r#"(module
  (import "host" "mix" (func $mix (param i32 i64 f32 f64) (result i32 f64)))
  (func (export "run") (param i32 i64 f32 f64) (result i32 f64)
    (call $mix (local.get 0) (local.get 1) (local.get 2) (local.get 3))))"#;

/// The options of each kind a frame bridge serves, and whether its caller waits (`callSync`).
const KINDS: [(&[u8], bool); 3] = [
    (
        br#"{"hostImports":[["host","mix",3]],"bridgedImports":true,"preemptible":false}"#,
        true,
    ),
    (
        br#"{"hostImports":[["host","mix",3]],"bridgedImports":true,"preemptible":false}"#,
        false,
    ),
    (br#"{"hostImports":[["host","mix",3]],"syncImports":true}"#, true),
];

/// What the host saw of one call: the header's index and count, and each argument slot's tag and payload.
#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    index: u32,
    nargs: u32,
    slots: Vec<(u8, u64)>,
}

/// Install a frame bridge whose host records each call and answers with `answer` (tag, payload) slots.
fn install(answer: Vec<(u8, u64)>) -> Rc<RefCell<Vec<Seen>>> {
    let frame: &'static mut [u8] = Box::leak(vec![0u8; OUT_HEADER + 8 * SLOT].into_boxed_slice());
    let at = frame.as_mut_ptr() as usize;
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    let host = move |_index: u32, _nargs: u32| -> i32 {
        // SAFETY: the leaked frame lives for the process; the core does not hold it while the host runs.
        let f = unsafe { std::slice::from_raw_parts_mut(at as *mut u8, OUT_HEADER + 8 * SLOT) };
        let word = |at: usize| u32::from_le_bytes(f[at..at + 4].try_into().unwrap());
        let (index, nargs) = (word(CALL_INDEX_AT), word(CALL_NARGS_AT));
        let slot = |i: usize| {
            let s = OUT_HEADER + i * SLOT;
            (f[s], u64::from_le_bytes(f[s + 8..s + 16].try_into().unwrap()))
        };
        let slots = (0..nargs as usize).map(slot).collect();
        sink.borrow_mut().push(Seen { index, nargs, slots });
        for (i, (t, payload)) in answer.iter().enumerate() {
            let s = OUT_HEADER + i * SLOT;
            f[s] = *t;
            f[s + 8..s + 16].copy_from_slice(&payload.to_le_bytes());
        }
        answer.len() as i32
    };
    // SAFETY: the frame is leaked (valid for the process) and written only inside `host`.
    let bridge = unsafe { wire::frame_bridge(frame.as_mut_ptr(), frame.len(), host) }.unwrap();
    wire::set_host_bridge(Some(bridge));
    seen
}

/// A frame holding `run`'s arguments: -7, 2^40, 1.5f32, -0.25.
fn arguments() -> Vec<u8> {
    let mut f = vec![0u8; OUT_HEADER + 4 * SLOT];
    let args = [
        (tag::I32, (-7i32) as u32 as u64),
        (tag::I64, 1u64 << 40),
        (tag::F32, u64::from(1.5f32.to_bits())),
        (tag::F64, (-0.25f64).to_bits()),
    ];
    for (i, (t, p)) in args.into_iter().enumerate() {
        f[OUT_HEADER + i * SLOT] = t;
        f[OUT_HEADER + i * SLOT + 8..OUT_HEADER + (i + 1) * SLOT].copy_from_slice(&p.to_le_bytes());
    }
    f
}

/// Call `run` on a fresh instance of each kind; each call's outcome, with the frame it left.
fn run_each_kind(rt: &Runtime) -> Vec<(ext_wasm::Result<Step>, Vec<u8>)> {
    let m = wire::compile(rt, MIX.as_bytes()).unwrap() as f64;
    let run = |(options, sync): (&[u8], bool)| {
        let i = wire::instantiate(rt, m, options, b"").unwrap() as f64;
        let mut f = arguments();
        (wire::call_start(rt, i, "run", &mut f, 4, sync), f)
    };
    KINDS.into_iter().map(run).collect()
}

fn number(x: f64) -> (u8, u64) {
    (tag::NUMBER, x.to_bits())
}

#[test]
fn a_frame_bridge_gets_each_argument_typed_and_the_index_and_count_in_the_header() {
    let rt = runtime();
    let seen = install(vec![number(42.0), number(2.5)]);
    for (outcome, f) in run_each_kind(&rt) {
        assert!(matches!(outcome, Ok(Step::Done(2))), "{outcome:?}");
        assert_eq!(f[OUT_HEADER], tag::I32);
        assert_eq!(slot_i32(&f, 0), 42);
        assert_eq!(f[OUT_HEADER + SLOT], tag::F64);
        let bits = u64::from_le_bytes(f[OUT_HEADER + SLOT + 8..OUT_HEADER + 2 * SLOT].try_into().unwrap());
        assert_eq!(f64::from_bits(bits), 2.5);
    }
    let args = vec![
        (tag::I32, 0xffff_fff9),
        (tag::I64, 1 << 40),
        (tag::F32, u64::from(1.5f32.to_bits())),
        (tag::F64, (-0.25f64).to_bits()),
    ];
    let bridged = Seen {
        index: 3 | wire::MAY_ANSWER_LATER,
        nargs: 4,
        slots: args.clone(),
    };
    let sync = Seen {
        index: 3,
        nargs: 4,
        slots: args,
    };
    assert_eq!(*seen.borrow(), [bridged.clone(), bridged, sync]);
    wire::set_host_bridge(None);
}

#[test]
fn a_result_that_does_not_fit_its_type_fails_the_call_with_5007_in_the_message() {
    let rt = runtime();
    install(vec![number(1.5), number(0.0)]);
    for (outcome, _) in run_each_kind(&rt) {
        let err = outcome.unwrap_err();
        assert_eq!(err.code(), ErrorCode::CallError);
        assert!(
            err.to_string()
                .contains("host function host::mix failed: [5007] type error: result 0: expected i32, got number 1.5"),
            "{err}"
        );
    }
    wire::set_host_bridge(None);
}

#[test]
fn too_few_results_fail_the_call_naming_both_counts() {
    let rt = runtime();
    install(vec![number(1.0)]);
    for (outcome, _) in run_each_kind(&rt) {
        let err = outcome.unwrap_err();
        assert!(
            err.to_string()
                .contains("returned 1 value(s), the import's type has 2 result(s)"),
            "{err}"
        );
    }
    wire::set_host_bridge(None);
}
