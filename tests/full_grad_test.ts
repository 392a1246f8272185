/**
 * FullGrad's bias-carrying modules (lib/saliency/full_grad.ts): a ResNet's batch norms with β − μγ/√(σ² + ε) by
 * hand, a VGG's convs with their own biases; the map of a network whose biases are all zero is its input term
 * alone (ψ(∇ₓS ⊙ x) summed over channels); FullGrad explains the input only. PyTorch comparisons (the authors'
 * algorithm) on four networks are in saliency_fixtures_test.ts.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { BN_EPSILON } from "../lib/nets/ops.ts";
import { biasModules, fullGrad } from "../lib/saliency/full_grad.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import { relErr } from "./helpers/compare.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { objectiveFor } from "../lib/saliency/seeds.ts";

await initBackend("wasm");

const resnet = buildNetwork({ arch: "resnet18", width: 1 / 8, numClasses: 5 });
const vgg = buildNetwork({ arch: "vgg11", width: 1 / 16, numClasses: 6 });

Deno.test("bias modules: a ResNet's batch norms (effective bias by hand), a VGG's convs", () => {
  const w = randomWeights(resnet, 3);
  const mods = biasModules(resnet, w);
  const bns = resnet.params.filter((p) => p.name.endsWith(".running_mean")).length;
  assert.equal(mods.length, bns, "every batch norm, no bias-free conv");
  const first = mods[0];
  const [g, b, m, v] = ["weight", "bias", "running_mean", "running_var"].map((k) =>
    Array.from(w.get(`${first.name}.${k}`).dataSync())
  );
  const expected = b.map((beta, c) => beta - (m[c] * g[c]) / Math.sqrt(v[c] + BN_EPSILON));
  assert.ok(relErr(first.bias.dataSync() as Float32Array, Float32Array.from(expected)) < 1e-6);
  tf.dispose(mods.map((x) => x.bias));
  const wv = randomWeights(vgg, 4);
  const convs = biasModules(vgg, wv);
  assert.deepEqual(convs.map((x) => x.name), [...vgg.convs.keys()]);
  tf.dispose(convs.map((x) => x.bias));
});

Deno.test("with every bias zero, FullGrad is ψ(∇ₓS ⊙ x) summed over channels", () => {
  const w = randomWeights(vgg, 5);
  const zeroed = w.withOverrides(
    new Map([...vgg.convs.keys()].map((c) => [`${c}.bias`, tf.zerosLike(w.get(`${c}.bias`))])),
  );
  const image = tf.randomNormal([1, 40, 48, 3], 0, 1, "float32", 6);
  const seed = { kind: "one-hot" as const, targets: [2] };
  const { map, output } = fullGrad(vgg, zeroed, image, seed);
  output.dispose();
  const expected = tf.tidy(() => {
    const r = runProbed(vgg, zeroed, image, { gradients: [""], objective: objectiveFor(seed) });
    const t = tf.abs(tf.mul(r.gradients.get("")!, image));
    r.dispose();
    const shifted = tf.sub(t, tf.min(t));
    return tf.sum(tf.div(shifted, tf.add(tf.max(shifted), 1e-6)), -1, true);
  });
  assert.ok(relErr(map.dataSync() as Float32Array, expected.dataSync() as Float32Array) < 1e-5);
  assert.throws(
    () => computeSaliency(vgg, zeroed, image, { method: "full-grad", layers: ["features.3"], seed }),
    SaliencyInputError,
  );
  tf.dispose([map, expected, image]);
  zeroed.dispose();
});
