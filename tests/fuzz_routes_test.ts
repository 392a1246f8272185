/**
 * Property-based fuzzing of every HTTP route with fast-check: a real server (one wasm worker, a two-image
 * synthetic world, an API key, small pixel and body limits) gets generated hostile requests — mutated valid
 * requests, random JSON, multipart forms, raw bytes with query options, damaged images and declared-size bombs,
 * weird content types, unnormalised and very long paths, wrong methods and keys — and every answer must keep
 * the rules of helpers/api_response_rules.ts (no 5xx but busy/timeout, the JSON error shape with a documented
 * code and status, no path, stack trace or whole long echo). Requests whose answer is known must get it: an
 * unknown field 400 unknown_field naming it, 1e400 400 naming the field, a declared-size bomb 413, a truncated
 * image 400 bad_image; bursts of valid requests get 200 or 503 busy, bursts of evaluations 202 up to
 * RETRACE_MAX_JOBS and 429 beyond. After each request GET /healthz must still answer; an accepted evaluation
 * is cancelled and deleted at once and must then be gone; at the end the worker's live tensors are back at
 * their baseline and no job file outlives its job. The server and its jobs folder live in a temporary folder.
 *
 * Seeded: RETRACE_FUZZ_SEED (default below) replays a run, RETRACE_FUZZ_RUNS scales the number of runs,
 * RETRACE_FUZZ_SHRINK=1 shrinks a failure to a minimal counterexample instead of stopping at the first one,
 * RETRACE_FUZZ_SURVEY=1 makes every run and lists each kind of violation once (to see all that is wrong),
 * RETRACE_FUZZ_ONLY=<words> runs only the steps whose name contains them, RETRACE_FUZZ_TRACE=1 prints each
 * request's status and time.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { kit, syntheticTest } from "./helpers/synthetic_gate.ts";
import { SERVICE_PERMISSIONS, spawnServer } from "../tools/spawn_server.ts";
import { type RawRequest, rawRequest, type RawResponse } from "./helpers/raw_http.ts";
import { ruleViolations } from "./helpers/api_response_rules.ts";
import { seedImages } from "./helpers/hostile_images.ts";
import {
  captionRequests,
  evaluationRequests,
  pathRequests,
  plainRequests,
  saliencyRequests,
} from "./helpers/fuzz_routes_requests.ts";
import { type FuzzContext, type FuzzRequest, headFits } from "./helpers/fuzz_request_parts.ts";
import {
  bombRequests,
  outOfRangeRequests,
  truncatedRequests,
  unknownFieldRequests,
  validCaption,
  validSaliency,
} from "./helpers/fuzz_expected_answers.ts";

const SEED = Number(Deno.env.get("RETRACE_FUZZ_SEED") ?? 20261704);
const SCALE = Number(Deno.env.get("RETRACE_FUZZ_RUNS") ?? 1);
const SHRINK = Deno.env.get("RETRACE_FUZZ_SHRINK") === "1";
const SURVEY = Deno.env.get("RETRACE_FUZZ_SURVEY") === "1";
const TRACE = Deno.env.get("RETRACE_FUZZ_TRACE") === "1";
const ONLY = Deno.env.get("RETRACE_FUZZ_ONLY");
const MAX_PIXELS = 100_000;
const MAX_BODY = 256 * 1024;
const TIMEOUT_MS = 30_000;
const API_KEY = "fuzz-key-7f3a";
const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** One request, shown for a failure report: what it is, its target, headers and the start of its body. */
function describe(r: FuzzRequest | RawRequest): string {
  const body = r.body ?? new Uint8Array(0);
  const preview = new TextDecoder().decode(body.subarray(0, 400)).replace(/[^\x20-\x7e]/g, "·");
  return [
    "label" in r ? `  what:    ${r.label}` : "",
    `  request: ${r.method} ${r.target.slice(0, 300)}${
      r.target.length > 300 ? `… (${r.target.length} chars)` : ""
    }`,
    `  headers: ${
      JSON.stringify(r.headers.map(([k, v]) => [k, v.length > 100 ? `${v.slice(0, 100)}…` : v]))
    }`,
    `  body:    ${body.length} bytes: ${preview}${body.length > 400 ? "…" : ""}`,
  ].filter(Boolean).join("\n");
}

