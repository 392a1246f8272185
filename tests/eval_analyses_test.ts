/**
 * The evaluation's analyses on small random networks (wasm): which parameters cascading randomization replaces
 * (METHODS §10's stop rule, checked by name), the identity that a cascade into the same weights leaves every map
 * unchanged (ρ = 1), class sensitivity equal to the Spearman ρ of the two maps computed one class at a time, no
 * tensor leaks; layer weights; meta-saliency over training.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { cascadeImage, cascadeStages, randomizedParams, randomizeTo } from "../lib/eval/randomization.ts";
import { classSensitivityOfImage, extremeClasses } from "../lib/eval/class_sensitivity.ts";
import { meanStdCell, NA_NOTE } from "../lib/eval/report_cells.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { resizeMap } from "../lib/saliency/postprocess.ts";
import { meanStd, spearman } from "../lib/saliency/correlations.ts";
import { featureSpread, linearProbeMap, normaliseWeights } from "../lib/eval/layer_weights.ts";
import { metaOverTraining } from "../lib/eval/meta_training.ts";

await initBackend("wasm");

const vgg = buildNetwork({
  arch: "vgg16",
  width: 1 / 16,
  numClasses: 5,
  head: "classifier",
  inputSize: [32, 32],
});
const resnet = buildNetwork({
  arch: "resnet18",
  width: 1 / 16,
  numClasses: 5,
  head: "classifier",
  inputSize: [48, 48],
});

Deno.test("cascading randomization: the stop rule by name", () => {
  const modules = (net: typeof vgg, blob: string) => [
    ...new Set(randomizedParams(net, blob).map((n) => n.slice(0, n.lastIndexOf(".")))),
  ];
  assert.deepEqual(modules(vgg, "classifier.6"), ["classifier.6"]);
  assert.deepEqual(modules(vgg, "classifier.4"), ["classifier.6"]);
  assert.deepEqual(modules(vgg, "classifier.2"), ["classifier.3", "classifier.6"]);
  const to3 = modules(vgg, "features.3");
  assert.ok(!to3.includes("features.0") && !to3.includes("features.2"));
  assert.deepEqual(to3.slice(0, 2), ["features.5", "features.7"]);
  assert.equal(to3.length, 13 - 2 + 3);
  assert.equal(modules(vgg, "").length, 13 + 3);
  const r4 = modules(resnet, "layer4");
  assert.ok(r4.every((m) => m === "fc" || m.startsWith("layer4.")), r4.join());
  assert.ok(r4.includes("layer4.0.downsample.0") && r4.includes("layer4.1.bn2") && r4.includes("fc"));
  assert.ok(!randomizedParams(resnet, "").some((n) => n.includes("running_")));
  assert.deepEqual(cascadeStages(vgg).at(-1), "");
  assert.throws(() => randomizedParams(vgg, "features.99"), /features\.99/);
});

Deno.test("cascading randomization: replaced weights come from the fresh network, the rest is shared", () => {
  const weights = randomWeights(vgg, 1);
  const fresh = randomWeights(vgg, 2);
  const before = tf.memory().numTensors;
  const r = randomizeTo(vgg, weights, fresh, "features.22");
  assert.deepEqual(r.get("features.24.weight").dataSync(), fresh.get("features.24.weight").dataSync());
  assert.equal(r.get("features.21.weight"), weights.get("features.21.weight"));
  r.dispose();
  assert.equal(tf.memory().numTensors, before);
  assert.ok(!weights.get("features.24.weight").isDisposed && !fresh.get("features.24.weight").isDisposed);
  weights.dispose();
  fresh.dispose();
});

Deno.test("cascading randomization into the same weights changes no map (rho = 1), no leaks", async () => {
  const weights = randomWeights(resnet, 3);
  const input = tf.randomNormal([1, 48, 48, 3], 0, 1, "float32", 7);
  const options = { methods: ["linear-approx"], layer: "layer3", meta: { eta: 1e-3 } };
  const first = await cascadeImage(resnet, weights, weights, input, options);
  first.maps.forEach((m) => tf.dispose(m));
  const before = tf.memory().numTensors;
  const r = await cascadeImage(resnet, weights, weights, input, options);
  assert.deepEqual([...r.rho.keys()], ["linear-approx", "linear-approx+meta"]);
  for (const values of r.rho.values()) {
    assert.equal(values.length, cascadeStages(resnet).length);
    for (const v of values) assert.ok(Math.abs(v - 1) < 1e-6, `rho ${v}`);
  }
  r.maps.forEach((m) => tf.dispose(m));
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(input);
  weights.dispose();
});

Deno.test("cascading randomization into fresh weights: each rho is that of a map recomputed with exactly the replaced set", async () => {
  const weights = randomWeights(resnet, 3);
  const fresh = randomWeights(resnet, 5);
  const input = tf.randomNormal([1, 48, 48, 3], 0, 1, "float32", 7);
  const r = await cascadeImage(resnet, weights, fresh, input, {
    methods: ["linear-approx"],
    layer: "layer3",
  });
  const stages = cascadeStages(resnet);
  const rho = r.rho.get("linear-approx")!;
  /** The map recomputed here with the cascade's weights for `stage`, as the driver should (top class, one-hot). */
  const recomputed = async (stage: string | null) => {
    const w = stage === null ? weights : randomizeTo(resnet, weights, fresh, stage);
    try {
      const [target] = await extremeClasses(resnet, w, input);
      const res = computeSaliency(resnet, w, input, {
        method: "linear-approx",
        layers: ["layer3"],
        seed: { kind: "one-hot", targets: [target] },
      });
      const m = resizeMap(res.maps.get("layer3")!, [48, 48]);
      res.dispose();
      const v = await m.data() as Float32Array;
      m.dispose();
      return v;
    } finally {
      if (stage !== null) w.dispose();
    }
  };
  const base = await recomputed(null);
  for (const [k, stage] of stages.entries()) {
    const want = spearman(base, await recomputed(stage));
    assert.ok(Math.abs(rho[k] - want) < 1e-6, `stage ${stage || "input"}: rho ${rho[k]} vs ${want}`);
  }
  assert.ok(rho.at(-1)! < 0.999, `randomizing everything changes the map (rho ${rho.at(-1)})`);
  r.maps.forEach((m) => tf.dispose(m));
  tf.dispose(input);
  weights.dispose();
  fresh.dispose();
});

