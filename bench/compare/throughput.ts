/**
 * Part A of the comparison (one Deno process, both sides on the same modules, same run):
 *
 * - churn: instantiate + one `add(1, 2)` + drop, per second. ext_wasm through the public API (`await instantiate`
 *   → `callSync` → `await drop()`), and through the FFI backend directly (no promises: what the API could cost);
 *   native: `new WebAssembly.Instance(module)` + `exports.add(1, 2)`, instances left to the GC.
 * - call: ns per `add(i32, i32)` call: ext_wasm `instance.callSync("add", i, 1)` vs native `exports.add(i, 1)`
 *   (results accumulated and checked, so V8 cannot drop the native loop); `await instance.call` alone and with
 *   20,000 in flight vs native `await Promise.resolve(exports.add(...))`, and the 20,000 of `add_loop` (`add`
 *   with a one-pass loop, so its calls run on a fiber; `add` has no loop and no call and runs without one).
 * - memory: 1 MiB write and read in GB/s (1e9 bytes/s): ext_wasm `memory.writeSync` / `memory.readInto`,
 *   native `new Uint8Array(memory.buffer).set(buf)` / `buf.set(new Uint8Array(memory.buffer, 0, N))`, and a plain
 *   `Uint8Array.prototype.set` of 1 MiB between two JS buffers (the memcpy reference).
 *
 * - host calls: a guest export `loop(n)` calling the JS import `host.inc(x) -> x + 1` n = 1,000 times: ns per host
 *   call for ext_wasm `callSync`, `await call` with a synchronous import, and `await call` with an async import
 *   (returns an already-resolved Promise), vs native `exports.loop(n)` on `new WebAssembly.Instance(m, imports)`.
 *   Churn of the same module (two JS imports) vs `add.wasm` (none), both sides. With `--callback-floor=LIB`
 *   (bench/compare/callback_floor.c), the floor under both backends' host calls: C calling a no-argument
 *   `Deno.UnsafeCallback` that returns a number, as the core calls the FFI backend's host callback.
 *
 * Each measure: a warm-up, then ROUNDS timed rounds of about ROUND_MS each; the median round is reported.
 *
 * With `--raw-floor=LIB` (examples/raw_ffi.rs), the churn's floor in this process: raw Wasmtime with ext_wasm's
 * pool, one iteration per FFI call of a C function.
 *
 *   deno run --allow-ffi --allow-read --allow-env bench/compare/throughput.ts ADD.wasm MEM.wasm HOST.wasm [--quick]
 *
 * Prints one JSON object on stdout.
 */
import * as wasm from "../../ts/mod.ts";
import { createFfiBackend } from "../../ts/ffi_backend.ts";
import { decodeFrame, encodeFrame, newFrame } from "../../ts/frame.ts";

const [addPath, memPath, hostPath] = Deno.args.filter((a) => !a.startsWith("--"));
/** `--callback-floor=LIB`: bench/compare/callback_floor.c built (scripts/compare.sh), for the host-call floor. */
const callbackFloorLib = Deno.args.find((a) => a.startsWith("--callback-floor="))?.slice("--callback-floor=".length);
/** `--raw-floor=LIB`: examples/raw_ffi.rs built (scripts/compare.sh), raw Wasmtime's churn through Deno's FFI. */
const rawFloorLib = Deno.args.find((a) => a.startsWith("--raw-floor="))?.slice("--raw-floor=".length);
const quick = Deno.args.includes("--quick");
const ROUNDS = quick ? 3 : 7;
const ROUND_MS = quick ? 100 : 250;
const WARMUP_MS = quick ? 100 : 300;

interface Measure {
  /** Operations per second, median round. */
  opsPerSec: number;
  /** Every round's ops/s. */
  rounds: number[];
}

