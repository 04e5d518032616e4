// An empty script: the cost of starting a Deno process, for reference (bench/compare/harness.ts).
