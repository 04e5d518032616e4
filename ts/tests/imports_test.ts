// Host functions: JavaScript functions a guest imports (`instantiate(id, { imports })`), on both paths (`call`,
// `callSync`), synchronous and async, with their errors, re-entrancy and limits.

import * as wasm from "../mod.ts";
import { types } from "../mod.ts";
import { assert, assertEquals, fixtureModule, instance, rejects, str, text, throws, wat } from "./helpers.ts";

/** An AssemblyScript-shaped plugin: `env.abort` and a logging import reading a string from memory. */
const PLUGIN = `(module
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
  (import "host" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hello from the plugin")
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "hello") (call $log (i32.const 64) (i32.const 21)))
  (func (export "check") (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then (call $abort (i32.const 0) (i32.const 0) (i32.const 12) (i32.const 7))))
    local.get 0))`;

function pluginImports(log: string[], instanceRef: { i?: wasm.Instance }) {
  return {
    env: {
      abort: (_msg: number, _file: number, line: number, col: number) => {
        throw new Error(`abort at ${line}:${col}`);
      },
    },
    host: {
      log: (ptr: number, len: number) => void log.push(str(instanceRef.i!.memory.readSync(ptr, len))),
    },
  };
}

Deno.test("an AssemblyScript-style plugin logs through its host and aborts with the host's error", async () => {
  const log: string[] = [];
  const ref: { i?: wasm.Instance } = {};
  const i = ref.i = await instance(PLUGIN, { imports: pluginImports(log, ref) });
  assertEquals(await i.call("add", 40, 2), [42]);
  await i.call("hello");
  i.callSync("hello");
  assertEquals(log, ["hello from the plugin", "hello from the plugin"]);
  const e = await rejects(() => i.call("check", 0), 5002, "host function env::abort failed: abort at 12:7");
  assert(e.cause instanceof Error && e.cause.message === "abort at 12:7", "cause is the thrown error");
  const s = throws(() => i.callSync("check", 0), 5002, "abort at 12:7");
  assert(s.cause instanceof Error, "callSync keeps the cause too");
  // Usable afterwards, like any trapped instance.
  assertEquals(i.callSync("check", 5), [5]);
  await i.drop();
});

/** AssemblyScript's `abort(message, file, line, column)`: its strings are UTF-16 with the byte length at `ptr - 4`. */
function asString(memory: wasm.Memory, ptr: number): string {
  if (ptr === 0) return "";
  const len = new DataView(memory.readSync(ptr - 4, 4).buffer).getUint32(0, true);
  return new TextDecoder("utf-16le").decode(memory.readSync(ptr, len));
}

Deno.test("the real AssemblyScript plugin (fixtures/plugins/greeter.wasm, built by asc) runs with its imports", async () => {
  const lines: string[] = [];
  let clock = 1000;
  const greeter: wasm.Instance = await wasm.instantiate(await fixtureModule("plugins/greeter.wasm"), {
    imports: {
      env: {
        abort: (msg: number, file: number, line: number, col: number) => {
          const m = greeter.memory;
          throw new Error(`${asString(m, msg)} at ${asString(m, file)}:${line}:${col}`);
        },
      },
      host: {
        log: (ptr: number, len: number) => void lines.push(str(greeter.memory.readSync(ptr, len))),
        now: () => clock++,
      },
    },
  });
  assertEquals(await greeter.call("add", 1, 2), [3]);
  const [buf] = greeter.callSync("buffer") as [number];
  greeter.memory.writeSync(buf, text("Forge"));
  assertEquals(await greeter.call("greet", buf, 5), ["hello, Forge!".length]);
  assertEquals(greeter.callSync("timed", 2), [1]);
  assertEquals(lines, ["hello, Forge!", "line 0", "line 1"]);
  const e = await rejects(() => greeter.call("divide", 1, 0), 5002, "division by zero at plugins/src/greeter.ts:");
  assert(e.cause instanceof Error, "the cause is the Error abort threw");
  assertEquals(await greeter.call("divide", 84, 2), [42]);
  await greeter.drop();
});

