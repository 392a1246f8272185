/**
 * Evaluation jobs spread over every retrace instance attached to one Redis (RETRACE_REDIS_URL): the accepting
 * side of POST /v1/evaluations. A job is split into shards (contiguous image ranges, lib/eval/pointing_run.ts
 * shardKeys) put on the shards stream, where any host's shard consumer takes them (workers/redis/
 * shard_consumer.ts). Job state, results and events live in Redis (workers/redis/store.ts), so GET, DELETE and
 * the SSE stream work on any instance; the stream merges the progress every host reports
 * (workers/redis/progress_view.ts). While Redis is unreachable new jobs, cancels and deletes are refused with
 * EvaluationsUnavailable (HTTP 503, a plain message), reads answer the last view this instance read marked
 * `stale` (503 for a job it never read), and open streams wait for it to come back. At most maxJobs jobs are queued or running over all hosts:
 * P:active (a sorted set of the unfinished job ids, pruned of finished ones by the same script that admits a
 * new one) is the count. Delete cancels an unfinished job and removes every key of a finished one.
 */
import type { Redis } from "ioredis";
import type { EvaluationKind, EvaluationSpec } from "../../lib/service/evaluation_spec.ts";
import { EvaluationResolveError } from "../../lib/service/resolve_evaluation.ts";
import type { JobResolution } from "../evaluations.ts";
import {
  type DeleteOutcome,
  EvaluationRejected,
  type Evaluations,
  EvaluationsUnavailable,
  FINAL_STATUSES,
  JOB_ID,
  type JobStatus,
  type JobView,
  type StreamEvent,
  TooManyJobs,
} from "../evaluations_api.ts";
import { entryFields, finishJob, type RedisKeys } from "./store.ts";
import { compareEntryIds, FINAL_EVENTS, liveNumbers, MergedProgress } from "./progress_view.ts";

/** An SSE stream re-reads the running tallies at most this often (besides whenever a shard is stored). */
const ACCURACY_EVERY_MS = 2000;

export interface RedisEvaluationsOptions {
  redis: Redis;
  keys: RedisKeys;
  hostId: string;
  /** Images per shard when the accepting host can count the dataset. */
  shardImages: number;
  /** Shards when it cannot (the dataset is not on this host). */
  defaultShards: number;
  /** Resolves the spec on this host; throws an EvaluationResolveError. */
  resolve: (spec: EvaluationSpec) => JobResolution;
  /** The images an evaluation covers (a dataset listing, done off the main thread). */
  count: (resolution: JobResolution, limit?: number) => Promise<number>;
  /** Seconds a finished job's keys are kept. */
  retainSeconds: number;
  /** Jobs queued or running over all hosts at most (RETRACE_MAX_JOBS); none when undefined. */
  maxJobs?: number;
}

/** A reserved id whose job hash is not written yet counts this long (a host that died mid-create). */
const RESERVATION_MS = 60_000;

/**
 * KEYS[1] = P:active. ARGV: max, id, now (ms), the job hash key prefix. Drops finished jobs (and reservations
 * older than RESERVATION_MS without a hash) from the set, then adds `id` if fewer than max remain: 1, else 0.
 */
const ADMIT = `local ids = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #ids, 2 do
  local s = redis.call('HGET', ARGV[4] .. ids[i], 'status')
  if s == 'done' or s == 'failed' or s == 'cancelled' or
     ((not s) and tonumber(ids[i + 1]) < tonumber(ARGV[3]) - ${RESERVATION_MS}) then
    redis.call('ZREM', KEYS[1], ids[i])
  end
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
return 1`;

/** Job views kept for reads while Redis is away. */
const SEEN_JOBS = 1000;

export interface RedisJobView extends JobView {
  /** Only while Redis is away: this is the view this instance last read, at `staleSince`. */
  stale?: boolean;
  staleSince?: string;
  shards: number;
  images: number | null;
  acceptedBy: string;
  /** Hosts that cannot run the job, and why. */
  refusals: Record<string, string>;
}

export class RedisEvaluations implements Evaluations {
  private readonly streams = new Set<Redis>();

  constructor(private readonly options: RedisEvaluationsOptions) {}

  /** The last view of each job this instance read, for reads while Redis is away (most recent last). */
  private readonly seen = new Map<string, { view: RedisJobView; at: string }>();

  /** The client's error is not the caller's business (it names library internals): a plain message. */
  private unavailable(_e?: unknown): EvaluationsUnavailable {
    return new EvaluationsUnavailable(
      "the evaluation queue (Redis) is unreachable; retry when it is back (running jobs continue then)",
    );
  }

  private remember(view: RedisJobView): RedisJobView {
    this.seen.delete(view.id);
    this.seen.set(view.id, { view, at: new Date().toISOString() });
    if (this.seen.size > SEEN_JOBS) this.seen.delete(this.seen.keys().next().value!);
    return view;
  }

