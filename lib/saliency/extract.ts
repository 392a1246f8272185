/**
 * Phase 1 of Extract & Aggregate (METHODS.md §3.2, §4): the per-location contribution c_u of a virtual layer
 * inserted at the probed tensor x (gradient g), reduced by a phase-2 aggregation (lib/saliency/aggregate.ts).
 *   bias           c_u = g_u                                  (gradient-type maps)
 *   scaling        c_u = x_u ⊙ g_u                            (linear approximation, selective NormGrad)
 *   gradcam-mean   c_u = x_u ⊙ mean_u'(g_u')                  (Grad-CAM)
 *   positive-scaling  c_u = x_u ⊙ relu(g_u)                   (Layer-CAM)
 *   gradcam-plus-plus c_u = x_u ⊙ w(x, g), Grad-CAM++'s weights (lib/saliency/cam_weights.ts)
 *   xgradcam       c_u = x_u ⊙ w(x, g), XGrad-CAM's weights
 *   principal-component  c_u = (x_u − mean x) ⊙ v₁, no gradient (Eigen-CAM; lib/saliency/principal_component.ts)
 *   path-integral  c_u = (A(x) − A(x'))_u ⊙ ḡ_u, ḡ the gradient averaged along the path (Integrated Gradients;
 *                  lib/saliency/integrated_gradients.ts gives both factors as x and g, computeSaliency runs it)
 *   random-masks   RISE's map at the input, not a per-location contribution (lib/saliency/rise.ts; computeSaliency
 *                  runs it, extractAggregate refuses it)
 *   occlusion      the score drop under sliding patches, at the input (lib/saliency/occlusion.ts; computeSaliency
 *                  runs it, extractAggregate refuses it)
 *   full-gradient  FullGrad's input- and bias-gradient terms summed at the input (lib/saliency/full_grad.ts;
 *                  computeSaliency runs it, extractAggregate refuses it)
 *   score-weights / ablation-weights  c_u = x_u ⊙ w with w from forward passes per channel, no gradient
 *                  (Score-CAM, Ablation-CAM; lib/saliency/perturbation_cams.ts computes w, computeSaliency runs it)
 *   identity-1x1   c_u = g_u x_uᵀ                             (NormGrad's virtual identity trick)
 *   identity-3x3   c_u = g_u P_uᵀ, P_u = unfold3x3(x)_u, zero padding 1
 *   depthwise-3x3  c_{k,δ,u} = P_{k,δ,u} g_{k,u}
 *   conv-exact     c_u = g_out,u P_uᵀ with P_u = unfold_k(x_in)_u of a real conv (its kernel, stride, padding,
 *                  dilation): NormGrad without the identity trick, via the box-filter identity of §4.1.
 * Neighbourhood statistics come from box filters (sums) and zero-padded pooling (extremes), so nothing of size
 * 9C or C×C' is ever materialised. Maps are [N, H, W, 1] at the resolution of g.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Conv2dSpec } from "../nets/ops.ts";
import {
  aggregateChannels,
  aggregateOuter,
  type Aggregation,
  channelStats,
  lazyStats,
  type VectorStats,
} from "./aggregate.ts";
import { SaliencyInputError } from "./errors.ts";
import { gradCamPlusPlusWeights, xGradCamWeights } from "./cam_weights.ts";
import { principalContributions } from "./principal_component.ts";

export const EXTRACTIONS = [
  "bias",
  "scaling",
  "gradcam-mean",
  "positive-scaling",
  "gradcam-plus-plus",
  "xgradcam",
  "principal-component",
  "score-weights",
  "ablation-weights",
  "path-integral",
  "random-masks",
  "occlusion",
  "full-gradient",
  "identity-1x1",
  "identity-3x3",
  "depthwise-3x3",
  "conv-exact",
] as const;
export type Extraction = typeof EXTRACTIONS[number];

/** Extractions that read no gradient: their maps need the forward pass only. */
export const GRADIENT_FREE: ReadonlySet<Extraction> = new Set([
  "principal-component",
  "score-weights",
  "ablation-weights",
  "random-masks",
  "occlusion",
]);

