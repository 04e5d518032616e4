// The examples of the Forge `runtime:wasm` docs, run as written where they are right, and corrected (with the
// reason next to the change) where they are not. `import ... from "runtime:wasm"` becomes `../mod.ts`; the
// modules the docs assume (module.wasm with `add`, image_process.wasm, ...) are small WAT modules defined here.
// Text-format modules are accepted by compile()/compileFile() just like binaries.

import * as wasm from "../mod.ts";
import { compile, compileFile, dropModule, instantiate, types } from "../mod.ts";
import { assert, assertEquals, fixturePath, rejects, str, tempDir } from "./helpers.ts";

const enc = new TextEncoder();

/** Run `f` inside a fresh temporary working directory (the docs use relative paths like ./app-data). */
async function inTempCwd<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await tempDir();
  const cwd = Deno.cwd();
  Deno.chdir(dir.path);
  try {
    return await f(dir.path);
  } finally {
    Deno.chdir(cwd);
    await dir.cleanup();
  }
}

/** The module most examples call: add, divmod, process, process_string, and friends. */
const EXAMPLE = `(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "divmod") (param i32 i32) (result i32 i32)
    (i32.div_s (local.get 0) (local.get 1)) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "process") (param i32 f64) (result f64)
    (f64.add (f64.convert_i32_s (local.get 0)) (local.get 1)))
  (func (export "add_i32") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "add_i64") (param i64 i64) (result i64) local.get 0 local.get 1 i64.add)
  (func (export "compute") (param f32 f64) (result f64) (f64.add (f64.promote_f32 (local.get 0)) (local.get 1)))
  (func (export "process_i32") (param i32) (result i32) local.get 0)
  (func (export "process_i64") (param i64) (result i64) local.get 0)
  (func (export "process_f64") (param f64) (result f64) local.get 0)
  ;; Uppercase the ASCII string at (ptr, len) into 1024.. and return its length.
  (func (export "process_string") (param $ptr i32) (param $len i32) (result i32)
    (local $i i32) (local $c i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
      (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
        (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))
      (i32.store8 (i32.add (i32.const 1024) (local.get $i)) (local.get $c))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    local.get $len)
  (func (export "process_item") (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
  ;; Sum of squares of start..start+count.
  (func (export "process_batch") (param $start i32) (param $count i32) (result i32)
    (local $i i32) (local $sum i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $sum (i32.add (local.get $sum)
        (i32.mul (i32.add (local.get $start) (local.get $i)) (i32.add (local.get $start) (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    local.get $sum))`;

const WASI_TOOL = fixturePath("plugins/wasi_tool.wasm");

Deno.test("docs: Quick Start", async () => {
  await inTempCwd(async () => {
    await Deno.writeTextFile("module.wasm", EXAMPLE);
    // --- as documented ---
    const wasmBytes = await Deno.readFile("module.wasm");
    const moduleId = await wasm.compile(wasmBytes);
    const instance = await wasm.instantiate(moduleId);
    const [result] = await instance.call("add", 10, 32);
    assertEquals(result, 42); // console.log("Result:", result); // 42
    await instance.drop();
    await wasm.dropModule(moduleId);
  });
});

Deno.test("docs: Module Compilation (bytes and file)", async () => {
  await inTempCwd(async () => {
    await Deno.writeTextFile("module.wasm", EXAMPLE);
    const wasmBytes = await Deno.readFile("module.wasm");
    const moduleId = await compile(wasmBytes);
    const moduleId2 = await compileFile("./module.wasm"); // relative to the process's working directory
    assert(moduleId !== moduleId2);
    const inst = await instantiate(moduleId2);
    assertEquals(await inst.call("add", 1, 1), [2]);
    await inst.drop();
    await dropModule(moduleId);
    await dropModule(moduleId2);
  });
});

