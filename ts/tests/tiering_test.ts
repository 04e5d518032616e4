// Two tiers from TypeScript: a never-seen big module starts on Winch code, Cranelift's code serves the instances
// created after the tier-up (`waitForTierUp`, `tierStats`), and the next process loads Cranelift's from the cache.

import { assert, assertEquals, fixturePath, fresh, tempDir } from "./helpers.ts";

const BIG = fixturePath("bench/big.wasm");

Deno.test("instances before and after the tier-up both compute right; the next process starts on Cranelift code", async () => {
  const dir = await tempDir();
  try {
    const configure = `await wasm.configure({ cacheDir: ${JSON.stringify(dir.path)} });`;
    const first = await fresh(`${configure}
      const m = await wasm.compileFile(${JSON.stringify(BIG)});
      const before = await wasm.instantiate(m);
      const loaded = await wasm.tierStats();
      const idle = await wasm.waitForTierUp();
      const after = await wasm.instantiate(m);
      console.log(JSON.stringify({ loaded, idle, done: await wasm.tierStats(),
        sums: [await before.call("big_sum", 42), await after.call("big_sum", 42)] }));`);
    const loaded = first.loaded as Record<string, number>;
    assertEquals([loaded.baselineLoads, loaded.optimizedLoads, loaded.pending], [1, 0, 1]);
    assertEquals(first.idle, true);
    const done = first.done as Record<string, number>;
    assertEquals([done.pending, done.done, done.failed], [0, 1, 0]);
    assert(done.lastMs >= 0, JSON.stringify(done));
    assertEquals(first.sums, [[954920108], [954920108]]);

    const second = await fresh(`${configure}
      const m = await wasm.compileFile(${JSON.stringify(BIG)});
      const i = await wasm.instantiate(m);
      console.log(JSON.stringify({ stats: await wasm.tierStats(), sum: await i.call("big_sum", 42) }));`);
    const stats = second.stats as Record<string, number>;
    assertEquals([stats.baselineLoads, stats.optimizedLoads, stats.pending], [0, 1, 0]);
    assertEquals(second.sum, [954920108]);
  } finally {
    await dir.cleanup();
  }
});

Deno.test("configure({ tiering }) picks the policy and refuses unknown ones", async () => {
  const winch = await fresh(`
    await wasm.configure({ noCache: true, tiering: "winch", baselineMinBytes: 0 });
    await wasm.compile(new TextEncoder().encode('(module (func (export "f")))'));
    console.log(JSON.stringify(await wasm.tierStats()));`);
  assertEquals([winch.baselineLoads, winch.pending], [1, 0]);
  const refused = await fresh(`
    try { await wasm.configure({ tiering: "fast" }); console.log("null"); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`);
  assertEquals(refused.code, 5007);
  assert(String(refused.message).includes("unknown variant `fast`"), String(refused.message));
});
