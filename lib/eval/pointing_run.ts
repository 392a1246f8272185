/**
 * The pointing-game driver (METHODS.md §8) as an async iterator of progress events, for the CLI (tools/eval.ts)
 * and the service's streaming endpoint: streams a dataset's samples, asks a Pointer for each image's points,
 * scores them for the "all" and "difficult" subsets in one pass, appends each image to the results file, and
 * reports running accuracy, speed and ETA. Sharding takes a contiguous range of the dataset's images (shard i of
 * n); a results file that already holds part of the run is resumed after its last complete line.
 *
 * Skips (§8 item 7): a class whose objects are all VOC-difficult counts in neither subset; a class outside the
 * difficult subset counts in "all" only. An image none of whose classes counts is still recorded (so a resumed
 * run does not revisit it) and needs no pixels. An image the pointer cannot use (missing or corrupt file) is a
 * problem record naming it.
 */
import type { Point } from "./pointing.ts";
import { type Pointer, pointsOfBatch } from "./pointers.ts";
import { pointingHit } from "./pointing.ts";
import {
  datasetKeys,
  type DatasetSource,
  type PointingClass,
  type PointingSample,
  pointingSamples,
} from "./pointing_samples.ts";

type ImageSample = Exclude<PointingSample, { problem: string }>;
import {
  type ImageRecord,
  type ResultRecord,
  ResultsWriter,
  type RunConfig,
  RunState,
  type Shard,
} from "./results_file.ts";

export interface PointingRunOptions {
  source: DatasetSource;
  /** The model's classes (class index order of the tallies). */
  classes: readonly string[];
  pointer: Pointer;
  /** What else identifies the run (model, methods, …); stored in the results file's header. */
  describe?: Record<string, unknown>;
  shard?: Shard;
  /** Evaluate only the first `limit` images of the dataset (before sharding). */
  limit?: number;
  /** JSON-lines results file: created, or resumed when it holds this run already. */
  resultsPath?: string;
  signal?: AbortSignal;
  /** Add the running tallies to every image event (the Redis scale-out merges them across hosts). */
  withTallies?: boolean;
  /**
   * Images explained together in one pass (their classes' rows in one batch; default 1). Tallies and the results
   * file do not depend on it: records are written in dataset order once their batch is done.
   */
  batch?: number;
  /**
   * The number of images (after `limit`, before sharding) the caller split the run over: a dataset with another
   * count here is a different copy of it, and the run stops with a PointingRunError before scoring anything.
   */
  expectImages?: number;
}

export interface SubsetAccuracy {
  all: number;
  difficult: number;
}

export interface PointingResult {
  config: RunConfig;
  shard: Shard;
  images: number;
  problems: { key: string; message: string }[];
  accuracy: Record<string, SubsetAccuracy>;
  perClass: Record<string, { all: number[]; difficult: number[] }>;
  tallies: Record<
    string,
    { all: { hits: number[]; misses: number[] }; difficult: { hits: number[]; misses: number[] } }
  >;
}

export type PointingEvent =
  | { type: "start"; total: number; done: number; labels: readonly string[] }
  | {
    type: "image";
    key: string;
    done: number;
    total: number;
    problems: number;
    imagesPerSecond: number;
    etaSeconds: number;
    accuracy: Record<string, SubsetAccuracy>;
    /** Running per-class accuracy ("all" subset) per label. */
    classAccuracy: Record<string, number[]>;
    /** Instances counted so far per class ("all" subset: hits + misses) per label; 0 = none seen yet. */
    classCounts: Record<string, number[]>;
    /** Running tallies (only with `withTallies`). */
    tallies?: PointingResult["tallies"];
  }
  | { type: "problem"; key: string; message: string; done: number; total: number }
  | { type: "done"; result: PointingResult };

export class PointingRunError extends Error {
  override name = "PointingRunError";
}