Deno.test("docs: Instance Creation, basic and with WASI configuration", async () => {
  await inTempCwd(async () => {
    const moduleId = await compileFile(WASI_TOOL);
    const instance = await instantiate(moduleId);
    // Correction: the docs preopen "./app-data" without creating it; a missing host directory is WasiError 5010.
    await rejects(() => instantiate(moduleId, { preopens: { "/data": "./app-data" } }), 5010, "app-data");
    await Deno.mkdir("app-data");
    await Deno.writeTextFile("app-data/settings.txt", "theme=dark\n");
    const instance2 = await instantiate(moduleId, {
      preopens: { "/data": "./app-data" },
      env: { "LOG_LEVEL": "debug" },
      args: ["--verbose"],
      inheritStdout: true,
    });
    // wasi_tool does not know --verbose: usage on (discarded) stderr, exit 2. Same options, other args, captured:
    await instance2.call("_start");
    assertEquals(instance2.exitCode, 2);
    const check = await instantiate(moduleId, {
      preopens: { "/data": "./app-data" },
      env: { "LOG_LEVEL": "debug" },
      args: ["cat", "/data/settings.txt"],
      captureStdout: true,
    });
    await check.call("_start");
    assertEquals(str(check.stdout()), "theme=dark\n");
    for (const i of [instance, instance2, check]) await i.drop();
    await dropModule(moduleId);
  });
});

Deno.test("docs: Function Calls (automatic conversion, multiple results, explicit types)", async () => {
  const instance = await instantiate(await compile(enc.encode(EXAMPLE)));
  const [sum] = await instance.call("add", 10, 32);
  assertEquals(sum, 42);
  const [quotient, remainder] = await instance.call("divmod", 42, 5);
  assertEquals([quotient, remainder], [8, 2]);
  const [result] = await instance.call("process", types.i32(42), types.f64(3.14159));
  assertEquals(result, 45.14159);
  await instance.drop();
});

Deno.test("docs: Memory Access", async () => {
  const instance = await instantiate(await compile(enc.encode(EXAMPLE)));
  const text = "Hello, WASM!";
  const bytes = new TextEncoder().encode(text);
  await instance.memory.write(0, bytes);
  await instance.call("process_string", 0, bytes.length);
  const resultBytes = await instance.memory.read(1024, 256);
  const result = new TextDecoder().decode(resultBytes);
  // Correction: decoding all 256 bytes keeps the trailing NULs; read the length the function returns instead.
  assertEquals(result, "HELLO, WASM!" + "\0".repeat(256 - 12));
  const [len] = await instance.call("process_string", 0, bytes.length) as number[];
  assertEquals(new TextDecoder().decode(await instance.memory.read(1024, len)), "HELLO, WASM!");

  const pages = await instance.memory.size();
  assertEquals(`Memory: ${pages * 64}KB`, "Memory: 64KB");
  if (pages < 16) {
    await instance.memory.grow(16 - pages);
  }
  assertEquals(await instance.memory.size(), 16);
  await instance.drop();
});

Deno.test("docs: WASI Configuration (preopens, environment, arguments, standard I/O)", async () => {
  await inTempCwd(async () => {
    const moduleId = await compileFile(WASI_TOOL);
    for (const d of ["app-data", "config", "temp-storage"]) await Deno.mkdir(d);
    await Deno.writeTextFile("config/app.toml", "name = 'demo'\n");
    const preopens = {
      "/data": "./app-data", // Guest /data -> Host ./app-data
      "/config": "./config", // Guest /config -> Host ./config
      "/tmp": "./temp-storage", // Guest /tmp -> Host ./temp-storage
    };
    const run = async (args: string[], extra: wasm.InstanceOptions = {}) => {
      const inst = await instantiate(moduleId, { preopens, ...extra, args, captureStdout: true });
      await inst.call("_start");
      const out = { code: inst.exitCode, stdout: str(inst.stdout()) };
      await inst.drop();
      return out;
    };
    // The module can access these directories...
    assertEquals(await run(["cat", "/config/app.toml"]), { code: 0, stdout: "name = 'demo'\n" });
    assertEquals((await run(["write", "/tmp/scratch", "x"])).code, 0);
    assertEquals(await Deno.readTextFile("temp-storage/scratch"), "x");
    // ...but CANNOT access other file system locations.
    assertEquals((await run(["cat", "/etc/passwd"])).code, 1);

    const env = { "DATABASE_URL": "sqlite:///data/app.db", "API_KEY": "secret-key-here", "LOG_LEVEL": "debug" };
    assertEquals((await run(["env", "API_KEY"], { env })).stdout, "secret-key-here\n");

    const instance = await instantiate(moduleId, { args: ["--verbose", "--port", "3000", "--workers", "4"] });
    await instance.drop();
    // Arguments arrive after argv[0] (the program name, "main.wasm" by default):
    assertEquals(
      (await run(["echo", "--verbose", "--port", "3000", "--workers", "4"])).stdout,
      "--verbose --port 3000 --workers 4\n",
    );

    const interactive = await instantiate(moduleId, { inheritStdin: true, inheritStdout: true, inheritStderr: true });
    await interactive.drop(); // created as documented; running it would read this test runner's stdin
    await dropModule(moduleId);
  });
});

