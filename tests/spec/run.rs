//! Run a script's [`Command`]s through the public Rust API: `Runtime::compile`, `instantiate` with the
//! `spectest` instance and every registered instance as import namespaces (so all of a script's instances
//! share one store, as the linking rules require), `call`, `get_global`. Expected codes: invalid or
//! malformed → 5000, unlinkable or trapping start → 5001, traps → 5002.

use std::collections::HashMap;

use ext_wasm::{ErrorCode, HostFunc, Imports, InstanceId, InstanceOptions, Runtime, Value};

use crate::script::{Action, Bytes, Command, Val};

/// The `spectest` module every script may import from (shared with the TypeScript runner): `print*` are host
/// functions, the rest are the values the spec's own harness gives.
pub const SPECTEST: &str = include_str!("spectest.wat");

/// What running one script found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub passed: usize,
    /// (line, what went wrong)
    pub failed: Vec<(usize, String)>,
    /// (line, why not run)
    pub skipped: Vec<(usize, String)>,
}

/// One script's state: its instances by name, the registered ones, the latest.
struct Script<'a> {
    rt: &'a Runtime,
    spectest: InstanceId,
    named: HashMap<String, InstanceId>,
    registered: Vec<(String, InstanceId)>,
    latest: Option<InstanceId>,
    live: Vec<InstanceId>,
}

/// Run `commands` on `rt`; every instance made is dropped at the end.
pub fn run(rt: &Runtime, commands: &[Command]) -> Outcome {
    let spectest = spectest(rt);
    let mut script = Script {
        rt,
        spectest,
        named: HashMap::new(),
        registered: Vec::new(),
        latest: None,
        live: vec![spectest],
    };
    let mut outcome = Outcome::default();
    for command in commands {
        match script.step(command) {
            Step::Passed => outcome.passed += 1,
            Step::Failed(line, why) => outcome.failed.push((line, why)),
            Step::Skipped(line, why) => outcome.skipped.push((line, why)),
            Step::Setup => {}
        }
    }
    for id in script.live {
        let _ = rt.drop_instance(id);
    }
    outcome
}

fn spectest(rt: &Runtime) -> InstanceId {
    let print = || HostFunc::new(|_, _, _| Ok(()));
    let mut imports = Imports::new();
    for name in [
        "print",
        "print_i32",
        "print_i64",
        "print_f32",
        "print_f64",
        "print_i32_f32",
        "print_f64_f64",
    ] {
        imports.define("host".into(), name.into(), print());
    }
    let module = rt.compile(SPECTEST.as_bytes()).expect("spectest compiles");
    let options = InstanceOptions {
        imports,
        ..Default::default()
    };
    rt.instantiate(module, &options).expect("spectest instantiates")
}

enum Step {
    Passed,
    Failed(usize, String),
    Skipped(usize, String),
    /// Not a check (register).
    Setup,
}

