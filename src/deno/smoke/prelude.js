// Smoke test of the generated extension modules (see run.sh). Deno refuses `ext:` imports from user code, so
// run.sh copies the generated modules with `ext:runtime_wasm/` rewritten to `./` and fills in @REPO@.
// Stands in for the Rust ops with ts/tests/ops_standin.ts: each op calls the C function of the same name in the
// real library, which calls the same src/wire.rs function the Rust op calls (no JS re-implementation).
import { createStandInOps } from "@REPO@/ts/tests/ops_standin.ts";
export const calls = [];
const standIn = createStandInOps();
const ops = {};
for (const [k, f] of Object.entries(standIn)) {
  ops[k] = (...a) => {
    calls.push(k);
    return f(...a);
  };
}
try { Deno.core = { ops }; } catch { Object.defineProperty(Deno, "core", { value: { ops } }); }
if (Deno.core?.ops !== ops) globalThis.Deno = { ...Deno, core: { ops } };
