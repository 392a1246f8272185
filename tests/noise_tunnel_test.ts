/**
 * The noise tunnel (lib/saliency/noise_tunnel.ts) around methods of every kind (input-only ones too): σ = 0 gives the method's map
 * (smoothgrad), its square (smoothgrad-sq) and zero variance (vargrad); with noise, the statistics equal those
 * computed by hand from the method's maps of each noisy sample run alone, whatever the samples per pass; the
 * generator's draws are standard normal and reproducible; bad options and seeds without targets are refused;
 * no tensor is left behind.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { noisySamples } from "../lib/saliency/noise_tunnel.ts";
import { normals } from "../lib/runtime/seeded_random.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import { relErr } from "./helpers/compare.ts";

await initBackend("wasm");

const net = buildNetwork({ arch: "resnet18", width: 1 / 8, numClasses: 5 });
const weights = randomWeights(net, 3);
const images = tf.randomNormal([2, 32, 40, 3], 0, 1, "float32", 5);
const seed = { kind: "one-hot" as const, targets: [1, 3] };
const read = (t: Tensor) => t.dataSync() as Float32Array;

Deno.test("σ = 0: smoothgrad is the map, smoothgrad-sq its square, vargrad zero", () => {
  const before = tf.memory().numTensors;
  // the input-only methods (RISE, occlusion, FullGrad) too: their results own their maps as every method's do
  for (const method of ["grad-cam", "gradient", "rise", "occlusion", "full-grad"]) {
    const layers = method === "grad-cam" ? ["layer3", "layer4"] : [""];
    const rise = { masks: 8, batch: 4 };
    const plain = computeSaliency(net, weights, images, { method, layers, seed, rise });
    for (const kind of ["smoothgrad", "smoothgrad-sq", "vargrad"] as const) {
      const r = computeSaliency(net, weights, images, {
        method,
        layers,
        seed,
        rise,
        noise: { kind, samples: 3, sigma: 0 },
      });
      for (const l of layers) {
        const want = tf.tidy(() => {
          const m = plain.maps.get(l)!;
          return kind === "smoothgrad"
            ? m.clone()
            : kind === "smoothgrad-sq"
            ? tf.square(m)
            : tf.zerosLike(m);
        });
        const err = relErr(read(r.maps.get(l)!), read(want));
        assert.ok(
          kind === "vargrad" ? Math.max(...read(r.maps.get(l)!)) < 1e-9 : err < 1e-5,
          `${method} ${kind} ${l}`,
        );
        want.dispose();
      }
      r.dispose();
    }
    plain.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("with noise: the mean and variance of the maps of each noisy sample run alone, at any batch", () => {
  const before = tf.memory().numTensors;
  const options = { sigma: 0.2, seed: 7 };
  const samples = 5;
  const layer = "layer4";
  const byHand = seed.targets.map((t, i) => {
    const image = tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]);
    const range = tf.tidy(() => tf.sub(tf.max(image), tf.min(image)));
    const maps = Array.from({ length: samples }, (_, s) => {
      const noisy = noisySamples(image, range, options, s, 1);
      const r = computeSaliency(net, weights, noisy, {
        method: "grad-cam",
        layers: [layer],
        seed: { kind: "one-hot", targets: [t] },
      });
      const m = Array.from(read(r.maps.get(layer)!));
      r.dispose();
      noisy.dispose();
      return m;
    });
    tf.dispose([image, range]);
    const mean = maps[0].map((_, u) => maps.reduce((a, m) => a + m[u], 0) / samples);
    const variance = maps[0].map((_, u) => maps.reduce((a, m) => a + m[u] ** 2, 0) / samples - mean[u] ** 2);
    return { mean, variance };
  });
  for (const batch of [2, 5]) {
    for (const kind of ["smoothgrad", "vargrad"] as const) {
      const r = computeSaliency(net, weights, images, {
        method: "grad-cam",
        layers: [layer],
        seed,
        noise: { kind, samples, batch, ...options },
      });
      const want = Float32Array.from(
        byHand.flatMap((h) => (kind === "smoothgrad" ? h.mean : h.variance.map((v) => Math.max(v, 0)))),
      );
      const err = relErr(read(r.maps.get(layer)!), want);
      assert.ok(err < 1e-4, `${kind} at batch ${batch}: relative error ${err}`);
      r.dispose();
    }
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("the generator: standard normal draws, reproducible from the seed", () => {
  const a = normals(11, 100_000);
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const sd = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
  assert.ok(Math.abs(mean) < 0.01 && Math.abs(sd - 1) < 0.01, `mean ${mean}, sd ${sd}`);
  assert.deepEqual(normals(11, 10), normals(11, 10));
  assert.notDeepEqual(normals(11, 10), normals(12, 10));
});

Deno.test("bad tunnel options and seeds without targets are refused", () => {
  const bad = [{ kind: "nope" }, { kind: "smoothgrad", samples: 0 }, { kind: "vargrad", sigma: -1 }, {
    kind: "smoothgrad",
    batch: 1.5,
  }];
  for (const noise of bad) {
    assert.throws(
      () =>
        computeSaliency(net, weights, images, {
          method: "gradient",
          layers: [""],
          seed,
          noise: noise as never,
        }),
      SaliencyInputError,
    );
  }
  const gradient = tf.zeros([2, 5]);
  assert.throws(
    () =>
      computeSaliency(net, weights, images, {
        method: "gradient",
        layers: [""],
        seed: { kind: "gradient", gradient },
        noise: { kind: "smoothgrad" },
      }),
    SaliencyInputError,
  );
  gradient.dispose();
});
