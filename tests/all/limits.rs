use std::time::{Duration, Instant};

use ext_wasm::{CallLimits, ErrorCode, InstanceOptions, RuntimeConfig, Value};

use crate::*;

const LOOPS: &str = r#"(module
  (func (export "spin") (loop $l (br $l)))
  (func (export "count") (param i32) (result i32) (local i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get 1) (local.get 0)))
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br $l)))
    local.get 1))"#;

fn with(opts: InstanceOptions) -> (Runtime, InstanceId) {
    let rt = runtime();
    let m = rt.compile(LOOPS.as_bytes()).unwrap();
    let i = rt.instantiate(m, &opts).unwrap();
    (rt, i)
}

#[test]
fn instance_fuel_stops_an_infinite_loop() {
    let (rt, i) = with(InstanceOptions {
        fuel: Some(100_000),
        ..Default::default()
    });
    let err = rt.call(i, "spin", &[]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::FuelExhausted);
    assert_eq!(rt.fuel_left(i).unwrap(), Some(0));
    // The budget is for the instance's life: nothing is left for the next call.
    assert_eq!(code(rt.call(i, "count", &[Value::I32(10)])), ErrorCode::FuelExhausted);
}

#[test]
fn instance_fuel_is_spent_across_calls() {
    let (rt, i) = with(InstanceOptions {
        fuel: Some(1_000_000),
        ..Default::default()
    });
    assert_eq!(rt.call(i, "count", &[Value::I32(1000)]).unwrap(), [Value::I32(1000)]);
    let left = rt.fuel_left(i).unwrap().unwrap();
    assert!(left < 1_000_000 && left > 900_000, "{left}");
}

#[test]
fn call_fuel_gives_each_call_its_own_budget() {
    let (rt, i) = with(InstanceOptions {
        call_fuel: Some(50_000),
        ..Default::default()
    });
    assert_eq!(code(rt.call(i, "spin", &[])), ErrorCode::FuelExhausted);
    // A fresh budget for the next call.
    assert_eq!(rt.call(i, "count", &[Value::I32(100)]).unwrap(), [Value::I32(100)]);
    // A per-call override.
    let mut out = vec![];
    let tight = CallLimits {
        fuel: Some(10),
        ..Default::default()
    };
    assert_eq!(
        code(rt.call_into(i, "count", &[Value::I32(100)], tight, &mut out)),
        ErrorCode::FuelExhausted
    );
}

#[test]
fn per_call_limits_need_an_instrumented_instance() {
    let (rt, i) = with(InstanceOptions::default());
    let limits = CallLimits {
        fuel: Some(10),
        ..Default::default()
    };
    assert_eq!(
        code(rt.call_into(i, "count", &[Value::I32(1)], limits, &mut vec![])),
        ErrorCode::CallError
    );
}

#[test]
fn a_timeout_stops_an_infinite_loop_within_twice_its_length() {
    let (rt, i) = with(InstanceOptions {
        timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    });
    let start = Instant::now();
    let err = rt.call(i, "spin", &[]).unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.code(), ErrorCode::Timeout);
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_millis(200),
        "{took:?}"
    );
    // The instance keeps serving, with a fresh deadline per call.
    assert_eq!(rt.call(i, "count", &[Value::I32(5)]).unwrap(), [Value::I32(5)]);
    assert_eq!(code(rt.call(i, "spin", &[])), ErrorCode::Timeout);
}

#[test]
fn per_call_timeout_overrides_the_instance_default() {
    let (rt, i) = with(InstanceOptions {
        timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    });
    let limits = CallLimits {
        timeout: Some(Duration::from_millis(20)),
        ..Default::default()
    };
    assert_eq!(
        code(rt.call_into(i, "spin", &[], limits, &mut vec![])),
        ErrorCode::Timeout
    );
}

#[test]
fn fuel_and_timeout_together() {
    let (rt, i) = with(InstanceOptions {
        fuel: Some(u64::MAX / 2),
        timeout: Some(Duration::from_millis(30)),
        ..Default::default()
    });
    assert_eq!(code(rt.call(i, "spin", &[])), ErrorCode::Timeout);
    assert_eq!(rt.call(i, "count", &[Value::I32(3)]).unwrap(), [Value::I32(3)]);
}

#[test]
fn the_live_instance_cap_is_enforced() {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    config.max_instances = Some(2);
    let rt = Runtime::new(config);
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let a = rt.instantiate(m, &Default::default()).unwrap();
    let _b = rt.instantiate(m, &Default::default()).unwrap();
    let err = rt.instantiate(m, &Default::default()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::LimitExceeded);
    rt.drop_instance(a).unwrap();
    rt.instantiate(m, &Default::default()).unwrap();
}

#[test]
fn the_live_module_cap_is_enforced() {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    config.max_modules = Some(1);
    let rt = Runtime::new(config);
    let m = rt.compile(ADD.as_bytes()).unwrap();
    assert_eq!(code(rt.compile(ADD.as_bytes())), ErrorCode::LimitExceeded);
    rt.drop_module(m).unwrap();
    rt.compile(ADD.as_bytes()).unwrap();
}

#[test]
fn the_pool_size_caps_live_instances_without_a_pool_error() {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    config.pool.total_instances = 3;
    let rt = Runtime::new(config);
    let m = rt.compile(ADD.as_bytes()).unwrap();
    let live: Vec<_> = (0..3)
        .map(|_| rt.instantiate(m, &Default::default()).unwrap())
        .collect();
    assert_eq!(code(rt.instantiate(m, &Default::default())), ErrorCode::LimitExceeded);
    for i in live {
        rt.drop_instance(i).unwrap();
    }
    assert_eq!(rt.instance_count(), 0);
}

#[test]
fn code_without_limits_is_compiled_without_checks() {
    // Plain instances and fueled instances of one module run different code; both work from one handle.
    let rt = runtime();
    let m = rt.compile(LOOPS.as_bytes()).unwrap();
    let plain = rt.instantiate(m, &Default::default()).unwrap();
    let fueled = rt
        .instantiate(
            m,
            &InstanceOptions {
                fuel: Some(10),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(rt.call(plain, "count", &[Value::I32(100)]).unwrap(), [Value::I32(100)]);
    assert_eq!(
        code(rt.call(fueled, "count", &[Value::I32(100)])),
        ErrorCode::FuelExhausted
    );
    assert_eq!(rt.fuel_left(plain).unwrap(), None);
}