const TYPES = `(module
  (import "host" "pair" (func $pair (param i64 f64) (result i32 i64)))
  (import "host" "now" (func $now (result f64)))
  (import "host" "f32" (func $f32 (param f32) (result f32)))
  (func (export "pair") (param i64 f64) (result i32 i64) (call $pair (local.get 0) (local.get 1)))
  (func (export "now") (result f64) (call $now))
  (func (export "f32") (param f32) (result f32) (call $f32 (local.get 0))))`;

Deno.test("arguments and results follow the import's signature: i64 as bigint, multi-value as an array", async () => {
  const seen: unknown[] = [];
  const i = await instance(TYPES, {
    imports: {
      host: {
        pair: (a: bigint, b: number) => {
          seen.push(a, b);
          return [7, a * 2n];
        },
        now: () => 1234.5,
        f32: (x: number) => x * 2,
      },
    },
  });
  assertEquals(i.callSync("pair", 2n ** 40n, 0.25), [7, 2n ** 41n]);
  assertEquals(seen, [2n ** 40n, 0.25]);
  assertEquals(await i.call("now"), [1234.5]);
  assertEquals(i.callSync("f32", 1.5), [3]);
  await i.drop();
});

Deno.test("results that do not fit the import's type trap the guest with 5007 in the message", async () => {
  const cases: [string, unknown][] = [
    ["a string", "42"],
    ["a fraction for i32", 1.5],
    ["an array of the wrong length", [1, 2]],
    ["nothing for one result", undefined],
  ];
  for (const [what, value] of cases) {
    const i = await instance(`(module (import "h" "f" (func $f (result i32)))
      (func (export "go") (result i32) (call $f)))`, { imports: { h: { f: () => value } } });
    const e = throws(() => i.callSync("go"), 5002, "[5007] type error");
    assert(e.message.includes("host function h::f failed"), `${what}: ${e.message}`);
    await rejects(() => i.call("go"), 5002, "[5007] type error");
    await i.drop();
  }
  const big = await instance(`(module (import "h" "f" (func $f (result i64)))
    (func (export "go") (result i64) (call $f)))`, { imports: { h: { f: () => 2 ** 60 } } });
  throws(() => big.callSync("go"), 5002, "[5007]");
  await big.drop();
});

Deno.test("missing, mistyped and unusable imports are 5001 naming the import", async () => {
  const id = await wat(PLUGIN);
  await rejects(
    () => wasm.instantiate(id, { imports: { env: { abort: () => {} } } }),
    5001,
    "unknown import host::log (func (i32, i32) -> ()): no host function or module provides it",
  );
  await rejects(
    () => wasm.instantiate(id, { imports: { env: { abort: 42 as never }, host: { log: () => {} } } }),
    5001,
    "import env::abort: expected a function or an export (instance.export(name)), got a number",
  );
  await rejects(() => wasm.instantiate(id, { imports: { env: "x" as never } }), 5001, "imports.env");
  const mem = await wat(`(module (import "env" "memory" (memory 1)))`);
  await rejects(() => wasm.instantiate(mem, { imports: { env: { memory: () => {} } } }), 5001, "env::memory (memory)");
  // An import given but not needed is ignored.
  const i = await wasm.instantiate(id, {
    imports: { env: { abort: () => {}, unused: () => {} }, host: { log: () => {} }, other: { x: () => {} } },
  });
  assertEquals(await wasm.moduleImports(id), [
    { module: "env", name: "abort", kind: "func", params: ["i32", "i32", "i32", "i32"], results: [] },
    { module: "host", name: "log", kind: "func", params: ["i32", "i32"], results: [] },
  ]);
  await i.drop();
  await wasm.dropModule(id);
  await wasm.dropModule(mem);
});

