/**
 * The web page in a real browser (playwright-core driving Debian's chromium; .ci/run installs it): the page loads
 * the models and methods; an uploaded image is explained with two methods into overlay canvases and captioned;
 * picking a sample then clears what the old image showed (file box, maps, caption); a pointing run started from
 * the page shows live progress until it is done, its accuracy panel saying what each mean averages (the final
 * one TorchRay's mean over all classes) and drawing a class with no instance as "–", not 0%; method options
 * (noise tunnel, integrated-gradients steps) go with the saliency request, the noise tunnel with the evaluation
 * run too (the job's spec holds it), and a faithfulness run shows the finished
 * job's numbers in its table and its mean curves as plots; no request the
 * page makes fails (the icon, which the browser fetches on its own, is tests/ui_routes_test.ts's). On a server
 * that wants an API key, the "unauthorized" error goes once the key is typed. Ignored, with the reason in its
 * name, where /usr/bin/chromium is missing.
 */
import assert from "node:assert/strict";
import { CANVAS_PERMITTED, kit } from "./helpers/synthetic_gate.ts";
import { spawnServer as startServer } from "../tools/spawn_server.ts";

const FLOW = new URL("./helpers/ui_flow.ts", import.meta.url).pathname;
const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** What tests/helpers/ui_flow.ts reports for each scenario. */
interface Seen {
  pageErrors: string[];
  failedRequests: string[];
}
interface ExplainSeen extends Seen {
  model: string;
  canvases: number;
  error: string;
  firstCaption: string;
  captionWords: number;
  fileBeforeSample: string;
  afterSample: Record<string, unknown>;
  jobId: string;
  evalText: string;
  bars: number;
  barsTitle: string;
  rows: { name: string; text: string; unseen: boolean; barWidth: number }[];
  titles: string[];
}
interface KeySeen extends Seen {
  errorBefore: string;
  models: number;
  errorAfter: string;
}

/** Runs one scenario of tests/helpers/ui_flow.ts against `base`; returns what the page showed. */
async function flow<T extends Seen>(scenario: string, base: string, arg: string): Promise<T> {
  // playwright-core reads /proc paths that Deno grants only under --allow-all, so it runs in its own process.
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FLOW, scenario, base, arg],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

