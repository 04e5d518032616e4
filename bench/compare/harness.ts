/**
 * The comparison harness: ext_wasm next to Deno's native WebAssembly and raw Wasmtime, in one run on one
 * machine. Run it through `scripts/compare.sh` (which builds the binaries it needs and installs Deno); see
 * `bench/compare/README.md` for what every row means.
 *
 *   deno run -A bench/compare/harness.ts [--quick] [--runs N] [--parts ABCD] [--out FILE]
 *
 * Part A  (one Deno process, `throughput.ts`): churn, `callSync` ns per call, 1 MiB memory write/read.
 * Part B  (whole processes, spawned and timed here): a fresh process that loads a module and prints its first
 *         call's result; ext_wasm cold/warm from the CLI and from Deno, raw Wasmtime `deserialize_file` (the floor),
 *         Deno native `WebAssembly.compile`. One discarded warm-up round, then N rounds, cases interleaved.
 * Part C  (in-process, `raw_start load-bench` / `ext-load-bench`): the load alone, ext_wasm cache hit vs raw
 *         `Module::deserialize_file`.
 * Part D  (whole processes): first launch of never-seen modules and real WASI programs (fetched from PyPI by
 *         `scripts/fetch-real-programs.sh`): tiered (Winch first) vs Cranelift-only vs Deno native (`node:wasi`),
 *         the time until the tier-up publishes Cranelift code, the next process's start, and the steady state
 *         after the tier-up (`raw_start tier-bench`).
 *
 * Prints machine info, the tables and the JSON; writes the JSON to `target/compare/compare.json`.
 */

const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const work = `${repo}/target/compare`;
const deno = Deno.execPath();
const rawStart = `${repo}/target/release/examples/raw_start`;
/** examples/raw_ffi.rs as a C library: the churn's floor through Deno's FFI (part A). */
const rawFfi = `${repo}/target/release/examples/libraw_ffi.so`;
const extCli = `${repo}/target/release/ext-wasm`;

const argv = [...Deno.args];
const flag = (name: string) => {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  return argv[i + 1];
};
const quick = argv.includes("--quick");
const RUNS = Number(flag("--runs") ?? (quick ? 3 : 7));
const OUT = flag("--out") ?? `${work}/compare.json`;
const LOAD_N = quick ? 30 : 200;
const EXT_LOAD_N = quick ? 10 : 60;
/** Which parts to run (`--parts BD`): all by default. */
const PARTS = flag("--parts") ?? "ABCD";

// ---------------------------------------------------------------------------------------------------- helpers

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

async function spawn(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const command = new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped", stdin: "null", cwd: repo });
  const t = performance.now();
  const out = await command.output();
  const ms = performance.now() - t;
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), ms };
}

/** Peak resident set of one run of `cmd` (KiB, from GNU time's `%M`); `null` without `/usr/bin/time` or when
 * it printed nothing. */
async function peakRssKiB(cmd: string, args: string[]): Promise<number | null> {
  try {
    await Deno.stat("/usr/bin/time");
  } catch {
    return null;
  }
  const r = await spawn("/usr/bin/time", ["-f", "peak-rss-kib %M", cmd, ...args]);
  const m = /peak-rss-kib (\d+)\s*$/.exec(r.stderr);
  // The program's own exit status does not matter here (`silice --help` exits 1 under every runtime).
  return m ? Number(m[1]) : null;
}

