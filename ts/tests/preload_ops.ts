// `deno test --preload ts/tests/preload_ops.ts`: install the stand-in ops as `Deno.core.ops` before `mod.ts` is
// evaluated, so the whole suite runs on the ops backend (`ts/ops_backend.ts`) as under Forge.
import { createStandInOps } from "./ops_standin.ts";

const ops = createStandInOps();
// deno-lint-ignore no-explicit-any
(Deno as any).core = { ops };
