/**
 * The fuzz test's own helpers, pinned so its passes mean something: each rule of api_response_rules.ts fires on
 * the answer it forbids (and not on a good one or on text the client sent itself), and the hostile images are
 * what they claim — a patched header declares the patched size (read back with image-size) and a seed cut below
 * `truncatedBelow` has lost pixel data.
 */
import assert from "node:assert/strict";
import { imageSize } from "image-size";
import { ruleViolations } from "./helpers/api_response_rules.ts";
import type { RawRequest, RawResponse } from "./helpers/raw_http.ts";
import { syntheticTest } from "./helpers/synthetic_gate.ts";
import { headerOnlyPng, seedImages, withDeclaredSize } from "./helpers/hostile_images.ts";

const answer = (status: number, body: unknown, headers: Record<string, string> = {}): RawResponse => ({
  status,
  headers: new Headers({ "content-type": "application/json", ...headers }),
  body: new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body)),
  partial: false,
});
const get = (target = "/x"): RawRequest => ({ method: "GET", target, headers: [] });
const error = (code: string, message = "what to fix") => ({ error: { code, message } });

Deno.test("api_response_rules: each rule fires on what it forbids, and only then", () => {
  const secrets = ["/srv/retrace"];
  const clean: [string, RawResponse][] = [
    ["a 404", answer(404, error("not_found"))],
    ["a 503 busy with Retry-After", answer(503, error("busy"), { "retry-after": "2" })],
    ["a 504 timeout", answer(504, error("timeout"))],
    ["a 200", answer(200, { models: [] })],
  ];
  for (const [what, res] of clean) assert.deepEqual(ruleViolations(get(), res, secrets), [], what);
  const broken: [string, RawResponse, RegExp][] = [
    ["a 500", answer(500, error("internal")), /status 500 \(internal\)/],
    ["a 502", answer(502, error("busy")), /status 502/],
    [
      "a code with another status",
      answer(404, error("invalid_request")),
      /documented as 400 but came with 404/,
    ],
    [
      "a code outside the vocabulary",
      answer(400, error("bad_request")),
      /"bad_request" is not in ERROR_CODES/,
    ],
    ["an extra error key", answer(400, { error: { code: "bad_image", message: "x", stack: "s" } }), /keys/],
    ["an extra top-level key", answer(400, { ...error("bad_image"), detail: 1 }), /not \{error/],
    ["an empty message", answer(400, error("bad_image", " ")), /non-empty string/],
    ["an empty 400", answer(400, "", { "content-type": "" }), /not application\/json/],
    ["busy without Retry-After", answer(503, error("busy")), /busy without a Retry-After/],
    ["429 without Retry-After", answer(429, error("too_many_jobs")), /too_many_jobs without a Retry-After/],
    ["a stack frame", answer(400, error("bad_image", "boom\n    at decode (x)")), /stack frame/],
    ["a source location", answer(400, error("bad_image", "in decode.ts:12")), /TypeScript source location/],
    ["a file URL", answer(400, error("bad_image", "file:///srv/x")), /file URL/],
    ["a server path", answer(200, { dir: "/srv/retrace/models" }), /server path \/srv\/retrace/],
    ["a /tmp path", answer(400, error("bad_image", "cannot read /tmp/x")), /\/tmp path/],
    ["a whole long echo", answer(404, error("not_found", `no sample "${"a".repeat(400)}"`)), /echoes/],
    ["JSON that does not parse", answer(200, "{"), /does not parse/],
  ];
  for (const [what, res, pattern] of broken) {
    const found = ruleViolations(get(), res, secrets);
    assert.ok(found.some((v) => pattern.test(v)), `${what}: ${JSON.stringify(found)}`);
  }
  // text the client sent may come back (decoded), and an expectation is checked
  const echoed = answer(404, error("not_found", 'no sample "../../etc/passwd"'));
  assert.deepEqual(ruleViolations(get("/v1/samples/..%2f..%2fetc%2fpasswd"), echoed, secrets), []);
  const expect = { status: 400, code: "unknown_field", mentions: ["topK"], why: "test" };
  assert.deepEqual(
    ruleViolations(get(), answer(400, error("unknown_field", "topK: belongs in targets")), [], expect),
    [],
  );
  assert.equal(ruleViolations(get(), answer(400, error("unknown_field", "extra")), [], expect).length, 1);
  assert.equal(ruleViolations(get(), answer(200, {}), [], expect).length, 1);
});

syntheticTest("hostile_images: patched headers declare the patched size; cuts lose pixel data", async () => {
  const seeds = await seedImages();
  assert.deepEqual(seeds.map((s) => s.format), ["png", "jpeg", "webp", "gif"]);
  for (const seed of seeds) {
    const { width, height } = imageSize(seed.bytes);
    assert.deepEqual([width, height], seed.format === "gif" ? [1, 1] : [16, 12], seed.format);
    for (const [w, h] of [[20_000, 20_000], [16_000, 3], [317, 12_345]]) {
      const size = imageSize(withDeclaredSize(seed, w, h));
      assert.deepEqual([size.width, size.height], [w, h], `${seed.format} patched to ${w}x${h}`);
    }
    // the cut point: below it, bytes the decoder needs for pixels are gone
    assert.ok(seed.truncatedBelow > 8 && seed.truncatedBelow < seed.bytes.length, `${seed.format} cut bound`);
  }
  const png = seeds[0];
  const idat = new TextDecoder("latin1").decode(png.bytes).lastIndexOf("IDAT");
  const idatLength = new DataView(png.bytes.buffer, png.bytes.byteOffset).getUint32(idat - 4);
  assert.equal(png.truncatedBelow, idat + 4 + idatLength - 1, "PNG: cut inside the last IDAT's data");
  assert.deepEqual(imageSize(headerOnlyPng(65_535, 65_535)), { width: 65_535, height: 65_535, type: "png" });
});
