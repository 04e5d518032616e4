/**
 * The deno_core backend: `Deno.core.ops.op_wasm_*` of the `runtime_wasm` extension (cargo feature `deno`,
 * `src/deno/`), for Forge and other deno_core embedders. Written to the same {@link Backend} interface as the
 * `Deno.dlopen` backend, and to the same call frame (`frame.ts`), so `mod.ts` does not know which one it has.
 *
 * The Rust signature each op must have is given above its use (deno_core `#[op2]` syntax). Conventions:
 * - handles are JavaScript numbers: ops take them as `f64` (the core's handles stay below 2^52; anything that is
 *   not a non-negative safe integer → 5004 / 5005) and return them as `#[number] u64`;
 * - offsets and page counts are JavaScript numbers (`#[number] u64`);
 * - errors are thrown as `Error`s whose message is the core's `Display` (`[5003] export not found: ...`) with
 *   extra properties `code` (5000–5013) and `wasmErrorName`; this module rethrows them as `WasmError`;
 * - the four functions that run the compiler or guest code are async ops running on tokio's blocking pool;
 *   everything else is a synchronous op (`fast` where deno_core allows).
 *
 * @module
 */

import type {
  Backend,
  ExportInfo,
  InstanceOptionsWire,
  RuntimeConfigWire,
  RuntimeStats,
  Stream,
  WasmArg,
  WasmResult,
} from "./backend.ts";
import { errorName, WasmError, withPrefix } from "./errors.ts";
import { decodeFrame, encodeFrame, type Frame, newFrame, SLOTS, slotsFor } from "./frame.ts";

/** The ops this backend calls (all `Deno.core.ops.op_wasm_*`). */
export interface WasmOps {
  /**
   * `#[op2(fast)] fn op_wasm_configure(state: &mut OpState, #[string] config_json: &str) -> Result<bool, WasmOpError>`
   *
   * `config_json`: a `WireRuntimeConfig` (`src/ffi.rs`) as JSON. `true` when a runtime was created from it,
   * `false` when the state already holds one (an embedder's `init_wasm_state`, or a previous op) — then nothing
   * changes. Malformed JSON → 5007.
   */
  op_wasm_configure(configJson: string): boolean;

  /**
   * `#[op2] #[number] async fn op_wasm_compile(state: Rc<RefCell<OpState>>, #[buffer(copy)] bytes: Vec<u8>)
   *   -> Result<u64, WasmOpError>` — compiles on the blocking pool; resolves to the module handle.
   */
  op_wasm_compile(bytes: Uint8Array): Promise<number>;

  /**
   * `#[op2] #[number] async fn op_wasm_compile_file(state: Rc<RefCell<OpState>>, #[string] path: String)
   *   -> Result<u64, WasmOpError>` — reads and compiles on the blocking pool (5008 / 5009 / 5000).
   */
  op_wasm_compile_file(path: string): Promise<number>;

  /** `#[op2(fast)] fn op_wasm_module_drop(state: &mut OpState, module: f64) -> Result<(), WasmOpError>` */
  op_wasm_module_drop(module: number): void;

  /**
   * `#[op2] #[serde] fn op_wasm_module_exports(state: &mut OpState, module: f64)
   *   -> Result<Vec<ExportWire>, WasmOpError>` — `[{ name, kind, params?, results? }]`.
   */
  op_wasm_module_exports(module: number): ExportInfo[];

  /**
   * `#[op2(fast)] #[number] fn op_wasm_instantiate(state: &mut OpState, module: f64, #[string] options_json: &str)
   *   -> Result<u64, WasmOpError>`
   *
   * `options_json`: a `WireInstanceOptions` (`src/ffi.rs`, `WireInstanceOptions::into_options`) as JSON — the
   * same text the C ABI receives, so both hosts share one parser. Resolves to the instance handle.
   */
  op_wasm_instantiate(module: number, optionsJson: string): number;