/**
 * V8's collector, exposed by the harness (`--v8-flags=--expose-gc`). The churn rows call it before each round,
 * untimed: `new WebAssembly.Instance` leaves a memory (two or three mappings) per instance to the GC, and in a
 * 0.25 s round native churn left ~25,000 of them; over several rounds they passed Linux's 65,530 mappings per
 * process and V8 aborted ("Fatal process out of memory: VirtualAddressSubspace::FreePages", two full runs of
 * three on 2026-12-06). Both sides get it, so each round starts with no garbage from the last.
 */
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/**
 * The batch size that makes one call of `body` (which performs n operations) last about ROUND_MS, found during
 * a warm-up of about WARMUP_MS, so a round is a single loop, not a timer-bound one. `beforeRound` runs before
 * each warm-up loop, untimed.
 */
async function calibrate(body: (n: number) => void | Promise<void>, beforeRound: () => void): Promise<number> {
  let n = 1;
  let warmEnd = performance.now() + WARMUP_MS;
  for (;;) {
    const pause = performance.now();
    beforeRound();
    warmEnd += performance.now() - pause;
    const t = performance.now();
    await body(n);
    const dt = performance.now() - t;
    if (performance.now() >= warmEnd && dt >= ROUND_MS / 4) return Math.max(1, Math.round(n * ROUND_MS / dt));
    n = dt < ROUND_MS / 8 ? n * 2 : Math.max(1, Math.round(n * (ROUND_MS / 4) / Math.max(dt, 0.001)) + 1);
  }
}

/** Time `body(n)` in ROUNDS rounds of about ROUND_MS each ({@link calibrate}); `beforeRound` runs untimed. */
async function measure(body: (n: number) => void | Promise<void>, beforeRound = () => {}): Promise<Measure> {
  const n = await calibrate(body, beforeRound);
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    beforeRound();
    const t = performance.now();
    await body(n);
    rounds.push(n / ((performance.now() - t) / 1e3));
  }
  return { opsPerSec: median(rounds), rounds };
}

/**
 * Time several bodies in interleaved rounds (a, b, c, a, b, c, ...), so a drift in this VM's speed (it moves by
 * up to 1.5x within minutes) hits them alike. `times[k]`: for each body after the first, the median over rounds
 * of its time per operation over the first body's in the same round.
 */
async function measureAlternating(
  bodies: ((n: number) => void | Promise<void>)[],
): Promise<{ measures: Measure[]; times: number[] }> {
  const sizes: number[] = [];
  for (const body of bodies) sizes.push(await calibrate(body, collect));
  const rounds: number[][] = bodies.map(() => []);
  for (let r = 0; r < 2 * ROUNDS + 1; r++) {
    for (let k = 0; k < bodies.length; k++) {
      collect();
      const t = performance.now();
      await bodies[k](sizes[k]);
      rounds[k].push(sizes[k] / ((performance.now() - t) / 1e3));
    }
  }
  const measures = rounds.map((rs) => ({ opsPerSec: median(rs), rounds: rs }));
  const times = rounds.slice(1).map((rs) => median(rs.map((ops, r) => rounds[0][r] / ops)));
  return { measures, times };
}

function check(cond: boolean, what: string) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const addBytes = await Deno.readFile(addPath);
const memBytes = await Deno.readFile(memPath);
const MIB = 1 << 20;

