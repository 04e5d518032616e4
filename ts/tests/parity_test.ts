// Both backends give identical results and errors for the same calls: the Deno.dlopen backend and the ops backend
// (over stand-in ops calling the same library, as in the ops run of this suite), driven through the `Backend`
// interface with the same inputs, including bad ones.

import type { Backend } from "../backend.ts";
import { createFfiBackend } from "../ffi_backend.ts";
import { createOpsBackend } from "../ops_backend.ts";
import { decodeFrame, encodeFrame, newFrame } from "../frame.ts";
import { Typed } from "../backend.ts";
import { createStandInOps } from "./ops_standin.ts";
import { assertEquals, text } from "./helpers.ts";

type Outcome = { ok: unknown } | { code: number; name: string; message: string };

async function outcome(f: () => unknown): Promise<Outcome> {
  try {
    return { ok: await f() };
  } catch (e) {
    const err = e as { code: number; name: string; message: string };
    return { code: err.code, name: err.name, message: err.message };
  }
}

/** The same script of operations on `b`; handles are reported as "handle" (each backend makes its own). */
async function script(b: Backend): Promise<Outcome[]> {
  const wat = `(module (memory (export "memory") 1)
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "wide") (param i64) (result i64 f32) local.get 0 f32.const 1.5)
    (func (export "boom") unreachable))`;
  const m = await b.compile(text(wat));
  const i = b.instantiate(m, "{}", new Uint8Array(0));
  const f = newFrame();
  const call = (name: string, args: unknown[]) => () => {
    encodeFrame(f, args as never);
    return decodeFrame(f, b.callSync(i, name, f, args.length));
  };
  const out: Outcome[] = [];
  const steps: (() => unknown)[] = [
    () => b.configure("{not json"),
    () => b.compile(new Uint8Array([0, 97, 115, 109, 9, 0, 0, 0])),
    () => b.moduleExports(m),
    () => b.moduleDrop(-1),
    () => b.moduleDrop(1.5),
    () => b.moduleDrop(2 ** 53),
    () => b.moduleExports(123456),
    () => b.moduleImports(m),
    () => b.moduleImports(-3),
    () => b.instantiate(m, "{", new Uint8Array(0)),
    () => b.instantiate(m, `{"fuell":1}`, new Uint8Array(0)),
    () => b.instantiate(m, "  ", new Uint8Array([1])),
    () => b.instantiate(m, `{"timeoutMs":-5}`, new Uint8Array(0)),
    () => typeof b.instantiate(m, " \n", new Uint8Array(0)),
    call("add", [40, 2]),
    call("add", [1.5, 2]),
    call("add", [1]),
    call("add", [2 ** 32, 0]),
    call("nope", []),
    call("wide", [2n ** 64n - 1n]),
    call("wide", [new Typed("i32", 1)]),
    call("boom", []),
    () => b.callStart(i, "add", f, 0, false),
    () => b.callResume(f, 0, ""),
    () => b.func(i, "add"),
    () => b.func(i, "nope"),
    () => {
      encodeFrame(f, [2, 3]);
      return decodeFrame(f, b.callFunc(i, b.func(i, "add"), f, 2));
    },
    () => b.callFunc(i, 99, f, 0),
    () => [b.callNumbers(i, b.func(i, "add"), [40, 2]), b.numberResult()],
    () => b.callNumbers(i, b.func(i, "add"), [1.5, 2]),
    () => b.callNumbers(i, b.func(i, "add"), [1]),
    () => b.callNumbers(i, b.func(i, "add"), [1, 2, 3, 4, 5]),
    () => b.callNumbers(i, b.func(i, "wide"), [1]),
    () => b.callNumbers(i, b.func(i, "boom"), []),
    () => b.callNumbers(i, 99, []),
    () => [b.callNumbersNamed(i, "add", -1, [40, 2]), b.numberResult(), b.numberIndex() === b.func(i, "add")],
    () => [b.callNumbersNamed(i, "wide", -1, [1]), b.numberIndex() === b.func(i, "wide")],
    () => b.callNumbersNamed(i, "add", -1, [1.5, 2]),
    () => b.callNumbersNamed(i, "nope", -1, []),
    () => b.callNumbersNamed(i, "memory", -1, []),
    () => b.callNumbersNamed(i, "boom", -1, []),
    () => [b.callNumbersNamed(i, "add", b.func(i, "add"), [40, 2]), b.numberResult()], // by the index given
    () => b.instanceExports(i),
    () => b.output(i, 3 as never),
    () => b.exitCode(i),
    () => b.memoryWrite(i, 65535, new Uint8Array(2)),
    () => b.memoryRead(i, -1, new Uint8Array(1)),
    () => b.memoryRead(i, 0.5, new Uint8Array(1)),
    () => b.memoryGrow(i, 70000),
    () => b.memorySize(i),
    () => b.memoryByteLength(i),
    () => b.runCommandSync(i),
    () => b.instanceDrop(i),
    () => b.instanceDrop(i),
    () => b.memorySize(i),
  ];
  for (const step of steps) out.push(await outcome(step));
  return out.map((o) => ("message" in o ? { ...o, message: o.message.replace(/instance \d+/, "instance N") } : o));
}

Deno.test("the ffi and ops backends answer the same calls identically, errors included", async () => {
  const ffi = await script(createFfiBackend());
  const ops = await script(createOpsBackend(createStandInOps()));
  assertEquals(ops.length, ffi.length);
  for (let k = 0; k < ffi.length; k++) assertEquals(ops[k], ffi[k], `step ${k}`);
  // And the answers are the real ones, not two identical failures.
  assertEquals(ffi[14], { ok: [42] }); // call("add", [40, 2])
  assertEquals(ffi[28], { ok: [1, 42] }); // callNumbers of `add` (40, 2): one result, 42
  assertEquals(ffi[32], { ok: -1 }); // callNumbers of `wide` (i64 and f32 results): not numbers, not run
  assertEquals(ffi[35], { ok: [1, 42, true] }); // callNumbersNamed of `add`: the result and `func`'s index
  assertEquals(ffi[36], { ok: [-1, true] }); // of `wide`: not run, but resolved
  assertEquals(ffi[41], { ok: [1, 42] }); // callNumbersNamed of `add` by its index: the same answer
  assertEquals(ffi[38], { code: 5003, name: "ExportNotFound", message: "[5003] export not found: no export named `nope`" });
  assertEquals(ffi[3], {
    code: 5004,
    name: "InvalidModuleHandle",
    message: "[5004] invalid module handle: -1 is not a module handle",
  });
});
