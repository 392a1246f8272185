/**
 * Evaluation jobs (POST /v1/evaluations): each job runs in its own evaluation worker (workers/evaluation_worker.ts),
 * one job at a time by default, the rest queued. Every job persists in the jobs folder — <id>.json (spec, status,
 * last progress, result) and <id>.jsonl (the pointing game's results file) — so a restarted server reports
 * finished jobs and resumes unfinished ones from their results files. Progress events are numbered per job and
 * kept in memory for Server-Sent Events replay (Last-Event-ID). Cancel terminates the worker. At most maxJobs
 * jobs are queued or running (more are refused with TooManyJobs); delete removes a finished job's files, and
 * finished jobs older than retainSeconds are removed at restore() and then periodically (sweep(), on the
 * injectable clock `now`).
 */
import * as Comlink from "comlink";
import type { EvaluationApi, ResolvedDataset } from "./evaluation_worker.ts";
import type { EvaluationEvent } from "../lib/eval/merge_results.ts";
import type { EvaluationSpec } from "../lib/service/evaluation_spec.ts";
import { EvaluationResolveError } from "../lib/service/resolve_evaluation.ts";
import {
  type DeleteOutcome,
  EvaluationRejected,
  type Evaluations,
  FINAL_STATUSES as FINAL,
  JOB_ID,
  type JobStatus,
  type JobView,
  type StreamEvent,
  TooManyJobs,
} from "./evaluations_api.ts";

export interface JobRecord extends JobView {
  lastSeq: number;
}

export interface JobEvent {
  seq: number;
  type: string;
  data: unknown;
}

export interface JobResolution {
  modelDir: string;
  dataset: ResolvedDataset;
}

export interface EvaluationJobsOptions {
  dir: string;
  backend: string;
  maxConcurrent?: number;
  /** Resolves and checks a spec (throws an EvaluationResolveError, or an Error with a message for the client). */
  resolve: (spec: EvaluationSpec) => JobResolution;
  workerUrl?: URL;
  /** RETRACE_MAX_JOBS: queued + running jobs at most (default 16); create() beyond it throws TooManyJobs. */
  maxJobs?: number;
  /** RETRACE_JOB_RETAIN_S: seconds a finished job is kept after it finished (default 7 days). */
  retainSeconds?: number;
  /** How often finished jobs past retainSeconds are removed (default: 10 minutes, or retainSeconds if shorter). */
  sweepEveryMs?: number;
  /** The clock (ms since the epoch) for timestamps and retention; tests drive it. */
  now?: () => number;
}

export const DEFAULT_MAX_JOBS = 16;
export const DEFAULT_RETAIN_SECONDS = 7 * 86_400;

export class EvaluationJobs implements Evaluations {
  private readonly records = new Map<string, JobRecord>();
  private readonly history = new Map<string, JobEvent[]>();
  private readonly listeners = new Map<string, Set<(e: JobEvent) => void>>();
  private readonly workers = new Map<string, Worker>();
  private readonly queue: string[] = [];
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: EvaluationJobsOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Reads the jobs folder; unfinished jobs are queued again and resume from their results files; finished ones
   * past the retention period are removed, now and then periodically.
   */
  async restore(): Promise<void> {
    await Deno.mkdir(this.options.dir, { recursive: true });
    for await (const e of Deno.readDir(this.options.dir)) {
      if (!e.isFile || !e.name.endsWith(".json")) continue;
      try {
        const r = JSON.parse(await Deno.readTextFile(`${this.options.dir}/${e.name}`)) as JobRecord;
        if (!JOB_ID.test(r.id) || e.name !== `${r.id}.json`) continue; // not a job record of this store
        this.records.set(r.id, r);
        this.history.set(r.id, []);
        if (!FINAL.includes(r.status)) {
          r.status = "queued";
          this.queue.push(r.id);
        }
      } catch {
        // a torn record file: leave it for inspection
      }
    }
    await this.sweep();
    const retainMs = (this.options.retainSeconds ?? DEFAULT_RETAIN_SECONDS) * 1000;
    const every = this.options.sweepEveryMs ?? Math.max(1000, Math.min(retainMs, 10 * 60_000));
    if (this.sweeper === undefined && every > 0) {
      const timer = setInterval(() => this.sweep().catch(() => {}), every);
      Deno.unrefTimer(timer);
      this.sweeper = timer;
    }
    this.pump();
  }

