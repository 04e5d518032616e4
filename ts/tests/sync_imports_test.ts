// Synchronous imports (`instantiate(id, { imports, syncImports: true })`): JavaScript functions the guest calls in
// place, straight from wasm, with their values, errors, re-entrancy, limits and lifetime.

import * as wasm from "../mod.ts";
import { assert, assertEquals, instance, rejects, str, throws, wat } from "./helpers.ts";

const PLUGIN = `(module
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
  (import "host" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global (export "counter") (mut i32) (i32.const 7))
  (data (i32.const 64) "hello from the plugin")
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "hello") (call $log (i32.const 64) (i32.const 21)))
  (func (export "check") (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then (call $abort (i32.const 0) (i32.const 0) (i32.const 12) (i32.const 7))))
    local.get 0))`;

/** The plugin with `syncImports`: `host.log` runs `log(instance, ptr, len)`, `env.abort` throws. */
async function plugin(log: (me: wasm.Instance, ptr: number, len: number) => void): Promise<wasm.Instance> {
  const ref: { i?: wasm.Instance } = {};
  ref.i = await instance(PLUGIN, {
    syncImports: true,
    imports: {
      env: {
        abort: (_msg: number, _file: number, line: number, col: number) => {
          throw new Error(`abort at ${line}:${col}`);
        },
      },
      host: { log: (ptr: number, len: number) => log(ref.i!, ptr, len) },
    },
  });
  return ref.i;
}

Deno.test("sync imports: a plugin logs through its host on every call path", async () => {
  const lines: string[] = [];
  const i = await plugin((me, ptr, len) => void lines.push(str(me.memory.readSync(ptr, len))));
  i.callSync("hello");
  await i.call("hello");
  i.func("hello")();
  assertEquals(lines, ["hello from the plugin", "hello from the plugin", "hello from the plugin"]);
  assertEquals(i.callSync("add", 40, 2), [42]);
  await i.drop();
});

Deno.test("sync imports: a throwing import traps the guest with 5002 whose cause is what it threw", async () => {
  const i = await plugin(() => {});
  const s = throws(() => i.callSync("check", 0), 5002, "host function env::abort failed: abort at 12:7");
  assert(s.cause instanceof Error && s.cause.message === "abort at 12:7", "callSync: cause is the thrown error");
  const c = await rejects(() => i.call("check", 0), 5002, "abort at 12:7");
  assert(c.cause instanceof Error && c.cause.message === "abort at 12:7", "call: cause is the thrown error");
  const f = throws(() => i.func("check")(0), 5002, "abort at 12:7");
  assert(f.cause instanceof Error, "func: cause is the thrown error");
  // Usable afterwards, like any trapped instance; a later failure of another kind has no stale cause.
  assertEquals(i.callSync("check", 5), [5]);
  const other = throws(() => i.callSync("add", 1), 5007);
  assert(!(other.cause instanceof Error && other.cause.message.startsWith("abort")), "no stale cause");
  await i.drop();
  // Whatever is thrown is the cause, `undefined` included.
  const odd = await instance(`(module (import "h" "f" (func $f)) (func (export "go") (call $f)))`, {
    syncImports: true,
    imports: { h: { f: () => { throw undefined; } } },
  });
  const u = throws(() => odd.callSync("go"), 5002);
  assert(Object.hasOwn(u, "cause") && u.cause === undefined, "a thrown undefined is the cause");
  await odd.drop();
});

const TYPES = `(module
  (import "host" "pair" (func $pair (param i64 f64) (result i32 i64)))
  (import "host" "f32" (func $f32 (param f32) (result f32)))
  (func (export "pair") (param i64 f64) (result i32 i64) (call $pair (local.get 0) (local.get 1)))
  (func (export "f32") (param f32) (result f32) (call $f32 (local.get 0))))`;

Deno.test("sync imports: arguments and results follow the import's signature (i64 as bigint, multi-value)", async () => {
  const seen: unknown[] = [];
  const i = await instance(TYPES, {
    syncImports: true,
    imports: {
      host: {
        pair: (a: bigint, b: number) => {
          seen.push(a, b);
          return [7, a * 2n];
        },
        f32: (x: number) => x * 2,
      },
    },
  });
  assertEquals(i.callSync("pair", 2n ** 40n, 0.25), [7, 2n ** 41n]);
  assertEquals(seen, [2n ** 40n, 0.25]);
  assertEquals(await i.call("f32", 1.5), [3]);
  await i.drop();
});

Deno.test("sync imports: results that do not fit, and Promises, trap the guest with 5007 in the message", async () => {
  const cases: [string, unknown][] = [
    ["a string", "42"],
    ["a fraction for i32", 1.5],
    ["an array of the wrong length", [1, 2]],
    ["nothing for one result", undefined],
  ];
  for (const [what, value] of cases) {
    const i = await instance(`(module (import "h" "f" (func $f (result i32)))
      (func (export "go") (result i32) (call $f)))`, { syncImports: true, imports: { h: { f: () => value } } });
    const e = throws(() => i.callSync("go"), 5002, "[5007] type error");
    assert(e.message.includes("host function h::f failed"), `${what}: ${e.message}`);
    await rejects(() => i.call("go"), 5002, "[5007] type error");
    await i.drop();
  }
  const later = await instance(`(module (import "h" "f" (func $f (result i32)))
    (func (export "go") (result i32) (call $f)))`, {
    syncImports: true,
    // deno-lint-ignore require-await -- on purpose: an import that returns a Promise
    imports: { h: { f: async () => 1 } },
  });
  throws(() => later.callSync("go"), 5002, "returned a Promise: an instance created with `syncImports`");
  await rejects(() => later.call("go"), 5002, "takes synchronous host functions only");
  await later.drop();
});

