/**
 * The standard tensor implementations of every layer op (the forward value and tfjs's own gradients), and
 * the BackwardRules slot: a rule set replaces any of them with an op that computes the same forward value
 * but its own backward (tf.customGrad) — guided backprop, excitation backprop, ... (lib/saliency fills it).
 * All tensors NHWC; conv weights HWIO; linear weights [in, out].
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import { pooledSize, type PoolSpec } from "./ops.ts";
import { withBackward } from "../runtime/custom_grad.ts";

export interface ConvParams {
  weight: Tensor; // [kh, kw, in, out]
  bias: Tensor | null; // [out]
  stride: number;
  padding: number;
  dilation: number;
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
}

/** A backward-rule set: any subset of the layer ops, each with the standard forward and its own backward. */
export type BackwardRules = Partial<LayerOps>;

/** The lowest finite float32: max-pool padding that can never win a window. */
const NEG = -3.4028234663852886e38;

export const standardOps: LayerOps = {
  conv2d(x, p) {
    const y = tf.conv2d(x as tf.Tensor4D, p.weight as tf.Tensor4D, p.stride, p.padding, "NHWC", p.dilation);
    return p.bias ? tf.add(y, p.bias) : y;
  },
  linear(x, weight, bias) {
    const y = tf.matMul(x as tf.Tensor2D, weight as tf.Tensor2D);
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
  batchNorm: (x, p) => tf.batchNorm(x, p.mean, p.variance, p.beta, p.gamma, p.epsilon),
  add: (a, b) => tf.add(a, b),
};

/**
 * Eval-mode batch norm whose backward is only dx = dy·γ/√(var + ε): tfjs' own FusedBatchNorm gradient tiles the
 * scale to the activation's full shape (about 20% of a ResNet50 backward on wasm) and also prepares γ / β
 * gradients. Same forward kernel. For passes that need no gradient of the batch-norm parameters (probes.ts uses
 * it unless weight gradients are asked for).
 */
export function inputOnlyBatchNorm(x: Tensor, p: BatchNormParams): Tensor {
  return withBackward(1, (v) => standardOps.batchNorm(v, p), (dy) => [
    tf.mul(dy, tf.mul(p.gamma, tf.rsqrt(tf.add(p.variance, p.epsilon)))),
  ])(x);
}

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
