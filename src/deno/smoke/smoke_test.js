import { calls } from "./prelude.js";
import * as wasm from "./gen/init.js";
const assert = (c, m) => { if (!c) throw new Error("assertion failed: " + m); };
Deno.test("generated ext:runtime_wasm modules run on the ops backend", async () => {
  assert(wasm.backendName() === "ops", "backend " + wasm.backendName());
  const src = new TextEncoder().encode(`(module
    (memory (export "memory") 1)
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "big") (param i64) (result i64) local.get 0 i64.const 1 i64.add))`);
  const m = await wasm.compile(src);
  const inst = await wasm.instantiate(m, { fuel: 1_000_000 });
  assert(inst.callSync("add", 40, 2)[0] === 42, "callSync");
  assert((await inst.call("add", 1, 2))[0] === 3, "call");
  assert(inst.callSync("big", 9007199254740993n)[0] === 9007199254740994n, "i64");
  inst.memory.writeSync(8, new Uint8Array([1, 2, 3]));
  const out = new Uint8Array(3); inst.memory.readInto(8, out);
  assert(out.join() === "1,2,3", "memory");
  let err;
  try { inst.callSync("nope"); } catch (e) { err = e; }
  assert(err instanceof wasm.WasmError && err.code === 5003 && err.name === "ExportNotFound", "error " + err);
  assert(err.message.startsWith("[5003] "), err.message);
  try { await wasm.compile(new Uint8Array([0, 1, 2])); } catch (e) { err = e; }
  assert(err instanceof wasm.WasmError && err.code === 5000, "compile error " + err);
  await inst.drop();
  assert(calls.includes("op_wasm_call_sync") && calls.includes("op_wasm_call_start") && calls.includes("op_wasm_compile"), calls.join());
  console.log("ops used:", [...new Set(calls)].join(" "));
});
