/**
 * The methods that take many passes beside Grad-CAM, retrace against PyTorch on the same machine in the same run:
 * the shipped models' architecture (ResNet50 at width 1/8, 12 classes, random weights), one 224x224 image.
 * Score-CAM and Ablation-CAM at layer4 (256 channels: 256 masked or ablated forwards, 16 / 32 to a pass);
 * integrated gradients (50 points), RISE (1000 masks), occlusion (15x15, stride 8) and FullGrad at the input.
 * The PyTorch side is bench/pytorch_many_pass.py (each method as its reference implementation runs it). Backend from RETRACE_BACKEND (default
 * wasm, one thread as a worker runs). Prints a table of medians.
 *
 *   deno run -A bench/many_pass_bench.ts [--runs 3] [--threads 2]
 */
import { parseArgs } from "node:util";
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import type { SaliencyRequest } from "../lib/saliency/saliency.ts";
import { medianTime } from "./median.ts";
import { saliencyWorkloads } from "./saliency_workloads.ts";
import { pythonRows } from "./python_rows.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "3" }, threads: { type: "string", default: "2" } },
});
const runs = Number(values.runs);
const torch = new Map<string, { ms: number; runtime: string }>();
for (
  const row of await pythonRows(new URL("./pytorch_many_pass.py", import.meta.url), [
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
  `retrace ${info.backend} vs ${torch.get("grad-cam")?.runtime}, ResNet50 width 1/8, 224x224, ` +
    `medians of ${runs}`,
);
console.log("| method | layer | PyTorch ms | retrace ms | retrace / PyTorch |\n|---|---|---|---|---|");
const cases: [string, string, Partial<SaliencyRequest>][] = [
  ["grad-cam", "layer4", {}],
  ["score-cam", "layer4", {}],
  ["ablation-cam", "layer4", {}],
  ["integrated-gradients", "", {}],
  ["rise", "", { rise: { masks: 1000, probability: "sigmoid" } }],
  ["occlusion", "", {}],
  ["full-grad", "", {}],
];
const { map } = saliencyWorkloads(net, weights, input, { kind: "one-hot", targets: [3] });
for (const [method, layer, options] of cases) {
  const ms = await medianTime(map(method, [layer], options), runs);
  const ref = torch.get(method)!.ms;
  console.log(`| ${method} | ${layer || "input"} | ${ref} | ${ms.toFixed(1)} | ${(ms / ref).toFixed(2)} |`);
}
