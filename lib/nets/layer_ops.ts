/**
 * The standard tensor implementations of every layer op (the forward value and tfjs's own gradients), and
 * the BackwardRules slot: a rule set replaces any of them with an op that computes the same forward value
 * but its own backward (tf.customGrad) — guided backprop, excitation backprop, ... (lib/saliency fills it).
 * All tensors NHWC; conv weights HWIO; linear weights [in, out].
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import { pooledSize, type PoolSpec } from "./ops.ts";

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

/** PyTorch AdaptiveAvgPool2d on NHWC as two small matrix products (differentiable with standard kernels). */
export function adaptiveAvgPool(x: Tensor, [oh, ow]: [number, number]): Tensor {
  const [n, h, w, c] = x.shape as number[];
  if (h === oh && w === ow) return x;
  if (oh === 1 && ow === 1) return tf.mean(x, [1, 2], true);
  const ph = tf.tensor2d(adaptiveMatrix(h, oh), [oh, h]);
  const pw = tf.tensor2d(adaptiveMatrix(w, ow), [ow, w]);
  // rows: [oh, h] x [h, n*w*c] -> [oh, n, w, c]
  const xr = tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, n * w * c]);
  const rows = tf.reshape(tf.matMul(ph, xr), [oh, n, w, c]);
  // cols: [ow, w] x [w, oh*n*c] -> [ow, oh, n, c] -> [n, oh, ow, c]
  const cr = tf.reshape(tf.transpose(rows, [2, 0, 1, 3]), [w, oh * n * c]);
  const cols = tf.reshape(tf.matMul(pw, cr), [ow, oh, n, c]);
  return tf.transpose(cols, [2, 1, 0, 3]);
}

/** [N, H, W, C] -> [N, C*H*W] in PyTorch's (C, H, W) order. */
export function flattenTorchOrder(x: Tensor): Tensor {
  const n = x.shape[0]!;
  return tf.reshape(x.rank === 4 ? tf.transpose(x, [0, 3, 1, 2]) : x, [n, x.size / n]);
}