  /** Removes finished jobs whose last update is more than retainSeconds old; returns their ids. */
  async sweep(): Promise<string[]> {
    const limit = this.now() - (this.options.retainSeconds ?? DEFAULT_RETAIN_SECONDS) * 1000;
    const old = [...this.records.values()].filter((r) =>
      FINAL.includes(r.status) && !(Date.parse(r.updatedAt) >= limit) // an unreadable date counts as old
    );
    for (const r of old) await this.remove(r);
    return old.map((r) => r.id);
  }

  create(spec: EvaluationSpec): Promise<JobRecord> {
    try {
      this.options.resolve(spec); // names and layers must resolve now, not later in the worker
    } catch (e) {
      return Promise.reject(
        new EvaluationRejected(
          (e as Error).message,
          e instanceof EvaluationResolveError ? e.code : undefined,
        ),
      );
    }
    const max = this.options.maxJobs ?? DEFAULT_MAX_JOBS;
    const active = [...this.records.values()].filter((r) => !FINAL.includes(r.status));
    if (active.length >= max) {
      // a hint: the soonest estimated end of a running job, else a minute
      const etas = active.map((r) => r.progress?.etaSeconds).filter((s): s is number => Number.isFinite(s));
      const wait = etas.length ? Math.min(...etas) : 60;
      return Promise.reject(new TooManyJobs(max, Math.min(3600, Math.max(1, Math.ceil(wait)))));
    }
    const now = new Date(this.now()).toISOString();
    const r: JobRecord = {
      id: crypto.randomUUID(),
      spec,
      status: "queued",
      createdAt: now,
      updatedAt: now,
      progress: null,
      result: null,
      error: null,
      lastSeq: 0,
    };
    this.records.set(r.id, r);
    this.history.set(r.id, []);
    this.persist(r);
    this.emit(r, "status", { status: "queued" });
    this.queue.push(r.id);
    this.pump();
    return Promise.resolve(r);
  }

  get(id: string): Promise<JobRecord | undefined> {
    return Promise.resolve(JOB_ID.test(id) ? this.records.get(id) : undefined);
  }

  list(): Promise<JobRecord[]> {
    return Promise.resolve([...this.records.values()]);
  }

