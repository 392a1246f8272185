/**
 * fast-check arbitraries of hostile HTTP requests for every route of the service, built from the hostile parts
 * of hostile_inputs.ts and hostile_images.ts: valid requests (with a random subset of their optional fields)
 * mutated — a field dropped, repeated, retyped, set to raw JSON like 1e400, unknown fields added — random JSON
 * bodies, multipart forms and raw image bytes with query options, weird content types, unnormalised and very
 * long paths, wrong methods and keys, evaluation ids real and made up.
 */
import fc from "fast-check";
import {
  Entries,
  hostileContentType,
  hostileFieldValue,
  hostileHeaderValue,
  hostileJsonBody,
  hostileKey,
  hostileSegment,
  hostileString,
  type JsonEntries,
  jsonText,
} from "./hostile_inputs.ts";
import { badBase64, type HostileImage, hostileImage, toBase64 } from "./hostile_images.ts";
import {
  authHeader,
  BOUNDARY,
  CAPTION_EXTRAS,
  CAPTION_FORM_EXTRAS,
  captionTemplate,
  enc,
  EVALUATION_EXTRAS,
  evaluationTemplate,
  formFields,
  type FuzzContext,
  type FuzzRequest,
  MAX_TARGET,
  MULTIPART_TYPE,
  multipartBody,
  SALIENCY_EXTRAS,
  SALIENCY_FORM_EXTRAS,
  saliencyTemplate,
  withExtras,
  withType,
} from "./fuzz_request_parts.ts";

interface Mutation {
  kind: "drop" | "duplicate" | "retype" | "unknown";
  index: number;
  key: string;
  value: unknown;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("drop", "duplicate", "retype", "unknown"),
  index: fc.nat(),
  key: hostileKey,
  value: hostileFieldValue,
});

function mutate(entries: JsonEntries, mutations: Mutation[]): JsonEntries {
  const out = entries.map(([k, v]) => [k, v] as [string, unknown]);
  for (const m of mutations) {
    const i = out.length ? m.index % out.length : 0;
    if (m.kind === "drop" && out.length) out.splice(i, 1);
    else if (m.kind === "duplicate" && out.length) out.push([out[i][0], m.value]);
    else if (m.kind === "retype" && out.length) out[i] = [out[i][0], m.value];
    else out.push([m.key, m.value]);
  }
  return out;
}

const describeMutations = (ms: Mutation[]) =>
  ms.map((m) =>
    `${m.kind}#${m.index}${m.kind === "unknown" ? `(${JSON.stringify(m.key.slice(0, 40))})` : ""}`
  )
    .join(", ") || "none";

/** The image field of a JSON body: mostly intact (so requests reach the worker), else damaged or not base64. */
function imageField(ctx: FuzzContext): fc.Arbitrary<{ how: string; text: string }> {
  return fc.oneof(
    {
      arbitrary: fc.constantFrom(...ctx.seeds).map((s) => ({
        how: `intact ${s.format}`,
        text: toBase64(s.bytes),
      })),
      weight: 4,
    },
    {
      arbitrary: hostileImage(ctx.seeds, ctx.maxPixels).map((h) => ({ how: h.how, text: toBase64(h.bytes) })),
      weight: 4,
    },
    { arbitrary: badBase64.map((t) => ({ how: `bad base64 ${JSON.stringify(t)}`, text: t })), weight: 1 },
    {
      arbitrary: fc.constantFrom(...ctx.seeds).map((s) => ({
        how: `data URL of ${s.format}`,
        text: `data:image/${s.format};base64,${toBase64(s.bytes)}`,
      })),
      weight: 1,
    },
  );
}

function jsonPost(
  ctx: FuzzContext,
  path: string,
  label: string,
  body: string,
  extra: [string, string][] = [],
  contentType: string | undefined = "application/json",
): fc.Arbitrary<FuzzRequest> {
  return authHeader(ctx).map((auth) => ({
    label,
    method: "POST",
    target: path,
    headers: [
      ...auth,
      ...(contentType === undefined ? [] : [["content-type", contentType] as [string, string]]),
      ...extra,
    ],
    body: enc(body),
  }));
}

const contentTypeMostlyJson = fc.oneof(
  { arbitrary: fc.constant("application/json" as string | undefined), weight: 8 },
  { arbitrary: hostileContentType, weight: 1 },
);

