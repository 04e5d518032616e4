//! Hostile guests: each attacks one limit or one sandbox wall (`fixtures/wat/hostile.wat`), gets its exact
//! outcome (an error code or a WASI errno), and the runtime keeps serving other instances afterwards.

use std::path::Path;
use std::time::Duration;

use ext_wasm::{ErrorCode, InstanceId, InstanceOptions, OutputMode, Preopen, Runtime, Value, WasiOptions};

use crate::*;

/// WASI errno values (`wasi_snapshot_preview1`).
const EIO: i32 = 29;
const ENOENT: i32 = 44;
const EPERM: i32 = 63;

fn hostile(rt: &Runtime, options: InstanceOptions) -> ext_wasm::Result<InstanceId> {
    let m = rt.compile_file(fixture("wat/hostile.wat")).unwrap();
    rt.instantiate(m, &options)
}

fn sandboxed(rt: &Runtime, dir: &Path, read_only: bool) -> InstanceId {
    let wasi = WasiOptions {
        preopens: vec![Preopen {
            host: dir.into(),
            guest: "/sandbox".into(),
            read_only,
        }],
        ..Default::default()
    };
    hostile(
        rt,
        InstanceOptions {
            wasi: Some(wasi),
            ..Default::default()
        },
    )
    .unwrap()
}

/// Write `path` at the guest's first (1024) or second (2048) path slot; its length as an argument.
fn path(rt: &Runtime, i: InstanceId, slot: u64, path: &str) -> Value {
    rt.write_memory(i, None, slot, path.as_bytes()).unwrap();
    Value::I32(path.len() as i32)
}

fn errno(rt: &Runtime, i: InstanceId, name: &str, args: &[Value]) -> i32 {
    match rt.call(i, name, args).unwrap()[..] {
        [Value::I32(e)] => e,
        ref other => panic!("{other:?}"),
    }
}

/// Another instance still works: the runtime kept serving.
fn still_serving(rt: &Runtime) {
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let i = rt.instantiate(m, &Default::default()).unwrap();
    assert_eq!(
        rt.call(i, "add", &[Value::I32(2), Value::I32(3)]).unwrap(),
        [Value::I32(5)]
    );
    rt.drop_instance(i).unwrap();
}

#[test]
fn memory_grown_in_a_loop_stops_at_the_cap() {
    let rt = runtime();
    let options = InstanceOptions {
        max_memory_bytes: Some(1 << 20),
        ..Default::default()
    };
    let i = hostile(&rt, options).unwrap();
    assert_eq!(rt.call(i, "grow_until_refused", &[]).unwrap(), [Value::I32(16)]);
    assert_eq!(rt.memory_byte_len(i, None).unwrap(), 1 << 20);
    still_serving(&rt);
}

#[test]
fn without_a_cap_memory_grows_to_the_wasm32_maximum_reserved_not_committed() {
    let rt = runtime();
    let i = hostile(&rt, Default::default()).unwrap();
    assert_eq!(rt.call(i, "grow_until_refused", &[]).unwrap(), [Value::I32(65536)]);
    rt.drop_instance(i).unwrap();
    still_serving(&rt);
}

#[test]
fn unbounded_recursion_is_a_stack_exhaustion_trap_and_the_instance_lives_on() {
    let rt = runtime();
    let i = hostile(&rt, Default::default()).unwrap();
    let e = rt.call(i, "recurse", &[Value::I64(0)]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::CallError);
    assert!(e.to_string().contains("call stack exhausted"), "{e}");
    assert_eq!(rt.call(i, "grow_table", &[Value::I32(0)]).unwrap(), [Value::I32(1)]);
    still_serving(&rt);
}

#[test]
fn a_spinning_guest_is_stopped_by_its_timeout() {
    let rt = runtime();
    let options = InstanceOptions {
        timeout: Some(Duration::from_millis(50)),
        ..Default::default()
    };
    let i = hostile(&rt, options).unwrap();
    assert_eq!(rt.call(i, "spin", &[]).unwrap_err().code(), ErrorCode::Timeout);
    still_serving(&rt);
}

#[test]
fn tables_cannot_grow_past_the_pool_limit() {
    let rt = runtime();
    let i = hostile(&rt, Default::default()).unwrap();
    assert_eq!(
        rt.call(i, "grow_table", &[Value::I32(100_000_000)]).unwrap(),
        [Value::I32(-1)]
    );
    assert_eq!(rt.call(i, "grow_table", &[Value::I32(10)]).unwrap(), [Value::I32(1)]);
    // A table declared larger than the pool's slots (20,000 elements) is refused before anything runs.
    let e = rt.compile(b"(module (table 100000000 funcref))").unwrap_err();
    assert_eq!(e.code(), ErrorCode::CompileError);
    assert!(e.to_string().contains("exceeds the limit of 20000"), "{e}");
    still_serving(&rt);
}

#[test]
fn a_trapping_start_function_fails_instantiation_with_5001() {
    let rt = runtime();
    let m = rt.compile(b"(module (func $s unreachable) (start $s))").unwrap();
    let e = rt.instantiate(m, &Default::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InstantiateError);
    assert!(e.to_string().contains("unreachable"), "{e}");
    still_serving(&rt);
}

#[test]
fn proc_exit_from_deep_inside_ends_the_call_with_an_exit_status() {
    let rt = runtime();
    let i = hostile(&rt, Default::default()).unwrap();
    assert_eq!(
        rt.call(i, "exit_deep", &[Value::I32(10_000), Value::I32(7)]).unwrap(),
        []
    );
    assert_eq!(rt.exit_code(i).unwrap(), Some(7));
    still_serving(&rt);
}