Deno.test("docs: Multiple Instances (with the missing dropModule import added)", async () => {
  // Correction: the docs import only { compile, instantiate } and then call dropModule (a ReferenceError).
  // process_batch reads WORKER_ID from the WASI environment: worker N, batch B → N * 100 + B.
  const wasmBytes = enc.encode(`(module
    (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "process_batch") (param $batch i32) (result i32)
      (drop (call $environ_get (i32.const 0) (i32.const 64)))   ;; "WORKER_ID=N" is written at 64
      (i32.add (i32.mul (i32.sub (i32.load8_u (i32.const 74)) (i32.const 48)) (i32.const 100)) (local.get $batch))))`);
  const batchId = 7;
  const moduleId = await compile(wasmBytes);
  const workers = await Promise.all([
    instantiate(moduleId, { env: { "WORKER_ID": "1" } }),
    instantiate(moduleId, { env: { "WORKER_ID": "2" } }),
    instantiate(moduleId, { env: { "WORKER_ID": "3" } }),
  ]);
  const results = await Promise.all(workers.map((worker) => worker.call("process_batch", batchId)));
  assertEquals(results, [[107], [207], [307]]);
  await Promise.all(workers.map((w) => w.drop()));
  await dropModule(moduleId);
});

Deno.test("docs: Type System — conversion follows the export's signature, not the value", async () => {
  const instance = await instantiate(await compile(enc.encode(EXAMPLE)));
  // Correction: the docs say a value picks its type ("integer outside i32 range -> i64", "float -> f64"). Here
  // the export's parameter type decides, and a lossy conversion is a TypeError (5007), never silent.
  assertEquals(await instance.call("process_i32", 42), [42]);
  assertEquals(await instance.call("process_i64", 9007199254740991), [9007199254740991n]);
  assertEquals(await instance.call("process_f64", 3.14159), [3.14159]);
  assertEquals(await instance.call("process_i64", 9007199254740991n), [9007199254740991n]);
  assertEquals(await instance.call("process_f64", 42), [42]); // an integer for an f64 parameter is fine
  await rejects(() => instance.call("process_i32", 9007199254740991), 5007, "expected i32");
  await rejects(() => instance.call("process_i64", 3.14159), 5007, "expected i64");
  await rejects(() => instance.call("process_f64", 9007199254740991n), 5007, "got BigInt");

  // Explicit Type Control, as documented.
  const [result] = await instance.call("add_i32", types.i32(10), types.i32(32));
  const [largeResult] = await instance.call("add_i64", types.i64(9007199254740991n), types.i64(1n));
  const [floatResult] = await instance.call("compute", types.f32(3.14159), types.f64(2.71828));
  assertEquals(result, 42);
  assertEquals(largeResult, 9007199254740992n);
  assertEquals(floatResult, Math.fround(3.14159) + 2.71828);
  await instance.drop();
});

Deno.test("docs: Export Introspection", async () => {
  const instance = await instantiate(await compile(enc.encode(EXAMPLE)));
  const exports = await instance.getExports();
  const functions = exports.filter((e) => e.kind === "func");
  assertEquals(functions.length, 12);
  assert(functions.map((f) => f.name).includes("divmod"));
  const memory = exports.find((e) => e.kind === "memory");
  assertEquals(memory?.name, "memory");
  const hasAdd = exports.some((e) => e.kind === "func" && e.name === "add");
  assert(hasAdd);
  if (hasAdd) {
    const [result] = await instance.call("add", 10, 32);
    assertEquals(result, 42);
  }
  assertEquals(exports.find((e) => e.name === "divmod"), {
    name: "divmod",
    kind: "func",
    params: ["i32", "i32"],
    results: ["i32", "i32"],
  });
  await instance.drop();
});

