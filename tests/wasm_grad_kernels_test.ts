/**
 * Tests for lib/runtime/wasm_grad_kernels.ts: every gradient kernel it registers on wasm is checked against
 * the cpu backend (tf.grad through conv2d / depthwiseConv2d, and direct runKernel calls for dilation, which
 * tfjs-core refuses to differentiate) over strides, paddings, dilations, batch sizes and kernel sizes 1, 3,
 * 7; plus tensor-leak, idempotency, restore, filter-cache and NCHW checks, the gradient audit of every VGG /
 * ResNet forward op, and an end-to-end conv, relu, maxPool, avgPool, batchNorm, add, matMul chain.
 */
import assert from "node:assert/strict";
import { tf } from "../lib/runtime/tf.ts";
import {
  clearWasmGradientFilterCache,
  registerWasmGradientKernels,
  restoreStockWasmKernels,
  setWasmGradientFilterCache,
  WASM_GRADIENT_KERNELS,
} from "../lib/runtime/wasm_grad_kernels.ts";

const registered = registerWasmGradientKernels();
const TOLERANCE = 1e-4;

type Shape4 = [number, number, number, number];
type Pad = "same" | "valid" | number | [
  [number, number],
  [number, number],
  [number, number],
  [number, number],
];

/** A seeded linear congruential generator: uniform values in [-1, 1). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  };
}

function randomArray(rand: () => number, shape: number[]): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: size }, rand);
}

/** Runs `fn` on a backend and returns its tensors' values; no tensor outlives the call. */
async function onBackend(name: "cpu" | "wasm", fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  assert.ok(await tf.setBackend(name), `backend ${name} failed to initialise`);
  const out = tf.tidy(fn);
  const values = out.map((t) => t.dataSync() as Float32Array);
  tf.dispose(out);
  return values;
}

function relError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length, "sizes differ");
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}

function assertClose(actual: Float32Array[], expected: Float32Array[], label: string): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = relError(actual[i], expected[i]);
    assert.ok(
      err <= TOLERANCE,
      `${label} [output ${i}]: relative error ${err.toExponential(2)} > ${TOLERANCE}`,
    );
    assert.ok(expected[i].some((v) => v !== 0), `${label} [output ${i}]: reference is all zeros`);
  }
}

/** Compares the same computation on cpu and on wasm. */
async function compareBackends(label: string, fn: () => tf.Tensor[]): Promise<void> {
  const expected = await onBackend("cpu", fn);
  const actual = await onBackend("wasm", fn);
  assertClose(actual, expected, label);
}

/** The filter a dilation inserts zeros into: [kh, kw, a, b] -> [(kh-1)*d+1, (kw-1)*d+1, a, b]. */
function dilateFilter(w: tf.Tensor4D, dh: number, dw: number): tf.Tensor4D {
  const [kh, kw, a, b] = w.shape;
  const w6 = tf.reshape(w, [kh, 1, kw, 1, a, b]);
  const padded = tf.pad(w6, [[0, 0], [0, dh - 1], [0, 0], [0, dw - 1], [0, 0], [0, 0]]);
  return tf.slice(tf.reshape<tf.Rank.R4>(padded, [kh * dh, kw * dw, a, b]), 0, [
    (kh - 1) * dh + 1,
    (kw - 1) * dw + 1,
    a,
    b,
  ]);
}

/** The taps of a dilated filter's gradient that belong to the undilated filter. */
function undilateFilter(g: tf.Tensor4D, dh: number, dw: number): tf.Tensor4D {
  const [h, w, a, b] = g.shape;
  return tf.stridedSlice(g, [0, 0, 0, 0], [h, w, a, b], [dh, dw, 1, 1]) as tf.Tensor4D;
}

interface ConvCase {
  x: Shape4;
  k: [number, number];
  out: number; // output channels (conv2d) or channel multiplier (depthwise)
  stride: number | [number, number];
  pad: Pad;
  dilation?: number;
  rounding?: "floor" | "round" | "ceil";
}

function caseLabel(c: ConvCase): string {
  return `x=[${c.x}] k=${c.k.join("x")} out=${c.out} s=${c.stride} pad=${JSON.stringify(c.pad)}` +
    (c.dilation ? ` d=${c.dilation}` : "") + (c.rounding ? ` ${c.rounding}` : "");
}

