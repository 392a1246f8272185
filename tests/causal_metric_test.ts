/**
 * Deletion and insertion (lib/eval/causal_metric.ts) against the RISE authors' CausalMetric re-run in PyTorch
 * (tools/methods_reference.py: the blur kernel from scipy, the curves of image 0 of two classifier fixtures with a
 * real saliency map, one row a step), and by hand: the trapezoid area, the pixel order with ties, the curve's end
 * points (the image's and the substrate's probabilities), and that the points per pass change nothing.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { getFloatTensor, readSafetensors } from "../lib/nets/safetensors.ts";
import { loadPytorchFixture, PYTORCH_FIXTURES } from "./helpers/pytorch_fixture.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { causalCurve, curveArea, insertionBlurKernel, pixelOrder } from "../lib/eval/causal_metric.ts";

await initBackend("wasm");

Deno.test("the trapezoid area and the pixel order by hand", () => {
  assert.equal(curveArea([1, 0]), 0.5);
  assert.equal(curveArea([1, 1, 1]), 1);
  assert.equal(curveArea([0, 1, 0]), 0.5);
  assert.equal(curveArea([0.2, 0.4, 0.6, 0.8]), (0.2 + 0.4 + 0.6 + 0.8 - 0.1 - 0.4) / 3);
  // decreasing saliency; the two 3s: higher index first (np.flip of a stable ascending argsort)
  assert.deepEqual(Array.from(pixelOrder([1, 3, 3, 2])), [2, 1, 3, 0]);
});

for (const name of ["vgg16_w32", "resnet50_w8"]) {
  Deno.test(`deletion and insertion curves match the authors' metric in PyTorch: ${name}`, async () => {
    const ref = readSafetensors(await Deno.readFile(`${PYTORCH_FIXTURES}methods_${name}.safetensors`), name);
    const { cfg, width: w, net, weights, input } = await loadPytorchFixture(name);
    const image = tf.slice(input, 0, 1);
    input.dispose();
    const kernel = getFloatTensor(ref, "causal.kernel").data;
    insertionBlurKernel().flat().forEach((v, i) => assert.ok(Math.abs(v - kernel[i]) < 1e-9, `kernel ${i}`));
    const saliency = getFloatTensor(ref, "causal.saliency").data;
    const before = tf.memory().numTensors;
    for (const mode of ["deletion", "insertion"] as const) {
      const want = getFloatTensor(ref, `causal.${mode}`).data;
      for (const batch of [32, 5]) {
        const curve = await causalCurve(net, weights, image, cfg.targets[0], saliency, mode, {
          step: w,
          batch,
        });
        assert.equal(curve.scores.length, want.length, `${mode}: n + 1 points`);
        curve.scores.forEach((v, i) =>
          assert.ok(Math.abs(v - want[i]) < 2e-5, `${mode} point ${i}: ${v} vs ${want[i]}`)
        );
        assert.ok(
          Math.abs(curve.auc - curveArea(want)) < 2e-5,
          `${mode} AUC ${curve.auc} vs ${curveArea(want)}`,
        );
      }
    }
    assert.equal(tf.memory().numTensors, before);
    image.dispose();
    weights.dispose();
  });
}

Deno.test("a deletion curve runs from the image's probability to the zero image's", async () => {
  const net = buildNetwork({ arch: "resnet18", width: 1 / 8, numClasses: 5 });
  const weights = randomWeights(net, 3);
  const image = tf.randomNormal([1, 20, 24, 3], 0, 1, "float32", 5);
  const saliency = Float32Array.from({ length: 20 * 24 }, (_, i) => Math.sin(i));
  const curve = await causalCurve(net, weights, image, 2, saliency, "deletion", { step: 50 });
  assert.equal(curve.scores.length, Math.ceil(480 / 50) + 1);
  const prob = (x: tf.Tensor) => tf.tidy(() => tf.softmax(runProbed(net, weights, x).output).dataSync()[2]);
  const zeros = tf.zerosLike(image);
  assert.ok(Math.abs(curve.scores[0] - prob(image)) < 1e-6);
  assert.ok(Math.abs(curve.scores.at(-1)! - prob(zeros)) < 1e-6);
  await assert.rejects(
    () => causalCurve(net, weights, image, 2, saliency.subarray(1), "deletion"),
    RangeError,
  );
  tf.dispose([image, zeros]);
});
