// The WebAssembly spec testsuite (every top-level v2 core file) through the TypeScript API: the scripts the Rust
// runner (`tests/spec/`) converts, run with `compile`, `instantiate` (the `spectest` instance, with JavaScript
// `print*` functions, and every registered instance as import modules), `callSync` and `getGlobal`. Prints
// pass / fail / skip per file and the totals; fails on any failure not listed with a reason in
// `tests/spec/known-failures.txt` (shared with the Rust runner) or `tests/spec/known-failures-ts.txt`.
//
// The same scripts also run through Deno's own WebAssembly (V8) with the same `spectest` module, and the test
// checks V8 parity: every check V8 passes through its JS API passes through ours (or is a listed skip).
//
// The scripts are JSON files in `$EXT_WASM_SPEC_JSON` (default `target/spec-json`), written by
// `EXT_WASM_SPEC_JSON=... cargo test --release --test spec` (scripts/test-ts.sh runs it first).

import * as wasm from "../mod.ts";
import { assert } from "./helpers.ts";

interface Val {
  type: string;
  value: string;
}
interface Action {
  kind: "invoke" | "get";
  module: string | null;
  field: string;
  args: Val[];
}
interface Bytes {
  text: boolean;
  bytes: string;
  /** The encoding of a text module that parses (for V8, which has no text parser). */
  binary: string | null;
}
interface Command {
  type: string;
  line: number;
  name?: string | null;
  wasm?: Bytes;
  as?: string;
  action?: Action;
  expected?: Val[];
  text?: string;
  reason?: string;
}

const repo = new URL("../../", import.meta.url);
const jsonDir = Deno.env.get("EXT_WASM_SPEC_JSON") ?? decodeURIComponent(new URL("target/spec-json/", repo).pathname);
const SPECTEST = await Deno.readTextFile(new URL("tests/spec/spectest.wat", repo));

/** `file:line` → reason, from the known-failure lists. */
async function knownFailures(): Promise<Map<string, string>> {
  const known = new Map<string, string>();
  for (const name of ["known-failures.txt", "known-failures-ts.txt"]) {
    const text = await Deno.readTextFile(new URL(`tests/spec/${name}`, repo));
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const space = line.indexOf(" ");
      known.set(space < 0 ? line : line.slice(0, space), space < 0 ? "" : line.slice(space + 1));
    }
  }
  return known;
}

