/**
 * The stock-Deno backend: `Deno.dlopen` of `libext_wasm` (the C ABI of `src/ffi.rs`). Needs `--allow-ffi`
 * (plus `--allow-env`/`--allow-read` to find the library; with neither, set nothing and build to the default
 * location).
 *
 * Library location: `$EXT_WASM_LIB`, else `<repo>/target/release/`, else `<repo>/target/debug/` (relative to
 * this file), named `libext_wasm.so` / `libext_wasm.dylib` / `ext_wasm.dll`.
 *
 * How data crosses (see `src/ffi.rs`):
 * - memory writes and reads pass the caller's `Uint8Array` itself (one copy, by the core);
 * - arguments and results go through a reusable frame (`frame.ts`), never JSON; export names are encoded once;
 * - buffers this module owns for good (the out record, the `callSync` frame, encoded export names) are passed as
 *   `pointer`s taken once: Deno's fast call path passes those for free, while each `buffer` argument costs
 *   ~12 ns per call (Deno 2.9). They live in their own `ArrayBuffer`s (off the V8 heap, never moved) and stay
 *   referenced here, so the pointers stay valid; caller-owned buffers (memory reads and writes) stay `buffer`s;
 * - `compile`, `compileFile`, `call` and `runCommand` are `nonblocking` symbols (a worker thread), everything
 *   else is synchronous;
 * - errors come back as a status code plus a message id in the out record.
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
import { ErrorCode, WasmError, withPrefix } from "./errors.ts";
import { decodeFrame, encodeFrame, encodeName, type Frame, headerU64, newFrame, SLOTS, slotsFor } from "./frame.ts";

/** The ABI version this module speaks (`ABI_VERSION` in `src/ffi.rs`). */
export const ABI_VERSION = 1;

/** The out record of a synchronous call: the backend's own record, passed by pointer. */
const OUT = ["pointer", "usize"] as const;
/** The out record of a nonblocking call: a per-call frame, passed as a buffer. */
const OUT_BUF = ["buffer", "usize"] as const;

/** The C ABI, as Deno binds it. Each entry's Rust doc comment in `src/ffi.rs` says what it does and costs. */
const SYMBOLS = {
  ext_wasm_abi_version: { parameters: [], result: "u32" },
  ext_wasm_init: { parameters: ["buffer", "usize", ...OUT], result: "i32" },
  ext_wasm_compile: { parameters: ["buffer", "usize", ...OUT_BUF], result: "i32", nonblocking: true },
  ext_wasm_compile_file: { parameters: ["buffer", "usize", ...OUT_BUF], result: "i32", nonblocking: true },
  ext_wasm_module_drop: { parameters: ["u64", ...OUT], result: "i32" },
  ext_wasm_module_exports: { parameters: ["u64", ...OUT], result: "i32" },
  ext_wasm_instantiate: { parameters: ["u64", "buffer", "usize", ...OUT], result: "i32" },
  ext_wasm_instance_drop: { parameters: ["u64", ...OUT], result: "i32" },
  ext_wasm_instance_exports: { parameters: ["u64", ...OUT], result: "i32" },
  ext_wasm_call: { parameters: ["u64", "pointer", "usize", "pointer", "usize", "u32"], result: "i32" },
  call_nonblocking: {
    name: "ext_wasm_call",
    parameters: ["u64", "buffer", "usize", "buffer", "usize", "u32"],
    result: "i32",
    nonblocking: true,
  },
  ext_wasm_run_command: { parameters: ["u64", ...OUT], result: "i32" },
  run_command_nonblocking: {
    name: "ext_wasm_run_command",
    parameters: ["u64", ...OUT_BUF],
    result: "i32",
    nonblocking: true,
  },
  ext_wasm_exit_code: { parameters: ["u64", ...OUT], result: "i32" },
  ext_wasm_output: { parameters: ["u64", "u32", ...OUT], result: "i32" },
  ext_wasm_memory_read: { parameters: ["u64", "u64", "buffer", "usize", ...OUT], result: "i32" },
  ext_wasm_memory_write: { parameters: ["u64", "u64", "buffer", "usize", ...OUT], result: "i32" },
  ext_wasm_memory_size: { parameters: ["u64", ...OUT], result: "i32" },
  ext_wasm_memory_grow: { parameters: ["u64", "u64", ...OUT], result: "i32" },
  ext_wasm_stats: { parameters: [...OUT], result: "i32" },
  ext_wasm_blob_take: { parameters: ["u64", "buffer", "usize"], result: "i32" },
} as const;

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

