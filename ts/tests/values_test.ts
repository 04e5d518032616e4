// Values across the boundary: conversion by the export's signature, lossless i64, f32 rounding, -0 / NaN,
// multi-value results, types.* forcing, and 5007 for anything lossy, for both call and callSync.

import type * as wasm from "../mod.ts";
import { types } from "../mod.ts";
import { assertEquals, instance, rejects, throws } from "./helpers.ts";

const VALUES = `(module
  (func (export "id_i32") (param i32) (result i32) local.get 0)
  (func (export "id_i64") (param i64) (result i64) local.get 0)
  (func (export "id_f32") (param f32) (result f32) local.get 0)
  (func (export "id_f64") (param f64) (result f64) local.get 0)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "add_i64") (param i64 i64) (result i64) local.get 0 local.get 1 i64.add)
  (func (export "sqrt") (param f64) (result f64) local.get 0 f64.sqrt)
  (func (export "i64_min") (result i64) i64.const -9223372036854775808)
  (func (export "i64_max") (result i64) i64.const 9223372036854775807)
  (func (export "nan") (result f64) f64.const nan)
  (func (export "neg_zero") (result f64) f64.const -0)
  (func (export "divmod") (param i32 i32) (result i32 i32)
    (i32.div_s (local.get 0) (local.get 1)) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "mixed") (param i32 i64 f32 f64) (result f64 f32 i64 i32)
    local.get 3 local.get 2 local.get 1 local.get 0)
  (func (export "nothing"))
  (func (export "is_neg_zero") (param f64) (result i32)
    ;; 1 when the sign bit is set and the value is zero
    (i32.and (f64.eq (local.get 0) (f64.const 0))
             (i64.lt_s (i64.reinterpret_f64 (local.get 0)) (i64.const 0))))
  (func (export "v128_param") (param v128))
  (func (export "ref_result") (result externref) ref.null extern)
  (global (export "g") i32 (i32.const 1))
  (table (export "t") 1 funcref)
  (memory (export "memory") 1))`;

/** Every assertion runs through `call`, `callSync` and a resolved `func(name)`. */
async function both(inst: wasm.Instance, name: string, args: wasm.WasmArg[]): Promise<wasm.WasmResult[]> {
  const a = await inst.call(name, ...args);
  const b = inst.callSync(name, ...args);
  assertEquals(b, a, `callSync vs call of ${name}`);
  assertEquals(inst.func(name)(...args), a, `func vs call of ${name}`);
  return a;
}

async function bothReject(
  inst: wasm.Instance,
  name: string,
  args: wasm.WasmArg[],
  code: number,
  msg?: string | RegExp,
) {
  await rejects(() => inst.call(name, ...args), code, msg);
  throws(() => inst.callSync(name, ...args), code, msg);
  throws(() => inst.func(name)(...args), code, msg);
}

Deno.test("func(name): resolved once, called without the name; 5003 when missing, 5005 after drop", async () => {
  const inst = await instance(VALUES);
  const add = inst.func("add");
  assertEquals(add(40, 2), [42]);
  assertEquals(add(-1, 1), [0]);
  throws(() => inst.func("nope"), 5003, "no export named `nope`");
  throws(() => inst.func("g"), 5003, "is a global, not a function");
  throws(() => inst.func(7 as unknown as string), 5007, "the export name must be a string");
  await inst.drop();
  throws(() => add(1, 2), 5005);
});

Deno.test("i32: numbers by signature, results as numbers, unsigned values wrap to their bit pattern", async () => {
  const inst = await instance(VALUES);
  assertEquals(await both(inst, "add", [10, 32]), [42]);
  assertEquals(await both(inst, "id_i32", [-2147483648]), [-2147483648]);
  assertEquals(await both(inst, "id_i32", [2147483647]), [2147483647]);
  assertEquals(await both(inst, "id_i32", [4294967295]), [-1]);
  assertEquals(await both(inst, "id_i32", [0x80000000]), [-2147483648]);
  assertEquals(await both(inst, "add", [2147483647, 1]), [-2147483648]); // wasm wraps
  assertEquals(await both(inst, "id_i32", [-0]), [0]);
  assertEquals(await both(inst, "id_i32", [5n]), [5]); // a BigInt in range is fine for an i32
  await inst.drop();
});

Deno.test("i32: lossy or out-of-range arguments are TypeError 5007, never truncated", async () => {
  const inst = await instance(VALUES);
  await bothReject(inst, "id_i32", [4294967296], 5007, "expected i32");
  await bothReject(inst, "id_i32", [-2147483649], 5007);
  await bothReject(inst, "id_i32", [1.5], 5007);
  await bothReject(inst, "id_i32", [NaN], 5007);
  await bothReject(inst, "id_i32", [Infinity], 5007);
  await bothReject(inst, "id_i32", [1n << 32n], 5007, "out of range");
  await bothReject(inst, "id_i32", [types.i64(1n)], 5007, "expected i32, got i64");
  await bothReject(inst, "id_i32", [types.f64(1)], 5007);
  await inst.drop();
});

