/**
 * The upload gate as the app wires it (routes/app.ts uploadLimit, main.ts: workers + queue): with that many image
 * requests at the worker, the next POST /v1/saliency or /v1/caption is 503 busy + Retry-After without its body
 * being read; GET routes are not counted; once one answers, image requests are admitted again.
 */
import assert from "node:assert/strict";
import { strictApp } from "./helpers/strict_app.ts";
import { waitFor } from "./helpers/wait_for.ts";

Deno.test("app: image requests past workers + queue are refused before their body is read", async () => {
  const { app, jobs, reply } = strictApp({ uploadLimit: 1 });
  let release!: () => void;
  const answer = { model: "net", maps: [], targets: [], predictions: [], image: { width: 1, height: 1 } };
  reply.value = new Promise((r) => (release = () => r({ ...answer, timings: {} })));
  const json = (body: unknown) => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const held = app.request(
    "/v1/saliency",
    json({ image: "AAAA", model: "net", method: "gradient", layers: ["input"] }),
  );
  await waitFor("the first request to reach the worker", () => jobs.length === 1);

  let pulled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(ctl) {
      pulled = true;
      ctl.enqueue(new TextEncoder().encode('{"image": "AAAA", "model": "cap"}'));
      ctl.close();
    },
  }, { highWaterMark: 0 });
  const refused = await app.request("/v1/caption", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    duplex: "half",
  } as RequestInit);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "2");
  assert.equal((await refused.json()).error.code, "busy");
  assert.equal(pulled, false, "the refused request's body was never read");
  assert.equal((await app.request("/v1/methods")).status, 200, "GET routes are not counted");

  release();
  assert.equal((await held).status, 200);
  const again = await app.request(
    "/v1/saliency",
    json({ image: "AAAA", model: "net", method: "gradient", layers: ["input"] }),
  );
  assert.equal(again.status, 200, "admitted again once the first one answered");
});
