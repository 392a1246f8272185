/**
 * The shard-taking side of distributed evaluations: every instance with RETRACE_REDIS_URL runs one of these, with
 * `slots` evaluation workers (workers/evaluation_worker.ts, each its own tfjs runtime, kept between shards).
 * A slot takes a shard left idle past the visibility timeout (XAUTOCLAIM: its host died or stalled) or else a
 * new one (XREADGROUP), runs it, stores its result once (HSETNX keyed by shard), and only then acknowledges it;
 * the host that stores a job's last shard merges the results (lib/eval/merge_results.ts) and finishes the job.
 * While running it reports progress (at most every 2 s: counts to the job's stream, its running tallies to the
 * job's tallies hash) and renews its claim while the worker
 * makes progress; if the claim was taken over (checked on a timer, so a hung worker is noticed too), or the job
 * ends or is cancelled (pub/sub), its worker is terminated. A host that cannot resolve the
 * job's model or dataset, or whose copy of the dataset has another image count, refuses the shard: it records
 * why, puts the shard back for other hosts, and fails the job once every live host has refused. Redis being
 * away only pauses it: every step retries until Redis is back.
 */
import * as Comlink from "comlink";
import type { Redis } from "ioredis";
import type { EvaluationApi } from "../evaluation_worker.ts";
import type { JobResolution } from "../evaluations.ts";
import { FINAL_STATUSES, type JobStatus } from "../evaluations_api.ts";
import { CancelSubscription, type CancelSubscriptionState } from "./cancel_subscription.ts";
import { housekeeping } from "./housekeeping.ts";
import {
  type EvaluationEvent,
  type EvaluationResult,
  mergeEvaluationResults,
  withoutDerived,
} from "../../lib/eval/merge_results.ts";
import type { EvaluationSpec } from "../../lib/service/evaluation_spec.ts";
import {
  addEvent,
  ensureGroup,
  entryFields,
  finishJob,
  GROUP,
  holdsClaim,
  HOST_BEAT_MS,
  HOST_LIVE_MS,
  liveHosts,
  markRunning,
  type RedisKeys,
  renewClaim,
  reportShardProgress,
  storeShardResult,
  whenReady,
} from "./store.ts";

export interface ShardConsumerOptions {
  redis: Redis;
  keys: RedisKeys;
  hostId: string;
  /** Shards run at once on this host (one evaluation worker each). */
  slots: number;
  /** A shard whose claim is not renewed for this long is taken over by another host. */
  visibilityMs: number;
  /** Where shards' results files go (a redelivered shard resumes from its file on the same host). */
  workDir: string;
  backend: string;
  /** Resolves a spec on this host (throws when this host lacks the model or dataset). */
  resolve: (spec: EvaluationSpec) => JobResolution;
  /** Seconds a finished job's keys are kept. */
  retainSeconds: number;
  workerUrl?: URL;
  /** A read unanswered this long replaces the slot's reader connection (default READ_STALL_MS). */
  readStallMs?: number;
  /** The slots take shards only after this settles (a dataset this host prepares on its first start). */
  ready?: Promise<unknown>;
  /** A host unseen this long has departed (default: 10 minutes, or two shard timeouts if longer). */
  departedMs?: number;
  /** The timers behind the claim watch and the read-stall limit (default: the runtime's; tests drive them). */
  timers?: ClaimTimers;
  log?: (level: "info" | "warn", message: string) => void;
}

/**
 * Timers as the claim watch (renew or give up a shard every quarter of the visibility timeout) and the read-stall
 * limit use them. Production uses the runtime's; a test passes a manual clock and advances it, so that when a
 * claim is checked or a read counts as stalled does not depend on how busy the machine is.
 */
export interface ClaimTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(id: unknown): void;
}

type TimerId = ReturnType<typeof setTimeout>;

/** The runtime's timers. */
export const RUNTIME_TIMERS: ClaimTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as TimerId),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id as TimerId),
};

interface ShardMessage {
  entry: string;
  job: string;
  shard: number;
  count: number;
  images: number | null;
  fields: string[];
}

