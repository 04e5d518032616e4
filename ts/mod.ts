/**
 * `runtime:wasm`: compile, instantiate and call WebAssembly modules, with WASI, fuel / timeout / memory limits
 * and typed errors. Backed by the ext_wasm Rust runtime (Wasmtime, artifact cache, pooled instances).
 *
 * The same module runs in two hosts: a deno_core embedder that registers the `runtime_wasm` extension (Forge:
 * `Deno.core.ops.op_wasm_*`), and stock Deno, which loads `libext_wasm` with `Deno.dlopen` (run with
 * `--allow-ffi`; see `ts/README.md`).
 *
 * ```ts
 * import * as wasm from "./mod.ts";
 * const id = await wasm.compile(new TextEncoder().encode(
 *   `(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))`));
 * const instance = await wasm.instantiate(id);
 * const [sum] = await instance.call("add", 10, 32); // 42
 * await instance.drop();
 * await wasm.dropModule(id);
 * ```
 *
 * @module
 */

import {
  type Backend,
  type ExportInfo,
  type ImportInfo,
  type InstanceOptionsWire,
  NUMBER_ARGS,
  type OutputWire,
  type RuntimeConfigWire,
  type RuntimeStats,
  STEP_DONE,
  STEP_PENDING,
  STEP_YIELDED,
  Typed,
  type WasmArg,
  type WasmResult,
} from "./backend.ts";
import { ErrorCode, WasmError, wasmError } from "./errors.ts";
import {
  checkName,
  decodeFrame,
  encodeFrame,
  type Frame,
  FramePool,
  HEADER,
  headerU64,
  newFrame,
  resultAt,
  SLOTS,
  slotsFor,
  TAG_NUMBER,
  toJson,
} from "./frame.ts";
import { createOpsBackend, type WasmOps } from "./ops_backend.ts";

export { ErrorCode, type ErrorCodeNumber, type ErrorName, errorName, WasmError } from "./errors.ts";
export { Typed } from "./backend.ts";
export type { ExportInfo, ExportKind, ImportInfo, ValType, WasmArg, WasmResult } from "./backend.ts";
import type { ExportKind } from "./backend.ts";

/** An export resolved by {@link Instance.func}: call it like `callSync`, without the name. */
export type WasmFunction = (...args: WasmArg[]) => WasmResult[];

/** A compiled module's handle. Reuse it for many instances; drop it with {@link dropModule}. */
export type ModuleId = number;

/** Runtime configuration for {@link configure} (defaults fit a laptop and a container). */
export type RuntimeConfig = RuntimeConfigWire;
export type { RuntimeStats };

/** Options of {@link instantiate}. WASI options apply to modules that import `wasi_snapshot_preview1`. */
export interface InstanceOptions {
  /** Guest path → host directory (read-write). Host paths are canonicalized; `/` itself is refused (5009). */
  preopens?: Record<string, string>;
  /** Guest path → host directory, read-only. */
  readonlyPreopens?: Record<string, string>;
  /** Environment variables. */
  env?: Record<string, string>;
  /** Arguments after `argv[0]`. */
  args?: string[];
  /** `argv[0]` (default `"main.wasm"`). */
  programName?: string;
  /** Bytes (or UTF-8 text) the guest reads from stdin. Exclusive with `inheritStdin`. */
  stdin?: Uint8Array | string;
  /** The guest reads the host process's stdin (default: empty stdin). */
  inheritStdin?: boolean;
  /** The guest writes to the host process's stdout (default: discarded). */
  inheritStdout?: boolean;
  /** The guest writes to the host process's stderr (default: discarded). */
  inheritStderr?: boolean;
  /** Keep stdout in memory, for {@link Instance.stdout}. Exclusive with `inheritStdout`. */
  captureStdout?: boolean;
  /** Keep stderr in memory, for {@link Instance.stderr}. Exclusive with `inheritStderr`. */
  captureStderr?: boolean;
  /** Fuel for the instance's whole life (5011 when spent). Instances with fuel run fuel-metered code. */
  fuel?: number | bigint;
  /** Fuel per call (within `fuel`, if both are set). */
  callFuel?: number | bigint;
  /** Wall-clock limit per call, in milliseconds (5012). */
  timeoutMs?: number;
  /** Cap on linear memory: the guest's `memory.grow` fails past it, `memory.grow()` throws 5013. */
  maxMemoryBytes?: number;
  /**
   * `false` runs code without epoch checks: a few percent faster in tight loops, but `call` can then not be
   * suspended after its time slice, so it runs on a worker thread from the start (a thread hop per call). Default
   * `true`.
   */
  preemptible?: boolean;
  /**
   * What the module imports, by module and field name: `{ env: { abort(msg, file, line, col) {...} } }`.
   *
   * - A function is a host function: arguments arrive converted by the import's signature (i64 → bigint, others
   *   → number); the return value is converted by its result types (nothing, one value, or an array for
   *   several). It may return a Promise on the `call` path: the guest waits, the JavaScript thread does not. See
   *   {@link HostFunction}.
   * - `other.export("name")` ({@link ExportRef}) links another instance's function, memory, table or global:
   *   the object is shared, not copied (a write through one instance is seen by the other).
   * - A whole {@link Instance} as a module (`{ lib: other }`) links every import of that module to the
   *   instance's export of the same name.
   *
   * An instance linked to others lives in their store: they must all share one (5001 otherwise), it shares their
   * limits and WASI context (so `fuel`, `callFuel`, `timeoutMs`, `maxMemoryBytes` and `preemptible` are refused,
   * 5001), and calls on any of them take turns. Dropping an exporter keeps what it exports alive for the
   * instances linked to it; its own handle is 5005 from then on. Imports the module does not have are ignored;
   * one it has but nobody provides fails instantiate (5001).
   */
  imports?: Imports;
  /**
   * `true`: the functions in `imports` are synchronous, and the guest calls them in place, straight from wasm
   * without a fiber on every path (~0.16 µs a call; the default imports cost ~0.18 µs, and run without a fiber
   * under `callSync` too). The price: a function that returns a Promise fails the
   * guest with 5007, and `call` of the instance runs to its end on the JavaScript thread at once (no time slice:
   * a long call holds the event loop, as `callSync` does; `timeoutMs` still applies). Inside such a function
   * the instance's memory, `callSync`, `call` and `func` work; `getGlobal`, `setGlobal` and `drop` of it fail
   * with 5002 until the function returns. Instances with synchronous and with asynchronous JavaScript imports
   * cannot be linked into one store (5001). Default `false`.
   */
  syncImports?: boolean;
}

/**
 * A JavaScript function a guest imports. It runs on the JavaScript thread, never concurrently with other
 * JavaScript. Inside it, its instance can be used again (memory, `callSync`, `call`). Throwing traps the guest:
 * the outer call fails with 5002 whose `cause` is what was thrown. A result that does not fit the import's
 * type traps the guest with 5007 in the message. Returning a Promise makes the guest wait for it (`call`
 * only; on the `callSync` path, and for instances created with `syncImports`, that is a 5007).
 */
// deno-lint-ignore no-explicit-any
export type HostFunction = (...args: any[]) => unknown;

/** Imports by module name, then field name; or a whole instance as a module. */
export type Imports = Record<string, Instance | Record<string, HostFunction | ExportRef>>;

/**
 * An export of a live instance, from {@link Instance.export}: a value for another instance's `imports`
 * (linking shares the object).
 */
export class ExportRef {
  /** The exporting instance. */
  readonly instance: Instance;
  /** The export's name. */
  readonly name: string;
  /** What it exports. */
  readonly kind: ExportKind;
  /** Internal: export references come from {@link Instance.export}. */
  constructor(instance: Instance, name: string, kind: ExportKind) {
    this.instance = instance;
    this.name = name;
    this.kind = kind;
  }
}

/**
 * What the instances of one store (an instance and those linked to it) share on the JavaScript side: their
 * JavaScript functions, numbered apart (a call on one instance of a store may reach another's host function
 * through a linked function or table, and the core names it by this number); how many of those are running
 * their synchronous part (a `call` from there re-enters); and the queue of `call`s (one store runs one call at a
 * time, so calls on linked instances queue behind each other).
 */
