//! Two tiers: Winch code first, Cranelift code after the background tier-up; the cache, the policies, modules
//! Winch refuses, engine variants, linked stores, and shutdown in the middle of a tier-up.

use std::time::Duration;

use ext_wasm::{
    CallLimits, Imports, InstanceOptions, LoadOrigin, Runtime, RuntimeConfig, Tier, TierStats, Tiering, Value,
};

use crate::*;

/// Long enough for any tier-up on a loaded CI machine; the tests wait for an event, not a time.
const WAIT: Duration = Duration::from_secs(120);

/// A runtime whose policy is `tiering`, tiering even the smallest module, caching in `dir` (or not at all).
fn tiered(tiering: Tiering, dir: Option<&Path>) -> Runtime {
    let mut config = RuntimeConfig {
        tiering,
        baseline_min_bytes: 0,
        ..Default::default()
    };
    config.pool.total_instances = 50;
    match dir {
        Some(dir) => config.cache.dir = Some(dir.to_path_buf()),
        None => config.cache.enabled = false,
    }
    Runtime::new(config)
}

fn add(rt: &Runtime, instance: InstanceId) -> Vec<Value> {
    rt.call(instance, "add", &[Value::I32(2), Value::I32(40)]).unwrap()
}

#[test]
fn a_new_module_runs_winch_code_then_cranelift_code_after_the_tier_up() {
    let rt = tiered(Tiering::Auto, None);
    let report = rt.compile_report(ADD.as_bytes()).unwrap();
    assert_eq!(report.tier, Tier::Winch);
    let before = rt.instantiate(report.id, &InstanceOptions::default()).unwrap();
    assert!(rt.wait_for_tier_up(WAIT));
    assert_eq!(rt.module_tier(report.id).unwrap(), Tier::Cranelift);
    let after = rt.instantiate(report.id, &InstanceOptions::default()).unwrap();
    assert_eq!(rt.instance_tier(before).unwrap(), Tier::Winch);
    assert_eq!(rt.instance_tier(after).unwrap(), Tier::Cranelift);
    assert_eq!(add(&rt, before), [Value::I32(42)]);
    assert_eq!(add(&rt, after), [Value::I32(42)]);
}

#[test]
fn the_stats_count_loads_by_tier_and_tier_ups() {
    let rt = tiered(Tiering::Auto, None);
    rt.compile(ADD.as_bytes()).unwrap();
    assert!(rt.wait_for_tier_up(WAIT));
    let s = rt.tier_stats();
    assert_eq!(
        (s.baseline_loads, s.optimized_loads, s.pending, s.done, s.failed),
        (1, 0, 0, 1, 0)
    );
    assert!(s.last_ms.is_some());
}

#[test]
fn the_tier_up_caches_cranelift_code_and_drops_the_winch_entry() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tiered(Tiering::Auto, Some(dir.path()));
    rt.compile(ADD.as_bytes()).unwrap();
    assert!(rt.wait_for_tier_up(WAIT));
    let tiers: Vec<Tier> = rt.cache().unwrap().list().iter().map(|e| e.tier).collect();
    assert_eq!(tiers, [Tier::Cranelift]);

    let restarted = tiered(Tiering::Auto, Some(dir.path()));
    let report = restarted.compile_report(ADD.as_bytes()).unwrap();
    assert_eq!((report.origin, report.tier), (LoadOrigin::CacheHit, Tier::Cranelift));
    assert_eq!(restarted.tier_stats().pending, 0);
}

#[test]
fn a_restart_loads_cached_winch_code_and_resumes_the_tier_up() {
    let dir = tempfile::tempdir().unwrap();
    tiered(Tiering::Winch, Some(dir.path()))
        .compile(ADD.as_bytes())
        .unwrap();

    let rt = tiered(Tiering::Auto, Some(dir.path()));
    let report = rt.compile_report(ADD.as_bytes()).unwrap();
    assert_eq!((report.origin, report.tier), (LoadOrigin::CacheHit, Tier::Winch));
    assert!(rt.wait_for_tier_up(WAIT));
    assert_eq!(rt.module_tier(report.id).unwrap(), Tier::Cranelift);
    let tiers: Vec<Tier> = rt.cache().unwrap().list().iter().map(|e| e.tier).collect();
    assert_eq!(tiers, [Tier::Cranelift]);
}

#[test]
fn a_module_winch_refuses_compiles_with_cranelift() {
    // Tail calls: Winch does not implement them.
    let wat = r#"(module
      (func $seven (result i32) (i32.const 7))
      (func (export "f") (result i32) (return_call $seven)))"#;
    let rt = tiered(Tiering::Auto, None);
    let report = rt.compile_report(wat.as_bytes()).unwrap();
    assert_eq!(report.tier, Tier::Cranelift);
    let (_, i) = instance(&rt, wat);
    assert_eq!(rt.call(i, "f", &[]).unwrap(), [Value::I32(7)]);
    let s = rt.tier_stats();
    assert_eq!((s.baseline_refused, s.optimized_loads, s.pending), (1, 1, 0));
}

