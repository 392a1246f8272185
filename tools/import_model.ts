/**
 * `deno task import-model --onnx FILE --name NAME [--classes FILE] [--mean R,G,B --std R,G,B] [--input-size H,W]
 * [--multi-label] [--out models/NAME]`: checks an ONNX classifier the way the service will run it (reads and plans
 * the graph, loads its weights, runs one forward on a grey image and requires finite logits), then writes
 * models/NAME/ (manifest.json + model.onnx, and any external-data files the graph names) and prints the layers
 * it found with their shapes. A model the service cannot run is refused here, naming the op or attribute.
 * Classes: a text file with one name per line, or a JSON array; default class_0 .. class_{K-1}. Normalisation
 * defaults to ImageNet's.
 */
import { parseArgs } from "node:util";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { OnnxModelError } from "../lib/nets/onnx/read_model.ts";
import { planGraph } from "../lib/nets/onnx/graph_forward.ts";
import { loadOnnxGraph, outputShape, readOnnxFile } from "../lib/nets/onnx/onnx_network.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { type LayerInfo, layerTorchShape } from "../lib/nets/shape_ops.ts";

const USAGE =
  "usage: deno task import-model --onnx FILE --name NAME [--classes FILE] [--mean R,G,B --std R,G,B] " +
  "[--input-size H,W] [--multi-label] [--out models/NAME]";

export class UsageError extends Error {
  override name = "UsageError";
}

function triple(text: string | undefined, flag: string, fallback: number[]): number[] {
  if (text === undefined) return fallback;
  const v = text.split(",").map(Number);
  if (v.length !== 3 || v.some((x) => !Number.isFinite(x))) {
    throw new UsageError(`${flag} takes R,G,B numbers, got ${text}`);
  }
  return v;
}

function readClasses(path: string): string[] {
  const text = Deno.readTextFileSync(path);
  const list = text.trim().startsWith("[")
    ? JSON.parse(text)
    : text.split("\n").map((l) => l.trim()).filter(Boolean);
  if (!Array.isArray(list) || list.some((c) => typeof c !== "string" || !c)) {
    throw new UsageError(`${path}: classes must be one name per line or a JSON array of names`);
  }
  return list;
}

export interface ImportResult {
  /** A trailing Softmax / LogSoftmax that was dropped (retrace explains the logits). */
  droppedOutputOp?: string;
  dir: string;
  manifest: Record<string, unknown>;
  layers: LayerInfo[];
  /** Convs the exporter folded a BatchNorm into (their weights renamed onnx::Conv_*). */
  foldedConvs: number;
}

