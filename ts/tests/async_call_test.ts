// `await instance.call(...)`: starts on the JavaScript thread and settles at once when the guest is short; a long
// guest is suspended after each time slice, continued on the JavaScript thread after the event loop's turn for a
// few slices, then finished on another thread (src/async_call.rs).

import * as wasm from "../mod.ts";
import { assert, assertEquals, rejects, throws, wat } from "./helpers.ts";

const GUEST = `(module
  (global $counter (mut i32) (i32.const 0))
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  ;; Spin for n iterations (an i64), then return n: a busy loop of predictable length.
  (func (export "burn") (param $n i64) (result i64)
    (local $i i64)
    (block $done (loop $l
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $l)))
    local.get $i)
  ;; Append: counter = counter * 10 + d; returns the new counter (so the order of calls shows in the value).
  (func (export "push") (param $d i32) (result i32)
    (global.set $counter (i32.add (i32.mul (global.get $counter) (i32.const 10)) (local.get $d)))
    global.get $counter)
  (func (export "boom") unreachable))`;

/** Iterations of `burn` that take about `ms` on this machine. */
function calibrate(inst: wasm.Instance, ms: number): bigint {
  let n = 1_000_000n;
  for (;;) {
    const t0 = performance.now();
    inst.callSync("burn", n);
    const dt = performance.now() - t0;
    if (dt > 20) return (n * BigInt(Math.ceil(ms * 1000))) / BigInt(Math.ceil(dt * 1000));
    n *= 4n;
  }
}

/** Resolves after the current macrotask: a promise settled before it was settled without an event-loop turn. */
const nextMacrotask = () => new Promise<string>((r) => setTimeout(() => r("macrotask"), 0));

Deno.test("a short call settles before the next macrotask (no thread hop)", async () => {
  const inst = await wasm.instantiate(await wat(GUEST));
  const first = await Promise.race([inst.call("add", 40, 2), nextMacrotask()]);
  assertEquals(first, [42]);
  await inst.drop();
});

Deno.test("a long call does not delay timers, and settles with the right result", async () => {
  const inst = await wasm.instantiate(await wat(GUEST));
  const n = calibrate(inst, 300);
  const t0 = performance.now();
  let timerAt = -1;
  const timer = new Promise<void>((r) => setTimeout(() => (timerAt = performance.now() - t0, r()), 5));
  const [done] = await inst.call("burn", n);
  const callMs = performance.now() - t0;
  await timer;
  assertEquals(done, n);
  assert(timerAt >= 0 && timerAt < callMs, `the 5 ms timer fired at ${timerAt.toFixed(0)} ms; call took ${callMs.toFixed(0)} ms`);
  await inst.drop();
});

Deno.test("a call a few slices long lets timers fire between its slices and settles with its result", async () => {
  // Its slices run on the JavaScript thread (`callerSlices`, 8 by default), the event loop turning between them,
  // so a 1 ms interval fires about once a slice (1-2 ms each), not once a call (as when a `MessageChannel` turn
  // starved timers). Asked for: a tick per 4 ms of the call, at least two; the call made at least 6 ms long
  // (calibration on a busy machine can come out short).
  const inst = await wasm.instantiate(await wat(GUEST));
  let n = calibrate(inst, 8);
  for (let attempt = 0; ; attempt++) {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    try {
      assertEquals(await inst.call("burn", n), [n]);
    } finally {
      clearInterval(timer);
    }
    const ms = performance.now() - t0;
    if (ms < 6 && attempt < 3) {
      n *= 2n;
      continue;
    }
    const wanted = Math.max(2, Math.floor(ms / 4));
    assert(ticks >= wanted, `a 1 ms interval fired ${ticks} time(s) during a ${ms.toFixed(1)} ms call`);
    break;
  }
  await inst.drop();
});

Deno.test("calls on one instance run in the order they were made, queued behind a long one", async () => {
  const inst = await wasm.instantiate(await wat(GUEST));
  const n = calibrate(inst, 50);
  const long = inst.call("burn", n);
  const order = [inst.call("push", 1), inst.call("push", 2), inst.call("push", 3)];
  assertEquals(await long, [n]);
  assertEquals(await Promise.all(order), [[1], [12], [123]]);
  await inst.drop();
});

Deno.test("while a call runs off the JavaScript thread, callSync and memory access fail fast with 5002", async () => {
  const inst = await wasm.instantiate(await wat(GUEST));
  const n = calibrate(inst, 100);
  const long = inst.call("burn", n);
  throws(() => inst.callSync("add", 1, 2), 5002, "busy in an async call");
  throws(() => inst.memory.readSync(0, 4), 5002, "busy in an async call");
  assertEquals(await long, [n]);
  assertEquals(inst.callSync("add", 1, 2), [3]);
  await inst.drop();
});

Deno.test("a trap, a timeout and fuel exhaustion inside a sliced call give the usual codes", async () => {
  const id = await wat(GUEST);
  const plain = await wasm.instantiate(id);
  const n = calibrate(plain, 200);
  await rejects(() => plain.call("boom"), 5002, "unreachable");
  const timed = await wasm.instantiate(id, { timeoutMs: 30 });
  await rejects(() => timed.call("burn", n), 5012);
  assertEquals(await timed.call("add", 1, 2), [3], "usable after a timeout");
  const fueled = await wasm.instantiate(id, { fuel: 1_000_000 });
  await rejects(() => fueled.call("burn", n), 5011);
  for (const i of [plain, timed, fueled]) await i.drop();
});

Deno.test("drop during a sliced call: the call finishes and settles; the instance is then gone", async () => {
  const inst = await wasm.instantiate(await wat(GUEST));
  const n = calibrate(inst, 100);
  const pending = inst.call("burn", n);
  await inst.drop();
  assertEquals(await pending, [n]);
  await rejects(() => inst.call("add", 1, 2), 5005);
});

Deno.test("Promise.all of 1,000 mixed short and long calls on 10 instances returns every result", async () => {
  const id = await wat(GUEST);
  const instances = await Promise.all(Array.from({ length: 10 }, () => wasm.instantiate(id)));
  const n = calibrate(instances[0], 3);
  const calls = Array.from({ length: 1000 }, (_, i) => {
    const inst = instances[i % 10];
    return i % 50 === 0 ? inst.call("burn", n).then(([v]) => v === n) : inst.call("add", i, 1).then(([v]) => v === i + 1);
  });
  const ok = await Promise.all(calls);
  assertEquals(ok.filter((x) => !x).length, 0);
  for (const i of instances) await i.drop();
});

Deno.test("preemptible: false runs plain code; call then runs on a worker thread from the start", async () => {
  const inst = await wasm.instantiate(await wat(GUEST), { preemptible: false });
  assertEquals(await inst.call("add", 2, 3), [5]);
  const n = calibrate(inst, 50);
  assertEquals(await inst.call("burn", n), [n]);
  await inst.drop();
});
