/** Reads a Server-Sent Events stream with fetch until an event satisfies `stop` or the stream ends (tests). */
import assert from "node:assert/strict";

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
