/**
 * Layer combination (METHODS §6) on the wasm backend: every mode × weighting (sum / product × uniform, linear,
 * accuracy, spread, custom) on hand-computed 2- and 3-layer cases that include a constant map (-> all ones)
 * and zero pixels in product mode (0^ŵ = 0, 0^0 = 1); maps of different sizes resized to a common size;
 * per-image normalisation in a batch; the weight tables copied exactly; typed errors; no leaks.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import {
  combineLayers,
  type CombineOptions,
  LAYER_WEIGHTS,
  type LayerWeighting,
  layerWeights,
} from "../lib/saliency/combine.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import { thrown } from "./helpers/errors.ts";
import { assertClose } from "./helpers/compare.ts";

await initBackend("wasm");

// Three 2x2 maps and, by hand, their min-max normalisations (row-major pixels).
const A = [0, 2, 4, 8]; // min 0, max 8
const nA = [0, 0.25, 0.5, 1];
const B = [3, 3, 3, 3]; // constant: becomes all ones
const nB = [1, 1, 1, 1];
const C = [5, 1, 3, 1]; // min 1, max 5
const nC = [1, 0, 0.5, 0];

const t = (v: number[]) => tf.tensor4d(v, [1, 2, 2, 1]);

// Raw table weights, copied from METHODS §6 independently of lib/saliency/combine.ts.
const VGG_ACC: Record<string, number> = {
  "features.3": 0.0326937514514653,
  "features.8": 0.1252633500153707,
  "features.15": 0.2119629074318453,
  "features.22": 0.3040917640919230,
  "features.29": 0.3259882270093957,
};
const VGG_SPREAD: Record<string, number> = {
  "features.3": 0.2119383764047884,
  "features.8": 0.3225606074029479,
  "features.15": 0.3907056723433652,
  "features.22": 0.0674916783223005,
  "features.29": 0.0073036655265981,
};
const RN_ACC: Record<string, number> = {
  layer1: 0.0777636622102207,
  layer2: 0.1120188314949383,
  layer3: 0.1960376762879433,
  layer4: 0.6141798300068978,
};
const RN_SPREAD: Record<string, number> = {
  layer1: 0.1698746686351632,
  layer2: 0.1950209363640008,
  layer3: 0.1930607604361503,
  layer4: 0.4420436345646859,
};

const normalise = (w: number[]) => w.map((v) => v / w.reduce((s, x) => s + x, 0));
/** Float64 expected values: Σ ŵ m̃ or Π m̃^ŵ (0^ŵ = 0 for ŵ > 0, anything^0 = 1). */
function expected(mode: "sum" | "product", w: number[], maps: number[][]): number[] {
  return maps[0].map((_, p) =>
    mode === "sum"
      ? maps.reduce((s, m, l) => s + w[l] * m[p], 0)
      : maps.reduce((s, m, l) => s * (w[l] === 0 ? 1 : m[p] === 0 ? 0 : m[p] ** w[l]), 1)
  );
}

interface Case {
  name: string;
  weights: LayerWeighting;
  arch?: "vgg16" | "resnet50";
  layers?: string[];
  hat: number[]; // the normalised weights, by hand
}

const TWO: Case[] = [
  { name: "uniform", weights: "uniform", hat: [1 / 2, 1 / 2] },
  { name: "linear", weights: "linear", hat: [1 / 3, 2 / 3] },
  {
    name: "accuracy",
    weights: "accuracy",
    arch: "vgg16",
    layers: ["features.22", "features.29"],
    hat: normalise([VGG_ACC["features.22"], VGG_ACC["features.29"]]),
  },
  {
    name: "spread",
    weights: "spread",
    arch: "resnet50",
    layers: ["layer1", "layer4"],
    hat: normalise([RN_SPREAD.layer1, RN_SPREAD.layer4]),
  },
  { name: "custom", weights: [3, 1], hat: [0.75, 0.25] },
];

