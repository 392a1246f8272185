/**
 * The pointing-game driver on hand-made VOC and COCO datasets (tests/helpers/pointing_fixtures.ts, every
 * outcome worked out by hand there) with the centre baseline and a scripted pointer: hits, misses, skips,
 * problems, both subsets, flag files, sharding, merging and resuming from a results file with a torn last line.
 */
import assert from "node:assert/strict";
import { centrePointer, type Pointer } from "../lib/eval/pointers.ts";
import {
  type PointingEvent,
  type PointingResult,
  runPointingGame,
  shardKeys,
} from "../lib/eval/pointing_run.ts";
import type { DatasetSource } from "../lib/eval/pointing_samples.ts";
import { parseDifficultFlags } from "../lib/eval/difficult_flags.ts";
import { mergeResultsFiles, ResultsFileError } from "../lib/eval/results_file.ts";
import { bestLayers, combinationTable, layerTable } from "../lib/eval/report.ts";
import { FIXTURE_CLASSES, writeCocoFixture, writeVocFixture } from "./helpers/pointing_fixtures.ts";

async function run(options: Parameters<typeof runPointingGame>[0]): Promise<{
  result: PointingResult;
  events: PointingEvent[];
}> {
  const events: PointingEvent[] = [];
  for await (const ev of runPointingGame(options)) events.push(ev);
  const last = events.at(-1)!;
  assert.equal(last.type, "done");
  return { result: (last as Extract<PointingEvent, { type: "done" }>).result, events };
}

const tally = (r: PointingResult, label: string, subset: "all" | "difficult") => r.tallies[label][subset];

