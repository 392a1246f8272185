/**
 * The probe context on the wasm backend: one backward pass gives dS/dx at many layers, the input gradient
 * equals tfjs's own gradient of the whole forward, weight gradients match the closed form of a linear layer,
 * the backward-rule slot changes exactly the backward (checked with a rule whose effect is known exactly),
 * weights are never mutated, oversized weights can be split without changing results, and no tensor leaks.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { ChunkedWeightError, randomWeights, weightsToTorch } from "../lib/nets/weights.ts";
import { InvalidInputError, UnknownLayerError, UnknownParameterError } from "../lib/nets/errors.ts";
import { thrown } from "./helpers/errors.ts";
import { relErr } from "./helpers/compare.ts";
import { withBackward } from "../lib/runtime/custom_grad.ts";

await initBackend("wasm");

const vgg = buildNetwork({ arch: "vgg11", width: 1 / 16, numClasses: 6 });
const vggW = randomWeights(vgg, 7);
const resnet = buildNetwork({ arch: "resnet18", width: 1 / 8, numClasses: 5 });
const resnetW = randomWeights(resnet, 8);
const input = tf.randomNormal([2, 40, 48, 3], 0, 1, "float32", 11);
const oneHot = (k: number, targets: number[]) => (out: Tensor) => tf.sum(tf.mul(out, tf.oneHot(targets, k)));
const vggObjective = oneHot(6, [2, 5]);

Deno.test("one backward pass gives the same gradients as one pass per layer", () => {
  const layers = ["", "features.4", "features.12", "classifier.3"];
  const all = runProbed(vgg, vggW, input, { gradients: layers, objective: vggObjective });
  try {
    for (const name of layers) {
      const one = runProbed(vgg, vggW, input, { gradients: [name], objective: vggObjective });
      assert.ok(relErr(all.gradients.get(name)!, one.gradients.get(name)!) < 1e-6, name);
      one.dispose();
    }
  } finally {
    all.dispose();
  }
});

Deno.test("the input gradient equals tfjs's gradient of the whole forward", () => {
  for (
    const [net, w, objective] of [[vgg, vggW, vggObjective], [resnet, resnetW, oneHot(5, [0, 3])]] as const
  ) {
    const probed = runProbed(net, w, input, { gradients: [""], objective });
    const direct = tf.grad((x: Tensor) => {
      const r = runProbed(net, w, x);
      return objective(r.output);
    })(input);
    assert.ok(relErr(probed.gradients.get("")!, direct) < 1e-5, net.config.arch);
    assert.equal(probed.objective!.rank, 0);
    probed.dispose();
    direct.dispose();
  }
});

Deno.test("weight gradient of the last linear layer is pooled features (outer) seed", () => {
  const r = runProbed(resnet, resnetW, input, {
    record: ["avgpool"],
    weightGradients: ["fc.weight", "fc.bias"],
    objective: oneHot(5, [0, 3]),
  });
  const expected = tf.tidy(() => {
    const pooled = tf.reshape(r.activations.get("avgpool")!, [2, -1]);
    return tf.matMul(tf.transpose(pooled), tf.oneHot([0, 3], 5).toFloat());
  });
  assert.ok(relErr(r.weightGradients.get("fc.weight")!, expected) < 1e-5);
  assert.deepEqual(Array.from(r.weightGradients.get("fc.bias")!.dataSync()), [1, 0, 0, 1, 0]);
  expected.dispose();
  r.dispose();
});

Deno.test("a backward rule changes the backward only, by exactly the rule's effect", () => {
  // Rule: relu with the standard forward and twice the standard gradient. A layer with k ReLUs between it
  // and the output must get exactly 2^k times the standard gradient (powers of two are exact in float32).
  const doubledRelu = withBackward(1, (x) => tf.relu(x), (dy, [x]) => [tf.mul(tf.mul(dy, tf.step(x)), 2)]);
  // vgg11: ReLUs at features.1,4,7,9,12,14,17,19 and classifier.1,4.
  const reluAfter: Record<string, number> = {
    "": 10,
    "features.4": 8,
    "features.18": 3,
    "features.19": 2,
    "classifier.3": 1,
    "classifier.4": 0,
  };
  const layers = Object.keys(reluAfter);
  const std = runProbed(vgg, vggW, input, { gradients: layers, objective: vggObjective });
  const ruled = runProbed(vgg, vggW, input, {
    gradients: layers,
    objective: vggObjective,
    rules: { relu: doubledRelu },
  });
  assert.deepEqual(ruled.output.dataSync(), std.output.dataSync());
  for (const name of layers) {
    const scaled = tf.mul(std.gradients.get(name)!, 2 ** reluAfter[name]);
    assert.ok(relErr(ruled.gradients.get(name)!, scaled) < 1e-6, name);
    scaled.dispose();
  }
  // The rule does not leak into the next call.
  const again = runProbed(vgg, vggW, input, { gradients: [""], objective: vggObjective });
  assert.ok(relErr(again.gradients.get("")!, std.gradients.get("")!) < 1e-7);
  for (const r of [std, ruled, again]) r.dispose();
});

Deno.test("weights are values: a pass with weight gradients leaves them unchanged", () => {
  const before = vggW.get("features.0.weight").dataSync().slice();
  const r = runProbed(vgg, vggW, input, { weightGradients: ["features.0.weight"], objective: vggObjective });
  r.dispose();
  assert.deepEqual(vggW.get("features.0.weight").dataSync(), before);
});

Deno.test("weights stored in chunks under a binding limit give the same results and round-trip", async () => {
  const layers = ["", "features.19", "classifier.0"];
  // classifier.0 of this net is [32*49, 256] floats = 1.6 MB; 100 kB holds 97 rows: ceil(1568 / 97) = 17 chunks.
  const split = randomWeights(vgg, 7, { maxBindingBytes: 100_000 });
  assert.equal(split.chunksOf("classifier.0.weight")?.length, 17);
  assert.equal(split.chunksOf("features.0.weight"), null);
  const a = runProbed(vgg, vggW, input, { gradients: layers, objective: vggObjective });
  const b = runProbed(vgg, split, input, { gradients: layers, objective: vggObjective });
  assert.ok(relErr(b.output, a.output) < 1e-5);
  for (const name of layers) assert.ok(relErr(b.gradients.get(name)!, a.gradients.get(name)!) < 1e-5, name);
  a.dispose();
  b.dispose();
  const [whole, parts] = [await weightsToTorch(vggW), await weightsToTorch(split)];
  assert.deepEqual([...parts.keys()], [...whole.keys()]);
  for (const [name, t] of whole) assert.deepEqual(parts.get(name), t, name);
  thrown(
    () => runProbed(vgg, split, input, { weightGradients: ["classifier.0.weight"], objective: vggObjective }),
    ChunkedWeightError,
  );
  split.dispose();
});

Deno.test("bad requests are typed errors", () => {
  const e = thrown(
    () => runProbed(vgg, vggW, input, { gradients: ["features.99"], objective: vggObjective }),
    UnknownLayerError,
  );
  assert.match(e.message, /features\.99/);
  thrown(() => runProbed(vgg, vggW, input, { record: ["layer1"] }), UnknownLayerError);
  const p = thrown(
    () => runProbed(vgg, vggW, input, { weightGradients: ["fc.weight"], objective: vggObjective }),
    UnknownParameterError,
  );
  assert.match(p.message, /features\.0\.weight/);
  const gray = tf.zeros([1, 32, 32, 1]);
  thrown(() => runProbed(vgg, vggW, gray), InvalidInputError);
  gray.dispose();
  assert.throws(() => runProbed(vgg, vggW, input, { gradients: [""] }), /objective/);
});

Deno.test("no tensor leaks across repeated calls of every option", () => {
  const options = [
    {},
    { record: ["", "features.4", "classifier.6"] },
    { gradients: ["features.12"], objective: vggObjective },
    { gradients: [""], record: ["features.12"], objective: vggObjective },
    {
      weightGradients: ["features.0.weight", "classifier.6.bias"],
      gradients: ["features.4"],
      objective: vggObjective,
    },
  ];
  const baseline = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    for (const o of options) runProbed(vgg, vggW, input, o).dispose();
    try {
      runProbed(vgg, vggW, input, { gradients: ["nope"], objective: vggObjective });
    } catch { /* expected */ }
  }
  assert.equal(tf.memory().numTensors, baseline);
});
