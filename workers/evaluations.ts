/**
 * Evaluation jobs (POST /v1/evaluations): each job runs in its own evaluation worker (workers/evaluation_worker.ts),
 * one job at a time by default, the rest queued. Every job persists in the jobs folder — <id>.json (spec, status,
 * last progress, result) and <id>.jsonl (the pointing game's results file) — so a restarted server reports
 * finished jobs and resumes unfinished ones from their results files. Progress events are numbered per job and
 * kept in memory for Server-Sent Events replay (Last-Event-ID). Cancel terminates the worker.
 */
import * as Comlink from "comlink";
import type { EvaluationApi, ResolvedDataset } from "./evaluation_worker.ts";
import type { PointingEvent } from "../lib/eval/pointing_run.ts";
import type { EvaluationSpec } from "../lib/service/evaluation_spec.ts";
import {
  EvaluationRejected,
  type Evaluations,
  FINAL_STATUSES as FINAL,
  type JobStatus,
  type JobView,
  type StreamEvent,
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
  /** Resolves a spec's model and dataset names (throws a message for the client when it cannot). */
  resolve: (spec: EvaluationSpec) => JobResolution;
  workerUrl?: URL;
}

export class EvaluationJobs implements Evaluations {
  private readonly records = new Map<string, JobRecord>();
  private readonly history = new Map<string, JobEvent[]>();
  private readonly listeners = new Map<string, Set<(e: JobEvent) => void>>();
  private readonly workers = new Map<string, Worker>();
  private readonly queue: string[] = [];

  constructor(private readonly options: EvaluationJobsOptions) {}

  /** Reads the jobs folder; unfinished jobs are queued again and resume from their results files. */
  async restore(): Promise<void> {
    await Deno.mkdir(this.options.dir, { recursive: true });
    for await (const e of Deno.readDir(this.options.dir)) {
      if (!e.isFile || !e.name.endsWith(".json")) continue;
      try {
        const r = JSON.parse(await Deno.readTextFile(`${this.options.dir}/${e.name}`)) as JobRecord;
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
    this.pump();
  }

  create(spec: EvaluationSpec): Promise<JobRecord> {
    try {
      this.options.resolve(spec); // names must resolve now, not later in the worker
    } catch (e) {
      return Promise.reject(new EvaluationRejected((e as Error).message));
    }
    const now = new Date().toISOString();
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
    return Promise.resolve(this.records.get(id));
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

  /** Stops every running worker (their jobs stay resumable on disk). */
  close(): Promise<void> {
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
    const onEvent = (ev: PointingEvent | { type: "status"; message: string }) => {
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
    r.updatedAt = new Date().toISOString();
    const path = `${this.options.dir}/${r.id}.json`;
    Deno.writeTextFileSync(`${path}.tmp`, JSON.stringify(r));
    Deno.renameSync(`${path}.tmp`, path);
  }
}
