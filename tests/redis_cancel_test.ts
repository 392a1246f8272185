/**
 * Cancellation across hosts by pub/sub alone, against a real redis-server with stand-in workers that never end a
 * shard (tests/helpers/fake_shard_worker.ts `?hang`, model "hang-all") and claim watches on manual clocks that
 * never fire: so the only way a host can stop a shard is the cancel channel. Checked: every host subscribes at
 * start (PUBSUB NUMSUB, the consumer's health); a cancel on the accepting side stops every host's shard and frees
 * its slot, and the job stores no result; a shard result offered after the job ended is refused by the store; a
 * subscription attempted while Redis is down fails visibly (state, log), is retried, and works once Redis is back;
 * the queue's health says whether Redis answers.
 */
import assert from "node:assert/strict";
import { FAKE_RESOLUTION, fakeRedisJobs } from "./helpers/fake_redis_jobs.ts";
import type { Redis } from "ioredis";
import { startRedis } from "../tools/redis_server.ts";
import {
  connectRedis,
  ensureGroup,
  finishJob,
  RedisKeys,
  storeShardResult,
  whenReady,
} from "../workers/redis/store.ts";
import { ShardConsumer } from "../workers/redis/shard_consumer.ts";
import { CancelSubscription } from "../workers/redis/cancel_subscription.ts";
import { queueHealth } from "../workers/redis/queue_health.ts";
import type { EvaluationSpec } from "../lib/service/evaluation_spec.ts";
import { ManualTimers } from "./helpers/manual_timers.ts";
import { waitFor } from "./helpers/wait_for.ts";

const resolution = FAKE_RESOLUTION;

