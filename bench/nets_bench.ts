/**
 * Full-size network timings (issue 2): VGG16 and ResNet50 at 224x224, batch 1, random weights — forward,
 * input gradient, gradients at every paper layer (METHODS.md §2.1–2.2) from one backward pass, and all weight
 * gradients. Backend from RETRACE_BACKEND (default wasm here), e.g.
 *   deno bench -A bench/nets_bench.ts                              # wasm
 *   RETRACE_BACKEND=webgpu deno bench -A bench/nets_bench.ts       # webgpu
 * Compare with `/usr/bin/python3 ../shared/bench/pytorch_baseline.py` on the same machine
 * (forward, gradient, multi-layer, weight-grads).
 */
import { assertNoDeviceErrors, initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { PAPER_LAYERS } from "../lib/nets/paper_layers.ts";
import { trainableParams } from "../lib/saliency/meta.ts";

const pref = parseBackendPreference(Deno.env.get("RETRACE_BACKEND") ?? "wasm");
const info = await initBackend(pref);
console.log(JSON.stringify({
  backend: info.backend,
  reason: info.reason,
  adapter: info.adapter?.description ?? null,
  maxBindingBytes: info.maxBindingBytes,
}));
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 5);
const only = (Deno.env.get("BENCH_MODELS") ?? "vgg16,resnet50").split(",");

for (const arch of only) {
  const net = buildNetwork({ arch });
  const weights = randomWeights(net, 0, { maxBindingBytes: info.maxBindingBytes });
  const input = tf.randomNormal([1, 224, 224, 3], 0, 1, "float32", 1);
  const target = 37;
  const objective = (out: Tensor) => tf.sum(tf.slice(out, [0, target], [1, 1]));
  const crossEntropy = (out: Tensor) => tf.losses.softmaxCrossEntropy(tf.oneHot([target], 1000), out);
  const params = trainableParams(net);
  const sync = async (t: Tensor) => {
    await t.data();
    assertNoDeviceErrors(); // webgpu: a silent device error would make every number meaningless
  };
  const group = `${arch} ${info.backend} 224 b1`;
  const bench = (name: string, fn: () => Promise<void>) =>
    Deno.bench({ name: `${arch} ${name}`, group, n: runs, warmup: 1 }, fn);

  bench("forward", async () => {
    const r = runProbed(net, weights, input, {});
    await sync(r.output);
    r.dispose();
  });
  bench("input gradient", async () => {
    const r = runProbed(net, weights, input, { gradients: [""], objective });
    await sync(r.gradients.get("")!);
    r.dispose();
  });
  bench("all paper layers (x and g, one pass)", async () => {
    const layers = [...PAPER_LAYERS[arch]];
    const r = runProbed(net, weights, input, {
      record: layers,
      gradients: layers,
      objective,
    });
    for (const g of r.gradients.values()) await sync(g);
    r.dispose();
  });
  if (weights.chunks.size === 0) {
    // A weight stored in chunks (over the adapter's binding limit, e.g. VGG16's classifier.0 on llvmpipe) has no
    // whole-weight gradient.
    bench("weight gradients (all)", async () => {
      const r = runProbed(net, weights, input, {
        weightGradients: params,
        objective: crossEntropy,
      });
      for (const g of r.weightGradients.values()) await sync(g);
      r.dispose();
    });
  }
}