/** This copy of the dataset is not the one the run was split over (`expectImages`). */
export class DatasetMismatchError extends PointingRunError {
  override name = "DatasetMismatchError";
}

/** The contiguous key range of shard `index` of `count`. */
export function shardKeys(keys: readonly string[], shard: Shard): string[] {
  const { index, count } = shard;
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new PointingRunError(
      `shard ${index} of ${count}: need an integer count >= 1 and 0 <= index < count`,
    );
  }
  return keys.slice(
    Math.floor((index * keys.length) / count),
    Math.floor(((index + 1) * keys.length) / count),
  );
}

/**
 * The keys a run (or one shard of it) evaluates: the dataset's first `limit` images, checked against the count
 * the run was split over (`expectImages`: another count is another copy of the dataset), then shard `shard`'s
 * range. Shared by every evaluation driver.
 */
export async function runKeys(
  source: DatasetSource,
  classes: readonly string[],
  options: { limit?: number; expectImages?: number; shard: Shard },
): Promise<string[]> {
  let keys = await datasetKeys(source, classes);
  if (options.limit !== undefined) {
    if (!Number.isInteger(options.limit) || options.limit < 1) {
      throw new PointingRunError(`limit must be a positive integer, got ${options.limit}`);
    }
    keys = keys.slice(0, options.limit);
  }
  if (options.expectImages !== undefined && keys.length !== options.expectImages) {
    throw new DatasetMismatchError(
      `this copy of the dataset has ${keys.length} images to evaluate, the run was split over ${options.expectImages}`,
    );
  }
  return shardKeys(keys, options.shard);
}

export function accuracies(state: RunState): Record<string, SubsetAccuracy> {
  const out: Record<string, SubsetAccuracy> = {};
  for (const [label, t] of state.tallies) {
    out[label] = { all: t.all.accuracy(), difficult: t.difficult.accuracy() };
  }
  return out;
}

function tallyJSON(state: RunState): PointingResult["tallies"] {
  return Object.fromEntries(
    [...state.tallies].map(([label, t]) => [label, { all: t.all.toJSON(), difficult: t.difficult.toJSON() }]),
  );
}

export function summarise(state: RunState, shard: Shard): PointingResult {
  const perClass: PointingResult["perClass"] = {};
  for (const [label, t] of state.tallies) {
    perClass[label] = { all: t.all.classAccuracies(), difficult: t.difficult.classAccuracies() };
  }
  const tallies = tallyJSON(state);
  return {
    config: state.config,
    shard,
    images: state.images,
    problems: state.problems.map(({ key, message }) => ({ key, message })),
    accuracy: accuracies(state),
    perClass,
    tallies,
  };
}