  /** The last view read of a job, marked stale (as of when it was read), or undefined. */
  private stale(id: string): RedisJobView | undefined {
    const last = this.seen.get(id);
    return last ? { ...last.view, stale: true, staleSince: last.at } : undefined;
  }

  async create(spec: EvaluationSpec): Promise<RedisJobView> {
    const { redis, keys } = this.options;
    let resolution: JobResolution | null = null;
    try {
      resolution = this.options.resolve(spec);
    } catch (e) {
      // A dataset (or split) this host lacks may be on others; anything else is the request's fault.
      if (!(e instanceof EvaluationResolveError && (e.field === "dataset" || e.field === "split"))) {
        throw new EvaluationRejected(
          (e as Error).message,
          e instanceof EvaluationResolveError ? e.code : undefined,
        );
      }
    }
    if (redis.status !== "ready") throw this.unavailable();
    let images: number | null = null;
    if (resolution) {
      try {
        images = await this.options.count(resolution, spec.limit);
      } catch {
        images = null; // not readable here (e.g. still being generated): the shard hosts count for themselves
      }
    }
    if (images === 0) {
      throw new EvaluationRejected(`dataset: ${JSON.stringify(spec.dataset)} has no images`);
    }
    const shards = images === null
      ? this.options.defaultShards
      : Math.min(images, Math.ceil(images / this.options.shardImages));
    const id = crypto.randomUUID();
    const active = `${keys.jobs}:active`;
    if (this.options.maxJobs !== undefined) {
      let admitted: unknown;
      try {
        admitted = await redis.eval(ADMIT, 1, active, this.options.maxJobs, id, Date.now(), keys.job(""));
      } catch (e) {
        throw this.unavailable(e);
      }
      if (admitted !== 1) throw new TooManyJobs(this.options.maxJobs, 60);
    }
    const now = new Date().toISOString();
    const tx = redis.multi()
      .hset(keys.job(id), {
        id,
        spec: JSON.stringify(spec),
        status: "queued",
        createdAt: now,
        updatedAt: now,
        shards: String(shards),
        images: images === null ? "" : String(images),
        acceptedBy: this.options.hostId,
        result: "",
        error: "",
      })
      .zadd(keys.jobs, Date.now(), id)
      .xadd(keys.events(id), "*", "type", "status", "data", JSON.stringify({ status: "queued" }))
      .xadd(keys.events(id), "*", "type", "start", "data", JSON.stringify({ total: images, shards }));
    for (let i = 0; i < shards; i++) {
      tx.xadd(
        keys.shards,
        "*",
        "job",
        id,
        "shard",
        String(i),
        "count",
        String(shards),
        "images",
        String(images ?? ""),
      );
    }
    try {
      await tx.exec();
    } catch (e) {
      await redis.zrem(active, id).catch(() => {});
      throw this.unavailable(e);
    }
    return (await this.get(id))!;
  }

  async get(id: string): Promise<RedisJobView | undefined> {
    const { redis, keys } = this.options;
    if (!JOB_ID.test(id)) return undefined;
    let h: Record<string, string>, progress: Record<string, string>, refusals: Record<string, string>;
    try {
      [h, progress, refusals] = await Promise.all([
        redis.hgetall(keys.job(id)),
        redis.hgetall(keys.progress(id)),
        redis.hgetall(keys.refusals(id)),
      ]);
    } catch (e) {
      const last = this.stale(id);
      if (last) return last;
      throw this.unavailable(e);
    }
    if (!h.id) {
      this.seen.delete(id);
      return undefined;
    }
    return this.remember(view(h, progress, refusals));
  }

  /**
   * Every job, newest first. While Redis is away: the jobs this instance last read, marked stale (and the
   * job list as this instance last saw it), or EvaluationsUnavailable when it has seen none.
   */
  async list(): Promise<RedisJobView[]> {
    const { redis, keys } = this.options;
    try {
      const ids = await redis.zrevrange(keys.jobs, 0, 999);
      const views = await Promise.all(ids.map((id) => this.get(id)));
      if (views.some((v) => v?.stale)) throw this.unavailable(); // Redis went away meanwhile
      return views.filter((v): v is RedisJobView => v !== undefined);
    } catch (e) {
      const last = [...this.seen.keys()].reverse().map((id) => this.stale(id)!);
      if (last.length) return last.sort((x, y) => y.createdAt.localeCompare(x.createdAt));
      throw e instanceof EvaluationsUnavailable ? e : this.unavailable(e);
    }
  }

