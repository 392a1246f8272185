/**
 * A minimal HTTP/1.1 client over a TCP socket for tests that must send what fetch refuses or rewrites: request
 * targets with "..", "%2e%2e" and other unnormalised segments, URLs of 100,000 characters, odd methods and
 * headers. One request per connection (`connection: close`); reads content-length, chunked or until close.
 * A text/event-stream response is read up to its first event only. Every wait is bounded and fails with a
 * message naming the request.
 */

export interface RawRequest {
  method: string;
  /** The request target exactly as sent, e.g. "/v1/samples/%2e%2e". */
  target: string;
  headers: [string, string][];
  body?: Uint8Array;
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
  /** The body was cut at the byte limit or after the first server-sent event. */
  partial: boolean;
}

function indexOf(haystack: Uint8Array, needle: number[], from = 0): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const CRLF = [13, 10];
const CRLFCRLF = [13, 10, 13, 10];

/** Decodes as much of a chunked body as has arrived; `done` once the last chunk is seen. */
function dechunk(raw: Uint8Array): { body: Uint8Array; done: boolean } {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    const eol = indexOf(raw, CRLF, at);
    if (eol < 0) break;
    const size = parseInt(new TextDecoder().decode(raw.subarray(at, eol)).split(";")[0], 16);
    if (!Number.isFinite(size)) throw new Error(`bad chunk size at byte ${at}`);
    if (size === 0) return { body: concatAll(parts), done: true };
    if (eol + 2 + size + 2 > raw.length) break;
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return { body: concatAll(parts), done: false };
}

function concatAll(parts: Uint8Array[]): Uint8Array {
  return parts.reduce((a, b) => concat(a, b), new Uint8Array(0));
}

/**
 * Sends one request to `host:port` and reads the response. `waitMs` bounds the whole exchange (the message
 * names the request); `maxBytes` bounds the body kept.
 */
export async function rawRequest(
  host: string,
  port: number,
  request: RawRequest,
  options: { waitMs: number; maxBytes?: number },
): Promise<RawResponse> {
  const maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
  let conn: Deno.TcpConn | undefined;
  let over = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      try {
        conn?.close();
      } catch { /* already closed */ }
      reject(
        new Error(
          `no complete response within ${options.waitMs} ms to ${request.method} ${
            request.target.slice(0, 200)
          }${conn ? "" : " (not even connected)"}`,
        ),
      );
    }, options.waitMs);
  });
  try {
    return await Promise.race([
      Deno.connect({ hostname: host, port }).then((c) => {
        conn = c;
        if (over) c.close(); // connected after the deadline
        return exchange(c, host, port, request, maxBytes);
      }),
      expired,
    ]);
  } finally {
    over = true;
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* already closed */ }
  }
}

async function exchange(
  conn: Deno.TcpConn,
  host: string,
  port: number,
  request: RawRequest,
  maxBytes: number,
): Promise<RawResponse> {
  const body = request.body ?? new Uint8Array(0);
  const head = [
    `${request.method} ${request.target} HTTP/1.1`,
    `host: ${host}:${port}`,
    "connection: close",
    ...(request.body !== undefined ? [`content-length: ${body.length}`] : []),
    ...request.headers.map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ].join("\r\n");
  const writer = conn.writable.getWriter();
  const reader = conn.readable.getReader();
  // write and read at once: a server may answer (413, 401) before it has read the whole body
  const writing = (async () => {
    try {
      await writer.write(new TextEncoder().encode(head));
      if (body.length) await writer.write(body);
    } catch { /* the server closed early; its answer is what counts */ }
  })();
  let raw: Uint8Array = new Uint8Array(0);
  let headerEnd = -1;
  let status = 0;
  let headers = new Headers();
  let closed = false;
  for (;;) {
    if (headerEnd < 0) {
      headerEnd = indexOf(raw, CRLFCRLF);
      if (headerEnd >= 0) {
        const lines = new TextDecoder().decode(raw.subarray(0, headerEnd)).split("\r\n");
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
        if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0].slice(0, 100))}`);
        status = Number(m[1]);
        headers = new Headers();
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(":");
          if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
        }
      }
    }
    if (headerEnd >= 0) {
      const rest = raw.subarray(headerEnd + 4);
      const noBody = request.method === "HEAD" || status === 204 || status === 304;
      const length = headers.get("content-length");
      const chunked = /chunked/i.test(headers.get("transfer-encoding") ?? "");
      const sse = (headers.get("content-type") ?? "").startsWith("text/event-stream");
      let bodyNow: Uint8Array | null = null;
      let partial = false;
      if (noBody) bodyNow = new Uint8Array(0);
      else if (length !== null && !chunked) {
        if (rest.length >= Number(length)) bodyNow = rest.subarray(0, Number(length));
      } else if (chunked) {
        const { body, done } = dechunk(rest);
        if (done) bodyNow = body;
        else if (sse && indexOf(body, [10, 10]) >= 0) [bodyNow, partial] = [body, true];
        else if (body.length > maxBytes) [bodyNow, partial] = [body.subarray(0, maxBytes), true];
      } else if (closed) bodyNow = rest;
      if (!bodyNow && rest.length > maxBytes) [bodyNow, partial] = [rest.subarray(0, maxBytes), true];
      if (!bodyNow && closed) {
        throw new Error(`the connection closed mid-body (status ${status}, ${rest.length} bytes read)`);
      }
      if (bodyNow) {
        // not waiting for the write: a server that answered early (413) need not read the rest
        reader.cancel().catch(() => {});
        void writing;
        return { status, headers, body: bodyNow.slice(), partial };
      }
    } else if (closed) {
      throw new Error(
        `the connection closed before a complete response head (${raw.length} bytes: ${
          JSON.stringify(new TextDecoder().decode(raw.subarray(0, 120)))
        })`,
      );
    }
    try {
      const { value, done } = await reader.read();
      if (done) closed = true;
      else raw = concat(raw, value);
    } catch {
      closed = true; // reset after an early answer: what was read is the response
    }
  }
}
