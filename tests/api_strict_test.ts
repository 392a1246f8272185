/**
 * Strict requests on the /v1 routes, without tfjs (the app of routes/app.ts over a fake worker pool,
 * tests/helpers/strict_app.ts): unknown fields are refused and misplaced ones say where they belong, in JSON,
 * multipart forms and query strings; every validation message names the field and its rule; every error is
 * `{error: {code, message}}` with a code of routes/errors.ts at its status; client text is echoed cut short;
 * long URLs get JSON 414; valid requests reach the worker exactly as before.
 */
import assert from "node:assert/strict";
import { ERROR_CODE_NAMES, ERROR_CODES } from "../routes/errors.ts";
import { strictApp } from "./helpers/strict_app.ts";

/** Codes seen in this file's answers (each checked against ERROR_CODES as it is read). */
const seen = new Set<string>();

/**
 * The message of an error answer, after checking its shape, status and code: exactly `{error: {code,
 * message}}`, JSON, a code from ERROR_CODES answered with that code's status.
 */
async function refusal(res: Response, status: number, code: string): Promise<string> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, text);
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body), ["error"], text);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message"], text);
  assert.equal(body.error.code, code, text);
  assert.ok(code in ERROR_CODES, `${code} is not in ERROR_CODES`);
  assert.equal(ERROR_CODES[code as keyof typeof ERROR_CODES].status, res.status, text);
  seen.add(code);
  return body.error.message;
}

const BASE = { image: btoa("\x01\x02\x03"), model: "net", method: "gradient", layers: ["layer4"] };

