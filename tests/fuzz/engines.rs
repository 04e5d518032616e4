//! The two engines under comparison, behind one shape: ours through the public API (the Rust `Runtime`, and
//! the value frames of the wire layer the C ABI and the ops are transport over), and the `wasmi` interpreter.
//! Each runs one module instance; the fuzzer calls the same exports with the same arguments on both and
//! compares what comes back and what the instance holds afterwards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ext_wasm::{
    ErrorCode, ExportKind, HostFunc, Imports, InstanceId, InstanceOptions, ModuleId, Runtime, ValType, Value,
};

use crate::generate::Arg;

/// A result value, compared by bits except that any NaN equals any NaN (payloads are nondeterministic).
#[derive(Debug, Clone, Copy)]
pub enum Bits {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
}

impl PartialEq for Bits {
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Bits::I32(a), Bits::I32(b)) => a == b,
            (Bits::I64(a), Bits::I64(b)) => a == b,
            (Bits::F32(a), Bits::F32(b)) => a == b || (f32::from_bits(a).is_nan() && f32::from_bits(b).is_nan()),
            (Bits::F64(a), Bits::F64(b)) => a == b || (f64::from_bits(a).is_nan() && f64::from_bits(b).is_nan()),
            _ => false,
        }
    }
}

/// What a call (or an instantiation) did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Returned(Vec<Bits>),
    /// A trap, by kind (the same words for both engines), or `host` for a failing host function.
    Trapped(&'static str),
    /// The engines' stack depths differ by design: a call that exhausts either is not compared.
    StackExhausted,
}

/// The per-instance state host functions leave behind: `log`'s digest.
#[derive(Default, Clone)]
pub struct Digest(Arc<AtomicU64>);

impl Digest {
    fn fold(&self, x: i32, y: f64) {
        let old = self.0.load(Ordering::Relaxed);
        self.0
            .store(old.rotate_left(5) ^ (x as u32 as u64) ^ y.to_bits(), Ordering::Relaxed);
    }

    pub fn value(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The host functions' bodies, shared by both engines (see `generate::HOST_MODULE`).
mod host {
    pub fn add(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }
    pub fn check(x: i64) -> Result<i64, &'static str> {
        if x < 0 {
            Err("check: negative")
        } else {
            Ok(x ^ 0x5555)
        }
    }
    pub fn mix(a: f64, b: f32) -> f64 {
        a * 2.0 + b as f64
    }
    pub fn pair(x: i32) -> (i64, f32) {
        (x as i64 * 3, x as f32)
    }
}

fn trap_kind_wasmtime(trap: wasmtime::Trap) -> &'static str {
    use wasmtime::Trap as T;
    match trap {
        T::UnreachableCodeReached => "unreachable",
        T::MemoryOutOfBounds => "memory out of bounds",
        T::TableOutOfBounds => "table out of bounds",
        T::IndirectCallToNull => "indirect call to null",
        T::BadSignature => "bad signature",
        T::IntegerOverflow => "integer overflow",
        T::IntegerDivisionByZero => "integer divide by zero",
        T::BadConversionToInteger => "invalid conversion to integer",
        other => {
            eprintln!("unexpected wasmtime trap {other:?}");
            "other"
        }
    }
}

fn trap_kind_wasmi(code: wasmi::TrapCode) -> &'static str {
    use wasmi::TrapCode as T;
    match code {
        T::UnreachableCodeReached => "unreachable",
        T::MemoryOutOfBounds => "memory out of bounds",
        T::TableOutOfBounds => "table out of bounds",
        T::IndirectCallToNull => "indirect call to null",
        T::BadSignature => "bad signature",
        T::IntegerOverflow => "integer overflow",
        T::IntegerDivisionByZero => "integer divide by zero",
        T::BadConversionToInteger => "invalid conversion to integer",
        other => {
            eprintln!("unexpected wasmi trap {other:?}");
            "other"
        }
    }
}

// ---- ours ----

