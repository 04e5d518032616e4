// Stand-ins for the deno_core extension's ops (`src/deno/`), for running the TypeScript suite on the ops backend
// without V8 linked into our own binary: each op calls the C function of the same name in the real library
// (`Deno.dlopen`), which calls the same `src/wire.rs` function the Rust op calls. No logic of its own: arguments
// pass through unchanged, results and errors come back shaped as the Rust ops shape them (an `Error` with
// `code` and `wasmErrorName`, as `src/deno/error.rs` builds it).

import type { WasmOps } from "../ops_backend.ts";
import { libraryCandidates, nextTurn } from "../ffi_backend.ts";
import { errorName } from "../errors.ts";

const OUT = ["buffer", "usize"] as const;
const SYMBOLS = {
  ext_wasm_init: { parameters: ["buffer", "usize", ...OUT], result: "i32" },
  ext_wasm_compile: { parameters: ["buffer", "usize", ...OUT], result: "i32", nonblocking: true },
  ext_wasm_compile_file: { parameters: ["buffer", "usize", ...OUT], result: "i32", nonblocking: true },
  ext_wasm_module_drop: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_module_exports: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_module_imports: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_write_bundle: { parameters: ["buffer", "usize", ...OUT], result: "i32", nonblocking: true },
  ext_wasm_bundles: { parameters: [...OUT], result: "i32" },
  ext_wasm_tier_stats: { parameters: [...OUT], result: "i32" },
  ext_wasm_wait_for_tier_up: { parameters: ["f64"], result: "i32", nonblocking: true },
  ext_wasm_instantiate: { parameters: ["f64", "buffer", "usize", "buffer", "usize", ...OUT], result: "i32", callback: true },
  ext_wasm_instantiate_start: { parameters: ["f64", "buffer", "usize", "buffer", "usize", "buffer", "usize"], result: "i32", callback: true },
  ext_wasm_instance_drop: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_instance_exports: { parameters: ["f64", ...OUT], result: "i32" },
  ext_wasm_call: { parameters: ["f64", "buffer", "usize", "buffer", "usize", "u32"], result: "i32", callback: true },
  ext_wasm_call_start: { parameters: ["f64", "buffer", "usize", "buffer", "usize", "u32", "u8"], result: "i32", callback: true },
  ext_wasm_run_command_start: { parameters: ["f64", "u8", "buffer", "usize"], result: "i32", callback: true },
  ext_wasm_call_resume: { parameters: ["f64", "buffer", "usize", "i32", "buffer", "usize"], result: "i32", callback: true },
  call_finish: { name: "ext_wasm_call_finish", parameters: ["f64", "buffer", "usize"], result: "i32", nonblocking: true },
  ext_wasm_call_continue: { parameters: ["f64", "buffer", "usize"], result: "i32", callback: true },
  ext_wasm_func: { parameters: ["f64", "buffer", "usize", ...OUT], result: "i32" },
  ext_wasm_call_func: { parameters: ["f64", "u32", "buffer", "usize", "u32"], result: "i32", callback: true },
  ext_wasm_call_numbers: {
    parameters: ["f64", "u32", "f64", "f64", "f64", "f64", "u32", "buffer", "usize"],
    result: "i32",
    callback: true,
  },
  ext_wasm_call_numbers_named: {
    parameters: ["f64", "buffer", "usize", "f64", "f64", "f64", "f64", "u32", "buffer", "usize"],
    result: "i32",
    callback: true,
  },
  ext_wasm_global: { parameters: ["f64", "buffer", "usize", "buffer", "usize", "u8"], result: "i32" },
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
const HOST_CALLBACK = { parameters: [], result: "i32" } as const;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The stand-in ops over the library at `path` (default: where `ffi_backend.ts` finds it). */
export function createStandInOps(path = libraryCandidates().find(exists)!): WasmOps {
  const s = Deno.dlopen(path, SYMBOLS).symbols;
  const out = () => new Uint8Array(32);
  const u64 = (o: Uint8Array, at: number) => Number(new DataView(o.buffer).getBigUint64(at, true));
  const blob = (id: number, len: number) => {
    const b = new Uint8Array(len);
    if (s.ext_wasm_blob_take(BigInt(id), b, BigInt(len)) !== 0) throw new Error(`blob ${id} unavailable`);
    return b;
  };
  /** The record's `a` field, or the Rust op's error: `Error` + `code` + `wasmErrorName`. */
  const check = (status: number, o: Uint8Array): number => {
    if (status === 0) return u64(o, 0);
    const e = new Error(dec.decode(blob(u64(o, 16), u64(o, 24)))) as Error & Record<string, unknown>;
    e.code = status;
    e.wasmErrorName = errorName(status);
    throw e;
  };
  const text = (o: Uint8Array, status: number) => {
    check(status, o);
    return dec.decode(blob(u64(o, 0), u64(o, 8)));
  };
  const L = (b: Uint8Array) => BigInt(b.length);
  /** As the Rust ops: the step kind (`b`), details left in the frame's header. */
  const step = (status: number, frame: Uint8Array): number => {
    check(status, frame);
    return u64(frame, 8);
  };
  const O = 32n;
  let hostCallback: Deno.UnsafeCallback<typeof HOST_CALLBACK> | null = null;
  const base: Omit<WasmOps, `${string}_reentrant`> = {
    op_wasm_set_host_callback(callback, frame) {
      // The Rust op keeps the function and calls it from the bridge; here the library calls it back directly.
      const previous = hostCallback;
      // The library's callback takes no arguments: the index and count are in the frame's header.
      const header = new Uint32Array(frame.buffer, frame.byteOffset, 4);
      hostCallback = new Deno.UnsafeCallback(HOST_CALLBACK, () => callback(header[2], header[3]));
      const status = s.ext_wasm_set_host_callback(hostCallback.pointer, Deno.UnsafePointer.of(frame), L(frame));
      if (status !== 0) throw Object.assign(new Error("frame too small"), { code: status, wasmErrorName: errorName(status) });
      previous?.close();
    },
    op_wasm_configure(json) {
      const o = out(), t = enc.encode(json);
      return check(s.ext_wasm_init(t, L(t), o, O), o) === 1;
    },
    async op_wasm_compile(bytes) {
      const o = out();
      return check(await s.ext_wasm_compile(bytes, L(bytes), o, O), o);
    },
    async op_wasm_compile_file(path) {
      const o = out(), p = enc.encode(path);
      return check(await s.ext_wasm_compile_file(p, L(p), o, O), o);
    },
    async op_wasm_write_bundle(request) {
      const o = out(), r = enc.encode(request);
      return text(o, await s.ext_wasm_write_bundle(r, L(r), o, O));
    },
    op_wasm_bundles() {
      const o = out();
      return text(o, s.ext_wasm_bundles(o, O));
    },
    op_wasm_tier_stats() {
      const o = out();
      return text(o, s.ext_wasm_tier_stats(o, O));
    },
    async op_wasm_wait_for_tier_up(timeoutMs) {
      return (await s.ext_wasm_wait_for_tier_up(timeoutMs)) === 1;
    },
    op_wasm_module_drop(m) {
      const o = out();
      check(s.ext_wasm_module_drop(m, o, O), o);
    },
    op_wasm_module_exports: (m) => {
      const o = out();
      return text(o, s.ext_wasm_module_exports(m, o, O));
    },
    op_wasm_module_imports: (m) => {
      const o = out();
      return text(o, s.ext_wasm_module_imports(m, o, O));
    },
    op_wasm_instantiate(m, json, stdin) {
      const o = out(), t = enc.encode(json);
      return check(s.ext_wasm_instantiate(m, t, L(t), stdin, L(stdin), o, O), o);
    },
    op_wasm_instance_drop(i) {
      const o = out();
      check(s.ext_wasm_instance_drop(i, o, O), o);
    },
    op_wasm_instance_exports: (i) => {
      const o = out();
      return text(o, s.ext_wasm_instance_exports(i, o, O));
    },
    op_wasm_call_sync(i, name, frame, nargs) {
      const n = enc.encode(name);
      return check(s.ext_wasm_call(i, n, L(n), frame, L(frame), nargs), frame);
    },
    op_wasm_global(i, name, frame, set) {
      const n = enc.encode(name);
      return check(s.ext_wasm_global(i, n, L(n), frame, L(frame), set ? 1 : 0), frame);
    },
    op_wasm_instantiate_start(m, json, stdin, frame) {
      const t = enc.encode(json);
      return step(s.ext_wasm_instantiate_start(m, t, L(t), stdin, L(stdin), frame, L(frame)), frame);
    },
    op_wasm_call_start(i, name, frame, nargs, sync) {
      const n = enc.encode(name);
      return step(s.ext_wasm_call_start(i, n, L(n), frame, L(frame), nargs, sync ? 1 : 0), frame);
    },
    op_wasm_run_command_start(i, frame, sync) {
      return step(s.ext_wasm_run_command_start(i, sync ? 1 : 0, frame, L(frame)), frame);
    },
    async op_wasm_call_finish(token, frame) {
      return step(await s.call_finish(token, frame, L(frame)), frame);
    },
    async op_wasm_call_continue(token, frame) {
      await nextTurn(); // the Rust op's `yield_now`: the event loop turns first
      return step(s.ext_wasm_call_continue(token, frame, L(frame)), frame);
    },
    op_wasm_call_resume(token, frame, nresults, message) {
      const m = enc.encode(message);
      return step(s.ext_wasm_call_resume(token, frame, L(frame), nresults, m, L(m)), frame);
    },
    op_wasm_func(i, name) {
      const o = out(), n = enc.encode(name);
      return check(s.ext_wasm_func(i, n, L(n), o, O), o);
    },
    op_wasm_call_func(i, index, frame, nargs) {
      return check(s.ext_wasm_call_func(i, index, frame, L(frame), nargs), frame);
    },
    op_wasm_call_numbers(i, index, a0, a1, a2, a3, nargs, o) {
      return check(s.ext_wasm_call_numbers(i, index, a0, a1, a2, a3, nargs, o, L(o)), o) | 0; // as an i32, as the op
    },
    op_wasm_call_numbers_named(i, name, a0, a1, a2, a3, nargs, o) {
      const n = enc.encode(name);
      return check(s.ext_wasm_call_numbers_named(i, n, L(n), a0, a1, a2, a3, nargs, o, L(o)), o) | 0;
    },
    op_wasm_run_command_sync(i) {
      const o = out();
      check(s.ext_wasm_run_command(i, o, O), o);
      return new DataView(o.buffer).getInt32(0, true);
    },
    op_wasm_exit_code(i) {
      const o = out();
      check(s.ext_wasm_exit_code(i, o, O), o);
      return u64(o, 8) === 1 ? new DataView(o.buffer).getInt32(0, true) : null;
    },
    op_wasm_output(i, stream) {
      const o = out();
      check(s.ext_wasm_output(i, stream, o, O), o);
      return blob(u64(o, 0), u64(o, 8));
    },
    op_wasm_memory_read(i, offset, dst) {
      const o = out();
      check(s.ext_wasm_memory_read(i, offset, dst, L(dst), o, O), o);
    },
    op_wasm_memory_write(i, offset, src) {
      const o = out();
      check(s.ext_wasm_memory_write(i, offset, src, L(src), o, O), o);
    },
    op_wasm_in_host_function(i) {
      const o = out();
      return check(s.ext_wasm_in_host_function(i, o, O), o) === 1;
    },
    op_wasm_memory_size(i, bytes) {
      const o = out();
      const pages = check(s.ext_wasm_memory_size(i, o, O), o);
      return bytes ? u64(o, 8) : pages;
    },
    op_wasm_memory_grow(i, pages) {
      const o = out();
      return check(s.ext_wasm_memory_grow(i, pages, o, O), o);
    },
    op_wasm_stats() {
      const o = out();
      check(s.ext_wasm_stats(o, O), o);
      return [u64(o, 0), u64(o, 8)];
    },
  };
  // The Rust ops' reentrant twins differ in how V8 calls them, not in what they do: here they are the same calls.
  return {
    ...base,
    op_wasm_call_sync_reentrant: base.op_wasm_call_sync,
    op_wasm_call_func_reentrant: base.op_wasm_call_func,
    op_wasm_call_numbers_reentrant: base.op_wasm_call_numbers,
    op_wasm_call_numbers_named_reentrant: base.op_wasm_call_numbers_named,
    op_wasm_call_start_reentrant: base.op_wasm_call_start,
    op_wasm_run_command_sync_reentrant: base.op_wasm_run_command_sync,
    op_wasm_run_command_start_reentrant: base.op_wasm_run_command_start,
    op_wasm_instantiate_reentrant: base.op_wasm_instantiate,
    op_wasm_instantiate_start_reentrant: base.op_wasm_instantiate_start,
    op_wasm_call_resume_reentrant: base.op_wasm_call_resume,
  };
}
function exists(p: string): boolean {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}