impl Script<'_> {
    fn step(&mut self, command: &Command) -> Step {
        let step = self.check(command);
        // A function whose signature has a reference or v128 type cannot be called through the API (5007)
        // whatever its arguments: the same reason as a skipped reference-typed argument.
        match step {
            Step::Failed(line, why) if why.contains("only i32, i64, f32 and f64 can cross this API") => {
                let reason = if why.contains("has a v128") {
                    crate::script::V128
                } else {
                    crate::script::REF
                };
                Step::Skipped(line, reason.to_string())
            }
            other => other,
        }
    }

    fn check(&mut self, command: &Command) -> Step {
        match command {
            Command::Module { line, name, wasm } => match self.instantiate(wasm) {
                Ok(id) => {
                    self.latest = Some(id);
                    if let Some(name) = name {
                        self.named.insert(name.clone(), id);
                    }
                    Step::Passed
                }
                Err(e) => Step::Failed(*line, format!("module: {e}")),
            },
            Command::Register { line, name, r#as } => match self.instance(name) {
                Some(id) => {
                    self.registered.push((r#as.clone(), id));
                    Step::Setup
                }
                None => Step::Failed(*line, format!("register {as_:?}: no such module", as_ = r#as)),
            },
            Command::Action { line, action } => match self.act(action) {
                Ok(_) => Step::Passed,
                Err(e) => Step::Failed(*line, format!("action `{}`: {e}", action.field)),
            },
            Command::AssertReturn { line, action, expected } => match self.act(action) {
                Ok(got) if matches(&got, expected) => Step::Passed,
                Ok(got) => Step::Failed(
                    *line,
                    format!("`{}` returned {got:?}, expected {expected:?}", action.field),
                ),
                Err(e) => Step::Failed(*line, format!("`{}`: {e}", action.field)),
            },
            Command::AssertTrap { line, action, text } => {
                self.expect_code(*line, self.act(action), ErrorCode::CallError, text)
            }
            Command::AssertExhaustion { line, action, text } => match self.act(action) {
                Err(e) if e.code() == ErrorCode::CallError && e.message().contains("call stack exhausted") => {
                    Step::Passed
                }
                other => Step::Failed(*line, format!("expected stack exhaustion ({text}), got {other:?}")),
            },
            Command::AssertUninstantiable { line, wasm, text } | Command::AssertUnlinkable { line, wasm, text } => {
                let result = self.instantiate(wasm);
                self.expect_code(*line, result, ErrorCode::InstantiateError, text)
            }
            Command::AssertInvalid { line, wasm, text } | Command::AssertMalformed { line, wasm, text } => {
                self.expect_code(*line, self.rt.compile(&wasm.bytes), ErrorCode::CompileError, text)
            }
            Command::Skip { line, reason } => Step::Skipped(*line, reason.clone()),
        }
    }

    fn expect_code<T: std::fmt::Debug>(
        &mut self,
        line: usize,
        result: ext_wasm::Result<T>,
        code: ErrorCode,
        text: &str,
    ) -> Step {
        match result {
            Err(e) if e.code() == code => Step::Passed,
            Err(e) => Step::Failed(line, format!("expected {code:?} ({text}), got {e}")),
            Ok(v) => {
                // A module that should not have instantiated did: drop it with the rest at the end.
                let got = format!("{v:?}");
                Step::Failed(line, format!("expected {code:?} ({text}), got success: {got}"))
            }
        }
    }

    /// Compile and instantiate with `spectest` and every registered instance as namespaces.
    fn instantiate(&mut self, wasm: &Bytes) -> ext_wasm::Result<InstanceId> {
        let module = self.rt.compile(&wasm.bytes)?;
        let mut imports = Imports::new().instance("spectest", self.spectest);
        for (name, id) in &self.registered {
            imports.define_instance(name.clone(), *id);
        }
        let options = InstanceOptions {
            imports,
            ..Default::default()
        };
        let result = self.rt.instantiate(module, &options);
        let _ = self.rt.drop_module(module);
        let id = result?;
        self.live.push(id);
        Ok(id)
    }

    fn instance(&self, name: &Option<String>) -> Option<InstanceId> {
        match name {
            Some(name) => self.named.get(name).copied(),
            None => self.latest,
        }
    }

    fn act(&self, action: &Action) -> ext_wasm::Result<Vec<Value>> {
        let Some(id) = self.instance(&action.module) else {
            return Err(ext_wasm::Error::Instantiate(format!("no module {:?}", action.module)));
        };
        match action.kind {
            "get" => self.rt.get_global(id, &action.field).map(|v| vec![v]),
            _ => {
                let args: Vec<Value> = action.args.iter().map(value).collect();
                self.rt.call(id, &action.field, &args)
            }
        }
    }
}

fn value(v: &Val) -> Value {
    let bits: u64 = v.value.parse().expect("numeric argument");
    match v.ty {
        "i32" => Value::I32(bits as u32 as i32),
        "i64" => Value::I64(bits as i64),
        "f32" => Value::F32(f32::from_bits(bits as u32)),
        _ => Value::F64(f64::from_bits(bits)),
    }
}

/// Results equal the expected ones: integers exactly, floats bit for bit or by NaN pattern.
fn matches(got: &[Value], expected: &[Val]) -> bool {
    got.len() == expected.len() && got.iter().zip(expected).all(|(g, e)| matches_one(g, e))
}

fn matches_one(got: &Value, expected: &Val) -> bool {
    let (bits, nan_bits, quiet, canonical) = match (got, expected.ty) {
        (Value::F32(f), "f32") => (u64::from(f.to_bits()), f.is_nan(), 1 << 22, 0x7fc0_0000),
        (Value::F64(f), "f64") => (f.to_bits(), f.is_nan(), 1 << 51, 0x7ff8_0000_0000_0000),
        (Value::I32(x), "i32") => return expected.value.parse::<u32>() == Ok(*x as u32),
        (Value::I64(x), "i64") => return expected.value.parse::<u64>() == Ok(*x as u64),
        _ => return false,
    };
    let sign = if expected.ty == "f32" { 1u64 << 31 } else { 1u64 << 63 };
    match expected.value.as_str() {
        "nan:canonical" => nan_bits && bits & !sign == canonical,
        "nan:arithmetic" => nan_bits && bits & quiet != 0,
        exact => exact.parse::<u64>() == Ok(bits),
    }
}