class StoreJs {
  /** How many of its functions are called through the host-call protocol (default imports, not `syncImports`). */
  hosted = 0;
  inHost = 0;
  /** The functions its instances registered (indexes into `hostFns`, both kinds), freed with its last one. */
  readonly indexes: number[] = [];
  /** The functions of its first instance's `imports`, when they were all functions (see {@link SharedFns}). */
  shared: SharedFns | null = null;
  /** Its instances not yet dropped. */
  live = 0;
  /** Settles when every `call` started so far has ended; `null` when none runs off the JavaScript thread. */
  tail: Promise<void> | null = null;
}

/** An instance's {@link StoreJs}, for linking (set by {@link Instance}'s static block: the field is private). */
let storeOf: (instance: Instance) => StoreJs;

/** Each instance option, and whether it is a WASI one (any of those, set, gives the instance WASI). */
const OPTION_KEYS = new Map<string, boolean>([
  ["preopens", true],
  ["readonlyPreopens", true],
  ["env", true],
  ["args", true],
  ["programName", true],
  ["stdin", true],
  ["inheritStdin", true],
  ["inheritStdout", true],
  ["inheritStderr", true],
  ["captureStdout", true],
  ["captureStderr", true],
  ["fuel", false],
  ["callFuel", false],
  ["timeoutMs", false],
  ["maxMemoryBytes", false],
  ["preemptible", false],
  ["imports", false],
  ["syncImports", false],
]);

// ---------------------------------------------------------------------------------------------------------------
// Backend selection
// ---------------------------------------------------------------------------------------------------------------

// Captured at import: deno_core embedders may hide `Deno.core` once bootstrapping is over.
// deno-lint-ignore no-explicit-any
const OPS: WasmOps | undefined = (globalThis as any).Deno?.core?.ops?.op_wasm_compile
  // deno-lint-ignore no-explicit-any
  ? (globalThis as any).Deno.core.ops
  : undefined;

let current: Backend | undefined = OPS ? createOpsBackend(OPS) : undefined;
let loading: Promise<Backend> | undefined;

/** The backend, loading the `Deno.dlopen` one on first use (a dynamic import: the ops build never needs it). */
function load(): Promise<Backend> | Backend {
  if (current) return current;
  return loading ??= import("./ffi_backend.ts").then((m) => {
    current = m.createFfiBackend();
    return current;
  }).catch((e) => {
    loading = undefined; // let a later call retry (e.g. after the library was built)
    throw e;
  });
}

/** The backend an instance was created with (always loaded by then). */
function loaded(): Backend {
  if (!current) throw new Error("runtime:wasm: backend not loaded"); // unreachable: instances come from it
  return current;
}

/**
 * Load the backend now (for `Deno.dlopen`: find and open the library), so a missing library surfaces here
 * rather than at the first compile. Optional: every entry point loads it on first use.
 */
export async function ready(): Promise<void> {
  await load();
}

/** Which backend serves this module: `"ops"` under a deno_core embedder with the extension, else `"ffi"`. */
export function backendName(): "ffi" | "ops" {
  return OPS ? "ops" : "ffi";
}

// ---------------------------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------------------------

const TWO_31 = 2 ** 31;
const TWO_32 = 2 ** 32;
const I64_MIN = -(1n << 63n);
const U64_MAX = (1n << 64n) - 1n;

function typeError(detail: string): never {
  throw wasmError(ErrorCode.TypeError, detail);
}

/**
 * Force an argument's wasm type. Out-of-range or non-integer values throw 5007 here (never silent truncation);
 * unsigned values wrap to their bit pattern (`types.i32(0xffffffff)` is `-1`), as wasm integers have no sign.
 */
export const types: Readonly<{
  /** An i32 from an integer in `-2^31 .. 2^32 - 1`. */
  i32(v: number | bigint): Typed;
  /** An i64 from a BigInt in `-2^63 .. 2^64 - 1`, or a safe-integer number. */
  i64(v: number | bigint): Typed;
  /** An f32: the number rounded like `Math.fround`. */
  f32(v: number): Typed;
  /** An f64. */
  f64(v: number): Typed;
}> = Object.freeze({
  i32(v: number | bigint): Typed {
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < -TWO_31 || n >= TWO_32) {
      typeError(`types.i32: ${String(v)} is not an integer in -2^31..2^32`);
    }
    return new Typed("i32", n | 0);
  },
  i64(v: number | bigint): Typed {
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v)) {
        typeError(`types.i64: ${v} is not a safe integer; numbers beyond ±2^53 lose precision, pass a BigInt`);
      }
      return new Typed("i64", BigInt(v));
    }
    if (typeof v !== "bigint" || v < I64_MIN || v > U64_MAX) {
      typeError(`types.i64: ${String(v)} is not an integer in -2^63..2^64`);
    }
    return new Typed("i64", BigInt.asIntN(64, v));
  },
  f32(v: number): Typed {
    if (typeof v !== "number") typeError(`types.f32: expected a number, got ${typeof v}`);
    return new Typed("f32", Math.fround(v));
  },
  f64(v: number): Typed {
    if (typeof v !== "number") typeError(`types.f64: expected a number, got ${typeof v}`);
    return new Typed("f64", v);
  },
});

// ---------------------------------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------------------------------

/**
 * Configure the runtime (cache directory, caps, capabilities) before its first use. Resolves `true` when
 * applied, `false` when the runtime already existed (under Forge the embedder configures it).
 */
export async function configure(config: RuntimeConfig): Promise<boolean> {
  return (await load()).configure(toJson(config ?? {}));
}

/**
 * Compile a module from wasm binary or text bytes. Identical bytes compile once per process, and the machine
 * code is cached on disk across restarts. Invalid bytes → 5000. Runs off the JavaScript thread.
 */
export function compile(bytes: Uint8Array): Promise<ModuleId> {
  if (!(bytes instanceof Uint8Array)) {
    return Promise.reject(wasmError(ErrorCode.TypeError, "compile() takes a Uint8Array"));
  }
  // One copy, now, that only the backend holds: the caller may reuse its buffer at once, the compile thread
  // reads bytes nobody can write, transfer or detach meanwhile, and the bytes hashed for the cache key are the
  // bytes compiled.
  const own = bytes.slice();
  const backend = load();
  return backend instanceof Promise ? backend.then((b) => b.compile(own)) : backend.compile(own);
}

/** A path string or `file:` URL as a path; anything else is a TypeError naming `what`. */
function filePath(path: string | URL, what: string): string {
  if (path instanceof URL) {
    if (path.protocol !== "file:") typeError(`${what}: only file: URLs are supported, got ${path.href}`);
    return decodeURIComponent(path.pathname);
  }
  if (typeof path !== "string") typeError(`${what}: expected a path string or a file: URL, got ${typeof path}`);
  return path;
}

/** Read and compile a `.wasm` / `.wat` file (path or `file:` URL). Unreadable → 5008. */
export async function compileFile(path: string | URL): Promise<ModuleId> {
  return (await load()).compileFile(filePath(path, "compileFile"));
}

/** An engine variant a bundle can hold: what instances without limits run is `"epoch"`. */
export type BundleVariant = "plain" | "fuel" | "epoch" | "fuel+epoch";

/** Options of {@link writeBundle}. */
export interface WriteBundleOptions {
  /** Engine variants to precompile (default `["epoch"]`: instances without limits, and with timeouts). */
  variants?: BundleVariant[];
}

/**
 * Precompile module files into one artifact bundle at `output`, for an app to ship and list in
 * `configure({ bundles })` (as `ext-wasm bundle` does). Resolves to the bundle's manifest (hex): pin it with
 * `{ path, manifest }` to load the bundle only unchanged. Runs off the JavaScript thread; a compile per module and
 * variant. Unreadable files → 5008, invalid wasm → 5000.
 */
export async function writeBundle(
  modules: (string | URL)[],
  output: string | URL,
  options: WriteBundleOptions = {},
): Promise<string> {
  if (!Array.isArray(modules)) typeError("writeBundle: `modules` must be an array of paths");
  const request = {
    modules: modules.map((m) => filePath(m, "writeBundle")),
    output: filePath(output, "writeBundle"),
    variants: options.variants,
  };
  return (await load()).writeBundle(toJson(request));
}

