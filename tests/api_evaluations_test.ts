/**
 * Evaluation jobs over HTTP on a real server (wasm, one worker) and a small generated synthetic world: a job runs
 * to "done" while its Server-Sent Events stream progress; Last-Event-ID replays only what was missed; DELETE
 * cancels; a server killed mid-job and restarted resumes the job from its results file and ends with the numbers
 * of an uninterrupted run; dataset names that are not configured (or paths), unknown layers and impossible
 * combinations are refused before a job exists; DELETE of a finished job removes its files.
 */
import assert from "node:assert/strict";
import { kit, syntheticTest } from "./helpers/synthetic_gate.ts";
import { spawnServer } from "../tools/spawn_server.ts";
import { postEvaluation, readEvents, SERVER_PERMISSIONS } from "./helpers/evaluations_http.ts";

const startServer = (env: Record<string, string>) => spawnServer(env, { permissions: SERVER_PERMISSIONS });

const post = postEvaluation;

syntheticTest("evaluations: SSE progress, replay, cancel, restart-resume, refused names", async (t) => {
  const dir = await Deno.makeTempDir();
  const { generateWorld } = await kit();
  await generateWorld({ out: `${dir}/data/synthetic`, seed: 0, counts: { train: 0, val: 0, test: 8 } });
  const env = { RETRACE_DATA_DIR: `${dir}/data`, RETRACE_JOBS_DIR: `${dir}/jobs` };
  let server = await startServer(env);
  const spec = { model: "resnet50_synthetic", methods: ["grad-cam"], layers: ["layer3", "layer4"], limit: 6 };
  let reference: Record<string, unknown> = {};
  let firstId = "";
  try {
    await t.step("a job streams status, start, progress and done; GET reports the result", async () => {
      const res = await post(server.base, spec);
      assert.equal(res.status, 202);
      const { id, events } = await res.json();
      firstId = id;
      const all = await readEvents(`${server.base}${events}`);
      const types = all.map((e) => e.event);
      assert.equal(types.at(-1), "done");
      assert.equal(types.filter((x) => x === "progress").length, 6);
      assert.ok(types.includes("start"));
      assert.deepEqual(
        all.map((e) => Number(e.id)),
        all.map((e) => Number(e.id)).sort((a, b) => a - b),
        "ids increase",
      );
      const progress = all.find((e) => e.event === "progress")!.data as {
        accuracy: Record<string, unknown>;
        total: number;
      };
      assert.equal(progress.total, 6);
      assert.ok("grad-cam@layer4" in progress.accuracy);
      const job = await (await fetch(`${server.base}/v1/evaluations/${id}`)).json();
      assert.equal(job.status, "done");
      const listed = await (await fetch(`${server.base}/v1/evaluations`)).json();
      assert.deepEqual(listed.evaluations.map((e: { id: string; status: string }) => [e.id, e.status]), [[
        id,
        "done",
      ]]);
      reference = job.result.tallies;
      assert.equal(job.result.images + job.result.problems.length, 6);
      const replay = await readEvents(`${server.base}${events}`, all.at(-3)!.id);
      assert.deepEqual(
        replay.map((e) => e.id),
        all.slice(-2).map((e) => e.id),
        "Last-Event-ID replays the rest only",
      );
    });

    await t.step("DELETE cancels a running job", async () => {
      const { id, events } =
        await (await post(server.base, { ...spec, limit: undefined, methods: ["linear-approx"] })).json();
      await readEvents(`${server.base}${events}`, 0, (e) => e.event === "progress");
      const del = await fetch(`${server.base}/v1/evaluations/${id}`, { method: "DELETE" });
      assert.deepEqual(
        await del.json(),
        { id, status: "cancelled", deleted: false },
        "cancelled, not removed",
      );
      const tail = await readEvents(`${server.base}${events}`);
      assert.equal(tail.at(-1)!.event, "cancelled");
    });

    await t.step("a server killed mid-job resumes the job after restart with the same numbers", async () => {
      const { id, events } = await (await post(server.base, spec)).json();
      await readEvents(
        `${server.base}${events}`,
        0,
        (e) => e.event === "progress" && (e.data as { done: number }).done >= 2,
      );
      server.child.kill("SIGKILL");
      await server.child.status;
      server = await startServer(env);
      const after = await readEvents(`${server.base}/v1/evaluations/${id}/events`);
      assert.equal(after.at(-1)!.event, "done");
      const start = after.find((e) => e.event === "start")!.data as { done: number };
      assert.ok(start.done >= 2, `resumed after ${start.done} images`);
      const job = await (await fetch(`${server.base}/v1/evaluations/${id}`)).json();
      assert.deepEqual(job.result.tallies, reference);
    });

    await t.step(
      "a server without a synthetic world generates its test split in the background",
      async () => {
        const empty = await startServer({
          RETRACE_DATA_DIR: `${dir}/empty`,
          RETRACE_JOBS_DIR: `${dir}/jobs2`,
          RETRACE_SYNTHETIC_IMAGES: "3",
        });
        try {
          let samples: unknown[] = [];
          for (let i = 0; i < 100 && samples.length === 0; i++) {
            samples = (await (await fetch(`${empty.base}/v1/samples`)).json()).samples;
            if (samples.length === 0) await new Promise((r) => setTimeout(r, 200));
          }
          assert.equal(samples.length, 3);
          assert.equal(
            (await fetch(`${empty.base}/v1/samples/300002`)).headers.get("content-type"),
            "image/jpeg",
          );
        } finally {
          empty.child.kill("SIGTERM");
          await empty.child.status;
        }
      },
    );

    await t.step("unknown names and paths are refused with what exists", async () => {
      for (
        const [body, pattern] of [
          [{ ...spec, dataset: "/etc" }, /unknown dataset "\/etc"; this server has: synthetic/],
          [{ ...spec, dataset: "voc07" }, /unknown dataset "voc07"/],
          [{ ...spec, methods: ["magic"] }, /unknown method\(s\) "magic"/],
        ] as const
      ) {
        const res = await post(server.base, body);
        assert.equal(res.status, 400);
        assert.match((await res.json()).error.message, pattern);
      }
      const model = await post(server.base, { ...spec, model: "nope" });
      assert.equal(model.status, 404);
      assert.deepEqual((await model.json()).error, {
        code: "unknown_model",
        message: 'model: no classifier "nope"; available: resnet50_synthetic, vgg16_synthetic',
      });
      assert.equal((await fetch(`${server.base}/v1/evaluations/nope`)).status, 404);
    });

    await t.step(
      "an unknown layer or an impossible combination is refused before any job exists",
      async () => {
        const listed = async () => (await (await fetch(`${server.base}/v1/evaluations`)).json()).evaluations;
        const before = await listed();
        const files = async () =>
          (await Array.fromAsync(Deno.readDir(`${dir}/jobs`))).map((e) => e.name).sort();
        const filesBefore = await files();
        const layer = await post(server.base, { ...spec, layers: ["layer3", "layer5"] });
        assert.equal(layer.status, 400);
        const { error } = await layer.json();
        assert.equal(error.code, "unknown_layer");
        assert.match(
          error.message,
          /^layers: unknown layer\(s\) "layer5" in model "resnet50_synthetic"; valid: /,
        );
        const combination = await post(server.base, {
          ...spec,
          layers: ["input"],
          combinations: [{ mode: "product", weights: "linear" }],
        });
        assert.equal(combination.status, 400);
        assert.equal((await combination.json()).error.code, "bad_evaluation");
        assert.deepEqual(await listed(), before, "GET /v1/evaluations is unchanged");
        assert.deepEqual(await files(), filesBefore, "nothing was written");
      },
    );

    await t.step("DELETE of a finished job removes it and its files; GET is then 404", async () => {
      const files = async () =>
        (await Array.fromAsync(Deno.readDir(`${dir}/jobs`))).map((e) => e.name).filter((n) =>
          n.startsWith(firstId)
        );
      assert.deepEqual((await files()).sort(), [`${firstId}.json`, `${firstId}.jsonl`]);
      const del = await fetch(`${server.base}/v1/evaluations/${firstId}`, { method: "DELETE" });
      assert.equal(del.status, 200);
      assert.deepEqual(await del.json(), { id: firstId, status: "done", deleted: true });
      assert.deepEqual(await files(), []);
      const get = await fetch(`${server.base}/v1/evaluations/${firstId}`);
      assert.equal(get.status, 404);
      assert.equal((await get.json()).error.code, "not_found");
      const events = await fetch(`${server.base}/v1/evaluations/${firstId}/events`);
      assert.equal(events.status, 404);
      await events.body?.cancel();
    });
  } finally {
    server.child.kill("SIGTERM");
    await server.child.status;
    await Deno.remove(dir, { recursive: true });
  }
});