/** POST /v1/saliency or /v1/caption with a JSON body: a mutated valid request or arbitrary text. */
function jsonImageRoute(ctx: FuzzContext, route: "saliency" | "caption"): fc.Arbitrary<FuzzRequest> {
  const template = route === "saliency" ? saliencyTemplate : captionTemplate;
  const extras = fc.subarray(route === "saliency" ? SALIENCY_EXTRAS : CAPTION_EXTRAS);
  const mutated = fc.tuple(
    imageField(ctx),
    extras,
    fc.array(mutation, { maxLength: 3 }),
    contentTypeMostlyJson,
    fc.boolean(),
  )
    .chain(([image, extra, ms, type, png]) =>
      jsonPost(
        ctx,
        `/v1/${route}`,
        `JSON ${route}: image ${image.how}; with ${extra.map(([k]) => k).join(", ") || "no extras"}; ` +
          `mutations ${describeMutations(ms)}; content-type ${type}`,
        jsonText(new Entries(mutate(withExtras(template(ctx, image.text), extra), ms))),
        png ? [["accept", "image/png"]] : [],
        type,
      )
    );
  const arbitrary = fc.tuple(hostileJsonBody, contentTypeMostlyJson).chain(([body, type]) =>
    jsonPost(ctx, `/v1/${route}`, `JSON ${route}: arbitrary body; content-type ${type}`, body, [], type)
  );
  return fc.oneof({ arbitrary: mutated, weight: 4 }, { arbitrary, weight: 1 });
}

interface FormMutation {
  kind: "drop" | "duplicate" | "retype" | "unknown" | "image-as-text";
  index: number;
  key: string;
  value: string;
}

const formMutation: fc.Arbitrary<FormMutation> = fc.record({
  kind: fc.constantFrom("drop", "duplicate", "retype", "unknown", "image-as-text"),
  index: fc.nat(),
  key: hostileKey,
  value: hostileString,
});

function mutateForm<V>(fields: [string, string | V][], ms: FormMutation[]): [string, string | V][] {
  const out = [...fields];
  for (const m of ms) {
    const i = out.length ? m.index % out.length : 0;
    if (m.kind === "drop" && out.length) out.splice(i, 1);
    else if (m.kind === "duplicate" && out.length) out.push([out[i][0], m.value]);
    else if (m.kind === "retype" && out.length) out[i] = [out[i][0], m.value];
    else if (m.kind === "image-as-text") {
      const at = out.findIndex(([k]) => k === "image");
      if (at >= 0) out[at] = ["image", m.value];
    } else out.push([m.key, m.value]);
  }
  return out;
}

const rawImageType = fc.oneof(
  {
    arbitrary: fc.constantFrom<string | undefined>(
      "image/png",
      "image/jpeg",
      "image/webp",
      "image/gif",
      "application/octet-stream",
    ),
    weight: 6,
  },
  { arbitrary: hostileContentType, weight: 1 },
);