/** A configured bundle, as {@link bundleStatus} reports it. */
export interface BundleStatus {
  /** The bundle file. */
  path: string;
  /** Its manifest (hex), when it opened. */
  manifest: string | null;
  /** Artifacts it holds. */
  entries: number;
  /** Loads it served. */
  hits: number;
  /** Entries refused (their bytes are not the ones its index names). */
  rejected: number;
  /** Why it is not used, when it is not (unreadable, not a bundle, another manifest than the pinned one). */
  error: string | null;
}

/** The bundles given to `configure({ bundles })`: opened or why not, and what each served. */
export async function bundleStatus(): Promise<BundleStatus[]> {
  return JSON.parse((await load()).bundles());
}

/**
 * Tier-up counters (see `configure({ tiering })`): which compiler served loads, and the background Cranelift
 * compiles queued, done and failed.
 */
export interface TierStats {
  /** Loads served with Winch code (compiled now or from the cache). */
  baselineLoads: number;
  /** Loads served with Cranelift code. */
  optimizedLoads: number;
  /** Modules Winch refused (GC, exceptions, tail calls, ...): compiled with Cranelift instead. */
  baselineRefused: number;
  /** Tier-ups queued or running. */
  pending: number;
  /** Tier-ups that published Cranelift code (instances created after it use it). */
  done: number;
  /** Tier-ups that failed (the module keeps its Winch code). */
  failed: number;
  /** Tier-ups skipped because their module was dropped first. */
  cancelled: number;
  /** Milliseconds from queueing to publishing, of the last tier-up done. */
  lastMs: number | null;
}

/** Tier-up counters of the runtime. */
export async function tierStats(): Promise<TierStats> {
  return JSON.parse((await load()).tierStats());
}

/**
 * Resolve when no tier-up is queued or running (`true`), or after `timeoutMs` (`false`). Apps never need it:
 * for tests, benchmarks and tools that want the optimized code in the cache before they exit. Waits off the
 * JavaScript thread.
 */
export async function waitForTierUp(timeoutMs = 60_000): Promise<boolean> {
  if (typeof timeoutMs !== "number") typeError("waitForTierUp: `timeoutMs` must be a number");
  return (await load()).waitForTierUp(timeoutMs);
}

/** Drop a module handle (5004 if already dropped). Instances created from it keep working. */
export async function dropModule(moduleId: ModuleId): Promise<void> {
  (await load()).moduleDrop(handle(moduleId, ErrorCode.InvalidModuleHandle));
}

/** A module's exports, without instantiating it. */
export async function moduleExports(moduleId: ModuleId): Promise<ExportInfo[]> {
  return JSON.parse((await load()).moduleExports(handle(moduleId, ErrorCode.InvalidModuleHandle)));
}

/**
 * A handle as the backends take it: a number (the core applies the rest of the rule: a non-negative safe
 * integer naming something live). Anything else is 5004 / 5005 here, worded as the core words it.
 */
function handle(v: unknown, code: typeof ErrorCode.InvalidModuleHandle | typeof ErrorCode.InvalidInstanceHandle) {
  if (typeof v === "number") return v;
  const what = code === ErrorCode.InvalidModuleHandle ? "a module handle" : "an instance handle";
  throw wasmError(code, `${String(v)} is not ${what}`);
}

/**
 * A module's imports, without instantiating it: what a plugin needs from its host (`{ module, name, kind,
 * params?, results? }`). `instantiate` fails with 5001, naming the first one, when an import other than
 * `wasi_snapshot_preview1` is not given in its `imports` option (a function, or another instance's export).
 */
export async function moduleImports(moduleId: ModuleId): Promise<ImportInfo[]> {
  return JSON.parse((await load()).moduleImports(handle(moduleId, ErrorCode.InvalidModuleHandle)));
}

/** Live module handles and instances. */
export async function stats(): Promise<RuntimeStats> {
  return (await load()).stats();
}

function entries(v: unknown, what: string): [string, string][] {
  if (v === undefined) return [];
  if (v === null || typeof v !== "object" || Array.isArray(v)) typeError(`\`${what}\` must be an object`);
  return Object.entries(v as Record<string, string>);
}

function outputMode(inherit: boolean | undefined, capture: boolean | undefined, stream: string): OutputWire {
  if (inherit && capture) {
    throw wasmError(ErrorCode.WasiError, `inherit${stream} and capture${stream} are exclusive`);
  }
  return inherit ? "inherit" : capture ? "capture" : "discard";
}

const textEncoder = new TextEncoder();

const NO_BYTES: Uint8Array = new Uint8Array(0);

/** What a value given as an import is, for messages. */
function what(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/** The `imports` option in the wire's shape, and the host-function table it adds its functions to. */
interface WireImports {
  host: [string, string, number][];
  exports: [string, string, number, string][];
  instances: [string, number][];
  store: StoreJs;
  /** The store's registrations before this instance's functions (to take them back if instantiate fails). */
  base: number;
  /** The same for its count of hosted functions. */
  hostedBase: number;
  /** Whether this instance's functions are a {@link SharedFns} its (new) store took. */
  shared: boolean;
}

/** Shared by every {@link WireImports} with no such imports, replaced by an array of its own at the first. */
const NO_EXPORT_IMPORTS: [string, string, number, string][] = Object.freeze([]) as unknown as [];
const NO_INSTANCE_IMPORTS: [string, number][] = Object.freeze([]) as unknown as [];
const NO_HOST_IMPORTS: [string, string, number][] = Object.freeze([]) as unknown as [];

/**
 * The last `imports` object {@link wireImports} walked whose imports are all functions, what the walk found
 * (module, name and function of each, flat) and those functions numbered (`lastShared`). A churn of one plugin
 * passes the same object every time: the next walk of it compares in place and, when nothing changed, makes no
 * arrays and numbers nothing (each array is garbage every instance would pay for).
 */
let lastImports: object | null = null;
let lastFns: (string | HostFunction)[] = [];
let lastShared: SharedFns | null = null;

/**
 * The functions of one walk of an `imports` object that gives functions only, numbered once for every store
 * whose first instance is made from it: instantiating with the same `imports` again registers nothing. It holds
 * one reference on each of its functions (`hostRefs`) while it is the last such walk or a store uses it.
 */
class SharedFns {
  /** `[module, name, index]` of each function in walk order: the options' `hostImports`. */
  readonly host: [string, string, number][];
  /** Live stores using it. */
  stores = 0;
  constructor(host: [string, string, number][]) {
    this.host = host;
  }
}

/** Whether walking `imports` finds exactly the functions of `fns` (module, name, function, flat), in order. */
function sameWalk(imports: Record<string, unknown>, fns: (string | HostFunction)[]): boolean {
  let k = 0;
  for (const module in imports) {
    if (!Object.hasOwn(imports, module)) continue;
    const named = imports[module];
    if (named === null || typeof named !== "object" || named instanceof Instance) return false;
    for (const name in named) {
      if (!Object.hasOwn(named, name)) continue;
      if (k === fns.length || fns[k] !== module || fns[k + 1] !== name) return false;
      if ((named as Record<string, unknown>)[name] !== fns[k + 2]) return false;
      k += 3;
    }
  }
  return k === fns.length;
}

function wireImports(imports: unknown, sync: boolean): WireImports {
  const out: WireImports = {
    host: NO_HOST_IMPORTS,
    exports: NO_EXPORT_IMPORTS,
    instances: NO_INSTANCE_IMPORTS,
    store: new StoreJs(),
    base: 0,
    hostedBase: 0,
    shared: false,
  };
  if (imports === undefined) return out;
  if (imports === null || typeof imports !== "object" || Array.isArray(imports)) {
    typeError(`\`imports\` must be an object of modules, got ${what(imports)}`);
  }
  if (imports === lastImports && sameWalk(imports as Record<string, unknown>, lastFns)) {
    share(out, lastShared!, sync);
    return out;
  }
  // Module, name and function of each function import, flat: registered once the whole object proved valid. (Each
  // object made here is garbage a churn of instances with imports pays for: no array per function, none for
  // kinds of imports that are absent.)
  const fns: (string | HostFunction)[] = [];
  let linked: Instance | undefined;
  // `for…in` with `hasOwn` walks the same own enumerable keys as `Object.entries`, without an array of pairs
  // per object (a third of the cost of this function on a churn of instances with imports).
  const modules = imports as Record<string, unknown>;
  for (const module in modules) {
    if (!Object.hasOwn(modules, module)) continue;
    const fields = modules[module];
    if (fields instanceof Instance) {
      if (out.instances === NO_INSTANCE_IMPORTS) out.instances = [];
      out.instances.push([module, fields.id]);
      linked ??= fields;
      continue;
    }
    if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
      throw wasmError(
        ErrorCode.InstantiateError,
        `imports.${module} must be an object of functions and exports, or an Instance, got ${what(fields)}`,
      );
    }
    const named = fields as Record<string, unknown>;
    for (const name in named) {
      if (!Object.hasOwn(named, name)) continue;
      const value = named[name];
      if (value instanceof ExportRef) {
        if (out.exports === NO_EXPORT_IMPORTS) out.exports = [];
        out.exports.push([module, name, value.instance.id, value.name]);
        linked ??= value.instance;
      } else if (typeof value === "function") {
        fns.push(module, name, value as HostFunction);
      } else {
        throw wasmError(
          ErrorCode.InstantiateError,
          `import ${module}::${name}: expected a function or an export (instance.export(name)), got ${what(value)}`,
        );
      }
    }
  }
  if (linked === undefined) {
    // Functions only: numbered once, and remembered for the next walk of the same object.
    lastImports = imports;
    lastFns = fns;
    share(out, newShared(fns), sync);
    return out;
  }
  // A linked instance joins its exporters' store (the core refuses instances of different stores).
  out.store = storeOf(linked);
  lastImports = null;
  registerAll(out, fns, sync);
  return out;
}

