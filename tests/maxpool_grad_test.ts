/**
 * The MaxPoolGrad replacements on wasm (lib/runtime/wasm_maxpool_grad.ts) and webgpu
 * (lib/runtime/webgpu_maxpool_grad.ts): ties go to the first maximum (checked against PyTorch's answer on a
 * hand-made case, where each stock kernel gives another answer), and random inputs with many ties,
 * overlapping windows, padding, odd sizes and batch > 1 match the cpu backend. webgpu steps are ignored
 * where no adapter exists.
 */
import assert from "node:assert/strict";
import { probeAdapter } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { registerWasmGradientKernels, restoreStockWasmKernels } from "../lib/runtime/wasm_grad_kernels.ts";
import {
  registerWebgpuGradientKernels,
  restoreStockWebgpuKernels,
} from "../lib/runtime/webgpu_maxpool_grad.ts";
import { relErr } from "./helpers/compare.ts";

const hasAdapter = (await probeAdapter()) !== null;
const BACKENDS = [
  { name: "wasm", ignore: false, register: registerWasmGradientKernels, restore: restoreStockWasmKernels },
  {
    name: "webgpu",
    ignore: !hasAdapter,
    register: registerWebgpuGradientKernels,
    restore: restoreStockWebgpuKernels,
  },
];
type Pad = "valid" | "same" | number;
type Shape4 = [number, number, number, number];

/** d/dx of sum(maxPool(x) * w) for fixed weights w (or w = 1), on the current backend. */
async function poolGrad(
  values: Float32Array,
  shape: Shape4,
  k: number,
  s: number,
  pad: Pad,
  weighted = true,
) {
  const x = tf.tensor4d(values, shape);
  const weights = tf.tensor(Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i * 1.7)));
  const g = tf.grad((a: tf.Tensor) => {
    const y = tf.maxPool(a as tf.Tensor4D, k, s, pad);
    return weighted ? tf.sum(tf.mul(y, tf.reshape(tf.slice(weights, 0, y.size), y.shape))) : tf.sum(y);
  })(x);
  const out = await g.data() as Float32Array;
  tf.dispose([x, weights, g]);
  return out;
}

// rows [0 0 0 0] / [0 0 5 5], 2x2/2: PyTorch's x.grad is [1 0 0 0 / 0 0 1 0].
const TIES = Float32Array.from([0, 0, 0, 0, 0, 0, 5, 5]);
const TIES_GRAD = [1, 0, 0, 0, 0, 0, 1, 0];

for (const backend of BACKENDS) {
  Deno.test(
    { name: `${backend.name}: ties go to the first maximum, as in PyTorch`, ignore: backend.ignore },
    async () => {
      await tf.setBackend(backend.name);
      backend.restore();
      const stock = Array.from(await poolGrad(TIES, [1, 2, 4, 1], 2, 2, "valid", false));
      assert.notDeepEqual(stock, TIES_GRAD, "the stock kernel was expected to route ties elsewhere");
      backend.register();
      assert.deepEqual(Array.from(await poolGrad(TIES, [1, 2, 4, 1], 2, 2, "valid", false)), TIES_GRAD);
    },
  );

  Deno.test({
    name:
      `${backend.name}: matches the cpu backend on random inputs, overlapping windows, padding, batch > 1`,
    ignore: backend.ignore,
  }, async () => {
    backend.register();
    const cases: [Shape4, number, number, Pad][] = [
      [[2, 8, 10, 3], 2, 2, "valid"],
      [[1, 9, 7, 4], 3, 2, "same"],
      [[3, 6, 6, 2], 3, 1, 1],
      [[1, 11, 13, 5], 3, 2, 0],
      [[2, 7, 9, 3], 2, 2, "valid"],
      [[1, 10, 9, 2], 3, 3, 1],
    ];
    for (const [shape, k, s, pad] of cases) {
      // Rounded values make ties frequent.
      const x = tf.tidy(() => tf.round(tf.mul(tf.randomUniform(shape, -1, 2, "float32", 5), 2)));
      const values = await x.data() as Float32Array;
      x.dispose();
      await tf.setBackend("cpu");
      const expected = await poolGrad(values, shape, k, s, pad);
      await tf.setBackend(backend.name);
      const got = await poolGrad(values, shape, k, s, pad);
      assert.ok(relErr(got, expected) < 1e-6, `${shape} k${k} s${s} ${pad}`);
    }
  });

  Deno.test({ name: `${backend.name}: no tensors leak`, ignore: backend.ignore }, async () => {
    backend.register();
    await tf.setBackend(backend.name);
    const x = tf.randomNormal([1, 8, 8, 2]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, "valid")))(x).dispose();
    }
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });
}
