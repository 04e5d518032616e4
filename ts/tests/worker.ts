// A worker for backend_test.ts: instantiates a module handle made by the main isolate and calls `f`.
import * as wasm from "../mod.ts";

self.onmessage = async (e: MessageEvent<number>) => {
  const inst = await wasm.instantiate(e.data);
  const [r] = await inst.call("f");
  await inst.drop();
  self.postMessage(r);
};