/// What a module exports that the fuzzer compares.
#[derive(Default)]
pub struct Exports {
    /// Functions: name, parameter and result types.
    pub funcs: Vec<(String, Vec<ValType>, Vec<ValType>)>,
    pub memories: Vec<String>,
    pub globals: Vec<String>,
}

/// One instance through our public API.
pub struct Ours<'a> {
    rt: &'a Runtime,
    module: ModuleId,
    pub instance: Option<InstanceId>,
    pub digest: Digest,
}

impl<'a> Ours<'a> {
    /// Compile: `Err` with the error's code when the runtime refuses the bytes.
    pub fn compile(rt: &'a Runtime, bytes: &[u8]) -> Result<Self, ErrorCode> {
        let module = rt.compile(bytes).map_err(|e| e.code())?;
        Ok(Ours {
            rt,
            module,
            instance: None,
            digest: Digest::default(),
        })
    }

    /// Which compiler made the code its instances get.
    pub fn tier(&self) -> ext_wasm::Tier {
        self.rt.module_tier(self.module).expect("a live module")
    }

    /// The module's function exports, and its memories and globals, by name.
    pub fn exports(&self) -> Exports {
        let mut exports = Exports::default();
        for e in self.rt.module_exports(self.module).expect("a live module") {
            match e.kind {
                ExportKind::Func => exports.funcs.push((e.name, e.params, e.results)),
                ExportKind::Memory => exports.memories.push(e.name),
                ExportKind::Global => exports.globals.push(e.name),
                _ => {}
            }
        }
        exports
    }

    pub fn instantiate(&mut self) -> Outcome {
        let mut imports = Imports::new();
        let host = |name: &str, f: HostFunc| (String::from("host"), name.to_string(), f);
        let digest = self.digest.clone();
        for (m, n, f) in [
            host(
                "add",
                HostFunc::wrap(|_: &mut ext_wasm::HostCall, a: i32, b: i32| Ok(host::add(a, b))),
            ),
            host(
                "check",
                HostFunc::wrap(|_: &mut ext_wasm::HostCall, x: i64| {
                    host::check(x).map_err(|e| ext_wasm::Error::Call(e.into()))
                }),
            ),
            host(
                "mix",
                HostFunc::wrap(|_: &mut ext_wasm::HostCall, a: f64, b: f32| Ok(host::mix(a, b))),
            ),
            host(
                "pair",
                HostFunc::new(|_, args, out| {
                    let Value::I32(x) = args[0] else { unreachable!() };
                    let (a, b) = host::pair(x);
                    out.extend([Value::I64(a), Value::F32(b)]);
                    Ok(())
                }),
            ),
            host(
                "log",
                HostFunc::wrap(move |_: &mut ext_wasm::HostCall, x: i32, y: f64| {
                    digest.fold(x, y);
                    Ok(())
                }),
            ),
        ] {
            imports.define(m, n, f);
        }
        let options = InstanceOptions {
            imports,
            ..Default::default()
        };
        match self.rt.instantiate(self.module, &options) {
            Ok(id) => {
                self.instance = Some(id);
                Outcome::Returned(Vec::new())
            }
            Err(e) if e.to_string().contains("call stack exhausted") => Outcome::StackExhausted,
            // The start function trapped or a segment did not fit: compared as "failed" (our 5001 message
            // carries the trap's text, not a code to match on).
            Err(e) if e.code() == ErrorCode::InstantiateError => Outcome::Trapped("instantiate"),
            Err(e) => panic!("instantiate: {e}"),
        }
    }