Deno.test("docs: Error Handling examples, with the codes they name", async () => {
  const instance = await instantiate(await compile(enc.encode(EXAMPLE)));
  const invalidBytes = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00]);
  let error = await rejects(() => compile(invalidBytes), 5000); // Error 5000: Invalid WASM bytecode
  assertEquals(error.code, wasm.ErrorCode.CompileError);
  error = await rejects(() => instance.call("nonexistent"), 5003); // Error 5003: Export not found
  assertEquals(error.name, "ExportNotFound");
  error = await rejects(() => instance.memory.read(999999999, 1024), 5006); // Error 5006: Out of bounds
  assert(error instanceof wasm.WasmError);
  await instance.drop();
});

Deno.test("docs: WASI permission errors — /etc is allowed by default; preopenRoots makes it 5009", async () => {
  // By default only the filesystem root is refused, so the docs' { "/sensitive": "/etc" } instantiates. An app
  // that wants "May be denied" configures allowed roots before first use: shown in a fresh process, because the
  // runtime of this test process already exists.
  const moduleId = await compileFile(WASI_TOOL);
  const allowed = await instantiate(moduleId, { preopens: { "/sensitive": "/etc" } });
  await allowed.drop();
  await dropModule(moduleId);

  const dir = await tempDir();
  try {
    const mod = new URL("../mod.ts", import.meta.url).href;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--no-check",
        `
        import { configure, compileFile, instantiate, WasmError } from ${JSON.stringify(mod)};
        const applied = await configure({ preopenRoots: [${JSON.stringify(dir.path)}], noCache: true });
        const moduleId = await compileFile(${JSON.stringify(WASI_TOOL)});
        const ok = await instantiate(moduleId, { preopens: { "/data": ${JSON.stringify(dir.path)} } });
        try {
          await instantiate(moduleId, { preopens: { "/sensitive": "/etc" } });
          console.log("allowed?!");
        } catch (error) {
          console.log(JSON.stringify({ applied, code: error.code, wasm: error instanceof WasmError, message: error.message }));
        }
        console.log(await configure({}));`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 0, str(out.stderr));
    const [line, second] = str(out.stdout).trim().split("\n");
    const r = JSON.parse(line);
    assertEquals([r.applied, r.code, r.wasm], [true, 5009, true]);
    assert(r.message.includes("outside the allowed roots"), r.message);
    assertEquals(second, "false", "configure after first use changes nothing");
  } finally {
    await dir.cleanup();
  }
});

Deno.test("docs: Performance Tips (compile once, batch memory, batch calls)", async () => {
  const wasmBytes = enc.encode(EXAMPLE);
  // ✅ GOOD: Compile once, reuse
  const moduleId = await compile(wasmBytes);
  const instances = await Promise.all(Array(10).fill(null).map(() => instantiate(moduleId)));
  assertEquals(instances.length, 10);
  const instance = instances[0];

  await instance.memory.write(0, Uint8Array.from({ length: 1000 }, (_, i) => i % 251));
  // ✅ GOOD: Single large read (the per-byte loop gives the same bytes, 1000 crossings later)
  const allBytes = await instance.memory.read(0, 1000);
  const processed: number[] = [];
  for (let i = 0; i < 1000; i++) processed.push(allBytes[i]);
  for (let i = 0; i < 1000; i += 97) assertEquals((await instance.memory.read(i, 1))[0], processed[i]);

  // ✅ GOOD: Batch processing in WASM — same answer as 1000 calls of process_item
  let slow = 0;
  for (let i = 0; i < 1000; i++) slow = (slow + ((await instance.call("process_item", i))[0] as number)) | 0;
  const [fast] = await instance.call("process_batch", 0, 1000);
  assertEquals(fast, slow);
  await Promise.all(instances.map((i) => i.drop()));
  await dropModule(moduleId);
});

