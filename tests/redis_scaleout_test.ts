/**
 * Distributed evaluations on a real redis-server with three retrace instances on loopback (hosts a, b, c) and a
 * small generated synthetic world. The single-host numbers come from an instance without Redis. Checked: a job
 * spread over the hosts ends with exactly the single-host tallies, its SSE stream read on another instance; a
 * host lacking a dataset refuses with its reason while the others run the job, and a dataset no host has fails
 * with every host's reason; a cancel sent to one host stops every host; a stalled host (SIGSTOP) loses its shard
 * to another after the visibility timeout and its late result is not counted; during a Redis outage new jobs get
 * 503, reads show the last state seen marked stale (or a plain 503), /healthz says "degraded" (queue
 * unreachable), and the running one resumes when Redis returns after more than the shard timeout without any
 * shard changing hands; a host killed with SIGKILL mid-run loses nothing. Every wait
 * is on an event (a stream entry, a progress record, a frozen host's data landing in Redis, a host's slot free
 * again: tests/helpers/redis_observe.ts), bounded only by a safety limit that catches hangs, so a busy machine
 * makes the test slower, never wrong.
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import type { PointingResult } from "../lib/eval/pointing_run.ts";
import type { FaithfulnessResult } from "../lib/eval/faithfulness_run.ts";
import { CANVAS_PERMITTED, kit } from "./helpers/synthetic_gate.ts";
import { postEvaluation, readEvents, SERVER_PERMISSIONS, type Sse } from "./helpers/evaluations_http.ts";
import { startRedis } from "../tools/redis_server.ts";
import { entryFields } from "../workers/redis/store.ts";
import { compareEntryIds } from "../workers/redis/progress_view.ts";
import { type SpawnedServer, spawnServer } from "../tools/spawn_server.ts";
import { settledWithin, waitFor } from "./helpers/wait_for.ts";
import { freezeAndSettle, slotsWaiting } from "./helpers/redis_observe.ts";

const IMAGES = 16;
/** Three passes per image (~0.2 s on the shipped ResNet50): a 2-image shard lasts long enough to be caught mid-way. */
const SPEC = {
  model: "resnet50_synthetic",
  methods: ["grad-cam", "linear-approx", "selective-normgrad"],
  layers: ["layer3", "layer4"],
  limit: IMAGES,
};
/** A faithfulness job: every metric, small settings (6 images: three shards of two). */
const FAITHFULNESS_SPEC = {
  kind: "faithfulness",
  model: "resnet50_synthetic",
  methods: ["grad-cam"],
  layers: ["layer4"],
  limit: 6,
  faithfulness: {
    metrics: ["deletion", "insertion", "confidence", "road", "energy"],
    step: 224 * 32,
    road: { fractions: [0.5] },
  },
};
/** The world has more images than SPEC uses, for a job long enough to cancel while it runs. */
const WORLD_IMAGES = 48;
/** The hosts' shard timeout (RETRACE_SHARD_TIMEOUT_MS). */
const SHARD_TIMEOUT_MS = 6000;

const post = postEvaluation;

async function job(base: string, id: string) {
  return await (await fetch(`${base}/v1/evaluations/${id}`)).json();
}

/** Until the job's SSE stream (read on `base`) ends; returns every event. */
const untilEnd = (base: string, id: string) =>
  settledWithin(`the end of job ${id}'s event stream`, readEvents(`${base}/v1/evaluations/${id}/events`));

/** Until a progress event satisfies `ok`. */
const untilProgress = (base: string, id: string, ok: (p: { done: number }) => boolean) =>
  settledWithin(
    `a progress event of job ${id}`,
    readEvents(
      `${base}/v1/evaluations/${id}/events`,
      undefined,
      (e: Sse) => e.event === "progress" && ok(e.data as { done: number }),
    ),
  );

/** Raw stream entries of a job (what each host reported). */
/** What hosts put in a job's event stream (the fields these tests read). */
interface Raw {
  id: string;
  type: string;
  data: { shard: number; host: string; done: number; total: number };
}

/** A final SSE event's data. */
interface Final {
  status: string;
  error: string | null;
  result: PointingResult;
}

async function rawEvents(redis: Redis, id: string): Promise<Raw[]> {
  const entries = await redis.xrange(`retrace:job:${id}:events`, "-", "+");
  return entries.map(([entry, f]) => ({ id: entry, type: f[1], data: JSON.parse(f[3]) }));
}