/** Extractions that map the input only (black-box perturbations of the image, FullGrad's sum over layers). */
export const INPUT_ONLY: ReadonlySet<Extraction> = new Set(["random-masks", "occlusion", "full-gradient"]);

/** Extractions whose channel weights come from extra forward passes (lib/saliency/perturbation_cams.ts). */
export const PERTURBATION_WEIGHTS = {
  "score-weights": "score-cam",
  "ablation-weights": "ablation-cam",
} as const;

/** A window: kernel k (kernelW wide when not square), stride, symmetric zero padding per axis, dilation. */
interface Window {
  kernel: number;
  stride: number;
  padding: number;
  dilation: number;
  kernelW?: number;
  paddingW?: number;
}

const IDENTITY_3X3: Window = { kernel: 3, stride: 1, padding: 1, dilation: 1 };

function padWindow(v: Tensor, w: Window): tf.Tensor4D {
  const pw = w.paddingW ?? w.padding;
  return tf.pad(v, [[0, 0], [w.padding, w.padding], [pw, pw], [0, 0]]) as tf.Tensor4D;
}

/** Σ over each window of a [N, H, W, C] field (zero padded), per channel. */
function boxSum(v: Tensor, w: Window): Tensor {
  const c = v.shape[3]!;
  const ones = tf.ones([w.kernel, w.kernelW ?? w.kernel, c, 1]) as tf.Tensor4D;
  const padded = padWindow(v, w);
  if (w.stride > 1 && w.dilation > 1) {
    throw new SaliencyInputError("windows with both stride and dilation > 1");
  }
  return tf.depthwiseConv2d(padded, ones, w.stride, "valid", "NHWC", w.dilation);
}

/** max over each window of a [N, H, W, C] field, the zero padding included (it is part of the unfolded patch). */
function boxMax(v: Tensor, w: Window): Tensor {
  return tf.pool(padWindow(v, w), [w.kernel, w.kernelW ?? w.kernel], "max", "valid", w.dilation, w.stride);
}

function boxMin(v: Tensor, w: Window): Tensor {
  return tf.neg(boxMax(tf.neg(v), w));
}

/** Statistics of the unfolded patches P_u (all channels of the window) of x. */
function patchStats(x: Tensor, w: Window): VectorStats {
  const s = channelStats(x);
  return lazyStats({
    sum: () => boxSum(s.sum, w),
    sumSq: () => boxSum(s.sumSq, w),
    posSq: () => boxSum(s.posSq, w),
    negSq: () => boxSum(s.negSq, w),
    max: () => boxMax(s.max, w),
    min: () => boxMin(s.min, w),
  });
}

/** Depthwise 3x3: per channel k, the 9 products P_{k,δ} g_k. */
function depthwise(kind: Aggregation, x: Tensor, g: Tensor): Tensor {
  const w = IDENTITY_3X3;
  switch (kind) {
    case "sum":
      return tf.sum(tf.mul(g, boxSum(x, w)), -1, true);
    case "norm":
      return tf.sqrt(tf.sum(tf.mul(tf.square(g), boxSum(tf.square(x), w)), -1, true));
    case "positive-norm": {
      const pos = tf.mul(tf.square(tf.relu(g)), boxSum(tf.square(tf.relu(x)), w));
      const neg = tf.mul(tf.square(tf.minimum(g, 0)), boxSum(tf.square(tf.minimum(x, 0)), w));
      return tf.sqrt(tf.sum(tf.add(pos, neg), -1, true));
    }
    case "max": {
      const [hi, lo] = [boxMax(x, w), boxMin(x, w)];
      return tf.max(tf.maximum(tf.mul(g, hi), tf.mul(g, lo)), -1, true);
    }
    case "max-abs": {
      const extent = tf.maximum(tf.abs(boxMax(x, w)), tf.abs(boxMin(x, w)));
      return tf.max(tf.mul(tf.abs(g), extent), -1, true);
    }
  }
}

