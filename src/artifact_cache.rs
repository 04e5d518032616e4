//! The on-disk artifact cache: compiled modules that survive restarts.
//!
//! Layout under the root (see `cache/README.md`):
//!
//! ```text
//! <root>/key                          32 random bytes, mode 0600: this user's MAC key
//! <root>/<fingerprint>/<hash>.cwasm   wasmtime's serialized module (an ELF image, mmapped on load)
//! <root>/<fingerprint>/<hash>.mac     32-byte keyed blake3 over (fingerprint, hash, artifact), then, once
//!                                     verified, the 32-byte stamp: keyed blake3 over (fingerprint, hash, the
//!                                     artifact file's identity)
//! ```
//!
//! `fingerprint` names the engine (wasmtime's compatibility hash + our code-changing knobs), `hash` is
//! blake3 of the wasm binary. Deserializing bytes someone else wrote is arbitrary code execution, so the MAC is
//! checked over the mapped file before `Module::deserialize_open_file` sees it; any mismatch, truncation or
//! foreign engine is counted as rejected, deleted and recompiled by the caller. Entries are published
//! atomically (temp file in the same directory, fsync, rename). The `.mac` file's mtime records last use for
//! LRU eviction, to within [`LRU_GRANULARITY`] (a hit refreshes it only when it is older: a write per hit would
//! cost more than the rest of the hit's bookkeeping). If the directory cannot be used (read-only, not a
//! directory, disk full), the cache degrades to memory-only and says so in [`CacheStats::disk_error`]; nothing
//! fails because of it.
//!
//! # Verified once, then trusted by identity
//!
//! Hashing a whole artifact on every hit would read every page of it (a 100 MB artifact: ~100 MB of page
//! faults and hashing before the first call), defeating mmap's laziness. So after a full MAC check the cache
//! appends a **stamp** to the `.mac` file (rewritten atomically): a keyed hash of the entry's name and the
//! artifact file's identity — device, inode, size, mtime and ctime, nanoseconds included. A later hit whose file still has that identity skips the
//! MAC pass and goes straight to `deserialize_open_file`; any other identity means a full check (and a new
//! stamp). What this detects: a replaced file (new inode), any write through the filesystem (the kernel sets
//! ctime to the current time on every write, truncate, chmod or rename, and no system call sets it back), a
//! forged or copied stamp (keyed: only this user's key makes one). What it no longer detects: a change that
//! leaves all five unchanged — only someone who can set the clock or write the block device (root) can make
//! one — and bit rot on the medium after the stamp was written. A file whose ctime is under
//! [`STAMP_SETTLE`] old gets no stamp (a write in the same timestamp tick could keep ctime equal);
//! `ext-wasm cache verify` always checks every byte. Within one process the same rule goes one step further:
//! what a cache verified (a path memo's hash, an artifact's MAC or stamp) is remembered in memory with the
//! file's identity, and a later hit on the unchanged files reads neither record again ([`VerifiedFiles`]).
//!
//! # Crashes and hostile files
//!
//! * A writer killed mid-publish leaves at most a `.tmp*` file (never a torn entry: the rename is the publish),
//!   or an artifact without its `.mac` (refused on load and by [`ArtifactCache::verify`]). Temp files count
//!   toward the size cap while they exist and are swept once older than [`STALE_TEMP_AGE`] (a live writer
//!   finishes in far less) when the cache is opened, verified or pruned.
//! * A write larger than the process's file-size limit (`ulimit -f`) is not attempted (the kernel would kill
//!   the process with `SIGXFSZ`); like a full disk, it is a counted write error with its reason in the stats.
//! * The key is trusted only as a regular file of exactly 32 bytes, owned by this user and private (no group or
//!   other permission bits). Anything else — a symlink, another owner, a readable-by-others mode, a wrong
//!   size — is replaced by a fresh key (every entry written under the old one is then refused and recompiled),
//!   and a key that can be neither trusted nor replaced turns the disk cache off with the reason.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use wasmtime::{Engine, Module};

use crate::verified_files::{Identity, VerifiedFiles};

