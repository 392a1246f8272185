/**
 * The local evaluation job store behind the HTTP routes, in process: the shipped model manifests with the real
 * spec checks (lib/service/resolve_evaluation.ts) and a held stand-in worker (tests/helpers/
 * held_evaluation_worker.ts) whose jobs end only when the test says so. Covers: every spec refusal happens before
 * a job exists; RETRACE_MAX_JOBS refuses with 429 and Retry-After until a job finishes or is deleted; DELETE of a
 * finished job removes its files; retention on a driven clock removes old finished jobs only; job ids from disk
 * that are not UUIDs are never served.
 */
import assert from "node:assert/strict";
import { scanModels } from "../lib/models/registry.ts";
import { resolveEvaluation } from "../lib/service/resolve_evaluation.ts";
import { evaluationRoutes } from "../routes/evaluations.ts";
import { EvaluationJobs, type EvaluationJobsOptions, type JobRecord } from "../workers/evaluations.ts";
import { FINAL_STATUSES, type JobStatus } from "../workers/evaluations_api.ts";
import { finishHeldJob } from "./helpers/held_evaluation_worker.ts";

const HELD = new URL("./helpers/held_evaluation_worker.ts", import.meta.url);
const models = await scanModels(new URL("../models", import.meta.url).pathname);
const VALID = { model: "resnet50_synthetic", layers: ["layer3", "layer4"], limit: 2 };
const DAY = 86_400_000;

function store(dir: string, options: Partial<EvaluationJobsOptions> = {}): EvaluationJobs {
  return new EvaluationJobs({
    dir,
    backend: "cpu",
    workerUrl: HELD,
    // no synthetic world under this data dir: it would be generated on first use, so only its name is checked
    resolve: (spec) => resolveEvaluation(spec, models, { dataDir: `${dir}/no-data`, dataRoots: [] }),
    sweepEveryMs: 0,
    ...options,
  });
}

function http(jobs: EvaluationJobs) {
  const app = evaluationRoutes(jobs);
  return {
    post: (body: unknown) =>
      app.request("/v1/evaluations", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    get: (id: string) => app.request(`/v1/evaluations/${id}`),
    del: (id: string) => app.request(`/v1/evaluations/${id}`, { method: "DELETE" }),
    list: async () => ((await (await app.request("/v1/evaluations")).json()).evaluations as {
      id: string;
      status: string;
    }[]),
  };
}

/** Reads the job's events until one of `types` arrives; fails, naming what it waited for, after 30 s. */
async function untilEvent(jobs: EvaluationJobs, id: string, types: readonly string[]): Promise<string> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 30_000);
  try {
    for await (const e of jobs.events(id, undefined, abort.signal)) if (types.includes(e.type)) return e.type;
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`job ${id}: no ${types.join("/")} event within 30 s`);
}

const filesOf = async (dir: string, id: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).filter((n) => n.startsWith(id)).sort();

