/**
 * The backend interface: the handful of functions `mod.ts` needs from a host. Two implementations:
 *
 * - `ffi_backend.ts`: stock Deno, `Deno.dlopen` of `libext_wasm` (the C ABI in `src/ffi.rs`);
 * - `ops_backend.ts`: deno_core embedders (Forge), `Deno.core.ops.op_wasm_*` (the extension in `src/deno/`).
 *
 * Both are transport only: the rules live in the Rust wire layer (`src/wire.rs`), JavaScript-side checks and the
 * frame codec in `mod.ts` / `frame.ts`. Every function throws {@link WasmError} on failure.
 *
 * @module
 */

import type { Frame } from "./frame.ts";

/** A value type as the API reports it. `v128` and `ref` appear in signatures only; calls with them fail (5007). */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "ref";

/** An argument whose wasm type the caller chose with `types.i32/i64/f32/f64`. */
export class Typed {
  /** Already converted: an i32 as a signed 32-bit number, an i64 as a signed 64-bit bigint, an f32 rounded. */
  constructor(readonly type: "i32" | "i64" | "f32" | "f64", readonly value: number | bigint) {}
}

/** A call argument: numbers and bigints are converted by the export's signature; `Typed` values must match it. */
export type WasmArg = number | bigint | Typed;

/** A call result: i64 → bigint; i32, f32, f64 → number. */
export type WasmResult = number | bigint;

/** Kind of an export, as the `runtime:wasm` docs spell it (`"tag"`: exception tags, rare). */
export type ExportKind = "func" | "memory" | "table" | "global" | "tag";

/** One export; `params` and `results` for functions only. */
export interface ExportInfo {
  /** The export's name. */
  name: string;
  /** What it exports. */
  kind: ExportKind;
  /** Parameter types, in order (functions only). */
  params?: ValType[];
  /** Result types, in order (functions only). */
  results?: ValType[];
  /** A global's value type (globals only). */
  type?: ValType;
  /** Whether a global can be set (globals only). */
  mutable?: boolean;
  /** A memory's (pages) or table's (elements) minimum size. */
  min?: number;
  /** A memory's or table's maximum size; `null` when unbounded. */
  max?: number | null;
  /** A table's element type (`"funcref"`, `"externref"`). */
  element?: string;
}

/** One import of a module: what it needs from its host; `params` and `results` for functions only. */
export interface ImportInfo {
  /** The import's module name (`"env"`, `"wasi_snapshot_preview1"`). */
  module: string;
  /** The field name (`"abort"`). */
  name: string;
  /** What it imports. */
  kind: ExportKind;
  /** Parameter types (functions only). */
  params?: ValType[];
  /** Result types (functions only). */
  results?: ValType[];
}

/** Where a WASI output stream goes. */
export type OutputWire = "discard" | "inherit" | "capture";

/**
 * Instance options after `mod.ts` normalized them: the shape of `WireInstanceOptions` in `src/wire.rs`, sent as
 * JSON text. `wasi` is absent when the caller set no WASI option at all. Stdin bytes travel beside the JSON.
 */
export interface InstanceOptionsWire {
  wasi?: {
    programName?: string;
    args: string[];
    /** `[name, value]` pairs, in order. */
    env: [string, string][];
    /** `[guestPath, hostPath, readOnly]`. */
    preopens: [string, string, boolean][];
    /** `"bytes"`: the stdin bytes passed beside the options. */
    stdin: "empty" | "inherit" | "bytes";
    stdout: OutputWire;
    stderr: OutputWire;
  };
  /** Decimal strings, so values beyond 2^53 survive (the core parses them; bad text → 5007). */
  fuel?: string;
  callFuel?: string;
  timeoutMs?: number;
  maxMemoryBytes?: number;
  preemptible?: boolean;
  /** `[module, name, index]` of each JavaScript import: `index` in the store's host-function table. */
  hostImports?: [string, string, number][];
  /** `[module, name, instance, export]`: imports linked to another instance's export. */
  exportImports?: [string, string, number, string][];
  /** `[module, instance]`: whole instances as import modules. */
  instanceImports?: [string, number][];
  /** `hostImports` are synchronous, called in place through the backend's host callback (`index`: its own). */
  syncImports?: boolean;
  /** `hostImports` are called in place through the backend's host callback first and may answer later (a
   * Promise: the call's host step then asks for it); `index`: the callback's own. */
  bridgedImports?: boolean;
}

