//! Generational handle tables: a stale, dropped or forged handle is an error, never somebody else's entry.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Bits of a handle that hold the slot index (so at most 2^20 live entries); the generation sits above them.
/// Handles stay below 2^53, so they survive a round trip through a JavaScript number.
const INDEX_BITS: u32 = 20;
/// A slot's generation counts from 1 to this and wraps: a handle kept past 2^33 - 1 reuses of its slot could name
/// a later entry. The plugin churn reuses one slot per instantiate (~400k a second here): that is six hours
/// away. (With 32 index bits and 20 of generation it was three seconds.)
const GENERATION_MASK: u64 = (1 << 33) - 1;
/// Slots a table holds at most: the live entries it can hold whatever cap its owner sets.
pub(crate) const MAX_SLOTS: usize = 1 << INDEX_BITS;

/// Why a lookup failed; callers turn this into 5004 / 5005 with their own wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The slot exists but was dropped (and maybe reused).
    Stale,
    /// Never issued.
    Unknown,
}

/// A table from handle to `T`: slots indexed by the handle's low bits, each with its current generation, behind
/// one reader-writer lock. A lookup is an index and a compare under a read lock (one atomic to take it, one to
/// release it); insert and remove take the write lock once. (It was a `DashMap` plus a mutex for the slot
/// allocator: hashing, a shard lock per lookup and three locks per insert or remove, ~6% of an instantiate +
/// call + drop cycle.) Calls rarely look here: each thread remembers the instance it called last.
pub(crate) struct Registry<T> {
    table: RwLock<Table<T>>,
    /// Live entries, written under the write lock and read without any: a cap check before creating what would
    /// be inserted costs a plain load, not a lock (each instantiate asks).
    live: AtomicUsize,
    /// Entries removed so far, written under the write lock and read without any: a handle looked up when this
    /// read `n` is still valid while it reads `n` (only a removal invalidates one), which lets a caller keep the
    /// entry instead of looking it up again ([`crate::Runtime`]'s recent-module cache).
    removals: AtomicU64,
}

struct Table<T> {
    /// Per slot: its current generation (from 1) and its entry, `None` while the slot is free.
    slots: Vec<(u64, Option<T>)>,
    free: Vec<u32>,
}