Deno.test("evaluation specs are checked in full before a job exists", async () => {
  const dir = await Deno.makeTempDir();
  const jobs = store(dir);
  const api = http(jobs);
  try {
    const cases: [unknown, number, string, RegExp][] = [
      [
        { ...VALID, layers: ["layer3", "layer9"] },
        400,
        "unknown_layer",
        /^layers: unknown layer\(s\) "layer9" in model "resnet50_synthetic"; valid: "paper", input, conv1, .*layer4/,
      ],
      [
        { ...VALID, layers: ["input"], combinations: [{ mode: "sum", weights: "linear" }] },
        400,
        "bad_evaluation",
        /^combinations: a combination needs at least one non-input layer/,
      ],
      [
        { ...VALID, layers: ["layer4.0.conv1"], combinations: [{ mode: "product", weights: "accuracy" }] },
        400,
        "bad_evaluation",
        /^combinations\[0\] \(product\/accuracy\) cannot combine layers layer4\.0\.conv1: no accuracy weight for layer "layer4\.0\.conv1"/,
      ],
      [
        { ...VALID, combinations: [{ mode: "sum", weights: "linear" }, { mode: "sum", weights: "linear" }] },
        400,
        "bad_evaluation",
        /^combinations: sum\/linear is listed twice/,
      ],
      [
        { ...VALID, methods: ["normgrad-exact"], layers: "paper" },
        400,
        "unknown_layer",
        /^layers: normgrad-exact explain\(s\) at conv modules only; "input", "layer1", .* are not conv modules/,
      ],
      [
        { ...VALID, layers: ["layer3", "layer3"] },
        400,
        "bad_evaluation",
        /^layers: "layer3" is listed twice/,
      ],
      [{ ...VALID, layers: ["", "input"] }, 400, "bad_evaluation", /^layers: "input" is listed twice/],
      [
        { ...VALID, methods: ["magic"] },
        400,
        "unknown_method",
        /^methods: unknown method\(s\) "magic"; valid: /,
      ],
      [{ ...VALID, methods: ["gradient", "gradient"] }, 400, "bad_evaluation", /"gradient" is listed twice/],
      [{ ...VALID, model: "nope" }, 404, "unknown_model", /^model: no classifier "nope"; available: /],
      [
        { ...VALID, model: "captioner_synthetic" },
        404,
        "unknown_model",
        /no classifier "captioner_synthetic"/,
      ],
      [
        { ...VALID, dataset: "voc07" },
        400,
        "bad_evaluation",
        /^unknown dataset "voc07"; this server has: synthetic$/,
      ],
      [
        { ...VALID, split: "train" },
        400,
        "bad_evaluation",
        /^split: dataset "synthetic" has no split "train"; available: test$/,
      ],
    ];
    for (const [body, status, code, message] of cases) {
      const res = await api.post(body);
      const { error } = await res.json();
      assert.equal(res.status, status, JSON.stringify(body));
      assert.equal(error.code, code, JSON.stringify(body));
      assert.match(error.message, message);
    }
    // the schema: unknown fields (top level and nested) and out-of-range numbers
    for (
      const [body, field] of [
        [{ ...VALID, layer: ["layer4"] }, "layer"],
        [{ ...VALID, combinations: [{ mode: "sum", weights: "linear", extra: 1 }] }, "extra"],
        [{ ...VALID, meta: { sign: "positive", eta: 0.1, steps: 2 } }, "steps"],
        [{ ...VALID, limit: 0 }, "limit"],
      ] as const
    ) {
      const res = await api.post(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match((await res.json()).error.message, new RegExp(`(^|[^a-z])${field}([^a-z]|$)`));
    }
    assert.deepEqual(await api.list(), [], "no job was created");
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), [], "nothing was written");
    // the control: a spec that passes every check (accuracy weights exist for layer3 and layer4) is accepted
    const ok = await api.post({ ...VALID, combinations: [{ mode: "product", weights: "accuracy" }] });
    assert.equal(ok.status, 202);
  } finally {
    await jobs.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RETRACE_MAX_JOBS: 429 with Retry-After beyond the cap, accepted again once a job finishes or is deleted", async () => {
  const dir = await Deno.makeTempDir();
  const jobs = store(dir, { maxJobs: 3 });
  const api = http(jobs);
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await api.post(VALID);
      assert.equal(res.status, 202, `job ${i + 1} of 3`);
      ids.push((await res.json()).id);
    }
    const refused = await api.post(VALID);
    assert.equal(refused.status, 429);
    assert.equal((await refused.json()).error.code, "too_many_jobs");
    const retry = refused.headers.get("retry-after") ?? "";
    assert.match(retry, /^[1-9][0-9]*$/, `Retry-After ${JSON.stringify(retry)}`);
    assert.equal((await api.list()).length, 3, "the refused job does not exist");

    // the first job (running) finishes: one slot frees
    await untilEvent(jobs, ids[0], ["start"]);
    finishHeldJob(ids[0]);
    assert.equal(await untilEvent(jobs, ids[0], FINAL_STATUSES), "done");
    const fourth = await api.post(VALID);
    assert.equal(fourth.status, 202, "accepted after a job finished");
    assert.equal((await api.post(VALID)).status, 429, "full again");

    // a queued job is deleted (= cancelled): one slot frees
    const del = await api.del(ids[2]);
    assert.deepEqual(await del.json(), { id: ids[2], status: "cancelled", deleted: false });
    assert.equal((await api.post(VALID)).status, 202, "accepted after a job was deleted");
    assert.equal((await api.post(VALID)).status, 429, "full again");
  } finally {
    await jobs.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DELETE cancels an unfinished job and removes a finished one with its files; ids are UUIDs", async () => {
  const root = await Deno.makeTempDir();
  const dir = `${root}/jobs`;
  await Deno.mkdir(dir);
  // a record on disk whose id is a path: never served, never a path to delete
  await Deno.writeTextFile(`${root}/outside.json`, "keep");
  const evil = { id: "../outside", status: "done", updatedAt: new Date().toISOString() };
  await Deno.writeTextFile(`${dir}/evil.json`, JSON.stringify(evil));
  const jobs = store(dir);
  await jobs.restore();
  const api = http(jobs);
  try {
    assert.deepEqual(await api.list(), [], "a record whose id is not a UUID is not a job");
    assert.equal((await api.del("..%2Foutside")).status, 404);
    assert.equal((await api.get("..%2Foutside")).status, 404);
    assert.equal(await Deno.readTextFile(`${root}/outside.json`), "keep");

    const { id } = await (await api.post(VALID)).json();
    await untilEvent(jobs, id, ["start"]);
    finishHeldJob(id);
    assert.equal(await untilEvent(jobs, id, FINAL_STATUSES), "done");
    assert.deepEqual(
      await filesOf(dir, id),
      [`${id}.json`, `${id}.jsonl`],
      "the record and the results file",
    );

    const del = await api.del(id);
    assert.equal(del.status, 200);
    assert.deepEqual(await del.json(), { id, status: "done", deleted: true });
    assert.deepEqual(await filesOf(dir, id), [], "its files are gone");
    assert.equal((await api.get(id)).status, 404);
    assert.equal((await api.del(id)).status, 404);
    assert.deepEqual(await api.list(), []);

    // running: the first DELETE cancels (the job stays, cancelled), the second removes it
    const second = (await (await api.post(VALID)).json()).id as string;
    await untilEvent(jobs, second, ["start"]);
    assert.deepEqual(await (await api.del(second)).json(), {
      id: second,
      status: "cancelled",
      deleted: false,
    });
    assert.equal((await (await api.get(second)).json()).status, "cancelled");
    assert.deepEqual(await (await api.del(second)).json(), {
      id: second,
      status: "cancelled",
      deleted: true,
    });
    assert.deepEqual(await filesOf(dir, second), []);
    assert.equal((await api.get(second)).status, 404);
  } finally {
    await jobs.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("retention: finished jobs older than RETRACE_JOB_RETAIN_S are removed at restore and by sweep, on a driven clock", async () => {
  const dir = await Deno.makeTempDir();
  let now = Date.parse("2026-03-01T00:00:00Z");
  const record = (status: JobStatus, age: number): JobRecord => {
    const at = new Date(now - age).toISOString();
    return {
      id: crypto.randomUUID(),
      spec: { ...VALID, dataset: "synthetic", methods: ["grad-cam"], combinations: [], centre: false },
      status,
      createdAt: at,
      updatedAt: at,
      progress: null,
      result: null,
      error: status === "failed" ? "it failed" : null,
      lastSeq: 3,
    };
  };
  const oldDone = record("done", 8 * DAY);
  const oldFailed = record("failed", 7 * DAY + 1000);
  const oldCancelled = record("cancelled", 30 * DAY);
  const oldRunning = record("running", 30 * DAY); // a job interrupted by a restart a month ago
  const youngDone = record("done", 6 * DAY);
  for (const r of [oldDone, oldFailed, oldCancelled, oldRunning, youngDone]) {
    await Deno.writeTextFile(`${dir}/${r.id}.json`, JSON.stringify(r));
    await Deno.writeTextFile(`${dir}/${r.id}.jsonl`, "{}\n");
  }
  const jobs = store(dir, { now: () => now }); // default retention: 7 days
  try {
    await jobs.restore();
    const ids = async () => (await jobs.list()).map((r) => r.id).sort();
    assert.deepEqual(
      await ids(),
      [oldRunning.id, youngDone.id].sort(),
      "restore removed the old finished jobs",
    );
    for (const r of [oldDone, oldFailed, oldCancelled]) assert.deepEqual(await filesOf(dir, r.id), []);
    assert.equal((await filesOf(dir, youngDone.id)).length, 2);

    now += 1 * DAY; // youngDone is now 7 days old: kept (older than, not as old as)
    assert.deepEqual(await jobs.sweep(), []);
    now += 1000;
    assert.deepEqual(await jobs.sweep(), [youngDone.id]);
    assert.deepEqual(await filesOf(dir, youngDone.id), []);
    assert.deepEqual(await ids(), [oldRunning.id], "the unfinished job stays however old");

    await untilEvent(jobs, oldRunning.id, ["start"]); // resumed after the restore
    finishHeldJob(oldRunning.id);
    assert.equal(await untilEvent(jobs, oldRunning.id, FINAL_STATUSES), "done");
    now += 7 * DAY;
    assert.deepEqual(await jobs.sweep(), [], "finished just now (7 days ago): kept");
    now += 1;
    assert.deepEqual(await jobs.sweep(), [oldRunning.id]);
    assert.deepEqual(await ids(), []);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  } finally {
    await jobs.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RETRACE_MAX_JOBS and RETRACE_JOB_RETAIN_S are read and checked", async () => {
  const { serverConfig, ConfigError } = await import("../lib/server_config.ts");
  const env = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });
  const defaults = serverConfig(env({}));
  assert.equal(defaults.maxJobs, 16);
  assert.equal(defaults.jobRetainSeconds, 7 * 86_400);
  const set = serverConfig(env({ RETRACE_MAX_JOBS: "2", RETRACE_JOB_RETAIN_S: "60" }));
  assert.deepEqual([set.maxJobs, set.jobRetainSeconds, set.redis.retainSeconds], [2, 60, 60]);
  assert.throws(() => serverConfig(env({ RETRACE_MAX_JOBS: "0" })), ConfigError);
  assert.throws(() => serverConfig(env({ RETRACE_MAX_JOBS: "many" })), /RETRACE_MAX_JOBS must be an integer/);
});
