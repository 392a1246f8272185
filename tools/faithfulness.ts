/**
 * `deno task faithfulness`: faithfulness metrics for saliency methods on a dataset split from the command line
 * (lib/eval/faithfulness_run.ts: RISE's deletion and insertion, Grad-CAM++'s Average Drop / Increase in
 * Confidence, ROAD, the energy-based pointing game), with a progress line, a resumable results file and a
 * Markdown + JSON report with the mean curves as PNG plots. Defaults: the shipped ResNet50 on the synthetic test
 * split, deletion, insertion and confidence.
 *
 *   deno task faithfulness --methods grad-cam@layer4,linear-approx@layer4,selective-normgrad@layer4,rise@input \
 *     --metrics deletion,insertion,confidence,road,energy --limit 50 --rise-masks 1000 \
 *     --report docs/reports/2026-12-05
 *
 * --method-options takes a saliency request's method options as JSON (e.g. '{"noise": {"kind": "smoothgrad"}}').
 * A method is name@layer ("input" = the image). The results file (default results/faithfulness-<model>.jsonl)
 * is resumed when it holds the same run. Backend: RETRACE_BACKEND (auto|webgpu|wasm|cpu).
 */
import { parseArgs } from "node:util";
import { loadModel } from "../lib/models/load.ts";
import { initBackend } from "../lib/runtime/backend.ts";
import { type FaithfulnessResult, type MethodAt, runFaithfulness } from "../lib/eval/faithfulness_run.ts";
import { FAITHFULNESS_METRICS, type FaithfulnessMetric } from "../lib/eval/faithfulness_record.ts";
import { writeFaithfulnessReport } from "../lib/eval/faithfulness_report.ts";
import { progressLine } from "./progress.ts";
import { checkMethodOptionsFor, MethodOptionsArgError, parseMethodOptionsArg } from "./method_options_arg.ts";

const USAGE = `usage: deno task faithfulness [--model DIR] [--format voc|coco] [--root DIR] [--split NAME]
  [--methods m@layer,...] [--metrics deletion,insertion,confidence,road,energy] [--limit N] [--step PIXELS]
  [--road-fractions F,...] [--road-noise SIGMA] [--rise-masks N] [--method-options JSON] [--results FILE]
  [--report DIR]`;

class UsageError extends Error {}