  /** `#[op2(fast)] fn op_wasm_instance_drop(state: &mut OpState, instance: f64) -> Result<(), WasmOpError>` */
  op_wasm_instance_drop(instance: number): void;

  /**
   * `#[op2] #[serde] fn op_wasm_instance_exports(state: &mut OpState, instance: f64)
   *   -> Result<Vec<ExportWire>, WasmOpError>`
   */
  op_wasm_instance_exports(instance: number): ExportInfo[];

  /**
   * `#[op2(fast)] fn op_wasm_call_sync(state: &mut OpState, instance: f64, #[string] name: &str,
   *   #[buffer] frame: &mut [u8], nargs: u32) -> Result<u32, WasmOpError>`
   *
   * Decodes `nargs` arguments from the frame's slots (the encoding of `src/ffi.rs`: 32-byte header, ignored by
   * the ops, then 16-byte slots; tags 1–7), calls with `Runtime::call_into` (reusing the state's scratch
   * vectors), writes the results to the slots from slot 0 and returns their count.
   */
  op_wasm_call_sync(instance: number, name: string, frame: Uint8Array, nargs: number): number;

  /**
   * `#[op2] async fn op_wasm_call(state: Rc<RefCell<OpState>>, instance: f64, #[string] name: String,
   *   #[buffer] frame: JsBuffer, nargs: u32) -> Result<u32, WasmOpError>`
   *
   * As `op_wasm_call_sync`, on the blocking pool. `JsBuffer` keeps the frame's backing store alive; this module
   * does not touch the frame until the promise settles.
   */
  op_wasm_call(instance: number, name: string, frame: Uint8Array, nargs: number): Promise<number>;

  /** `#[op2(fast)] fn op_wasm_run_command_sync(state: &mut OpState, instance: f64) -> Result<i32, WasmOpError>` */
  op_wasm_run_command_sync(instance: number): number;

  /**
   * `#[op2] async fn op_wasm_run_command(state: Rc<RefCell<OpState>>, instance: f64) -> Result<i32, WasmOpError>`
   * — `Runtime::run_command` on the blocking pool; resolves to the exit status.
   */
  op_wasm_run_command(instance: number): Promise<number>;

  /**
   * `#[op2] fn op_wasm_exit_code(state: &mut OpState, instance: f64) -> Result<Option<i32>, WasmOpError>`
   * — `null` when no status was recorded.
   */
  op_wasm_exit_code(instance: number): number | null;

  /**
   * `#[op2] #[buffer] fn op_wasm_output(state: &mut OpState, instance: f64, stream: u32)
   *   -> Result<Vec<u8>, WasmOpError>` — 1 = stdout, 2 = stderr (else 5007); a `Uint8Array`.
   */
  op_wasm_output(instance: number, stream: number): Uint8Array;

  /**
   * `#[op2(fast)] fn op_wasm_memory_read(state: &mut OpState, instance: f64, #[number] offset: u64,
   *   #[buffer] dst: &mut [u8]) -> Result<(), WasmOpError>` — fills `dst` (5006 when out of bounds).
   */
  op_wasm_memory_read(instance: number, offset: number, dst: Uint8Array): void;

  /**
   * `#[op2(fast)] fn op_wasm_memory_write(state: &mut OpState, instance: f64, #[number] offset: u64,
   *   #[buffer] src: &[u8]) -> Result<(), WasmOpError>`
   */
  op_wasm_memory_write(instance: number, offset: number, src: Uint8Array): void;

  /**
   * `#[op2(fast)] #[number] fn op_wasm_memory_size(state: &mut OpState, instance: f64) -> Result<u64, WasmOpError>`
   * — pages.
   */
  op_wasm_memory_size(instance: number): number;

  /**
   * `#[op2(fast)] #[number] fn op_wasm_memory_byte_length(state: &mut OpState, instance: f64)
   *   -> Result<u64, WasmOpError>` — bytes.
   */
  op_wasm_memory_byte_length(instance: number): number;