const ASYNC = `(module
  (import "host" "fetch" (func $fetch (param i32) (result i32)))
  (func (export "get") (param i32) (result i32) (call $fetch (local.get 0)))
  (func (export "twice") (param i32) (result i32) (i32.add (call $fetch (local.get 0)) (call $fetch (local.get 0)))))`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("an async import suspends the guest while timers keep firing", async () => {
  const i = await instance(ASYNC, {
    imports: {
      host: {
        fetch: async (x: number) => {
          await sleep(30);
          return x + 1;
        },
      },
    },
  });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 2);
  const t0 = performance.now();
  assertEquals(await i.call("twice", 10), [22]);
  clearInterval(timer);
  assert(performance.now() - t0 >= 55, "both waits happened");
  assert(ticks >= 5, `the event loop ran during the waits (${ticks} ticks)`);
  // On the callSync path a Promise is refused.
  throws(() => i.callSync("get", 1), 5002, "[5007] type error: host function");
  await i.drop();
});

Deno.test("Promise.all of 50 calls whose imports are async", async () => {
  const id = await wat(ASYNC);
  const imports = { host: { fetch: async (x: number) => (await sleep(x % 7), x * 3) } };
  const instances = await Promise.all(Array.from({ length: 10 }, () => wasm.instantiate(id, { imports })));
  const calls = Array.from({ length: 50 }, (_, k) => instances[k % 10].call("get", k));
  assertEquals(await Promise.all(calls), Array.from({ length: 50 }, (_, k) => [k * 3]));
  for (const i of instances) await i.drop();
  await wasm.dropModule(id);
});

const REENTER = `(module
  (import "host" "cb" (func $cb (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "run") (param i32) (result i32) (call $cb (local.get 0))))`;

Deno.test("inside an import the instance can be used again: memory, callSync, call", async () => {
  const ref: { i?: wasm.Instance } = {};
  const i = ref.i = await instance(REENTER, {
    imports: {
      host: {
        cb: async (x: number) => {
          const me = ref.i!;
          me.memory.writeSync(0, new Uint8Array([x]));
          const reentered = me.call("double", x); // before the first await: re-enters at once
          const [d] = await reentered as number[];
          await sleep(1);
          // After an await the guest still waits for this function: callSync and memory re-enter it.
          const [dd] = me.callSync("double", d) as number[];
          assertEquals(me.memory.sizeSync(), 1);
          return dd + me.memory.readSync(0, 1)[0];
        },
      },
    },
  });
  assertEquals(await i.call("run", 5), [25]);
  await i.drop();
});

Deno.test("a re-entrant callSync from inside a synchronous import", async () => {
  const ref: { i?: wasm.Instance } = {};
  const i = ref.i = await instance(REENTER, {
    imports: { host: { cb: (x: number) => (ref.i!.callSync("double", x)[0] as number) + 1 } },
  });
  assertEquals(i.callSync("run", 20), [41]);
  assertEquals(await i.call("run", 1), [3]);
  await i.drop();
});

Deno.test("callSync after an import waited for a Promise: re-entry works and a Promise is refused (5007)", async () => {
  const ref: { i?: wasm.Instance } = {};
  let mode: "async" | "reenter" | "promise" = "async";
  const i = ref.i = await instance(REENTER, {
    imports: {
      host: {
        cb: (x: number) => {
          if (mode === "async") return sleep(1).then(() => x);
          if (mode === "promise") return Promise.resolve(x);
          return (ref.i!.callSync("double", x)[0] as number) + 1;
        },
      },
    },
  });
  assertEquals(await i.call("run", 4), [4]); // the guest waited for the Promise once
  mode = "reenter";
  assertEquals(i.callSync("run", 20), [41]);
  mode = "promise";
  throws(() => i.callSync("run", 1), 5002, "async host function needs `call`");
  await sleep(5); // an unhandled rejection of the refused Promise would fail the test here
  mode = "reenter";
  assertEquals(await i.call("run", 1), [3]);
  assertEquals(i.callSync("run", 2), [5]);
  await i.drop();
});

