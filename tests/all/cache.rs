use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ext_wasm::{InstanceOptions, LoadOrigin, RuntimeConfig, Value};

use crate::*;

const OTHER: &str = r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.sub))"#;

/// Compile `wat` in a fresh runtime (a "restart") over `dir` and return where the code came from.
fn load(dir: &Path, wat: &str) -> (LoadOrigin, ext_wasm::CacheStats) {
    let rt = cached_runtime(dir);
    let report = rt.compile_report(wat.as_bytes()).unwrap();
    let i = rt.instantiate(report.id, &Default::default()).unwrap();
    assert!(matches!(
        rt.call(i, "add", &[Value::I32(5), Value::I32(3)]).unwrap()[0],
        Value::I32(8 | 2)
    ));
    (report.origin, rt.cache_stats())
}

fn artifacts(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    v.sort();
    v
}

/// `ADD` compiled, instantiated and called on `rt` works, whatever the disk cache's state.
fn adds_in_memory(rt: &Runtime) {
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let i = rt.instantiate(m, &Default::default()).unwrap();
    assert_eq!(
        rt.call(i, "add", &[Value::I32(1), Value::I32(2)]).unwrap(),
        [Value::I32(3)]
    );
}

#[test]
fn a_restart_loads_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, stats) = load(dir.path(), ADD);
    assert_eq!(origin, LoadOrigin::Compiled);
    assert_eq!((stats.hits, stats.misses, stats.writes, stats.entries), (0, 1, 1, 1));
    let (origin, stats) = load(dir.path(), ADD);
    assert_eq!(origin, LoadOrigin::CacheHit);
    assert_eq!((stats.hits, stats.misses, stats.rejected), (1, 0, 0));
    assert!(stats.bytes_on_disk > 1000, "{stats:?}");
}

#[test]
fn the_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    let mode = fs::metadata(dir.path().join("key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

fn assert_recovers(dir: &Path) {
    let (origin, stats) = load(dir, ADD);
    assert_eq!(origin, LoadOrigin::Compiled, "a bad entry is recompiled");
    assert_eq!((stats.rejected, stats.writes), (1, 1), "{stats:?}");
    let (origin, _) = load(dir, ADD);
    assert_eq!(origin, LoadOrigin::CacheHit, "and replaced");
}

#[test]
fn a_truncated_artifact_is_rejected_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    let a = &artifacts(dir.path())[0];
    let len = fs::metadata(a).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(a)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    assert_recovers(dir.path());
}

#[test]
fn an_empty_artifact_is_rejected_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    fs::write(&artifacts(dir.path())[0], b"").unwrap();
    assert_recovers(dir.path());
}

#[test]
fn flipped_bits_are_rejected_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    let a = &artifacts(dir.path())[0];
    let mut bytes = fs::read(a).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    fs::write(a, bytes).unwrap();
    assert_recovers(dir.path());
}

#[test]
fn a_tampered_mac_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    let mac = artifacts(dir.path())[0].with_extension("mac");
    fs::write(&mac, [0u8; 32]).unwrap();
    assert_recovers(dir.path());
    fs::write(&mac, [0u8; 7]).unwrap();
    assert_recovers(dir.path());
    fs::remove_file(&mac).unwrap();
    assert_recovers(dir.path());
}

#[test]
fn swapped_entries_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    load(dir.path(), OTHER);
    let arts = artifacts(dir.path());
    assert_eq!(arts.len(), 2);
    // Put entry 1's artifact and MAC under entry 0's name: both files are authentic, but not for this hash.
    fs::copy(&arts[1], &arts[0]).unwrap();
    fs::copy(arts[1].with_extension("mac"), arts[0].with_extension("mac")).unwrap();
    let rt = cached_runtime(dir.path());
    let a = rt.compile_report(ADD.as_bytes()).unwrap();
    let b = rt.compile_report(OTHER.as_bytes()).unwrap();
    let origins = [a.origin, b.origin];
    assert!(
        origins.contains(&LoadOrigin::Compiled) && origins.contains(&LoadOrigin::CacheHit),
        "{origins:?}"
    );
    assert_eq!(rt.cache_stats().rejected, 1);
    // And the swapped-in code never ran under the wrong name.
    let i = rt.instantiate(a.id, &Default::default()).unwrap();
    assert_eq!(
        rt.call(i, "add", &[Value::I32(5), Value::I32(3)]).unwrap(),
        [Value::I32(8)]
    );
}