/** Runtime configuration (`WireRuntimeConfig` in `src/wire.rs`); every field optional. */
export interface RuntimeConfigWire {
  cacheDir?: string;
  noCache?: boolean;
  cacheMaxBytes?: number;
  maxInstances?: number;
  maxModules?: number;
  poolInstances?: number;
  pooling?: boolean;
  /**
   * `true`: reset a freed instance slot by asking the kernel which pages its instance wrote (Linux 6.7+) and
   * zeroing those; `false`: zero its first 64 KiB. Absent (the default): whichever timed cheaper on this machine,
   * once per process. Turn on when thousands of instances live at once: freed slots then keep only what their
   * instance touched resident.
   */
  poolScanDirtyPages?: boolean;
  captureLimit?: number;
  denyFileCompile?: boolean;
  denyWasi?: boolean;
  preopenRoots?: string[];
  allowRootPreopen?: boolean;
  /** How long a time slice of `call` lasts on the JavaScript thread (ms, default 1). */
  callSliceMs?: number;
  /**
   * How many time slices a `call` may run on the JavaScript thread, the event loop turning between them, before
   * the rest continues on another thread (default 8; 1: after the first slice).
   */
  callerSlices?: number;
  /**
   * Artifact bundles made by `ext-wasm bundle`, consulted before compiling: a path, or `{ path, manifest }` to
   * load it only if its manifest is the one `ext-wasm bundle` printed (see the trust model in the README).
   */
  bundles?: (string | { path: string; manifest?: string })[];
  /**
   * Which compiler a never-seen module gets: `"auto"` (default: Winch at once, Cranelift in the background for
   * instances created after it and for the next launch), `"cranelift"` (slower first launch, fastest code at
   * once) or `"winch"` (fastest compile, slower code, never tiered up).
   */
  tiering?: "auto" | "cranelift" | "winch";
  /** Under `"auto"`, modules smaller than this many bytes compile with Cranelift at once (default 65536). */
  baselineMinBytes?: number;
  /** Open WASI handles (files, directories, streams) one instance may hold (default 4096); one more traps (5002). */
  wasiMaxHandles?: number;
}

/** Live counts. */
export interface RuntimeStats {
  /** Live module handles. */
  modules: number;
  /** Live instances. */
  instances: number;
}

/** Step kinds of a started call (see {@link Backend.callStart}). */
export const STEP_DONE = 0;
export const STEP_PENDING = 1;
export const STEP_HOST = 2;
export const STEP_YIELDED = 3;

/** The most arguments {@link Backend.callNumbers} takes (`NUMBER_ARGS` in `src/wire.rs`). */
export const NUMBER_ARGS = 4;

/** Which output stream: 1 = stdout, 2 = stderr. */
export type Stream = 1 | 2;

/**
 * What a host provides: transport only. Each function hands its arguments to the wire function of the same name
 * in `src/wire.rs` (through the C ABI or an op) and returns its answer; every rule about the inputs is applied
 * there, and everything JavaScript-side (frame encoding, JSON, argument checks) in `mod.ts` / `frame.ts`.
 * Handles, offsets and page counts are plain numbers; errors are thrown as {@link WasmError}.
 * `compile`, `compileFile`, `writeBundle` and `callFinish` run off the JavaScript thread.
 */
