/**
 * The standard tensor implementations of every layer op (the forward value and tfjs's own gradients), and
 * the BackwardRules slot: a rule set replaces any of them with an op that computes the same forward value
 * but its own backward (tf.customGrad) — guided backprop, excitation backprop, ... (lib/saliency fills it).
 * All tensors NHWC; conv weights HWIO; linear weights [in, out].
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import { type Activation, type BinaryOp, pooledSize, type PoolSpec } from "./ops.ts";
import { withBackward } from "../runtime/custom_grad.ts";

/** Zero padding of NHWC height and width: [[0, 0], [top, bottom], [left, right], [0, 0]]. */
export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

export interface ConvParams {
  weight: Tensor; // [kh, kw, in, out]
  bias: Tensor | null; // [out]
  stride: number;
  /** Symmetric on both axes, or explicit per axis (non-square convs). */
  padding: number | ExplicitPadding;
  dilation: number;
  /** Grouped convolution; weight [kh, kw, in / groups, out]. Default 1. */
  groups?: number;
}

export interface BatchNormParams {
  gamma: Tensor;
  beta: Tensor;
  mean: Tensor;
  variance: Tensor;
  epsilon: number;
}

export interface LayerOps {
  conv2d(x: Tensor, p: ConvParams): Tensor;
  /** x [N, in] times weight [in, out] plus bias [out]. */
  linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor;
  relu(x: Tensor): Tensor;
  maxPool(x: Tensor, spec: PoolSpec): Tensor;
  avgPool(x: Tensor, spec: PoolSpec): Tensor;
  /** PyTorch AdaptiveAvgPool2d to [outH, outW]. */
  adaptiveAvgPool(x: Tensor, outSize: [number, number]): Tensor;
  batchNorm(x: Tensor, p: BatchNormParams): Tensor;
  /** The residual addition of ResNet blocks (a separate op so its backward rule can change). */
  add(a: Tensor, b: Tensor): Tensor;
  /** Element-wise activations other than ReLU, with PyTorch's derivatives at the kinks. */
  activation(x: Tensor, fn: Activation): Tensor;
  /** Broadcasting element-wise arithmetic (squeeze-excitation scales, SiLU, constants). */
  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor;
  /** Concatenation along channels. */
  concat(xs: Tensor[]): Tensor;
}

/** A backward-rule set: any subset of the layer ops, each with the standard forward and its own backward. */
export type BackwardRules = Partial<LayerOps>;

/** The lowest finite float32: max-pool padding that can never win a window. */
const NEG = -3.4028234663852886e38;

export const standardOps: LayerOps = {
  conv2d(x, p) {
    const y = groupedConv2d(x, p);
    return p.bias ? tf.add(y, p.bias) : y;
  },
  linear(x, weight, bias) {
    const y = matMulNoFlags(x, weight);
    return bias ? tf.add(y, bias) : y;
  },
  relu: (x) => tf.relu(x),
  maxPool(x, s) {
    const [h, w] = [x.shape[1]!, x.shape[2]!];
    const extra = (size: number) => {
      const out = pooledSize(size, s.kernel, s.stride, s.padding, 1, s.ceil);
      return Math.max(0, (out - 1) * s.stride + s.kernel - (size + 2 * s.padding));
    };
    const [eh, ew] = [extra(h), extra(w)];
    const padded = s.padding || eh || ew
      ? tf.pad(x, [[0, 0], [s.padding, s.padding + eh], [s.padding, s.padding + ew], [0, 0]], NEG)
      : x;
    return tf.maxPool(padded as tf.Tensor4D, s.kernel, s.stride, "valid");
  },
  avgPool(x, s) {
    if (s.padding !== 0 || s.ceil) {
      throw new Error("average pooling supports padding 0 without ceil mode only");
    }
    return tf.avgPool(x as tf.Tensor4D, s.kernel, s.stride, "valid");
  },
  adaptiveAvgPool: (x, out) => adaptiveAvgPool(x, out),
  batchNorm: (x, p) => evalBatchNorm(x, p),
  add: (a, b) => tf.add(a, b),
  activation: (x, fn) => activation(x, fn),
  binary: (op, a, b) => tf[op](a, b),
  concat: (xs) => tf.concat(xs, -1),
};