  /**
   * `#[op2(fast)] #[number] fn op_wasm_memory_grow(state: &mut OpState, instance: f64, #[number] pages: u64)
   *   -> Result<u64, WasmOpError>` — the old size in pages (5013 past `maxMemoryBytes`, 5006 otherwise).
   */
  op_wasm_memory_grow(instance: number, pages: number): number;

  /** `#[op2] #[serde] fn op_wasm_stats(state: &mut OpState) -> RuntimeStats` — `{ modules, instances }`. */
  op_wasm_stats(): RuntimeStats;
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
  const frame = newFrame();
  const pool: Frame[] = [];
  const takeFrame = (slots: number): Frame => (slots <= SLOTS ? pool.pop() ?? newFrame() : newFrame(slots));
  const giveFrame = (f: Frame) => {
    if (f.bytes.length === frame.bytes.length && pool.length < 64) pool.push(f);
  };
  const text = (v: unknown) =>
    JSON.stringify(v, (_k, x) => {
      if (typeof x === "bigint") return x.toString();
      if (typeof x === "number" && !Number.isFinite(x)) return String(x);
      return x;
    });

  return {
    kind: "ops",
    configure: (config: RuntimeConfigWire) => sync(() => ops.op_wasm_configure(text(config))),
    compile: (bytes: Uint8Array) => later(() => ops.op_wasm_compile(bytes)),
    compileFile: (path: string) => later(() => ops.op_wasm_compile_file(path)),
    moduleDrop: (module: number) => sync(() => ops.op_wasm_module_drop(module)),
    moduleExports: (module: number) => sync(() => ops.op_wasm_module_exports(module)),
    instantiate: (module: number, options: InstanceOptionsWire) =>
      sync(() => ops.op_wasm_instantiate(module, text(options))),
    instanceDrop: (instance: number) => sync(() => ops.op_wasm_instance_drop(instance)),
    instanceExports: (instance: number) => sync(() => ops.op_wasm_instance_exports(instance)),

    async call(instance: number, name: string, args: readonly WasmArg[]): Promise<WasmResult[]> {
      const f = takeFrame(slotsFor(args));
      try {
        encodeFrame(f, args);
        const count = await later(() => ops.op_wasm_call(instance, name, f.bytes, args.length));
        return decodeFrame(f, count);
      } finally {
        giveFrame(f);
      }
    },

    callSync(instance: number, name: string, args: readonly WasmArg[]): WasmResult[] {
      const f = args.length <= SLOTS / 2 ? frame : newFrame(Math.max(SLOTS, slotsFor(args)));
      encodeFrame(f, args);
      const count = sync(() => ops.op_wasm_call_sync(instance, name, f.bytes, args.length));
      return decodeFrame(f, count);
    },

    runCommand: (instance: number) => later(() => ops.op_wasm_run_command(instance)),
    runCommandSync: (instance: number) => sync(() => ops.op_wasm_run_command_sync(instance)),
    exitCode: (instance: number) => sync(() => ops.op_wasm_exit_code(instance) ?? null),
    output: (instance: number, stream: Stream) => sync(() => ops.op_wasm_output(instance, stream)),
    memoryRead: (instance: number, offset: number, target: Uint8Array) =>
      sync(() => ops.op_wasm_memory_read(instance, offset, target)),
    memoryWrite: (instance: number, offset: number, bytes: Uint8Array) =>
      sync(() => ops.op_wasm_memory_write(instance, offset, bytes)),
    memorySize: (instance: number) => sync(() => ops.op_wasm_memory_size(instance)),
    memoryByteLength: (instance: number) => sync(() => ops.op_wasm_memory_byte_length(instance)),
    memoryGrow: (instance: number, pages: number) => sync(() => ops.op_wasm_memory_grow(instance, pages)),
    stats: () => sync(() => ops.op_wasm_stats()),
  };
}
