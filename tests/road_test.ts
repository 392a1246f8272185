/**
 * ROAD (lib/eval/road.ts, lib/eval/road_imputation.ts) against an independent PyTorch / scipy reference
 * (tools/road_reference.py: the system built as a scipy sparse matrix and solved directly, no noise) on two
 * classifier fixtures, and by hand: one removed pixel is the weighted mean of its neighbours (1/6 edge, 1/12
 * diagonal; a corner's three neighbours renormalised), a removed row between two constant rows takes their
 * mean, an imputed image satisfies the mean rule everywhere it was removed, the removal sets of MoRF / LeRF, the
 * noise is seeded and only on removed pixels, ROADCombined by hand, and refusals.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { getFloatTensor, readSafetensors } from "../lib/nets/safetensors.ts";
import { loadPytorchFixture, PYTORCH_FIXTURES } from "./helpers/pytorch_fixture.ts";
import { ImputationError, imputeLinear } from "../lib/eval/road_imputation.ts";
import { removedPixels, roadCombined, RoadError, roadImages, roadScores } from "../lib/eval/road.ts";
import { pixelOrder } from "../lib/eval/causal_metric.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { runProbed } from "../lib/nets/probes.ts";

await initBackend("wasm");

const near = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

Deno.test("imputation by hand: one pixel, a corner, a row between constant rows", () => {
  // 3x3, one channel, centre removed: (1/6 Σ edge + 1/12 Σ diagonal) / 1
  const img = [1, 2, 3, 4, 100, 6, 7, 8, 9];
  const centre = new Uint8Array(9);
  centre[4] = 1;
  const out = imputeLinear(img, 3, 3, 1, centre);
  near(out[4], (2 + 4 + 6 + 8) / 6 + (1 + 3 + 7 + 9) / 12, 1e-12, "centre");
  assert.deepEqual(Array.from(out).filter((_, i) => i !== 4), img.filter((_, i) => i !== 4));
  // the top-left corner: neighbours right (1/6), below (1/6), diagonal (1/12), renormalised by 5/12
  const corner = new Uint8Array(9);
  corner[0] = 1;
  near(imputeLinear(img, 3, 3, 1, corner)[0], (2 / 6 + 4 / 6 + 100 / 12) / (5 / 12), 1e-12, "corner");
  // a 5x4 image, two channels: rows 0-1 = (a, b), rows 3-4 = (c, d), row 2 removed: the mean of the two
  const [a, b, c, d] = [2, -1, 6, 5];
  const grid = Array.from({ length: 5 * 4 }, (_, p) => (p < 8 ? [a, b] : p >= 12 ? [c, d] : [0, 0])).flat();
  const row = new Uint8Array(20).fill(1, 8, 12);
  const filled = imputeLinear(grid, 5, 4, 2, row);
  for (let p = 8; p < 12; p++) {
    near(filled[p * 2], (a + c) / 2, 1e-9, `row pixel ${p} channel 0`);
    near(filled[p * 2 + 1], (b + d) / 2, 1e-9, `row pixel ${p} channel 1`);
  }
});

Deno.test("an imputed image keeps the mean rule at every removed pixel (large, irregular removal)", () => {
  const [h, w, ch] = [57, 43, 3];
  const img = Float32Array.from({ length: h * w * ch }, (_, i) => Math.sin(i * 0.37) + Math.cos(i * 0.011));
  const saliency = Float32Array.from(
    { length: h * w },
    (_, p) => Math.sin(p * 0.7) + ((p % w) - 20) ** 2 / 400,
  );
  const order = pixelOrder(saliency);
  for (const [mode, f] of [["morf", 0.85], ["lerf", 0.4]] as const) {
    const removed = removedPixels(order, f, mode);
    const out = imputeLinear(img, h, w, ch, removed);
    let worst = 0;
    for (let p = 0; p < h * w; p++) {
      if (!removed[p]) {
        for (let c = 0; c < ch; c++) assert.equal(out[p * ch + c], img[p * ch + c]);
        continue;
      }
      const y = Math.floor(p / w);
      const x = p % w;
      for (let c = 0; c < ch; c++) {
        let sum = 0;
        let total = 0;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const [yy, xx] = [y + dy, x + dx];
            if ((dy === 0 && dx === 0) || yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            const wt = dy === 0 || dx === 0 ? 1 / 6 : 1 / 12;
            sum += wt * out[(yy * w + xx) * ch + c];
            total += wt;
          }
        }
        worst = Math.max(worst, Math.abs(out[p * ch + c] - sum / total));
      }
    }
    assert.ok(worst < 1e-8, `${mode} ${f}: worst mean-rule residual ${worst}`);
  }
});

Deno.test("MoRF removes the most salient ⌊HW·f⌋ pixels, LeRF the least; refusals", () => {
  const order = pixelOrder([5, 1, 4, 2, 3]); // [0, 2, 4, 3, 1]
  assert.deepEqual(Array.from(removedPixels(order, 0.4, "morf")), [1, 0, 1, 0, 0]);
  assert.deepEqual(Array.from(removedPixels(order, 0.4, "lerf")), [0, 1, 0, 1, 0]);
  assert.deepEqual(Array.from(removedPixels(order, 0.1, "morf")), [0, 0, 0, 0, 0]);
  assert.throws(() => imputeLinear([1, 2], 1, 2, 1, new Uint8Array([1, 1])), ImputationError);
  assert.throws(() => imputeLinear([1, 2], 1, 2, 1, new Uint8Array([1])), ImputationError);
  assert.equal(roadCombined({ morf: [0.2, 0.1], lerf: [0.8, 0.5] }), ((0.8 - 0.2) / 2 + (0.5 - 0.1) / 2) / 2);
});

for (const name of ["vgg16_w32", "resnet50_w8"]) {
  Deno.test(`ROAD matches the scipy reference: ${name}`, async () => {
    const ref = readSafetensors(await Deno.readFile(`${PYTORCH_FIXTURES}road_${name}.safetensors`), name);
    const methods = readSafetensors(
      await Deno.readFile(`${PYTORCH_FIXTURES}methods_${name}.safetensors`),
      name,
    );
    const { cfg, height: h, width: w, net, weights, input } = await loadPytorchFixture(name);
    const image = tf.slice(input, 0, 1);
    input.dispose();
    const saliency = getFloatTensor(methods, "causal.saliency").data;
    const fractions = Array.from(getFloatTensor(ref, "road.fractions").data).map((f) =>
      Math.round(f * 10) / 10
    );
    const values = await image.data() as Float32Array;
    // the imputed images at 0.3 and 0.9 (stored NCHW)
    const order = pixelOrder(saliency);
    for (const mode of ["morf", "lerf"] as const) {
      const want = getFloatTensor(ref, `road.imputed.${mode}`).data;
      [0.3, 0.9].forEach((f, k) => {
        const got = imputeLinear(values, h, w, 3, removedPixels(order, f, mode));
        let worst = 0;
        for (let c = 0; c < 3; c++) {
          for (let p = 0; p < h * w; p++) {
            worst = Math.max(worst, Math.abs(got[p * 3 + c] - want[((k * 3 + c) * h * w) + p]));
          }
        }
        assert.ok(worst < 2e-6, `${mode} ${f}: worst |imputed − scipy| ${worst}`);
      });
    }
    const before = tf.memory().numTensors;
    for (const batch of [9, 4]) {
      const scores = await roadScores(net, weights, image, cfg.targets[0], saliency, {
        fractions,
        noise: 0,
        batch,
      });
      near(scores.base, getFloatTensor(ref, "road.base").data[0], 2e-6, "base");
      for (const mode of ["morf", "lerf"] as const) {
        const want = getFloatTensor(ref, `road.${mode}`).data;
        scores[mode].forEach((v, i) => near(v, want[i], 2e-5, `${mode} ${fractions[i]}`));
      }
    }
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
    image.dispose();
    weights.dispose();
  });
}

Deno.test("ROAD's noise: on removed values only, mean 0 and the asked standard deviation", () => {
  const [h, w, ch] = [64, 64, 3];
  const values = Float32Array.from({ length: h * w * ch }, (_, i) => Math.sin(i * 0.05));
  const saliency = Float32Array.from({ length: h * w }, (_, i) => Math.cos(i * 0.31));
  const options = { fractions: [0.5], seed: 9 };
  const noisy = roadImages(values, [h, w, ch], saliency, { ...options, noise: 0.2 });
  const quiet = roadImages(values, [h, w, ch], saliency, { ...options, noise: 0 });
  const order = pixelOrder(saliency);
  noisy.forEach((img, m) => {
    const removed = removedPixels(order, 0.5, m === 0 ? "morf" : "lerf");
    const diffs: number[] = [];
    for (let k = 0; k < img.length; k++) {
      const d = img[k] - quiet[m][k];
      if (removed[Math.floor(k / ch)]) diffs.push(d);
      else assert.equal(d, 0, `kept value ${k}`);
    }
    assert.equal(diffs.length, (h * w / 2) * ch);
    const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    const sd = Math.sqrt(diffs.reduce((a, b) => a + (b - mean) ** 2, 0) / diffs.length);
    // 6144 draws: the standard error of the mean is 0.2 / 78 = 0.0026, of the sd about 0.0018
    assert.ok(Math.abs(mean) < 0.013, `mean ${mean}`);
    assert.ok(Math.abs(sd - 0.2) < 0.01, `sd ${sd}`);
  });
});

Deno.test("ROAD's scores: seeded noise, the model's base probability; refusals", async () => {
  const net = buildNetwork({ arch: "resnet18", width: 1 / 8, numClasses: 4 });
  const weights = randomWeights(net, 2);
  const image = tf.randomNormal([1, 24, 20, 3], 0, 1, "float32", 3);
  const saliency = Float32Array.from({ length: 24 * 20 }, (_, i) => Math.cos(i * 0.3));
  const a = await roadScores(net, weights, image, 1, saliency, { fractions: [0.5], seed: 4 });
  const b = await roadScores(net, weights, image, 1, saliency, { fractions: [0.5], seed: 4 });
  const c = await roadScores(net, weights, image, 1, saliency, { fractions: [0.5], seed: 5 });
  const quiet = await roadScores(net, weights, image, 1, saliency, { fractions: [0.5], noise: 0 });
  assert.deepEqual(a, b, "the same seed, the same scores");
  assert.notDeepEqual(a.morf, c.morf, "another seed, other noise");
  assert.notDeepEqual(a.morf, quiet.morf, "noise changes the scores");
  // the base probability is the model's on the image
  const prob = tf.tidy(() => tf.softmax(runProbed(net, weights, image).output).dataSync()[1]);
  near(a.base, prob, 1e-6, "base");
  for (
    const bad of [{ fractions: [0] }, { fractions: [1] }, { fractions: [] }, { noise: -1 }, { batch: 0 }]
  ) {
    await assert.rejects(
      () => roadScores(net, weights, image, 1, saliency, bad),
      RoadError,
      JSON.stringify(bad),
    );
  }
  await assert.rejects(() => roadScores(net, weights, image, 1, saliency.subarray(1)), RoadError);
  tf.dispose(image);
  weights.dispose();
});