/**
 * x·W ([N, in]·[in, out]) whose backward uses no transpose flags: tfjs's MatMul gradient is dy·Wᵀ and xᵀ·dy by
 * flags, which wasm's kernel runs ~3x (dx) and ~4.6x (dW) slower than the same products written without them
 * (VGG16's classifier.0, 25088x4096: dx 176 vs 59 ms, dW 1111 vs 239 ms). Here dx = (W·dyᵀ)ᵀ and
 * dW = xᵀ·dy, with only the small [N, ·] operands transposed (an outer product when N is 1).
 */
const matMulNoFlags = withBackward(
  2,
  (x, w) => tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D),
  (dy, [x, w]) => {
    const dw = dy.shape[0] === 1
      ? tf.mul(tf.reshape(x, [-1, 1]), dy)
      : tf.matMul(tf.transpose(x) as tf.Tensor2D, dy as tf.Tensor2D);
    return [linearInputGrad(dy, w), dw];
  },
  "inputs",
);

/** dy·Wᵀ as (W·dyᵀ)ᵀ, transposing only dy (a reshape when N is 1). */
function linearInputGrad(dy: Tensor, w: Tensor): Tensor {
  return dy.shape[0] === 1
    ? tf.reshape(tf.matMul(w as tf.Tensor2D, tf.reshape(dy, [-1, 1]) as tf.Tensor2D), [1, -1])
    : tf.transpose(tf.matMul(w as tf.Tensor2D, tf.transpose(dy) as tf.Tensor2D));
}

/**
 * The linear layer whose backward is only dx: a custom gradient computes every input's gradient whether the tape
 * needs it or not, and dW is the costly one (VGG16's classifier.0: an outer product of 102M values).
 */
function inputOnlyLinear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const y = withBackward(1, (v) => tf.matMul(v as tf.Tensor2D, weight as tf.Tensor2D), (dy) => [
    linearInputGrad(dy, weight),
  ], "none")(x);
  return bias ? tf.add(y, bias) : y;
}

/**
 * Conv without bias for any group count: groups 1 is tf.conv2d; one input channel per group (depthwise, with a
 * channel multiplier) is tf.depthwiseConv2d, whose output channel c*m + j is PyTorch's; other groups run one
 * conv per group and concatenate.
 */
function groupedConv2d(x: Tensor, p: ConvParams): Tensor {
  const groups = p.groups ?? 1;
  const conv = (xi: Tensor, w: Tensor) =>
    tf.conv2d(xi as tf.Tensor4D, w as tf.Tensor4D, p.stride, p.padding, "NHWC", p.dilation);
  if (groups === 1) return conv(x, p.weight);
  const [kh, kw, perGroup, out] = p.weight.shape as number[];
  const channels = x.shape[3]!;
  if (perGroup === 1 && groups === channels) {
    const filter = tf.reshape(p.weight, [kh, kw, channels, out / channels]) as tf.Tensor4D;
    return tf.depthwiseConv2d(x as tf.Tensor4D, filter, p.stride, p.padding, "NHWC", p.dilation);
  }
  const xs = tf.split(x, groups, 3);
  const ws = tf.split(p.weight, groups, 3);
  return tf.concat(xs.map((xi, i) => conv(xi, ws[i])), 3);
}

/** Where v is strictly inside (lo, hi), as 0 / 1 floats. */
function inside(v: Tensor, lo: number, hi: number): Tensor {
  return tf.cast(tf.logicalAnd(tf.greater(v, lo), tf.less(v, hi)), "float32");
}

/**
 * The activations with PyTorch's backward: clip (hardtanh / ReLU6) passes the gradient strictly inside
 * (min, max); hardsigmoid = clip(alpha x + beta, 0, 1) likewise; hardswish = x · relu6(x + 3) / 6 has
 * derivative 0 below -3, x / 3 + 1/2 up to 3 inclusive, 1 above; leaky ReLU alpha at x <= 0.
 */