Deno.test("pointing game on a hand-made VOC 2007 fixture", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const root = await writeVocFixture(dir);
    const source: DatasetSource = { format: "voc", root, split: "test" };

    await t.step("centre baseline: hits, misses, skips, problems and the accuracy formula", async () => {
      const { result, events } = await run({ source, classes: FIXTURE_CLASSES, pointer: centrePointer() });
      assert.deepEqual(tally(result, "centre", "all"), { hits: [0, 2, 1, 0], misses: [2, 0, 0, 0] });
      assert.equal(result.accuracy.centre.all, 0.5);
      // difficult by the EBP rule: img1's square (4200 px >= 25%) leaves the subset
      assert.deepEqual(tally(result, "centre", "difficult"), { hits: [0, 1, 1, 0], misses: [2, 0, 0, 0] });
      assert.equal(result.accuracy.centre.difficult, 0.5);
      assert.equal(result.images, 3);
      assert.deepEqual(result.problems.map((p) => p.key), ["img4", "img5"]);
      assert.match(result.problems[0].message, /img4\.xml/);
      assert.match(result.problems[1].message, /not well-formed XML/);
      assert.deepEqual(events.map((e) => e.type), [
        "start",
        "image",
        "image",
        "image",
        "problem",
        "problem",
        "done",
      ]);
      const start = events[0] as Extract<PointingEvent, { type: "start" }>;
      assert.equal(start.total, 5);
      assert.equal(start.done, 0);
    });

    await t.step("difficult pairs from a TorchRay flag file; unlisted images are not skipped", async () => {
      // img1: circle 0, square 1; img3: circle 1, square 0; img2 not listed -> its triangle still counts.
      const flags = parseDifficultFlags("img1\t0 1 0 0\nimg3 1 0 0 0\n", 4);
      const { result } = await run({
        source: { ...source, difficultFlags: flags },
        classes: FIXTURE_CLASSES,
        pointer: centrePointer(),
      });
      assert.deepEqual(tally(result, "centre", "difficult"), { hits: [0, 1, 1, 0], misses: [1, 0, 0, 0] });
      assert.deepEqual(tally(result, "centre", "all"), { hits: [0, 2, 1, 0], misses: [2, 0, 0, 0] });
    });

    await t.step("a class the model does not know is a problem for that image only", async () => {
      const { result } = await run({
        source,
        classes: ["circle", "triangle", "square"],
        pointer: centrePointer(),
      });
      assert.deepEqual(result.problems.map((p) => p.key), ["img3", "img4", "img5"]);
      assert.match(result.problems[0].message, /"star" is not one of the model's classes/);
      assert.equal(result.images, 2);
    });

    await t.step("a scripted pointer: per-label points, the strict 15 px disc", async () => {
      // img3 is 61x61: circle Ω starts at column 45, square Ω ends at column 16 (rows 25..35).
      const scripted: Pointer = {
        labels: ["a", "b"],
        points: (s) => {
          const at = (x: number, y: number) => s.classes.map(() => ({ x, y }));
          if (s.key !== "img3") return Promise.resolve(new Map([["a", at(0, 0)], ["b", at(0, 0)]]));
          // a: (30,30) -> circle at 15 px (miss), square at 14 px (hit); b: (31,30) -> circle 14 (hit), square 15 (miss)
          return Promise.resolve(new Map([["a", at(30, 30)], ["b", at(31, 30)]]));
        },
      };
      const { result } = await run({ source, classes: FIXTURE_CLASSES, pointer: scripted });
      // (0,0): img1 circle hit, square miss (Ω from column 30); img2 triangle miss (Ω from 19,19: 26.9 px)
      assert.deepEqual(tally(result, "a", "all"), { hits: [1, 1, 0, 0], misses: [1, 1, 1, 0] });
      assert.deepEqual(tally(result, "b", "all"), { hits: [2, 0, 0, 0], misses: [0, 2, 1, 0] });
      assert.equal(result.accuracy.a.all, (0.5 + 0.5 + 0 + 0) / 4);
      const md = layerTable(result, "all");
      assert.match(md, /\| a \| 25\.0 \|/);
    });

    await t.step("shards cover the images once and merge to the whole run", async () => {
      assert.deepEqual(shardKeys(["a", "b", "c", "d", "e"], { index: 0, count: 2 }), ["a", "b"]);
      assert.deepEqual(shardKeys(["a", "b", "c", "d", "e"], { index: 1, count: 2 }), ["c", "d", "e"]);
      const paths = [`${dir}/s0.jsonl`, `${dir}/s1.jsonl`];
      for (const [index, path] of paths.entries()) {
        await run({
          source,
          classes: FIXTURE_CLASSES,
          pointer: centrePointer(),
          shard: { index, count: 2 },
          resultsPath: path,
        });
      }
      const merged = await mergeResultsFiles(paths);
      assert.equal(merged.images, 3);
      assert.deepEqual(merged.tallies.get("centre")!.all.toJSON(), {
        hits: [0, 2, 1, 0],
        misses: [2, 0, 0, 0],
      });
    });

    await t.step("resume: a torn last line is cut, done images are not recounted", async () => {
      const full = `${dir}/full.jsonl`;
      const whole = await run({
        source,
        classes: FIXTURE_CLASSES,
        pointer: centrePointer(),
        resultsPath: full,
      });
      const lines = (await Deno.readTextFile(full)).split("\n").filter(Boolean);
      assert.equal(lines.length, 1 + 5); // header, 3 images, 2 problems
      // A run killed after img1, in the middle of writing img2's line:
      const cut = `${dir}/cut.jsonl`;
      await Deno.writeTextFile(cut, lines.slice(0, 2).join("\n") + "\n" + lines[2].slice(0, 17));
      let calls = 0;
      const counting: Pointer = {
        labels: ["centre"],
        points: (s) => {
          calls++;
          return centrePointer().points(s);
        },
      };
      const resumed = await run({ source, classes: FIXTURE_CLASSES, pointer: counting, resultsPath: cut });
      assert.equal(calls, 2, "img2 and img3 only");
      assert.equal((resumed.events[0] as Extract<PointingEvent, { type: "start" }>).done, 1);
      assert.deepEqual(resumed.result.tallies, whole.result.tallies);
      assert.deepEqual(
        (await Deno.readTextFile(cut)).split("\n").filter(Boolean).map((l) => JSON.parse(l).key),
        [undefined, "img1", "img2", "img3", "img4", "img5"],
      );
      // Rerunning a finished run changes nothing.
      const again = await run({ source, classes: FIXTURE_CLASSES, pointer: counting, resultsPath: cut });
      assert.equal(calls, 2);
      assert.deepEqual(again.result.tallies, whole.result.tallies);
    });

    await t.step("a results file of another run is refused, not mixed in", async () => {
      const other: Pointer = { labels: ["other"], points: centrePointer().points };
      await assert.rejects(
        run({ source, classes: FIXTURE_CLASSES, pointer: other, resultsPath: `${dir}/full.jsonl` }),
        ResultsFileError,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pointing game on a hand-made COCO 2014 fixture: polygons, crowd RLE, compressed RLE", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const root = await writeCocoFixture(dir);
    const { result, events } = await run({
      source: { format: "coco", root, split: "val2014" },
      classes: FIXTURE_CLASSES,
      pointer: centrePointer(),
    });
    assert.equal(
      (events[0] as Extract<PointingEvent, { type: "start" }>).total,
      2,
      "image 2 has no annotations",
    );
    assert.deepEqual(tally(result, "centre", "all"), { hits: [1, 0, 1, 0], misses: [0, 1, 0, 0] });
    assert.equal(result.accuracy.centre.all, 0.5);
    assert.deepEqual(tally(result, "centre", "difficult"), { hits: [1, 0, 0, 0], misses: [0, 1, 0, 0] });
    assert.equal(result.accuracy.centre.difficult, 0.25);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reports: best layer and combination gains from a result", () => {
  const acc = (all: number) => ({ all, difficult: all / 2 });
  const result = {
    accuracy: {
      "m@input": acc(0.2),
      "m@layer1": acc(0.5),
      "m@layer2": acc(0.5),
      "m@product/linear": acc(0.6),
    },
  } as unknown as PointingResult;
  assert.deepEqual(bestLayers(result, "all"), [{ method: "m", layer: "layer1", accuracy: 0.5 }]);
  assert.match(combinationTable(result, "all"), /\| m \| layer1 50\.0 \| 60\.0 \(\+10\.0\) \|/);
});