const MAC_DOMAIN: &[u8] = b"ext_wasm artifact v1\0";
/// Age after which a temp file left in the cache is a dead writer's and is deleted.
pub const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);
const ARTIFACT_EXT: &str = "cwasm";
const MAC_EXT: &str = "mac";
/// The separate stamp file of earlier versions; deleted with its entry.
const LEGACY_STAMP_EXT: &str = "ok";
/// Where `compile_file` remembers which wasm hash a file identity holds.
const MEMO_DIR: &str = "files";
const MEMO_DOMAIN: &[u8] = b"ext_wasm wasm file v1\0";
const STAMP_DOMAIN: &[u8] = b"ext_wasm verified artifact v1\0";
/// How old an artifact's ctime must be before a verification of it is stamped (see the module docs).
pub const STAMP_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);
/// How stale an entry's last-use time may get before a hit refreshes it (LRU eviction order is this coarse).
pub const LRU_GRANULARITY: std::time::Duration = std::time::Duration::from_secs(60);

/// Counters and sizes reported by [`ArtifactCache::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// The cache root, if the disk cache is on.
    pub dir: Option<PathBuf>,
    /// Loads served from disk.
    pub hits: u64,
    /// Lookups that found no entry.
    pub misses: u64,
    /// Entries found but refused (bad MAC, truncated, foreign engine, unreadable); each was recompiled.
    pub rejected: u64,
    /// Entries published.
    pub writes: u64,
    /// Publishes that failed (read-only or full disk); the module kept working from memory.
    pub write_errors: u64,
    /// Entries removed by the size cap.
    pub evictions: u64,
    /// Entries on disk now (all engine fingerprints).
    pub entries: u64,
    /// Bytes on disk now (artifacts, MACs and temp files).
    pub bytes_on_disk: u64,
    /// Temp files on disk now: publishes in progress, or left by killed writers until swept.
    pub temp_files: u64,
    /// Why the disk cache is unusable, when it is.
    pub disk_error: Option<String>,
}

/// One entry on disk, as [`ArtifactCache::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CacheEntry {
    /// Engine fingerprint (directory name).
    pub fingerprint: String,
    /// Which compiler made the code (`winch` directories end in `-winch`).
    pub tier: crate::engine::Tier,
    /// blake3 of the wasm binary, hex.
    pub hash: String,
    /// Artifact plus MAC size.
    pub bytes: u64,
    /// Last load or store.
    #[serde(skip)]
    pub last_used: SystemTime,
}

/// Result of [`ArtifactCache::verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Entries whose MAC matched.
    pub ok: u64,
    /// Entries that failed and were deleted.
    pub removed: Vec<String>,
    /// Stale temp files and orphaned MACs deleted.
    pub swept: u64,
}

/// A content-addressed, MAC-checked, size-capped store of compiled modules.
pub struct ArtifactCache {
    root: PathBuf,
    key: Option<[u8; 32]>,
    disk_error: Mutex<Option<String>>,
    max_bytes: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    writes: AtomicU64,
    write_errors: AtomicU64,
    evictions: AtomicU64,
    /// Serializes pruning so two publishers do not evict the same files twice.
    prune_lock: Mutex<()>,
    /// Wasm files and artifacts verified in this process (a warm hit reads no records).
    verified: VerifiedFiles,
}

/// What [`ArtifactCache::load`] found.
pub(crate) enum Lookup {
    Hit(Module),
    Miss,
    Rejected,
}

impl ArtifactCache {
    /// Open (creating if needed) the cache at `root`. Never fails: an unusable directory makes a memory-only
    /// cache whose stats carry the reason.
    pub fn open(root: impl Into<PathBuf>, max_bytes: u64) -> Self {
        let root = root.into();
        let (key, disk_error) = match fs::create_dir_all(&root).and_then(|()| load_or_create_key(&root)) {
            Ok(key) => (Some(key), None),
            Err(e) => {
                tracing::warn!(dir = %root.display(), error = %e, "artifact cache unavailable; compiling in memory only");
                (None, Some(format!("{}: {e}", root.display())))
            }
        };
        // No sweep here: it lists every fingerprint directory and checks every entry, a cost that grew with
        // the cache on every start. What it collects comes only from killed writers, so the next publish
        // (`prune`), `verify` or `ext-wasm cache prune` sweeps it; a start that only hits writes nothing.
        Self {
            root,
            key,
            disk_error: Mutex::new(disk_error),
            max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            prune_lock: Mutex::new(()),
            verified: VerifiedFiles::default(),
        }
    }

