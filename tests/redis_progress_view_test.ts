/**
 * The merged progress of a distributed evaluation (workers/redis/progress_view.ts), from hand-written raw events
 * of two hosts: images done over all shards, a shard redelivered to another host, a stalled host's late report
 * ignored, rate from entry times, id ordering; and the running accuracy from a hand-written tallies hash (stored
 * shards' sum plus running shards' latest tallies, worked out by hand).
 */
import assert from "node:assert/strict";
import {
  compareEntryIds,
  MergedProgress,
  type RawEvent,
  withAccuracy,
} from "../workers/redis/progress_view.ts";

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
  assert.equal(
    progressOf(view.apply(at(1000, "shard-start", { shard: 0, host: "a", done: 0, total: 5 })))!.done,
    0,
  );
  const started = progressOf(
    view.apply(at(1000, "shard-start", { shard: 1, host: "b", done: 0, total: 5 })),
  )!;
  assert.deepEqual(started.hosts, ["a", "b"]);

  let p = progressOf(view.apply(at(2000, "shard-progress", {
    shard: 0,
    host: "a",
    done: 2,
    total: 5,
  })))!;
  assert.equal(p.done, 2);
  assert.equal(p.total, 10);
  assert.deepEqual(p.hosts, ["a", "b"]);
  assert.equal(p.imagesPerSecond, 2); // 2 images in 1 s
  assert.equal(p.etaSeconds, 4); // 8 left at 2/s

  p = progressOf(view.apply(at(3000, "shard-progress", {
    shard: 1,
    host: "b",
    done: 3,
    total: 5,
  })))!;
  assert.equal(p.done, 5);

  // host b dies; its shard 1 goes to host a, which starts it again from 0
  assert.deepEqual(view.apply(at(4000, "shard-start", { shard: 1, host: "a", done: 0, total: 5 })).length, 1);
  const out = view.apply(at(5000, "shard-done", {
    shard: 0,
    host: "a",
    images: 5,
    problems: 0,
  }));
  assert.deepEqual(out[0], { type: "shard", data: { shard: 0, host: "a", images: 5, problems: 0 } });
  p = progressOf(out)!;
  assert.equal(p.done, 5); // shard 0 complete, shard 1 restarted at 0
  assert.equal(p.shardsDone, 1);

  p = progressOf(view.apply(at(6000, "shard-done", {
    shard: 1,
    host: "a",
    images: 4,
    problems: 1,
  })))!;
  assert.equal(p.done, 10);
  assert.equal(p.shardsDone, 2);
  assert.deepEqual(p.hosts, []);
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
      }),
    ),
    [],
  );
  // anything else passes through
  assert.deepEqual(view.apply(at(7000, "refused", { shard: 1, host: "c", reason: "r" })), [
    { type: "refused", data: { shard: 1, host: "c", reason: "r" } },
  ]);
});

Deno.test("running accuracy from the tallies hash: stored shards' sum plus running shards' latest", () => {
  const json = (allHits: number[], allMisses: number[]) => JSON.stringify(tallies(allHits, allMisses));
  assert.equal(withAccuracy({}), null); // nothing reported yet: progress waits
  assert.equal(withAccuracy({ "live:0": "{}" }), null); // a report before any image
  const a = withAccuracy({ "live:0": json([1, 0], [0, 1]) })!;
  assert.deepEqual(a.classAccuracy.L, [1, 0]);
  assert.equal(a.accuracy.L.all, 1 / 2);
  // class 0: 2 hits 1 miss, class 1: 1 hit 1 miss -> (2/3 + 1/2) / 2
  const b = withAccuracy({ counted: json([1, 1], [1, 0]), "live:1": json([1, 0], [0, 1]) })!;
  assert.deepEqual(b.classAccuracy.L, [2 / 3, 1 / 2]);
  assert.equal(b.accuracy.L.all, (2 / 3 + 1 / 2) / 2);
  assert.equal(b.accuracy.L.difficult, 0);
});

Deno.test("stream entry ids order by time, then sequence", () => {
  assert.ok(compareEntryIds("1-0", "2-0") < 0);
  assert.ok(compareEntryIds("10-0", "9-5") > 0);
  assert.ok(compareEntryIds("5-1", "5-0") > 0);
  assert.equal(compareEntryIds("5-1", "5-1"), 0);
});
