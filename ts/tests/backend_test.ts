// Which backend runs, how the library is found, and the error types every other test relies on.

import * as wasm from "../mod.ts";
import { ABI_VERSION, libraryCandidates } from "../ffi_backend.ts";
import { assert, assertEquals, assertMatch, rejects, str, wat } from "./helpers.ts";

const DENO = Deno.execPath();
const MOD_URL = new URL("../mod.ts", import.meta.url).href;

/** The backend this run of the suite is meant to exercise (scripts/test-ts.sh runs it once per backend). */
const EXPECTED = Deno.env.get("EXT_WASM_TS_BACKEND") ?? "ffi";
const FFI = EXPECTED === "ffi";

Deno.test("the backend under test is the one this run asks for", () => {
  // Stock Deno has no Deno.core.ops, so mod.ts picks the Deno.dlopen backend; the ops run installs stand-in ops
  // (ts/tests/preload_ops.ts) before mod.ts loads. Either way the numbers below test the intended backend.
  assertEquals(wasm.backendName(), EXPECTED);
  // deno-lint-ignore no-explicit-any
  assertEquals(typeof (Deno as any).core?.ops?.op_wasm_compile, FFI ? "undefined" : "function");
});

Deno.test("the default library location is <repo>/target/{release,debug}, relative to the module", () => {
  if (Deno.env.get("EXT_WASM_LIB") || Deno.build.os !== "linux") return; // overridden, or other file names
  const repo = decodeURIComponent(new URL("../../", import.meta.url).pathname);
  assertEquals(libraryCandidates(), [
    `${repo}target/release/libext_wasm.so`,
    `${repo}target/debug/libext_wasm.so`,
  ]);
});

Deno.test("the module speaks the C ABI version of the library's source (src/ffi.rs)", () => {
  const source = new URL("../../src/ffi.rs", import.meta.url);
  const rust = Deno.readTextFileSync(source).match(/pub const ABI_VERSION: u32 = (\d+);/);
  assertEquals(ABI_VERSION, Number(rust?.[1]));
});

async function runScript(code: string, env: Record<string, string>) {
  const out = await new Deno.Command(DENO, {
    args: ["eval", "--no-check", code],
    env: { ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: str(out.stdout), stderr: str(out.stderr) };
}

Deno.test({ name: "a missing library is a clear WasmError 5008 naming `cargo build --release`", ignore: !FFI }, async () => {
  const r = await runScript(
    `import * as wasm from ${JSON.stringify(MOD_URL)};
     try { await wasm.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])); console.log("loaded?!"); }
     catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, isWasm: e instanceof wasm.WasmError })); }`,
    { EXT_WASM_LIB: "/nonexistent/libext_wasm.so" },
  );
  assertEquals(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assertEquals(e.code, 5008);
  assertEquals(e.name, "IoError");
  assertEquals(e.isWasm, true);
  assertMatch(e.message, /^\[5008\] /);
  assert(e.message.includes("/nonexistent/libext_wasm.so"), e.message);
  assert(e.message.includes("cargo build --release"), e.message);
});

Deno.test({ name: "EXT_WASM_LIB selects the library", ignore: !FFI }, async () => {
  const lib = libraryCandidates().find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  })!;
  const r = await runScript(
    `import * as wasm from ${JSON.stringify(MOD_URL)};
     const id = await wasm.compile(new TextEncoder().encode('(module (func (export "f") (result i32) i32.const 7))'));
     const inst = await wasm.instantiate(id);
     console.log(JSON.stringify(await inst.call("f")), wasm.backendName());`,
    { EXT_WASM_LIB: lib },
  );
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout.trim(), "[7] ffi");
});

Deno.test({ name: "the library outlives the worker that opened it first, with its runtime", ignore: !FFI }, async () => {
  // Deno closes a worker's libraries when it ends. Here the worker is the only opener, and its runtime's threads
  // (the epoch ticker, tier-up) live on: without the library pinning itself (`pin_library` in src/ffi.rs) it is
  // unmapped under them, and the next open gets a fresh library whose fresh runtime refuses the handle (5004).
  const worker = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    worker,
    `import * as wasm from ${JSON.stringify(MOD_URL)};
     const text = '(module (func (export "f") (result i32) i32.const 7))';
     self.postMessage(await wasm.compile(new TextEncoder().encode(text)));`,
  );
  try {
    const r = await runScript(
      `const worker = new Worker(${JSON.stringify(new URL(`file://${worker}`).href)}, { type: "module" });
       const id = await new Promise((resolve, reject) => {
         worker.onmessage = (e) => resolve(e.data);
         worker.onerror = (e) => { e.preventDefault(); reject(new Error(e.message)); };
       });
       worker.terminate();
       await new Promise((r) => setTimeout(r, 100));
       const wasm = await import(${JSON.stringify(MOD_URL)});
       const inst = await wasm.instantiate(id);
       console.log(JSON.stringify(await inst.call("f")));`,
      {},
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout.trim(), "[7]");
  } finally {
    await Deno.remove(worker);
  }
});

Deno.test("WasmError: exported class, numeric code, name per code, ErrorCode table", async () => {
  assertEquals(wasm.ErrorCode.CompileError, 5000);
  assertEquals(wasm.ErrorCode.LimitExceeded, 5013);
  assertEquals(Object.keys(wasm.ErrorCode).length, 14);
  const names = Object.entries(wasm.ErrorCode).map(([name, code]) => [code, wasm.errorName(code), name]);
  for (const [code, fromCode, name] of names) assertEquals(fromCode, name, `name of ${code}`);
  const e = await rejects(() => wasm.compile(new Uint8Array([1, 2, 3])), 5000);
  assert(e instanceof Error && e instanceof wasm.WasmError);
  assertEquals(e.name, "CompileError");
  assert(typeof e.stack === "string");
});

Deno.test("library loads once per process: workers share the runtime and its handles", async () => {
  // A handle made here is valid in a worker: one process-global runtime behind the library, and the library
  // stays loaded when a worker that opened it terminates (the library pins itself).
  const id = await wat(`(module (func (export "f") (result i32) i32.const 42))`);
  // The same answer through a JavaScript import the worker gives: called in place on the worker's thread.
  const imported = await wat(`(module (import "host" "twice" (func $twice (param i32) (result i32)))
    (func (export "f") (result i32) (call $twice (i32.const 21))))`);
  const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  try {
    for (const module of [id, imported]) {
      const result = await new Promise((resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(e.message));
        };
        worker.postMessage(module);
      });
      assertEquals(result, 42);
    }
  } finally {
    worker.terminate();
  }
  // After the worker (and its Deno.dlopen handle) is gone, this isolate's library still works.
  await new Promise((r) => setTimeout(r, 50));
  const inst = await wasm.instantiate(id);
  assertEquals(await inst.call("f"), [42]);
  await inst.drop();
  await wasm.dropModule(id);
  await wasm.dropModule(imported);
});
