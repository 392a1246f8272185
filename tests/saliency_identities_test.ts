/**
 * Exact identities of the saliency framework, on random tensors and random networks (wasm):
 * normgrad == ‖x‖·‖g‖; the closed-form aggregations of outer-product and 3x3 contributions == the contributions
 * materialised; linear-approx at the input == Σ_k input·gradient; normgrad-exact of a 1x1 stride-1 conv == the
 * identity trick; guided == gradient where no ReLU lies between the layer and the output; batched targets ==
 * one pass per target; meta-saliency with η = 0 == the base method; a positive step raises the target logit and a
 * negative one lowers it; no tensor leaks across repeated calls of every method and of meta-saliency.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { aggregateChannels, AGGREGATIONS } from "../lib/saliency/aggregate.ts";
import { extractAggregate } from "../lib/saliency/extract.ts";
import { metaSaliency, metaStep } from "../lib/saliency/meta.ts";
import { METHODS } from "../lib/saliency/methods.ts";
import { INPUT_ONLY } from "../lib/saliency/extract.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { objectiveFor, repeatForTargets } from "../lib/saliency/seeds.ts";
import { relErr } from "./helpers/compare.ts";

await initBackend("wasm");

const x = tf.randomNormal([2, 5, 6, 4], 0, 1, "float32", 1);
const g = tf.randomNormal([2, 5, 6, 4], 0, 1, "float32", 2);

/** Outer products g_u ⊗ v_u flattened: [N, H, W, Cg*Cv]. */
function outer(a: Tensor, b: Tensor): Tensor {
  const [n, h, w, ca] = a.shape as number[];
  const cb = b.shape[3]!;
  return tf.reshape(tf.mul(tf.reshape(a, [n, h, w, ca, 1]), tf.reshape(b, [n, h, w, 1, cb])), [
    n,
    h,
    w,
    ca * cb,
  ]);
}