const THREE: Case[] = [
  { name: "uniform", weights: "uniform", hat: [1 / 3, 1 / 3, 1 / 3] },
  { name: "linear", weights: "linear", hat: [1 / 6, 2 / 6, 3 / 6] },
  {
    name: "accuracy",
    weights: "accuracy",
    arch: "resnet50",
    layers: ["layer2", "layer3", "layer4"],
    hat: normalise([RN_ACC.layer2, RN_ACC.layer3, RN_ACC.layer4]),
  },
  {
    name: "spread",
    weights: "spread",
    arch: "vgg16",
    layers: ["features.3", "features.8", "features.15"],
    hat: normalise([VGG_SPREAD["features.3"], VGG_SPREAD["features.8"], VGG_SPREAD["features.15"]]),
  },
  { name: "custom", weights: [2, 0, 2], hat: [0.5, 0, 0.5] },
];

function run(maps: number[][], c: Case, mode: "sum" | "product"): Float32Array {
  const ts = maps.map(t);
  const opts: CombineOptions = { mode, weights: c.weights, size: [2, 2], arch: c.arch, layers: c.layers };
  const out = combineLayers(ts, opts);
  assert.deepEqual(out.shape, [1, 2, 2, 1]);
  const v = out.dataSync() as Float32Array;
  tf.dispose([...ts, out]);
  return v;
}

Deno.test("layerWeights: the normalised weights of every scheme", () => {
  for (const c of [...TWO, ...THREE]) {
    assertClose(layerWeights(c.weights, c.hat.length, c), c.hat, 1e-15, `${c.name}/${c.hat.length}`);
  }
  assertClose(layerWeights("linear", 5), [1, 2, 3, 4, 5].map((l) => l / 15), 1e-15, "linear 5");
  assertClose(layerWeights("linear", 4), [0.1, 0.2, 0.3, 0.4], 1e-15, "linear 4");
  assertClose(layerWeights("linear", 3), [1 / 6, 1 / 3, 1 / 2], 1e-15, "linear 3");
  assertClose(
    layerWeights("accuracy", 5, { arch: "vgg16", layers: Object.keys(VGG_ACC) }),
    Object.values(VGG_ACC),
    1e-15,
    "vgg16 accuracy (already sums to 1)",
  );
});

Deno.test("LAYER_WEIGHTS: the §6 tables copied exactly, each set summing to 1, frozen", () => {
  assert.deepEqual({ ...LAYER_WEIGHTS.vgg16.accuracy }, VGG_ACC);
  assert.deepEqual({ ...LAYER_WEIGHTS.vgg16.spread }, VGG_SPREAD);
  assert.deepEqual({ ...LAYER_WEIGHTS.resnet50.accuracy }, RN_ACC);
  assert.deepEqual({ ...LAYER_WEIGHTS.resnet50.spread }, RN_SPREAD);
  for (const arch of ["vgg16", "resnet50"] as const) {
    for (const scheme of ["accuracy", "spread"] as const) {
      const total = Object.values(LAYER_WEIGHTS[arch][scheme]).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(total - 1) < 1e-12, `${arch} ${scheme} sums to ${total}`);
    }
  }
  assert.throws(() => {
    (LAYER_WEIGHTS.vgg16.accuracy as Record<string, number>)["features.3"] = 1;
  }, TypeError);
});

Deno.test("2 layers (one constant): hand-written values for uniform and linear", () => {
  // uniform sum: (m̃A + 1)/2; uniform product: √m̃A · 1; linear sum: m̃A/3 + 2/3; linear product: m̃A^(1/3).
  assertClose(run([A, B], TWO[0], "sum"), [0.5, 0.625, 0.75, 1], 1e-6, "uniform sum");
  assertClose(run([A, B], TWO[0], "product"), [0, 0.5, Math.SQRT1_2, 1], 1e-6, "uniform product");
  assertClose(run([A, B], TWO[1], "sum"), [2 / 3, 0.75, 5 / 6, 1], 1e-6, "linear sum");
  assertClose(run([A, B], TWO[1], "product"), [0, 0.629960525, 0.793700526, 1], 1e-6, "linear product");
});

