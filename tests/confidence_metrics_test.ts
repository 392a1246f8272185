/**
 * Average Drop / Increase in Confidence and the energy-based pointing game (lib/eval/confidence_metrics.ts):
 * one image's (Y, O) against PyTorch on two fixture networks (tools/methods_reference.py, the same saliency map),
 * the averages and the energy share by hand, and the constant-map rule.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { getFloatTensor, readSafetensors } from "../lib/nets/safetensors.ts";
import { averageDropIncrease, confidenceChange, energyInRegion } from "../lib/eval/confidence_metrics.ts";
import { loadPytorchFixture, PYTORCH_FIXTURES } from "./helpers/pytorch_fixture.ts";

await initBackend("wasm");

for (const name of ["vgg16_w32", "resnet50_w8"]) {
  Deno.test(`confidence on the image and on the image times its map matches PyTorch: ${name}`, async () => {
    const ref = readSafetensors(await Deno.readFile(`${PYTORCH_FIXTURES}methods_${name}.safetensors`), name);
    const { cfg, height, width, net, weights, input } = await loadPytorchFixture(name);
    const image = tf.slice(input, 0, 1);
    const map = tf.tensor(getFloatTensor(ref, "causal.saliency").data, [1, height, width, 1]);
    const before = tf.memory().numTensors;
    const got = await confidenceChange(net, weights, image, cfg.targets[0], map);
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
    const [full, masked] = getFloatTensor(ref, "confidence.change").data;
    assert.ok(Math.abs(got.full - full) < 1e-6, `Y ${got.full} vs ${full}`);
    assert.ok(Math.abs(got.masked - masked) < 1e-5, `O ${got.masked} vs ${masked}`);
    tf.dispose([input, image, map]);
    weights.dispose();
  });
}

Deno.test("Average Drop and Increase in Confidence by hand", () => {
  // drops: (0.8 − 0.4) / 0.8 = 0.5; 0 (an increase); (0.5 − 0.5) / 0.5 = 0 -> mean 1/6 -> 16.67 %; 1 of 3 increased
  const r = averageDropIncrease([{ full: 0.8, masked: 0.4 }, { full: 0.2, masked: 0.6 }, {
    full: 0.5,
    masked: 0.5,
  }]);
  assert.ok(Math.abs(r.averageDrop - 100 / 6) < 1e-12);
  assert.ok(Math.abs(r.increase - 100 / 3) < 1e-12);
  assert.ok(Number.isNaN(averageDropIncrease([]).averageDrop));
});

Deno.test("energy-based pointing game by hand", () => {
  // map [0, 1, 2, 3] -> normalised [0, 1/3, 2/3, 1] (sum 2); region {2, 3}: (2/3 + 1) / 2 = 5/6
  assert.ok(Math.abs(energyInRegion([0, 1, 2, 3], [0, 0, 1, 1]) - 5 / 6) < 1e-12);
  // a constant map is all ones: the share is the region's area fraction
  assert.equal(energyInRegion([7, 7, 7, 7], [1, 0, 0, 0]), 0.25);
  assert.throws(() => energyInRegion([1, 2], [1]), RangeError);
});
