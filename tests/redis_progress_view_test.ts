/**
 * The merged progress of a distributed evaluation (workers/redis/progress_view.ts), from hand-written raw events
 * of two hosts: images done over all shards, accuracy from summed tallies (worked out by hand), a shard
 * redelivered to another host, a stalled host's late report ignored, rate from entry times, and id ordering.
 */
import assert from "node:assert/strict";
import { compareEntryIds, MergedProgress, type RawEvent } from "../workers/redis/progress_view.ts";

const tallies = (allHits: number[], allMisses: number[]) => ({
  L: { all: { hits: allHits, misses: allMisses }, difficult: { hits: [0, 0], misses: [0, 0] } },
});

interface Progress {
  done: number;
  total: number;
  shardsDone: number;
  hosts: string[];
  imagesPerSecond: number;
  etaSeconds: number | null;
  accuracy: Record<string, { all: number; difficult: number }>;
  classAccuracy: Record<string, number[]>;
}

Deno.test("merged progress over hosts", () => {
  const view = new MergedProgress();
  const at = (ms: number, type: string, data: Record<string, unknown>): RawEvent => ({
    id: `${ms}-0`,
    type,
    data,
  });
  const progressOf = (out: { type: string; data: unknown }[]) =>
    out.find((o) => o.type === "progress")?.data as Progress | undefined;

  assert.deepEqual(view.apply(at(1000, "start", { total: 10, shards: 2 })), [
    { type: "start", data: { total: 10, done: 0, shards: 2 } },
  ]);
  // shard starts carry no tallies yet: no progress to show
  assert.deepEqual(view.apply(at(1000, "shard-start", { shard: 0, host: "a", done: 0, total: 5 })), []);
  assert.deepEqual(view.apply(at(1000, "shard-start", { shard: 1, host: "b", done: 0, total: 5 })), []);

  let p = progressOf(view.apply(at(2000, "shard-progress", {
    shard: 0,
    host: "a",
    done: 2,
    total: 5,
    tallies: tallies([1, 0], [0, 1]),
  })))!;
  assert.equal(p.done, 2);
  assert.equal(p.total, 10);
  assert.deepEqual(p.hosts, ["a", "b"]);
  assert.equal(p.imagesPerSecond, 2); // 2 images in 1 s
  assert.equal(p.etaSeconds, 4); // 8 left at 2/s
  assert.deepEqual(p.classAccuracy.L, [1, 0]);

  p = progressOf(view.apply(at(3000, "shard-progress", {
    shard: 1,
    host: "b",
    done: 3,
    total: 5,
    tallies: tallies([1, 1], [1, 0]),
  })))!;
  // summed: class 0 2 hits 1 miss, class 1 1 hit 1 miss -> (2/3 + 1/2) / 2
  assert.equal(p.done, 5);
  assert.deepEqual(p.classAccuracy.L, [2 / 3, 1 / 2]);
  assert.equal(p.accuracy.L.all, (2 / 3 + 1 / 2) / 2);

  // host b dies; its shard 1 goes to host a, which starts it again from 0
  assert.deepEqual(view.apply(at(4000, "shard-start", { shard: 1, host: "a", done: 0, total: 5 })).length, 1);
  const out = view.apply(at(5000, "shard-done", {
    shard: 0,
    host: "a",
    images: 5,
    problems: 0,
    tallies: tallies([2, 1], [1, 1]),
  }));
  assert.deepEqual(out[0], { type: "shard", data: { shard: 0, host: "a", images: 5, problems: 0 } });
  p = progressOf(out)!;
  assert.equal(p.done, 5); // shard 0 complete, shard 1 restarted at 0
  assert.equal(p.shardsDone, 1);
  assert.deepEqual(p.classAccuracy.L, [2 / 3, 1 / 2]); // shard 1's new host reported no tallies yet

  p = progressOf(view.apply(at(6000, "shard-done", {
    shard: 1,
    host: "a",
    images: 4,
    problems: 1,
    tallies: tallies([1, 2], [0, 0]),
  })))!;
  assert.equal(p.done, 10);
  assert.equal(p.shardsDone, 2);
  assert.deepEqual(p.hosts, []);
  assert.deepEqual(p.classAccuracy.L, [3 / 4, 3 / 4]);
  // images newly done: 2 + 3 + (5 - 2) + 5 (shard 1 again on host a) = 13 over 5 s
  assert.equal(p.imagesPerSecond, 13 / 5);

  // host b wakes up and reports shard 1 again: ignored, the shard is counted
  assert.deepEqual(
    view.apply(
      at(7000, "shard-progress", {
        shard: 1,
        host: "b",
        done: 4,
        total: 5,
        tallies: tallies([9, 9], [0, 0]),
      }),
    ),
    [],
  );
  // anything else passes through
  assert.deepEqual(view.apply(at(7000, "refused", { shard: 1, host: "c", reason: "r" })), [
    { type: "refused", data: { shard: 1, host: "c", reason: "r" } },
  ]);
});

Deno.test("stream entry ids order by time, then sequence", () => {
  assert.ok(compareEntryIds("1-0", "2-0") < 0);
  assert.ok(compareEntryIds("10-0", "9-5") > 0);
  assert.ok(compareEntryIds("5-1", "5-0") > 0);
  assert.equal(compareEntryIds("5-1", "5-1"), 0);
});
