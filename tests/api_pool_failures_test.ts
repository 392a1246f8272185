/**
 * How the API answers what the worker pool and the workers report (routes/v1.ts): a full queue or a closing
 * pool is 503 `busy` with Retry-After, a timeout 504 `timeout`, a dead worker 500 `worker_crashed`, a worker's
 * own bug 500 `internal` without its message (it may name server paths), a worker code outside the vocabulary
 * 400 `invalid_request`, and a worker refusal keeps its code and status (bad_overlay 400, image_too_large 413);
 * also invalid base64 and CORS. Driven through the app with a fake pool (tests/helpers/strict_app.ts).
 */
import assert from "node:assert/strict";
import { strictApp } from "./helpers/strict_app.ts";
import { ERROR_CODES } from "../routes/errors.ts";
import { PoolClosedError, PoolFullError, RequestTimeoutError, WorkerCrashError } from "../workers/pool.ts";

/** A promise-like that rejects only when awaited (no unhandled rejection before the route awaits it). */
const failing = (e: Error) => ({ then: (_: unknown, reject: (e: Error) => void) => reject(e) });

const saliency = { image: "iVBORw0KGgo=", model: "net", method: "gradient", layers: ["input"] };
const caption = { image: "iVBORw0KGgo=", model: "cap" };

async function post(app: ReturnType<typeof strictApp>["app"], path: string, body: unknown) {
  const res = await app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { res, body: await res.json() };
}

Deno.test("API: pool and worker failures map to their documented statuses and codes", async (t) => {
  const { app, reply } = strictApp();
  const cases: [string, unknown, number, string, RegExp?][] = [
    ["a full queue", failing(new PoolFullError("all 2 workers are busy")), 503, "busy"],
    ["a closing pool", failing(new PoolClosedError("the service is shutting down")), 503, "busy"],
    ["a timeout", failing(new RequestTimeoutError("the request took longer than 100 ms")), 504, "timeout"],
    [
      "a crashed worker",
      failing(new WorkerCrashError("worker 3 exited with code 1")),
      500,
      "worker_crashed",
      /retry/,
    ],
    ["a worker bug", { error: { code: "internal", message: "at /work/secret/path.ts:12" } }, 500, "internal"],
    ["an unknown worker code", { error: { code: "weird_code", message: "odd" } }, 400, "invalid_request"],
    ["bad_overlay", { error: { code: "bad_overlay", message: "overlay.map is 3" } }, 400, "bad_overlay"],
    ["image_too_large", { error: { code: "image_too_large", message: "9 pixels" } }, 413, "image_too_large"],
  ];
  for (const [what, value, status, code, message] of cases) {
    await t.step(what, async () => {
      for (const [path, body] of [["/v1/saliency", saliency], ["/v1/caption", caption]] as const) {
        reply.value = value;
        const { res, body: answer } = await post(app, path, body);
        assert.equal(res.status, status, `${path}: ${JSON.stringify(answer)}`);
        assert.equal(answer.error.code, code);
        assert.equal(ERROR_CODES[code as keyof typeof ERROR_CODES].status, status);
        if (code === "busy") assert.equal(res.headers.get("retry-after"), "2");
        if (message) assert.match(answer.error.message, message);
        assert.doesNotMatch(answer.error.message, /\/work\/secret/, "no server path in the answer");
      }
    });
  }
});

Deno.test("API: invalid base64 is 400 bad_image; CORS answers the configured origin only", async () => {
  const { app } = strictApp({ corsOrigin: "https://example.test" });
  const { res, body } = await post(app, "/v1/saliency", { ...saliency, image: "%%%not base64%%%" });
  assert.equal(res.status, 400);
  assert.equal(body.error.code, "bad_image");
  const pre = await app.request("/v1/models", {
    method: "OPTIONS",
    headers: { origin: "https://example.test", "access-control-request-method": "POST" },
  });
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://example.test");
  const plain = await strictApp().app.request("/v1/models", { headers: { origin: "https://example.test" } });
  assert.equal(plain.headers.get("access-control-allow-origin"), null, "CORS is off unless configured");
});
