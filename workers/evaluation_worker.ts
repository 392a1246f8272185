/**
 * A module worker that runs one pointing-game evaluation (lib/eval/pointing_run.ts) with its own tfjs runtime,
 * reporting every progress event through a comlink callback. The results file makes it resumable: a job restarted
 * after a crash or a server restart continues where its file ends. When the synthetic world is asked for and
 * missing, its test split is generated first. Cancel = the pool side terminates this worker.
 */
import * as Comlink from "comlink";
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { loadModel } from "../lib/models/load.ts";
import { centrePointer, saliencyPointer } from "../lib/eval/pointers.ts";
import { type PointingEvent, runPointingGame } from "../lib/eval/pointing_run.ts";
import { parseDifficultFlags } from "../lib/eval/difficult_flags.ts";
import type { DatasetSource } from "../lib/eval/pointing_samples.ts";
import { resolveLayers } from "../lib/nets/paper_layers.ts";
import type { EvaluationSpec } from "../lib/service/evaluation_spec.ts";
import { ensureSyntheticWorld } from "../lib/synthetic/ensure.ts";

export interface ResolvedDataset {
  source: Omit<DatasetSource, "difficultFlags">;
  flagsPath?: string;
  /** Generate the synthetic world's test split here first (lib/synthetic/ensure.ts) when it has no manifest.json. */
  generateSyntheticAt?: string;
}

const api = {
  async run(
    backend: string,
    modelDir: string,
    dataset: ResolvedDataset,
    spec: EvaluationSpec,
    resultsPath: string,
    onEvent: (ev: PointingEvent | { type: "status"; message: string }) => void,
  ): Promise<void> {
    await initBackend(parseBackendPreference(backend));
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
    const model = await loadModel(modelDir);
    const source: DatasetSource = { ...dataset.source };
    if (dataset.flagsPath) {
      source.difficultFlags = parseDifficultFlags(
        await Deno.readTextFile(dataset.flagsPath),
        model.manifest.classes.length,
        dataset.flagsPath,
      );
    }
    const layers = resolveLayers(spec.layers, model.manifest.arch, model.manifest.probeLayers);
    const pointer = spec.centre ? centrePointer() : saliencyPointer(model, {
      methods: spec.methods,
      layers,
      combinations: spec.combinations,
      meta: spec.meta,
    });
    for await (
      const ev of runPointingGame({
        source,
        classes: model.manifest.classes,
        pointer,
        describe: { model: model.manifest.name, spec },
        limit: spec.limit,
        resultsPath,
      })
    ) {
      await onEvent(ev);
    }
    model.weights.dispose();
  },
};

export type EvaluationApi = typeof api;
Comlink.expose(api);
