/**
 * The faithfulness evaluation's arithmetic, apart from any model: one image's record (what each metric measured
 * for each label "<method>@<layer>"), the run's tallies (plain sums and counts, so shards and hosts merge them by
 * adding: `addFaithfulnessTallies`, and Redis adds them number by number) and the summary computed from tallies:
 *
 *   deletion / insertion  mean AUC, its standard error, the mean curve (RISE, lib/eval/causal_metric.ts)
 *   confidence            Average Drop % and Increase in Confidence % (Grad-CAM++, lib/eval/confidence_metrics.ts)
 *   road                  mean probability after MoRF / LeRF removal per fraction, their mean drop from the
 *                         image's probability, and ROADCombined = mean over fractions of (LeRF − MoRF) / 2 with
 *                         its standard error (pytorch-grad-cam's; lib/eval/road.ts)
 *   energy                the energy-based pointing game (Score-CAM): the share of each class map's energy in the
 *                         class's region, averaged over (image, class) pairs, and per class then over classes
 */
import { roadCombined } from "./road.ts";

export const FAITHFULNESS_METRICS = ["deletion", "insertion", "confidence", "road", "energy"] as const;
export type FaithfulnessMetric = typeof FAITHFULNESS_METRICS[number];
export const DEFAULT_FAITHFULNESS_METRICS: readonly FaithfulnessMetric[] = [
  "deletion",
  "insertion",
  "confidence",
];

/** What one label measured on one image (only the metrics the run asked for). */
export interface LabelMeasures {
  deletion?: { auc: number; scores: number[] };
  insertion?: { auc: number; scores: number[] };
  /** The target's probability on the image and on the image times the map. */
  confidence?: { full: number; masked: number };
  road?: { base: number; morf: number[]; lerf: number[] };
  /** [class index, energy share in its region] per class of the image that counts. */
  energy?: [number, number][];
}

export interface FaithfulnessImageRecord {
  type: "image";
  key: string;
  /** The class the causal, confidence and ROAD metrics explain: the model's top class. */
  target: number;
  measures: Record<string, LabelMeasures>;
}

export interface FaithfulnessProblemRecord {
  type: "problem";
  key: string;
  message: string;
}

export type FaithfulnessRecord = FaithfulnessImageRecord | FaithfulnessProblemRecord;

interface CurveTally {
  n: number;
  auc: number;
  auc2: number;
  curve: number[];
}

/** One label's sums (every field a number or an array of numbers, so any two add element by element). */
export interface LabelTally {
  deletion?: CurveTally;
  insertion?: CurveTally;
  confidence?: { n: number; drop: number; increased: number };
  road?: { n: number; morf: number[]; lerf: number[]; base: number; combined: number; combined2: number };
  energy?: { sum: number[]; count: number[] };
}

export type FaithfulnessTallies = Record<string, LabelTally>;

export class FaithfulnessTallyError extends Error {
  override name = "FaithfulnessTallyError";
}

/** Empty tallies for `labels` and `metrics`, with the curve lengths and class count they will have. */
export function emptyTallies(
  labels: readonly string[],
  metrics: readonly FaithfulnessMetric[],
  sizes: { curvePoints: number; fractions: number; classes: number },
): FaithfulnessTallies {
  const zeros = (n: number) => new Array<number>(n).fill(0);
  const out: FaithfulnessTallies = {};
  for (const label of labels) {
    const t: LabelTally = {};
    for (const m of metrics) {
      if (m === "deletion" || m === "insertion") {
        t[m] = { n: 0, auc: 0, auc2: 0, curve: zeros(sizes.curvePoints) };
      }
      if (m === "confidence") t.confidence = { n: 0, drop: 0, increased: 0 };
      if (m === "road") {
        t.road = {
          n: 0,
          morf: zeros(sizes.fractions),
          lerf: zeros(sizes.fractions),
          base: 0,
          combined: 0,
          combined2: 0,
        };
      }
      if (m === "energy") t.energy = { sum: zeros(sizes.classes), count: zeros(sizes.classes) };
    }
    out[label] = t;
  }
  return out;
}

const addInto = (into: number[], from: readonly number[], what: string) => {
  if (into.length !== from.length) {
    throw new FaithfulnessTallyError(`${what}: ${from.length} values where the tallies hold ${into.length}`);
  }
  from.forEach((v, i) => (into[i] += v));
};

/** Adds one image's record to the tallies (in place); a label or metric the tallies lack is an error. */
export function addRecord(tallies: FaithfulnessTallies, record: FaithfulnessImageRecord): void {
  for (const [label, t] of Object.entries(tallies)) {
    const m = record.measures[label];
    if (!m) throw new FaithfulnessTallyError(`image ${record.key}: no measures for ${label}`);
    for (const mode of ["deletion", "insertion"] as const) {
      const c = t[mode];
      if (!c) continue;
      const r = m[mode];
      if (!r) throw new FaithfulnessTallyError(`image ${record.key}: no ${mode} for ${label}`);
      c.n += 1;
      c.auc += r.auc;
      c.auc2 += r.auc * r.auc;
      addInto(c.curve, r.scores, `image ${record.key} ${label} ${mode} curve`);
    }
    if (t.confidence) {
      if (!m.confidence) throw new FaithfulnessTallyError(`image ${record.key}: no confidence for ${label}`);
      const { full, masked } = m.confidence;
      t.confidence.n += 1;
      t.confidence.drop += Math.max(0, full - masked) / full;
      t.confidence.increased += masked > full ? 1 : 0;
    }
    if (t.road) {
      if (!m.road) throw new FaithfulnessTallyError(`image ${record.key}: no road for ${label}`);
      const combined = roadCombined(m.road);
      t.road.n += 1;
      t.road.base += m.road.base;
      t.road.combined += combined;
      t.road.combined2 += combined * combined;
      addInto(t.road.morf, m.road.morf, `image ${record.key} ${label} road morf`);
      addInto(t.road.lerf, m.road.lerf, `image ${record.key} ${label} road lerf`);
    }
    if (t.energy) {
      if (!m.energy) throw new FaithfulnessTallyError(`image ${record.key}: no energy for ${label}`);
      for (const [k, share] of m.energy) {
        if (!(k >= 0 && k < t.energy.sum.length)) {
          throw new FaithfulnessTallyError(`image ${record.key}: class ${k} outside the model's classes`);
        }
        t.energy.sum[k] += share;
        t.energy.count[k] += 1;
      }
    }
  }
}

