/**
 * Several saliency requests run as one pass (the service's dynamic batching, workers/batcher.ts): jobs that ask
 * the same of the same model (method, layers, seed, meta-saliency, combination; lib/service/batch_key.ts) but
 * for their own images and targets. Each image is decoded and checked on its own (a bad one is that job's
 * ServiceInputError, the others go on); one forward of all images gives every job's scores and so its targets;
 * one saliency pass runs every (image, target) row; every map of every job comes back in one read. Rows are
 * independent (meta-saliency steps each row on its own), so each job's answer is the one runSaliencyJob gives
 * it alone (tests/saliency_batch_test.ts), timings aside.
 */
import type { DecodedImage } from "../image/decode.ts";
import { toInputTensor } from "../image/preprocess.ts";
import type { LoadedModel } from "../models/load.ts";
import { type Tensor, tf } from "../runtime/tf.ts";
import { readTogether } from "../runtime/read_together.ts";
import { runProbed } from "../nets/probes.ts";
import { UnknownLayerError } from "../nets/errors.ts";
import { metaSaliency } from "../saliency/meta.ts";
import { computeSaliency, type SaliencyResult } from "../saliency/saliency.ts";
import { SaliencyInputError } from "../saliency/errors.ts";
import { resizeMap } from "../saliency/postprocess.ts";
import { methodRequest, releaseRequest } from "../models/method_request.ts";
import { batchKey } from "./batch_key.ts";
import {
  answerLayers,
  checkJob,
  classScores,
  combineJobMaps,
  completenessOf,
  decodeUpload,
  drawOverlay,
  inputErrorCode,
  type MapOut,
  mapsOf,
  resolveTargets,
  type SaliencyAnswer,
  type SaliencyJob,
  ServiceInputError,
  topPredictions,
} from "./saliency_job.ts";

interface Live {
  index: number;
  job: SaliencyJob;
  image: DecodedImage;
  layers: string[];
  input: Tensor;
  scores?: Float32Array;
  targets?: number[];
  /** This job's first row in the saliency batch. */
  start?: number;
}

