/**
 * Turns the raw events every host appends to a job's Redis stream (shard-start, shard-progress, shard-done,
 * problem, refused, status, start, done / failed / cancelled) into the job's Server-Sent Events, merged over all
 * hosts: one "progress" event with the images done over every shard, the rate and the ETA. A shard counts its
 * last report; once its result is stored, later reports about it (a stalled host waking up) are ignored, and a
 * shard redelivered to another host starts again from what that host reports. Pure: replaying the stream
 * rebuilds the same state. The running accuracy (a faithfulness job: its running numbers) comes from the job's
 * tallies hash (summed stored shards plus each running shard's latest tallies, workers/redis/store.ts), read when
 * the events go out: `withAccuracy` / `liveNumbers`.
 */
import { addTallies, faithfulnessLive, talliesSummary } from "../../lib/eval/merge_results.ts";
import type { FaithfulnessTallies } from "../../lib/eval/faithfulness_record.ts";
import type { EvaluationKind } from "../../lib/service/evaluation_spec.ts";
import type { PointingResult } from "../../lib/eval/pointing_run.ts";

type Tallies = PointingResult["tallies"];

export interface RawEvent {
  /** The stream entry id, "<ms>-<seq>". */
  id: string;
  type: string;
  data: Record<string, unknown>;
}

interface ShardState {
  done: number;
  total: number;
  host: string;
  problems: number;
  finished: boolean;
}

export const FINAL_EVENTS = ["done", "failed", "cancelled"];

/** Milliseconds of a stream entry id. */
export function entryTime(id: string): number {
  return Number(id.split("-")[0]);
}

/** Orders stream entry ids ("ms-seq"); negative when a < b. */
export function compareEntryIds(a: string, b: string): number {
  const [am, as] = a.split("-").map(Number);
  const [bm, bs] = b.split("-").map(Number);
  return am !== bm ? am - bm : (as ?? 0) - (bs ?? 0);
}

export class MergedProgress {
  private total: number | null = null;
  private shardCount = 0;
  private readonly shards = new Map<number, ShardState>();
  private scored = 0;
  private firstAt: number | null = null;

  /** The SSE events (type, data) this raw event yields, in order. */
  apply(e: RawEvent): { type: string; data: unknown }[] {
    const d = e.data;
    switch (e.type) {
      case "start":
        this.total = typeof d.total === "number" ? d.total : null;
        this.shardCount = Number(d.shards);
        return [{ type: "start", data: { total: this.total, done: 0, shards: this.shardCount } }];
      case "shard-start":
      case "shard-progress": {
        const index = Number(d.shard);
        const prev = this.shards.get(index);
        if (prev?.finished) return []; // a late report about a shard already counted
        const done = Number(d.done);
        this.count(e, done - (prev && prev.host === d.host ? prev.done : 0));
        this.shards.set(index, {
          done,
          total: Number(d.total),
          host: String(d.host),
          problems: Number(d.problems ?? 0),
          finished: false,
        });
        return this.progress(e);
      }
      case "shard-done": {
        const index = Number(d.shard);
        const prev = this.shards.get(index);
        const total = Number(d.images) + Number(d.problems);
        this.count(e, total - (prev && prev.host === d.host ? prev.done : 0));
        this.shards.set(index, {
          done: total,
          total,
          host: String(d.host),
          problems: Number(d.problems),
          finished: true,
        });
        return [
          { type: "shard", data: { shard: index, host: d.host, images: d.images, problems: d.problems } },
          ...this.progress(e),
        ];
      }
      default:
        return [{ type: e.type, data: d }];
    }
  }

  private count(e: RawEvent, newlyDone: number): void {
    if (this.firstAt === null) this.firstAt = entryTime(e.id);
    this.scored += Math.max(0, newlyDone);
  }

  private progress(e: RawEvent): { type: string; data: unknown }[] {
    const states = [...this.shards.values()];
    const done = states.reduce((n, s) => n + s.done, 0);
    const total = this.total ?? states.reduce((n, s) => n + s.total, 0);
    const seconds = (entryTime(e.id) - (this.firstAt ?? entryTime(e.id))) / 1000;
    const rate = seconds > 0 ? this.scored / seconds : 0;
    return [{
      type: "progress",
      data: {
        done,
        total,
        problems: states.reduce((n, s) => n + s.problems, 0),
        imagesPerSecond: rate,
        etaSeconds: rate > 0 ? Math.max(0, total - done) / rate : null,
        shards: this.shardCount,
        shardsDone: states.filter((s) => s.finished).length,
        hosts: [...new Set(states.filter((s) => !s.finished).map((s) => s.host))],
      },
    }];
  }
}

/**
 * The running accuracy and per-class accuracy ("all" subset) from a job's tallies hash (its "counted" sum and
 * "live:<shard>" entries), to add to progress events; null while no shard has reported tallies.
 */
export function withAccuracy(
  tallies: Record<string, string>,
): {
  accuracy: PointingResult["accuracy"];
  classAccuracy: Record<string, number[]>;
  classCounts: Record<string, number[]>;
} | null {
  const parts = Object.values(tallies).map((t) => JSON.parse(t) as Tallies).filter((t) =>
    Object.keys(t).length
  );
  if (parts.length === 0) return null;
  const sum = addTallies(parts);
  const { accuracy, perClass } = talliesSummary(sum);
  return {
    accuracy,
    classAccuracy: Object.fromEntries(Object.entries(perClass).map(([l, p]) => [l, p.all])),
    classCounts: Object.fromEntries(
      Object.entries(sum).map(([l, t]) => [l, t.all.hits.map((h, k) => h + t.all.misses[k])]),
    ),
  };
}

/** The running numbers of either kind of job from its tallies hash; null while no shard has reported tallies. */
export function liveNumbers(
  kind: EvaluationKind,
  tallies: Record<string, string>,
): Record<string, unknown> | null {
  if (kind === "pointing") return withAccuracy(tallies);
  const parts = Object.values(tallies).map((t) => JSON.parse(t) as FaithfulnessTallies).filter((t) =>
    Object.keys(t).length
  );
  return parts.length ? faithfulnessLive(parts) : null;
}
