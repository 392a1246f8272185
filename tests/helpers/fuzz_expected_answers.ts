/**
 * Requests of the fuzz test whose answer is known, as fast-check arbitraries carrying an Expectation: a field a
 * route does not take is 400 unknown_field naming it (and, for a misplaced target field, "targets"); a number
 * out of range (1e400) is 400 invalid_request naming the field; a header declaring more than RETRACE_MAX_PIXELS
 * is 413 image_too_large; an image cut before the end of its pixel data is 400 bad_image. Plus the valid, cheap
 * requests the test warms the worker and fills the queue with.
 */
import fc from "fast-check";
import type { RawRequest } from "./raw_http.ts";
import { Entries, type JsonEntries, jsonText, RawJson } from "./hostile_inputs.ts";
import { bombImage, toBase64, truncatedImage } from "./hostile_images.ts";
import {
  CAPTION_FIELDS,
  CAPTION_FORM_FIELDS,
  captionTemplate,
  enc,
  EVALUATION_FIELDS,
  evaluationTemplate,
  formFields,
  type FuzzContext,
  type FuzzRequest,
  MULTIPART_TYPE,
  multipartBody,
  SALIENCY_FIELDS,
  SALIENCY_FORM_FIELDS,
  saliencyTemplate,
  unknownName,
  withExtras,
  withType,
} from "./fuzz_request_parts.ts";

type Form = "json" | "multipart" | "raw";

/** A valid request of `route` in `form` around `image` bytes and extra JSON entries / flat fields. */
function validRequest(
  ctx: FuzzContext,
  route: "saliency" | "caption",
  form: Form,
  image: Uint8Array,
  extraJson: JsonEntries,
  extraFields: [string, string][],
): RawRequest {
  const auth: [string, string][] = [["authorization", `Bearer ${ctx.apiKey}`]];
  if (form === "json") {
    const template = route === "saliency" ? saliencyTemplate : captionTemplate;
    return {
      method: "POST",
      target: `/v1/${route}`,
      headers: withType(auth, "application/json"),
      body: enc(jsonText(new Entries([...template(ctx, toBase64(image)), ...extraJson]))),
    };
  }
  const fields = [...formFields(ctx, route), ...extraFields];
  if (form === "multipart") {
    return {
      method: "POST",
      target: `/v1/${route}`,
      headers: withType(auth, MULTIPART_TYPE),
      body: multipartBody([["image", image], ...fields]),
    };
  }
  return {
    method: "POST",
    target: `/v1/${route}?${new URLSearchParams(fields)}`,
    headers: withType(auth, "application/octet-stream"),
    body: image,
  };
}

const forms = fc.constantFrom<Form>("json", "multipart", "raw");
const imageRoutes = fc.constantFrom<"saliency" | "caption">("saliency", "caption");

/** A header that declares more than RETRACE_MAX_PIXELS: 413 image_too_large, whatever the pixel data. */
export function bombRequests(ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  return fc.tuple(imageRoutes, forms, bombImage(ctx.seeds, ctx.maxPixels)).map(([route, form, bomb]) => ({
    ...validRequest(ctx, route, form, bomb.bytes, [], []),
    label: `${form} ${route} with ${bomb.how}`,
    expect: {
      status: 413,
      code: "image_too_large",
      why: `the header declares more than RETRACE_MAX_PIXELS=${ctx.maxPixels}`,
    },
  }));
}

/** An image cut before the end of its pixel data: 400 bad_image (never a prediction for a blank image). */
export function truncatedRequests(ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  return fc.tuple(imageRoutes, forms, truncatedImage(ctx.seeds)).map(([route, form, cut]) => ({
    ...validRequest(ctx, route, form, cut.bytes, [], []),
    label: `${form} ${route} with ${cut.how}`,
    expect: { status: 400, code: "bad_image", why: "the image ends before its pixel data does" },
  }));
}

const MISPLACED_TARGETS = ["classes", "topK", "present", "threshold"];