/** The hosts that stored each shard of a job (a shard-done event is appended only when its result counts). */
function storedBy(raw: Raw[]): Map<number, string[]> {
  const by = new Map<number, string[]>();
  for (const e of raw.filter((e) => e.type === "shard-done")) {
    by.set(e.data.shard, [...(by.get(e.data.shard) ?? []), e.data.host]);
  }
  return by;
}

/** Shards of job `id` that `host` was handed and has not acknowledged (the consumer group's own record). */
async function held(redis: Redis, id: string, host: string): Promise<number[]> {
  const pending = await redis.xpending("retrace:shards", "shard-runners", "-", "+", 100, host) as [string][];
  const shards: number[] = [];
  for (const [entry] of pending) {
    const [[, fields]] = await redis.xrange("retrace:shards", entry, entry);
    const f = entryFields(fields);
    if (f.job === id) shards.push(Number(f.shard));
  }
  return shards;
}

/**
 * Freezes `server` (host `host`, SIGSTOP) while it is part-way through a shard of job `id`: it holds the shard
 * in the consumer group, its last report has some but not all of the shard's images done, and no result is
 * stored for it. Returns that shard. Checked after the freeze (a frozen host can neither store nor acknowledge,
 * and what it sent just before has landed in Redis), so the shard is certainly unfinished.
 */
function freezeMidShard(
  redis: Redis,
  redisPort: number,
  id: string,
  server: SpawnedServer,
  host: string,
): Promise<number> {
  return waitFor(`${host} part-way through a shard of job ${id}`, async () => {
    const progress = await redis.hgetall(`retrace:job:${id}:progress`);
    const partial = (s: number) => {
      const p = progress[String(s)] ? JSON.parse(progress[String(s)]) : null;
      return p?.host === host && p.done >= 1 && p.done < p.total;
    };
    if (!(await held(redis, id, host)).some(partial)) return undefined;
    await freezeAndSettle(redis, server.child.pid, redisPort); // what the host had already sent lands
    const stored = await redis.hkeys(`retrace:job:${id}:results`);
    const shard = (await held(redis, id, host)).find((s) => partial(s) && !stored.includes(String(s)));
    if (shard !== undefined) return shard;
    server.child.kill("SIGCONT"); // it finished that shard just before the freeze: wait for the next one
    return undefined;
  }, { everyMs: 25 });
}

/** Until host `host`'s one shard slot waits for new shards again (whatever it ran before has ended). */
const untilSlotFree = (redis: Redis, host: string) =>
  waitFor(`host ${host}'s shard slot to wait for shards again`, async () => {
    return await slotsWaiting(redis, `retrace:${host}`) >= 1;
  });

