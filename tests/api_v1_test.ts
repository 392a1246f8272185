/**
 * The /v1 API on a real server process (one wasm worker, the shipped models): models, methods, OpenAPI, a
 * saliency request whose maps come back as base64 Float32 of the right shapes, and every kind of bad input
 * answered with its documented status and a message that says what to fix.
 */
import assert from "node:assert/strict";
import { syntheticTest } from "./helpers/synthetic_gate.ts";
import { waitFor } from "./helpers/wait_for.ts";
import { spawnTestServer } from "../tools/spawn_server.ts";
import { pngBase64 } from "./helpers/test_png.ts";

const startServer = spawnTestServer;

function postJson(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
}

syntheticTest("POST /v1/saliency and friends: maps, predictions, bad input", async (t) => {
  const { base, child } = await startServer({ RETRACE_MAX_PIXELS: "200000" });
  const post2 = (signal: AbortSignal, body: unknown) => postJson(`${base}/v1/saliency`, body, signal);
  const post = (body: unknown) => postJson(`${base}/v1/saliency`, body);
  try {
    const image = await pngBase64(300, 200);
    await t.step("GET /v1/models, /v1/methods, /openapi.json", async () => {
      const models = await (await fetch(`${base}/v1/models`)).json();
      const r50 = models.models.find((m: { name: string }) => m.name === "resnet50_synthetic");
      assert.ok(r50, JSON.stringify(models).slice(0, 200));
      assert.ok(r50.layers.includes("layer4") && r50.layers.includes("input"));
      const methods = await (await fetch(`${base}/v1/methods`)).json();
      assert.ok(methods.methods.some((m: { name: string }) => m.name === "selective-normgrad"));
      const byName = new Map(
        methods.methods.map((m: { name: string; reference: string; passes: unknown }) => [m.name, m]),
      );
      for (const name of ["grad-cam-plus-plus", "xgrad-cam", "hires-cam", "layer-cam", "eigen-cam"]) {
        assert.ok(byName.has(name), `${name} is listed`);
      }
      for (const m of methods.methods) assert.ok(m.reference.length > 10 && m.passes.forward >= 1, m.name);
      assert.deepEqual((byName.get("eigen-cam") as { passes: unknown }).passes, { forward: 1, backward: 0 });
      assert.deepEqual((byName.get("contrastive-excitation") as { passes: unknown }).passes, {
        forward: 1,
        backward: 2,
      });
      const spec = await (await fetch(`${base}/openapi.json`)).json();
      assert.ok(spec.paths["/v1/saliency"].post);
      assert.ok(spec.paths["/v1/caption"].post);
      assert.ok(spec.paths["/v1/evaluations"].post, "the evaluations router is in the same document");
    });
    await t.step("maps for the top-2 classes at two layers plus their combination", async () => {
      const res = await post({
        image,
        model: "resnet50_synthetic",
        method: "grad-cam",
        layers: ["layer3", "layer4"],
        targets: { topK: 2 },
        combine: { mode: "product", weights: "linear" },
      });
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.deepEqual(body.image, { width: 300, height: 200 });
      assert.equal(body.targets.length, 2);
      assert.deepEqual(
        body.targets.map((t: { index: number }) => t.index),
        body.predictions.slice(0, 2).map((p: { index: number }) => p.index),
      );
      assert.equal(body.maps.length, 6);
      for (const m of body.maps) {
        const bytes = Uint8Array.from(atob(m.data), (ch) => ch.charCodeAt(0));
        assert.equal(bytes.length, 4 * m.shape[0] * m.shape[1]);
        const values = new Float32Array(bytes.buffer);
        assert.ok(values.every(Number.isFinite));
        if (m.layer === "layer4") assert.deepEqual(m.shape, [7, 7]);
        if (m.layer === "product/linear") assert.deepEqual(m.shape, [224, 224]);
      }
    });
    await t.step(
      "top-k targets are chosen inside the saliency pass: same maps as picking them first",
      async () => {
        // topK runs one forward + backward and picks the classes from that pass's logits; naming the top class
        // in `classes` picks it before the pass: the same targets, predictions and maps.
        for (const method of ["grad-cam", "selective-normgrad", "gradient"]) {
          const common = {
            image,
            model: "resnet50_synthetic",
            method,
            layers: ["input", "layer3", "layer4"],
          };
          const one = await (await post({ ...common, targets: { topK: 1 } })).json();
          const two = await (await post({ ...common, targets: { classes: [one.predictions[0].index] } }))
            .json();
          assert.deepEqual(one.targets, two.targets);
          assert.deepEqual(one.predictions, two.predictions);
          assert.equal(one.maps.length, 3);
          one.maps.forEach((m: { data: string; layer: string }, i: number) => {
            assert.equal(m.data, two.maps[i].data, `${method} at ${m.layer}`);
          });
        }
      },
    );
    await t.step("an extraction x aggregation pair instead of a named method", async () => {
      const pair = await post({
        image,
        model: "resnet50_synthetic",
        method: { extract: "scaling", aggregate: "sum" },
        layers: ["layer4"],
        targets: { classes: [2] },
      });
      assert.equal(pair.status, 200);
      const named = await post({
        image,
        model: "resnet50_synthetic",
        method: "linear-approx",
        layers: ["layer4"],
        targets: { classes: [2] },
      });
      assert.equal(
        (await pair.json()).maps[0].data,
        (await named.json()).maps[0].data,
        "linear-approx = scaling x sum",
      );
    });
    await t.step(
      "method options: integrated gradients' steps and gap, a noise tunnel, options for the wrong method",
      async () => {
        const ig = await post({
          image,
          model: "resnet50_synthetic",
          method: "integrated-gradients",
          layers: ["layer4"],
          targets: { topK: 2 },
          integratedGradients: { steps: 4, quadrature: "riemann-trapezoid", baseline: "black" },
        });
        assert.equal(ig.status, 200);
        const body = await ig.json();
        assert.equal(body.maps.length, 2);
        assert.equal(body.completeness.length, 2, "a gap per target at the one layer");
        for (const c of body.completeness) {
          assert.ok(c.layer === "layer4" && Number.isFinite(c.gap), JSON.stringify(c));
        }
        const noisy = await post({
          image,
          model: "resnet50_synthetic",
          method: "grad-cam",
          layers: ["layer4"],
          targets: { classes: [2] },
          noise: { kind: "smoothgrad", samples: 2, sigma: 0 },
        });
        const plain = await post({
          image,
          model: "resnet50_synthetic",
          method: "grad-cam",
          layers: ["layer4"],
          targets: { classes: [2] },
        });
        assert.equal(noisy.status, 200);
        const [a, b] = [(await noisy.json()).maps[0].data, (await plain.json()).maps[0].data];
        const floats = (s: string) =>
          new Float32Array(Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0)).buffer);
        const [fa, fb] = [floats(a), floats(b)];
        assert.ok(
          fa.every((v, i) => Math.abs(v - fb[i]) <= 1e-5 * Math.max(1, Math.abs(fb[i]))),
          "σ = 0: the plain map",
        );
        const wrong = await post({
          image,
          model: "resnet50_synthetic",
          method: "grad-cam",
          layers: ["layer4"],
          rise: { masks: 10 },
        });
        assert.equal(wrong.status, 400);
        assert.match((await wrong.json()).error.message, /rise: applies to method rise only/);
        const unknown = await post({
          image,
          model: "resnet50_synthetic",
          method: "grad-cam",
          layers: ["layer4"],
          noise: { kind: "vargrad", sigmaa: 0.1 },
        });
        assert.equal(unknown.status, 400);
        assert.match((await unknown.json()).error.message, /sigmaa/);
      },
    );
    await t.step("targets by class name", async () => {
      const res = await post({
        image,
        model: "resnet50_synthetic",
        method: "gradient",
        layers: ["input"],
        targets: { classes: ["ring", 3] },
      });
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.deepEqual(body.targets.map((t: { name: string }) => t.name), ["ring", "star"]);
    });
    await t.step("raw image bytes with query options, multipart, and a PNG overlay", async () => {
      const bytes = Uint8Array.from(atob(image), (ch) => ch.charCodeAt(0));
      const raw = await fetch(
        `${base}/v1/saliency?model=resnet50_synthetic&method=linear-approx&layers=layer4&classes=ring`,
        { method: "POST", headers: { "content-type": "image/png" }, body: bytes },
      );
      assert.equal(raw.status, 200);
      const rawBody = await raw.json();
      assert.deepEqual(rawBody.targets.map((t: { name: string }) => t.name), ["ring"]);
      const form = new FormData();
      form.append("image", new Blob([bytes], { type: "image/png" }), "x.png");
      form.append("model", "resnet50_synthetic");
      form.append("method", "linear-approx");
      form.append("layers", "layer4");
      form.append("classes", "ring");
      const multi = await fetch(`${base}/v1/saliency`, { method: "POST", body: form });
      assert.equal(multi.status, 200);
      const multiBody = await multi.json();
      assert.equal(multiBody.maps[0].data, rawBody.maps[0].data, "same map whichever way the image came");
      /** A Grad-CAM request for the PNG overlay with these overlay options. */
      const overlayPost = (options: Record<string, unknown>) =>
        fetch(`${base}/v1/saliency`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "image/png" },
          body: JSON.stringify({
            image,
            model: "resnet50_synthetic",
            method: "grad-cam",
            layers: ["layer4"],
            overlay: options,
          }),
        });
      const overlay = await overlayPost({ alpha: 0.7, colormap: "viridis" });
      assert.equal(overlay.status, 200);
      assert.equal(overlay.headers.get("content-type"), "image/png");
      const png = new Uint8Array(await overlay.arrayBuffer());
      const { decodeImage } = await import("../lib/image/decode.ts");
      const decoded = decodeImage(png);
      assert.deepEqual([decoded.width, decoded.height], [300, 200]);
      const badMap = await overlayPost({ colormap: "jet" });
      assert.equal(badMap.status, 400);
      assert.match((await badMap.json()).error.message, /overlay.colormap/);
      const wrongType = await fetch(`${base}/v1/saliency`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: "hi",
      });
      assert.equal(wrongType.status, 415);
      assert.match((await wrongType.json()).error.message, /multipart\/form-data/);
      const noImage = new FormData();
      noImage.append("model", "resnet50_synthetic");
      const missing = await fetch(`${base}/v1/saliency`, { method: "POST", body: noImage });
      assert.equal(missing.status, 400);
      assert.match((await missing.json()).error.message, /"image" file/);
    });
    await t.step("a client that disconnects cancels its request: the busy worker is replaced", async () => {
      const before = await (await fetch(`${base}/metrics`)).text();
      const restarts = (text: string) => Number(/retrace_worker_restarts_total (\d+)/.exec(text)![1]);
      const controller = new AbortController();
      const slow = post2(controller.signal, {
        image,
        model: "resnet50_synthetic",
        method: "contrastive-excitation",
        layers: ["input", "layer1", "layer2", "layer3", "layer4"],
        targets: { topK: 12 },
        meta: { sign: "positive", eta: 0.0001 },
      });
      // abort once the request is computing (the worker is busy), not after a guessed delay
      await waitFor(
        "the slow request to reach the worker",
        async () => /retrace_workers_busy 1\n/.test(await (await fetch(`${base}/metrics`)).text()),
      );
      controller.abort();
      await assert.rejects(slow);
      const after = await waitFor("the busy worker to be replaced", async () => {
        const n = restarts(await (await fetch(`${base}/metrics`)).text());
        return n > restarts(before) ? n : undefined;
      });
      assert.equal(after, restarts(before) + 1);
      const again = await post({
        image,
        model: "resnet50_synthetic",
        method: "gradient",
        layers: ["layer4"],
      });
      assert.equal(again.status, 200, "the replacement worker serves the next request");
      await again.body?.cancel();
    });
    await t.step("bad input: status and a message that says what to fix", async () => {
      const cases: [unknown, number, string, RegExp][] = [
        [
          { image, model: "nope", method: "gradient", layers: ["layer4"] },
          404,
          "unknown_model",
          /available: .*resnet50_synthetic/,
        ],
        [
          { image, model: "resnet50_synthetic", method: "magic", layers: ["layer4"] },
          400,
          "unknown_method",
          /valid: gradient/,
        ],
        [
          { image, model: "resnet50_synthetic", method: "gradient", layers: ["layer9"] },
          400,
          "unknown_layer",
          /layer9/,
        ],
        [
          {
            image,
            model: "resnet50_synthetic",
            method: "gradient",
            layers: ["layer4"],
            targets: { classes: ["zebra"] },
          },
          400,
          "unknown_class",
          /zebra.*circle/,
        ],
        [
          {
            image: btoa("not an image"),
            model: "resnet50_synthetic",
            method: "gradient",
            layers: ["layer4"],
          },
          400,
          "bad_image",
          /JPEG, PNG/,
        ],
        [
          { model: "resnet50_synthetic", method: "gradient", layers: ["layer4"] },
          400,
          "invalid_request",
          /image/,
        ],
        [
          { image, model: "resnet50_synthetic", method: "gradient", layers: [] },
          400,
          "invalid_request",
          /layers/,
        ],
        [
          { image, model: "resnet50_synthetic", method: "gradient", layers: ["layer4"], classes: ["star"] },
          400,
          "unknown_field",
          /unknown field "classes": it belongs in targets: \{"targets": \{"classes"/,
        ],
        [
          {
            image: await pngBase64(600, 600),
            model: "resnet50_synthetic",
            method: "gradient",
            layers: ["layer4"],
          },
          413,
          "image_too_large",
          /360000 pixels; the limit is 200000/,
        ],
      ];
      for (const [body, status, code, message] of cases) {
        const res = await post(body);
        const json = await res.json();
        assert.equal(res.status, status, JSON.stringify(json));
        assert.equal(json.error.code, code);
        assert.match(json.error.message, message);
      }
      const notJson = await fetch(`${base}/v1/saliency`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{",
      });
      assert.equal(notJson.status, 400);
      assert.equal((await notJson.json()).error.code, "invalid_request");
    });
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});

