/**
 * The rules every HTTP answer of the service must keep, checked on one raw exchange and returned as a list of
 * violations (empty = fine): no 5xx but the documented busy / queue_unavailable (503) and timeout (504); every
 * 4xx/5xx body is exactly `{error: {code, message}}` with a code from routes/errors.ts and that code's status;
 * Retry-After on busy and too_many_jobs; no server path, file URL, module path or stack frame in any text body
 * unless the client sent that text itself; no long client string echoed whole; plus an optional expected
 * status, code and words for requests whose answer is known.
 */
import { ERROR_CODES } from "../../routes/errors.ts";
import type { RawRequest, RawResponse } from "./raw_http.ts";

export interface Expectation {
  status: number;
  code: string;
  /** Words the error message must contain (e.g. the unknown field's name). */
  mentions?: string[];
  /** Why this answer is expected (printed with a failure). */
  why: string;
}

/** Text that must never reach a client: found in a body but not in the request that caused it. */
const LEAKS: [string, RegExp][] = [
  ["a file URL", /file:\/\//],
  ["a node_modules path", /node_modules/],
  ["a TypeScript source location", /\.ts:/],
  ["a stack frame", /(?:\n|\\n) +at \S/], // a real or a JSON-escaped newline
  ["a /tmp path", /\/tmp\//],
  ["a /work path", /\/work\//],
  ["a home or system path", /\/(home|root|usr|proc|etc)\//],
];

/** A run of one character (or two, e.g. escaped quotes) repeated 300+ times: client text echoed whole. */
const LONG_ECHO = /(.{1,2})\1{299,}/su;

const RETRY_CODES = new Set(["busy", "too_many_jobs"]);
const ALLOWED_5XX: Record<number, string[]> = { 503: ["busy", "queue_unavailable"], 504: ["timeout"] };

/** The target percent-decoded as far as it decodes (the server echoes decoded path parameters). */
function decoded(target: string): string {
  try {
    return decodeURIComponent(target);
  } catch {
    return target.replace(/%[0-9a-f]{2}/gi, (m) => String.fromCharCode(parseInt(m.slice(1), 16)));
  }
}

function isText(contentType: string): boolean {
  return /^(application\/json|text\/|application\/problem)/i.test(contentType) || contentType === "";
}

/**
 * The violations of one exchange. `secrets` are absolute paths of this server (repo root, data and jobs
 * folders) that must never appear unless the client sent them.
 */
export function ruleViolations(
  request: RawRequest,
  response: RawResponse,
  secrets: string[],
  expect?: Expectation,
): string[] {
  const out: string[] = [];
  const contentType = response.headers.get("content-type") ?? "";
  const text = new TextDecoder().decode(response.body);
  const sent = request.target + "\n" + decoded(request.target) + "\n" +
    request.headers.map((h) => h.join(": ")).join("\n") + "\n" +
    new TextDecoder().decode(request.body ?? new Uint8Array(0));
  const isHead = request.method === "HEAD";
  let code: string | undefined;
  let message: string | undefined;

  if (response.status >= 400 && !isHead) {
    if (!/^application\/json/i.test(contentType)) {
      out.push(`a ${response.status} with content-type ${JSON.stringify(contentType)}, not application/json`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      out.push(`a ${response.status} whose body is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
    }
    if (body !== undefined) {
      const error = (body as { error?: unknown })?.error as Record<string, unknown> | undefined;
      const topKeys = body && typeof body === "object" ? Object.keys(body) : [];
      if (!error || typeof error !== "object" || topKeys.length !== 1) {
        out.push(`a ${response.status} body that is not {error: {...}}: ${text.slice(0, 200)}`);
      } else {
        const keys = Object.keys(error).sort().join(",");
        if (keys !== "code,message") out.push(`error has keys [${keys}], not exactly [code, message]`);
        if (typeof error.code !== "string" || !(error.code in ERROR_CODES)) {
          out.push(`error.code ${JSON.stringify(error.code)} is not in ERROR_CODES`);
        } else {
          code = error.code;
          const status = ERROR_CODES[code as keyof typeof ERROR_CODES].status;
          if (status !== response.status) {
            out.push(`error.code ${code} is documented as ${status} but came with ${response.status}`);
          }
        }
        if (typeof error.message !== "string" || error.message.trim() === "") {
          out.push(`error.message ${JSON.stringify(error.message)} is not a non-empty string`);
        } else {
          message = error.message;
          const echo = LONG_ECHO.exec(message);
          if (echo) {
            out.push(`error.message echoes client text whole (${echo[0].length}+ repeated characters)`);
          }
        }
      }
    }
  }
  if (response.status >= 500) {
    const allowed = ALLOWED_5XX[response.status] ?? [];
    if (!code || !allowed.includes(code)) {
      out.push(
        `status ${response.status}${
          code ? ` (${code})` : ""
        }: only 503 busy/queue_unavailable and 504 timeout ` +
          `are documented server-side refusals`,
      );
    }
  }
  if (code && RETRY_CODES.has(code) && !response.headers.get("retry-after")) {
    out.push(`${code} without a Retry-After header`);
  }
  if (isText(contentType)) {
    for (const secret of secrets) {
      if (text.includes(secret) && !sent.includes(secret)) {
        out.push(`the body shows the server path ${secret}`);
      }
    }
    for (const [what, pattern] of LEAKS) {
      const m = pattern.exec(text);
      if (m && !pattern.test(sent)) {
        const at = Math.max(0, m.index - 60);
        out.push(`the body shows ${what}: …${JSON.stringify(text.slice(at, m.index + 60))}…`);
      }
    }
  }
  if (response.status < 400 && /^application\/json/i.test(contentType) && !response.partial && !isHead) {
    try {
      JSON.parse(text);
    } catch {
      out.push(`a ${response.status} labelled JSON whose body does not parse`);
    }
  }
  if (expect) {
    if (response.status !== expect.status || code !== expect.code) {
      out.push(
        `expected ${expect.status} ${expect.code} (${expect.why}), got ${response.status} ${code ?? ""}: ${
          text.slice(0, 300)
        }`,
      );
    }
    for (const word of expect.mentions ?? []) {
      if (message !== undefined && !message.includes(word)) {
        out.push(
          `the message does not mention ${JSON.stringify(word)} (${expect.why}): ${message.slice(0, 300)}`,
        );
      }
    }
  }
  return out;
}