const CONV_CASES: ConvCase[] = [
  { x: [2, 9, 7, 3], k: [3, 3], out: 4, stride: 1, pad: "same" },
  { x: [1, 10, 13, 5], k: [3, 3], out: 6, stride: 2, pad: "same" },
  { x: [2, 11, 8, 4], k: [3, 3], out: 5, stride: 2, pad: "valid" },
  { x: [1, 13, 10, 3], k: [7, 7], out: 5, stride: 2, pad: "same" },
  { x: [2, 12, 9, 3], k: [7, 7], out: 4, stride: 1, pad: "valid" },
  { x: [2, 8, 6, 5], k: [1, 1], out: 7, stride: 1, pad: "valid" },
  { x: [1, 9, 7, 6], k: [1, 1], out: 4, stride: 2, pad: "same" },
  { x: [3, 8, 10, 3], k: [3, 3], out: 4, stride: 2, pad: 1 },
  { x: [1, 8, 11, 2], k: [3, 5], out: 3, stride: 1, pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  { x: [2, 10, 9, 3], k: [3, 3], out: 4, stride: 2, pad: [[0, 0], [1, 0], [2, 2], [0, 0]] },
  { x: [1, 6, 7, 2], k: [3, 3], out: 2, stride: 2, pad: [[0, 0], [4, 1], [0, 5], [0, 0]] },
  { x: [2, 11, 10, 3], k: [2, 2], out: 3, stride: 3, pad: "valid" },
  { x: [1, 9, 12, 2], k: [3, 5], out: 3, stride: [1, 2], pad: "same" },
  { x: [2, 9, 8, 3], k: [1, 1], out: 4, stride: 2, pad: 1 },
  { x: [2, 29, 24, 16], k: [3, 3], out: 32, stride: 2, pad: "same" }, // longer sums: accuracy
];

const DILATED_CONV_CASES: ConvCase[] = [
  { x: [2, 11, 9, 3], k: [3, 3], out: 4, stride: 1, pad: "same", dilation: 2 },
  { x: [1, 13, 10, 4], k: [3, 3], out: 3, stride: 1, pad: "valid", dilation: 2 },
  { x: [2, 14, 12, 2], k: [3, 3], out: 3, stride: 2, pad: [[0, 0], [1, 2], [2, 1], [0, 0]], dilation: 2 },
  { x: [1, 17, 15, 2], k: [7, 7], out: 2, stride: 1, pad: "same", dilation: 2 },
];

const DEPTHWISE_CASES: ConvCase[] = [
  { x: [2, 9, 7, 3], k: [3, 3], out: 1, stride: 1, pad: "same" },
  { x: [1, 10, 13, 4], k: [3, 3], out: 2, stride: 2, pad: "same" },
  { x: [2, 11, 8, 3], k: [7, 7], out: 1, stride: 1, pad: "valid" },
  { x: [1, 12, 9, 5], k: [7, 7], out: 1, stride: 2, pad: "same" },
  { x: [2, 9, 7, 2], k: [1, 1], out: 3, stride: 2, pad: "valid" },
  { x: [3, 8, 10, 3], k: [3, 3], out: 1, stride: 2, pad: 1 },
  { x: [1, 8, 11, 2], k: [3, 5], out: 2, stride: 1, pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  { x: [2, 10, 9, 3], k: [3, 3], out: 1, stride: [2, 1], pad: "same" },
];

const DILATED_DEPTHWISE_CASES: ConvCase[] = [
  { x: [2, 11, 9, 3], k: [3, 3], out: 1, stride: 1, pad: "same", dilation: 2 },
  { x: [1, 13, 10, 2], k: [3, 3], out: 2, stride: 1, pad: "valid", dilation: 2 },
];

interface CaseData {
  x: Float32Array;
  w: Float32Array;
  r: Float32Array;
  wShape: Shape4;
  yShape: Shape4;
}

function caseData(c: ConvCase, seed: number, depthwise: boolean): CaseData {
  const rand = lcg(seed);
  const wShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.out];
  const info = tf.backend_util.computeConv2DInfo(
    c.x,
    wShape,
    c.stride,
    c.dilation ?? 1,
    c.pad,
    c.rounding,
    depthwise,
  );
  const yShape = info.outShape as Shape4;
  return {
    x: randomArray(rand, c.x),
    w: randomArray(rand, wShape),
    r: randomArray(rand, yShape),
    wShape,
    yShape,
  };
}

/** Input and filter gradients of sum(conv(x, w) * r) through tf.grad (dilation 1, so tfjs-core allows it). */
function convGrads(c: ConvCase, d: CaseData, depthwise: boolean): () => tf.Tensor[] {
  return () => {
    const x = tf.tensor4d(d.x, c.x);
    const w = tf.tensor4d(d.w, d.wShape);
    const r = tf.tensor4d(d.r, d.yShape);
    const loss = (xx: tf.Tensor, ww: tf.Tensor) => {
      const y = depthwise
        ? tf.depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.stride, c.pad, "NHWC", 1, c.rounding)
        : tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.stride, c.pad, "NHWC", 1, c.rounding);
      return tf.sum(tf.mul(y, r));
    };
    return tf.grads(loss)([x, w]);
  };
}