    /// Call through `Runtime::call` (typed `Value`s) or, with `frames`, through the wire layer's value frames.
    pub fn call(&self, name: &str, args: &[Arg], results: &[ValType], frames: bool) -> Outcome {
        let id = self.instance.expect("instantiated");
        if frames {
            return self.call_frame(id, name, args, results);
        }
        let values: Vec<Value> = args
            .iter()
            .map(|a| match *a {
                Arg::I32(v) => Value::I32(v),
                Arg::I64(v) => Value::I64(v),
                Arg::F32(v) => Value::F32(f32::from_bits(v)),
                Arg::F64(v) => Value::F64(f64::from_bits(v)),
            })
            .collect();
        match self.rt.call(id, name, &values) {
            Ok(out) => Outcome::Returned(
                out.iter()
                    .map(|v| match *v {
                        Value::I32(v) => Bits::I32(v),
                        Value::I64(v) => Bits::I64(v),
                        Value::F32(v) => Bits::F32(v.to_bits()),
                        Value::F64(v) => Bits::F64(v.to_bits()),
                        other => panic!("a result is typed, got {other:?}"),
                    })
                    .collect(),
            ),
            Err(e) => classify(&e),
        }
    }

    fn call_frame(&self, id: InstanceId, name: &str, args: &[Arg], results: &[ValType]) -> Outcome {
        const HEADER: usize = 32;
        let slots = args.len().max(results.len()).max(1);
        let mut frame = vec![0u8; HEADER + 16 * slots];
        for (i, a) in args.iter().enumerate() {
            let slot = &mut frame[HEADER + 16 * i..HEADER + 16 * (i + 1)];
            let (tag, payload) = match *a {
                Arg::I32(v) => (1, v as u32 as u64),
                Arg::I64(v) => (2, v as u64),
                Arg::F32(v) => (3, v as u64),
                Arg::F64(v) => (4, v),
            };
            slot[0] = tag;
            slot[8..16].copy_from_slice(&payload.to_le_bytes());
        }
        match ext_wasm::wire::call_frame(self.rt, id.0 as f64, name, &mut frame, args.len() as u32) {
            Ok(n) => {
                assert_eq!(n as usize, results.len(), "result count of `{name}`");
                Outcome::Returned(
                    (0..n as usize)
                        .map(|i| {
                            let slot = &frame[HEADER + 16 * i..HEADER + 16 * (i + 1)];
                            let payload = u64::from_le_bytes(slot[8..16].try_into().unwrap());
                            match slot[0] {
                                1 => Bits::I32(payload as u32 as i32),
                                2 => Bits::I64(payload as i64),
                                3 => Bits::F32(payload as u32),
                                4 => Bits::F64(payload),
                                tag => panic!("result tag {tag}"),
                            }
                        })
                        .collect(),
                )
            }
            Err(e) => classify(&e),
        }
    }

    pub fn memory(&self, name: &str) -> Vec<u8> {
        let id = self.instance.expect("instantiated");
        let len = self.rt.memory_byte_len(id, Some(name)).expect("an exported memory");
        let mut bytes = vec![0; len as usize];
        self.rt.read_memory(id, Some(name), 0, &mut bytes).expect("in bounds");
        bytes
    }

    pub fn global(&self, name: &str) -> Bits {
        match self
            .rt
            .get_global(self.instance.expect("instantiated"), name)
            .expect("an exported global")
        {
            Value::I32(v) => Bits::I32(v),
            Value::I64(v) => Bits::I64(v),
            Value::F32(v) => Bits::F32(v.to_bits()),
            Value::F64(v) => Bits::F64(v.to_bits()),
            other => panic!("a global is typed, got {other:?}"),
        }
    }
}

impl Drop for Ours<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.instance {
            self.rt.drop_instance(id).expect("a live instance drops");
        }
        self.rt.drop_module(self.module).expect("a live module drops");
    }
}

/// Our error as an outcome; anything but a trap (or a failing host function) is a bug the fuzzer reports.
fn classify(e: &ext_wasm::Error) -> Outcome {
    match e.trap() {
        Some(wasmtime::Trap::StackOverflow) => Outcome::StackExhausted,
        Some(trap) => Outcome::Trapped(trap_kind_wasmtime(trap)),
        None if e.to_string().contains("check: negative") => Outcome::Trapped("host"),
        None => panic!("not a trap: {e}"),
    }
}

