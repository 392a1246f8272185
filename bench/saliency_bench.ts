/**
 * Saliency timings (issue 3): every named method on VGG16 and ResNet50 at 224x224, batch 1, random weights,
 * at one layer (the last paper layer) and at all paper layers from one request, plus meta-saliency.
 * Backend from RETRACE_BACKEND (default wasm). Compare with
 * `/usr/bin/python3 ../shared/bench/pytorch_baseline.py` (linear-approx, normgrad, sel-normgrad, grad-cam at the
 * last layer; multi-layer normgrad) on the same machine.
 *   deno bench -A bench/saliency_bench.ts          BENCH_MODELS=resnet50 BENCH_RUNS=5 deno bench -A ...
 */
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { IDENTITY_STUDY_CONVS, PAPER_LAYERS } from "../lib/nets/paper_layers.ts";
import { metaSaliency } from "../lib/saliency/meta.ts";
import { METHODS, PAPER_METHODS } from "../lib/saliency/methods.ts";
import { computeSaliency, type SaliencyResult } from "../lib/saliency/saliency.ts";

const info = await initBackend(parseBackendPreference(Deno.env.get("RETRACE_BACKEND") ?? "wasm"));
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 3);
const models = (Deno.env.get("BENCH_MODELS") ?? "vgg16,resnet50").split(",");
const only = Deno.env.get("BENCH_METHODS")?.split(",");

async function finish(r: SaliencyResult): Promise<void> {
  for (const m of r.maps.values()) await m.data();
  r.dispose();
}

for (const arch of models) {
  const net = buildNetwork({ arch });
  const weights = randomWeights(net, 0, { maxBindingBytes: info.maxBindingBytes });
  const input = tf.randomNormal([1, 224, 224, 3], 0, 1, "float32", 1);
  const seed = { kind: "one-hot" as const, targets: [37] };
  const [paper, convs] = [[...PAPER_LAYERS[arch]], [...IDENTITY_STUDY_CONVS[arch]]];
  for (const m of only ? METHODS.filter((m) => only.includes(m.name)) : PAPER_METHODS) {
    const layerSets = m.extract === "conv-exact" ? [[convs.at(-1)!], convs] : [[paper.at(-1)!], paper];
    for (const layers of layerSets) {
      Deno.bench({
        name: `${arch} ${m.name} ${layers.length === 1 ? layers[0] : `all ${layers.length} layers`}`,
        group: `${arch} ${info.backend} 224 b1`,
        n: runs,
        warmup: 1,
      }, async () => await finish(computeSaliency(net, weights, input, { method: m.name, layers, seed })));
    }
  }
  if (!only || only.includes("meta")) {
    Deno.bench({
      name: `${arch} meta-saliency + normgrad ${paper.at(-1)}`,
      group: `${arch} ${info.backend} 224 b1`,
      n: runs,
      warmup: 1,
    }, async () =>
      await finish(
        metaSaliency(net, weights, input, { method: "normgrad", layers: [paper.at(-1)!], seed }, {
          eta: 1e-4,
        }),
      ));
  }
}
