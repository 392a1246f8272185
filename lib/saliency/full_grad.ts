/**
 * FullGrad (Srinivas & Fleuret, "Full-Gradient Representation for Neural Network Visualization", NeurIPS 2019):
 * the input-gradient term plus every bias-gradient term, each post-processed on its own and summed at the input's
 * resolution, as the authors' implementation (idiap/fullgrad-saliency, fullgrad.py) does:
 *   map = Σ_c ψ(∇ₓS ⊙ x) + Σ_layers Σ_c up(ψ(∇_{z_l}S ⊙ b_l)),
 * over the conv and batch-norm modules (4-D outputs; linear layers are left out there too), with b_l a conv's bias
 * or a batch norm's effective bias β − μγ/√(σ² + ε); ψ = |·| min-max normalised per image over all its channels
 * and positions (+1e-6 in the denominator); up = bilinear resizing with aligned corners. S is the target's score
 * (the logit for a one-hot seed). One forward and one backward; the map is at the input's resolution.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Network } from "../nets/network.ts";
import type { NetWeights } from "../nets/weights.ts";
import { runProbed } from "../nets/probes.ts";
import { BN_EPSILON } from "../nets/ops.ts";
import { objectiveFor, type Seed, targetSeed } from "./seeds.ts";

const EPS = 1e-6;

/** The probe-able conv and batch-norm modules that carry a bias, with it ([C]; the caller disposes it). */
export function biasModules(net: Network, weights: NetWeights): { name: string; bias: Tensor }[] {
  const names = new Set(net.params.map((p) => p.name));
  const probed = new Set(net.layerNames);
  const out: { name: string; bias: Tensor }[] = [];
  for (const p of net.params) {
    if (p.name.endsWith(".running_mean")) {
      const m = p.name.slice(0, -".running_mean".length);
      if (!probed.has(m)) continue;
      const [gamma, beta, mean, variance] = ["weight", "bias", "running_mean", "running_var"].map((k) =>
        weights.get(`${m}.${k}`)
      );
      out.push({
        name: m,
        bias: tf.tidy(() => tf.sub(beta, tf.div(tf.mul(mean, gamma), tf.sqrt(tf.add(variance, BN_EPSILON))))),
      });
    } else if (p.name.endsWith(".bias")) {
      const m = p.name.slice(0, -".bias".length);
      if (net.convs.has(m) && probed.has(m) && names.has(p.name)) {
        out.push({ name: m, bias: tf.clone(weights.get(p.name)) });
      }
    }
  }
  return out;
}

/** ψ: |t| min-max normalised per image over everything but the batch axis. */
function postProcess(t: Tensor): Tensor {
  return tf.tidy(() => {
    const a = tf.abs(t);
    const lo = tf.min(a, [1, 2, 3], true);
    const shifted = tf.sub(a, lo);
    return tf.div(shifted, tf.add(tf.max(shifted, [1, 2, 3], true), EPS));
  });
}

/** FullGrad maps [N, H, W, 1] for `input` [N, H, W, 3], with the network's output of the same pass. */
export function fullGrad(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  seed: Seed,
): { map: Tensor; output: Tensor } {
  const target = targetSeed(seed, input.shape[0]!, "FullGrad explains a target's score");
  const modules = biasModules(net, weights);
  try {
    const r = runProbed(net, weights, input, {
      gradients: ["", ...modules.map((m) => m.name)],
      objective: objectiveFor(target),
    });
    try {
      return tf.tidy(() => {
        const [height, width] = [input.shape[1]!, input.shape[2]!];
        let map = tf.sum(postProcess(tf.mul(r.gradients.get("")!, input)), -1, true);
        for (const m of modules) {
          const g = r.gradients.get(m.name)!;
          if (g.rank !== 4) continue;
          const term = postProcess(tf.mul(g, m.bias));
          const up = tf.image.resizeBilinear(term as tf.Tensor4D, [height, width], true);
          map = tf.add(map, tf.sum(up, -1, true));
        }
        return { map, output: tf.clone(r.output) };
      });
    } finally {
      r.dispose();
    }
  } finally {
    tf.dispose(modules.map((m) => m.bias));
  }
}
