/**
 * The deno_core backend: `Deno.core.ops.op_wasm_*` of the `runtime_wasm` extension (cargo feature `deno`,
 * `src/deno/`), for Forge and other deno_core embedders. Written to the same {@link Backend} interface as the
 * `Deno.dlopen` backend, and to the same call frame (`frame.ts`), so `mod.ts` does not know which one it has.
 *
 * Transport only: each op calls the `src/wire.rs` function of the same name, as the C ABI does. Errors are thrown
 * as `Error`s whose message is the core's `Display` (`[5003] export not found: ...`) with extra properties `code`
 * (5000–5013) and `wasmErrorName`; this module rethrows them as `WasmError`. Compiling and finishing a call that
 * outlived its time slice are async ops on tokio's blocking pool; everything else is a synchronous op.
 *
 * @module
 */

import type { Backend, RuntimeStats, Stream } from "./backend.ts";
import { errorName, WasmError, withPrefix } from "./errors.ts";
import { type Frame, headerU64, newFrame } from "./frame.ts";

/**
 * The ops this backend calls (all `Deno.core.ops.op_wasm_*`). Each calls the `src/wire.rs` function of the same
 * name; the Rust signatures are in `src/deno/`. Handles, offsets and page counts are `f64`.
 */
export interface WasmOps {
  /** `#[op2(fast)] fn(state, #[string] config_json: &str) -> Result<bool, WasmOpError>` */
  op_wasm_configure(configJson: string): boolean;
  /** `#[op2] #[number] async fn(state, #[buffer] bytes: JsBuffer) -> Result<u64, WasmOpError>` (blocking pool) */
  op_wasm_compile(bytes: Uint8Array): Promise<number>;
  /** `#[op2] #[number] async fn(state, #[string] path: String) -> Result<u64, WasmOpError>` (blocking pool) */
  op_wasm_compile_file(path: string): Promise<number>;
  /** `#[op2] #[string] async fn(state, #[string] request: String) -> Result<String, WasmOpError>` (blocking pool) */
  op_wasm_write_bundle(requestJson: string): Promise<string>;
  /** `#[op2] #[string] fn(state) -> String`: JSON text */
  op_wasm_bundles(): string;
  op_wasm_tier_stats(): string;
  op_wasm_wait_for_tier_up(timeoutMs: number): Promise<boolean>;
  /** `#[op2(fast)] fn(state, module: f64) -> Result<(), WasmOpError>` */
  op_wasm_module_drop(module: number): void;
  /** `#[op2] #[string] fn(state, module: f64) -> Result<String, WasmOpError>`: JSON text */
  op_wasm_module_exports(module: number): string;
  /** `#[op2] #[string] fn(state, module: f64) -> Result<String, WasmOpError>`: JSON text */
  op_wasm_module_imports(module: number): string;
  /** `#[op2(fast)] #[number] fn(state, module: f64, #[string] options_json: &str, #[buffer] stdin: &[u8])` */
  op_wasm_instantiate(module: number, optionsJson: string, stdin: Uint8Array): number;
  /** `#[op2(fast)] fn(state, module: f64, #[string] options_json: &str, #[buffer] stdin: &[u8], #[buffer] frame: &mut [u8])`: step kind */
  op_wasm_instantiate_start(module: number, optionsJson: string, stdin: Uint8Array, frame: Uint8Array): number;
  /** `#[op2(fast)] fn(state, instance: f64) -> Result<(), WasmOpError>` */
  op_wasm_instance_drop(instance: number): void;
  /** `#[op2] #[string] fn(state, instance: f64) -> Result<String, WasmOpError>`: JSON text */
  op_wasm_instance_exports(instance: number): string;
  /** `#[op2(fast)] fn(state, instance: f64, #[string] name: &str, #[buffer] frame: &mut [u8], nargs: u32)` */
  op_wasm_call_sync(instance: number, name: string, frame: Uint8Array, nargs: number): number;
  /** `#[op2(fast)] fn(state, instance: f64, #[string] name: &str, #[buffer] frame: &mut [u8], nargs: u32, sync: bool)`: step kind */
  op_wasm_call_start(instance: number, name: string, frame: Uint8Array, nargs: number, sync: boolean): number;
  /** `#[op2(fast)] fn(state, instance: f64, #[buffer] frame: &mut [u8], sync: bool)`: step kind */
  op_wasm_run_command_start(instance: number, frame: Uint8Array, sync: boolean): number;
  /** `#[op2] async fn(token: f64, #[buffer] frame: JsBuffer) -> Result<u32, WasmOpError>` (blocking pool): step kind */
  op_wasm_call_finish(token: number, frame: Uint8Array): Promise<number>;
  op_wasm_call_continue(token: number, frame: Uint8Array): Promise<number>;
  /** `#[op2(fast)] fn(token: f64, #[buffer] frame: &mut [u8], nresults: i32, #[string] message: &str)`: step kind */
  op_wasm_call_resume(token: number, frame: Uint8Array, nresults: number, message: string): number;
  /** `#[op2(fast)] fn(state, instance: f64, #[string] name: &str) -> Result<u32, WasmOpError>` */
  op_wasm_func(instance: number, name: string): number;
  /** `#[op2(fast)] fn(state, instance: f64, index: u32, #[buffer] frame: &mut [u8], nargs: u32)` */
  op_wasm_call_func(instance: number, index: number, frame: Uint8Array, nargs: number): number;
  /** `#[op2(fast)] fn(state, instance: f64, index: u32, a0..a3: f64, nargs: u32, #[buffer] out: &mut [u8])`: the
   * result count as an i32 (-1: not numbers); the result's f64 in `out[8..16]` */
  op_wasm_call_numbers(instance: number, index: number, a0: number, a1: number, a2: number, a3: number, nargs: number, out: Uint8Array): number;
  /** `#[op2(fast)] fn(state, instance: f64, #[string] name: &str, a0..a3: f64, nargs: u32, #[buffer] out: &mut
   * [u8])`: as `op_wasm_call_numbers`, and the index it resolved `name` to in `out[16..24]` */
  op_wasm_call_numbers_named(instance: number, name: string, a0: number, a1: number, a2: number, a3: number, nargs: number, out: Uint8Array): number;
  /** `#[op2(fast)] fn(state, instance: f64, #[string] name: &str, #[buffer] frame: &mut [u8], set: bool)` */
  op_wasm_global(instance: number, name: string, frame: Uint8Array, set: boolean): number;
  /** `#[op2(fast)] fn(state, instance: f64) -> Result<i32, WasmOpError>` */
  op_wasm_run_command_sync(instance: number): number;
  /** `#[op2] fn(state, instance: f64) -> Result<Option<i32>, WasmOpError>` */
  op_wasm_exit_code(instance: number): number | null;
  /** `#[op2] #[buffer] fn(state, instance: f64, stream: u32) -> Result<Vec<u8>, WasmOpError>` */
  op_wasm_output(instance: number, stream: number): Uint8Array;
  /** `#[op2(fast)] fn(state, instance: f64, offset: f64, #[buffer] dst: &mut [u8])` */
  op_wasm_memory_read(instance: number, offset: number, dst: Uint8Array): void;
  /** `#[op2(fast)] fn(state, instance: f64, offset: f64, #[buffer] src: &[u8])` */
  op_wasm_memory_write(instance: number, offset: number, src: Uint8Array): void;
  /** `#[op2(fast)] #[number] fn(state, instance: f64, bytes: bool) -> Result<u64, WasmOpError>`: bytes or pages */
  op_wasm_in_host_function(instance: number): boolean;
  op_wasm_memory_size(instance: number, bytes: boolean): number;
  /** `#[op2(fast)] #[number] fn(state, instance: f64, pages: f64) -> Result<u64, WasmOpError>` */
  op_wasm_memory_grow(instance: number, pages: number): number;
  /** `#[op2] #[serde] fn(state) -> (u64, u64)`: `[modules, instances]` */
  op_wasm_stats(): [number, number];
  /**
   * `#[op2] fn(scope, callback: v8::Local<v8::Function>, #[buffer] frame: JsBuffer)`: this thread's dispatcher
   * of synchronous imports, called in place from inside the ops that run guest code (see `src/deno/host.rs`).
   */
  op_wasm_set_host_callback(callback: (index: number, nargs: number) => number, frame: Uint8Array): void;
  /**
   * Twins of the ops that run guest code, `#[op2(nofast, reentrant)]` with `state: Rc<RefCell<OpState>>`: a guest
   * may call the host callback from inside them (`src/deno/host.rs`). Used once a host callback is registered.
   */
  op_wasm_call_sync_reentrant(instance: number, name: string, frame: Uint8Array, nargs: number): number;
  op_wasm_call_func_reentrant(instance: number, index: number, frame: Uint8Array, nargs: number): number;
  op_wasm_call_numbers_reentrant(instance: number, index: number, a0: number, a1: number, a2: number, a3: number, nargs: number, out: Uint8Array): number;
  op_wasm_call_numbers_named_reentrant(instance: number, name: string, a0: number, a1: number, a2: number, a3: number, nargs: number, out: Uint8Array): number;
  op_wasm_call_start_reentrant(instance: number, name: string, frame: Uint8Array, nargs: number, sync: boolean): number;
  op_wasm_run_command_sync_reentrant(instance: number): number;
  op_wasm_run_command_start_reentrant(instance: number, frame: Uint8Array, sync: boolean): number;
  op_wasm_instantiate_reentrant(module: number, optionsJson: string, stdin: Uint8Array): number;
  op_wasm_instantiate_start_reentrant(module: number, optionsJson: string, stdin: Uint8Array, frame: Uint8Array): number;
  op_wasm_call_resume_reentrant(token: number, frame: Uint8Array, nresults: number, message: string): number;
}