/** The same gradients for a dilated conv, on cpu: through the zero-inserted filter. */
function dilatedReference(c: ConvCase, d: CaseData, depthwise: boolean): () => tf.Tensor[] {
  return () => {
    const dil = c.dilation ?? 1;
    const x = tf.tensor4d(d.x, c.x);
    const wBig = dilateFilter(tf.tensor4d(d.w, d.wShape), dil, dil);
    const r = tf.tensor4d(d.r, d.yShape);
    const loss = (xx: tf.Tensor, ww: tf.Tensor) => {
      const y = depthwise
        ? tf.depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.stride, c.pad)
        : tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.stride, c.pad);
      return tf.sum(tf.mul(y, r));
    };
    const [gx, gw] = tf.grads(loss)([x, wBig]);
    return [gx, undilateFilter(gw as tf.Tensor4D, dil, dil)];
  };
}

/** The backprop kernels called directly, with a dilations attr (and the case's dimRoundingMode if any). */
function kernelCalls(c: ConvCase, d: CaseData, depthwise: boolean): () => tf.Tensor[] {
  return () => {
    const x = tf.tensor4d(d.x, c.x);
    const w = tf.tensor4d(d.w, d.wShape);
    const dy = tf.tensor4d(d.r, d.yShape);
    const common = {
      strides: c.stride,
      pad: c.pad,
      dilations: c.dilation ?? 1,
      dataFormat: "NHWC",
      dimRoundingMode: c.rounding,
    };
    const engine = tf.engine();
    const names = depthwise
      ? ["DepthwiseConv2dNativeBackpropInput", "DepthwiseConv2dNativeBackpropFilter"]
      : ["Conv2DBackpropInput", "Conv2DBackpropFilter"];
    // deno-lint-ignore no-explicit-any
    const attrs = (extra: Record<string, unknown>) => ({ ...common, ...extra }) as any;
    const gx = engine.runKernel(names[0], { dy, filter: w }, attrs({ inputShape: c.x })) as tf.Tensor;
    const gw = engine.runKernel(names[1], { x, dy }, attrs({ filterShape: d.wShape })) as tf.Tensor;
    return [gx, gw];
  };
}

Deno.test("registerWasmGradientKernels registers the missing / slow / tie-wrong gradients, idempotently", () => {
  assert.deepEqual([...registered].sort(), [
    "Conv2DBackpropFilter",
    "Conv2DBackpropInput",
    "DepthwiseConv2dNativeBackpropFilter",
    "DepthwiseConv2dNativeBackpropInput",
    "MaxPoolGrad",
  ]);
  const funcs = WASM_GRADIENT_KERNELS.map((n) => tf.getKernel(n, "wasm")?.kernelFunc);
  assert.deepEqual(registerWasmGradientKernels(), registered);
  assert.deepEqual(WASM_GRADIENT_KERNELS.map((n) => tf.getKernel(n, "wasm")?.kernelFunc), funcs);
  assert.ok(funcs.every((f) => f != null));
});

