/**
 * Peak memory of loading an ONNX file (read, decode, plan, weights onto the wasm backend), in a fresh process:
 * VmHWM after the load minus VmRSS before it, against the file's size.
 *   deno run -A bench/onnx_load_memory.ts /tmp/onnx-bench/resnet50.onnx [numClasses] [H,W]
 */
import { initBackend } from "../lib/runtime/backend.ts";
import { loadOnnxNetwork } from "../lib/nets/onnx/onnx_network.ts";

function status(key: string): number {
  const line = Deno.readTextFileSync("/proc/self/status").split("\n").find((l) => l.startsWith(key))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

const [file, classes = "1000", size = "224,224"] = Deno.args;
await initBackend("wasm");
const before = status("VmRSS:");
const t0 = performance.now();
const { weights } = loadOnnxNetwork(file, {
  numClasses: Number(classes),
  inputSize: size.split(",").map(Number) as [number, number],
});
const ms = performance.now() - t0;
const peak = status("VmHWM:");
const after = status("VmRSS:");
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
const bytes = Deno.statSync(file).size;
console.log(
  `${file}: ${mb(bytes)} file; load ${ms.toFixed(0)} ms; RSS before ${mb(before)}, peak +${
    mb(peak - before)
  } ` +
    `(${((peak - before) / bytes).toFixed(2)}x the file), held after +${mb(after - before)} (weights ${
      mb(weights.bytes)
    })`,
);
weights.dispose();
