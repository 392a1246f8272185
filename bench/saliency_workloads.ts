/**
 * The benches' timed workloads on one input: a method's maps at some layers (any request options besides), and
 * every trainable weight's gradient (meta-saliency's inner step). Each returns a function that runs the pass,
 * reads every result (so a GPU has finished) and checks the WebGPU device reported no error.
 */
import { assertNoDeviceErrors } from "../lib/runtime/backend.ts";
import type { Tensor } from "../lib/runtime/tf.ts";
import type { Network } from "../lib/nets/network.ts";
import type { NetWeights } from "../lib/nets/weights.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { computeSaliency, type SaliencyRequest } from "../lib/saliency/saliency.ts";
import { trainableParams } from "../lib/saliency/meta.ts";
import { objectiveFor, type Seed } from "../lib/saliency/seeds.ts";

async function settle(tensors: Iterable<Tensor>): Promise<void> {
  await Promise.all([...tensors].map((t) => t.data()));
  assertNoDeviceErrors();
}

export function saliencyWorkloads(net: Network, weights: NetWeights, input: Tensor, seed: Seed) {
  return {
    map: (method: string, layers: readonly string[], options: Partial<SaliencyRequest> = {}) => async () => {
      const r = computeSaliency(net, weights, input, { method, layers, seed, ...options });
      try {
        await settle(r.maps.values());
      } finally {
        r.dispose();
      }
    },
    weightGrads: () => async () => {
      const r = runProbed(net, weights, input, {
        weightGradients: trainableParams(net),
        objective: objectiveFor(seed),
      });
      try {
        await settle(r.weightGradients.values());
      } finally {
        r.dispose();
      }
    },
  };
}
