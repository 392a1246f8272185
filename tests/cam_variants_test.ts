/**
 * The CAM variants' extractions (lib/saliency/cam_weights.ts, principal_component.ts) on cases small enough to
 * work out by hand, through each method's record (extraction, aggregation, ReLU); the PyTorch comparisons on
 * real networks are in saliency_fixtures_test.ts. Also: Eigen-CAM's sign rule, both of its Gram branches
 * (C <= HW and C > HW) down to one position or one channel, that it reads no gradient, and that no tensor is left behind. Ablation-CAM at ResNet's
 * layer4 against its closed form (the head is average pooling then a linear layer, so zeroing channel k lowers
 * the logit by mean(A_k)·W_tk exactly), Score-CAM / Ablation-CAM weights independent of the channels per pass,
 * and their refusal of seeds without targets.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { extractAggregate } from "../lib/saliency/extract.ts";
import { methodByName } from "../lib/saliency/methods.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { perturbationWeights } from "../lib/saliency/perturbation_cams.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import { relErr } from "./helpers/compare.ts";

await initBackend("wasm");

/** x, g: per position, per channel ([positions][channels]) on a 1 x 1 x P grid. */
function mapOf(method: string, x: number[][], g: number[][]): number[] {
  const spec = methodByName(method);
  return tf.tidy(() => {
    const shape = [1, 1, x.length, x[0].length];
    const [xs, gs] = [tf.tensor(x.flat(), shape), tf.tensor(g.flat(), shape)];
    const map = extractAggregate(spec.extract, spec.aggregate, { x: xs, g: gs });
    return Array.from((spec.relu ? tf.relu(map) : map).dataSync());
  });
}

const close = (got: number[], want: number[]) =>
  want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-5, `${i}: ${got[i]} vs ${v} (${got})`));

// two positions, two channels: channel 1 x = [1, 3], g = [2, −1]; channel 2 x = [2, 0], g = [1, 1]
const X = [[1, 2], [3, 0]];
const G = [[2, 1], [-1, 1]];

Deno.test("grad-cam-plus-plus by hand", () => {
  // channel 1: Σx = 4; α = 4 / (8 + 4·8) = 0.1 at u1, 1 / (2 − 4) = −0.5 at u2; w = relu(2)·0.1 + relu(−1)·… = 0.2
  // channel 2: Σx = 2; α = 1 / (2 + 2) = 0.25 at both; w = 0.5. map = relu(0.2·[1, 3] + 0.5·[2, 0]) = [1.2, 0.6]
  close(mapOf("grad-cam-plus-plus", X, G), [1.2, 0.6]);
  // where g = 0, α is 0 (not 0 / ε): a zero gradient contributes nothing
  close(mapOf("grad-cam-plus-plus", [[1], [1]], [[0], [0]]), [0, 0]);
});

Deno.test("xgrad-cam by hand", () => {
  // w1 = (2·1 − 1·3) / 4 = −0.25; w2 = (1·2 + 1·0) / 2 = 1; map = relu(−0.25·[1, 3] + [2, 0]) = [1.75, 0]
  close(mapOf("xgrad-cam", X, G), [1.75, 0]);
});

Deno.test("hires-cam and layer-cam by hand", () => {
  // hires: relu(Σ_k x·g) = relu([2 + 2, −3 + 0]) = [4, 0]; layer: relu(Σ_k x·relu(g)) = [2 + 2, 0 + 0] = [4, 0]
  close(mapOf("hires-cam", X, G), [4, 0]);
  close(mapOf("layer-cam", X, G), [4, 0]);
  // they differ where a negative gradient meets a positive activation at a position kept by the other channel
  close(mapOf("hires-cam", [[1, 5]], [[-1, 1]]), [4]);
  close(mapOf("layer-cam", [[1, 5]], [[-1, 1]]), [5]);
});

