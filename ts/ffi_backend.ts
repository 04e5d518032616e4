/**
 * The stock-Deno backend: `Deno.dlopen` of `libext_wasm` (the C ABI of `src/ffi.rs`). Needs `--allow-ffi`
 * (plus `--allow-env`/`--allow-read` to find the library; with neither, set nothing and build to the default
 * location).
 *
 * Library location: `$EXT_WASM_LIB`, else `<repo>/target/release/`, else `<repo>/target/debug/` (relative to
 * this file), named `libext_wasm.so` / `libext_wasm.dylib` / `ext_wasm.dll`.
 *
 * Transport only (see `src/ffi.rs`): each method calls the C function of the same name, which calls the
 * `src/wire.rs` function of the same name; the rules are there, the frame codec and argument checks in `mod.ts`.
 * - handles, offsets and page counts are passed as `f64` numbers (Deno's fast call path takes them as they are);
 * - memory writes and reads pass the caller's `Uint8Array` itself (one copy, by the core);
 * - buffers this module owns for good (the out record, call frames, encoded export names) are passed as
 *   `pointer`s taken once: Deno's fast call path passes those for free, while each `buffer` argument costs
 *   ~12 ns per call (Deno 2.9). They live in their own `ArrayBuffer`s (off the V8 heap, never moved) and stay
 *   referenced, so the pointers stay valid;
 * - `compile`, `compileFile`, `call` and `runCommand` are `nonblocking` symbols (a worker thread), everything
 *   else is synchronous;
 * - errors come back as a status code plus a message id in the out record.
 *
 * @module
 */

import type { Backend, RuntimeStats, Stream } from "./backend.ts";
import { ErrorCode, WasmError, withPrefix } from "./errors.ts";
import { type Frame, headerU64, newFrame } from "./frame.ts";

/** The ABI version this module speaks (`ABI_VERSION` in `src/ffi.rs`). */
export const ABI_VERSION = 11;

/** The out record of a synchronous call: the backend's own record, passed by pointer. */
const OUT = ["pointer", "usize"] as const;
/** The out record of a nonblocking call: a per-call frame, passed as a buffer. */
const OUT_BUF = ["buffer", "usize"] as const;

/**
 * The C ABI, as Deno binds it. Each entry's Rust doc comment in `src/ffi.rs` says what it does and costs. Symbols
 * that run guest code are `callback: true`: a guest calls its JavaScript imports in place, through the
 * `Deno.UnsafeCallback` registered with `ext_wasm_set_host_callback`.
 */
const SYMBOLS = {
  ext_wasm_abi_version: { parameters: [], result: "u32" },
  ext_wasm_init: { parameters: ["buffer", "usize", ...OUT], result: "i32" },
  ext_wasm_compile: { parameters: ["buffer", "usize", ...OUT_BUF], result: "i32", nonblocking: true },
  ext_wasm_compile_file: { parameters: ["buffer", "usize", ...OUT_BUF], result: "i32", nonblocking: true },
  ext_wasm_write_bundle: { parameters: ["buffer", "usize", ...OUT_BUF], result: "i32", nonblocking: true },
  ext_wasm_bundles: { parameters: [...OUT], result: "i32" },
  ext_wasm_tier_stats: { parameters: [...OUT], result: "i32" },
  ext_wasm_wait_for_tier_up: { parameters: ["f64"], result: "i32", nonblocking: true },
  ext_wasm_module_drop: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_module_exports: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_module_imports: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_instantiate: { parameters: ["f64", "buffer", "usize", "buffer", "usize", ...OUT], result: "i32", callback: true },
  ext_wasm_instantiate_start: { parameters: ["f64", "buffer", "usize", "buffer", "usize", "pointer", "usize"], result: "i32", callback: true },
  ext_wasm_instance_drop: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_instance_exports: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_call: { parameters: ["f64", "pointer", "usize", "pointer", "usize", "u32"], result: "i32", callback: true },
  ext_wasm_call_start: { parameters: ["f64", "pointer", "usize", "pointer", "usize", "u32", "u8"], result: "i32", callback: true },
  ext_wasm_run_command_start: { parameters: ["f64", "u8", "pointer", "usize"], result: "i32", callback: true },
  ext_wasm_call_resume: { parameters: ["f64", "pointer", "usize", "i32", "buffer", "usize"], result: "i32", callback: true },
  call_finish: { name: "ext_wasm_call_finish", parameters: ["f64", "buffer", "usize"], result: "i32", nonblocking: true },
  ext_wasm_call_continue: { parameters: ["f64", "pointer", "usize"], result: "i32", callback: true },
  ext_wasm_func: { parameters: ["f64", "pointer", "usize", ...OUT], result: "i32" },
  ext_wasm_call_func: { parameters: ["f64", "u32", "pointer", "usize", "u32"], result: "i32", callback: true },
  ext_wasm_call_numbers: {
    parameters: ["f64", "u32", "f64", "f64", "f64", "f64", "u32", "pointer", "usize"],
    result: "i32",
    callback: true,
  },
  ext_wasm_call_numbers_named: {
    parameters: ["f64", "pointer", "usize", "f64", "f64", "f64", "f64", "u32", "pointer", "usize"],
    result: "i32",
    callback: true,
  },
  ext_wasm_global: { parameters: ["f64", "pointer", "usize", "pointer", "usize", "u8"], result: "i32" },
  ext_wasm_run_command: { parameters: ["f64", ...OUT], result: "i32", callback: true },
  ext_wasm_exit_code: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_output: { parameters: ["f64", "u32", ...OUT], result: "i32" },
  ext_wasm_memory_read: { parameters: ["f64", "f64", "buffer", "usize", ...OUT], result: "i32" },
  ext_wasm_memory_write: { parameters: ["f64", "f64", "buffer", "usize", ...OUT], result: "i32" },
  ext_wasm_in_host_function: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_memory_size: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_memory_grow: { parameters: ["f64", "f64", ...OUT], result: "i32" },
  ext_wasm_stats: { parameters: [...OUT], result: "i32" },
  ext_wasm_blob_take: { parameters: ["u64", "buffer", "usize"], result: "i32" },
  ext_wasm_set_host_callback: { parameters: ["function", "pointer", "usize"], result: "i32" },
} as const;

