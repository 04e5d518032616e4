//! Tier-up: Cranelift recompiles modules that run Winch code, one at a time, on one low-priority thread.
//!
//! The queue is bounded ([`QUEUE_CAP`]): a module that finds it full keeps its baseline code and is queued
//! again by its next instantiate. The worker starts with the first job and ends when its runtime is dropped
//! (the queue is closed and emptied then). A compile already running cannot be interrupted — Cranelift has no
//! cancellation — so it finishes on the detached worker and its result is discarded: dropping a runtime never
//! waits for a tier-up, and a process that exits mid-compile leaves at most a temp file the cache sweeps
//! (artifacts are published by rename).
//!
//! Why one thread: tier-up competes with the guests it is speeding up. Cranelift compiles functions in
//! parallel on every core when asked to; here it gets one core's worth (a one-thread rayon pool) at nice 10.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::engine::Interruption;
use crate::module::SharedModule;

/// Jobs waiting at most (a module's further variants count separately).
pub(crate) const QUEUE_CAP: usize = 64;

/// One module variant to recompile with Cranelift.
pub(crate) struct Job {
    /// Weak: a module dropped while queued is skipped, not compiled.
    pub(crate) module: Weak<SharedModule>,
    pub(crate) interruption: Interruption,
    pub(crate) queued: Instant,
}

/// How a job ended, as the worker's job function reports it.
pub(crate) enum Outcome {
    /// Cranelift code published; new instances use it.
    Published,
    /// Skipped: the module was dropped, or the runtime was.
    Cancelled,
    /// Cranelift failed (the module keeps its baseline code).
    Failed,
}

/// Tier-up counters of a runtime, as [`crate::Runtime::tier_stats`] reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierStats {
    /// Loads served with Winch code (compiled now or from the cache).
    pub baseline_loads: u64,
    /// Loads served with Cranelift code.
    pub optimized_loads: u64,
    /// Modules Winch refused (compiled with Cranelift instead).
    pub baseline_refused: u64,
    /// Tier-ups queued or running.
    pub pending: u64,
    /// Tier-ups that published Cranelift code.
    pub done: u64,
    /// Tier-ups that failed.
    pub failed: u64,
    /// Tier-ups skipped because their module was dropped first.
    pub cancelled: u64,
    /// Milliseconds from queueing to publishing, of the last tier-up done.
    pub last_ms: Option<u64>,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    worker: bool,
    closed: bool,
    stats: TierStats,
}

/// The queue between instantiates (producers) and the worker.
#[derive(Default)]
pub(crate) struct TierUpQueue {
    state: Mutex<State>,
    /// Signalled on a new job, on close, and when the queue goes idle.
    changed: Condvar,
}

impl TierUpQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `job`; false when the queue is full or closed. Starts the worker with `run` on the first job.
    pub(crate) fn push(self: &Arc<Self>, job: Job, run: impl FnMut(Job) -> Outcome + Send + 'static) -> bool {
        let mut state = self.lock();
        if state.closed || state.jobs.len() >= QUEUE_CAP {
            return false;
        }
        state.jobs.push_back(job);
        state.stats.pending += 1;
        if !state.worker {
            state.worker = true;
            let queue = self.clone();
            let spawned = std::thread::Builder::new()
                .name("ext-wasm-tier-up".into())
                .spawn(move || queue.work(run));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the tier-up thread; modules keep their baseline code");
                state.worker = false;
                state.jobs.pop_back();
                state.stats.pending -= 1;
                return false;
            }
        }
        self.changed.notify_all();
        true
    }

    /// Count a load served by `tier`'s code.
    pub(crate) fn count_load(&self, tier: crate::engine::Tier, refused: bool) {
        let mut state = self.lock();
        match tier {
            crate::engine::Tier::Winch => state.stats.baseline_loads += 1,
            crate::engine::Tier::Cranelift => state.stats.optimized_loads += 1,
        }
        state.stats.baseline_refused += u64::from(refused);
    }

    /// Stop: drop queued jobs (a running compile finishes and is discarded by its job function).
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        let dropped = state.jobs.len() as u64;
        state.jobs.clear();
        state.stats.pending -= dropped;
        state.stats.cancelled += dropped;
        self.changed.notify_all();
    }

    /// Wait until no tier-up is queued or running, at most `timeout`; true if idle.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let state = self.lock();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |s| s.stats.pending > 0)
            .unwrap_or_else(|p| p.into_inner());
        state.stats.pending == 0
    }

    pub(crate) fn stats(&self) -> TierStats {
        self.lock().stats
    }

    fn work(&self, mut run: impl FnMut(Job) -> Outcome + Send) {
        lower_priority();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .use_current_thread()
            .thread_name(|_| "ext-wasm-tier-up".into())
            .build();
        if let Err(e) = &pool {
            tracing::warn!(error = %e, "no one-thread pool for tier-up; Cranelift uses the global one");
        }
        while let Some(job) = self.next() {
            let queued = job.queued;
            let outcome = match &pool {
                Ok(pool) => pool.install(|| run(job)),
                Err(_) => run(job),
            };
            self.finish(outcome, queued.elapsed());
        }
    }

    fn next(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if state.closed {
                state.worker = false;
                return None;
            }
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn finish(&self, outcome: Outcome, took: Duration) {
        let mut state = self.lock();
        state.stats.pending -= 1;
        match outcome {
            Outcome::Published => {
                state.stats.done += 1;
                state.stats.last_ms = Some(took.as_millis() as u64);
            }
            Outcome::Cancelled => state.stats.cancelled += 1,
            Outcome::Failed => state.stats.failed += 1,
        }
        self.changed.notify_all();
    }
}

/// Nice 10 for the calling thread (Linux threads have their own nice value): tier-up yields the cores to guests.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority reads its plain integer arguments only; `gettid` names the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
    }
}