#[test]
fn a_correctly_signed_entry_from_another_engine_is_rejected() {
    // Someone with the key (say, an older build) wrote an artifact compiled by a differently configured
    // engine under our fingerprint. The MAC passes; wasmtime's compatibility check must still refuse it.
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    let art = artifacts(dir.path()).remove(0);
    let fingerprint = art.parent().unwrap().file_name().unwrap().to_str().unwrap().to_string();
    let hash = blake3::Hash::from_hex(art.file_stem().unwrap().to_str().unwrap()).unwrap();
    let mut config = wasmtime::Config::new();
    config.consume_fuel(true).cranelift_opt_level(wasmtime::OptLevel::None);
    let foreign = wasmtime::Engine::new(&config).unwrap();
    let bytes = wasmtime::Module::new(&foreign, ADD).unwrap().serialize().unwrap();
    let key: [u8; 32] = fs::read(dir.path().join("key")).unwrap().try_into().unwrap();
    let mut mac = blake3::Hasher::new_keyed(&key);
    mac.update(b"ext_wasm artifact v1\0")
        .update(fingerprint.as_bytes())
        .update(&[0])
        .update(hash.as_bytes())
        .update(&(bytes.len() as u64).to_le_bytes())
        .update(&bytes);
    fs::write(&art, &bytes).unwrap();
    fs::write(art.with_extension("mac"), mac.finalize().as_bytes()).unwrap();
    assert_recovers(dir.path());
}

#[test]
fn a_replaced_key_invalidates_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    fs::write(dir.path().join("key"), [7u8; 32]).unwrap();
    assert_recovers(dir.path());
}

#[test]
fn a_corrupt_key_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    fs::write(dir.path().join("key"), b"short").unwrap();
    assert_recovers(dir.path());
    assert_eq!(fs::read(dir.path().join("key")).unwrap().len(), 32);
}

/// Set the last use of the entry whose artifact is `artifact` (its `.mac` file's mtime) `secs` seconds back.
fn used_ago(artifact: &Path, secs: u64) {
    let mac = fs::File::options()
        .write(true)
        .open(artifact.with_extension("mac"))
        .unwrap();
    mac.set_modified(SystemTime::now() - std::time::Duration::from_secs(secs))
        .unwrap();
}

/// The artifact of `wat`'s module (named by the blake3 hash of its binary).
fn artifact_of(dir: &Path, wat: &str) -> PathBuf {
    let hash = blake3::hash(&wat::parse_str(wat).unwrap()).to_hex();
    artifacts(dir)
        .into_iter()
        .find(|a| a.file_stem().unwrap() == hash.as_str())
        .unwrap()
}

fn last_used(artifact: &Path) -> SystemTime {
    fs::metadata(artifact.with_extension("mac"))
        .unwrap()
        .modified()
        .unwrap()
}

#[test]
fn the_size_cap_evicts_least_recently_used_entries() {
    let dir = tempfile::tempdir().unwrap();
    let one_entry = {
        load(dir.path(), ADD);
        load(dir.path(), ADD).1.bytes_on_disk
    };
    load(dir.path(), OTHER);
    let (add, other) = (artifact_of(dir.path(), ADD), artifact_of(dir.path(), OTHER));
    used_ago(&add, 600);
    used_ago(&other, 300);
    let mut config = RuntimeConfig::default();
    config.cache.dir = Some(dir.path().into());
    config.cache.max_bytes = one_entry * 2 + one_entry / 2;
    let rt = Runtime::new(config);
    rt.compile(ADD.as_bytes()).unwrap(); // a hit on an entry last used 10 minutes ago: now the most recent
    rt.compile(r#"(module (func (export "x")))"#.as_bytes()).unwrap();
    let stats = rt.cache_stats();
    assert!(stats.evictions >= 1, "{stats:?}");
    assert!(stats.bytes_on_disk <= one_entry * 2 + one_entry / 2, "{stats:?}");
    // OTHER was the least recently used: gone. ADD survived.
    assert!(!other.exists() && add.exists());
    assert_eq!(load(dir.path(), ADD).0, LoadOrigin::CacheHit);
}

#[test]
fn a_hit_refreshes_last_use_only_when_it_is_older_than_the_lru_granularity() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    let artifact = artifacts(dir.path()).remove(0);
    used_ago(&artifact, 10);
    let before = last_used(&artifact);
    assert_eq!(load(dir.path(), ADD).0, LoadOrigin::CacheHit);
    assert_eq!(last_used(&artifact), before, "10 s ago is recent enough: no write");
    used_ago(&artifact, ext_wasm::LRU_GRANULARITY.as_secs() + 10);
    let before = last_used(&artifact);
    load(dir.path(), ADD);
    assert!(last_used(&artifact) > before + std::time::Duration::from_secs(60));
}

