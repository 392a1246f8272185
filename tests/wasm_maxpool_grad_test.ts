/**
 * The wasm MaxPoolGrad replacement: ties go to the first maximum (checked against PyTorch's answer on a
 * hand-made case) and random inputs, overlapping windows, padding and batch > 1 match the cpu backend.
 */
import assert from "node:assert/strict";
import { tf } from "../lib/runtime/tf.ts";
import { registerWasmGradientKernels } from "../lib/runtime/wasm_grad_kernels.ts";
import { relErr } from "./helpers/compare.ts";

registerWasmGradientKernels();

function poolGrad(x: tf.Tensor4D, k: number, s: number, pad: "valid" | "same" | number) {
  return tf.tidy(() => {
    const xb = tf.tensor(x.dataSync(), x.shape) as tf.Tensor4D;
    const weights = tf.tensor(Float32Array.from({ length: 1024 }, (_, i) => Math.sin(i * 1.7)));
    return tf.grad((a: tf.Tensor) => {
      const y = tf.maxPool(a as tf.Tensor4D, k, s, pad);
      const w = tf.reshape(tf.slice(weights, 0, y.size), y.shape);
      return tf.sum(tf.mul(y, w));
    })(xb).dataSync().slice();
  });
}

Deno.test("ties go to the first maximum, as in PyTorch", async () => {
  await tf.setBackend("wasm");
  // rows [0 0 0 0] / [0 0 5 5], 2x2/2: PyTorch's x.grad is [1 0 0 0 / 0 0 1 0].
  const x = tf.tensor4d([0, 0, 0, 0, 0, 0, 5, 5], [1, 2, 4, 1]);
  const g = tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, "valid")))(x);
  assert.deepEqual(Array.from(g.dataSync()), [1, 0, 0, 0, 0, 0, 1, 0]);
  tf.dispose([x, g]);
});

Deno.test("matches the cpu backend on random inputs, overlapping windows, padding, batch > 1", async () => {
  const cases: [number[], number, number, "valid" | "same" | number][] = [
    [[2, 8, 10, 3], 2, 2, "valid"],
    [[1, 9, 7, 4], 3, 2, "same"],
    [[3, 6, 6, 2], 3, 1, 1],
    [[1, 11, 13, 5], 3, 2, 0],
  ];
  for (const [shape, k, s, pad] of cases) {
    // Rounded values make ties frequent.
    await tf.setBackend("cpu");
    const x = tf.round(tf.mul(tf.randomUniform(shape, -1, 2, "float32", 5), 2)) as tf.Tensor4D;
    const expected = poolGrad(x, k, s, pad);
    await tf.setBackend("wasm");
    const got = poolGrad(x, k, s, pad);
    x.dispose();
    assert.ok(relErr(got, expected) < 1e-6, `${shape} k${k} s${s} ${pad}`);
  }
});

Deno.test("no tensors leak", async () => {
  await tf.setBackend("wasm");
  const x = tf.randomNormal([1, 8, 8, 2]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, "valid")))(x).dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});
