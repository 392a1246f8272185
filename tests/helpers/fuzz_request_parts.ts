/**
 * The shared parts of the fuzz test's requests (tests/fuzz_routes_test.ts): what a request is, the fields each
 * route takes, valid templates of each route and their valid optional fields, the API key header, multipart
 * bodies, and the largest request head Deno's HTTP layer passes on.
 */
import { concat } from "./test_png.ts";
import fc from "fast-check";
import type { RawRequest } from "./raw_http.ts";
import type { Expectation } from "./api_response_rules.ts";
import { hostileHeaderValue, type JsonEntries, PROTO_KEYS } from "./hostile_inputs.ts";
import type { SeedImage } from "./hostile_images.ts";

export interface FuzzContext {
  apiKey: string;
  seeds: SeedImage[];
  maxPixels: number;
  classifier: string;
  captioner: string;
  /** Ids GET /v1/samples listed. */
  samples: string[];
  /** Evaluation jobs that exist when the fuzzing starts. */
  jobIds: string[];
}

export interface FuzzRequest extends RawRequest {
  /** What the request is, for a failure report. */
  label: string;
  expect?: Expectation;
}

export const enc = (s: string) => new TextEncoder().encode(s);

/** The fields each JSON route takes (anything else is an unknown field). */
export const SALIENCY_FIELDS = [
  "image",
  "model",
  "method",
  "layers",
  "targets",
  "seed",
  "meta",
  "combine",
  "overlay",
];
export const CAPTION_FIELDS = ["image", "model", "caption", "beamSize", "method", "layers", "words"];
export const EVALUATION_FIELDS = [
  "model",
  "dataset",
  "split",
  "methods",
  "layers",
  "combinations",
  "meta",
  "centre",
  "limit",
];
/** The flat fields the multipart and raw-bytes forms take. */
export const SALIENCY_FORM_FIELDS = [
  "image",
  "model",
  "method",
  "layers",
  "classes",
  "topK",
  "present",
  "threshold",
  "seed",
  "meta",
  "metaEta",
  "combine",
  "alpha",
  "map",
  "colormap",
];
export const CAPTION_FORM_FIELDS = ["image", "model", "caption", "beamSize", "method", "layers", "words"];

/** Names no route takes: prototype keys, near-misses of real ones, random identifiers. */
export const unknownName = (taken: string[]) =>
  fc.oneof(
    fc.constantFrom(...PROTO_KEYS, "topk", "target", "class", "Model", "layer", "extra"),
    fc.stringMatching(/^[a-z][a-zA-Z0-9_]{0,11}$/),
  ).filter((k) => !taken.includes(k));

/** Authorization: mostly the right key, sometimes none or a wrong one (401 before anything else). */
export function authHeader(ctx: FuzzContext): fc.Arbitrary<[string, string][]> {
  return fc.oneof(
    { arbitrary: fc.constant([["authorization", `Bearer ${ctx.apiKey}`]] as [string, string][]), weight: 18 },
    { arbitrary: fc.constant([] as [string, string][]), weight: 1 },
    {
      arbitrary: hostileHeaderValue.map((v) => [["authorization", `Bearer ${v}`]] as [string, string][]),
      weight: 1,
    },
  );
}

export function saliencyTemplate(ctx: FuzzContext, image: string): JsonEntries {
  return [["image", image], ["model", ctx.classifier], ["method", "gradient"], ["layers", ["input"]], [
    "targets",
    { topK: 1 },
  ]];
}

export function captionTemplate(ctx: FuzzContext, image: string): JsonEntries {
  return [["image", image], ["model", ctx.captioner], ["words", false]];
}

export function evaluationTemplate(ctx: FuzzContext): JsonEntries {
  return [["model", ctx.classifier], ["methods", ["grad-cam"]], ["layers", ["layer4"]], ["limit", 1]];
}

