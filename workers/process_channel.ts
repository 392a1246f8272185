/**
 * A comlink Endpoint over a byte stream (the Unix socket between the pool and an explainer process): each message
 * is one frame, a 4-byte little-endian length then the message in V8's serialization format (node:v8; typed
 * arrays, NaN and undefined survive). Transfer lists are ignored: values are copied, as they must be between
 * processes. Frames are written in order; a frame over MAX_FRAME_BYTES or a malformed one closes the channel.
 */
import { deserialize, serialize } from "node:v8";
import type { Endpoint } from "comlink";

/** Largest message either side accepts (an upload is at most RETRACE_MAX_BODY; maps are far smaller). */
export const MAX_FRAME_BYTES = 1024 * 1024 * 1024;

type Listener = (event: MessageEvent) => void;

export interface ChannelEndpoint extends Endpoint {
  /** Resolves when the stream ends (the other side exited or closed it) or fails. */
  readonly closed: Promise<void>;
  close(): void;
}

export function streamEndpoint(conn: Deno.Conn): ChannelEndpoint {
  const listeners = new Set<Listener>();
  let writing = Promise.resolve();
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    try {
      conn.close();
    } catch { /* already closed */ }
  };

  const closed = (async () => {
    // Chunks are kept as they come and joined once a whole frame is there (a large upload arrives in many).
    let chunks: Uint8Array[] = [];
    let total = 0;
    const take = (n: number): Uint8Array => {
      const joined = chunks.length === 1 ? chunks[0] : concat(chunks, total);
      chunks = joined.length > n ? [joined.subarray(n)] : [];
      total -= n;
      return joined.subarray(0, n);
    };
    let need = -1; // the current frame's body size, once its header is read
    try {
      for await (const chunk of conn.readable) {
        chunks.push(chunk);
        total += chunk.length;
        for (;;) {
          if (need < 0 && total >= 4) {
            const head = take(4);
            need = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
            if (need > MAX_FRAME_BYTES) throw new Error(`a frame of ${need} bytes is over the limit`);
          }
          if (need < 0 || total < need) break;
          const data = deserialize(take(need));
          need = -1;
          for (const l of listeners) l(new MessageEvent("message", { data }));
        }
      }
    } catch { /* a broken stream is a closed one */ }
    close();
  })();

  return {
    closed,
    close,
    postMessage(message: unknown): void {
      if (!open) return;
      const body = serialize(message);
      const frame = new Uint8Array(4 + body.length);
      new DataView(frame.buffer).setUint32(0, body.length, true);
      frame.set(body, 4);
      writing = writing.then(() => writeAll(conn, frame)).catch(close);
    },
    addEventListener(_type: string, listener: EventListenerOrEventListenerObject): void {
      listeners.add(listener as Listener);
    },
    removeEventListener(_type: string, listener: EventListenerOrEventListenerObject): void {
      listeners.delete(listener as Listener);
    },
  };
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
}
