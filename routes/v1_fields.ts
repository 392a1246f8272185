/**
 * The flat options of a non-JSON saliency or caption request (multipart form fields, or query parameters beside
 * a raw image body) mapped to the JSON request's shape, strictly: an unknown name, a name given twice, a file
 * where text belongs, or options that contradict each other (classes and topK) are refused, never dropped.
 * Numbers and booleans that do not read as such are passed on as text, so the schema's message shows them.
 */
import { echo } from "./errors.ts";
import { unknownFields } from "./field_rules.ts";
import { pathText, type Refusal } from "./validation.ts";

export type FlatSource = "form field" | "query parameter";
export type FlatKind = "saliency" | "caption";

/**
 * The method options as flat names group.field (e.g. noise.kind=vargrad&noise.samples=20), each a number unless
 * listed as text: the JSON request's { group: { field } }.
 */
const METHOD_OPTIONS: Record<string, { numbers: readonly string[]; texts: readonly string[] }> = {
  integratedGradients: { numbers: ["steps", "batch"], texts: ["quadrature", "baseline"] },
  rise: { numbers: ["masks", "cells", "p", "seed", "batch"], texts: [] },
  occlusion: { numbers: ["window", "stride", "batch"], texts: [] },
  noise: { numbers: ["samples", "sigma", "seed", "batch"], texts: ["kind"] },
};
const METHOD_OPTION_NAMES = Object.entries(METHOD_OPTIONS).flatMap(([group, f]) =>
  [...f.texts, ...f.numbers].map((field) => `${group}.${field}`)
);
/** The accepted names as refusals list them: each method option group as group.{field|…}. */
const listedNames = (kind: FlatKind) => [
  ...ACCEPTED[kind].filter((k) => !METHOD_OPTION_NAMES.includes(k)),
  ...(kind === "saliency"
    ? Object.entries(METHOD_OPTIONS).map(([g, f]) => `${g}.{${[...f.texts, ...f.numbers].join("|")}}`)
    : []),
];

const ACCEPTED: Record<FlatKind, readonly string[]> = {
  saliency: [
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
    ...METHOD_OPTION_NAMES,
  ],
  caption: ["model", "caption", "beamSize", "method", "layers", "words"],
};

const SALIENCY_ONLY = "it is a /v1/saliency option";

/** Where a flat name that is not an option belongs. */
const HINTS: Record<FlatKind, Record<string, string>> = {
  saliency: {
    targets: "as flat options, targets are classes=a,b or topK=n or present=true (with threshold=t)",
    overlay: "as flat options, the overlay is alpha, map and colormap",
    sign: "give meta=positive|negative (and metaEta=e)",
    eta: "give metaEta=e beside meta=positive|negative",
    mode: "give combine=<mode>:<weights>, e.g. combine=product:linear",
    weights: "give combine=<mode>:<weights>, e.g. combine=product:linear",
    image: "the image is the request body (or the multipart file field image)",
    caption: "it is a /v1/caption option",
    beamSize: "it is a /v1/caption option",
    words: "it is a /v1/caption option",
  },
  caption: {
    ...Object.fromEntries(
      [...ACCEPTED.saliency.filter((k) => !ACCEPTED.caption.includes(k)), "targets", "overlay"].map((k) => [
        k,
        SALIENCY_ONLY,
      ]),
    ),
    image: "the image is the request body (or the multipart file field image)",
  },
};

/** A client name for a path of the mapped request, so messages speak of the option the client sent. */
const FLAT_NAMES: Record<string, string> = {
  "targets.classes": "classes",
  "targets.topK": "topK",
  "targets.present": "present",
  "targets.threshold": "threshold",
  targets: "classes / topK / present",
  "meta.sign": "meta",
  "meta.eta": "metaEta",
  "combine.mode": "combine (the mode before :)",
  "combine.weights": "combine (the weights after :)",
  "overlay.alpha": "alpha",
  "overlay.map": "map",
  "overlay.colormap": "colormap",
};

/** The option name a path of the mapped request came from (e.g. `targets.topK` -> `topK`). */
export function flatName(path: readonly PropertyKey[]): string {
  for (const n of [2, 1]) {
    const key = path.slice(0, n).join(".");
    const name = Object.hasOwn(FLAT_NAMES, key) ? FLAT_NAMES[key] : undefined;
    if (name && path.length >= n) {
      const rest = path.slice(n);
      return name + (typeof rest[0] === "string" ? "." : "") + pathText(rest);
    }
  }
  return pathText(path);
}

function numeric(v: string): number | string {
  const t = v.trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) ? Number(t) : v;
}