    /// The cache root.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    fn paths(&self, fingerprint: &str, hash: &blake3::Hash) -> (PathBuf, PathBuf) {
        let dir = self.root.join(fingerprint);
        let hex = hash.to_hex();
        (
            dir.join(format!("{hex}.{ARTIFACT_EXT}")),
            dir.join(format!("{hex}.{MAC_EXT}")),
        )
    }

    /// Look up the artifact for `hash` compiled by `engine`. A refused entry is deleted so the caller's
    /// recompile replaces it. Cost on a hit of a stamped entry: opening the artifact and its `.mac` (one small
    /// read, one `fstat` each) and wasmtime's deserialize (which maps the file); an unstamped one adds a keyed
    /// blake3 pass over every byte, once; one this process verified before, unchanged since, skips the `.mac`
    /// ([`VerifiedFiles`]).
    pub(crate) fn load(&self, engine: &Engine, fingerprint: &str, hash: &blake3::Hash) -> Lookup {
        let Some(key) = &self.key else { return Lookup::Miss };
        let _span = tracing::debug_span!("cache_load", hash = %&hash.to_hex()[..16]).entered();
        let (artifact, mac_path) = self.paths(fingerprint, hash);
        let file = match File::open(&artifact) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                return Lookup::Miss;
            }
            Err(e) => return self.reject(&artifact, &mac_path, format!("cannot open: {e}")),
        };
        let identity = file.metadata().ok().and_then(|m| identity(&m));
        let now = SystemTime::now();
        if identity.is_some_and(|id| self.verified.artifact_trusted(&artifact, &id, now, LRU_GRANULARITY)) {
            return self.deserialize(engine, file, &artifact, &mac_path);
        }
        let sidecar = match Sidecar::open(&mac_path) {
            Ok(sidecar) => sidecar,
            Err(reason) => return self.reject(&artifact, &mac_path, reason),
        };
        let stamp = identity.map(|id| stamp_of(key, fingerprint, hash, id));
        if stamp.is_none_or(|s| sidecar.stamp != Some(*s.as_bytes())) {
            if let Err(reason) = check_mac(key, fingerprint, hash, &file, &sidecar.mac) {
                return self.reject(&artifact, &mac_path, reason);
            }
            if let Some(stamp) = stamp {
                let dir = artifact.parent().expect("entry paths have a parent");
                let _ = write_atomic(dir, &mac_path, &[sidecar.mac, *stamp.as_bytes()].concat());
            }
        }
        let hit = self.deserialize(engine, file, &artifact, &mac_path);
        if let Lookup::Hit(_) = hit {
            let used = sidecar.mark_used(now);
            if let Some(id) = identity {
                self.verified.remember_artifact(&artifact, id, used);
            }
        }
        hit
    }

    /// Deserialize an artifact [`Self::load`] authenticated (a failure rejects the entry).
    fn deserialize(&self, engine: &Engine, file: File, artifact: &Path, mac_path: &Path) -> Lookup {
        // SAFETY: the file's bytes were authenticated with this user's secret key — just now, or earlier for
        // this very file identity (the stamp, or this process's record of its own check; see the module docs
        // for what that trusts) — so they are an artifact this crate serialized with an engine of this
        // fingerprint; wasmtime additionally checks the engine compatibility header. Entries are replaced only
        // by rename, never rewritten in place, so the mapped inode does not change under the module.
        match unsafe { Module::deserialize_open_file(engine, file) } {
            Ok(module) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(module)
            }
            Err(e) => self.reject(artifact, mac_path, format!("deserialize failed: {e:#}")),
        }
    }

    fn reject(&self, artifact: &Path, mac: &Path, reason: String) -> Lookup {
        tracing::warn!(entry = %artifact.display(), %reason, "rejected artifact cache entry; recompiling");
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let _ = fs::remove_file(artifact.with_extension(LEGACY_STAMP_EXT));
        let _ = fs::remove_file(artifact);
        let _ = fs::remove_file(mac);
        Lookup::Rejected
    }

    /// Publish `module` (compiled from the wasm with `hash`) atomically, then enforce the size cap. Failures are
    /// logged and counted, never returned: the caller already has its module.
    pub(crate) fn store(&self, fingerprint: &str, hash: &blake3::Hash, module: &Module) {
        let Some(key) = &self.key else { return };
        let _span = tracing::debug_span!("cache_store", hash = %&hash.to_hex()[..16]).entered();
        let result = module
            .serialize()
            .map_err(|e| io::Error::other(format!("{e:#}")))
            .and_then(|bytes| self.publish(key, fingerprint, hash, &bytes));
        match result {
            Ok(()) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                if self.max_bytes != u64::MAX {
                    self.prune(self.max_bytes);
                }
            }
            Err(e) => {
                tracing::warn!(dir = %self.root.display(), error = %e, "cannot write artifact cache entry; continuing from memory");
                self.write_errors.fetch_add(1, Ordering::Relaxed);
                *self.disk_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("last write failed: {e}"));
            }
        }
    }

    /// Publish an already serialized artifact (from a bundle) as [`Self::store`] publishes a module; `false` when
    /// it could not be written (counted as a write error).
    pub(crate) fn store_serialized(&self, fingerprint: &str, hash: &blake3::Hash, bytes: &[u8]) -> bool {
        let Some(key) = &self.key else { return false };
        match self.publish(key, fingerprint, hash, bytes) {
            Ok(()) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.write_errors.fetch_add(1, Ordering::Relaxed);
                *self.disk_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("last write failed: {e}"));
                false
            }
        }
    }

    /// Delete the entry of `hash` under `fingerprint` (a Winch entry once Cranelift's is published). Processes
    /// that mapped it keep their mapping. Missing files are fine.
    pub(crate) fn remove(&self, fingerprint: &str, hash: &blake3::Hash) {
        if self.key.is_none() {
            return;
        }
        let (artifact, mac_path) = self.paths(fingerprint, hash);
        let _ = fs::remove_file(&artifact);
        let _ = fs::remove_file(&mac_path);
        let _ = fs::remove_file(artifact.with_extension(LEGACY_STAMP_EXT));
    }

    fn publish(&self, key: &[u8; 32], fingerprint: &str, hash: &blake3::Hash, bytes: &[u8]) -> io::Result<()> {
        let (artifact, mac_path) = self.paths(fingerprint, hash);
        let dir = artifact.parent().expect("entry paths have a parent");
        fs::create_dir_all(dir)?;
        let limit = file_size_limit();
        if bytes.len() as u64 > limit {
            return Err(io::Error::other(format!(
                "an artifact of {} bytes exceeds the file-size limit (ulimit -f) of {limit} bytes",
                bytes.len()
            )));
        }
        let mac = mac(key, fingerprint, hash, bytes);
        write_atomic(dir, &artifact, bytes)?;
        write_atomic(dir, &mac_path, mac.as_bytes())
    }

    /// The wasm hash this cache recorded for the file at `path` when it had metadata `meta`: `None` unless the
    /// file still has that identity (device, inode, size, mtime, ctime; see the module docs for what that
    /// trusts). Cost: one small read, no read of the wasm.
    pub(crate) fn remembered_hash(&self, path: &Path, meta: &fs::Metadata) -> Option<blake3::Hash> {
        let key = self.key.as_ref()?;
        let identity = identity(meta)?;
        if let Some(hash) = self.verified.wasm_hash(path, &identity) {
            return Some(hash);
        }
        let record = read_memo_record(&self.memo_path(path))?;
        let (hash, tag) = record.split_at(32);
        let hash = blake3::Hash::from_bytes(hash.try_into().ok()?);
        let expected = memo_tag(key, path, &identity, &hash);
        let found = (tag == expected.as_bytes()).then_some(hash)?;
        self.verified.remember_wasm(path, identity, found);
        Some(found)
    }

    /// Record that the file at `path`, with metadata `meta`, holds the wasm whose hash is `hash` (nothing while
    /// its ctime is too recent; failures are ignored: the memo only saves a read).
    pub(crate) fn remember_hash(&self, path: &Path, meta: &fs::Metadata, hash: &blake3::Hash) {
        let (Some(key), Some(identity)) = (&self.key, identity(meta)) else {
            return;
        };
        self.verified.remember_wasm(path, identity, *hash);
        let mut record = hash.as_bytes().to_vec();
        record.extend_from_slice(memo_tag(key, path, &identity, hash).as_bytes());
        let memo = self.memo_path(path);
        let dir = memo.parent().expect("memo paths have a parent");
        let _ = fs::create_dir_all(dir).and_then(|()| write_atomic(dir, &memo, &record));
    }

    fn memo_path(&self, path: &Path) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let name = blake3::hash(path.as_os_str().as_bytes()).to_hex();
        self.root.join(MEMO_DIR).join(&name[..32])
    }

    /// All entries on disk, oldest use first.
    pub fn list(&self) -> Vec<CacheEntry> {
        let mut entries = Vec::new();
        let Ok(dirs) = fs::read_dir(&self.root) else {
            return entries;
        };
        for dir in dirs.flatten().filter(|d| d.path().is_dir()) {
            let fingerprint = dir.file_name().to_string_lossy().into_owned();
            let Ok(files) = fs::read_dir(dir.path()) else { continue };
            for file in files.flatten() {
                let path = file.path();
                if path.extension().and_then(|e| e.to_str()) != Some(ARTIFACT_EXT) {
                    continue;
                }
                let hash = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
                let mac_meta = fs::metadata(path.with_extension(MAC_EXT)).ok();
                let stamp_len = fs::metadata(path.with_extension(LEGACY_STAMP_EXT)).map_or(0, |m| m.len());
                let bytes = file.metadata().map(|m| m.len()).unwrap_or(0)
                    + mac_meta.as_ref().map_or(0, |m| m.len())
                    + stamp_len;
                let last_used = mac_meta
                    .and_then(|m| m.modified().ok())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                entries.push(CacheEntry {
                    tier: if fingerprint.ends_with(crate::engine::WINCH_SUFFIX) {
                        crate::engine::Tier::Winch
                    } else {
                        crate::engine::Tier::Cranelift
                    },
                    fingerprint: fingerprint.clone(),
                    hash,
                    bytes,
                    last_used,
                });
            }
        }
        entries.sort_by_key(|e| e.last_used);
        entries
    }

    /// Delete least recently used entries until the total is at most `max_bytes`. Returns how many went.
    pub fn prune(&self, max_bytes: u64) -> u64 {
        let _guard = self.prune_lock.lock().unwrap_or_else(|p| p.into_inner());
        sweep(&self.root, STALE_TEMP_AGE);
        let entries = self.list();
        // Temp files cannot be evicted (a writer may be about to publish one) but take space all the same.
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum::<u64>() + temp_files(&self.root).1;
        let mut evicted = 0;
        for entry in entries {
            if total <= max_bytes {
                break;
            }
            let artifact = self
                .root
                .join(&entry.fingerprint)
                .join(format!("{}.{ARTIFACT_EXT}", entry.hash));
            let _ = fs::remove_file(artifact.with_extension(MAC_EXT));
            let _ = fs::remove_file(artifact.with_extension(LEGACY_STAMP_EXT));
            if fs::remove_file(&artifact).is_ok() {
                total -= entry.bytes;
                evicted += 1;
            }
        }
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
        evicted
    }

    /// Check every byte of every entry against its MAC, stamped or not; delete the ones that fail.
    pub fn verify(&self) -> VerifyReport {
        let mut report = VerifyReport::default();
        let Some(key) = &self.key else { return report };
        report.swept = sweep(&self.root, STALE_TEMP_AGE);
        for entry in self.list() {
            let dir = self.root.join(&entry.fingerprint);
            let artifact = dir.join(format!("{}.{ARTIFACT_EXT}", entry.hash));
            let mac_path = artifact.with_extension(MAC_EXT);
            let ok = blake3::Hash::from_hex(&entry.hash)
                .map_err(|e| e.to_string())
                .and_then(|hash| {
                    let file = File::open(&artifact).map_err(|e| e.to_string())?;
                    check_mac(key, &entry.fingerprint, &hash, &file, &Sidecar::open(&mac_path)?.mac)
                });
            match ok {
                Ok(()) => report.ok += 1,
                Err(reason) => {
                    let _ = fs::remove_file(artifact.with_extension(LEGACY_STAMP_EXT));
                    let _ = fs::remove_file(&artifact);
                    let _ = fs::remove_file(&mac_path);
                    report
                        .removed
                        .push(format!("{}/{}: {reason}", entry.fingerprint, entry.hash));
                }
            }
        }
        report
    }

    /// Delete every entry and the file-hash memo (the key stays). Returns how many entries went.
    pub fn clear(&self) -> u64 {
        let _ = fs::remove_dir_all(self.root.join(MEMO_DIR));
        let entries = self.list();
        for e in &entries {
            let _ = fs::remove_dir_all(self.root.join(&e.fingerprint));
        }
        entries.len() as u64
    }

    /// Counters and current disk usage (scans the directory).
    pub fn stats(&self) -> CacheStats {
        let entries = self.list();
        let (temps, temp_bytes) = temp_files(&self.root);
        CacheStats {
            dir: Some(self.root.clone()),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: entries.len() as u64,
            bytes_on_disk: entries.iter().map(|e| e.bytes).sum::<u64>() + temp_bytes,
            temp_files: temps,
            disk_error: self.disk_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

fn mac(key: &[u8; 32], fingerprint: &str, hash: &blake3::Hash, artifact: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(MAC_DOMAIN)
        .update(fingerprint.as_bytes())
        .update(&[0])
        .update(hash.as_bytes())
        .update(&(artifact.len() as u64).to_le_bytes())
        .update(artifact);
    h.finalize()
}

/// A file's identity (device, inode, size, mtime and ctime with nanoseconds), or `None` while its ctime is under
/// [`STAMP_SETTLE`] old: a write within the same timestamp tick could leave it unchanged.
fn identity(meta: &fs::Metadata) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    let ctime = SystemTime::UNIX_EPOCH
        + std::time::Duration::new(
            u64::try_from(meta.ctime()).ok()?,
            u32::try_from(meta.ctime_nsec()).ok()?,
        );
    if SystemTime::now().duration_since(ctime).ok()? < STAMP_SETTLE {
        return None;
    }
    Some([
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
        meta.ctime() as u64,
        meta.ctime_nsec() as u64,
    ])
}

/// The keyed tag of a memo record: the file's path and identity, and the wasm hash they hold.
fn memo_tag(key: &[u8; 32], path: &Path, identity: &Identity, hash: &blake3::Hash) -> blake3::Hash {
    use std::os::unix::ffi::OsStrExt;
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(MEMO_DOMAIN)
        .update(&(path.as_os_str().len() as u64).to_le_bytes())
        .update(path.as_os_str().as_bytes());
    for field in identity {
        h.update(&field.to_le_bytes());
    }
    h.update(hash.as_bytes()).finalize()
}

/// The keyed hash a stamp holds: the entry's name and the file identity, nothing of its content.
fn stamp_of(key: &[u8; 32], fingerprint: &str, hash: &blake3::Hash, identity: Identity) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(STAMP_DOMAIN)
        .update(fingerprint.as_bytes())
        .update(&[0])
        .update(hash.as_bytes());
    for field in identity {
        h.update(&field.to_le_bytes());
    }
    h.finalize()
}