// ------------------------------------------------------------------------------------------------ ext_wasm
await wasm.configure({ noCache: true }); // part A measures run time, not loading
const addId = await wasm.compile(addBytes);
const memId = await wasm.compile(memBytes);
const ext: Record<string, Measure> = {};
/** Same-window time ratios from {@link measureAlternating}. */
const ratios: Record<string, number> = {};
ext.churn = await measure(async (n) => {
  let acc = 0;
  for (let i = 0; i < n; i++) {
    const inst = await wasm.instantiate(addId);
    acc += inst.callSync("add", 1, 2)[0] as number;
    await inst.drop();
  }
  check(acc === 3 * n, "ext churn results");
}, collect);
{
  const inst = await wasm.instantiate(addId);
  ext.call = await measure((n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += inst.callSync("add", i & 0xffff, 1)[0] as number;
    check(acc === expectedSum(n), "ext call results");
  });
  const add = inst.func("add");
  ext.callFunc = await measure((n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += add(i & 0xffff, 1)[0] as number;
    check(acc === expectedSum(n), "ext func call results");
  });
  ext.callAwait = await measure(async (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += (await inst.call("add", i & 0xffff, 1))[0] as number;
    check(acc === expectedSum(n), "ext await call results");
  });
  // 20,000 calls in flight at once on one instance, awaited together: ops/s counts calls.
  const inFlight = await measure(async (batches) => {
    for (let b = 0; b < batches; b++) {
      const all = await Promise.all(Array.from({ length: 20_000 }, (_, i) => inst.call("add", i, 1)));
      check(all[19_999][0] === 20_000, "ext in-flight results");
    }
  });
  ext.callAwaitInFlight = { opsPerSec: inFlight.opsPerSec * 20_000, rounds: inFlight.rounds.map((r) => r * 20_000) };
  // The same 20,000 of `add_loop` (a loop that runs once): calls that could be suspended run on a fiber.
  const inFlightLoop = await measure(async (batches) => {
    for (let b = 0; b < batches; b++) {
      const all = await Promise.all(Array.from({ length: 20_000 }, (_, i) => inst.call("add_loop", i, 1)));
      check(all[19_999][0] === 20_000, "ext in-flight add_loop results");
    }
  });
  ext.callAwaitInFlightLoop = {
    opsPerSec: inFlightLoop.opsPerSec * 20_000,
    rounds: inFlightLoop.rounds.map((r) => r * 20_000),
  };
  await inst.drop();
}

// ------------------------------------------------------------------------------------------------ host calls
/** host.wasm (bench/compare/host.wat): `loop(n)` calls `host.inc` n times; `add` calls nothing. Two imports. */
const HOST_CALLS = 1000;
const hostImports = {
  host: { inc: (x: number) => x + 1, log: (_p: number, _l: number) => {} },
};
const asyncImports = {
  host: { inc: (x: number) => Promise.resolve(x + 1), log: (_p: number, _l: number) => {} },
};
/**
 * A measure of `loop(HOST_CALLS)` rounds, counted in host calls. Each round of these rows starts after a full
 * collection (`collect`), both sides and the floor alike: the garbage the rows before them leave (20,000 calls in
 * flight, churn) kept V8 collecting during them, and a bare Deno callback measured 52 ns after a collection
 * against 83 ns without one, our host call 115 against 207 ns (2026-12-07).
 */