function bool(v: string): boolean | string {
  return v === "true" ? true : v === "false" ? false : v;
}

const list = (v: string) => v.split(",").map((x) => x.trim()).filter(Boolean);

/**
 * The JSON-shaped options for `entries` (name, text or file; the image file already taken out), or the
 * refusal naming what is wrong.
 */
export function flatOptions(
  kind: FlatKind,
  entries: readonly [string, string | File][],
  source: FlatSource,
): { options: Record<string, unknown> } | { refusal: Refusal } {
  const accepted = ACCEPTED[kind];
  const unknown = [...new Set(entries.map(([k]) => k).filter((k) => !accepted.includes(k)))];
  if (unknown.length) {
    return {
      refusal: {
        code: "unknown_field",
        message: unknownFields(unknown, accepted, HINTS[kind], source, listedNames(kind)),
      },
    };
  }
  const f: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (typeof v !== "string") {
      return invalid(`${source} ${k} must be text, got a file (${echo(v.name, 40)}); only image is a file`);
    }
    if (k in f) return invalid(`${source} ${k} is given twice; give it once`);
    f[k] = v;
  }
  return kind === "saliency" ? saliencyOptions(f, source) : { options: captionOptions(f) };
}

function invalid(message: string): { refusal: Refusal } {
  return { refusal: { code: "invalid_request", message } };
}

function saliencyOptions(
  f: Record<string, string>,
  source: FlatSource,
): { options: Record<string, unknown> } | { refusal: Refusal } {
  const out: Record<string, unknown> = {};
  if (f.model !== undefined) out.model = f.model;
  if (f.method !== undefined) out.method = f.method;
  if (f.layers !== undefined) out.layers = list(f.layers);
  const kinds = (["classes", "topK", "present"] as const).filter((k) => f[k] !== undefined);
  if (kinds.length > 1) {
    return invalid(`give one of the ${source}s classes, topK or present, not ${kinds.join(" and ")}`);
  }
  if (f.threshold !== undefined && f.present === undefined) {
    return invalid(`${source} threshold goes with present=true`);
  }
  if (f.classes !== undefined) {
    out.targets = { classes: list(f.classes).map((c) => (/^\d+$/.test(c) ? Number(c) : c)) };
  } else if (f.topK !== undefined) out.targets = { topK: numeric(f.topK) };
  else if (f.present !== undefined) {
    out.targets = {
      present: bool(f.present),
      ...(f.threshold === undefined ? {} : { threshold: numeric(f.threshold) }),
    };
  }
  if (f.seed !== undefined) out.seed = f.seed;
  if (f.metaEta !== undefined && f.meta === undefined) {
    return invalid(`${source} metaEta goes with meta=positive|negative`);
  }
  if (f.meta !== undefined) {
    out.meta = { sign: f.meta, ...(f.metaEta === undefined ? {} : { eta: numeric(f.metaEta) }) };
  }
  if (f.combine !== undefined) {
    const parts = f.combine.split(":");
    if (parts.length !== 2) {
      return invalid(
        `${source} combine: must be <mode>:<weights> (e.g. product:linear; GET /v1/methods lists both), got ${
          echo(f.combine, 60)
        }`,
      );
    }
    out.combine = { mode: parts[0], weights: parts[1] };
  }
  for (const [group, fields] of Object.entries(METHOD_OPTIONS)) {
    const given: Record<string, unknown> = {};
    for (const field of fields.texts) {
      if (f[`${group}.${field}`] !== undefined) given[field] = f[`${group}.${field}`];
    }
    for (const field of fields.numbers) {
      if (f[`${group}.${field}`] !== undefined) given[field] = numeric(f[`${group}.${field}`]);
    }
    if (Object.keys(given).length) out[group] = given;
  }
  if (f.alpha !== undefined || f.map !== undefined || f.colormap !== undefined) {
    out.overlay = {
      ...(f.alpha === undefined ? {} : { alpha: numeric(f.alpha) }),
      ...(f.map === undefined ? {} : { map: numeric(f.map) }),
      ...(f.colormap === undefined ? {} : { colormap: f.colormap }),
    };
  }
  return { options: out };
}

function captionOptions(f: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (f.model !== undefined) out.model = f.model;
  if (f.caption !== undefined) out.caption = f.caption;
  if (f.beamSize !== undefined) out.beamSize = numeric(f.beamSize);
  if (f.method !== undefined) out.method = f.method;
  if (f.layers !== undefined) out.layers = list(f.layers);
  if (f.words !== undefined) out.words = bool(f.words);
  return out;
}