export interface Backend {
  /** Which implementation this is. */
  readonly kind: "ffi" | "ops";
  /** Configure the runtime before its first use (JSON text); `false` when it already exists. */
  configure(configJson: string): boolean;
  /** Compile wasm binary or text (the backend's own copy of the bytes); resolves to a module handle. */
  compile(bytes: Uint8Array): Promise<number>;
  /** Read and compile a file; resolves to a module handle. */
  compileFile(path: string): Promise<number>;
  /** Precompile files into an artifact bundle (request JSON, `wire::write_bundle`); resolves to its manifest. */
  writeBundle(requestJson: string): Promise<string>;
  /** The configured bundles as JSON text (`wire::bundles`). */
  bundles(): string;
  /** Tier-up counters as JSON text (`wire::tier_stats`). */
  tierStats(): string;
  /** Wait (off the JavaScript thread) until no tier-up is queued or running, at most `timeoutMs`. */
  waitForTierUp(timeoutMs: number): Promise<boolean>;
  moduleDrop(module: number): void;
  /** The module's exports as JSON text. */
  moduleExports(module: number): string;
  /** The module's imports as JSON text. */
  moduleImports(module: number): string;
  /** Instantiate from options JSON plus WASI stdin bytes; returns the instance handle. */
  instantiate(module: number, optionsJson: string, stdin: Uint8Array): number;
  /**
   * {@link Backend.instantiate} through the call protocol (the start function may call JavaScript imports):
   * the step kind; when done, the instance handle is the frame header's `a`.
   */
  instantiateStart(module: number, optionsJson: string, stdin: Uint8Array, frame: Frame): number;
  instanceDrop(instance: number): void;
  /** The instance's exports as JSON text. */
  instanceExports(instance: number): string;
  /**
   * Start a call on the JavaScript thread with `nargs` arguments in `frame` (`sync`: the caller waits, as
   * `callSync` of an instance with host imports does). Returns the step kind, with the details in the frame's
   * header (`src/wire.rs`, `Step`): {@link STEP_DONE} (the answer in `a`: the result count, results in the slots),
   * {@link STEP_PENDING} (finish it with {@link Backend.callFinish}; `frame` must stay untouched until then),
   * {@link STEP_YIELDED} (its time slice ended: continue it with {@link Backend.callContinue}) or
   * {@link STEP_HOST} (the guest waits in host import `u32[4]` with `u32[5]` arguments in the slots: answer with
   * {@link Backend.callResume}). See `src/async_call.rs` for the protocol.
   */
  callStart(instance: number, name: string, frame: Frame, nargs: number, sync: boolean): number;
  /** {@link Backend.callStart} of a WASI command's `_start` (the answer: its exit status). */
  runCommandStart(instance: number, frame: Frame, sync: boolean): number;
  /** Finish the pending call whose token is in the frame's header, off the JavaScript thread; the step kind. */
  callFinish(frame: Frame): Promise<number>;
  /**
   * Run one more time slice of the yielded call whose token is in the frame's header on the JavaScript thread,
   * after the event loop's next turn (timers and I/O run first); the step kind. `first`: the call's first
   * continuation, whose turn may have begun outside the loop's own phases (the FFI backend then turns twice,
   * so that a timers phase passes).
   */
  callContinue(frame: Frame, first: boolean): Promise<number>;
  /**
   * Answer the host import the call in the frame's header waits in: `nresults` values in the slots, or
   * `nresults = -code` and `message` for a failure. Continues the guest on this thread; the step kind.
   */
  callResume(frame: Frame, nresults: number, message: string): number;
  /** Call an export on the JavaScript thread; returns the result count (results are in `frame`). */
  callSync(instance: number, name: string, frame: Frame, nargs: number): number;
  /** Resolve function export `name` once; returns its index for {@link Backend.callFunc}. */
  func(instance: number, name: string): number;
  /** {@link Backend.callSync} of the function resolved to `index`: no name crosses. */
  callFunc(instance: number, index: number, frame: Frame, nargs: number): number;
  /**
   * {@link Backend.callFunc} with up to {@link NUMBER_ARGS} numbers for arguments and no frame either way: the
   * result count (0 or 1; the result is then {@link Backend.numberResult}), or -1 (`NOT_NUMBERS` in
   * `src/wire.rs`, as an i32) when the export's results are not numbers (an i64, or several): nothing ran, call
   * it with a frame. Not from inside a synchronous import.
   */
  callNumbers(instance: number, index: number, args: readonly number[]): number;
  /**
   * {@link Backend.callNumbers} of export `name`: by `index` when it is known (not negative), else by name,
   * resolved on the way as {@link Backend.callSync} resolves it (the same errors); its index is then
   * {@link Backend.numberIndex}, for the calls after it (also after -1). One method for both, so that
   * `callSync` has one call site here: V8 optimizes a `callSync` that served a churn's first calls (by name)
   * ~10 ns a call worse when its loop calls come from a second site.
   */
  callNumbersNamed(instance: number, name: string, index: number, args: readonly number[]): number;
  /** The result of the last {@link Backend.callNumbers} or {@link Backend.callNumbersNamed} that answered 1. */
  numberResult(): number;
  /** The index the last {@link Backend.callNumbersNamed} by name that did not throw resolved its export to. */
  numberIndex(): number;
  /**
   * Read exported global `name` into slot 0 of `frame` (`set = false`; returns 1), or set it from slot 0
   * (`set = true`; returns 0).
   */
  global(instance: number, name: string, frame: Frame, set: boolean): number;
  runCommandSync(instance: number): number;
  /** Exit status recorded by `proc_exit` or `runCommand`; `null` when none. */
  exitCode(instance: number): number | null;
  /** Captured output (empty unless captured). */
  output(instance: number, stream: Stream): Uint8Array;
  /** Copy `target.length` bytes of memory at `offset` into `target`. */
  memoryRead(instance: number, offset: number, target: Uint8Array): void;
  memoryWrite(instance: number, offset: number, bytes: Uint8Array): void;
  /** Whether a host function of the instance's store lends its running call on this thread (a JavaScript import
   * running in place): a `call` made now must re-enter rather than queue. */
  inHostFunction(instance: number): boolean;
  /** Size in 64 KiB pages. */
  memorySize(instance: number): number;
  /** Size in bytes. */
  memoryByteLength(instance: number): number;
  /** Grow by `pages`; returns the old size in pages. */
  memoryGrow(instance: number, pages: number): number;
  stats(): RuntimeStats;
  /**
   * Register the dispatcher of JavaScript imports for this thread: the core calls `callback(index, nargs)` in
   * place, inside a call, with the arguments in `frame`'s slots (`index` and `nargs` are also in the header's
   * `u32[2]` and `u32[3]`, where the FFI backend's argument-less callback reads them); it answers with its
   * results in the slots and their count, `-1` (later: a Promise it keeps for the call's host step; allowed only when `index` has bit 24
   * set), or `-code` with the message's UTF-8 length in `u32[0]` and its bytes after the header
   * (`frame_bridge` in `src/host_bridge.rs`). Calls made from inside it may run meanwhile.
   */
  setHostCallback(callback: (index: number, nargs: number) => number, frame: Frame): void;
}