/** The image as a multipart file beside string fields, or as the raw body with the fields in the query. */
function formImageRoute(ctx: FuzzContext, route: "saliency" | "caption"): fc.Arbitrary<FuzzRequest> {
  const image: fc.Arbitrary<HostileImage> = fc.oneof(
    fc.constantFrom(...ctx.seeds).map((s) => ({ how: `intact ${s.format}`, bytes: s.bytes })),
    hostileImage(ctx.seeds, ctx.maxPixels),
  );
  const describe = (ms: FormMutation[]) =>
    ms.map((m) =>
      `${m.kind}#${m.index}${m.kind === "unknown" ? `(${JSON.stringify(m.key.slice(0, 40))})` : ""}`
    )
      .join(", ") || "none";
  const extras = fc.subarray(route === "saliency" ? SALIENCY_FORM_EXTRAS : CAPTION_FORM_EXTRAS);
  const named = (extra: [string, string][]) => extra.map(([k]) => k).join(", ") || "no extras";
  const multi = fc.tuple(image, extras, fc.array(formMutation, { maxLength: 3 }), authHeader(ctx)).map(
    ([img, extra, ms, auth]): FuzzRequest => ({
      label: `multipart ${route}: image ${img.how}; with ${named(extra)}; mutations ${describe(ms)}`,
      method: "POST",
      target: `/v1/${route}`,
      headers: withType(auth, MULTIPART_TYPE),
      body: multipartBody(
        mutateForm<Uint8Array>([["image", img.bytes], ...withExtras(formFields(ctx, route), extra)], ms),
      ),
    }),
  );
  const raw = fc.tuple(image, extras, fc.array(formMutation, { maxLength: 3 }), rawImageType, authHeader(ctx))
    .map(
      ([img, extra, ms, type, auth]): FuzzRequest => {
        const fields = mutateForm<never>(
          withExtras(formFields(ctx, route), extra),
          ms.filter((m) => m.kind !== "image-as-text"),
        );
        const query = new URLSearchParams(fields as [string, string][]).toString();
        return {
          label: `raw-bytes ${route}: image ${img.how}; content-type ${type}; with ${named(extra)}; ` +
            `mutations ${describe(ms)}`,
          method: "POST",
          target: `/v1/${route}?${query}`,
          headers: withType(auth, type),
          body: img.bytes,
        };
      },
    ).filter((r) => r.target.length < MAX_TARGET);
  const broken = fc.tuple(
    fc.constantFrom("zzz", "", BOUNDARY + "x"),
    fc.uint8Array({ maxLength: 300 }),
    fc.boolean(),
    authHeader(ctx),
  ).map(([boundary, junk, framed, auth]): FuzzRequest => ({
    label: `broken multipart ${route}: boundary ${
      JSON.stringify(boundary)
    }, ${junk.length} bytes, framed ${framed}`,
    method: "POST",
    target: `/v1/${route}`,
    headers: withType(auth, `multipart/form-data; boundary=${boundary}`),
    body: framed
      ? Uint8Array.from([
        ...enc(`--${boundary}\r\ncontent-disposition: form-data; name="image"; filename="x"\r\n\r\n`),
        ...junk,
      ])
      : junk,
  }));
  return fc.oneof({ arbitrary: multi, weight: 3 }, { arbitrary: raw, weight: 3 }, {
    arbitrary: broken,
    weight: 1,
  });
}

/** POST /v1/saliency in all three forms. */
export const saliencyRequests = (ctx: FuzzContext): fc.Arbitrary<FuzzRequest> =>
  fc.oneof(jsonImageRoute(ctx, "saliency"), formImageRoute(ctx, "saliency"));

/** POST /v1/caption in all three forms. */
export const captionRequests = (ctx: FuzzContext): fc.Arbitrary<FuzzRequest> =>
  fc.oneof(jsonImageRoute(ctx, "caption"), formImageRoute(ctx, "caption"));

/** An evaluation id: one that exists, a uuid, or a hostile path segment. */
function jobId(ctx: FuzzContext): fc.Arbitrary<string> {
  return fc.oneof(
    ...(ctx.jobIds.length ? [fc.constantFrom(...ctx.jobIds)] : []),
    fc.uuid(),
    hostileSegment,
  );
}

/** POST /v1/evaluations (mutated valid specs, arbitrary bodies) and GET / DELETE / events on ids. */
export function evaluationRequests(ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const post = fc.tuple(
    fc.subarray(EVALUATION_EXTRAS),
    fc.array(mutation, { maxLength: 3 }),
    contentTypeMostlyJson,
  )
    .chain(([extra, ms, type]) =>
      jsonPost(
        ctx,
        "/v1/evaluations",
        `POST evaluation: with ${extra.map(([k]) => k).join(", ") || "no extras"}; mutations ${
          describeMutations(ms)
        }; content-type ${type}`,
        jsonText(new Entries(mutate(withExtras(evaluationTemplate(ctx), extra), ms))),
        [],
        type,
      )
    );
  const postArbitrary = fc.tuple(hostileJsonBody, contentTypeMostlyJson).chain(([body, type]) =>
    jsonPost(ctx, "/v1/evaluations", `POST evaluation: arbitrary body; content-type ${type}`, body, [], type)
  );
  const byId = fc.tuple(
    jobId(ctx),
    fc.constantFrom("GET", "DELETE", "GET events", "PUT", "POST"),
    fc.option(hostileHeaderValue),
    authHeader(ctx),
  ).map(([id, how, lastEventId, auth]): FuzzRequest => {
    const events = how === "GET events";
    const headers: [string, string][] = [...auth];
    if (events && lastEventId !== null) headers.push(["last-event-id", lastEventId]);
    return {
      label: `${how} evaluation ${JSON.stringify(id.slice(0, 80))}${
        id.length > 80 ? ` (${id.length} chars)` : ""
      }`,
      method: events ? "GET" : how,
      target: `/v1/evaluations/${id}${events ? "/events" : ""}`,
      headers,
    };
  });
  const list = authHeader(ctx).map((auth): FuzzRequest => ({
    label: "GET /v1/evaluations",
    method: "GET",
    target: "/v1/evaluations",
    headers: auth,
  }));
  return fc.oneof(
    { arbitrary: post, weight: 4 },
    { arbitrary: postArbitrary, weight: 1 },
    { arbitrary: byId, weight: 4 },
    { arbitrary: list, weight: 1 },
  );
}

