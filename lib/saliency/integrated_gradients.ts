/**
 * Integrated Gradients (Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017) at the
 * input and, as Captum's LayerIntegratedGradients does, at any layer: with A(·) the layer's activation, the path
 * runs in the layer's own space, A(x') + α (A(x) − A(x')), by replacing the layer's output during the forward
 * (runProbed's `replace`), and
 *   IG = (A(x) − A(x')) ⊙ Σ_k w_k ∂S/∂A at α_k,
 * with the quadrature's nodes α_k and weights w_k (lib/saliency/quadrature.ts; Captum's defaults: 50 steps,
 * Gauss-Legendre) and the seed's score S (the target logit for one-hot seeds). At the input ("") it is the
 * paper's IG; baseline x' zero in the model's input space unless given (Captum's default). This returns the two
 * factors, the difference and the path-averaged gradient, for the "path-integral" extraction to aggregate, and
 * the completeness gap Σ IG − (S(x) − S(x')) per image, which the quadrature error and the network's
 * non-smoothness make non-zero (the paper's check that enough steps were taken).
 * Points are run `batch` to a pass. On the built-in networks the layers before run once per image, the
 * interpolated activations copied there; imported graphs run whole per point.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Network } from "../nets/network.ts";
import type { NetWeights } from "../nets/weights.ts";
import { runProbed } from "../nets/probes.ts";
import { SaliencyInputError } from "./errors.ts";
import { type Quadrature, quadrature } from "./quadrature.ts";
import { objectiveFor, type Seed, targetScores, targetSeed } from "./seeds.ts";

export interface IntegratedGradientsOptions {
  /** Quadrature points (default 50, Captum's n_steps). */
  steps?: number;
  /** Default "gauss-legendre" (Captum's default). */
  quadrature?: Quadrature;
  /** x' [1 or N, H, W, 3] in the model's input space; default zeros. */
  baseline?: Tensor;
  /** Points per forward/backward pass (default 16). */
  batch?: number;
}

export interface PathIntegral {
  /** Per layer: A(x) − A(x') and Σ_k w_k ∂S/∂A at α_k, both [N, h, w, C]. */
  difference: Map<string, Tensor>;
  meanGradient: Map<string, Tensor>;
  /** Per layer: Σ IG − (S(x) − S(x')) per image, [N]. */
  completenessGap: Map<string, Tensor>;
  dispose(): void;
}

export function integratedGradients(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  layers: readonly string[],
  seed: Seed,
  options: IntegratedGradientsOptions = {},
): PathIntegral {
  const n = input.shape[0]!;
  const target = targetSeed(seed, n, "integrated gradients integrates a target's score");
  const batch = options.batch ?? 16;
  if (!Number.isInteger(batch) || batch < 1) throw new SaliencyInputError("batch must be a positive integer");
  const { alphas, weights: w } = (() => {
    try {
      return quadrature(options.quadrature ?? "gauss-legendre", options.steps ?? 50);
    } catch (e) {
      throw new SaliencyInputError((e as Error).message);
    }
  })();
  const baseline = options.baseline;
  if (
    baseline && (baseline.rank !== 4 || ![1, n].includes(baseline.shape[0]!) ||
      baseline.shape.slice(1).join() !== input.shape.slice(1).join())
  ) {
    throw new SaliencyInputError(`the baseline is [${baseline.shape}]; the input is [${input.shape}]`);
  }
  const sequential = net.config.arch !== "onnx";
  const result: PathIntegral = {
    difference: new Map(),
    meanGradient: new Map(),
    completenessGap: new Map(),
    dispose() {
      tf.dispose([
        ...this.difference.values(),
        ...this.meanGradient.values(),
        ...this.completenessGap.values(),
      ]);
    },
  };
  try {
    for (const layer of layers) {
      const perImage = target.targets.map((t, i) =>
        tf.tidy(() => {
          const image = tf.slice(input, [i, 0, 0, 0], [1, -1, -1, -1]);
          const base = baseline
            ? tf.slice(baseline, [baseline.shape[0] === 1 ? 0 : i, 0, 0, 0], [1, -1, -1, -1])
            : tf.zerosLike(image);
          // A(x), A(x') and S(x), S(x') from one pass over the pair
          const ends = runProbed(net, weights, tf.concat([image, base]), { record: [layer] });
          const act = ends.activations.get(layer)!;
          if (act.rank !== 4) {
            ends.dispose(); // kept tensors: the scope's end would not free them
            throw new SaliencyInputError(`${layer} is not spatial ([${act.shape}]): it has no map`);
          }
          const [ax, ab] = [tf.slice(act, 0, 1), tf.slice(act, 1, 1)];
          const scores = targetScores(target.kind, t, ends.output);
          ends.dispose();
          const diff = tf.sub(ax, ab);
          let acc = tf.zerosLike(ax);
          for (let from = 0; from < alphas.length; from += batch) {
            const size = Math.min(batch, alphas.length - from);
            const a = tf.tensor(alphas.slice(from, from + size), [size, 1, 1, 1]);
            const path = (_: Tensor) => tf.add(ab, tf.mul(a, diff)); // [size, h, w, C]
            const r = runProbed(net, weights, sequential ? image : tf.tile(image, [size, 1, 1, 1]), {
              replace: new Map([[layer, path]]),
              gradients: [layer],
              objective: objectiveFor({ kind: target.kind, targets: new Array(size).fill(t) }),
            });
            const wk = tf.tensor(w.slice(from, from + size), [size, 1, 1, 1]);
            acc = tf.add(acc, tf.sum(tf.mul(r.gradients.get(layer)!, wk), 0, true));
            r.dispose();
          }
          const gap = tf.sub(
            tf.sum(tf.mul(diff, acc)),
            tf.sub(tf.slice(scores, 0, 1), tf.slice(scores, 1, 1)),
          );
          return { diff, acc, gap: tf.reshape(gap, [1]) };
        })
      );
      const join = (xs: Tensor[]) => (xs.length === 1 ? xs[0] : tf.tidy(() => tf.concat(xs)));
      result.difference.set(layer, join(perImage.map((p) => p.diff)));
      result.meanGradient.set(layer, join(perImage.map((p) => p.acc)));
      result.completenessGap.set(layer, join(perImage.map((p) => p.gap)));
      if (perImage.length > 1) tf.dispose(perImage.flatMap((p) => [p.diff, p.acc, p.gap]));
    }
    return result;
  } catch (e) {
    result.dispose();
    throw e;
  }
}
