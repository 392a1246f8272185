/**
 * The faithfulness run (lib/eval/faithfulness_run.ts) on a small synthetic world with the shipped ResNet50: one
 * record per image with the top class as target; a record's deletion curve, ROAD scores and energy shares are
 * the metrics of the method's maps recomputed here; the result's summary is the records' means by hand; two
 * shards' tallies add up to the whole run's; a results file cut mid-line resumes to the same records and a file
 * of another configuration is refused; the report writes its Markdown, JSON and PNG plots. Method options (here a
 * noise tunnel) reach the maps measured and are part of the run's configuration.
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
import { roadCombined, roadScores } from "../lib/eval/road.ts";
import { energyInRegion } from "../lib/eval/confidence_metrics.ts";
import {
  type FaithfulnessEvent,
  type FaithfulnessResult,
  type FaithfulnessRunOptions,
  runFaithfulness,
} from "../lib/eval/faithfulness_run.ts";
import {
  addFaithfulnessTallies,
  type FaithfulnessImageRecord,
  summariseTallies,
} from "../lib/eval/faithfulness_record.ts";
import { readResultsFile, ResultsFileError } from "../lib/eval/results_file.ts";
import { pointingSamples } from "../lib/eval/pointing_samples.ts";
import { writeFaithfulnessReport } from "../lib/eval/faithfulness_report.ts";
import { tempWorld } from "./helpers/synthetic_kit.ts";

await initBackend("wasm");
const model = await loadModel(new URL("../models/resnet50_synthetic", import.meta.url).pathname);

const near = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

async function drain(
  o: FaithfulnessRunOptions,
): Promise<{ events: FaithfulnessEvent[]; result: FaithfulnessResult }> {
  const events: FaithfulnessEvent[] = [];
  for await (const e of runFaithfulness(o)) events.push(e);
  const done = events.at(-1)!;
  assert.equal(done.type, "done");
  return { events, result: (done as Extract<FaithfulnessEvent, { type: "done" }>).result };
}

Deno.test("faithfulness run: records, metrics recomputed, summary, shards, resume and report", async () => {
  const world = await tempWorld({ train: 0, val: 0, test: 3 }, 23);
  const out = await Deno.makeTempDir({ prefix: "retrace-faithfulness-" });
  try {
    const root = `${world.dir}/VOCdevkit/VOC2007`;
    const source = { format: "voc" as const, root, split: "test" };
    const road = { fractions: [0.3, 0.7], noise: 0.01, seed: 3 };
    const options: FaithfulnessRunOptions = {
      model,
      source,
      methods: [{ method: "grad-cam", layer: "layer4" }, { method: "rise", layer: "" }],
      metrics: ["deletion", "insertion", "confidence", "road", "energy"],
      step: 224 * 16,
      road,
      methodOptions: { rise: { masks: 6 } },
      describe: { model: "resnet50_synthetic" },
      resultsPath: `${out}/whole.jsonl`,
    };
    const before = tf.memory().numTensors;
    const { events, result } = await drain(options);
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
    assert.deepEqual(events.map((e) => e.type), ["start", "image", "image", "image", "done"]);
    assert.equal(result.images, 3);
    const file = await readResultsFile<FaithfulnessImageRecord>(`${out}/whole.jsonl`);
    const records = file.records;
    assert.equal(records.length, 3);

    // the first record's grad-cam metrics, recomputed from its map
    const first = records[0];
    const samples = [];
    for await (const s of pointingSamples(source, model.manifest.classes)) samples.push(s);
    const sample = samples.find((s) => s.key === first.key)!;
    assert.ok(!("problem" in sample));
    const image = decodeImage(await Deno.readFile(sample.imagePath), first.key);
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
    const measured = first.measures["grad-cam@layer4"];
    assert.deepEqual(measured.deletion!.scores, Array.from(curve.scores));
    assert.equal(curve.scores.length, 224 / 16 + 1);
    const roadAgain = await roadScores(model.net, model.weights, input, first.target, saliency, {
      ...road,
      probability: "sigmoid",
    });
    assert.deepEqual(measured.road, roadAgain);
    // energy: one class's map alone, at the image's size, its share in the class's region
    const counted = sample.classes.filter((c) => !c.skipAll);
    assert.deepEqual(measured.energy!.map(([k]) => k), counted.map((c) => c.classIndex));
    const one = computeSaliency(model.net, model.weights, input, {
      method: "grad-cam",
      layers: ["layer4"],
      seed: { kind: "one-hot", targets: [counted[0].classIndex] },
    });
    const classMap = resizeMap(one.maps.get("layer4")!, [sample.height, sample.width]);
    near(
      measured.energy![0][1],
      energyInRegion(classMap.dataSync(), counted[0].region),
      1e-5,
      "energy share",
    );
    tf.dispose([input, map, classMap]);
    r.dispose();
    one.dispose();

    // the summary is the records' means, by hand
    const label = "rise@input";
    const mean = (f: (x: FaithfulnessImageRecord) => number) => records.reduce((a, x) => a + f(x), 0) / 3;
    const s = result.summary[label];
    near(s.insertion!.auc, mean((x) => x.measures[label].insertion!.auc), 1e-12, "insertion AUC");
    const aucs = records.map((x) => x.measures[label].insertion!.auc);
    const sd = Math.sqrt(aucs.reduce((a, v) => a + (v - s.insertion!.auc) ** 2, 0) / 2);
    near(s.insertion!.sem, sd / Math.sqrt(3), 1e-9, "insertion standard error");
    const drop = mean((x) => {
      const c = x.measures[label].confidence!;
      return Math.max(0, c.full - c.masked) / c.full;
    });
    near(s.confidence!.averageDrop, 100 * drop, 1e-9, "Average Drop");
    near(s.road!.combined, mean((x) => roadCombined(x.measures[label].road!)), 1e-12, "ROAD combined");
    near(
      s.road!.morfDrop,
      mean((x) =>
        (x.measures[label].road!.morf[0] + x.measures[label].road!.morf[1]) / 2 - x.measures[label].road!.base
      ),
      1e-12,
      "MoRF drop",
    );
    const pairs = records.flatMap((x) => x.measures[label].energy!.map(([, v]) => v));
    near(s.energy!.mean, pairs.reduce((a, b) => a + b, 0) / pairs.length, 1e-12, "energy mean");
    assert.equal(s.energy!.pairs, pairs.length);
    assert.deepEqual(s.road!.fractions, road.fractions);

    // two shards: their tallies add up to the whole run's
    const halves = [];
    for (const index of [0, 1]) {
      halves.push(
        (await drain({ ...options, shard: { index, count: 2 }, resultsPath: `${out}/shard${index}.jsonl` }))
          .result,
      );
    }
    assert.deepEqual(halves.map((h) => h.images), [1, 2]);
    const added = addFaithfulnessTallies(halves[0].tallies, halves[1].tallies);
    const merged = summariseTallies(added, road.fractions);
    near(merged[label].deletion!.auc, s.deletion!.auc, 1e-12, "merged deletion");
    near(
      merged["grad-cam@layer4"].road!.combined,
      result.summary["grad-cam@layer4"].road!.combined,
      1e-12,
      "road",
    );
    assert.deepEqual(added["grad-cam@layer4"].energy!.count, result.tallies["grad-cam@layer4"].energy!.count);

    // a file cut inside its last line: that image is redone, the others are not
    const text = await Deno.readTextFile(`${out}/whole.jsonl`);
    await Deno.writeTextFile(`${out}/whole.jsonl`, text.slice(0, text.length - 40));
    const again = await drain(options);
    assert.deepEqual(again.events[0], {
      type: "start",
      total: 3,
      done: 2,
      labels: ["grad-cam@layer4", label],
    });
    const resumed = (await readResultsFile<FaithfulnessImageRecord>(`${out}/whole.jsonl`)).records;
    assert.deepEqual(resumed, records, "the same records, the last one redone");
    // the same file with other metrics is another run
    await assert.rejects(drain({ ...options, metrics: ["deletion"] }), ResultsFileError);

    await writeFaithfulnessReport(`${out}/report`, result, "test", ["a detail"]);
    const md = await Deno.readTextFile(`${out}/report.md`);
    assert.match(
      md,
      /\| grad-cam@layer4 \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \| [\d.]+ \| [\d.]+ \| -?[\d.]+ ± /,
    );
    for (const plot of ["deletion", "insertion", "road-morf", "road-lerf"]) {
      const png = await Deno.readFile(`${out}/report-${plot}.png`);
      assert.deepEqual(Array.from(png.subarray(1, 4)), [80, 78, 71], `${plot}: a PNG`);
    }
  } finally {
    await world.dispose();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("faithfulness run: the method options shape the maps measured, and are part of the run's identity", async () => {
  const world = await tempWorld({ train: 0, val: 0, test: 1 }, 29);
  const out = await Deno.makeTempDir({ prefix: "retrace-faithfulness-options-" });
  try {
    const source = { format: "voc" as const, root: `${world.dir}/VOCdevkit/VOC2007`, split: "test" };
    const noise = { kind: "smoothgrad" as const, samples: 2, sigma: 0.3, seed: 4 };
    const options: FaithfulnessRunOptions = {
      model,
      source,
      methods: [{ method: "grad-cam", layer: "layer4" }],
      metrics: ["deletion"],
      step: 224 * 32,
      methodOptions: { noise },
      resultsPath: `${out}/run.jsonl`,
    };
    const before = tf.memory().numTensors;
    await drain(options);
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
    const file = await readResultsFile<FaithfulnessImageRecord>(`${out}/run.jsonl`);
    assert.deepEqual(file.config.noise, noise, "the results header names the options");
    const [record] = file.records;

    // the deletion curve of the map recomputed through the same noise tunnel, and (a control) not the plain one's
    const samples = [];
    for await (const s of pointingSamples(source, model.manifest.classes)) samples.push(s);
    const sample = samples.find((s) => s.key === record.key)!;
    assert.ok(!("problem" in sample));
    const input = toInputTensor(
      decodeImage(await Deno.readFile(sample.imagePath), record.key),
      model.manifest.inputSize,
      model.manifest.preprocess,
    );
    const curveOf = async (withNoise: boolean) => {
      const r = computeSaliency(model.net, model.weights, input, {
        method: "grad-cam",
        layers: ["layer4"],
        seed: { kind: "one-hot", targets: [record.target] },
        ...(withNoise ? { noise } : {}),
      });
      const map = resizeMap(r.maps.get("layer4")!, [224, 224]);
      const saliency = map.dataSync() as Float32Array;
      tf.dispose(map);
      r.dispose();
      const c = await causalCurve(model.net, model.weights, input, record.target, saliency, "deletion", {
        step: 224 * 32,
        probability: "sigmoid",
      });
      return Array.from(c.scores);
    };
    assert.deepEqual(record.measures["grad-cam@layer4"].deletion!.scores, await curveOf(true));
    assert.notDeepEqual(record.measures["grad-cam@layer4"].deletion!.scores, await curveOf(false));
    input.dispose();

    // the same file with another noise seed is another run
    await assert.rejects(
      drain({ ...options, methodOptions: { noise: { ...noise, seed: 5 } } }),
      ResultsFileError,
    );
  } finally {
    await world.dispose();
    await Deno.remove(out, { recursive: true });
  }
});
