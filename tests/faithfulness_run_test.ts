/**
 * The faithfulness evaluation (lib/eval/faithfulness_run.ts) on a small synthetic world with the shipped
 * ResNet50: one record per image with the top class as target; each record's curves are the causal metric of the
 * method's map resized to the input (recomputed here); the summary's means are the records'; a results file cut
 * mid-line is resumed to the same records without redoing finished images; the report writes its Markdown,
 * JSON and two PNG plots.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { loadModel } from "../lib/models/load.ts";
import { decodeImage } from "../lib/image/decode.ts";
import { toInputTensor } from "../lib/image/preprocess.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { resizeMap } from "../lib/saliency/postprocess.ts";
import { causalCurve } from "../lib/eval/causal_metric.ts";
import { type ImageRecord, runFaithfulness, summariseFaithfulness } from "../lib/eval/faithfulness_run.ts";
import { writeFaithfulnessReport } from "../lib/eval/faithfulness_report.ts";
import { tempWorld } from "./helpers/synthetic_kit.ts";

await initBackend("wasm");
const model = await loadModel(new URL("../models/resnet50_synthetic", import.meta.url).pathname);

Deno.test("faithfulness run: records, resume, summary and report", async () => {
  const world = await tempWorld({ train: 0, val: 0, test: 3 }, 23);
  const out = await Deno.makeTempDir({ prefix: "retrace-faithfulness-" });
  try {
    const root = `${world.dir}/VOCdevkit/VOC2007`;
    const results = `${out}/r.jsonl`;
    const options = {
      model,
      source: { format: "voc" as const, root, split: "test" },
      methods: [{ method: "grad-cam", layer: "layer4" }, { method: "rise", layer: "" }],
      step: 224 * 16,
      rise: { masks: 6 },
      results,
    };
    const drain = async (o = options) => {
      const events = [];
      for await (const e of runFaithfulness(o)) events.push(e);
      return events;
    };
    const before = tf.memory().numTensors;
    const events = await drain();
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
    assert.deepEqual(events.map((e) => e.kind), ["image", "image", "image"]);
    const lines = (await Deno.readTextFile(results)).trim().split("\n");
    const records = lines.map((l) => JSON.parse(l) as ImageRecord);
    assert.equal(records.length, 3);

    // a record's grad-cam curves are the metric of its map, recomputed
    const first = records[0];
    const image = decodeImage(await Deno.readFile(`${root}/JPEGImages/${first.key}.jpg`), first.key);
    const input = toInputTensor(image, model.manifest.inputSize, model.manifest.preprocess);
    const r = computeSaliency(model.net, model.weights, input, {
      method: "grad-cam",
      layers: ["layer4"],
      seed: { kind: "one-hot", targets: [first.target] },
    });
    const map = resizeMap(r.maps.get("layer4")!, [224, 224]);
    const saliency = map.dataSync() as Float32Array;
    const curve = await causalCurve(model.net, model.weights, input, first.target, saliency, "deletion", {
      step: 224 * 16,
      probability: "sigmoid",
    });
    assert.deepEqual(first.curves["grad-cam@layer4"].deletion.scores, Array.from(curve.scores));
    assert.equal(curve.scores.length, 224 / 16 + 1);
    tf.dispose([input, map]);
    r.dispose();

    // the summary's means are the records'
    const summary = await summariseFaithfulness(results);
    assert.equal(summary.images, 3);
    const mean = records.reduce((a, x) => a + x.curves["rise@input"].insertion.auc, 0) / 3;
    assert.ok(Math.abs(summary.methods["rise@input"].insertion.auc - mean) < 1e-12);

    // Average Drop / Increase: the records' own (Y, O) pairs, averaged
    const changes = records.map((x) => x.confidence!["grad-cam@layer4"]);
    const drop = changes.reduce((a, c) => a + Math.max(0, c.full - c.masked) / c.full, 0) * 100 / 3;
    assert.ok(Math.abs(summary.confidence["grad-cam@layer4"].averageDrop - drop) < 1e-9);
    assert.ok(changes.every((c) => c.full > 0 && c.full <= 1 && c.masked >= 0 && c.masked <= 1));

    // a file cut inside its last line: that image is redone, the others are not
    const text = await Deno.readTextFile(results);
    await Deno.writeTextFile(results, text.slice(0, text.length - 40));
    const again = await drain();
    assert.equal(again.length, 3);
    const resumed = (await Deno.readTextFile(results)).trim().split("\n").map((l) =>
      JSON.parse(l) as ImageRecord
    );
    assert.deepEqual(resumed.map((x) => x.key).sort(), records.map((x) => x.key).sort());
    assert.deepEqual(resumed.find((x) => x.key === records[2].key), records[2], "the redone image's record");

    await writeFaithfulnessReport(`${out}/report`, summary, "test", ["a detail"]);
    const md = await Deno.readTextFile(`${out}/report.md`);
    assert.match(md, /\| grad-cam@layer4 \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \| [\d.]+ \| [\d.]+ \|/);
    for (const mode of ["deletion", "insertion"]) {
      const png = await Deno.readFile(`${out}/report-${mode}.png`);
      assert.deepEqual(Array.from(png.subarray(1, 4)), [80, 78, 71], "a PNG");
    }
  } finally {
    await world.dispose();
    await Deno.remove(out, { recursive: true });
  }
});
