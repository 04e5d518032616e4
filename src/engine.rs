//! Engine variants: one wasmtime `Engine` per interruption mode and code-generation tier, built lazily, each
//! with its own pool, linkers and cache fingerprint.
//!
//! Fuel metering and epoch checks are code-generation switches: they change the machine code of every
//! function and cost a few percent to ~15% in tight loops whether or not a given guest sets a limit. So a guest
//! that runs without limits gets code compiled without them, and only instances that ask for fuel or a timeout
//! use (and lazily compile) the instrumented variant.

use std::hash::Hasher;
use std::sync::{Arc, OnceLock};

use wasmtime::{Config, Engine, Linker, OptLevel, RegallocAlgorithm, Strategy};

use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::store_data::StoreData;

/// Which interruption checks compiled code carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interruption {
    /// Fuel metering (`Config::consume_fuel`).
    pub fuel: bool,
    /// Epoch deadline checks (`Config::epoch_interruption`), used for wall-clock timeouts.
    pub epoch: bool,
}

impl Interruption {
    pub(crate) const COUNT: usize = 4;

    /// What an instance created with default options runs: epoch checks (so an async call can be suspended at
    /// the end of its time slice), no fuel. This is the variant a compile builds up front.
    pub const DEFAULT: Self = Self {
        fuel: false,
        epoch: true,
    };

    pub(crate) fn index(self) -> usize {
        usize::from(self.fuel) | (usize::from(self.epoch) << 1)
    }

    /// The variant a [`Self::name`] names; anything else is 5007 listing the names.
    pub fn from_name(name: &str) -> Result<Self> {
        let (fuel, epoch) = match name {
            "plain" => (false, false),
            "fuel" => (true, false),
            "epoch" => (false, true),
            "fuel+epoch" => (true, true),
            _ => {
                return Err(Error::Type(format!(
                    "unknown variant `{name}` (plain, fuel, epoch, fuel+epoch)"
                )))
            }
        };
        Ok(Self { fuel, epoch })
    }

    /// Short name used in logs and the cache layout (`plain`, `fuel`, `epoch`, `fuel+epoch`).
    pub fn name(self) -> &'static str {
        match (self.fuel, self.epoch) {
            (false, false) => "plain",
            (true, false) => "fuel",
            (false, true) => "epoch",
            (true, true) => "fuel+epoch",
        }
    }
}

/// Which code generator compiled a module's code.
///
/// Winch (the baseline tier) compiles 3–7× faster than Cranelift and its code runs slower; a module first
/// compiled by Winch is compiled again by Cranelift in the background ([`crate::Tiering::Auto`]). A module
/// compiled by one engine cannot run in a store of the other, so each tier has its own engines and pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Optimizing compiler: the code every module ends up with.
    Cranelift,
    /// Baseline compiler: a single pass, fast to compile; what a never-seen module runs first.
    Winch,
}

impl Tier {
    pub(crate) const COUNT: usize = 2;

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// `"cranelift"` or `"winch"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cranelift => "cranelift",
            Self::Winch => "winch",
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One engine and everything bound to it.
pub(crate) struct EngineSlot {
    pub(crate) engine: Engine,
    pub(crate) interruption: Interruption,
    pub(crate) tier: Tier,
    /// Hex name of the cache directory for artifacts of this engine.
    pub(crate) fingerprint: String,
    /// Whether the pooling allocator is in use (false after a fallback or when disabled).
    pub(crate) pooled: bool,
    pub(crate) plain_linker: Linker<StoreData>,
    pub(crate) wasi_linker: Linker<StoreData>,
    /// Defines only the async-call entry trampoline ([`crate::instance::enter`]): created once here, each
    /// store takes it (the only definition) instead of making a new host function (a closure box and a type
    /// registration).
    pub(crate) entry_linker: Linker<StoreData>,
}

type Slot = OnceLock<std::result::Result<Arc<EngineSlot>, Error>>;

/// The lazily built engine variants of one runtime.
pub(crate) struct EngineSet {
    pool: PoolConfig,
    slots: [[Slot; Tier::COUNT]; Interruption::COUNT],
}

impl EngineSet {
    pub(crate) fn new(pool: PoolConfig) -> Self {
        Self {
            pool,
            slots: Default::default(),
        }
    }

