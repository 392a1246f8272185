/**
 * The framed channel between the pool and its explainer processes (workers/process_channel.ts), over a real Unix
 * socket pair: messages arrive whole and in order whatever the chunking (a multi-megabyte typed array, NaN,
 * undefined, nested values), and a frame that declares more than the limit closes the channel.
 */
import assert from "node:assert/strict";
import { MAX_FRAME_BYTES, streamEndpoint } from "../workers/process_channel.ts";

async function socketPair(): Promise<{ a: Deno.Conn; b: Deno.Conn; dir: string }> {
  const dir = Deno.makeTempDirSync({ prefix: "retrace-channel-" });
  const listener = Deno.listen({ transport: "unix", path: `${dir}/s.sock` });
  const [a, b] = await Promise.all([
    listener.accept(),
    Deno.connect({ transport: "unix", path: `${dir}/s.sock` }),
  ]);
  listener.close();
  return { a, b, dir };
}

Deno.test("process channel: messages arrive whole and in order; large typed arrays survive", async () => {
  const { a, b, dir } = await socketPair();
  const left = streamEndpoint(a);
  const right = streamEndpoint(b);
  const big = Float32Array.from({ length: 3_000_000 }, (_, i) => Math.sin(i));
  const sent = [
    { id: 1, value: NaN, missing: undefined, nested: { list: [1, "two", null] } },
    { id: 2, maps: [{ shape: [1000, 3000], data: big }] },
    { id: 3, bytes: new Uint8Array([0, 255, 7]) },
  ];
  const got: unknown[] = [];
  const all = new Promise<void>((done) =>
    right.addEventListener("message", (e) => {
      got.push((e as MessageEvent).data);
      if (got.length === sent.length) done();
    })
  );
  for (const m of sent) left.postMessage(m);
  await all;
  assert.deepEqual(got, sent);
  left.close();
  await right.closed; // the other side sees the end of the stream
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("process channel: a frame declaring more than the limit closes the channel", async () => {
  const { a, b, dir } = await socketPair();
  const right = streamEndpoint(b);
  let received = 0;
  right.addEventListener("message", () => received++);
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, MAX_FRAME_BYTES + 1, true);
  await a.write(head);
  await right.closed;
  assert.equal(received, 0);
  a.close();
  Deno.removeSync(dir, { recursive: true });
});
