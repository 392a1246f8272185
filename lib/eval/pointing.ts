/**
 * The pointing game's scoring core (METHODS.md §8): the point is the first maximum of the map in row-major order
 * (lib/saliency/postprocess.ts firstArgmax); a hit when the OPEN disc of radius 15 px around it meets the
 * ground-truth region Ω (some (r, q) ∈ Ω with (r − y)² + (q − x)² < 15²); VOC boxes are 1-based inclusive;
 * per-class hits and misses, skipped pairs counted in neither; accuracy = mean over ALL classes of
 * hits / max(hits + misses, 1). Tallies are plain counts, so shards merge by addition.
 */

export const POINTING_TOLERANCE = 15;

export interface Point {
  /** Column. */
  x: number;
  /** Row. */
  y: number;
}

/** A VOC box: 1-based inclusive pixel coordinates, as in Annotations/*.xml. */
export interface VocBox {
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

/** Ω as a row-major H×W 0/1 mask: the union of the boxes (converted to 0-based rows ymin−1 … ymax−1). */
export function boxesMask(boxes: readonly VocBox[], width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (const b of boxes) {
    const [x0, x1] = [Math.max(0, b.xmin - 1), Math.min(width - 1, b.xmax - 1)];
    const [y0, y1] = [Math.max(0, b.ymin - 1), Math.min(height - 1, b.ymax - 1)];
    for (let y = y0; y <= y1; y++) mask.fill(1, y * width + x0, y * width + x1 + 1);
  }
  return mask;
}

/** Whether the open disc of radius `tolerance` around `point` meets the mask (row-major, width × height). */
export function pointingHit(
  mask: Uint8Array,
  width: number,
  height: number,
  point: Point,
  tolerance = POINTING_TOLERANCE,
): boolean {
  const t2 = tolerance * tolerance;
  const reach = Math.ceil(tolerance);
  for (let r = Math.max(0, point.y - reach); r <= Math.min(height - 1, point.y + reach); r++) {
    const dy = r - point.y;
    for (let q = Math.max(0, point.x - reach); q <= Math.min(width - 1, point.x + reach); q++) {
      const dx = q - point.x;
      if (dy * dy + dx * dx < t2 && mask[r * width + q]) return true;
    }
  }
  return false;
}

/** The centre baseline's point: (floor(W / 2), floor(H / 2)). */
export function centrePoint(width: number, height: number): Point {
  return { x: Math.floor(width / 2), y: Math.floor(height / 2) };
}

/** Per-class hit and miss counts; mergeable across shards. */
export class PointingTally {
  readonly hits: number[];
  readonly misses: number[];

  constructor(readonly numClasses: number, hits?: number[], misses?: number[]) {
    this.hits = hits ?? new Array(numClasses).fill(0);
    this.misses = misses ?? new Array(numClasses).fill(0);
    if (this.hits.length !== numClasses || this.misses.length !== numClasses) {
      throw new RangeError(`a tally of ${numClasses} classes needs ${numClasses} hit and miss counts`);
    }
  }

  /** Records one image/class pair: true = hit, false = miss, null = skipped (counted in neither). */
  record(classIndex: number, outcome: boolean | null): void {
    if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= this.numClasses) {
      throw new RangeError(`class index ${classIndex} outside 0..${this.numClasses - 1}`);
    }
    if (outcome === null) return;
    if (outcome) this.hits[classIndex]++;
    else this.misses[classIndex]++;
  }

  /** A new tally with both counts added (shards of one run). */
  merge(other: PointingTally): PointingTally {
    if (other.numClasses !== this.numClasses) {
      throw new RangeError("cannot merge tallies of different class counts");
    }
    return new PointingTally(
      this.numClasses,
      this.hits.map((h, k) => h + other.hits[k]),
      this.misses.map((m, k) => m + other.misses[k]),
    );
  }

  /** Per-class accuracies hits / max(hits + misses, 1). */
  classAccuracies(): number[] {
    return this.hits.map((h, k) => h / Math.max(h + this.misses[k], 1));
  }

  /** The reported accuracy: the mean over all classes (a class with no pairs contributes 0). */
  accuracy(): number {
    return this.classAccuracies().reduce((a, b) => a + b, 0) / this.numClasses;
  }

  toJSON(): { hits: number[]; misses: number[] } {
    return { hits: [...this.hits], misses: [...this.misses] };
  }

  static fromJSON(json: { hits: number[]; misses: number[] }): PointingTally {
    return new PointingTally(json.hits.length, [...json.hits], [...json.misses]);
  }
}