const REENTER = `(module
  (import "host" "cb" (func $cb (param i32) (result i32)))
  (memory (export "memory") 1)
  (global (export "g") (mut i32) (i32.const 1))
  (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "run") (param i32) (result i32) (call $cb (local.get 0))))`;

Deno.test("sync imports: inside an import its instance's memory, callSync, call and func work", async () => {
  const ref: { i?: wasm.Instance } = {};
  const double = { f: null as null | wasm.WasmFunction };
  const i = ref.i = await instance(REENTER, {
    syncImports: true,
    imports: {
      host: {
        cb: (x: number) => {
          const me = ref.i!;
          me.memory.writeSync(0, new Uint8Array([x]));
          const pages = me.memory.sizeSync();
          assertEquals(me.memory.growSync(1), pages);
          const [d] = me.callSync("double", x) as number[];
          const [dd] = double.f!(d) as number[];
          const [ddd] = me.func("double")(dd) as number[];
          void me.call("double", 0); // runs now, in place
          return ddd + me.memory.readSync(0, 1)[0];
        },
      },
    },
  });
  double.f = i.func("double");
  assertEquals(i.callSync("run", 5), [45]);
  assertEquals(await i.call("run", 1), [9]);
  assertEquals(i.memory.sizeSync(), 3);
  await i.drop();
});

Deno.test("sync imports: nested imports through a re-entrant call, and the instance's globals refused inside", async () => {
  const ref: { i?: wasm.Instance } = {};
  let depth = 0;
  const i = ref.i = await instance(REENTER, {
    syncImports: true,
    imports: {
      host: {
        cb: (x: number): number => {
          depth++;
          if (x === 0) {
            throws(() => ref.i!.getGlobal("g"), 5002, "only its memory and calls of its exports");
            return 100;
          }
          return (ref.i!.callSync("run", x - 1)[0] as number) + 1;
        },
      },
    },
  });
  assertEquals(i.callSync("run", 3), [103]);
  assertEquals(depth, 4);
  assertEquals(i.getGlobal("g"), 1);
  await i.drop();
});

Deno.test("sync imports: JS <-> wasm recursion past the guest's stack limit traps with 5002, and the instance lives on", async () => {
  const ref: { i?: wasm.Instance } = {};
  const i = ref.i = await instance(REENTER, {
    syncImports: true,
    imports: { host: { cb: (x: number): number => x === 0 ? 0 : (ref.i!.callSync("run", x - 1)[0] as number) + 1 } },
  });
  assertEquals(i.callSync("run", 20), [20]);
  throws(() => i.callSync("run", 100_000), 5002, "call stack exhausted");
  assertEquals(i.callSync("run", 20), [20]);
  await i.drop();
});

Deno.test("sync imports: call runs to its end on the JavaScript thread and settles before the next macrotask", async () => {
  const i = await plugin(() => {});
  let timer = false;
  const t = setTimeout(() => timer = true, 0);
  const p = i.call("add", 1, 2);
  await Promise.resolve();
  const result = await p;
  assertEquals([result, timer], [[3], false]);
  clearTimeout(t);
  await i.drop();
});

Deno.test("sync imports: a timeout still stops a runaway guest, and a start function calls imports", async () => {
  const spin = await instance(`(module (import "h" "f" (func $f))
    (func (export "spin") (call $f) (loop (br 0))))`, { syncImports: true, timeoutMs: 20, imports: { h: { f: () => {} } } });
  await rejects(() => spin.call("spin"), 5012);
  throws(() => spin.callSync("spin"), 5012);
  await spin.drop();
  const seen: number[] = [];
  const started = await instance(`(module (import "h" "note" (func $note (param i32)))
    (func $start (call $note (i32.const 7))) (start $start))`, {
    syncImports: true,
    imports: { h: { note: (n: number) => void seen.push(n) } },
  });
  assertEquals(seen, [7]);
  await started.drop();
});

Deno.test("sync imports: bad option values and mixing with async imports in one store are refused", async () => {
  const id = await wat(PLUGIN);
  await rejects(() => wasm.instantiate(id, { syncImports: "yes" as never }), 5007, "`syncImports` must be a boolean");
  const lib = await instance(`(module (import "h" "wait" (func)) (memory (export "memory") 1))`, {
    imports: { h: { wait: async () => {} } },
  });
  const user = await wat(`(module (import "lib" "memory" (memory 1)) (import "h" "now" (func)))`);
  await rejects(
    () => wasm.instantiate(user, { syncImports: true, imports: { lib, h: { now: () => {} } } }),
    5001,
    "cannot serve one store",
  );
  await lib.drop();
  await wasm.dropModule(user);
  await wasm.dropModule(id);
});

Deno.test("sync imports: churned instances free their functions, and live ones keep theirs", async () => {
  const id = await wat(REENTER);
  const keep = await wasm.instantiate(id, { syncImports: true, imports: { host: { cb: (x: number) => x + 1 } } });
  for (let n = 0; n < 200; n++) {
    const i = await wasm.instantiate(id, { syncImports: true, imports: { host: { cb: (x: number) => x * n } } });
    assertEquals(i.callSync("run", 2), [2 * n]);
    await i.drop();
  }
  assertEquals(keep.callSync("run", 41), [42]);
  await keep.drop();
  await wasm.dropModule(id);
});