/** Number the functions of `fns` (module, name, function, flat) as the last walk's {@link SharedFns}. */
function newShared(fns: (string | HostFunction)[]): SharedFns {
  const host: [string, string, number][] = [];
  for (let k = 0; k < fns.length; k += 3) {
    host.push([fns[k] as string, fns[k + 1] as string, number(fns[k + 2] as HostFunction)]);
  }
  const replaced = lastShared;
  lastShared = new SharedFns(host);
  if (replaced !== null && replaced.stores === 0) releaseShared(replaced);
  return lastShared;
}

/** Give `out`'s new store the functions of `shared`. */
function share(out: WireImports, shared: SharedFns, sync: boolean): void {
  out.store.shared = shared;
  shared.stores++;
  if (!sync) out.store.hosted += shared.host.length;
  out.host = shared.host;
  out.shared = true;
}

/** The store is gone (or never made): it no longer uses its shared functions. */
function unshare(store: StoreJs): void {
  const shared = store.shared;
  if (shared === null) return;
  store.shared = null;
  if (--shared.stores === 0 && shared !== lastShared) releaseShared(shared);
}

/** Drop the references `shared` holds (last to first, as {@link release}). */
function releaseShared(shared: SharedFns): void {
  for (let k = shared.host.length - 1; k >= 0; k--) unref(shared.host[k][2]);
  trimParked();
}

/** Register the functions of `fns` (module, name, function, flat) for `out`'s store (an instance linked into
 * an existing store) and list them in `out.host`. */
function registerAll(out: WireImports, fns: (string | HostFunction)[], sync: boolean): void {
  const store = out.store;
  out.base = store.indexes.length;
  out.hostedBase = store.hosted;
  const host: [string, string, number][] = [];
  for (let k = 0; k < fns.length; k += 3) {
    const index = number(fns[k + 2] as HostFunction);
    store.indexes.push(index);
    host.push([fns[k] as string, fns[k + 1] as string, index]);
  }
  if (!sync) store.hosted += fns.length / 3;
  out.host = host;
}

/** Normalize the documented options into the wire shape both backends send to the core, plus stdin bytes. */
function toWire(options: InstanceOptions): [InstanceOptionsWire, Uint8Array, WireImports] {
  const o = options;
  if (typeof o !== "object" || o === null) typeError("instance options must be an object");
  // One pass over the own keys (`for…in` with `hasOwn`: no array of keys, no pass per WASI option).
  let wasi = false;
  const given = o as Record<string, unknown>;
  for (const key in given) {
    if (!Object.hasOwn(given, key)) continue;
    const isWasi = OPTION_KEYS.get(key);
    if (isWasi === undefined) typeError(`unknown instance option \`${key}\``);
    if (isWasi && given[key] !== undefined) wasi = true;
  }
  // Every key from the start (absent ones undefined, which JSON leaves out): one map for every options object, which
  // the optimized code of this path can rely on. Keys added one by one made a chain of maps that died with
  // the objects, and each full collection then deoptimized the code that had seen them.
  const wire: InstanceOptionsWire = {
    wasi: undefined,
    fuel: undefined,
    callFuel: undefined,
    timeoutMs: undefined,
    maxMemoryBytes: undefined,
    preemptible: undefined,
    hostImports: undefined,
    exportImports: undefined,
    instanceImports: undefined,
    syncImports: undefined,
    bridgedImports: undefined,
  };
  let stdin: Uint8Array = NO_BYTES;
  if (wasi) {
    if (o.stdin !== undefined && o.inheritStdin) {
      throw wasmError(ErrorCode.WasiError, "stdin and inheritStdin are exclusive");
    }
    if (o.stdin !== undefined && typeof o.stdin !== "string" && !(o.stdin instanceof Uint8Array)) {
      typeError("`stdin` must be a Uint8Array or a string");
    }
    if (o.stdin !== undefined) stdin = typeof o.stdin === "string" ? textEncoder.encode(o.stdin) : o.stdin;
    wire.wasi = {
      programName: o.programName,
      args: o.args ?? [],
      env: entries(o.env, "env"),
      preopens: [
        ...entries(o.preopens, "preopens").map(([g, h]): [string, string, boolean] => [g, h, false]),
        ...entries(o.readonlyPreopens, "readonlyPreopens").map(([g, h]): [string, string, boolean] => [g, h, true]),
      ],
      stdin: o.stdin !== undefined ? "bytes" : o.inheritStdin ? "inherit" : "empty",
      stdout: outputMode(o.inheritStdout, o.captureStdout, "Stdout"),
      stderr: outputMode(o.inheritStderr, o.captureStderr, "Stderr"),
    };
  }
  if (o.fuel !== undefined) wire.fuel = String(o.fuel);
  if (o.callFuel !== undefined) wire.callFuel = String(o.callFuel);
  if (o.timeoutMs !== undefined) wire.timeoutMs = o.timeoutMs;
  if (o.maxMemoryBytes !== undefined) wire.maxMemoryBytes = o.maxMemoryBytes;
  if (o.preemptible !== undefined) wire.preemptible = o.preemptible;
  if (o.syncImports !== undefined && typeof o.syncImports !== "boolean") typeError("`syncImports` must be a boolean");
  const imports = wireImports(o.imports, o.syncImports === true);
  if (imports.host.length > 0) {
    // Both kinds are called in place through this thread's bridge; default ones may answer later (a Promise).
    if (o.syncImports === true) wire.syncImports = true;
    else wire.bridgedImports = true;
    installBridge();
  }
  if (imports.host.length > 0) wire.hostImports = imports.host;
  if (imports.exports.length > 0) wire.exportImports = imports.exports;
  if (imports.instances.length > 0) wire.instanceImports = imports.instances;
  return [wire, stdin, imports];
}

/**
 * Create an instance of a compiled module. Each instance has its own memory, WASI state and limits, unless its
 * `imports` link it to other instances (see {@link InstanceOptions.imports}).
 */
export function instantiate(moduleId: ModuleId, options?: InstanceOptions): Promise<Instance> {
  // Once the backend is loaded, a plain function returning a settled promise (as `drop()` is) unless the start
  // function waits for a JavaScript import: no async function's state per instance.
  if (current === undefined) {
    return (async () => {
      await load();
      return instantiate(moduleId, options);
    })();
  }
  try {
    const made = instantiateNow(current, moduleId, options);
    return made instanceof Instance ? Promise.resolve(made) : made;
  } catch (e) {
    return Promise.reject(e);
  }
}