// ---- wasmi ----

/// The same module in the `wasmi` interpreter.
pub struct Reference {
    store: wasmi::Store<()>,
    module: wasmi::Module,
    instance: Option<wasmi::Instance>,
    pub digest: Digest,
}

impl Reference {
    pub fn compile(bytes: &[u8]) -> Result<Self, String> {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, bytes).map_err(|e| e.to_string())?;
        Ok(Reference {
            store: wasmi::Store::new(&engine, ()),
            module,
            instance: None,
            digest: Digest::default(),
        })
    }

    pub fn instantiate(&mut self) -> Outcome {
        let mut linker = wasmi::Linker::<()>::new(self.store.engine());
        let digest = self.digest.clone();
        linker.func_wrap("host", "add", host::add).unwrap();
        linker
            .func_wrap("host", "check", |x: i64| host::check(x).map_err(wasmi::Error::new))
            .unwrap();
        linker.func_wrap("host", "mix", host::mix).unwrap();
        linker.func_wrap("host", "pair", host::pair).unwrap();
        linker
            .func_wrap("host", "log", move |x: i32, y: f64| digest.fold(x, y))
            .unwrap();
        match linker.instantiate_and_start(&mut self.store, &self.module) {
            Ok(instance) => {
                self.instance = Some(instance);
                Outcome::Returned(Vec::new())
            }
            Err(e) if e.as_trap_code() == Some(wasmi::TrapCode::StackOverflow) => Outcome::StackExhausted,
            Err(_) => Outcome::Trapped("instantiate"),
        }
    }

    pub fn call(&mut self, name: &str, args: &[Arg]) -> Outcome {
        let func = self
            .instance
            .unwrap()
            .get_func(&self.store, name)
            .expect("an exported function");
        let ty = func.ty(&self.store);
        let inputs: Vec<wasmi::Val> = args
            .iter()
            .map(|a| match *a {
                Arg::I32(v) => wasmi::Val::I32(v),
                Arg::I64(v) => wasmi::Val::I64(v),
                Arg::F32(v) => wasmi::Val::F32(wasmi::F32::from_bits(v)),
                Arg::F64(v) => wasmi::Val::F64(wasmi::F64::from_bits(v)),
            })
            .collect();
        let mut outputs: Vec<wasmi::Val> = ty.results().iter().map(|t| wasmi::Val::default_for_ty(*t)).collect();
        match func.call(&mut self.store, &inputs, &mut outputs) {
            Ok(()) => Outcome::Returned(outputs.iter().map(bits).collect()),
            Err(e) => classify_wasmi(&e),
        }
    }

    pub fn memory(&self, name: &str) -> Vec<u8> {
        let memory = self
            .instance
            .unwrap()
            .get_memory(&self.store, name)
            .expect("an exported memory");
        memory.data(&self.store).to_vec()
    }

    pub fn global(&self, name: &str) -> Bits {
        let global = self
            .instance
            .unwrap()
            .get_global(&self.store, name)
            .expect("an exported global");
        bits(&global.get(&self.store))
    }
}

fn bits(v: &wasmi::Val) -> Bits {
    match v {
        wasmi::Val::I32(v) => Bits::I32(*v),
        wasmi::Val::I64(v) => Bits::I64(*v),
        wasmi::Val::F32(v) => Bits::F32(v.to_bits()),
        wasmi::Val::F64(v) => Bits::F64(v.to_bits()),
        other => panic!("numeric types only, got {other:?}"),
    }
}

fn classify_wasmi(e: &wasmi::Error) -> Outcome {
    match e.as_trap_code() {
        Some(wasmi::TrapCode::StackOverflow) => Outcome::StackExhausted,
        Some(code) => Outcome::Trapped(trap_kind_wasmi(code)),
        None if e.to_string().contains("check: negative") => Outcome::Trapped("host"),
        None => panic!("wasmi: not a trap: {e}"),
    }
}
