/**
 * Merges the results of an evaluation's shards (one per shard) into the result of the whole run. The pointing
 * game's (lib/eval/pointing_run.ts PointingResult): hits and misses add per label, subset and class, and
 * accuracies are recomputed from the summed tallies (never averaged). The faithfulness run's
 * (lib/eval/faithfulness_run.ts FaithfulnessResult): its sums add and the summary is recomputed from them. Images
 * and problems add. Used by the Redis scale-out, where each shard's result comes back from whichever host ran it;
 * the caller keys results by shard so none counts twice.
 */
import { PointingTally } from "./pointing.ts";
import type { PointingEvent, PointingResult } from "./pointing_run.ts";
import type { FaithfulnessEvent, FaithfulnessResult } from "./faithfulness_run.ts";
import {
  addFaithfulnessTallies,
  type BriefSummary,
  briefSummary,
  type FaithfulnessTallies,
  summariseTallies,
} from "./faithfulness_record.ts";

/** Either kind of evaluation's progress events and result. */
export type EvaluationEvent = PointingEvent | FaithfulnessEvent;
export type EvaluationResult = PointingResult | FaithfulnessResult;

export const isFaithfulnessResult = (r: EvaluationResult): r is FaithfulnessResult =>
  (r as FaithfulnessResult).kind === "faithfulness";

export class MergeResultsError extends Error {
  override name = "MergeResultsError";
}

type Tallies = PointingResult["tallies"];

/** Accuracy and per-class accuracy of serialised tallies. */
export function talliesSummary(tallies: Tallies): Pick<PointingResult, "accuracy" | "perClass"> {
  const accuracy: PointingResult["accuracy"] = {};
  const perClass: PointingResult["perClass"] = {};
  for (const [label, t] of Object.entries(tallies)) {
    const all = PointingTally.fromJSON(t.all);
    const difficult = PointingTally.fromJSON(t.difficult);
    accuracy[label] = { all: all.accuracy(), difficult: difficult.accuracy() };
    perClass[label] = { all: all.classAccuracies(), difficult: difficult.classAccuracies() };
  }
  return { accuracy, perClass };
}

/** Sums serialised tallies label by label (every input must have the same labels and class count). */
export function addTallies(parts: readonly Tallies[]): Tallies {
  if (parts.length === 0) throw new MergeResultsError("no tallies to add");
  const labels = Object.keys(parts[0]);
  const out: Tallies = {};
  for (const label of labels) {
    let all: PointingTally | null = null;
    let difficult: PointingTally | null = null;
    for (const p of parts) {
      const t = p[label];
      if (!t) throw new MergeResultsError(`a shard has no tallies for label ${label}`);
      all = all ? all.merge(PointingTally.fromJSON(t.all)) : PointingTally.fromJSON(t.all);
      difficult = difficult
        ? difficult.merge(PointingTally.fromJSON(t.difficult))
        : PointingTally.fromJSON(t.difficult);
    }
    out[label] = { all: all!.toJSON(), difficult: difficult!.toJSON() };
  }
  for (const p of parts) {
    const extra = Object.keys(p).filter((l) => !labels.includes(l));
    if (extra.length) throw new MergeResultsError(`a shard has labels the others lack: ${extra.join(", ")}`);
  }
  return out;
}

/**
 * The whole run's result from its shards' results: shard i of n for every i exactly once, one configuration.
 */
export function mergeShardResults(results: readonly PointingResult[]): PointingResult {
  const ordered = checkShardSet(results);
  const tallies = addTallies(ordered.map((r) => r.tallies));
  return {
    config: results[0].config,
    shard: { index: 0, count: 1 },
    images: ordered.reduce((n, r) => n + r.images, 0),
    problems: ordered.flatMap((r) => r.problems),
    ...talliesSummary(tallies),
    tallies,
  };
}

/** The whole faithfulness run's result from its shards' results (the same checks as mergeShardResults). */
export function mergeFaithfulnessResults(results: readonly FaithfulnessResult[]): FaithfulnessResult {
  const ordered = checkShardSet(results);
  let tallies: FaithfulnessTallies;
  try {
    tallies = ordered.slice(1).reduce((a, r) => addFaithfulnessTallies(a, r.tallies), ordered[0].tallies);
  } catch (e) {
    throw new MergeResultsError((e as Error).message);
  }
  const road = (results[0].config.road as { fractions?: number[] } | undefined)?.fractions ?? [];
  return {
    kind: "faithfulness",
    config: results[0].config,
    shard: { index: 0, count: 1 },
    images: ordered.reduce((n, r) => n + r.images, 0),
    problems: ordered.flatMap((r) => r.problems),
    summary: summariseTallies(tallies, road),
    tallies,
  };
}

/** Either kind's merge (all shards of one run are of one kind: their configurations are equal). */
export function mergeEvaluationResults(results: readonly EvaluationResult[]): EvaluationResult {
  if (results.length && isFaithfulnessResult(results[0])) {
    if (!results.every(isFaithfulnessResult)) {
      throw new MergeResultsError("the shards are of different kinds");
    }
    return mergeFaithfulnessResults(results);
  }
  if (results.some(isFaithfulnessResult)) throw new MergeResultsError("the shards are of different kinds");
  return mergeShardResults(results as PointingResult[]);
}

/** A result as the Redis store keeps it: without the numbers derived from its tallies (the merge redoes them). */
export function withoutDerived(result: EvaluationResult): EvaluationResult {
  return isFaithfulnessResult(result)
    ? { ...result, summary: {} }
    : { ...result, accuracy: {}, perClass: {} };
}

/** The running faithfulness numbers of tallies (summed over shards) to add to progress events. */
export function faithfulnessLive(
  parts: readonly FaithfulnessTallies[],
): { summary: Record<string, BriefSummary> } {
  const sum = parts.slice(1).reduce((a, t) => addFaithfulnessTallies(a, t), parts[0]);
  return { summary: briefSummary(summariseTallies(sum)) };
}

/** Every shard once, of one count and one configuration; the results in shard order. */
function checkShardSet<R extends { shard: { index: number; count: number }; config: unknown }>(
  results: readonly R[],
): R[] {
  if (results.length === 0) throw new MergeResultsError("no shard results to merge");
  const count = results[0].shard.count;
  const seen = new Set<number>();
  const config = JSON.stringify(results[0].config);
  for (const r of results) {
    if (r.shard.count !== count) {
      throw new MergeResultsError(
        `shard ${r.shard.index} is one of ${r.shard.count}, the others of ${count}`,
      );
    }
    if (seen.has(r.shard.index)) throw new MergeResultsError(`shard ${r.shard.index} appears twice`);
    seen.add(r.shard.index);
    if (JSON.stringify(r.config) !== config) {
      throw new MergeResultsError(`shard ${r.shard.index} is from a different run configuration`);
    }
  }
  if (seen.size !== count) {
    const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
    throw new MergeResultsError(`missing shard(s) ${missing.join(", ")} of ${count}`);
  }
  return [...results].sort((a, b) => a.shard.index - b.shard.index);
}
