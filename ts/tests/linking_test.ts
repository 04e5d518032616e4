// Linking instances: `instance.export(name)` and whole instances as `imports` values share memories, globals,
// tables and functions; globals by name (`getGlobal` / `setGlobal`); the ownership rule and its errors.

import * as wasm from "../mod.ts";
import { assertEquals, instance, rejects, str, throws, wat } from "./helpers.ts";

const LIB = `(module
  (import "host" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global (export "counter") (mut i32) (i32.const 7))
  (global (export "big") (mut i64) (i64.const 0))
  (global (export "fixed") f64 (f64.const 1.5))
  (data (i32.const 0) "lib says hi")
  (func (export "bump") (result i32)
    (global.set 0 (i32.add (global.get 0) (i32.const 1))) (global.get 0))
  (func (export "greet") (call $log (i32.const 0) (i32.const 11))))`;

const APP = `(module
  (import "lib" "memory" (memory 1))
  (import "lib" "counter" (global $counter (mut i32)))
  (import "lib" "bump" (func $bump (result i32)))
  (import "lib" "greet" (func $greet))
  (import "app" "note" (func $note (param i32)))
  (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "counter") (result i32) (global.get $counter))
  (func (export "bump_and_note") (result i32) (call $note (call $bump)) (global.get $counter))
  (func (export "greet") (call $greet)))`;

/** A library instance (with a JavaScript `host.log`) and an app instance linked to it as module `lib`. */
async function libAndApp() {
  const log: string[] = [];
  const notes: number[] = [];
  const ref: { lib?: wasm.Instance } = {};
  const lib = ref.lib = await instance(LIB, {
    imports: { host: { log: (p: number, n: number) => void log.push(str(ref.lib!.memory.readSync(p, n))) } },
  });
  const app = await instance(APP, { imports: { lib, app: { note: (n: number) => void notes.push(n) } } });
  return { lib, app, log, notes };
}

Deno.test("an instance as an import module shares its memory", async () => {
  const { lib, app } = await libAndApp();
  await app.call("poke", 100, 42);
  assertEquals(lib.memory.readSync(100, 1), new Uint8Array([42]));
  await app.drop();
  await lib.drop();
});

Deno.test("a linked global is one cell: setGlobal through one instance is seen by the other", async () => {
  const { lib, app, notes } = await libAndApp();
  lib.setGlobal("counter", 40);
  assertEquals(await app.call("counter"), [40]);
  assertEquals(app.callSync("bump_and_note"), [41]);
  assertEquals(notes, [41]);
  assertEquals(lib.getGlobal("counter"), 41);
  await app.drop();
  await lib.drop();
});

Deno.test("a linked function runs its own instance's JavaScript import", async () => {
  const { lib, app, log } = await libAndApp();
  await app.call("greet");
  app.callSync("greet");
  assertEquals(log, ["lib says hi", "lib says hi"]);
  await app.drop();
  await lib.drop();
});

Deno.test("export(name) links one export at a time", async () => {
  const lib = await instance(`(module (memory (export "mem") 1) (func (export "seven") (result i32) i32.const 7))`);
  const user = await instance(
    `(module (import "env" "m" (memory 1)) (import "env" "f" (func $f (result i32)))
      (func (export "run") (result i32) (i32.store8 (i32.const 3) (i32.const 9)) (call $f)))`,
    { imports: { env: { m: lib.export("mem"), f: lib.export("seven") } } },
  );
  assertEquals(user.export("run").kind, "func");
  assertEquals(user.callSync("run"), [7]);
  assertEquals(lib.memory.readSync(3, 1), new Uint8Array([9]));
  await user.drop();
  await lib.drop();
});

Deno.test("an importer with JavaScript imports keeps them after an exporter without imports is dropped", async () => {
  // The exporter has no imports: the API makes its store's state only when the importer joins its store.
  const lib = await instance(`(module (func (export "seven") (result i32) i32.const 7))`);
  const seen: number[] = [];
  const user = await instance(
    `(module (import "lib" "seven" (func $seven (result i32))) (import "app" "note" (func $note (param i32)))
      (func (export "run") (call $note (call $seven))))`,
    { imports: { lib, app: { note: (n: number) => void seen.push(n) } } },
  );
  await lib.drop();
  // Many instances with functions of their own come and go (the functions of dropped stores are freed past 64).
  const other = await wat(`(module (import "app" "note" (func (param i32))))`);
  for (let k = 0; k < 80; k++) await (await wasm.instantiate(other, { imports: { app: { note: () => {} } } })).drop();
  user.callSync("run");
  await user.call("run");
  assertEquals(seen, [7, 7]);
  await user.drop();
});

Deno.test("dropping the exporter keeps its objects alive for the importer; its handle is 5005", async () => {
  const { lib, app } = await libAndApp();
  await lib.drop();
  throws(() => lib.getGlobal("counter"), 5005);
  throws(() => lib.export("memory"), 5005);
  assertEquals(await app.call("bump_and_note"), [8]);
  await app.drop();
  const again = await wat(APP);
  await rejects(() => wasm.instantiate(again, { imports: { lib, app: { note: () => {} } } }), 5005);
});

Deno.test("getGlobal and setGlobal convert by the global's type; immutable is 5007, missing 5003", async () => {
  const lib = await instance(LIB, { imports: { host: { log: () => {} } } });
  lib.setGlobal("big", 2n ** 62n);
  assertEquals(lib.getGlobal("big"), 2n ** 62n);
  lib.setGlobal("big", wasm.types.i64(-1));
  assertEquals(lib.getGlobal("big"), -1n);
  assertEquals(lib.getGlobal("fixed"), 1.5);
  throws(() => lib.setGlobal("fixed", 2), 5007, "immutable");
  throws(() => lib.setGlobal("counter", 0.5), 5007);
  throws(() => lib.getGlobal("nope"), 5003);
  throws(() => lib.getGlobal("bump"), 5003, "not a global");
  throws(() => lib.export("nope"), 5003);
  await lib.drop();
});

Deno.test("linking errors: missing export, wrong type, foreign stores, own limits, bad values are 5001", async () => {
  const lib = await instance(`(module (memory (export "memory") 1) (func (export "f")))`);
  const other = await instance(`(module (memory (export "memory") 1))`);
  const needsG = await wat(`(module (import "lib" "g" (global i32)))`);
  await rejects(() => wasm.instantiate(needsG, { imports: { lib } }), 5001, "lib::g");
  const wrongType = await wat(`(module (import "lib" "f" (func (param i32))))`);
  await rejects(() => wasm.instantiate(wrongType, { imports: { lib } }), 5001, "lib::f");
  const empty = await wat(`(module)`);
  await rejects(() => wasm.instantiate(empty, { imports: { a: lib, b: other } }), 5001, "different stores");
  await rejects(() => wasm.instantiate(empty, { imports: { a: lib }, fuel: 100 }), 5001, "`fuel`");
  await rejects(() => wasm.instantiate(empty, { imports: { a: { m: 3 } } } as never), 5001, "a::m");
  await lib.drop();
  await other.drop();
});
