/**
 * `deno task analyse <mode>`: the evaluation's analyses beyond the pointing game, on a model and a VOC-layout
 * split (default: the shipped ResNet50, the synthetic test split), each writing Markdown + JSON (+ PNG) reports:
 *
 *   sensitivity     class sensitivity (METHODS §7): Spearman ρ between the maps of the most and least likely
 *                   class, mean ± std per method and layer, with and without meta-saliency (η = 0.0025)
 *   randomization   cascading randomization (§10): ρ of each stage's map to the original, per method, with and
 *                   without meta-saliency, and a PNG grid of the maps of the first images
 *   identity        the virtual-identity-trick correlations (§11.1, Table S1 shape), true class as target
 *   layer-weights   the combination's "accuracy" (linear-probe mAP) and "spread" weights per layer, measured on
 *                   --train-limit train and --limit val images; --write stores them in the model's manifest
 *   meta-training   meta-saliency over training (supplement D): per saved checkpoint, ρ(meta map, plain map) on
 *                   --limit train and --limit val images, and ρ(checkpoint meta map, final meta map)
 *   figure          PNG grids: methods x layers for chosen images (Fig. 7 shape) and, with --meta, the
 *                   positive / none / negative meta-saliency maps (Fig. 4 shape)
 *
 *   deno task analyse sensitivity --limit 100
 *   deno task analyse randomization --methods linear-approx,selective-normgrad --layer layer4 --limit 20
 *   deno task analyse identity --limit 50
 *   deno task analyse figure --keys 300000,300001 --layers paper
 */
import { parseArgs } from "node:util";
import { loadModel } from "../lib/models/load.ts";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { PAPER_METHODS } from "../lib/saliency/methods.ts";
import { IDENTITY_STUDY_CONVS, resolveLayers } from "../lib/nets/paper_layers.ts";
import { META_ETA } from "../lib/saliency/meta.ts";
import { meanStd } from "../lib/saliency/correlations.ts";
import { meanStdCell, NA_NOTE } from "../lib/eval/report_cells.ts";
import { identityTrickStudy } from "../lib/saliency/identity_study.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import {
  classSensitivityOfImage,
  sensitivityLabels,
  SensitivityTally,
} from "../lib/eval/class_sensitivity.ts";
import { cascadeImage, cascadeStages } from "../lib/eval/randomization.ts";
import { type SplitImage, splitImages } from "../lib/eval/split_images.ts";
import { layerLabel } from "../lib/eval/pointers.ts";
import { type HeatmapCell, heatmapGridPng } from "../lib/image/heatmap_grid.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { metaSaliency } from "../lib/saliency/meta.ts";
import { resizeMap } from "../lib/saliency/postprocess.ts";
import { formatDuration } from "./progress.ts";
import { metaOverTraining } from "../lib/eval/meta_training.ts";
import { loadWeightsFile } from "../lib/nets/weights_io.ts";
import {
  featureSpread,
  linearProbeMap,
  normaliseWeights,
  pooledFeatures,
} from "../lib/eval/layer_weights.ts";

const USAGE =
  `usage: deno task analyse sensitivity|randomization|identity|figure [--model DIR] [--root VOC2007]
  [--split NAME] [--limit N] [--methods all|m1,m2] [--layers paper|l1,l2] [--layer L] [--meta] [--keys k1,k2]
  [--out DIR]`;

class UsageError extends Error {}

const list = (text: string) => text.split(",").map((s) => s.trim()).filter(Boolean);

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ]
    .join("\n");
}