/** Valid optional fields of each route: a random subset joins the template (replacing a field) before mutation. */
export const SALIENCY_EXTRAS: JsonEntries = [
  ["targets", { classes: ["ring", 3] }],
  ["targets", { present: true, threshold: 0.4 }],
  ["seed", "one-hot"],
  ["meta", { sign: "negative", eta: 0.001 }],
  ["overlay", { alpha: 0.3, map: 0, colormap: "gray" }],
  ["method", { extract: "scaling", aggregate: "sum" }],
  ["layers", ["input", "layer4"]],
  ["combine", { mode: "product", weights: "linear" }],
  // method options, a method that takes some, and layers a map cannot be made at (fc) or 1 x 1 ones (avgpool)
  ["method", "integrated-gradients"],
  ["integratedGradients", { steps: 2, batch: 2 }],
  ["noise", { kind: "vargrad", samples: 2, sigma: 0.1 }],
  ["method", "eigen-cam"],
  ["layers", ["input", "fc"]],
  ["layers", ["layer4", "avgpool"]],
];
export const CAPTION_EXTRAS: JsonEntries = [
  ["caption", "a small red star"],
  ["beamSize", 2],
  ["layers", ["layer4"]],
  ["method", "gradient"],
  ["words", true],
];
export const EVALUATION_EXTRAS: JsonEntries = [
  ["dataset", "synthetic"],
  ["split", "test"],
  ["methods", ["grad-cam", "gradient"]],
  ["layers", ["layer3", "layer4"]],
  ["combinations", [{ mode: "product", weights: "linear" }]],
  ["meta", { sign: "positive", eta: 0.0001 }],
  ["centre", true],
  ["kind", "faithfulness"],
  ["faithfulness", { metrics: ["deletion"], step: 50176 }],
  ["methods", ["rise", "gradient"]],
  ["rise", { masks: 4 }],
  ["noise", { kind: "smoothgrad", samples: 2 }],
];
export const SALIENCY_FORM_EXTRAS: [string, string][] = [
  ["classes", "ring,3"],
  ["present", "true"],
  ["threshold", "0.4"],
  ["seed", "one-hot"],
  ["meta", "negative"],
  ["metaEta", "0.001"],
  ["combine", "product:linear"],
  ["layers", "input,layer4"],
  ["alpha", "0.3"],
  ["colormap", "gray"],
];
export const CAPTION_FORM_EXTRAS: [string, string][] = [
  ["caption", "a small red star"],
  ["beamSize", "2"],
  ["layers", "layer4"],
  ["method", "gradient"],
  ["words", "true"],
];

/** `fields` with each of `extras` put in (replacing the field of that name, else appended). */
export function withExtras<V>(fields: [string, V][], extras: [string, V][]): [string, V][] {
  const out = [...fields];
  for (const [k, v] of extras) {
    const at = out.findIndex(([name]) => name === k);
    if (at >= 0) out[at] = [k, v];
    else out.push([k, v]);
  }
  return out;
}

export const BOUNDARY = "retrace-fuzz-1f0c6b2e";

/**
 * The longest request target, and request head (request line and headers), sent. Deno's HTTP layer takes at
 * most 65,534 characters of target and 64 KiB of head and answers anything longer with an empty 400 before the
 * application sees the request, so longer ones test nothing of ours.
 */
export const MAX_TARGET = 64_000;

/** Whether the request's head fits what Deno's HTTP layer passes on to the application. */
export function headFits(r: RawRequest): boolean {
  const head = r.target.length + r.headers.reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
  return r.target.length < MAX_TARGET && head < MAX_TARGET;
}

/** multipart/form-data bytes of ordered fields (a Uint8Array value is a file), names escaped as browsers do. */
export function multipartBody(fields: [string, string | Uint8Array][]): Uint8Array {
  const name = (n: string) => n.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
  const parts: Uint8Array[] = [];
  for (const [k, v] of fields) {
    const file = typeof v !== "string";
    parts.push(enc(
      `--${BOUNDARY}\r\ncontent-disposition: form-data; name="${name(k)}"${
        file ? '; filename="upload.bin"' : ""
      }` +
        `\r\n${file ? "content-type: application/octet-stream\r\n" : ""}\r\n`,
    ));
    parts.push(file ? v : enc(v));
    parts.push(enc("\r\n"));
  }
  parts.push(enc(`--${BOUNDARY}--\r\n`));
  return concat(parts);
}

export const MULTIPART_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;

export function formFields(ctx: FuzzContext, route: "saliency" | "caption"): [string, string][] {
  return route === "saliency"
    ? [["model", ctx.classifier], ["method", "gradient"], ["layers", "input"], ["topK", "1"]]
    : [["model", ctx.captioner], ["words", "false"]];
}

export function withType(auth: [string, string][], type: string | undefined): [string, string][] {
  return type === undefined ? auth : [...auth, ["content-type", type]];
}