/**
 * The imports' callback (`ext_wasm_set_host_callback`): `() -> count or -code`, the call's index and argument
 * count in the frame's header.
 */
const HOST_CALLBACK = { parameters: [], result: "i32" } as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

function libraryFileName(): string {
  switch (Deno.build.os) {
    case "windows":
      return "ext_wasm.dll";
    case "darwin":
      return "libext_wasm.dylib";
    default:
      return "libext_wasm.so";
  }
}

function fileUrlToPath(url: URL): string {
  const path = decodeURIComponent(url.pathname);
  // file:///C:/x → C:/x on Windows.
  return Deno.build.os === "windows" && /^\/[A-Za-z]:/.test(path) ? path.slice(1) : path;
}

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env: fall back to the default locations
  }
}

/** Where to look for the library, in order. */
export function libraryCandidates(): string[] {
  const explicit = envVar("EXT_WASM_LIB");
  if (explicit) return [explicit];
  const here = new URL(import.meta.url);
  if (here.protocol !== "file:") return [];
  const file = libraryFileName();
  return ["release", "debug"].map((profile) => fileUrlToPath(new URL(`../target/${profile}/${file}`, here)));
}

function exists(path: string): boolean | undefined {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    return undefined; // unknown (no --allow-read): let dlopen try
  }
}

function openLibrary(): Deno.DynamicLibrary<typeof SYMBOLS> {
  const candidates = libraryCandidates();
  const path = candidates.find((p) => exists(p) !== false);
  if (path === undefined) {
    const tried = candidates.length ? candidates.join(", ") : "(none: this module was not loaded from a file: URL)";
    throw new WasmError(
      ErrorCode.IoError,
      `[5008] io error: the ext_wasm native library was not found (tried ${tried}). ` +
        "Build it with `cargo build --release` in the ext_wasm repository, or set EXT_WASM_LIB to its path.",
    );
  }
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(path, SYMBOLS);
  } catch (e) {
    throw new WasmError(
      ErrorCode.IoError,
      `[5008] io error: cannot load ${path} (${(e as Error).message}). Deno needs --allow-ffi; ` +
        "if the library is stale, rebuild it with `cargo build --release`.",
      { cause: e },
    );
  }
  const version = lib.symbols.ext_wasm_abi_version();
  if (version !== ABI_VERSION) {
    lib.close();
    throw new WasmError(
      ErrorCode.IoError,
      `[5008] io error: ${path} speaks C ABI version ${version}, this module needs ${ABI_VERSION}; ` +
        "rebuild it with `cargo build --release`.",
    );
  }
  return lib;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
