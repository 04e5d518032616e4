// Concurrency: `call` runs off the JavaScript thread (timers fire during a long call), many instances run in
// parallel, calls on one instance serialize, and dropping an instance mid-call is safe.

import * as wasm from "../mod.ts";
import { assert, assertEquals, fixtureModule, instance, rejects, str, tempDir, text, wat } from "./helpers.ts";

const LOOP = `(module
  (global $counter (mut i32) (i32.const 0))
  ;; Count down from n (an i64) and return how many iterations ran: a busy loop of predictable length.
  (func (export "burn") (param $n i64) (result i64)
    (local $i i64)
    (block $done (loop $l
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $l)))
    local.get $i)
  (func (export "bump") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    global.get $counter)
  (func (export "square") (param i32) (result i32) local.get 0 local.get 0 i32.mul))`;

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

Deno.test("a long call (~200 ms of wasm) runs off the JavaScript thread: timers keep firing", async () => {
  const id = await wat(LOOP);
  const inst = await wasm.instantiate(id);
  const n = calibrate(inst, 200);

  const ticks: number[] = [];
  const t0 = performance.now();
  const interval = setInterval(() => ticks.push(performance.now() - t0), 10);
  let timerAt = -1;
  const timer = new Promise<void>((resolve) =>
    setTimeout(() => {
      timerAt = performance.now() - t0;
      resolve();
    }, 20)
  );
  try {
    const [done] = await inst.call("burn", n);
    const callMs = performance.now() - t0;
    await timer;
    assertEquals(done, n);
    assert(callMs > 60, `the call took ${callMs.toFixed(0)} ms (expected ~200)`);
    assert(
      timerAt >= 0 && timerAt < callMs,
      `the 20 ms timer fired at ${timerAt.toFixed(0)} ms, the call ended at ${callMs.toFixed(0)} ms`,
    );
    const during = ticks.filter((t) => t < callMs).length;
    assert(during >= 4, `only ${during} interval ticks during a ${callMs.toFixed(0)} ms call`);
  } finally {
    clearInterval(interval);
  }

  // callSync is the opposite trade-off: no thread hop, but the event loop waits for it.
  let fired = false;
  const t = setTimeout(() => (fired = true), 5);
  const s0 = performance.now();
  while (performance.now() - s0 < 10) { /* let the timer come due */ }
  inst.callSync("burn", n / 4n);
  assertEquals(fired, false, "no timer runs during callSync");
  clearTimeout(t);
  await inst.drop();
  await wasm.dropModule(id);
});

Deno.test("Promise.all over 64 instances: independent state, right results", async () => {
  const id = await wat(LOOP);
  const instances = await Promise.all(Array.from({ length: 64 }, () => wasm.instantiate(id)));
  const squares = await Promise.all(instances.map((inst, i) => inst.call("square", i)));
  assertEquals(squares, instances.map((_, i) => [i * i]));
  // Each instance has its own global: bump each a different number of times, concurrently.
  await Promise.all(instances.map(async (inst, i) => {
    for (let k = 0; k < i % 5; k++) await inst.call("bump");
  }));
  const counts = await Promise.all(instances.map((inst) => inst.call("bump")));
  assertEquals(counts, instances.map((_, i) => [(i % 5) + 1]));
  await Promise.all(instances.map((i) => i.drop()));
  await wasm.dropModule(id);
});

Deno.test("calls on two instances run at the same time: one waits for a file the other writes", async () => {
  // No timing involved: `wait` spins until /data/flag exists, and only the second call creates it. Were calls
  // on different instances serialized, the first would spin until its 10 s timeout (5012).
  const dir = await tempDir();
  try {
    const waiter = await instance(
      `(module
      (import "wasi_snapshot_preview1" "path_open"
        (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "flag")
      (func (export "wait") (result i32)
        (local $n i32)
        (loop $l
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          ;; path_open(fd 3 = the first preopen, "flag", rights: fd_read) until it succeeds (errno 0)
          (br_if $l (i32.ne (i32.const 0) (call $path_open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 4)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 8)))))
        local.get $n))`,
      { preopens: { "/data": dir.path }, timeoutMs: 10_000 },
    );
    const writer = await wasm.instantiate(await fixtureModule("plugins/wasi_tool.wasm"), {
      preopens: { "/data": dir.path },
      args: ["write", "/data/flag", "go"],
    });
    const waiting = waiter.call("wait");
    await new Promise((r) => setTimeout(r, 20)); // let the waiter start spinning
    await writer.call("_start");
    assertEquals(writer.exitCode, 0);
    const [spins] = await waiting;
    assert((spins as number) >= 1, `spun ${spins} times`);
    await waiter.drop();
    await writer.drop();
  } finally {
    await dir.cleanup();
  }
});

Deno.test("concurrent calls on one instance run one at a time (no lost updates)", async () => {
  const id = await wat(LOOP);
  const inst = await wasm.instantiate(id);
  const results = await Promise.all(Array.from({ length: 200 }, () => inst.call("bump")));
  const seen = results.map(([v]) => v as number).sort((a, b) => a - b);
  assertEquals(seen, Array.from({ length: 200 }, (_, i) => i + 1));
  assertEquals(inst.callSync("bump"), [201]);
  await inst.drop();
  await wasm.dropModule(id);
});

Deno.test("many WASI command instances in parallel, each with its own args and captured stdout", async () => {
  const m = await fixtureModule("plugins/wasi_tool.wasm");
  const outs = await Promise.all(Array.from({ length: 24 }, async (_, i) => {
    const inst = await wasm.instantiate(m, {
      args: ["echo", "worker", String(i)],
      env: { WORKER_ID: String(i) },
      captureStdout: true,
    });
    await inst.call("_start");
    const out = str(inst.stdout());
    const code = inst.exitCode;
    await inst.drop();
    return [out, code];
  }));
  assertEquals(outs, Array.from({ length: 24 }, (_, i) => [`worker ${i}\n`, 0]));
});

Deno.test("compiles of different modules run concurrently", async () => {
  const sources = Array.from(
    { length: 8 },
    (_, k) =>
      text(
        `(module ${
          Array.from({ length: 200 }, (_, i) => `(func (export "f${i}") (result i32) i32.const ${i * 1000 + k})`).join(
            " ",
          )
        })`,
      ),
  );
  const ids = await Promise.all(sources.map((s) => wasm.compile(s)));
  const values = await Promise.all(ids.map(async (id) => {
    const inst = await wasm.instantiate(id);
    const [v] = inst.callSync("f199");
    await inst.drop();
    return v;
  }));
  assertEquals(values, Array.from({ length: 8 }, (_, k) => 199000 + k));
  await Promise.all(ids.map((id) => wasm.dropModule(id)));
});

Deno.test("dropping an instance while its call runs: the call finishes, later calls are 5005", async () => {
  const id = await wat(LOOP);
  const inst = await wasm.instantiate(id);
  const n = calibrate(inst, 100);
  const pending = inst.call("burn", n);
  await new Promise((r) => setTimeout(r, 10));
  await inst.drop();
  assertEquals(await pending, [n]);
  await rejects(() => inst.call("bump"), 5005);
  await wasm.dropModule(id);
});