Deno.test("restoreStockWasmKernels puts stock kernels back; registering again replaces them", async () => {
  await tf.setBackend("wasm");
  const ours = tf.getKernel("Conv2DBackpropInput", "wasm")?.kernelFunc;
  const c = CONV_CASES[1];
  const d = caseData(c, 700, false);
  const inputGrad = () =>
    tf.tidy(() => {
      const dy = tf.tensor4d(d.r, d.yShape);
      return tf.conv2dTranspose(dy, tf.tensor4d(d.w, d.wShape), c.x, c.stride, c.pad as "same")
        .dataSync() as Float32Array;
    });
  const expected = inputGrad();
  restoreStockWasmKernels();
  try {
    assert.equal(tf.getKernel("Conv2DBackpropFilter", "wasm"), undefined);
    assert.notEqual(tf.getKernel("Conv2DBackpropInput", "wasm")?.kernelFunc, ours);
    assert.ok(relError(inputGrad(), expected) <= TOLERANCE, "the stock kernel disagrees with ours");
  } finally {
    registerWasmGradientKernels();
  }
  assert.equal(tf.getKernel("Conv2DBackpropInput", "wasm")?.kernelFunc, ours);
  assert.ok(WASM_GRADIENT_KERNELS.every((name) => tf.getKernel(name, "wasm") != null));
});

Deno.test("conv2d input and filter gradients on wasm match cpu", async (t) => {
  for (const [i, c] of CONV_CASES.entries()) {
    await t.step(caseLabel(c), async () => {
      const d = caseData(c, 100 + i, false);
      await compareBackends(caseLabel(c), convGrads(c, d, false));
    });
  }
});

Deno.test("dilated conv2d gradient kernels on wasm match a zero-inserted-filter reference", async (t) => {
  for (const [i, c] of DILATED_CONV_CASES.entries()) {
    await t.step(caseLabel(c), async () => {
      const d = caseData(c, 200 + i, false);
      const expected = await onBackend("cpu", dilatedReference(c, d, false));
      const actual = await onBackend("wasm", kernelCalls(c, d, false));
      assertClose(actual, expected, caseLabel(c));
    });
  }
});

Deno.test("depthwiseConv2d input and filter gradients on wasm match cpu", async (t) => {
  for (const [i, c] of DEPTHWISE_CASES.entries()) {
    await t.step(caseLabel(c), async () => {
      const d = caseData(c, 300 + i, true);
      await compareBackends(caseLabel(c), convGrads(c, d, true));
    });
  }
});

Deno.test("dilated depthwise gradient kernels on wasm match a zero-inserted-filter reference", async (t) => {
  for (const [i, c] of DILATED_DEPTHWISE_CASES.entries()) {
    await t.step(caseLabel(c), async () => {
      const d = caseData(c, 400 + i, true);
      const expected = await onBackend("cpu", dilatedReference(c, d, true));
      const actual = await onBackend("wasm", kernelCalls(c, d, true));
      assertClose(actual, expected, caseLabel(c));
    });
  }
});

Deno.test("a dy sized by a forward dimRoundingMode (tfjs-core's gradients drop it) is used", async (t) => {
  for (const depthwise of [false, true]) {
    // x 8x8, k 3, stride 2, pad 1, 'ceil': 5x5 outputs, as with explicit padding top/left 1, bottom/right 2.
    const c: ConvCase = { x: [2, 8, 8, 3], k: [3, 3], out: 2, stride: 2, pad: 1, rounding: "ceil" };
    const d = caseData(c, depthwise ? 501 : 500, depthwise);
    assert.deepEqual(d.yShape.slice(1, 3), [5, 5]);
    const explicit: ConvCase = { ...c, pad: [[0, 0], [1, 2], [1, 2], [0, 0]], rounding: undefined };
    const expected = await onBackend("cpu", dilatedReference(explicit, d, depthwise));
    await t.step(`${depthwise ? "depthwise" : "conv2d"}, mode passed`, async () => {
      assertClose(await onBackend("wasm", kernelCalls(c, d, depthwise)), expected, "ceil");
    });
    await t.step(`${depthwise ? "depthwise" : "conv2d"}, mode dropped`, async () => {
      const dropped = await onBackend("wasm", kernelCalls({ ...c, rounding: undefined }, d, depthwise));
      assertClose(dropped, expected, "ceil, mode dropped");
    });
  }
});

Deno.test("the wasm gradient kernels leak no tensors over repeated calls", async () => {
  await tf.setBackend("wasm");
  const conv = CONV_CASES[1];
  const dw = DEPTHWISE_CASES[1];
  const convData = caseData(conv, 1, false);
  const dwData = caseData(dw, 2, true);
  const dilated = DILATED_CONV_CASES[2];
  const dilatedData = caseData(dilated, 3, false);
  const run = () =>
    tf.tidy(() => {
      convGrads(conv, convData, false)();
      convGrads(dw, dwData, true)();
      kernelCalls(dilated, dilatedData, false)();
    });
  run(); // warm-up: backend-internal allocations happen once
  const baseline = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) run();
  assert.equal(tf.memory().numTensors, baseline);
  const inTidy = tf.tidy(() => {
    run();
    return tf.memory().numTensors;
  });
  assert.equal(inTidy, baseline);
});