/** The text of no options ("{}" means defaults: the core reads empty options as such) and its length. */
const NO_OPTIONS_TEXT: [Uint8Array, bigint] = [EMPTY, 0n];

/** Fetch a parked blob (message, JSON, output) of `len` bytes. */
function takeBlob(s: Symbols, id: number, len: number): Uint8Array {
  const buf = len === 0 ? EMPTY : new Uint8Array(len);
  const rc = s.ext_wasm_blob_take(BigInt(id), buf, BigInt(len));
  if (rc !== 0) throw new WasmError(rc, `[${rc}] internal error: blob ${id} (${len} bytes) is unavailable`);
  return buf;
}

/** Turn a failed status into a `WasmError` with the core's message. */
function failure(s: Symbols, status: number, view: DataView): WasmError {
  const id = headerU64(view, 16);
  const len = headerU64(view, 24);
  if (id === 0) return new WasmError(status, `[${status}] (no message)`);
  let message: string;
  try {
    message = decoder.decode(takeBlob(s, id, len));
  } catch {
    message = `[${status}] (message unavailable)`;
  }
  return new WasmError(status, withPrefix(status, message));
}

/** Create the backend: opens the library (throws a clear `WasmError` 5008 when it is missing). */
export function createFfiBackend(): Backend {
  const lib = openLibrary();
  const s = lib.symbols;

  // The out record of synchronous calls: the JavaScript thread is blocked inside each synchronous call, so one
  // suffices. Its pointer is taken once (the record is referenced by this closure, so it stays valid).
  const rec = newFrame(0);
  const R = Deno.UnsafePointer.of(rec.bytes);
  const RL = rec.size;
  // The out record of the functions that may run guest code, which may call synchronous imports that use `rec`
  // (memory access) meanwhile: one of its own, and a fresh one for such calls made from inside an import.
  const guestRec = newFrame(0);
  const G = Deno.UnsafePointer.of(guestRec.bytes);
  const names = new NamePointers();
  const options = new ScratchText();
  /** How many synchronous imports run (nested) on this thread: calls made inside one use fresh buffers. */
  let depth = 0;
  let hostCallback: Deno.UnsafeCallback<typeof HOST_CALLBACK> | null = null;
  /** The result of the last `callNumbers` call, and the index the last `callNumbersNamed` by name resolved. */
  let lastNumber = 0;
  let lastIndex = 0;
  /** The last options text `instantiate` encoded, and its bytes (never written again: safe to pass nested). */
  const lastOptions: [string, [Uint8Array, bigint]] = ["{}", NO_OPTIONS_TEXT];
  /** Options text as UTF-8 bytes of their own (a call running guest code reads them while imports may run). */
  const encodeOptions = (json: string): [Uint8Array, bigint] => {
    if (json === lastOptions[0]) return lastOptions[1];
    const [scratch, n] = options.encode(json);
    const owned: [Uint8Array, bigint] = [scratch.slice(0, n), big(n)];
    lastOptions[0] = json;
    lastOptions[1] = owned;
    return owned;
  };
  /** The record for a call that may run guest code: `guestRec`, or a fresh one inside an import. */
  const guestRecord = (): [Frame, Deno.PointerValue] => {
    if (depth === 0) return [guestRec, G];
    const r = newFrame(0);
    return [r, Deno.UnsafePointer.of(r.bytes)];
  };

  /** The record's `a` field after a successful call; a `WasmError` otherwise. */
  const check = (status: number, frame: Frame = rec): number => {
    if (status !== 0) throw failure(s, status, frame.view);
    return headerU64(frame.view, 0);
  };
  /** The blob announced in the record (`a` = id, `b` = length) after a successful call. */
  const blob = (status: number): Uint8Array => {
    check(status);
    return takeBlob(s, headerU64(rec.view, 0), headerU64(rec.view, 8));
  };
  const utf8 = (text: string) => encoder.encode(text);
  /** A step's kind (the details stay in the frame's header). */
  const step = (status: number, f: Frame): number => {
    if (status !== 0) throw failure(s, status, f.view);
    return f.u32[2];
  };
  /** A call's token, as a number (tokens stay below 2^53; passed as f64 like handles, with no BigInt). */
  const token = (f: Frame) => headerU64(f.view, 0);
  return {
    kind: "ffi",
    configure(configJson: string): boolean {
      const text = utf8(configJson);
      return check(s.ext_wasm_init(text, big(text.length), R, RL)) === 1;
    },
    async compile(bytes: Uint8Array): Promise<number> {
      const out = newFrame(0);
      return check(await s.ext_wasm_compile(bytes, big(bytes.length), out.bytes, out.size), out);
    },
    async compileFile(path: string): Promise<number> {
      const p = utf8(path);
      const out = newFrame(0);
      return check(await s.ext_wasm_compile_file(p, big(p.length), out.bytes, out.size), out);
    },
    async writeBundle(requestJson: string): Promise<string> {
      const request = utf8(requestJson);
      const out = newFrame(0);
      check(await s.ext_wasm_write_bundle(request, big(request.length), out.bytes, out.size), out);
      return decoder.decode(takeBlob(s, headerU64(out.view, 0), headerU64(out.view, 8)));
    },
    bundles: () => decoder.decode(blob(s.ext_wasm_bundles(R, RL))),
    tierStats: () => decoder.decode(blob(s.ext_wasm_tier_stats(R, RL))),
    waitForTierUp: async (timeoutMs: number) => (await s.ext_wasm_wait_for_tier_up(timeoutMs)) === 1,
    moduleDrop: (module: number) => void check(s.ext_wasm_module_drop(module, R, RL)),
    moduleExports: (module: number) => decoder.decode(blob(s.ext_wasm_module_exports(module, R, RL))),
    moduleImports: (module: number) => decoder.decode(blob(s.ext_wasm_module_imports(module, R, RL))),
    instantiate(module: number, optionsJson: string, stdin: Uint8Array): number {
      // No options (the common case for plugin churn): empty buffers and constant lengths, no JSON to encode or
      // parse. The same options again (a churn of one plugin with its imports): the bytes encoded last time.
      const [r, p] = guestRecord();
      const [text, len] = optionsJson === "{}" ? NO_OPTIONS_TEXT : encodeOptions(optionsJson);
      return check(s.ext_wasm_instantiate(module, text, len, stdin, lengthOf(stdin), p, r.size), r);
    },
    instantiateStart(module: number, optionsJson: string, stdin: Uint8Array, f: Frame): number {
      const [text, len] = encodeOptions(optionsJson);
      const p = f.ptr ??= Deno.UnsafePointer.of(f.bytes);
      return step(s.ext_wasm_instantiate_start(module, text, len, stdin, lengthOf(stdin), p, f.size), f);
    },
    instanceDrop: (instance: number) => void check(s.ext_wasm_instance_drop(instance, R, RL)),
    instanceExports: (instance: number) => decoder.decode(blob(s.ext_wasm_instance_exports(instance, R, RL))),
    callStart(instance: number, name: string, f: Frame, nargs: number, sync: boolean): number {
      const n = names.get(name);
      const p = f.ptr ??= Deno.UnsafePointer.of(f.bytes);
      return step(s.ext_wasm_call_start(instance, n.ptr, n.size, p, f.size, nargs, sync ? 1 : 0), f);
    },
    runCommandStart(instance: number, f: Frame, sync: boolean): number {
      const p = f.ptr ??= Deno.UnsafePointer.of(f.bytes);
      return step(s.ext_wasm_run_command_start(instance, sync ? 1 : 0, p, f.size), f);
    },
    async callFinish(f: Frame): Promise<number> {
      return step(await s.call_finish(token(f), f.bytes, f.size), f);
    },
    async callContinue(f: Frame, first: boolean): Promise<number> {
      await nextTurn();
      if (first) await nextTurn(); // see `nextTurn`: the first turn may end before the loop's timers phase
      const p = f.ptr ??= Deno.UnsafePointer.of(f.bytes);
      return step(s.ext_wasm_call_continue(token(f), p, f.size), f);
    },
    callResume(f: Frame, nresults: number, message: string): number {
      const m = message === "" ? NO_BYTES : utf8(message); // the common case (a result) encodes nothing
      const p = f.ptr ??= Deno.UnsafePointer.of(f.bytes);
      return step(s.ext_wasm_call_resume(token(f), p, f.size, nresults, m, m === NO_BYTES ? 0n : big(m.length)), f);
    },
    callSync(instance: number, name: string, f: Frame, nargs: number): number {
      const n = names.get(name);
      const status = s.ext_wasm_call(instance, n.ptr, n.size, f.ptr ??= Deno.UnsafePointer.of(f.bytes), f.size, nargs);
      if (status !== 0) throw failure(s, status, f.view);
      return f.u32[0]; // the result count (at most 1000: the high word is 0)
    },
    func(instance: number, name: string): number {
      const n = names.get(name);
      return check(s.ext_wasm_func(instance, n.ptr, n.size, R, RL));
    },
    global(instance: number, name: string, f: Frame, set: boolean): number {
      const n = names.get(name);
      const status = s.ext_wasm_global(instance, n.ptr, n.size, f.ptr ??= Deno.UnsafePointer.of(f.bytes), f.size, set ? 1 : 0);
      if (status !== 0) throw failure(s, status, f.view);
      return f.u32[0];
    },
    callFunc(instance: number, index: number, f: Frame, nargs: number): number {
      const status = s.ext_wasm_call_func(instance, index, f.ptr ??= Deno.UnsafePointer.of(f.bytes), f.size, nargs);
      if (status !== 0) throw failure(s, status, f.view);
      return f.u32[0];
    },
    callNumbers(instance: number, index: number, args: readonly number[]): number {
      // The guest may run imports that call in again: `guestRec` at the outermost level, a fresh record inside.
      const r = depth === 0 ? guestRec : newFrame(0);
      const p = r.ptr ??= Deno.UnsafePointer.of(r.bytes);
      // Indexed, not destructured (an iterator): the missing ones read as 0.
      const a0 = args[0] ?? 0, a1 = args[1] ?? 0, a2 = args[2] ?? 0, a3 = args[3] ?? 0;
      const status = s.ext_wasm_call_numbers(instance, index, a0, a1, a2, a3, args.length, p, r.size);
      if (status !== 0) throw failure(s, status, r.view);
      lastNumber = r.f64[1];
      return r.i32[0]; // the count: 0, 1, or `NOT_NUMBERS` (u32::MAX), which reads as -1 here
    },
    callNumbersNamed(instance: number, name: string, index: number, args: readonly number[]): number {
      const r = depth === 0 ? guestRec : newFrame(0);
      const p = r.ptr ??= Deno.UnsafePointer.of(r.bytes);
      const a0 = args[0] ?? 0, a1 = args[1] ?? 0, a2 = args[2] ?? 0, a3 = args[3] ?? 0;
      let status: number;
      // The by-index call written out, not `callNumbers`: one body serving both `callSync` and `instance.func`
      // put `callSync` 19.5–20.7 ns above `func` after a churn, against 9.5–12.8 (script runs, 2026-12-08).
      if (index >= 0) {
        status = s.ext_wasm_call_numbers(instance, index, a0, a1, a2, a3, args.length, p, r.size);
      } else {
        const n = names.get(name);
        status = s.ext_wasm_call_numbers_named(instance, n.ptr, n.size, a0, a1, a2, a3, args.length, p, r.size);
        if (status === 0) lastIndex = r.u32[4];
      }
      if (status !== 0) throw failure(s, status, r.view);
      lastNumber = r.f64[1];
      return r.i32[0];
    },
    numberResult: () => lastNumber,
    numberIndex: () => lastIndex,
    runCommandSync(instance: number): number {
      const [r, p] = guestRecord();
      check(s.ext_wasm_run_command(instance, p, r.size), r);
      return r.view.getInt32(0, true);
    },
    exitCode(instance: number): number | null {
      check(s.ext_wasm_exit_code(instance, R, RL));
      return headerU64(rec.view, 8) === 1 ? rec.view.getInt32(0, true) : null;
    },
    output: (instance: number, stream: Stream) => blob(s.ext_wasm_output(instance, stream, R, RL)),
    memoryRead(instance: number, offset: number, target: Uint8Array): void {
      check(s.ext_wasm_memory_read(instance, offset, target, big(target.length), R, RL));
    },
    memoryWrite(instance: number, offset: number, bytes: Uint8Array): void {
      check(s.ext_wasm_memory_write(instance, offset, bytes, big(bytes.length), R, RL));
    },
    inHostFunction: (instance: number) => check(s.ext_wasm_in_host_function(instance, R, RL)) === 1,
    memorySize: (instance: number) => check(s.ext_wasm_memory_size(instance, R, RL)),
    memoryByteLength(instance: number): number {
      check(s.ext_wasm_memory_size(instance, R, RL));
      return headerU64(rec.view, 8);
    },
    memoryGrow: (instance: number, pages: number) => check(s.ext_wasm_memory_grow(instance, pages, R, RL)),
    stats(): RuntimeStats {
      check(s.ext_wasm_stats(R, RL));
      return { modules: headerU64(rec.view, 0), instances: headerU64(rec.view, 8) };
    },
    setHostCallback(callback: (index: number, nargs: number) => number, frame: Frame): void {
      const previous = hostCallback;
      // The call's index and argument count are in the frame's header (words 2 and 3), not arguments: Deno
      // allocates a vector per call for a callback's arguments.
      const header = frame.u32;
      hostCallback = new Deno.UnsafeCallback(HOST_CALLBACK, (): number => {
        depth++;
        try {
          return callback(header[2], header[3]);
        } finally {
          depth--;
        }
      });
      const p = frame.ptr ??= Deno.UnsafePointer.of(frame.bytes);
      check(s.ext_wasm_set_host_callback(hostCallback.pointer, p, frame.size));
      previous?.close();
    },
  };
}

