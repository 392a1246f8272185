/**
 * `deno task eval`: the pointing game (METHODS.md §8) from the command line, with a progress bar, a resumable
 * results file and JSON + Markdown reports. Defaults: the shipped ResNet50 on the synthetic test split (VOC layout,
 * the world's EBP flag file), every method at every paper layer.
 *
 *   deno task eval                                   # sweep: all methods x paper layers
 *   deno task eval --methods grad-cam,linear-approx --layers layer3,layer4 --combine all --limit 200
 *   deno task eval --centre                          # the centre baseline
 *   deno task eval --shard 2/4 --results r2.jsonl    # shard 2 of 4 (1-based); rerun the same line to resume
 *   deno task eval --merge r1.jsonl r2.jsonl r3.jsonl r4.jsonl --report out/   # merge shards into one report
 *   deno task eval --format coco --root /data/coco --split val2014 --model models/x   # real COCO 2014
 *
 * The results file (default results/pointing-<model>-<hash of the options>.jsonl) is resumed when it exists:
 * killing the run at any moment loses at most the image in flight. Reports go next to it (.md, .json).
 * Backend: RETRACE_BACKEND (auto|webgpu|wasm|cpu).
 */
import { parseArgs } from "node:util";
import { loadModel } from "../lib/models/load.ts";
import { initBackend } from "../lib/runtime/backend.ts";
import { PAPER_METHODS } from "../lib/saliency/methods.ts";
import { COMBINE_MODES, WEIGHT_SCHEMES } from "../lib/saliency/combine.ts";
import { resolveLayers } from "../lib/nets/paper_layers.ts";
import { centrePointer, type Combination, type Pointer, saliencyPointer } from "../lib/eval/pointers.ts";
import { type PointingResult, runPointingGame, summarise } from "../lib/eval/pointing_run.ts";
import type { DatasetSource } from "../lib/eval/pointing_samples.ts";
import { parseDifficultFlags } from "../lib/eval/difficult_flags.ts";
import { mergeResultsFiles } from "../lib/eval/results_file.ts";
import { markdownReport } from "../lib/eval/report.ts";
import { META_ETA, type MetaSign } from "../lib/saliency/meta.ts";
import { progressLine } from "./progress.ts";
import { checkMethodOptionsFor, MethodOptionsArgError, parseMethodOptionsArg } from "./method_options_arg.ts";
import { evalBatchSize } from "../lib/eval/eval_batch.ts";

const USAGE = `usage: deno task eval [--model DIR] [--format voc|coco] [--root DIR] [--split NAME]
  [--difficult-flags FILE|rule] [--methods all|m1,m2] [--layers paper|l1,l2 ("input" = the image)]
  [--combine all|mode:weights,...] [--meta positive|negative] [--meta-eta X] [--centre] [--method-options JSON]
  [--shard I/N] [--limit N] [--batch auto|N] [--results FILE] [--report DIR] [--merge FILE...]`;

class UsageError extends Error {}