async function must(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const r = await spawn(cmd, args, env);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}\n${r.stderr}`);
  return r;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));
const pad = (s: string, n: number) => s.length >= n ? s : s + " ".repeat(n - s.length);
const lpad = (s: string, n: number) => s.length >= n ? s : " ".repeat(n - s.length) + s;
const fmt = (x: number, d = 2) => x.toFixed(d);

function table(headers: string[], rows: string[][], align: ("l" | "r")[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (align[i] === "l" ? pad(c, widths[i]) : lpad(c, widths[i]))).join("  ").trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

// ---------------------------------------------------------------------------------------------------- machine

async function machine() {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const lock = await Deno.readTextFile(`${repo}/Cargo.lock`);
  const wasmtime = /name = "wasmtime"\nversion = "([^"]+)"/.exec(lock)?.[1] ?? "unknown";
  const rustc = (await spawn("rustc", ["--version"]).catch(() => ({ stdout: "unknown" }))).stdout.trim();
  const kernel = (await spawn("uname", ["-sr"]).catch(() => ({ stdout: "unknown" }))).stdout.trim();
  return {
    date: new Date().toISOString(),
    nproc: navigator.hardwareConcurrency,
    cpu: model,
    kernel,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    wasmtime,
    rustc,
  };
}

// ---------------------------------------------------------------------------------------------------- setup

interface StartModule {
  name: string;
  wasm: string;
  cwasm: string;
  func: string;
  args: string[];
  expected: string;
  bytes: number;
}

async function setup(): Promise<{ modules: StartModule[]; add: string; mem: string }> {
  await Deno.mkdir(work, { recursive: true });
  const wat = `${work}/funcs3000.wat`;
  await must(deno, ["run", "--allow-write", `${repo}/bench/compare/gen_funcs.ts`, wat]);
  const funcs = `${work}/funcs3000.wasm`;
  await must(rawStart, ["wat2wasm", wat, funcs]);
  const add = `${work}/add.wasm`;
  const mem = `${work}/mem.wasm`;
  await must(rawStart, ["wat2wasm", `${repo}/bench/compare/add.wat`, add]);
  await must(rawStart, ["wat2wasm", `${repo}/bench/compare/mem.wat`, mem]);
  await must(rawStart, ["wat2wasm", `${repo}/bench/compare/host.wat`, `${work}/host.wasm`]);
  const modules: StartModule[] = [
    {
      name: "funcs3000",
      wasm: funcs,
      cwasm: `${work}/funcs3000.cwasm`,
      func: "f0",
      args: ["1", "2"],
      expected: "3",
      bytes: 0,
    },
    {
      name: "big",
      wasm: `${repo}/fixtures/bench/big.wasm`,
      cwasm: `${work}/big.cwasm`,
      func: "big_sum",
      args: ["1"],
      expected: "9207481",
      bytes: 0,
    },
  ];
  for (const m of modules) {
    await must(rawStart, ["precompile", m.wasm, m.cwasm]);
    m.bytes = (await Deno.stat(m.wasm)).size;
  }
  return { modules, add, mem };
}

// ---------------------------------------------------------------------------------------------------- part A

/** Whether `path` exists. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function partA(add: string, mem: string) {
  const r = await must(deno, [
    "run",
    "--allow-ffi",
    "--allow-read",
    "--allow-env",
    "--v8-flags=--expose-gc", // the churn rows collect between rounds (see `collect` in throughput.ts)
    `${repo}/bench/compare/throughput.ts`,
    add,
    mem,
    `${work}/host.wasm`,
    ...(await exists(`${work}/libcallback_floor.so`) ? [`--callback-floor=${work}/libcallback_floor.so`] : []),
    ...(await exists(rawFfi) ? [`--raw-floor=${rawFfi}`] : []),
    ...(quick ? ["--quick"] : []),
  ]);
  const raw = JSON.parse(r.stdout);
  // The churn row's floor: raw Wasmtime with ext_wasm's pool, in its own process right after (µs per iteration).
  const rawChurn = rawSamples((await must(rawStart, ["churn-bench", add, String(RUNS), quick ? "100000" : "200000"])).stdout);
  const gbps = (opsPerSec: number) => (opsPerSec * raw.bytes) / 1e9;
  const memcpy = gbps(raw.memcpy.opsPerSec);
  const derived = {
    churnExtPerSec: raw.ext.churn.opsPerSec,
    churnExtBackendPerSec: raw.ext.churnBackend.opsPerSec,
    churnNativePerSec: raw.native.churn.opsPerSec,
    churnRatio: raw.ext.churn.opsPerSec / raw.native.churn.opsPerSec,
    churnBackendRatio: raw.ext.churnBackend.opsPerSec / raw.native.churn.opsPerSec,
    /** Raw Wasmtime's churn with ext_wasm's pool (`raw_start churn-bench`): the floor under the churn rows. */
    churnRawPerSec: 1e6 / median(rawChurn.raw_churn_same_pool),
    churnRawRatio: 1e6 / median(rawChurn.raw_churn_same_pool) / raw.native.churn.opsPerSec,
    /** The same raw churn through Deno's FFI, one call per iteration, in the same process and run as the others. */
    churnRawFfiPerSec: raw.native.churnRawFfi?.opsPerSec ?? null,
    churnRawFfiRatio: raw.native.churnRawFfi ? raw.native.churnRawFfi.opsPerSec / raw.native.churn.opsPerSec : null,
    callExtNs: 1e9 / raw.ext.call.opsPerSec,
    callFuncNs: 1e9 / raw.ext.callFunc.opsPerSec,
    callAwaitNs: 1e9 / raw.ext.callAwait.opsPerSec,
    callAwaitNativeNs: 1e9 / raw.native.callAwait.opsPerSec,
    callAwaitInFlightNs: 1e9 / raw.ext.callAwaitInFlight.opsPerSec,
    callAwaitInFlightNativeNs: 1e9 / raw.native.callAwaitInFlight.opsPerSec,
    callAwaitInFlightLoopNs: 1e9 / raw.ext.callAwaitInFlightLoop.opsPerSec,
    crcSyncMs: 1e3 / raw.ext.crcSync.opsPerSec,
    crcAwaitMs: 1e3 / raw.ext.crcAwait.opsPerSec,
    long: raw.long,
    hostCallSyncNs: 1e9 / raw.ext.hostCallSync.opsPerSec,
    hostCallAwaitNs: 1e9 / raw.ext.hostCallAwait.opsPerSec,
    hostCallAsyncNs: 1e9 / raw.ext.hostCallAsync.opsPerSec,
    hostCallNativeNs: 1e9 / raw.native.hostCallSync.opsPerSec,
    /** Deno's own FFI callback, C -> JS with no arguments: the floor under any wasm -> JS call through FFI. */
    hostCallFloorNs: raw.native.callbackFloor ? 1e9 / raw.native.callbackFloor.opsPerSec : null,
    churnImportsExtPerSec: raw.ext.churnImports.opsPerSec,
    churnImportsNativePerSec: raw.native.churnImports.opsPerSec,
    /** Churn time with two JS imports over churn time without, in interleaved rounds (target <= 1.3). */
    churnImportsCost: raw.ratios.churnImports,
    hostCallSyncImportsNs: 1e9 / raw.ext.hostCallSyncImports.opsPerSec,
    churnSyncImportsPerSec: raw.ext.churnSyncImports.opsPerSec,
    /** The same with `syncImports: true`. */
    churnSyncImportsCost: raw.ratios.churnSyncImports,
    callNativeNs: 1e9 / raw.native.call.opsPerSec,
    memcpyGBps: memcpy,
    memWriteExtGBps: gbps(raw.ext.memWrite.opsPerSec),
    memReadExtGBps: gbps(raw.ext.memRead.opsPerSec),
    memWriteNativeGBps: gbps(raw.native.memWrite.opsPerSec),
    memReadNativeGBps: gbps(raw.native.memRead.opsPerSec),
  };
  return { raw, derived };
}

// ---------------------------------------------------------------------------------------------------- part B

interface Case {
  id: string;
  label: string;
  /** Called before each run (not timed): returns the command. */
  prepare: (run: number) => Promise<{ cmd: string; args: string[]; env?: Record<string, string>; cleanup?: string }>;
  /** Optional check of a run's stderr (e.g. the CLI's cache origin). */
  verify?: (r: Run) => void;
}

async function tempDir(prefix: string): Promise<string> {
  return await Deno.makeTempDir({ dir: work, prefix });
}

function denoExtArgs(m: StartModule): string[] {
  return [
    "run",
    "--allow-ffi",
    "--allow-read",
    "--allow-env",
    `${repo}/bench/compare/start_ext.ts`,
    "--report",
    m.wasm,
    m.func,
    ...m.args,
  ];
}

function expectOrigin(origin: string) {
  return (r: Run) => {
    if (!r.stderr.includes(`load ${origin}`)) throw new Error(`expected a ${origin} load, got: ${r.stderr.trim()}`);
  };
}

async function partB(modules: StartModule[]) {
  const results: Record<string, unknown> = {};
  for (const m of modules) {
    const warmCli = await tempDir("warm-cli-");
    const warmDeno = await tempDir("warm-deno-");
    const cli = (dir: string, extra: string[] = []) => [
      "--cache-dir",
      dir,
      "run",
      "--stats",
      ...extra,
      m.wasm,
      "--invoke",
      m.func,
      ...m.args,
    ];
    const cases: Case[] = [
      {
        id: "raw",
        label: "raw wasmtime deserialize_file (floor)",
        prepare: () => Promise.resolve({ cmd: rawStart, args: ["run", m.cwasm, m.func, ...m.args] }),
      },
      {
        id: "extCliWarm",
        label: "ext_wasm CLI, warm (cache hit)",
        // The warm-up round compiles; `--wait-tier-up` makes it leave Cranelift code in the cache.
        prepare: () => Promise.resolve({ cmd: extCli, args: cli(warmCli, ["--wait-tier-up"]) }),
        verify: expectOrigin("CacheHit (cranelift)"),
      },
      {
        id: "extCliCold",
        label: "ext_wasm CLI, cold (empty cache)",
        prepare: async () => {
          const dir = await tempDir("cold-cli-");
          return { cmd: extCli, args: cli(dir), cleanup: dir };
        },
        verify: expectOrigin("Compiled"),
      },
      {
        id: "extCliColdCranelift",
        label: "ext_wasm CLI, cold, Cranelift only (--tier cranelift)",
        prepare: async () => {
          const dir = await tempDir("cold-cl-");
          return { cmd: extCli, args: ["--tier", "cranelift", ...cli(dir)], cleanup: dir };
        },
        verify: expectOrigin("Compiled (cranelift)"),
      },
      {
        id: "denoNative",
        label: "Deno native WebAssembly.compile",
        prepare: () =>
          Promise.resolve({
            cmd: deno,
            args: [
              "run",
              "--allow-read",
              `${repo}/bench/compare/start_native.ts`,
              "--report",
              m.wasm,
              m.func,
              ...m.args,
            ],
          }),
      },
      {
        id: "extDenoWarm",
        label: "ext_wasm from Deno (ts/mod.ts), warm",
        prepare: () =>
          Promise.resolve({
            cmd: deno,
            args: [...denoExtArgs(m), "--wait-tier-up"],
            env: { EXT_WASM_CACHE_DIR: warmDeno },
          }),
      },
      {
        id: "extDenoCold",
        label: "ext_wasm from Deno (ts/mod.ts), cold",
        prepare: async () => {
          const dir = await tempDir("cold-deno-");
          return { cmd: deno, args: denoExtArgs(m), env: { EXT_WASM_CACHE_DIR: dir }, cleanup: dir };
        },
      },
      {
        id: "denoEmpty",
        label: "Deno process, empty script (reference)",
        prepare: () => Promise.resolve({ cmd: deno, args: ["run", `${repo}/bench/compare/empty.ts`] }),
      },
    ];
    const runs: Record<string, { ms: number[]; inner: number[] }> = {};
    for (const c of cases) runs[c.id] = { ms: [], inner: [] };
    // Round 0 is the warm-up (OS file cache, Deno's transpile cache, the warm artifact caches): discarded.
    for (let round = 0; round <= RUNS; round++) {
      for (const c of cases) {
        const p = await c.prepare(round);
        const r = await spawn(p.cmd, p.args, p.env);
        if (p.cleanup) await Deno.remove(p.cleanup, { recursive: true });
        if (r.code !== 0) throw new Error(`${m.name}/${c.id}: exited ${r.code}\n${r.stderr}`);
        if (c.id !== "denoEmpty" && r.stdout.trim() !== m.expected) {
          throw new Error(`${m.name}/${c.id}: printed ${JSON.stringify(r.stdout.trim())}, expected ${m.expected}`);
        }
        if (round > 0) c.verify?.(r);
        if (round === 0) continue;
        runs[c.id].ms.push(r.ms);
        const report = /\{"(?:loadMs|compileMs)".*\}/.exec(r.stderr)?.[0];
        if (report) {
          const j = JSON.parse(report);
          runs[c.id].inner.push(j.loadMs ?? j.compileMs);
        }
      }
    }
    // Does Deno keep compiled wasm across processes? One run with an empty DENO_DIR: if the warm-DENO_DIR runs
    // are not clearly faster at WebAssembly.compile, there is no persistent code cache.
    const freshDenoDir = await tempDir("deno-dir-");
    const fresh = await must(
      deno,
      ["run", "--allow-read", `${repo}/bench/compare/start_native.ts`, "--report", m.wasm, m.func, ...m.args],
      { DENO_DIR: freshDenoDir },
    );
    await Deno.remove(freshDenoDir, { recursive: true });
    const freshCompileMs = JSON.parse(/\{"compileMs".*\}/.exec(fresh.stderr)![0]).compileMs as number;
    await Deno.remove(warmCli, { recursive: true });
    await Deno.remove(warmDeno, { recursive: true });

    const med: Record<string, number> = {};
    const cs: Record<string, unknown> = {};
    for (const c of cases) {
      med[c.id] = median(runs[c.id].ms);
      cs[c.id] = {
        label: c.label,
        medianMs: round(med[c.id]),
        runsMs: runs[c.id].ms.map((x) => round(x)),
        ...(runs[c.id].inner.length
          ? { inProcessMedianMs: round(median(runs[c.id].inner)), inProcessMs: runs[c.id].inner.map((x) => round(x)) }
          : {}),
      };
    }
    const nativeCompileWarm = median(runs.denoNative.inner);
    results[m.name] = {
      module: m.wasm.replace(`${repo}/`, ""),
      bytes: m.bytes,
      call: `${m.func}(${m.args.join(", ")}) = ${m.expected}`,
      cases: cs,
      ratios: {
        extCliWarmOverRaw: round(med.extCliWarm / med.raw),
        extCliColdOverWarm: round(med.extCliCold / med.extCliWarm),
        extCliColdOverCraneliftOnly: round(med.extCliCold / med.extCliColdCranelift),
        extCliColdOverDenoNative: round(med.extCliCold / med.denoNative),
        extDenoWarmOverDenoNative: round(med.extDenoWarm / med.denoNative),
        extDenoColdOverWarm: round(med.extDenoCold / med.extDenoWarm),
      },
      denoCodeCache: {
        compileMsFreshDenoDir: round(freshCompileMs),
        compileMsMedianWarmDenoDir: round(nativeCompileWarm),
        persistentCacheObserved: nativeCompileWarm < 0.5 * freshCompileMs,
      },
    };
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------- part C

/** `raw_start`'s output: one `{"what", "samples_us"}` line per measure → samples (µs) by measure. */
function rawSamples(stdout: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const line of stdout.trim().split("\n")) {
    const j = JSON.parse(line);
    out[j.what] = j.samples_us;
  }
  return out;
}

async function partC(modules: StartModule[]) {
  const out: Record<string, unknown> = {};
  for (const m of modules) {
    const raw = await must(rawStart, ["load-bench", m.cwasm, String(LOAD_N)]);
    const dir = await tempDir("load-");
    const ext = await must(rawStart, ["ext-load-bench", m.wasm, dir, String(EXT_LOAD_N)]);
    await Deno.remove(dir, { recursive: true });
    const samples = { ...rawSamples(raw.stdout), ...rawSamples(ext.stdout) };
    const rawUs = median(samples.raw_deserialize_file);
    const fileUs = median(samples.ext_cache_hit_file);
    const bytesUs = median(samples.ext_cache_hit_bytes);
    out[m.name] = {
      rawDeserializeFileUs: round(rawUs, 1),
      extCacheHitFileUs: round(fileUs, 1),
      extCacheHitBytesUs: round(bytesUs, 1),
      ratioFile: round(fileUs / rawUs),
      ratioBytes: round(bytesUs / rawUs),
      samples: { raw: LOAD_N, ext: EXT_LOAD_N },
    };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- part D

interface Program {
  name: string;
  wasm: string;
  args: string[];
}

/** One process: ext-wasm run PROGRAM (policy `tier`, cache `dir`), with `extra` flags; stdout and status kept. */
function extRun(p: Program, dir: string, extra: string[], tier = "auto"): string[] {
  return ["--cache-dir", dir, "--tier", tier, "run", "--stats", ...extra, p.wasm, "--", ...p.args];
}

async function partD(programs: Program[]) {
  const out: Record<string, unknown> = {};
  for (const p of programs) {
    const bytes = (await Deno.stat(p.wasm)).size;
    const reference = await spawn(deno, ["run", "-A", `${repo}/bench/compare/start_wasi_native.ts`, p.wasm, ...p.args]);
    const same = (r: Run) => {
      if (r.stdout !== reference.stdout || r.code !== reference.code) {
        throw new Error(`${p.name}: output or status differs from Deno native's:\n${r.stdout}\n${r.stderr}`);
      }
    };
    // The tier-up, once: a cold run that waits for it says when Cranelift's code was ready.
    const tierDir = await tempDir("tier-");
    const first = await spawn(extCli, extRun(p, tierDir, ["--wait-tier-up"]));
    same(first);
    const tierUpMs = Number(/cranelift code ready after (\d+) ms/.exec(first.stderr)?.[1] ?? NaN);
    const baselineMs = Number(/baseline \(winch\) load (\d+) ms/.exec(first.stderr)?.[1] ?? NaN);
    const second = await spawn(extCli, extRun(p, tierDir, []));
    same(second);
    if (!second.stderr.includes("load CacheHit (cranelift)")) throw new Error(`${p.name}: ${second.stderr}`);
    await Deno.remove(tierDir, { recursive: true });

    const warmDir = await tempDir("warm-real-");
    // Named like the program: raw_start gives the guest `<name>.wasm` as argv[0], as the others do.
    await Deno.mkdir(`${work}/first-launch`, { recursive: true });
    const cwasm = `${work}/first-launch/${p.wasm.split("/").at(-1)!.replace(/\.wasm$/, "")}.cwasm`;
    await must(rawStart, ["precompile", p.wasm, cwasm]);
    const cases: Case[] = [
      {
        id: "raw",
        label: "raw wasmtime deserialize_file + _start (warm floor)",
        prepare: () => Promise.resolve({ cmd: rawStart, args: ["run-wasi", cwasm, ...p.args] }),
      },
      {
        id: "denoNative",
        label: "Deno native (WebAssembly.compile + node:wasi)",
        prepare: () =>
          Promise.resolve({ cmd: deno, args: ["run", "-A", `${repo}/bench/compare/start_wasi_native.ts`, p.wasm, ...p.args] }),
      },
      {
        id: "extCliCold",
        label: "ext_wasm CLI, cold, tiered (Winch now)",
        prepare: async () => {
          const dir = await tempDir("cold-real-");
          return { cmd: extCli, args: extRun(p, dir, []), cleanup: dir };
        },
        verify: expectOrigin("Compiled (winch)"),
      },
      {
        id: "extCliColdCranelift",
        label: "ext_wasm CLI, cold, Cranelift only",
        prepare: async () => {
          const dir = await tempDir("cold-real-cl-");
          return { cmd: extCli, args: extRun(p, dir, [], "cranelift"), cleanup: dir };
        },
        verify: expectOrigin("Compiled (cranelift)"),
      },
      {
        id: "extCliWarm",
        label: "ext_wasm CLI, next process (Cranelift code from the cache)",
        prepare: () => Promise.resolve({ cmd: extCli, args: extRun(p, warmDir, ["--wait-tier-up"]) }),
        verify: expectOrigin("CacheHit (cranelift)"),
      },
    ];
    const runs: Record<string, number[]> = {};
    for (const c of cases) runs[c.id] = [];
    for (let round = 0; round <= RUNS; round++) {
      for (const c of cases) {
        const prepared = await c.prepare(round);
        const r = await spawn(prepared.cmd, prepared.args, prepared.env);
        if (prepared.cleanup) await Deno.remove(prepared.cleanup, { recursive: true });
        same(r);
        if (round === 0) continue;
        c.verify?.(r);
        runs[c.id].push(r.ms);
      }
    }
    // Peak RSS of the warm floor and of our next process, one untimed run each under GNU time (skipped where
    // /usr/bin/time is missing).
    const peak = async (c: Case) => {
      const prepared = await c.prepare(0);
      return await peakRssKiB(prepared.cmd, prepared.args);
    };
    const rawRss = await peak(cases[0]);
    const warmRss = await peak(cases[4]);
    await Deno.remove(warmDir, { recursive: true });
    const med = Object.fromEntries(cases.map((c) => [c.id, median(runs[c.id])]));
    out[p.name] = {
      module: p.wasm.replace(`${repo}/`, ""),
      bytes,
      args: p.args,
      cases: Object.fromEntries(
        cases.map((c) => [c.id, { label: c.label, medianMs: round(med[c.id]), runsMs: runs[c.id].map((x) => round(x)) }]),
      ),
      baselineLoadMs: baselineMs,
      tierUpPublishedMs: tierUpMs,
      peakRssKiB: { raw: rawRss, extCliWarm: warmRss },
      ratios: {
        coldOverDenoNative: round(med.extCliCold / med.denoNative),
        coldOverCraneliftOnly: round(med.extCliCold / med.extCliColdCranelift),
        craneliftOnlyOverDenoNative: round(med.extCliColdCranelift / med.denoNative),
        nextProcessOverDenoNative: round(med.extCliWarm / med.denoNative),
        nextProcessOverRawFloor: round(med.extCliWarm / med.raw),
        nextProcessPeakRssOverRawFloor: rawRss && warmRss ? round(warmRss / rawRss) : null,
      },
    };
  }
  const steady = await must(rawStart, ["tier-bench", `${repo}/fixtures/bench/big.wasm`, "big_sum", "7", quick ? "20" : "100"]);
  const samples = Object.fromEntries(Object.entries(rawSamples(steady.stdout)).map(([k, v]) => [k, median(v)]));
  out.steadyState = {
    call: "big.wasm big_sum(7), µs per call (median)",
    winchUs: round(samples.winch, 1),
    tieredUpUs: round(samples.tiered_up, 1),
    craneliftOnlyUs: round(samples.cranelift_only, 1),
    tieredUpOverCraneliftOnly: round(samples.tiered_up / samples.cranelift_only),
    winchOverCraneliftOnly: round(samples.winch / samples.cranelift_only),
  };
  return out;
}

