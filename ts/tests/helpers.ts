// Shared by the test files: assertions (no network, so no jsr:@std/assert), fixtures, WAT helpers.
//
// Importing this module loads the backend at module level, outside any test: the library's Deno resource then
// does not count as a leak of whichever test happened to use it first.

import * as wasm from "../mod.ts";

await wasm.ready();

export const FIXTURES = new URL("../../fixtures/", import.meta.url);
export const fixture = (rel: string): URL => new URL(rel, FIXTURES);
export const fixturePath = (rel: string): string => decodeURIComponent(fixture(rel).pathname);

const enc = new TextEncoder();
const dec = new TextDecoder();
export const text = (s: string): Uint8Array => enc.encode(s);
export const str = (b: Uint8Array): string => dec.decode(b);

/** Compile WAT text. */
export function wat(source: string): Promise<wasm.ModuleId> {
  return wasm.compile(enc.encode(source));
}

/** Compile WAT text and instantiate it. */
export async function instance(source: string, options?: wasm.InstanceOptions): Promise<wasm.Instance> {
  const id = await wat(source);
  const inst = await wasm.instantiate(id, options);
  await wasm.dropModule(id); // instances keep working without their module handle
  return inst;
}

const modules = new Map<string, Promise<wasm.ModuleId>>();
/** A fixture's module handle, compiled once per test file. */
export function fixtureModule(rel: string): Promise<wasm.ModuleId> {
  let m = modules.get(rel);
  if (!m) modules.set(rel, m = wasm.compileFile(fixturePath(rel)));
  return m;
}

// ------------------------------------------------------------------------------------------------ assertions

export class AssertionError extends Error {
  override name = "AssertionError";
}

function show(v: unknown): string {
  if (typeof v === "bigint") return `${v}n`;
  if (Object.is(v, -0)) return "-0";
  if (v instanceof Uint8Array) return `Uint8Array[${Array.from(v).join(",")}]`;
  if (Array.isArray(v)) return `[${v.map(show).join(", ")}]`;
  if (v && typeof v === "object") {
    return `{${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(", ")}}`;
  }
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/** Deep equality; numbers with `Object.is` (so `-0 !== 0` and `NaN === NaN`), bigints strictly. */
export function equal(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    return a.every((x, i) => x === b[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
  }
}

export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  if (!re.test(actual)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}${JSON.stringify(actual)} does not match ${re}`);
  }
}

function checkWasmError(e: unknown, code: number, includes?: string | RegExp): wasm.WasmError {
  if (!(e instanceof wasm.WasmError)) {
    throw new AssertionError(
      `expected a WasmError ${code}, got ${e instanceof Error ? `${e.name}: ${e.message}` : show(e)}`,
    );
  }
  if (e.code !== code) throw new AssertionError(`expected code ${code}, got ${e.code}: ${e.message}`);
  assertEquals(e.name, wasm.errorName(code), "error name");
  assert(e instanceof Error, "WasmError extends Error");
  assert(e.message.startsWith(`[${code}] `), `message starts with [${code}]: ${e.message}`);
  if (includes !== undefined) {
    const ok = typeof includes === "string" ? e.message.includes(includes) : includes.test(e.message);
    if (!ok) throw new AssertionError(`message ${JSON.stringify(e.message)} lacks ${includes}`);
  }
  return e;
}

/** Await `f()` and check it rejects with a `WasmError` of `code` (and, optionally, a message fragment). */
export async function rejects(
  f: () => Promise<unknown>,
  code: number,
  includes?: string | RegExp,
): Promise<wasm.WasmError> {
  let result: unknown;
  try {
    result = await f();
  } catch (e) {
    return checkWasmError(e, code, includes);
  }
  throw new AssertionError(`expected a WasmError ${code}, but it resolved to ${show(result)}`);
}

/** Check `f()` throws a `WasmError` of `code` synchronously. */
export function throws(f: () => unknown, code: number, includes?: string | RegExp): wasm.WasmError {
  let result: unknown;
  try {
    result = f();
  } catch (e) {
    return checkWasmError(e, code, includes);
  }
  throw new AssertionError(`expected a WasmError ${code}, but it returned ${show(result)}`);
}

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix: "ext_wasm_ts_" });
  return { path, cleanup: () => Deno.remove(path, { recursive: true }) };
}

/**
 * Run `code` in a fresh Deno process (a runtime not configured yet; `wasm` is `ts/mod.ts` there) and return its
 * last stdout line parsed as JSON. For what one process can only do once: `configure`, a first launch.
 */
export async function fresh<T = Record<string, unknown>>(code: string): Promise<T> {
  const mod = new URL("../mod.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", `import * as wasm from ${JSON.stringify(mod)};\n${code}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, str(out.stderr));
  return JSON.parse(str(out.stdout).trim().split("\n").at(-1)!);
}
