/**
 * Maps per second at batch 1, 8 and 32 (issue 19's GPU table): VGG16 and ResNet50, random weights, one target
 * per image, through computeSaliency as the service and the evaluations run it — Grad-CAM at the last paper
 * layer, and NormGrad at every paper layer from one backward ("multi-layer"); each pass ends with one read of
 * every map. bench/gpu/torch_cuda_throughput.py runs the same workloads in PyTorch. A batch that does not fit
 * (e.g. llvmpipe's 128 MiB binding limit) prints its error instead of a time. Prints JSON lines.
 *
 *   deno run -A bench/gpu_throughput.ts   (RETRACE_BACKEND, default webgpu; TP_RUNS, default 5; TP_SIZE,
 *                                          default 224; TP_BATCHES, default 1,8,32; TP_MODELS, default
 *                                          vgg16,resnet50)
 */
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { PAPER_LAYERS } from "../lib/nets/paper_layers.ts";
import { medianTime } from "./median.ts";
import { saliencyWorkloads } from "./saliency_workloads.ts";

const info = await initBackend(parseBackendPreference(Deno.env.get("RETRACE_BACKEND") ?? "webgpu"));
const runs = Number(Deno.env.get("TP_RUNS") ?? 5);
const size = Number(Deno.env.get("TP_SIZE") ?? 224);
const batches = (Deno.env.get("TP_BATCHES") ?? "1,8,32").split(",").map(Number);
const models = (Deno.env.get("TP_MODELS") ?? "vgg16,resnet50").split(",");
console.log(JSON.stringify({ backend: info.backend, adapter: info.adapter?.description ?? null, size }));

for (const arch of models) {
  const net = buildNetwork({ arch });
  const weights = randomWeights(net, 0, { maxBindingBytes: info.maxBindingBytes });
  const layers = [...PAPER_LAYERS[arch]].filter((l) => l !== "");
  for (const batch of batches) {
    const input = tf.randomNormal([batch, size, size, 3], 0, 1, "float32", 1);
    const seed = {
      kind: "one-hot" as const,
      targets: Array.from({ length: batch }, (_, i) => (37 * i + 7) % 1000),
    };
    for (
      const [workload, method, at] of [["grad-cam", "grad-cam", [layers.at(-1)!]], [
        "multi-layer",
        "normgrad",
        layers,
      ]] as const
    ) {
      const pass = saliencyWorkloads(net, weights, input, seed).map(method, at);
      try {
        const ms = await medianTime(pass, runs);
        console.log(JSON.stringify({
          arch,
          workload,
          batch,
          median_ms: +ms.toFixed(1),
          maps_per_s: +(batch / ms * 1000).toFixed(2),
        }));
      } catch (e) {
        console.log(
          JSON.stringify({ arch, workload, batch, error: String((e as Error).message ?? e).slice(0, 200) }),
        );
      }
    }
    input.dispose();
  }
  weights.dispose();
}