// ---------------------------------------------------------------------------------------------------- main

const started = performance.now();
const info = await machine();
console.log(`ext_wasm comparison — ${info.date}`);
console.log(
  `machine: ${info.nproc} CPUs, ${info.cpu}, ${info.kernel}\n` +
    `versions: deno ${info.deno} (V8 ${info.v8}), wasmtime ${info.wasmtime}, ${info.rustc}\n` +
    `settings: ${RUNS} process runs per case (+1 warm-up discarded)${quick ? ", --quick" : ""}\n`,
);

const { modules, add, mem } = await setup();
const part = (p: string) => PARTS.includes(p);
console.error("compare: part A (throughput, one Deno process) ...");
const a = part("A") ? await partA(add, mem) : undefined;
console.error("compare: part B (warm start, whole processes) ...");
const b = part("B") ? await partB(modules) : undefined;
console.error("compare: part C (in-process load) ...");
const c = part("C") ? await partC(modules) : undefined;
console.error("compare: part D (first launch, tiering) ...");
const realDir = part("D") ? (await must("bash", [`${repo}/scripts/fetch-real-programs.sh`])).stdout.trim() : "";
const e = part("D")
  ? await partD([
    { name: "big", wasm: `${repo}/fixtures/bench/big.wasm`, args: [] },
    { name: "silice", wasm: `${realDir}/silice.wasm`, args: ["--help"] },
    { name: "yosys", wasm: `${realDir}/yosys.wasm`, args: ["-V"] },
  ])
  : undefined;