Deno.test("callSync of an instance with imports, every argument and result shape: numbers run in place, the rest by frame", async () => {
  const seen: number[] = [];
  const i = await instance(
    `(module (import "host" "f" (func $f (param i32) (result i32)))
      (func (export "twice") (param i32) (result i32) (i32.mul (call $f (local.get 0)) (i32.const 2)))
      (func (export "wide") (param i64) (result i64) (i64.extend_i32_s (call $f (i32.wrap_i64 (local.get 0)))))
      (func (export "pair") (param i32) (result i32 i32) (call $f (local.get 0)) (local.get 0)))`,
    {
      imports: {
        host: {
          f: (x: number) => {
            seen.push(x);
            if (x < 0) throw new Error("negative");
            return x + 1;
          },
        },
      },
    },
  );
  assertEquals(i.callSync("twice", 4), [10]); // numbers: one crossing, the import answered in place
  assertEquals(i.callSync("wide", 5), [6n]); // numbers in, an i64 out: not numbers, so through the call protocol
  assertEquals(i.callSync("wide", 6n), [7n]);
  assertEquals(i.callSync("pair", 7), [8, 7]);
  assertEquals(i.callSync("twice", 8), [18]); // by the index the first call resolved
  assertEquals(i.callSync("twice", types.i32(9)), [20]); // a types.* argument: by frame
  const e = throws(() => i.callSync("twice", -1), 5002, "negative");
  assertEquals((e.cause as Error).message, "negative");
  assertEquals(seen, [4, 5, 6, 7, 8, 9, -1]);
  assertEquals(await i.call("twice", 1), [4]);
  await i.drop();
});

Deno.test("a timeout expires while an async import is pending: the guest traps when it resumes", async () => {
  const i = await instance(ASYNC, {
    timeoutMs: 20,
    imports: { host: { fetch: async (x: number) => (await sleep(60), x) } },
  });
  const t0 = performance.now();
  await rejects(() => i.call("get", 1), 5012);
  assert(performance.now() - t0 >= 55, "the promise was awaited first");
  await i.drop();
});

Deno.test("calls on one instance still run one at a time, in order, across async imports", async () => {
  const order: number[] = [];
  const i = await instance(ASYNC, {
    imports: {
      host: {
        fetch: async (x: number) => {
          order.push(x);
          await sleep(5 - x);
          order.push(-x);
          return x;
        },
      },
    },
  });
  assertEquals(await Promise.all([i.call("get", 1), i.call("get", 2), i.call("get", 3)]), [[1], [2], [3]]);
  assertEquals(order, [1, -1, 2, -2, 3, -3]);
  await i.drop();
});

Deno.test("dropping an instance while its async import is pending lets the call finish, then frees it", async () => {
  let release: () => void = () => {};
  const i = await instance(ASYNC, {
    imports: { host: { fetch: (x: number) => new Promise<number>((r) => release = () => r(x * 2)) } },
  });
  const pending = i.call("twice", 5);
  await sleep(5); // the guest now waits in `fetch`
  await i.drop();
  throws(() => i.callSync("get", 1), 5005);
  release();
  await sleep(5); // the second `fetch` of `twice`
  release();
  assertEquals(await pending, [20]);
  throws(() => i.callSync("get", 1), 5005);
});

Deno.test("a start function can call JavaScript imports, sync and async, before instantiate resolves", async () => {
  const seen: number[] = [];
  const source = `(module
    (import "host" "note" (func $note (param i32)))
    (import "host" "later" (func $later (result i32)))
    (global $g (mut i32) (i32.const 0))
    (func $start (call $note (i32.const 7)) (global.set $g (call $later)))
    (start $start)
    (func (export "g") (result i32) (global.get $g)))`;
  const i = await instance(source, {
    imports: { host: { note: (n: number) => void seen.push(n), later: () => Promise.resolve(42) } },
  });
  assertEquals(seen, [7]);
  assertEquals(i.callSync("g"), [42]);
  await i.drop();
  const failing = await wat(source);
  await rejects(
    () => wasm.instantiate(failing, { imports: { host: { note: () => { throw new Error("no"); }, later: () => 1 } } }),
    5001,
    "host function host::note failed: no",
  );
});

Deno.test("hundreds of live instances with imports can all be called (each holds a fiber stack while alive)", async () => {
  const id = await wat(PLUGIN);
  const log: string[] = [];
  const live: wasm.Instance[] = [];
  for (let n = 0; n < 300; n++) {
    const ref: { i?: wasm.Instance } = {};
    ref.i = await wasm.instantiate(id, { imports: pluginImports(log, ref) });
    live.push(ref.i);
  }
  for (const [n, inst] of live.entries()) {
    inst.callSync("hello");
    assertEquals(inst.callSync("add", n, 1), [n + 1]);
    assertEquals(await inst.call("add", n, 2), [n + 2]);
  }
  assertEquals(log.length, 300);
  for (const inst of live) await inst.drop();
});