/** An export name encoded once: its bytes (kept alive here), a pointer to them, and its length as a bigint. */
interface NamePointer {
  readonly bytes: Uint8Array;
  readonly ptr: Deno.PointerValue;
  readonly size: bigint;
}

/**
 * Resolves in the event loop's next check phase (a `setImmediate`), after the timers and I/O that were due when
 * the loop last passed them; a pending one keeps the program alive only until it runs. A turn begun outside the
 * loop's phases (a call made from a microtask, say) ends in that same iteration's check phase, before any timers
 * phase: a call's first continuation takes two. Measured on Deno 2.9 between 1 ms busy slices: a 1 ms
 * `setInterval` fires once per slice and a turn costs 10-15 µs. A `MessageChannel` ping-pong, used before
 * 2026-12-06, starved timers (3 ticks in 300 slices) and cost 21-31 µs, twice that when it had to reopen the
 * channel; `setTimeout(0)` is clamped to milliseconds when nested. Deno 2's global `setImmediate`, not an import
 * of `node:timers`: the import would load Node's timers in every program at start-up; the global loads them at
 * its first use.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

const NAME_CACHE_CAP = 4096;

/**
 * Export names as the C ABI takes them, encoded once and reused by every call of that name (on any instance):
 * a one-entry cache in front of a bounded map. Past the cap, further names are encoded per call (still correct,
 * slower). Each name gets its own `ArrayBuffer` (off the V8 heap, so the pointer stays valid while it is held).
 */
