/**
 * Batched evaluation (lib/eval/pointing_run.ts `batch`, the saliency pointer's pointsBatch): several images'
 * rows through one pass give results files byte-identical to one image per pass, for every kind of map (input
 * layer with smoothing, inner layers, a combination, meta-saliency); a run stopped anywhere inside a batch
 * resumes to the same file; a failing pass falls back to one image at a time. RETRACE_EVAL_BATCH is parsed
 * strictly.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { loadModel } from "../lib/models/load.ts";
import { type Pointer, saliencyPointer, type SaliencyPointerOptions } from "../lib/eval/pointers.ts";
import { runPointingGame } from "../lib/eval/pointing_run.ts";
import type { DatasetSource } from "../lib/eval/pointing_samples.ts";
import { parseDifficultFlags } from "../lib/eval/difficult_flags.ts";
import { EvalBatchError, evalBatchSize } from "../lib/eval/eval_batch.ts";
import { kit, syntheticTest } from "./helpers/synthetic_gate.ts";

await initBackend("wasm");

Deno.test("RETRACE_EVAL_BATCH: auto per backend, an integer 1..64, anything else refused by name", () => {
  assert.equal(evalBatchSize("wasm", "auto"), 1);
  assert.equal(evalBatchSize("webgpu", "auto"), 8);
  assert.equal(evalBatchSize("wasm", "12"), 12);
  for (const bad of ["0", "65", "2.5", "-1", "eight", " 4"]) {
    assert.throws(
      () => evalBatchSize("wasm", bad),
      (e: Error) => e instanceof EvalBatchError && /RETRACE_EVAL_BATCH/.test(e.message),
    );
  }
});

const MODEL = new URL("../models/resnet50_synthetic", import.meta.url).pathname;

async function runTo(
  path: string,
  source: DatasetSource,
  classes: readonly string[],
  pointer: Pointer,
  batch: number,
): Promise<string> {
  for await (const _ of runPointingGame({ source, classes, pointer, resultsPath: path, batch })) {
    // events are checked by the pointing-run tests; here the file is the result
  }
  return await Deno.readTextFile(path);
}

syntheticTest(
  "batched evaluation: the results file of any batch size is the one of batch 1, also when resumed",
  async (t) => {
    const dir = await Deno.makeTempDir();
    const model = await loadModel(MODEL);
    try {
      const { generateWorld } = await kit();
      await generateWorld({ out: `${dir}/world`, seed: 3, counts: { train: 0, val: 0, test: 7 } });
      const source: DatasetSource = {
        format: "voc",
        root: `${dir}/world/VOCdevkit/VOC2007`,
        split: "test",
        difficultFlags: parseDifficultFlags(
          await Deno.readTextFile(`${dir}/world/ebp_difficult/voc07_test.txt`),
          model.manifest.classes.length,
        ),
      };
      const classes = model.manifest.classes;
      const options: SaliencyPointerOptions = {
        methods: ["gradient", "grad-cam"],
        layers: ["", "layer3", "layer4"],
        combinations: [{ mode: "product", weights: "linear" }],
      };
      const before = tf.memory().numTensors;
      const one = await runTo(`${dir}/b1.jsonl`, source, classes, saliencyPointer(model, options), 1);
      assert.ok(one.split("\n").filter(Boolean).length === 8, "a header and 7 images");

      await t.step("batches of 3 and of 8 (the last batch short, and one batch for all)", async () => {
        for (const b of [3, 8]) {
          const got = await runTo(`${dir}/b${b}.jsonl`, source, classes, saliencyPointer(model, options), b);
          assert.equal(got, one, `batch ${b}`);
        }
        assert.equal(tf.memory().numTensors, before, "no tensor left behind");
      });

      await t.step(
        "stopped inside a batch (any number of its records written), resumed at another size",
        async () => {
          const lines = one.split("\n").filter(Boolean);
          for (const kept of [2, 4, 6]) { // header + 1, 3, 5 images: mid-batch for batches of 3
            const path = `${dir}/cut${kept}.jsonl`;
            await Deno.writeTextFile(path, lines.slice(0, kept).join("\n") + "\n");
            const got = await runTo(
              path,
              source,
              classes,
              saliencyPointer(model, options),
              kept === 4 ? 2 : 3,
            );
            assert.equal(got, one, `resumed after ${kept - 1} images`);
          }
        },
      );

      await t.step("a pass that fails as a batch is redone one image at a time", async () => {
        const real = saliencyPointer(model, options);
        const flaky: Pointer = {
          labels: real.labels,
          points: (s) => real.points(s),
          pointsBatch: (samples) =>
            samples.length > 1 ? Promise.reject(new Error("out of memory")) : real.pointsBatch!(samples),
        };
        assert.equal(await runTo(`${dir}/flaky.jsonl`, source, classes, flaky, 4), one);
      });

      await t.step("meta-saliency (each row takes its own weight step) batched as alone", async () => {
        const meta: SaliencyPointerOptions = {
          methods: ["grad-cam"],
          layers: ["layer4"],
          meta: { sign: "positive", eta: 1e-4 },
        };
        const limited = { ...source };
        const a = await runTo(`${dir}/m1.jsonl`, limited, classes, saliencyPointer(model, meta), 1);
        const b = await runTo(`${dir}/m4.jsonl`, limited, classes, saliencyPointer(model, meta), 4);
        assert.equal(b, a);
        assert.equal(tf.memory().numTensors, before, "no tensor left behind");
      });
    } finally {
      model.weights.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