/** Runs jobs of one batch key on a loaded classifier: per job, its answer or its ServiceInputError. */
export async function runSaliencyJobs(
  model: LoadedModel,
  jobs: readonly SaliencyJob[],
): Promise<(SaliencyAnswer | ServiceInputError)[]> {
  const keys = new Set(jobs.map(batchKey));
  if (keys.size > 1) throw new Error("internal: a batch of jobs that ask different things");
  const { manifest, net, weights } = model;
  const out: (SaliencyAnswer | ServiceInputError)[] = new Array(jobs.length);
  const guard = <T>(index: number, f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      if (e instanceof ServiceInputError) out[index] = e;
      else throw e;
    }
  };
  const t0 = performance.now();
  const live: Live[] = [];
  try {
    jobs.forEach((job, index) =>
      guard(index, () => {
        const image = decodeUpload(job.image, job.maxPixels);
        const layers = checkJob(model, job);
        const input = toInputTensor(image, manifest.inputSize, manifest.preprocess);
        live.push({ index, job, image, layers, input });
      })
    );
    if (live.length === 0) return out;
    const t1 = performance.now();
    // every job's scores from one forward of all images, and its targets from them
    const k = manifest.numClasses;
    const stacked = live.length === 1 ? live[0].input : tf.concat(live.map((l) => l.input));
    try {
      const probed = runProbed(net, weights, stacked);
      const logits = await probed.output.data() as Float32Array;
      probed.dispose();
      const per = logits.length / live.length;
      for (const [j, l] of live.entries()) {
        l.scores = classScores(manifest, logits.subarray(j * per, j * per + k));
        l.targets = guard(l.index, () => resolveTargets(l.job.targets, manifest.classes, l.scores!));
      }
    } finally {
      if (stacked !== live[0].input) stacked.dispose();
    }
    const t2 = performance.now();
    const answer = (l: Live, maps: MapOut[], saliencyMs: number): SaliencyAnswer => ({
      image: { width: l.image.width, height: l.image.height },
      targets: l.targets!.map((t) => ({ index: t, name: manifest.classes[t] })),
      predictions: topPredictions(manifest, l.scores!),
      maps,
      timings: { decodeMs: t1 - t0, forwardMs: t2 - t1, saliencyMs },
    });
    const withOverlay = (l: Live, a: SaliencyAnswer) =>
      guard(l.index, () => {
        out[l.index] = l.job.overlay
          ? { ...a, maps: [], overlay: drawOverlay(l.image, a.maps, l.job.overlay) }
          : a;
      });
    // jobs with targets get rows; one with none (nothing predicted present) has nothing to explain
    let rows = 0;
    const explained = live.filter((l) => l.targets !== undefined && out[l.index] === undefined);
    for (const l of explained) {
      if (l.targets!.length === 0) withOverlay(l, answer(l, [], 0));
      else (l.start = rows, rows += l.targets!.length);
    }
    const busy = explained.filter((l) => l.targets!.length > 0);
    if (busy.length === 0) return out;
    const { seed, meta, combine } = busy[0].job;
    const layers = busy[0].layers;
    const batch = tf.tidy(() => tf.concat(busy.map((l) => tf.tile(l.input, [l.targets!.length, 1, 1, 1]))));
    let result: SaliencyResult;
    const request = methodRequest(busy[0].job, manifest, layers, {
      kind: seed ?? "pointing",
      targets: busy.flatMap((l) => l.targets!),
    });
    try {
      result = meta
        ? metaSaliency(net, weights, batch, request, meta)
        : computeSaliency(net, weights, batch, request);
    } catch (e) {
      if (!(e instanceof SaliencyInputError || e instanceof UnknownLayerError)) throw e;
      for (const l of busy) out[l.index] = new ServiceInputError(inputErrorCode(e), e.message);
      return out;
    } finally {
      tf.dispose(batch);
      releaseRequest(request);
    }
    const owned: Tensor[] = [];
    try {
      const names = answerLayers(layers, combine);
      const entries = busy.map((l) => {
        const n = l.targets!.length;
        const mine = (layer: string) => {
          const m = result.maps.get(layer)!;
          if (busy.length === 1) return m;
          const s = tf.slice(m, [l.start!, 0, 0, 0], [n, -1, -1, -1]);
          owned.push(s);
          return s;
        };
        const sized = (m: Tensor) => {
          if (l.job.resize !== "image" && !l.job.overlay) return m;
          const r = resizeMap(m, [l.image.height, l.image.width]);
          owned.push(r);
          return r;
        };
        const list: [string, Tensor][] = layers.map((layer, i) => [names[i], sized(mine(layer))]);
        if (combine) {
          const c = combineJobMaps(manifest, layers, mine, combine);
          owned.push(c);
          list.push([names.at(-1)!, sized(c)]);
        }
        return list;
      });
      const values = await readTogether(entries.flat().map(([, m]) => m));
      const gaps = result.completenessGap
        ? await completenessOf(result.completenessGap, busy.flatMap((l) => l.targets!))
        : null;
      const t3 = performance.now();
      let at = 0;
      busy.forEach((l, j) => {
        const mine = values.slice(at, at += entries[j].length);
        const a = answer(l, mapsOf(entries[j], mine, l.targets!), t3 - t2);
        // completenessOf lists layer by layer, every row in each: this member's rows of each layer
        if (gaps) {
          const perLayer = gaps.length / layers.length;
          a.completeness = layers.flatMap((_, li) =>
            gaps.slice(li * perLayer + l.start!, li * perLayer + l.start! + l.targets!.length)
          );
        }
        withOverlay(l, a);
      });
    } finally {
      tf.dispose(owned);
      result.dispose();
    }
    return out;
  } finally {
    tf.dispose(live.map((l) => l.input));
  }
}
