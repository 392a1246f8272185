/**
 * The explainer: one tfjs runtime and the models it has loaded (lazily, on first use). workers/pool.ts runs it in
 * an OS process of its own (workers/process_host.ts serves this `api` through comlink). Errors cross as plain
 * {code, message} objects (ServiceInputError keeps its code).
 */
import * as Comlink from "comlink";
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { type LoadedModel, loadModel } from "../lib/models/load.ts";
import { type CaptionAnswer, type CaptionJob, runCaptionJob } from "../lib/service/caption_job.ts";
import { type Captioner, loadCaptioner } from "../lib/caption/captioner.ts";
import {
  runSaliencyJob,
  type SaliencyAnswer,
  type SaliencyJob,
  ServiceInputError,
} from "../lib/service/saliency_job.ts";
import { runSaliencyJobs } from "../lib/service/saliency_batch.ts";

const models = new Map<string, Promise<LoadedModel>>();
const captioners = new Map<string, Promise<Captioner>>();
let backend = "";

export interface WorkerError {
  code: string;
  message: string;
}

function toWorkerError(e: unknown): WorkerError {
  if (e instanceof ServiceInputError) return { code: e.code, message: e.message };
  return { code: "internal", message: (e as Error)?.message ?? String(e) };
}

export const api = {
  async init(preference: string): Promise<string> {
    const info = await initBackend(parseBackendPreference(preference));
    backend = info.backend;
    return backend;
  },

  async saliency(dir: string, job: SaliencyJob): Promise<SaliencyAnswer | { error: WorkerError }> {
    try {
      if (!models.has(dir)) models.set(dir, loadModel(dir));
      const answer = await runSaliencyJob(await models.get(dir)!, job);
      return Comlink.transfer(answer, answer.maps.map((m) => m.data.buffer as ArrayBuffer));
    } catch (e) {
      return { error: toWorkerError(e) };
    }
  },

  /** Jobs of one batch key run as one pass (lib/service/saliency_batch.ts): per job, its answer or its error. */
  async saliencyBatch(
    dir: string,
    jobs: SaliencyJob[],
  ): Promise<(SaliencyAnswer | { error: WorkerError })[]> {
    try {
      if (!models.has(dir)) models.set(dir, loadModel(dir));
      const answers = (await runSaliencyJobs(await models.get(dir)!, jobs)).map((a) =>
        a instanceof ServiceInputError ? { error: toWorkerError(a) } : a
      );
      const buffers = answers.flatMap((a) =>
        "error" in a ? [] : a.maps.map((m) => m.data.buffer as ArrayBuffer)
      );
      return Comlink.transfer(answers, buffers);
    } catch (e) {
      const error = toWorkerError(e);
      return jobs.map(() => ({ error }));
    }
  },

  async caption(dir: string, job: CaptionJob): Promise<CaptionAnswer | { error: WorkerError }> {
    try {
      if (!captioners.has(dir)) captioners.set(dir, loadCaptioner(dir));
      const answer = await runCaptionJob(await captioners.get(dir)!, job);
      return Comlink.transfer(answer, answer.maps.map((m) => m.data.buffer as ArrayBuffer));
    } catch (e) {
      return { error: toWorkerError(e) };
    }
  },

  tensors(): number {
    return tf.memory().numTensors;
  },

  /** For tests of the pool: die the way a crashed worker does (an uncaught error). */
  crash(): void {
    setTimeout(() => {
      throw new Error("deliberate worker crash");
    }, 0);
  },

  /** For tests of the pool: never answer (a hung computation). */
  hang(): Promise<never> {
    return new Promise(() => {});
  },
};

export type ExplainerApi = typeof api;
void backend;
