/**
 * One warm-start case, Deno's native WebAssembly: a fresh Deno process reads MODULE, `WebAssembly.compile`s it,
 * instantiates it and calls FUNC once, printing the results one per line. Imports are stubs that throw (enough
 * for `big_sum`, which calls none; WASI functions are only linked, never called). Deno keeps no compiled code for
 * `WebAssembly.compile` across processes, so every run compiles (V8: Liftoff baseline, lazily per function, then
 * TurboFan tier-up of hot functions); `harness.ts` checks that by comparing the compile times of runs.
 *
 *   deno run --allow-read bench/compare/start_native.ts [--report] MODULE FUNC ARGS...
 *
 * With `--report`, also prints `{"compileMs":..,"totalMs":..}` (time inside the process) on stderr.
 */
const report = Deno.args[0] === "--report";
const [path, func, ...args] = report ? Deno.args.slice(1) : Deno.args;
const t0 = performance.now();
const bytes = await Deno.readFile(path);
const module = await WebAssembly.compile(bytes);
const t1 = performance.now();
const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.kind !== "function") throw new Error(`unsupported import kind ${imp.kind} (${imp.module}.${imp.name})`);
  (imports[imp.module] ??= {})[imp.name] = () => {
    throw new Error(`stub import ${imp.module}.${imp.name} called`);
  };
}
const instance = await WebAssembly.instantiate(module, imports);
const f = instance.exports[func] as (...a: number[]) => number | bigint;
const result = f(...args.map(Number));
// i32 results print signed, as `ext-wasm run --invoke` and `raw_start run` print them.
console.log(String(result));
if (report) console.error(JSON.stringify({ compileMs: t1 - t0, totalMs: performance.now() - t0 }));