  async cancel(id: string): Promise<RedisJobView | undefined> {
    const { redis, keys } = this.options;
    const job = await this.get(id);
    if (job?.stale) throw this.unavailable(); // a cancel needs Redis
    if (!job || FINAL_STATUSES.includes(job.status)) return job;
    try {
      if (await finishJob(redis, keys, id, "cancelled", {}, this.options.retainSeconds)) {
        await redis.publish(keys.cancel, id);
      }
    } catch (e) {
      throw this.unavailable(e);
    }
    return this.get(id);
  }

  async delete(id: string): Promise<DeleteOutcome | undefined> {
    const job = await this.get(id);
    if (!job) return undefined;
    if (job.stale) throw this.unavailable(); // a delete needs Redis
    if (!FINAL_STATUSES.includes(job.status)) {
      const after = await this.cancel(id);
      return { id, status: after?.status ?? "cancelled", deleted: false };
    }
    const { redis, keys } = this.options;
    try {
      await redis.multi().del(...keys.allOf(id)).zrem(keys.jobs, id).zrem(`${keys.jobs}:active`, id).exec();
    } catch (e) {
      throw this.unavailable(e);
    }
    this.seen.delete(id);
    return { id, status: job.status, deleted: true };
  }

  async *events(id: string, afterId: string | undefined, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    const { redis, keys } = this.options;
    const reader = redis.duplicate(); // XREAD BLOCK holds its connection
    reader.on("error", () => {});
    this.streams.add(reader);
    const stop = () => reader.disconnect();
    signal.addEventListener("abort", stop);
    const merged = new MergedProgress();
    let accuracy: Record<string, unknown> | null = null;
    let kind: EvaluationKind | null = null; // read once, when the first progress goes out
    let accuracyAt = 0;
    let cursor = "0";
    try {
      while (!signal.aborted) {
        let batch: [string, [string, string[]][]][] | null;
        try {
          batch = await reader.xread("COUNT", 500, "BLOCK", 5000, "STREAMS", keys.events(id), cursor);
        } catch {
          if (signal.aborted) return;
          await new Promise((r) => setTimeout(r, 1000)); // Redis away: wait for it
          continue;
        }
        const out: StreamEvent[] = [];
        let final = false;
        for (const [entry, fields] of batch?.[0]?.[1] ?? []) {
          cursor = entry;
          const f = entryFields(fields);
          const events = merged.apply({ id: entry, type: f.type, data: JSON.parse(f.data ?? "{}") });
          if (!afterId || compareEntryIds(entry, afterId) > 0) {
            out.push(...events.map((e) => ({ id: entry, ...e })));
          }
          if ((final = FINAL_EVENTS.includes(f.type))) break;
        }
        // Progress events are snapshots: of a batch (a replay reads up to 500 entries at once) only the last one
        // goes out, with the running accuracy; none before any tallies exist. The tallies hash (one entry per
        // running shard) is read at most every ACCURACY_EVERY_MS per stream, and whenever a shard was stored.
        const lastProgress = out.findLastIndex((e) => e.type === "progress");
        if (
          lastProgress >= 0 &&
          (Date.now() - accuracyAt >= ACCURACY_EVERY_MS || out.some((e) => e.type === "shard"))
        ) {
          kind ??= await redis.hget(keys.job(id), "spec").then(
            (spec) => (spec ? (JSON.parse(spec) as EvaluationSpec).kind ?? "pointing" : null),
            () => null,
          );
          if (kind) {
            accuracy = liveNumbers(kind, await redis.hgetall(keys.tallies(id)).catch(() => ({}))) ?? accuracy;
          }
          accuracyAt = Date.now();
        }
        for (const [i, e] of out.entries()) {
          if (e.type !== "progress") yield e;
          else if (i === lastProgress && accuracy) {
            yield { ...e, data: { ...(e.data as object), ...accuracy } };
          }
        }
        if (final) return;
      }
    } finally {
      signal.removeEventListener("abort", stop);
      this.streams.delete(reader);
      reader.disconnect();
    }
  }

  close(): Promise<void> {
    for (const r of this.streams) r.disconnect();
    return Promise.resolve();
  }
}

function view(
  h: Record<string, string>,
  progress: Record<string, string>,
  refusals: Record<string, string>,
): RedisJobView {
  const images = h.images ? Number(h.images) : null;
  const reports = Object.values(progress).map((p) => JSON.parse(p) as { done: number; total: number });
  return {
    id: h.id,
    spec: JSON.parse(h.spec),
    status: h.status as JobStatus,
    createdAt: h.createdAt,
    updatedAt: h.updatedAt,
    progress: reports.length
      ? {
        done: reports.reduce((n, p) => n + p.done, 0),
        total: images ?? reports.reduce((n, p) => n + p.total, 0),
      }
      : null,
    result: h.result ? JSON.parse(h.result) : null,
    error: h.error || null,
    shards: Number(h.shards),
    images,
    acceptedBy: h.acceptedBy,
    refusals,
  };
}
