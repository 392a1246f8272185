/**
 * Backward-rule sets for the probe context (METHODS.md §3.5). Each rule keeps the standard forward value and
 * replaces the backward:
 *   guided      every ReLU: grad_in = relu(grad_out) · [x_in >= 0] (ReLU only, as Captum and pytorch-grad-cam;
 *               ReLU6 and the other activations keep their gradients).
 *   deconvnet   every ReLU: grad_in = relu(grad_out), the forward's sign ignored — Zeiler & Fergus, "Visualizing
 *               and Understanding Convolutional Networks", ECCV 2014 (the deconvnet's rectification), as Captum's
 *               Deconvolution applies it (ReLU modules only; max pooling keeps its switches).
 *   excitation  conv / linear: W+ = max(W, 0), bias dropped, z = op(x, W+), grad_x = x ⊙ vjp_x(op(·, W+))(p / (z + 1e-20));
 *               average and adaptive average pooling: grad_x = x ⊙ vjp(p / (z + 1e-20));
 *               batch norm: identity backward; residual add: grad_a = a/(a+b) ⊙ p, grad_b = b/(a+b) ⊙ p, and 0 where
 *               a + b == 0 exactly (the reference has no guard; this is retrace's documented choice).
 *               ReLU, max pooling, dropout and concatenation keep their standard gradients; other activations,
 *               element-wise arithmetic and grouped convolutions are refused (UnsupportedRuleError).
 * Contrastive excitation backprop is two excitation passes (lib/saliency/saliency.ts).
 */
import { withBackward } from "../runtime/custom_grad.ts";
import { type Tensor, tf } from "../runtime/tf.ts";
import { adaptiveAvgPoolGrad, type BackwardRules, type ConvParams, standardOps } from "../nets/layer_ops.ts";
import type { PoolSpec } from "../nets/ops.ts";
import { UnsupportedRuleError } from "./errors.ts";

export const RULE_SETS = ["standard", "guided", "deconvnet", "excitation", "contrastive-excitation"] as const;
export type RuleSetName = typeof RULE_SETS[number];

const EPS = 1e-20;

const guidedRelu = withBackward(
  1,
  (x) => tf.relu(x),
  (dy, [x]) => [tf.mul(tf.relu(dy), tf.cast(tf.greaterEqual(x, 0), "float32"))],
  "inputs",
);

export const guidedRules: BackwardRules = { relu: (x) => guidedRelu(x) };

const deconvRelu = withBackward(1, (x) => tf.relu(x), (dy) => [tf.relu(dy)], "none");

export const deconvnetRules: BackwardRules = { relu: (x) => deconvRelu(x) };

/** x ⊙ vjp(p / (z + eps)): the excitation step shared by every layer type. */
function excite(x: Tensor, p: Tensor, z: Tensor, vjp: (pHat: Tensor) => Tensor): Tensor {
  return tf.mul(x, vjp(tf.div(p, tf.add(z, EPS))));
}

function excitationConv(x: Tensor, p: ConvParams): Tensor {
  return withBackward(1, (v) => standardOps.conv2d(v, p), (dy, [v]) => {
    const wPlus = tf.relu(p.weight) as tf.Tensor4D;
    const z = tf.conv2d(v as tf.Tensor4D, wPlus, p.stride, p.padding, "NHWC", p.dilation);
    return [excite(v, dy, z, (pHat) =>
      tf.conv2dTranspose(
        pHat as tf.Tensor4D,
        wPlus,
        v.shape as [number, number, number, number],
        p.stride,
        p.padding,
      ))];
  }, "inputs")(x);
}

function excitationLinear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  return withBackward(1, (v) => standardOps.linear(v, weight, bias), (dy, [v]) => {
    const wPlus = tf.relu(weight);
    const z = tf.matMul(v as tf.Tensor2D, wPlus as tf.Tensor2D);
    // explicit transpose: matMul's transpose flags are ~10x slower on wasm
    return [excite(v, dy, z, (pHat) => tf.matMul(pHat as tf.Tensor2D, tf.transpose(wPlus) as tf.Tensor2D))];
  }, "inputs")(x);
}

function excitationAvgPool(x: Tensor, s: PoolSpec): Tensor {
  return withBackward(1, (v) => standardOps.avgPool(v, s), (dy, [v], z) => {
    const vjp = (pHat: Tensor) =>
      tf.engine().runKernel("AvgPoolGrad", { dy: pHat, input: v }, {
        filterSize: s.kernel,
        strides: s.stride,
        pad: "valid",
      }) as Tensor;
    return [excite(v, dy, z, vjp)];
  })(x);
}

function excitationAdaptiveAvgPool(x: Tensor, out: [number, number]): Tensor {
  return withBackward(1, (v) => standardOps.adaptiveAvgPool(v, out), (dy, [v], z) => {
    const size: [number, number] = [v.shape[1]!, v.shape[2]!];
    return [excite(v, dy, z, (pHat) => adaptiveAvgPoolGrad(pHat, size))];
  })(x);
}

function excitationAdd(a: Tensor, b: Tensor): Tensor {
  return withBackward(2, (u, v) => tf.add(u, v), (dy, [u, v], sum) => {
    const zero = tf.equal(sum, 0);
    const safe = tf.where(zero, tf.onesLike(sum), sum);
    const share = (part: Tensor) => tf.where(zero, tf.zerosLike(dy), tf.mul(tf.div(part, safe), dy));
    return [share(u), share(v)];
  })(a, b);
}

/** Refuses an op the excitation rules do not define (named, never silently run with the standard gradient). */
function notDefined(what: string): never {
  throw new UnsupportedRuleError(
    `excitation backprop is not defined for ${what}; it covers conv, linear, ReLU, pools, batch norm, ` +
      "residual additions and concatenation (use a gradient method for this network)",
  );
}

/**
 * Throws UnsupportedRuleError before any pass when `rules` cannot run on a network with these extra ops
 * (Network.extraOps): a refusal mid-forward would strand the tensors tfjs saved for the backward.
 */
export function checkRuleSupport(rules: RuleSetName, extraOps: ReadonlySet<string>): void {
  if (rules !== "excitation" && rules !== "contrastive-excitation") return;
  const [first] = extraOps;
  if (first !== undefined) notDefined([...extraOps].join(", "));
}

export const excitationRules: BackwardRules = {
  conv2d: (x, p) =>
    (p.groups ?? 1) > 1 ? notDefined(`grouped convolutions (groups ${p.groups})`) : excitationConv(x, p),
  linear: excitationLinear,
  avgPool: excitationAvgPool,
  adaptiveAvgPool: excitationAdaptiveAvgPool,
  batchNorm: (x, p) => withBackward(1, (v) => standardOps.batchNorm(v, p), (dy) => [tf.clone(dy)], "none")(x),
  add: excitationAdd,
  activation: (_x, fn) => notDefined(`the ${fn.kind} activation`),
  binary: (op) => notDefined(`element-wise ${op} (e.g. squeeze-excitation scales)`),
};

/** The rule set behind a name ("contrastive-excitation" uses the excitation rules in both of its passes). */
export function rulesFor(name: RuleSetName): BackwardRules | undefined {
  if (name === "guided") return guidedRules;
  if (name === "deconvnet") return deconvnetRules;
  if (name === "excitation" || name === "contrastive-excitation") return excitationRules;
  return undefined;
}
