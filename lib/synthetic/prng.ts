/**
 * Seeded pseudo-random numbers for the synthetic world.
 *
 * Generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state, 32-bit output), seeded
 * by cyrb128 (a 128-bit string hash) of the key `"<seed>/<split>/<index>/<stream>"`. Every random choice of an
 * image flows from (seed, split, image index) and a named stream ("layout", "background", ...), so an image does
 * not depend on the order in which images are generated, on how many images were generated before it, nor on how
 * many random numbers another stream of the same image consumed.
 *
 * Only 32-bit integer arithmetic and IEEE double division are used, so the sequence is identical on every
 * JavaScript engine.
 */

/** cyrb128: a fast 128-bit non-cryptographic hash of a string, returned as four uint32 words. */
export function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** An sfc32 stream with the sampling helpers the generator needs. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Seeds from four uint32 words; the first 15 outputs are discarded to mix the state. */
  constructor(words: readonly [number, number, number, number]) {
    [this.#a, this.#b, this.#c, this.#d] = words;
    for (let i = 0; i < 15; i++) this.uint32();
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    const a = this.#a, b = this.#b, c = this.#c, d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    const r = (c << 21) | (c >>> 11);
    this.#c = (r + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element, uniformly. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)];
  }

  /** An index drawn with the given (not necessarily normalised) weights. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let u = this.float() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i];
      if (u < 0) return i;
    }
    return weights.length - 1;
  }

  /** Log-uniform in [lo, hi), with the exponent u^skew (skew < 1 favours large values). */
  logUniform(lo: number, hi: number, skew = 1): number {
    return Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * Math.pow(this.float(), skew));
  }
}

/** The stream named `stream` of image `index` of `split` in the world of `seed`. */
export function rngFor(seed: number, split: string, index: number, stream: string): Rng {
  return new Rng(cyrb128(`${seed}/${split}/${index}/${stream}`));
}