type Outcome =
  | { kind: "result"; result: EvaluationResult }
  | { kind: "refused"; reason: string }
  | { kind: "error"; message: string }
  | { kind: "stopped"; why: "cancelled" | "lost" | "closing" };

interface Slot {
  worker: Worker | null;
  api: Comlink.Remote<EvaluationApi> | null;
  /** Ends the current shard early (the worker is terminated). */
  stop: ((why: "cancelled" | "lost" | "closing") => void) | null;
  job: string | null;
  /** The shard index the slot runs (with `job`). */
  shard: number | null;
  /** Renews the claim on the slot's shard now (after an outage). */
  renew: (() => void) | null;
}

/** Housekeeping (workers/redis/housekeeping.ts) runs at start and then this often. */
const HOUSEKEEPING_EVERY_MS = 60_000;

/** Progress reports per running shard at most this often (counts in the stream, tallies in a hash). */
const PROGRESS_EVERY_MS = 2000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long XREADGROUP blocks for new shards. */
const BLOCK_MS = 2000;
/** A slot's read (XAUTOCLAIM + XREADGROUP BLOCK) unanswered this long means a dead connection. */
export const READ_STALL_MS = 15_000;

/** `p`, or a rejection after `ms` (calling `onStall` first); `p`'s own late failure is then ignored. */
function answeredWithin<T>(p: Promise<T>, ms: number, timers: ClaimTimers, onStall: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = timers.setTimeout(() => {
      onStall();
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
    p.then(
      (v) => (timers.clearTimeout(timer), resolve(v)),
      (e) => (timers.clearTimeout(timer), reject(e)),
    );
  });
}