/** {@link instantiate} on a loaded backend: the instance, or a promise of it when its start function waits. */
function instantiateNow(backend: Backend, moduleId: ModuleId, options?: InstanceOptions): Instance | Promise<Instance> {
  if (options === undefined) {
    // A plugin instantiated per call: no options to walk, no import tables, nothing but the instance (each object
    // here is young garbage a churn pays for twice: to make it, and in the cache it evicts).
    const id = backend.instantiate(handle(moduleId, ErrorCode.InvalidModuleHandle), "{}", NO_BYTES);
    return new Instance(id, moduleId);
  }
  // The handle first: the options' functions are registered for the store `toWire` makes.
  const module = handle(moduleId, ErrorCode.InvalidModuleHandle);
  const [wire, stdin, imports] = toWire(options);
  const store = imports.store;
  let id: number | Promise<number>;
  try {
    // With JavaScript functions in the store, the start function may call them: the call protocol serves them.
    id = store.hosted === 0
      ? backend.instantiate(module, wireJson(wire), stdin)
      : instantiateServed(backend, module, wireJson(wire), stdin, store);
  } catch (e) {
    throw instantiateFailed(imports, e);
  }
  if (typeof id === "number") return new Instance(id, moduleId, store);
  return id.then((id) => new Instance(id, moduleId, store), (e) => Promise.reject(instantiateFailed(imports, e)));
}

/** After a failed instantiate: the store takes back the functions it registered for it; the error to throw. */
function instantiateFailed(imports: WireImports, e: unknown): unknown {
  imports.store.hosted = imports.hostedBase;
  release(imports.store, imports.base);
  if (imports.shared) unshare(imports.store);
  return withHostCause(e);
}

// ---------------------------------------------------------------------------------------------------------------
// JavaScript imports, called in place through the backend's host callback
// ---------------------------------------------------------------------------------------------------------------
//
// Both kinds of imports are numbered in one table and run by `dispatch`, which the core calls in place while the
// guest runs (on this thread's own stack): `syncImports` ones must answer at once; the default ones (the core's
// bridged imports) may return a Promise, which `dispatch` keeps (`started`) and answers `LATER` with: the guest
// then suspends, and the call's next step asks for that Promise's value (`serve`).

/** The imports of live stores, by the index the core calls them with; free slots are reused. */
const hostFns: (HostFunction | undefined)[] = [];
const freeIndexes: number[] = [];
/** How many imports run (nested) in place now: calls made inside one use frames of their own. */
let syncDepth = 0;
/** `hostThrown` when no import threw (a guest may throw `null` or `undefined` too). */
const NOTHING_THROWN: unique symbol = Symbol("nothing thrown");
/** What the innermost import run in place that failed threw, until its call's error takes it as `cause`. */
let hostThrown: unknown = NOTHING_THROWN;
/** The Promise the last default import run in place returned, until the call's host step takes it. */
let started: PromiseLike<unknown> | null = null;
/** The frame the core and the dispatcher trade an import's arguments and results in. */
const hostFrame: Frame = newFrame();
let bridgeInstalled = false;
/** The bit of `dispatch`'s index that allows a later answer, and that answer (`MAY_ANSWER_LATER`, `LATER`). */
const MAY_ANSWER_LATER = 0x100_0000; // below 2^30: a small integer in V8, never a boxed number
const LATER = -1;

/** Each function's index: a function given to many instances keeps one index (and the options text of many
 * instances with the same imports stays the same: the core parses it once; a text per instance cost ~4 µs an
 * instantiate). */
const indexOf = new Map<HostFunction, number>();
/** How many stores registered the function at each index. */
const hostRefs: number[] = [];
/** Indexes no store holds now, oldest first, whose functions keep their numbers until more than `PARKED_MAX`
 * wait: the next instance with the same imports (a plugin churned) finds them numbered, with no map updates
 * (~0.1 µs an instantiate with two imports). Past that the oldest are freed, so at most `PARKED_MAX` functions
 * of dropped instances stay referenced here. */
const parked: number[] = [];
const isParked: boolean[] = [];
const PARKED_MAX = 64;

/** Number `fn`, taking a reference on it (either kind of import: the core tells `dispatch` which may answer
 * later). */
function number(fn: HostFunction): number {
  let index = indexOf.get(fn);
  if (index === undefined) {
    index = freeIndexes.pop() ?? hostFns.length;
    hostFns[index] = fn;
    hostRefs[index] = 0;
    indexOf.set(fn, index);
  }
  hostRefs[index]++;
  return index;
}

/** Release the store's functions from position `from` on (a shared one once no store has it). */
function release(store: StoreJs, from: number): void {
  // Freed last to first, so that the next instance with the same imports gets the same indexes back.
  const indexes = store.indexes;
  for (let k = indexes.length - 1; k >= from; k--) unref(indexes[k]);
  indexes.length = from;
  trimParked();
}

/** The store's last instance is gone: release its functions, own and shared. */
function releaseStore(store: StoreJs): void {
  release(store, 0);
  unshare(store);
}

/** Drop a reference on the function at `index`: parked once none is left. */
function unref(index: number): void {
  if (--hostRefs[index] > 0 || isParked[index]) return;
  isParked[index] = true;
  parked.push(index);
}

/** Free the oldest parked functions past `PARKED_MAX`. */
function trimParked(): void {
  while (parked.length > PARKED_MAX) {
    const index = parked.shift()!;
    isParked[index] = false;
    if (hostRefs[index] > 0) continue; // registered again meanwhile
    indexOf.delete(hostFns[index]!);
    hostFns[index] = undefined;
    freeIndexes.push(index);
  }
}

function installBridge(): void {
  if (bridgeInstalled) return;
  (current ?? loaded()).setHostCallback(dispatch, hostFrame);
  bridgeInstalled = true;
}

/** Run import `index` in place with the `nargs` arguments in `hostFrame` (see `Backend.setHostCallback`). */
function dispatch(index: number, nargs: number): number {
  const f = hostFrame;
  const mayAnswerLater = index >= MAY_ANSWER_LATER;
  if (mayAnswerLater) index -= MAY_ANSWER_LATER;
  const fn = hostFns[index];
  if (fn === undefined) return syncFailure(ErrorCode.CallError, "no host function with that index", NOTHING_THROWN);
  let value: unknown;
  syncDepth++;
  try {
    // Up to three arguments (nearly every import) are read straight from their slots: no array, no spread.
    switch (nargs) {
      case 0:
        value = fn();
        break;
      case 1:
        value = fn(resultAt(f, 0));
        break;
      case 2:
        value = fn(resultAt(f, 0), resultAt(f, 1));
        break;
      case 3:
        value = fn(resultAt(f, 0), resultAt(f, 1), resultAt(f, 2));
        break;
      default:
        value = fn(...decodeFrame(f, nargs));
    }
  } catch (e) {
    return syncFailure(ErrorCode.CallError, errorText(e), e);
  } finally {
    syncDepth--;
  }
  // The common results: nothing, or one number (converted by the import's type in the core).
  if (value === undefined) return 0;
  if (typeof value === "number") {
    f.bytes[HEADER] = TAG_NUMBER;
    f.f64[(HEADER + 8) >> 3] = value;
    return 1;
  }
  if (isThenable(value)) {
    if (mayAnswerLater) {
      // Awaited by the call's host step, which comes next (`serve`), unless the call is abandoned first.
      abandonStarted();
      started = value;
      return LATER;
    }
    Promise.resolve(value).catch(noop);
    const why = `host function ${fn.name || "(anonymous)"} returned a Promise: an instance created with ` +
      "`syncImports` takes synchronous host functions only";
    return syncFailure(ErrorCode.TypeError, why, NOTHING_THROWN);
  }
  const results = value === undefined ? [] : Array.isArray(value) ? value : [value];
  try {
    encodeFrame(f, results as WasmArg[]);
  } catch (e) {
    return syncFailure(ErrorCode.TypeError, errorText(e).replace(/^\[5007\] type error: argument/, "result"), NOTHING_THROWN);
  }
  return results.length;
}

/** Forget a Promise an import returned whose call never asked for it (a call made inside an import that was
 * abandoned when it reached it): marked handled, so that its rejection is not reported as unhandled. */
function abandonStarted(): void {
  if (started !== null) Promise.resolve(started).catch(noop);
  started = null;
}

/** Fail a synchronous import: the message into the frame, what was thrown kept for the call's error. */
function syncFailure(code: number, message: string, thrown: unknown): number {
  hostThrown = thrown;
  const written = textEncoder.encodeInto(message, hostFrame.bytes.subarray(HEADER)).written;
  hostFrame.u32[0] = written;
  return -code;
}

