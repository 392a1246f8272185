/**
 * The "accuracy" and "spread" layer weights of the combination (METHODS.md §6), measured on a model instead of
 * copied from the paper (whose measurement is UNVERIFIED there):
 *   accuracy  per layer, a linear probe (multi-label logistic regression, Adam, on z-scored globally average-
 *             pooled features) trained on train-split images and scored by mAP on val-split images: how
 *             separable the layer's features are with respect to the classes.
 *   spread    per layer, the mean over channels of the standard deviation across images of the pooled feature,
 *             in absolute units (so, as the supplement warns, sensitive to each layer's activation scale).
 * Both are normalised to sum to 1 over the layers, shallow → deep.
 */
import type { Network } from "../nets/network.ts";
import { runProbed } from "../nets/probes.ts";
import type { NetWeights } from "../nets/weights.ts";
import { type Tensor, tf } from "../runtime/tf.ts";
import { meanAveragePrecision } from "./average_precision.ts";

/** Pooled features per layer of one image [1, H, W, 3]: mean over H, W of each channel. */
export async function pooledFeatures(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  layers: readonly string[],
): Promise<Map<string, Float32Array>> {
  const r = runProbed(net, weights, input, { record: layers });
  try {
    const out = new Map<string, Float32Array>();
    for (const layer of layers) {
      const pooled = tf.tidy(() => tf.mean(r.activations.get(layer)!, [0, 1, 2]));
      out.set(layer, await pooled.data() as Float32Array);
      pooled.dispose();
    }
    return out;
  } finally {
    r.dispose();
  }
}

/** Mean over channels of the population std across rows of `features` (rows = images). */
export function featureSpread(features: readonly Float32Array[]): number {
  const n = features.length;
  const c = features[0].length;
  let total = 0;
  for (let j = 0; j < c; j++) {
    let mean = 0;
    for (const f of features) mean += f[j];
    mean /= n;
    let v = 0;
    for (const f of features) v += (f[j] - mean) ** 2;
    total += Math.sqrt(v / n);
  }
  return total / c;
}

export interface ProbeOptions {
  steps?: number;
  learningRate?: number;
}

/**
 * Trains a multi-label logistic regression on (train features, 0/1 labels) and returns its mAP on val.
 * Features are z-scored with the train statistics. Deterministic (zero-initialised weights, full batch).
 */
export async function linearProbeMap(
  train: readonly Float32Array[],
  trainLabels: readonly number[][],
  val: readonly Float32Array[],
  valLabels: readonly number[][],
  numClasses: number,
  options: ProbeOptions = {},
): Promise<number> {
  const c = train[0].length;
  const toMatrix = (rows: readonly Float32Array[]) => {
    const m = new Float32Array(rows.length * c);
    rows.forEach((r, i) => m.set(r, i * c));
    return tf.tensor2d(m, [rows.length, c]);
  };
  const hot = (labels: readonly number[][]) => {
    const m = new Float32Array(labels.length * numClasses);
    labels.forEach((ls, i) => ls.forEach((k) => (m[i * numClasses + k] = 1)));
    return m;
  };
  // Inside tidy, so the zero tensors the variables are made from are freed.
  const w = tf.tidy(() => tf.variable(tf.zeros([c, numClasses])));
  const b = tf.tidy(() => tf.variable(tf.zeros([numClasses])));
  const optimizer = tf.train.adam(options.learningRate ?? 0.05);
  try {
    const scores = tf.tidy(() => {
      const xt = toMatrix(train);
      const mean = tf.mean(xt, 0);
      const std = tf.add(tf.sqrt(tf.mean(tf.square(tf.sub(xt, mean)), 0)), 1e-6);
      const x = tf.div(tf.sub(xt, mean), std);
      const y = tf.tensor2d(hot(trainLabels), [train.length, numClasses]);
      for (let i = 0; i < (options.steps ?? 300); i++) {
        optimizer.minimize(() => tf.losses.sigmoidCrossEntropy(y, tf.add(tf.matMul(x, w), b)) as tf.Scalar);
      }
      const xv = tf.div(tf.sub(toMatrix(val), mean), std);
      return tf.add(tf.matMul(xv, w), b);
    });
    const s = await scores.data() as Float32Array; // asynchronous: webgpu cannot read synchronously here
    scores.dispose();
    return meanAveragePrecision(s, hot(valLabels), numClasses);
  } finally {
    optimizer.dispose();
    w.dispose();
    b.dispose();
  }
}

/** Raw scores -> weights summing to 1 (keys in the given order). */
export function normaliseWeights(raw: Record<string, number>): Record<string, number> {
  const total = Object.values(raw).reduce((a, v) => a + v, 0);
  if (!(total > 0)) throw new RangeError(`layer scores ${JSON.stringify(raw)} do not have a positive sum`);
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v / total]));
}