export class ShardConsumer {
  private closed = false;
  private readonly slots: Slot[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly connections: Redis[] = [];
  private beat: ReturnType<typeof setInterval> | undefined;
  private readonly timers: ClaimTimers;
  private cancels: CancelSubscription | null = null;
  private heartbeat: (() => void) | null = null;
  private tidy: ReturnType<typeof setInterval> | undefined;
  /** No other host's shard is claimed before this time (ms): set when Redis comes back after an outage. */
  private claimAfter = 0;

  constructor(private readonly options: ShardConsumerOptions) {
    this.timers = options.timers ?? RUNTIME_TIMERS;
  }

  private log(level: "info" | "warn", message: string): void {
    this.options.log?.(level, message);
  }

  start(): void {
    const { redis, keys, hostId } = this.options;
    this.cancels = new CancelSubscription(
      redis,
      keys.cancel,
      (job) => this.stopJob(job, "cancelled"),
      (level, message) => this.log(level, message),
    );
    this.cancels.start();
    const heartbeat = () => redis.hset(keys.hosts, hostId, String(Date.now())).catch(() => {});
    // at once when the connection is ready (a command before that is refused: no offline queue), then every beat
    let connected = redis.status === "ready";
    if (connected) heartbeat();
    const onReady = () => {
      heartbeat();
      if (connected) {
        // Back after an outage: every pending shard may look idle past the timeout now, though its host computed
        // through the outage. Renew this host's claims at once, and take no other host's shard for half a
        // timeout, so that each live host renews its own first.
        this.claimAfter = Date.now() + this.options.visibilityMs / 2;
        for (const s of this.slots) s.renew?.();
      }
      connected = true;
    };
    redis.on("ready", onReady);
    this.heartbeat = onReady;
    this.beat = setInterval(heartbeat, HOST_BEAT_MS);
    const tidy = () => {
      if (redis.status !== "ready") return;
      housekeeping(redis, keys, {
        departedMs: this.departedMs(),
        workDir: this.options.workDir,
        running: () => this.slots.flatMap((s) => (s.job ? [s.job] : [])),
      }).then((r) => {
        const done = [
          r.trimmed && `${r.trimmed} finished shard entries trimmed`,
          r.jobsForgotten && `${r.jobsForgotten} expired jobs unlisted`,
          r.hostsForgotten.length && `departed hosts ${r.hostsForgotten.join(", ")} forgotten`,
          r.consumersDeleted.length && `consumers ${r.consumersDeleted.join(", ")} deleted`,
          r.filesRemoved.length && `${r.filesRemoved.length} orphaned shard files removed`,
        ].filter(Boolean);
        if (done.length) this.log("info", `housekeeping: ${done.join("; ")}`);
      }, (e) => this.log("warn", `housekeeping: ${(e as Error).message}`));
    };
    if (redis.status === "ready") tidy();
    redis.once("ready", tidy);
    this.tidy = setInterval(tidy, HOUSEKEEPING_EVERY_MS);
    Deno.unrefTimer(this.tidy);
    for (let i = 0; i < this.options.slots; i++) {
      const slot: Slot = { worker: null, api: null, stop: null, job: null, shard: null, renew: null };
      this.slots.push(slot);
    }
    const begin = () => {
      if (!this.closed) { for (const slot of this.slots) this.loops.push(this.loop(slot)); }
    };
    if (this.options.ready) {
      this.log("info", "shard consumer: taking shards once this host's data is prepared");
      this.options.ready.then(begin, begin);
    } else begin();
  }

  /** A host unseen this long has left (its hosts entry and its idle, empty consumer are removed). */
  private departedMs(): number {
    return this.options.departedMs ?? Math.max(60 * HOST_LIVE_MS, 2 * this.options.visibilityMs);
  }

  /** This host's side of the queue for /healthz: the cancel subscription and the shards its slots run. */
  health(): {
    cancelSubscription: CancelSubscriptionState | null;
    slots: number;
    running: { job: string; shard: number }[];
  } {
    return {
      cancelSubscription: this.cancels?.state() ?? null,
      slots: this.slots.length,
      running: this.slots.flatMap((
        s,
      ) => (s.job !== null && s.shard !== null ? [{ job: s.job, shard: s.shard }] : [])),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.beat);
    clearInterval(this.tidy);
    if (this.heartbeat) this.options.redis.off("ready", this.heartbeat);
    this.cancels?.close();
    for (const s of this.slots) s.stop?.("closing");
    for (const c of this.connections) c.disconnect();
    await Promise.allSettled(this.loops);
    for (const s of this.slots) s.worker?.terminate();
  }

  private stopJob(job: string, why: "cancelled"): void {
    for (const s of this.slots) if (s.job === job) s.stop?.(why);
  }

  /** A connection of its own for a slot's XREADGROUP BLOCK (it holds the connection while it waits). */
  private newReader(): Redis {
    const reader = this.options.redis.duplicate();
    reader.on("error", () => {});
    this.connections.push(reader);
    return reader;
  }

  private dropReader(reader: Redis): void {
    reader.disconnect();
    this.connections.splice(this.connections.indexOf(reader), 1);
  }

  private async loop(slot: Slot): Promise<void> {
    let reader = this.newReader();
    let grouped = false;
    let failing = 0; // attempts failed in a row
    while (!this.closed) {
      try {
        // both connections this loop uses must be ready: a command before that is refused (no offline queue)
        if (!(await whenReady(reader, 2000)) || !(await whenReady(this.options.redis, 2000))) continue;
        if (!grouped) {
          await ensureGroup(this.options.redis, this.options.keys);
          grouped = true;
        }
        // A read that gets no answer (a half-open connection: a reply lost in the network, a peer gone without
        // a reset) would stall this slot for good: past READ_STALL_MS the reader is replaced. An entry it may
        // have been handed stays pending and is claimed again after the visibility timeout.
        const stalled = reader;
        const stallMs = this.options.readStallMs ?? READ_STALL_MS;
        const msg = await answeredWithin(this.next(reader), stallMs, this.timers, () => {
          this.log("warn", `shard consumer: no answer from Redis for ${stallMs / 1000} s; new connection`);
          this.dropReader(stalled);
          reader = this.newReader();
        });
        if (failing) {
          this.log("info", `shard consumer: Redis answers again after ${failing} failed attempt(s)`);
          failing = 0;
        }
        if (msg) await this.handle(slot, msg);
      } catch (e) {
        if (this.closed) break;
        // one line per outage, not one per retry
        if (failing++ === 0) {
          this.log("warn", `shard consumer: ${(e as Error).message}; retrying every second`);
        }
        await sleep(1000);
      }
    }
  }

  private async next(reader: Redis): Promise<ShardMessage | null> {
    const { redis, keys, hostId, visibilityMs } = this.options;
    if (Date.now() >= this.claimAfter) {
      const claimed = await redis.xautoclaim(keys.shards, GROUP, hostId, visibilityMs, "0-0", "COUNT", 1) as [
        string,
        [string, string[] | null][],
      ];
      const taken = claimed[1]?.[0];
      if (taken) return this.parse(taken[0], taken[1]);
    }
    const got = await reader.xreadgroup(
      "GROUP",
      GROUP,
      hostId,
      "COUNT",
      1,
      "BLOCK",
      BLOCK_MS,
      "STREAMS",
      keys.shards,
      ">",
    ) as [string, [string, string[]][]][] | null;
    const entry = got?.[0]?.[1]?.[0];
    return entry ? this.parse(entry[0], entry[1]) : null;
  }

  private async parse(entry: string, fields: string[] | null): Promise<ShardMessage | null> {
    if (!fields) { // trimmed away: nothing to run
      await this.ack(entry);
      return null;
    }
    const f = entryFields(fields);
    return {
      entry,
      job: f.job,
      shard: Number(f.shard),
      count: Number(f.count),
      images: f.images ? Number(f.images) : null,
      fields,
    };
  }

  /** This host's results file for a shard (a shard redelivered to the same host resumes from it). */
  private resultsPath(msg: ShardMessage): string {
    return `${this.options.workDir}/${msg.job}.shard-${msg.shard}-of-${msg.count}.jsonl`;
  }

  private ack(entry: string): Promise<number> {
    return this.options.redis.xack(this.options.keys.shards, GROUP, entry);
  }

  private async handle(slot: Slot, msg: ShardMessage): Promise<void> {
    const { redis, keys } = this.options;
    const job = await redis.hgetall(keys.job(msg.job));
    if (!job.status || FINAL_STATUSES.includes(job.status as JobStatus)) {
      await this.ack(msg.entry);
      return;
    }
    if (await redis.hexists(keys.results(msg.job), String(msg.shard))) {
      await this.finalize(msg.job, msg.count); // counted already (a redelivery after a crash before the ack)
      await this.ack(msg.entry);
      return;
    }
    const spec = JSON.parse(job.spec) as EvaluationSpec;
    let resolution: JobResolution;
    try {
      resolution = this.options.resolve(spec);
    } catch (e) {
      await this.refuse(msg, (e as Error).message);
      return;
    }
    await markRunning(redis, keys, msg.job);
    const started = Date.now();
    const outcome = await this.run(slot, msg, spec, resolution);
    // a job that ended elsewhere says how it ended (cancelled, failed, or done by another host's last shard)
    const ended = outcome.kind === "stopped" && outcome.why === "cancelled"
      ? await redis.hget(keys.job(msg.job), "status").catch(() => null)
      : null;
    this.log(
      "info",
      `shard ${msg.shard} of 0-${msg.count - 1} of job ${msg.job}: ${
        outcome.kind !== "stopped"
          ? outcome.kind
          : outcome.why === "cancelled"
          ? `stopped: the job ended (${ended ?? "status unknown"})`
          : `stopped (${outcome.why})`
      } after ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    switch (outcome.kind) {
      case "result":
        await this.untilStored(msg, outcome.result);
        return;
      case "refused":
        await this.refuse(msg, outcome.reason);
        return;
      case "error":
        await this.fail(
          msg,
          `shard ${msg.shard} of 0-${msg.count - 1} on ${this.options.hostId}: ${outcome.message}`,
        );
        return;
      case "stopped":
        if (outcome.why === "cancelled") {
          await this.ack(msg.entry);
          await Deno.remove(this.resultsPath(msg)).catch(() => {});
        }
        return; // lost: the host that took it over acknowledges it; closing: redelivered later
    }
  }

  private run(
    slot: Slot,
    msg: ShardMessage,
    spec: EvaluationSpec,
    resolution: JobResolution,
  ): Promise<Outcome> {
    const { redis, keys, hostId, visibilityMs } = this.options;
    if (!slot.worker) {
      const url = this.options.workerUrl ?? new URL("../evaluation_worker.ts", import.meta.url);
      slot.worker = new Worker(url, { type: "module" });
      slot.api = Comlink.wrap<EvaluationApi>(slot.worker);
    }
    const worker = slot.worker;
    const api = slot.api!; // this shard's worker, even if the slot's is replaced meanwhile
    const dropWorker = () => {
      worker.terminate();
      if (slot.worker === worker) slot.worker = slot.api = null;
    };
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const settle = (o: Outcome) => {
        if (settled) return;
        settled = true;
        this.timers.clearInterval(watch); // settle is only ever called after the executor has run: watch is set
        slot.stop = null;
        slot.job = null;
        slot.shard = null;
        slot.renew = null;
        worker.removeEventListener("error", onError);
        resolve(o);
      };
      slot.job = msg.job;
      slot.shard = msg.shard;
      // this shard's own stop: a renewal answered after the shard ended must not stop the slot's next shard
      const stop = (why: "cancelled" | "lost" | "closing") => {
        if (settled) return;
        dropWorker();
        settle({ kind: "stopped", why });
      };
      slot.stop = stop;
      slot.renew = () => renewClaim(redis, keys, hostId, msg.entry).catch(() => false);
      // A cancel published before this slot was registered reached no one: look at the job once now (a cancel
      // after this point finds the slot).
      redis.hget(keys.job(msg.job), "status").then((status) => {
        if (FINAL_STATUSES.includes(status as JobStatus)) stop("cancelled");
      }, () => {});
      const onError = (e: ErrorEvent) => {
        e.preventDefault();
        dropWorker();
        settle({ kind: "error", message: `the evaluation worker crashed: ${e.message}` });
      };
      worker.addEventListener("error", onError);
      let result: EvaluationResult | null = null;
      let lastReport = 0;
      let progressed = false; // the worker reported something since the last renewal
      const report = (type: string, data: Record<string, unknown>) => {
        addEvent(redis, keys, msg.job, type, { shard: msg.shard, host: hostId, ...data }).catch(() => {});
      };
      const onEvent = (ev: EvaluationEvent | { type: "status"; message: string }) => {
        if (settled) return;
        const now = Date.now();
        if (ev.type === "start") {
          report("shard-start", { done: ev.done, total: ev.total });
        } else if (ev.type === "problem") {
          report("problem", { key: ev.key, message: ev.message });
        } else if (ev.type === "done") {
          result = ev.result;
        } else if (ev.type === "image" && now - lastReport >= PROGRESS_EVERY_MS) {
          lastReport = now;
          report("shard-progress", { done: ev.done, total: ev.total, problems: ev.problems });
          reportShardProgress(
            redis,
            keys,
            msg.job,
            msg.shard,
            hostId,
            msg.entry,
            JSON.stringify({ done: ev.done, total: ev.total, host: hostId }),
            JSON.stringify(ev.tallies ?? {}),
          ).catch(() => {});
        }
        if (ev.type !== "done") progressed = true;
      };
      // Every quarter of the visibility timeout: renew the claim if the worker reported anything since the last
      // renewal (a stalled or hung worker stops renewing, so another host takes the shard over), and stop this
      // copy once the claim is gone or the job has ended — checked even when the worker reports nothing.
      const watch = this.timers.setInterval(() => {
        const renew = progressed;
        progressed = false;
        Promise.all([
          renew ? renewClaim(redis, keys, hostId, msg.entry) : holdsClaim(redis, keys, hostId, msg.entry),
          redis.hget(keys.job(msg.job), "status"),
        ]).then(([owned, status]) => {
          if (settled) return;
          if (FINAL_STATUSES.includes(status as JobStatus)) {
            stop("cancelled"); // the job ended (a cancel whose pub/sub message this host missed, or done)
          } else if (!owned) {
            this.log(
              "warn",
              `shard ${msg.shard} of ${msg.job} was taken over by another host; stopping here`,
            );
            stop("lost");
          }
        }, () => {}); // Redis away: keep going, the claim is renewed later
      }, visibilityMs / 4);
      const resultsPath = this.resultsPath(msg);
      Deno.mkdir(this.options.workDir, { recursive: true }).then(() =>
        api.run(
          this.options.backend,
          resolution.modelDir,
          resolution.dataset,
          spec,
          resultsPath,
          Comlink.proxy(onEvent),
          {
            shard: { index: msg.shard, count: msg.count },
            withTallies: true,
            expectImages: msg.images ?? undefined,
          },
        )
      ).then(
        (r) => {
          if (r.refused) settle({ kind: "refused", reason: r.refused });
          else if (result) settle({ kind: "result", result });
          else settle({ kind: "error", message: "the run ended without a result" });
        },
        (e) => settle({ kind: "error", message: (e as Error)?.message ?? String(e) }),
      );
    });
  }

  /** Stores the result and acknowledges the shard, retrying while Redis is away. */
  private async untilStored(msg: ShardMessage, result: EvaluationResult): Promise<void> {
    const { redis, keys, hostId } = this.options;
    const { tallies, images, problems } = result;
    let tries = 0;
    for (;;) {
      try {
        const counted = await storeShardResult(
          redis,
          keys,
          msg.job,
          msg.shard,
          // the accuracies / summaries are derived from the tallies; the merge recomputes them from their sum
          JSON.stringify(withoutDerived(result)),
          JSON.stringify({ shard: msg.shard, host: hostId, images, problems: problems.length }),
          JSON.stringify(tallies),
        );
        if (counted) {
          await redis.hset(
            keys.progress(msg.job),
            String(msg.shard),
            JSON.stringify({ done: images + problems.length, total: images + problems.length, host: hostId }),
          );
        }
        await this.finalize(msg.job, msg.count); // before the ack: a crash in between redelivers, not loses
        await this.ack(msg.entry);
        await Deno.remove(this.resultsPath(msg)).catch(() => {});
        return;
      } catch (e) {
        if (this.closed) return;
        if (tries++ === 0) {
          this.log(
            "warn",
            `storing shard ${msg.shard} of job ${msg.job}: ${(e as Error).message}; retrying every second`,
          );
        }
        await sleep(1000);
      }
    }
  }

  /** When every shard's result is stored: merge them and finish the job (once, whichever host gets here). */
  private async finalize(job: string, count: number): Promise<void> {
    const { redis, keys, retainSeconds } = this.options;
    if (await redis.hlen(keys.results(job)) < count) return;
    const stored = await redis.hgetall(keys.results(job));
    let merged: EvaluationResult;
    try {
      merged = mergeEvaluationResults(Object.values(stored).map((r) => JSON.parse(r) as EvaluationResult));
    } catch (e) {
      const error = `merging the shards: ${(e as Error).message}`;
      await finishJob(redis, keys, job, "failed", { error }, retainSeconds);
      return;
    }
    await finishJob(redis, keys, job, "done", { result: merged }, retainSeconds);
  }

  private async fail(msg: ShardMessage, error: string): Promise<void> {
    const { redis, keys, retainSeconds } = this.options;
    if (await finishJob(redis, keys, msg.job, "failed", { error }, retainSeconds)) {
      await redis.publish(keys.cancel, msg.job);
    }
    await this.ack(msg.entry);
  }

  /**
   * This host cannot run the job: say why (once per host), and put the shard back for the others — unless every
   * live host has refused, which fails the job with all their reasons.
   */
  private async refuse(msg: ShardMessage, reason: string): Promise<void> {
    const { redis, keys, hostId } = this.options;
    if (await redis.hset(keys.refusals(msg.job), hostId, reason) === 1) {
      await addEvent(redis, keys, msg.job, "refused", { shard: msg.shard, host: hostId, reason });
      this.log("warn", `refused job ${msg.job}: ${reason}`);
    }
    const refusals = await redis.hgetall(keys.refusals(msg.job));
    const live = await liveHosts(redis, keys);
    if (live.every((h) => h in refusals)) {
      const why = Object.entries(refusals).map(([h, r]) => `${h}: ${r}`).join("; ");
      await this.fail(msg, `no live host can run this evaluation (${why})`);
      return;
    }
    await redis.multi().xadd(keys.shards, "*", ...msg.fields).xack(keys.shards, GROUP, msg.entry).exec();
    await sleep(500); // let a host that can run it take it
  }
}
