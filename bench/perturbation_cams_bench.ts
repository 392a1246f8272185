/**
 * Score-CAM and Ablation-CAM beside Grad-CAM, retrace against PyTorch on the same machine in the same run: the
 * shipped models' architecture (ResNet50 at width 1/8, 12 classes, random weights), one 224x224 image, the map at
 * layer4 (256 channels: 256 masked or ablated forwards, 16 / 32 to a pass). The PyTorch side is
 * bench/pytorch_perturbation_cams.py (pytorch-grad-cam's algorithm). Backend from RETRACE_BACKEND (default
 * wasm, one thread as a worker runs). Prints a table of medians.
 *
 *   deno run -A bench/perturbation_cams_bench.ts [--runs 3] [--threads 2]
 */
import { parseArgs } from "node:util";
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { medianTime } from "./median.ts";
import { pythonRows } from "./python_rows.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "3" }, threads: { type: "string", default: "2" } },
});
const runs = Number(values.runs);
const torch = new Map<string, { ms: number; runtime: string }>();
for (
  const row of await pythonRows(new URL("./pytorch_perturbation_cams.py", import.meta.url), [
    "--runs",
    values.runs,
    "--threads",
    values.threads,
  ])
) {
  torch.set(row.method as string, { ms: row.median_ms as number, runtime: row.runtime as string });
}

const info = await initBackend(parseBackendPreference(Deno.env.get("RETRACE_BACKEND") ?? "wasm"));
const net = buildNetwork({ arch: "resnet50", width: 1 / 8, numClasses: 12 });
const weights = randomWeights(net, 0, { maxBindingBytes: info.maxBindingBytes });
const input = tf.randomNormal([1, 224, 224, 3], 0, 1, "float32", 1);
console.log(
  `retrace ${info.backend} vs ${torch.get("grad-cam")?.runtime}, ResNet50 width 1/8, 224x224, layer4, ` +
    `medians of ${runs}`,
);
console.log("| method | PyTorch ms | retrace ms | retrace / PyTorch |\n|---|---|---|---|");
for (const method of ["grad-cam", "score-cam", "ablation-cam"]) {
  const ms = await medianTime(async () => {
    const r = computeSaliency(net, weights, input, {
      method,
      layers: ["layer4"],
      seed: { kind: "one-hot", targets: [3] },
    });
    await r.maps.get("layer4")!.data();
    r.dispose();
  }, runs);
  const ref = torch.get(method)!.ms;
  console.log(`| ${method} | ${ref} | ${ms.toFixed(1)} | ${(ms / ref).toFixed(2)} |`);
}