function methodsAt(text: string): MethodAt[] {
  return text.split(",").map((s) => s.trim()).filter(Boolean).map((item) => {
    const at = item.lastIndexOf("@");
    if (at <= 0) {
      throw new UsageError(`--methods ${item}: expected method@layer (e.g. grad-cam@layer4, rise@input)`);
    }
    const layer = item.slice(at + 1);
    return { method: item.slice(0, at), layer: layer === "input" ? "" : layer };
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string", default: "models/resnet50_synthetic" },
      format: { type: "string", default: "voc" },
      root: { type: "string" },
      split: { type: "string" },
      methods: { type: "string", default: "grad-cam@layer4,linear-approx@layer4,selective-normgrad@layer4" },
      metrics: { type: "string", default: "deletion,insertion,confidence" },
      limit: { type: "string" },
      step: { type: "string" },
      "road-fractions": { type: "string" },
      "road-noise": { type: "string" },
      "rise-masks": { type: "string" },
      "method-options": { type: "string" },
      results: { type: "string" },
      report: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const format = values.format;
  if (format !== "voc" && format !== "coco") {
    throw new UsageError(`--format must be voc or coco, got ${format}`);
  }
  const positive = (name: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`--${name} must be a positive integer, got ${text}`);
    }
    return n;
  };
  const limit = positive("limit", values.limit);
  const step = positive("step", values.step);
  const riseMasks = positive("rise-masks", values["rise-masks"]);
  const methods = methodsAt(values.methods);
  const given = parseMethodOptionsArg(values["method-options"]);
  if (riseMasks && given?.rise) {
    throw new UsageError("--rise-masks: RISE's masks are in --method-options too");
  }
  const methodOptions = { ...given, ...(riseMasks ? { rise: { masks: riseMasks } } : {}) };
  if (riseMasks && !methods.some((m) => m.method === "rise")) {
    throw new UsageError("--rise-masks: applies to method rise, which --methods lacks");
  }
  checkMethodOptionsFor(methodOptions, methods.map((m) => m.method), false);
  const metrics = values.metrics.split(",").map((m) => m.trim()).filter(Boolean);
  const unknown = metrics.filter((m) => !(FAITHFULNESS_METRICS as readonly string[]).includes(m));
  if (unknown.length || metrics.length === 0) {
    throw new UsageError(
      `--metrics: one or more of ${FAITHFULNESS_METRICS.join(", ")}; got ${values.metrics}`,
    );
  }
  const fractions = values["road-fractions"]?.split(",").map(Number);
  if (fractions && fractions.some((f) => !(f > 0 && f < 1))) {
    throw new UsageError(`--road-fractions: numbers in (0, 1), got ${values["road-fractions"]}`);
  }
  const noise = values["road-noise"] === undefined ? undefined : Number(values["road-noise"]);
  if (noise !== undefined && !(noise >= 0)) {
    throw new UsageError(`--road-noise must be >= 0, got ${values["road-noise"]}`);
  }
  const root = values.root ?? (format === "voc" ? "data/synthetic/VOCdevkit/VOC2007" : "data/synthetic/coco");
  const split = values.split ?? (format === "voc" ? "test" : "test2014");
  const backend = await initBackend();
  const model = await loadModel(values.model);
  const results = values.results ?? `results/faithfulness-${model.manifest.name}.jsonl`;
  await Deno.mkdir(results.split("/").slice(0, -1).join("/") || ".", { recursive: true });
  const started = performance.now();
  let result: FaithfulnessResult | null = null;
  for await (
    const event of runFaithfulness({
      model,
      source: { format, root, split },
      methods,
      metrics: metrics as FaithfulnessMetric[],
      limit,
      step,
      road: { fractions, noise },
      methodOptions,
      describe: { model: model.manifest.name },
      resultsPath: results,
    })
  ) {
    if (event.type === "problem") console.error(`\n${event.key}: ${event.message}`);
    if (event.type === "done") result = event.result;
    if (event.type !== "image") continue;
    const line = progressLine({ ...event, accuracy: {} });
    Deno.stderr.writeSync(new TextEncoder().encode(line));
  }
  console.error("");
  if (!result) throw new Error("the run ended without a result");
  const base = values.report
    ? `${values.report}/faithfulness-${model.manifest.name}`
    : results.replace(/\.jsonl$/, "");
  if (values.report) await Deno.mkdir(values.report, { recursive: true });
  await writeFaithfulnessReport(base, result, `Faithfulness: ${model.manifest.name}`, [
    `dataset: ${format} ${root} split ${split}${limit ? `, first ${limit} images` : ""}`,
    `target: the model's top class; maps resized to the input (${model.manifest.inputSize.join("x")})`,
    `metrics: ${metrics.join(", ")}`,
    `step: ${step ?? model.manifest.inputSize[1]} pixels; deletion to zeros, insertion from RISE's blur`,
    ...(metrics.includes("road")
      ? [`ROAD: fractions ${JSON.stringify(result.config.road)}; noisy linear imputation`]
      : []),
    ...(metrics.includes("energy") ? ["energy: every class of the image the pointing game counts"] : []),
    `probability: ${model.manifest.multiLabel ? "sigmoid (multi-label model)" : "softmax"}`,
    ...(riseMasks ? [`rise: ${riseMasks} masks (TorchRay's default 8000)`] : []),
    ...(given ? [`method options: ${JSON.stringify(given)}`] : []),
    `backend: ${backend.backend}; ${((performance.now() - started) / 1000).toFixed(0)} s`,
  ]);
  console.log(`${base}.md`);
  return 0;
}

try {
  Deno.exit(await main());
} catch (e) {
  if (e instanceof UsageError || e instanceof MethodOptionsArgError) {
    console.error(`${e.message}\n${USAGE}`);
    Deno.exit(2);
  }
  throw e;
}