Deno.test("class sensitivity equals the Spearman rho of the two maps computed separately", async () => {
  const weights = randomWeights(resnet, 4);
  const input = tf.randomNormal([1, 48, 48, 3], 0, 1, "float32", 9);
  const [hi, lo] = await extremeClasses(resnet, weights, input);
  assert.notEqual(hi, lo);
  const options = { methods: ["grad-cam", "gradient"], layers: ["", "layer3"] };
  (await classSensitivityOfImage(resnet, weights, input, options)).clear();
  const before = tf.memory().numTensors;
  const got = await classSensitivityOfImage(resnet, weights, input, options);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual([...got.keys()], [
    "grad-cam@input",
    "grad-cam@layer3",
    "gradient@input",
    "gradient@layer3",
  ]);
  for (const method of options.methods) {
    for (const layer of options.layers) {
      const maps = [hi, lo].map((t) => {
        const r = computeSaliency(resnet, weights, input, {
          method,
          layers: [layer],
          seed: { kind: "one-hot", targets: [t] },
        });
        const big = resizeMap(r.maps.get(layer)!, [48, 48]);
        const v = big.dataSync() as Float32Array;
        big.dispose();
        r.dispose();
        return v;
      });
      const want = spearman(maps[0], maps[1]);
      const label = `${method}@${layer === "" ? "input" : layer}`;
      if (Number.isNaN(want)) assert.ok(Number.isNaN(got.get(label)!));
      else assert.ok(Math.abs(got.get(label)! - want) < 1e-5, `${label}: ${got.get(label)} vs ${want}`);
    }
  }
  tf.dispose(input);
  weights.dispose();
});

Deno.test("layer weights: spread by hand, a probe separates separable classes, normalisation", async () => {
  // channel 0: values 1, 3 -> std 1; channel 1: 2, 2 -> std 0; mean over channels 0.5
  assert.equal(featureSpread([new Float32Array([1, 2]), new Float32Array([3, 2])]), 0.5);
  // class k present iff feature k > 0 (plus a noise feature): the probe ranks perfectly on new points
  const rows = (n: number, seed: number) => {
    const feats: Float32Array[] = [];
    const labels: number[][] = [];
    let s = seed;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    for (let i = 0; i < n; i++) {
      const f = new Float32Array([rnd(), rnd(), rnd()]);
      feats.push(f);
      labels.push([0, 1].filter((k) => f[k] > 0));
    }
    return { feats, labels };
  };
  const train = rows(200, 1);
  const val = rows(100, 2);
  const before = tf.memory().numTensors;
  const m = await linearProbeMap(train.feats, train.labels, val.feats, val.labels, 2);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(m > 0.99, `probe mAP ${m}`);
  assert.deepEqual(normaliseWeights({ a: 1, b: 3 }), { a: 0.25, b: 0.75 });
  assert.throws(() => normaliseWeights({ a: 0 }), /positive sum/);
});

Deno.test("meta over training: eta 0 makes meta and plain maps equal; the final compares to itself", async () => {
  const a = randomWeights(resnet, 5);
  const b = randomWeights(resnet, 6);
  const input = tf.randomNormal([1, 48, 48, 3], 0, 1, "float32", 11);
  const before = tf.memory().numTensors;
  const r = await metaOverTraining(resnet, [a, b], input, 2, "selective-normgrad", "layer4", 0);
  assert.equal(tf.memory().numTensors, before);
  for (const v of r.metaVsPlain) assert.ok(Math.abs(v - 1) < 1e-6, `meta vs plain ${v}`);
  assert.ok(Math.abs(r.metaVsFinal[1] - 1) < 1e-9);
  assert.ok(r.metaVsFinal[0] < 0.999, "different weights give a different map");
  const stepped = await metaOverTraining(resnet, [b], input, 2, "selective-normgrad", "layer4", 0.5);
  assert.ok(stepped.metaVsPlain[0] < 0.999, "a real step changes the map");
  tf.dispose(input);
  a.dispose();
  b.dispose();
});

Deno.test("report cells: mean ± std, and n/a where no image gave a finite correlation", () => {
  assert.equal(meanStdCell(meanStd([0.4, 0.6])), "0.500 ± 0.100");
  assert.equal(meanStdCell(meanStd([0.5, 0.7]), 100), "60.00 ± 10.00");
  // a constant map has no rank correlation: every per-image ρ is NaN
  assert.equal(meanStdCell(meanStd([NaN, NaN, NaN])), "n/a");
  assert.equal(meanStdCell(meanStd([NaN, 0.25])), "0.250 ± 0.000"); // the undefined one is left out
  assert.match(NA_NOTE, /^n\/a: ρ is undefined/);
});