#[test]
fn fuel_and_timeout_instances_tier_up_their_own_variants() {
    let rt = tiered(Tiering::Auto, None);
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let fuel = InstanceOptions {
        fuel: Some(1_000),
        ..Default::default()
    };
    let timed = InstanceOptions {
        timeout: Some(Duration::from_secs(5)),
        preemptible: Some(false),
        ..Default::default()
    };
    let (a, b) = (rt.instantiate(m, &fuel).unwrap(), rt.instantiate(m, &timed).unwrap());
    assert_eq!(rt.instance_tier(a).unwrap(), Tier::Winch);
    assert_eq!(add(&rt, a), [Value::I32(42)]);
    assert!(rt.fuel_left(a).unwrap().unwrap() < 1_000, "Winch code meters fuel");
    assert_eq!(add(&rt, b), [Value::I32(42)]);
    assert!(rt.wait_for_tier_up(WAIT));
    let c = rt.instantiate(m, &fuel).unwrap();
    assert_eq!(rt.instance_tier(c).unwrap(), Tier::Cranelift);
    assert_eq!(add(&rt, c), [Value::I32(42)]);
    assert_eq!(rt.tier_stats().done, 2, "the default variant and the fuel variant");
}

#[test]
fn winch_code_stops_a_runaway_guest_at_its_timeout() {
    let rt = tiered(Tiering::Winch, None);
    let (m, _) = instance(&rt, r#"(module (func (export "spin") (loop (br 0))))"#);
    let i = rt
        .instantiate(
            m,
            &InstanceOptions {
                timeout: Some(Duration::from_millis(20)),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(rt.instance_tier(i).unwrap(), Tier::Winch);
    assert_eq!(code(rt.call(i, "spin", &[])), ErrorCode::Timeout);
}

#[test]
fn the_winch_policy_never_tiers_up_and_the_cranelift_policy_never_uses_winch() {
    let winch = tiered(Tiering::Winch, None);
    let m = winch.compile(ADD.as_bytes()).unwrap();
    assert!(winch.wait_for_tier_up(WAIT));
    assert_eq!(winch.module_tier(m).unwrap(), Tier::Winch);
    assert_eq!(winch.tier_stats().done, 0);

    let cranelift = tiered(Tiering::Cranelift, None);
    let m = cranelift.compile(ADD.as_bytes()).unwrap();
    assert_eq!(cranelift.module_tier(m).unwrap(), Tier::Cranelift);
    let s: TierStats = cranelift.tier_stats();
    assert_eq!((s.baseline_loads, s.optimized_loads), (0, 1));
}

#[test]
fn small_modules_skip_the_baseline_tier_under_auto() {
    let rt = runtime(); // default policy: auto, 64 KiB threshold
    let report = rt.compile_report(ADD.as_bytes()).unwrap();
    assert_eq!(report.tier, Tier::Cranelift);
    assert_eq!(rt.tier_stats().pending, 0);
}

#[test]
fn an_instance_linked_into_a_winch_store_gets_winch_code() {
    let rt = tiered(Tiering::Auto, None);
    let (_, lib) = instance(&rt, r#"(module (func (export "seven") (result i32) (i32.const 7)))"#);
    assert!(rt.wait_for_tier_up(WAIT)); // new stores now get Cranelift code; `lib`'s store keeps Winch code
    let user = rt
        .compile(
            br#"(module (import "lib" "seven" (func $s (result i32)))
                  (func (export "eight") (result i32) (i32.add (call $s) (i32.const 1))))"#,
        )
        .unwrap();
    let options = InstanceOptions {
        imports: Imports::new().instance("lib", lib),
        ..Default::default()
    };
    let linked = rt.instantiate(user, &options).unwrap();
    assert_eq!(rt.instance_tier(linked).unwrap(), Tier::Winch);
    let mut out = Vec::new();
    rt.call_into(linked, "eight", &[], CallLimits::default(), &mut out)
        .unwrap();
    assert_eq!(out, [Value::I32(8)]);
}

#[test]
fn dropping_a_runtime_mid_tier_up_neither_waits_nor_leaves_a_torn_entry() {
    // big.wasm's Cranelift tier-up takes about a second on one core: drop the runtime while it runs.
    let dir = tempfile::tempdir().unwrap();
    let rt = cached_runtime(dir.path());
    let report = rt.compile_file_report(fixture("bench/big.wasm")).unwrap();
    assert_eq!(report.tier, Tier::Winch);
    assert_eq!(rt.tier_stats().pending, 1);
    drop(rt);

    let restarted = cached_runtime(dir.path());
    let verify = restarted.cache().unwrap().verify();
    assert!(verify.removed.is_empty(), "{verify:?}");
    let m = restarted.compile_file(fixture("bench/big.wasm")).unwrap();
    let i = restarted.instantiate(m, &InstanceOptions::default()).unwrap();
    assert_eq!(
        restarted.call(i, "big_sum", &[Value::I32(42)]).unwrap(),
        [Value::I32(954920108)]
    );
}
