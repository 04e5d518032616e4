/**
 * Soak from TypeScript (the Rust side: `cargo run --release --example soak`): instantiate → call → drop cycles
 * through the public API (`await instantiate` with a JavaScript import, `callSync`, `await drop()`), sampling the
 * process's resident memory (Deno.memoryUsage().rss: V8 heap and our library together) and open file
 * descriptors every tenth (growth from the second sample: the first fifth is the warm-up); then JS host calls in
 * one instance. Both again with `syncImports: true` (imports called in place). Numbers, not a pass/fail test.
 *
 *   bash scripts/soak-ts.sh [--cycles N] [--host-calls N] [--sync-only]    (defaults 1,000,000 each)
 */
import * as wasm from "../ts/mod.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const PLUGIN = `(module
  (import "host" "inc" (func $inc (param i32) (result i32)))
  (memory 1)
  (func (export "add") (param i32 i32) (result i32) (i32.add (call $inc (local.get 0)) (local.get 1)))
  (func (export "spin") (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $more
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (call $inc (local.get $acc)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $more)))
    (local.get $acc)))`;

const mib = (bytes: number) => (bytes / (1 << 20)).toFixed(1).padStart(10);
const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
const growth = (first: number, last: number) => `${((last - first) / first * 100).toFixed(1)}%`;

const id = await wasm.compile(new TextEncoder().encode(PLUGIN));
const imports = { host: { inc: (x: number) => x + 1 } };

const cycles = arg("--cycles", 1_000_000);
const calls = arg("--host-calls", 1_000_000);

/** Churn, then host calls in one instance, with `options` (the JS import as given, or `syncImports`). */
async function soak(label: string, options: wasm.InstanceOptions): Promise<void> {
  const every = Math.max(1, Math.floor(cycles / 10));
  console.log(`churn from TypeScript (${label}): instantiate (one JS import) → callSync → drop, ${cycles} cycles`);
  console.log(`${"cycles".padStart(10)} ${"RSS MiB".padStart(10)} ${"fds".padStart(6)} ${"µs/cycle".padStart(10)}`);
  let first = 0, last = 0, t = performance.now();
  for (let n = 1; n <= cycles; n++) {
    const instance = await wasm.instantiate(id, options);
    const [r] = instance.callSync("add", n | 0, 1);
    if (r !== ((n + 2) | 0)) throw new Error(`add gave ${r}`);
    await instance.drop();
    if (n % every === 0) {
      const rss = Deno.memoryUsage().rss;
      const per = ((performance.now() - t) * 1000 / every).toFixed(2).padStart(10);
      console.log(`${String(n).padStart(10)} ${mib(rss)} ${String(fds()).padStart(6)} ${per}`);
      if (n === 2 * every) first = rss; // warm-up: the first fifth of the cycles (V8's heap settles)
      last = rss;
      t = performance.now();
    }
  }
  console.log(`churn (${label}): RSS growth after warm-up (from the second sample) ${growth(first, last)}\n`);

  const step = Math.max(1, Math.floor(calls / 10));
  const instance = await wasm.instantiate(id, options);
  console.log(`JS host calls from callSync (${label}): ${calls} in one instance`);
  console.log(`${"calls".padStart(10)} ${"RSS MiB".padStart(10)} ${"fds".padStart(6)} ${"ns/call".padStart(10)}`);
  first = 0;
  for (let n = step; n <= calls; n += step) {
    const t0 = performance.now();
    const [r] = instance.callSync("spin", step);
    if (r !== step) throw new Error(`spin gave ${r}`);
    const per = ((performance.now() - t0) * 1e6 / step).toFixed(1).padStart(10);
    const rss = Deno.memoryUsage().rss;
    console.log(`${String(n).padStart(10)} ${mib(rss)} ${String(fds()).padStart(6)} ${per}`);
    if (first === 0) first = rss;
    last = rss;
  }
  console.log(`host calls (${label}): RSS growth ${growth(first, last)}\n`);
  await instance.drop();
}

if (!Deno.args.includes("--sync-only")) await soak("imports that may return a Promise", { imports });
await soak("syncImports", { imports, syncImports: true });
