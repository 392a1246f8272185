/**
 * The worker pool (workers/pool.ts) with real explainer workers: a worker killed mid-request fails that request
 * cleanly and is replaced (the next request succeeds, the pool is back to N); timeouts and client aborts replace
 * the stuck worker; a full queue is refused at once; close() drains in-flight work.
 */
import assert from "node:assert/strict";
import { PoolFullError, RequestTimeoutError, WorkerCrashError, WorkerPool } from "../workers/pool.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "worker pool: crash, timeout and abort replace only the affected worker",
  ...opts,
  async fn() {
    const pool = new WorkerPool({ size: 2, queueLimit: 4, timeoutMs: 60_000, backend: "wasm" });
    try {
      assert.equal(typeof (await pool.run((api) => api.tensors())), "number");
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
      assert.equal(typeof (await other), "number", "the other request carries on");
      assert.equal(pool.stats().size, 2);
      assert.equal(pool.stats().restarts, 1);
      assert.notDeepEqual(pool.workerIds(), ids);
      assert.equal(typeof (await pool.run((api) => api.tensors())), "number", "the next request succeeds");

      await assert.rejects(pool.run((api) => api.hang(), { timeoutMs: 300 }), RequestTimeoutError);
      assert.equal(pool.stats().size, 2);
      assert.equal(pool.stats().restarts, 2);

      const controller = new AbortController();
      const cancelled = pool.run((api) => api.hang(), { signal: controller.signal });
      setTimeout(() => controller.abort(new Error("client went away")), 100);
      await assert.rejects(cancelled, /client went away/);
      assert.equal(pool.stats().restarts, 3);
      assert.equal(typeof (await pool.run((api) => api.tensors())), "number");
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
    assert.deepEqual({ ...pool.stats(), restarts: 0 }, { size: 1, busy: 1, queued: 1, restarts: 0 });
    await pool.close();
    assert.equal(typeof (await busy), "number");
    assert.equal(typeof (await queued), "number");
    await assert.rejects(pool.run((api) => api.tensors()), /shutting down/);
  },
});