/** `e`, given as `cause` what the synchronous import that failed the call threw (when one did). */
function withHostCause(e: unknown): unknown {
  abandonStarted();
  const thrown = hostThrown;
  hostThrown = NOTHING_THROWN;
  if (thrown !== NOTHING_THROWN && e instanceof WasmError && e.code === ErrorCode.CallError) {
    Object.defineProperty(e, "cause", { value: thrown, writable: true, configurable: true });
  }
  return e;
}

/** Whether every argument is a number (such calls may go through {@link Backend.callNumbers}). */
function allNumbers(args: readonly WasmArg[]): args is number[] {
  for (let i = 0; i < args.length; i++) if (typeof args[i] !== "number") return false;
  return true;
}

/** `callSync` of the export at `index` with numbers, no frame: its results, or `null` when they are not numbers
 * (the backend answered -1: nothing ran, call it with a frame). */
function callWithNumbers(backend: Backend, id: number, index: number, args: readonly number[]): WasmResult[] | null {
  let count: number;
  try {
    count = backend.callNumbers(id, index, args);
  } catch (e) {
    throw withHostCause(e);
  }
  return count === 1 ? [backend.numberResult()] : count === 0 ? [] : null;
}

/** The last options text of an instance whose only options were its JavaScript imports (either kind). */
let lastImportsWire: { host: [string, string, number][]; sync: boolean; json: string } | null = null;

/**
 * The JSON text of `wire`. A churn of one plugin sends the same options again and again; when they are JavaScript
 * imports only (`hostImports`, `syncImports`) and the same triples as last time, the last text is reused (a third
 * of the options' cost on such a churn; the core then finds its parse by the same text).
 */
function wireJson(wire: InstanceOptionsWire): string {
  const host = wire.hostImports;
  if (
    host === undefined || wire.wasi !== undefined || wire.fuel !== undefined || wire.callFuel !== undefined ||
    wire.timeoutMs !== undefined || wire.maxMemoryBytes !== undefined || wire.preemptible !== undefined ||
    wire.exportImports !== undefined || wire.instanceImports !== undefined
  ) {
    return toJson(wire);
  }
  const sync = wire.syncImports === true;
  const last = lastImportsWire;
  if (last !== null && last.sync === sync && sameTriples(last.host, host)) return last.json;
  const json = toJson(wire);
  lastImportsWire = { host, sync, json };
  return json;
}

function sameTriples(a: [string, string, number][], b: [string, string, number][]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) {
    const x = a[k], y = b[k];
    if (x[0] !== y[0] || x[1] !== y[1] || x[2] !== y[2]) return false;
  }
  return true;
}

/**
 * Instantiate through the call protocol, running the JavaScript functions its start function calls. The handle
 * at once when nothing had to wait (no promise to settle: the common case, a module without a start function).
 */
function instantiateServed(
  backend: Backend,
  module: number,
  json: string,
  stdin: Uint8Array,
  store: StoreJs,
): number | Promise<number> {
  const f = framePool.take(0);
  let step: number;
  try {
    step = backend.instantiateStart(module, json, stdin, f);
  } catch (e) {
    framePool.give(f);
    throw e;
  }
  return settle(f, step, store, (done) => headerU64(done.view, 0));
}

/**
 * Drive a started step ({@link drive}, not `sync`) and read its answer from the frame with `read`, giving the
 * frame back to the pool either way: the answer at once when nothing had to wait, else a promise of it.
 */
function settle<T>(f: Frame, step: number, store: StoreJs, read: (f: Frame) => T): T | Promise<T> {
  let driven: void | Promise<void>;
  try {
    driven = drive(f, step, false, store);
  } catch (e) {
    framePool.give(f);
    throw e;
  }
  if (driven === undefined) {
    const out = read(f);
    framePool.give(f);
    return out;
  }
  return driven.then(() => read(f)).finally(() => framePool.give(f));
}

/**
 * Take a started call (or instantiation) to its end: finish it off the thread when it outlived its slice, run
 * the host functions it waits in. Returns at once (`undefined`) when everything happened on this thread.
 */
function drive(f: Frame, step: number, sync: boolean, store: StoreJs, yielded = false): void | Promise<void> {
  for (;;) {
    if (step === STEP_DONE) return;
    if (step === STEP_PENDING) return loaded().callFinish(f).then((next) => drive(f, next, sync, store, yielded));
    if (step === STEP_YIELDED) {
      return loaded().callContinue(f, !yielded).then(
        (next) => drive(f, next, sync, store, true),
        (e) => { throw withHostCause(e); }, // an import the guest called in place in that slice failed
      );
    }
    const next = serve(f, sync, store);
    if (typeof next !== "number") return next.then((k) => drive(f, k, sync, store, yielded));
    step = next;
  }
}

/** Run the host function the guest waits in (its index and arguments are in the frame) and answer it. */
function serve(f: Frame, sync: boolean, store: StoreJs): number | Promise<number> {
  const fn = hostFns[f.u32[4]];
  if (fn === undefined) return answer(f, -ErrorCode.CallError, "no host function with that index", null);
  let value: unknown;
  if (f.u32[6] === 1) {
    // It ran in place already (`dispatch`) and returned this Promise.
    value = started;
    started = null;
  } else {
    const args = decodeFrame(f, f.u32[5]);
    store.inHost++;
    try {
      value = fn(...args);
    } catch (e) {
      return answer(f, -ErrorCode.CallError, errorText(e), e);
    } finally {
      store.inHost--;
    }
  }
  if (!isThenable(value)) return reply(f, value);
  if (sync) {
    Promise.resolve(value).catch(noop);
    const why = `host function ${fn.name || "(anonymous)"} returned a Promise: async host function needs \`call\``;
    return answer(f, -ErrorCode.TypeError, why, null);
  }
  return Promise.resolve(value).then(
    (v) => reply(f, v),
    (e) => answer(f, -ErrorCode.CallError, errorText(e), e),
  );
}

/** Answer with a host function's return value: nothing, one value, or an array of them. */
function reply(f: Frame, value: unknown): number {
  const results = value === undefined ? [] : Array.isArray(value) ? value : [value];
  try {
    encodeFrame(f, results as WasmArg[]);
  } catch (e) {
    return answer(f, -ErrorCode.TypeError, errorText(e).replace(/^\[5007\] type error: argument/, "result"), null);
  }
  return answer(f, results.length, "", null);
}