Deno.test("i64: lossless BigInt in and out, min/max, unsigned wrap, safe-integer numbers", async () => {
  const inst = await instance(VALUES);
  const MIN = -(2n ** 63n);
  const MAX = 2n ** 63n - 1n;
  assertEquals(await both(inst, "i64_min", []), [MIN]);
  assertEquals(await both(inst, "i64_max", []), [MAX]);
  assertEquals(await both(inst, "id_i64", [MIN]), [MIN]);
  assertEquals(await both(inst, "id_i64", [MAX]), [MAX]);
  assertEquals(await both(inst, "id_i64", [2n ** 64n - 1n]), [-1n]); // u64 max wraps (wide BigInt path)
  assertEquals(await both(inst, "id_i64", [2n ** 63n]), [MIN]);
  assertEquals(await both(inst, "id_i64", [9007199254740991]), [9007199254740991n]); // number, safe
  assertEquals(await both(inst, "id_i64", [-9007199254740991]), [-9007199254740991n]);
  assertEquals(await both(inst, "add_i64", [types.i64(9007199254740991n), types.i64(1n)]), [9007199254740992n]);
  assertEquals(await both(inst, "add_i64", [MAX, 1n]), [MIN]);
  assertEquals(typeof (await inst.call("id_i64", 0))[0], "bigint");
  await inst.drop();
});

Deno.test("i64: numbers beyond 2^53 and BigInts beyond 64 bits are 5007", async () => {
  const inst = await instance(VALUES);
  await bothReject(inst, "id_i64", [9007199254740992], 5007, "pass a BigInt");
  await bothReject(inst, "id_i64", [1.5], 5007);
  await bothReject(inst, "id_i64", [2n ** 64n], 5007, "18446744073709551616");
  await bothReject(inst, "id_i64", [-(2n ** 63n) - 1n], 5007, "-9223372036854775809");
  await bothReject(inst, "id_i64", [2n ** 200n], 5007, "out of range"); // beyond i128: clamped, still refused
  await bothReject(inst, "id_i64", [types.i32(1)], 5007, "expected i64, got i32");
  await inst.drop();
});

Deno.test("f32 rounds like Math.fround; f64 is exact; -0 and NaN survive", async () => {
  const inst = await instance(VALUES);
  assertEquals(await both(inst, "id_f32", [0.1]), [Math.fround(0.1)]);
  assertEquals(await both(inst, "id_f32", [3.14159]), [Math.fround(3.14159)]);
  assertEquals(await both(inst, "id_f32", [types.f32(16777217)]), [16777216]);
  assertEquals(await both(inst, "id_f32", [1e39]), [Infinity]); // beyond f32: rounds to infinity like fround
  assertEquals(await both(inst, "id_f32", [-0]), [-0]);
  assertEquals(await both(inst, "id_f32", [NaN]), [NaN]);
  assertEquals(await both(inst, "id_f64", [0.1]), [0.1]);
  assertEquals(await both(inst, "id_f64", [-0]), [-0]);
  assertEquals(await both(inst, "id_f64", [NaN]), [NaN]);
  assertEquals(await both(inst, "id_f64", [Number.MAX_VALUE]), [Number.MAX_VALUE]);
  assertEquals(await both(inst, "id_f64", [5e-324]), [5e-324]);
  assertEquals(await both(inst, "id_f64", [-Infinity]), [-Infinity]);
  assertEquals(await both(inst, "is_neg_zero", [-0]), [1]);
  assertEquals(await both(inst, "is_neg_zero", [0]), [0]);
  assertEquals(await both(inst, "neg_zero", []), [-0]);
  assertEquals(await both(inst, "nan", []), [NaN]);
  assertEquals(await both(inst, "sqrt", [4]), [2]); // an integer-looking number for an f64 parameter
  assertEquals(await both(inst, "id_f64", [types.f64(2.5)]), [2.5]);
  await bothReject(inst, "id_f64", [1n], 5007, "expected f64, got BigInt");
  await bothReject(inst, "id_f32", [types.f64(1)], 5007);
  await inst.drop();
});

Deno.test("number arguments: each call runs once, whatever its results are (no frame for one number back)", async () => {
  const inst = await instance(`(module (global $n (mut i32) (i32.const 0))
    (func $tick global.get $n i32.const 1 i32.add global.set $n)
    (func (export "one") (param i32) (result i32) call $tick local.get 0)
    (func (export "wide") (param i32) (result i64) call $tick local.get 0 i64.extend_i32_s)
    (func (export "two") (param i32) (result i32 i32) call $tick local.get 0 local.get 0)
    (func (export "none") (param i32 f64 f32 i64) call $tick)
    (func (export "count") (result i32) global.get $n))`);
  const wide = inst.func("wide");
  for (let k = 0; k < 3; k++) {
    assertEquals(inst.callSync("one", 7), [7]);
    assertEquals(inst.callSync("wide", 7), [7n]); // an i64 result is a BigInt: through a frame
    assertEquals(inst.callSync("two", 7), [7, 7]);
    assertEquals(inst.callSync("none", 1, 2, 3, 4), []);
    assertEquals(wide(8), [8n]);
  }
  assertEquals(inst.callSync("count"), [15]);
  await inst.drop();
});