Deno.test("each instance of a churn calls its own imports: the same functions again, or new ones each time", async () => {
  const id = await wat(`(module (import "host" "inc" (func $inc (param i32) (result i32)))
    (func (export "run") (param i32) (result i32) (call $inc (local.get 0))))`);
  const shared = { host: { inc: (x: number) => x + 1 } };
  // 200 new functions (more than the dropped ones kept numbered), each dropped with its instance, with the shared
  // ones in between: every call reaches the function its instance was given.
  for (let n = 0; n < 200; n++) {
    const own = await wasm.instantiate(id, { imports: { host: { inc: (x: number) => x * 1000 + n } } });
    const again = await wasm.instantiate(id, { imports: shared });
    assertEquals([own.callSync("run", 7), again.callSync("run", 7)], [[7000 + n], [8]]);
    await own.drop();
    await again.drop();
  }
});

Deno.test("an instance keeps its imports while many instances with other imports objects come and go", async () => {
  const id = await wat(`(module (import "host" "inc" (func $inc (param i32) (result i32)))
    (func (export "run") (param i32) (result i32) (call $inc (local.get 0))))`);
  const imports = { host: { inc: (x: number) => x + 1 } };
  const first = await wasm.instantiate(id, { imports });
  const second = await wasm.instantiate(id, { imports });
  await second.drop(); // the functions its store shared with `first` stay numbered for `first`
  // More new functions than the dropped ones kept numbered: none of them takes `first`'s number.
  for (let n = 0; n < 100; n++) {
    const other = await wasm.instantiate(id, { imports: { host: { inc: (x: number) => x * 1000 + n } } });
    assertEquals(other.callSync("run", 7), [7000 + n]);
    await other.drop();
  }
  assertEquals([first.callSync("run", 7), await first.call("run", 8)], [[8], [9]]);
  await first.drop();
  const again = await wasm.instantiate(id, { imports });
  assertEquals(again.callSync("run", 1), [2]);
  await again.drop();
});

Deno.test("the same imports object, changed between instantiates, gives each instance what it held then", async () => {
  const id = await wat(`(module (import "host" "f" (func $f (result i32))) (func (export "run") (result i32) (call $f)))`);
  for (const syncImports of [false, true]) {
    const host: Record<string, unknown> = { f: () => 1 };
    const imports = { host } as unknown as wasm.Imports;
    const modules = imports as unknown as Record<string, Record<string, unknown>>;
    const first = await wasm.instantiate(id, { imports, syncImports });
    const again = await wasm.instantiate(id, { imports, syncImports });
    host.f = () => 2; // a function replaced
    const replaced = await wasm.instantiate(id, { imports, syncImports });
    modules.host = { f: () => 3 }; // a module replaced
    const moduleReplaced = await wasm.instantiate(id, { imports, syncImports });
    delete modules.host.f; // a function removed
    await rejects(() => wasm.instantiate(id, { imports, syncImports }), 5001);
    modules.host.f = 4; // not a function
    await rejects(() => wasm.instantiate(id, { imports, syncImports }), 5001);
    modules.host.f = () => 5;
    const restored = await wasm.instantiate(id, { imports, syncImports });
    const all = [first, again, replaced, moduleReplaced, restored];
    assertEquals(all.map((i) => i.callSync("run")), [[1], [1], [2], [3], [5]]);
    for (const i of all) await i.drop();
  }
});

/** `count(n, spin)`: calls `host.inc` n times, spinning `spin` iterations between calls (a long call). */
const LONG_WITH_IMPORTS = `(module
  (import "host" "inc" (func $inc (param i32) (result i32)))
  (func (export "count") (param $n i32) (param $spin i32) (result i32) (local $acc i32) (local $k i32)
    (block $done (loop $calls
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (call $inc (local.get $acc)))
      (local.set $k (local.get $spin))
      (block $spun (loop $spin_loop
        (br_if $spun (i32.eqz (local.get $k)))
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (br $spin_loop)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $calls)))
    local.get $acc))`;

