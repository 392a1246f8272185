/**
 * Every named saliency method and the generic extraction x aggregation pairs, at the input and inner layers
 * of small VGG16 and ResNet50 models (classifier heads with one-hot seeds, fully-convolutional heads with the
 * pointing seed), plus meta-saliency, against an independent PyTorch implementation
 * (tools/saliency_reference.py: autograd hooks, rules as autograd Functions, contributions materialised), and
 * the methods beyond the paper (the CAM variants, deconvnet, integrated gradients with its completeness gap)
 * against tools/methods_reference.py.
 * Criteria: Pearson >= 0.999 and max relative error <= 1e-3 per map — except where float32 itself cannot be that
 * close: the reference records, per map, how far its float32 run is from the same pipeline in float64
 * (`f64_rel_diff`; contrastive EB at the input cancels p − p_neg down to ~4e-3). There the bound is twice that.
 * Runs on wasm; RETRACE_TEST_BACKEND=webgpu runs the same checks on the webgpu backend (bench/gpu's kit does,
 * on a GPU host).
 */
import assert from "node:assert/strict";
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { getFloatTensor, readSafetensors } from "../lib/nets/safetensors.ts";
import { loadWeightsFile } from "../lib/nets/weights_io.ts";
import { pearson } from "../lib/saliency/correlations.ts";
import { metaSaliency, metaStep } from "../lib/saliency/meta.ts";
import { computeSaliency, type MethodRef } from "../lib/saliency/saliency.ts";
import type { Seed } from "../lib/saliency/seeds.ts";
import type { Extraction } from "../lib/saliency/extract.ts";
import type { Aggregation } from "../lib/saliency/aggregate.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { relErr } from "./helpers/compare.ts";

await initBackend(parseBackendPreference(Deno.env.get("RETRACE_TEST_BACKEND") ?? "wasm"));

const DIR = new URL("./fixtures/pytorch/", import.meta.url).pathname;
const FIXTURES = ["vgg16_w32", "resnet50_w8", "vgg16fc_w32", "resnet50fc_w16"];
const MAX_REL = 1e-3;
/**
 * Integrated gradients sums 50 gradients, each within MAX_REL of PyTorch's (the gradient and linear-approx maps
 * at the same layers are); two float32 implementations' kernel orders then differ up to ~1.5e-3 at a pixel
 * (resnet50fc_w16 at the input, Pearson 0.9999998).
 */
const IG_MAX_REL = 2e-3;
const MIN_PEARSON = 0.999;

const layerOf = (key: string) => (key === "input" ? "" : key);

/** Groups `prefix.<method>.<layer>` keys by method -> layers. */
function group(keys: string[], prefix: string, methodParts: number): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const key of keys.filter((k) => k.startsWith(prefix))) {
    const parts = key.slice(prefix.length).split(".");
    const method = parts.slice(0, methodParts).join(".");
    out.set(method, [...(out.get(method) ?? []), parts.slice(methodParts).join(".")]);
  }
  return out;
}

async function compare(
  ours: Tensor,
  expected: { shape: number[]; data: Float32Array },
  what: string,
  maxRel = MAX_REL,
): Promise<void> {
  const [n, , h, w] = expected.shape; // (N, 1, H, W) is (N, H, W, 1) in memory
  assert.deepEqual(ours.shape, [n, h, w, 1], `${what}: shape`);
  const got = await ours.data() as Float32Array; // asynchronous: webgpu has no synchronous read under Deno
  const err = relErr(got, expected.data);
  const r = pearson(got, expected.data);
  const constant = expected.data.every((v) => v === expected.data[0]);
  assert.ok(err <= maxRel, `${what}: max relative error ${err.toExponential(2)} > ${maxRel}`);
  if (!constant) assert.ok(r >= MIN_PEARSON, `${what}: Pearson ${r} < ${MIN_PEARSON}`);
}