/// Authenticate an open artifact against the MAC stored beside it.
fn check_mac(
    key: &[u8; 32],
    fingerprint: &str,
    hash: &blake3::Hash,
    file: &File,
    stored: &[u8; 32],
) -> Result<(), String> {
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len == 0 {
        return Err("empty artifact".into());
    }
    // SAFETY: the mapping is read-only and private and lives only for this hash computation. Entries are only
    // ever replaced by rename, so nobody writes this inode while we read it; a concurrent writer would at worst
    // make the MAC fail, which is handled.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(|e| format!("cannot map: {e}"))?;
    if mac(key, fingerprint, hash, &map) == blake3::Hash::from_bytes(*stored) {
        Ok(())
    } else {
        Err("MAC mismatch (tampered, truncated or swapped entry)".into())
    }
}

/// An entry's open `.mac` file: the MAC, the stamp once the entry was verified, and the file's own mtime (the
/// entry's last use).
struct Sidecar {
    file: File,
    mac: [u8; 32],
    stamp: Option<[u8; 32]>,
    used: Option<SystemTime>,
}

impl Sidecar {
    /// Open and read it: one read, one `fstat`. 32 bytes (MAC) or 64 (MAC and stamp); anything else is refused.
    fn open(path: &Path) -> Result<Self, String> {
        let mut file = File::open(path).map_err(|e| format!("no MAC: {e}"))?;
        let mut buf = [0u8; 65];
        let n = read_up_to(&mut file, &mut buf).map_err(|e| format!("no MAC: {e}"))?;
        if n != 32 && n != 64 {
            return Err("MAC file has the wrong length".into());
        }
        let used = file.metadata().and_then(|m| m.modified()).ok();
        let mac = buf[..32].try_into().expect("32 bytes");
        let stamp = (n == 64).then(|| buf[32..64].try_into().expect("32 bytes"));
        Ok(Self { file, mac, stamp, used })
    }

