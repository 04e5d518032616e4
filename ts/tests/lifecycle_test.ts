// Modules and instances over their lives: compile from bytes, text and files, dedup, exports, drop in either order,
// stale and forged handles (5004 / 5005), traps (5002), compile errors (5000), file errors (5008), `using`.

import * as wasm from "../mod.ts";
import { assert, assertEquals, fixture, fixturePath, rejects, text, throws, wat } from "./helpers.ts";

const ADD = `(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))`;

Deno.test("compile accepts binary and text; compileFile accepts paths and file: URLs", async () => {
  const fromText = await wasm.compile(text(ADD));
  const binary = await Deno.readFile(fixturePath("plugins/text.wasm"));
  const fromBytes = await wasm.compile(binary);
  const fromPath = await wasm.compileFile(fixturePath("plugins/checksum.wasm"));
  const fromUrl = await wasm.compileFile(fixture("plugins/checksum.wasm"));
  const fromWatFile = await wasm.compileFile(fixturePath("wat/add.wat"));
  for (const id of [fromText, fromBytes, fromPath, fromUrl, fromWatFile]) {
    assert(Number.isSafeInteger(id) && id >= 0, `handle ${id} is a safe integer`);
  }
  assertEquals(new Set([fromText, fromBytes, fromPath, fromUrl, fromWatFile]).size, 5, "distinct handles");
  const inst = await wasm.instantiate(fromWatFile);
  assertEquals(await inst.call("add", 40, 2), [42]);
  await inst.drop();
  for (const id of [fromText, fromBytes, fromPath, fromUrl, fromWatFile]) await wasm.dropModule(id);
});

Deno.test("compile copies the caller's bytes: changing them afterwards changes nothing", async () => {
  const bytes = text(`(module (func (export "f") (result i32) i32.const 1))`);
  const pending = wasm.compile(bytes);
  bytes.fill(0x20); // spaces: would still be valid (empty) text if the compiler read it now
  const id = await pending;
  const inst = await wasm.instantiate(id);
  assertEquals(await inst.call("f"), [1]);
  await inst.drop();
  await wasm.dropModule(id);
});

Deno.test("compile errors are CompileError 5000; file errors IoError 5008", async () => {
  await rejects(() => wasm.compile(new Uint8Array([0xde, 0xad, 0xbe, 0xef])), 5000);
  await rejects(() => wasm.compile(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff])), 5000);
  await rejects(() => wasm.compile(text("(module (func (result i32)))")), 5000, "type mismatch");
  await rejects(() => wasm.compile(new Uint8Array(0)), 5000);
  // deno-lint-ignore no-explicit-any
  await rejects(() => wasm.compile([0, 97, 115, 109] as any), 5007, "Uint8Array");
  await rejects(() => wasm.compileFile("/nonexistent/module.wasm"), 5008, "/nonexistent/module.wasm");
  await rejects(() => wasm.compileFile(fixturePath("")), 5008); // a directory
  await rejects(() => wasm.compileFile(new URL("https://example.com/x.wasm")), 5007, "file: URLs");
});

Deno.test("identical bytes compile once: a second compile is a dedup hit and much cheaper", async () => {
  const src = text(
    `(module ${
      Array.from(
        { length: 300 },
        (_, i) => `(func (export "f${i}") (param i32) (result i32) local.get 0 i32.const ${i} i32.mul)`,
      )
        .join(" ")
    })`,
  );
  const a = await wasm.compile(src);
  const t0 = performance.now();
  const b = await wasm.compile(src);
  const dt = performance.now() - t0;
  assert(a !== b, "each compile returns its own handle");
  const inst = await wasm.instantiate(b);
  assertEquals(await inst.call("f299", 2), [598]);
  await wasm.dropModule(a);
  await wasm.dropModule(b);
  assertEquals(await inst.call("f7", 3), [21], "instances outlive every module handle");
  await inst.drop();
  assert(dt < 250, `the second compile took ${dt.toFixed(1)} ms`);
});

Deno.test("getExports and moduleExports list kinds, signatures, global types and limits as the docs spell them", async () => {
  const id = await wat(`(module
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "mix") (param i64 f32) (result f64 i32) f64.const 0 i32.const 0)
    (memory (export "mem") 1)
    (table (export "tbl") 2 funcref)
    (global (export "g") (mut i64) (i64.const 0)))`);
  const expected: wasm.ExportInfo[] = [
    { name: "add", kind: "func", params: ["i32", "i32"], results: ["i32"] },
    { name: "mix", kind: "func", params: ["i64", "f32"], results: ["f64", "i32"] },
    { name: "mem", kind: "memory", min: 1, max: null },
    { name: "tbl", kind: "table", min: 2, max: null, element: "funcref" },
    { name: "g", kind: "global", type: "i64", mutable: true },
  ];
  assertEquals(await wasm.moduleExports(id), expected);
  const inst = await wasm.instantiate(id);
  assertEquals(await inst.getExports(), expected);
  await inst.drop();
  await wasm.dropModule(id);
  await rejects(() => wasm.moduleExports(id), 5004);
  await rejects(() => inst.getExports(), 5005);
});

