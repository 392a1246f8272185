/**
 * workers/redis/shard_consumer.ts against a real redis-server, with a stand-in evaluation worker
 * (tests/helpers/fake_shard_worker.ts) so it runs in seconds: shards spread over two consumers and merge to the
 * hand-computed sum; a worker that wedges mid-shard (reports, then never answers) loses its shard to the other
 * host after the visibility timeout, the wedged host notices on its own (its claim is gone and the job has ended)
 * and takes the next job's shard instead of sitting on the dead one forever; and a slot whose read gets no reply
 * (a half-open connection, made with tests/helpers/silent_redis_proxy.ts) replaces its connection and goes on.
 */
import assert from "node:assert/strict";
import { startRedis } from "../tools/redis_server.ts";
import { connectRedis, ensureGroup, GROUP, RedisKeys, whenReady } from "../workers/redis/store.ts";
import { RedisEvaluations } from "../workers/redis/jobs.ts";
import { ShardConsumer } from "../workers/redis/shard_consumer.ts";
import type { EvaluationSpec } from "../lib/service/evaluation_spec.ts";
import type { JobResolution } from "../workers/evaluations.ts";
import { FAKE_LABEL } from "./helpers/fake_shard_worker.ts";
import { silentRedisProxy } from "./helpers/silent_redis_proxy.ts";

const VISIBILITY_MS = 1200;
const resolution: JobResolution = {
  modelDir: "/nonexistent",
  dataset: { source: { format: "voc", root: "/nonexistent", split: "test" } },
};

Deno.test("shard consumer: spread, merged once; a wedged worker or a silent connection loses no shard or slot", async (t) => {
  const server = await startRedis();
  const redis = connectRedis(server.url, "test");
  assert.ok(await whenReady(redis, 5000), "connected to redis-server");
  const keys = new RedisKeys(`consumer-test-${crypto.randomUUID().slice(0, 8)}`);
  const dir = await Deno.makeTempDir({ prefix: "retrace-consumer-" });
  const jobs = new RedisEvaluations({
    redis,
    keys,
    hostId: "acceptor",
    shardImages: 1,
    defaultShards: 1,
    resolve: () => resolution,
    count: (_r, limit) => Promise.resolve(limit ?? 1),
    retainSeconds: 60,
  });
  const connections = [redis];
  const consumer = (host: string, worker: string) =>
    new ShardConsumer({
      redis: connections[connections.push(redis.duplicate()) - 1],
      keys,
      hostId: host,
      slots: 1,
      visibilityMs: VISIBILITY_MS,
      workDir: `${dir}/${host}`,
      backend: "wasm",
      resolve: () => resolution,
      retainSeconds: 60,
      workerUrl: new URL(`./helpers/fake_shard_worker.ts${worker}`, import.meta.url),
    });
  const spec = (model: string, limit: number) => ({ model, methods: ["grad-cam"], limit }) as EvaluationSpec;
  const until = async (id: string, ok: (status: string) => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const view = await jobs.get(id);
      if (view && ok(view.status)) return view;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`job ${id} still ${(await jobs.get(id))?.status} after ${ms} ms`);
  };
  const storedBy = async (id: string) =>
    (await redis.xrange(keys.events(id), "-", "+"))
      .filter(([, f]) => f[1] === "shard-done")
      .map(([, f]) => JSON.parse(f[3]) as { shard: number; host: string })
      .sort((x, y) => x.shard - y.shard);
  const a = consumer("a", "?hang");
  let b: ShardConsumer | null = null;
  try {
    await t.step("a wedged shard goes to the other host after the visibility timeout", async () => {
      await ensureGroup(redis, keys); // what a.start() does too: XPENDING below needs the group
      a.start();
      const { id } = await jobs.create(spec("hang", 3));
      // a takes shard 0 first (it is alone), wedges after one image; b arrives and takes the rest
      for (;;) {
        const pending = await redis.xpending(keys.shards, GROUP, "-", "+", 10, "a") as unknown[];
        if (pending.length) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      b = consumer("b", "");
      b.start();
      const view = await until(id, (s) => s === "done", 15_000);
      const stored = await storedBy(id);
      assert.deepEqual(stored.map((s) => [s.shard, s.host]), [[0, "b"], [1, "b"], [2, "b"]]);
      // shard i contributes i + 1 hits and 1 miss on class 0: 1 + 2 + 3 hits, 3 misses
      const tallies = view.result!.tallies[FAKE_LABEL].all;
      assert.deepEqual(tallies, { hits: [6, 0], misses: [3, 0] });
      assert.equal(view.result!.accuracy[FAKE_LABEL].all, (6 / 9 + 0) / 2);
      assert.equal(view.result!.images, 3);
      // Redis's own running sum (Lua, cjson) agrees with the merge; no running shard's tallies are left
      const kept = await redis.hgetall(keys.tallies(id));
      assert.deepEqual(Object.keys(kept), ["counted"]);
      assert.deepEqual(JSON.parse(kept.counted), view.result!.tallies);
      // the finished job's SSE replay: one progress event, with all 3 images and the final accuracy
      const events = [];
      for await (const e of jobs.events(id, undefined, new AbortController().signal)) events.push(e);
      assert.equal(events.at(-1)!.type, "done");
      const progress = events.filter((e) => e.type === "progress");
      assert.equal(progress.length, 1, "a replay sends the last progress snapshot of each batch read");
      const last = progress[0].data as {
        done: number;
        accuracy: unknown;
      };
      assert.equal(last.done, 3);
      assert.deepEqual(last.accuracy, view.result!.accuracy);
    });

    await t.step("the wedged host frees its slot by itself and runs the next job", async () => {
      await b!.close();
      b = null;
      const { id } = await jobs.create(spec("plain", 1));
      await until(id, (s) => s === "done", 10_000);
      assert.deepEqual((await storedBy(id)).map((s) => [s.shard, s.host]), [[0, "a"]]);
    });

    await t.step(
      "a slot whose read gets no reply takes a new connection and keeps taking shards",
      async () => {
        await a.close(); // host d alone from here
        const proxy = silentRedisProxy(server.port);
        const viaProxy = connectRedis(proxy.url, "d");
        connections.push(viaProxy);
        const d = new ShardConsumer({
          redis: viaProxy,
          keys,
          hostId: "d",
          slots: 1,
          visibilityMs: VISIBILITY_MS,
          workDir: `${dir}/d`,
          backend: "wasm",
          resolve: () => resolution,
          retainSeconds: 60,
          workerUrl: new URL("./helpers/fake_shard_worker.ts", import.meta.url),
          readStallMs: 1500,
        });
        try {
          d.start();
          proxy.silenceNextRead(); // d's reader: its next XREADGROUP and all after it go unanswered
          while (proxy.silenced() === 0) await new Promise((r) => setTimeout(r, 20));
          const { id } = await jobs.create(spec("plain", 2));
          await until(id, (s) => s === "done", 15_000);
          assert.deepEqual((await storedBy(id)).map((s) => [s.shard, s.host]), [[0, "d"], [1, "d"]]);
        } finally {
          await d.close();
          proxy.close();
        }
      },
    );
  } finally {
    await (b as ShardConsumer | null)?.close();
    await a.close(); // a second close is a no-op
    await jobs.close();
    for (const c of connections) c.disconnect();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
