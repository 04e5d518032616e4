/**
 * The call frame shared by both backends (layout documented in `src/wire.rs`): a 32-byte header (the C ABI's out
 * record: `u64 a`, `u64 b`, `u64 errBlob`, `u64 errLen`; the ops ignore it) followed by 16-byte value slots,
 * `tag: u8` at slot offset 0 and a little-endian payload at slot offset 8. Arguments are written from slot 0, the
 * callee overwrites them with the results. No allocation per call: one reusable frame per thread of use.
 *
 * Frames live in their own (off-heap) `ArrayBuffer`, so their address never moves: the FFI backend passes them
 * as a pointer taken once (`Deno.UnsafePointer.of`), which Deno's fast call path takes for free, where a `buffer`
 * argument costs ~12 ns per call. {@link encodeFrame} / {@link decodeFrame} use typed-array views over the frame
 * (the hot path of `callSync`); both backends share them.
 *
 * @module
 */

import { Typed, type WasmArg, type WasmResult } from "./backend.ts";
import { ErrorCode, wasmError } from "./errors.ts";

export const HEADER = 32;
export const SLOT = 16;
/** Slots in a standard frame: wasm caps a function type at 1000 params and 1000 results. */
export const SLOTS = 1024;
export const FRAME_BYTES = HEADER + SLOTS * SLOT;

export const TAG_I32 = 1;
export const TAG_I64 = 2;
export const TAG_F32 = 3;
export const TAG_F64 = 4;
export const TAG_NUMBER = 5;
export const TAG_BIGINT = 6;
export const TAG_BIGINT_WIDE = 7;

const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const I128_MIN = -(1n << 127n);
const I128_MAX = (1n << 127n) - 1n;

/**
 * A frame: its bytes (passed to the host), views over them, and its byte length as a bigint (FFI `usize`). The
 * typed views assume a little-endian host, as the frame encoding does (every platform Deno runs on is).
 */
export interface Frame {
  readonly bytes: Uint8Array;
  /** The FFI backend's pointer to `bytes`, taken once on first use. */
  ptr?: Deno.PointerValue;
  readonly view: DataView;
  readonly size: bigint;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly f32: Float32Array;
  readonly f64: Float64Array;
  readonly i64: BigInt64Array;
}

export function newFrame(slots = SLOTS): Frame {
  // An explicit ArrayBuffer is always off the V8 heap (a small `new Uint8Array(n)` may live on it and move).
  const buffer = new ArrayBuffer(HEADER + slots * SLOT);
  return {
    bytes: new Uint8Array(buffer),
    view: new DataView(buffer),
    size: BigInt(buffer.byteLength),
    i32: new Int32Array(buffer),
    u32: new Uint32Array(buffer),
    f32: new Float32Array(buffer),
    f64: new Float64Array(buffer),
    i64: new BigInt64Array(buffer),
  };
}

/** Slots `args` need (a BigInt outside the i64 range takes two). */
export function slotsFor(args: readonly WasmArg[]): number {
  let n = args.length;
  for (const a of args) {
    if (typeof a === "bigint" && (a < I64_MIN || a > I64_MAX)) n++;
  }
  return n;
}

/** Unsigned 64-bit header field as a number (handles, counts, sizes stay below 2^53). */
export function headerU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x1_0000_0000;
}

/**
 * Write `args` into the frame's slots. Numbers and bigints go untyped (the core converts them by the export's
 * signature and refuses lossy conversions with 5007); `Typed` values go typed. Anything else → 5007. A BigInt
 * beyond ±2^127 is clamped: it is out of range for every wasm type either way, and the core says so. Numbers
 * (the common case) are written through the frame's typed views; anything else takes the general path.
 */
export function encodeFrame(f: Frame, args: readonly WasmArg[]): void {
  const u8 = f.bytes;
  const f64 = f.f64;
  let at = HEADER;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (typeof a === "number") {
      u8[at] = TAG_NUMBER;
      f64[(at + 8) >> 3] = a;
      at += SLOT;
    } else {
      at = encodeOne(f.view, at, a, i);
    }
  }
}

