/**
 * Integrated gradients' parts against truths that need no reference run: the quadrature rules (Gauss-Legendre's
 * known 2- and 3-point nodes, exactness on polynomials up to degree 2n − 1, Captum's Riemann placements), and on a
 * ResNet whose layer4 feeds average pooling and a linear layer (S linear in A, so ∂S/∂A is constant): the layer's
 * IG equals linear-approx(x) − linear-approx(x') exactly, its completeness gap is 0 whatever the rule and step
 * count, and the maps do not depend on the points per pass; at the input the gap shrinks as steps grow.
 * PyTorch comparisons on four networks are in saliency_fixtures_test.ts.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { quadrature, QUADRATURES } from "../lib/saliency/quadrature.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { SaliencyInputError, UnsupportedRuleError } from "../lib/saliency/errors.ts";
import { relErr } from "./helpers/compare.ts";

await initBackend("wasm");

const near = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

Deno.test("Gauss-Legendre: the known 2- and 3-point rules, and exact on polynomials of degree <= 2n − 1", () => {
  const two = quadrature("gauss-legendre", 2);
  near(two.alphas[0], (1 - 1 / Math.sqrt(3)) / 2);
  near(two.alphas[1], (1 + 1 / Math.sqrt(3)) / 2);
  two.weights.forEach((w) => near(w, 0.5));
  const three = quadrature("gauss-legendre", 3);
  [(1 - Math.sqrt(3 / 5)) / 2, 0.5, (1 + Math.sqrt(3 / 5)) / 2].forEach((a, i) => near(three.alphas[i], a));
  [5 / 18, 8 / 18, 5 / 18].forEach((w, i) => near(three.weights[i], w));
  for (const n of [5, 20, 50]) {
    const { alphas, weights } = quadrature("gauss-legendre", n);
    for (const k of [0, 1, n, 2 * n - 1]) {
      const integral = alphas.reduce((s, a, i) => s + weights[i] * a ** k, 0);
      near(integral, 1 / (k + 1), 1e-12);
    }
  }
});

Deno.test("Riemann rules place Captum's points; every rule's weights sum to 1; bad counts are refused", () => {
  assert.deepEqual(quadrature("riemann-left", 4).alphas, [0, 0.25, 0.5, 0.75]);
  assert.deepEqual(quadrature("riemann-right", 4).alphas, [0.25, 0.5, 0.75, 1]);
  assert.deepEqual(quadrature("riemann-middle", 4).alphas, [0.125, 0.375, 0.625, 0.875]);
  const trap = quadrature("riemann-trapezoid", 5);
  assert.deepEqual(trap.alphas, [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(trap.weights, [0.125, 0.25, 0.25, 0.25, 0.125]);
  for (const kind of QUADRATURES) near(quadrature(kind, 7).weights.reduce((a, b) => a + b), 1);
  assert.throws(() => quadrature("riemann-trapezoid", 1), RangeError);
  assert.throws(() => quadrature("gauss-legendre", 0), RangeError);
  assert.throws(() => quadrature("riemann-left", 2.5), RangeError);
});

const net = buildNetwork({ arch: "resnet18", width: 1 / 8, numClasses: 5 });
const weights = randomWeights(net, 3);
const image = tf.randomNormal([2, 40, 48, 3], 0, 1, "float32", 5);
const baseline = tf.randomNormal([1, 40, 48, 3], 0, 0.5, "float32", 6);
const seed = { kind: "one-hot" as const, targets: [1, 3] };

Deno.test("layer4 (a linear head after it): IG = linear-approx(x) − linear-approx(x'), gap 0", async () => {
  const before = tf.memory().numTensors;
  const lax = computeSaliency(net, weights, image, { method: "linear-approx", layers: ["layer4"], seed });
  const tiled = tf.tile(baseline, [2, 1, 1, 1]);
  const lab = computeSaliency(net, weights, tiled, {
    method: "linear-approx",
    layers: ["layer4"],
    seed,
  });
  const expected = tf.sub(lax.maps.get("layer4")!, lab.maps.get("layer4")!);
  const scale = tf.tidy(() => expected.abs().sum().dataSync()[0]);
  for (const quad of ["gauss-legendre", "riemann-trapezoid", "riemann-left"] as const) {
    for (const [steps, batch] of [[3, 16], [8, 3]]) {
      const ig = computeSaliency(net, weights, image, {
        method: "integrated-gradients",
        layers: ["layer4"],
        seed,
        integratedGradients: { steps, quadrature: quad, baseline, batch },
      });
      const err = relErr(
        ig.maps.get("layer4")!.dataSync() as Float32Array,
        expected.dataSync() as Float32Array,
      );
      assert.ok(err < 1e-4, `${quad} ${steps} steps, ${batch} a pass: relative error ${err}`);
      for (const gap of await ig.completenessGap!.get("layer4")!.data()) {
        assert.ok(Math.abs(gap) < 1e-4 * scale, `${quad}: gap ${gap} on Σ|attr| ${scale}`);
      }
      ig.dispose();
    }
  }
  tf.dispose([expected, tiled]);
  lax.dispose();
  lab.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("at the input the completeness gap shrinks as the steps grow", async () => {
  const gapAt = async (steps: number) => {
    const ig = computeSaliency(net, weights, image, {
      method: "integrated-gradients",
      layers: [""],
      seed,
      integratedGradients: { steps, quadrature: "riemann-right" },
    });
    const gaps = await ig.completenessGap!.get("")!.data();
    ig.dispose();
    return Math.max(...Array.from(gaps, Math.abs));
  };
  const [coarse, fine] = [await gapAt(2), await gapAt(64)];
  assert.ok(fine < coarse, `64 steps: ${fine}, 2 steps: ${coarse}`);
});

Deno.test("integrated gradients refuses objective seeds, other rule sets and bad options", () => {
  const objective = { kind: "objective" as const, layer: "layer4", objective: (a: tf.Tensor) => tf.sum(a) };
  assert.throws(
    () =>
      computeSaliency(net, weights, image, { method: "integrated-gradients", layers: [""], seed: objective }),
    SaliencyInputError,
  );
  assert.throws(
    () =>
      computeSaliency(net, weights, image, {
        method: { extract: "path-integral", aggregate: "sum", rules: "guided" },
        layers: [""],
        seed,
      }),
    UnsupportedRuleError,
  );
  for (const integratedGradients of [{ steps: 0 }, { batch: 0 }, { baseline: tf.zeros([1, 8, 8, 3]) }]) {
    assert.throws(
      () =>
        computeSaliency(net, weights, image, {
          method: "integrated-gradients",
          layers: [""],
          seed,
          integratedGradients,
        }),
      SaliencyInputError,
    );
  }
});
