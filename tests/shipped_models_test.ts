/**
 * The shipped classifiers (models/*): each loads through lib/nets from its manifest, and the TypeScript forward
 * (wasm) on the committed 200-image test slice — images regenerated in memory by the deterministic synthetic
 * world, decoded and preprocessed by lib/image — matches the logits PyTorch wrote at training time (to 1e-3)
 * and gives the same slice mAP within 0.5 points.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { decodeImage } from "../lib/image/decode.ts";
import { toInputTensor } from "../lib/image/preprocess.ts";
import { loadModel } from "../lib/models/load.ts";
import { getFloatTensor, readSafetensors } from "../lib/nets/safetensors.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { meanAveragePrecision } from "../lib/eval/average_precision.ts";
import { generateImage } from "../lib/synthetic/image.ts";
import { splitOfId } from "../lib/synthetic/ids.ts";
import { CANVAS_PERMITTED } from "./helpers/synthetic_gate.ts";

await initBackend("wasm");

// RETRACE_TEST_MODELS points the test at another models directory (e.g. a fresh training run).
const MODELS = Deno.env.get("RETRACE_TEST_MODELS") ?? new URL("../models/", import.meta.url).pathname;
const dirs: string[] = [];
for await (const e of Deno.readDir(MODELS)) {
  if (e.isDirectory) {
    try {
      await Deno.stat(`${MODELS}${e.name}/manifest.json`);
      dirs.push(e.name);
    } catch { /* not a model directory */ }
  }
}

for (const name of dirs.sort()) {
  Deno.test(
    { name: `shipped model ${name} matches PyTorch on the test slice`, ignore: !CANVAS_PERMITTED },
    async () => {
      const model = await loadModel(`${MODELS}${name}`);
      const { manifest, net, weights } = model;
      const slice = readSafetensors(await Deno.readFile(`${MODELS}${name}/test_slice.safetensors`), name);
      const expected = getFloatTensor(slice, "logits");
      const ids: number[] = JSON.parse(slice.metadata.ids).map(Number);
      const k = manifest.numClasses;
      const seed = Number((manifest.training as { world_seed?: number }).world_seed ?? 0);
      const ours = new Float32Array(ids.length * k);
      const labels = new Float32Array(ids.length * k);
      const batch = 20;
      for (let start = 0; start < ids.length; start += batch) {
        const inputs = ids.slice(start, start + batch).map((id, j) => {
          const { split, index } = splitOfId(id);
          const image = generateImage(seed, split, index);
          for (const o of image.scene.objects) labels[(start + j) * k + o.classIndex] = 1;
          return toInputTensor(decodeImage(image.jpeg!, `${id}`), manifest.inputSize, manifest.preprocess);
        });
        const x = tf.concat(inputs, 0);
        const r = runProbed(net, weights, x);
        ours.set(r.output.dataSync() as Float32Array, start * k);
        r.dispose();
        tf.dispose([x, ...inputs]);
      }
      let worst = 0;
      expected.data.forEach((
        v,
        i,
      ) => (worst = Math.max(worst, Math.abs(ours[i] - v) / Math.max(1, Math.abs(v)))));
      assert.ok(
        worst <= 1e-3,
        `${name}: logits differ from PyTorch's by up to ${worst.toExponential(2)} (relative)`,
      );
      const sliceMap = meanAveragePrecision(ours, labels, k);
      const reported = Number((manifest.metrics as { test_slice_map: number }).test_slice_map);
      assert.ok(
        Math.abs(sliceMap - reported) <= 0.005,
        `${name}: slice mAP ${sliceMap} vs PyTorch's ${reported}`,
      );
      weights.dispose();
    },
  );
}