Deno.test("3 layers: hand-written values for linear product and custom product (0^0 = 1)", () => {
  // linear: m̃A^(1/6) · 1^(1/3) · m̃C^(1/2): pixels 0 (m̃A = 0), 1 and 3 (m̃C = 0) are 0; pixel 2: 0.5^(2/3).
  assertClose(run([A, B, C], THREE[1], "product"), [0, 0, 0.629960525, 0], 1e-6, "linear product");
  // custom [2, 0, 2]: m̃A^0.5 · m̃C^0.5 = [0, 0, 0.5, 0].
  assertClose(run([A, B, C], THREE[4], "product"), [0, 0, 0.5, 0], 1e-6, "custom product");
  // custom [0, 1]: m̃A (with its zero pixel) has weight 0, so 0^0 = 1 and the product is m̃B = ones.
  assertClose(run([A, B], { name: "0^0", weights: [0, 1], hat: [0, 1] }, "product"), [1, 1, 1, 1], 0, "0^0");
  // custom sum [2, 0, 2]: (m̃A + m̃C)/2 = [0.5, 0.125, 0.5, 0.5].
  assertClose(run([A, B, C], THREE[4], "sum"), [0.5, 0.125, 0.5, 0.5], 1e-6, "custom sum");
});

Deno.test("every mode x weighting on 2- and 3-layer cases matches Σ ŵ m̃ / Π m̃^ŵ", () => {
  for (const mode of ["sum", "product"] as const) {
    for (const c of TWO) {
      assertClose(run([A, B], c, mode), expected(mode, c.hat, [nA, nB]), 2e-6, `2 layers ${mode} ${c.name}`);
    }
    for (const c of THREE) {
      const got = run([A, B, C], c, mode);
      assertClose(got, expected(mode, c.hat, [nA, nB, nC]), 2e-6, `3 layers ${mode} ${c.name}`);
      if (mode === "product") assert.equal(got[0], 0, `zero pixel of m̃A stays 0 (${c.name})`);
    }
  }
});

Deno.test("maps of different sizes are resized (half-pixel bilinear) to the common size first", () => {
  const small = tf.tensor4d(A, [1, 2, 2, 1]); // -> 4x4, by hand (weights 0, 0.25, 0.75, 1 per axis):
  const smallUp = [[0, 0.5, 1.5, 2], [1, 1.625, 2.875, 3.5], [3, 3.875, 5.625, 6.5], [4, 5, 7, 8]].flat();
  const full = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i), [1, 4, 4, 1]); // normalised: i/15
  const dot = tf.tensor4d([5], [1, 1, 1, 1]); // resized: constant -> all ones
  const out = combineLayers([small, full, dot], { mode: "sum", weights: "uniform", size: [4, 4] });
  assert.deepEqual(out.shape, [1, 4, 4, 1]);
  const want = smallUp.map((v, i) => (v / 8 + i / 15 + 1) / 3);
  assertClose(out.dataSync(), want, 1e-6, "sum of resized maps");
  const prod = combineLayers([small, full], { mode: "product", weights: [1, 1], size: [4, 4] });
  assertClose(prod.dataSync(), smallUp.map((v, i) => Math.sqrt((v / 8) * (i / 15))), 1e-6, "product");
  const wide = combineLayers([small, full], { mode: "sum", weights: "linear", size: [3, 7] });
  assert.deepEqual(wide.shape, [1, 3, 7, 1]);
  tf.dispose([small, full, dot, out, prod, wide]);
});

Deno.test("normalisation is per image within a batch", () => {
  // Image 1 of each map is an affine (positive-scale) copy of image 0, so both combine to the same values.
  const a = tf.tensor4d([...A, ...A.map((v) => 10 * v + 3)], [2, 2, 2, 1]);
  const c = tf.tensor4d([...C, ...C.map((v) => 0.5 * v - 7)], [2, 2, 2, 1]);
  const out = combineLayers([a, c], { mode: "sum", weights: "linear", size: [2, 2] });
  const one = expected("sum", [1 / 3, 2 / 3], [nA, nC]);
  assertClose(out.dataSync(), [...one, ...one], 1e-6, "batch");
  tf.dispose([a, c, out]);
});