Deno.test("the opt-in filter cache gives the same gradients, frees disposed filters' entries", async () => {
  await tf.setBackend("wasm");
  const cases = [CONV_CASES[1], CONV_CASES[6], DEPTHWISE_CASES[1]]; // 3x3 stride 2, 1x1 stride 2, depthwise
  const depthwise = [false, false, true];
  const data = cases.map((c, i) => caseData(c, 600 + i, depthwise[i]));
  const grads = () =>
    tf.tidy(() => cases.map((c, i) => convGrads(c, data[i], depthwise[i])().map((t) => t.arraySync())));
  const uncached = grads();
  const baseline = tf.memory().numTensors;
  setWasmGradientFilterCache(true);
  try {
    // Persistent weights, as in a served model: the cache is keyed by the filter's data.
    const weights = data.map((d) => tf.tensor4d(d.w, d.wShape));
    const withWeights = () =>
      tf.tidy(() =>
        cases.map((c, i) => {
          const x = tf.tensor4d(data[i].x, c.x);
          const r = tf.tensor4d(data[i].r, data[i].yShape);
          const f = (xx: tf.Tensor) =>
            tf.sum(tf.mul(
              depthwise[i]
                ? tf.depthwiseConv2d(xx as tf.Tensor4D, weights[i], c.stride, c.pad)
                : tf.conv2d(xx as tf.Tensor4D, weights[i], c.stride, c.pad),
              r,
            ));
          return tf.grad(f)(x).arraySync();
        })
      );
    const first = withWeights();
    const afterFirst = tf.memory().numTensors;
    assert.ok(afterFirst > baseline + weights.length, "the cache should hold prepared filters");
    const second = withWeights();
    assert.equal(tf.memory().numTensors, afterFirst, "a second pass must hit the cache, not grow it");
    for (let i = 0; i < cases.length; i++) {
      assert.deepEqual(first[i], uncached[i][0]);
      assert.deepEqual(second[i], uncached[i][0]);
    }
    const perPass = afterFirst - baseline - weights.length;
    tf.dispose(weights);
    grads(); // its kernel calls sweep the entries of the disposed weights, and cache their own filters
    assert.equal(clearWasmGradientFilterCache(), perPass, "entries of disposed filters must be swept");
    assert.equal(tf.memory().numTensors, baseline);
  } finally {
    setWasmGradientFilterCache(false);
  }
});

Deno.test("the wasm gradient kernels reject NCHW and mismatched dy with a clear error", async () => {
  await tf.setBackend("wasm");
  tf.tidy(() => {
    const x = tf.zeros([1, 3, 6, 6]);
    const dy = tf.zeros([1, 4, 6, 6]);
    const w = tf.zeros([3, 3, 3, 4]);
    const attrs = { strides: 1, pad: "same", dataFormat: "NCHW" };
    assert.throws(
      () => tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { ...attrs, filterShape: [3, 3, 3, 4] }),
      /dataFormat 'NCHW' is not supported/,
    );
    assert.throws(
      () =>
        tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, {
          ...attrs,
          inputShape: [1, 3, 6, 6],
        }),
      /dataFormat 'NCHW' is not supported/,
    );
    const badDy = tf.zeros([1, 5, 5, 4]);
    assert.throws(
      () =>
        tf.engine().runKernel("Conv2DBackpropFilter", { x: tf.zeros([1, 6, 6, 3]), dy: badDy }, {
          strides: 1,
          pad: "same",
          dataFormat: "NHWC",
          filterShape: [3, 3, 3, 4],
        }),
      /dy has shape \[1,5,5,4\]/,
    );
  });
});

