/**
 * An imported ONNX ResNet50 against the built-in one with the same weights (wasm, 224x224, batch 1): Grad-CAM at
 * layer4 and NormGrad at the four stages from one backward. Files from tools/export_torchvision.py (full-size
 * torchvision ResNet50, random weights): resnet50.bn.onnx keeps BatchNorm (the built-in network op for op),
 * resnet50.onnx is torch.onnx.export's default (BatchNorm folded: fewer ops).
 *   /usr/bin/python3 tools/export_torchvision.py resnet50 --out /tmp/onnx-bench
 *   BENCH_ONNX_DIR=/tmp/onnx-bench deno bench -A bench/onnx_import_bench.ts
 */
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork, type Network } from "../lib/nets/network.ts";
import type { NetWeights } from "../lib/nets/weights.ts";
import { weightsFromSafetensors } from "../lib/nets/weights_io.ts";
import { loadOnnxNetwork } from "../lib/nets/onnx/onnx_network.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";

const dir = Deno.env.get("BENCH_ONNX_DIR") ?? "/tmp/onnx-bench";
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 5);
await initBackend("wasm");

const builtNet = buildNetwork({ arch: "resnet50", numClasses: 1000 });
const models: [string, Network, NetWeights][] = [
  ["built-in", builtNet, weightsFromSafetensors(builtNet, Deno.readFileSync(`${dir}/resnet50.safetensors`))],
];
for (
  const [label, file] of [["onnx, BN kept", "resnet50.bn.onnx"], ["onnx, default export", "resnet50.onnx"]]
) {
  const t0 = performance.now();
  const { net, weights } = loadOnnxNetwork(`${dir}/${file}`, { numClasses: 1000, inputSize: [224, 224] });
  console.log(`${file}: loaded in ${(performance.now() - t0).toFixed(0)} ms`);
  models.push([label, net, weights]);
}
const input = tf.randomNormal([1, 224, 224, 3], 0, 1, "float32", 1);
const seed = { kind: "one-hot" as const, targets: [37] };

for (
  const [method, layers] of [["grad-cam", ["layer4"]], ["normgrad", [
    "layer1",
    "layer2",
    "layer3",
    "layer4",
  ]]] as const
) {
  for (const [label, net, weights] of models) {
    Deno.bench({
      name: `${label}: ${method} at ${layers.join(", ")}`,
      group: `resnet50 wasm 224 b1 ${method}`,
      baseline: label === "built-in",
      n: runs,
      warmup: 1,
    }, async () => {
      const r = computeSaliency(net, weights, input, { method, layers: [...layers], seed });
      for (const m of r.maps.values()) await m.data();
      r.dispose();
    });
  }
}