const STATIC_ROUTES = [
  "/",
  "/healthz",
  "/metrics",
  "/openapi.json",
  "/favicon.ico",
  "/v1/models",
  "/v1/methods",
  "/v1/samples",
  "/v1/evaluations",
];
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** The GET routes with hostile queries, every route with the wrong method, and sample ids. */
export function plainRequests(ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const get = fc.tuple(
    fc.constantFrom(...STATIC_ROUTES),
    fc.option(fc.tuple(hostileSegment, hostileSegment)),
    authHeader(ctx),
  ).map(([path, q, auth]): FuzzRequest => ({
    label: `GET ${path}${q ? " with a hostile query" : ""}`,
    method: "GET",
    target: q ? `${path}?${q[0]}=${q[1]}` : path,
    headers: auth,
  }));
  const wrongMethod = fc.tuple(
    fc.constantFrom(...STATIC_ROUTES, "/v1/saliency", "/v1/caption", "/v1/samples/x"),
    fc.constantFrom(...METHODS),
    fc.option(fc.uint8Array({ maxLength: 64 })),
    authHeader(ctx),
  ).map(([path, method, body, auth]): FuzzRequest => ({
    label: `${method} ${path}${body ? ` with ${body.length} body bytes` : ""}`,
    method,
    target: path,
    headers: auth,
    body: body ?? undefined,
  }));
  const sample = fc.tuple(
    fc.oneof(
      ...(ctx.samples.length ? [fc.constantFrom(...ctx.samples)] : []),
      ...(ctx.samples.length ? [fc.constantFrom(...ctx.samples).map((s) => `${s}.jpg`)] : []),
      ...(ctx.samples.length ? [fc.constantFrom(...ctx.samples).map((s) => `..%2f${s}`)] : []),
      hostileSegment,
    ),
    authHeader(ctx),
  ).map(([id, auth]): FuzzRequest => ({
    label: `GET sample ${JSON.stringify(id.slice(0, 80))}${id.length > 80 ? ` (${id.length} chars)` : ""}`,
    method: "GET",
    target: `/v1/samples/${id}`,
    headers: auth,
  }));
  return fc.oneof(get, wrongMethod, sample);
}

/** Unnormalised paths ("..", "%2e%2e", doubled slashes) and URLs up to 120,000 characters. */
export function pathRequests(ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const segments = fc.array(
    fc.oneof(
      fc.constantFrom("v1", "samples", "evaluations", "models", "saliency", "events", "data", ""),
      hostileSegment,
    ),
    { minLength: 1, maxLength: 6 },
  ).filter((parts) => parts.join("/").length < MAX_TARGET);
  const climbing = fc.tuple(segments, fc.constantFrom("GET", "POST", "DELETE"), authHeader(ctx)).map(
    ([parts, method, auth]): FuzzRequest => {
      const target = "/" + parts.join("/");
      return {
        label: `${method} ${target.slice(0, 120)}${target.length > 120 ? ` (${target.length} chars)` : ""}`,
        method,
        target,
        headers: auth,
      };
    },
  );
  const long = fc.tuple(
    fc.constantFrom("/v1/models?x=", "/v1/samples/", "/", "/v1/evaluations/", "/v1/saliency?model="),
    fc.integer({ min: 2_000, max: MAX_TARGET - 20 }),
    authHeader(ctx),
  ).map(([prefix, n, auth]): FuzzRequest => ({
    label: `GET ${prefix}${"a".repeat(3)}… (${prefix.length + n} characters)`,
    method: prefix.startsWith("/v1/saliency") ? "POST" : "GET",
    target: prefix + "a".repeat(n),
    headers: prefix.startsWith("/v1/saliency") ? withType(auth, "image/png") : auth,
    body: prefix.startsWith("/v1/saliency") ? ctx.seeds[0].bytes : undefined,
  }));
  return fc.oneof(climbing, long);
}
