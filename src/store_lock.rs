//! [`StoreLock`]: the lock around a store's state, built for the call path, where it is almost never contended.
//!
//! A synchronous call locks its store once and unlocks it when the guest returns. `std::sync::Mutex` spends two
//! atomic read-modify-writes on that (a compare-exchange to lock, a swap to unlock, so the unlock can see
//! whether anyone sleeps on the futex): measured here, the pair was a quarter of a ~45 ns call from Rust and
//! the largest single cost of `callSync`. This lock takes one: a swap to lock; the unlock is a plain release
//! store, because waiters never sleep on the lock itself: they poll it with a growing backoff (spin, then yield,
//! then sleep up to [`MAX_SLEEP`]), so there is no sleeper to wake.
//!
//! Contention is rare by construction: different stores never share a lock; async calls move the state out of
//! the lock for their whole run, so another thread meets only the few instructions of a take or put-back; a
//! synchronous call from a second thread on a store that is running one waits for it, as it would on a mutex,
//! and learns of the release at most [`MAX_SLEEP`] late. The lock is not fair (neither is `std`'s) and not
//! re-entrant, but it knows its holder's thread: the crate locks a store once per call, and an embedder's Rust
//! host function that reaches its own instance through the `Runtime` (instead of its `HostCall`) would lock it
//! again from the thread that holds it, which [`StoreLock::lock_unless_held_here`] refuses instead of waiting
//! forever. Knowing the holder costs two plain stores and a read of the thread pointer per lock and unlock;
//! before, every host call linked a frame in a thread-local chain for that check (1.7 ns of a ~9.5 ns Rust
//! host call).

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// The longest a waiter sleeps between two looks at the lock.
pub(crate) const MAX_SLEEP: Duration = Duration::from_millis(1);

/// A lock around a `T` (see the module docs). Cost uncontended: one atomic swap to lock, a plain store to
/// unlock.
pub(crate) struct StoreLock<T> {
    locked: AtomicBool,
    /// The holding thread ([`this_thread`]), 0 while free. Written only by the holder (after taking the lock,
    /// and back to 0 before releasing it), so a thread reads its own token here exactly while it holds the lock.
    holder: AtomicUsize,
    value: UnsafeCell<T>,
}

/// This thread's token: distinct among live threads and never 0. On x86-64 Linux it is the thread pointer
/// (one load from `%fs:0`); elsewhere the address of a thread-local byte. In the shared library Deno loads, a
/// thread-local is a call to `__tls_get_addr` on every lock, which the thread pointer spares the call path.
/// (aarch64 Linux could read `tpidr_el0` the same way; not built here, where that target cannot be checked.)
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[inline(always)]
fn this_thread() -> usize {
    let tp: usize;
    // SAFETY: loads the word at `%fs:0`, which the x86-64 TLS ABI (variant II) requires to be the thread control
    // block's pointer to itself, in every thread: a readable, non-null address unique to the thread while it
    // lives. Writes nothing and touches no stack or flags.
    unsafe {
        std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags));
    }
    tp
}

/// This thread's token (see the x86-64 Linux version): the address of a thread-local byte.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
#[inline(always)]
fn this_thread() -> usize {
    thread_local! {
        static THREAD: u8 = const { 0 };
    }
    THREAD.with(|t| t as *const u8 as usize)
}

// SAFETY: the lock hands out access to `value` to one thread at a time (a guard exists only after `locked`
// went from false to true by this thread's swap, and the guard's drop is the only thing that sets it false
// again), so sharing the lock between threads shares `T` only by moving access across threads: `T: Send`
// suffices, as for `std::sync::Mutex`.
unsafe impl<T: Send> Send for StoreLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for StoreLock<T> {}

/// Exclusive access to a [`StoreLock`]'s value; unlocks when dropped.
pub(crate) struct StoreGuard<'a, T> {
    lock: &'a StoreLock<T>,
}

