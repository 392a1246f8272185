/**
 * Backward seeds against hand-computed values: one-hot on logits and on score maps, the pointing seed's
 * spatial softmax (METHODS.md §2.6), a caller-given gradient, that the seed receives no gradient, the top-k
 * objective that picks its classes inside the pass (row i one-hot at the i-th highest logit), and the
 * errors for a wrong number of targets, out-of-range classes and mis-shaped gradients.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import { objectiveFor, repeatForTargets, seedTensor, topKObjective } from "../lib/saliency/seeds.ts";
import { thrown } from "./helpers/errors.ts";

await initBackend("wasm");

const close = (a: ArrayLike<number>, b: number[]) =>
  b.forEach((v, i) => assert.ok(Math.abs(a[i] - v) < 1e-6, `${i}: ${a[i]} vs ${v}`));

Deno.test("one-hot on logits [N, K] and on a score map [N, h, w, K]", () => {
  const logits = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  close(seedTensor({ kind: "one-hot", targets: [2, 0] }, logits).dataSync(), [0, 0, 1, 1, 0, 0]);
  const map = tf.zeros([1, 1, 2, 2]);
  close(seedTensor({ kind: "one-hot", targets: [1] }, map).dataSync(), [0, 1, 0, 1]);
});

Deno.test("pointing seed = softmax over positions of the target channel, zero elsewhere", () => {
  // channel 1 over 3 positions holds 0, ln 2, ln 5 -> softmax 1/8, 2/8, 5/8; channel 0 is ignored
  const y = tf.tensor4d([9, 0, 9, Math.log(2), 9, Math.log(5)], [1, 1, 3, 2]);
  close(seedTensor({ kind: "pointing", targets: [1] }, y).dataSync(), [0, 1 / 8, 0, 2 / 8, 0, 5 / 8]);
  // large scores do not overflow (the max is subtracted)
  const big = tf.tensor4d([1000, 1000], [1, 1, 2, 1]);
  close(seedTensor({ kind: "pointing", targets: [0] }, big).dataSync(), [0.5, 0.5]);
  // on [N, K] logits it is one-hot
  close(seedTensor({ kind: "pointing", targets: [0] }, tf.tensor2d([[3, 4]])).dataSync(), [1, 0]);
});

Deno.test("the objective differentiates as Σ y·G with G held constant", () => {
  const y = tf.tensor4d([0, Math.log(3)], [1, 1, 2, 1]);
  const g = tf.grad((t: Tensor) => objectiveFor({ kind: "pointing", targets: [0] })(t))(y);
  close(g.dataSync(), [1 / 4, 3 / 4]); // = G itself: no gradient flows through the softmax
  const given = tf.tensor2d([[0.5, -2]]);
  const g2 = tf.grad((t: Tensor) => objectiveFor({ kind: "gradient", gradient: given })(t))(
    tf.tensor2d([[7, 8]]),
  );
  close(g2.dataSync(), [0.5, -2]);
});

Deno.test("top-k objective: row i seeds the i-th highest logit of the image, and reports its choice", () => {
  // two copies of one image's logits [1, 5, 3]: the top 2 are class 1 (5), then class 2 (3)
  const y = tf.tensor2d([[1, 5, 3], [1, 5, 3]]);
  let chosen: Tensor | null = null;
  const objective = topKObjective((t) => (chosen = t));
  const { value, grad } = tf.valueAndGrad((t: Tensor) => objective(t))(y);
  close(value.dataSync(), [5 + 3]);
  close(grad.dataSync(), [0, 1, 0, 0, 0, 1]);
  assert.deepEqual(Array.from(chosen!.dataSync()), [1, 2]);
  tf.dispose([y, value, grad, chosen!]);
});

Deno.test("bad seeds are SaliencyInputErrors naming what is valid", () => {
  const logits = tf.zeros([2, 4]);
  assert.match(
    thrown(() => seedTensor({ kind: "one-hot", targets: [1] }, logits), SaliencyInputError).message,
    /1 target\(s\) for a batch of 2/,
  );
  assert.match(
    thrown(() => seedTensor({ kind: "one-hot", targets: [1, 4] }, logits), SaliencyInputError).message,
    /valid are 0\.\.3/,
  );
  thrown(() => seedTensor({ kind: "gradient", gradient: tf.zeros([2, 5]) }, logits), SaliencyInputError);
  thrown(() => repeatForTargets(tf.zeros([2, 4, 4, 3]), [1]), SaliencyInputError);
  assert.deepEqual(repeatForTargets(tf.zeros([1, 4, 4, 3]), [1, 2, 3]).shape, [3, 4, 4, 3]);
});