/** An op's thrown error as a `WasmError` (same code, name and message). */
function rethrow(e: unknown): never {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === "number" && errorName(code) !== undefined) {
    const message = withPrefix(code, String((e as Error).message ?? e));
    throw new WasmError(code, message, { cause: e });
  }
  throw e;
}

function sync<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    rethrow(e);
  }
}

async function later<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (e) {
    rethrow(e);
  }
}

/** Create the backend over `ops` (normally `Deno.core.ops`). */
export function createOpsBackend(ops: WasmOps): Backend {
  /** `callNumbers`' out record (the result's f64 at 8), and the result of its last call. */
  const numbers = newFrame(0);
  let lastNumber = 0;
  /** The index the last `callNumbersNamed` by name resolved (`numbers`' third word). */
  let lastIndex = 0;
  /** The ops that run guest code: the fast ones until a host callback is registered, then their reentrant twins. */
  let run = {
    callSync: ops.op_wasm_call_sync,
    callFunc: ops.op_wasm_call_func,
    callNumbers: ops.op_wasm_call_numbers,
    callNumbersNamed: ops.op_wasm_call_numbers_named,
    callStart: ops.op_wasm_call_start,
    runCommandSync: ops.op_wasm_run_command_sync,
    runCommandStart: ops.op_wasm_run_command_start,
    instantiate: ops.op_wasm_instantiate,
    instantiateStart: ops.op_wasm_instantiate_start,
    callResume: ops.op_wasm_call_resume,
  };
  return {
    kind: "ops",
    configure: (configJson: string) => sync(() => ops.op_wasm_configure(configJson)),
    compile: (bytes: Uint8Array) => later(() => ops.op_wasm_compile(bytes)),
    compileFile: (path: string) => later(() => ops.op_wasm_compile_file(path)),
    writeBundle: (requestJson: string) => later(() => ops.op_wasm_write_bundle(requestJson)),
    bundles: () => sync(() => ops.op_wasm_bundles()),
    tierStats: () => sync(() => ops.op_wasm_tier_stats()),
    waitForTierUp: (timeoutMs: number) => later(() => ops.op_wasm_wait_for_tier_up(timeoutMs)),
    moduleDrop: (module: number) => sync(() => ops.op_wasm_module_drop(module)),
    moduleExports: (module: number) => sync(() => ops.op_wasm_module_exports(module)),
    moduleImports: (module: number) => sync(() => ops.op_wasm_module_imports(module)),
    instantiate: (module: number, optionsJson: string, stdin: Uint8Array) =>
      sync(() => run.instantiate(module, optionsJson, stdin)),
    instantiateStart: (module: number, optionsJson: string, stdin: Uint8Array, f: Frame) =>
      sync(() => run.instantiateStart(module, optionsJson, stdin, f.bytes)),
    instanceDrop: (instance: number) => sync(() => ops.op_wasm_instance_drop(instance)),
    instanceExports: (instance: number) => sync(() => ops.op_wasm_instance_exports(instance)),
    callStart: (instance: number, name: string, f: Frame, nargs: number, isSync: boolean) =>
      sync(() => run.callStart(instance, name, f.bytes, nargs, isSync)),
    callSync: (instance: number, name: string, f: Frame, nargs: number) =>
      sync(() => run.callSync(instance, name, f.bytes, nargs)),
    func: (instance: number, name: string) => sync(() => ops.op_wasm_func(instance, name)),
    callFunc: (instance: number, index: number, f: Frame, nargs: number) =>
      sync(() => run.callFunc(instance, index, f.bytes, nargs)),
    callNumbers(instance: number, index: number, args: readonly number[]): number {
      // Indexed, not destructured (an iterator): the missing ones read as 0.
      const a0 = args[0] ?? 0, a1 = args[1] ?? 0, a2 = args[2] ?? 0, a3 = args[3] ?? 0;
      const count = sync(() => run.callNumbers(instance, index, a0, a1, a2, a3, args.length, numbers.bytes));
      lastNumber = numbers.f64[1];
      return count;
    },
    callNumbersNamed(instance: number, name: string, index: number, args: readonly number[]): number {
      const a0 = args[0] ?? 0, a1 = args[1] ?? 0, a2 = args[2] ?? 0, a3 = args[3] ?? 0;
      const count = index >= 0
        ? sync(() => run.callNumbers(instance, index, a0, a1, a2, a3, args.length, numbers.bytes))
        : sync(() => run.callNumbersNamed(instance, name, a0, a1, a2, a3, args.length, numbers.bytes));
      lastNumber = numbers.f64[1];
      if (index < 0) lastIndex = numbers.u32[4];
      return count;
    },
    numberResult: () => lastNumber,
    numberIndex: () => lastIndex,
    runCommandStart: (instance: number, f: Frame, isSync: boolean) =>
      sync(() => run.runCommandStart(instance, f.bytes, isSync)),
    callFinish: (f: Frame) => later(() => ops.op_wasm_call_finish(headerU64(f.view, 0), f.bytes)),
    // The op yields to the event loop in Rust; deno_core resolves completed ops after each iteration's timers,
    // so every continuation, the first included, lets due timers run.
    callContinue: (f: Frame, _first: boolean) => later(() => ops.op_wasm_call_continue(headerU64(f.view, 0), f.bytes)),
    callResume: (f: Frame, nresults: number, message: string) =>
      sync(() => run.callResume(headerU64(f.view, 0), f.bytes, nresults, message)),
    global: (instance: number, name: string, f: Frame, set: boolean) =>
      sync(() => ops.op_wasm_global(instance, name, f.bytes, set)),
    runCommandSync: (instance: number) => sync(() => run.runCommandSync(instance)),
    exitCode: (instance: number) => sync(() => ops.op_wasm_exit_code(instance) ?? null),
    output: (instance: number, stream: Stream) => sync(() => ops.op_wasm_output(instance, stream)),
    memoryRead: (instance: number, offset: number, target: Uint8Array) =>
      sync(() => ops.op_wasm_memory_read(instance, offset, target)),
    memoryWrite: (instance: number, offset: number, bytes: Uint8Array) =>
      sync(() => ops.op_wasm_memory_write(instance, offset, bytes)),
    inHostFunction: (instance: number) => sync(() => ops.op_wasm_in_host_function(instance)),
    memorySize: (instance: number) => sync(() => ops.op_wasm_memory_size(instance, false)),
    memoryByteLength: (instance: number) => sync(() => ops.op_wasm_memory_size(instance, true)),
    memoryGrow: (instance: number, pages: number) => sync(() => ops.op_wasm_memory_grow(instance, pages)),
    stats(): RuntimeStats {
      const [modules, instances] = sync(() => ops.op_wasm_stats());
      return { modules, instances };
    },
    setHostCallback(callback: (index: number, nargs: number) => number, f: Frame): void {
      sync(() => ops.op_wasm_set_host_callback(callback, f.bytes));
      run = {
        callSync: ops.op_wasm_call_sync_reentrant,
        callFunc: ops.op_wasm_call_func_reentrant,
        callNumbers: ops.op_wasm_call_numbers_reentrant,
        callNumbersNamed: ops.op_wasm_call_numbers_named_reentrant,
        callStart: ops.op_wasm_call_start_reentrant,
        runCommandSync: ops.op_wasm_run_command_sync_reentrant,
        runCommandStart: ops.op_wasm_run_command_start_reentrant,
        instantiate: ops.op_wasm_instantiate_reentrant,
        instantiateStart: ops.op_wasm_instantiate_start_reentrant,
        callResume: ops.op_wasm_call_resume_reentrant,
      };
    },
  };
}