#[test]
fn an_unusable_cache_directory_degrades_to_memory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    let rt = cached_runtime(&file.join("cache"));
    adds_in_memory(&rt);
    let stats = rt.cache_stats();
    assert!(stats.disk_error.is_some(), "{stats:?}");
    assert_eq!(stats.entries, 0);
}

#[test]
fn a_disabled_cache_writes_nothing() {
    let rt = runtime();
    rt.compile(ADD.as_bytes()).unwrap();
    assert_eq!(rt.cache_stats().dir, None);
    assert!(rt.cache().is_none());
}

#[test]
fn engine_variants_have_their_own_entries() {
    let dir = tempfile::tempdir().unwrap();
    let rt = cached_runtime(dir.path());
    let m = rt.compile(ADD.as_bytes()).unwrap();
    rt.instantiate(
        m,
        &InstanceOptions {
            fuel: Some(1000),
            ..Default::default()
        },
    )
    .unwrap();
    let fingerprints: std::collections::BTreeSet<_> = artifacts(dir.path())
        .iter()
        .map(|a| a.parent().unwrap().to_path_buf())
        .collect();
    assert_eq!(fingerprints.len(), 2);
    // A restart finds both.
    let rt = cached_runtime(dir.path());
    let m = rt.compile(ADD.as_bytes()).unwrap();
    rt.instantiate(
        m,
        &InstanceOptions {
            fuel: Some(1000),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rt.cache_stats().hits, 2);
}

#[test]
fn concurrent_restarts_share_one_directory_safely() {
    let dir = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| load(dir.path(), ADD));
        }
    });
    let (origin, stats) = load(dir.path(), ADD);
    assert_eq!((origin, stats.rejected), (LoadOrigin::CacheHit, 0));
    assert_eq!(artifacts(dir.path()).len(), 1);
}

#[test]
fn verify_clear_and_prune_maintain_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    load(dir.path(), OTHER);
    let rt = cached_runtime(dir.path());
    let cache = rt.cache().unwrap();
    assert_eq!(cache.verify().ok, 2);
    let arts = artifacts(dir.path());
    fs::write(&arts[0], b"garbage").unwrap();
    let report = cache.verify();
    assert_eq!((report.ok, report.removed.len()), (1, 1));
    assert_eq!(cache.list().len(), 1);
    assert_eq!(cache.prune(0), 1);
    load(dir.path(), ADD);
    assert_eq!(cache.clear(), 1);
    assert!(cache.list().is_empty());
}

/// The fingerprint directory of the one engine variant `load` uses.
fn fingerprint_dir(dir: &Path) -> PathBuf {
    artifacts(dir)[0].parent().unwrap().to_path_buf()
}

fn age(path: &Path, by: std::time::Duration) {
    let f = fs::File::options().append(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() - by).unwrap();
}

#[test]
fn temp_files_of_killed_writers_count_toward_the_cap_and_are_swept_when_stale() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    let temp = fingerprint_dir(dir.path()).join(".tmpKILLED");
    fs::write(&temp, vec![0u8; 10_000]).unwrap();
    let rt = cached_runtime(dir.path());
    let cache = rt.cache().unwrap();
    let with_temp = cache.stats();
    assert_eq!(with_temp.temp_files, 1);
    assert_eq!(with_temp.entries, 1);
    assert_eq!(cache.verify().swept, 0, "a fresh temp file may be a live writer's");
    assert!(temp.exists());
    age(&temp, std::time::Duration::from_secs(7200));
    assert_eq!(cache.verify().swept, 1);
    assert!(!temp.exists());
    assert_eq!(cache.stats().bytes_on_disk, with_temp.bytes_on_disk - 10_000);
}

#[test]
fn the_next_publish_sweeps_stale_temp_files_and_a_start_that_only_hits_leaves_them() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    let temp = fingerprint_dir(dir.path()).join(".tmpOLD");
    fs::write(&temp, b"half an artifact").unwrap();
    age(&temp, std::time::Duration::from_secs(7200));
    // A warm start reads: it does not list the cache.
    let (origin, stats) = load(dir.path(), ADD);
    assert_eq!((origin, stats.temp_files), (LoadOrigin::CacheHit, 1));
    assert!(temp.exists());
    // A publish prunes, and pruning sweeps.
    let (origin, stats) = load(dir.path(), OTHER);
    assert_eq!((origin, stats.temp_files), (LoadOrigin::Compiled, 0));
    assert!(!temp.exists());
}

#[test]
fn a_mac_without_its_artifact_is_swept() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    let rt = cached_runtime(dir.path());
    let artifact = artifacts(dir.path()).remove(0);
    fs::remove_file(&artifact).unwrap();
    let report = rt.cache().unwrap().verify();
    assert_eq!((report.ok, report.swept), (0, 1));
    assert!(!artifact.with_extension("mac").exists());
}

