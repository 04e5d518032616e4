//! The `ext-wasm` binary, as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

use crate::fixture;

fn ext_wasm(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ext-wasm"))
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("EXT_WASM_CACHE_DIR")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn f(rel: &str) -> String {
    fixture(rel).to_string_lossy().into_owned()
}

#[test]
fn invoke_prints_results_one_per_line() {
    let cache = tempfile::tempdir().unwrap();
    let o = ext_wasm(cache.path(), &["run", &f("wat/add.wat"), "--invoke", "add", "10", "32"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "42\n");
    let o = ext_wasm(
        cache.path(),
        &["run", &f("wat/values.wat"), "--invoke", "divmod", "42", "5"],
    );
    assert_eq!(stdout(&o), "8\n2\n");
}

#[test]
fn integers_print_in_decimal_and_floats_round_trip() {
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--no-cache"];
        let values = f("wat/values.wat");
        all.push(&values);
        all.extend_from_slice(args);
        stdout(&ext_wasm(cache.path(), &all))
    };
    assert_eq!(run(&["--invoke", "i64_min"]), "-9223372036854775808\n");
    assert_eq!(
        run(&["--invoke", "add_i64", "9007199254740993", "1"]),
        "9007199254740994\n"
    );
    assert_eq!(run(&["--invoke", "third"]), "0.3333333333333333\n");
    assert_eq!(run(&["--invoke", "half", "3"]), "1.5\n");
}

#[test]
fn errors_go_to_stderr_with_their_code() {
    let cache = tempfile::tempdir().unwrap();
    let o = ext_wasm(cache.path(), &["run", &f("wat/add.wat"), "--invoke", "nope"]);
    assert!(!o.status.success());
    assert_eq!(stderr(&o), "error[5003]: no export named `nope`\n");
    let o = ext_wasm(cache.path(), &["run", &f("wat/values.wat"), "--invoke", "boom"]);
    assert!(stderr(&o).starts_with("error[5002]: "), "{}", stderr(&o));
    let o = ext_wasm(cache.path(), &["run", &f("wat/add.wat"), "--invoke", "add", "x", "1"]);
    assert!(stderr(&o).starts_with("error[5007]: "), "{}", stderr(&o));
    let o = ext_wasm(cache.path(), &["run", "/no/such.wasm"]);
    assert!(stderr(&o).starts_with("error[5008]: "), "{}", stderr(&o));
    let o = ext_wasm(cache.path(), &["run", &f("README.md")]);
    assert!(stderr(&o).starts_with("error[5000]: "), "{}", stderr(&o));
}

#[test]
fn a_wasi_command_runs_with_args_and_its_exit_status_passes_through() {
    let cache = tempfile::tempdir().unwrap();
    let tool = f("plugins/wasi_tool.wasm");
    let o = ext_wasm(cache.path(), &["run", &tool]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "hello from wasi\n"));
    let o = ext_wasm(cache.path(), &["run", &tool, "echo", "a", "b"]);
    assert_eq!(stdout(&o), "a b\n");
    let o = ext_wasm(cache.path(), &["run", &tool, "exit", "7"]);
    assert_eq!(o.status.code(), Some(7));
}