#[test]
fn captured_stdout_is_bounded_and_a_guest_writing_past_it_gets_eio() {
    // 1 GiB in 64 KiB writes; the capture keeps the first 16 MiB (RuntimeConfig::capture_limit).
    let rt = runtime();
    let wasi = WasiOptions {
        stdout: OutputMode::Capture,
        ..Default::default()
    };
    let options = InstanceOptions {
        wasi: Some(wasi),
        ..Default::default()
    };
    let i = hostile(&rt, options).unwrap();
    assert_eq!(errno(&rt, i, "spew", &[Value::I32(16384)]), EIO);
    assert_eq!(rt.stdout(i).unwrap().len(), 16 << 20);
    still_serving(&rt);
}

/// Descriptors this process holds on files under `dir` (by their `/proc/self/fd` links): other tests running
/// in parallel open files too, but not in this test's temporary directory.
fn open_fds(dir: &std::path::Path) -> usize {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(&dir)))
        .count()
}

#[test]
fn thousands_of_open_files_are_all_closed_when_the_instance_is_dropped() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"x").unwrap();
    let i = sandboxed(&rt, dir.path(), true);
    let preopened = open_fds(dir.path());
    let len = path(&rt, i, 1024, "f.txt");
    assert_eq!(
        rt.call(i, "open_many", &[len, Value::I32(3000)]).unwrap(),
        [Value::I32(3000)]
    );
    assert_eq!(open_fds(dir.path()), preopened + 3000);
    rt.drop_instance(i).unwrap();
    assert_eq!(open_fds(dir.path()), 0);
    still_serving(&rt);
}

#[test]
fn a_guest_opening_past_its_handle_cap_traps_and_its_files_close_on_drop() {
    let mut config = ext_wasm::RuntimeConfig {
        wasi_max_handles: 100,
        ..Default::default()
    };
    config.cache.enabled = false;
    let rt = Runtime::new(config);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"x").unwrap();
    let i = sandboxed(&rt, dir.path(), true);
    let len = path(&rt, i, 1024, "f.txt");
    let e = rt.call(i, "open_many", &[len, Value::I32(3000)]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::CallError);
    assert!(e.message().contains("resource table has no free keys"), "{e}");
    // At most the cap's worth of the 3,000 it tried.
    assert!(open_fds(dir.path()) <= 100, "{} fds open", open_fds(dir.path()));
    rt.drop_instance(i).unwrap();
    assert_eq!(open_fds(dir.path()), 0);
    still_serving(&rt);
}

fn read_only_open(rt: &Runtime, i: InstanceId, p: &str) -> i32 {
    let len = path(rt, i, 1024, p);
    errno(rt, i, "open", &[len, Value::I32(0), Value::I32(0)])
}

#[test]
fn dot_dot_and_absolute_paths_cannot_leave_the_preopen() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let i = sandboxed(&rt, dir.path(), false);
    assert_eq!(read_only_open(&rt, i, "../../../../etc/passwd"), EPERM);
    assert_eq!(read_only_open(&rt, i, "/etc/passwd"), EPERM);
}

#[test]
fn symlinks_inside_the_preopen_cannot_lead_out_of_it() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/etc", dir.path().join("host-made")).unwrap();
    let i = sandboxed(&rt, dir.path(), false);
    assert_eq!(read_only_open(&rt, i, "host-made/passwd"), EPERM);
    // The guest may not plant an absolute link; a relative one that climbs out is made but leads nowhere.
    let (target, link) = (path(&rt, i, 1024, "/etc"), path(&rt, i, 2048, "abs"));
    assert_eq!(errno(&rt, i, "symlink", &[target, link]), EPERM);
    let (target, link) = (path(&rt, i, 1024, "../../../../etc"), path(&rt, i, 2048, "climb"));
    assert_eq!(errno(&rt, i, "symlink", &[target, link]), 0);
    assert_eq!(read_only_open(&rt, i, "climb/passwd"), EPERM);
}

#[test]
fn a_preopen_swapped_for_a_symlink_after_instantiate_still_means_the_original_directory() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandbox");
    std::fs::create_dir(&sandbox).unwrap();
    std::fs::write(sandbox.join("mine.txt"), b"x").unwrap();
    let i = sandboxed(&rt, &sandbox, false);
    std::fs::rename(&sandbox, dir.path().join("moved")).unwrap();
    std::os::unix::fs::symlink("/etc", &sandbox).unwrap();
    assert_eq!(read_only_open(&rt, i, "passwd"), ENOENT);
    assert_eq!(read_only_open(&rt, i, "mine.txt"), 0);
}

#[test]
fn read_only_preopens_refuse_every_mutating_call() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"x").unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    let i = sandboxed(&rt, dir.path(), true);
    let open = |p: &str, oflags: i32, write: i32| {
        let len = path(&rt, i, 1024, p);
        errno(&rt, i, "open", &[len, Value::I32(oflags), Value::I32(write)])
    };
    assert_eq!(open("new.txt", 1, 1), EPERM, "create");
    assert_eq!(open("f.txt", 0, 1), EPERM, "open for writing");
    assert_eq!(open("f.txt", 8, 1), EPERM, "truncate");
    assert_eq!(open("f.txt", 0, 0), 0, "reading is fine");
    for (name, first, second) in [
        ("unlink", "f.txt", None),
        ("mkdir", "e", None),
        ("rmdir", "d", None),
        ("rename", "f.txt", Some("g.txt")),
        ("symlink", "f.txt", Some("s")),
    ] {
        let mut args = vec![path(&rt, i, 1024, first)];
        args.extend(second.map(|p| path(&rt, i, 2048, p)));
        assert_eq!(errno(&rt, i, name, &args), EPERM, "{name}");
    }
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["d", "f.txt"]);
    assert_eq!(std::fs::read(dir.path().join("f.txt")).unwrap(), b"x");
}
