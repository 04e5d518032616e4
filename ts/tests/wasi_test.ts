// WASI through instantiate options: args, env, preopens (read-write and read-only), stdin, captured and inherited
// stdio, exit statuses, and the fuel / timeout limits, with fixtures/plugins/wasi_tool.wasm.

import * as wasm from "../mod.ts";
import { assert, assertEquals, fixtureModule, instance, rejects, str, tempDir, throws } from "./helpers.ts";

const TOOL = "plugins/wasi_tool.wasm";

/** Run wasi_tool with `args` (argv[0] is added by the runtime) and return its outcome. */
async function tool(args: string[], options: wasm.InstanceOptions = {}) {
  const inst = await wasm.instantiate(await fixtureModule(TOOL), {
    captureStdout: true,
    captureStderr: true,
    ...options,
    args,
  });
  try {
    assertEquals(inst.exitCode, null, "no exit status before running");
    const results = await inst.call("_start");
    assertEquals(results, []);
    return { code: inst.exitCode, stdout: str(inst.stdout()), stderr: str(inst.stderr()) };
  } finally {
    await inst.drop();
  }
}

Deno.test("no args: prints hello, exit status 0", async () => {
  assertEquals(await tool([]), { code: 0, stdout: "hello from wasi\n", stderr: "" });
});

Deno.test("args reach argv after the program name", async () => {
  assertEquals((await tool(["echo", "A", "B"])).stdout, "A B\n");
  assertEquals((await tool(["echo", "with space", "ünïcödé"])).stdout, "with space ünïcödé\n");
  assertEquals((await tool(["echo"])).stdout, "\n");
  assertEquals((await tool(["frobnicate"])).code, 2);
});

Deno.test("env: set variables are visible; unset ones are not (exit 3)", async () => {
  const env = { LOG_LEVEL: "debug", DATABASE_URL: "sqlite:///data/app.db", EMPTY: "" };
  assertEquals(await tool(["env", "LOG_LEVEL"], { env }), { code: 0, stdout: "debug\n", stderr: "" });
  assertEquals((await tool(["env", "DATABASE_URL"], { env })).stdout, "sqlite:///data/app.db\n");
  assertEquals((await tool(["env", "EMPTY"], { env })).stdout, "\n");
  assertEquals((await tool(["env", "HOME"], { env })).code, 3, "the host environment is not inherited");
  await rejects(() => tool(["env", "X"], { env: { "A=B": "1" } }), 5010, "invalid environment variable");
});

Deno.test("exit N is an exit status, not an error (including exit 0)", async () => {
  assertEquals((await tool(["exit", "7"])).code, 7);
  assertEquals((await tool(["exit", "0"])).code, 0);
  assertEquals((await tool(["exit", "125"])).code, 125);
  // wasmtime-wasi accepts statuses 0..126 only; a larger one is a trap (5002), not a status.
  await rejects(() => tool(["exit", "200"]), 5002, "invalid exit status");
  // callSync("_start") too.
  const inst = await wasm.instantiate(await fixtureModule(TOOL), { args: ["exit", "42"] });
  assertEquals(inst.callSync("_start"), []);
  assertEquals(inst.exitCode, 42);
  await inst.drop();
});

Deno.test("stdin bytes (or text) are the guest's stdin; stderr can be captured separately", async () => {
  assertEquals((await tool(["stdin"], { stdin: "hello, stdin!" })).stdout, "HELLO, STDIN!");
  assertEquals((await tool(["stdin"], { stdin: new Uint8Array([0x61, 0x62, 0x0a]) })).stdout, "AB\n");
  assertEquals((await tool(["stdin"])).stdout, "", "no stdin option: end of file at once");
  assertEquals(await tool(["stderr", "oops"]), { code: 0, stdout: "", stderr: "oops\n" });
  // Without capture, output is discarded and stdout() is empty.
  const inst = await wasm.instantiate(await fixtureModule(TOOL), { args: ["echo", "gone"] });
  await inst.call("_start");
  assertEquals(inst.stdout(), new Uint8Array(0));
  await inst.drop();
});

Deno.test("preopens: read, write and list files under the guest path; read-only preopens refuse writes", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir.path}/in.txt`, "file contents\n");
    await Deno.mkdir(`${dir.path}/sub`);
    const preopens = { "/data": dir.path };
    assertEquals((await tool(["cat", "/data/in.txt"], { preopens })).stdout, "file contents\n");
    assertEquals((await tool(["write", "/data/out.txt", "written by wasm"], { preopens })).code, 0);
    assertEquals(await Deno.readTextFile(`${dir.path}/out.txt`), "written by wasm");
    assertEquals((await tool(["ls", "/data"], { preopens })).stdout, "in.txt\nout.txt\nsub\n");

    const ro = await tool(["write", "/data/nope.txt", "x"], { readonlyPreopens: preopens });
    assertEquals(ro.code, 1);
    assert(ro.stderr.length > 0, "a message on stderr");
    assertEquals(await exists(`${dir.path}/nope.txt`), false, "nothing written through a read-only preopen");
    assertEquals((await tool(["cat", "/data/in.txt"], { readonlyPreopens: preopens })).stdout, "file contents\n");

    // Nothing outside the preopens is visible.
    assertEquals((await tool(["cat", "/etc/hostname"], { preopens })).code, 1);
    assertEquals((await tool(["cat", "/data/../../etc/hostname"], { preopens })).code, 1);
    assertEquals((await tool(["cat", "/data/in.txt"])).code, 1, "no preopens, no files");
  } finally {
    await dir.cleanup();
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("preopen errors: / is PermissionDenied 5009, a missing directory or a file is WasiError 5010", async () => {
  const m = await fixtureModule(TOOL);
  await rejects(() => wasm.instantiate(m, { preopens: { "/": "/" } }), 5009, "root");
  await rejects(() => wasm.instantiate(m, { preopens: { "/data": "/nonexistent/ext_wasm" } }), 5010);
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir.path}/f`, "");
    await rejects(() => wasm.instantiate(m, { preopens: { "/f": `${dir.path}/f` } }), 5010, "not a directory");
  } finally {
    await dir.cleanup();
  }
});

