/**
 * The TypeScript captioner against PyTorch (tests/fixtures/caption, made by tools/caption_fixture.py from a tiny
 * random captioner in the shipped format, once with each decoder.pooling): the decoder's image feature,
 * teacher-forced log-probabilities, dS/dfeature for the whole caption and for single words, selective NormGrad at
 * layer3.0 / layer4.0 / layer4 through the LSTM and the pooling, greedy and beam-3 decoding; bad input named; no
 * tensor leaks.
 */
import assert from "node:assert/strict";
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { getFloatTensor, readSafetensors } from "../lib/nets/safetensors.ts";
import {
  CaptionInputError,
  detokenize,
  loadCaptioner,
  pooledFeature,
  tokenize,
} from "../lib/caption/captioner.ts";
import { CAPTION_LAYERS, combineCaptionMaps, explainCaption } from "../lib/caption/explain.ts";
import { beamSearch, CaptionSearchError } from "../lib/caption/search.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { metaSaliency } from "../lib/saliency/meta.ts";
import { relErr } from "./helpers/compare.ts";
import { COMBINED, wordPointing } from "../lib/caption/word_pointing.ts";
import { toInputTensor } from "../lib/image/preprocess.ts";
import { firstArgmaxSync, resizeMap } from "../lib/saliency/postprocess.ts";
import { boxesMask, pointingHit } from "../lib/eval/pointing.ts";

// RETRACE_TEST_BACKEND=webgpu runs the PyTorch fidelity tests on webgpu (with --filter fidelity: the others read
// synchronously).
await initBackend(parseBackendPreference(Deno.env.get("RETRACE_TEST_BACKEND") ?? "wasm"));
const DIR = new URL("./fixtures/caption", import.meta.url).pathname;
const TOL = 1e-4;

async function fixture(name: string) {
  const captioner = await loadCaptioner(`${DIR}/${name}`);
  const ref = readSafetensors(await Deno.readFile(`${DIR}/${name}_reference.safetensors`));
  const float = (tensor: string) => getFloatTensor(ref, tensor);
  const ints = (tensor: string) => Array.from(ref.tensors.get(tensor)!.data as BigInt64Array, Number);
  const tensorOf = (tensor: string): Tensor => {
    const t = float(tensor);
    return tf.tensor(t.data, t.shape);
  };
  return { captioner, ref, float, ints, tensorOf, tokens: ints("caption_tokens") };
}

const { captioner, tokens } = await fixture("tiny");

function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  const e = relErr(got, want);
  assert.ok(e < TOL, `${what}: relative error ${e}`);
}

type Fixture = Awaited<ReturnType<typeof fixture>>;

for (const name of ["tiny", "tiny_moments"]) {
  Deno.test(`captioner (${name}): PyTorch fidelity of image features, log-probabilities and gradients`, async (t) => {
    const fx = await fixture(name);
    await fidelity(t, fx);
    fx.captioner.dispose();
  });
}

