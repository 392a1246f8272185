/**
 * RISE (lib/saliency/rise.ts): the mask construction and the weighted average against PyTorch on the classifier
 * fixtures, from the grids and shifts tools/methods_reference.py drew with torch (TorchRay's upsampling); with
 * p = 1 every mask is all ones and the map is the target's probability everywhere; drawn masks are reproducible
 * from the seed, have mean ≈ p, and lie in [0, 1]; the map does not depend on the masks per pass; RISE is
 * refused at a layer other than the input and for seeds without targets.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { getFloatTensor, readSafetensors } from "../lib/nets/safetensors.ts";
import { loadPytorchFixture, PYTORCH_FIXTURES } from "./helpers/pytorch_fixture.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { rise, riseMasks } from "../lib/saliency/rise.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import { relErr } from "./helpers/compare.ts";

await initBackend("wasm");

for (const name of ["vgg16_w32", "resnet50_w8"]) {
  Deno.test(`RISE masks and map match PyTorch: ${name}`, async () => {
    const ref = readSafetensors(await Deno.readFile(`${PYTORCH_FIXTURES}methods_${name}.safetensors`), name);
    const { cfg, height: h, width: w, net, weights, input } = await loadPytorchFixture(name);
    const before = tf.memory().numTensors;
    const g = getFloatTensor(ref, "rise.grids");
    const grids = tf.tensor(g.data, g.shape);
    const s = getFloatTensor(ref, "rise.shifts").data;
    const shifts = Array.from({ length: g.shape[0] }, (_, i) => [s[2 * i], s[2 * i + 1]] as [number, number]);
    const masks = riseMasks(grids, shifts, h, w);
    const first = getFloatTensor(ref, "rise.masks");
    const firstOurs = tf.slice(masks, 0, first.shape[0]);
    assert.ok(relErr(firstOurs.dataSync() as Float32Array, first.data) < 1e-6, "masks");
    for (const batch of [32, 7]) {
      const map = rise(
        net,
        weights,
        input,
        { kind: "one-hot", targets: cfg.targets },
        { p: 0.5, batch },
        masks,
      );
      const want = getFloatTensor(ref, "rise.map");
      assert.deepEqual(map.shape, [want.shape[0], h, w, 1]);
      const err = relErr(map.dataSync() as Float32Array, want.data);
      assert.ok(err < 1e-5, `batch ${batch}: relative error ${err}`);
      map.dispose();
    }
    tf.dispose([grids, masks, firstOurs]);
    assert.equal(tf.memory().numTensors, before);
    input.dispose();
    weights.dispose();
  });
}

const net = buildNetwork({ arch: "resnet18", width: 1 / 8, numClasses: 5 });
const weights = randomWeights(net, 3);
const image = tf.randomNormal([2, 30, 36, 3], 0, 1, "float32", 5);
const seed = { kind: "one-hot" as const, targets: [1, 3] };

Deno.test("RISE with p = 1 is the target's probability everywhere", () => {
  const map = rise(net, weights, image, seed, { masks: 5, p: 1, batch: 2 });
  const probs = tf.tidy(() => tf.softmax(runProbed(net, weights, image).output).arraySync() as number[][]);
  const values = map.arraySync() as number[][][][];
  seed.targets.forEach((t, i) => {
    for (const row of values[i]) {
      for (const [v] of row) assert.ok(Math.abs(v - probs[i][t]) < 1e-5, `${v} vs ${probs[i][t]}`);
    }
  });
  map.dispose();
});

Deno.test("drawn masks: reproducible from the seed, in [0, 1], mean near p; sigmoid probabilities on request", () => {
  const a = rise(net, weights, image, seed, { masks: 40, batch: 16, seed: 3 });
  const b = rise(net, weights, image, seed, { masks: 40, batch: 16, seed: 3 });
  const c = rise(net, weights, image, seed, { masks: 40, batch: 16, seed: 4 });
  assert.deepEqual(a.dataSync(), b.dataSync());
  assert.notDeepEqual(a.dataSync(), c.dataSync());
  // masks alone: RISE of a network-free score is Σ M_i / (N p); on ones as probabilities that is the mean mask / p
  const grids = tf.tidy(() =>
    tf.cast(tf.less(tf.randomUniform([400, 7, 7], 0, 1, "float32", 9), 0.3), "float32")
  );
  const masks = riseMasks(
    grids,
    Array.from({ length: 400 }, (_, i) => [i % 5, (i * 3) % 6] as [number, number]),
    30,
    36,
  );
  const [lo, hi, mean] = tf.tidy(
    () => [masks.min().dataSync()[0], masks.max().dataSync()[0], masks.mean().dataSync()[0]],
  );
  assert.ok(lo >= 0 && hi <= 1, `[${lo}, ${hi}]`);
  assert.ok(Math.abs(mean - 0.3) < 0.03, `mean ${mean}`);
  const sig = rise(net, weights, image, seed, { masks: 5, p: 1, probability: "sigmoid" });
  const logits = tf.tidy(() => runProbed(net, weights, image).output.arraySync() as number[][]);
  const expect = 1 / (1 + Math.exp(-logits[0][1]));
  assert.ok(Math.abs(sig.dataSync()[0] - expect) < 1e-5);
  tf.dispose([a, b, c, grids, masks, sig]);
});

Deno.test("RISE through computeSaliency: the input only, targets needed, no tensor left behind", () => {
  const before = tf.memory().numTensors;
  const r = computeSaliency(net, weights, image, { method: "rise", layers: [""], seed, rise: { masks: 8 } });
  assert.deepEqual(r.maps.get("")!.shape, [2, 30, 36, 1]);
  r.dispose();
  assert.throws(
    () => computeSaliency(net, weights, image, { method: "rise", layers: ["layer4"], seed }),
    SaliencyInputError,
  );
  const gradient = tf.zeros([2, 5]);
  assert.throws(
    () =>
      computeSaliency(net, weights, image, {
        method: "rise",
        layers: [""],
        seed: { kind: "gradient", gradient },
      }),
    SaliencyInputError,
  );
  gradient.dispose();
  assert.equal(tf.memory().numTensors, before);
});
