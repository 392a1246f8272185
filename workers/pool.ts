/**
 * A pool of N module workers driven through comlink, each owning one tfjs runtime (workers/explainer_worker.ts).
 * Requests queue (bounded: a full queue is PoolFullError, answered 503 + Retry-After) and go to the first idle
 * worker. Each request has a timeout and may be cancelled (AbortSignal: the client went away). A worker that
 * crashes, times out or is cancelled mid-request is terminated and replaced at once; only its own request fails
 * (WorkerCrashError / RequestTimeoutError / the abort reason); every other request carries on. close() drains:
 * no new work, in-flight and queued work finish, then the workers stop.
 */
import * as Comlink from "comlink";
import type { ExplainerApi } from "./explainer_worker.ts";

export class PoolFullError extends Error {
  override name = "PoolFullError";
}
export class WorkerCrashError extends Error {
  override name = "WorkerCrashError";
}
export class RequestTimeoutError extends Error {
  override name = "RequestTimeoutError";
}
export class PoolClosedError extends Error {
  override name = "PoolClosedError";
}

export interface PoolOptions {
  size: number;
  /** Most requests waiting for a worker (beyond the busy ones). */
  queueLimit: number;
  timeoutMs: number;
  backend: string;
  workerUrl?: URL;
}

type Task<T> = {
  fn: (api: Comlink.Remote<ExplainerApi>) => Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  timeoutMs: number;
};

interface Slot {
  id: number;
  worker: Worker;
  api: Comlink.Remote<ExplainerApi>;
  ready: Promise<void>;
  busy: boolean;
  /** Fails the slot's in-flight request (set while busy). */
  fail?: (e: unknown) => void;
}

export class WorkerPool {
  private slots: Slot[] = [];
  private queue: Task<unknown>[] = [];
  private closing = false;
  private nextId = 0;
  restarts = 0;

  constructor(private readonly options: PoolOptions) {
    for (let i = 0; i < options.size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const url = this.options.workerUrl ?? new URL("./explainer_worker.ts", import.meta.url);
    const worker = new Worker(url, { type: "module" });
    const api = Comlink.wrap<ExplainerApi>(worker);
    const slot: Slot = { id: this.nextId++, worker, api, busy: false, ready: Promise.resolve() };
    worker.addEventListener("error", (e) => {
      e.preventDefault();
      this.replace(slot, new WorkerCrashError(`worker ${slot.id} crashed: ${e.message}`));
    });
    slot.ready = api.init(this.options.backend).then(() => {});
    slot.ready.catch((e) =>
      this.replace(slot, new WorkerCrashError(`worker ${slot.id} failed to start: ${e}`))
    );
    return slot;
  }

  /** Terminates a slot's worker, fails its request, and puts a fresh worker in its place. */
  private replace(slot: Slot, reason: unknown): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    slot.worker.terminate();
    slot.api[Comlink.releaseProxy]?.();
    slot.fail?.(reason);
    this.restarts++;
    if (this.closing) {
      this.slots.splice(i, 1);
      return;
    }
    this.slots[i] = this.spawn();
    this.dispatch();
  }

  /** Runs `fn` on a worker. Rejects with PoolFullError, RequestTimeoutError, WorkerCrashError or the abort. */
  run<T>(
    fn: (api: Comlink.Remote<ExplainerApi>) => Promise<T>,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<T> {
    if (this.closing) return Promise.reject(new PoolClosedError("the service is shutting down"));
    const idle = this.slots.some((s) => !s.busy);
    if (!idle && this.queue.length >= this.options.queueLimit) {
      return Promise.reject(
        new PoolFullError(`all ${this.slots.length} workers are busy and ${this.queue.length} requests wait`),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const task: Task<T> = {
        fn,
        resolve,
        reject,
        signal: options.signal,
        timeoutMs: options.timeoutMs ?? this.options.timeoutMs,
      };
      options.signal?.addEventListener("abort", () => {
        const q = this.queue.indexOf(task as Task<unknown>);
        if (q >= 0) {
          this.queue.splice(q, 1);
          reject(options.signal!.reason);
        }
      }, { once: true });
      this.queue.push(task as Task<unknown>);
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.busy) continue;
      const task = this.queue.shift()!;
      if (task.signal?.aborted) {
        task.reject(task.signal.reason);
        continue;
      }
      this.execute(slot, task);
    }
  }

  private execute(slot: Slot, task: Task<unknown>): void {
    slot.busy = true;
    let settled = false;
    const finish = (ok: boolean, value: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      task.signal?.removeEventListener("abort", onAbort);
      slot.busy = false;
      slot.fail = undefined;
      if (ok) task.resolve(value);
      else task.reject(value);
      this.dispatch();
      this.drained();
    };
    slot.fail = (e) => finish(false, e);
    const timer = setTimeout(() => {
      this.replace(slot, new RequestTimeoutError(`the request took longer than ${task.timeoutMs} ms`));
    }, task.timeoutMs);
    const onAbort = () => this.replace(slot, task.signal!.reason ?? new Error("cancelled"));
    task.signal?.addEventListener("abort", onAbort, { once: true });
    slot.ready.then(() => task.fn(slot.api)).then((v) => finish(true, v), (e) => finish(false, e));
  }

  stats(): { size: number; busy: number; queued: number; restarts: number } {
    return {
      size: this.slots.length,
      busy: this.slots.filter((s) => s.busy).length,
      queued: this.queue.length,
      restarts: this.restarts,
    };
  }

  private onDrained: (() => void) | null = null;
  private drained(): void {
    if (this.onDrained && this.queue.length === 0 && this.slots.every((s) => !s.busy)) this.onDrained();
  }

  /** Stops taking work, lets in-flight and queued requests finish, then terminates the workers. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.queue.length > 0 || this.slots.some((s) => s.busy)) {
      await new Promise<void>((r) => (this.onDrained = r));
    }
    for (const s of this.slots) {
      s.worker.terminate();
    }
    this.slots = [];
  }

  /** Live tensor counts of the workers that are idle now (busy ones are not interrupted). */
  async idleTensorCounts(): Promise<{ id: number; tensors: number }[]> {
    const idle = this.slots.filter((s) => !s.busy);
    const counts = await Promise.all(idle.map((s) =>
      Promise.race([
        s.ready.then(() => s.api.tensors()),
        new Promise<number>((r) => setTimeout(() => r(NaN), 1000)),
      ]).catch(() => NaN)
    ));
    return idle.map((s, i) => ({ id: s.id, tensors: counts[i] })).filter((x) => Number.isFinite(x.tensors));
  }

  /** Test hook: the worker ids (to see replacements). */
  workerIds(): number[] {
    return this.slots.map((s) => s.id);
  }
}
