/**
 * Writes the "3000 small functions" module as WAT: the same text as `many_functions(3000)` in
 * `benches/suites/mod.rs` (the criterion compile suite), so both harnesses load the same module (~83 KB binary).
 *
 *   deno run --allow-write bench/compare/gen_funcs.ts OUT.wat [N=3000]
 *
 * `raw_start wat2wasm OUT.wat OUT.wasm` turns it into a binary. Export `f0(1, 2)` returns 3.
 */
const [out, count] = Deno.args;
if (!out) throw new Error("usage: gen_funcs.ts OUT.wat [N]");
const n = Number(count ?? 3000);
let wat = '(module (memory (export "memory") 1)\n';
for (let i = 0; i < n; i++) {
  const k = i * 7 + 3;
  const r = i % 31;
  wat += `(func (export "f${i}") (param i32 i32) (result i32) (local i32)
               (local.set 2 (i32.mul (local.get 0) (i32.const ${k})))
               (if (i32.gt_s (local.get 2) (local.get 1))
                 (then (local.set 2 (i32.xor (local.get 2) (i32.load (i32.and (local.get 1) (i32.const 0xfff0))))))
                 (else (local.set 2 (i32.add (local.get 2) (i32.rotl (local.get 1) (i32.const ${r}))))))
               (i32.sub (local.get 2) (i32.const ${i})))\n`;
}
wat += ")";
Deno.writeTextFileSync(out, wat);