Deno.test("stale handles: dropped modules are 5004, dropped instances 5005, for every operation", async () => {
  const id = await wat(`(module (memory (export "memory") 1) (func (export "f") (result i32) i32.const 1))`);
  const inst = await wasm.instantiate(id);
  await inst.drop();
  await rejects(() => inst.drop(), 5005, "was dropped");
  await rejects(() => inst.call("f"), 5005);
  throws(() => inst.callSync("f"), 5005);
  await rejects(() => inst.call("_start"), 5005);
  await rejects(() => inst.memory.read(0, 1), 5005);
  throws(() => inst.memory.readInto(0, new Uint8Array(1)), 5005);
  await rejects(() => inst.memory.write(0, new Uint8Array(1)), 5005);
  await rejects(() => inst.memory.size(), 5005);
  await rejects(() => inst.memory.grow(1), 5005);
  throws(() => inst.stdout(), 5005);
  throws(() => inst.stderr(), 5005);
  throws(() => inst.exitCode, 5005);

  await wasm.dropModule(id);
  await rejects(() => wasm.dropModule(id), 5004, "was dropped");
  await rejects(() => wasm.instantiate(id), 5004);

  // A new module or instance in the same slot does not revive the old handle (generational handles).
  const id2 = await wat(`(module (func (export "f") (result i32) i32.const 2))`);
  const inst2 = await wasm.instantiate(id2);
  await rejects(() => wasm.instantiate(id), 5004);
  await rejects(() => inst.call("f"), 5005);
  assertEquals(await inst2.call("f"), [2]);
  await inst2.drop();
  await wasm.dropModule(id2);
});

Deno.test("forged handles: never issued, negative, fractional or huge → 5004 / 5005", async () => {
  for (const bad of [123456789, 2 ** 52 - 1, -1, 1.5, NaN, 2 ** 60]) {
    await rejects(() => wasm.instantiate(bad), 5004);
    await rejects(() => wasm.dropModule(bad), 5004);
    const fake = new wasm.Instance(bad, 0);
    await rejects(() => fake.call("f"), 5005);
    await rejects(() => fake.memory.size(), 5005);
  }
});

Deno.test("dropping the module before its instance is safe: the instance keeps working", async () => {
  const id = await wasm.compile(text(ADD));
  const inst = await wasm.instantiate(id);
  await wasm.dropModule(id); // the docs call this an error; in this runtime instances keep their code alive
  assertEquals(await inst.call("add", 1, 2), [3]);
  assertEquals(inst.callSync("add", 3, 4), [7]);
  await inst.drop();
  // And the usual order works too.
  const id2 = await wasm.compile(text(ADD));
  const inst2 = await wasm.instantiate(id2);
  await inst2.drop();
  await wasm.dropModule(id2);
});

Deno.test("stats count live modules and instances", async () => {
  const before = await wasm.stats();
  const id = await wat(ADD);
  const insts = await Promise.all([1, 2, 3].map(() => wasm.instantiate(id)));
  assertEquals(await wasm.stats(), { modules: before.modules + 1, instances: before.instances + 3 });
  await Promise.all(insts.map((i) => i.drop()));
  await wasm.dropModule(id);
  assertEquals(await wasm.stats(), before);
});

Deno.test("traps are CallError 5002 with the trap and a wasm backtrace; the instance stays usable", async () => {
  const id = await wat(`(module
    (func $inner (export "boom") unreachable)
    (func (export "outer") call $inner)
    (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
    (func (export "ok") (result i32) i32.const 1))`);
  const inst = await wasm.instantiate(id);
  await rejects(() => inst.call("outer"), 5002, "unreachable");
  await rejects(() => inst.call("div", 1, 0), 5002, "divide by zero");
  throws(() => inst.callSync("div", 1, 0), 5002, "divide by zero");
  const e = await rejects(() => inst.call("outer"), 5002);
  assert(/wasm backtrace/i.test(e.message), e.message);
  assertEquals(await inst.call("ok"), [1]);
  await inst.drop();
  await wasm.dropModule(id);
});

Deno.test("instantiation failures: unknown imports and trapping start functions are 5001", async () => {
  const id = await wat(`(module (import "env" "missing" (func (param i32) (result i64))))`);
  await rejects(() => wasm.instantiate(id), 5001, "unknown import env::missing (func (i32) -> (i64))");
  await wasm.dropModule(id);
  const start = await wat(`(module (func $s unreachable) (start $s))`);
  await rejects(() => wasm.instantiate(start), 5001);
  await wasm.dropModule(start);
});

Deno.test("moduleImports lists what a plugin needs from its host, before instantiating", async () => {
  const id = await wat(`(module (import "env" "abort" (func (param i32 i32 i32 i32)))
    (import "host" "now" (func (result f64))) (import "env" "memory" (memory 1)))`);
  assertEquals(await wasm.moduleImports(id), [
    { module: "env", name: "abort", kind: "func", params: ["i32", "i32", "i32", "i32"], results: [] },
    { module: "host", name: "now", kind: "func", params: [], results: ["f64"] },
    { module: "env", name: "memory", kind: "memory" },
  ]);
  await wasm.dropModule(id);
  await rejects(() => wasm.moduleImports(id), 5004);
});

Deno.test("`using` drops the instance at the end of the scope", async () => {
  const id = await wat(ADD);
  let handle = -1;
  {
    using inst = await wasm.instantiate(id);
    handle = inst.id;
    assertEquals(await inst.call("add", 2, 2), [4]);
  }
  await rejects(() => new wasm.Instance(handle, id).call("add", 1, 1), 5005);
  {
    using inst = await wasm.instantiate(id);
    await inst.drop(); // an explicit drop first is fine
  }
  await wasm.dropModule(id);
});