export interface ExtractInput {
  /** The probed activation [N, H, W, C] (for conv-exact: the conv's INPUT). */
  x: Tensor;
  /** dS/d(probed tensor) [N, H, W, C] (for conv-exact: dS/d(conv output)); x itself for a GRADIENT_FREE one. */
  g: Tensor;
  /** For conv-exact: the conv's spec (kernel, stride, padding, dilation). */
  conv?: Conv2dSpec;
  /** For score-weights / ablation-weights: the channel weights [N, 1, 1, C] their forward passes gave. */
  channelWeights?: Tensor;
}

/**
 * The map [N, H, W, 1] of one phase-1 x phase-2 pair. Throws SaliencyInputError for mismatched shapes or a
 * conv-exact request without a conv spec.
 */
export function extractAggregate(
  extraction: Extraction,
  aggregation: Aggregation,
  input: ExtractInput,
): Tensor {
  const { x, g } = input;
  if (x.rank !== 4 || g.rank !== 4) {
    throw new SaliencyInputError(
      `saliency needs spatial tensors [N, H, W, C]; got x [${x.shape}] and g [${g.shape}] ` +
        `(a layer after the spatial part of the network, e.g. a Linear, has no map)`,
    );
  }
  if (extraction !== "conv-exact" && x.shape.join() !== g.shape.join()) {
    throw new SaliencyInputError(`x [${x.shape}] and g [${g.shape}] differ`);
  }
  return tf.tidy(() => {
    switch (extraction) {
      case "bias":
        return aggregateChannels(aggregation, g);
      case "scaling":
      case "path-integral": // x = A(x) − A(x'), g the path-averaged gradient
        return aggregateChannels(aggregation, tf.mul(x, g));
      case "gradcam-mean":
        return aggregateChannels(aggregation, tf.mul(x, tf.mean(g, [1, 2], true)));
      case "positive-scaling":
        return aggregateChannels(aggregation, tf.mul(x, tf.relu(g)));
      case "gradcam-plus-plus":
        return aggregateChannels(aggregation, tf.mul(x, gradCamPlusPlusWeights(x, g)));
      case "xgradcam":
        return aggregateChannels(aggregation, tf.mul(x, xGradCamWeights(x, g)));
      case "principal-component":
        return aggregateChannels(aggregation, principalContributions(x));
      case "random-masks":
      case "occlusion":
      case "full-gradient":
        throw new SaliencyInputError(
          `${extraction} is a map of the input from masked forwards: use computeSaliency`,
        );
      case "score-weights":
      case "ablation-weights":
        if (!input.channelWeights) {
          throw new SaliencyInputError(`${extraction} needs the channel weights of its forward passes`);
        }
        return aggregateChannels(aggregation, tf.mul(x, input.channelWeights));
      case "identity-1x1":
        return aggregateOuter(aggregation, channelStats(g), channelStats(x));
      case "identity-3x3":
        return aggregateOuter(aggregation, channelStats(g), patchStats(x, IDENTITY_3X3));
      case "depthwise-3x3":
        return depthwise(aggregation, x, g);
      case "conv-exact": {
        if (!input.conv) throw new SaliencyInputError("conv-exact needs the conv layer's spec");
        const p = patchStats(x, input.conv);
        if (p.sum.shape.join() !== [g.shape[0], g.shape[1], g.shape[2], 1].join()) {
          throw new SaliencyInputError(
            `the conv input [${x.shape}] does not produce the gradient's grid [${g.shape}]`,
          );
        }
        return aggregateOuter(aggregation, channelStats(g), p);
      }
    }
  });
}
