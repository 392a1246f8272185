/**
 * Dynamic batching (workers/batcher.ts) over a scripted pool and a manual clock: which requests share a pass,
 * when a batch goes (its window, or full), that each caller gets its own answer, and that cancellation and
 * failures stay per request. (That a batched pass answers each job exactly as alone: tests/saliency_batch_test.ts.)
 */
import assert from "node:assert/strict";
import { type PoolLike, SaliencyBatcher, type WorkerAnswer } from "../workers/batcher.ts";
import type { SaliencyAnswer, SaliencyJob } from "../lib/service/saliency_job.ts";
import { ManualTimers } from "./helpers/manual_timers.ts";

interface Call {
  kind: "saliency" | "saliencyBatch";
  dir: string;
  jobs: SaliencyJob[];
  signal?: AbortSignal;
  answer: (a: WorkerAnswer | WorkerAnswer[]) => void;
  fail: (e: unknown) => void;
}

/** A pool whose runs wait until the test answers them. */
function scriptedPool(): PoolLike & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    run<T>(fn: (api: never) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const record = (kind: Call["kind"]) => (dir: string, jobs: SaliencyJob | SaliencyJob[]) =>
          new Promise<unknown>((answer, fail) =>
            calls.push({
              kind,
              dir,
              jobs: Array.isArray(jobs) ? jobs : [jobs],
              signal: options.signal,
              answer: answer as Call["answer"],
              fail,
            })
          );
        const api = { saliency: record("saliency"), saliencyBatch: record("saliencyBatch") };
        options.signal?.addEventListener("abort", () => reject(options.signal!.reason), { once: true });
        fn(api as never).then(resolve, reject);
      });
    },
  };
}

const job = (layers: string[], tag: number): SaliencyJob => ({
  image: new Uint8Array([tag]),
  method: "grad-cam",
  layers,
  targets: { kind: "top-k", k: 1 },
  maxPixels: 100,
});
const answerFor = (j: SaliencyJob) => ({ maps: [], tag: j.image[0] } as unknown as SaliencyAnswer);
const tagOf = (a: WorkerAnswer) => (a as unknown as { tag: number }).tag;
const settled = () => new Promise((r) => setTimeout(r, 0));

Deno.test("batcher: compatible requests in one window share one pass; each gets its own answer", async () => {
  const pool = scriptedPool();
  const timers = new ManualTimers();
  const b = new SaliencyBatcher(pool, { windowMs: 5, maxBatch: 8, timers });
  const p = [
    b.submit("m", job(["layer4"], 1)),
    b.submit("m", job(["layer4"], 2)),
    b.submit("m", job(["layer3"], 3)), // another key
    b.submit("other", job(["layer4"], 4)), // another model
    b.submit("m", job(["layer4"], 5)),
  ];
  await settled();
  assert.equal(pool.calls.length, 0, "nothing runs before the window ends");
  timers.advance(5);
  await settled();
  assert.deepEqual(
    pool.calls.map((c) => [c.kind, c.dir, c.jobs.map((j) => j.image[0])]),
    [["saliencyBatch", "m", [1, 2, 5]], ["saliency", "m", [3]], ["saliency", "other", [4]]],
  );
  pool.calls[0].answer(pool.calls[0].jobs.map(answerFor));
  pool.calls[1].answer(answerFor(pool.calls[1].jobs[0]));
  pool.calls[2].answer(answerFor(pool.calls[2].jobs[0]));
  assert.deepEqual((await Promise.all(p)).map(tagOf), [1, 2, 3, 4, 5]);
  assert.deepEqual(b.counts, { passes: 3, requests: 5, bySize: [2, 2, 3, 3, 3, 3, 3] });
});

