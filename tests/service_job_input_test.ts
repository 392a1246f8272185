/**
 * The saliency and caption jobs' input handling on the shipped VGG16 and captioner (wasm, no canvas: a stub
 * rasterizer stands in for the decoder and returns the hand-made PNG's known pixels): `present` with no class over the threshold answers no
 * targets and no maps (predictions still listed) instead of falling back to the top class; lib errors reach the
 * service with the API's codes (unknown_method, unknown_layer, unsupported_rule, invalid_request); a bomb is
 * refused before the decoder; gradient-free methods (Eigen-CAM, Score-CAM, Ablation-CAM) with top-k targets
 * get their targets from a forward first (they evaluate no objective to choose them in); live tensors are back to
 * their baseline after every case.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { loadModel } from "../lib/models/load.ts";
import { loadCaptioner } from "../lib/caption/captioner.ts";
import { type CaptionJob, runCaptionJob } from "../lib/service/caption_job.ts";
import type { Rasterizer } from "../lib/image/decode.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import {
  inputErrorCode,
  runSaliencyJob,
  type SaliencyJob,
  ServiceInputError,
} from "../lib/service/saliency_job.ts";
import { bombPng, greyPng, greyRgb } from "./helpers/test_png.ts";

await initBackend("wasm");
const model = await loadModel(new URL("../models/vgg16_synthetic", import.meta.url).pathname);

const W = 32;
const grey = () => 128;
const png = greyPng(W, W, grey);
let decoderCalls = 0;
/** The hand-made PNG's pixels, known without a decoder. */
const rasterize: Rasterizer = () => {
  decoderCalls++;
  return { width: W, height: W, rgb: greyRgb(W, W, grey) };
};

const job = (over: Partial<SaliencyJob>): SaliencyJob => ({
  image: png,
  method: "gradient",
  layers: ["input"],
  targets: { kind: "classes", classes: [0] },
  maxPixels: 25_000_000,
  ...over,
});

async function refused(j: SaliencyJob): Promise<ServiceInputError> {
  try {
    await runSaliencyJob(model, j, rasterize);
  } catch (e) {
    assert.ok(e instanceof ServiceInputError, `expected ServiceInputError, got ${e}`);
    return e;
  }
  assert.fail("the job was not refused");
}

Deno.test("present: no class over the threshold answers no targets and no maps, predictions listed", async () => {
  const baseline = tf.memory().numTensors;
  const none = await runSaliencyJob(model, job({ targets: { kind: "present", threshold: 0.99 } }), rasterize);
  assert.ok(none.predictions.length === 5, "the top predictions are listed");
  assert.ok(
    none.predictions.every((p) => p.score < 0.99),
    `premise: no class reaches 0.99 on a grey image (${JSON.stringify(none.predictions)})`,
  );
  assert.deepEqual(none.targets, []);
  assert.deepEqual(none.maps, []);
  assert.equal(none.timings.saliencyMs, 0);
  assert.equal(tf.memory().numTensors, baseline, "tensors leaked");
  // control: a threshold at the top score makes that class present, with its map
  const top = none.predictions[0];
  const one = await runSaliencyJob(
    model,
    job({ targets: { kind: "present", threshold: top.score } }),
    rasterize,
  );
  assert.deepEqual(one.targets, [{ index: top.index, name: top.name }]);
  assert.equal(one.maps.length, 1);
  assert.deepEqual(one.maps[0].shape, model.manifest.inputSize);
  assert.equal(tf.memory().numTensors, baseline, "tensors leaked");
});

Deno.test("gradient-free methods with top-k targets: the top classes, each with a non-trivial map", async () => {
  const baseline = tf.memory().numTensors;
  for (const method of ["eigen-cam", "score-cam", "ablation-cam"]) {
    const answer = await runSaliencyJob(
      model,
      job({ method, layers: ["features.29"], targets: { kind: "top-k", k: 2 } }),
      rasterize,
    );
    assert.deepEqual(
      answer.targets.map((t) => t.index),
      answer.predictions.slice(0, 2).map((p) => p.index),
      method,
    );
    assert.equal(answer.maps.length, 2, method);
    for (const m of answer.maps) assert.ok(Math.max(...m.data) > 0, `${method}: a map that is not all zero`);
    if (method !== "eigen-cam") {
      assert.ok(
        answer.maps[0].data.some((v, i) => v !== answer.maps[1].data[i]),
        `${method} depends on the target`,
      );
    }
  }
  assert.equal(tf.memory().numTensors, baseline, "tensors leaked");
});