Deno.test("cancel by pub/sub: every host stops at once, nothing is stored after; subscriptions retry", async (t) => {
  const server = await startRedis();
  const redis = connectRedis(server.url, "test");
  await waitFor("the connection to redis-server", () => whenReady(redis, 1000));
  const keys = new RedisKeys(`cancel-test-${crypto.randomUUID().slice(0, 8)}`);
  const dir = await Deno.makeTempDir({ prefix: "retrace-cancel-" });
  const jobs = fakeRedisJobs(redis, keys);
  const connections: Redis[] = [redis];
  const logs: string[] = [];
  const consumer = (host: string) =>
    new ShardConsumer({
      redis: connections[connections.push(redis.duplicate()) - 1],
      keys,
      hostId: host,
      slots: 1,
      visibilityMs: 3_600_000, // no shard is ever idle this long here: nobody takes a shard over
      workDir: `${dir}/${host}`,
      backend: "wasm",
      resolve: () => resolution,
      retainSeconds: 60,
      workerUrl: new URL("./helpers/fake_shard_worker.ts?hang", import.meta.url),
      timers: new ManualTimers(), // the claim watch never fires: it cannot stop a shard either
      log: (level, message) => logs.push(`${level} ${message}`),
    });
  const hosts = [consumer("a"), consumer("b")];
  const numsub = async () => Number(((await redis.pubsub("NUMSUB", keys.cancel)) as [string, number])[1]);
  try {
    await t.step("every host subscribes to the cancel channel at start", async () => {
      await ensureGroup(redis, keys);
      hosts.forEach((h) => h.start());
      await waitFor(
        "both hosts subscribed",
        () => hosts.every((h) => h.health().cancelSubscription?.subscribed),
      );
      assert.equal(await numsub(), 2);
      // a start with Redis up says nothing alarming (its connections were not ready yet: not a failure)
      assert.deepEqual(logs.filter((l) => l.startsWith("warn ")), []);
      const health = await queueHealth(redis, keys, { id: "a", ...hosts[0].health() });
      assert.equal(health.reachable, true);
      assert.equal(health.connection, "ready");
      assert.deepEqual(health.host.cancelSubscription, { subscribed: true, error: null, failures: 0 });
      assert.deepEqual(health.host.running, []);
      assert.deepEqual(health.liveHosts, ["a", "b"]);
      assert.equal(health.lag, 0);
    });

    await t.step("a cancel stops every host's shard by pub/sub alone; the job stores no result", async () => {
      const { id } = await jobs.create(
        { model: "hang-all", methods: ["grad-cam"], limit: 2 } as EvaluationSpec,
      );
      await waitFor(
        "each host to run a shard of the job",
        () => hosts.every((h) => h.health().running.some((r) => r.job === id)),
        { state: () => JSON.stringify(hosts.map((h) => h.health().running)) },
      );
      const health = await queueHealth(redis, keys, { id: "a", ...hosts[0].health() });
      assert.equal(health.pending, 2, "both shards handed out, none acknowledged");
      assert.equal((await jobs.delete(id))?.status, "cancelled");
      await waitFor(
        "every host's slot to be free again",
        () => hosts.every((h) => h.health().running.length === 0),
        { state: () => JSON.stringify(hosts.map((h) => h.health().running)) },
      );
      assert.equal(await redis.hlen(keys.results(id)), 0);
      assert.equal((await jobs.get(id))?.status, "cancelled");
      await waitFor(
        "both shards acknowledged",
        async () => (await queueHealth(redis, keys, { id: "a", ...hosts[0].health() })).pending === 0,
      );
      assert.ok(
        logs.some((l) => /^info shard 0 of 0-1 of job .*: stopped: the job ended \(cancelled\)/.test(l)),
        logs.join("\n"),
      );
    });

    await t.step("a shard result offered after the job ended is not stored", async () => {
      const { id } = await jobs.create(
        { model: "hang-all", methods: ["grad-cam"], limit: 1 } as EvaluationSpec,
      );
      assert.ok(await finishJob(redis, keys, id, "cancelled", {}, 60));
      const stored = await storeShardResult(redis, keys, id, 0, "{}", "{}", "{}");
      assert.equal(stored, false);
      assert.equal(await redis.hlen(keys.results(id)), 0);
      await waitFor(
        "the cancelled job's shard to be dropped",
        () => hosts.every((h) => h.health().running.length === 0),
      );
    });

    await t.step(
      "a subscription made while Redis is down fails visibly, is retried and then works",
      async () => {
        await server.stop();
        const said: string[] = [];
        const seen: string[] = [];
        const client = connectRedis(server.url, "late");
        const sub = new CancelSubscription(
          client,
          keys.cancel,
          (job) => seen.push(job),
          (l, m) => said.push(`${l} ${m}`),
          50,
        );
        try {
          sub.start();
          await waitFor("a failed attempt", () => sub.state().failures >= 2);
          const down = sub.state();
          assert.equal(down.subscribed, false);
          assert.ok(down.error, "it says why");
          assert.equal(
            said.filter((l) => l.startsWith("warn ")).length,
            1,
            "one warning per streak, not per try",
          );
          const health = await queueHealth(redis, keys, { id: "a", ...hosts[0].health() });
          assert.equal(health.reachable, false);
          assert.match(health.error!, /^Redis is not connected/);
          await server.restart();
          await waitFor("the subscription after Redis came back", () => sub.state().subscribed);
          assert.ok(
            said.some((l) => /^info cancel channel .*: subscribed after \d+ failed attempt\(s\)/.test(l)),
            said.join("\n"),
          );
          await waitFor("the publisher's connection back", () => whenReady(redis, 1000));
          await waitFor("the hosts resubscribed", async () => (await numsub()) === 3);
          // Pub/sub is at most once: under load a connection that has just come back may drop and resubscribe
          // once more (seen in CI: numsub 3, then the message reached 2 receivers), and a message published in
          // that gap is lost to that subscriber by design (the claim watch is the product's backstop for a
          // missed cancel). The claim here is that the subscription works once Redis is back, so the probe
          // publishes until one message arrives, and the publisher says who received it when it fails.
          let receivers = 0;
          await waitFor("the message", async () => {
            if (seen.includes("job-x")) return true;
            receivers = await redis.publish(keys.cancel, "job-x");
            return false; // the message, if it arrives, is seen at the next probe
          }, {
            everyMs: 200,
            state: () => `last publish reached ${receivers} subscriber(s); ${JSON.stringify(sub.state())}`,
          });
        } finally {
          sub.close();
          client.disconnect();
        }
      },
    );
  } finally {
    await Promise.all(hosts.map((h) => h.close()));
    await jobs.close();
    for (const c of connections) c.disconnect();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
