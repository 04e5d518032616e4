//! The wall-clock behind per-call timeouts and time slices: one thread per runtime that advances the epoch of
//! every epoch-instrumented engine, started on first use, ticking while a timed or sliced call runs and for
//! [`LINGER`] after the last one (so a stream of short `call`s does not pay a futex wake each), parked after.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use wasmtime::Engine;

struct Shared {
    tick: Duration,
    active: AtomicUsize,
    shutdown: AtomicBool,
    engines: Mutex<Vec<Engine>>,
}

/// Advances engine epochs every `tick` while at least one [`TimedCall`] is alive.
pub(crate) struct EpochTicker {
    shared: Arc<Shared>,
    thread: OnceLock<Thread>,
}

/// How long the ticker keeps ticking after the last timed call ends before it parks.
pub(crate) const LINGER: Duration = Duration::from_millis(100);

/// Keeps the ticker running for the duration of one timed call. Owns its share of the ticker, so it can travel
/// with a call that is suspended and finished on another thread.
pub(crate) struct TimedCall {
    shared: Arc<Shared>,
}

impl EpochTicker {
    pub(crate) fn new(tick: Duration) -> Self {
        let shared = Shared {
            tick,
            active: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            engines: Mutex::new(Vec::new()),
        };
        Self {
            shared: Arc::new(shared),
            thread: OnceLock::new(),
        }
    }

    /// Number of epoch ticks a timeout spans (at least one).
    pub(crate) fn ticks_for(&self, timeout: Duration) -> u64 {
        let tick = self.shared.tick.as_nanos().max(1);
        (timeout.as_nanos().div_ceil(tick) as u64).max(1)
    }

    /// Start ticking `engine` too (idempotent per engine).
    pub(crate) fn watch(&self, engine: &Engine) {
        let mut engines = self.shared.engines.lock().unwrap_or_else(|p| p.into_inner());
        if !engines.iter().any(|e| Engine::same(e, engine)) {
            engines.push(engine.clone());
        }
    }

    /// Mark a timed call as running; the ticker runs until the returned guard drops. Cost: an atomic add, plus
    /// an unpark (a futex wake only when the ticker had parked).
    pub(crate) fn begin(&self) -> TimedCall {
        self.shared.active.fetch_add(1, Ordering::AcqRel);
        self.thread.get_or_init(|| spawn(self.shared.clone())).unpark();
        TimedCall {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for TimedCall {
    fn drop(&mut self) {
        self.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}

fn spawn(shared: Arc<Shared>) -> Thread {
    thread::Builder::new()
        .name("ext_wasm-epoch".into())
        .spawn(move || {
            let mut last_active = Instant::now();
            while !shared.shutdown.load(Ordering::Acquire) {
                if shared.active.load(Ordering::Acquire) != 0 {
                    last_active = Instant::now();
                } else if last_active.elapsed() >= LINGER {
                    thread::park();
                    last_active = Instant::now();
                    continue;
                }
                thread::sleep(shared.tick);
                for engine in shared.engines.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                    engine.increment_epoch();
                }
            }
        })
        .expect("spawning the epoch ticker thread")
        .thread()
        .clone()
}