function activation(x: Tensor, fn: Activation): Tensor {
  switch (fn.kind) {
    case "sigmoid":
      return tf.sigmoid(x);
    case "leakyrelu":
      return withBackward(1, (v) => tf.leakyRelu(v, fn.alpha), (dy, [v]) => [
        tf.mul(dy, tf.where(tf.greater(v, 0), tf.onesLike(v), tf.fill(v.shape, fn.alpha))),
      ], "inputs")(x);
    case "clip":
      return withBackward(1, (v) => tf.clipByValue(v, fn.min, fn.max), (dy, [v]) => [
        tf.mul(dy, inside(v, fn.min, fn.max)),
      ], "inputs")(x);
    case "hardsigmoid":
      return withBackward(
        1,
        (v) => tf.clipByValue(tf.add(tf.mul(v, fn.alpha), fn.beta), 0, 1),
        (dy, [v]) => [tf.mul(dy, tf.mul(inside(tf.add(tf.mul(v, fn.alpha), fn.beta), 0, 1), fn.alpha))],
        "inputs",
      )(x);
    case "sqrt":
      return tf.sqrt(x);
    case "erf":
      return tf.erf(x);
    case "tanh":
      return tf.tanh(x);
    case "pow":
      // d/dx x^e = e·x^(e-1) (PyTorch's; the constant exponent gets no gradient)
      return withBackward(1, (v) => tf.pow(v, tf.scalar(fn.exponent)), (dy, [v]) => [
        tf.mul(dy, tf.mul(tf.pow(v, tf.scalar(fn.exponent - 1)), fn.exponent)),
      ], "inputs")(x);
    case "gelu":
      return fn.approximate
        // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        ? tf.mul(
          tf.mul(x, 0.5),
          tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))),
        )
        // 0.5·x·(1 + erf(x / √2))
        : tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case "hardswish":
      return withBackward(
        1,
        (v) => tf.mul(v, tf.div(tf.clipByValue(tf.add(v, 3), 0, 6), 6)),
        (dy, [v]) => [
          tf.mul(
            dy,
            tf.where(
              tf.less(v, -3),
              tf.zerosLike(v),
              tf.where(tf.lessEqual(v, 3), tf.add(tf.div(v, 3), 0.5), tf.onesLike(v)),
            ),
          ),
        ],
        "inputs",
      )(x);
  }
}

/**
 * Eval-mode batch norm (running statistics) with its whole backward written out: dx = dy·γ/√(var + ε), and per
 * channel dγ = Σ dy·(x − mean)/√(var + ε), dβ = Σ dy, dmean = −Σ dy·γ/√(var + ε),
 * dvar = −½ Σ dy·(x − mean)·γ·(var + ε)^(−3/2), the sums over every axis but the channels. tfjs's own
 * FusedBatchNorm gradient tiles the statistics to the activation's full shape first, which took a third of a
 * ResNet50 weight-gradient pass on wasm (Tile: 592 of 1868 ms). Same forward kernel.
 */
function evalBatchNorm(x: Tensor, p: BatchNormParams): Tensor {
  return withBackward(
    5,
    (v, gamma, beta, mean, variance) => tf.batchNorm(v, mean, variance, beta, gamma, p.epsilon),
    (dy, [v, gamma, , mean, variance]) => {
      const axes = v.shape.slice(0, -1).map((_, i) => i);
      const inv = tf.rsqrt(tf.add(variance, p.epsilon));
      const sumDy = tf.sum(dy, axes);
      const sumDyCentred = tf.sum(tf.mul(dy, tf.sub(v, mean)), axes);
      return [
        tf.mul(dy, tf.mul(gamma, inv)),
        tf.mul(sumDyCentred, inv),
        sumDy,
        tf.neg(tf.mul(sumDy, tf.mul(gamma, inv))),
        tf.mul(tf.mul(sumDyCentred, gamma), tf.mul(-0.5, tf.pow(inv, 3))),
      ];
    },
    "inputs",
  )(x, p.gamma, p.beta, p.mean, p.variance);
}

/**
 * Eval-mode batch norm whose backward is only dx = dy·γ/√(var + ε): tfjs' own FusedBatchNorm gradient tiles the
 * scale to the activation's full shape (about 20% of a ResNet50 backward on wasm) and also prepares γ / β
 * gradients. Same forward kernel. For passes that need no gradient of the batch-norm parameters (probes.ts uses
 * it unless weight gradients are asked for).
 */