Deno.test("eigen-cam by hand: the projection on the first principal direction, largest entry positive", () => {
  // C <= HW: four positions on the line t·(1, 1) with t = 0, 1, 2, 6; centred t = −2.25, −1.25, −0.25, 3.75;
  // v₁ = ±(1, 1)/√2, projection √2·t (its largest magnitude, 3.75√2, made positive), ReLU keeps the last
  const line = [0, 1, 2, 6].map((t) => [t, t]);
  close(mapOf("eigen-cam", line, line.map(() => [NaN, NaN])), [0, 0, 0, 3.75 * Math.SQRT2]);
  // negated activations give the same map: the sign follows the largest magnitude, not the SVD's orientation
  const flipped = [0, -1, -2, -6].map((t) => [t, t]);
  close(mapOf("eigen-cam", flipped, flipped.map(() => [0, 0])), [0, 0, 0, 3.75 * Math.SQRT2]);
  // C > HW (the HW x HW Gram branch): three positions 5 + t·(1, 2, 0, 0), t = −1, −1, 2: projection √5·t
  const wide = [-1, -1, 2].map((t) => [5 + t, 5 + 2 * t, 5, 5]);
  close(mapOf("eigen-cam", wide, wide.map(() => [0, 0, 0, 0])), [0, 0, 2 * Math.sqrt(5)]);
  // constant activations have no principal direction: a zero map, not NaN
  close(mapOf("eigen-cam", [[3, 1], [3, 1]], [[0, 0], [0, 0]]), [0, 0]);
  // one position (a 1 x 1 map, e.g. ResNet's layer4 on a 32 x 32 input): centred over one position it is zero
  close(mapOf("eigen-cam", [[3, 1, 4]], [[0, 0, 0]]), [0]);
  // one channel: the centred values themselves, signed so the largest magnitude is positive, then the ReLU:
  // [1, 4, −2] − 1 = [0, 3, −3] (max 3 ≥ 3: kept); [1, −4, 2] + 1/3 = [4/3, −11/3, 7/3] (flipped)
  close(mapOf("eigen-cam", [[1], [4], [-2]], [[0], [0], [0]]), [0, 3, 0]);
  close(mapOf("eigen-cam", [[1], [-4], [2]], [[0], [0], [0]]), [0, 11 / 3, 0]);
});

Deno.test("no tensor is left behind by the CAM variants", () => {
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    for (const m of ["grad-cam-plus-plus", "xgrad-cam", "hires-cam", "layer-cam", "eigen-cam"]) {
      mapOf(m, X, G);
    }
  }
  const wide: Tensor = tf.randomNormal([2, 3, 3, 16]);
  const spec = methodByName("eigen-cam");
  extractAggregate(spec.extract, spec.aggregate, { x: wide, g: wide }).dispose();
  wide.dispose();
  assert.equal(tf.memory().numTensors, before);
});

const resnet = buildNetwork({ arch: "resnet18", width: 1 / 8, numClasses: 5 });
const resnetW = randomWeights(resnet, 3);
const images = tf.randomNormal([2, 40, 48, 3], 0, 1, "float32", 5);

Deno.test("ablation-cam at layer4 = relu(Σ_k w_k A_k) with w_k = mean(A_k)·W_tk / s (avgpool + fc head)", () => {
  const targets = [1, 3];
  const ours = computeSaliency(resnet, resnetW, images, {
    method: "ablation-cam",
    layers: ["layer4"],
    seed: { kind: "one-hot", targets },
  });
  const expected = tf.tidy(() => {
    const r = runProbed(resnet, resnetW, images, { record: ["layer4"] });
    const a = r.activations.get("layer4")!; // [N, h, w, C]
    const fc = resnetW.get("fc.weight"); // [C, K]
    const logits = r.output;
    const maps = targets.map((t, i) => {
      const ai = tf.slice(a, [i, 0, 0, 0], [1, -1, -1, -1]);
      const s = tf.slice(logits, [i, t], [1, 1]);
      const drop = tf.mul(tf.mean(ai, [1, 2]), tf.reshape(tf.slice(fc, [0, t], [-1, 1]), [1, -1])); // [1, C]
      const w = tf.div(drop, s);
      return tf.relu(tf.sum(tf.mul(ai, tf.reshape(w, [1, 1, 1, -1])), -1, true));
    });
    r.dispose();
    return tf.concat(maps);
  });
  const err = relErr(
    ours.maps.get("layer4")!.dataSync() as Float32Array,
    expected.dataSync() as Float32Array,
  );
  assert.ok(err < 1e-4, `relative error ${err}`);
  assert.ok(expected.max().dataSync()[0] > 0, "a non-trivial map");
  ours.dispose();
  expected.dispose();
});

Deno.test("score-cam and ablation-cam weights do not depend on the channels per pass", () => {
  const before = tf.memory().numTensors;
  const seed = { kind: "one-hot" as const, targets: [0, 4] };
  const r = runProbed(resnet, resnetW, images, { record: ["layer3"] });
  for (const kind of ["score-cam", "ablation-cam"] as const) {
    const one = perturbationWeights(kind, resnet, resnetW, images, r, seed, 1);
    const many = perturbationWeights(kind, resnet, resnetW, images, r, seed, 7); // 32 channels: 7 does not divide
    const [a, b] = [one.get("layer3")!, many.get("layer3")!];
    assert.deepEqual(a.shape, [2, 1, 1, 32]);
    assert.ok(relErr(a.dataSync() as Float32Array, b.dataSync() as Float32Array) < 1e-5, kind);
    tf.dispose([a, b]);
  }
  r.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("score-cam and ablation-cam refuse seeds without target classes", () => {
  const gradient = tf.zeros([2, 5]);
  for (const method of ["score-cam", "ablation-cam"]) {
    assert.throws(
      () =>
        computeSaliency(resnet, resnetW, images, {
          method,
          layers: ["layer4"],
          seed: { kind: "gradient", gradient },
        }),
      (e: Error) => e instanceof SaliencyInputError && /one-hot or pointing targets/.test(e.message),
    );
  }
  gradient.dispose();
});
