/**
 * Request validation failures as API errors. `describeIssues` turns zod issues into one message that names each
 * bad field and its rule (`targets.topK: must be an integer in 1..64, got 0`); for a union it reports the
 * problem of the alternative the value was meant as, or, when no alternative fits, the alternatives. Unknown
 * fields make the code `unknown_field`, anything else `invalid_request`. `validationHook` is the zod-openapi
 * hook every router shares. Importing this module installs routes/field_rules.ts's rule messages as zod's
 * fallback for schemas without their own `error` option.
 */
import { z } from "@hono/zod-openapi";
import type { Hook } from "@hono/zod-openapi";
import { ruleMessage } from "./field_rules.ts";
import { apiError, type ErrorCode } from "./errors.ts";

z.config({ customError: ruleMessage });

/** Most problems one message lists. */
const MAX_PROBLEMS = 8;

type Issue = {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  values?: unknown[];
  // deno-lint-ignore no-explicit-any
  errors?: any[][];
};

export interface Refusal {
  code: Extract<ErrorCode, "invalid_request" | "unknown_field">;
  message: string;
}

/** `targets.classes[1]`; "" for the root. */
export function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => typeof p === "number" ? `[${p}]` : `${i ? "." : ""}${String(p)}`).join("");
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/**
 * How badly a union branch's issues say the value is not of that branch's form: a type mismatch at the
 * branch's root rules it out; each missing key or unknown key counts one; a bad value inside a fitting form
 * counts nothing.
 */
function misfit(branch: Issue[], input: unknown, at: readonly PropertyKey[]): number {
  let score = 0;
  for (const issue of branch) {
    if (issue.path.length === 0 && issue.code === "invalid_type") return Infinity;
    if (issue.path.length === 0 && issue.code === "invalid_value") {
      // a literal of another type (3 for "paper") is a type mismatch, not a wrong value
      const value = valueAt(input, at);
      if (!(issue.values ?? []).some((v) => typeof v === typeof value)) return Infinity;
    }
    if (issue.code === "unrecognized_keys") score += issue.keys?.length ?? 1;
    else if (issue.path.length > 0 && valueAt(input, [...at, ...issue.path]) === undefined) score += 1;
  }
  return score;
}

/** Union issues replaced by the issues of the branch the value fits best, when one fits better than all. */
function resolveUnions(issues: Issue[], input: unknown, prefix: readonly PropertyKey[] = []): Issue[] {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code !== "invalid_union" || !issue.errors?.length) return [{ ...issue, path }];
    const scores = issue.errors.map((branch: Issue[]) => misfit(branch, input, path));
    const best = Math.min(...scores);
    if (best === Infinity || scores.filter((s) => s === best).length > 1) return [{ ...issue, path }];
    return resolveUnions(issue.errors[scores.indexOf(best)], input, path);
  });
}

/**
 * One refusal for a failed parse of `input`. `rename` maps an issue path to the name the client used (e.g. a
 * query parameter for `targets.topK`).
 */
export function describeIssues(
  issues: readonly Issue[],
  input: unknown,
  rename: (path: readonly PropertyKey[]) => string = pathText,
): Refusal {
  const resolved = resolveUnions([...issues], input);
  const lines = [
    ...new Set(resolved.map((i) => {
      const where = rename(i.path);
      if (i.code === "unrecognized_keys") return where ? `${where}: ${i.message}` : i.message;
      return `${where || "body"}: ${i.message}`;
    })),
  ];
  const shown = lines.slice(0, MAX_PROBLEMS);
  if (lines.length > MAX_PROBLEMS) shown.push(`and ${lines.length - MAX_PROBLEMS} more problems`);
  return {
    code: resolved.some((i) => i.code === "unrecognized_keys") ? "unknown_field" : "invalid_request",
    message: shown.join("; "),
  };
}

// deno-lint-ignore no-explicit-any
export const validationHook: Hook<any, any, any, any> = (result, c) => {
  if (!result.success) {
    // zod-validator hands the hook the value it parsed as `data`, also when the parse failed
    const { code, message } = describeIssues(
      result.error.issues as Issue[],
      (result as { data?: unknown }).data,
    );
    return apiError(c, code, message);
  }
};