#[test]
fn a_symlinked_key_is_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    let planted = dir.path().join("planted-key");
    fs::write(&planted, [7u8; 32]).unwrap();
    fs::remove_file(dir.path().join("key")).unwrap();
    std::os::unix::fs::symlink(&planted, dir.path().join("key")).unwrap();
    assert_recovers(dir.path());
    let key = fs::symlink_metadata(dir.path().join("key")).unwrap();
    assert!(key.is_file(), "the link itself was replaced");
    assert_eq!(fs::read(&planted).unwrap(), [7u8; 32], "its target untouched");
}

#[test]
fn a_key_others_can_read_is_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), ADD);
    let path = dir.path().join("key");
    let old = fs::read(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    assert_recovers(dir.path());
    assert_ne!(fs::read(&path).unwrap(), old);
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_key_that_can_be_neither_trusted_nor_replaced_turns_the_disk_cache_off() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("key")).unwrap();
    fs::write(dir.path().join("key").join("x"), b"x").unwrap();
    let rt = cached_runtime(dir.path());
    adds_in_memory(&rt);
    let stats = rt.cache_stats();
    let why = stats.disk_error.unwrap();
    assert!(
        why.contains("it is not a regular file") && why.contains("cannot replace it"),
        "{why}"
    );
    assert!(artifacts(dir.path()).is_empty());
}

/// Load `ADD` until its entry carries a stamp: the artifact's ctime must be older than the settle time first.
fn stamped(dir: &Path) -> PathBuf {
    load(dir, ADD);
    std::thread::sleep(ext_wasm::STAMP_SETTLE + std::time::Duration::from_millis(100));
    assert_eq!(load(dir, ADD).0, LoadOrigin::CacheHit);
    let artifact = artifacts(dir).remove(0);
    assert_eq!(
        fs::metadata(artifact.with_extension("mac")).unwrap().len(),
        64,
        "a settled, verified entry is stamped: MAC then stamp"
    );
    artifact
}

#[test]
fn a_stamped_hit_skips_the_mac_pass_and_verify_still_reads_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = stamped(dir.path());
    // Spoil the MAC only: the artifact's identity is unchanged, so the stamp vouches for it without reading it.
    spoil_mac(&artifact);
    let (origin, stats) = load(dir.path(), ADD);
    assert_eq!((origin, stats.rejected), (LoadOrigin::CacheHit, 0));
    // The explicit check ignores stamps.
    let rt = cached_runtime(dir.path());
    let report = rt.cache().unwrap().verify();
    assert_eq!((report.ok, report.removed.len()), (0, 1));
    assert!(!artifact.with_extension("mac").exists());
}

#[test]
fn a_stamped_entry_written_in_place_is_rejected() {
    use std::io::{Seek, SeekFrom, Write};
    let dir = tempfile::tempdir().unwrap();
    let artifact = stamped(dir.path());
    let mut f = fs::File::options().write(true).open(&artifact).unwrap();
    f.seek(SeekFrom::Start(4096)).unwrap();
    f.write_all(b"tampered").unwrap(); // same inode, same size: only ctime (and mtime) move
    drop(f);
    assert_recovers(dir.path());
}

#[test]
fn a_stamped_entry_replaced_by_a_same_size_copy_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = stamped(dir.path());
    let mut bytes = fs::read(&artifact).unwrap();
    bytes[4096] ^= 1;
    let copy = artifact.with_extension("copy");
    fs::write(&copy, &bytes).unwrap();
    fs::rename(&copy, &artifact).unwrap(); // a new inode
    assert_recovers(dir.path());
}

#[test]
fn a_stamp_copied_to_another_entry_vouches_for_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = stamped(dir.path());
    load(dir.path(), OTHER);
    let other = artifacts(dir.path()).into_iter().find(|a| *a != artifact).unwrap();
    let stamp = fs::read(artifact.with_extension("mac")).unwrap()[32..].to_vec();
    fs::write(other.with_extension("mac"), [[0u8; 32].as_slice(), &stamp].concat()).unwrap(); // accepted if the stamp were
    let (origin, stats) = load(dir.path(), OTHER);
    assert_eq!((origin, stats.rejected), (LoadOrigin::Compiled, 1));
}

/// `ADD` compiled on `rt` (dropped again at once): where its code came from.
fn origin_on(rt: &Runtime) -> LoadOrigin {
    let report = rt.compile_report(ADD.as_bytes()).unwrap();
    rt.drop_module(report.id).unwrap();
    report.origin
}

