/**
 * Caption search over the decoder (lib/caption/decoder.ts) for ONE image's pooled feature [1, C]: greedy (the
 * most likely word at each step) and beam search (each step keeps the `beamSize` best extensions by total
 * log-probability; an extension by <eos> finishes its caption; after `maxLength` words <eos> is forced; the search
 * stops once the best finished caption scores at least every live one, which then cannot overtake it; the best
 * finished caption by total log-probability wins, no length normalisation; ties go to the lower token id).
 * Returns token ids (without <eos>) and the per-step log-probabilities (one per word, plus the <eos> step).
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Decoder, LstmState } from "./decoder.ts";

export interface CaptionHypothesis {
  tokens: number[];
  /** log p of each word and of the final <eos>. */
  stepLogProbs: number[];
  logProb: number;
}

export interface SearchOptions {
  maxLength: number;
  beamSize?: number;
}

export class CaptionSearchError extends Error {
  override name = "CaptionSearchError";
}

function checkOptions(pooled: Tensor, options: SearchOptions): void {
  if (pooled.rank !== 2 || pooled.shape[0] !== 1) {
    throw new CaptionSearchError(
      `caption search takes one image's pooled feature [1, C], got [${pooled.shape}]`,
    );
  }
  if (!Number.isInteger(options.maxLength) || options.maxLength < 1 || options.maxLength > 100) {
    throw new CaptionSearchError(`maxLength must be an integer in 1..100, got ${options.maxLength}`);
  }
  const b = options.beamSize ?? 1;
  if (!Number.isInteger(b) || b < 1 || b > 20) {
    throw new CaptionSearchError(`beamSize must be an integer in 1..20, got ${options.beamSize}`);
  }
}

interface Beam {
  tokens: number[];
  stepLogProbs: number[];
  logProb: number;
}

/** Beam search (beamSize 1 = greedy). */
export async function beamSearch(
  decoder: Decoder,
  pooled: Tensor,
  options: SearchOptions,
): Promise<CaptionHypothesis> {
  checkOptions(pooled, options);
  const width = options.beamSize ?? 1;
  let state: LstmState = tf.tidy(() => {
    const s = decoder.start(pooled);
    return { h: tf.keep(s.h), c: tf.keep(s.c) };
  });
  let beams: Beam[] = [{ tokens: [], stepLogProbs: [], logProb: 0 }];
  const finished: Beam[] = [];
  try {
    for (let t = 0; t <= options.maxLength && beams.length > 0; t++) {
      const inputs = beams.map((b) => b.tokens.at(-1) ?? 0);
      const next = tf.tidy(() => {
        const s = decoder.step(decoder.embedTokens(inputs), state);
        return { h: tf.keep(s.h), c: tf.keep(s.c), lp: tf.keep(decoder.logProbs(s.h)) };
      });
      const lp = await next.lp.data() as Float32Array;
      next.lp.dispose();
      const v = decoder.vocabSize;
      const candidates: { beam: number; token: number; score: number }[] = [];
      beams.forEach((b, i) => {
        const forceEnd = t === options.maxLength;
        for (let k = 0; k < v; k++) {
          if (forceEnd && k !== 0) continue;
          candidates.push({ beam: i, token: k, score: b.logProb + lp[i * v + k] });
        }
      });
      candidates.sort((a, b) => b.score - a.score || a.beam - b.beam || a.token - b.token);
      const kept: { beam: number; token: number; score: number }[] = [];
      for (const c of candidates.slice(0, width)) {
        const b = beams[c.beam];
        const step = lp[c.beam * v + c.token];
        if (c.token === 0) {
          finished.push({ tokens: b.tokens, stepLogProbs: [...b.stepLogProbs, step], logProb: c.score });
        } else kept.push(c);
      }
      const rows = kept.map((c) => c.beam);
      const old = state;
      state = rows.length
        ? tf.tidy(() => {
          const idx = tf.tensor1d(rows, "int32");
          return { h: tf.keep(tf.gather(next.h, idx)), c: tf.keep(tf.gather(next.c, idx)) };
        })
        : { h: tf.keep(tf.zeros([0, decoder.hidden])), c: tf.keep(tf.zeros([0, decoder.hidden])) };
      tf.dispose([old.h, old.c, next.h, next.c]);
      beams = kept.map((c) => ({
        tokens: [...beams[c.beam].tokens, c.token],
        stepLogProbs: [...beams[c.beam].stepLogProbs, lp[c.beam * v + c.token]],
        logProb: c.score,
      }));
      // Log-probabilities only fall: once the best finished caption beats every live one, it is the answer.
      const bestDone = Math.max(...finished.map((f) => f.logProb));
      if (beams.every((b) => b.logProb <= bestDone)) break;
    }
  } finally {
    tf.dispose([state.h, state.c]);
  }
  finished.sort((a, b) => b.logProb - a.logProb);
  const best = finished[0];
  return { tokens: best.tokens, stepLogProbs: best.stepLogProbs, logProb: best.logProb };
}

/** Greedy decoding: beam search of width 1. */
export function greedyCaption(
  decoder: Decoder,
  pooled: Tensor,
  maxLength: number,
): Promise<CaptionHypothesis> {
  return beamSearch(decoder, pooled, { maxLength, beamSize: 1 });
}
