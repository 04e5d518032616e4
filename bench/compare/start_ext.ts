/**
 * One warm-start case, ext_wasm from TypeScript: a fresh Deno process imports `ts/mod.ts` (FFI backend), loads
 * MODULE through the artifact cache (`$EXT_WASM_CACHE_DIR`: empty → cold compile, populated → cache hit),
 * instantiates it, calls FUNC once and prints the results, one per line. Spawned and timed by `harness.ts`.
 *
 *   EXT_WASM_CACHE_DIR=DIR deno run --allow-ffi --allow-read --allow-env bench/compare/start_ext.ts MODULE FUNC ARGS...
 *
 * With `--report`, also prints `{"loadMs":..,"totalMs":..}` (time inside the process) on stderr.
 */
import * as wasm from "../../ts/mod.ts";

const report = Deno.args[0] === "--report";
const [path, func, ...args] = report ? Deno.args.slice(1) : Deno.args;
const t0 = performance.now();
const id = await wasm.compileFile(path);
const t1 = performance.now();
const instance = await wasm.instantiate(id);
const results = instance.callSync(func, ...args.map(Number));
console.log(results.map(String).join("\n"));
if (report) console.error(JSON.stringify({ loadMs: t1 - t0, totalMs: performance.now() - t0 }));