function describeResponse(res: RawResponse): string {
  const text = new TextDecoder().decode(res.body.subarray(0, 400));
  return `  answer:  ${res.status} ${res.headers.get("content-type") ?? ""} ${JSON.stringify(text)}`;
}

async function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((
        _,
        reject,
      ) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

syntheticTest(
  "fuzz: every route answers hostile input by the rules, and the server stays well",
  async (t) => {
    console.log(`fuzz_routes_test: fast-check seed ${SEED} (replay with RETRACE_FUZZ_SEED=${SEED})`);
    const dir = await Deno.makeTempDir({ prefix: "retrace-fuzz-" });
    try {
      const { generateWorld } = await kit();
      await generateWorld({ out: `${dir}/data/synthetic`, seed: 0, counts: { train: 0, val: 0, test: 2 } });
      await Deno.mkdir(`${dir}/models`);
      await Deno.symlink(`${REPO}/models/resnet50_synthetic`, `${dir}/models/resnet50_synthetic`);
      await Deno.symlink(`${REPO}/tests/fixtures/caption/tiny`, `${dir}/models/tiny_captioner`);
      const logFile = `${dir}/server.log`;
      const logTail = async (lines = 40) =>
        (await Deno.readTextFile(logFile).catch(() => "")).trimEnd().split("\n").slice(-lines).join("\n");
      const { base, child } = await spawnServer({
        RETRACE_DATA_DIR: `${dir}/data`,
        RETRACE_JOBS_DIR: `${dir}/jobs`,
        RETRACE_MODELS_DIR: `${dir}/models`,
        RETRACE_API_KEY: API_KEY,
        RETRACE_MAX_PIXELS: String(MAX_PIXELS),
        RETRACE_MAX_BODY: String(MAX_BODY),
        RETRACE_TIMEOUT_MS: String(TIMEOUT_MS),
        RETRACE_QUEUE: "1",
        RETRACE_MAX_JOBS: "2",
      }, { permissions: SERVICE_PERMISSIONS, stderrFile: logFile });
      const { hostname, port } = new URL(base);
      let failures = 0;
      const secrets = [REPO, dir, Deno.realPathSync(dir), Deno.cwd()].filter((p) => p.length > 1);
      const auth: [string, string][] = [["authorization", `Bearer ${API_KEY}`]];
      const send = (r: RawRequest) => rawRequest(hostname, Number(port), r, { waitMs: TIMEOUT_MS + 30_000 });
      const json = async (r: RawRequest) => JSON.parse(new TextDecoder().decode((await send(r)).body));
      /** Live tensors of the idle workers, once every worker is idle and reports (bounded). */
      const idleTensors = async (): Promise<{ tensors: number; restarts: number }> => {
        for (let i = 0; i < 120; i++) {
          const text = new TextDecoder().decode(
            (await send({ method: "GET", target: "/metrics", headers: [] })).body,
          );
          const gauge = [...text.matchAll(/^retrace_worker_live_tensors\{worker="\d+"\} (\d+)$/gm)].map((m) =>
            +m[1]
          );
          const busy = Number(/^retrace_workers_busy (\d+)$/m.exec(text)?.[1] ?? NaN);
          const queued = Number(/^retrace_queue_depth (\d+)$/m.exec(text)?.[1] ?? NaN);
          if (gauge.length === 1 && busy === 0 && queued === 0) {
            return {
              tensors: gauge[0],
              restarts: Number(/^retrace_worker_restarts_total (\d+)$/m.exec(text)?.[1]),
            };
          }
          await new Promise((r) => setTimeout(r, 250));
        }
        throw new Error(
          "the worker did not become idle and report its live tensors within 120 scrapes of /metrics",
        );
      };
      try {
        const seeds = await seedImages();
        const samples = await within(
          "GET /v1/samples",
          30_000,
          json({ method: "GET", target: "/v1/samples", headers: auth }),
        );
        const sampleIds = (samples.samples as { id: string }[]).map((s) => s.id);
        assert.equal(sampleIds.length, 2, `the two-image world's samples: ${JSON.stringify(samples)}`);

        // one finished job, so GET / DELETE / events meet a real id too
        const created = await send({
          method: "POST",
          target: "/v1/evaluations",
          headers: [...auth, ["content-type", "application/json"]],
          body: new TextEncoder().encode(
            JSON.stringify({
              model: "resnet50_synthetic",
              methods: ["grad-cam"],
              layers: ["layer4"],
              limit: 1,
            }),
          ),
        });
        assert.equal(created.status, 202, describeResponse(created));
        const jobId = JSON.parse(new TextDecoder().decode(created.body)).id as string;
        for (let i = 0;; i++) {
          const job = await json({ method: "GET", target: `/v1/evaluations/${jobId}`, headers: auth });
          if (job.status === "done") break;
          assert.ok(
            !["failed", "cancelled"].includes(job.status),
            `the seed job ended ${job.status}: ${job.error}`,
          );
          assert.ok(i < 240, `the one-image seed job was still ${job.status} after 240 polls (60 s)`);
          await new Promise((r) => setTimeout(r, 250));
        }

        // the baseline: both models loaded by one valid request each
        const warm = async () => {
          for (const r of [validSaliency(ctx, seeds[0].bytes), validCaption(ctx, seeds[0].bytes)]) {
            const res = await send(r);
            assert.equal(res.status, 200, `${r.label}: ${describeResponse(res)}`);
          }
        };
        const ctx: FuzzContext = {
          apiKey: API_KEY,
          seeds,
          maxPixels: MAX_PIXELS,
          classifier: "resnet50_synthetic",
          captioner: "tiny_captioner",
          samples: sampleIds,
          jobIds: [jobId],
        };
        await warm();
        const baseline = await idleTensors();

        /** Sends one request (and cleans up an accepted evaluation); returns what broke the rules. */
        const exchange = async (r: FuzzRequest): Promise<string[]> => {
          let res: RawResponse;
          const start = performance.now();
          try {
            res = await send(r);
          } catch (e) {
            return [`no answer: ${(e as Error).message}`];
          }
          if (TRACE) {
            console.log(`${res.status} ${Math.round(performance.now() - start)} ms ${r.label.slice(0, 200)}`);
          }
          const out = ruleViolations(r, res, secrets, r.expect);
          if (out.length) out.push(describeResponse(res).trim());
          if (r.method === "POST" && r.target.startsWith("/v1/evaluations") && res.status === 202) {
            // cancel it at once, then delete it (the second DELETE of a finished job removes it)
            const id = encodeURIComponent(JSON.parse(new TextDecoder().decode(res.body)).id);
            for (const step of ["cancel", "delete"]) {
              const del: RawRequest = { method: "DELETE", target: `/v1/evaluations/${id}`, headers: auth };
              const answer = await send(del);
              const bad = ruleViolations(del, answer, secrets);
              if (bad.length) {
                out.push(...bad.map((v) => `${step} after 202: ${v}`), describeResponse(answer).trim());
              }
            }
            const gone = await send({ method: "GET", target: `/v1/evaluations/${id}`, headers: auth });
            if (gone.status !== 404) {
              out.push(
                `an accepted job still exists after DELETE twice (cancel, then remove): ${
                  describeResponse(gone)
                }`,
              );
            }
          }
          try {
            const health = await send({ method: "GET", target: "/healthz", headers: [] });
            if (health.status !== 200) out.push(`GET /healthz answered ${health.status} afterwards`);
          } catch (e) {
            out.push(`GET /healthz got no answer afterwards: ${(e as Error).message}`);
          }
          return out;
        };

        /**
         * Runs a property over `arbitrary`; a failure names the seed, the replay path and the request. With
         * RETRACE_FUZZ_SURVEY=1 every run is made and each kind of violation is listed once with its first request.
         */
        const fuzz = async (name: string, arbitrary: fc.Arbitrary<FuzzRequest>, runs: number) => {
          if (ONLY !== undefined && !name.includes(ONLY)) return;
          const passed = await t.step(name, async () => {
            let last: { request: FuzzRequest; violations: string[] } | null = null;
            const survey = new Map<string, { count: number; request: FuzzRequest; violations: string[] }>();
            const details = await fc.check(
              fc.asyncProperty(arbitrary.filter(headFits), async (r) => {
                const violations = await exchange(r);
                if (violations.length && SURVEY) {
                  const kind = violations[0].replace(/\([^)]*\)/g, "(…)").replace(/"[^"]*"/g, '"…"')
                    .replace(/\d+/g, "N").slice(0, 100);
                  const seen = survey.get(kind);
                  if (seen) seen.count++;
                  else survey.set(kind, { count: 1, request: r, violations });
                  return true;
                }
                if (violations.length) {
                  last = { request: r, violations };
                  return false;
                }
                return true;
              }),
              {
                seed: SEED,
                numRuns: Math.max(1, Math.round(runs * SCALE)),
                endOnFailure: !SHRINK,
                path: Deno.env.get("RETRACE_FUZZ_PATH"),
              },
            );
            if (survey.size) {
              assert.fail(
                `${name}: ${survey.size} kinds of violation (seed ${SEED})\n` +
                  [...survey.values()].map(({ count, request, violations }) =>
                    `${count}x\n${describe(request)}\n${violations.map((v) => `  - ${v}`).join("\n")}`
                  ).join("\n\n"),
              );
            }
            if (details.failed) {
              const failure = last as { request: FuzzRequest; violations: string[] } | null;
              const request = (details.counterexample?.[0] as FuzzRequest | undefined) ?? failure?.request;
              assert.fail(
                `${name}: failed after ${details.numRuns} runs (seed ${SEED}, path ${details.counterexamplePath}` +
                  `${
                    SHRINK ? `, shrunk ${details.numShrinks} times` : "; RETRACE_FUZZ_SHRINK=1 to shrink"
                  })\n` +
                  (request ? describe(request) + "\n" : "") +
                  (failure?.violations ?? [String(details.errorInstance)]).map((v) => `  - ${v}`).join("\n"),
              );
            }
          });
          if (!passed) failures++;
        };

        await fuzz("GET routes, wrong methods and sample ids", plainRequests(ctx), 200);
        await fuzz("unnormalised and very long paths", pathRequests(ctx), 120);
        await fuzz("POST /v1/saliency: JSON, multipart and raw bytes", saliencyRequests(ctx), 400);
        await fuzz("POST /v1/caption: JSON, multipart and raw bytes", captionRequests(ctx), 250);
        await fuzz("evaluations: POST, GET, DELETE and events", evaluationRequests(ctx), 250);
        await fuzz("an unknown field is 400 unknown_field naming it", unknownFieldRequests(ctx), 100);
        await fuzz(
          "a number out of range is 400 invalid_request naming the field",
          outOfRangeRequests(ctx),
          40,
        );
        await fuzz("a header declaring too many pixels is 413 image_too_large", bombRequests(ctx), 60);
        await fuzz("an image cut short is 400 bad_image", truncatedRequests(ctx), 60);

        await t.step("bursts of valid requests: each 200 or 503 busy with Retry-After", async () => {
          const details = await fc.check(
            fc.asyncProperty(
              fc.array(fc.tuple(fc.boolean(), fc.constantFrom(...seeds)), { minLength: 2, maxLength: 5 }),
              async (burst) => {
                const requests = burst.map(([caption, s]) =>
                  caption ? validCaption(ctx, s.bytes) : validSaliency(ctx, s.bytes)
                );
                const answers = await Promise.all(requests.map(send));
                const bad = answers.flatMap((res, i) =>
                  ruleViolations(requests[i], res, secrets).concat(
                    res.status === 200 || res.status === 503
                      ? []
                      : [`status ${res.status}: ${describeResponse(res)}`],
                  )
                );
                assert.deepEqual(bad, [], `a burst of ${burst.length}`);
              },
            ),
            { seed: SEED, numRuns: Math.max(1, Math.round(10 * SCALE)), endOnFailure: true },
          );
          assert.ok(!details.failed, `seed ${SEED}: ${details.errorInstance}`);
        });

        await t.step(
          "bursts of evaluations: RETRACE_MAX_JOBS=2 accepted, the rest 429 with Retry-After",
          async () => {
            const spec = JSON.stringify({
              model: "resnet50_synthetic",
              methods: ["grad-cam"],
              layers: ["layer4"],
              limit: 1,
            });
            const post: RawRequest = {
              method: "POST",
              target: "/v1/evaluations",
              headers: [...auth, ["content-type", "application/json"]],
              body: new TextEncoder().encode(spec),
            };
            const details = await fc.check(
              fc.asyncProperty(fc.integer({ min: 3, max: 5 }), async (n) => {
                const answers = await Promise.all(Array.from({ length: n }, () => send(post)));
                const accepted = answers.filter((a) => a.status === 202);
                for (const a of accepted) {
                  const id = JSON.parse(new TextDecoder().decode(a.body)).id;
                  for (let i = 0; i < 2; i++) {
                    await send({ method: "DELETE", target: `/v1/evaluations/${id}`, headers: auth });
                  }
                }
                const bad = answers.flatMap((res) => ruleViolations(post, res, secrets));
                assert.deepEqual(bad, [], `a burst of ${n} evaluations`);
                assert.deepEqual(
                  answers.map((a) => a.status).sort(),
                  [...Array(2).fill(202), ...Array(n - 2).fill(429)],
                  `a burst of ${n} evaluations with RETRACE_MAX_JOBS=2 and none left before it`,
                );
              }),
              { seed: SEED, numRuns: Math.max(1, Math.round(3 * SCALE)), endOnFailure: true },
            );
            assert.ok(!details.failed, `seed ${SEED}: ${details.errorInstance}`);
          },
        );

        await t.step("the worker's live tensors are back at their baseline", async () => {
          await warm(); // a worker replaced meanwhile loads the same models again
          const after = await idleTensors();
          console.log(
            `fuzz_routes_test: live tensors ${baseline.tensors} before, ${after.tensors} after; ` +
              `worker restarts ${after.restarts - baseline.restarts}`,
          );
          assert.equal(
            after.tensors,
            baseline.tensors,
            "live tensors after the fuzzing vs the warm baseline",
          );
        });

        await t.step("every file in the jobs folder belongs to a job GET /v1/evaluations lists", async () => {
          const listed = await json({ method: "GET", target: "/v1/evaluations", headers: auth });
          const ids = new Set((listed.evaluations as { id: string }[]).map((e) => e.id));
          const orphans: string[] = [];
          for await (const e of Deno.readDir(`${dir}/jobs`)) {
            if (![...ids].some((id) => e.name.startsWith(id))) orphans.push(e.name);
          }
          assert.deepEqual(
            orphans,
            [],
            `job files left by deleted jobs (jobs listed: ${[...ids].join(", ")})`,
          );
        });
      } finally {
        if (failures) console.log(`fuzz_routes_test: the server's stderr, last lines:\n${await logTail()}`);
        child.kill("SIGTERM");
        await child.status;
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    assert.ok(
      !(await Deno.stat(dir).then(() => true, () => false)),
      `the fuzz's temporary folder ${dir} is gone`,
    );
  },
);
