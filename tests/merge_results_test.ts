/**
 * Shard results merged by lib/eval/merge_results.ts (what the Redis scale-out does with the results of shards
 * run on different hosts) against an unsharded run on the hand-made VOC fixture, the shard checks, the
 * expectImages guard of runPointingGame, and the running tallies its image events carry for the merge.
 */
import assert from "node:assert/strict";
import { centrePointer } from "../lib/eval/pointers.ts";
import {
  DatasetMismatchError,
  type PointingEvent,
  type PointingResult,
  runPointingGame,
} from "../lib/eval/pointing_run.ts";
import type { DatasetSource } from "../lib/eval/pointing_samples.ts";
import { addTallies, MergeResultsError, mergeShardResults } from "../lib/eval/merge_results.ts";
import { FIXTURE_CLASSES, writeVocFixture } from "./helpers/pointing_fixtures.ts";

async function run(options: Parameters<typeof runPointingGame>[0]) {
  const events: PointingEvent[] = [];
  for await (const ev of runPointingGame(options)) events.push(ev);
  return { result: (events.at(-1) as Extract<PointingEvent, { type: "done" }>).result, events };
}

Deno.test("merging shard results equals the unsharded run", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const root = await writeVocFixture(dir);
    const source: DatasetSource = { format: "voc", root, split: "test" };
    const base = { source, classes: FIXTURE_CLASSES, pointer: centrePointer() };
    const whole = (await run(base)).result;
    const shards: PointingResult[] = [];
    for (let index = 0; index < 3; index++) {
      shards.push((await run({ ...base, shard: { index, count: 3 } })).result);
    }

    await t.step("tallies, accuracies, images and problems", () => {
      // shards in any order
      const merged = mergeShardResults([shards[2], shards[0], shards[1]]);
      assert.deepEqual(merged.tallies, whole.tallies);
      assert.deepEqual(merged.accuracy, whole.accuracy);
      assert.deepEqual(merged.perClass, whole.perClass);
      assert.equal(merged.images, whole.images);
      assert.deepEqual(merged.problems, whole.problems);
      assert.deepEqual(merged.config, whole.config);
      assert.deepEqual(merged.shard, { index: 0, count: 1 });
      // the fixture's hand-derived numbers (tests/pointing_run_test.ts)
      assert.deepEqual(merged.tallies.centre.all, { hits: [0, 2, 1, 0], misses: [2, 0, 0, 0] });
      assert.equal(merged.accuracy.centre.all, 0.5);
    });

    await t.step("a missing, duplicated or foreign shard is refused by name", () => {
      assert.throws(() => mergeShardResults([shards[0], shards[2]]), (e: Error) => {
        assert.ok(e instanceof MergeResultsError);
        assert.match(e.message, /missing shard\(s\) 1 of 3/);
        return true;
      });
      assert.throws(() => mergeShardResults([shards[0], shards[1], shards[1]]), /shard 1 appears twice/);
      const foreign = { ...shards[1], config: { ...shards[1].config, model: "other" } };
      assert.throws(() => mergeShardResults([shards[0], foreign, shards[2]]), /different run configuration/);
      assert.throws(() => mergeShardResults([]), /no shard results/);
      assert.throws(
        () => addTallies([whole.tallies, { x: whole.tallies.centre }]),
        /no tallies for label centre/,
      );
    });

    await t.step("image events carry running tallies only when asked", async () => {
      const plain = (await run(base)).events.filter((e) => e.type === "image");
      assert.ok(plain.every((e) => !("tallies" in e)));
      const withTallies = (await run({ ...base, withTallies: true })).events.filter((e) =>
        e.type === "image"
      );
      const last = withTallies.at(-1) as Extract<PointingEvent, { type: "image" }>;
      // the last image event has seen every image: its tallies are the run's
      assert.deepEqual(last.tallies, whole.tallies);
    });

    await t.step("expectImages: another copy of the dataset stops the run before scoring", async () => {
      await assert.rejects(() => run({ ...base, expectImages: 4 }), (e: Error) => {
        assert.ok(e instanceof DatasetMismatchError);
        assert.match(e.message, /has 5 images to evaluate, the run was split over 4/);
        return true;
      });
      assert.equal((await run({ ...base, expectImages: 5 })).result.images, whole.images);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