for (const name of FIXTURES) {
  Deno.test(`saliency matches PyTorch: ${name}`, async (t) => {
    const ref = readSafetensors(await Deno.readFile(`${DIR}saliency_${name}.safetensors`), name);
    const cfg = JSON.parse(ref.metadata.config);
    const [, , h, w] = cfg.input_shape;
    const net = buildNetwork({ ...cfg.model, numClasses: cfg.model.num_classes, inputSize: [h, w] });
    const weights = await loadWeightsFile(net, `${DIR}${name}.weights.safetensors`);
    const source = readSafetensors(await Deno.readFile(`${DIR}${name}.reference.safetensors`), name);
    const input = tf.tidy(() => {
      const x = getFloatTensor(source, "input");
      return tf.transpose(tf.tensor(x.data, x.shape), [0, 2, 3, 1]);
    });
    const seed: Seed = { kind: cfg.seed_kind === "one-hot" ? "one-hot" : "pointing", targets: cfg.targets };
    const keys = [...ref.tensors.keys()];
    const baseline = tf.memory().numTensors;
    const run = async (label: string, method: MethodRef, layers: string[], prefix: string, from = ref) => {
      const tolerances = JSON.parse(from.metadata.config).f64_rel_diff ?? {};
      const result = computeSaliency(net, weights, input, { method, layers: layers.map(layerOf), seed });
      try {
        for (const layer of layers) {
          await t.step(
            `${label} @ ${layer}`,
            () =>
              compare(
                result.maps.get(layerOf(layer))!,
                getFloatTensor(from, `${prefix}${layer}`),
                `${label} @ ${layer}`,
                Math.max(
                  label === "integrated-gradients" ? IG_MAX_REL : MAX_REL,
                  2 * (tolerances[`${prefix}${layer}`] ?? 0),
                ),
              ),
          );
          const gapKey = `gap.${label}.${layer}`;
          if (from.tensors.has(gapKey)) {
            await t.step(`${label} @ ${layer}: completeness gap`, async () => {
              // the gap is Σ attributions − (S(x) − S(x')): compared on the scale of the attributions
              const want = getFloatTensor(from, gapKey).data;
              const got = await result.completenessGap!.get(layerOf(layer))!.data();
              const scale = getFloatTensor(from, `${prefix}${layer}`).data.reduce(
                (a, v) => a + Math.abs(v),
                0,
              );
              want.forEach((v, i) =>
                assert.ok(
                  Math.abs(got[i] - v) <= 1e-3 * scale,
                  `image ${i}: gap ${got[i]} vs ${v} (Σ|attr| ${scale})`,
                )
              );
            });
          }
        }
      } finally {
        result.dispose();
      }
    };
    for (const [method, layers] of group(keys, "map.", 1)) {
      await run(method, method, layers, `map.${method}.`);
    }
    // the methods beyond the paper (tools/methods_reference.py), from the same model, input and seed
    const cams = readSafetensors(await Deno.readFile(`${DIR}methods_${name}.safetensors`), name);
    for (const [method, layers] of group([...cams.tensors.keys()], "map.", 1)) {
      await run(method, method, layers, `map.${method}.`, cams);
    }
    for (const [pair, layers] of group(keys, "pair.", 2)) {
      const [extract, aggregate] = pair.split(".") as [Extraction, Aggregation];
      await run(pair, { extract, aggregate }, layers, `pair.${pair}.`);
    }
    const metaKeys = group(keys, "meta.", 2);
    for (const [signMethod, layers] of metaKeys) {
      const [sign, method] = signMethod.split(".");
      if (sign === "logit") continue;
      const eta = sign === "zero" ? 0 : cfg.meta.eta;
      const result = metaSaliency(net, weights, input, { method, layers: layers.map(layerOf), seed }, {
        eta,
        sign: sign === "neg" ? "negative" : "positive",
      });
      for (const layer of layers) {
        await t.step(
          `meta ${sign} ${method} @ ${layer}`,
          () =>
            compare(
              result.maps.get(layerOf(layer))!,
              getFloatTensor(ref, `meta.${sign}.${method}.${layer}`),
              `meta`,
            ),
        );
      }
      result.dispose();
    }
    if (ref.tensors.has("meta.logit.pos")) {
      await t.step("meta step moves the target logit as PyTorch's does", async () => {
        for (const [sign, key] of [["positive", "meta.logit.pos"], ["negative", "meta.logit.neg"]] as const) {
          const expected = getFloatTensor(ref, key).data;
          for (const [b, target] of (cfg.targets as number[]).entries()) {
            const image = tf.slice(input, [b, 0, 0, 0], [1, -1, -1, -1]);
            const stepped = metaStep(net, weights, image, target, { eta: cfg.meta.eta, sign });
            const r = runProbed(net, stepped, image);
            const logit = (await r.output.data())[target];
            assert.ok(
              Math.abs(logit - expected[b]) <= 1e-3 * Math.max(1, Math.abs(expected[b])),
              `${sign} ${b}: ${logit} vs ${expected[b]}`,
            );
            r.dispose();
            stepped.dispose();
            image.dispose();
          }
        }
      });
    }
    assert.equal(tf.memory().numTensors, baseline, "tensors leaked");
    input.dispose();
    weights.dispose();
  });
}