    /// Mark the entry used at `now`, unless it was within [`LRU_GRANULARITY`]: one `futimens` on the open file.
    /// Returns when it was last marked.
    fn mark_used(&self, now: SystemTime) -> SystemTime {
        match self.used {
            Some(used) if now.duration_since(used).is_ok_and(|age| age < LRU_GRANULARITY) => used,
            _ => {
                // A failure (read-only cache, entry evicted meanwhile) only costs LRU accuracy.
                let _ = self.file.set_modified(now);
                now
            }
        }
    }
}

/// One `read` into `buf` (retried only when interrupted): a regular file returns all it has up to `buf.len()`, so
/// a small file needs no second read to find its end.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

fn write_atomic(dir: &Path, dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}

/// The fingerprint directories under the root.
fn fingerprint_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(dirs) = fs::read_dir(root) else {
        return Vec::new();
    };
    dirs.flatten().map(|d| d.path()).filter(|p| p.is_dir()).collect()
}

fn is_temp(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(".tmp"))
}

/// Temp files (count, bytes) in the root and the fingerprint directories.
fn temp_files(root: &Path) -> (u64, u64) {
    let mut found = (0, 0);
    for dir in std::iter::once(root.to_path_buf()).chain(fingerprint_dirs(root)) {
        let Ok(files) = fs::read_dir(&dir) else { continue };
        for file in files.flatten().filter(|f| is_temp(&f.path())) {
            found.0 += 1;
            found.1 += file.metadata().map_or(0, |m| m.len());
        }
    }
    found
}