async function main(): Promise<void> {
  const [mode, ...rest] = Deno.args;
  const { values } = parseArgs({
    args: rest,
    options: {
      model: { type: "string", default: "models/resnet50_synthetic" },
      root: { type: "string", default: "data/synthetic/VOCdevkit/VOC2007" },
      split: { type: "string", default: "test" },
      limit: { type: "string", default: "50" },
      methods: { type: "string" },
      layers: { type: "string", default: "paper" },
      layer: { type: "string" },
      meta: { type: "boolean", default: false },
      keys: { type: "string" },
      "train-limit": { type: "string", default: "400" },
      write: { type: "boolean", default: false },
      out: { type: "string", default: "results" },
    },
  });
  if (
    !["sensitivity", "randomization", "identity", "layer-weights", "meta-training", "figure"].includes(mode)
  ) {
    throw new UsageError(`unknown mode ${JSON.stringify(mode ?? "")}`);
  }
  const limit = Number(values.limit);
  if (!(Number.isInteger(limit) && limit > 0)) throw new UsageError(`--limit must be a positive integer`);
  const backend = await initBackend();
  const model = await loadModel(values.model);
  const { manifest, net, weights } = model;
  const layers = resolveLayers(
    values.layers === "paper" ? "paper" : list(values.layers),
    manifest.arch,
    manifest.probeLayers,
  );
  const allMethods = PAPER_METHODS.map((m) => m.name).filter((m) => m !== "normgrad-exact");
  await Deno.mkdir(values.out, { recursive: true });
  const base = `${values.out}/${mode}-${manifest.name}`;
  const started = performance.now();
  const keys = values.keys ? new Set(list(values.keys)) : null;
  const images = async function* (): AsyncGenerator<SplitImage> {
    for await (
      const im of splitImages(values.root, values.split, manifest, {
        limit: keys ? undefined : limit,
        onProblem: (k, m) => console.error(`skipped ${k}: ${m}`),
      })
    ) {
      if (keys && !keys.has(im.key)) {
        im.input.dispose();
        continue;
      }
      yield im;
    }
  };
  const progress = (n: number) => {
    const s = (performance.now() - started) / 1000;
    console.error(`${n} images, ${formatDuration(s)} (${(n / s).toFixed(2)} img/s)`);
  };
  console.error(`backend ${backend.backend}; model ${manifest.name}; ${mode}`);
  let md = "";
  let json: unknown;

  if (mode === "sensitivity") {
    const methods = values.methods && values.methods !== "all" ? list(values.methods) : allMethods;
    const options = { methods, layers, withMeta: true, metaEta: META_ETA.analysis };
    const tally = new SensitivityTally();
    let n = 0;
    for await (const im of images()) {
      tally.add(await classSensitivityOfImage(net, weights, im.input, options));
      im.input.dispose();
      progress(++n);
    }
    const summary = tally.summary();
    const rows = methods.map((m) => [
      m,
      ...layers.flatMap((l) => {
        const label = `${m}@${layerLabel(l)}`;
        return [meanStdCell(summary[label]), meanStdCell(summary[`${label}+meta`])];
      }),
    ]);
    md = `# Class sensitivity: ${manifest.name}, ${values.split} (${n} images)\n\n` +
      "Spearman ρ between the maps of the most and least likely class (lower = more class-sensitive), " +
      "mean ± std; each layer without / with meta-saliency (η = 0.0025).\n\n" +
      table(["method", ...layers.flatMap((l) => [layerLabel(l), `${layerLabel(l)} +meta`])], rows) + "\n";
    json = { images: n, labels: sensitivityLabels(options), summary };
  } else if (mode === "randomization") {
    const methods = values.methods ? list(values.methods) : ["linear-approx", "selective-normgrad"];
    const layer = values.layer ?? (manifest.arch.startsWith("vgg") ? "features.29" : "layer4");
    const stages = cascadeStages(net);
    const fresh = randomWeights(net, 12345);
    const rhos = new Map<string, number[][]>();
    const gridRows: { label: string; cells: HeatmapCell[] }[] = [];
    let n = 0;
    for await (const im of images()) {
      const r = await cascadeImage(net, weights, fresh, im.input, {
        methods,
        layer,
        stages,
        meta: { eta: META_ETA.analysis },
      });
      for (const [label, v] of r.rho) rhos.set(label, [...(rhos.get(label) ?? []), v]);
      if (n < 3) {
        for (const [label, maps] of r.maps) {
          const cells: HeatmapCell[] = [];
          for (const m of maps) {
            cells.push({ map: await m.data(), width: m.shape[2]!, height: m.shape[1]!, image: im.image });
          }
          gridRows.push({ label: `${im.key} ${label}`, cells });
        }
      }
      r.maps.forEach((ms) => tf.dispose(ms));
      im.input.dispose();
      progress(++n);
    }
    fresh.dispose();
    const summary: Record<string, { stage: string; mean: number; std: number }[]> = {};
    for (const [label, perImage] of rhos) {
      summary[label] = stages.map((s, i) => ({
        stage: layerLabel(s),
        ...meanStd(perImage.map((v) => v[i])),
      }));
    }
    md = `# Cascading randomization: ${manifest.name}, maps at ${layer}, ${n} images\n\n` +
      "Spearman ρ between each stage's map and the original map (mean ± std; 1 = unchanged). Stages randomize " +
      "from the logits down to the named layer.\n\n" +
      table(
        ["method", ...stages.map((s) => `to ${layerLabel(s)}`)],
        Object.entries(summary).map(([label, st]) => [label, ...st.map((s) => meanStdCell(s))]),
      ) + `\n\n![maps](${base.replace(/^.*\//, "")}.png)\n`;
    await Deno.writeFile(
      `${base}.png`,
      heatmapGridPng(
        gridRows.map((r) => r.cells),
        gridRows.map((r) => r.label),
        ["original", ...stages.map((s) => `to ${layerLabel(s)}`)],
        112,
      ),
    );
    json = { images: n, layer, stages, summary };
  } else if (mode === "identity") {
    const convs = IDENTITY_STUDY_CONVS[manifest.arch];
    if (!convs) throw new UsageError(`no identity-study layers for ${manifest.arch}`);
    const per = new Map<string, number[]>();
    let n = 0;
    for await (const im of images()) {
      if (im.labels.length > 0) {
        const rows = await identityTrickStudy(net, weights, im.input, [im.labels[0]], convs);
        for (const r of rows) per.set(r.layer, [...(per.get(r.layer) ?? []), ...r.values]);
      }
      im.input.dispose();
      progress(++n);
    }
    const summary = convs.map((l) => ({ layer: l, ...meanStd(per.get(l) ?? []) }));
    md = `# Virtual identity trick: ${manifest.name}, ${n} images\n\n` +
      "Spearman ρ x 100 between NormGrad with the identity trick and the exact conv NormGrad (first true class).\n\n" +
      table(["layer", "correlation"], summary.map((s) => [s.layer, meanStdCell(s, 100)])) + "\n";
    json = { images: n, summary };
  } else if (mode === "meta-training") {
    const methods = values.methods ? list(values.methods) : ["normgrad", "selective-normgrad"];
    const layer = values.layer ?? (manifest.arch.startsWith("vgg") ? "features.29" : "layer4");
    const saved = manifest.checkpoints ?? [];
    if (saved.length === 0) throw new UsageError(`${values.model} has no checkpoints in its manifest`);
    const checkpoints = [];
    for (const c of saved) checkpoints.push(await loadWeightsFile(net, `${values.model}/${c.file}`));
    checkpoints.push(weights);
    const epochs = [...saved.map((c) => String(c.epoch)), "final"];
    const rows: Record<string, { metaVsPlain: number[][]; metaVsFinal: number[][] }> = {};
    for (const split of ["train", "val"]) {
      let n = 0;
      for await (const im of splitImages(values.root, split, manifest, { limit })) {
        for (const method of methods) {
          if (im.labels.length === 0) continue;
          const r = await metaOverTraining(net, checkpoints, im.input, im.labels[0], method, layer);
          const key = `${method} ${split}`;
          rows[key] ??= { metaVsPlain: [], metaVsFinal: [] };
          rows[key].metaVsPlain.push(r.metaVsPlain);
          rows[key].metaVsFinal.push(r.metaVsFinal);
        }
        im.input.dispose();
        progress(++n);
      }
    }
    checkpoints.slice(0, -1).forEach((w) => w.dispose());
    const column = (perImage: number[][], i: number) => meanStd(perImage.map((v) => v[i]));
    const summary = Object.fromEntries(
      Object.entries(rows).map(([k, v]) => [k, {
        metaVsPlain: epochs.map((_, i) => column(v.metaVsPlain, i)),
        metaVsFinal: epochs.map((_, i) => column(v.metaVsFinal, i)),
      }]),
    );
    md =
      `# Meta-saliency over training: ${manifest.name}, maps at ${layer}, ${limit} train + ${limit} val images\n\n` +
      "ρ(meta map, plain map) per checkpoint epoch (η = 0.0025, true class), mean ± std:\n\n" +
      table(
        ["method / split", ...epochs.map((e) => `epoch ${e}`)],
        Object.entries(summary).map(([k, v]) => [k, ...v.metaVsPlain.map((m) => meanStdCell(m))]),
      ) + "\n\nρ(checkpoint's meta map, final meta map):\n\n" +
      table(
        ["method / split", ...epochs.map((e) => `epoch ${e}`)],
        Object.entries(summary).map(([k, v]) => [k, ...v.metaVsFinal.map((m) => meanStdCell(m))]),
      ) + "\n";
    json = { layer, epochs, summary };
  } else if (mode === "layer-weights") {
    const probed = layers.filter((l) => l !== "");
    const collect = async (split: string, n: number) => {
      const feats = new Map<string, Float32Array[]>(probed.map((l) => [l, []]));
      const labels: number[][] = [];
      for await (const im of splitImages(values.root, split, manifest, { limit: n })) {
        const f = await pooledFeatures(net, weights, im.input, probed);
        for (const l of probed) feats.get(l)!.push(f.get(l)!);
        labels.push(im.labels);
        im.input.dispose();
        if (labels.length % 50 === 0) progress(labels.length);
      }
      return { feats, labels };
    };
    const trainLimit = Number(values["train-limit"]);
    const train = await collect("train", trainLimit);
    const val = await collect(values.split === "test" ? "val" : values.split, limit);
    const probeMap: Record<string, number> = {};
    const spread: Record<string, number> = {};
    for (const l of probed) {
      probeMap[l] = await linearProbeMap(
        train.feats.get(l)!,
        train.labels,
        val.feats.get(l)!,
        val.labels,
        manifest.numClasses,
      );
      spread[l] = featureSpread(train.feats.get(l)!);
    }
    const layerWeights = { accuracy: normaliseWeights(probeMap), spread: normaliseWeights(spread) };
    md =
      `# Layer weights: ${manifest.name} (${train.labels.length} train, ${val.labels.length} val images)\n\n` +
      table(
        ["layer", "probe val mAP", "accuracy weight", "spread (mean std)", "spread weight"],
        probed.map((l) => [
          l,
          probeMap[l].toFixed(3),
          layerWeights.accuracy[l].toFixed(4),
          spread[l].toPrecision(4),
          layerWeights.spread[l].toFixed(4),
        ]),
      ) + "\n";
    json = { layerWeights, probeMap, spread, train: train.labels.length, val: val.labels.length };
    if (values.write) {
      const path = `${values.model}/manifest.json`;
      const m = JSON.parse(await Deno.readTextFile(path));
      m.layerWeights = layerWeights;
      m.metrics = {
        ...(m.metrics ?? {}),
        layer_weights: {
          definition: {
            accuracy: "linear-probe val mAP on pooled features, normalised",
            spread: "mean channel std of pooled features across train images, normalised",
          },
          probe_map: probeMap,
          spread,
          train_images: train.labels.length,
          val_images: val.labels.length,
        },
      };
      await Deno.writeTextFile(path, JSON.stringify(m, null, 1) + "\n");
      console.error(`wrote layerWeights into ${path}`);
    }
  } else {
    const methods = values.methods && values.methods !== "all" ? list(values.methods) : allMethods;
    for await (const im of images()) {
      const target = im.labels[0] ?? 0;
      const size: [number, number] = [im.image.height, im.image.width];
      const variants = values.meta ? ["positive", "none", "negative"] as const : ["none"] as const;
      const rows: HeatmapCell[][] = [];
      const labels: string[] = [];
      for (const sign of variants) {
        for (const method of methods) {
          const request = { method, layers, seed: { kind: "pointing" as const, targets: [target] } };
          const r = sign === "none"
            ? computeSaliency(net, weights, im.input, request)
            : metaSaliency(net, weights, im.input, request, { sign, eta: META_ETA.analysis });
          const cells: HeatmapCell[] = [{ image: im.image, width: im.image.width, height: im.image.height }];
          for (const l of layers) {
            const m = resizeMap(r.maps.get(l)!, size);
            cells.push({ map: await m.data(), image: im.image, width: size[1], height: size[0] });
            m.dispose();
          }
          r.dispose();
          rows.push(cells);
          labels.push(sign === "none" ? method : `${method} (${sign} meta)`);
        }
      }
      const png = `${base}-${im.key}.png`;
      await Deno.writeFile(png, heatmapGridPng(rows, labels, ["image", ...layers.map(layerLabel)], 112));
      md += `![${im.key}: ${manifest.classes[target]}](${png.replace(/^.*\//, "")})\n`;
      im.input.dispose();
      console.error(`wrote ${png}`);
    }
    json = { methods, layers };
  }
  const seconds = (performance.now() - started) / 1000;
  if (md.includes("| n/a |")) md += `\n${NA_NOTE}\n`; // any report's table may hold one
  await Deno.writeTextFile(`${base}.md`, md + `\n${formatDuration(seconds)} on ${backend.backend}.\n`);
  await Deno.writeTextFile(`${base}.json`, JSON.stringify({ ...(json as object), seconds }, null, 1) + "\n");
  console.log(`reports: ${base}.md, ${base}.json`);
  weights.dispose();
}

let code = 0;
try {
  await main();
} catch (e) {
  console.error(e instanceof UsageError ? `${e.message}\n${USAGE}` : `error: ${(e as Error).message}`);
  code = e instanceof UsageError ? 2 : 1;
}
Deno.exit(code);
