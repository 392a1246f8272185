/**
 * Saliency requests run as one pass (lib/service/saliency_batch.ts) answer each caller exactly as the request
 * alone would (runSaliencyJob), for every target kind, output form and error, with meta-saliency and
 * contrastive excitation too; a bad image or target fails its own job only. The shipped ResNet50 on wasm.
 */
import assert from "node:assert/strict";
import { createCanvas } from "@napi-rs/canvas";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { loadModel } from "../lib/models/load.ts";
import {
  runSaliencyJob,
  type SaliencyAnswer,
  type SaliencyJob,
  ServiceInputError,
} from "../lib/service/saliency_job.ts";
import { runSaliencyJobs } from "../lib/service/saliency_batch.ts";
import { batchKey } from "../lib/service/batch_key.ts";

await initBackend("wasm");
const model = await loadModel(new URL("../models/resnet50_synthetic", import.meta.url).pathname);

function png(w: number, h: number, seed: number): Uint8Array {
  const canvas = createCanvas(w, h);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = `rgb(${(seed * 70) % 255}, ${(seed * 130) % 255}, ${(seed * 40) % 255})`;
  ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = `rgb(${255 - (seed * 50) % 255}, 40, ${(seed * 90) % 255})`;
  ctx.fillRect(w / 4, h / 5, w / 2, h / 3);
  const b = canvas.encodeSync("png");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** An answer without its timings (the only part that depends on batching). */
const content = (a: SaliencyAnswer | ServiceInputError) =>
  a instanceof ServiceInputError ? { code: a.code, message: a.message } : { ...a, timings: null };

async function alone(job: SaliencyJob): Promise<SaliencyAnswer | ServiceInputError> {
  try {
    return await runSaliencyJob(model, { ...job, image: job.image.slice() });
  } catch (e) {
    if (e instanceof ServiceInputError) return e;
    throw e;
  }
}

async function checkBatch(jobs: SaliencyJob[]) {
  const want: ReturnType<typeof content>[] = [];
  for (const j of jobs) want.push(content(await alone(j)));
  const before = tf.memory().numTensors;
  const got = await runSaliencyJobs(model, jobs.map((j) => ({ ...j, image: j.image.slice() })));
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  assert.equal(got.length, jobs.length);
  got.forEach((a, i) => assert.deepEqual(content(a), want[i], `job ${i}`));
  return got;
}

const base = { method: "grad-cam", layers: ["input", "layer3", "layer4"], maxPixels: 1e6 } as const;

Deno.test("a batch of requests answers each as it would be answered alone", async (t) => {
  await t.step("target kinds, sizes, raw and resized maps, overlays, a combination", async () => {
    const combine = { mode: "product" as const, weights: "linear" as const };
    const jobs: SaliencyJob[] = [
      { ...base, layers: [...base.layers], combine, image: png(64, 48, 1), targets: { kind: "top-k", k: 2 } },
      {
        ...base,
        layers: [...base.layers],
        combine,
        image: png(40, 70, 2),
        targets: { kind: "classes", classes: [model.manifest.classes[3], 0] },
        resize: "image",
      },
      {
        ...base,
        layers: [...base.layers],
        combine,
        image: png(80, 80, 3),
        targets: { kind: "present", threshold: 0 },
      },
      {
        ...base,
        layers: [...base.layers],
        combine,
        image: png(50, 50, 4),
        targets: { kind: "top-k", k: 1 },
        overlay: { alpha: 0.5, map: 1, colormap: "viridis" },
      },
    ];
    const got = await checkBatch(jobs);
    assert.ok(got.every((a) => !(a instanceof ServiceInputError)), "all answered");
    assert.equal(
      (got[2] as SaliencyAnswer).maps.length,
      4 * model.manifest.numClasses,
      "every class present",
    );
    assert.ok((got[3] as SaliencyAnswer).overlay, "an overlay drawn");
  });

  await t.step(
    "errors stay with their job: a bad image, an unknown class, nothing present, a bad overlay",
    async () => {
      const good = png(60, 40, 5);
      const jobs: SaliencyJob[] = [
        { ...base, layers: [...base.layers], image: good, targets: { kind: "top-k", k: 3 } },
        { ...base, layers: [...base.layers], image: good.slice(0, 100), targets: { kind: "top-k", k: 1 } },
        {
          ...base,
          layers: [...base.layers],
          image: good,
          targets: { kind: "classes", classes: ["no such class"] },
        },
        { ...base, layers: [...base.layers], image: good, targets: { kind: "present", threshold: 1.5 } },
        {
          ...base,
          layers: [...base.layers],
          image: good,
          targets: { kind: "present", threshold: 1.5 },
          overlay: { alpha: 0.5, map: 0, colormap: "viridis" },
        },
        { ...base, layers: [...base.layers], image: png(30, 30, 6), targets: { kind: "top-k", k: 1 } },
      ];
      const got = await checkBatch(jobs);
      assert.deepEqual(
        got.map((a) => a instanceof ServiceInputError ? a.code : "ok"),
        ["ok", "bad_image", "unknown_class", "ok", "bad_overlay", "ok"],
      );
    },
  );

  await t.step("meta-saliency and contrastive excitation batched", async () => {
    for (
      const extra of [{ meta: { sign: "positive" as const, eta: 1e-4 } }, {
        method: "contrastive-excitation",
      }]
    ) {
      await checkBatch([
        { ...base, layers: ["layer4"], ...extra, image: png(64, 64, 7), targets: { kind: "top-k", k: 2 } },
        {
          ...base,
          layers: ["layer4"],
          ...extra,
          image: png(48, 64, 8),
          targets: { kind: "classes", classes: [1] },
        },
      ]);
    }
  });

  await t.step("integrated gradients (with its completeness gaps) and a noise tunnel batched", async () => {
    const ig = {
      ...base,
      method: "integrated-gradients",
      layers: ["layer3", "layer4"],
      integratedGradients: {
        steps: 3,
        quadrature: "gauss-legendre" as const,
        baseline: "black" as const,
        batch: 2,
      },
    };
    const got = await checkBatch([
      { ...ig, image: png(64, 64, 3), targets: { kind: "top-k", k: 2 } },
      { ...ig, image: png(40, 56, 4), targets: { kind: "classes", classes: [5] } },
    ]);
    assert.equal((got[0] as SaliencyAnswer).completeness!.length, 4, "2 targets x 2 layers");
    const noise = { kind: "vargrad" as const, samples: 3, sigma: 0.1, seed: 2, batch: 2 };
    await checkBatch([
      { ...base, layers: ["layer4"], noise, image: png(64, 64, 5), targets: { kind: "top-k", k: 1 } },
      {
        ...base,
        layers: ["layer4"],
        noise,
        image: png(50, 64, 6),
        targets: { kind: "classes", classes: [2, 4] },
      },
    ]);
  });

  await t.step("jobs that ask different things are not one batch", async () => {
    const a = {
      ...base,
      layers: [...base.layers],
      image: png(20, 20, 1),
      targets: { kind: "top-k" as const, k: 1 },
    };
    assert.equal(batchKey(a), batchKey({ ...a, layers: ["", "layer3", "layer4"] }), '"input" is ""');
    assert.notEqual(batchKey(a), batchKey({ ...a, method: "gradient" }));
    assert.notEqual(
      batchKey(a),
      batchKey({ ...a, noise: { kind: "smoothgrad", samples: 2, sigma: 0.1, seed: 0, batch: 2 } }),
    );
    await assert.rejects(runSaliencyJobs(model, [a, { ...a, layers: ["layer4"] }]), /ask different things/);
  });
});
