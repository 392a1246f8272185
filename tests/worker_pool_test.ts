/**
 * The worker pool (workers/pool.ts) with real explainer workers: a worker killed mid-request fails that request
 * cleanly and is replaced (the next request succeeds, the pool is back to N), and so is one that dies while idle;
 * timeouts and client aborts replace the stuck worker, a request's clock starting only once its worker is ready; a full queue is refused at once; close() drains in-flight work.
 */
import assert from "node:assert/strict";
import type * as Comlink from "comlink";
import { PoolFullError, RequestTimeoutError, WorkerCrashError, WorkerPool } from "../workers/pool.ts";
import type { SpinningApi } from "./helpers/spinning_worker.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "worker pool: crash, timeout and abort replace only the affected worker",
  ...opts,
  async fn() {
    const pool = new WorkerPool({ size: 2, queueLimit: 4, timeoutMs: 60_000, backend: "wasm" });
    try {
      assert.equal(await pool.run((api) => api.tensors()), 0);
      const ids = pool.workerIds();
      // A request whose worker dies under it.
      const doomed = pool.run(async (api) => {
        await api.crash();
        return api.hang();
      });
      const other = pool.run(async (api) => {
        await new Promise((r) => setTimeout(r, 300));
        return api.tensors();
      });
      await assert.rejects(doomed, WorkerCrashError);
      assert.equal(await other, 0, "the other request carries on");
      assert.equal(pool.stats().size, 2);
      assert.equal(pool.stats().restarts, 1);
      assert.notDeepEqual(pool.workerIds(), ids);
      assert.equal(
        await pool.run((api) => api.tensors()),
        0,
        "the next request succeeds (an explainer with no model holds no tensor)",
      );

      await assert.rejects(pool.run((api) => api.hang(), { timeoutMs: 300 }), RequestTimeoutError);
      assert.equal(pool.stats().size, 2);
      assert.equal(pool.stats().restarts, 2);

      const controller = new AbortController();
      const cancelled = pool.run((api) => api.hang(), { signal: controller.signal });
      setTimeout(() => controller.abort(new Error("client went away")), 100);
      await assert.rejects(cancelled, /client went away/);
      assert.equal(pool.stats().restarts, 3);
      assert.equal(await pool.run((api) => api.tensors()), 0);
    } finally {
      await pool.close();
    }
  },
});

Deno.test({
  name: "worker pool: a full queue is refused at once; close() drains queued work",
  ...opts,
  async fn() {
    const pool = new WorkerPool({ size: 1, queueLimit: 1, timeoutMs: 60_000, backend: "wasm" });
    const busy = pool.run(async (api) => {
      await new Promise((r) => setTimeout(r, 300));
      return api.tensors();
    });
    const queued = pool.run((api) => api.tensors());
    await assert.rejects(pool.run((api) => api.tensors()), PoolFullError);
    assert.deepEqual(pool.stats(), { size: 1, busy: 1, queued: 1, restarts: 0 });
    await pool.close();
    assert.equal(await busy, 0);
    assert.equal(await queued, 0);
    await assert.rejects(pool.run((api) => api.tensors()), /shutting down/);
  },
});

Deno.test({
  name:
    "worker pool: a request past its timeout is killed: its explainer process ends (CPU and memory back), a fresh one replaces it",
  ...opts,
  async fn() {
    // The request timers are driven by hand: the timeout fires exactly when the test says, after the worker is
    // seen computing, whatever the machine's load.
    const { pool, pending } = spinningPool(1);
    try {
      await pool.run((api) => api.tensors()); // started
      const [pid] = pool.processIds();
      const request = pool.run((api) => (api as unknown as Comlink.Remote<SpinningApi>).spin());
      const refused = assert.rejects(request, RequestTimeoutError);
      const start = await cpuTicks(pid);
      assert.ok(start >= 0, `process ${pid} is readable in /proc`);
      await waitFor(async () => (await cpuTicks(pid)) > start + 10, "the explainer to be seen computing");
      assert.equal(pending.size, 1, "one request timer is armed");
      const [[id, fire]] = pending;
      pending.delete(id);
      fire(); // the request's timeout
      await refused;
      // The explainer that was computing is gone: its CPU and memory are the OS's again.
      await waitFor(async () => (await cpuTicks(pid)) < 0, `process ${pid} to end`);
      assert.notEqual(pool.processIds()[0], pid, "a fresh process took its place");
      assert.equal(pool.stats().restarts, 1);
      assert.equal(pool.stats().size, 1, "a fresh worker took its place");
    } finally {
      // On a failure above the request is still computing: its timeout ends it, so close() can drain.
      for (const fire of pending.values()) fire();
      await pool.close();
    }
  },
});

Deno.test({
  name:
    "worker pool: a request aborted while queued leaves the queue at once and costs the busy worker nothing",
  ...opts,
  async fn() {
    const { pool, pending } = spinningPool(2);
    try {
      await pool.run((api) => api.tensors()); // started
      const spinning = pool.run((api) => (api as unknown as Comlink.Remote<SpinningApi>).spin());
      const ended = assert.rejects(spinning, RequestTimeoutError);
      const controller = new AbortController();
      const queued = pool.run((api) => api.tensors(), { signal: controller.signal });
      assert.deepEqual(pool.stats(), { size: 1, busy: 1, queued: 1, restarts: 0 });
      controller.abort(new Error("client went away"));
      await assert.rejects(queued, /client went away/);
      assert.deepEqual(
        pool.stats(),
        { size: 1, busy: 1, queued: 0, restarts: 0 },
        "the busy worker is untouched",
      );
      for (const fire of pending.values()) fire(); // the spinning request's timeout
      await ended;
    } finally {
      for (const fire of pending.values()) fire();
      await pool.close();
    }
  },
});