if (a) {
const d = a.derived;
console.log("A. From TypeScript: ext_wasm (FFI backend) vs Deno native WebAssembly, same process, same modules");
console.log(table(
  ["measure", "ext_wasm", "Deno native", "ext_wasm / native"],
  [
    [
      "churn: instantiate + add + drop (/s)",
      fmt(d.churnExtPerSec, 0),
      fmt(d.churnNativePerSec, 0),
      `${fmt(d.churnRatio)}x throughput`,
    ],
    [
      "  same, FFI backend without promises (/s)",
      fmt(d.churnExtBackendPerSec, 0),
      "",
      `${fmt(d.churnBackendRatio)}x throughput`,
    ],
    [
      "  raw Wasmtime, ext_wasm's pool, from Rust (/s)",
      fmt(d.churnRawPerSec, 0),
      "",
      `${fmt(d.churnRawRatio)}x throughput`,
    ],
    [
      "  same through Deno's FFI, one call each (/s)",
      d.churnRawFfiPerSec === null ? "-" : fmt(d.churnRawFfiPerSec, 0),
      "",
      d.churnRawFfiRatio === null ? "" : `${fmt(d.churnRawFfiRatio)}x throughput`,
    ],
    [
      "call add(i32,i32): ns per call",
      fmt(d.callExtNs, 1),
      fmt(d.callNativeNs, 1),
      `${fmt(d.callExtNs / d.callNativeNs, 1)}x time`,
    ],
    [
      "  same through instance.func(\"add\") (ns)",
      fmt(d.callFuncNs, 1),
      "",
      `${fmt(d.callFuncNs / d.callNativeNs, 1)}x time`,
    ],
    [
      "await instance.call add: ns per call",
      fmt(d.callAwaitNs, 1),
      fmt(d.callAwaitNativeNs, 1),
      `${fmt(d.callAwaitNs / d.callAwaitNativeNs, 1)}x time`,
    ],
    [
      "  20,000 in flight (Promise.all): ns per call",
      fmt(d.callAwaitInFlightNs, 1),
      fmt(d.callAwaitInFlightNativeNs, 1),
      `${fmt(d.callAwaitInFlightNs / d.callAwaitInFlightNativeNs, 1)}x time`,
    ],
    [
      "  same, add with a loop (on a fiber)",
      fmt(d.callAwaitInFlightLoopNs, 1),
      fmt(d.callAwaitInFlightNativeNs, 1),
      `${fmt(d.callAwaitInFlightLoopNs / d.callAwaitInFlightNativeNs, 1)}x time`,
    ],
    [
      "wasm -> JS import from callSync: ns per host call",
      fmt(d.hostCallSyncNs, 1),
      fmt(d.hostCallNativeNs, 1),
      `${fmt(d.hostCallSyncNs / d.hostCallNativeNs, 1)}x time`,
    ],
    [
      "  floor: Deno's FFI callback, C -> JS, no arguments",
      d.hostCallFloorNs === null ? "(no cc)" : fmt(d.hostCallFloorNs, 1),
      "",
      d.hostCallFloorNs === null ? "" : `import = ${fmt(d.hostCallSyncNs / d.hostCallFloorNs, 2)}x floor`,
    ],
    [
      "  with syncImports (called in place)",
      fmt(d.hostCallSyncImportsNs, 1),
      fmt(d.hostCallNativeNs, 1),
      `${fmt(d.hostCallSyncImportsNs / d.hostCallNativeNs, 1)}x time`,
    ],
    [
      "  from await call, sync / async (resolved) import",
      `${fmt(d.hostCallAwaitNs, 1)} / ${fmt(d.hostCallAsyncNs, 1)}`,
      "",
      "",
    ],
    [
      "churn with two JS imports (/s)",
      fmt(d.churnImportsExtPerSec, 0),
      fmt(d.churnImportsNativePerSec, 0),
      `${fmt(d.churnImportsCost)}x the time without imports`,
    ],
    [
      "  with syncImports (/s)",
      fmt(d.churnSyncImportsPerSec, 0),
      fmt(d.churnImportsNativePerSec, 0),
      `${fmt(d.churnSyncImportsCost)}x the time without imports`,
    ],
    [
      "CRC-32 over 1 MiB: ms, await call vs callSync",
      `${fmt(d.crcAwaitMs, 3)} / ${fmt(d.crcSyncMs, 3)}`,
      "",
      `${fmt(100 * (d.crcAwaitMs / d.crcSyncMs - 1), 1)}% overhead`,
    ],
    [
      "long guest under await call: ms (callSync ms)",
      `${fmt(d.long.awaitCall.ms, 0)} (${fmt(d.long.callSyncMs, 0)})`,
      "",
      `${fmt(d.long.awaitCall.ms / d.long.callSyncMs)}x time`,
    ],
    [
      "  1 ms setInterval gaps during it: p50/p99/max ms",
      `${fmt(d.long.awaitCall.p50, 1)}/${fmt(d.long.awaitCall.p99, 1)}/${fmt(d.long.awaitCall.max, 1)}`,
      `idle: ${fmt(d.long.idle.p50, 1)}/${fmt(d.long.idle.p99, 1)}/${fmt(d.long.idle.max, 1)}`,
      "",
    ],
    [
      "memory write 1 MiB: GB/s (% of memcpy)",
      `${fmt(d.memWriteExtGBps, 1)} (${fmt(100 * d.memWriteExtGBps / d.memcpyGBps, 0)}%)`,
      `${fmt(d.memWriteNativeGBps, 1)} (${fmt(100 * d.memWriteNativeGBps / d.memcpyGBps, 0)}%)`,
      fmt(d.memWriteExtGBps / d.memWriteNativeGBps),
    ],
    [
      "memory read 1 MiB: GB/s (% of memcpy)",
      `${fmt(d.memReadExtGBps, 1)} (${fmt(100 * d.memReadExtGBps / d.memcpyGBps, 0)}%)`,
      `${fmt(d.memReadNativeGBps, 1)} (${fmt(100 * d.memReadNativeGBps / d.memcpyGBps, 0)}%)`,
      fmt(d.memReadExtGBps / d.memReadNativeGBps),
    ],
    ["memcpy reference: Uint8Array.set 1 MiB GB/s", fmt(d.memcpyGBps, 1), "", ""],
  ],
  ["l", "r", "r", "r"],
));
console.log();

}
if (b) {
console.log("B. Start across restarts: a fresh process loads the module and prints its first call's result");
console.log("   (wall time of the whole process, median; 'in-process' = the module load measured inside it)");
for (const m of modules) {
  // deno-lint-ignore no-explicit-any
  const r = b[m.name] as any;
  console.log(`\n   ${m.name}: ${r.module} (${r.bytes} bytes), ${r.call}`);
  const rows = Object.entries(r.cases).map(([id, v]) => {
    // deno-lint-ignore no-explicit-any
    const cs = v as any;
    const vsRaw = cs.medianMs / r.cases.raw.medianMs;
    const vsNative = cs.medianMs / r.cases.denoNative.medianMs;
    return [
      cs.label,
      fmt(cs.medianMs, 1),
      cs.inProcessMedianMs !== undefined ? fmt(cs.inProcessMedianMs, 2) : "",
      `${fmt(vsRaw)}x`,
      id.startsWith("extDeno") || id.startsWith("deno") ? `${fmt(vsNative)}x` : "",
    ];
  });
  console.log(table(["case", "ms", "in-process ms", "vs floor", "vs Deno native"], rows, ["l", "r", "r", "r", "r"]));
  console.log(
    `   Deno code cache: WebAssembly.compile took ${fmt(r.denoCodeCache.compileMsFreshDenoDir)} ms with an empty ` +
      `DENO_DIR and ${fmt(r.denoCodeCache.compileMsMedianWarmDenoDir)} ms (median) with a warm one: ` +
      (r.denoCodeCache.persistentCacheObserved
        ? "faster when warm — a persistent cache seems to be in use."
        : "no persistent code cache for WebAssembly.compile; every process compiles again."),
  );
}
console.log();

}
if (c) {
console.log("C. Load alone, in-process: ext_wasm cache hit (fresh Runtime, engine built) vs raw deserialize_file");
console.log(table(
  ["module", "raw deserialize_file µs", "ext_wasm hit (path) µs", "ratio", "ext_wasm hit (bytes) µs", "ratio"],
  modules.map((m) => {
    // deno-lint-ignore no-explicit-any
    const r = c[m.name] as any;
    return [
      m.name,
      fmt(r.rawDeserializeFileUs, 1),
      fmt(r.extCacheHitFileUs, 1),
      `${fmt(r.ratioFile)}x`,
      fmt(r.extCacheHitBytesUs, 1),
      `${fmt(r.ratioBytes)}x`,
    ];
  }),
  ["l", "r", "r", "r", "r", "r"],
));
console.log("   target (performance issue): warm load <= 1.5x the floor, hash and MAC included\n");

}
if (e) {
console.log("D. First launch of a never-seen module, whole process (median ms): tiered vs Cranelift only vs Deno");
console.log(table(
  [
    "program",
    "MB",
    "Deno native",
    "tiered",
    "Cranelift only",
    "tiered/Deno",
    "tiered/Cranelift",
    "tier-up ms",
    "next process",
    "next/raw floor",
    "peak RSS MiB next/raw",
  ],
  Object.entries(e).filter(([k]) => k !== "steadyState").map(([name, v]) => {
    // deno-lint-ignore no-explicit-any
    const r = v as any;
    return [
      name,
      fmt(r.bytes / 1e6, 1),
      fmt(r.cases.denoNative.medianMs, 0),
      fmt(r.cases.extCliCold.medianMs, 0),
      fmt(r.cases.extCliColdCranelift.medianMs, 0),
      `${fmt(r.ratios.coldOverDenoNative)}x`,
      `${fmt(r.ratios.coldOverCraneliftOnly)}x`,
      String(r.tierUpPublishedMs),
      fmt(r.cases.extCliWarm.medianMs, 0),
      `${fmt(r.ratios.nextProcessOverRawFloor)}x`,
      r.peakRssKiB.raw && r.peakRssKiB.extCliWarm
        ? `${fmt(r.peakRssKiB.extCliWarm / 1024, 0)}/${fmt(r.peakRssKiB.raw / 1024, 0)} = ` +
          `${fmt(r.ratios.nextProcessPeakRssOverRawFloor)}x`
        : "-",
    ];
  }),
  ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
));
// deno-lint-ignore no-explicit-any
const st = e.steadyState as any;
console.log(
  `   steady state (${st.call}): Winch ${st.winchUs}, after tier-up ${st.tieredUpUs}, Cranelift only ` +
    `${st.craneliftOnlyUs} (${st.tieredUpOverCraneliftOnly}x)\n`,
);

}
const result = {
  machine: info,
  settings: { runs: RUNS, quick, loadSamples: LOAD_N, extLoadSamples: EXT_LOAD_N },
  throughput: a && { ...a.derived, raw: a.raw },
  start: b,
  load: c,
  firstLaunch: e,
  elapsedSec: round((performance.now() - started) / 1e3, 1),
};
await Deno.mkdir(OUT.replace(/\/[^/]*$/, ""), { recursive: true });
await Deno.writeTextFile(OUT, JSON.stringify(result, null, 2) + "\n");
console.log(`JSON (also in ${OUT.replace(`${repo}/`, "")}):`);
console.log(JSON.stringify({ ...result, throughput: a?.derived }));
console.error(`compare: done in ${result.elapsedSec} s`);