function inputOnlyBatchNorm(x: Tensor, p: BatchNormParams): Tensor {
  return withBackward(1, (v) => tf.batchNorm(v, p.mean, p.variance, p.beta, p.gamma, p.epsilon), (dy) => [
    tf.mul(dy, tf.mul(p.gamma, tf.rsqrt(tf.add(p.variance, p.epsilon)))),
  ], "none")(x);
}

/**
 * The ops for passes that need no weight gradient (probes.ts uses them unless weight gradients are asked for):
 * same forward values, backwards that compute dx only. Linear in the weights, so chunked weights stay usable.
 */
export const inputOnlyOps: Readonly<Pick<LayerOps, "batchNorm" | "linear">> = {
  batchNorm: inputOnlyBatchNorm,
  linear: inputOnlyLinear,
};

/** Row-stochastic matrix [out, size] of PyTorch's adaptive average pooling along one axis. */
function adaptiveMatrix(size: number, out: number): Float32Array {
  const m = new Float32Array(out * size);
  for (let i = 0; i < out; i++) {
    const start = Math.floor((i * size) / out);
    const end = Math.ceil(((i + 1) * size) / out);
    for (let j = start; j < end; j++) m[i * size + j] = 1 / (end - start);
  }
  return m;
}

/** y[n, i, j, c] = Σ_{a,b} rowsM[i, a] · x[n, a, b, c] · colsM[j, b], as two matrix products on NHWC. */
function applyAxisMatrices(x: Tensor, rowsM: Tensor, colsM: Tensor): Tensor {
  const [n, h, w, c] = x.shape as number[];
  const [oh, ow] = [rowsM.shape[0]!, colsM.shape[0]!];
  const xr = tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, n * w * c]);
  const rows = tf.reshape(tf.matMul(rowsM as tf.Tensor2D, xr), [oh, n, w, c]);
  const cr = tf.reshape(tf.transpose(rows, [2, 0, 1, 3]), [w, oh * n * c]);
  const cols = tf.reshape(tf.matMul(colsM as tf.Tensor2D, cr), [ow, oh, n, c]);
  return tf.transpose(cols, [2, 1, 0, 3]);
}

/** PyTorch AdaptiveAvgPool2d on NHWC (differentiable with standard kernels). A new tensor, also when it is the identity. */
export function adaptiveAvgPool(x: Tensor, [oh, ow]: [number, number]): Tensor {
  const [, h, w] = x.shape as number[];
  if (h === oh && w === ow) return tf.clone(x);
  if (oh === 1 && ow === 1) return tf.mean(x, [1, 2], true);
  return tf.tidy(() =>
    applyAxisMatrices(
      x,
      tf.tensor2d(adaptiveMatrix(h, oh), [oh, h]),
      tf.tensor2d(adaptiveMatrix(w, ow), [ow, w]),
    )
  );
}

/** The vector-Jacobian product of adaptiveAvgPool: dy [N, oh, ow, C] -> [N, h, w, C]. */
export function adaptiveAvgPoolGrad(dy: Tensor, [h, w]: [number, number]): Tensor {
  const [n, oh, ow, c] = dy.shape as number[];
  if (h === oh && w === ow) return tf.clone(dy);
  if (oh === 1 && ow === 1) return tf.tidy(() => tf.mul(tf.broadcastTo(dy, [n, h, w, c]), 1 / (h * w)));
  return tf.tidy(() =>
    applyAxisMatrices(
      dy,
      tf.transpose(tf.tensor2d(adaptiveMatrix(h, oh), [oh, h])),
      tf.transpose(tf.tensor2d(adaptiveMatrix(w, ow), [ow, w])),
    )
  );
}

/** [N, H, W, C] -> [N, C*H*W] in PyTorch's (C, H, W) order. */
export function flattenTorchOrder(x: Tensor): Tensor {
  const n = x.shape[0]!;
  return tf.reshape(x.rank === 4 ? tf.transpose(x, [0, 3, 1, 2]) : x, [n, x.size / n]);
}