class NamePointers {
  #map = new Map<string, NamePointer>();
  #lastName: string | undefined = undefined;
  #last: NamePointer | undefined = undefined;

  get(name: string): NamePointer {
    if (name === this.#lastName) return this.#last!;
    let n = this.#map.get(name);
    if (n === undefined) {
      const encoded = encoder.encode(name);
      // Never zero-length: the pointer of an empty buffer may be null; the host does not read past `size`.
      const bytes = new Uint8Array(new ArrayBuffer(Math.max(1, encoded.length)));
      bytes.set(encoded);
      n = { bytes, ptr: Deno.UnsafePointer.of(bytes), size: BigInt(encoded.length) };
      if (this.#map.size < NAME_CACHE_CAP) this.#map.set(name, n);
    }
    this.#lastName = name;
    this.#last = n;
    return n;
  }
}

/**
 * Text for a call that reads it only while it runs (instance options), as UTF-8 in a buffer reused from call to
 * call: Deno's `TextEncoder.encode` is an op and allocates (0.8 µs for the options of an instantiate with two
 * imports); ASCII text, what JSON of ASCII names is, is copied here instead. Other text goes through the encoder.
 */
class ScratchText {
  #bytes = new Uint8Array(1024);

  /** The bytes and their length (valid until the next `encode`). */
  encode(text: string): [Uint8Array, number] {
    const n = text.length;
    if (n <= this.#bytes.length) {
      const b = this.#bytes;
      let i = 0;
      for (; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c > 0x7f) break;
        b[i] = c;
      }
      if (i === n) return [b, n];
    }
    const encoded = encoder.encode(text);
    return [encoded, encoded.length];
  }
}

/** A byte length as a `usize` argument. */
const NO_BYTES = new Uint8Array(0);

function big(n: number): bigint {
  return BigInt(n);
}

/** `bytes.length` as a `usize` argument; no BigInt made for the empty buffer (instantiate's usual stdin). */
function lengthOf(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(bytes.length);
}