async function fidelity(t: Deno.TestContext, fx: Fixture): Promise<void> {
  const { captioner, ref, float, ints, tensorOf, tokens } = fx;
  const input = tensorOf("input_nhwc");
  const pooledRef = tensorOf("pooled");
  await t.step("tokenize the fixture's caption", () => {
    assert.deepEqual(tokenize(captioner, ref.metadata.caption), tokens);
    assert.equal(detokenize(captioner, tokens), ref.metadata.caption);
  });
  await t.step(`image feature (layer4, ${captioner.manifest.decoder.pooling} pooling)`, async () => {
    const p = pooledFeature(captioner, input);
    close(await p.data(), float("pooled").data, "pooled");
    p.dispose();
  });
  await t.step("teacher-forced log-probabilities at every step", async () => {
    const lp = tf.tidy(() => captioner.decoder.teacherForced(pooledRef, tokens));
    assert.deepEqual(lp.shape, float("teacher_logp").shape);
    close(await lp.data(), float("teacher_logp").data, "teacher_logp");
    lp.dispose();
  });
  await t.step("dS/dpooled for the whole caption and for single words", async () => {
    const sum = tf.tidy(() =>
      tf.grad((p: Tensor) => tf.sum(captioner.decoder.tokenLogProbs(p, tokens)))(pooledRef)
    );
    close(await sum.data(), float("grad_pooled_sum").data, "grad_pooled_sum");
    sum.dispose();
    const positions = ints("positions");
    const words = float("grad_pooled_word");
    const per = 2 * words.shape[2];
    for (const [i, k] of positions.entries()) {
      const g = tf.tidy(() =>
        tf.grad((p: Tensor) => tf.sum(tf.slice(captioner.decoder.tokenLogProbs(p, tokens), [0, k], [-1, 1])))(
          pooledRef,
        )
      );
      close(await g.data(), words.data.subarray(i * per, (i + 1) * per), `word ${k}`);
      g.dispose();
    }
  });
  await t.step("selective NormGrad through the LSTM into the backbone", async () => {
    for (let b = 0; b < 2; b++) {
      const one = tf.slice(input, [b, 0, 0, 0], [1, -1, -1, -1]);
      const r = explainCaption(captioner, one, { tokens });
      for (const layer of CAPTION_LAYERS) {
        const want = float(`sng_${layer}`);
        const n = want.shape[1] * want.shape[2];
        close(await r.maps.get(layer)!.data(), want.data.subarray(b * n, (b + 1) * n), `${layer} image ${b}`);
      }
      r.dispose();
      one.dispose();
    }
  });
  await t.step("per-word maps in one batched pass equal one pass per word", async () => {
    const one = tf.slice(input, [0, 0, 0, 0], [1, -1, -1, -1]);
    const batched = explainCaption(captioner, one, { tokens, positions: [0, 3, tokens.length] });
    for (const [i, k] of [0, 3, tokens.length].entries()) {
      const single = explainCaption(captioner, one, { tokens, positions: [k] });
      const m = single.maps.get("layer4")!;
      const slice = tf.slice(batched.maps.get("layer4")!, [i, 0, 0, 0], [1, -1, -1, -1]);
      close(await slice.data(), await m.data(), `position ${k}`);
      tf.dispose(slice);
      single.dispose();
    }
    const combined = combineCaptionMaps(batched, CAPTION_LAYERS, [64, 64]);
    assert.deepEqual(combined.shape, [3, 64, 64, 1]);
    tf.dispose([combined, one]);
    batched.dispose();
  });
  await t.step("greedy and beam-3 decoding", async () => {
    const greedyTokens = ints("greedy_tokens");
    const greedyLogp = float("greedy_logp");
    const beamTokens = ints("beam3_tokens");
    const beamLogp = float("beam3_logprob");
    const width = float("greedy_logp").shape[1];
    let differ = 0;
    for (let b = 0; b < 2; b++) {
      const p = tf.slice(pooledRef, [b, 0], [1, -1]);
      const g = await beamSearch(captioner.decoder, p, { maxLength: 20 });
      const row = greedyTokens.slice(b * width, (b + 1) * width).filter((x) => x >= 0);
      assert.deepEqual([...g.tokens, 0], row, `greedy image ${b}`);
      close(g.stepLogProbs, greedyLogp.data.subarray(b * width, b * width + row.length), `greedy logp ${b}`);
      const beam = await beamSearch(captioner.decoder, p, { maxLength: 20, beamSize: 3 });
      assert.deepEqual(
        beam.tokens,
        beamTokens.slice(b * 20, (b + 1) * 20).filter((x) => x >= 0),
        `beam ${b}`,
      );
      close([beam.logProb], [beamLogp.data[b]], `beam logprob ${b}`);
      assert.ok(beam.logProb >= g.logProb - 1e-6, "beam search never scores below greedy");
      if (beam.tokens.join() !== g.tokens.join()) differ++;
      p.dispose();
    }
    assert.ok(differ > 0, "the fixture makes beam search and greedy disagree somewhere");
  });
  tf.dispose([input, pooledRef]);
}