function json(value: unknown): Uint8Array {
  // bigint → decimal text; NaN / ±Infinity → text too, so the core rejects them instead of JSON's silent `null`.
  return encoder.encode(JSON.stringify(value, (_k, v) => {
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "number" && !Number.isFinite(v)) return String(v);
    return v;
  }));
}

/** Create the backend: opens the library (throws a clear `WasmError` 5008 when it is missing). */
export function createFfiBackend(): Backend {
  const lib = openLibrary();
  const s = lib.symbols;

  // The out record of synchronous calls, and the frame of `callSync`: the JavaScript thread is blocked inside
  // each synchronous call, so one of each suffices.
  const rec = newFrame(0);
  const sync = newFrame();
  // Frames of in-flight nonblocking calls: each needs its own; reused once the call settles.
  const pool: Frame[] = [];
  const takeFrame = (slots: number): Frame => (slots <= SLOTS ? pool.pop() ?? newFrame() : newFrame(slots));
  const giveFrame = (f: Frame) => {
    if (f.bytes.length === sync.bytes.length && pool.length < 64) pool.push(f);
  };

  /** Run a synchronous symbol against `rec`; returns the record's `a` field. */
  const check = (status: number, frame: Frame = rec): number => {
    if (status !== 0) throw failure(s, status, frame.view);
    return headerU64(frame.view, 0);
  };
  const blobJson = <T>(status: number): T => {
    check(status);
    const bytes = takeBlob(s, headerU64(rec.view, 0), headerU64(rec.view, 8));
    return JSON.parse(decoder.decode(bytes)) as T;
  };
  // Pointers into buffers held for the backend's life (see the module docs): `rec` and `sync` are referenced by
  // this closure, and Deno's pointer objects keep their buffers alive too.
  const R = Deno.UnsafePointer.of(rec.bytes);
  const RL = rec.size;
  const SYNC = Deno.UnsafePointer.of(sync.bytes);
  const names = new NamePointers();

  const backend: Backend = {
    kind: "ffi",

    configure(config: RuntimeConfigWire): boolean {
      const text = json(config);
      return check(s.ext_wasm_init(text, big(text.length), R, RL)) === 1;
    },

    async compile(bytes: Uint8Array): Promise<number> {
      if (!(bytes instanceof Uint8Array)) {
        throw new WasmError(ErrorCode.TypeError, "[5007] type error: compile() takes a Uint8Array");
      }
      // One copy, on this thread, into a buffer only this call holds: the worker thread then reads bytes nobody
      // can write, transfer or detach meanwhile (Deno does not pin buffers of nonblocking calls), and the bytes
      // the cache key is hashed from are the bytes that get compiled.
      const own = bytes.slice();
      const out = newFrame(0);
      const status = await s.ext_wasm_compile(own, big(own.length), out.bytes, out.size);
      return check(status, out);
    },

    async compileFile(path: string): Promise<number> {
      const p = encoder.encode(path);
      const out = newFrame(0);
      const status = await s.ext_wasm_compile_file(p, big(p.length), out.bytes, out.size);
      return check(status, out);
    },

    moduleDrop(module: number): void {
      check(s.ext_wasm_module_drop(handle(module), R, RL));
    },

    moduleExports(module: number): ExportInfo[] {
      return blobJson(s.ext_wasm_module_exports(handle(module), R, RL));
    },

    instantiate(module: number, options: InstanceOptionsWire): number {
      // No options (the common case for plugin churn): an empty buffer, no JSON to write or parse.
      const text = Object.keys(options).length === 0 ? EMPTY : json(options);
      return check(s.ext_wasm_instantiate(handle(module), text, big(text.length), R, RL));
    },

    instanceDrop(instance: number): void {
      check(s.ext_wasm_instance_drop(handle(instance), R, RL));
    },

    instanceExports(instance: number): ExportInfo[] {
      return blobJson(s.ext_wasm_instance_exports(handle(instance), R, RL));
    },

    async call(instance: number, name: string, args: readonly WasmArg[]): Promise<WasmResult[]> {
      const n = names.get(name);
      const f = takeFrame(slotsFor(args));
      try {
        encodeFrame(f, args);
        const status = await s.call_nonblocking(handle(instance), n.bytes, n.size, f.bytes, f.size, args.length);
        return decodeFrame(f, check(status, f));
      } finally {
        giveFrame(f);
      }
    },

    callSync(instance: number, name: string, args: readonly WasmArg[]): WasmResult[] {
      const n = names.get(name);
      if (args.length <= SLOTS / 2) {
        encodeFrame(sync, args);
        const status = s.ext_wasm_call(handle(instance), n.ptr, n.size, SYNC, sync.size, args.length);
        if (status !== 0) throw failure(s, status, sync.view);
        return decodeFrame(sync, sync.u32[0]); // the result count (at most 1000: the high word is 0)
      }
      // More than 512 arguments (BigInts beyond i64 take two slots): a frame of its own.
      const f = newFrame(Math.max(SLOTS, slotsFor(args)));
      encodeFrame(f, args);
      const status = s.ext_wasm_call(
        handle(instance),
        n.ptr,
        n.size,
        Deno.UnsafePointer.of(f.bytes),
        f.size,
        args.length,
      );
      return decodeFrame(f, check(status, f));
    },

    async runCommand(instance: number): Promise<number> {
      const out = newFrame(0);
      const status = await s.run_command_nonblocking(handle(instance), out.bytes, out.size);
      check(status, out);
      return out.view.getInt32(0, true);
    },

    runCommandSync(instance: number): number {
      check(s.ext_wasm_run_command(handle(instance), R, RL));
      return rec.view.getInt32(0, true);
    },

    exitCode(instance: number): number | null {
      check(s.ext_wasm_exit_code(handle(instance), R, RL));
      return headerU64(rec.view, 8) === 1 ? rec.view.getInt32(0, true) : null;
    },

    output(instance: number, stream: Stream): Uint8Array {
      check(s.ext_wasm_output(handle(instance), stream, R, RL));
      return takeBlob(s, headerU64(rec.view, 0), headerU64(rec.view, 8));
    },

    memoryRead(instance: number, offset: number, target: Uint8Array): void {
      check(s.ext_wasm_memory_read(handle(instance), big(offset), target, big(target.length), R, RL));
    },

    memoryWrite(instance: number, offset: number, bytes: Uint8Array): void {
      check(s.ext_wasm_memory_write(handle(instance), big(offset), bytes, big(bytes.length), R, RL));
    },

    memorySize(instance: number): number {
      return check(s.ext_wasm_memory_size(handle(instance), R, RL));
    },

    memoryByteLength(instance: number): number {
      check(s.ext_wasm_memory_size(handle(instance), R, RL));
      return headerU64(rec.view, 8);
    },

    memoryGrow(instance: number, pages: number): number {
      return check(s.ext_wasm_memory_grow(handle(instance), big(pages), R, RL));
    },

    stats(): RuntimeStats {
      check(s.ext_wasm_stats(R, RL));
      return { modules: headerU64(rec.view, 0), instances: headerU64(rec.view, 8) };
    },
  };
  return backend;
}

