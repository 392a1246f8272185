/**
 * Test helper: one of tests/fixtures/pytorch's small networks (tools/make_fixtures.py) with its reference input,
 * as the saliency fixtures describe them: the network built from the config, its weights, the input as NHWC, and
 * the config (input shape, targets, seed kind). The caller disposes input and weights.
 */
import { type Tensor, tf } from "../../lib/runtime/tf.ts";
import { buildNetwork, type Network } from "../../lib/nets/network.ts";
import { getFloatTensor, readSafetensors } from "../../lib/nets/safetensors.ts";
import { loadWeightsFile } from "../../lib/nets/weights_io.ts";
import type { NetWeights } from "../../lib/nets/weights.ts";

export const PYTORCH_FIXTURES = new URL("../fixtures/pytorch/", import.meta.url).pathname;

export interface PytorchFixture {
  cfg: { input_shape: number[]; targets: number[]; seed_kind: string; model: Record<string, unknown> };
  height: number;
  width: number;
  net: Network;
  weights: NetWeights;
  input: Tensor;
}

export async function loadPytorchFixture(name: string): Promise<PytorchFixture> {
  const ref = readSafetensors(await Deno.readFile(`${PYTORCH_FIXTURES}saliency_${name}.safetensors`), name);
  const cfg = JSON.parse(ref.metadata.config);
  const [, , height, width] = cfg.input_shape;
  const net = buildNetwork({ ...cfg.model, numClasses: cfg.model.num_classes, inputSize: [height, width] });
  const weights = await loadWeightsFile(net, `${PYTORCH_FIXTURES}${name}.weights.safetensors`);
  const source = readSafetensors(
    await Deno.readFile(`${PYTORCH_FIXTURES}${name}.reference.safetensors`),
    name,
  );
  const x = getFloatTensor(source, "input");
  const input = tf.tidy(() => tf.transpose(tf.tensor(x.data, x.shape), [0, 2, 3, 1]));
  return { cfg, height, width, net, weights, input };
}
