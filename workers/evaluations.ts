/**
 * Evaluation jobs (POST /v1/evaluations): each job runs in its own evaluation worker (workers/evaluation_worker.ts),
 * one job at a time by default, the rest queued. Every job persists in the jobs folder — <id>.json (spec, status,
 * last progress, result) and <id>.jsonl (the pointing game's results file) — so a restarted server reports
 * finished jobs and resumes unfinished ones from their results files. Progress events are numbered per job and
 * kept in memory for Server-Sent Events replay (Last-Event-ID). Cancel terminates the worker.
 */
import * as Comlink from "comlink";
import type { EvaluationApi, ResolvedDataset } from "./evaluation_worker.ts";
import type { PointingEvent, PointingResult } from "../lib/eval/pointing_run.ts";
import type { EvaluationSpec } from "../lib/service/evaluation_spec.ts";

export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

export interface JobRecord {
  id: string;
  spec: EvaluationSpec;
  status: JobStatus;
  createdAt: string;
  updatedAt: string;
  progress: { done: number; total: number; imagesPerSecond?: number; etaSeconds?: number } | null;
  result: PointingResult | null;
  error: string | null;
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

const FINAL: JobStatus[] = ["done", "failed", "cancelled"];

export class EvaluationJobs {
  private readonly records = new Map<string, JobRecord>();
  private readonly events = new Map<string, JobEvent[]>();
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
        this.events.set(r.id, []);
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

  create(spec: EvaluationSpec): JobRecord {
    this.options.resolve(spec); // names must resolve now, not later in the worker
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
    this.events.set(r.id, []);
    this.persist(r);
    this.emit(r, "status", { status: "queued" });
    this.queue.push(r.id);
    this.pump();
    return r;
  }

  get(id: string): JobRecord | undefined {
    return this.records.get(id);
  }

  list(): JobRecord[] {
    return [...this.records.values()];
  }

  /** Events after `afterSeq` kept in memory, and a subscription to new ones (call the returned stop()). */
  subscribe(
    id: string,
    afterSeq: number,
    listener: (e: JobEvent) => void,
  ): { past: JobEvent[]; stop: () => void } {
    const past = (this.events.get(id) ?? []).filter((e) => e.seq > afterSeq);
    const set = this.listeners.get(id) ?? new Set();
    set.add(listener);
    this.listeners.set(id, set);
    return { past, stop: () => set.delete(listener) };
  }

  cancel(id: string): JobRecord | undefined {
    const r = this.records.get(id);
    if (!r || FINAL.includes(r.status)) return r;
    const q = this.queue.indexOf(id);
    if (q >= 0) this.queue.splice(q, 1);
    this.workers.get(id)?.terminate();
    this.workers.delete(id);
    this.finish(r, "cancelled", null);
    this.pump();
    return r;
  }

  /** Stops every running worker (their jobs stay resumable on disk). */
  close(): void {
    for (const w of this.workers.values()) w.terminate();
    this.workers.clear();
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
    const list = this.events.get(r.id)!;
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

  isFinal(id: string): boolean {
    const r = this.records.get(id);
    return !!r && FINAL.includes(r.status);
  }
}
