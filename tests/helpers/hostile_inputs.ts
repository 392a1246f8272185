/**
 * fast-check arbitraries for hostile request parts (no network, no images): JSON values of every wrong type,
 * numbers at and past the edges of float64, strings that look like other types, paths or markup, huge
 * strings, prototype-pollution keys, raw JSON texts that JSON.stringify cannot produce (1e400, duplicate keys,
 * deep nesting, trailing garbage), content types, path segments and header values. A `RawJson` marks text that
 * goes into a JSON body verbatim (see `jsonText`).
 */
import fc from "fast-check";

/** Keys that pollute prototypes or shadow Object.prototype members when a server copies them blindly. */
export const PROTO_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"];

/** Text put into a JSON body as is (not quoted, not escaped). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** A JSON object as ordered entries (so a key may repeat); values are JSON values or RawJson. */
export type JsonEntries = [string, unknown][];

/** JSON text of `value`: RawJson verbatim, entries lists as objects (duplicates kept), the rest JSON.stringify. */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof Entries) {
    return `{${value.list.map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`).join(",")}}`;
  }
  if (Array.isArray(value)) return `[${value.map(jsonText).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return jsonText(new Entries(Object.entries(value)));
  }
  return JSON.stringify(value) ?? "null";
}

/** An object body kept as entries (see JsonEntries). */
export class Entries {
  constructor(readonly list: JsonEntries) {}
}

const SPECIAL_STRINGS = [
  "",
  " ",
  "NaN",
  "Infinity",
  "-Infinity",
  "-0",
  "1e400",
  "0x10",
  "null",
  "undefined",
  "true",
  "[]",
  "{}",
  "\u0000",
  "\ud800",
  "\u202eevil",
  "🦊🦊",
  "e\u0301",
  "../../../../etc/passwd",
  "..%2f..%2fetc%2fpasswd",
  "%2e%2e/%2e%2e/",
  "C:\\Windows\\win.ini",
  "file:///etc/passwd",
  "${7*7}",
  "{{7*7}}",
  "<script>alert(1)</script>",
  "'; DROP TABLE jobs; --",
  "input",
  "layer4",
  "gradient",
  "resnet50_synthetic",
  "synthetic",
  "__proto__",
];

/** Strings a validator must survive: specials, arbitrary unicode (lone surrogates too), and huge ones. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...SPECIAL_STRINGS), weight: 4 },
  { arbitrary: fc.string({ maxLength: 24 }), weight: 3 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }), weight: 1 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 12 }), weight: 1 },
  {
    arbitrary: fc.tuple(fc.constantFrom("a", "é", "🦊", "\\", '"'), fc.integer({ min: 5_000, max: 120_000 }))
      .map(([c, n]) => c.repeat(n)),
    weight: 1,
  },
);

/** Numbers at the edges: zero signs, float64 limits, subnormals, beyond 2^53, plus arbitrary doubles. */
export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 0.5, 2 ** 31, 2 ** 53 + 2, 1e308, -1e308, 5e-324, 1e21, -65),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Number-like JSON texts JSON.stringify never writes: out of float64 range, 30 digits, exponents. */
export const rawNumberText: fc.Arbitrary<RawJson> = fc.constantFrom(
  "1e400",
  "-1e400",
  "1e-400",
  "123456789012345678901234567890",
  "-0",
  "1E+2",
  "0.000000000000000000000000001",
  "18446744073709551617",
).map((t) => new RawJson(t));

/** Object keys: ordinary, prototype-pollution, misplaced field names, odd unicode, long. */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...PROTO_KEYS, "classes", "topK", "present", "threshold", "image", "extra", ""),
  fc.string({ maxLength: 10 }),
  fc.integer({ min: 200, max: 5_000 }).map((n) => "k".repeat(n)),
);

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  hostileNumber,
  hostileString,
);

/** Any JSON value, a few levels deep, with hostile keys and leaves. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small" }, leaf, tie("array"), tie("object")),
  array: fc.array(tie("value"), { maxLength: 4 }),
  object: fc.array(fc.tuple(hostileKey, tie("value")), { maxLength: 4 }).map((list) =>
    new Entries(list as JsonEntries)
  ),
})).value;

/** Deeply nested arrays or objects as raw JSON (parsers and validators that recurse). */
export const deepNesting: fc.Arbitrary<RawJson> = fc.tuple(
  fc.integer({ min: 100, max: 100_000 }),
  fc.boolean(),
).map(([depth, arrays]) =>
  new RawJson(
    arrays ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth),
  )
);

/** A field value: any JSON value, a raw number, or deep nesting. */
export const hostileFieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: hostileJson, weight: 6 },
  { arbitrary: rawNumberText, weight: 2 },
  { arbitrary: deepNesting, weight: 1 },
);

/** Whole request bodies that are not (quite) JSON objects. */
export const hostileJsonBody: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "{",
    "}",
    "[",
    "null",
    "0",
    '"x"',
    "[]",
    "{}",
    "\ufeff{}",
    "{}garbage",
    '{"a":1,}',
    "{'a':1}",
    "/* comment */{}",
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":"\\ud800"}',
    '{"a":"\\u0000"}',
    "\u0000",
  ),
  hostileJson.map(jsonText),
  deepNesting.map((r) => r.text),
);

/** Content types a route must refuse or handle: near-misses of the real ones, missing parameters, junk. */
export const hostileContentType: fc.Arbitrary<string | undefined> = fc.constantFrom(
  undefined,
  "",
  "text/plain",
  "application/jsonx",
  "APPLICATION/JSON",
  "application/json; charset=utf-16",
  "application/json;;;",
  "application/x-www-form-urlencoded",
  "multipart/form-data",
  "multipart/form-data; boundary=",
  "multipart/form-data; boundary=zzz",
  "multipart/mixed; boundary=zzz",
  "image/svg+xml",
  "image/png",
  "image/jpeg; q=0.1",
  "application/octet-stream",
  "*/*",
  "application/json, image/png",
  "x".repeat(5_000),
);

/** Path segments that try to climb out, smuggle separators or break decoders (sent unnormalised). */
export const hostileSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "..",
    ".",
    "%2e%2e",
    "%2E%2e",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fdata",
    "..%5c..%5cwindows",
    "%00",
    "%ff",
    "%c0%ae%c0%ae",
    "%",
    "%zz",
    "%25",
    "~",
    "manifest.json",
    "test.txt",
    ";",
    "a%20b",
    "%F0%9F%A6%8A",
  ),
  fc.string({ unit: fc.constantFrom("a", "0", "-", "_", ".", "~", "%2f", "%2e"), maxLength: 12 }),
  fc.integer({ min: 1_000, max: 30_000 }).map((n) => "a".repeat(n)),
);

/** Printable ASCII header values (what HTTP/1.1 carries), sometimes long. */
export const hostileHeaderValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 })
    .map((s) => s.trim()),
  fc.constantFrom("-1", "0", "99999999999999999999", "NaN", "1e400", "../1"),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => "9".repeat(n)),
);
