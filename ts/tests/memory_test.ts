// Linear memory: read / readInto / write / size / grow, bounds (5006), caps (5013), and the plugin fixtures that
// work through memory (checksum.wasm, text.wasm).

import * as wasm from "../mod.ts";
import { assert, assertEquals, fixtureModule, fresh, instance, rejects, str, text, throws } from "./helpers.ts";

const MEM = `(module
  (memory (export "memory") 1 4)
  (data (i32.const 16) "hello")
  (func (export "load8") (param i32) (result i32) local.get 0 i32.load8_u)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))`;

Deno.test("read, readInto and write copy exact bytes; size is in pages", async () => {
  const inst = await instance(MEM);
  assertEquals(str(await inst.memory.read(16, 5)), "hello");
  assertEquals(await inst.memory.size(), 1);
  assertEquals(inst.memory.sizeSync(), 1);
  assertEquals(inst.memory.byteLength(), 65536);

  await inst.memory.write(100, new Uint8Array([1, 2, 3, 255]));
  assertEquals(await inst.memory.read(99, 6), new Uint8Array([0, 1, 2, 3, 255, 0]));
  assertEquals(await inst.call("load8", 103), [255]);

  // readInto fills the caller's buffer (or a view into a larger one) and returns it.
  const big = new Uint8Array(10).fill(7);
  const view = big.subarray(2, 6);
  const same = inst.memory.readInto(100, view);
  assert(same === view, "readInto returns its target");
  assertEquals(big, new Uint8Array([7, 7, 1, 2, 3, 255, 7, 7, 7, 7]));

  // write takes a view too: only the view's bytes are copied.
  const src = new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 3);
  await inst.memory.write(200, src);
  assertEquals(await inst.memory.read(199, 4), new Uint8Array([0, 8, 7, 0]));

  // Zero-length operations at the very end of memory are in bounds.
  assertEquals(await inst.memory.read(65536, 0), new Uint8Array(0));
  await inst.memory.write(65536, new Uint8Array(0));
  assertEquals(str(inst.memory.readSync(16, 5)), "hello");
  inst.memory.writeSync(0, text("sync"));
  assertEquals(str(inst.memory.readSync(0, 4)), "sync");
  await inst.drop();
});

Deno.test("out-of-bounds reads and writes are MemoryError 5006 and write nothing", async () => {
  const inst = await instance(MEM);
  await rejects(() => inst.memory.read(999999999, 1024), 5006, "out of bounds");
  await rejects(() => inst.memory.read(65535, 2), 5006, "2 byte(s) at offset 65535, memory is 65536 bytes");
  await rejects(() => inst.memory.read(65537, 0), 5006);
  await rejects(() => inst.memory.write(65534, new Uint8Array([1, 2, 3])), 5006);
  assertEquals(await inst.memory.read(65534, 2), new Uint8Array([0, 0]), "a failed write leaves memory alone");
  throws(() => inst.memory.readInto(65530, new Uint8Array(7)), 5006);
  await rejects(() => inst.memory.read(-1, 1), 5006, "negative");
  await rejects(() => inst.memory.read(0, -1), 5006);
  await rejects(() => inst.memory.read(2 ** 60, 1), 5006, "too large");
  await rejects(() => inst.memory.read(0, 2 ** 40), 5006, "memory is 65536 bytes"); // checked before allocating
  await rejects(() => inst.memory.read(1.5, 1), 5007);
  // deno-lint-ignore no-explicit-any
  await rejects(() => inst.memory.write(0, [1, 2] as any), 5007, "Uint8Array");
  await inst.drop();
});

Deno.test("grow returns the old size; past the module maximum is 5006; guest growth is visible", async () => {
  const inst = await instance(MEM);
  assertEquals(await inst.memory.grow(1), 1);
  assertEquals(await inst.memory.size(), 2);
  assertEquals(await inst.memory.grow(0), 2);
  assertEquals(await inst.call("grow", 1), [2]); // the guest's own memory.grow
  assertEquals(inst.memory.sizeSync(), 3);
  await rejects(() => inst.memory.grow(2), 5006, "cannot grow memory");
  assertEquals(await inst.memory.size(), 3, "a failed grow changes nothing");
  assertEquals(inst.memory.growSync(1), 3);
  assertEquals(await inst.call("grow", 1), [-1], "the guest sees -1 past the maximum");
  await inst.memory.write(4 * 65536 - 1, new Uint8Array([42]));
  assertEquals(await inst.call("load8", 4 * 65536 - 1), [42]);
  await inst.drop();
});

Deno.test("maxMemoryBytes caps growth: host grow → LimitExceeded 5013, guest memory.grow → -1", async () => {
  const inst = await instance(
    `(module (memory (export "memory") 1)
    (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))`,
    { maxMemoryBytes: 3 * 65536 },
  );
  assertEquals(await inst.memory.grow(2), 1);
  await rejects(() => inst.memory.grow(1), 5013, "cap of 196608 bytes");
  assertEquals(await inst.call("grow", 1), [-1]);
  assertEquals(await inst.memory.size(), 3);
  await inst.drop();
});