Deno.test("callSync's first call with numbers resolves its export: a later call of another shape reaches it", async () => {
  const inst = await instance(VALUES);
  assertEquals(inst.callSync("add", 40, 2), [42]); // the store's first resolved export
  assertEquals(inst.callSync("id_i64", 5), [5n]); // the second: numbers in, an i64 back (then through a frame)
  assertEquals(inst.callSync("id_i64", 2n ** 60n), [2n ** 60n]); // by the index the first call resolved
  assertEquals(inst.callSync("id_i64", types.i64(-1n)), [-1n]);
  assertEquals(inst.callSync("add", 1n, types.i32(2)), [3]);
  await inst.drop();
});

Deno.test("multi-value results keep their positions and types", async () => {
  const inst = await instance(VALUES);
  assertEquals(await both(inst, "divmod", [42, 5]), [8, 2]);
  assertEquals(await both(inst, "divmod", [-7, 2]), [-3, -1]);
  assertEquals(await both(inst, "mixed", [1, 2n, 0.5, 0.25]), [0.25, 0.5, 2n, 1]);
  assertEquals(await both(inst, "mixed", [types.i32(-1), types.i64(-1n), types.f32(0.1), types.f64(0.1)]), [
    0.1,
    Math.fround(0.1),
    -1n,
    -1,
  ]);
  assertEquals(await both(inst, "nothing", []), []);
  await inst.drop();
});

Deno.test("arity, argument kinds, v128 / reference signatures and non-function exports", async () => {
  const inst = await instance(VALUES);
  await bothReject(inst, "add", [1], 5007, "takes 2 argument(s), got 1");
  await bothReject(inst, "add", [1, 2, 3], 5007, "got 3");
  const notANumber = "1" as unknown as number;
  await bothReject(
    inst,
    "add",
    [notANumber, 2],
    5007,
    "argument 0: expected a number, a bigint or a types.* value, got a string",
  );
  // deno-lint-ignore no-explicit-any
  await bothReject(inst, "add", [1, null as any], 5007, "argument 1");
  // deno-lint-ignore no-explicit-any
  await bothReject(inst, "add", [true as any, 1], 5007);
  await bothReject(inst, "v128_param", [1], 5007, "v128");
  await bothReject(inst, "ref_result", [], 5007, "ref");
  await bothReject(inst, "g", [], 5003, "is a global, not a function");
  await bothReject(inst, "memory", [], 5003, "is a memory");
  await bothReject(inst, "t", [], 5003, "is a table");
  await bothReject(inst, "missing", [], 5003, "no export named `missing`");
  await bothReject(inst, "", [], 5003);
  await inst.drop();
});

Deno.test("types.* validate eagerly and convert like the core", () => {
  assertEquals(types.i32(0xffffffff).value, -1);
  assertEquals(types.i32(-5n).value, -5);
  assertEquals(types.i64(2n ** 64n - 1n).value, -1n);
  assertEquals(types.i64(42).value, 42n);
  assertEquals(types.f32(0.1).value, Math.fround(0.1));
  assertEquals(types.f64(0.1).value, 0.1);
  assertEquals(types.i32(1).type, "i32");
  assertEquals(types.f32(1).type, "f32");
  throws(() => types.i32(2 ** 32), 5007, "types.i32");
  throws(() => types.i32(1.5), 5007);
  throws(() => types.i64(9007199254740992), 5007, "pass a BigInt");
  throws(() => types.i64(2n ** 64n), 5007);
  // deno-lint-ignore no-explicit-any
  throws(() => types.f32(1n as any), 5007);
  // deno-lint-ignore no-explicit-any
  throws(() => types.f64("1" as any), 5007);
});

Deno.test("many arguments: 600 parameters fit the frame; 1000 results come back", async () => {
  const n = 600;
  const params = Array(n).fill("i64").join(" ");
  const body = Array.from({ length: n }, (_, i) => `local.get ${i}` + (i ? " i64.add" : "")).join(" ");
  const many = 1000;
  const inst = await instance(`(module
    (func (export "sum") (param ${params}) (result i64) ${body})
    (func (export "many") (result ${Array(many).fill("i32").join(" ")})
      ${Array.from({ length: many }, (_, i) => `i32.const ${i}`).join(" ")}))`);
  const args = Array.from({ length: n }, (_, i) => (i % 2 ? BigInt(i) : i));
  assertEquals(await both(inst, "sum", args), [BigInt((n * (n - 1)) / 2)]);
  // Wide BigInts take two slots each: 600 of them exceed a standard frame and use a larger one.
  const wide = Array.from({ length: n }, () => 2n ** 64n - 1n); // each wraps to -1
  assertEquals(await both(inst, "sum", wide), [-BigInt(n)]);
  const results = await both(inst, "many", []);
  assertEquals(results.length, many);
  assertEquals(results[999], 999);
  await inst.drop();
});