syntheticTest(
  "POST /v1/caption: caption, per-step log-probabilities, layer, combined and per-word maps",
  async () => {
    const dir = await Deno.makeTempDir();
    const here = (p: string) => new URL(p, import.meta.url).pathname;
    await Deno.symlink(here("../models/resnet50_synthetic"), `${dir}/resnet50_synthetic`);
    await Deno.symlink(here("./fixtures/caption/tiny"), `${dir}/tiny_captioner`);
    const { base, child } = await startServer({ RETRACE_MODELS_DIR: dir });
    const post = (body: unknown) => postJson(`${base}/v1/caption`, body);
    try {
      const image = await pngBase64(120, 90);
      const models = await (await fetch(`${base}/v1/models`)).json();
      assert.deepEqual(
        models.models.map((m: { name: string; kind: string }) => `${m.name}:${m.kind}`).sort(),
        [
          "resnet50_synthetic:classifier",
          "tiny_captioner:captioner",
        ],
      );
      const res = await post({ image, model: "tiny_captioner", beamSize: 2 });
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.words.length, body.tokens.length);
      assert.equal(body.stepLogProbs.length, body.tokens.length + 1);
      assert.ok(Math.abs(body.stepLogProbs.reduce((a: number, b: number) => a + b, 0) - body.logProb) < 1e-3);
      const whole = body.maps.filter((m: { target: number }) => m.target === -1).map((m: { layer: string }) =>
        m.layer
      );
      assert.deepEqual(whole, ["layer3.0", "layer4.0", "layer4", "product/linear"]);
      assert.equal(body.maps.filter((m: { target: number }) => m.target >= 0).length, body.tokens.length);
      const given = await post({ image, model: "tiny_captioner", caption: "a small red star", words: false });
      assert.equal(given.status, 200);
      const g = await given.json();
      assert.equal(g.caption, "a small red star");
      assert.equal(g.maps.length, 4);
      const oov = await post({ image, model: "tiny_captioner", caption: "a small zebra" });
      assert.equal(oov.status, 400);
      assert.match((await oov.json()).error.message, /"zebra" is not in the captioner's vocabulary/);
      const wrong = await post({ image, model: "resnet50_synthetic" });
      assert.equal(wrong.status, 404);
      assert.match((await wrong.json()).error.message, /available: tiny_captioner/);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
);

syntheticTest("bearer token, body limit, request ids and /metrics", async () => {
  const { base, child } = await startServer({ RETRACE_API_KEY: "s3cret", RETRACE_MAX_BODY: "4096" });
  try {
    const noKey = await fetch(`${base}/v1/models`);
    assert.equal(noKey.status, 401);
    assert.match((await noKey.json()).error.message, /Authorization: Bearer/);
    const wrong = await fetch(`${base}/v1/models`, { headers: { authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const ok = await fetch(`${base}/v1/models`, {
      headers: { authorization: "Bearer s3cret", "x-request-id": "abc-123" },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("x-request-id"), "abc-123");
    await ok.body?.cancel();
    assert.equal((await fetch(`${base}/healthz`)).status, 200, "health needs no key");
    const big = await fetch(`${base}/v1/saliency`, {
      method: "POST",
      headers: { authorization: "Bearer s3cret", "content-type": "application/json" },
      body: JSON.stringify({
        image: "A".repeat(10_000),
        model: "resnet50_synthetic",
        method: "gradient",
        layers: ["layer4"],
      }),
    });
    assert.equal(big.status, 413);
    assert.equal((await big.json()).error.code, "body_too_large");
    // a worker still starting its tfjs runtime (slow on a loaded machine) is left out of the live-tensor gauge
    // rather than delaying the scrape: scrape until it has started
    const metrics = await waitFor("the worker to start (its live-tensor gauge in /metrics)", async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return /retrace_worker_live_tensors\{/.test(text) ? text : undefined;
    });
    assert.match(metrics, /retrace_requests_total\{route="\/v1\/models",method="GET",status="200"\} 1/);
    assert.match(metrics, /retrace_requests_total\{route="\/v1\/\*",method="GET",status="401"\} 2/);
    assert.match(metrics, /retrace_request_seconds_bucket\{route="\/v1\/models",method="GET",le="\+Inf"\} 1/);
    assert.match(metrics, /retrace_workers 1\n/);
    assert.match(metrics, /retrace_worker_restarts_total 0/);
    assert.match(metrics, /retrace_worker_live_tensors\{worker="0"\} \d+/);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});