/// Delete temp files older than `age` and MACs whose artifact is gone (a writer killed between its two
/// renames, or a half-finished removal); returns how many went.
fn sweep(root: &Path, age: std::time::Duration) -> u64 {
    let now = SystemTime::now();
    let mut swept = 0;
    for dir in std::iter::once(root.to_path_buf()).chain(fingerprint_dirs(root)) {
        let Ok(files) = fs::read_dir(&dir) else { continue };
        for file in files.flatten() {
            let path = file.path();
            let stale_temp = is_temp(&path)
                && file
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > age);
            let orphan_mac = dir != root
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some(MAC_EXT | LEGACY_STAMP_EXT)
                )
                && !path.with_extension(ARTIFACT_EXT).exists();
            if (stale_temp || orphan_mac) && fs::remove_file(&path).is_ok() {
                swept += 1;
            }
        }
    }
    swept
}

/// The soft `RLIMIT_FSIZE` in bytes (`u64::MAX` when unlimited).
fn file_size_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` through the pointer, which points to a live, writable one.
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) } != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return u64::MAX;
    }
    limit.rlim_cur
}

/// A memo record: a file of exactly 64 bytes, in one open, one read and one close (no `statx`, no allocation).
fn read_memo_record(path: &Path) -> Option<[u8; 64]> {
    let mut file = File::open(path).ok()?;
    let mut buf = [0u8; 65];
    // Longer than 64: not one of ours.
    (read_up_to(&mut file, &mut buf).ok()? == 64).then(|| buf[..64].try_into().expect("64 bytes"))
}

fn load_or_create_key(root: &Path) -> io::Result<[u8; 32]> {
    let path = root.join("key");
    let distrust = match trusted_key(&path) {
        Ok(Some(key)) => return Ok(key),
        Ok(None) => None,
        Err(why) => {
            tracing::warn!(path = %path.display(), %why, "cache key not trusted; replacing it (entries written under it will be recompiled)");
            Some(why)
        }
    };
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
    // tempfile creates files with mode 0600.
    let mut tmp = tempfile::NamedTempFile::new_in(root)?;
    tmp.write_all(&key)?;
    tmp.as_file().sync_all()?;
    if let Some(why) = distrust {
        // A rename replaces a symlink itself, never its target.
        tmp.persist(&path).map_err(|e| {
            io::Error::other(format!(
                "cache key {}: {why}; cannot replace it: {}",
                path.display(),
                e.error
            ))
        })?;
        return Ok(key);
    }
    match tmp.persist_noclobber(&path) {
        Ok(_) => Ok(key),
        // Another process created it first: use theirs, on the same terms.
        Err(_) => trusted_key(&path)
            .map_err(|why| io::Error::other(format!("cache key {}: {why}", path.display())))?
            .ok_or_else(|| io::Error::other(format!("cache key {} vanished", path.display()))),
    }
}

/// The key at `path`: `Ok(None)` when there is none, `Err(why)` when there is something we must not trust.
fn trusted_key(path: &Path) -> Result<Option<[u8; 32]>, String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot stat: {e}")),
    };
    if meta.file_type().is_symlink() {
        return Err("it is a symlink".into());
    }
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!("it is owned by uid {}, not {me}", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "its mode {:o} lets others read or write it",
            meta.mode() & 0o777
        ));
    }
    // O_NOFOLLOW: a symlink swapped in since the check above fails to open rather than being followed.
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::with_capacity(33);
    (&mut file)
        .take(33)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(Some)
        .map_err(|_| format!("it holds {} bytes, not 32", bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the stamp no longer detects, stated as a test: two files with the same identity (device, inode,
    /// size, mtime, ctime) but different bytes get the same stamp. Only root can make such a pair.
    #[test]
    fn a_stamp_binds_the_file_identity_not_its_content() {
        let (key, hash) = ([9u8; 32], blake3::hash(b"wasm"));
        let identity = [1, 2, 3, 4, 5, 6, 7];
        assert_eq!(
            stamp_of(&key, "fp", &hash, identity),
            stamp_of(&key, "fp", &hash, identity)
        );
        for i in 0..7 {
            let mut other = identity;
            other[i] += 1;
            assert_ne!(
                stamp_of(&key, "fp", &hash, identity),
                stamp_of(&key, "fp", &hash, other),
                "field {i}"
            );
        }
        assert_ne!(
            stamp_of(&key, "fp", &hash, identity),
            stamp_of(&[8; 32], "fp", &hash, identity)
        );
        assert_ne!(
            stamp_of(&key, "fp", &hash, identity),
            stamp_of(&key, "fq", &hash, identity)
        );
    }
}