function postJson(app: ReturnType<typeof strictApp>["app"], body: unknown, path = "/v1/saliency") {
  return app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

function postRaw(app: ReturnType<typeof strictApp>["app"], query: string, path = "/v1/saliency") {
  return app.request(`${path}?${query}`, {
    method: "POST",
    headers: { "content-type": "image/png" },
    body: new Uint8Array([1, 2, 3]),
  });
}

function postForm(
  app: ReturnType<typeof strictApp>["app"],
  fields: [string, string | Blob][],
  path = "/v1/saliency",
) {
  const form = new FormData();
  form.append("image", new Blob([new Uint8Array([1, 2, 3])], { type: "image/png" }), "x.png");
  for (const [k, v] of fields) form.append(k, v);
  return app.request(path, { method: "POST", body: form });
}

Deno.test("unknown fields are 400 unknown_field naming them, and misplaced ones say where they belong", async (t) => {
  const { app, jobs } = strictApp();
  await t.step("JSON top level: targets, overlay, combine, meta and method keys", async () => {
    const cases: [string, unknown, string, string][] = [
      ["classes", ["star"], "targets", '{"targets": {"classes": [...]}}'],
      ["topK", 2, "targets", '{"targets": {"topK": n}}'],
      ["present", true, "targets", '{"targets": {"present": true'],
      ["threshold", 0.5, "targets", '{"targets": {"present": true'],
      ["alpha", 0.3, "overlay", '{"overlay": {"alpha"'],
      ["colormap", "gray", "overlay", '{"overlay": {'],
      ["map", 1, "overlay", '{"overlay": {'],
      ["mode", "sum", "combine", '{"combine": {"mode"'],
      ["weights", "linear", "combine", '{"combine": {'],
      ["sign", "negative", "meta", '{"meta": {"sign"'],
      ["eta", 0.1, "meta", '{"meta": {'],
      ["extract", "scaling", "method", '{"method": {"extract"'],
    ];
    for (const [key, value, object, example] of cases) {
      const message = await refusal(await postJson(app, { ...BASE, [key]: value }), 400, "unknown_field");
      assert.ok(message.includes(`unknown field "${key}"`), message);
      assert.ok(message.includes(`it belongs in ${object}: ${example}`), `${key}: ${message}`);
    }
  });
  await t.step("a near miss is named with the key it was probably meant as", async () => {
    const message = await refusal(await postJson(app, { ...BASE, layer: ["layer4"] }), 400, "unknown_field");
    assert.match(message, /unknown field "layer"; did you mean "layers"\?/);
    assert.match(
      message,
      /accepted: image, model, method, layers, targets, seed, meta, combine, integratedGradients, rise, occlusion, noise, overlay/,
    );
  });
  await t.step("inside nested objects", async () => {
    const inTargets = await refusal(
      await postJson(app, { ...BASE, targets: { topK: 2, k: 1 } }),
      400,
      "unknown_field",
    );
    assert.match(inTargets, /^targets: unknown field "k" \(accepted: topK\)$/);
    const inOverlay = await refusal(
      await postJson(app, { ...BASE, overlay: { alpha: 0.5, color: "gray" } }),
      400,
      "unknown_field",
    );
    assert.match(inOverlay, /^overlay: unknown field "color"; did you mean "colormap"\?/);
    const inMethod = await refusal(
      await postJson(app, { ...BASE, method: { extract: "scaling", aggregate: "sum", negative: true } }),
      400,
      "unknown_field",
    );
    assert.match(
      inMethod,
      /^method: unknown field "negative" \(accepted: extract, aggregate, rules, relu\)$/,
    );
    for (const key of ["meta", "combine"]) {
      const value = key === "meta"
        ? { sign: "positive", extra: 1 }
        : { mode: "sum", weights: "linear", extra: 1 };
      const message = await refusal(await postJson(app, { ...BASE, [key]: value }), 400, "unknown_field");
      assert.match(message, new RegExp(`^${key}: unknown field "extra"`));
    }
  });
  await t.step("the caption route: saliency fields and near misses", async () => {
    const caption = { image: BASE.image, model: "cap" };
    const targets = await refusal(
      await postJson(app, { ...caption, targets: { topK: 1 } }, "/v1/caption"),
      400,
      "unknown_field",
    );
    assert.match(targets, /unknown field "targets": it is a POST \/v1\/saliency field/);
    const beam = await refusal(
      await postJson(app, { ...caption, beam: 3 }, "/v1/caption"),
      400,
      "unknown_field",
    );
    assert.match(beam, /unknown field "beam"; did you mean "beamSize"\?/);
  });
  await t.step("query parameters beside a raw image", async () => {
    const q = "model=net&method=gradient&layers=layer4";
    const topk = await refusal(await postRaw(app, `${q}&topk=2`), 400, "unknown_field");
    assert.match(topk, /unknown query parameter "topk"; did you mean "topK"\?/);
    const clases = await refusal(await postRaw(app, `${q}&clases=star`), 400, "unknown_field");
    assert.match(clases, /unknown query parameter "clases"; did you mean "classes"\?/);
    const targets = await refusal(await postRaw(app, `${q}&targets=x`), 400, "unknown_field");
    assert.match(targets, /"targets": as flat options, targets are classes=a,b or topK=n or present=true/);
    const caption = await refusal(
      await postRaw(app, "model=cap&topK=2", "/v1/caption"),
      400,
      "unknown_field",
    );
    assert.match(caption, /unknown query parameter "topK": it is a \/v1\/saliency option/);
  });
  await t.step("multipart form fields", async () => {
    const fields: [string, string][] = [["model", "net"], ["method", "gradient"], ["layers", "layer4"]];
    const message = await refusal(await postForm(app, [...fields, ["topk", "2"]]), 400, "unknown_field");
    assert.match(message, /unknown form field "topk"; did you mean "topK"\?/);
    const twice = await refusal(
      await postForm(app, [...fields, ["layers", "layer3"]]),
      400,
      "invalid_request",
    );
    assert.match(twice, /form field layers is given twice/);
    const file = await refusal(
      await postForm(app, [...fields, ["classes", new Blob(["star"])]]),
      400,
      "invalid_request",
    );
    assert.match(file, /form field classes must be text, got a file/);
  });
  await t.step("query parameters beside a JSON body are not silently ignored", async () => {
    const message = await refusal(
      await postJson(app, BASE, "/v1/saliency?topK=2"),
      400,
      "unknown_field",
    );
    assert.match(message, /query parameter "topK" is not read with a JSON body/);
  });
  await t.step("flat options that contradict each other or dangle", async () => {
    const q = "model=net&method=gradient&layers=layer4";
    assert.match(
      await refusal(await postRaw(app, `${q}&classes=star&topK=2`), 400, "invalid_request"),
      /give one of the query parameters classes, topK or present, not classes and topK/,
    );
    assert.match(
      await refusal(await postRaw(app, `${q}&threshold=0.5`), 400, "invalid_request"),
      /threshold goes with present=true/,
    );
    assert.match(
      await refusal(await postRaw(app, `${q}&metaEta=0.1`), 400, "invalid_request"),
      /metaEta goes with meta=positive\|negative/,
    );
  });
  assert.equal(jobs.length, 0, "no refused request reached the worker pool");
});

Deno.test("every validation message names the field and its rule", async (t) => {
  const { app, jobs } = strictApp();
  await t.step("1e400 (JSON reads it as Infinity) names the field, the rule and the value", async () => {
    const body = JSON.stringify({ ...BASE, targets: { topK: 7 } }).replace('"topK":7', '"topK":1e400');
    const message = await refusal(await postJson(app, body), 400, "invalid_request");
    assert.equal(
      message,
      "targets.topK: must be an integer in 1..64, got Infinity (past the largest number, ±1.8e308)",
    );
    const eta = JSON.stringify({ ...BASE, meta: { sign: "positive", eta: 7 } }).replace(
      '"eta":7',
      '"eta":-1e400',
    );
    assert.match(
      await refusal(await postJson(app, eta), 400, "invalid_request"),
      /^meta\.eta: must be a number in 0\.\.1, got -Infinity/,
    );
    assert.match(
      await refusal(
        await postRaw(app, "model=net&method=gradient&layers=layer4&topK=1e400"),
        400,
        "invalid_request",
      ),
      /^topK: must be an integer in 1\.\.64, got Infinity/,
    );
  });
  await t.step("union fields name their alternatives when no alternative fits", async () => {
    const targets = await refusal(
      await postJson(app, { ...BASE, targets: { topK: 2, classes: ["star"] } }),
      400,
      "invalid_request",
    );
    assert.equal(
      targets,
      'targets: must be one of {"classes": [...]}, {"topK": n}, {"present": true, "threshold"?: t}, ' +
        'got {"topK":2,"classes":["star"]}',
    );
    const method = await refusal(await postJson(app, { ...BASE, method: 3 }), 400, "invalid_request");
    assert.equal(
      method,
      'method: must be a method name (GET /v1/methods) or {"extract", "aggregate", "rules"?, "relu"?}, got 3',
    );
    const classItem = await refusal(
      await postJson(app, { ...BASE, targets: { classes: [true] } }),
      400,
      "invalid_request",
    );
    assert.match(classItem, /^targets\.classes\[0\]: must be a class index \(an integer\) or a class name/);
  });
  await t.step("a union value of one alternative's form reports that alternative's problem", async () => {
    assert.equal(
      await refusal(await postJson(app, { ...BASE, targets: { topK: 0 } }), 400, "invalid_request"),
      "targets.topK: must be an integer in 1..64, got 0",
    );
    assert.equal(
      await refusal(await postJson(app, { ...BASE, targets: { present: false } }), 400, "invalid_request"),
      "targets.present: must be true, got false",
    );
    // a long value is shown cut, as every field's is (not echoed whole)
    const long = "\\".repeat(5000);
    assert.equal(
      await refusal(await postJson(app, { ...BASE, targets: { present: long } }), 400, "invalid_request"),
      `targets.present: must be true, got ${JSON.stringify(long.slice(0, 60))}… (5000 characters)`,
    );
    assert.match(
      await refusal(
        await postJson(app, { ...BASE, method: { extract: "nope", aggregate: "sum" } }),
        400,
        "invalid_request",
      ),
      /^method\.extract: must be one of "bias", "scaling", .*, got "nope"$/,
    );
  });
  await t.step("missing, mistyped and out-of-range fields", async () => {
    const { layers: _, ...noLayers } = BASE;
    assert.equal(
      await refusal(await postJson(app, noLayers), 400, "invalid_request"),
      'layers: is required: a list of 1..16 layer names ("input" = the image)',
    );
    assert.equal(
      await refusal(await postJson(app, { ...BASE, layers: "layer4" }), 400, "invalid_request"),
      'layers: must be a list of 1..16 layer names ("input" = the image), got "layer4"',
    );
    assert.equal(
      await refusal(await postJson(app, { ...BASE, overlay: { alpha: 2 } }), 400, "invalid_request"),
      "overlay.alpha: must be a number in 0..1, got 2",
    );
    assert.equal(
      await refusal(await postJson(app, { ...BASE, seed: "random" }), 400, "invalid_request"),
      'seed: must be one of "pointing", "one-hot", got "random"',
    );
    assert.equal(
      await refusal(await postJson(app, [1, 2]), 400, "invalid_request"),
      "body: must be an object with image, model, method, layers, targets, seed, meta, combine, integratedGradients, rise, occlusion, noise, overlay, got [1,2]",
    );
    assert.equal(
      await refusal(
        await postJson(app, { image: BASE.image, model: "cap", beamSize: 11 }, "/v1/caption"),
        400,
        "invalid_request",
      ),
      "beamSize: must be an integer in 1..10, got 11",
    );
    assert.equal(
      await refusal(await postRaw(app, "model=cap&words=no", "/v1/caption"), 400, "invalid_request"),
      'words: must be true or false, got "no"',
    );
    assert.equal(
      await refusal(
        await postRaw(app, "model=net&method=gradient&layers=layer4&topK=two&alpha=2"),
        400,
        "invalid_request",
      ),
      'topK: must be an integer in 1..64, got "two"; alpha: must be a number in 0..1, got 2',
    );
  });
  await t.step("a body that is not JSON, and a multipart body that does not parse", async () => {
    assert.match(
      await refusal(await postJson(app, '{"image": '), 400, "invalid_request"),
      /^the body is not valid JSON \(.+\); send one JSON object$/,
    );
    const noBoundary = await app.request("/v1/saliency", {
      method: "POST",
      headers: { "content-type": "multipart/form-data" },
      body: "x",
    });
    assert.match(
      await refusal(noBoundary, 400, "invalid_request"),
      /^the multipart\/form-data body does not parse/,
    );
  });
  await t.step("a framework error of another status keeps its own code", async () => {
    const { HTTPException } = await import("hono/http-exception");
    const fresh = strictApp();
    fresh.app.get("/v1/framework-401", () => {
      throw new HTTPException(401, { message: "no" });
    });
    await refusal(await fresh.app.request("/v1/framework-401"), 401, "unauthorized");
  });
  assert.equal(jobs.length, 0, "no refused request reached the worker pool");
});

Deno.test("one error vocabulary: the same code for the same problem on every route, published at /openapi.json", async (t) => {
  const { app, reply } = strictApp();
  await t.step(
    "an unknown method is unknown_method on the saliency and the caption route alike",
    async () => {
      const saliency = await refusal(
        await postJson(app, { ...BASE, method: "magic" }),
        400,
        "unknown_method",
      );
      const caption = await refusal(
        await postJson(app, { image: BASE.image, model: "cap", method: "magic" }, "/v1/caption"),
        400,
        "unknown_method",
      );
      assert.equal(caption, saliency);
      assert.match(saliency, /^unknown method "magic"; valid: gradient, /);
      await refusal(await postRaw(app, "model=cap&method=magic", "/v1/caption"), 400, "unknown_method");
    },
  );
  await t.step(
    "worker refusals keep their code's status; codes outside the vocabulary and bugs are mapped",
    async () => {
      reply.value = { error: { code: "image_too_large", message: "the image is 9x9" } };
      assert.equal(await refusal(await postJson(app, BASE), 413, "image_too_large"), "the image is 9x9");
      reply.value = { error: { code: "bad_request", message: "no such rule for this network" } };
      assert.equal(
        await refusal(await postJson(app, BASE), 400, "invalid_request"),
        "no such rule for this network",
      );
      reply.value = { error: { code: "internal", message: "boom at /home/someone/retrace/lib/x.ts:12" } };
      const original = console.error;
      const logged: string[] = [];
      console.error = (line: string) => logged.push(line);
      try {
        const message = await refusal(await postJson(app, BASE), 500, "internal");
        assert.doesNotMatch(message, /home|x\.ts/);
      } finally {
        console.error = original;
      }
      assert.equal(logged.length, 1);
      assert.match(logged[0], /boom at/);
    },
  );
  await t.step("unknown routes, a wrong content-type and unknown models", async () => {
    assert.match(await refusal(await app.request("/nope"), 404, "not_found"), /^no route GET \/nope;/);
    const wrongType = await app.request("/v1/saliency", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "hi",
    });
    assert.match(await refusal(wrongType, 415, "unsupported_media_type"), /multipart\/form-data/);
    // a content-type the JSON validator would not read as JSON is not taken for JSON here either
    const listed = await app.request("/v1/saliency", {
      method: "POST",
      headers: { "content-type": "application/json, image/png" },
      body: JSON.stringify(BASE),
    });
    await refusal(listed, 415, "unsupported_media_type");
    assert.match(
      await refusal(await postJson(app, { ...BASE, model: "cap" }), 404, "unknown_model"),
      /^no classifier "cap"; available: net$/,
    );
    assert.match(
      await refusal(
        await postJson(app, { image: BASE.image, model: "net" }, "/v1/caption"),
        404,
        "unknown_model",
      ),
      /^no captioner "net"; available: cap$/,
    );
  });
  await t.step("the bearer token and the body limit", async () => {
    const keyed = strictApp({ maxBodyBytes: 100, apiKey: "k" });
    assert.match(await refusal(await keyed.app.request("/v1/models"), 401, "unauthorized"), /Bearer/);
    const big = await keyed.app.request("/v1/saliency", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer k" },
      body: JSON.stringify({ ...BASE, image: "A".repeat(200) }),
    });
    assert.match(await refusal(big, 413, "body_too_large"), /exceeds 100 bytes/);
  });
  await t.step(
    "/openapi.json: an Error schema whose code is the vocabulary, and the table of codes",
    async () => {
      const doc = await (await app.request("/openapi.json")).json();
      const error = doc.components.schemas.Error;
      assert.deepEqual(error.properties.error.properties.code.enum, ERROR_CODE_NAMES);
      assert.deepEqual(doc["x-error-codes"], ERROR_CODES);
      for (const code of ERROR_CODE_NAMES) {
        const row = `| ${ERROR_CODES[code].status} | \`${code}\` | ${ERROR_CODES[code].meaning} |`;
        assert.ok(doc.info.description.includes(row), `the description's table has ${row}`);
      }
      const saliency400 = doc.paths["/v1/saliency"].post.responses["400"];
      assert.equal(saliency400.content["application/json"].schema.$ref, "#/components/schemas/Error");
      assert.match(saliency400.description, /unknown_field/);
    },
  );
  await t.step("the hand-built error bodies are gone from the routes this file covers", async () => {
    for (const file of ["v1.ts", "app.ts", "middleware.ts", "v1_fields.ts", "validation.ts"]) {
      const source = await Deno.readTextFile(new URL(`../routes/${file}`, import.meta.url));
      assert.doesNotMatch(source, /error:\s*\{\s*code:\s*"/, `${file} builds an error body without apiError`);
    }
  });
});

Deno.test("long names and long URLs: the JSON error with the client text cut short", async (t) => {
  const { app } = strictApp();
  const long = "m".repeat(20_000);
  /** A message quotes at most ~60-80 characters of the long name, and says how long it was. */
  const cutShort = (message: string, length = 20_000) => {
    assert.ok(message.length <= 400, `${message.length} characters: ${message.slice(0, 200)}`);
    assert.doesNotMatch(message, /m{81}/);
    assert.ok(message.includes(`… (${length} characters)`), message);
  };
  await t.step("model, method, layer, caption model and field names", async () => {
    cutShort(await refusal(await postJson(app, { ...BASE, model: long }), 400, "invalid_request"));
    cutShort(await refusal(await postJson(app, { ...BASE, method: long }), 400, "invalid_request"));
    cutShort(await refusal(await postJson(app, { ...BASE, layers: [long] }), 400, "invalid_request"));
    cutShort(
      await refusal(await postJson(app, { ...BASE, targets: { classes: [long] } }), 400, "invalid_request"),
    );
    cutShort(
      await refusal(
        await postJson(app, { image: BASE.image, model: long }, "/v1/caption"),
        400,
        "invalid_request",
      ),
    );
    cutShort(await refusal(await postJson(app, { ...BASE, [long]: 1 }), 400, "unknown_field"));
    // (Deno's multipart parser refuses part headers much longer than this)
    cutShort(await refusal(await postForm(app, [["m".repeat(2000), "1"]]), 400, "unknown_field"), 2000);
    cutShort(
      await refusal(await postJson(app, { ...BASE, seed: long }), 400, "invalid_request"),
    );
  });
  await t.step("a name under the length limit is echoed in at most 80 characters", async () => {
    const message = await refusal(
      await postJson(app, { ...BASE, model: "n".repeat(120) }),
      404,
      "unknown_model",
    );
    assert.match(message, /^no classifier "n{80}"… \(120 characters\); available: net$/);
  });
  await t.step("thousands of unknown fields are listed five at a time", async () => {
    const body: Record<string, unknown> = { ...BASE };
    for (let i = 0; i < 5000; i++) body[`x${i}`] = i;
    const message = await refusal(await postJson(app, body), 400, "unknown_field");
    assert.match(message, /and 4995 more unknown fields/);
    assert.ok(message.length < 1000, `${message.length} characters`);
  });
  await t.step("a URL over 8 KiB is 414 uri_too_long, before the key is asked for", async () => {
    const keyed = strictApp({ apiKey: "k" });
    const path = "/v1/models?" + "q".repeat(8192);
    const message = await refusal(await keyed.app.request(path), 414, "uri_too_long");
    assert.equal(
      message,
      "the URL's path and query are 8203 characters; the limit is 8192 (send long options in a JSON body)",
    );
    await refusal(await keyed.app.request("/v1/models?" + "q".repeat(8181)), 401, "unauthorized");
  });
  await t.step(
    "through Deno.serve: 414 JSON below Deno's 64 KiB head limit, its empty 400 above",
    async () => {
      let handled = 0;
      const served = strictApp({ log: () => handled++ });
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, served.app.fetch);
      try {
        const base = `http://127.0.0.1:${server.addr.port}`;
        assert.match(
          await refusal(await fetch(`${base}/${"m".repeat(19_999)}`), 414, "uri_too_long"),
          /^the URL's path and query are 20000 characters; the limit is 8192/,
        );
        assert.equal(handled, 1);
        // A request head past 64 KiB never reaches a handler: Deno's HTTP server answers 400 with no body.
        const head = await rawHead(server.addr.port, `/${"m".repeat(70_000)}`);
        assert.match(head.statusLine, /^HTTP\/1\.1 400/);
        assert.equal(head.body, "");
        assert.equal(handled, 1, "the 70,000-character URL was not handled by the app");
      } finally {
        await server.shutdown();
      }
    },
  );
});

