/**
 * Multi-threaded wasm under Deno (RETRACE_WASM_THREADS). tfjs 4.22 turns wasm threads off under Node (and Deno
 * looks like Node to it); forced on, four things stand in the way, each handled here around the backend's start:
 *  1. Emscripten's pthread pool starts `node:worker_threads` workers from a blob: URL, which Deno refuses: the
 *     pthread worker script is written to a temporary .cjs file and URL.createObjectURL hands out its path.
 *  2. That script sets `location` (read-only in a Deno worker) with Object.assign, and loads the main script
 *     from a Blob: it is rewritten to set each global it can and to load the main script from its file.
 *  3. tfjs's C++ takes emscripten_num_logical_cores() / 2 as the core count (assuming hyper-threads) and caps
 *     the thread pool at it — 1 on a 2-core machine: os.cpus() reports each core twice while the backend starts.
 *  4. Emscripten replaces the global Worker with node:worker_threads' one: it is put back afterwards.
 * Cost: tfjs starts 8 pthread workers (each a V8 isolate) per runtime whatever the count.
 * XNNPACK then runs each operator's work on `count` threads (the pthreads share the wasm memory).
 */
import os from "node:os";
import { setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { tf } from "./tf.ts";

export class WasmThreadsError extends Error {
  override name = "WasmThreadsError";
}

const BLOB_LOAD =
  'if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}else{var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)}';
const ASSIGN = "Object.assign(global,{";

/** The pthread worker script, rewritten for Deno (exported for the test). */
export function patchedPthreadWorker(source: string, mainScriptPath: string): string {
  const contents = source.slice(source.indexOf("`") + 1, source.lastIndexOf("`"));
  if (!contents.includes(BLOB_LOAD) || !contents.includes(ASSIGN)) {
    throw new WasmThreadsError(
      "the tfjs-backend-wasm pthread worker is not the 4.22 one this patch knows; run with RETRACE_WASM_THREADS=1",
    );
  }
  return contents
    .replace(BLOB_LOAD, `importScripts(${JSON.stringify(mainScriptPath)});`)
    .replace(ASSIGN, "(function(o){for(var k in o){try{global[k]=o[k]}catch(_){}}})({");
}

/** tfjs pre-creates this many pthread workers, so no more threads can run. */
export const MAX_WASM_THREADS = 8;

let prepared = false;

/**
 * Makes the wasm backend start with `count` threads (call before the first tf.setBackend("wasm")); 1 leaves the
 * single-threaded SIMD build in place. Returns a function to call once the backend is initialised.
 */
export function prepareWasmThreads(count: number): () => void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_WASM_THREADS) {
    throw new WasmThreadsError(
      `wasm threads must be an integer in 1..${MAX_WASM_THREADS} (tfjs pre-creates ${MAX_WASM_THREADS}), got ${count}`,
    );
  }
  if (count === 1 || prepared) return () => {};
  prepared = true;
  const dist = new URL(import.meta.resolve("@tensorflow/tfjs-backend-wasm")).pathname;
  const out = dist.replace(/dist\/[^/]*$/, "wasm-out/");
  const source = Deno.readTextFileSync(`${out}tfjs-backend-wasm-threaded-simd.worker.js`);
  const dir = Deno.makeTempDirSync({ prefix: "retrace-wasm-pthreads-" });
  const workerPath = `${dir}/pthread-worker.cjs`;
  Deno.writeTextFileSync(
    workerPath,
    patchedPthreadWorker(source, `${out}tfjs-backend-wasm-threaded-simd.js`),
  );
  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = (obj: Blob | MediaSource) =>
    obj instanceof Blob && obj.type === "application/javascript" ? workerPath : createObjectURL(obj);
  const cpus = os.cpus;
  os.cpus = () => Array.from({ length: 2 * count }, () => cpus()[0]);
  // Emscripten's Node start-up replaces the global Worker with node:worker_threads' (its pthreads are started
  // by then: tfjs pre-creates 8); the rest of the runtime (comlink pools) needs the web one back.
  const WebWorker = globalThis.Worker;
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  setThreadsCount(count);
  return () => {
    os.cpus = cpus;
    globalThis.Worker = WebWorker;
  };
}

/** Threads the initialised wasm backend runs XNNPACK on (1 when single-threaded). */
export function wasmThreadsInUse(): number {
  const wasm = (tf.backend() as unknown as { wasm?: { tfjs: { getThreadsCount(): number } } }).wasm;
  return wasm ? Math.max(1, wasm.tfjs.getThreadsCount()) : 1;
}
