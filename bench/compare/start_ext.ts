/**
 * One warm-start case, ext_wasm from TypeScript: a fresh Deno process imports `ts/mod.ts` (FFI backend), loads
 * MODULE through the artifact cache (`$EXT_WASM_CACHE_DIR`: empty → cold compile, populated → cache hit),
 * instantiates it, calls FUNC once and prints the results, one per line. Spawned and timed by `harness.ts`.
 *
 *   EXT_WASM_CACHE_DIR=DIR deno run --allow-ffi --allow-read --allow-env bench/compare/start_ext.ts MODULE FUNC ARGS...
 *
 * With `--report`, also prints `{"loadMs":..,"totalMs":..}` (time inside the process) on stderr. With
 * `--wait-tier-up` (the warm cases' runs), waits after the call for a pending tier-up, so the cache holds
 * Cranelift code for the next run (a no-op once it does).
 */
import * as wasm from "../../ts/mod.ts";

const flags = new Set(Deno.args.filter((a) => a.startsWith("--")));
const report = flags.has("--report");
const [path, func, ...args] = Deno.args.filter((a) => !flags.has(a));
const t0 = performance.now();
const id = await wasm.compileFile(path);
const t1 = performance.now();
const instance = await wasm.instantiate(id);
const results = instance.callSync(func, ...args.map(Number));
console.log(results.map(String).join("\n"));
if (report) console.error(JSON.stringify({ loadMs: t1 - t0, totalMs: performance.now() - t0 }));
if (flags.has("--wait-tier-up")) await wasm.waitForTierUp();