/** Encode one argument at `at` (general path); returns the offset of the next slot. */
function encodeOne(view: DataView, at: number, a: WasmArg, i: number): number {
  if (typeof a === "number") {
    view.setUint8(at, TAG_NUMBER);
    view.setFloat64(at + 8, a, true);
  } else if (typeof a === "bigint") {
    if (a >= I64_MIN && a <= I64_MAX) {
      view.setUint8(at, TAG_BIGINT);
      view.setBigInt64(at + 8, a, true);
    } else {
      const v = a < I128_MIN ? I128_MIN : a > I128_MAX ? I128_MAX : a;
      view.setUint8(at, TAG_BIGINT_WIDE);
      view.setBigUint64(at + 8, BigInt.asUintN(64, v), true);
      at += SLOT;
      view.setUint8(at, 0);
      view.setBigInt64(at + 8, BigInt.asIntN(64, v >> 64n), true);
    }
  } else if (a instanceof Typed) {
    switch (a.type) {
      case "i32":
        view.setUint8(at, TAG_I32);
        view.setInt32(at + 8, a.value as number, true);
        break;
      case "i64":
        view.setUint8(at, TAG_I64);
        view.setBigInt64(at + 8, a.value as bigint, true);
        break;
      case "f32":
        view.setUint8(at, TAG_F32);
        view.setFloat32(at + 8, a.value as number, true);
        break;
      case "f64":
        view.setUint8(at, TAG_F64);
        view.setFloat64(at + 8, a.value as number, true);
        break;
    }
  } else {
    throw wasmError(
      ErrorCode.TypeError,
      `argument ${i}: expected a number, a bigint or a types.* value, got ${describe(a)}`,
    );
  }
  return at + SLOT;
}

/** One result from slot `i` of the frame's typed views. */
/** The value in slot `i` (a result, or a host function's argument), typed by its tag. */
export function resultAt(f: Frame, i: number): WasmResult {
  const at = HEADER + i * SLOT;
  switch (f.bytes[at]) {
    case TAG_I32:
      return f.i32[(at + 8) >> 2];
    case TAG_I64:
      return f.i64[(at + 8) >> 3];
    case TAG_F32:
      return f.f32[(at + 8) >> 2];
    case TAG_F64:
      return f.f64[(at + 8) >> 3];
    default:
      throw wasmError(ErrorCode.CallError, `result ${i}: unknown value tag ${f.bytes[at]} from the host`);
  }
}

/** Read `count` results from the frame's slots; zero and one result (the common cases) skip the loop. */
export function decodeFrame(f: Frame, count: number): WasmResult[] {
  if (count === 1) return [resultAt(f, 0)];
  if (count === 0) return [];
  const out: WasmResult[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = resultAt(f, i);
  return out;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? `an object (${Object.prototype.toString.call(v)})` : `a ${typeof v}`;
}

/** Frames for calls in flight (`call`): each in-flight call needs its own frame; reused once it settles. */
export class FramePool {
  #free: Frame[] = [];

  /** A frame of at least `slots` slots. */
  take(slots: number): Frame {
    return slots <= SLOTS ? this.#free.pop() ?? newFrame() : newFrame(slots);
  }

  /** Return a frame taken from this pool (oversized frames are left to the garbage collector). */
  give(f: Frame): void {
    if (f.bytes.length === FRAME_BYTES && this.#free.length < 64) this.#free.push(f);
  }
}

/** An export name must be a string (5007 otherwise): checked once here, for every backend. */
export function checkName(name: unknown): asserts name is string {
  if (typeof name !== "string") {
    throw wasmError(ErrorCode.TypeError, `the export name must be a string, got ${describe(name)}`);
  }
}

/**
 * JSON text for the wire layer: bigints as decimal text; NaN and ±Infinity as text too, so the core rejects
 * them instead of JSON's silent `null`.
 */
export function toJson(value: unknown): string {
  // A replacer makes `JSON.stringify` ~5x slower (a call per key: 0.6 µs for an instantiate's imports), so
  // first without: a BigInt throws, a NaN or ±Infinity becomes `null`; either (or a real `null`) goes again
  // with it.
  try {
    const fast = JSON.stringify(value);
    if (!fast.includes("null")) return fast;
  } catch {
    // A BigInt: written as text below.
  }
  return JSON.stringify(value, textForJson);
}

function textForJson(_key: string, v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  return v;
}