Deno.test("a module without memory: memory operations are 5006", async () => {
  const inst = await instance(`(module (func (export "f")))`);
  await rejects(() => inst.memory.read(0, 1), 5006, "exports no memory");
  await rejects(() => inst.memory.size(), 5006);
  await rejects(() => inst.memory.grow(1), 5006);
  await rejects(() => inst.memory.write(0, new Uint8Array(1)), 5006);
  await inst.drop();
});

Deno.test("each instance has its own memory", async () => {
  const id = await wasm.compile(text(MEM));
  const [a, b] = await Promise.all([wasm.instantiate(id), wasm.instantiate(id)]);
  await a.memory.write(0, text("AAAA"));
  await b.memory.write(0, text("BBBB"));
  assertEquals(str(await a.memory.read(0, 4)), "AAAA");
  assertEquals(str(await b.memory.read(0, 4)), "BBBB");
  await a.drop();
  await b.drop();
  await wasm.dropModule(id);
});

const u32 = (v: wasm.WasmResult) => Number(v) >>> 0;
const u64 = (v: wasm.WasmResult) => BigInt.asUintN(64, v as bigint);

Deno.test("checksum.wasm: crc32, fnv1a64 and adler32 over bytes written into its buffer", async () => {
  const inst = await wasm.instantiate(await fixtureModule("plugins/checksum.wasm"));
  const [buf] = inst.callSync("buffer") as number[];
  assertEquals(inst.callSync("buffer_len"), [1048576]);
  const hash = async (s: string) => {
    const bytes = text(s);
    await inst.memory.write(buf, bytes);
    const [crc] = await inst.call("crc32", buf, bytes.length);
    const [fnv] = await inst.call("fnv1a64", buf, bytes.length);
    const [adler] = inst.callSync("adler32", buf, bytes.length);
    return { crc: u32(crc), fnv: u64(fnv), adler: u32(adler) };
  };
  assertEquals((await hash("123456789")).crc, 0xCBF43926);
  assertEquals(await hash(""), { crc: 0, fnv: 0xcbf29ce484222325n, adler: 1 });
  assertEquals((await hash("a")).fnv, 0xaf63dc4c8601ec8cn);
  assertEquals((await hash("foobar")).fnv, 0x85944171f73967e8n);
  assertEquals((await hash("Wikipedia")).adler, 0x11E60398);
  // i64 results are BigInt, i32 results numbers (raw bit patterns: read them unsigned).
  const [fnv] = inst.callSync("fnv1a64", buf, 0);
  assertEquals(typeof fnv, "bigint");
  assertEquals(fnv, -3750763034362895579n);
  // A 1 MiB input in one write, one call.
  const big = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
  await inst.memory.write(buf, big);
  assertEquals(u32((await inst.call("crc32", buf, big.length))[0]), crc32(big));
  // Out-of-bounds (ptr, len) traps inside the guest: CallError 5002 with the trap.
  await rejects(() => inst.call("crc32", 0x7fffffff, 16), 5002, "out of bounds");
  await inst.drop();
});

Deno.test("text.wasm: upper, rot13, count_words, reverse in place", async () => {
  const inst = await wasm.instantiate(await fixtureModule("plugins/text.wasm"));
  const [buf] = inst.callSync("buffer") as number[];
  const s = text("Hello, World! 123 xyz");
  await inst.memory.write(buf, s);
  assertEquals(await inst.call("upper", buf, s.length), [11]);
  assertEquals(str(await inst.memory.read(buf, s.length)), "HELLO, WORLD! 123 XYZ");
  assertEquals(await inst.call("count_words", buf, s.length), [4]);
  const r = text("Hello, World!");
  await inst.memory.write(buf, r);
  assertEquals(await inst.call("rot13", buf, r.length), []);
  assertEquals(str(await inst.memory.read(buf, r.length)), "Uryyb, Jbeyq!");
  inst.callSync("reverse", buf, r.length);
  assertEquals(str(inst.memory.readSync(buf, r.length)), "!qyebJ ,byyrU");
  await inst.drop();
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

Deno.test("configure({ poolScanDirtyPages }): a reused slot starts from the module's memory either way", async () => {
  for (const scan of [false, true]) {
    const seen = await fresh<{ rounds: number[][] }>(`
      await wasm.configure({ noCache: true, poolInstances: 2, poolScanDirtyPages: ${scan} });
      const m = await wasm.compile(new TextEncoder().encode(${JSON.stringify(MEM)}));
      const rounds = [];
      for (let round = 0; round < 3; round++) {
        const inst = await wasm.instantiate(m);
        inst.callSync("grow", 1);
        rounds.push([16, 100, 70000].map((at) => inst.callSync("load8", at)[0]));
        inst.memory.writeSync(16, new TextEncoder().encode("HELLO"));
        inst.memory.writeSync(100, new Uint8Array([9]));
        inst.memory.writeSync(70000, new Uint8Array([9]));
        await inst.drop();
      }
      console.log(JSON.stringify({ rounds }));`);
    assertEquals(seen.rounds, [[104, 0, 0], [104, 0, 0], [104, 0, 0]], `poolScanDirtyPages: ${scan}`);
  }
});
