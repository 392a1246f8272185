/**
 * The command-line tools' --method-options (tools/method_options_arg.ts): a JSON object of the saliency request's
 * method options, each field's defaults filled in as the API fills them (TorchRay's for RISE, SmoothGrad's for
 * the noise tunnel), refused naming the field and the rule when it is not JSON, has an unknown field or a value
 * out of range, or gives options to a method the run does not have (or a noise tunnel with meta-saliency).
 */
import assert from "node:assert/strict";
import {
  checkMethodOptionsFor,
  MethodOptionsArgError,
  parseMethodOptionsArg,
} from "../tools/method_options_arg.ts";

Deno.test("--method-options: defaults filled in as the API fills them", () => {
  assert.equal(parseMethodOptionsArg(undefined), undefined);
  assert.deepEqual(
    parseMethodOptionsArg('{"rise": {"masks": 500}, "noise": {"kind": "vargrad", "samples": 10}}'),
    {
      rise: { masks: 500, cells: 7, p: 0.5, seed: 0, batch: 32 },
      noise: { kind: "vargrad", samples: 10, sigma: 0.15, seed: 0, batch: 16 },
    },
  );
  assert.deepEqual(parseMethodOptionsArg('{"integratedGradients": {"baseline": "black"}}'), {
    integratedGradients: { steps: 50, quadrature: "gauss-legendre", baseline: "black", batch: 16 },
  });
});

Deno.test("--method-options: refusals name the field and the rule", () => {
  const cases: [string, RegExp][] = [
    ["{nope", /^--method-options is not JSON: /],
    ['{"steps": 5}', /^--method-options \(the object\): unknown field "steps"/],
    ['{"rise": {"mask": 5}}', /^--method-options rise: unknown field "mask"; did you mean "masks"\?/],
    [
      '{"occlusion": {"window": 0}}',
      /^--method-options occlusion\.window: must be an integer in 1\.\.4096, got 0$/,
    ],
    ['{"noise": {"samples": 4}}', /^--method-options noise\.kind: /],
    ["[1]", /^--method-options \(the object\): must be an object/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseMethodOptionsArg(text), (e: Error) => {
      assert.ok(e instanceof MethodOptionsArgError, String(e));
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("--method-options: each for a method of the run, a noise tunnel not with meta-saliency", () => {
  const rise = { masks: 4 };
  checkMethodOptionsFor({ rise }, ["grad-cam", "rise"], false);
  checkMethodOptionsFor({ noise: { kind: "smoothgrad" } }, ["gradient"], false);
  assert.throws(
    () => checkMethodOptionsFor({ rise }, ["grad-cam"], false),
    /^MethodOptionsArgError: --method-options rise: applies to method rise, which --methods lacks$/,
  );
  assert.throws(
    () => checkMethodOptionsFor({ integratedGradients: { steps: 3 } }, ["gradient", "occlusion"], false),
    /integratedGradients: applies to method integrated-gradients/,
  );
  assert.throws(
    () => checkMethodOptionsFor({ noise: { kind: "smoothgrad" } }, ["gradient"], true),
    /noise: a noise tunnel does not combine with --meta/,
  );
});
