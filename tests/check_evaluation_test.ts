/**
 * The evaluation spec checks for kind "faithfulness" (lib/service/check_evaluation.ts) on the shipped ResNet50's
 * manifest: input-only methods pair with the input and the others with every layer asked (faithfulnessPairs by
 * hand); a score-map model, combinations, meta-saliency and the centre baseline are refused naming the field;
 * a conv-only method is checked at the layers it will really run at; faithfulness options on a pointing job are
 * refused. Method options (the saliency request's) are refused for a method the job does not list, a noise
 * tunnel with meta-saliency or the centre, RISE's masks given twice; combinations need a method with layers.
 */
import assert from "node:assert/strict";
import { parseManifest } from "../lib/models/manifest.ts";
import {
  checkEvaluationSpec,
  EvaluationCheckError,
  inputOnlyMethod,
} from "../lib/service/check_evaluation.ts";
import { type EvaluationSpec, faithfulnessPairs } from "../lib/service/evaluation_spec.ts";

const text = await Deno.readTextFile(new URL("../models/resnet50_synthetic/manifest.json", import.meta.url));
const manifest = parseManifest(text);

const spec = (over: Partial<EvaluationSpec>): EvaluationSpec => ({
  kind: "faithfulness",
  model: "resnet50_synthetic",
  dataset: "synthetic",
  methods: ["grad-cam"],
  layers: ["layer4"],
  combinations: [],
  centre: false,
  faithfulness: { metrics: ["deletion"] },
  ...over,
});

function refusedOn(s: EvaluationSpec, m = manifest): EvaluationCheckError {
  try {
    checkEvaluationSpec(s, m);
  } catch (e) {
    assert.ok(e instanceof EvaluationCheckError, String(e));
    return e;
  }
  assert.fail("the spec was accepted");
}

Deno.test("faithfulness pairs: input-only methods at the input, the others at every layer", () => {
  assert.deepEqual(
    faithfulnessPairs(
      ["grad-cam", "rise", "occlusion", "full-grad", "gradient"],
      ["layer3", "layer4"],
      inputOnlyMethod,
    ),
    [
      { method: "grad-cam", layer: "layer3" },
      { method: "grad-cam", layer: "layer4" },
      { method: "rise", layer: "" },
      { method: "occlusion", layer: "" },
      { method: "full-grad", layer: "" },
      { method: "gradient", layer: "layer3" },
      { method: "gradient", layer: "layer4" },
    ],
  );
  checkEvaluationSpec(spec({ methods: ["grad-cam", "rise"] }), manifest); // accepted
});

Deno.test("faithfulness refusals name the field", () => {
  const cases: [Partial<EvaluationSpec>, string, RegExp][] = [
    [{ combinations: [{ mode: "sum", weights: "uniform" }] }, "combinations", /pointing-game job only/],
    [
      { meta: { sign: "positive", eta: 1e-4 } },
      "meta",
      /^meta: meta-saliency is in a pointing-game job only/,
    ],
    [{ centre: true }, "centre", /^centre: /],
    [{ kind: "pointing" }, "faithfulness", /for kind "faithfulness"; this job is a pointing game/],
    [{ kind: undefined }, "faithfulness", /this job is a pointing game/],
  ];
  for (const [over, field, message] of cases) {
    const e = refusedOn(spec(over));
    assert.equal(e.field, field);
    assert.match(e.message, message);
  }
  const scoreMaps = refusedOn(spec({}), { ...manifest, head: "fully-conv" });
  assert.equal(scoreMaps.field, "model");
  assert.match(scoreMaps.message, /head "fully-conv"\); the faithfulness metrics need a classifier/);
  // normgrad-exact runs at conv modules: "layer4" (a block) is refused, and so it is in a pointing job
  const exact = refusedOn(spec({ methods: ["normgrad-exact"] }));
  assert.equal(exact.field, "layers");
  assert.match(exact.message, /"layer4" is not a conv module/);
});

Deno.test("method options: each for a method the job lists, a noise tunnel for all but not with meta", () => {
  const pointing = (over: Partial<EvaluationSpec>) =>
    spec({ kind: "pointing", faithfulness: undefined, ...over });
  const rise = { masks: 100 };
  const noise = { kind: "smoothgrad" as const, samples: 4 };
  // accepted: each option with its method, noise with any method, in both kinds
  checkEvaluationSpec(spec({ methods: ["grad-cam", "rise"], rise, noise }), manifest);
  checkEvaluationSpec(
    pointing({ methods: ["integrated-gradients"], integratedGradients: { steps: 8 } }),
    manifest,
  );
  checkEvaluationSpec(pointing({ methods: ["gradient"], noise }), manifest);
  const cases: [EvaluationSpec, string, RegExp][] = [
    [spec({ rise }), "rise", /^rise: applies to method rise, which methods does not list$/],
    [
      pointing({ methods: ["gradient", "rise"], occlusion: { window: 9 } }),
      "occlusion",
      /^occlusion: applies to method occlusion, which methods does not list$/,
    ],
    [
      pointing({ integratedGradients: { steps: 8 } }),
      "integratedGradients",
      /^integratedGradients: applies to method integrated-gradients/,
    ],
    [
      pointing({ noise, meta: { sign: "positive", eta: 1e-4 } }),
      "noise",
      /^noise: a noise tunnel does not combine with meta-saliency$/,
    ],
    [pointing({ noise, centre: true }), "noise", /^noise: the centre baseline computes no maps/],
    [
      spec({ methods: ["rise"], rise, faithfulness: { metrics: ["deletion"], riseMasks: 50 } }),
      "faithfulness",
      /riseMasks: RISE's masks are also given in rise\.masks; give them once/,
    ],
  ];
  for (const [s, field, message] of cases) {
    const e = refusedOn(s);
    assert.equal(e.field, field, e.message);
    assert.match(e.message, message);
  }
});

Deno.test("a pointing job explains input-only methods at the input: any layers, but something to combine", () => {
  const pointing = (over: Partial<EvaluationSpec>) =>
    spec({ kind: "pointing", faithfulness: undefined, ...over });
  checkEvaluationSpec(pointing({ methods: ["rise", "grad-cam"], layers: "paper" }), manifest);
  checkEvaluationSpec(
    pointing({ methods: ["occlusion", "grad-cam"], combinations: [{ mode: "sum", weights: "uniform" }] }),
    manifest,
  );
  const e = refusedOn(
    pointing({ methods: ["rise", "full-grad"], combinations: [{ mode: "sum", weights: "uniform" }] }),
  );
  assert.equal(e.field, "combinations");
  assert.match(
    e.message,
    /rise, full-grad explain\(s\) the input only; no method here has layers to combine/,
  );
});
