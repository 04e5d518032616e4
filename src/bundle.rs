//! Artifact bundles: modules precompiled into one file an app ships with its resources, so its first launch
//! on a new machine is already warm. A bundle is a read-only cache tier consulted before compiling
//! ([`crate::RuntimeConfig::bundles`]); a hit is checked, copied into the artifact cache (from where later
//! loads map it) and loaded.
//!
//! # Format (version 1)
//!
//! ```text
//! "EXTWBNDL" | version u32 LE | count u32 LE                                  the header
//! count × { fingerprint: 16 ASCII hex bytes | wasm hash: 32 | artifact blake3: 32 |
//!           offset: u64 LE | length: u64 LE }                                  the index
//! the artifacts (wasmtime's serialized modules) at their offsets
//! ```
//!
//! Entries are keyed like the artifact cache: the engine fingerprint (Wasmtime version, target CPU features,
//! compiler settings and our engine variant) and blake3 of the wasm. An entry for another fingerprint (a bundle
//! built by another Wasmtime, for another CPU, or for a variant this app does not use) is simply never found:
//! the module is compiled instead.
//!
//! # Trust model
//!
//! The **manifest** is blake3 of the header and index; the index holds each artifact's blake3, so the manifest
//! names every byte of the bundle. `ext-wasm bundle` prints it. An app that **pins** it
//! (`bundles: [{ path, manifest }]`) loads only a bundle with exactly that manifest, and each artifact is
//! hashed against the index before it is deserialized: an attacker who can write the bundle file can make it
//! fail to load (the app then compiles), never make it run other code. An app that does not pin trusts the
//! bundle as it trusts its other resource files: corruption and truncation are still caught (an artifact
//! hashing to something else is refused), but whoever can write the bundle can run native code in the app —
//! as whoever can write the app's own scripts already can. Deserializing is native code either way; pin
//! bundles that live anywhere less protected than the app itself.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"EXTWBNDL";
const VERSION: u32 = 1;
const HEADER: usize = 16;
const RECORD: usize = 16 + 32 + 32 + 8 + 8;

/// One module's artifact for one engine, to put in a bundle.
pub struct BundleEntry {
    /// The engine fingerprint the artifact was compiled for.
    pub fingerprint: String,
    /// blake3 of the wasm binary.
    pub wasm_hash: blake3::Hash,
    /// The serialized module.
    pub artifact: Vec<u8>,
}

/// An open bundle: the file mapped, its index parsed.
pub struct Bundle {
    path: PathBuf,
    map: memmap2::Mmap,
    manifest: blake3::Hash,
    index: HashMap<(String, [u8; 32]), (blake3::Hash, usize, usize)>,
}

impl Bundle {
    /// Open the bundle at `path`; with `pinned`, refuse it unless its manifest is that (hex). Cost: one mmap
    /// and a hash of the index (no artifact is read until one is needed).
    pub fn open(path: &Path, pinned: Option<&str>) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        // SAFETY: the mapping is read-only and private; a bundle changed under it at worst fails the hash
        // checks below and in `artifact`, which are done on the mapped bytes before anything trusts them.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("cannot map: {e}"))?;
        if map.len() < HEADER || &map[..8] != MAGIC {
            return Err("not an ext_wasm bundle".into());
        }
        let version = u32::from_le_bytes(map[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(format!(
                "bundle version {version}, this runtime reads version {VERSION}"
            ));
        }
        let count = u32::from_le_bytes(map[12..16].try_into().expect("4 bytes")) as usize;
        let index_end = count
            .checked_mul(RECORD)
            .and_then(|n| n.checked_add(HEADER))
            .filter(|&end| end <= map.len())
            .ok_or("truncated index")?;
        let manifest = blake3::hash(&map[..index_end]);
        if let Some(pinned) = pinned {
            if manifest.to_hex().as_str() != pinned.to_ascii_lowercase() {
                return Err(format!("its manifest {} is not the pinned {pinned}", manifest.to_hex()));
            }
        }
        let mut index = HashMap::new();
        for record in map[HEADER..index_end].chunks_exact(RECORD) {
            let fingerprint = std::str::from_utf8(&record[..16])
                .map_err(|_| "bad fingerprint")?
                .to_string();
            let wasm: [u8; 32] = record[16..48].try_into().expect("32 bytes");
            let digest = blake3::Hash::from_bytes(record[48..80].try_into().expect("32 bytes"));
            let offset = u64::from_le_bytes(record[80..88].try_into().expect("8 bytes")) as usize;
            let len = u64::from_le_bytes(record[88..96].try_into().expect("8 bytes")) as usize;
            if offset.checked_add(len).is_none_or(|end| end > map.len()) || offset < index_end {
                return Err("an entry lies outside the file".into());
            }
            index.insert((fingerprint, wasm), (digest, offset, len));
        }
        Ok(Bundle {
            path: path.to_path_buf(),
            map,
            manifest,
            index,
        })
    }

    /// The file it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// blake3 of its header and index, which names every byte of it (see the module docs).
    pub fn manifest(&self) -> blake3::Hash {
        self.manifest
    }

    /// How many artifacts it holds.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The artifact for the wasm with `hash` compiled by the engine `fingerprint`: `None` when the bundle has
    /// none, `Err` when its bytes are not the ones the index names. Cost: hashing the artifact once.
    pub(crate) fn artifact(&self, fingerprint: &str, hash: &blake3::Hash) -> Option<Result<&[u8], String>> {
        let (digest, offset, len) = *self.index.get(&(fingerprint.to_string(), *hash.as_bytes()))?;
        let bytes = &self.map[offset..offset + len];
        Some(if blake3::hash(bytes) == digest {
            Ok(bytes)
        } else {
            Err(format!(
                "entry {} is not the artifact its index names (tampered or corrupt)",
                hash.to_hex()
            ))
        })
    }
}

/// Write `entries` as a bundle at `path` (atomically: a temp file renamed over it); returns its manifest.
pub fn write_bundle(path: &Path, entries: &[BundleEntry]) -> io::Result<blake3::Hash> {
    let mut head = Vec::with_capacity(HEADER + entries.len() * RECORD);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&VERSION.to_le_bytes());
    head.extend_from_slice(&u32::try_from(entries.len()).map_err(io::Error::other)?.to_le_bytes());
    let mut offset = (HEADER + entries.len() * RECORD) as u64;
    for e in entries {
        if e.fingerprint.len() != 16 {
            return Err(io::Error::other(format!(
                "fingerprint `{}` is not 16 hex digits",
                e.fingerprint
            )));
        }
        head.extend_from_slice(e.fingerprint.as_bytes());
        head.extend_from_slice(e.wasm_hash.as_bytes());
        head.extend_from_slice(blake3::hash(&e.artifact).as_bytes());
        head.extend_from_slice(&offset.to_le_bytes());
        head.extend_from_slice(&(e.artifact.len() as u64).to_le_bytes());
        offset += e.artifact.len() as u64;
    }
    let manifest = blake3::hash(&head);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&head)?;
    for e in entries {
        tmp.write_all(&e.artifact)?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(manifest)
}