Deno.test("a long call keeps calling its imports across time slices and after it moves off the thread", async () => {
  const seen: number[] = [];
  const i = await instance(LONG_WITH_IMPORTS, {
    imports: { host: { inc: (x: number) => (seen.push(x), x + 1) } },
  });
  // Tens of ms of spinning: more than the slices a call runs on this thread (8 by default), so its later imports
  // are answered as host steps of a call finished on another thread, its earlier ones in place.
  const spin = 600_000;
  assertEquals(await i.call("count", 60, spin), [60]);
  assertEquals(seen, Array.from({ length: 60 }, (_, k) => k));
  // And the same call with a Promise-returning import now and then.
  seen.length = 0;
  const j = await instance(LONG_WITH_IMPORTS, {
    imports: { host: { inc: (x: number) => (seen.push(x), x % 7 === 0 ? Promise.resolve(x + 1) : x + 1) } },
  });
  assertEquals(await j.call("count", 60, spin), [60]);
  assertEquals(seen.length, 60);
  await i.drop();
  await j.drop();
});

Deno.test("a callSync made inside an import cannot wait for another import's Promise: 5007, the instance lives on", async () => {
  const ref: { i?: wasm.Instance } = {};
  let inner: unknown = null;
  const i = ref.i = await instance(REENTER, {
    imports: {
      host: {
        cb: (x: number) => {
          if (x > 0) {
            try {
              ref.i!.callSync("run", -1); // its import answers with a Promise (which rejects, unawaited)
            } catch (e) {
              inner = e;
            }
            return x;
          }
          return x < 0 ? Promise.reject(new Error("never awaited")) : Promise.resolve(1);
        },
      },
    },
  });
  assertEquals(await i.call("run", 5), [5]);
  await sleep(5); // an unhandled rejection of the abandoned Promise would fail the test here
  assert(inner instanceof wasm.WasmError, `${inner}`);
  assertEquals((inner as wasm.WasmError).code, 5007);
  assert((inner as wasm.WasmError).message.includes("async host function needs `call`"), `${inner}`);
  assertEquals(await i.call("run", 0), [1]);
  assertEquals(i.callSync("double", 4), [8]);
  await i.drop();
});

Deno.test("an import that exhausts JavaScript's stack fails the call with 5002 (cause: the RangeError); the instance lives on", async () => {
  const recurse = (n: number): number => recurse(n + 1) + 1;
  const i = await instance(REENTER, { imports: { host: { cb: (x: number) => (x === 0 ? recurse(0) : x) } } });
  const e = await rejects(() => i.call("run", 0), 5002, "Maximum call stack size exceeded");
  assert((e as { cause?: unknown }).cause instanceof RangeError, `${(e as { cause?: unknown }).cause}`);
  throws(() => i.callSync("run", 0), 5002, "Maximum call stack size exceeded");
  assertEquals(await i.call("run", 7), [7]);
  assertEquals(i.callSync("run", 8), [8]);
  await i.drop();
});

Deno.test("a call made inside an import, while later calls of the instance are queued, re-enters instead of queueing", async () => {
  const ref: { i?: wasm.Instance } = {};
  const i = ref.i = await instance(REENTER, {
    imports: {
      host: {
        cb: async (x: number) => {
          if (x === 1) {
            await sleep(10); // the first call waits here; the second is queued behind it meanwhile
            return 1;
          }
          const [d] = await ref.i!.call("double", x) as number[]; // must not wait for the queue it is in
          return d + 1;
        },
      },
    },
  });
  const first = i.call("run", 1);
  const second = i.call("run", 20); // queued: its import runs in place once the first call has ended
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise((_, reject) => timer = setTimeout(() => reject(new Error("deadlock")), 2000));
  try {
    assertEquals(await Promise.race([Promise.all([first, second]), timeout]), [[1], [41]]);
  } finally {
    clearTimeout(timer);
  }
  await i.drop();
});