#[test]
fn dir_and_env_flags_configure_wasi() {
    let cache = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("f.txt"), "file body").unwrap();
    let tool = f("plugins/wasi_tool.wasm");
    let spec = format!("{}::/data", data.path().display());
    let o = ext_wasm(cache.path(), &["run", "--dir", &spec, &tool, "cat", "/data/f.txt"]);
    assert_eq!(stdout(&o), "file body");
    let o = ext_wasm(cache.path(), &["run", "--env", "NAME=forge", &tool, "env", "NAME"]);
    assert_eq!(stdout(&o), "forge\n");
    let o = ext_wasm(
        cache.path(),
        &["run", "--dir-ro", &spec, &tool, "write", "/data/g.txt", "x"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(!data.path().join("g.txt").exists());
}

#[test]
fn fuel_and_timeout_flags_stop_runaway_guests() {
    let cache = tempfile::tempdir().unwrap();
    let o = ext_wasm(
        cache.path(),
        &["run", "--fuel", "100000", &f("wat/values.wat"), "--invoke", "spin"],
    );
    assert!(stderr(&o).starts_with("error[5011]: "), "{}", stderr(&o));
    let o = ext_wasm(
        cache.path(),
        &["run", "--timeout-ms", "50", &f("plugins/wasi_tool.wasm"), "spin"],
    );
    assert!(stderr(&o).starts_with("error[5012]: "), "{}", stderr(&o));
}

#[test]
fn stats_report_the_cache_and_timings() {
    let cache = tempfile::tempdir().unwrap();
    let o = ext_wasm(
        cache.path(),
        &["run", "--stats", &f("wat/add.wat"), "--invoke", "add", "1", "2"],
    );
    assert!(stderr(&o).contains("load Compiled"), "{}", stderr(&o));
    let o = ext_wasm(
        cache.path(),
        &["run", "--stats", &f("wat/add.wat"), "--invoke", "add", "1", "2"],
    );
    let err = stderr(&o);
    assert!(err.contains("load CacheHit") && err.contains("cache hits 1"), "{err}");
    assert!(err.contains("instantiate") && err.contains("call"), "{err}");
}

#[test]
fn compile_then_cache_subcommands() {
    let cache = tempfile::tempdir().unwrap();
    let o = ext_wasm(
        cache.path(),
        &["compile", &f("wat/add.wat"), &f("plugins/checksum.wasm")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&ext_wasm(cache.path(), &["cache", "dir"])).trim(),
        cache.path().to_str().unwrap()
    );
    let stats: serde_json::Value = serde_json::from_str(&stdout(&ext_wasm(cache.path(), &["cache", "stats"]))).unwrap();
    assert_eq!(stats["entries"], 2);
    assert_eq!(stdout(&ext_wasm(cache.path(), &["cache", "list"])).lines().count(), 2);
    assert_eq!(
        stdout(&ext_wasm(cache.path(), &["cache", "verify"])).trim(),
        "2 ok, 0 removed, 0 stale temp files or orphaned MACs swept"
    );
    assert_eq!(
        stdout(&ext_wasm(cache.path(), &["cache", "prune", "--max-bytes", "0"])).trim(),
        "evicted 2 entries"
    );
    ext_wasm(cache.path(), &["compile", &f("wat/add.wat")]);
    assert_eq!(
        stdout(&ext_wasm(cache.path(), &["cache", "clear"])).trim(),
        "removed 1 entries"
    );
    let o = ext_wasm(cache.path(), &["compile", &f("wat/add.wat")]);
    assert!(stdout(&o).contains("Compiled"), "{}", stdout(&o));
    let o = ext_wasm(cache.path(), &["compile", &f("wat/add.wat")]);
    assert!(stdout(&o).contains("CacheHit"), "{}", stdout(&o));
}

#[test]
fn the_cache_dir_comes_from_the_environment_when_not_given() {
    let cache = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ext-wasm"))
        .args(["compile", &f("wat/add.wat")])
        .env("EXT_WASM_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(cache.path().join("key").exists());
}

fn sh(script: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("BIN", env!("CARGO_BIN_EXE_ext-wasm"))
        .output()
        .unwrap()
}

#[test]
fn a_full_disk_does_not_stop_the_run() {
    // RLIMIT_FSIZE makes every write past 1 KiB fail (EFBIG), as a full disk would; SIGXFSZ is ignored.
    let cache = tempfile::tempdir().unwrap();
    let o = sh(&format!(
        "trap '' XFSZ; ulimit -f 1; exec \"$BIN\" run --stats --cache-dir {} {} --invoke add 20 22",
        cache.path().display(),
        f("wat/add.wat")
    ));
    assert_eq!(stdout(&o), "42\n", "{}", stderr(&o));
    assert!(stderr(&o).contains("write_errors 1"), "{}", stderr(&o));
}

#[test]
fn a_bounded_address_space_falls_back_to_on_demand_allocation() {
    // 8 GiB of address space cannot hold the default pool (~4 TiB of reservations).
    let o = sh(&format!(
        "ulimit -v 8388608; exec \"$BIN\" run --no-cache {} --invoke add 40 2",
        f("wat/add.wat")
    ));
    assert_eq!(stdout(&o), "42\n", "{}", stderr(&o));
    assert!(stderr(&o).contains("falling back to on-demand"), "{}", stderr(&o));
}

#[test]
fn demo_runs_end_to_end() {
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_ext-wasm"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["demo", "--instances", "40", "--calls", "100", "--cache-dir"])
            .arg(cache.path())
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{}", stderr(&first));
    let out = stdout(&first);
    for plugin in ["checksum.wasm", "text.wasm", "wasi_tool.wasm", "greeter.wasm"] {
        assert!(out.contains(plugin), "{out}");
    }
    let says = "the plugin logs through its host: \"hello, Forge!\"";
    assert!(stderr(&first).contains(says), "{}", stderr(&first));
    assert!(out.contains("compiled"), "{out}");
    let second = stdout(&run());
    let warm = second
        .lines()
        .filter(|l| l.contains(".wasm") && l.contains(" cache hit "))
        .count();
    assert_eq!(warm, 4, "warm start across restarts: {second}");
}

#[test]
fn a_plugin_with_unprovided_imports_is_5001_naming_them_unless_they_may_trap() {
    let cache = tempfile::tempdir().unwrap();
    let greeter = f("plugins/greeter.wasm");
    let o = ext_wasm(cache.path(), &["run", &greeter, "--invoke", "add", "1", "2"]);
    assert_eq!(
        stderr(&o),
        "error[5001]: unknown import env::abort (func (i32, i32, i32, i32) -> ()): no host function or module provides it\n"
    );
    let run = ["run", &greeter, "--trap-unknown-imports", "--invoke"];
    let o = ext_wasm(cache.path(), &[&run[..], &["add", "1", "2"]].concat());
    assert_eq!((stdout(&o).as_str(), o.status.success()), ("3\n", true));
    let o = ext_wasm(cache.path(), &[&run[..], &["divide", "1", "0"]].concat());
    assert_eq!(
        stderr(&o),
        "error[5002]: host function env::abort failed: unknown import env::abort (func (i32, i32, i32, i32) -> ()) was called\n"
    );
}

#[test]
fn preload_shares_memories_and_globals() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib.wat");
    std::fs::write(
        &lib,
        r#"(module (memory (export "memory") 1) (data (i32.const 0) "\2a") (global (export "g") i32 (i32.const 8)))"#,
    )
    .unwrap();
    let main = dir.path().join("main.wat");
    std::fs::write(
        &main,
        r#"(module (import "lib" "memory" (memory 1)) (import "lib" "g" (global $g i32))
             (func (export "sum") (result i32) (i32.add (i32.load8_u (i32.const 0)) (global.get $g))))"#,
    )
    .unwrap();
    let lib = format!("lib={}", lib.to_string_lossy());
    let o = ext_wasm(
        cache.path(),
        &["run", &main.to_string_lossy(), "--preload", &lib, "--invoke", "sum"],
    );
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("50\n", ""));
}