Deno.test("docs: Common Patterns — Data Processing Pipeline", async () => {
  await inTempCwd(async () => {
    const input = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);
    await Deno.writeFile("input.png", input);
    await Deno.writeTextFile(
      "image_process.wasm",
      `(module (memory (export "memory") 1)
      ;; apply_filter(src, len, dst): invert every byte
      (func (export "apply_filter") (param $src i32) (param $len i32) (param $dst i32)
        (local $i i32)
        (block $done (loop $l
          (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
          (i32.store8 (i32.add (local.get $dst) (local.get $i))
            (i32.xor (i32.load8_u (i32.add (local.get $src) (local.get $i))) (i32.const 255)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))))`,
    );
    // --- as documented, with one correction ---
    const moduleId = await compile(await Deno.readFile("image_process.wasm"));
    const instance = await instantiate(moduleId);
    const imageData = await Deno.readFile("input.png");
    // Correction: the docs write at 0 and the result at 1024 without checking memory: an image over ~1 KB
    // overlaps its own output, and one larger than memory fails with 5006. Put the output after the input and
    // grow memory to fit both.
    const outAt = imageData.length;
    const needed = Math.ceil((outAt + imageData.length) / 65536);
    const pages = await instance.memory.size();
    if (needed > pages) await instance.memory.grow(needed - pages);
    await instance.memory.write(0, imageData);
    await instance.call("apply_filter", 0, imageData.length, outAt);
    const processed = await instance.memory.read(outAt, imageData.length);
    await Deno.writeFile("output.png", processed);
    await instance.drop();
    await dropModule(moduleId);
    assertEquals(await Deno.readFile("output.png"), input.map((b) => b ^ 0xff));
  });
});

Deno.test("docs: Common Patterns — Plugin System", async () => {
  await inTempCwd(async () => {
    await Deno.mkdir("plugins");
    await Deno.writeTextFile(
      "plugins/double.wasm",
      `(module (func (export "execute") (param i32) (result i32)
      (i32.mul (local.get 0) (i32.const 2))))`,
    );
    await Deno.writeTextFile(
      "plugins/square.wasm",
      `(module (func (export "execute") (param i32) (result i32)
      (i32.mul (local.get 0) (local.get 0))))`,
    );
    await Deno.writeTextFile("plugins/README.txt", "not a plugin");
    // Correction: the docs preopen ./plugin-data without creating it (5010 for WASI plugins).
    await Deno.mkdir("plugin-data");
    const taskId = 21;
    // --- as documented ---
    const pluginFiles = await Array.fromAsync(Deno.readDir("./plugins"));
    const plugins = [];
    for (const file of pluginFiles.filter((f) => f.name.endsWith(".wasm"))) {
      const moduleId = await compileFile(`./plugins/${file.name}`);
      const instance = await instantiate(moduleId, {
        preopens: { "/data": "./plugin-data" },
      });
      plugins.push({ name: file.name, instance });
    }
    const results: Record<string, wasm.WasmResult> = {};
    for (const plugin of plugins) {
      const [result] = await plugin.instance.call("execute", taskId);
      results[plugin.name] = result; // console.log(`Plugin ${plugin.name} result:`, result);
    }
    assertEquals(results, { "double.wasm": 42, "square.wasm": 441 });
    for (const plugin of plugins) await plugin.instance.drop();
  });
});

/**
 * The docs' WasmWorkerPool, corrected: its constructor uses `await` (a SyntaxError: constructors cannot be async),
 * so instances are created in a static async factory and handed to a private constructor. Waiting for a free
 * worker uses a queue of resolvers instead of polling every 10 ms.
 */
class WasmWorkerPool {
  private readonly available: wasm.Instance[];
  private readonly waiting: ((w: wasm.Instance) => void)[] = [];

  private constructor(private readonly workers: wasm.Instance[]) {
    this.available = [...workers];
  }

  static async create(moduleId: wasm.ModuleId, size: number): Promise<WasmWorkerPool> {
    const workers = await Promise.all(Array.from({ length: size }, () => instantiate(moduleId)));
    return new WasmWorkerPool(workers);
  }

