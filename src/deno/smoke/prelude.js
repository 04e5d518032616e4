// Smoke test of the generated extension modules (see run.sh). Deno refuses `ext:` imports from user code, so
// run.sh copies the generated modules with `ext:runtime_wasm/` rewritten to `./` and fills in @REPO@.
// Stands in for the Rust ops: the same op names and signatures, implemented over the Deno.dlopen backend.
import { createFfiBackend } from "@REPO@/ts/ffi_backend.ts";
import { Typed } from "@REPO@/ts/backend.ts";
const b = createFfiBackend();
export const calls = [];
const HEADER = 32, SLOT = 16;
function decode(frame, nargs) {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const out = []; let at = HEADER;
  for (let i = 0; i < nargs; i++, at += SLOT) {
    const t = v.getUint8(at);
    if (t === 1) out.push(new Typed("i32", v.getInt32(at + 8, true)));
    else if (t === 2) out.push(new Typed("i64", v.getBigInt64(at + 8, true)));
    else if (t === 3) out.push(new Typed("f32", v.getFloat32(at + 8, true)));
    else if (t === 4) out.push(new Typed("f64", v.getFloat64(at + 8, true)));
    else if (t === 5) out.push(v.getFloat64(at + 8, true));
    else if (t === 6) out.push(v.getBigInt64(at + 8, true));
    else throw new Error("tag " + t);
  }
  return out;
}
function encode(frame, results, types) {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  results.forEach((r, i) => {
    const at = HEADER + i * SLOT;
    if (typeof r === "bigint") { v.setUint8(at, 2); v.setBigInt64(at + 8, r, true); }
    else if (types[i] === "i32") { v.setUint8(at, 1); v.setInt32(at + 8, r, true); }
    else if (types[i] === "f32") { v.setUint8(at, 3); v.setFloat32(at + 8, r, true); }
    else { v.setUint8(at, 4); v.setFloat64(at + 8, r, true); }
  });
  return results.length;
}
const resultTypes = (inst, name) => b.instanceExports(inst).find((e) => e.name === name)?.results ?? [];
// Like the Rust side: a plain Error with `code` and `wasmErrorName`.
const opError = (e) => { const x = new Error(e.message); x.code = e.code; x.wasmErrorName = e.name; return x; };
const raw = {
  op_wasm_configure: (json) => b.configure(JSON.parse(json)),
  op_wasm_compile: (bytes) => b.compile(bytes),
  op_wasm_compile_file: (p) => b.compileFile(p),
  op_wasm_module_drop: (m) => b.moduleDrop(m),
  op_wasm_module_exports: (m) => b.moduleExports(m),
  op_wasm_instantiate: (m, json) => b.instantiate(m, JSON.parse(json)),
  op_wasm_instance_drop: (i) => b.instanceDrop(i),
  op_wasm_instance_exports: (i) => b.instanceExports(i),
  op_wasm_call_sync: (i, name, frame, n) => encode(frame, b.callSync(i, name, decode(frame, n)), resultTypes(i, name)),
  op_wasm_call: async (i, name, frame, n) => encode(frame, await b.call(i, name, decode(frame, n)), resultTypes(i, name)),
  op_wasm_run_command_sync: (i) => b.runCommandSync(i),
  op_wasm_run_command: (i) => b.runCommand(i),
  op_wasm_exit_code: (i) => b.exitCode(i),
  op_wasm_output: (i, s) => b.output(i, s),
  op_wasm_memory_read: (i, o, d) => b.memoryRead(i, o, d),
  op_wasm_memory_write: (i, o, s) => b.memoryWrite(i, o, s),
  op_wasm_memory_size: (i) => b.memorySize(i),
  op_wasm_memory_byte_length: (i) => b.memoryByteLength(i),
  op_wasm_memory_grow: (i, p) => b.memoryGrow(i, p),
  op_wasm_stats: () => b.stats(),
};
const ops = {};
for (const [k, f] of Object.entries(raw)) {
  ops[k] = (...a) => {
    calls.push(k);
    try {
      const r = f(...a);
      return r instanceof Promise ? r.catch((e) => { throw opError(e); }) : r;
    } catch (e) { throw opError(e); }
  };
}
try { Deno.core = { ops }; } catch { Object.defineProperty(Deno, "core", { value: { ops } }); }
if (Deno.core?.ops !== ops) globalThis.Deno = { ...Deno, core: { ops } };