function list(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

function combinations(text: string | undefined): Combination[] {
  if (!text) return [];
  if (text === "all") {
    return COMBINE_MODES.flatMap((mode) => WEIGHT_SCHEMES.map((weights) => ({ mode, weights })));
  }
  return list(text).map((item) => {
    const [mode, weights] = item.split(":");
    if (
      !(COMBINE_MODES as readonly string[]).includes(mode) ||
      !(WEIGHT_SCHEMES as readonly string[]).includes(weights)
    ) {
      throw new UsageError(
        `--combine ${item}: expected mode:weights with mode in ${COMBINE_MODES.join("|")} and weights in ${
          WEIGHT_SCHEMES.join("|")
        }`,
      );
    }
    return { mode, weights } as Combination;
  });
}

async function sha8(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...d.slice(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function writeReports(base: string, result: PointingResult, title: string, seconds?: number) {
  await Deno.writeTextFile(`${base}.json`, JSON.stringify({ ...result, seconds }, null, 1) + "\n");
  await Deno.writeTextFile(`${base}.md`, markdownReport(result, title, seconds));
  console.log(`reports: ${base}.md, ${base}.json`);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      model: { type: "string", default: "models/resnet50_synthetic" },
      format: { type: "string", default: "voc" },
      root: { type: "string" },
      split: { type: "string" },
      "difficult-flags": { type: "string" },
      methods: { type: "string", default: "all" },
      layers: { type: "string", default: "paper" },
      combine: { type: "string" },
      meta: { type: "string" },
      "meta-eta": { type: "string" },
      centre: { type: "boolean", default: false },
      "method-options": { type: "string" },
      shard: { type: "string", default: "1/1" },
      limit: { type: "string" },
      batch: { type: "string" },
      results: { type: "string" },
      report: { type: "string" },
      merge: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.merge) {
    if (positionals.length === 0) throw new UsageError("--merge needs the shards' results files");
    const state = await mergeResultsFiles(positionals);
    const result = summarise(state, { index: 0, count: 1 });
    const base = values.report
      ? `${values.report}/merged`
      : positionals[0].replace(/\.jsonl$/, "") + ".merged";
    if (values.report) await Deno.mkdir(values.report, { recursive: true });
    await writeReports(base, result, `Pointing game (${positionals.length} shards merged)`);
    return 0;
  }
  const format = values.format;
  if (format !== "voc" && format !== "coco") {
    throw new UsageError(`--format must be voc or coco, got ${format}`);
  }
  const synthetic = values.root === undefined;
  const root = values.root ?? (format === "voc" ? "data/synthetic/VOCdevkit/VOC2007" : "data/synthetic/coco");
  const split = values.split ?? (format === "voc" ? "test" : synthetic ? "test2014" : "val2014");
  const shardMatch = /^(\d+)\/(\d+)$/.exec(values.shard);
  if (!shardMatch || +shardMatch[1] < 1 || +shardMatch[1] > +shardMatch[2]) {
    throw new UsageError(`--shard must be I/N with 1 <= I <= N, got ${values.shard}`);
  }
  const shard = { index: +shardMatch[1] - 1, count: +shardMatch[2] };
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new UsageError(`--limit must be a positive integer, got ${values.limit}`);
  }

  const backend = await initBackend();
  const model = await loadModel(values.model);
  const classes = model.manifest.classes;
  let flagsPath = values["difficult-flags"];
  if (flagsPath === undefined && synthetic) {
    flagsPath = format === "voc"
      ? `data/synthetic/ebp_difficult/voc07_${split}.txt`
      : `data/synthetic/ebp_difficult/coco_${split}.txt`;
  }
  const source: DatasetSource = { format, root, split };
  if (flagsPath && flagsPath !== "rule") {
    source.difficultFlags = parseDifficultFlags(
      await Deno.readTextFile(flagsPath),
      classes.length,
      flagsPath,
    );
  }

  let pointer: Pointer;
  let describe: Record<string, unknown>;
  if (values.centre) {
    if (values["method-options"] !== undefined) {
      throw new UsageError("--method-options: --centre computes no maps");
    }
    pointer = centrePointer();
    describe = { pointer: "centre" };
  } else {
    // "all" is the paper's sweep; the methods beyond it (many passes per map, some at the input only) by name
    const methods = values.methods === "all"
      ? PAPER_METHODS.map((m) => m.name).filter((m) => m !== "normgrad-exact")
      : list(values.methods);
    const layers = resolveLayers(
      values.layers === "paper" ? "paper" : list(values.layers),
      model.manifest.arch,
      model.manifest.probeLayers,
    );
    let meta: { sign: MetaSign; eta: number } | undefined;
    if (values.meta !== undefined) {
      if (values.meta !== "positive" && values.meta !== "negative") {
        throw new UsageError(`--meta must be positive or negative, got ${values.meta}`);
      }
      const eta = values["meta-eta"] === undefined ? META_ETA.pointing : Number(values["meta-eta"]);
      if (!(eta >= 0)) throw new UsageError(`--meta-eta must be a number >= 0, got ${values["meta-eta"]}`);
      meta = { sign: values.meta, eta };
    }
    const combos = combinations(values.combine);
    const methodOptions = parseMethodOptionsArg(values["method-options"]);
    if (methodOptions) checkMethodOptionsFor(methodOptions, methods, meta !== undefined);
    pointer = saliencyPointer(model, { methods, layers, combinations: combos, meta, methodOptions });
    describe = {
      pointer: "saliency",
      methods,
      layers,
      combinations: combos,
      meta: meta ?? null,
      ...(methodOptions ? { methodOptions } : {}),
    };
  }
  describe = { model: model.manifest.name, ...describe };
  const hash = await sha8(JSON.stringify({ describe, format, split, flagsPath, limit, shard }));
  const results = values.results ?? `results/pointing-${model.manifest.name}-${hash}.jsonl`;
  await Deno.mkdir(results.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  let batch: number;
  try {
    batch = evalBatchSize(backend.backend, values.batch ?? Deno.env.get("RETRACE_EVAL_BATCH") ?? "auto");
  } catch (e) {
    throw new UsageError(`--batch / ${(e as Error).message}`);
  }
  console.error(
    `backend ${backend.backend} (${backend.reason}); model ${model.manifest.name}; ${batch} image${
      batch > 1 ? "s" : ""
    } per pass; results ${results}`,
  );

  const started = performance.now();
  const tty = Deno.stderr.isTerminal();
  let lastLine = 0;
  let result: PointingResult | null = null;
  for await (
    const ev of runPointingGame({
      source,
      classes,
      pointer,
      describe,
      shard,
      limit,
      resultsPath: results,
      batch,
    })
  ) {
    if (ev.type === "start") {
      console.error(`${ev.total} images in this shard, ${ev.done} already in the results file`);
    } else if (ev.type === "image") {
      if (tty) Deno.stderr.writeSync(new TextEncoder().encode(progressLine(ev)));
      else if (performance.now() - lastLine > 10_000 || ev.done === ev.total) {
        lastLine = performance.now(); // not a terminal: a plain line every 10 s
        console.error(progressLine(ev).slice(1).trimEnd());
      }
    } else if (ev.type === "problem") {
      console.error(`\nskipped ${ev.key}: ${ev.message}`);
    } else {
      result = ev.result;
    }
  }
  console.error("");
  const seconds = (performance.now() - started) / 1000;
  const base = values.report
    ? `${values.report}/${results.replace(/^.*\//, "").replace(/\.jsonl$/, "")}`
    : results.replace(/\.jsonl$/, "");
  if (values.report) await Deno.mkdir(values.report, { recursive: true });
  await writeReports(base, result!, `Pointing game: ${model.manifest.name}, ${format} ${split}`, seconds);
  model.weights.dispose();
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  const usage = e instanceof UsageError || e instanceof MethodOptionsArgError;
  console.error(usage ? `${(e as Error).message}\n${USAGE}` : `error: ${(e as Error).message}`);
  code = usage ? 2 : 1;
}
// Exit explicitly: tearing down an isolate that used @napi-rs/canvas and tfjs-wasm heavily can crash Deno 2.9.6.
Deno.exit(code);
