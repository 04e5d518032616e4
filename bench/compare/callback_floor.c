/* The floor of a wasm -> JS host call through Deno's FFI: C calling a Deno.UnsafeCallback that takes no
 * arguments, n times (bench/compare/throughput.ts, the "Deno's own callback" row). Built by scripts/compare.sh
 * with the system C compiler when there is one. */
typedef int (*callback)(void);

int call_n(callback f, int n) {
  int sum = 0;
  for (int i = 0; i < n; i++) sum += f();
  return sum;
}
