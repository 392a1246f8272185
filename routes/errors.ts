/**
 * The one error vocabulary of the HTTP API: every error body is `{error: {code, message}}` with a code from
 * ERROR_CODES, whose status it always has. `apiError` answers one; `echo` quotes client text in messages,
 * truncated so a huge name or URL is never sent back whole. The table is published in the OpenAPI document.
 */
import type { Context } from "hono";
import { z } from "@hono/zod-openapi";

export const ERROR_CODES = {
  invalid_request: {
    status: 400,
    meaning: "the body, a field or a parameter breaks its rule (named in the message)",
  },
  unknown_field: {
    status: 400,
    meaning: "a field the route does not take (named, with where it belongs if misplaced)",
  },
  unknown_method: { status: 400, meaning: "no such saliency method; the message lists the valid ones" },
  unknown_layer: { status: 400, meaning: "no such layer in this model; the message lists the valid ones" },
  unknown_class: { status: 400, meaning: "no such class in this model; the message lists the valid ones" },
  bad_target: {
    status: 400,
    meaning: "targets that cannot be resolved (e.g. top-k larger than the class count)",
  },
  bad_layer: { status: 400, meaning: "a layer list that cannot be used for this request" },
  bad_image: {
    status: 400,
    meaning: "the image is not valid base64, not JPEG/PNG/WebP/GIF, truncated or corrupt",
  },
  bad_overlay: { status: 400, meaning: "the overlay asks for a map the request did not make" },
  bad_caption: { status: 400, meaning: "a caption with words the captioner does not know" },
  bad_evaluation: {
    status: 400,
    meaning: "an evaluation that cannot run (dataset, split, layers, combinations)",
  },
  unsupported_rule: { status: 400, meaning: "the method's backward rule is not defined for this network" },
  unauthorized: { status: 401, meaning: "missing or wrong `Authorization: Bearer <RETRACE_API_KEY>`" },
  not_found: { status: 404, meaning: "no such route, evaluation or sample" },
  unknown_model: { status: 404, meaning: "no such model of this kind; the message lists the available ones" },
  body_too_large: { status: 413, meaning: "the request body exceeds RETRACE_MAX_BODY" },
  image_too_large: { status: 413, meaning: "the image's declared width x height exceeds RETRACE_MAX_PIXELS" },
  uri_too_long: { status: 414, meaning: "the URL exceeds the server's limit" },
  unsupported_media_type: { status: 415, meaning: "a content-type the route does not take" },
  too_many_jobs: {
    status: 429,
    meaning: "RETRACE_MAX_JOBS evaluations are queued or running; retry after Retry-After",
  },
  internal: { status: 500, meaning: "a bug; the server log has the details under the request id" },
  worker_crashed: { status: 500, meaning: "the worker running the request died; retry" },
  busy: { status: 503, meaning: "every worker is busy and the queue is full; retry after Retry-After" },
  queue_unavailable: { status: 503, meaning: "the evaluation queue (Redis) is unreachable" },
  timeout: { status: 504, meaning: "the request ran past RETRACE_TIMEOUT_MS; its work was stopped" },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The error body for `code` (no response). */
export function errorBody(code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } {
  return { error: { code, message } };
}

/** Answers `{error: {code, message}}` with the code's status and any extra headers (e.g. Retry-After). */
export function apiError(
  c: Context,
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
): Response {
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  // deno-lint-ignore no-explicit-any
  return c.json(errorBody(code, message), ERROR_CODES[code].status as any);
}

/** Client text quoted for a message: JSON-quoted, at most `max` characters, with how much was cut. */
export function echo(text: string, max = 80): string {
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}… (${text.length} characters)`;
}

/** Client text shown unquoted (e.g. a path), at most `max` characters, with how much was cut. */
export function clip(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

export const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** The error body in the OpenAPI document: `code` is one of ERROR_CODES. */
export const ErrorSchema = z.object({
  error: z.object({
    code: z.enum(ERROR_CODE_NAMES).describe("one of the codes in the table of the document's description"),
    message: z.string().describe("what is wrong and how to fix it, naming the field and its rule"),
  }),
}).openapi("Error");

/** The codes as a Markdown table (status, code, meaning) for the OpenAPI document's description. */
export function errorCodeTable(): string {
  const rows = ERROR_CODE_NAMES.map((code) =>
    `| ${ERROR_CODES[code].status} | \`${code}\` | ${ERROR_CODES[code].meaning} |`
  );
  return ["| status | code | meaning |", "| --- | --- | --- |", ...rows].join("\n");
}

/** OpenAPI responses for these statuses, each listing the codes it comes with and the Error schema. */
export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((status) => {
    const codes = ERROR_CODE_NAMES.filter((code) => ERROR_CODES[code].status === status);
    return [status, {
      description: codes.join(", ") || "an error",
      content: { "application/json": { schema: ErrorSchema } },
    }];
  }));
}

/** The code a framework error of this status stands for (e.g. Hono's 400 for a body that is not JSON). */
export function codeForStatus(status: number): ErrorCode {
  const generic: Record<number, ErrorCode> = {
    401: "unauthorized",
    404: "not_found",
    413: "body_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
  };
  return generic[status] ?? (status < 500 ? "invalid_request" : "internal");
}
