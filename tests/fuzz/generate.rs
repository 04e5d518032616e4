//! What the fuzzer feeds both engines: modules from `wasm-smith` (numeric types only, every item exported,
//! loops bounded by an injected fuel global, NaNs canonicalized by the generated code), the host module they
//! may import, and call arguments drawn from the edge values where engines tend to differ.

use arbitrary::Unstructured;
use wasm_smith::{Config, Module};

/// A seeded generator (splitmix64): one seed reproduces one module and all of its calls.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// The functions a generated module may import, from module `host`; both engines get the same Rust bodies
/// (`crate::host`). `check` fails (a host error: the guest traps) for negative arguments; `pair` returns two
/// values; `log` folds its arguments into a per-instance digest the fuzzer compares after every call.
pub const HOST_MODULE: &str = r#"(module
  (import "host" "add" (func (param i32 i32) (result i32)))
  (import "host" "check" (func (param i64) (result i64)))
  (import "host" "mix" (func (param f64 f32) (result f64)))
  (import "host" "pair" (func (param i32) (result i64 f32)))
  (import "host" "log" (func (param i32 f64))))"#;

/// One generated module's bytes.
pub fn module(seed: u64) -> Option<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let len = 4096 + rng.below(8192);
    let data = rng.bytes(len);
    let mut u = Unstructured::new(&data);
    let mut module = Module::new(config(), &mut u).ok()?;
    // Bounded loops: a mutable global counts down at every loop head and function entry, then traps.
    module.ensure_termination(10_000).ok()?;
    Some(module.to_bytes())
}

fn config() -> Config {
    Config {
        available_imports: Some(wat::parse_str(HOST_MODULE).expect("the host module parses")),
        export_everything: true,
        canonicalize_nans: true,
        // What both engines implement and our API carries: numbers only.
        simd_enabled: false,
        relaxed_simd_enabled: false,
        reference_types_enabled: false,
        gc_enabled: false,
        exceptions_enabled: false,
        threads_enabled: false,
        tail_call_enabled: false,
        memory64_enabled: false,
        wide_arithmetic_enabled: false,
        compact_imports_enabled: false,
        custom_page_sizes_enabled: false,
        max_memories: 1,
        max_tables: 1,
        // Small and declared: both engines grow to the same maximum (the pool's cap is far above it).
        max_memory32_bytes: 4 * 65536,
        memory_max_size_required: true,
        max_table_elements: 64,
        table_max_size_required: true,
        max_funcs: 24,
        max_instructions: 400,
        max_imports: 6,
        max_globals: 12,
        max_data_segments: 8,
        max_element_segments: 8,
        ..Config::default()
    }
}

/// A call argument: bits of the parameter's type, mostly edge values.
#[derive(Debug, Clone, Copy)]
pub enum Arg {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
}

pub fn argument(rng: &mut Rng, ty: ext_wasm::ValType) -> Arg {
    use ext_wasm::ValType as T;
    let pick = |rng: &mut Rng, edges: &[u64]| {
        if rng.below(3) == 0 {
            rng.next()
        } else {
            edges[rng.below(edges.len())]
        }
    };
    match ty {
        T::I32 => Arg::I32(pick(rng, &[0, 1, 2, 0xffff_ffff, 0x8000_0000, 0x7fff_ffff, 31, 32, 65536]) as i32),
        T::I64 => Arg::I64(pick(rng, &[0, 1, u64::MAX, 1 << 63, (1 << 63) - 1, 63, 64, 1 << 32]) as i64),
        T::F32 => Arg::F32(pick(
            rng,
            &[
                0,
                0x8000_0000, // -0
                0x7fc0_0000, // canonical NaN
                0x7fa0_0001, // signaling NaN with a payload
                0xffc0_1234, // negative quiet NaN with a payload
                0x7f80_0000, // +inf
                0xff80_0000, // -inf
                0x0000_0001, // smallest subnormal
                0x007f_ffff, // largest subnormal
                0x7f7f_ffff, // f32::MAX
                0x4f00_0000, // 2^31 (conversion edge)
                0xcf00_0000, // -2^31
                f32::to_bits(0.5) as u64,
                f32::to_bits(-1.5) as u64,
            ],
        ) as u32),
        T::F64 => Arg::F64(pick(
            rng,
            &[
                0,
                1 << 63,
                0x7ff8_0000_0000_0000,
                0x7ff4_0000_0000_0001,
                0xfff8_0000_dead_beef,
                0x7ff0_0000_0000_0000,
                0xfff0_0000_0000_0000,
                1,
                0x000f_ffff_ffff_ffff,
                f64::MAX.to_bits(),
                f64::to_bits(2f64.powi(63)),
                f64::to_bits(-(2f64.powi(63))),
                f64::to_bits(4294967296.0),
                f64::to_bits(-0.75),
            ],
        )),
        T::V128 | T::Ref => unreachable!("the generator makes numeric types only"),
    }
}
