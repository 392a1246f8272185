/**
 * The web page's static routes (routes/ui.ts) without a browser: /favicon.ico is an SVG icon with its content
 * type (not a 404), the page's script module is served as JavaScript, and the page links both; an unknown
 * sample id is a JSON 404 quoting it truncated.
 */
import assert from "node:assert/strict";
import { imageSize } from "image-size";
import { uiRoutes } from "../routes/ui.ts";

const app = uiRoutes("/nonexistent");

Deno.test("GET /favicon.ico is a 32x32 SVG served as image/svg+xml", async () => {
  const res = await app.request("/favicon.ico");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/svg+xml");
  const size = imageSize(new Uint8Array(await res.arrayBuffer())); // an independent SVG reader
  assert.deepEqual([size.type, size.width, size.height], ["svg", 32, 32]);
});

Deno.test("the page's script modules are served as JavaScript and the page links them and the icon", async () => {
  const res = await app.request("/ui/accuracy_view.js");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/javascript");
  assert.match(await res.text(), /export function accuracyView/);
  const page = await (await app.request("/")).text();
  assert.match(page, /import \{ accuracyView, instancesOf \} from "\/ui\/accuracy_view\.js"/);
  const faith = await app.request("/ui/faithfulness_view.js");
  assert.equal(faith.headers.get("content-type"), "text/javascript");
  assert.match(await faith.text(), /export function faithfulnessTable/);
  assert.match(page, /import \{ faithfulnessPlots, faithfulnessTable \} from "\/ui\/faithfulness_view\.js"/);
  assert.match(page, /<link rel="icon" type="image\/svg\+xml" href="\/favicon\.ico">/);
});

Deno.test("GET /v1/samples/:id: an unknown id is a JSON 404 that quotes at most 80 of its characters", async () => {
  const id = "x".repeat(5000);
  const res = await app.request(`/v1/samples/${id}`);
  assert.equal(res.status, 404);
  const { error } = await res.json();
  assert.equal(error.code, "not_found");
  assert.ok(error.message.length < 200, `a ${error.message.length}-character message`);
  assert.match(error.message, /5000 characters/);
});