/** a + b, element by element (the same labels, metrics and lengths). */
export function addFaithfulnessTallies(a: FaithfulnessTallies, b: FaithfulnessTallies): FaithfulnessTallies {
  const add = (x: unknown, y: unknown, path: string): unknown => {
    if (typeof x === "number" && typeof y === "number") return x + y;
    if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length) {
        throw new FaithfulnessTallyError(`${path}: lengths ${x.length} and ${y.length}`);
      }
      return x.map((v, i) => add(v, y[i], `${path}[${i}]`));
    }
    if (x && y && typeof x === "object" && typeof y === "object") {
      const keys = Object.keys(x);
      const other = Object.keys(y);
      if (keys.length !== other.length || keys.some((k) => !(k in y))) {
        throw new FaithfulnessTallyError(`${path}: fields ${keys.join(",")} and ${other.join(",")}`);
      }
      return Object.fromEntries(
        keys.map((
          k,
        ) => [k, add((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${path}.${k}`)]),
      );
    }
    throw new FaithfulnessTallyError(`${path}: cannot add ${JSON.stringify(x)} and ${JSON.stringify(y)}`);
  };
  return add(a, b, "tallies") as FaithfulnessTallies;
}

export interface LabelSummary {
  deletion?: { auc: number; sem: number; curve: number[]; images: number };
  insertion?: { auc: number; sem: number; curve: number[]; images: number };
  confidence?: { averageDrop: number; increase: number; images: number };
  road?: {
    fractions: number[];
    /** Mean probability after removal, per fraction. */
    morf: number[];
    lerf: number[];
    /** Mean of (probability after removal − on the image) over fractions and images (pytorch-grad-cam's diff). */
    morfDrop: number;
    lerfDrop: number;
    combined: number;
    sem: number;
    images: number;
  };
  energy?: { mean: number; classMean: number; perClass: (number | null)[]; pairs: number };
}

/** Mean and standard error from n, Σx and Σx². */
function meanSem(n: number, sum: number, sum2: number): { mean: number; sem: number } {
  const mean = sum / n;
  const variance = n > 1 ? Math.max(0, (sum2 - n * mean * mean) / (n - 1)) : 0;
  return { mean, sem: Math.sqrt(variance / n) };
}

/** The summary of tallies (ROAD's at `roadFractions`); a metric no image reached is left out. */
export function summariseTallies(
  tallies: FaithfulnessTallies,
  roadFractions: readonly number[] = [],
): Record<string, LabelSummary> {
  const out: Record<string, LabelSummary> = {};
  for (const [label, t] of Object.entries(tallies)) {
    const s: LabelSummary = {};
    for (const mode of ["deletion", "insertion"] as const) {
      const c = t[mode];
      if (!c || c.n === 0) continue;
      const { mean, sem } = meanSem(c.n, c.auc, c.auc2);
      s[mode] = { auc: mean, sem, curve: c.curve.map((v) => v / c.n), images: c.n };
    }
    if (t.confidence && t.confidence.n > 0) {
      const { n, drop, increased } = t.confidence;
      s.confidence = { averageDrop: (100 * drop) / n, increase: (100 * increased) / n, images: n };
    }
    if (t.road && t.road.n > 0) {
      const r = t.road;
      const { mean, sem } = meanSem(r.n, r.combined, r.combined2);
      const meanOf = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length / r.n;
      s.road = {
        fractions: [...roadFractions],
        morf: r.morf.map((v) => v / r.n),
        lerf: r.lerf.map((v) => v / r.n),
        morfDrop: meanOf(r.morf) - r.base / r.n,
        lerfDrop: meanOf(r.lerf) - r.base / r.n,
        combined: mean,
        sem,
        images: r.n,
      };
    }
    if (t.energy) {
      const pairs = t.energy.count.reduce((a, b) => a + b, 0);
      if (pairs > 0) {
        const perClass = t.energy.sum.map((v, k) => (t.energy!.count[k] > 0 ? v / t.energy!.count[k] : null));
        const seen = perClass.filter((v): v is number => v !== null);
        s.energy = {
          mean: t.energy.sum.reduce((a, b) => a + b, 0) / pairs,
          classMean: seen.reduce((a, b) => a + b, 0) / seen.length,
          perClass,
          pairs,
        };
      }
    }
    out[label] = s;
  }
  return out;
}

/** A label's running numbers in progress events (the curves and per-class values only in the result). */
export interface BriefSummary {
  deletion?: number;
  insertion?: number;
  averageDrop?: number;
  increase?: number;
  road?: number;
  energy?: number;
}

/** The running numbers of a summary. */
export function briefSummary(summary: Record<string, LabelSummary>): Record<string, BriefSummary> {
  return Object.fromEntries(
    Object.entries(summary).map(([label, s]) => [label, {
      deletion: s.deletion?.auc,
      insertion: s.insertion?.auc,
      averageDrop: s.confidence?.averageDrop,
      increase: s.confidence?.increase,
      road: s.road?.combined,
      energy: s.energy?.mean,
    }]),
  );
}