function perHostCall(m: Measure): Measure {
  return { opsPerSec: m.opsPerSec * HOST_CALLS, rounds: m.rounds.map((r) => r * HOST_CALLS) };
}
const hostBytes = await Deno.readFile(hostPath);
const hostId = await wasm.compile(hostBytes);
{
  const inst = await wasm.instantiate(hostId, { imports: hostImports });
  ext.hostCallSync = perHostCall(await measure((n) => {
    for (let i = 0; i < n; i++) check(inst.callSync("loop", HOST_CALLS)[0] === HOST_CALLS, "ext host loop");
  }, collect));
  ext.hostCallAwait = perHostCall(await measure(async (n) => {
    for (let i = 0; i < n; i++) check((await inst.call("loop", HOST_CALLS))[0] === HOST_CALLS, "ext host loop");
  }, collect));
  await inst.drop();
  const slow = await wasm.instantiate(hostId, { imports: asyncImports });
  ext.hostCallAsync = perHostCall(await measure(async (n) => {
    for (let i = 0; i < n; i++) check((await slow.call("loop", HOST_CALLS))[0] === HOST_CALLS, "ext async host loop");
  }, collect));
  await slow.drop();
  // The same imports with `syncImports: true`: called in place through the backend's host callback.
  const sync = await wasm.instantiate(hostId, { imports: hostImports, syncImports: true });
  ext.hostCallSyncImports = perHostCall(await measure((n) => {
    for (let i = 0; i < n; i++) check(sync.callSync("loop", HOST_CALLS)[0] === HOST_CALLS, "ext sync host loop");
  }, collect));
  await sync.drop();
  // Churn of add.wasm (no imports), of host.wasm with two JS imports, and with them as `syncImports`, in
  // interleaved rounds: their ratios are the row's target, and measured minutes apart they swung 0.7-1.8x.
  const churnOf = (module: number, options: wasm.InstanceOptions | undefined, what: string) => async (n: number) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const inst = await wasm.instantiate(module, options);
      acc += inst.callSync("add", 1, 2)[0] as number;
      await inst.drop();
    }
    check(acc === 3 * n, what);
  };
  const churns = await measureAlternating([
    churnOf(addId, undefined, "ext churn results (alongside imports)"),
    churnOf(hostId, { imports: hostImports }, "ext churn with imports results"),
    churnOf(hostId, { imports: hostImports, syncImports: true }, "ext churn with sync imports results"),
  ]);
  [ext.churnAlongsideImports, ext.churnImports, ext.churnSyncImports] = churns.measures;
  [ratios.churnImports, ratios.churnSyncImports] = churns.times;
}

// ------------------------------------------------------------------------------------------- long and heavy
/** Gaps between ticks of a 1 ms `setInterval` while `work` runs: p50 / p99 / max in ms. */
async function intervalGaps(work: () => Promise<unknown>): Promise<{ ms: number; ticks: number; p50: number; p99: number; max: number }> {
  const gaps: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  clearInterval(timer);
  gaps.sort((a, b) => a - b);
  const at = (p: number) => gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))] ?? NaN;
  return { ms, ticks: gaps.length, p50: at(0.5), p99: at(0.99), max: gaps[gaps.length - 1] ?? NaN };
}
const long: Record<string, unknown> = {};
{
  const spinId = await wasm.compile(new TextEncoder().encode(`(module (func (export "spin") (param i32) (result i32)
    (local i32) (loop $l (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (local.get 0)))) (local.get 1)))`));
  const inst = await wasm.instantiate(spinId);
  // Calibrate `spin` to the target length (2 s, or 0.5 s with --quick) with callSync.
  const targetMs = quick ? 500 : 2000;
  let n = 10_000_000;
  for (;;) {
    const t0 = performance.now();
    inst.callSync("spin", n);
    const dt = performance.now() - t0;
    if (dt > 50) {
      n = Math.min(2 ** 31 - 1, Math.round(n * targetMs / dt));
      break;
    }
    n *= 4;
  }
  // Three alternating rounds of each, medians compared: with one of each, the ratio swung 0.77-1.13x between
  // back-to-back quick runs on a 2-core VM. Interval gaps: the worst of the `await call` rounds.
  const syncMs: number[] = [];
  const awaitRuns: Awaited<ReturnType<typeof intervalGaps>>[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    inst.callSync("spin", n);
    syncMs.push(performance.now() - t0);
    awaitRuns.push(await intervalGaps(() => inst.call("spin", n)));
  }
  long.callSyncMs = median(syncMs);
  long.callSyncRoundsMs = syncMs;
  long.awaitCall = {
    ms: median(awaitRuns.map((a) => a.ms)),
    ticks: awaitRuns.reduce((t, a) => t + a.ticks, 0),
    p50: median(awaitRuns.map((a) => a.p50)),
    p99: Math.max(...awaitRuns.map((a) => a.p99)),
    max: Math.max(...awaitRuns.map((a) => a.max)),
  };
  long.awaitCallRoundsMs = awaitRuns.map((a) => a.ms);
  long.idle = await intervalGaps(() => new Promise((r) => setTimeout(r, targetMs)));
  await inst.drop();

  const crcId = await wasm.compileFile(new URL("../../fixtures/plugins/checksum.wasm", import.meta.url));
  const crc = await wasm.instantiate(crcId);
  const [ptr] = crc.callSync("buffer") as number[];
  crc.memory.writeSync(ptr, fill(new Uint8Array(MIB)));
  // Alternating rounds of each (after one untimed pair), so a drift in the machine's speed hits both alike; the
  // overhead is a difference of a few percent between two ~3 ms calls.
  const perRound = 30;
  const crcRounds: { sync: number[]; await: number[] } = { sync: [], await: [] };
  for (let r = -1; r < 2 * ROUNDS + 1; r++) {
    let t = performance.now();
    for (let i = 0; i < perRound; i++) crc.callSync("crc32", ptr, MIB);
    const syncRate = perRound / ((performance.now() - t) / 1e3);
    t = performance.now();
    for (let i = 0; i < perRound; i++) await crc.call("crc32", ptr, MIB);
    const awaitRate = perRound / ((performance.now() - t) / 1e3);
    if (r >= 0) crcRounds.sync.push(syncRate), crcRounds.await.push(awaitRate);
  }
  ext.crcSync = { opsPerSec: median(crcRounds.sync), rounds: crcRounds.sync };
  ext.crcAwait = { opsPerSec: median(crcRounds.await), rounds: crcRounds.await };
  await crc.drop();
}
{
  const inst = await wasm.instantiate(memId);
  const src = fill(new Uint8Array(MIB));
  const dst = new Uint8Array(MIB);
  ext.memWrite = await measure((n) => {
    for (let i = 0; i < n; i++) inst.memory.writeSync(0, src);
  });
  ext.memRead = await measure((n) => {
    for (let i = 0; i < n; i++) inst.memory.readInto(0, dst);
  });
  check(dst[12345] === src[12345] && dst[MIB - 1] === src[MIB - 1], "ext memory round trip");
  await inst.drop();
}