impl<T> StoreLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            holder: AtomicUsize::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, through exclusive access to the lock itself (no other thread can hold it): no atomics.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Lock, waiting (spin, yield, then sleep) while another thread holds the lock.
    #[inline]
    pub(crate) fn lock(&self) -> StoreGuard<'_, T> {
        // Acquire: everything the previous holder wrote before its release store is visible to us.
        if self.locked.swap(true, Ordering::Acquire) {
            self.lock_contended();
        }
        self.held()
    }

    /// [`Self::lock`], unless this thread holds the lock already (further up its own stack: waiting would never
    /// end); then `None`, the lock untouched.
    #[inline]
    pub(crate) fn lock_unless_held_here(&self) -> Option<StoreGuard<'_, T>> {
        if self.locked.swap(true, Ordering::Acquire) {
            // Taken (the swap wrote the `true` that was there): by us, or by another thread we wait for.
            if self.held_here() {
                return None;
            }
            self.lock_contended();
        }
        Some(self.held())
    }

    /// Whether this thread holds the lock. One thread-local address and one load.
    #[inline]
    pub(crate) fn held_here(&self) -> bool {
        self.holder.load(Ordering::Relaxed) == this_thread()
    }

    /// The guard of a lock this thread just took.
    #[inline(always)]
    fn held(&self) -> StoreGuard<'_, T> {
        self.holder.store(this_thread(), Ordering::Relaxed);
        StoreGuard { lock: self }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut round = 0u32;
        loop {
            // Wait on plain loads (no cache-line ping-pong), then try to take the lock.
            while self.locked.load(Ordering::Relaxed) {
                back_off(round);
                round = round.saturating_add(1);
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }
}

impl<T: Default> Default for StoreLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

/// Wait a little before looking at the lock again: spin for short holds, yield the core for medium ones, sleep
/// (1 µs doubling up to [`MAX_SLEEP`]) for long ones, such as another thread's guest call that runs for seconds.
fn back_off(round: u32) {
    match round {
        0..=63 => std::hint::spin_loop(),
        64..=79 => std::thread::yield_now(),
        _ => std::thread::sleep(Duration::from_micros(1 << (round - 80).min(10)).min(MAX_SLEEP)),
    }
}

impl<T> Deref for StoreGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard exists, so this thread holds the lock (see the `Send`/`Sync` proof): no other
        // reference to the value exists until the guard drops.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for StoreGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the guard's only live borrow.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for StoreGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Release: our writes to the value (and the cleared holder) happen-before the next holder's acquire swap.
        self.lock.holder.store(0, Ordering::Relaxed);
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_take_turns() {
        let lock = Arc::new(StoreLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        // A read-modify-write that loses updates unless the lock excludes the other threads.
                        let mut guard = lock.lock();
                        let v = *guard;
                        std::hint::black_box(&v);
                        *guard = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock(), 80_000);
    }

    #[test]
    fn a_waiter_gets_the_lock_after_a_long_hold() {
        let lock = Arc::new(StoreLock::new(Vec::new()));
        let guard = lock.lock();
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || lock.lock().push("waiter"))
        };
        // Long enough for the waiter to reach its sleeping backoff.
        std::thread::sleep(Duration::from_millis(20));
        drop(guard);
        waiter.join().unwrap();
        assert_eq!(*lock.lock(), ["waiter"]);
    }

    #[test]
    fn the_holding_thread_is_refused_another_waits() {
        let lock = Arc::new(StoreLock::new(0u32));
        let guard = lock.lock();
        assert!(lock.held_here());
        assert!(
            lock.lock_unless_held_here().is_none(),
            "re-locking on the holding thread must not wait"
        );
        let other = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                assert!(!lock.held_here());
                *lock.lock_unless_held_here().expect("another thread waits for the lock") += 1;
            })
        };
        std::thread::sleep(Duration::from_millis(5));
        drop(guard);
        other.join().unwrap();
        assert!(!lock.held_here());
        assert_eq!(*lock.lock_unless_held_here().expect("free again"), 1);
    }
}
