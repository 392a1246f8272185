/**
 * The upload gate (routes/upload_gate.ts): with `limit` image requests in progress the next is refused 503 busy
 * with Retry-After without its body being read, and admitted again once one finishes.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { UploadGate } from "../routes/upload_gate.ts";

Deno.test("upload gate: the request over the limit is refused before its body is read", async () => {
  const gate = new UploadGate(2);
  const app = new Hono();
  const release: (() => void)[] = [];
  app.use("/up", gate.middleware());
  app.post("/up", async (c) => {
    const bytes = await c.req.arrayBuffer();
    await new Promise<void>((r) => release.push(r));
    return c.json({ bytes: bytes.byteLength });
  });
  /** A body that records whether anyone read it. */
  const body = () => {
    const state = { pulled: false };
    const stream = new ReadableStream<Uint8Array>({
      pull(ctl) {
        state.pulled = true;
        ctl.enqueue(new Uint8Array(10));
        ctl.close();
      },
    }, { highWaterMark: 0 }); // pulled only when read
    return { state, stream };
  };
  const send = (stream: ReadableStream<Uint8Array>) =>
    app.request("/up", { method: "POST", body: stream, duplex: "half" } as RequestInit);
  const first = send(body().stream);
  const second = send(body().stream);
  await waitFor(() => release.length === 2, "both admitted requests to be in their handler");
  assert.equal(gate.active, 2);

  const third = body();
  const refused = await send(third.stream);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "2");
  assert.equal((await refused.json()).error.code, "busy");
  assert.equal(third.state.pulled, false, "the refused request's body was never read");

  release.shift()!();
  assert.deepEqual(await (await first).json(), { bytes: 10 });
  const fourth = send(body().stream);
  await waitFor(() => release.length === 2, "a new request to be admitted once one finished");
  release.splice(0).forEach((r) => r());
  assert.equal((await second).status, 200);
  assert.equal((await fourth).status, 200);
  assert.equal(gate.active, 0);
});

async function waitFor(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 6000; i++) {
    if (done()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up after 60 s waiting for ${what}`);
}
