/**
 * Faithfulness evaluation jobs over HTTP on a real server (wasm, one worker) and a small generated synthetic
 * world: a job of kind "faithfulness" streams progress events with the running numbers and ends "done" with a
 * result whose summary is the job's own results file's records averaged here by hand (an input-only method is
 * explained at the input, the others at the layers asked); a pointing job with method options (RISE's masks, a
 * noise tunnel) and an input-only method runs, the options filled in with their defaults in its spec and header;
 * options that have no meaning for the kind or the methods, a model without class probabilities, unknown option
 * fields and out-of-range options are refused before a job exists.
 */
import assert from "node:assert/strict";
import { kit, syntheticTest } from "./helpers/synthetic_gate.ts";
import { spawnServer } from "../tools/spawn_server.ts";
import { postEvaluation, readEvents, SERVER_PERMISSIONS } from "./helpers/evaluations_http.ts";
import { readResultsFile } from "../lib/eval/results_file.ts";
import type { FaithfulnessImageRecord } from "../lib/eval/faithfulness_record.ts";
import { roadCombined } from "../lib/eval/road.ts";
import { parseManifest } from "../lib/models/manifest.ts";
import { resolveLayers } from "../lib/nets/paper_layers.ts";

const manifest = parseManifest(
  await Deno.readTextFile(new URL("../models/resnet50_synthetic/manifest.json", import.meta.url)),
);

const near = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

