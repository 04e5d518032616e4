//! Artifact bundles: modules precompiled into one file an app ships; a read-only tier consulted before
//! compiling, checked before anything is deserialized.

use std::fs;
use std::path::{Path, PathBuf};

use ext_wasm::{BundleSource, Interruption, LoadOrigin, Runtime, RuntimeConfig, Value};

use crate::*;

fn bundle_of(dir: &Path, modules: &[&str]) -> (PathBuf, String) {
    let path = dir.join("app.wasmbundle");
    let wasm: Vec<&[u8]> = modules.iter().map(|m| m.as_bytes()).collect();
    let manifest = runtime().write_bundle(&wasm, &[Interruption::DEFAULT], &path).unwrap();
    (path, manifest.to_hex().to_string())
}

fn with_bundle(cache: Option<&Path>, path: &Path, manifest: Option<&str>) -> Runtime {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = cache.is_some();
    config.cache.dir = cache.map(Path::to_path_buf);
    config.pool.total_instances = 50;
    config.bundles = vec![BundleSource {
        path: path.to_path_buf(),
        manifest: manifest.map(String::from),
    }];
    Runtime::new(config)
}

fn origin_and_sum(rt: &Runtime) -> (LoadOrigin, Value) {
    let report = rt.compile_report(ADD.as_bytes()).unwrap();
    let i = rt.instantiate(report.id, &Default::default()).unwrap();
    (
        report.origin,
        rt.call(i, "add", &[Value::I32(2), Value::I32(3)]).unwrap()[0],
    )
}

#[test]
fn a_bundled_module_loads_without_compiling_and_lands_in_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = bundle_of(dir.path(), &[ADD]);
    let cache = dir.path().join("cache");
    let rt = with_bundle(Some(&cache), &path, None);
    assert_eq!(origin_and_sum(&rt), (LoadOrigin::Bundle, Value::I32(5)));
    assert_eq!((rt.bundles()[0].hits, rt.bundles()[0].entries), (1, 1));
    // The next process maps it from its own cache.
    assert_eq!(
        origin_and_sum(&with_bundle(Some(&cache), &path, None)).0,
        LoadOrigin::CacheHit
    );
}

#[test]
fn without_a_disk_cache_a_bundled_module_loads_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = bundle_of(dir.path(), &[ADD]);
    assert_eq!(
        origin_and_sum(&with_bundle(None, &path, None)),
        (LoadOrigin::Bundle, Value::I32(5))
    );
}

#[test]
fn a_pinned_bundle_loads_only_with_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (path, manifest) = bundle_of(dir.path(), &[ADD]);
    assert_eq!(
        origin_and_sum(&with_bundle(None, &path, Some(&manifest))).0,
        LoadOrigin::Bundle
    );
    let wrong = "00".repeat(32);
    let rt = with_bundle(None, &path, Some(&wrong));
    assert_eq!(origin_and_sum(&rt), (LoadOrigin::Compiled, Value::I32(5)));
    let error = rt.bundles()[0].error.clone().unwrap();
    assert!(error.contains(&format!("is not the pinned {wrong}")), "{error}");
}

#[test]
fn a_tampered_entry_is_refused_and_the_module_compiled() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = bundle_of(dir.path(), &[ADD]);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 100;
    bytes[last] ^= 0x40; // inside the artifact: the index (and so the manifest) is unchanged
    fs::write(&path, &bytes).unwrap();
    let rt = with_bundle(None, &path, None);
    assert_eq!(origin_and_sum(&rt), (LoadOrigin::Compiled, Value::I32(5)));
    assert_eq!((rt.bundles()[0].hits, rt.bundles()[0].rejected), (0, 1));
}

#[test]
fn a_bundle_from_another_engine_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.wasmbundle");
    // Another memory reservation is another engine configuration: another fingerprint, as another Wasmtime
    // version or CPU would be.
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    config.pool.memory_reservation = 1 << 30;
    Runtime::new(config)
        .write_bundle(&[ADD.as_bytes()], &[Interruption::DEFAULT], &path)
        .unwrap();
    let rt = with_bundle(None, &path, None);
    assert_eq!(origin_and_sum(&rt), (LoadOrigin::Compiled, Value::I32(5)));
    assert_eq!(
        (rt.bundles()[0].hits, rt.bundles()[0].rejected, rt.bundles()[0].entries),
        (0, 0, 1)
    );
}

#[test]
fn a_file_that_is_not_a_bundle_is_skipped_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = bundle_of(dir.path(), &[ADD]);
    let bytes = fs::read(&path).unwrap();
    for (name, content, why) in [
        ("garbage", &b"not a bundle at all"[..], "not an ext_wasm bundle"),
        ("truncated", &bytes[..40], "truncated index"),
    ] {
        let bad = dir.path().join(name);
        fs::write(&bad, content).unwrap();
        let rt = with_bundle(None, &bad, None);
        assert_eq!(origin_and_sum(&rt).0, LoadOrigin::Compiled);
        assert_eq!(rt.bundles()[0].error.as_deref(), Some(why));
    }
}

#[test]
fn variants_missing_from_the_bundle_are_compiled() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = bundle_of(dir.path(), &[ADD]);
    let rt = with_bundle(None, &path, None);
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let fuel = ext_wasm::InstanceOptions {
        fuel: Some(1_000_000),
        ..Default::default()
    };
    let i = rt.instantiate(m, &fuel).unwrap();
    assert_eq!(
        rt.call(i, "add", &[Value::I32(2), Value::I32(3)]).unwrap(),
        [Value::I32(5)]
    );
    assert_eq!(
        rt.bundles()[0].hits,
        1,
        "the default variant came from the bundle, the fuel one was compiled"
    );
}