/** A server over a fresh 4-image synthetic world; `use` gets its base URL and the world's folder. */
async function withServer(env: Record<string, string>, use: (base: string, voc: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  const { generateWorld } = await kit();
  await generateWorld({ out: `${dir}/data/synthetic`, seed: 0, counts: { train: 0, val: 0, test: 4 } });
  const { base, child } = await startServer({
    RETRACE_DATA_DIR: `${dir}/data`,
    RETRACE_JOBS_DIR: `${dir}/jobs`,
    ...env,
  });
  try {
    await use(base, `${dir}/data/synthetic/VOCdevkit/VOC2007`);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

const browserTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({
    name: HAVE_CHROMIUM ? name : `${name} [ignored: no /usr/bin/chromium]`,
    ignore: !HAVE_CHROMIUM || !CANVAS_PERMITTED,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });

browserTest("web page: explain and caption an upload, pick a sample, watch a pointing run", async () => {
  await withServer({}, async (base, voc) => {
    const seen = await flow<ExplainSeen>("explain", base, `${voc}/JPEGImages/300001.jpg`);
    assert.equal(seen.model, "resnet50_synthetic");
    assert.equal(seen.canvases, 4);
    assert.equal(seen.error, "");
    assert.match(seen.firstCaption, /grad-cam · layer3 · /);
    assert.ok(seen.captionWords > 0, "the upload was captioned");
    assert.match(seen.fileBeforeSample, /300001\.jpg$/);
    // the sample replaced the upload: nothing of the old image is left
    assert.deepEqual(seen.afterSample, { file: "", preds: "", maps: 0, words: 0, wordsText: "", capMaps: 0 });

    assert.match(seen.evalText, /^3\/3 images.* done/);
    assert.equal(seen.bars, 12, "one row per class");
    // the truth: the finished job's own result
    const job = await (await fetch(`${base}/v1/evaluations/${seen.jobId}`)).json();
    const result = job.result;
    const [best, acc] = Object.entries(result.accuracy as Record<string, { all: number }>)
      .sort((a, b) => b[1].all - a[1].all)[0];
    const { hits, misses } = result.tallies[best].all as { hits: number[]; misses: number[] };
    const instances = hits.map((h, k) => h + misses[k]);
    const seenClasses = instances.filter((n) => n > 0).length;
    assert.ok(seenClasses > 0 && seenClasses < 12, `3 images show some of the 12 classes (${seenClasses})`);
    const finalHead = `per-class accuracy, ${best}: ${(100 * acc.all).toFixed(1)}% mean over all 12 classes`;
    assert.ok(seen.barsTitle.startsWith(finalHead), `final title ${JSON.stringify(seen.barsTitle)}`);
    assert.match(
      seen.barsTitle,
      new RegExp(`counting the ${12 - seenClasses} of 12 classes with no instance as 0`),
    );
    const perClass = result.perClass[best].all as number[];
    seen.rows.forEach((row, k) => {
      if (instances[k] === 0) {
        assert.deepEqual([row.text, row.unseen, row.barWidth], ["–", true, 0], `class ${k} had no instance`);
      } else {
        assert.equal(row.text, `${(100 * perClass[k]).toFixed(0)}%`, `class ${k}`);
        assert.equal(row.unseen, false);
        assert.equal(row.barWidth > 0, perClass[k] > 0, `class ${k}: a bar only for a hit`);
      }
    });
    // on the way: every running title says what its mean averages
    const running = seen.titles.filter((t) => t !== seen.barsTitle);
    assert.ok(running.length > 0, "the panel showed the running accuracy before the end");
    for (const t of running) {
      assert.match(
        t,
        /^per-class accuracy, \S+: (\d+\.\d% mean over \d+ of 12 classes seen so far|no instance yet)$/,
      );
    }
    // after the last image, the classes seen so far are the run's
    assert.match(
      running.at(-1)!,
      new RegExp(`^per-class accuracy, ${best}: \\d+\\.\\d% mean over ${seenClasses} of 12 `),
    );
    assert.deepEqual(seen.pageErrors, []);
    assert.deepEqual(seen.failedRequests, [], "requests of the page that failed");
  });
});

interface FaithfulnessSeen extends Seen {
  saliencyBody: Record<string, unknown>;
  evaluationBody: Record<string, unknown>;
  jobId: string;
  evalText: string;
  table: string[][];
  plots: number;
}

browserTest(
  "web page: method options travel with the request; a faithfulness run shows its table and plots",
  async () => {
    await withServer({}, async (base) => {
      const seen = await flow<FaithfulnessSeen>("faithfulness", base, "-");
      assert.equal(seen.saliencyBody.method, "integrated-gradients");
      assert.deepEqual(seen.saliencyBody.noise, { kind: "smoothgrad", samples: 2, sigma: 0.15 });
      assert.deepEqual(seen.saliencyBody.integratedGradients, { steps: 4 });
      assert.deepEqual(seen.evaluationBody, {
        kind: "faithfulness",
        model: "resnet50_synthetic",
        methods: ["grad-cam"],
        layers: ["layer4"],
        limit: 2,
        faithfulness: { metrics: ["deletion", "insertion", "road"] },
        noise: { kind: "smoothgrad", samples: 2, sigma: 0.15 },
      });
      assert.match(seen.evalText, /^2\/2 images.* done/);
      // the table is the finished job's summary; the job ran the noise tunnel (SmoothGrad's other defaults)
      const job = await (await fetch(`${base}/v1/evaluations/${seen.jobId}`)).json();
      assert.deepEqual(job.spec.noise, { kind: "smoothgrad", samples: 2, sigma: 0.15, seed: 0, batch: 16 });
      const s = job.result.summary["grad-cam@layer4"];
      assert.deepEqual(seen.table, [
        [
          "method",
          "deletion AUC (lower is better)",
          "insertion AUC (higher is better)",
          "ROAD combined (higher is better)",
        ],
        [
          "grad-cam@layer4",
          s.deletion.auc.toFixed(3),
          s.insertion.auc.toFixed(3),
          s.road.combined.toFixed(3),
        ],
      ]);
      assert.equal(seen.plots, 4, "deletion, insertion, ROAD MoRF and LeRF");
      assert.deepEqual(seen.pageErrors, []);
      assert.deepEqual(seen.failedRequests, [], "requests of the page that failed");
    });
  },
);

browserTest("web page: an unauthorized error goes once the API key is typed", async () => {
  await withServer({ RETRACE_API_KEY: "sesame-key" }, async (base) => {
    const seen = await flow<KeySeen>("key", base, "sesame-key");
    assert.match(seen.errorBefore, /^unauthorized: /);
    assert.equal(seen.models, 2, "the classifiers loaded with the key");
    assert.equal(seen.errorAfter, "", "the error shown before the key");
    assert.deepEqual(seen.pageErrors, []);
    for (const f of seen.failedRequests) assert.match(f, /^401 \/v1\//, "only the keyless requests failed");
  });
});