  /** Events after `afterId` (a sequence number) kept in memory, then live ones, until the final one. */
  async *events(id: string, afterId: string | undefined, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    const pending: JobEvent[] = [];
    let wake: (() => void) | null = null;
    const { past, stop } = this.subscribe(id, Number(afterId ?? "0") || 0, (e) => {
      pending.push(e);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      pending.unshift(...past);
      while (!signal.aborted) {
        while (pending.length) {
          const e = pending.shift()!;
          yield { id: String(e.seq), type: e.type, data: e.data };
          if (FINAL.includes(e.type as JobStatus)) return;
        }
        const r = this.records.get(id);
        if (!r) return;
        if (FINAL.includes(r.status)) {
          yield {
            id: String(r.lastSeq),
            type: r.status,
            data: { status: r.status, error: r.error, result: r.result },
          };
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    } finally {
      stop();
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Events after `afterSeq` kept in memory, and a subscription to new ones (call the returned stop()). */
  private subscribe(
    id: string,
    afterSeq: number,
    listener: (e: JobEvent) => void,
  ): { past: JobEvent[]; stop: () => void } {
    const past = (this.history.get(id) ?? []).filter((e) => e.seq > afterSeq);
    const set = this.listeners.get(id) ?? new Set();
    set.add(listener);
    this.listeners.set(id, set);
    return { past, stop: () => set.delete(listener) };
  }

  cancel(id: string): Promise<JobRecord | undefined> {
    const r = this.records.get(id);
    if (!r || FINAL.includes(r.status)) return Promise.resolve(r);
    const q = this.queue.indexOf(id);
    if (q >= 0) this.queue.splice(q, 1);
    this.workers.get(id)?.terminate();
    this.workers.delete(id);
    this.finish(r, "cancelled", null);
    this.pump();
    return Promise.resolve(r);
  }

  async delete(id: string): Promise<DeleteOutcome | undefined> {
    const r = JOB_ID.test(id) ? this.records.get(id) : undefined;
    if (!r) return undefined;
    if (!FINAL.includes(r.status)) {
      await this.cancel(id);
      return { id, status: r.status, deleted: false };
    }
    await this.remove(r);
    return { id, status: r.status, deleted: true };
  }

  /** Forgets a finished job and deletes its files (<id>.json, <id>.jsonl and any other <id>.* in the folder). */
  private async remove(r: JobRecord): Promise<void> {
    this.records.delete(r.id);
    this.history.delete(r.id);
    this.listeners.delete(r.id);
    const prefix = `${r.id}.`; // r.id is a UUID (JOB_ID): no path separators, no other job's prefix
    for await (const e of Deno.readDir(this.options.dir)) {
      if (e.name.startsWith(prefix)) await Deno.remove(`${this.options.dir}/${e.name}`).catch(() => {});
    }
  }

  /** The in-process queue for /healthz: jobs queued and running here. */
  health(): Promise<Record<string, unknown>> {
    const all = [...this.records.values()];
    return Promise.resolve({
      kind: "local",
      queued: all.filter((r) => r.status === "queued").length,
      running: all.filter((r) => r.status === "running").length,
      maxConcurrent: this.options.maxConcurrent ?? 1,
    });
  }

  /** Stops every running worker (their jobs stay resumable on disk) and the retention sweep. */
  close(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const w of this.workers.values()) w.terminate();
    this.workers.clear();
    return Promise.resolve();
  }

  private running(): number {
    return [...this.records.values()].filter((r) => r.status === "running").length;
  }

  private pump(): void {
    while (this.queue.length > 0 && this.running() < (this.options.maxConcurrent ?? 1)) {
      const r = this.records.get(this.queue.shift()!)!;
      this.start(r);
    }
  }

  private start(r: JobRecord): void {
    let resolution: JobResolution;
    try {
      resolution = this.options.resolve(r.spec);
    } catch (e) {
      this.finish(r, "failed", (e as Error).message);
      return;
    }
    r.status = "running";
    this.persist(r);
    this.emit(r, "status", { status: "running" });
    const url = this.options.workerUrl ?? new URL("./evaluation_worker.ts", import.meta.url);
    const worker = new Worker(url, { type: "module" });
    this.workers.set(r.id, worker);
    const api = Comlink.wrap<EvaluationApi>(worker);
    const onEvent = (ev: EvaluationEvent | { type: "status"; message: string }) => {
      if (FINAL.includes(r.status)) return; // cancelled: nothing more is recorded
      if (ev.type === "start" || ev.type === "image") {
        r.progress = ev.type === "start" ? { done: ev.done, total: ev.total } : {
          done: ev.done,
          total: ev.total,
          imagesPerSecond: ev.imagesPerSecond,
          etaSeconds: ev.etaSeconds,
        };
      }
      if (ev.type === "done") {
        r.result = ev.result;
        return;
      }
      this.emit(r, ev.type === "image" ? "progress" : ev.type, ev);
      this.persist(r);
    };
    const failed = (message: string) => {
      if (FINAL.includes(r.status)) return; // cancelled meanwhile
      worker.terminate();
      this.workers.delete(r.id);
      this.finish(r, "failed", message);
      this.pump();
    };
    worker.addEventListener("error", (e) => {
      e.preventDefault();
      failed(`the evaluation worker crashed: ${e.message}`);
    });
    const resultsPath = `${this.options.dir}/${r.id}.jsonl`;
    api.run(
      this.options.backend,
      resolution.modelDir,
      resolution.dataset,
      r.spec,
      resultsPath,
      Comlink.proxy(onEvent),
    )
      .then(() => {
        if (FINAL.includes(r.status)) return;
        worker.terminate();
        this.workers.delete(r.id);
        this.finish(r, "done", null);
        this.pump();
      }, (e) => failed((e as Error)?.message ?? String(e)));
  }

  private finish(r: JobRecord, status: JobStatus, error: string | null): void {
    r.status = status;
    r.error = error;
    this.persist(r);
    this.emit(r, status, { status, error, result: r.result });
  }

  private emit(r: JobRecord, type: string, data: unknown): void {
    const e: JobEvent = { seq: ++r.lastSeq, type, data };
    const list = this.history.get(r.id)!;
    list.push(e);
    if (list.length > 5000) list.splice(0, list.length - 5000);
    for (const l of this.listeners.get(r.id) ?? []) l(e);
  }

  private persist(r: JobRecord): void {
    r.updatedAt = new Date(this.now()).toISOString();
    const path = `${this.options.dir}/${r.id}.json`;
    Deno.writeTextFileSync(`${path}.tmp`, JSON.stringify(r));
    Deno.renameSync(`${path}.tmp`, path);
  }
}