/** One op at a time: the audit of the gradients a VGG / ResNet forward needs. */
const AUDIT_OPS: Record<string, (x: tf.Tensor4D, rand: () => number) => tf.Tensor> = {
  conv2d: (x, rand) => tf.conv2d(x, tf.tensor4d(randomArray(rand, [3, 3, 4, 5]), [3, 3, 4, 5]), 1, "same"),
  relu: (x) => tf.relu(x),
  maxPool: (x) => tf.maxPool(x, 3, 2, "same"),
  avgPool: (x) => tf.avgPool(x, 2, 2, "valid"),
  batchNorm: (x, rand) => {
    const v = (shift: number) => tf.tensor1d(Array.from({ length: 4 }, () => rand() + shift));
    return tf.batchNorm(x, v(0), v(2), v(0), v(1), 1e-3);
  },
  add: (x, rand) => tf.add(x, tf.tensor1d(randomArray(rand, [4]))),
  matMul: (x, rand) =>
    tf.matMul(tf.reshape(x, [2, 8 * 6 * 4]), tf.tensor2d(randomArray(rand, [192, 5]), [192, 5])),
  reshape: (x) => tf.reshape(x, [2, 48, 4]),
  transpose: (x) => tf.transpose(x, [0, 3, 1, 2]),
  mean: (x) => tf.mean(x, [1, 2]),
  slice: (x) => tf.slice(x, [0, 1, 2, 0], [2, 5, 3, 4]),
  concat: (x) => tf.concat([x, tf.relu(x)], 3),
  pad: (x) => tf.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]]),
};

Deno.test("audit: the gradient of every VGG / ResNet forward op runs on wasm and matches cpu", async (t) => {
  for (const [name, op] of Object.entries(AUDIT_OPS)) {
    await t.step(name, async () => {
      const seed = 7919 * (name.length + 1);
      await compareBackends(`audit ${name}`, () => {
        const rand = lcg(seed);
        const x = tf.tensor4d(randomArray(rand, [2, 8, 6, 4]), [2, 8, 6, 4]);
        // The op draws its own parameters from a fresh generator, so every call sees the same ones.
        const shape = op(x, lcg(seed + 1)).shape;
        const r = tf.tensor(randomArray(rand, shape), shape);
        return [tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(op(xx as tf.Tensor4D, lcg(seed + 1)), r)))(x)];
      });
    });
  }
});

Deno.test("end-to-end conv, relu, maxPool, avgPool, batchNorm, add, matMul gradient = cpu", async () => {
  const rand = lcg(4242);
  const xv = randomArray(rand, [2, 12, 10, 3]);
  const w1v = randomArray(rand, [3, 3, 3, 8]);
  const w3v = randomArray(rand, [1, 1, 8, 8]);
  const w2v = randomArray(rand, [6 * 5 * 8, 5]);
  const meanV = randomArray(rand, [8]);
  const varV = randomArray(rand, [8]).map((v) => v + 2);
  const scaleV = randomArray(rand, [8]).map((v) => v + 1);
  const offsetV = randomArray(rand, [8]);
  const rv = randomArray(rand, [2, 5]);
  await compareBackends("end-to-end chain", () => {
    const x = tf.tensor4d(xv, [2, 12, 10, 3]);
    const w1 = tf.tensor4d(w1v, [3, 3, 3, 8]);
    const w3 = tf.tensor4d(w3v, [1, 1, 8, 8]);
    const w2 = tf.tensor2d(w2v, [240, 5]);
    const scale = tf.tensor1d(scaleV);
    const offset = tf.tensor1d(offsetV);
    const mean = tf.tensor1d(meanV);
    const variance = tf.tensor1d(varV);
    const r = tf.tensor2d(rv, [2, 5]);
    const loss = (...args: tf.Tensor[]) => {
      const [xx, ww1, ww3, ww2, sc, off] = args;
      const h = tf.maxPool(
        tf.relu(tf.conv2d(xx as tf.Tensor4D, ww1 as tf.Tensor4D, 1, "same")),
        2,
        2,
        "valid",
      );
      const pooled = tf.avgPool(h, 3, 1, "same");
      const normed = tf.batchNorm(pooled, mean, variance, off as tf.Tensor1D, sc as tf.Tensor1D, 1e-3);
      const residual = tf.add(normed, tf.conv2d(h, ww3 as tf.Tensor4D, 1, "valid"));
      const logits = tf.matMul(tf.reshape(residual, [2, 240]), ww2 as tf.Tensor2D);
      return tf.sum(tf.mul(logits, r)) as tf.Scalar;
    };
    return tf.grads(loss)([x, w1, w3, w2, scale, offset]);
  });
});
