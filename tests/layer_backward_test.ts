/**
 * The layer ops' written-out backwards (lib/nets/layer_ops.ts) against tfjs's own gradients of the same forward:
 * eval-mode batch norm (tf.grads through tf.batchNorm: dx, dγ, dβ, dmean, dvar on 4-D and 2-D values) and the
 * linear layer (tf.grads through tf.matMul + bias: dx, dW, db at batch 1 and 3), plus the dx-only versions
 * (inputOnlyOps) against the same dx, and one linear case small enough to check by hand.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { inputOnlyOps, standardOps } from "../lib/nets/layer_ops.ts";
import { relErr } from "./helpers/compare.ts";

await initBackend("wasm");

Deno.test("batch norm backward: every input's gradient is tfjs's own, on 4-D and 2-D values", () => {
  const before = tf.memory().numTensors;
  for (const shape of [[2, 5, 4, 6], [3, 6]]) {
    const c = shape.at(-1)!;
    const [x, dy] = [tf.randomNormal(shape, 0, 1, "float32", 1), tf.randomNormal(shape, 0, 1, "float32", 2)];
    const gamma = tf.randomUniform([c], 0.5, 1.5, "float32", 3);
    const beta = tf.randomNormal([c], 0, 0.1, "float32", 4);
    const mean = tf.randomNormal([c], 0, 0.3, "float32", 5);
    const variance = tf.randomUniform([c], 0.5, 2, "float32", 6);
    const eps = 1e-5;
    const ours = tf.grads((a: Tensor, g: Tensor, b: Tensor, m: Tensor, v: Tensor) =>
      standardOps.batchNorm(a, { gamma: g, beta: b, mean: m, variance: v, epsilon: eps })
    )([x, gamma, beta, mean, variance], dy);
    const theirs = tf.grads((a: Tensor, g: Tensor, b: Tensor, m: Tensor, v: Tensor) =>
      tf.batchNorm(a, m, v, b, g, eps)
    )([x, gamma, beta, mean, variance], dy);
    ["x", "gamma", "beta", "mean", "variance"].forEach((name, i) => {
      assert.deepEqual(ours[i].shape, theirs[i].shape, name);
      const err = relErr(ours[i].dataSync() as Float32Array, theirs[i].dataSync() as Float32Array);
      assert.ok(err < 1e-5, `[${shape}] d${name}: relative error ${err}`);
    });
    const [dxOnly] = tf.grads((a: Tensor) =>
      inputOnlyOps.batchNorm(a, { gamma, beta, mean, variance, epsilon: eps })
    )([x], dy);
    assert.ok(relErr(dxOnly.dataSync() as Float32Array, theirs[0].dataSync() as Float32Array) < 1e-6);
    tf.dispose([x, dy, gamma, beta, mean, variance, dxOnly, ...ours, ...theirs]);
  }
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

Deno.test("linear backward: dx, dW and db are tfjs's own at batch 1 and 3; the dx-only op's dx too", () => {
  const before = tf.memory().numTensors;
  for (const n of [1, 3]) {
    const [x, w] = [
      tf.randomNormal([n, 7], 0, 1, "float32", 11),
      tf.randomNormal([7, 5], 0, 1, "float32", 12),
    ];
    const [b, dy] = [tf.randomNormal([5], 0, 1, "float32", 13), tf.randomNormal([n, 5], 0, 1, "float32", 14)];
    const ours = tf.grads((a: Tensor, m: Tensor, c: Tensor) => standardOps.linear(a, m, c))([x, w, b], dy);
    const theirs = tf.grads((a: Tensor, m: Tensor, c: Tensor) =>
      tf.add(tf.matMul(a as tf.Tensor2D, m as tf.Tensor2D), c)
    )(
      [x, w, b],
      dy,
    );
    ["x", "weight", "bias"].forEach((name, i) => {
      assert.deepEqual(ours[i].shape, theirs[i].shape, name);
      const err = relErr(ours[i].dataSync() as Float32Array, theirs[i].dataSync() as Float32Array);
      assert.ok(err < 1e-6, `batch ${n} d${name}: relative error ${err}`);
    });
    const [dxOnly] = tf.grads((a: Tensor) => inputOnlyOps.linear(a, w, b))([x], dy);
    assert.ok(relErr(dxOnly.dataSync() as Float32Array, theirs[0].dataSync() as Float32Array) < 1e-6);
    tf.dispose([x, w, b, dy, dxOnly, ...ours, ...theirs]);
  }
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

Deno.test("linear backward by hand: x = [1, 2], W = [[1, 0, 2], [3, 1, 0]], dy = [1, -1, 2]", () => {
  // y = x·W = [7, 2, 2]; dx = dy·Wᵀ = [1·1 − 0 + 2·2, 3 − 1 + 0] = [5, 2]; dW = xᵀ·dy = [[1, −1, 2], [2, −2, 4]]
  const x = tf.tensor2d([[1, 2]]);
  const w = tf.tensor2d([[1, 0, 2], [3, 1, 0]]);
  const dy = tf.tensor2d([[1, -1, 2]]);
  const [dx, dw] = tf.grads((a: Tensor, m: Tensor) => standardOps.linear(a, m, null))([x, w], dy);
  assert.deepEqual(Array.from(dx.dataSync()), [5, 2]);
  assert.deepEqual(Array.from(dw.dataSync()), [1, -1, 2, 2, -2, 4]);
  tf.dispose([x, w, dy, dx, dw]);
});