impl<T: Clone> Registry<T> {
    pub(crate) fn new() -> Self {
        Self {
            table: RwLock::new(Table {
                slots: Vec::new(),
                free: Vec::new(),
            }),
            live: AtomicUsize::new(0),
            removals: AtomicU64::new(0),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Table<T>> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table<T>> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of live entries (a moment's count: inserts and removes on other threads may change it at once).
    pub(crate) fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Entries removed so far (see the field): read before a lookup, compared later to tell whether its handle
    /// may have been invalidated since.
    pub(crate) fn removals(&self) -> u64 {
        self.removals.load(Ordering::Acquire)
    }

    /// Insert unless `cap` live entries exist (or 2^20, what a handle can index); returns the new handle, or the
    /// value back at the cap.
    pub(crate) fn insert(&self, value: T, cap: Option<usize>) -> Result<u64, T> {
        let mut table = self.write();
        let live = self.live.load(Ordering::Relaxed);
        if cap.is_some_and(|cap| live >= cap) {
            return Err(value);
        }
        let index = match table.free.pop() {
            Some(i) => i as usize,
            None if table.slots.len() == MAX_SLOTS => return Err(value),
            None => {
                table.slots.push((1, None));
                table.slots.len() - 1
            }
        };
        self.live.store(live + 1, Ordering::Relaxed);
        let slot = &mut table.slots[index];
        slot.1 = Some(value);
        Ok((slot.0 << INDEX_BITS) | index as u64)
    }

    /// The entry for `handle` (a cheap clone, usually an `Arc`).
    pub(crate) fn get(&self, handle: u64) -> Result<T, Miss> {
        let table = self.read();
        match table.slots.get(index_of(handle)) {
            Some((generation, Some(value))) if *generation == handle >> INDEX_BITS => Ok(value.clone()),
            slot => Err(classify(handle, slot.map(|s| s.0))),
        }
    }

    /// Remove and return the entry; its slot is reused with the next generation.
    pub(crate) fn remove(&self, handle: u64) -> Result<T, Miss> {
        let index = index_of(handle);
        let mut table = self.write();
        let value = match table.slots.get_mut(index) {
            Some((generation, value @ Some(_))) if *generation == handle >> INDEX_BITS => {
                *generation = (*generation % GENERATION_MASK) + 1;
                value.take().expect("matched Some")
            }
            slot => return Err(classify(handle, slot.map(|s| s.0))),
        };
        table.free.push(index as u32);
        self.live
            .store(self.live.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
        // A plain increment (writers hold the lock): no locked instruction on the instances' drop path.
        self.removals
            .store(self.removals.load(Ordering::Relaxed) + 1, Ordering::Release);
        Ok(value)
    }

    /// Snapshot of all live handles.
    pub(crate) fn handles(&self) -> Vec<u64> {
        let table = self.read();
        let live = table.slots.iter().enumerate().filter(|(_, (_, value))| value.is_some());
        live.map(|(index, (generation, _))| (generation << INDEX_BITS) | index as u64)
            .collect()
    }
}

fn index_of(handle: u64) -> usize {
    (handle & ((1 << INDEX_BITS) - 1)) as usize
}

/// Why `handle` missed, given the current generation of its slot (`None`: no such slot).
fn classify(handle: u64, current: Option<u64>) -> Miss {
    let generation = handle >> INDEX_BITS;
    match current {
        Some(current) if (1..=GENERATION_MASK).contains(&generation) && generation != current => Miss::Stale,
        _ => Miss::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_slot_rejects_old_handle() {
        let r = Registry::new();
        let a = r.insert(1, None).unwrap();
        assert_eq!(r.remove(a), Ok(1));
        let b = r.insert(2, None).unwrap();
        assert_ne!(a, b);
        assert_eq!(r.get(a), Err(Miss::Stale));
        assert_eq!(r.get(b), Ok(2));
        assert_eq!(r.get(12345), Err(Miss::Unknown));
    }

    #[test]
    fn handles_and_len_count_live_entries_only() {
        let r = Registry::new();
        let a = r.insert('a', None).unwrap();
        let b = r.insert('b', None).unwrap();
        assert_eq!(r.remove(a), Ok('a'));
        assert_eq!((r.handles(), r.len()), (vec![b], 1));
        // Removing twice, or with a forged generation, changes nothing.
        assert_eq!(r.remove(a), Err(Miss::Stale));
        assert_eq!(r.remove(b + (5 << INDEX_BITS)), Err(Miss::Stale));
        assert_eq!(r.remove(u64::MAX), Err(Miss::Unknown));
        assert_eq!((r.get(b), r.len()), (Ok('b'), 1));
    }

    #[test]
    fn a_stale_handle_stays_stale_across_many_reuses_of_its_slot() {
        let r = Registry::new();
        let first = r.insert(0u32, None).unwrap();
        r.remove(first).unwrap();
        // Two million reuses of the slot: with 20 generation bits the millionth-and-first handle was `first` again.
        for k in 1..2_000_000u32 {
            let h = r.insert(k, None).unwrap();
            assert_ne!(h, first);
            assert_eq!(r.remove(h), Ok(k));
        }
        assert_eq!(r.get(first), Err(Miss::Stale));
    }

    #[test]
    fn a_full_table_refuses_more() {
        let r = Registry::new();
        for _ in 0..MAX_SLOTS {
            r.insert((), None).unwrap();
        }
        assert_eq!(r.insert((), None), Err(()));
        assert_eq!(r.len(), MAX_SLOTS);
    }

    #[test]
    fn handles_are_javascript_safe_integers() {
        let r = Registry::new();
        let h = r.insert((), None).unwrap();
        let last = (GENERATION_MASK << INDEX_BITS) | (MAX_SLOTS as u64 - 1);
        assert!(h < (1 << 53) && last < (1 << 53));
    }

    #[test]
    fn cap_is_enforced() {
        let r = Registry::new();
        let a = r.insert((), Some(1)).unwrap();
        assert_eq!(r.insert((), Some(1)), Err(()));
        r.remove(a).unwrap();
        assert!(r.insert((), Some(1)).is_ok());
    }
}