Deno.test({
  name: "worker pool: an explainer that cannot start is restarted after 250, 500, 1000 ms..., not in a loop",
  ...opts,
  async fn() {
    const armed: { fn: () => void; ms: number }[] = [];
    const timers = {
      setTimeout: (fn: () => void, ms: number) => armed.push({ fn, ms }),
      clearTimeout: () => {},
    };
    const pool = new WorkerPool({
      size: 1,
      queueLimit: 1,
      timeoutMs: 60_000,
      backend: "wasm",
      workerUrl: new URL("./helpers/failing_worker.ts", import.meta.url),
      timers,
    });
    try {
      for (const [k, ms] of [250, 500, 1000, 2000].entries()) {
        await waitFor(() => armed.length > k, `restart ${k + 1} to be scheduled`);
        assert.equal(armed[k].ms, ms, `restart ${k + 1} waits ${ms} ms`);
        assert.equal(pool.stats().restarts, k + 1);
        armed[k].fn(); // the delay is over: the next process starts (and dies)
      }
    } finally {
      await pool.close();
    }
  },
});

Deno.test({
  name: "worker pool: a request's clock starts when its explainer is ready, not while the process starts",
  ...opts,
  async fn() {
    const { pool, pending } = spinningPool(1);
    try {
      // the pool was just made: its explainer process is still starting
      const first = pool.run((api) => api.tensors());
      assert.equal(pending.size, 0, "no request timer runs while the explainer starts");
      assert.equal(await first, 0);
      assert.equal(pending.size, 0, "the timer armed once it was ready is cleared with the answer");
      // a ready explainer: the clock starts at once
      const second = pool.run(async (api) => {
        const n = await api.tensors();
        assert.equal(pending.size, 1, "the request's timer runs while it computes");
        return n;
      });
      assert.equal(await second, 0);
    } finally {
      for (const fire of pending.values()) fire();
      await pool.close();
    }
  },
});

Deno.test({
  name: "worker pool: an explainer that dies while idle is replaced; the next request is served",
  ...opts,
  async fn() {
    const { pool, pending } = spinningPool(1);
    try {
      await pool.run((api) => api.tensors()); // started
      const [pid] = pool.processIds();
      const [id] = pool.workerIds();
      Deno.kill(pid, "SIGKILL");
      await waitFor(() => pool.workerIds()[0] !== id, "the dead explainer to be replaced");
      assert.deepEqual(pool.stats(), { size: 1, busy: 0, queued: 0, restarts: 1 });
      assert.equal(await pool.run((api) => api.tensors()), 0, "the replacement serves");
      assert.notEqual(pool.processIds()[0], pid);
    } finally {
      for (const fire of pending.values()) fire();
      await pool.close();
    }
  },
});

/** One explainer serving tests/helpers/spinning_worker.ts, its request timers held in `pending` until fired. */
function spinningPool(queueLimit: number): { pool: WorkerPool; pending: Map<number, () => void> } {
  const pending = new Map<number, () => void>();
  let nextTimer = 1;
  const timers = {
    setTimeout: (fn: () => void) => {
      pending.set(nextTimer, fn);
      return nextTimer++;
    },
    clearTimeout: (id: unknown) => void pending.delete(id as number),
  };
  const pool = new WorkerPool({
    size: 1,
    queueLimit,
    timeoutMs: 1000,
    backend: "wasm",
    workerUrl: new URL("./helpers/spinning_worker.ts", import.meta.url),
    timers,
  });
  return { pool, pending };
}

/**
 * User + system CPU time of a process in clock ticks (/proc/PID/stat), or -1 once it is gone (or a zombie). Read
 * through `sh`: Deno lets a process read another's /proc entries only with --allow-all.
 */
async function cpuTicks(pid: number): Promise<number> {
  const out = await new Deno.Command("sh", { args: ["-c", 'cat /proc/"$0"/stat 2>/dev/null', String(pid)] })
    .output();
  const stat = new TextDecoder().decode(out.stdout);
  if (!stat) return -1;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[0] === "Z" ? -1 : Number(fields[11]) + Number(fields[12]);
}

/** Polls `done` every 100 ms; fails after 60 s (a hang guard, not a timing bound) saying what it waited for. */
async function waitFor(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up after 60 s waiting for ${what}`);
}

Deno.test({
  name: "worker pool: the socket folder of a pool killed with SIGKILL is removed by the next pool",
  ...opts,
  async fn() {
    const script = `
      import { WorkerPool } from ${JSON.stringify(new URL("../workers/pool.ts", import.meta.url).href)};
      const pool = new WorkerPool({ size: 0, queueLimit: 0, timeoutMs: 1000, backend: "wasm" });
      console.log(JSON.stringify({ dir: (pool as unknown as { socketDir: string }).socketDir }));
      await new Promise(() => {});`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", script],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the pool process exited before printing its folder: ${text}`);
      text += value;
    }
    const { dir } = JSON.parse(text);
    assert.ok(Deno.statSync(dir).isDirectory);
    child.kill("SIGKILL");
    await child.status;
    reader.cancel().catch(() => {});
    assert.ok(Deno.statSync(dir).isDirectory, "a killed pool cannot remove its folder");
    const pool = new WorkerPool({ size: 0, queueLimit: 0, timeoutMs: 1000, backend: "wasm" });
    try {
      await waitFor(() => !existsSync(dir), `${dir} to be removed`);
      assert.ok(existsSync((pool as unknown as { socketDir: string }).socketDir), "its own folder stays");
    } finally {
      await pool.close();
    }
  },
});

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
