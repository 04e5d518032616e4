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
    /// Set by the ticker thread while it parks (or is about to): only then does a timed call unpark it.
    parked: AtomicBool,
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
            parked: AtomicBool::new(false),
            engines: Mutex::new(Vec::new()),
        };
        Self {
            shared: Arc::new(shared),
            thread: OnceLock::new(),
        }
    }

    /// Number of epoch ticks a timeout spans (at least one).
    pub(crate) fn ticks_for(&self, timeout: Duration) -> u64 {
        // In u64 nanoseconds (584 years): a u128 division is a libcall (`__udivti3`), paid on every sliced `call`.
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        nanos(timeout).div_ceil(nanos(self.shared.tick).max(1)).max(1)
    }

    /// Start ticking `engine` too (idempotent per engine).
    pub(crate) fn watch(&self, engine: &Engine) {
        let mut engines = self.shared.engines.lock().unwrap_or_else(|p| p.into_inner());
        if !engines.iter().any(|e| Engine::same(e, engine)) {
            engines.push(engine.clone());
        }
    }

    /// Mark a timed call as running; the ticker runs until the returned guard drops. Cost: an atomic add and a
    /// reference count; an unpark (a futex wake) only when the ticker has parked.
    pub(crate) fn begin(&self) -> TimedCall {
        let shared = &self.shared;
        // SeqCst pairs with the ticker's: it publishes `parked` and then re-reads `active` before parking, so
        // either it sees this increment and stays awake, or this load sees its flag and unparks it.
        shared.active.fetch_add(1, Ordering::SeqCst);
        match self.thread.get() {
            Some(thread) => {
                if shared.parked.load(Ordering::SeqCst) {
                    thread.unpark();
                }
            }
            None => self.thread.get_or_init(|| spawn(shared.clone())).unpark(),
        }
        TimedCall { shared: shared.clone() }
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
                    // Publish the flag, then look at `active` once more (see `EpochTicker::begin`): a call that
                    // began meanwhile either is seen here or sees the flag and unparks us.
                    shared.parked.store(true, Ordering::SeqCst);
                    if shared.active.load(Ordering::SeqCst) == 0 && !shared.shutdown.load(Ordering::Acquire) {
                        thread::park();
                    }
                    shared.parked.store(false, Ordering::SeqCst);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
        let by = Instant::now() + limit;
        while !done() {
            assert!(Instant::now() < by, "{what}");
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_timed_call_after_the_ticker_parked_wakes_it() {
        let ticker = EpochTicker::new(Duration::from_millis(1));
        ticker.watch(&Engine::default());
        drop(ticker.begin());
        // Past the linger time the ticker parks (`parked` is set just before it does)...
        let parked = || ticker.shared.parked.load(Ordering::SeqCst);
        wait_until("the ticker never parked", LINGER * 20, parked);
        // ...and the next timed call wakes it (the flag clears once `park` returns).
        let call = ticker.begin();
        wait_until(
            "a timed call did not wake the parked ticker",
            Duration::from_secs(5),
            || !parked(),
        );
        drop(call);
    }
}