/**
 * One raw HTTP/1.1 GET with `Connection: close`: the status line and body of the answer ("" when the server
 * reset the connection before the client read the answer).
 */
async function rawHead(port: number, target: string): Promise<{ statusLine: string; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const chunks: Uint8Array[] = [];
  try {
    await conn.write(
      new TextEncoder().encode(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    const buffer = new Uint8Array(65536);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      chunks.push(buffer.slice(0, n));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.ConnectionReset)) throw e;
  } finally {
    conn.close();
  }
  const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  const split = text.indexOf("\r\n\r\n");
  return {
    statusLine: text.slice(0, Math.max(0, text.indexOf("\r\n"))),
    body: split < 0 ? "" : text.slice(split + 4),
  };
}

Deno.test("valid requests reach the worker as before, whichever way they come", async (t) => {
  const { app, jobs, reply } = strictApp();
  const map = new Float32Array([0.25, 1]);
  reply.value = {
    image: { width: 2, height: 1 },
    targets: [{ index: 3, name: "star" }],
    predictions: [{ index: 3, name: "star", score: 0.5 }],
    maps: [{ target: 3, layer: "layer4", shape: [1, 2], data: map }],
    timings: { decodeMs: 1, forwardMs: 2, saliencyMs: 3 },
  };
  const mapBase64 = btoa(String.fromCharCode(...new Uint8Array(map.buffer)));
  await t.step("JSON with the defaults filled in, and the answer's exact bytes", async () => {
    const res = await postJson(app, BASE);
    assert.equal(res.status, 200);
    assert.equal(
      await res.text(),
      '{"model":"net","method":"gradient","image":{"width":2,"height":1},"targets":[{"index":3,"name":"star"}],' +
        '"predictions":[{"index":3,"name":"star","score":0.5}],' +
        `"maps":[{"target":3,"layer":"layer4","shape":[1,2],"data":"${mapBase64}"}],` +
        '"timings":{"decodeMs":1,"forwardMs":2,"saliencyMs":3}}',
    );
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0].dir, "/models/net");
    assert.deepEqual(jobs[0].job, {
      image: new Uint8Array([1, 2, 3]),
      resize: "none",
      method: "gradient",
      layers: ["layer4"],
      targets: { kind: "top-k", k: 1 },
      seed: "pointing",
      meta: undefined,
      combine: undefined,
      maxPixels: 1_000_000,
    });
  });
  await t.step("every option, as JSON, as a multipart form and as a query string: the same job", async () => {
    jobs.length = 0;
    const json = {
      ...BASE,
      method: "grad-cam",
      layers: ["layer3", "layer4"],
      targets: { classes: ["star", 2] },
      seed: "one-hot",
      meta: { sign: "negative", eta: 0.001 },
      combine: { mode: "product", weights: "linear" },
      noise: { kind: "vargrad", samples: 4, sigma: 0.2 },
    };
    const flat: [string, string][] = [
      ["model", "net"],
      ["method", "grad-cam"],
      ["layers", "layer3, layer4"],
      ["classes", "star,2"],
      ["seed", "one-hot"],
      ["meta", "negative"],
      ["metaEta", "0.001"],
      ["combine", "product:linear"],
      ["noise.kind", "vargrad"],
      ["noise.samples", "4"],
      ["noise.sigma", "0.2"],
    ];
    assert.equal((await postJson(app, json)).status, 200);
    assert.equal((await postForm(app, flat)).status, 200);
    assert.equal((await postRaw(app, new URLSearchParams(flat).toString())).status, 200);
    const expected = {
      image: new Uint8Array([1, 2, 3]),
      resize: "none",
      method: "grad-cam",
      layers: ["layer3", "layer4"],
      targets: { kind: "classes", classes: ["star", 2] },
      seed: "one-hot",
      meta: { sign: "negative", eta: 0.001 },
      combine: { mode: "product", weights: "linear" },
      noise: { kind: "vargrad", samples: 4, sigma: 0.2, seed: 0, batch: 16 },
      maxPixels: 1_000_000,
    };
    assert.equal(jobs.length, 3);
    for (const { job } of jobs) assert.deepEqual(job, expected);
  });
  await t.step("present with a threshold, top-k, and a method pair echoed with its defaults", async () => {
    jobs.length = 0;
    await postRaw(app, "model=net&method=gradient&layers=layer4&present=true&threshold=0.3");
    await postJson(app, { ...BASE, targets: { topK: 2 } });
    const pair = await postJson(app, { ...BASE, method: { extract: "scaling", aggregate: "sum" } });
    assert.deepEqual(jobs.map((j) => j.job.targets), [
      { kind: "present", threshold: 0.3 },
      { kind: "top-k", k: 2 },
      { kind: "top-k", k: 1 },
    ]);
    assert.deepEqual((await pair.json()).method, {
      extract: "scaling",
      aggregate: "sum",
      rules: "standard",
      relu: false,
    });
  });
  await t.step("captions: JSON defaults and the same options as a form", async () => {
    jobs.length = 0;
    reply.value = { error: { code: "bad_caption", message: "stop here" } };
    await postJson(app, { image: BASE.image, model: "cap" }, "/v1/caption");
    await postJson(
      app,
      { image: BASE.image, model: "cap", caption: "a star", beamSize: 2, layers: ["layer4"], words: false },
      "/v1/caption",
    );
    await postForm(
      app,
      [["model", "cap"], ["caption", "a star"], ["beamSize", "2"], ["layers", "layer4"], ["words", "false"]],
      "/v1/caption",
    );
    const [defaults, given, form] = jobs.map((j) => j.job);
    assert.deepEqual(defaults, {
      image: new Uint8Array([1, 2, 3]),
      model: "cap",
      beamSize: 1,
      method: "selective-normgrad",
      layers: [],
      words: true,
      maxPixels: 1_000_000,
    });
    assert.deepEqual(form, given);
    assert.equal(given.caption, "a star");
  });
});

