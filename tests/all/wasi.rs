use ext_wasm::{ErrorCode, InputMode, InstanceOptions, OutputMode, Preopen, WasiOptions};

use crate::*;

fn tool(rt: &Runtime, wasi: WasiOptions) -> ext_wasm::Result<InstanceId> {
    let m = rt.compile_file(fixture("plugins/wasi_tool.wasm")).unwrap();
    rt.instantiate(
        m,
        &InstanceOptions {
            wasi: Some(wasi),
            ..Default::default()
        },
    )
}

fn captured(args: &[&str]) -> WasiOptions {
    WasiOptions {
        args: args.iter().map(|s| s.to_string()).collect(),
        stdout: OutputMode::Capture,
        stderr: OutputMode::Capture,
        ..Default::default()
    }
}

#[test]
fn stdout_is_captured_and_returned() {
    let rt = runtime();
    let i = tool(&rt, captured(&[])).unwrap();
    assert_eq!(rt.run_command(i).unwrap(), 0);
    assert_eq!(rt.stdout(i).unwrap(), b"hello from wasi\n");
    assert_eq!(rt.exit_code(i).unwrap(), Some(0));
}

#[test]
fn args_reach_the_guest_after_the_program_name() {
    let rt = runtime();
    let i = tool(&rt, captured(&["echo", "a", "b c"])).unwrap();
    rt.run_command(i).unwrap();
    assert_eq!(String::from_utf8(rt.stdout(i).unwrap()).unwrap(), "a b c\n");
}

#[test]
fn env_reaches_the_guest() {
    let rt = runtime();
    let mut w = captured(&["env", "LOG_LEVEL"]);
    w.env = vec![("LOG_LEVEL".into(), "debug".into())];
    let i = tool(&rt, w).unwrap();
    rt.run_command(i).unwrap();
    assert_eq!(rt.stdout(i).unwrap(), b"debug\n");
    let i = tool(&rt, captured(&["env", "UNSET"])).unwrap();
    assert_eq!(rt.run_command(i).unwrap(), 3);
}

#[test]
fn proc_exit_is_an_exit_status_not_an_error() {
    let rt = runtime();
    let i = tool(&rt, captured(&["exit", "7"])).unwrap();
    assert_eq!(rt.run_command(i).unwrap(), 7);
    assert_eq!(rt.exit_code(i).unwrap(), Some(7));
    // Calling `_start` directly also reports the status, not an error.
    let j = tool(&rt, captured(&["exit", "9"])).unwrap();
    assert_eq!(rt.call(j, "_start", &[]).unwrap(), []);
    assert_eq!(rt.exit_code(j).unwrap(), Some(9));
}

#[test]
fn stderr_is_captured_separately() {
    let rt = runtime();
    let i = tool(&rt, captured(&["stderr", "oops"])).unwrap();
    rt.run_command(i).unwrap();
    assert_eq!(rt.stderr(i).unwrap(), b"oops\n");
    assert_eq!(rt.stdout(i).unwrap(), b"");
}

#[test]
fn stdin_bytes_are_readable() {
    let rt = runtime();
    let mut w = captured(&["stdin"]);
    w.stdin = InputMode::Bytes(b"shout this".to_vec());
    let i = tool(&rt, w).unwrap();
    rt.run_command(i).unwrap();
    assert_eq!(rt.stdout(i).unwrap(), b"SHOUT THIS");
}

#[test]
fn preopens_map_guest_paths_to_host_directories() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "from the host").unwrap();
    let rt = runtime();
    let preopen = |read_only| Preopen {
        host: dir.path().into(),
        guest: "/data".into(),
        read_only,
    };
    let mut w = captured(&["cat", "/data/in.txt"]);
    w.preopens = vec![preopen(true)];
    let i = tool(&rt, w).unwrap();
    assert_eq!(rt.run_command(i).unwrap(), 0);
    assert_eq!(rt.stdout(i).unwrap(), b"from the host");

    let mut w = captured(&["write", "/data/out.txt", "from the guest"]);
    w.preopens = vec![preopen(false)];
    let i = tool(&rt, w).unwrap();
    assert_eq!(rt.run_command(i).unwrap(), 0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "from the guest"
    );
}

#[test]
fn read_only_preopens_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let mut w = captured(&["write", "/data/out.txt", "nope"]);
    w.preopens = vec![Preopen {
        host: dir.path().into(),
        guest: "/data".into(),
        read_only: true,
    }];
    let i = tool(&rt, w).unwrap();
    assert_eq!(rt.run_command(i).unwrap(), 1);
    assert!(!dir.path().join("out.txt").exists());
}

#[test]
fn paths_outside_the_preopens_are_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let mut w = captured(&["cat", "/data/../../etc/passwd"]);
    w.preopens = vec![Preopen {
        host: dir.path().into(),
        guest: "/data".into(),
        read_only: true,
    }];
    let i = tool(&rt, w).unwrap();
    assert_eq!(rt.run_command(i).unwrap(), 1);
    assert_eq!(rt.stdout(i).unwrap(), b"");
}

#[test]
fn a_missing_preopen_directory_is_a_wasi_error() {
    let rt = runtime();
    let mut w = captured(&[]);
    w.preopens = vec![Preopen {
        host: "/no/such/dir".into(),
        guest: "/data".into(),
        read_only: false,
    }];
    assert_eq!(code(tool(&rt, w)), ErrorCode::WasiError);
}

#[test]
fn wasi_modules_without_options_get_an_empty_context() {
    let rt = runtime();
    let m = rt.compile_file(fixture("plugins/wasi_tool.wasm")).unwrap();
    let i = rt.instantiate(m, &Default::default()).unwrap();
    assert_eq!(rt.run_command(i).unwrap(), 0);
    assert_eq!(
        rt.stdout(i).unwrap(),
        b"",
        "stdout is discarded unless captured or inherited"
    );
}

#[test]
fn a_wasi_guest_writes_stdout_from_inside_a_tokio_runtime() {
    // wasmtime-wasi's sync bindings `block_on` the ambient runtime, which panics on a thread already driving
    // one; the runtime must route around it.
    let rt = runtime();
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = tokio_rt.block_on(async {
        let i = tool(&rt, captured(&["echo", "inside", "tokio"])).unwrap();
        assert_eq!(rt.run_command(i).unwrap(), 0);
        rt.stdout(i).unwrap()
    });
    assert_eq!(out, b"inside tokio\n");
}

#[test]
fn inherited_stdout_works_inside_a_tokio_runtime() {
    let rt = runtime();
    let tokio_rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    tokio_rt.block_on(async {
        let mut w = captured(&[]);
        w.stdout = OutputMode::Inherit;
        let i = tool(&rt, w).unwrap();
        assert_eq!(rt.run_command(i).unwrap(), 0);
    });
}