// ------------------------------------------------------------------------------------------------ native
const native: Record<string, Measure> = {};
const addModule = await WebAssembly.compile(addBytes);
const memModule = await WebAssembly.compile(memBytes);
native.churn = await measure((n) => {
  let acc = 0;
  for (let i = 0; i < n; i++) {
    const inst = new WebAssembly.Instance(addModule, {});
    acc += (inst.exports.add as (a: number, b: number) => number)(1, 2);
  }
  check(acc === 3 * n, "native churn results");
}, collect);
if (rawFloorLib !== undefined) {
  // The churn's floor inside this process: raw Wasmtime with ext_wasm's pool, one FFI call per iteration (a store,
  // an instance, `add(1, 2)`, the drop; examples/raw_ffi.rs), no handles, frames or JavaScript objects.
  const lib = Deno.dlopen(rawFloorLib, {
    raw_ffi_setup: { parameters: ["buffer", "usize"], result: "i32" },
    raw_ffi_churn_once: { parameters: [], result: "i32" },
  } as const);
  check(lib.symbols.raw_ffi_setup(addBytes, BigInt(addBytes.length)) === 0, "raw floor setup");
  const once = lib.symbols.raw_ffi_churn_once;
  native.churnRawFfi = await measure((n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += once();
    check(acc === 3 * n, "raw floor churn results");
  }, collect);
}
{
  const add = new WebAssembly.Instance(addModule, {}).exports.add as (a: number, b: number) => number;
  native.call = await measure((n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += add(i & 0xffff, 1);
    check(acc === expectedSum(n), "native call results");
  });
  native.callAwait = await measure(async (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += await Promise.resolve(add(i & 0xffff, 1));
    check(acc === expectedSum(n), "native await call results");
  });
  // The in-flight row's peer: the same 20,000 awaited together, each a settled promise of `add`'s result.
  const inFlight = await measure(async (batches) => {
    for (let b = 0; b < batches; b++) {
      const all = await Promise.all(Array.from({ length: 20_000 }, (_, i) => Promise.resolve(add(i, 1))));
      check(all[19_999] === 20_000, "native in-flight results");
    }
  });
  native.callAwaitInFlight = { opsPerSec: inFlight.opsPerSec * 20_000, rounds: inFlight.rounds.map((r) => r * 20_000) };
}
{
  const hostModule = await WebAssembly.compile(hostBytes);
  const loop = new WebAssembly.Instance(hostModule, hostImports).exports.loop as (n: number) => number;
  native.hostCallSync = perHostCall(await measure((n) => {
    for (let i = 0; i < n; i++) check(loop(HOST_CALLS) === HOST_CALLS, "native host loop");
  }, collect));
  if (callbackFloorLib !== undefined) {
    // The floor under any wasm -> JS call made through Deno's FFI: C calling a `Deno.UnsafeCallback` of no
    // arguments (what the FFI backend's host callback is) that returns a number, HOST_CALLS times a call.
    const lib = Deno.dlopen(callbackFloorLib, {
      call_n: { parameters: ["function", "i32"], result: "i32", callback: true },
    } as const);
    const one = new Deno.UnsafeCallback({ parameters: [], result: "i32" } as const, () => 1);
    native.callbackFloor = perHostCall(await measure((n) => {
      for (let i = 0; i < n; i++) check(lib.symbols.call_n(one.pointer, HOST_CALLS) === HOST_CALLS, "callback floor");
    }, collect));
    one.close();
    lib.close();
  }
  native.churnImports = await measure((n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const inst = new WebAssembly.Instance(hostModule, hostImports);
      acc += (inst.exports.add as (a: number, b: number) => number)(1, 2);
    }
    check(acc === 3 * n, "native churn with imports results");
  }, collect);
}
{
  const memory = new WebAssembly.Instance(memModule, {}).exports.memory as WebAssembly.Memory;
  const src = fill(new Uint8Array(MIB));
  const dst = new Uint8Array(MIB);
  native.memWrite = await measure((n) => {
    for (let i = 0; i < n; i++) new Uint8Array(memory.buffer).set(src);
  });
  native.memRead = await measure((n) => {
    for (let i = 0; i < n; i++) dst.set(new Uint8Array(memory.buffer, 0, MIB));
  });
  check(dst[12345] === src[12345] && dst[MIB - 1] === src[MIB - 1], "native memory round trip");
}

