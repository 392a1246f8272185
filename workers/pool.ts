/**
 * A pool of N explainers, each in its own OS process (workers/explainer_process.ts) owning one tfjs runtime, driven
 * through comlink. Requests queue (bounded: a full queue is PoolFullError, answered 503 + Retry-After) and go to the
 * first idle explainer (a started one before one still starting). Each request has a timeout, counted from when its
 * explainer is ready, and may be cancelled (AbortSignal: the client went away). An
 * explainer that crashes (busy or idle), times out or is cancelled mid-request is killed (SIGKILL: its CPU and memory are back at
 * once, whatever it was doing) and replaced; only its own request fails (WorkerCrashError / RequestTimeoutError /
 * the abort reason); every other request carries on. close() drains: no new work, in-flight and queued work
 * finish, then the processes stop.
 */
import type * as Comlink from "comlink";
import type { ExplainerApi } from "./explainer_worker.ts";
import { type ExplainerProcess, spawnExplainerProcess } from "./explainer_process.ts";

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
  /** The module each process serves (it exports `api`); default workers/explainer_worker.ts. */
  workerUrl?: URL;
  /** The timers behind request timeouts and restart delays (tests drive them); default the global ones. */
  timers?: Timers;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

const GLOBAL_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

type Task<T> = {
  fn: (api: Comlink.Remote<ExplainerApi>) => Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  timeoutMs: number;
};

interface Slot {
  id: number;
  /** Set once the process is spawned (after any restart delay). */
  process?: ExplainerProcess<ExplainerApi>;
  api?: Comlink.Remote<ExplainerApi>;
  /** Resolves when the process answers (api is set then); rejects if it fails to start. */
  ready: Promise<void>;
  started: boolean;
  busy: boolean;
  /** Fails the slot's in-flight request (set while busy). */
  fail?: (e: unknown) => void;
}

export class WorkerPool {
  private slots: Slot[] = [];
  private queue: Task<unknown>[] = [];
  private closing = false;
  private nextId = 0;
  /** Private (0700) folder of the processes' sockets, with a `lock` this pool holds while it runs. */
  private readonly socketDir = Deno.makeTempDirSync({ prefix: "retrace-pool-" });
  private readonly dirLock = Deno.openSync(`${this.socketDir}/lock`, { create: true, write: true });
  /** Explainers in a row that died before they started: the next restart waits 250 ms x 2^n (at most 30 s). */
  private startFailures = 0;
  restarts = 0;

  constructor(private readonly options: PoolOptions) {
    this.dirLock.lockSync(true);
    sweepDeadPoolDirs(this.socketDir).catch(() => {});
    for (let i = 0; i < options.size; i++) this.slots.push(this.spawn());
  }

  private spawn(delayMs = 0): Slot {
    const url = this.options.workerUrl ?? new URL("./explainer_worker.ts", import.meta.url);
    const id = this.nextId++;
    const slot: Slot = { id, busy: false, started: false, ready: Promise.resolve() };
    const timers = this.options.timers ?? GLOBAL_TIMERS;
    const delay = new Promise<void>((r) => delayMs ? timers.setTimeout(r, delayMs) : r());
    slot.ready = delay.then(() => {
      if (!this.slots.includes(slot)) {
        throw new WorkerCrashError(`worker ${id} was removed before it started`);
      }
      const process = spawnExplainerProcess<ExplainerApi>(url, this.socketDir, `w${id}`);
      slot.process = process;
      slot.api = process.api;
      process.exited.then((how) => this.replace(slot, new WorkerCrashError(`worker ${id} ${how}`)));
      return process.api.init(this.options.backend);
    }).then(() => {
      slot.started = true;
      this.startFailures = 0;
    });
    slot.ready.catch((e) => this.replace(slot, new WorkerCrashError(`worker ${id} failed to start: ${e}`)));
    return slot;
  }