export async function importModel(argv: string[]): Promise<ImportResult> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      onnx: { type: "string" },
      name: { type: "string" },
      classes: { type: "string" },
      mean: { type: "string" },
      std: { type: "string" },
      "input-size": { type: "string" },
      "multi-label": { type: "boolean", default: false },
      out: { type: "string" },
    },
  });
  if (!values.onnx || !values.name) throw new UsageError(USAGE);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(values.name)) {
    throw new UsageError(
      `--name must be 1-64 letters, digits, '_', '.' or '-', got ${JSON.stringify(values.name)}`,
    );
  }
  const source = values.onnx;
  const srcDir = source.includes("/") ? source.slice(0, source.lastIndexOf("/")) : ".";
  const graph = readOnnxFile(source);
  const declared = graph.inputs[0]?.dims ?? [];
  let inputSize: [number, number];
  if (values["input-size"]) {
    const v = values["input-size"].split(",").map(Number);
    if (v.length !== 2 || v.some((x) => !Number.isInteger(x) || x < 1)) {
      throw new UsageError(`--input-size takes H,W positive integers, got ${values["input-size"]}`);
    }
    inputSize = [v[0], v[1]];
  } else if (typeof declared[2] === "number" && typeof declared[3] === "number") {
    inputSize = [declared[2], declared[3]];
  } else {
    throw new UsageError("the graph's input height and width are not fixed: give --input-size H,W");
  }
  // The class count is what the graph outputs.
  const plan = planGraph(graph, source);
  const out = outputShape(plan.forward, inputSize);
  if (out.length !== 2) {
    throw new OnnxModelError(`${source}: the output is [${out}] for one image; a classifier gives [1, K]`);
  }
  const numClasses = out[1];
  const classes = values.classes
    ? readClasses(values.classes)
    : Array.from({ length: numClasses }, (_, i) => `class_${i}`);
  if (classes.length !== numClasses) {
    throw new UsageError(`${values.classes}: ${classes.length} classes, but the model outputs ${numClasses}`);
  }
  const mean = triple(values.mean, "--mean", [0.485, 0.456, 0.406]);
  const std = triple(values.std, "--std", [0.229, 0.224, 0.225]);
  if (std.some((s) => s <= 0)) throw new UsageError("--std values must be positive");

  // Run it as the service will.
  await initBackend("wasm");
  const { net, weights } = loadOnnxGraph(graph, { numClasses, inputSize, source }); // the file is read once
  try {
    const logits = tf.tidy(() => {
      const x = tf.zeros([1, inputSize[0], inputSize[1], 3]);
      const r = runProbed(net, weights, x);
      const v = r.output.dataSync().slice();
      r.dispose();
      return v;
    });
    if (!logits.every(Number.isFinite)) {
      throw new OnnxModelError(`${source}: a forward gave non-finite logits`);
    }
  } finally {
    weights.dispose();
  }
  const layers = net.layers();
  const topLevel = layers.filter((l) => l.name && !l.name.includes(".") && l.shape.length === 4).map((l) =>
    l.name
  );

  const dir = values.out ?? `models/${values.name}`;
  Deno.mkdirSync(dir, { recursive: true });
  Deno.copyFileSync(source, `${dir}/model.onnx`);
  for (const f of graph.externalFiles) Deno.copyFileSync(`${srcDir}/${f}`, `${dir}/${f}`);
  const manifest = {
    name: values.name,
    arch: "onnx",
    width: 1,
    numClasses,
    classes,
    head: "classifier",
    multiLabel: values["multi-label"],
    inputSize,
    preprocess: {
      resize: "bilinear, align_corners=false, no antialias, to inputSize",
      scale: 1 / 255,
      mean,
      std,
    },
    probeLayers: topLevel,
    weights: { file: "model.onnx", dtype: "onnx" },
    imported: { from: source.split("/").at(-1), opset: graph.opset, at: new Date().toISOString() },
  };
  Deno.writeTextFileSync(`${dir}/manifest.json`, JSON.stringify(manifest, null, 1) + "\n");
  // torch.onnx.export folds a BatchNorm that follows a conv into it and renames the weight onnx::Conv_*
  const foldedConvs =
    graph.nodes.filter((n) => n.opType === "Conv" && /^onnx::/.test(n.inputs[1] ?? "")).length;
  return { dir, manifest, layers, droppedOutputOp: plan.droppedOutputOp, foldedConvs };
}

if (import.meta.main) {
  try {
    const { dir, manifest, layers, droppedOutputOp, foldedConvs } = await importModel(Deno.args);
    if (droppedOutputOp) {
      console.log(
        `note: the graph ends with ${droppedOutputOp}; retrace drops it and explains the logits before it`,
      );
    }
    console.log(
      `imported ${manifest.name} into ${dir}: ${manifest.numClasses} classes, input ${
        (manifest.inputSize as number[]).join("x")
      }, opset ${(manifest.imported as { opset: number }).opset}`,
    );
    if (foldedConvs) {
      console.log(
        `note: ${foldedConvs} convs carry a BatchNorm the exporter folded into them (weights onnx::Conv_*): such ` +
          "a conv's layer is its BatchNorm's output (export with training=TrainingMode.PRESERVE to keep them apart)",
      );
    }
    console.log(`${layers.length} layers (PyTorch module paths; "" = the input):`);
    for (const l of layers) console.log(`  ${l.name || "input"}  [${layerTorchShape(l).join(", ")}]`);
    console.log(
      `"paper" layers for evaluations (manifest probeLayers): ${
        (manifest.probeLayers as string[]).join(", ")
      }`,
    );
  } catch (e) {
    if (e instanceof UsageError || e instanceof OnnxModelError) {
      console.error(`error: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