Deno.test({
  name: CANVAS_PERMITTED
    ? "redis scale-out: three hosts, faults, one set of numbers"
    : "redis scale-out [ignored]",
  ignore: !CANVAS_PERMITTED,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const redisServer = await startRedis(); // first: without redis-server this fails at once, saying so
    const dir = await Deno.makeTempDir({ prefix: "retrace-scaleout-" });
    const redis = new Redis(redisServer.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on("error", () => {});
    const servers: SpawnedServer[] = [];
    const start = async (env: Record<string, string>) => {
      const s = await settledWithin(
        `a server (${env.RETRACE_HOST_ID ?? "local"}) to listen`,
        spawnServer({ RETRACE_DATA_DIR: `${dir}/data`, ...env }, { permissions: SERVER_PERMISSIONS }),
      );
      servers.push(s);
      return s;
    };
    try {
      await redis.connect();
      const { generateWorld } = await kit();
      await generateWorld({
        out: `${dir}/data/synthetic`,
        seed: 0,
        counts: { train: 0, val: 0, test: WORLD_IMAGES },
      });

      // the single-host numbers
      const local = await start({ RETRACE_JOBS_DIR: `${dir}/jobs-local` });
      const refId = (await (await post(local.base, SPEC)).json()).id;
      assert.equal((await untilEnd(local.base, refId)).at(-1)!.event, "done");
      const reference = (await job(local.base, refId)).result;
      assert.equal(reference.images, IMAGES);
      const faithfulnessId = (await (await post(local.base, FAITHFULNESS_SPEC)).json()).id;
      assert.equal((await untilEnd(local.base, faithfulnessId)).at(-1)!.event, "done");
      const faithfulnessReference = (await job(local.base, faithfulnessId)).result as FaithfulnessResult;
      assert.equal(faithfulnessReference.images, 6);
      local.child.kill("SIGTERM");
      await local.child.status;

      const mini = `mini=${dir}/data/synthetic/VOCdevkit/VOC2007`;
      const host = (id: string, extra: Record<string, string> = {}) =>
        start({
          RETRACE_REDIS_URL: redisServer.url,
          RETRACE_HOST_ID: id,
          RETRACE_JOBS_DIR: `${dir}/jobs-${id}`,
          RETRACE_SHARD_IMAGES: "2",
          RETRACE_SHARDS: "3",
          RETRACE_SHARD_TIMEOUT_MS: String(SHARD_TIMEOUT_MS),
          ...extra,
        });
      const [a, b, c] = await Promise.all([
        host("a", { RETRACE_DATA_ROOTS: mini }),
        host("b", { RETRACE_DATA_ROOTS: mini }),
        host("c"),
      ]);
      await t.step("a job spread over three hosts gives the single-host numbers", async () => {
        const res = await post(a.base, SPEC);
        assert.equal(res.status, 202);
        const { id } = await res.json();
        const events = await untilEnd(b.base, id); // the stream is the same on every instance
        assert.equal(events.at(-1)!.event, "done");
        const result = (events.at(-1)!.data as Final).result;
        assert.deepEqual(result.tallies, reference.tallies);
        assert.deepEqual(result.accuracy, reference.accuracy);
        assert.equal(result.images, IMAGES);
        const shardHosts = new Set(
          events.filter((e) => e.event === "shard").map((e) => (e.data as Raw["data"]).host),
        );
        assert.ok(shardHosts.size >= 2, `shards ran on ${[...shardHosts].join(", ")}`);
        const last = events.filter((e) => e.event === "progress").at(-1)!.data as {
          done: number;
          total: number;
        };
        assert.deepEqual([last.done, last.total], [IMAGES, IMAGES]);
        const view = await job(c.base, id);
        assert.equal(view.status, "done");
        assert.equal(view.shards, IMAGES / 2);
        assert.deepEqual(view.result.tallies, reference.tallies);
      });

      await t.step("a faithfulness job spread over the hosts gives the single-host numbers", async () => {
        const { id } = await (await post(a.base, FAITHFULNESS_SPEC)).json();
        const events = await untilEnd(c.base, id);
        assert.equal(events.at(-1)!.event, "done", JSON.stringify(events.at(-1)));
        const result = (await job(b.base, id)).result as FaithfulnessResult;
        assert.equal(result.images, 6);
        assert.equal(
          new Set(events.filter((e) => e.event === "shard").map((e) => (e.data as Raw["data"]).shard)).size,
          3,
        );
        // sums in another order: equal to rounding
        const want = faithfulnessReference.summary["grad-cam@layer4"];
        const got = result.summary["grad-cam@layer4"];
        for (
          const [what, x, y] of [
            ["deletion", got.deletion!.auc, want.deletion!.auc],
            ["insertion", got.insertion!.auc, want.insertion!.auc],
            ["average drop", got.confidence!.averageDrop, want.confidence!.averageDrop],
            ["road", got.road!.combined, want.road!.combined],
            ["energy", got.energy!.mean, want.energy!.mean],
          ] as const
        ) {
          assert.ok(Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(y)), `${what}: ${x} vs ${y}`);
        }
        assert.deepEqual(
          result.tallies["grad-cam@layer4"].energy!.count,
          faithfulnessReference.tallies["grad-cam@layer4"].energy!.count,
        );
        // the running numbers come from the shards' tallies added in Redis
        const running = events.filter((e) => e.event === "progress").map((e) =>
          (e.data as { summary?: Record<string, { deletion: number }> }).summary
        ).filter((x) => x !== undefined);
        assert.ok(running.length > 0, "progress events carry the running numbers");
        assert.ok(Math.abs(running.at(-1)!["grad-cam@layer4"].deletion - want.deletion!.auc) < 1e-9);
      });

      await t.step("a host lacking the dataset refuses with its reason; the others run the job", async () => {
        const { id } = await (await post(a.base, { ...SPEC, dataset: "mini", centre: true })).json();
        const events = await untilEnd(a.base, id);
        assert.equal(events.at(-1)!.event, "done");
        const view = await job(a.base, id);
        assert.deepEqual(Object.keys(view.refusals), ["c"]);
        assert.match(view.refusals.c, /unknown dataset "mini"/);
        const refused = events.filter((e) => e.event === "refused").map((e) => e.data as Raw["data"]);
        assert.deepEqual(refused.map((r) => r.host), ["c"]);
        assert.equal(view.result.images, IMAGES);
      });

      await t.step("a dataset no host has fails with every host's reason", async () => {
        const res = await post(b.base, { ...SPEC, dataset: "nowhere", centre: true });
        assert.equal(res.status, 202); // it might be on another host
        const { id } = await res.json();
        const events = await untilEnd(b.base, id);
        assert.equal(events.at(-1)!.event, "failed");
        const { error } = events.at(-1)!.data as { error: string };
        for (const h of ["a", "b", "c"]) assert.match(error, new RegExp(`${h}: unknown dataset "nowhere"`));
      });

      await t.step("a cancel sent to one host stops every host", async () => {
        const { id } = await (await post(a.base, { ...SPEC, limit: WORLD_IMAGES })).json();
        await untilProgress(a.base, id, (p) => p.done >= 1);
        const del = await fetch(`${c.base}/v1/evaluations/${id}`, { method: "DELETE" });
        assert.equal((await del.json()).status, "cancelled");
        for (const s of [a, b, c]) assert.equal((await job(s.base, id)).status, "cancelled");
        const groupInfo = async () => {
          const [group] = await redis.xinfo("GROUPS", "retrace:shards") as unknown[][];
          return Object.fromEntries(
            Array.from({ length: group.length / 2 }, (_, i) => [group[2 * i], group[2 * i + 1]]),
          );
        };
        // every host stops its copy and acknowledges the shard (a shard read after the cancel is acknowledged
        // unrun), so nothing stays pending and nothing waits undelivered ...
        await waitFor("every shard of the cancelled job acknowledged, none undelivered", async () => {
          const info = await groupInfo();
          return info.pending === 0 && info.lag === 0;
        }, { state: async () => JSON.stringify(await groupInfo()) });
        const acknowledged = (await rawEvents(redis, id)).at(-1)!.id;
        // ... and each host's slot waits for new shards again: no copy of the job's shards runs anywhere
        for (const h of ["a", "b", "c"]) await untilSlotFree(redis, h);
        const raw = await rawEvents(redis, id);
        assert.ok(raw.some((e) => e.type === "cancelled"));
        const late = raw.filter((e) =>
          ["shard-start", "shard-progress", "shard-done"].includes(e.type) &&
          compareEntryIds(e.id, acknowledged) > 0
        );
        assert.deepEqual(late, [], "no host works on the job after the cancel");
        const info = await groupInfo();
        assert.equal(info.pending, 0, "every shard of the job is acknowledged");
        assert.equal(info.lag, 0, "and none waits undelivered");
      });

      await t.step("a stalled host's shard goes to another host and is counted once", async () => {
        const { id } = await (await post(a.base, SPEC)).json();
        const shard = await freezeMidShard(redis, redisServer.port, id, c, "c");
        let events: Sse[];
        try {
          events = await untilEnd(a.base, id);
        } finally {
          c.child.kill("SIGCONT");
        }
        assert.equal(events.at(-1)!.event, "done");
        const before = storedBy(await rawEvents(redis, id));
        assert.equal(before.get(shard)!.length, 1);
        assert.notEqual(before.get(shard)![0], "c", `c's shard ${shard} was finished by another host`);
        await untilSlotFree(redis, "c"); // c wakes up, finds its claim gone and drops its copy
        const after = storedBy(await rawEvents(redis, id));
        assert.deepEqual([...after.keys()].sort((x, y) => x - y), [...Array(IMAGES / 2).keys()]);
        for (const [s, hosts] of after) assert.equal(hosts.length, 1, `shard ${s} counted once`);
        const view = await job(c.base, id);
        assert.deepEqual(view.result.tallies, reference.tallies);
        assert.equal(view.result.images, IMAGES);
      });

      await t.step("Redis outage: new jobs get 503, the running job resumes when it returns", async () => {
        const { id } = await (await post(b.base, SPEC)).json();
        // a stream that stays open through the outage (opened, and its first event read, before Redis stops)
        const open = Promise.withResolvers<void>();
        const ended = settledWithin(
          `the end of job ${id}'s event stream`,
          readEvents(`${b.base}/v1/evaluations/${id}/events`, undefined, () => {
            open.resolve();
            return false;
          }),
        );
        await settledWithin(`the first event of job ${id}'s stream`, open.promise);
        // Redis stops while the job is certainly unfinished: once a shard is stored, every host is frozen, the
        // job's state checked, Redis stopped, and the hosts resumed against a Redis that is gone.
        await waitFor(
          `a stored shard of job ${id}`,
          async () => await redis.hlen(`retrace:job:${id}:results`) >= 1,
          {
            everyMs: 10,
          },
        );
        let down: number;
        try {
          // all three frozen at once; then what they had already sent lands
          await Promise.all([a, b, c].map((s) => freezeAndSettle(redis, s.child.pid, redisServer.port)));
          const before = await redis.hlen(`retrace:job:${id}:results`);
          assert.ok(before < IMAGES / 2, `${before} of ${IMAGES / 2} shards stored before the outage`);
          await redisServer.stop();
          down = Date.now();
        } finally {
          for (const s of [a, b, c]) s.child.kill("SIGCONT");
        }
        const refused = await post(a.base, SPEC);
        assert.equal(refused.status, 503);
        const body = await refused.json();
        assert.equal(body.error.code, "queue_unavailable");
        assert.match(body.error.message, /Redis\) is unreachable/);
        // reads: b accepted the job and shows what it last saw, marked stale; a never read it: a plain 503
        const unseen = await fetch(`${a.base}/v1/evaluations/${id}`);
        assert.equal(unseen.status, 503);
        assert.equal(
          (await unseen.json()).error.message,
          "the evaluation queue (Redis) is unreachable; retry when it is back (running jobs continue then)",
        );
        const seen = await (await fetch(`${b.base}/v1/evaluations/${id}`)).json();
        assert.equal(seen.stale, true);
        assert.ok(Date.parse(seen.staleSince) <= Date.now());
        assert.equal(seen.id, id);
        const listed = (await (await fetch(`${b.base}/v1/evaluations`)).json()).evaluations;
        assert.ok(listed.some((e: { id: string }) => e.id === id));
        assert.equal((await fetch(`${b.base}/v1/evaluations/${id}`, { method: "DELETE" })).status, 503);
        // the outage lasts until a host's /healthz says so (its queue unreachable: "degraded")
        const health = await waitFor("a's /healthz to report the outage", async () => {
          const h = await (await fetch(`${a.base}/healthz`)).json();
          return h.status === "degraded" && h;
        });
        assert.equal(health.queue.kind, "redis");
        assert.equal(health.queue.reachable, false);
        // longer than the shard timeout: every pending shard looks idle past it when Redis returns, though its
        // host computed through the outage (a lower bound on the outage, not a synchronisation)
        await new Promise((r) => setTimeout(r, Math.max(0, down + SHARD_TIMEOUT_MS + 500 - Date.now())));
        await redisServer.restart();
        const events = await ended;
        assert.equal(events.at(-1)!.event, "done");
        const stored = (await rawEvents(redis, id)).filter((e) => e.type === "shard-done");
        assert.equal(stored.length, IMAGES / 2);
        assert.ok(
          stored.some((e) => Number(e.id.split("-")[0]) >= down), // Redis was down from `down` until restarted
          "the job was unfinished when Redis stopped, and shards were stored after it returned",
        );
        assert.deepEqual((events.at(-1)!.data as Final).result.tallies, reference.tallies);
        // no shard changed hands: each was started by one host only (its host renewed its claim first)
        const starts = (await rawEvents(redis, id)).filter((e) => e.type === "shard-start");
        for (let shard = 0; shard < IMAGES / 2; shard++) {
          const by = new Set(starts.filter((e) => e.data.shard === shard).map((e) => e.data.host));
          assert.ok(by.size <= 1, `shard ${shard} started on ${[...by].join(", ")}`);
        }
        // back to "ok": Redis answers and every host holds its cancel subscription again
        for (const s of [a, b, c]) {
          const h = await waitFor("/healthz back to ok", async () => {
            const body = await (await fetch(`${s.base}/healthz`)).json();
            return body.status === "ok" && body;
          });
          assert.equal(h.queue.reachable, true);
          assert.equal(h.queue.host.cancelSubscription.subscribed, true);
        }
      });

      await t.step("a host killed with SIGKILL mid-run loses nothing", async () => {
        const { id } = await (await post(a.base, SPEC)).json();
        const shard = await freezeMidShard(redis, redisServer.port, id, c, "c");
        c.child.kill("SIGKILL");
        await c.child.status;
        const events = await untilEnd(b.base, id);
        assert.equal(events.at(-1)!.event, "done");
        const result = (events.at(-1)!.data as Final).result;
        assert.deepEqual(result.tallies, reference.tallies);
        assert.deepEqual(result.accuracy, reference.accuracy);
        const stored = storedBy(await rawEvents(redis, id));
        assert.equal(stored.size, IMAGES / 2);
        assert.notEqual(stored.get(shard)![0], "c", `c's shard ${shard} was redone by another host`);
      });
    } finally {
      for (const s of servers) {
        try {
          s.child.kill("SIGCONT"); // a frozen host dies on SIGKILL too, but resume it in case
          s.child.kill("SIGKILL");
        } catch { /* already gone */ }
        await s.child.status;
      }
      redis.disconnect();
      await redisServer.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
