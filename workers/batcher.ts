/**
 * Dynamic batching of saliency requests: requests that ask the same of the same model (lib/service/batch_key.ts)
 * and arrive within a short window (RETRACE_BATCH_WINDOW_MS) run as one pass on one explainer
 * (lib/service/saliency_batch.ts), up to RETRACE_BATCH_MAX at once; each caller gets its own answer, exactly the
 * one it would get alone. A window of 0 sends every request on its own (the pool's behaviour). A request alone
 * in its window also goes on its own.
 *
 * Per request: a caller that goes away (its AbortSignal) is answered with its abort at once and leaves its
 * batch, which goes on for the others; only when every member has gone is the pass itself cancelled (the
 * explainer is then killed, as for a lone request). A batch has the pool's timeout, counted from its start like a
 * lone request's, so each member's limit is the one it would have alone plus at most the window. The pool counts
 * a batch as one task in its queue and its busy workers; /metrics adds the passes and their sizes.
 */
import * as Comlink from "comlink";
import type { SaliencyAnswer, SaliencyJob } from "../lib/service/saliency_job.ts";
import { batchKey } from "../lib/service/batch_key.ts";
import type { ExplainerApi } from "./explainer_worker.ts";
import type { Timers } from "./pool.ts";

export type WorkerAnswer = SaliencyAnswer | { error: { code: string; message: string } };

/**
 * The window when RETRACE_BATCH_WINDOW_MS is not set, per backend: none on wasm and cpu, where the kernels use
 * every core at batch 1 and a batch measured no faster; a few milliseconds on webgpu, where rows share the
 * GPU's dispatches and each pass's >= 10 ms read (bench/batching_bench.ts).
 */
export const BATCH_WINDOW_AUTO: Readonly<Record<string, number>> = { webgpu: 5, wasm: 0, cpu: 0 };

/** What the batcher needs of the pool (workers/pool.ts WorkerPool). */
export interface PoolLike {
  run<T>(
    fn: (api: Comlink.Remote<ExplainerApi>) => Promise<T>,
    options?: { signal?: AbortSignal },
  ): Promise<T>;
}

export interface BatcherOptions {
  /** How long the first request of a batch waits for others (0: no batching). */
  windowMs: number;
  /** Most requests in one pass. */
  maxBatch: number;
  timers?: Timers;
}

interface Member {
  job: SaliencyJob;
  signal?: AbortSignal;
  resolve: (a: WorkerAnswer) => void;
  reject: (e: unknown) => void;
  gone: boolean;
  onAbort?: () => void;
}

interface Group {
  dir: string;
  members: Member[];
  timer?: unknown;
}

/** Batch sizes counted per power of two (1, 2, 4, ...), for /metrics. */
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64];

export class SaliencyBatcher {
  private groups = new Map<string, Group>();
  private readonly timers: Timers;
  /** Passes run, requests in them, and passes per size bucket (cumulative, as Prometheus histograms). */
  readonly counts = { passes: 0, requests: 0, bySize: BATCH_SIZE_BUCKETS.map(() => 0) };

  constructor(private readonly pool: PoolLike, private readonly options: BatcherOptions) {
    this.timers = options.timers ?? {
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (id) => clearTimeout(id as number),
    };
  }

  /** The answer to one saliency job on the model in `dir` (the pool's errors as its run() gives them). */
  submit(dir: string, job: SaliencyJob, signal?: AbortSignal): Promise<WorkerAnswer> {
    if (this.options.windowMs <= 0 || this.options.maxBatch <= 1) return this.alone(dir, job, signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const key = `${dir}\n${batchKey(job)}`;
    return new Promise<WorkerAnswer>((resolve, reject) => {
      const member: Member = { job, signal, resolve, reject, gone: false };
      let group = this.groups.get(key);
      if (!group) {
        group = { dir, members: [] };
        this.groups.set(key, group);
        const g = group;
        g.timer = this.timers.setTimeout(() => this.flush(key, g), this.options.windowMs);
      }
      group.members.push(member);
      const g = group;
      member.onAbort = () => {
        if (member.gone) return;
        member.gone = true;
        reject(signal!.reason);
        if (this.groups.get(key) === g) {
          // still waiting for its window: it just leaves
          g.members.splice(g.members.indexOf(member), 1);
          if (g.members.length === 0) {
            this.timers.clearTimeout(g.timer);
            this.groups.delete(key);
          }
        }
      };
      signal?.addEventListener("abort", member.onAbort, { once: true });
      if (group.members.length >= this.options.maxBatch) {
        this.timers.clearTimeout(group.timer);
        this.flush(key, group);
      }
    });
  }

  private count(size: number): void {
    this.counts.passes++;
    this.counts.requests += size;
    BATCH_SIZE_BUCKETS.forEach((b, i) => {
      if (size <= b) this.counts.bySize[i]++;
    });
  }

  private alone(dir: string, job: SaliencyJob, signal?: AbortSignal): Promise<WorkerAnswer> {
    this.count(1);
    return this.pool.run(
      (api) =>
        api.saliency(dir, Comlink.transfer(job, [job.image.buffer as ArrayBuffer])) as Promise<WorkerAnswer>,
      { signal },
    );
  }

  private flush(key: string, group: Group): void {
    if (this.groups.get(key) !== group) return;
    this.groups.delete(key);
    const members = group.members.filter((m) => !m.gone);
    if (members.length === 0) return;
    const settle = (m: Member, ok: boolean, value: unknown) => {
      if (m.gone) return;
      m.gone = true;
      if (m.onAbort) m.signal?.removeEventListener("abort", m.onAbort);
      if (ok) m.resolve(value as WorkerAnswer);
      else m.reject(value);
    };
    if (members.length === 1) {
      // alone in its window: the plain path, its own signal
      const [m] = members;
      if (m.onAbort) m.signal?.removeEventListener("abort", m.onAbort);
      this.alone(group.dir, m.job, m.signal).then(m.resolve, m.reject);
      return;
    }
    this.count(members.length);
    // the pass is cancelled only when every member has gone
    const cancel = new AbortController();
    for (const m of members) {
      m.signal?.addEventListener("abort", () => {
        if (members.every((x) => x.gone)) cancel.abort(m.signal!.reason);
      }, { once: true });
    }
    const jobs = members.map((m) => m.job);
    this.pool.run(
      (api) =>
        api.saliencyBatch(
          group.dir,
          Comlink.transfer(jobs, jobs.map((j) => j.image.buffer as ArrayBuffer)),
        ) as Promise<WorkerAnswer[]>,
      { signal: cancel.signal },
    ).then(
      (answers) => members.forEach((m, i) => settle(m, true, answers[i])),
      (e) => members.forEach((m) => settle(m, false, e)),
    );
  }
}