Deno.test("lib input errors reach the service with the API's codes", async () => {
  const baseline = tf.memory().numTensors;
  const unknownMethod = await refused(job({ method: "no-such-method" }));
  assert.equal(unknownMethod.code, "unknown_method");
  assert.match(unknownMethod.message, /unknown method "no-such-method"; valid: gradient, /);
  // normgrad-exact works at conv modules only; features.29 is a ReLU
  const notConv = await refused(job({ method: "normgrad-exact", layers: ["features.29"] }));
  assert.equal(notConv.code, "unknown_layer");
  assert.match(notConv.message, /"features.29" is not a conv module/);
  const unknownLayer = await refused(job({ layers: ["features.99"] }));
  assert.equal(unknownLayer.code, "unknown_layer");
  // also when no class is present (nothing is computed, the request is still checked)
  const quiet = await refused(
    job({ method: "no-such-method", targets: { kind: "present", threshold: 0.99 } }),
  );
  assert.equal(quiet.code, "unknown_method");
  assert.equal(tf.memory().numTensors, baseline, "tensors leaked");
  // the messages lib/saliency produces, classified
  const x = tf.zeros([1, 224, 224, 3]);
  let contrastive: unknown;
  try {
    computeSaliency(model.net, model.weights, x, {
      method: "contrastive-excitation",
      layers: [""],
      seed: { kind: "objective", layer: "classifier.6", objective: (o) => tf.sum(o) },
    });
  } catch (e) {
    contrastive = e;
  } finally {
    x.dispose();
  }
  assert.ok(contrastive instanceof SaliencyInputError, `got ${contrastive}`);
  assert.equal(inputErrorCode(contrastive), "unsupported_rule");
  assert.equal(
    inputErrorCode(new SaliencyInputError("eta must be a finite number >= 0, got -1")),
    "invalid_request",
  );
  assert.equal(tf.memory().numTensors, baseline, "tensors leaked");
});

Deno.test("a bomb is refused before the decoder and before any tensor", async () => {
  const baseline = tf.memory().numTensors;
  decoderCalls = 0;
  const bomb = await refused(job({ image: bombPng(20000, 20000) }));
  assert.equal(bomb.code, "image_too_large");
  assert.equal(decoderCalls, 0, "the decoder was reached");
  assert.equal(tf.memory().numTensors, baseline);
});

Deno.test("caption: lib input errors reach the service with the API's codes", async () => {
  const captioner = await loadCaptioner(new URL("../models/captioner_synthetic", import.meta.url).pathname);
  const baseline = tf.memory().numTensors;
  const caption = (over: Partial<CaptionJob>): Promise<ServiceInputError> =>
    runCaptionJob(captioner, {
      image: png,
      beamSize: 1,
      method: "selective-normgrad",
      layers: [],
      words: false,
      maxPixels: 25_000_000,
      ...over,
    }, rasterize).then(
      () => assert.fail("the caption job was not refused"),
      (e) => {
        assert.ok(e instanceof ServiceInputError, `expected ServiceInputError, got ${e}`);
        return e;
      },
    );
  const contrastive = await caption({ method: "contrastive-excitation" });
  assert.equal(contrastive.code, "unsupported_rule", contrastive.message);
  assert.equal((await caption({ method: "no-such-method" })).code, "unknown_method");
  const notConv = await caption({ method: "normgrad-exact", layers: ["layer4"] });
  assert.equal(notConv.code, "unknown_layer", notConv.message);
  decoderCalls = 0;
  assert.equal((await caption({ image: bombPng(20000, 20000) })).code, "image_too_large");
  assert.equal(decoderCalls, 0, "the decoder was reached");
  assert.equal(tf.memory().numTensors, baseline, "tensors leaked");
  captioner.weights.dispose();
});