#[test]
fn preload_links_another_modules_functions_by_name() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("plugin.wat");
    std::fs::write(
        &plugin,
        r#"(module (import "math" "add" (func $add (param i32 i32) (result i32)))
             (func (export "sum3") (param i32 i32 i32) (result i32)
               (call $add (call $add (local.get 0) (local.get 1)) (local.get 2))))"#,
    )
    .unwrap();
    let plugin = plugin.to_string_lossy();
    let math = format!("math={}", f("wat/add.wat"));
    let o = ext_wasm(
        cache.path(),
        &["run", &plugin, "--preload", &math, "--invoke", "sum3", "1", "2", "3"],
    );
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("6\n", ""));

    // The preloaded export's signature must match the import's.
    let mismatched = dir.path().join("mismatched.wat");
    std::fs::write(
        &mismatched,
        r#"(module (import "math" "add" (func (param i64) (result i64))))"#,
    )
    .unwrap();
    let o = ext_wasm(
        cache.path(),
        &["run", &mismatched.to_string_lossy(), "--preload", &math],
    );
    assert_eq!(
        stderr(&o),
        "error[5001]: incompatible import type for `math::add`: types incompatible: expected type \
         `(func (param i64) (result i64))`, found type `(func (param i32 i32) (result i32))`\n"
    );
    let o = ext_wasm(cache.path(), &["run", &plugin, "--preload", "math"]);
    assert_eq!(stderr(&o), "error[5001]: --preload expects NAME=MODULE, got `math`\n");
}

