/**
 * The ReLU backward rules by hand (lib/saliency/rules.ts) on x = [−2, −1, 1, 2] with the incoming gradient
 * dy = [3, −3, 3, −3]: the standard gradient passes dy where x > 0, guided backprop where x >= 0 and dy > 0, the
 * deconvnet where dy > 0 whatever x (Zeiler & Fergus's rectification of the backward signal).
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { deconvnetRules, guidedRules } from "../lib/saliency/rules.ts";
import { standardOps } from "../lib/nets/layer_ops.ts";

await initBackend("wasm");

const x = tf.tensor1d([-2, -1, 1, 2]);
const dy = tf.tensor1d([3, -3, 3, -3]);
// (+ 0 turns −0 into 0: strict equality tells them apart)
const gradThrough = (relu: (v: Tensor) => Tensor) =>
  tf.tidy(() => Array.from(tf.grad((v: Tensor) => relu(v))(x, dy).dataSync(), (v) => v + 0));

Deno.test("standard, guided and deconvnet ReLU backwards by hand", () => {
  const before = tf.memory().numTensors;
  assert.deepEqual(gradThrough(standardOps.relu), [0, 0, 3, -3]);
  assert.deepEqual(gradThrough(guidedRules.relu!), [0, 0, 3, 0]);
  assert.deepEqual(gradThrough(deconvnetRules.relu!), [3, 0, 3, 0]);
  // the forward value is the ReLU's in every rule set
  for (const relu of [guidedRules.relu!, deconvnetRules.relu!]) {
    assert.deepEqual(Array.from(tf.tidy(() => relu(x).dataSync())), [0, 0, 1, 2]);
  }
  assert.equal(tf.memory().numTensors, before);
});