#[test]
fn a_warm_runtimes_next_hit_trusts_what_it_verified_without_reading_the_mac_file() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = stamped(dir.path());
    let rt = cached_runtime(dir.path());
    assert_eq!(origin_on(&rt), LoadOrigin::CacheHit);
    // This runtime verified the artifact with its current identity: its `.mac` is not read again.
    fs::remove_file(artifact.with_extension("mac")).unwrap();
    assert_eq!(origin_on(&rt), LoadOrigin::CacheHit);
    assert_eq!(rt.cache_stats().rejected, 0);
    // A runtime that did not verify it reads the `.mac`, finds none and recompiles.
    assert_eq!(load(dir.path(), ADD).0, LoadOrigin::Compiled);
}

#[test]
fn a_warm_runtime_rejects_an_entry_written_in_place_after_it_verified_it() {
    use std::io::{Seek, SeekFrom, Write};
    let dir = tempfile::tempdir().unwrap();
    let artifact = stamped(dir.path());
    let rt = cached_runtime(dir.path());
    assert_eq!(origin_on(&rt), LoadOrigin::CacheHit);
    let mut f = fs::File::options().write(true).open(&artifact).unwrap();
    f.seek(SeekFrom::Start(4096)).unwrap();
    f.write_all(b"tampered").unwrap(); // same inode and size: its ctime moves, so its identity does
    drop(f);
    assert_eq!(origin_on(&rt), LoadOrigin::Compiled);
    assert_eq!(rt.cache_stats().rejected, 1);
}

/// Zero the MAC of a stamped entry, keeping its stamp.
fn spoil_mac(artifact: &Path) {
    let mac = artifact.with_extension("mac");
    let mut sidecar = fs::read(&mac).unwrap();
    sidecar[..32].fill(0);
    fs::write(&mac, sidecar).unwrap();
}

/// A wasm file whose ctime has settled, so the cache may remember its hash.
fn settled_file(dir: &Path, wat: &str) -> PathBuf {
    let path = dir.join("plugin.wasm");
    fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    std::thread::sleep(ext_wasm::STAMP_SETTLE + std::time::Duration::from_millis(100));
    path
}

fn add_of(rt: &Runtime, m: ext_wasm::ModuleId, options: &InstanceOptions) -> Value {
    let i = rt.instantiate(m, options).unwrap();
    rt.call(i, "add", &[Value::I32(5), Value::I32(3)]).unwrap()[0]
}

#[test]
fn a_remembered_file_loads_from_the_cache_and_a_changed_one_is_read_again() {
    let cache = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let path = settled_file(files.path(), ADD);
    assert_eq!(
        cached_runtime(cache.path()).compile_file_report(&path).unwrap().origin,
        LoadOrigin::Compiled
    );
    let rt = cached_runtime(cache.path());
    let report = rt.compile_file_report(&path).unwrap();
    assert_eq!(report.origin, LoadOrigin::CacheHit);
    assert_eq!(add_of(&rt, report.id, &Default::default()), Value::I32(8));
    // Another variant of a remembered file is compiled from the file, read again now.
    let fuel = InstanceOptions {
        fuel: Some(1_000_000),
        ..Default::default()
    };
    assert_eq!(add_of(&rt, report.id, &fuel), Value::I32(8));
    // A changed file is a new identity: read, hashed and compiled as what it now holds.
    fs::write(&path, wat::parse_str(OTHER).unwrap()).unwrap();
    let rt = cached_runtime(cache.path());
    let m = rt.compile_file(&path).unwrap();
    assert_eq!(add_of(&rt, m, &Default::default()), Value::I32(2));
}

#[test]
fn a_remembered_file_changed_after_loading_refuses_to_compile_another_variant() {
    let cache = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let path = settled_file(files.path(), ADD);
    cached_runtime(cache.path()).compile_file(&path).unwrap();
    let rt = cached_runtime(cache.path());
    let report = rt.compile_file_report(&path).unwrap();
    assert_eq!(report.origin, LoadOrigin::CacheHit);
    fs::write(&path, wat::parse_str(OTHER).unwrap()).unwrap();
    let fuel = InstanceOptions {
        fuel: Some(1_000_000),
        ..Default::default()
    };
    let e = rt.instantiate(report.id, &fuel).unwrap_err();
    assert_eq!(e.code(), ext_wasm::ErrorCode::CompileError);
    assert!(e.to_string().contains("changed since it was loaded"), "{e}");
    assert_eq!(
        add_of(&rt, report.id, &Default::default()),
        Value::I32(8),
        "the loaded variant still runs"
    );
}
