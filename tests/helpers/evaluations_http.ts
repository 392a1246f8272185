/**
 * Test helpers for evaluation jobs over HTTP: the permissions a spawned server gets, POST /v1/evaluations, and
 * a Server-Sent Events reader.
 */
import assert from "node:assert/strict";

/** What the spawned servers of the evaluation tests may do (writes anywhere: their jobs folders are temporary). */
export const SERVER_PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-ffi",
  "--allow-sys",
];

export const postEvaluation = (base: string, body: unknown): Promise<Response> =>
  fetch(`${base}/v1/evaluations`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/** Reads a Server-Sent Events stream with fetch until an event satisfies `stop` or the stream ends. */
export interface Sse {
  id: string;
  event: string;
  data: unknown;
}

export async function readEvents(
  url: string,
  lastEventId?: string | number,
  stop = (_e: Sse) => false,
): Promise<Sse[]> {
  const res = await fetch(url, { headers: lastEventId ? { "last-event-id": String(lastEventId) } : {} });
  assert.equal(res.headers.get("content-type")?.split(";")[0], "text/event-stream");
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const out: Sse[] = [];
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    buf += value;
    let at;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, at);
      buf = buf.slice(at + 2);
      const field = (name: string) =>
        block.split("\n").find((l) => l.startsWith(`${name}:`))?.slice(name.length + 1).trim();
      const e = {
        id: field("id") ?? "",
        event: field("event") ?? "message",
        data: JSON.parse(field("data") ?? "null"),
      };
      out.push(e);
      if (stop(e)) {
        await reader.cancel();
        return out;
      }
    }
  }
}