/** A valid request plus one field the route does not take: 400 unknown_field naming it. */
export function unknownFieldRequests(ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const seed = ctx.seeds[0].bytes;
  const json = fc.tuple(
    imageRoutes,
    fc.oneof(unknownName([...SALIENCY_FIELDS, ...CAPTION_FIELDS]), fc.constantFrom(...MISPLACED_TARGETS)),
  )
    .filter(([route, key]) => route === "saliency" || !MISPLACED_TARGETS.includes(key))
    .map(([route, key]) => {
      const misplaced = route === "saliency" && MISPLACED_TARGETS.includes(key);
      return {
        ...validRequest(ctx, route, "json", seed, [[key, misplaced && key === "present" ? true : 2]], []),
        label: `JSON ${route} with the unknown top-level field ${JSON.stringify(key)}`,
        expect: {
          status: 400,
          code: "unknown_field",
          mentions: misplaced ? [key, "targets"] : [key],
          why: misplaced ? `${key} belongs inside targets` : `${route} takes no field ${key}`,
        },
      };
    });
  const nested = unknownName(["topK", "classes", "present", "threshold"]).map((key): FuzzRequest => ({
    method: "POST",
    target: "/v1/saliency",
    headers: [["authorization", `Bearer ${ctx.apiKey}`], ["content-type", "application/json"]],
    body: enc(jsonText(
      new Entries([...saliencyTemplate(ctx, toBase64(seed)).slice(0, 4), [
        "targets",
        new Entries([["topK", 1], [key, 1]]),
      ]]),
    )),
    label: `JSON saliency with targets {topK: 1, ${JSON.stringify(key)}: 1}`,
    expect: { status: 400, code: "unknown_field", mentions: [key], why: `targets takes no field ${key}` },
  }));
  const flat = fc.tuple(
    imageRoutes,
    fc.constantFrom<Form>("multipart", "raw"),
    unknownName([...SALIENCY_FORM_FIELDS, ...CAPTION_FORM_FIELDS]),
  ).map(([route, form, key]) => ({
    ...validRequest(ctx, route, form, seed, [], [[key, "2"]]),
    label: `${form} ${route} with the unknown field ${JSON.stringify(key)}`,
    expect: { status: 400, code: "unknown_field", mentions: [key], why: `${route} takes no field ${key}` },
  }));
  const evaluation = unknownName(EVALUATION_FIELDS).map((key): FuzzRequest => ({
    method: "POST",
    target: "/v1/evaluations",
    headers: [["authorization", `Bearer ${ctx.apiKey}`], ["content-type", "application/json"]],
    body: enc(jsonText(new Entries([...evaluationTemplate(ctx), [key, 2]]))),
    label: `POST evaluation with the unknown field ${JSON.stringify(key)}`,
    expect: { status: 400, code: "unknown_field", mentions: [key], why: `evaluations take no field ${key}` },
  }));
  return fc.oneof(json, nested, flat, evaluation);
}

/** A valid, cheap saliency request (for bursts that fill the queue). */
export function validSaliency(ctx: FuzzContext, image: Uint8Array): FuzzRequest {
  return { ...validRequest(ctx, "saliency", "json", image, [], []), label: "valid JSON saliency" };
}

/** A valid, cheap caption request. */
export function validCaption(ctx: FuzzContext, image: Uint8Array): FuzzRequest {
  return { ...validRequest(ctx, "caption", "json", image, [], []), label: "valid JSON caption" };
}

/** Numeric fields with a JSON number out of float64 range (or of the field's range): 400 naming the field. */
export function outOfRangeRequests(ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const auth: [string, string][] = [["authorization", `Bearer ${ctx.apiKey}`], [
    "content-type",
    "application/json",
  ]];
  const image = toBase64(ctx.seeds[0].bytes);
  const cases: { field: string; route: string; body: (raw: RawJson) => JsonEntries; ints: boolean }[] = [
    {
      field: "limit",
      route: "evaluations",
      body: (raw) => withExtras(evaluationTemplate(ctx), [["limit", raw]]),
      ints: false, // any integer >= 1 is a valid limit
    },
    {
      field: "topK",
      route: "saliency",
      body: (raw) => withExtras(saliencyTemplate(ctx, image), [["targets", new Entries([["topK", raw]])]]),
      ints: true,
    },
    {
      field: "eta",
      route: "saliency",
      body: (raw) =>
        withExtras(saliencyTemplate(ctx, image), [[
          "meta",
          new Entries([["sign", "positive"], ["eta", raw]]),
        ]]),
      ints: false,
    },
    {
      field: "alpha",
      route: "saliency",
      body: (raw) => withExtras(saliencyTemplate(ctx, image), [["overlay", new Entries([["alpha", raw]])]]),
      ints: false,
    },
    {
      field: "beamSize",
      route: "caption",
      body: (raw) => withExtras(captionTemplate(ctx, image), [["beamSize", raw]]),
      ints: true,
    },
  ];
  return fc.constantFrom(...cases).chain((c) =>
    fc.constantFrom("1e400", "-1e400", ...(c.ints ? ["123456789012345678901234567890", "0.5"] : [])).map(
      (text): FuzzRequest => ({
        method: "POST",
        target: `/v1/${c.route}`,
        headers: auth,
        body: enc(jsonText(new Entries(c.body(new RawJson(text))))),
        label: `JSON ${c.route} with ${c.field}: ${text}`,
        expect: {
          status: 400,
          code: "invalid_request",
          mentions: [c.field],
          why: `${text} is no valid ${c.field}`,
        },
      }),
    )
  );
}
