/**
 * One caption request as the service runs it inside a worker: admit and decode the image (size and structure
 * checked before any pixel buffer exists, lib/image/admission.ts), caption it (greedy or beam) or
 * take the caller's caption (an out-of-vocabulary word is a ServiceInputError naming it), and explain it: maps of
 * the whole caption's log-probability at each layer, their product combination with linear weights, and, if asked,
 * one combined map per word (all words in one batched pass). Maps are raw Float32Arrays at layer resolution; the
 * combinations at the network's input size.
 */
import type { Rasterizer } from "../image/decode.ts";
import { toInputTensor } from "../image/preprocess.ts";
import { type Tensor, tf } from "../runtime/tf.ts";
import {
  type Captioner,
  CaptionInputError,
  detokenize,
  pooledFeature,
  tokenize,
} from "../caption/captioner.ts";
import { CAPTION_LAYERS, combineCaptionMaps, explainCaption } from "../caption/explain.ts";
import { beamSearch, CaptionSearchError } from "../caption/search.ts";
import { SaliencyInputError } from "../saliency/errors.ts";
import { UnknownLayerError } from "../nets/errors.ts";
import {
  checkMethod,
  decodeUpload,
  inputErrorCode,
  type MapOut,
  readMaps,
  ServiceInputError,
} from "./saliency_job.ts";

export interface CaptionJob {
  image: Uint8Array;
  /** A caption to explain instead of generating one. */
  caption?: string;
  beamSize: number;
  method: string;
  layers: string[];
  words: boolean;
  maxPixels: number;
}

export interface CaptionAnswer {
  caption: string;
  tokens: number[];
  /** log p of each word and of <eos>. */
  stepLogProbs: number[];
  logProb: number;
  /** target = -1 for the whole caption; for per-word maps, target = the word position. */
  maps: MapOut[];
  timings: { decodeMs: number; captionMs: number; explainMs: number };
}

function mapsOf(result: Map<string, Tensor>, labels: string[], targets: number[]): Promise<MapOut[]> {
  return readMaps(labels.map((label) => [label, result.get(label)!] as const), targets);
}

/** Runs one caption job. `rasterize` replaces the canvas decoder (tests). */
export async function runCaptionJob(
  captioner: Captioner,
  job: CaptionJob,
  rasterize?: Rasterizer,
): Promise<CaptionAnswer> {
  const t0 = performance.now();
  const image = decodeUpload(job.image, job.maxPixels, rasterize);
  checkMethod(job.method);
  const { manifest } = captioner;
  const input = toInputTensor(image, manifest.inputSize, manifest.preprocess);
  try {
    const t1 = performance.now();
    let tokens: number[];
    let stepLogProbs: number[];
    let logProb: number;
    try {
      if (job.caption !== undefined) {
        tokens = tokenize(captioner, job.caption);
        const pooled = pooledFeature(captioner, input);
        const lp = tf.tidy(() => captioner.decoder.tokenLogProbs(pooled, tokens));
        stepLogProbs = Array.from(await lp.data());
        tf.dispose([pooled, lp]);
        logProb = stepLogProbs.reduce((a, b) => a + b, 0);
      } else {
        const pooled = pooledFeature(captioner, input);
        try {
          ({ tokens, stepLogProbs, logProb } = await beamSearch(captioner.decoder, pooled, {
            maxLength: manifest.decoder.maxLength,
            beamSize: job.beamSize,
          }));
        } finally {
          pooled.dispose();
        }
      }
    } catch (e) {
      if (e instanceof CaptionInputError || e instanceof CaptionSearchError) {
        throw new ServiceInputError("bad_caption", e.message);
      }
      throw e;
    }
    const t2 = performance.now();
    const maps: MapOut[] = [];
    if (tokens.length > 0) {
      const layers = job.layers.length ? job.layers : [...CAPTION_LAYERS];
      try {
        captioner.net.assertLayers(layers);
      } catch (e) {
        throw new ServiceInputError("unknown_layer", (e as UnknownLayerError).message);
      }
      const explain = (positions?: number[]) => {
        try {
          return explainCaption(captioner, input, { tokens, positions, method: job.method, layers });
        } catch (e) {
          if (e instanceof SaliencyInputError || e instanceof UnknownLayerError) {
            throw new ServiceInputError(inputErrorCode(e), e.message);
          }
          if (e instanceof CaptionInputError) throw new ServiceInputError("bad_caption", e.message);
          throw e;
        }
      };
      const whole = explain();
      try {
        const combined = combineCaptionMaps(whole, layers, manifest.inputSize);
        const all = new Map([...whole.maps, ["product/linear", combined]]);
        maps.push(...await mapsOf(all, [...layers, "product/linear"], [-1]));
        combined.dispose();
      } finally {
        whole.dispose();
      }
      if (job.words) {
        const positions = tokens.map((_, i) => i);
        const perWord = explain(positions);
        try {
          const combined = combineCaptionMaps(perWord, layers, manifest.inputSize);
          maps.push(...await mapsOf(new Map([["product/linear", combined]]), ["product/linear"], positions));
          combined.dispose();
        } finally {
          perWord.dispose();
        }
      }
    }
    const t3 = performance.now();
    return {
      caption: detokenize(captioner, tokens),
      tokens,
      stepLogProbs,
      logProb,
      maps,
      timings: { decodeMs: t1 - t0, captionMs: t2 - t1, explainMs: t3 - t2 },
    };
  } finally {
    input.dispose();
  }
}
