// Artifact bundles from TypeScript: `writeBundle` precompiles files into one bundle; another process lists it in
// `configure({ bundles })` and its modules load from it (`bundleStatus()` counts the hits), pinned or not.

import { writeBundle } from "../mod.ts";
import { assert, assertEquals, fixturePath, fresh, rejects, tempDir } from "./helpers.ts";

const CHECKSUM = fixturePath("plugins/checksum.wasm");

Deno.test("a written bundle serves a fresh process's first load, pinned to its manifest", async () => {
  const dir = await tempDir();
  try {
    const bundle = `${dir.path}/app.wasmbundle`;
    const manifest = await writeBundle([CHECKSUM], bundle);
    assert(/^[0-9a-f]{64}$/.test(manifest), manifest);
    const status = await fresh<{ hits: number; manifest: string; error: null }[]>(`
      await wasm.configure({ cacheDir: ${JSON.stringify(`${dir.path}/cache`)},
                             bundles: [{ path: ${JSON.stringify(bundle)}, manifest: ${JSON.stringify(manifest)} }] });
      await wasm.compileFile(${JSON.stringify(CHECKSUM)});
      console.log(JSON.stringify(await wasm.bundleStatus()));`);
    assertEquals([status[0].hits, status[0].manifest, status[0].error], [1, manifest, null]);
  } finally {
    await dir.cleanup();
  }
});

Deno.test("a bundle pinned to another manifest is not used, and says why", async () => {
  const dir = await tempDir();
  try {
    const bundle = `${dir.path}/app.wasmbundle`;
    await writeBundle([CHECKSUM], bundle, { variants: ["epoch", "fuel"] });
    const wrong = "0".repeat(64);
    const status = await fresh<{ hits: number; error: string }[]>(`
      await wasm.configure({ noCache: true, bundles: [{ path: ${JSON.stringify(bundle)}, manifest: "${wrong}" }] });
      await wasm.compileFile(${JSON.stringify(CHECKSUM)});
      console.log(JSON.stringify(await wasm.bundleStatus()));`);
    assertEquals(status[0].hits, 0);
    assert(status[0].error.includes(`is not the pinned ${wrong}`), status[0].error);
  } finally {
    await dir.cleanup();
  }
});

Deno.test("writeBundle refuses unknown variants and unreadable modules", async () => {
  const dir = await tempDir();
  try {
    const out = `${dir.path}/x.wasmbundle`;
    // deno-lint-ignore no-explicit-any
    await rejects(() => writeBundle([CHECKSUM], out, { variants: ["turbo" as any] }), 5007, "unknown variant `turbo`");
    await rejects(() => writeBundle([`${dir.path}/nope.wasm`], out), 5008, "cannot read");
  } finally {
    await dir.cleanup();
  }
});
