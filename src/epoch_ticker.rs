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
    thread: OnceLock<Thread>,
}

/// Advances engine epochs every `tick` while at least one timed call runs ([`StoreTicker::begin`]).
pub(crate) struct EpochTicker {
    shared: Arc<Shared>,
}

/// How long the ticker keeps ticking after the last timed call ends before it parks.
pub(crate) const LINGER: Duration = Duration::from_millis(100);

/// The ticker as one store uses it: made at the store's first timed call ([`EpochTicker::for_store`]) and kept
/// with the store, so a call marks its start and end with one atomic add each and nothing else (no reference
/// count per call), wherever it finishes. A `begin` without its `end` (a call prepared but dropped before it
/// ran) is not counted twice: only the outermost of nested begins counts. (Re-entrant calls from host functions
/// go through wasmtime's `Caller` and do not come here.) A store dropped in the middle of a call (a panic
/// unwound through it) stops counting then.
pub(crate) struct StoreTicker {
    shared: Arc<Shared>,
    /// Timed calls of this store running now, nested ones included.
    depth: u32,
    /// The last span [`Self::ticks_for`] converted, and its ticks: a store's calls ask for the same one.
    last: (Duration, u64),
}

impl EpochTicker {
    pub(crate) fn new(tick: Duration) -> Self {
        let shared = Shared {
            tick,
            active: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            engines: Mutex::new(Vec::new()),
            thread: OnceLock::new(),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Start ticking `engine` (idempotent per engine) and hand out the ticker for the store that runs on it.
    /// Cost: a lock and a scan of the engines ticked; once per store.
    pub(crate) fn for_store(&self, engine: &Engine) -> StoreTicker {
        let mut engines = self.shared.engines.lock().unwrap_or_else(|p| p.into_inner());
        if !engines.iter().any(|e| Engine::same(e, engine)) {
            engines.push(engine.clone());
        }
        StoreTicker {
            shared: self.shared.clone(),
            depth: 0,
            last: (Duration::ZERO, 1),
        }
    }
}

impl StoreTicker {
    /// Mark a timed call of this store as running; the ticker runs until the matching [`Self::end`]. Cost: an
    /// atomic add for the outermost call; an unpark (a futex wake) only when the ticker has parked.
    pub(crate) fn begin(&mut self) {
        self.depth += 1;
        if self.depth > 1 {
            return;
        }
        let shared = &self.shared;
        // SeqCst pairs with the ticker's: it publishes `parked` and then re-reads `active` before parking, so
        // either it sees this increment and stays awake, or this load sees its flag and unparks it.
        shared.active.fetch_add(1, Ordering::SeqCst);
        match shared.thread.get() {
            Some(thread) => {
                if shared.parked.load(Ordering::SeqCst) {
                    thread.unpark();
                }
            }
            None => shared.thread.get_or_init(|| spawn(shared.clone())).unpark(),
        }
    }

    /// The end of a call [`Self::begin`] marked.
    pub(crate) fn end(&mut self) {
        match self.depth {
            0 => {}
            1 => {
                self.depth = 0;
                self.shared.active.fetch_sub(1, Ordering::AcqRel);
            }
            _ => self.depth -= 1,
        }
    }

    /// Number of epoch ticks a span covers (at least one).
    pub(crate) fn ticks_for(&mut self, span: Duration) -> u64 {
        if span != self.last.0 {
            // In u64 nanoseconds (584 years): a u128 division is a libcall (`__udivti3`).
            let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            self.last = (span, nanos(span).div_ceil(nanos(self.shared.tick).max(1)).max(1));
        }
        self.last.1
    }
}

impl Drop for StoreTicker {
    fn drop(&mut self) {
        if self.depth > 0 {
            self.depth = 1;
            self.end();
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        if let Some(t) = self.shared.thread.get() {
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
                    // Publish the flag, then look at `active` once more (see `StoreTicker::begin`): a call that
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
        let mut store = ticker.for_store(&Engine::default());
        store.begin();
        store.end();
        // Past the linger time the ticker parks (`parked` is set just before it does)...
        let parked = || ticker.shared.parked.load(Ordering::SeqCst);
        wait_until("the ticker never parked", LINGER * 20, parked);
        // ...and the next timed call wakes it (the flag clears once `park` returns).
        store.begin();
        wait_until(
            "a timed call did not wake the parked ticker",
            Duration::from_secs(5),
            || !parked(),
        );
        store.end();
    }

    #[test]
    fn nested_calls_count_once_and_a_store_dropped_mid_call_stops_counting() {
        let ticker = EpochTicker::new(Duration::from_millis(1));
        let active = || ticker.shared.active.load(Ordering::SeqCst);
        let mut store = ticker.for_store(&Engine::default());
        store.begin();
        store.begin();
        assert_eq!(active(), 1);
        store.end();
        assert_eq!(active(), 1, "the outer call still runs");
        store.end();
        assert_eq!(active(), 0);
        store.end();
        assert_eq!(active(), 0, "an unmatched end changes nothing");
        store.begin();
        store.begin();
        drop(store);
        assert_eq!(active(), 0);
    }
}