// ------------------------------------------------------------------------------------------------ reference
const memcpy = await (async () => {
  const src = fill(new Uint8Array(MIB));
  const dst = new Uint8Array(MIB);
  return await measure((n) => {
    for (let i = 0; i < n; i++) dst.set(src);
  });
})();

// Last: a second backend object makes the FFI call sites in ffi_backend.ts see two symbol objects, and V8 then
// deoptimizes them into a slow polymorphic path (callSync ~2x slower); an application has only one backend.
const backend = createFfiBackend(); // the same process-global runtime (the library pins itself)
const frame = newFrame();
const noStdin = new Uint8Array(0);
ext.churnBackend = await measure((n) => {
  let acc = 0;
  for (let i = 0; i < n; i++) {
    const id = backend.instantiate(addId, "{}", noStdin);
    encodeFrame(frame, [1, 2]);
    acc += decodeFrame(frame, backend.callSync(id, "add", frame, 2))[0] as number;
    backend.instanceDrop(id);
  }
  check(acc === 3 * n, "ext backend churn results");
});

function expectedSum(n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += (i & 0xffff) + 1;
  return s;
}

function fill(buf: Uint8Array): Uint8Array {
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 31 + 7) & 0xff;
  return buf;
}

console.log(JSON.stringify({ rounds: ROUNDS, roundMs: ROUND_MS, bytes: MIB, ext, native, memcpy, long, ratios }));