    /// The engine for `interruption` and `tier`, building it on first use (a pool reservation: tens of
    /// microseconds).
    pub(crate) fn get(&self, interruption: Interruption, tier: Tier) -> Result<Arc<EngineSlot>> {
        self.slots[interruption.index()][tier.index()]
            .get_or_init(|| build_slot(&self.pool, interruption, tier).map(Arc::new))
            .clone()
    }
}

fn base_config(interruption: Interruption, tier: Tier) -> Config {
    let mut config = Config::new();
    config
        .strategy(match tier {
            Tier::Cranelift => Strategy::Cranelift,
            Tier::Winch => Strategy::Winch,
        })
        .cranelift_opt_level(match tier {
            Tier::Cranelift => OptLevel::Speed,
            // Under Winch, Cranelift still compiles the trampolines of every exported or table function (a C++
            // program's vtables: thousands); unoptimized they compile faster and cost a few ns per host call.
            Tier::Winch => OptLevel::None,
        })
        .cranelift_regalloc_algorithm(match tier {
            Tier::Cranelift => RegallocAlgorithm::Backtracking,
            Tier::Winch => RegallocAlgorithm::SinglePass,
        })
        .parallel_compilation(true)
        .consume_fuel(interruption.fuel)
        .epoch_interruption(interruption.epoch);
    config
}

fn build_slot(pool: &PoolConfig, interruption: Interruption, tier: Tier) -> Result<EngineSlot> {
    let _span = tracing::debug_span!("engine", variant = interruption.name(), tier = tier.name()).entered();
    if pool.enabled {
        let mut config = base_config(interruption, tier);
        pool.configure(&mut config);
        match Engine::new(&config) {
            Ok(engine) => return finish_slot(engine, interruption, tier, true),
            Err(e) => tracing::warn!(
                error = %format!("{e:#}"),
                "cannot reserve the instance pool ({} slots); falling back to on-demand allocation",
                pool.total_instances
            ),
        }
    }
    let mut config = base_config(interruption, tier);
    if pool.enabled {
        // We only get here when the address space is bounded: stay small.
        config
            .memory_reservation(pool.fallback_memory_reservation)
            .memory_guard_size(64 << 10);
    }
    let engine = Engine::new(&config).map_err(|e| Error::Instantiate(format!("cannot create engine: {e:#}")))?;
    finish_slot(engine, interruption, tier, false)
}

fn finish_slot(engine: Engine, interruption: Interruption, tier: Tier, pooled: bool) -> Result<EngineSlot> {
    let fingerprint = fingerprint(&engine, tier);
    let plain_linker = Linker::new(&engine);
    let mut wasi_linker = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut wasi_linker, |data: &mut StoreData| data.wasi_mut())
        .map_err(|e| Error::Wasi(format!("cannot link WASI: {e:#}")))?;
    let mut entry_linker = Linker::new(&engine);
    entry_linker
        .func_wrap(
            crate::instance::ENTRY_MODULE,
            crate::instance::ENTRY_NAME,
            crate::instance::enter,
        )
        .map_err(|e| Error::Instantiate(format!("cannot define the entry trampoline: {e:#}")))?;
    Ok(EngineSlot {
        engine,
        interruption,
        tier,
        fingerprint,
        pooled,
        plain_linker,
        wasi_linker,
        entry_linker,
    })
}

/// Names the cache directory of an engine: wasmtime's own compatibility hash (target, flags, tunables — which
/// include fuel, epochs, memory reservation and the Winch calling convention) plus this crate's version; Winch
/// directories end in `-winch` so the cache can say which tier an entry holds.
fn fingerprint(engine: &Engine, tier: Tier) -> String {
    struct Blake3Hasher(blake3::Hasher);
    impl Hasher for Blake3Hasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            0 // only the blake3 digest is read
        }
    }
    let mut h = Blake3Hasher(blake3::Hasher::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
    h.0.update(concat!("ext_wasm ", env!("CARGO_PKG_VERSION")).as_bytes());
    let hex = &h.0.finalize().to_hex()[..16];
    match tier {
        Tier::Cranelift => hex.to_string(),
        Tier::Winch => format!("{hex}{WINCH_SUFFIX}"),
    }
}

/// Suffix of the cache directories of Winch engines.
pub(crate) const WINCH_SUFFIX: &str = "-winch";
