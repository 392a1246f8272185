/**
 * Zod schema builders whose every failure message states the field's rule and what was sent instead
 * ("must be an integer in 1..64, got Infinity"), through zod 4's per-schema `error` option, and the fallback
 * rule messages for plain schemas (`ruleMessage`, installed as zod's `customError` by routes/validation.ts).
 * Client text quoted in a message is cut short (routes/errors.ts `echo`).
 */
import { z } from "@hono/zod-openapi";
import { echo } from "./errors.ts";

// deno-lint-ignore no-explicit-any
type RawIssue = { code?: string; input?: unknown; inst?: any; [k: string]: any };

/** What the client sent, short: strings quoted and cut, numbers as numbers, objects as cut JSON. */
export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return echo(value, 60);
  if (typeof value === "number") {
    return Number.isFinite(value) ? String(value) : `${value} (past the largest number, ±1.8e308)`;
  }
  if (typeof value !== "object" || value === null) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    return Array.isArray(value) ? "a list nested too deeply to show" : "an object nested too deeply to show";
  }
  return text.length <= 60 ? text : `${text.slice(0, 60)}… (${text.length} characters of JSON)`;
}

/** The zod `error` option for a field whose whole rule is `rule` (e.g. "an integer in 1..64"). */
export function ruled(rule: string): (iss: RawIssue) => string {
  return (iss) =>
    iss.input === undefined ? `is required: ${rule}` : `must be ${rule}, got ${show(iss.input)}`;
}

/** An integer in min..max (`what` names it, e.g. "a class index"). */
export function integer(min: number, max = Infinity, what = "an integer") {
  const error = ruled(max === Infinity ? `${what} >= ${min}` : `${what} in ${min}..${max}`);
  const atLeast = z.number({ error }).int({ error }).min(min, { error });
  return max === Infinity ? atLeast : atLeast.max(max, { error });
}

/** A number in min..max. */
export function number(min: number, max: number) {
  const error = ruled(`a number in ${min}..${max}`);
  return z.number({ error }).min(min, { error }).max(max, { error });
}

/** One of the listed strings. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: ruled(`one of ${values.map((v) => JSON.stringify(v)).join(", ")}`) });
}

/** true or false. */
export function flag() {
  return z.boolean({ error: ruled("true or false") });
}

/** A string of min..max characters; `what` says what it is ("a model name from GET /v1/models"). */
export function text(what: string, min: number, max?: number) {
  const error = ruled(
    max === undefined ? `${what} (a non-empty string)` : `${what} (a string of ${min}..${max} characters)`,
  );
  const atLeast = z.string({ error }).min(min, { error });
  return max === undefined ? atLeast : atLeast.max(max, { error });
}

/** A list of min..max items; the items' own rules name each bad item. */
export function list<T extends z.ZodType>(item: T, what: string, min: number, max: number) {
  const error = ruled(`a list of ${min}..${max} ${what}`);
  return z.array(item, { error }).min(min, { error }).max(max, { error });
}

/**
 * A JSON object that takes only the keys of `shape`. `hints` say where a key that is often misplaced belongs
 * (matched case-insensitively, e.g. `classes: 'it belongs in targets: {"targets": {"classes": [...]}}'`);
 * `form` says what the object is for its type error (e.g. '{"sign", "eta"}').
 */
export function strictObject<S extends z.core.$ZodLooseShape>(
  shape: S,
  hints: Record<string, string> = {},
) {
  return z.strictObject(shape, {
    error: (iss: RawIssue) =>
      iss.code === "unrecognized_keys"
        ? unknownFields(iss.keys, Object.keys(iss.inst?._zod.def.shape ?? shape), hints)
        : ruled(`an object with ${Object.keys(shape).join(", ")}`)(iss),
  });
}

/**
 * A value of one of several forms; `rule` names them for the message (when one form fits the value better than
 * the others, routes/validation.ts reports that form's own problem instead).
 */
export function alternatives<const T extends readonly [z.ZodType, z.ZodType, ...z.ZodType[]]>(
  options: T,
  rule: string,
) {
  return z.union(options, { error: ruled(rule) });
}

/**
 * The accepted key `key` was probably meant as: the same letters in another case, the only key it begins, or
 * the nearest at most two edits away.
 */