/** Resume the guest; a 5002 it then fails with gets `cause` (what the host function threw). */
function answer(f: Frame, nresults: number, message: string, cause: unknown): number {
  try {
    return loaded().callResume(f, nresults, message);
  } catch (e) {
    if (cause !== null && e instanceof WasmError && e.code === ErrorCode.CallError) {
      Object.defineProperty(e, "cause", { value: cause, writable: true, configurable: true });
      throw e;
    }
    // The guest continued and an import it called in place failed.
    throw withHostCause(e);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Instances
// ---------------------------------------------------------------------------------------------------------------

/**
 * An offset or page count: must be a number; the core applies the rest of the rule (an integer, else 5007; not
 * negative or beyond 2^53, else 5006).
 */
function numberArg(v: number, what: string): number {
  if (typeof v !== "number") typeError(`${what} must be an integer, got ${String(v)}`);
  return v;
}

/** A read's length sizes a JavaScript allocation before the core sees it, so it is checked here, in the core's words. */
function lengthArg(v: number): number {
  if (typeof v !== "number" || !Number.isInteger(v)) typeError(`length must be an integer, got ${String(v)}`);
  if (v < 0 || !Number.isSafeInteger(v)) {
    throw wasmError(ErrorCode.MemoryError, `out of bounds: length ${v} is ${v < 0 ? "negative" : "too large"}`);
  }
  return v;
}

const noop = (): void => {};

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") &&
    typeof (v as { then?: unknown }).then === "function";
}

/** What a host function threw, as message text. */
function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The frame of synchronous calls, and the frames of calls in flight. */
const syncFrame: Frame = newFrame();
const framePool = new FramePool();

/** Reads larger than this check the bounds before allocating the destination. */
const LARGE_READ = 64 << 20;

/** An instance's (first exported) linear memory. Every method copies once; none allocates but `read`. */
export class Memory {
  readonly #instance: number;
  /** Internal: an instance's memory is {@link Instance.memory}. */
  constructor(instance: number) {
    this.#instance = instance;
  }

  /** Copy `length` bytes at `offset` into a new `Uint8Array`. Out of bounds → 5006. */
  read(offset: number, length: number): Promise<Uint8Array> {
    try {
      return Promise.resolve(this.readSync(offset, length));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** {@link read}, synchronously. */
  readSync(offset: number, length: number): Uint8Array {
    const off = numberArg(offset, "offset");
    const len = lengthArg(length);
    const backend = loaded();
    if (len > LARGE_READ) {
      const size = backend.memoryByteLength(this.#instance);
      if (off + len > size) {
        throw wasmError(
          ErrorCode.MemoryError,
          `out of bounds: ${len} byte(s) at offset ${off}, memory is ${size} bytes`,
        );
      }
    }
    const target = new Uint8Array(len);
    backend.memoryRead(this.#instance, off, target);
    return target;
  }

  /** Copy `target.length` bytes at `offset` into `target` (no allocation). Returns `target`. */
  readInto(offset: number, target: Uint8Array): Uint8Array {
    if (!(target instanceof Uint8Array)) typeError("readInto: target must be a Uint8Array");
    loaded().memoryRead(this.#instance, numberArg(offset, "offset"), target);
    return target;
  }

  /** Copy `bytes` into memory at `offset`. Out of bounds → 5006, nothing written. */
  write(offset: number, bytes: Uint8Array): Promise<void> {
    try {
      this.writeSync(offset, bytes);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** {@link write}, synchronously. */
  writeSync(offset: number, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) typeError("write: bytes must be a Uint8Array");
    loaded().memoryWrite(this.#instance, numberArg(offset, "offset"), bytes);
  }

  /** Size in 64 KiB pages. */
  size(): Promise<number> {
    try {
      return Promise.resolve(this.sizeSync());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** {@link size}, synchronously. */
  sizeSync(): number {
    return loaded().memorySize(this.#instance);
  }

  /** Size in bytes. */
  byteLength(): number {
    return loaded().memoryByteLength(this.#instance);
  }

  /**
   * Grow by `pages` (64 KiB each); resolves to the old size in pages. Past `maxMemoryBytes` → 5013; past the
   * module's maximum → 5006.
   */
  grow(pages: number): Promise<number> {
    try {
      return Promise.resolve(this.growSync(pages));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** {@link grow}, synchronously. */
  growSync(pages: number): number {
    return loaded().memoryGrow(this.#instance, numberArg(pages, "pages"));
  }
}

/** A live instance. Drop it with {@link Instance.drop} (or `using`) to return its slot to the pool. */
export class Instance {
  /** The instance handle. */
  readonly id: number;
  /** The module it was created from (which may since have been dropped; the instance keeps working). */
  readonly moduleId: ModuleId;
  /** The instance's linear memory (its first exported memory). Made on first use. */
  get memory(): Memory {
    return this.#memory ??= new Memory(this.id);
  }
  #memory: Memory | undefined;

  /** Made on first use ({@link Instance.#store}): an instance without imports that no call outlives and no
   * instance links to never needs one. */
  #storeJs: StoreJs | undefined;
  /** `callSync`'s last export name, and its resolved index (-1: not resolved, -2: not resolvable, call by name):
   * from its first call with numbers (which resolves it on the way), else once called twice in a row. One entry: a
   * loop calling one export skips the name lookup, a one-off call (plugin churn) costs no extra resolve. */
  #lastName = "";
  #lastIndex = -1;
  /** Whether that export may be called with numbers (`false` once its results proved not to be numbers). */
  #lastNumbers = true;

  /** Internal: instances come from {@link instantiate}. */
  constructor(id: number, moduleId: ModuleId, store?: StoreJs) {
    this.id = id;
    this.moduleId = moduleId;
    if (store !== undefined) {
      this.#storeJs = store;
      store.live++;
    }
  }

  static {
    storeOf = (instance) => instance.#store;
  }

  /** What this instance shares with the instances of its store (see {@link StoreJs}), made on first use. */
  get #store(): StoreJs {
    if (this.#storeJs === undefined) {
      this.#storeJs = new StoreJs();
      this.#storeJs.live = 1;
    }
    return this.#storeJs;
  }

  /** Whether calls go through the host-call protocol: the instance's store has JavaScript host functions. */
  #hosted(): boolean {
    return this.#storeJs !== undefined && this.#storeJs.hosted > 0;
  }

  /**
   * Call an export; resolves to its results in order (i64 → bigint, others → number). Arguments are converted
   * by the export's signature; use {@link types} to force a type. `call("_start")` runs a WASI command: a
   * `proc_exit(n)` is an exit status (see {@link exitCode}), not an error.
   *
   * The call starts on the JavaScript thread: one that finishes within the runtime's time slice (1–2 ms by
   * default, `configure({ callSliceMs })`) resolves at once, without a thread hop (well under a microsecond of
   * overhead). One that runs longer is suspended at the end of each slice, the event loop turning (timers and
   * I/O run) before the next; after `configure({ callerSlices })` slices on this thread (8 by default) the rest
   * is finished on another thread. Host functions (`imports`) always run on the JavaScript thread; one that returns
   * a Promise suspends the guest until it settles. Calls on one instance run one at a time, in the order they
   * were made; a `call` made from inside one of the instance's host functions (before it returns or awaits)
   * re-enters the instance at once, as `callSync` does. While a call runs off the JavaScript thread, `callSync`
   * and memory access on that instance fail fast (5002) instead of waiting; while it waits for an async host
   * function, they re-enter it (so the host function can use them after its own `await`s). `drop()` meanwhile does not wait: the call finishes, its promise settles, then the instance is
   * freed.
   */
  call(name: string, ...args: WasmArg[]): Promise<WasmResult[]> {
    const storeJs = this.#storeJs;
    if (
      storeJs !== undefined &&
      (storeJs.inHost > 0 || (syncDepth > 0 && storeJs.tail !== null && loaded().inHostFunction(this.id)))
    ) {
      // From inside a host function of this instance's store (a host step's, or an import running in place
      // while an earlier call of the store is still queued): re-enter it now, as `callSync` does.
      try {
        return Promise.resolve(this.callSync(name, ...args));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const tail = storeJs === undefined ? null : storeJs.tail;
    if (tail !== null) return this.#track(tail.then(() => this.#start(name, args)));
    let started: WasmResult[] | Promise<WasmResult[]>;
    try {
      started = this.#start(name, args);
    } catch (e) {
      return Promise.reject(e);
    }
    return Array.isArray(started) ? Promise.resolve(started) : this.#track(started);
  }

  /** Start one call: its results when it finished on this thread, else a promise of them. */
  #start(name: string, args: WasmArg[]): WasmResult[] | Promise<WasmResult[]> {
    checkName(name);
    const backend = loaded();
    const command = name === "_start" && args.length === 0;
    const f = framePool.take(slotsFor(args));
    let step: number;
    try {
      if (!command) encodeFrame(f, args);
      step = command ? backend.runCommandStart(this.id, f, false) : backend.callStart(this.id, name, f, args.length, false);
    } catch (e) {
      framePool.give(f);
      throw withHostCause(e);
    }
    if (step === STEP_DONE) {
      // The common case: the call finished within its slice.
      const out = command ? [] : decodeFrame(f, f.u32[0]);
      framePool.give(f);
      return out;
    }
    return this.#continue(f, step, command);
  }

  /** {@link call} past its first step: a host function to run, or the rest of a call that outlived its slice. */
  #continue(f: Frame, step: number, command: boolean): WasmResult[] | Promise<WasmResult[]> {
    return settle(f, step, this.#store, (done): WasmResult[] => (command ? [] : decodeFrame(done, done.u32[0])));
  }

  /** Queue later calls on the store behind `p` (and whatever was queued before it). */
  #track(p: Promise<WasmResult[]>): Promise<WasmResult[]> {
    const store = this.#store;
    const tail: Promise<void> = p.then(noop, noop);
    store.tail = tail;
    tail.then(() => {
      if (store.tail === tail) store.tail = null;
    });
    return p;
  }

  /** {@link call} on the JavaScript thread: no thread hop, the fastest way to make many short calls. */
  callSync(name: string, ...args: WasmArg[]): WasmResult[] {
    checkName(name);
    const backend = loaded();
    const command = name === "_start" && args.length === 0;
    // Inside a synchronous import the outer call still has `syncFrame`, and its instance is reached by name only.
    const nested = syncDepth > 0;
    // An instance with JavaScript imports takes the call protocol for a command, from inside a host function and
    // while a `call` of its store is in flight (it then re-enters that call); otherwise, with numbers, the numbers
    // call below, which runs it without a fiber, its imports answered in place (or declines: -1).
    const hosted = this.#hosted();
    if (hosted && (command || nested || this.#storeBusy())) return this.#callSyncHosted(name, args);
    if (command) {
      try {
        backend.runCommandSync(this.id);
      } catch (e) {
        throw withHostCause(e);
      }
      return [];
    }
    const index = nested ? -1 : this.#resolved(name);
    if (!nested && this.#lastNumbers && args.length <= NUMBER_ARGS && allNumbers(args)) {
      // By index once resolved, else by name (a new instance's first call: resolved on the way, no frame).
      let count: number;
      try {
        count = backend.callNumbersNamed(this.id, name, index, args);
      } catch (e) {
        throw withHostCause(e);
      }
      if (index < 0) this.#lastIndex = backend.numberIndex();
      if (count === 1) return [backend.numberResult()];
      if (count === 0) return [];
      this.#lastNumbers = false;
    }
    if (hosted) return this.#callSyncHosted(name, args);
    // One frame serves every synchronous call (the thread is inside the call until it returns); more than 512
    // arguments (wide BigInts take two slots) get a frame of their own.
    return this.#callSyncFramed(backend, name, nested ? -1 : this.#lastIndex, nested, args);
  }

  /** Whether a `call` of this instance's store is in flight or in one of its host steps. */
  #storeBusy(): boolean {
    const store = this.#storeJs!;
    return store.tail !== null || store.inHost > 0;
  }

  /** `callSync` through a value frame: any arguments and results (by `index` when it is not negative). */
  #callSyncFramed(backend: Backend, name: string, index: number, nested: boolean, args: WasmArg[]): WasmResult[] {
    const f = args.length <= SLOTS / 2 && !nested ? syncFrame : newFrame(Math.max(SLOTS, slotsFor(args)));
    encodeFrame(f, args);
    let count: number;
    try {
      count = index >= 0 ? backend.callFunc(this.id, index, f, args.length) : backend.callSync(this.id, name, f, args.length);
    } catch (e) {
      throw withHostCause(e);
    }
    return decodeFrame(f, count);
  }

  /** The index `callSync` may call `name` by (see `#lastIndex`), or a negative number: call it by name. */
  #resolved(name: string): number {
    if (name !== this.#lastName) {
      this.#lastName = name;
      this.#lastIndex = -1;
      this.#lastNumbers = true;
    } else if (this.#lastIndex === -1) {
      try {
        this.#lastIndex = loaded().func(this.id, name);
      } catch {
        // Not a callable function export, or the instance is gone: the by-name call reports it as it always did.
        this.#lastIndex = -2;
      }
    }
    return this.#lastIndex;
  }

  /** `callSync` of an instance with host functions: the call protocol, synchronously (a frame per call, since
   * host functions may call again). */
  #callSyncHosted(name: string, args: WasmArg[]): WasmResult[] {
    const backend = loaded();
    const command = name === "_start" && args.length === 0;
    const f = framePool.take(slotsFor(args));
    try {
      if (!command) encodeFrame(f, args);
      let step: number;
      try {
        step = command ? backend.runCommandStart(this.id, f, true) : backend.callStart(this.id, name, f, args.length, true);
      } catch (e) {
        throw withHostCause(e);
      }
      drive(f, step, true, this.#store);
      return command ? [] : decodeFrame(f, f.u32[0]);
    } finally {
      framePool.give(f);
    }
  }

  /**
   * Resolve export `name` once and return it as a function that calls it on the JavaScript thread, as
   * {@link callSync} does, without passing or looking up the name on each call: the fastest way to call one
   * export many times. Missing export → 5003 here; the function throws as `callSync` does (5005 once the
   * instance is dropped).
   *
   * ```ts
   * const add = instance.func("add");
   * add(1, 2); // [3]
   * ```
   */
  func(name: string): WasmFunction {
    checkName(name);
    const backend = loaded();
    const id = this.id;
    const byName = (...args: WasmArg[]): WasmResult[] => this.callSync(name, ...args);
    let index: number;
    try {
      index = backend.func(id, name);
    } catch (e) {
      // Inside one of the store's synchronous imports, its exports can be called but not resolved.
      if (syncDepth > 0 && e instanceof WasmError && e.code === ErrorCode.CallError) return byName;
      throw e;
    }
    if (this.#hosted()) return byName;
    let numbers = true; // until its results prove not to be numbers
    return (...args: WasmArg[]): WasmResult[] => {
      if (syncDepth > 0) return this.callSync(name, ...args);
      if (numbers && args.length <= NUMBER_ARGS && allNumbers(args)) {
        const results = callWithNumbers(backend, id, index, args);
        if (results !== null) return results;
        numbers = false;
      }
      const f = args.length <= SLOTS / 2 ? syncFrame : newFrame(Math.max(SLOTS, slotsFor(args)));
      encodeFrame(f, args);
      let count: number;
      try {
        count = backend.callFunc(id, index, f, args.length);
      } catch (e) {
        throw withHostCause(e);
      }
      return decodeFrame(f, count);
    };
  }

  /**
   * Export `name` as a value for another instance's `imports` (a function, memory, table or global; linking
   * shares it). Missing → 5003; dropped instance → 5005.
   *
   * ```ts
   * const lib = await instantiate(libId);
   * const app = await instantiate(appId, { imports: { env: { memory: lib.export("memory") } } });
   * ```
   */
  export(name: string): ExportRef {
    checkName(name);
    const exports = JSON.parse(loaded().instanceExports(this.id)) as ExportInfo[];
    const found = exports.find((e) => e.name === name);
    if (found === undefined) throw wasmError(ErrorCode.ExportNotFound, `no export named \`${name}\``);
    return new ExportRef(this, name, found.kind);
  }

  /** The value of exported global `name` (i64 → bigint, others → number). Missing → 5003. */
  getGlobal(name: string): WasmResult {
    checkName(name);
    const f = syncDepth === 0 ? syncFrame : newFrame(1);
    loaded().global(this.id, name, f, false);
    return decodeFrame(f, 1)[0];
  }

  /**
   * Set exported global `name`; the value is converted by the global's type, as call arguments are (use
   * {@link types} to force one). Immutable global or a value that does not fit → 5007; missing → 5003. Instances
   * linked to the global see the new value.
   */
  setGlobal(name: string, value: WasmArg): void {
    checkName(name);
    const f = syncDepth === 0 ? syncFrame : newFrame(1);
    encodeFrame(f, [value]);
    loaded().global(this.id, name, f, true);
  }

  /**
   * The instance's exports: `{ name, kind, params?, results? }` for functions, `{ type, mutable }` for globals,
   * `{ min, max }` (pages / elements; `max` null when unbounded) for memories and tables, `element` for tables.
   */
  getExports(): Promise<ExportInfo[]> {
    try {
      return Promise.resolve(JSON.parse(loaded().instanceExports(this.id)));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Captured stdout so far (empty unless created with `captureStdout`). */
  stdout(): Uint8Array {
    return loaded().output(this.id, 1);
  }

  /** Captured stderr so far (empty unless created with `captureStderr`). */
  stderr(): Uint8Array {
    return loaded().output(this.id, 2);
  }

  /** The exit status of a WASI command after `call("_start")` (or any `proc_exit`); `null` before. */
  get exitCode(): number | null {
    return loaded().exitCode(this.id);
  }

  /** Drop the instance (5005 if already dropped). A call still running on it finishes first. */
  drop(): Promise<void> {
    try {
      loaded().instanceDrop(this.id);
      this.#dropped();
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** After a successful drop: the store's last instance frees its host functions. */
  #dropped(): void {
    const store = this.#storeJs;
    if (store === undefined || --store.live > 0) return;
    // A call still running (the drop did not wait for it) may call its imports until it ends.
    if (store.tail === null) releaseStore(store);
    else store.tail.then(() => releaseStore(store));
  }

  /** `using instance = await instantiate(id)`: drops at the end of the scope (ignores an earlier drop). */
  [Symbol.dispose](): void {
    try {
      loaded().instanceDrop(this.id);
      this.#dropped();
    } catch (e) {
      if ((e as { code?: number }).code !== ErrorCode.InvalidInstanceHandle) throw e;
    }
  }
}
