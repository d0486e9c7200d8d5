// The engine's worker with threads, as a module worker: wasm-bindgen's module, then the
// thread pool (one thread per core the page was told of), then the worker's own start.
// Messages that arrive before the start wait in the queue the worker keeps meanwhile.
import init, { initThreadPool, startWorker } from "./worker.js";

const waiting = [];
self.onmessage = (event) => waiting.push(event);
const threads = Number(new URL(self.location.href).searchParams.get("threads")) || navigator.hardwareConcurrency || 2;
await init();
await initThreadPool(threads);
startWorker();
for (const event of waiting) self.onmessage(event);
