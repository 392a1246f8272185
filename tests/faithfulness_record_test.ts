/**
 * The faithfulness run's arithmetic (lib/eval/faithfulness_record.ts) and its shard merge
 * (lib/eval/merge_results.ts) by hand: two images' records give the tallies and the summary worked out here
 * (mean AUC and its standard error, mean curve, Average Drop and Increase, ROAD's per-fraction means, drops and
 * combined score, the energy share over pairs and over classes); tallies add element by element and refuse other
 * shapes; shard results merge once each and of one kind.
 */
import assert from "node:assert/strict";
import {
  addFaithfulnessTallies,
  addRecord,
  emptyTallies,
  type FaithfulnessImageRecord,
  FaithfulnessTallyError,
  summariseTallies,
} from "../lib/eval/faithfulness_record.ts";
import { mergeEvaluationResults, MergeResultsError } from "../lib/eval/merge_results.ts";
import type { FaithfulnessResult } from "../lib/eval/faithfulness_run.ts";

const near = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

const L = "m@input";
const record = (
  key: string,
  auc: number,
  curve: number[],
  full: number,
  masked: number,
  morf: number[],
  lerf: number[],
  base: number,
  energy: [number, number][],
): FaithfulnessImageRecord => ({
  type: "image",
  key,
  target: 0,
  measures: {
    [L]: {
      deletion: { auc, scores: curve },
      confidence: { full, masked },
      road: { base, morf, lerf },
      energy,
    },
  },
});

const r1 = record("a", 0.2, [1, 0.4, 0], 0.8, 0.6, [0.5, 0.3], [0.7, 0.6], 0.8, [[0, 0.5], [2, 0.9]]);
const r2 = record("b", 0.4, [0.5, 0.2, 0.1], 0.5, 0.7, [0.2, 0.1], [0.4, 0.4], 0.5, [[0, 0.7]]);

function tallied(...records: FaithfulnessImageRecord[]) {
  const t = emptyTallies([L], ["deletion", "confidence", "road", "energy"], {
    curvePoints: 3,
    fractions: 2,
    classes: 3,
  });
  records.forEach((r) => addRecord(t, r));
  return t;
}

Deno.test("two records: the summary by hand", () => {
  const s = summariseTallies(tallied(r1, r2), [0.3, 0.6])[L];
  near(s.deletion!.auc, 0.3, "mean AUC");
  near(
    s.deletion!.sem,
    Math.sqrt(((0.2 - 0.3) ** 2 + (0.4 - 0.3) ** 2) / 1) / Math.sqrt(2),
    "standard error",
  );
  s.deletion!.curve.forEach((v, i) => near(v, [0.75, 0.3, 0.05][i], `curve ${i}`));
  near(s.confidence!.averageDrop, 100 * ((0.8 - 0.6) / 0.8 + 0) / 2, "Average Drop"); // image b rose: no drop
  near(s.confidence!.increase, 50, "Increase in Confidence");
  assert.deepEqual(s.road!.fractions, [0.3, 0.6]);
  s.road!.morf.forEach((v, i) => near(v, [0.35, 0.2][i], `MoRF ${i}`));
  near(s.road!.morfDrop, (0.35 + 0.2) / 2 - 0.65, "MoRF drop");
  near(s.road!.lerfDrop, (0.55 + 0.5) / 2 - 0.65, "LeRF drop");
  const c1 = ((0.7 - 0.5) / 2 + (0.6 - 0.3) / 2) / 2;
  const c2 = ((0.4 - 0.2) / 2 + (0.4 - 0.1) / 2) / 2;
  near(s.road!.combined, (c1 + c2) / 2, "ROAD combined");
  near(s.energy!.mean, (0.5 + 0.9 + 0.7) / 3, "energy over pairs");
  near(s.energy!.classMean, (0.6 + 0.9) / 2, "energy over classes (class 1 unseen)");
  assert.deepEqual(s.energy!.perClass.map((v) => v === null ? null : Math.round(v * 10) / 10), [
    0.6,
    null,
    0.9,
  ]);
  assert.equal(s.energy!.pairs, 3);
});

Deno.test("tallies add element by element; other shapes and missing measures are refused", () => {
  const added = addFaithfulnessTallies(tallied(r1), tallied(r2));
  assert.deepEqual(summariseTallies(added), summariseTallies(tallied(r1, r2)));
  const other = emptyTallies([L], ["deletion"], { curvePoints: 3, fractions: 2, classes: 3 });
  assert.throws(() => addFaithfulnessTallies(tallied(r1), other), FaithfulnessTallyError);
  const longer = emptyTallies([L], ["deletion", "confidence", "road", "energy"], {
    curvePoints: 4,
    fractions: 2,
    classes: 3,
  });
  assert.throws(() => addFaithfulnessTallies(tallied(r1), longer), /lengths 3 and 4/);
  assert.throws(() => addRecord(tallied(), { ...r1, measures: {} }), /no measures for m@input/);
  assert.throws(
    () => addRecord(tallied(), record("c", 0.1, [1, 0], 1, 1, [0, 0], [0, 0], 1, [])),
    /curve: 2 values/,
  );
  assert.throws(
    () => addRecord(tallied(), record("c", 0.1, [1, 0, 0], 1, 1, [0, 0], [0, 0], 1, [[5, 0.1]])),
    /class 5/,
  );
});

Deno.test("shard results merge once each, of one kind", () => {
  const result = (index: number, ...records: FaithfulnessImageRecord[]): FaithfulnessResult => ({
    kind: "faithfulness",
    config: { labels: [L], classes: ["a", "b", "c"], road: { fractions: [0.3, 0.6] } },
    shard: { index, count: 2 },
    images: records.length,
    problems: [],
    summary: {},
    tallies: tallied(...records),
  });
  const merged = mergeEvaluationResults([result(1, r2), result(0, r1)]) as FaithfulnessResult;
  assert.equal(merged.images, 2);
  assert.deepEqual(merged.summary, summariseTallies(tallied(r1, r2), [0.3, 0.6]));
  assert.throws(() => mergeEvaluationResults([result(0, r1), result(0, r2)]), MergeResultsError);
  assert.throws(() => mergeEvaluationResults([result(0, r1)]), /missing shard\(s\) 1 of 2/);
  const pointing = {
    config: { labels: [], classes: [] },
    shard: { index: 1, count: 2 },
    images: 0,
    problems: [],
    accuracy: {},
    perClass: {},
    tallies: {},
  };
  assert.throws(() => mergeEvaluationResults([result(0, r1), pointing]), /different kinds/);
});
