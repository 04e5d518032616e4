//! What an [`crate::ArtifactCache`] verified in this process, by file identity: a warm runtime's next hit on
//! the same wasm file and artifact trusts them on the `statx` it makes anyway, instead of reading their records
//! again (the path memo's open, read and close; the `.mac` sidecar's open, read, `statx` and close: seven system
//! calls, a fifth of a small artifact's hit).
//!
//! The trust is the on-disk stamps' (see the artifact cache's module docs): a file whose identity — device,
//! inode, size, mtime and ctime — is the one it had when this process verified it has not been written since.
//! The records live in this process's memory, which an attacker who can write the cache directory cannot
//! reach. Bounded: past [`CAPACITY`] records a table starts over (the next hit of each file reads its records
//! again).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use rustc_hash::FxHashMap;

/// A file's identity: device, inode, size, mtime and ctime (seconds, nanoseconds).
pub(crate) type Identity = [u64; 7];

/// Records kept per table.
const CAPACITY: usize = 4096;

/// Wasm files and artifacts verified in this process.
#[derive(Default)]
pub(crate) struct VerifiedFiles {
    /// Wasm file path → its identity and the hash of the wasm it held then.
    wasm: Mutex<FxHashMap<PathBuf, (Identity, blake3::Hash)>>,
    /// Artifact path → its identity when its MAC or stamp checked out, and when its entry was last marked used.
    artifacts: Mutex<FxHashMap<PathBuf, (Identity, SystemTime)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn insert<V>(table: &Mutex<FxHashMap<PathBuf, V>>, path: &Path, value: V) {
    let mut table = lock(table);
    if table.len() >= CAPACITY && !table.contains_key(path) {
        table.clear();
    }
    table.insert(path.to_path_buf(), value);
}

impl VerifiedFiles {
    /// The wasm hash recorded for `path` if the file still has `identity`.
    pub(crate) fn wasm_hash(&self, path: &Path, identity: &Identity) -> Option<blake3::Hash> {
        let table = lock(&self.wasm);
        let (known, hash) = table.get(path)?;
        (known == identity).then_some(*hash)
    }

    /// Record that the wasm file at `path`, with `identity`, holds the wasm whose hash is `hash`.
    pub(crate) fn remember_wasm(&self, path: &Path, identity: Identity, hash: blake3::Hash) {
        insert(&self.wasm, path, (identity, hash));
    }

    /// Whether the artifact at `path` was verified in this process with `identity`, and its entry marked used
    /// less than `granularity` before `now` (so this hit needs no write).
    pub(crate) fn artifact_trusted(
        &self,
        path: &Path,
        identity: &Identity,
        now: SystemTime,
        granularity: std::time::Duration,
    ) -> bool {
        let table = lock(&self.artifacts);
        table.get(path).is_some_and(|(known, used)| {
            known == identity && now.duration_since(*used).is_ok_and(|age| age < granularity)
        })
    }

    /// Record that the artifact at `path`, with `identity`, checked out, its entry last marked used at `used`.
    pub(crate) fn remember_artifact(&self, path: &Path, identity: Identity, used: SystemTime) {
        insert(&self.artifacts, path, (identity, used));
    }
}
