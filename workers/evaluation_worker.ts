/**
 * A module worker that runs one evaluation with its own tfjs runtime: the pointing game (lib/eval/pointing_run.ts)
 * or, for kind "faithfulness", the faithfulness metrics (lib/eval/faithfulness_run.ts),
 * reporting every progress event through a comlink callback. The results file makes it resumable: a job restarted
 * after a crash or a server restart continues where its file ends. When the synthetic world is asked for and
 * missing, its test split is generated first. Cancel = the pool side terminates this worker. For the Redis
 * scale-out it runs one shard (with tallies in its progress events) and counts a dataset's images.
 */
import * as Comlink from "comlink";
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { evalBatchSize } from "../lib/eval/eval_batch.ts";
import { type LoadedModel, loadModel } from "../lib/models/load.ts";
import { centrePointer, saliencyPointer } from "../lib/eval/pointers.ts";
import { DatasetMismatchError, runPointingGame } from "../lib/eval/pointing_run.ts";
import { runFaithfulness } from "../lib/eval/faithfulness_run.ts";
import type { EvaluationEvent } from "../lib/eval/merge_results.ts";
import { inputOnlyMethod } from "../lib/service/check_evaluation.ts";
import type { Shard } from "../lib/eval/results_file.ts";
import { parseManifest } from "../lib/models/manifest.ts";
import { parseDifficultFlags } from "../lib/eval/difficult_flags.ts";
import { datasetKeys, type DatasetSource } from "../lib/eval/pointing_samples.ts";
import { resolveLayers } from "../lib/nets/paper_layers.ts";
import {
  type EvaluationSpec,
  faithfulnessPairs,
  type FaithfulnessSpec,
} from "../lib/service/evaluation_spec.ts";
import { ensureSyntheticWorld } from "../lib/synthetic/ensure.ts";
import type { MethodOptions } from "../lib/models/method_request.ts";

export interface ResolvedDataset {
  source: Omit<DatasetSource, "difficultFlags">;
  flagsPath?: string;
  /** Generate the synthetic world's test split here first (lib/synthetic/ensure.ts) when it has no manifest.json. */
  generateSyntheticAt?: string;
}

/** What a shard run adds (workers/redis/shard_consumer.ts). */
export interface RunExtras {
  shard?: Shard;
  withTallies?: boolean;
  expectImages?: number;
}

/** The model of the last run, kept for the next one (a shard consumer's worker runs many shards). */
let cached: { dir: string; model: LoadedModel } | null = null;

async function modelAt(dir: string): Promise<LoadedModel> {
  if (cached?.dir !== dir) {
    cached?.model.weights.dispose();
    cached = { dir, model: await loadModel(dir) };
  }
  return cached.model;
}

/** A spec's method options; faithfulness.riseMasks (the older form) is rise.masks. */
function methodOptionsOf(spec: EvaluationSpec): MethodOptions {
  const { integratedGradients, occlusion, noise } = spec;
  const masks = spec.faithfulness?.riseMasks;
  const rise = spec.rise ?? (masks ? { masks } : undefined);
  return Object.fromEntries(
    Object.entries({ integratedGradients, rise, occlusion, noise }).filter(([, v]) => v !== undefined),
  );
}

const api = {
  /** The number of images an evaluation of `dataset` with `limit` covers (before sharding). */
  async count(modelDir: string, dataset: ResolvedDataset, limit?: number): Promise<number> {
    const manifest = parseManifest(await Deno.readTextFile(`${modelDir}/manifest.json`));
    const keys = await datasetKeys(dataset.source, manifest.classes);
    return limit === undefined ? keys.length : Math.min(limit, keys.length);
  },

  async run(
    backend: string,
    modelDir: string,
    dataset: ResolvedDataset,
    spec: EvaluationSpec,
    resultsPath: string,
    onEvent: (ev: EvaluationEvent | { type: "status"; message: string }) => void,
    extras: RunExtras = {},
  ): Promise<{ refused?: string }> {
    const { backend: running } = await initBackend(parseBackendPreference(backend));
    const batch = evalBatchSize(running);
    if (dataset.generateSyntheticAt) {
      const exists = await Deno.stat(`${dataset.generateSyntheticAt}/manifest.json`).then(
        () => true,
        () => false,
      );
      if (!exists) {
        await onEvent({ type: "status", message: "generating the synthetic test split (first use)" });
        await ensureSyntheticWorld(dataset.generateSyntheticAt);
      }
    }
    const model = await modelAt(modelDir);
    const source: DatasetSource = { ...dataset.source };
    if (dataset.flagsPath) {
      source.difficultFlags = parseDifficultFlags(
        await Deno.readTextFile(dataset.flagsPath),
        model.manifest.classes.length,
        dataset.flagsPath,
      );
    }
    const layers = resolveLayers(spec.layers, model.manifest.arch, model.manifest.probeLayers);
    const methodOptions = methodOptionsOf(spec);
    const run = (): AsyncGenerator<EvaluationEvent> => {
      if (spec.kind === "faithfulness") {
        const f: Partial<FaithfulnessSpec> = spec.faithfulness ?? {};
        return runFaithfulness({
          model,
          source,
          methods: faithfulnessPairs(spec.methods, layers, inputOnlyMethod),
          metrics: f.metrics,
          step: f.step,
          road: f.road,
          methodOptions,
          describe: { model: model.manifest.name, spec },
          limit: spec.limit,
          resultsPath,
          ...extras,
        });
      }
      const pointer = spec.centre ? centrePointer() : saliencyPointer(model, {
        methods: spec.methods,
        layers,
        combinations: spec.combinations,
        meta: spec.meta,
        methodOptions,
      });
      return runPointingGame({
        source,
        classes: model.manifest.classes,
        pointer,
        describe: { model: model.manifest.name, spec },
        limit: spec.limit,
        resultsPath,
        batch,
        ...extras,
      });
    };
    try {
      for await (const ev of run()) await onEvent(ev);
    } catch (e) {
      if (e instanceof DatasetMismatchError) return { refused: e.message };
      throw e;
    }
    return {};
  },
};

export type EvaluationApi = typeof api;
Comlink.expose(api);