export function closest(key: string, accepted: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const same = accepted.find((k) => k.toLowerCase() === lower);
  if (same) return same;
  const longer = key.length >= 3 ? accepted.filter((k) => k.toLowerCase().startsWith(lower)) : [];
  if (longer.length === 1) return longer[0];
  if (key.length < 4 || key.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of accepted) {
    const d = editDistance(lower, k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** "unknown field "x"; it belongs in …" for each unknown key (at most 5), then the accepted keys. */
export function unknownFields(
  keys: readonly string[],
  accepted: readonly string[],
  hints: Record<string, string> = {},
  noun = "field",
  /** The accepted names as the message lists them (default `accepted`), e.g. with groups summarised. */
  listed: readonly string[] = accepted,
): string {
  const hintFor = (key: string) => {
    const lower = key.toLowerCase();
    const hinted = Object.keys(hints).find((h) => h.toLowerCase() === lower);
    if (hinted) return `: ${hints[hinted]}`;
    const near = closest(key, accepted);
    return near ? `; did you mean ${JSON.stringify(near)}?` : "";
  };
  const shown = keys.slice(0, 5).map((k) => `unknown ${noun} ${echo(k, 40)}${hintFor(k)}`);
  if (keys.length > 5) shown.push(`and ${keys.length - 5} more unknown ${noun}s`);
  return `${shown.join("; ")} (accepted: ${listed.join(", ")})`;
}

/** A plain schema in words, for union alternatives nobody described. */
// deno-lint-ignore no-explicit-any
function describeSchema(schema: any): string {
  const def = schema?._zod?.def ?? {};
  switch (def.type) {
    case "string":
      return "a string";
    case "number":
      return "a number";
    case "boolean":
      return "true or false";
    case "literal":
      return def.values.map((v: unknown) => JSON.stringify(v)).join(" or ");
    case "enum":
      return `one of ${Object.values(def.entries).map((v) => JSON.stringify(v)).join(", ")}`;
    case "array":
      return `a list of ${describeSchema(def.element).replace(/^an? /, "")}s`;
    case "object":
      return `an object with ${Object.keys(def.shape).join(", ")}`;
    default:
      return def.type ?? "a value";
  }
}

function bound(iss: RawIssue, side: "least" | "most"): string {
  const limit = side === "least" ? iss.minimum : iss.maximum;
  const exact = iss.inclusive === false ? (side === "least" ? "more than" : "less than") : `at ${side}`;
  if (iss.origin === "array" || iss.origin === "set") return `a list of ${exact} ${limit} items`;
  if (iss.origin === "string") return `a string of ${exact} ${limit} characters`;
  return `a number ${
    iss.inclusive === false ? (side === "least" ? ">" : "<") : side === "least" ? ">=" : "<="
  } ${limit}`;
}

const TYPE_WORDS: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "a JSON object",
  array: "a list",
};

/**
 * The rule an issue broke, in words, for schemas without their own `error` option (installed as zod's
 * customError); undefined leaves zod's own message.
 */
export function ruleMessage(iss: RawIssue): string | undefined {
  const got = iss.input === undefined ? "" : `, got ${show(iss.input)}`;
  const must = (rule: string) => iss.input === undefined ? `is required: ${rule}` : `must be ${rule}${got}`;
  switch (iss.code) {
    case "invalid_type":
      if (iss.inst?._zod?.def?.type === "object" && iss.inst._zod.def.shape) {
        return must(describeSchema(iss.inst));
      }
      return must(TYPE_WORDS[iss.expected] ?? String(iss.expected));
    case "too_small":
      return must(bound(iss, "least"));
    case "too_big":
      return must(bound(iss, "most"));
    case "invalid_value":
      return must(
        iss.values.length === 1
          ? JSON.stringify(iss.values[0])
          : `one of ${iss.values.map((v: unknown) => JSON.stringify(v)).join(", ")}`,
      );
    case "invalid_format":
      return must(iss.format === "regex" ? `a string matching ${iss.pattern}` : `a valid ${iss.format}`);
    case "not_multiple_of":
      return must(`a multiple of ${iss.divisor}`);
    case "unrecognized_keys":
      return unknownFields(iss.keys, Object.keys(iss.inst?._zod?.def?.shape ?? {}));
    case "invalid_union":
      return must(
        (iss.inst?._zod?.def?.options ?? []).map(describeSchema).join(" or ") || "one of the accepted forms",
      );
    default:
      return undefined;
  }
}