Deno.test("every code answered in this file is in the vocabulary", () => {
  // Each answer was checked as it was read (refusal()); this pins that the walk saw the main families.
  for (
    const code of ["unknown_field", "invalid_request", "unknown_method", "uri_too_long", "unknown_model"]
  ) {
    assert.ok(seen.has(code), `no ${code} answer was walked`);
  }
  for (const code of seen) assert.ok(code in ERROR_CODES);
});

Deno.test("plain zod schemas (no error options) get rule messages too, through the shared hook", async () => {
  const { z } = await import("@hono/zod-openapi");
  const { describeIssues } = await import("../routes/validation.ts");
  const schema = z.strictObject({
    layers: z.union([z.literal("paper"), z.array(z.string())]),
    limit: z.number().int().min(1),
    split: z.string().regex(/^[a-z]+$/).optional(),
  });
  const input = { layers: 3, limit: 0, split: "a/b", x: 1 };
  const parsed = schema.safeParse(input);
  assert.ok(!parsed.success);
  assert.deepEqual(describeIssues(parsed.error.issues as never, input), {
    code: "unknown_field",
    message: 'layers: must be "paper" or a list of strings, got 3; limit: must be a number >= 1, got 0; ' +
      'split: must be a string matching /^[a-z]+$/, got "a/b"; unknown field "x" (accepted: layers, limit, split)',
  });
  const papers = { layers: "papers", limit: 1 };
  const wrongValue = schema.safeParse(papers);
  assert.ok(!wrongValue.success);
  assert.equal(
    describeIssues(wrongValue.error.issues as never, papers).message,
    'layers: must be "paper", got "papers"',
  );
});

Deno.test("Accept: image/png asks the worker for the overlay and answers its PNG", async () => {
  const { app, jobs, reply } = strictApp();
  const png = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
  reply.value = {
    image: { width: 2, height: 1 },
    targets: [{ index: 3, name: "star" }],
    predictions: [],
    maps: [],
    overlay: { png, layer: "layer4", target: 3 },
    timings: { decodeMs: 1, forwardMs: 2, saliencyMs: 3 },
  };
  const res = await app.request("/v1/saliency", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "image/png" },
    body: JSON.stringify({ ...BASE, overlay: { colormap: "gray" } }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.equal(res.headers.get("x-retrace-map"), "layer4 target=3");
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), png);
  assert.deepEqual(jobs[0].job.overlay, { alpha: 0.5, map: 0, colormap: "gray" });
  assert.equal(jobs[0].job.resize, "image");
});