Deno.test("a table override replaces LAYER_WEIGHTS (e.g. from a model manifest)", () => {
  assertClose(
    layerWeights("accuracy", 2, { layers: ["conv1", "conv2"], table: { accuracy: { conv1: 1, conv2: 3 } } }),
    [0.25, 0.75],
    1e-15,
    "override",
  );
  assertClose(
    layerWeights("spread", 2, { arch: "vgg16", layers: ["a", "b"], table: { spread: { a: 2, b: 2 } } }),
    [0.5, 0.5],
    1e-15,
    "override wins over arch",
  );
});

Deno.test("bad input is a SaliencyInputError naming what is valid", () => {
  const a = t(A);
  const b = t(B);
  const batch2 = tf.zeros([2, 2, 2, 1]);
  const rank3 = tf.zeros([1, 2, 2]);
  const base = { mode: "sum", size: [2, 2] } as const;
  const err = (fn: () => unknown) => thrown(fn, SaliencyInputError).message;
  assert.match(err(() => combineLayers([], { ...base, weights: "uniform" })), /at least one map/);
  assert.match(err(() => combineLayers([a, batch2], { ...base, weights: "uniform" })), /same batch size/);
  assert.match(
    err(() => combineLayers([a], { ...base, mode: "max" as "sum", weights: "uniform" })),
    /"sum", "product"/,
  );
  assert.match(
    err(() => combineLayers([a], { ...base, weights: "best" as "uniform" })),
    /"uniform", "linear", "accuracy", "spread"/,
  );
  assert.match(err(() => combineLayers([a, b], { ...base, weights: [1] })), /1 custom weights for 2 maps/);
  assert.match(err(() => combineLayers([a, b], { ...base, weights: [1, -1] })), /non-negative/);
  assert.match(err(() => combineLayers([a, b], { ...base, weights: [0, 0] })), /positive sum/);
  assert.match(err(() => combineLayers([a, b], { ...base, weights: [1, NaN] })), /finite/);
  assert.match(
    err(() => combineLayers([a, b], { ...base, weights: "accuracy", layers: ["x", "y"] })),
    /arch/,
  );
  assert.match(err(() => combineLayers([a, b], { ...base, weights: "spread", arch: "vgg16" })), /layers/);
  assert.match(
    err(() => combineLayers([a, b], { ...base, weights: "uniform", layers: ["features.3"] })),
    /1 layer names for 2 maps/,
  );
  const missing = err(() =>
    combineLayers([a, b], {
      ...base,
      weights: "accuracy",
      arch: "vgg16",
      layers: ["features.3", "features.4"],
    })
  );
  assert.match(missing, /"features\.4"/);
  assert.match(missing, /features\.3, features\.8, features\.15, features\.22, features\.29/);
  assert.match(
    err(() =>
      combineLayers([a, b], { ...base, weights: "accuracy", arch: "resnet50", layers: ["layer4", "fc"] })
    ),
    /layer1, layer2, layer3, layer4/,
  );
  assert.match(
    err(() => combineLayers([a], { ...base, size: [0, 2], weights: "uniform" })),
    /positive integers/,
  );
  assert.match(
    err(() => combineLayers([a, rank3], { ...base, weights: "uniform" })),
    /map 1 must have shape \[N, H, W, 1\]/,
  );
  tf.dispose([a, b, batch2, rank3]);
});

Deno.test("no tensor leaks after repeated calls (including failed ones)", () => {
  const maps = [t(A), t(B), tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1])];
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    for (const mode of ["sum", "product"] as const) {
      for (const weights of ["uniform", "linear", [1, 0, 2]] as LayerWeighting[]) {
        combineLayers(maps, { mode, weights, size: [5, 4] }).dispose();
      }
      combineLayers(maps, {
        mode,
        weights: "accuracy",
        arch: "vgg16",
        layers: ["features.3", "features.8", "features.15"],
        size: [2, 2],
      }).dispose();
    }
    try {
      combineLayers(maps, { mode: "sum", weights: [1, 1], size: [2, 2] });
    } catch { /* expected */ }
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(maps);
});
