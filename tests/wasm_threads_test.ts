/**
 * Multi-threaded wasm (lib/runtime/wasm_threads.ts): with RETRACE_WASM_THREADS=2 the backend really runs two
 * threads and computes what one thread computes (forward, input gradient, Grad-CAM of a small ResNet, to 1e-5);
 * the pthread-worker rewrite refuses a script it does not know; bad values are errors naming the range.
 */
import assert from "node:assert/strict";
import { patchedPthreadWorker, WasmThreadsError } from "../lib/runtime/wasm_threads.ts";
import { BackendError, parseWasmThreads } from "../lib/runtime/backend.ts";
import { assertClose } from "./helpers/compare.ts";

const PROBE = new URL("./helpers/wasm_threads_probe.ts", import.meta.url).pathname;

async function probe(threads: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--allow-write=/tmp", "--allow-sys", PROBE],
    env: { RETRACE_WASM_THREADS: threads, NO_COLOR: "1" },
  }).output();
  const line = new TextDecoder().decode(out.stdout).split("\n").find((l) => l.startsWith("{"));
  assert.ok(out.code === 0 && line, `probe failed: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(line) as { threads: number; logits: number[]; gradMap: number[]; camMap: number[] };
}

Deno.test("two wasm threads run and compute what one thread computes", async () => {
  const [one, two] = await Promise.all([probe("1"), probe("2")]);
  assert.equal(one.threads, 1);
  assert.equal(two.threads, 2);
  assertClose(two.logits, one.logits, 1e-5);
  assertClose(two.gradMap, one.gradMap, 1e-5);
  assertClose(two.camMap, one.camMap, 1e-5);
});

Deno.test("the pthread-worker rewrite and RETRACE_WASM_THREADS refuse what they do not know", () => {
  assert.throws(
    () => patchedPthreadWorker("module.exports.wasmWorkerContents = `other`;", "/x.js"),
    WasmThreadsError,
  );
  const known =
    'x=`Object.assign(global,{a:1});if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}' +
    "else{var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)}`";
  const patched = patchedPthreadWorker(known, "/m.js");
  assert.match(patched, /importScripts\("\/m\.js"\);/);
  assert.doesNotMatch(patched, /createObjectURL|Object\.assign/);
  assert.equal(parseWasmThreads(undefined), 1);
  assert.equal(parseWasmThreads("4"), 4);
  for (const bad of ["0", "9", "two", "1.5"]) {
    assert.throws(
      () => parseWasmThreads(bad),
      (e: Error) => e instanceof BackendError && /1\.\.8/.test(e.message),
    );
  }
});