Deno.test("captioner: bad input is named, no tensor leaks", async () => {
  const e = assert.throws(() => tokenize(captioner, "a small zebra"), CaptionInputError) as unknown;
  void e;
  assert.throws(() => tokenize(captioner, "a small zebra"), /"zebra" is not in the captioner's vocabulary/);
  assert.throws(() => tokenize(captioner, "   "), /empty/);
  const input = tf.randomNormal([1, 64, 64, 3], 0, 1, "float32", 3);
  assert.throws(
    () => explainCaption(captioner, input, { tokens, positions: [11] }),
    /position\(s\) 11 out of range/,
  );
  assert.throws(() => explainCaption(captioner, input, { tokens: [0] }), /token 0 is not a word id/);
  assert.throws(
    () => explainCaption(captioner, input, { tokens, method: "contrastive-excitation" }),
    SaliencyInputError,
  );
  const seed = { kind: "objective" as const, layer: "avgpool", objective: (x: Tensor) => tf.sum(x) };
  assert.throws(
    () =>
      metaSaliency(captioner.net, captioner.weights, input, { method: "normgrad", layers: ["layer4"], seed }),
    /objective function/,
  );
  const p = pooledFeature(captioner, input);
  await assert.rejects(beamSearch(captioner.decoder, p, { maxLength: 0 }), CaptionSearchError);
  await assert.rejects(
    beamSearch(captioner.decoder, tf.zeros([2, 64]), { maxLength: 5 }),
    /one image's pooled feature/,
  );

  const before = tf.memory().numTensors;
  for (let i = 0; i < 2; i++) {
    explainCaption(captioner, input, { tokens }).dispose();
    explainCaption(captioner, input, { tokens, positions: [1, 2], method: "grad-cam" }).dispose();
    await beamSearch(captioner.decoder, p, { maxLength: 20, beamSize: 3 });
    computeSaliency(captioner.net, captioner.weights, input, { method: "gradient", layers: [""], seed })
      .dispose();
    try {
      explainCaption(captioner, input, { tokens, positions: [99] });
    } catch { /* expected */ }
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([input, p]);
});

Deno.test("captioner: an unknown decoder.pooling is named; moments pooling leaks no tensors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const manifest = JSON.parse(await Deno.readTextFile(`${DIR}/tiny_moments/manifest.json`));
    manifest.decoder.pooling = "max";
    await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(manifest));
    await Deno.copyFile(`${DIR}/tiny_moments/weights.safetensors`, `${dir}/weights.safetensors`);
    await assert.rejects(loadCaptioner(dir), /decoder.pooling "max" is not one of mean, moments/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const { captioner: moments, tokens: words } = await fixture("tiny_moments");
  const input = tf.randomNormal([1, 64, 64, 3], 0, 1, "float32", 4);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 2; i++) {
    pooledFeature(moments, input).dispose();
    explainCaption(moments, input, { tokens: words, positions: [0, 4] }).dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  input.dispose();
  moments.dispose();
});

Deno.test("word pointing: one entry per shape word present, points agree with the per-word maps", async () => {
  const width = 80, height = 60;
  const rgb = new Uint8Array(width * height * 3).map((_, i) => (i * 37) % 251);
  const image = { width, height, rgb };
  const box = (xmin: number, ymin: number, xmax: number, ymax: number) => ({ xmin, ymin, xmax, ymax });
  const objects = [
    { name: "star", box: box(1, 1, 20, 20), difficult: false, truncated: false },
    { name: "ring", box: box(50, 30, 80, 60), difficult: false, truncated: false },
    { name: "square", box: box(30, 1, 40, 10), difficult: false, truncated: false },
  ];
  const caption = tokenize(captioner, "a small red star left of a large blue ring");
  const before = tf.memory().numTensors;
  const got = await wordPointing(captioner, image, objects, caption);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(got.map((w) => [w.position, w.word]), [[3, "star"], [9, "ring"]]);
  for (const w of got) assert.deepEqual(Object.keys(w.hits).sort(), [...CAPTION_LAYERS, COMBINED].sort());
  // The layer4 verdicts, recomputed from explainCaption's per-word maps by hand.
  const input = toInputTensor(image, captioner.manifest.inputSize, captioner.manifest.preprocess);
  const r = explainCaption(captioner, input, { tokens: caption, positions: [3, 9] });
  const big = resizeMap(r.maps.get("layer4")!, [height, width]);
  const points = firstArgmaxSync(big);
  got.forEach((w, i) => {
    const region = boxesMask(objects.filter((o) => o.name === w.word).map((o) => o.box), width, height);
    assert.equal(w.hits.layer4, pointingHit(region, width, height, points[i]));
  });
  tf.dispose([input, big]);
  r.dispose();
  assert.deepEqual(await wordPointing(captioner, image, objects.slice(2), caption), []);
});
