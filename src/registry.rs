//! Generational handle tables: a stale, dropped or forged handle is an error, never somebody else's entry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use dashmap::DashMap;
use rustc_hash::FxBuildHasher;

/// Bits of a handle that hold the slot index; the generation sits above them. Handles stay below 2^52, so they
/// survive a round trip through a JavaScript number.
const INDEX_BITS: u32 = 32;
const GENERATION_MASK: u64 = (1 << 20) - 1;

/// Why a lookup failed; callers turn this into 5004 / 5005 with their own wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The slot exists but was dropped (and maybe reused).
    Stale,
    /// Never issued.
    Unknown,
}

/// A concurrent map from handle to `T` plus a slot allocator. Lookups take only a DashMap shard read lock; the
/// allocator mutex is held on insert and remove only.
pub(crate) struct Registry<T> {
    /// FxHash: keys are our own handles, not attacker-chosen strings, and SipHash showed up in call profiles.
    entries: DashMap<u64, T, FxBuildHasher>,
    slots: Mutex<Slots>,
    live: AtomicUsize,
}

#[derive(Default)]
struct Slots {
    generations: Vec<u64>,
    free: Vec<u32>,
}

impl<T: Clone> Registry<T> {
    pub(crate) fn new() -> Self {
        Self {
            entries: DashMap::with_hasher(FxBuildHasher),
            slots: Mutex::new(Slots::default()),
            live: AtomicUsize::new(0),
        }
    }

    /// Number of live entries.
    pub(crate) fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Insert unless `cap` live entries exist; returns the new handle, or `None` at the cap.
    pub(crate) fn insert(&self, value: T, cap: Option<usize>) -> Option<u64> {
        if let Some(cap) = cap {
            // Reserve first so concurrent inserts cannot overshoot the cap.
            if self.live.fetch_add(1, Ordering::AcqRel) >= cap {
                self.live.fetch_sub(1, Ordering::AcqRel);
                return None;
            }
        } else {
            self.live.fetch_add(1, Ordering::AcqRel);
        }
        let handle = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let index = match slots.free.pop() {
                Some(i) => i,
                None => {
                    slots.generations.push(1);
                    (slots.generations.len() - 1) as u32
                }
            };
            (slots.generations[index as usize] << INDEX_BITS) | u64::from(index)
        };
        self.entries.insert(handle, value);
        Some(handle)
    }

    /// The entry for `handle` (a cheap clone, usually an `Arc`).
    pub(crate) fn get(&self, handle: u64) -> Result<T, Miss> {
        match self.entries.get(&handle) {
            Some(v) => Ok(v.value().clone()),
            None => Err(self.classify(handle)),
        }
    }

    /// Remove and return the entry; its slot is reused with the next generation.
    pub(crate) fn remove(&self, handle: u64) -> Result<T, Miss> {
        let Some((_, value)) = self.entries.remove(&handle) else {
            return Err(self.classify(handle));
        };
        let index = (handle & ((1 << INDEX_BITS) - 1)) as u32;
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let generation = &mut slots.generations[index as usize];
        *generation = (*generation % GENERATION_MASK) + 1;
        slots.free.push(index);
        drop(slots);
        self.live.fetch_sub(1, Ordering::AcqRel);
        Ok(value)
    }

    /// Snapshot of all live handles.
    pub(crate) fn handles(&self) -> Vec<u64> {
        self.entries.iter().map(|e| *e.key()).collect()
    }

    fn classify(&self, handle: u64) -> Miss {
        let index = (handle & ((1 << INDEX_BITS) - 1)) as usize;
        let generation = handle >> INDEX_BITS;
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        match slots.generations.get(index) {
            Some(&current) if (1..=GENERATION_MASK).contains(&generation) && generation != current => Miss::Stale,
            _ => Miss::Unknown,
        }
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
    fn cap_is_enforced() {
        let r = Registry::new();
        let a = r.insert((), Some(1)).unwrap();
        assert!(r.insert((), Some(1)).is_none());
        r.remove(a).unwrap();
        assert!(r.insert((), Some(1)).is_some());
    }
}