#[test]
fn a_file_size_limit_skips_the_cache_write_instead_of_killing_the_process() {
    // No `trap '' XFSZ` here: a write past RLIMIT_FSIZE would kill us, so the cache must not attempt it.
    let cache = tempfile::tempdir().unwrap();
    let o = sh(&format!(
        "ulimit -f 8; exec \"$BIN\" run --stats --cache-dir {} {} --invoke add 20 22",
        cache.path().display(),
        f("wat/add.wat")
    ));
    assert_eq!(stdout(&o), "42\n", "{}", stderr(&o));
    assert!(
        stderr(&o).contains("exceeds the file-size limit (ulimit -f)"),
        "{}",
        stderr(&o)
    );
    // The key and the (whole, 64-byte) record of the wasm file's hash may stay; no artifact, MAC or temp file.
    let left: Vec<_> = crate::walk(cache.path())
        .into_iter()
        .filter(|p| !p.ends_with("key") && !p.parent().unwrap().ends_with("files"))
        .collect();
    assert!(left.is_empty(), "nothing partial is left: {left:?}");
}

/// One process of the crash test: what it runs, and what it must print when it is not killed.
fn crash_worker(cache: &Path, kind: u64) -> (std::process::Child, &'static str) {
    let big = f("bench/big.wasm");
    let checksum = f("plugins/checksum.wasm");
    let add = f("wat/add.wat");
    let values = f("wat/values.wat");
    let (args, expect): (Vec<&str>, &str) = match kind % 4 {
        0 => (vec!["compile", &big, &checksum], ""),
        1 => (vec!["run", &add, "--invoke", "add", "20", "22"], "42\n"),
        2 => (vec!["cache", "prune", "--max-bytes", "300000"], ""),
        _ => (vec!["run", &values, "--invoke", "divmod", "42", "5"], "8\n2\n"),
    };
    let child = Command::new(env!("CARGO_BIN_EXE_ext-wasm"))
        .arg("--cache-dir")
        .arg(cache)
        .args(&args)
        .env_remove("EXT_WASM_CACHE_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    (child, expect)
}

#[test]
fn processes_killed_mid_compile_publish_or_prune_never_leave_an_entry_that_runs() {
    // Eight processes at a time share one cache: compiling a 1 MB module, running small ones, pruning; half
    // of them are SIGKILLed at a random moment. Survivors print the right answers, and afterwards every entry
    // verifies or is refused, and the cache is clean after a prune.
    let cache = tempfile::tempdir().unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut killed = 0;
    for _ in 0..4 {
        let workers: Vec<_> = (0..8).map(|_| crash_worker(cache.path(), next())).collect();
        let mut survivors = Vec::new();
        for (i, (mut child, expect)) in workers.into_iter().enumerate() {
            if i % 2 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(next() % 150));
                child.kill().unwrap();
                child.wait().unwrap();
                killed += 1;
            } else {
                survivors.push((child, expect));
            }
        }
        for (child, expect) in survivors {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            if !expect.is_empty() {
                assert_eq!(stdout(&o), expect, "{}", stderr(&o));
            }
        }
    }
    assert_eq!(killed, 16);
    // Whatever the kills left: temp files (swept once stale; make them so), artifacts without a MAC (refused).
    for p in crate::walk(cache.path())
        .iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
    {
        let file = std::fs::File::options().append(true).open(p).unwrap();
        file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
            .unwrap();
    }
    let verify = stdout(&ext_wasm(cache.path(), &["cache", "verify"]));
    assert!(verify.contains(" ok, "), "{verify}");
    let o = ext_wasm(cache.path(), &["run", &f("wat/add.wat"), "--invoke", "add", "1", "2"]);
    assert_eq!(stdout(&o), "3\n", "{}", stderr(&o));
    assert!(ext_wasm(cache.path(), &["compile", &f("bench/big.wasm")])
        .status
        .success());
    ext_wasm(cache.path(), &["cache", "prune", "--max-bytes", "100000000"]);
    let verify = stdout(&ext_wasm(cache.path(), &["cache", "verify"]));
    assert!(
        verify.ends_with(" ok, 0 removed, 0 stale temp files or orphaned MACs swept\n"),
        "{verify}"
    );
    let temps = crate::walk(cache.path())
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
        .count();
    assert_eq!(temps, 0);
}