  /** Kills a slot's process, fails its request, and puts a fresh process in its place. */
  private replace(slot: Slot, reason: unknown): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    slot.process?.kill();
    slot.fail?.(reason);
    this.restarts++;
    if (this.closing) {
      this.slots.splice(i, 1);
      return;
    }
    // One that never started (bad install, missing permission) is restarted with a growing delay, not in a loop.
    this.slots[i] = this.spawn(slot.started ? 0 : Math.min(30_000, 250 * 2 ** this.startFailures++));
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
    // started explainers first: a request waits for one still starting only when none is idle
    const order = [...this.slots].sort((a, b) => Number(b.started) - Number(a.started));
    for (const slot of order) {
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
      if (timer !== undefined) timers.clearTimeout(timer);
      task.signal?.removeEventListener("abort", onAbort);
      slot.busy = false;
      slot.fail = undefined;
      if (ok) task.resolve(value);
      else task.reject(value);
      this.dispatch();
      this.drained();
    };
    slot.fail = (e) => finish(false, e);
    const timers = this.options.timers ?? GLOBAL_TIMERS;
    // The request's clock starts when its explainer is ready: a process still starting (after a restart) does
    // not eat into the request's time.
    let timer: unknown;
    const onAbort = () => this.replace(slot, task.signal!.reason ?? new Error("cancelled"));
    task.signal?.addEventListener("abort", onAbort, { once: true });
    slot.ready.then(() => {
      if (settled) throw new Error("settled");
      timer = timers.setTimeout(() => {
        this.replace(slot, new RequestTimeoutError(`the request took longer than ${task.timeoutMs} ms`));
      }, task.timeoutMs);
      return task.fn(slot.api!);
    }).then((v) => finish(true, v), (e) => finish(false, e));
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

  /** Stops taking work, lets in-flight and queued requests finish, then kills the processes. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.queue.length > 0 || this.slots.some((s) => s.busy)) {
      await new Promise<void>((r) => (this.onDrained = r));
    }
    const slots = this.slots;
    this.slots = [];
    for (const s of slots) s.process?.kill();
    await Promise.all(slots.map((s) => s.process?.exited));
    this.dirLock.close();
    await Deno.remove(this.socketDir, { recursive: true }).catch(() => {});
  }

  /** Live tensor counts of the workers that are idle now (busy ones are not interrupted). */
  async idleTensorCounts(): Promise<{ id: number; tensors: number }[]> {
    const idle = this.slots.filter((s) => !s.busy);
    const counts = await Promise.all(idle.map((s) =>
      Promise.race([
        s.ready.then(() => s.api!.tensors()),
        new Promise<number>((r) => setTimeout(() => r(NaN), 1000)),
      ]).catch(() => NaN)
    ));
    return idle.map((s, i) => ({ id: s.id, tensors: counts[i] })).filter((x) => Number.isFinite(x.tensors));
  }

  /** Test hook: the process ids of the explainers. */
  processIds(): number[] {
    return this.slots.map((s) => s.process?.pid ?? -1);
  }

  /** Test hook: the worker ids (to see replacements). */
  workerIds(): number[] {
    return this.slots.map((s) => s.id);
  }
}

/**
 * Removes the socket folders of pools whose process is gone (killed with SIGKILL, it could not clean up): the
 * kernel dropped their lock, so this one can take it. A live pool's folder stays locked and is left alone.
 */
async function sweepDeadPoolDirs(own: string): Promise<void> {
  const parent = own.slice(0, own.lastIndexOf("/")) || "/";
  for await (const e of Deno.readDir(parent)) {
    const dir = `${parent}/${e.name}`;
    if (!e.isDirectory || !e.name.startsWith("retrace-pool-") || dir === own) continue;
    let lock: Deno.FsFile | null = null;
    try {
      lock = await Deno.open(`${dir}/lock`, { write: true });
      if (await lock.tryLock(true)) await Deno.remove(dir, { recursive: true });
    } catch {
      /* no lock file (another layout) or gone already */
    } finally {
      lock?.close();
    }
  }
}
