/**
 * POST /v1/saliency on a webgpu server (Mesa llvmpipe on CPU-only hosts, a real GPU elsewhere) against the same
 * request on a wasm server: the default top-1 target, top-2 and explicit classes give 200 with the same
 * targets, predictions and maps (to float tolerance). Guards the one-pass paths: on wasm the targets are chosen
 * from logits read synchronously inside the saliency pass; tfjs's webgpu backend cannot read synchronously under
 * Deno, so there they are chosen on the device (tf.topk). Ignored where no WebGPU adapter exists.
 */
import assert from "node:assert/strict";
import { CANVAS_PERMITTED } from "./helpers/synthetic_gate.ts";
import { spawnTestServer } from "../tools/spawn_server.ts";
import { pngBase64 } from "./helpers/test_png.ts";
import { relErr } from "./helpers/compare.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;

interface Answer {
  targets: { index: number }[];
  predictions: { index: number; score: number }[];
  maps: { target: number; layer: string; shape: number[]; data: string }[];
}

const floats = (b64: string) => new Float32Array(Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)).buffer);

Deno.test({
  name: "webgpu server: top-1, top-k and class targets answer like the wasm server" +
    (adapter ? "" : " [ignored: no WebGPU adapter]"),
  ignore: !adapter || !CANVAS_PERMITTED,
  sanitizeResources: false, // the canvas addon keeps native resources alive
  fn: async (t) => {
    const [wasm, webgpu] = await Promise.all([
      spawnTestServer({ RETRACE_BACKEND: "wasm" }),
      spawnTestServer({ RETRACE_BACKEND: "webgpu" }),
    ]);
    try {
      assert.equal((await (await fetch(`${webgpu.base}/healthz`)).json()).backend, "webgpu");
      const image = await pngBase64(160, 120);
      const ask = async (base: string, targets?: unknown): Promise<Answer> => {
        const res = await fetch(`${base}/v1/saliency`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            image,
            model: "resnet50_synthetic",
            method: "grad-cam",
            layers: ["layer3", "layer4"],
            ...(targets ? { targets } : {}),
          }),
        });
        const text = await res.text();
        assert.equal(res.status, 200, `${base}: ${text.slice(0, 300)}`);
        return JSON.parse(text);
      };
      for (
        const [name, targets] of [["default (top-1)", undefined], ["top-2", { topK: 2 }], ["classes", {
          classes: ["ring", 3],
        }]] as const
      ) {
        await t.step(name, async () => {
          const [a, b] = [await ask(wasm.base, targets), await ask(webgpu.base, targets)];
          assert.deepEqual(b.targets, a.targets);
          assert.deepEqual(b.predictions.map((p) => p.index), a.predictions.map((p) => p.index));
          assert.equal(b.maps.length, a.maps.length);
          for (const [i, m] of b.maps.entries()) {
            assert.deepEqual([m.target, m.layer, m.shape], [
              a.maps[i].target,
              a.maps[i].layer,
              a.maps[i].shape,
            ]);
            const err = relErr(floats(m.data), floats(a.maps[i].data));
            assert.ok(err < 1e-3, `${m.layer} map of class ${m.target}: relative error ${err}`);
          }
        });
      }
    } finally {
      for (const s of [wasm, webgpu]) {
        s.child.kill("SIGTERM");
        await s.child.status;
      }
    }
  },
});