  async execute(funcName: string, ...args: wasm.WasmArg[]): Promise<wasm.WasmResult[]> {
    const worker = this.available.pop() ?? await new Promise<wasm.Instance>((r) => this.waiting.push(r));
    try {
      return await worker.call(funcName, ...args);
    } finally {
      const next = this.waiting.shift();
      if (next) next(worker);
      else this.available.push(worker);
    }
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.drop()));
  }
}

Deno.test("docs: Common Patterns — Worker Pool (static async factory instead of await in a constructor)", async () => {
  const wasmBytes = enc.encode(`(module (func (export "process") (param i32) (result i32)
    (i32.add (i32.mul (local.get 0) (i32.const 10)) (i32.const 1))))`);
  const moduleId = await compile(wasmBytes);
  const pool = await WasmWorkerPool.create(moduleId, 4); // was: new WasmWorkerPool(moduleId, 4)
  const results = await Promise.all([
    pool.execute("process", 1),
    pool.execute("process", 2),
    pool.execute("process", 3),
  ]);
  assertEquals(results, [[11], [21], [31]]);
  // More tasks than workers: the rest wait for a free worker.
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.execute("process", i)));
  assertEquals(many, Array.from({ length: 20 }, (_, i) => [i * 10 + 1]));
  await pool.cleanup();
  await dropModule(moduleId);
});

Deno.test("docs: Pitfall 1 — dropping the module before its instances is safe here", async () => {
  const moduleId = await compile(enc.encode(EXAMPLE));
  const instance = await instantiate(moduleId);
  // The docs' "❌ ERROR" order. Correction: in this runtime an instance keeps its compiled code alive, so it
  // stays valid after dropModule; only the module handle becomes invalid (5004).
  await dropModule(moduleId);
  assertEquals(await instance.call("add", 2, 3), [5]);
  await instance.drop();
  await rejects(() => dropModule(moduleId), 5004);
  // The "✅ CORRECT" order works as well.
  const moduleId2 = await compile(enc.encode(EXAMPLE));
  const instance2 = await instantiate(moduleId2);
  await instance2.drop();
  await dropModule(moduleId2);
});

Deno.test("docs: Pitfall 2 — large integers: refused with 5007 instead of silently rounded", async () => {
  const instance = await instantiate(await compile(enc.encode(EXAMPLE)));
  // Correction: the docs declare `const [result]` twice in one scope (a SyntaxError); separate names here.
  // ❌ 2^53 as a number: not silently rounded, a TypeError that says to use a BigInt.
  await rejects(() => instance.call("process_i64", 9007199254740992), 5007, "pass a BigInt");
  // ✅ BigInt (typed or not) is exact.
  const [result] = await instance.call("process_i64", types.i64(9007199254740992n));
  assertEquals(result, 9007199254740992n);
  const [result2] = await instance.call("process_i64", 9007199254740993n);
  assertEquals(result2, 9007199254740993n);
  await instance.drop();
});

Deno.test("docs: Pitfall 3 — memory growth can fail: 5006 at the module maximum, 5013 at maxMemoryBytes", async () => {
  const moduleId = await compile(enc.encode(`(module (memory (export "memory") 1 100))`));
  const instance = await instantiate(moduleId);
  await rejects(() => instance.memory.grow(1000), 5006); // "May fail!"
  // ✅ Handle growth failure (the docs leave pagesNeeded undefined)
  const pagesNeeded = 10;
  const oldSize = await instance.memory.grow(pagesNeeded);
  assertEquals(oldSize, 1); // `Grew from ${oldSize} pages`
  const capped = await instantiate(moduleId, { maxMemoryBytes: 4 * 65536 });
  await rejects(() => capped.memory.grow(pagesNeeded), 5013);
  await instance.drop();
  await capped.drop();
  await dropModule(moduleId);
});

Deno.test('docs: Pitfall 4 — { "/": "/" } is refused (5009); minimal preopens work', async () => {
  await inTempCwd(async () => {
    const moduleId = await compileFile(WASI_TOOL);
    await rejects(() => instantiate(moduleId, { preopens: { "/": "/" } }), 5009);
    await Deno.mkdir("app-data");
    await Deno.mkdir("temp-storage");
    const inst = await instantiate(moduleId, { preopens: { "/data": "./app-data", "/tmp": "./temp-storage" } });
    await inst.drop();
    await dropModule(moduleId);
  });
});
