/// <reference lib="deno.worker" />
// A worker for backend_test.ts: instantiates a module handle made by the main isolate and calls `f`, giving it
// a JavaScript import `host.twice` (ignored by modules that do not import it; called in place on this worker's
// own thread by those that do).
import * as wasm from "../mod.ts";

self.onmessage = async (e: MessageEvent<number>) => {
  const inst = await wasm.instantiate(e.data, { imports: { host: { twice: (x: number) => 2 * x } } });
  const [r] = await inst.call("f");
  await inst.drop();
  self.postMessage(r);
};
