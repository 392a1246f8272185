/**
 * Fidelity to PyTorch on the wasm backend: fixtures from tools/make_fixtures.py (torchvision-named VGG16 and
 * ResNet50, classifier and fully-convolutional heads, random BN statistics) — logits, dS/dinput, activations
 * and dS/dx at inner layers, and weight gradients — must match to 1e-4 relative (max abs error / max abs value).
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { getFloatTensor, readSafetensors } from "../lib/nets/safetensors.ts";
import { loadWeightsFile } from "../lib/nets/weights_io.ts";
import { relErr } from "./helpers/compare.ts";

await initBackend("wasm");

const DIR = new URL("./fixtures/pytorch/", import.meta.url).pathname;
const FIXTURES = ["vgg16_w32", "resnet50_w8", "vgg16fc_w32", "resnet50fc_w16"];
const TOLERANCE = 1e-4;

interface FixtureConfig {
  arch: string;
  width: number;
  num_classes: number;
  head: string;
  input_shape: number[];
  targets: number[];
  probes: string[];
  weight_grads: string[];
}

/** PyTorch layout -> retrace layout: NCHW activations to NHWC (weights are compared in PyTorch layout). */
function torchToNhwc(t: { shape: number[]; data: Float32Array }): Tensor {
  const x = tf.tensor(t.data, t.shape);
  if (t.shape.length !== 4) return x;
  const y = tf.transpose(x, [0, 2, 3, 1]);
  x.dispose();
  return y;
}

/** retrace weight layout -> PyTorch layout (conv HWIO -> OIHW, linear [in, out] -> [out, in]). */
function toTorchLayout(w: Tensor): Tensor {
  if (w.rank === 4) return tf.transpose(w, [3, 2, 0, 1]);
  if (w.rank === 2) return tf.transpose(w, [1, 0]);
  return tf.clone(w);
}

for (const name of FIXTURES) {
  Deno.test(`matches PyTorch: ${name}`, async (t) => {
    const ref = readSafetensors(await Deno.readFile(`${DIR}${name}.reference.safetensors`), name);
    const cfg = JSON.parse(ref.metadata.config) as FixtureConfig;
    const [n, , h, w] = cfg.input_shape;
    const net = buildNetwork({
      arch: cfg.arch,
      width: cfg.width,
      numClasses: cfg.num_classes,
      head: cfg.head,
      inputSize: [h, w],
    });
    const weights = await loadWeightsFile(net, `${DIR}${name}.weights.safetensors`);
    const get = (key: string) => getFloatTensor(ref, key, name);
    const input = torchToNhwc(get("input"));
    assert.deepEqual(input.shape, [n, h, w, 3]);
    const seed = tf.oneHot(cfg.targets, cfg.num_classes).toFloat();
    // Classifier: S = sum_b logit[b, target_b]; fully-conv: summed over every position of the score map.
    const objective = (out: Tensor) =>
      tf.sum(tf.mul(out, out.rank === 4 ? tf.reshape(seed, [n, 1, 1, cfg.num_classes]) : seed));
    const baseline = tf.memory().numTensors;
    const r = runProbed(net, weights, input, {
      record: cfg.probes,
      gradients: ["", ...cfg.probes],
      weightGradients: cfg.weight_grads,
      objective,
    });
    const check = async (what: string, ours: Tensor, expected: Tensor) => {
      await t.step(what, () => {
        assert.deepEqual(ours.shape, expected.shape, `${what} shape`);
        const err = relErr(ours, expected);
        assert.ok(err <= TOLERANCE, `${what}: relative error ${err.toExponential(2)} > ${TOLERANCE}`);
      });
      expected.dispose();
    };
    try {
      await check("logits", r.output, torchToNhwc(get("logits")));
      await check("grad.input", r.gradients.get("")!, torchToNhwc(get("grad.input")));
      for (const layer of cfg.probes) {
        await check(`act.${layer}`, r.activations.get(layer)!, torchToNhwc(get(`act.${layer}`)));
        await check(`grad.${layer}`, r.gradients.get(layer)!, torchToNhwc(get(`grad.${layer}`)));
      }
      for (const param of cfg.weight_grads) {
        const ours = toTorchLayout(r.weightGradients.get(param)!);
        const expected = get(`wgrad.${param}`);
        await check(`wgrad.${param}`, ours, tf.tensor(expected.data, expected.shape));
        ours.dispose();
      }
    } finally {
      r.dispose();
    }
    assert.equal(tf.memory().numTensors, baseline, "tensors leaked by the probed pass");
    tf.dispose([input, seed]);
    weights.dispose();
  });
}