syntheticTest("faithfulness jobs: SSE running numbers, the result from the records, refusals", async (t) => {
  const dir = await Deno.makeTempDir();
  const { generateWorld } = await kit();
  await generateWorld({ out: `${dir}/data/synthetic`, seed: 0, counts: { train: 0, val: 0, test: 3 } });
  const server = await spawnServer(
    { RETRACE_DATA_DIR: `${dir}/data`, RETRACE_JOBS_DIR: `${dir}/jobs` },
    { permissions: SERVER_PERMISSIONS },
  );
  const spec = {
    kind: "faithfulness",
    model: "resnet50_synthetic",
    methods: ["grad-cam", "rise"],
    layers: ["layer4"],
    limit: 3,
    faithfulness: {
      metrics: ["deletion", "insertion", "confidence", "road", "energy"],
      step: 224 * 32,
      road: { fractions: [0.5] },
      riseMasks: 8,
    },
  };
  try {
    await t.step("a job streams its running numbers and ends with the records' means", async () => {
      const res = await postEvaluation(server.base, spec);
      assert.equal(res.status, 202);
      const { id, events } = await res.json();
      const all = await readEvents(`${server.base}${events}`);
      assert.equal(all.at(-1)!.event, "done", JSON.stringify(all.at(-1)));
      const progress = all.filter((e) => e.event === "progress").map((e) =>
        e.data as { done: number; summary: Record<string, { deletion: number; road: number }> }
      );
      assert.deepEqual(progress.map((p) => p.done), [1, 2, 3]);
      assert.deepEqual(Object.keys(progress[0].summary), ["grad-cam@layer4", "rise@input"]);
      const job = await (await fetch(`${server.base}/v1/evaluations/${id}`)).json();
      assert.equal(job.status, "done");
      assert.equal(job.spec.kind, "faithfulness");
      const { result } = job;
      assert.equal(result.kind, "faithfulness");
      assert.equal(result.images, 3);
      const records = (await readResultsFile<FaithfulnessImageRecord>(`${dir}/jobs/${id}.jsonl`)).records;
      assert.equal(records.length, 3);
      const mean = (f: (r: FaithfulnessImageRecord) => number) => records.reduce((a, r) => a + f(r), 0) / 3;
      for (const label of ["grad-cam@layer4", "rise@input"]) {
        const s = result.summary[label];
        near(s.deletion.auc, mean((r) => r.measures[label].deletion!.auc), 1e-12, `${label} deletion`);
        near(s.insertion.auc, mean((r) => r.measures[label].insertion!.auc), 1e-12, `${label} insertion`);
        near(s.road.combined, mean((r) => roadCombined(r.measures[label].road!)), 1e-12, `${label} road`);
        assert.equal(s.deletion.curve.length, 224 / 32 + 1);
        const shares = records.flatMap((r) => r.measures[label].energy!.map(([, v]) => v));
        near(s.energy.mean, shares.reduce((a, b) => a + b, 0) / shares.length, 1e-12, `${label} energy`);
        // the last progress event carries the final running numbers
        near(progress.at(-1)!.summary[label].deletion, s.deletion.auc, 1e-12, `${label} running deletion`);
      }
      // the file's header holds the options with their defaults filled in
      const header = (await readResultsFile(`${dir}/jobs/${id}.jsonl`)).config;
      assert.deepEqual(header.road, { fractions: [0.5], noise: 0.01, seed: 0 });
      assert.equal(header.step, 224 * 32);
      assert.deepEqual(header.rise, { masks: 8 }, "riseMasks is RISE's masks");
    });

    await t.step(
      "a pointing job takes method options; an input-only method points at the input only",
      async () => {
        const res = await postEvaluation(server.base, {
          model: "resnet50_synthetic",
          methods: ["rise", "gradient"],
          layers: "paper",
          limit: 2,
          rise: { masks: 6 },
          noise: { kind: "smoothgrad", samples: 2 },
        });
        assert.equal(res.status, 202, await res.clone().text());
        const { id, events } = await res.json();
        const all = await readEvents(`${server.base}${events}`);
        assert.equal(all.at(-1)!.event, "done", JSON.stringify(all.at(-1)));
        const job = await (await fetch(`${server.base}/v1/evaluations/${id}`)).json();
        // each option with its defaults filled in, kept in the job's spec and its results file's header
        const rise = { masks: 6, cells: 7, p: 0.5, seed: 0, batch: 32 };
        const noise = { kind: "smoothgrad", samples: 2, sigma: 0.15, seed: 0, batch: 16 };
        assert.deepEqual([job.spec.rise, job.spec.noise], [rise, noise]);
        const header = (await readResultsFile(`${dir}/jobs/${id}.jsonl`)).config;
        const stored = header.spec as Record<string, unknown>;
        assert.deepEqual([stored.rise, stored.noise], [rise, noise]);
        const layers = resolveLayers("paper", manifest.arch, manifest.probeLayers);
        assert.deepEqual(Object.keys(job.result.tallies), [
          "rise@input",
          ...layers.map((l) => `gradient@${l === "" ? "input" : l}`),
        ]);
        assert.equal(job.result.images + job.result.problems.length, 2);
        assert.deepEqual(job.result.problems, []);
      },
    );

    await t.step(
      "options that do not fit the kind, and bad options, are refused before a job exists",
      async () => {
        const listed = async () =>
          (await (await fetch(`${server.base}/v1/evaluations`)).json()).evaluations.length;
        const before = await listed();
        const cases: [unknown, number, string, RegExp][] = [
          [
            { ...spec, combinations: [{ mode: "sum", weights: "uniform" }] },
            400,
            "bad_evaluation",
            /^combinations: layer combinations are in a pointing-game job only/,
          ],
          [{ ...spec, centre: true }, 400, "bad_evaluation", /^centre: /],
          [{ ...spec, meta: { sign: "positive" } }, 400, "bad_evaluation", /^meta: /],
          [
            { ...spec, kind: "pointing" },
            400,
            "bad_evaluation",
            /^faithfulness: these options are for kind "faithfulness"/,
          ],
          [
            { ...spec, faithfulness: { ...spec.faithfulness, extra: 1 } },
            400,
            "unknown_field",
            /faithfulness/,
          ],
          [
            { ...spec, faithfulness: { ...spec.faithfulness, road: { fractions: [1] } } },
            400,
            "invalid_request",
            /^faithfulness\.road\.fractions\[0\]: must be a number < 1, got 1$/,
          ],
          [
            { ...spec, faithfulness: { ...spec.faithfulness, metrics: ["auc"] } },
            400,
            "invalid_request",
            /^faithfulness\.metrics\[0\]: /,
          ],
          [{ ...spec, kind: "other" }, 400, "invalid_request", /kind/],
          [
            { ...spec, occlusion: { window: 9 } },
            400,
            "bad_evaluation",
            /^occlusion: applies to method occlusion, which methods does not list$/,
          ],
          [
            { ...spec, rise: { masks: 8 } },
            400,
            "bad_evaluation",
            /^faithfulness\.riseMasks: RISE's masks are also given in rise\.masks/,
          ],
          [
            { ...spec, noise: { kind: "smoothgrad", samples: 0 } },
            400,
            "invalid_request",
            /^noise\.samples: must be an integer in 1\.\.10000, got 0$/,
          ],
          [{ ...spec, noise: { kind: "smoothgrad", sample: 2 } }, 400, "unknown_field", /sample/],
          [
            {
              model: "resnet50_synthetic",
              methods: ["gradient"],
              meta: { sign: "positive" },
              noise: { kind: "vargrad" },
            },
            400,
            "bad_evaluation",
            /^noise: a noise tunnel does not combine with meta-saliency$/,
          ],
        ];
        for (const [body, status, code, message] of cases) {
          const res = await postEvaluation(server.base, body);
          const { error } = await res.json();
          assert.equal(res.status, status, JSON.stringify(error));
          assert.equal(error.code, code, JSON.stringify(error));
          assert.match(error.message, message);
        }
        assert.equal(await listed(), before, "no job was made");
      },
    );
  } finally {
    server.child.kill("SIGTERM");
    await server.child.status;
    await Deno.remove(dir, { recursive: true });
  }
});
