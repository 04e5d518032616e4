use std::path::Path;
use std::sync::Arc;

use ext_wasm::{Capabilities, CapabilityChecker, ErrorCode, InstanceOptions, Preopen, RuntimeConfig, WasiOptions};

use crate::*;

fn with_caps(caps: Capabilities) -> Runtime {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    config.capabilities = Arc::new(caps);
    Runtime::new(config)
}

fn preopen(rt: &Runtime, host: &Path) -> ext_wasm::Result<InstanceId> {
    let m = rt.compile_file(fixture("plugins/wasi_tool.wasm")).unwrap();
    let wasi = WasiOptions {
        preopens: vec![Preopen {
            host: host.into(),
            guest: "/data".into(),
            read_only: false,
        }],
        ..Default::default()
    };
    rt.instantiate(
        m,
        &InstanceOptions {
            wasi: Some(wasi),
            ..Default::default()
        },
    )
}

#[test]
fn file_compiles_can_be_denied() {
    let rt = with_caps(Capabilities {
        deny_file_compile: true,
        ..Default::default()
    });
    assert_eq!(
        code(rt.compile_file(fixture("wat/add.wat"))),
        ErrorCode::PermissionDenied
    );
    rt.compile(ADD.as_bytes()).unwrap();
}

#[test]
fn wasi_can_be_denied() {
    let rt = with_caps(Capabilities {
        deny_wasi: true,
        ..Default::default()
    });
    let m = rt.compile_file(fixture("plugins/wasi_tool.wasm")).unwrap();
    assert_eq!(
        code(rt.instantiate(m, &Default::default())),
        ErrorCode::PermissionDenied
    );
    // Pure modules are unaffected.
    let m = rt.compile_file(fixture("plugins/checksum.wasm")).unwrap();
    rt.instantiate(m, &Default::default()).unwrap();
}

#[test]
fn the_filesystem_root_is_refused_unless_explicitly_allowed() {
    let rt = with_caps(Capabilities::default());
    let err = preopen(&rt, Path::new("/")).unwrap_err();
    assert_eq!(err.code(), ErrorCode::PermissionDenied);
    // `/..` and `//` are the root too.
    assert_eq!(code(preopen(&rt, Path::new("/tmp/.."))), ErrorCode::PermissionDenied);
    let rt = with_caps(Capabilities {
        allow_root_preopen: true,
        ..Default::default()
    });
    preopen(&rt, Path::new("/")).unwrap();
}

fn sandbox() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("allowed");
    std::fs::create_dir_all(root.join("inner")).unwrap();
    std::fs::create_dir_all(dir.path().join("secret")).unwrap();
    (dir, root)
}

#[test]
fn preopens_inside_the_allowed_roots_work() {
    let (_dir, root) = sandbox();
    let rt = with_caps(Capabilities {
        preopen_roots: Some(vec![root.clone()]),
        ..Default::default()
    });
    preopen(&rt, &root).unwrap();
    preopen(&rt, &root.join("inner")).unwrap();
    preopen(&rt, &root.join("inner/..")).unwrap();
}

#[test]
fn dot_dot_escapes_are_denied() {
    let (_dir, root) = sandbox();
    let rt = with_caps(Capabilities {
        preopen_roots: Some(vec![root.clone()]),
        ..Default::default()
    });
    assert_eq!(code(preopen(&rt, &root.join("../secret"))), ErrorCode::PermissionDenied);
    assert_eq!(
        code(preopen(&rt, &root.join("inner/../../secret"))),
        ErrorCode::PermissionDenied
    );
}

#[test]
fn symlink_escapes_are_denied() {
    let (dir, root) = sandbox();
    std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
    let rt = with_caps(Capabilities {
        preopen_roots: Some(vec![root.clone()]),
        ..Default::default()
    });
    let err = preopen(&rt, &root.join("link")).unwrap_err();
    assert_eq!(err.code(), ErrorCode::PermissionDenied);
    assert!(err.to_string().contains("outside the allowed roots"), "{err}");
}

#[test]
fn absolute_escapes_are_denied() {
    let (dir, root) = sandbox();
    let rt = with_caps(Capabilities {
        preopen_roots: Some(vec![root]),
        ..Default::default()
    });
    assert_eq!(
        code(preopen(&rt, &dir.path().join("secret"))),
        ErrorCode::PermissionDenied
    );
    assert_eq!(code(preopen(&rt, Path::new("/etc"))), ErrorCode::PermissionDenied);
}

#[test]
fn an_embedder_checker_can_deny() {
    struct NoEtc;
    impl CapabilityChecker for NoEtc {
        fn check_preopen(&self, host: &Path, _read_only: bool) -> Result<(), String> {
            if host.starts_with("/etc") {
                Err("no /etc for plugins".into())
            } else {
                Ok(())
            }
        }
    }
    let rt = with_caps(Capabilities {
        checker: Some(Arc::new(NoEtc)),
        ..Default::default()
    });
    let err = preopen(&rt, Path::new("/etc")).unwrap_err();
    assert_eq!(err.to_string(), "[5009] permission denied: no /etc for plugins");
    preopen(&rt, &std::env::temp_dir()).unwrap();
}