/** unfold3x3 with zero padding 1: [N, H, W, 9C]. */
function unfold3x3(v: Tensor): Tensor {
  const [, h, w] = v.shape as number[];
  const p = tf.pad(v, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  const taps: Tensor[] = [];
  for (let dy = 0; dy < 3; dy++) {
    for (let dx = 0; dx < 3; dx++) taps.push(tf.slice(p, [0, dy, dx, 0], [-1, h, w, -1]));
  }
  return tf.concat(taps, 3);
}

Deno.test("normgrad == ‖x‖·‖g‖ per location", () => {
  const ours = extractAggregate("identity-1x1", "norm", { x, g });
  const direct = tf.mul(tf.norm(x, "euclidean", -1, true), tf.norm(g, "euclidean", -1, true));
  assert.ok(relErr(ours, direct) < 1e-6);
  tf.dispose([ours, direct]);
});

Deno.test("closed-form aggregations == materialised contributions (1x1, 3x3, depthwise 3x3)", () => {
  for (const kind of AGGREGATIONS) {
    tf.tidy(() => {
      const cases: [string, Tensor, Tensor][] = [
        ["identity-1x1", extractAggregate("identity-1x1", kind, { x, g }), outer(g, x)],
        ["identity-3x3", extractAggregate("identity-3x3", kind, { x, g }), outer(g, unfold3x3(x))],
        [
          "depthwise-3x3",
          extractAggregate("depthwise-3x3", kind, { x, g }),
          // c_{k,δ} = P_{k,δ} g_k: unfold3x3 is tap-major, channel-minor, so tile g over the 9 taps
          tf.mul(unfold3x3(x), tf.tile(g, [1, 1, 1, 9])),
        ],
      ];
      for (const [name, ours, c] of cases) {
        assert.ok(relErr(ours, aggregateChannels(kind, c)) < 1e-5, `${name} ${kind}`);
      }
    });
  }
});

Deno.test("normgrad-exact of a 1x1 stride-1 conv == the virtual identity trick, for every aggregation", () => {
  const conv = { inChannels: 4, outChannels: 4, kernel: 1, stride: 1, padding: 0, dilation: 1, bias: false };
  for (const kind of AGGREGATIONS) {
    tf.tidy(() => {
      const exact = extractAggregate("conv-exact", kind, { x, g, conv });
      const trick = extractAggregate("identity-1x1", kind, { x, g });
      assert.ok(relErr(exact, trick) < 1e-6, kind);
    });
  }
});

const resnet = buildNetwork({ arch: "resnet18", width: 1 / 8, numClasses: 5 });
const resnetW = randomWeights(resnet, 3);
const vgg = buildNetwork({ arch: "vgg11", width: 1 / 16, numClasses: 6 });
const vggW = randomWeights(vgg, 4);
const images = tf.randomNormal([2, 48, 40, 3], 0, 1, "float32", 5);

Deno.test("linear-approx at the input == Σ_k input · dS/dinput", () => {
  const seed = { kind: "one-hot" as const, targets: [1, 4] };
  const la = computeSaliency(resnet, resnetW, images, { method: "linear-approx", layers: [""], seed });
  const probed = runProbed(resnet, resnetW, images, { gradients: [""], objective: objectiveFor(seed) });
  const direct = tf.sum(tf.mul(images, probed.gradients.get("")!), -1, true);
  assert.ok(relErr(la.maps.get("")!, direct) < 1e-6);
  tf.dispose(direct);
  probed.dispose();
  la.dispose();
});

Deno.test("guided == gradient where no ReLU lies between the layer and the output (ResNet layer4)", () => {
  const seed = { kind: "one-hot" as const, targets: [0, 2] };
  for (const [guided, plain] of [["guided", "gradient"], ["guided-sum", "gradient-sum"]]) {
    const a = computeSaliency(resnet, resnetW, images, {
      method: guided,
      layers: ["layer4", "layer3"],
      seed,
    });
    const b = computeSaliency(resnet, resnetW, images, { method: plain, layers: ["layer4", "layer3"], seed });
    assert.ok(relErr(a.maps.get("layer4")!, b.maps.get("layer4")!) === 0, `${guided} at layer4`);
    // below layer4's ReLUs the rules differ (this is what makes the first check meaningful)
    assert.ok(
      relErr(a.maps.get("layer3")!, b.maps.get("layer3")!) > 1e-3,
      `${guided} at layer3 should differ`,
    );
    a.dispose();
    b.dispose();
  }
});

Deno.test("several targets of one image in one batched pass == one pass per target", () => {
  const image = tf.slice(images, [0, 0, 0, 0], [1, -1, -1, -1]);
  const targets = [0, 3, 5];
  const batch = repeatForTargets(image, targets);
  for (const method of ["normgrad", "excitation", "contrastive-excitation", "guided"]) {
    const all = computeSaliency(vgg, vggW, batch, {
      method,
      layers: ["features.9"],
      seed: { kind: "one-hot", targets },
    });
    targets.forEach((target, i) => {
      const one = computeSaliency(vgg, vggW, image, {
        method,
        layers: ["features.9"],
        seed: { kind: "one-hot", targets: [target] },
      });
      const row = tf.slice(all.maps.get("features.9")!, [i, 0, 0, 0], [1, -1, -1, -1]);
      assert.ok(relErr(row, one.maps.get("features.9")!) < 1e-5, `${method} target ${target}`);
      tf.dispose(row);
      one.dispose();
    });
    all.dispose();
  }
  tf.dispose([image, batch]);
});

Deno.test("meta-saliency: η = 0 is the base method; a positive step raises the target logit, a negative one lowers it", () => {
  const seed = { kind: "one-hot" as const, targets: [1, 4] };
  const request = { method: "selective-normgrad", layers: ["layer2", ""], seed };
  const base = computeSaliency(resnet, resnetW, images, request);
  const zero = metaSaliency(resnet, resnetW, images, request, { eta: 0 });
  for (const layer of request.layers) {
    assert.ok(relErr(zero.maps.get(layer)!, base.maps.get(layer)!) < 1e-6, layer);
  }
  const positive = metaSaliency(resnet, resnetW, images, request, { eta: 0.0025 });
  assert.ok(
    relErr(positive.maps.get("layer2")!, base.maps.get("layer2")!) > 1e-4,
    "a real step changes the map",
  );
  [base, zero, positive].forEach((r) => r.dispose());
  // The least likely class: its cross-entropy gradient is far from saturated on a random network.
  const logits = runProbed(resnet, resnetW, images);
  const unlikely = tf.argMin(logits.output, 1).dataSync() as Int32Array;
  logits.dispose();
  unlikely.forEach((target, b) => {
    const image = tf.slice(images, [b, 0, 0, 0], [1, -1, -1, -1]);
    const logit = (w: typeof resnetW) => {
      const r = runProbed(resnet, w, image);
      const v = r.output.dataSync()[target];
      r.dispose();
      return v;
    };
    const before = logit(resnetW);
    for (const sign of ["positive", "negative"] as const) {
      const stepped = metaStep(resnet, resnetW, image, target, { eta: 0.0025, sign });
      const after = logit(stepped);
      stepped.dispose();
      if (sign === "positive") assert.ok(after > before, `positive step: ${after} should exceed ${before}`);
      else assert.ok(after < before, `negative step: ${after} should be below ${before}`);
    }
    image.dispose();
  });
});

Deno.test("no tensor leaks across repeated calls of every method and of meta-saliency", () => {
  const seed = { kind: "one-hot" as const, targets: [1, 4] };
  const call = () => {
    for (const m of METHODS) {
      const layers = m.extract === "conv-exact"
        ? ["features.8"]
        : INPUT_ONLY.has(m.extract)
        ? [""]
        : ["", "features.9"];
      computeSaliency(vgg, vggW, images, {
        method: m.name,
        layers,
        seed,
        rise: { masks: 8 },
        occlusion: { window: 16, stride: 16 },
        integratedGradients: { steps: 4 },
      }).dispose();
    }
    metaSaliency(vgg, vggW, images, { method: "normgrad", layers: ["features.9"], seed }, { eta: 1e-3 })
      .dispose();
    try {
      computeSaliency(vgg, vggW, images, { method: "nope", layers: [""], seed });
    } catch { /* expected */ }
  };
  call();
  const baseline = tf.memory().numTensors;
  for (let i = 0; i < 2; i++) call();
  assert.equal(tf.memory().numTensors, baseline);
});