#[test]
fn a_long_compile_shows_no_spinner_when_stderr_is_not_a_terminal() {
    // big.wasm takes ~1 s to compile, past the spinner's 300 ms delay; piped stderr stays clean.
    let cache = tempfile::tempdir().unwrap();
    let o = ext_wasm(cache.path(), &["--no-cache", "compile", &f("bench/big.wasm")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert!(stdout(&o).contains("Compiled (cranelift) in"), "{}", stdout(&o));
}

#[test]
fn bundle_then_run_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("app.wasmbundle");
    let o = ext_wasm(
        &dir.path().join("c1"),
        &["bundle", &f("wat/add.wat"), "-o", bundle.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = stdout(&o).trim().rsplit(' ').next().unwrap().to_string();
    assert_eq!(manifest.len(), 64, "{}", stdout(&o));
    let pinned = format!("{}@{manifest}", bundle.display());
    let o = ext_wasm(
        &dir.path().join("c2"),
        &[
            "--bundle",
            &pinned,
            "run",
            "--stats",
            &f("wat/add.wat"),
            "--invoke",
            "add",
            "20",
            "22",
        ],
    );
    assert_eq!(stdout(&o), "42\n", "{}", stderr(&o));
    assert!(stderr(&o).contains("load Bundle"), "{}", stderr(&o));
}

#[test]
fn a_first_run_waits_for_the_tier_up_and_the_second_run_loads_cranelift_code() {
    let cache = tempfile::tempdir().unwrap();
    let big = f("bench/big.wasm");
    let first = ext_wasm(cache.path(), &["run", &big, "--stats", "--wait-tier-up"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("load Compiled (winch)"), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("cranelift code ready after"),
        "{}",
        stderr(&first)
    );
    let second = ext_wasm(cache.path(), &["run", &big, "--stats"]);
    assert_eq!(stdout(&second), "big ok\n");
    assert!(
        stderr(&second).contains("load CacheHit (cranelift)"),
        "{}",
        stderr(&second)
    );
}

#[test]
fn a_run_that_exits_mid_tier_up_leaves_winch_code_for_the_next_run() {
    let cache = tempfile::tempdir().unwrap();
    let big = f("bench/big.wasm");
    let first = ext_wasm(cache.path(), &["run", &big, "--stats"]);
    assert!(
        stderr(&first).contains("tier-up unfinished at exit"),
        "{}",
        stderr(&first)
    );
    let verify = stdout(&ext_wasm(cache.path(), &["cache", "verify"]));
    assert!(verify.contains(" 0 removed"), "{verify}");
    let second = ext_wasm(cache.path(), &["run", &big, "--stats"]);
    assert_eq!(stdout(&second), "big ok\n");
    assert!(stderr(&second).contains("load CacheHit (winch)"), "{}", stderr(&second));
}

#[test]
fn tier_cranelift_compiles_with_cranelift_from_the_start() {
    let cache = tempfile::tempdir().unwrap();
    let o = ext_wasm(
        cache.path(),
        &["--tier", "cranelift", "run", &f("bench/big.wasm"), "--stats"],
    );
    assert!(stderr(&o).contains("load Compiled (cranelift)"), "{}", stderr(&o));
    let o = ext_wasm(cache.path(), &["--tier", "fast", "run", &f("bench/big.wasm")]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("possible values: auto, cranelift, winch"),
        "{}",
        stderr(&o)
    );
}