function hex(s: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const scratch = new DataView(new ArrayBuffer(8));

function argument(v: Val): wasm.WasmArg {
  switch (v.type) {
    case "i32":
      return wasm.types.i32(Number(v.value) | 0);
    case "i64":
      return wasm.types.i64(BigInt.asIntN(64, BigInt(v.value)));
    case "f32":
      scratch.setUint32(0, Number(v.value));
      return wasm.types.f32(scratch.getFloat32(0));
    default:
      scratch.setBigUint64(0, BigInt(v.value));
      return wasm.types.f64(scratch.getFloat64(0));
  }
}

/** Why a result differs from the expected one; `null` when it matches. */
function mismatch(got: wasm.WasmResult, want: Val): string | null {
  const show = () => `got ${String(got)}, expected ${want.type} ${want.value}`;
  if (want.type === "i32") return typeof got === "number" && (got >>> 0) === Number(want.value) ? null : show();
  if (want.type === "i64") return typeof got === "bigint" && BigInt.asUintN(64, got) === BigInt(want.value) ? null : show();
  if (typeof got !== "number") return show();
  const f32 = want.type === "f32";
  let bits: bigint;
  if (f32) {
    scratch.setFloat32(0, got);
    bits = BigInt(scratch.getUint32(0));
  } else {
    scratch.setFloat64(0, got);
    bits = scratch.getBigUint64(0);
  }
  const sign = f32 ? 1n << 31n : 1n << 63n;
  const quiet = f32 ? 1n << 22n : 1n << 51n;
  const canonical = f32 ? 0x7fc00000n : 0x7ff8000000000000n;
  switch (want.value) {
    case "nan:canonical":
      return Number.isNaN(got) && (bits & ~sign) === canonical ? null : show();
    case "nan:arithmetic":
      return Number.isNaN(got) && (bits & quiet) !== 0n ? null : show();
    default:
      return bits === BigInt(want.value) ? null : show() + ` (bits ${bits})`;
  }
}

interface Outcome {
  passed: number;
  failed: [number, string][];
  skipped: [number, string][];
  /** Per check (by line): what happened through our API. */
  results: Map<number, ["pass" | "fail" | "skip", string]>;
}

/** One script's instances; all of them live in the spectest instance's store. */
class Script {
  readonly named = new Map<string, wasm.Instance>();
  readonly registered: Record<string, wasm.Instance> = {};
  latest: wasm.Instance | null = null;
  readonly live: wasm.Instance[] = [];
  constructor(readonly spectest: wasm.Instance) {
    this.live.push(spectest);
  }

  async instantiate(bytes: Bytes): Promise<wasm.Instance> {
    const id = await wasm.compile(hex(bytes.bytes));
    try {
      const instance = await wasm.instantiate(id, { imports: { spectest: this.spectest, ...this.registered } });
      this.live.push(instance);
      return instance;
    } finally {
      await wasm.dropModule(id);
    }
  }

  instance(name: string | null | undefined): wasm.Instance {
    const found = name ? this.named.get(name) : this.latest;
    if (found === undefined || found === null) throw new Error(`no module ${name}`);
    return found;
  }

  act(action: Action): wasm.WasmResult[] {
    const instance = this.instance(action.module);
    if (action.kind === "get") return [instance.getGlobal(action.field)];
    return instance.callSync(action.field, ...action.args.map(argument));
  }
}

const print = () => {};

async function newScript(): Promise<Script> {
  const id = await wasm.compile(new TextEncoder().encode(SPECTEST));
  const host = { print, print_i32: print, print_i64: print, print_f32: print, print_f64: print, print_i32_f32: print, print_f64_f64: print };
  const spectest = await wasm.instantiate(id, { imports: { host } });
  await wasm.dropModule(id);
  return new Script(spectest);
}

/** What `f` threw, as `[code, message]` (`null` when it did not throw). */
async function failure(f: () => unknown): Promise<[number, string] | null> {
  try {
    await f();
    return null;
  } catch (e) {
    return e instanceof wasm.WasmError ? [e.code, e.message] : [0, String(e)];
  }
}

const REF_SIGNATURE = "only i32, i64, f32 and f64 can cross this API";
/** JavaScript numbers quiet signaling NaNs and do not keep NaN payloads reliably: the spec's own JS harness checks
 * such results inside wasm instead. Both directions are skipped with this reason (V8's JS API is the same). */
const NAN_PAYLOAD = "NaN payload not observable through JavaScript numbers";

/** Whether an f32/f64 argument is a signaling NaN (a JavaScript number would quiet it). */
function signalingNan(v: Val): boolean {
  if (v.type === "f32") {
    const bits = Number(v.value);
    return (bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0 && (bits & 0x400000) === 0;
  }
  if (v.type === "f64") {
    const bits = BigInt(v.value);
    const exp = 0x7ff0000000000000n, frac = 0xfffffffffffffn;
    return (bits & exp) === exp && (bits & frac) !== 0n && (bits & 0x8000000000000n) === 0n;
  }
  return false;
}

/** Whether an expected exact result is a NaN (its payload is what the check is about). */
function exactNan(v: Val): boolean {
  if (v.value.startsWith("nan:")) return false;
  if (v.type === "f32") {
    const bits = Number(v.value);
    return (bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0;
  }
  if (v.type === "f64") {
    const bits = BigInt(v.value);
    return (bits & 0x7ff0000000000000n) === 0x7ff0000000000000n && (bits & 0xfffffffffffffn) !== 0n;
  }
  return false;
}

async function step(script: Script, c: Command): Promise<["pass" | "fail" | "skip" | "setup", string]> {
  const expectCode = async (f: () => unknown, code: number): Promise<["pass" | "fail", string]> => {
    const got = await failure(f);
    if (got !== null && got[0] === code) return ["pass", ""];
    return ["fail", `expected ${code} (${c.text}), got ${got === null ? "success" : got.join(" ")}`];
  };
  switch (c.type) {
    case "module": {
      const instance = await script.instantiate(c.wasm!);
      script.latest = instance;
      if (c.name) script.named.set(c.name, instance);
      return ["pass", ""];
    }
    case "register":
      script.registered[c.as!] = script.instance(c.name);
      return ["setup", ""];
    case "action":
      script.act(c.action!);
      return ["pass", ""];
    case "assert_return": {
      const got = script.act(c.action!);
      if (got.length !== c.expected!.length) return ["fail", `${got.length} results, expected ${c.expected!.length}`];
      for (let i = 0; i < got.length; i++) {
        const why = mismatch(got[i], c.expected![i]);
        // Only where the outcome depends on what JavaScript numbers lose: a signaling NaN argument, an exact NaN.
        const payload = c.action!.args.some(signalingNan) || (exactNan(c.expected![i]) && Number.isNaN(got[i]));
        if (why !== null && payload) return ["skip", NAN_PAYLOAD];
        if (why !== null) return ["fail", `\`${c.action!.field}\` result ${i}: ${why}`];
      }
      return ["pass", ""];
    }
    case "assert_trap":
      return await expectCode(() => script.act(c.action!), wasm.ErrorCode.CallError);
    case "assert_exhaustion": {
      const got = await failure(() => script.act(c.action!));
      if (got !== null && got[0] === 5002 && got[1].includes("call stack exhausted")) return ["pass", ""];
      return ["fail", `expected stack exhaustion, got ${got === null ? "success" : got.join(" ")}`];
    }
    case "assert_uninstantiable":
    case "assert_unlinkable":
      return await expectCode(() => script.instantiate(c.wasm!), wasm.ErrorCode.InstantiateError);
    case "assert_invalid":
    case "assert_malformed":
      return await expectCode(() => wasm.compile(hex(c.wasm!.bytes)), wasm.ErrorCode.CompileError);
    case "skip":
      return ["skip", c.reason!];
    default:
      return ["fail", `unknown command ${c.type}`];
  }
}

async function runScript(commands: Command[]): Promise<Outcome> {
  const script = await newScript();
  const outcome: Outcome = { passed: 0, failed: [], skipped: [], results: new Map() };
  for (const c of commands) {
    let result: ["pass" | "fail" | "skip" | "setup", string];
    try {
      result = await step(script, c);
    } catch (e) {
      result = ["fail", e instanceof Error ? e.message : String(e)];
    }
    // As in the Rust runner: a signature with reference types cannot be called through the API at all.
    if (result[0] === "fail" && result[1].includes(REF_SIGNATURE)) result = ["skip", "reference value at the API boundary"];
    if (result[0] !== "setup") outcome.results.set(c.line, result as ["pass" | "fail" | "skip", string]);
    if (result[0] === "pass") outcome.passed++;
    else if (result[0] === "fail") outcome.failed.push([c.line, result[1]]);
    else if (result[0] === "skip") outcome.skipped.push([c.line, result[1]]);
  }
  for (const i of script.live) await i.drop().catch(() => {});
  return outcome;
}


// ---- The same scripts through V8 (Deno's WebAssembly JS API), for the parity check ----

/** A check V8's JS API cannot express (text-format modules) — counted for neither side. */
class NotApplicable extends Error {}

function jsArgument(v: Val): number | bigint {
  return (argument(v) as { value: number | bigint }).value;
}

class NativeScript {
  readonly named = new Map<string, WebAssembly.Instance>();
  readonly registered: Record<string, WebAssembly.Exports> = {};
  latest: WebAssembly.Instance | null = null;
  constructor(readonly spectest: WebAssembly.Instance) {}

  static module(bytes: Bytes): WebAssembly.Module {
    const binary = bytes.text ? bytes.binary : bytes.bytes;
    if (binary === null) throw new NotApplicable();
    return new WebAssembly.Module(hex(binary));
  }

  instantiate(bytes: Bytes): WebAssembly.Instance {
    const imports = { spectest: this.spectest.exports, ...this.registered } as WebAssembly.Imports;
    return new WebAssembly.Instance(NativeScript.module(bytes), imports);
  }

  instance(name: string | null | undefined): WebAssembly.Instance {
    const found = name ? this.named.get(name) : this.latest;
    if (found === undefined || found === null) throw new Error(`no module ${name}`);
    return found;
  }

  act(action: Action, results: number): wasm.WasmResult[] {
    const exports = this.instance(action.module).exports;
    if (action.kind === "get") return [(exports[action.field] as WebAssembly.Global).value];
    const got = (exports[action.field] as (...a: unknown[]) => unknown)(...action.args.map(jsArgument));
    return results === 0 ? [] : results === 1 ? [got as wasm.WasmResult] : (got as wasm.WasmResult[]);
  }
}

async function newNativeScript(): Promise<NativeScript> {
  const bytes = await Deno.readFile(`${jsonDir}/spectest.wasm`);
  const host = { print, print_i32: print, print_i64: print, print_f32: print, print_f64: print, print_i32_f32: print, print_f64_f64: print };
  return new NativeScript(new WebAssembly.Instance(new WebAssembly.Module(bytes), { host }));
}

/** How V8's JS API reports each kind of failure the script expects. */
function nativeThrows(f: () => unknown, kind: new (...a: never[]) => Error, text = ""): "pass" | "fail" {
  try {
    f();
  } catch (e) {
    if (e instanceof NotApplicable) throw e;
    return e instanceof kind && e.message.includes(text) ? "pass" : "fail";
  }
  return "fail";
}

function nativeStep(script: NativeScript, c: Command): "pass" | "fail" | "setup" | "n/a" {
  try {
    switch (c.type) {
      case "module": {
        const instance = script.instantiate(c.wasm!);
        script.latest = instance;
        if (c.name) script.named.set(c.name, instance);
        return "pass";
      }
      case "register":
        script.registered[c.as!] = script.instance(c.name).exports;
        return "setup";
      case "action":
        script.act(c.action!, 0);
        return "pass";
      case "assert_return": {
        const got = script.act(c.action!, c.expected!.length);
        return got.length === c.expected!.length && got.every((g, i) => mismatch(g, c.expected![i]) === null) ? "pass" : "fail";
      }
      case "assert_trap":
        return nativeThrows(() => script.act(c.action!, 0), WebAssembly.RuntimeError);
      case "assert_exhaustion":
        return nativeThrows(() => script.act(c.action!, 0), RangeError, "call stack");
      case "assert_uninstantiable":
        return nativeThrows(() => script.instantiate(c.wasm!), WebAssembly.RuntimeError);
      case "assert_unlinkable":
        return nativeThrows(() => script.instantiate(c.wasm!), WebAssembly.LinkError);
      case "assert_invalid":
      case "assert_malformed":
        if (c.wasm!.text) return "n/a"; // text-format errors: V8 has no text parser
        return nativeThrows(() => NativeScript.module(c.wasm!), WebAssembly.CompileError);
      default:
        return "n/a"; // skipped in the scripts themselves (v128, reference values)
    }
  } catch (e) {
    return e instanceof NotApplicable ? "n/a" : "fail";
  }
}

/** Per check (by line): what V8 did. */
async function runNative(commands: Command[]): Promise<Map<number, string>> {
  const script = await newNativeScript();
  const results = new Map<number, string>();
  for (const c of commands) results.set(c.line, nativeStep(script, c));
  return results;
}

Deno.test("the spec testsuite (v2 core) through the TypeScript API", async () => {
  const known = await knownFailures();
  const files = [...Deno.readDirSync(jsonDir)].map((e) => e.name).filter((n) => n.endsWith(".json")).sort();
  assert(files.length >= 90, `expected the v2 scripts in ${jsonDir} (run scripts/test-ts.sh), found ${files.length}`);
  const verbose = Deno.env.get("EXT_WASM_SPEC_VERBOSE") !== undefined;
  let passed = 0, failed = 0, skipped = 0;
  const regressions: string[] = [];
  // V8 parity: of the checks V8 passes, how many pass, are skipped (by reason) or fail through ours.
  const v8 = { passed: 0, failed: 0, notApplicable: 0, bothPass: 0 };
  const v8PassOursSkip = new Map<string, number>();
  const parityFailures: string[] = [];
  const v8Older: string[] = []; // V8 still refuses what Wasm 3.0 (and Wasmtime) accept: we follow 3.0
  const reasons = new Map<string, number>();
  const lines = [`${"file".padEnd(32)} ${"passed".padStart(7)} ${"failed".padStart(7)} ${"skipped".padStart(7)}`];
  for (const file of files) {
    const name = file.replace(/\.json$/, "");
    const commands: Command[] = JSON.parse(await Deno.readTextFile(`${jsonDir}/${file}`));
    const o = await runScript(commands);
    for (const [line, native] of await runNative(commands)) {
      if (native === "setup") continue;
      if (native === "n/a") v8.notApplicable++;
      if (native === "fail") v8.failed++;
      if (native === "fail" && verbose) lines.push(`  V8 FAIL ${name}:${line} (${commands.find((c) => c.line === line)?.type})`);
      if (native !== "pass") continue;
      v8.passed++;
      const [ours, why] = o.results.get(line) ?? ["fail", "not run"];
      if (ours === "pass") v8.bothPass++;
      else if (ours === "skip") v8PassOursSkip.set(why, (v8PassOursSkip.get(why) ?? 0) + 1);
      else if (known.get(`${name}:${line}`)?.startsWith("valid in Wasm 3.0")) v8Older.push(`${name}:${line}`);
      else parityFailures.push(`${name}:${line}: ${why}`);
    }
    lines.push(`${name.padEnd(32)} ${String(o.passed).padStart(7)} ${String(o.failed.length).padStart(7)} ${String(o.skipped.length).padStart(7)}`);
    passed += o.passed;
    failed += o.failed.length;
    skipped += o.skipped.length;
    for (const [, why] of o.skipped) reasons.set(why, (reasons.get(why) ?? 0) + 1);
    for (const [line, why] of o.failed) {
      if (verbose) lines.push(`  FAIL ${name}:${line}: ${why}`);
      if (!known.has(`${name}:${line}`)) regressions.push(`${name}:${line}: ${why}`);
    }
  }
  lines.push(
    `total: ${files.length} files, ${passed + failed + skipped} checks, ${passed} passed, ${failed} failed ` +
      `(${failed - regressions.length} known), ${skipped} skipped`,
  );
  for (const [why, n] of reasons) lines.push(`  skipped ${String(n).padStart(5)}: ${why}`);
  lines.push(
    `V8 (Deno's WebAssembly, same scripts): ${v8.passed} passed, ${v8.failed} failed, ${v8.notApplicable} not ` +
      `expressible in its JS API (text format, values the scripts skip); of V8's passes, ours: ${v8.bothPass} passed, ` +
      `${parityFailures.length} failed`,
  );
  for (const [why, n] of v8PassOursSkip) lines.push(`  skipped ${String(n).padStart(5)}: ${why}`);
  if (v8Older.length > 0) lines.push(`  valid in Wasm 3.0, still refused by V8 (we follow 3.0): ${v8Older.join(", ")}`);
  for (const f of parityFailures) lines.push(`  V8 passes, ours fails: ${f}`);
  console.log(lines.join("\n"));
  assert(regressions.length === 0, `spec regressions:\n${regressions.join("\n")}`);
  assert(parityFailures.length === 0, `checks V8 passes that fail through ours:\n${parityFailures.join("\n")}`);
});