/** An export name encoded once: its bytes (kept alive here), a pointer to them, and its length as a bigint. */
interface NamePointer {
  readonly bytes: Uint8Array;
  readonly ptr: Deno.PointerValue;
  readonly size: bigint;
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
      if (typeof name !== "string") encodeName(name); // throws the 5007 every backend throws
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

/** `2^64 - 1`: never a valid handle, so the core reports it as unknown (5004 / 5005). */
const BAD_HANDLE = 0xffff_ffff_ffff_ffffn;
let lastHandle = -1;
let lastHandleBig = BAD_HANDLE;

/**
 * A handle as the `u64` argument Deno's fast call path takes (a bigint: numbers for 64-bit parameters fall back
 * to the slow path, ~3x the cost of a whole short call). One-entry cache, so a loop over one instance converts
 * once. Anything that is not a non-negative safe integer becomes `2^64 - 1`, an unknown handle for the core.
 */
function handle(v: number): bigint {
  if (v === lastHandle) return lastHandleBig;
  if (!Number.isSafeInteger(v) || v < 0) return BAD_HANDLE;
  lastHandle = v;
  lastHandleBig = BigInt(v);
  return lastHandleBig;
}

/** A byte length or offset as a `usize` / `u64` argument. */
function big(n: number): bigint {
  return BigInt(n);
}
