/**
 * One first-launch case, Deno's native WebAssembly running a WASI command: a fresh Deno process reads PROGRAM,
 * `WebAssembly.compile`s it (V8: Liftoff, lazily per function), runs its `_start` under `node:wasi` with ARGS
 * and exits with its status. Spawned and timed by `harness.ts` (part D).
 *
 *   deno run -A bench/compare/start_wasi_native.ts [--report] PROGRAM ARGS...
 *
 * With `--report`, also prints `{"compileMs":..,"totalMs":..}` (time inside the process) on stderr.
 */
import { WASI } from "node:wasi";
import process from "node:process";

process.removeAllListeners("warning"); // node:wasi is "experimental": keep stderr to the program's own output
const report = Deno.args[0] === "--report";
const [path, ...args] = report ? Deno.args.slice(1) : Deno.args;
const t0 = performance.now();
const module = await WebAssembly.compile(await Deno.readFile(path));
const t1 = performance.now();
const wasi = new WASI({ version: "preview1", args: [path.split("/").at(-1)!, ...args], env: {}, returnOnExit: true });
const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: wasi.wasiImport });
const code = wasi.start(instance);
if (report) console.error(JSON.stringify({ compileMs: t1 - t0, totalMs: performance.now() - t0 }));
Deno.exit(code);
