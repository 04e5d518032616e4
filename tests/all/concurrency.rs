use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ext_wasm::{ErrorCode, InstanceOptions, Value};

use crate::*;

#[test]
fn instances_are_created_called_and_dropped_from_many_threads() {
    let rt = runtime();
    let m = rt.compile(ADD.as_bytes()).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let rt = &rt;
            s.spawn(move || {
                for k in 0..200 {
                    let i = rt.instantiate(m, &Default::default()).unwrap();
                    let r = rt.call(i, "add", &[Value::I32(t), Value::I32(k)]).unwrap();
                    assert_eq!(r, [Value::I32(t + k)]);
                    rt.drop_instance(i).unwrap();
                }
            });
        }
    });
    assert_eq!(rt.instance_count(), 0);
}

#[test]
fn one_long_call_does_not_block_calls_on_other_instances() {
    let rt = runtime();
    let m = rt
        .compile(br#"(module (func (export "spin") (loop $l (br $l))))"#)
        .unwrap();
    let slow = rt
        .instantiate(
            m,
            &InstanceOptions {
                timeout: Some(Duration::from_secs(1)),
                ..Default::default()
            },
        )
        .unwrap();
    let (_, fast) = instance(&rt, ADD);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let r = rt.call(slow, "spin", &[]);
            assert!(done.load(Ordering::SeqCst), "the fast calls finished first");
            r
        });
        for _ in 0..1000 {
            rt.call(fast, "add", &[Value::I32(1), Value::I32(2)]).unwrap();
        }
        let other = rt.instantiate(m, &Default::default()).unwrap();
        rt.drop_instance(other).unwrap();
        done.store(true, Ordering::SeqCst);
        assert_eq!(h.join().unwrap().unwrap_err().code(), ErrorCode::Timeout);
    });
}

#[test]
fn compiling_the_same_bytes_concurrently_yields_one_module() {
    let rt = runtime();
    let ids: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| rt.compile(ADD.as_bytes()).unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for id in ids {
        let i = rt.instantiate(id, &Default::default()).unwrap();
        assert_eq!(
            rt.call(i, "add", &[Value::I32(2), Value::I32(2)]).unwrap(),
            [Value::I32(4)]
        );
    }
}