Deno.test("batcher: a full batch goes at once; a window of 0 sends every request alone", async () => {
  const pool = scriptedPool();
  const timers = new ManualTimers();
  const b = new SaliencyBatcher(pool, { windowMs: 50, maxBatch: 2, timers });
  const p = [b.submit("m", job(["l"], 1)), b.submit("m", job(["l"], 2)), b.submit("m", job(["l"], 3))];
  await settled();
  assert.deepEqual(pool.calls.map((c) => c.jobs.length), [2], "the first two went when the batch was full");
  timers.advance(50);
  await settled();
  assert.deepEqual(pool.calls.map((c) => [c.kind, c.jobs.length]), [["saliencyBatch", 2], ["saliency", 1]]);
  pool.calls[0].answer(pool.calls[0].jobs.map(answerFor));
  pool.calls[1].answer(answerFor(pool.calls[1].jobs[0]));
  assert.deepEqual((await Promise.all(p)).map(tagOf), [1, 2, 3]);

  const direct = scriptedPool();
  const none = new SaliencyBatcher(direct, { windowMs: 0, maxBatch: 8, timers });
  const q = [none.submit("m", job(["l"], 1)), none.submit("m", job(["l"], 2))];
  await settled();
  assert.deepEqual(direct.calls.map((c) => c.kind), ["saliency", "saliency"]);
  direct.calls.forEach((c) => c.answer(answerFor(c.jobs[0])));
  assert.deepEqual((await Promise.all(q)).map(tagOf), [1, 2]);
});

Deno.test("batcher: a caller that goes away leaves its batch; the pass is cancelled only when all have", async () => {
  const pool = scriptedPool();
  const timers = new ManualTimers();
  const b = new SaliencyBatcher(pool, { windowMs: 5, maxBatch: 8, timers });
  const [a1, a2, a3] = [new AbortController(), new AbortController(), new AbortController()];
  const p1 = b.submit("m", job(["l"], 1), a1.signal);
  const p2 = b.submit("m", job(["l"], 2), a2.signal);
  const p3 = b.submit("m", job(["l"], 3), a3.signal);
  a1.abort(new Error("gone while waiting"));
  await assert.rejects(p1, /gone while waiting/);
  timers.advance(5);
  await settled();
  assert.deepEqual(
    pool.calls.map((c) => c.jobs.map((j) => j.image[0])),
    [[2, 3]],
    "the leaver is not in the pass",
  );
  a2.abort(new Error("gone while running"));
  await assert.rejects(p2, /gone while running/);
  assert.equal(pool.calls[0].signal!.aborted, false, "the pass goes on for the one left");
  pool.calls[0].answer(pool.calls[0].jobs.map(answerFor));
  assert.equal(tagOf(await p3), 3);

  const [c1, c2] = [new AbortController(), new AbortController()];
  const q = [b.submit("m", job(["l"], 7), c1.signal), b.submit("m", job(["l"], 8), c2.signal)];
  timers.advance(5);
  await settled();
  const pass = pool.calls[1];
  c1.abort(new Error("one"));
  assert.equal(pass.signal!.aborted, false);
  c2.abort(new Error("two"));
  assert.equal(pass.signal!.aborted, true, "every member gone: the pass is cancelled");
  await assert.rejects(q[0], /one/);
  await assert.rejects(q[1], /two/);

  const lone = new AbortController();
  const r = b.submit("m", job(["l"], 9), lone.signal);
  lone.abort(new Error("never ran"));
  await assert.rejects(r, /never ran/);
  timers.advance(5);
  await settled();
  assert.equal(pool.calls.length, 2, "a window whose every request left runs nothing");
});

Deno.test("batcher: a failed pass fails each of its requests with the pool's error", async () => {
  const pool = scriptedPool();
  const timers = new ManualTimers();
  const b = new SaliencyBatcher(pool, { windowMs: 5, maxBatch: 8, timers });
  const p = [b.submit("m", job(["l"], 1)), b.submit("m", job(["l"], 2))];
  timers.advance(5);
  await settled();
  pool.calls[0].fail(new Error("worker 3 crashed"));
  for (const x of p) await assert.rejects(x, /worker 3 crashed/);
});
