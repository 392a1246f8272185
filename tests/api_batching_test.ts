/**
 * Dynamic batching over HTTP: three concurrent POST /v1/saliency requests on a server that batches (a window
 * long enough that only a full batch of 3 goes, so the test waits on the requests, not a clock) get the answers a
 * server that does not batch gives them one by one, and /metrics counts one pass of three.
 */
import assert from "node:assert/strict";
import { CANVAS_PERMITTED } from "./helpers/synthetic_gate.ts";
import { spawnTestServer } from "../tools/spawn_server.ts";
import { pngBase64 } from "./helpers/test_png.ts";

Deno.test({
  name: "service: concurrent compatible requests share a pass and get their own unbatched answers",
  ignore: !CANVAS_PERMITTED,
  sanitizeResources: false, // the canvas addon keeps native resources alive
  fn: async () => {
    const common = { RETRACE_BACKEND: "wasm", RETRACE_WORKERS: "1" };
    const [batching, plain] = await Promise.all([
      spawnTestServer({ ...common, RETRACE_BATCH_WINDOW_MS: "60000", RETRACE_BATCH_MAX: "3" }),
      spawnTestServer({ ...common, RETRACE_BATCH_WINDOW_MS: "0" }),
    ]);
    try {
      const bodies = [
        { image: await pngBase64(96, 80), targets: { topK: 2 } },
        { image: await pngBase64(64, 64), targets: { classes: [3] } },
        { image: await pngBase64(120, 90), targets: { present: true, threshold: 0.01 } },
      ].map((b) =>
        JSON.stringify({ ...b, model: "resnet50_synthetic", method: "grad-cam", layers: ["layer4"] })
      );
      const ask = async (base: string, body: string) => {
        const res = await fetch(`${base}/v1/saliency`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        });
        const answer = await res.json();
        assert.equal(res.status, 200, JSON.stringify(answer).slice(0, 300));
        return { ...answer, timings: null };
      };
      const together = await Promise.all(bodies.map((b) => ask(batching.base, b)));
      for (const [i, b] of bodies.entries()) {
        assert.deepEqual(together[i], await ask(plain.base, b), `request ${i}`);
      }
      const metrics = await (await fetch(`${batching.base}/metrics`)).text();
      assert.match(metrics, /retrace_saliency_batch_size_count 1\n/);
      assert.match(metrics, /retrace_saliency_batch_size_sum 3\n/);
      assert.match(metrics, /retrace_saliency_batch_size_bucket\{le="2"\} 0\n/);
      const plainMetrics = await (await fetch(`${plain.base}/metrics`)).text();
      assert.match(plainMetrics, /retrace_saliency_batch_size_bucket\{le="1"\} 3\n/, "alone: passes of one");
    } finally {
      for (const s of [batching, plain]) {
        s.child.kill("SIGTERM");
        await s.child.status;
      }
    }
  },
});