Deno.test("option errors: exclusive stdio choices are 5010, unknown options and bad values 5007", async () => {
  const m = await fixtureModule(TOOL);
  await rejects(() => wasm.instantiate(m, { inheritStdout: true, captureStdout: true }), 5010, "exclusive");
  await rejects(() => wasm.instantiate(m, { inheritStderr: true, captureStderr: true }), 5010);
  await rejects(() => wasm.instantiate(m, { inheritStdin: true, stdin: "x" }), 5010);
  // deno-lint-ignore no-explicit-any
  await rejects(() => wasm.instantiate(m, { preopen: {} } as any), 5007, "unknown instance option `preopen`");
  // deno-lint-ignore no-explicit-any
  await rejects(() => wasm.instantiate(m, { args: [1] as any }), 5007, "invalid instance options");
  await rejects(() => wasm.instantiate(m, { timeoutMs: 0 }), 5007, "timeoutMs");
  await rejects(() => wasm.instantiate(m, { timeoutMs: NaN }), 5007);
  await rejects(() => wasm.instantiate(m, { fuel: -1 }), 5007, "fuel");
  await rejects(() => wasm.instantiate(m, { fuel: 1.5 }), 5007);
  await rejects(() => wasm.instantiate(m, { maxMemoryBytes: -1 }), 5007);
});

Deno.test("inheritStdout writes to the host process's stdout", async () => {
  const mod = new URL("../mod.ts", import.meta.url).href;
  const toolPath = decodeURIComponent(new URL("../../fixtures/plugins/wasi_tool.wasm", import.meta.url).pathname);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-check",
      `import * as wasm from ${JSON.stringify(mod)};
       const inst = await wasm.instantiate(await wasm.compileFile(${JSON.stringify(toolPath)}),
         { args: ["echo", "to", "the", "terminal"], inheritStdout: true, inheritStderr: true });
       await inst.call("_start");
       const err = await wasm.instantiate(await wasm.compileFile(${JSON.stringify(toolPath)}),
         { args: ["stderr", "to stderr"], inheritStderr: true });
       await err.call("_start");`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, str(out.stderr));
  assertEquals(str(out.stdout), "to the terminal\n");
  assert(str(out.stderr).includes("to stderr\n"), str(out.stderr));
});

Deno.test("timeoutMs stops a runaway call with Timeout 5012; the instance stays usable", async () => {
  const t0 = performance.now();
  await rejects(() => tool(["spin"], { timeoutMs: 50 }), 5012);
  const elapsed = performance.now() - t0;
  assert(elapsed < 5000, `timed out after ${elapsed} ms`);

  const inst = await instance(
    `(module
    (func (export "spin") (loop $l (br $l)))
    (func (export "ok") (result i32) i32.const 1))`,
    { timeoutMs: 30 },
  );
  await rejects(() => inst.call("spin"), 5012);
  throws(() => inst.callSync("spin"), 5012); // also on the JavaScript thread
  assertEquals(await inst.call("ok"), [1], "the deadline is per call");
  await inst.drop();
});

Deno.test("fuel stops a runaway call with FuelExhausted 5011; the budget is per instance", async () => {
  await rejects(() => tool(["spin"], { fuel: 1_000_000 }), 5011);
  const inst = await instance(
    `(module
    (func (export "spin") (loop $l (br $l)))
    (func (export "count") (param i32) (result i32)
      (local i32)
      (block $done (loop $l
        (br_if $done (i32.ge_u (local.get 1) (local.get 0)))
        (local.set 1 (i32.add (local.get 1) (i32.const 1)))
        (br $l)))
      local.get 1))`,
    { fuel: 10_000n },
  );
  assertEquals(await inst.call("count", 10), [10]);
  await rejects(() => inst.call("spin"), 5011, "fuel");
  await rejects(() => inst.call("count", 1), 5011, undefined); // the instance's fuel is spent
  await inst.drop();

  // callFuel: a budget per call that refills.
  const perCall = await instance(
    `(module (func (export "spin") (loop $l (br $l)))
    (func (export "one") (result i32) i32.const 1))`,
    { callFuel: 5_000 },
  );
  await rejects(() => perCall.call("spin"), 5011);
  assertEquals(await perCall.call("one"), [1]);
  await perCall.drop();
});

Deno.test("a module without WASI imports ignores WASI options; calling _start on it needs the export", async () => {
  const inst = await instance(`(module (func (export "f") (result i32) i32.const 3))`, {
    env: { A: "1" },
    args: ["x"],
    captureStdout: true,
  });
  assertEquals(await inst.call("f"), [3]);
  assertEquals(inst.stdout(), new Uint8Array(0));
  await rejects(() => inst.call("_start"), 5003, "_start");
  await inst.drop();
});