export async function* runPointingGame(options: PointingRunOptions): AsyncGenerator<PointingEvent> {
  const { source, classes, pointer } = options;
  const shard = options.shard ?? { index: 0, count: 1 };
  const keys = await runKeys(source, classes, { ...options, shard });
  const config: RunConfig = {
    ...(options.describe ?? {}),
    dataset: {
      format: source.format,
      split: source.split,
      difficult: source.difficultFlags ? "flags" : "rule",
    },
    limit: options.limit ?? null,
    labels: [...pointer.labels],
    classes: [...classes],
  };
  const state = new RunState(config);
  let writer: ResultsWriter | null = null;
  if (options.resultsPath) {
    const opened = await ResultsWriter.open(options.resultsPath, config, shard);
    writer = opened.writer;
    for (const r of opened.existing) state.add(r);
  }
  try {
    const total = keys.length;
    const resumed = keys.filter((k) => state.done.has(k)).length;
    yield { type: "start", total, done: resumed, labels: pointer.labels };
    const todo = new Set(keys.filter((k) => !state.done.has(k)));
    const started = performance.now();
    let fresh = 0;
    const record = async (r: ResultRecord) => {
      state.add(r);
      await writer?.write(r);
      fresh++;
    };
    const batchSize = options.batch ?? 1;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new PointingRunError(`batch must be a positive integer, got ${options.batch}`);
    }
    const done = () => resumed + fresh;
    /** Records a problem with an image and gives its event. */
    const problem = async (key: string, message: string): Promise<PointingEvent> => {
      await record({ type: "problem", key, message });
      return { type: "problem", key, message, done: done(), total };
    };
    /** Samples waiting for their batch, in dataset order; `counted` are the classes that get points. */
    let pending: { sample: PointingSample; counted: PointingClass[] }[] = [];
    const flush = async function* (): AsyncGenerator<PointingEvent> {
      const batch = pending;
      pending = [];
      const asked = batch.filter((p) => !("problem" in p.sample) && p.counted.length > 0);
      const samples = asked.map((p) => ({ ...(p.sample as ImageSample), classes: p.counted }));
      let answers: (Map<string, Point[]> | Error)[] = [];
      if (samples.length) {
        options.signal?.throwIfAborted();
        try {
          answers = await pointsOfBatch(pointer, samples);
        } catch {
          // a failure of the whole pass: each image alone, so an error is the one image's problem
          answers = await pointsOfBatch(
            { labels: pointer.labels, points: (s) => pointer.points(s) },
            samples,
          );
        }
      }
      const answerOf = new Map(asked.map((p, i) => [p, answers[i]]));
      for (const p of batch) {
        const { sample, counted } = p;
        if ("problem" in sample) {
          yield await problem(sample.key, sample.problem);
          continue;
        }
        const image: ImageRecord = {
          type: "image",
          key: sample.key,
          classes: counted.map((c) => [c.classIndex, 1, c.difficult ? 1 : 0]),
          hits: {},
        };
        const points = answerOf.get(p);
        if (points instanceof Error) {
          yield await problem(sample.key, points.message);
          continue;
        }
        for (const label of pointer.labels) {
          if (!points) {
            image.hits[label] = [];
            continue;
          }
          const ps = points.get(label);
          if (!ps || ps.length !== counted.length) {
            throw new PointingRunError(`the pointer gave no or too few points for ${label} on ${sample.key}`);
          }
          image.hits[label] = counted.map((c, i) =>
            pointingHit(c.region, sample.width, sample.height, ps[i]) ? 1 : 0
          );
        }
        await record(image);
        const n = done();
        const seconds = (performance.now() - started) / 1000;
        const rate = fresh / Math.max(seconds, 1e-9);
        yield {
          type: "image",
          key: sample.key,
          done: n,
          total,
          problems: state.problems.length,
          imagesPerSecond: rate,
          etaSeconds: (total - n) / Math.max(rate, 1e-9),
          accuracy: accuracies(state),
          classAccuracy: Object.fromEntries([...state.tallies].map(([l, t]) => [l, t.all.classAccuracies()])),
          classCounts: Object.fromEntries(
            [...state.tallies].map(([l, t]) => [l, t.all.hits.map((h, k) => h + t.all.misses[k])]),
          ),
          ...(options.withTallies ? { tallies: tallyJSON(state) } : {}),
        };
      }
    };
    let waiting = 0; // images in `pending` that need a pass
    for await (const sample of pointingSamples(source, classes, todo)) {
      options.signal?.throwIfAborted();
      const counted = "problem" in sample ? [] : sample.classes.filter((c) => !c.skipAll);
      pending.push({ sample, counted });
      if (counted.length > 0) waiting++;
      if (waiting >= batchSize) {
        waiting = 0;
        yield* flush();
      }
    }
    yield* flush();
    const missing = keys.filter((k) => !state.done.has(k));
    for (const key of missing) {
      // Listed but never streamed (e.g. a COCO image without annotations cannot be listed; a VOC list entry
      // always streams): record it so the counts say what happened.
      await record({ type: "problem", key, message: "listed in the split but not found in the annotations" });
    }
    yield { type: "done", result: summarise(state, shard) };
  } finally {
    writer?.close();
  }
}
