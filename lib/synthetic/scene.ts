/**
 * Scene sampling: everything random about one image, as plain data (a `SceneSpec`), from (seed, split, index).
 *
 * - Size: width and height each uniform in [300, 500] px (VOC-like).
 * - Objects: 1-4 (P = 0.45 / 0.28 / 0.16 / 0.11), class uniform over the 12 classes, each independently of the
 *   others. Size s (the side of the shape's unrotated box) is log-uniform with a skew towards larger values,
 *   from 20 px to 60% of the image's short side; rotation uniform; aspect jitter 0.9-1.1.
 * - Colour (12 named colours, jittered) and texture (solid, stripes, dots, gradient, checker) are drawn
 *   independently of the class, so neither reveals it. Every object has an inner outline in a shade of its colour.
 * - Placement: with probability 0.55 wholly inside the image, else with the centre anywhere in it (objects near
 *   the border are truncated). A new centre is re-drawn (up to 20 times) if it sits almost on top of an earlier
 *   object's centre; partial overlaps are kept.
 *   Painting order: largest first with probability 0.8 (small objects in front), otherwise random, so occlusion
 *   happens both ways.
 * - About 5% of objects are marked `crowd` (COCO iscrowd = 1, RLE segmentation).
 * - Background: a two-colour linear gradient, a coarse and a fine smooth colour-noise field, soft blobs, thin
 *   lines and short specks, 1-4 distractor strokes (open curves in object-like colours, never filled, never annotated) and per-pixel grain.
 *
 * Each concern reads its own random stream ("layout", "style", "background"), so tuning one does not reshuffle
 * the others. `sampleScene` is pure: the same arguments always give the same spec.
 */

import { SHAPE_CLASSES } from "./classes.ts";
import { COLOUR_NAMES, type ColourName, type Rgb, sampleMutedColour, sampleNamedColour } from "./colours.ts";
import type { Split } from "./ids.ts";
import { type Rng, rngFor } from "./prng.ts";
import { boundingRadius, type Placement } from "./shapes.ts";

export const TEXTURE_KINDS = ["solid", "stripes", "dots", "gradient", "checker"] as const;
export type TextureKind = typeof TEXTURE_KINDS[number];

/** How an object is filled: `angle` in radians, `period` in px, `phase` in [0, 1). */
export interface TextureSpec {
  kind: TextureKind;
  angle: number;
  period: number;
  phase: number;
  /** Stripe width / dot diameter as a fraction of the period. */
  duty: number;
}

export interface ObjectSpec extends Placement {
  classIndex: number;
  colourName: ColourName;
  colour: Rgb;
  texture: TextureSpec;
  /** Inner outline width in px. */
  outline: number;
  crowd: boolean;
}

export interface Blob {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  rotation: number;
  colour: Rgb;
  alpha: number;
}

/** An open polyline or cubic Bezier path: flat points, drawn as a stroke. */
export interface Stroke {
  kind: "line" | "zigzag" | "bezier" | "arc" | "wave";
  points: number[];
  width: number;
  colour: Rgb;
  alpha: number;
}

export interface BackgroundSpec {
  gradient: { from: Rgb; to: Rgb; angle: number };
  /** Low-resolution colour fields (cols x rows RGB), smoothly upscaled over the image: coarse, then fine. */
  noise: { cols: number; rows: number; rgb: number[]; alpha: number }[];
  blobs: Blob[];
  lines: Stroke[];
  distractors: Stroke[];
  /** Per-pixel luminance grain: amplitude (+/- levels) and the seed of its own stream. */
  grain: { amplitude: number; seed: [number, number, number, number] };
}

export interface SceneSpec {
  width: number;
  height: number;
  background: BackgroundSpec;
  /** In painting order (first = back). */
  objects: ObjectSpec[];
}

/** Smallest object size in px. */
export const MIN_OBJECT_SIZE = 20;
/** Largest object size as a fraction of the short side. */
export const MAX_OBJECT_FRACTION = 0.6;
/** Probability that an object is a COCO crowd annotation. */
export const CROWD_PROBABILITY = 0.05;

/** Probability that an object is placed wholly inside the image (else its centre is anywhere in it). */
export const INSIDE_PROBABILITY = 0.55;

export const OBJECT_COUNT_WEIGHTS = [0.45, 0.28, 0.16, 0.11];

function sampleTexture(rng: Rng, size: number): TextureSpec {
  const kind = rng.pick(TEXTURE_KINDS);
  const period = Math.max(4, Math.min(rng.range(5, 16), size / 2.5));
  return { kind, angle: rng.range(0, Math.PI), period, phase: rng.float(), duty: rng.range(0.35, 0.6) };
}

function samplePlacements(rng: Rng, width: number, height: number): Placement[] {
  const n = 1 + rng.weighted(OBJECT_COUNT_WEIGHTS);
  const maxSize = MAX_OBJECT_FRACTION * Math.min(width, height);
  const sizes = Array.from({ length: n }, () => rng.logUniform(MIN_OBJECT_SIZE, maxSize, 0.6));
  if (rng.chance(0.8)) sizes.sort((a, b) => b - a);
  const placed: Placement[] = [];
  for (const size of sizes) {
    const rotation = rng.range(0, 2 * Math.PI);
    const aspect = rng.range(0.9, 1.1);
    let p: Placement = { cx: 0, cy: 0, size, rotation, aspect };
    const r = boundingRadius(p);
    const inside = rng.chance(INSIDE_PROBABILITY) && 2 * r < width && 2 * r < height;
    for (let attempt = 0; attempt < 20; attempt++) {
      p = inside
        ? { cx: rng.range(r, width - r), cy: rng.range(r, height - r), size, rotation, aspect }
        : { cx: rng.range(0, width), cy: rng.range(0, height), size, rotation, aspect };
      const tooClose = placed.some((q) => {
        const d = Math.hypot(p.cx - q.cx, p.cy - q.cy);
        return d < 0.45 * Math.max(r, boundingRadius(q));
      });
      if (!tooClose) break;
    }
    placed.push(p);
  }
  return placed;
}

function sampleStroke(rng: Rng, width: number, height: number, kind: Stroke["kind"]): number[] {
  const x = () => rng.range(-0.05 * width, 1.05 * width);
  const y = () => rng.range(-0.05 * height, 1.05 * height);
  switch (kind) {
    case "line":
      return [x(), y(), x(), y()];
    case "bezier":
      return [x(), y(), x(), y(), x(), y(), x(), y()];
    case "zigzag": {
      const out = [x(), y()];
      const step = rng.range(15, 60);
      let a = rng.range(0, 2 * Math.PI);
      for (let i = 0, n = rng.int(3, 7); i < n; i++) {
        a += (i % 2 === 0 ? 1 : -1) * rng.range(1.6, 2.6);
        out.push(out[out.length - 2] + step * Math.cos(a), out[out.length - 1] + step * Math.sin(a));
      }
      return out;
    }
    case "arc": {
      const cx = x(), cy = y(), r = rng.range(20, 0.4 * Math.min(width, height));
      const from = rng.range(0, 2 * Math.PI), span = rng.range(0.6, 2.2);
      const out: number[] = [];
      for (let i = 0; i <= 24; i++) {
        const a = from + (span * i) / 24;
        out.push(cx + r * Math.cos(a), cy + r * Math.sin(a));
      }
      return out;
    }
    case "wave": {
      const x0 = x(), y0 = y(), len = rng.range(60, 0.8 * Math.max(width, height));
      const dir = rng.range(0, 2 * Math.PI), amp = rng.range(4, 14), wl = rng.range(20, 60);
      const out: number[] = [];
      for (let i = 0; i <= 40; i++) {
        const t = (len * i) / 40, o = amp * Math.sin((2 * Math.PI * t) / wl);
        out.push(x0 + t * Math.cos(dir) - o * Math.sin(dir), y0 + t * Math.sin(dir) + o * Math.cos(dir));
      }
      return out;
    }
  }
}

function sampleBackground(rng: Rng, width: number, height: number): BackgroundSpec {
  const gradient = {
    from: sampleMutedColour(rng),
    to: sampleMutedColour(rng),
    angle: rng.range(0, 2 * Math.PI),
  };
  const noise = [[4, 16, 0.2, 0.5], [24, 64, 0.08, 0.22]].map(([lo, hi, a0, a1]) => {
    const cols = rng.int(lo, hi), rows = rng.int(lo, hi);
    const rgb: number[] = [];
    for (let i = 0; i < cols * rows; i++) rgb.push(...sampleMutedColour(rng));
    return { cols, rows, rgb, alpha: rng.range(a0, a1) };
  });
  const blobs: Blob[] = [];
  for (let i = 0, n = rng.int(3, 12); i < n; i++) {
    blobs.push({
      cx: rng.range(0, width),
      cy: rng.range(0, height),
      rx: rng.range(10, 120),
      ry: rng.range(10, 120),
      rotation: rng.range(0, Math.PI),
      colour: sampleMutedColour(rng),
      alpha: rng.range(0.15, 0.4),
    });
  }
  const lines: Stroke[] = [];
  for (let i = 0, n = rng.int(2, 8); i < n; i++) {
    const kind = rng.chance(0.6) ? "line" : "bezier";
    lines.push({
      kind,
      points: sampleStroke(rng, width, height, kind),
      width: rng.range(0.8, 2),
      colour: sampleMutedColour(rng),
      alpha: rng.range(0.3, 0.7),
    });
  }
  for (let i = 0, n = rng.int(15, 60); i < n; i++) {
    const x0 = rng.range(0, width),
      y0 = rng.range(0, height),
      len = rng.range(2, 9),
      a = rng.range(0, Math.PI);
    lines.push({
      kind: "line",
      points: [x0, y0, x0 + len * Math.cos(a), y0 + len * Math.sin(a)],
      width: rng.range(1, 2.2),
      colour: sampleMutedColour(rng),
      alpha: rng.range(0.3, 0.7),
    });
  }
  const distractors: Stroke[] = [];
  for (let i = 0, n = rng.int(1, 4); i < n; i++) {
    const kind = rng.pick(["bezier", "zigzag", "arc", "wave"] as const);
    distractors.push({
      kind,
      points: sampleStroke(rng, width, height, kind),
      width: rng.range(2, 5),
      colour: sampleNamedColour(rng, rng.pick(COLOUR_NAMES)),
      alpha: rng.range(0.6, 1),
    });
  }
  const grain = {
    amplitude: rng.range(0, 9),
    seed: [rng.uint32(), rng.uint32(), rng.uint32(), rng.uint32()] as [number, number, number, number],
  };
  return { gradient, noise, blobs, lines, distractors, grain };
}

/**
 * The scene of image `index` of `split`. `attempt` selects an alternative scene (used only when a sampled scene
 * ends up with no annotatable object).
 */
export function sampleScene(seed: number, split: Split, index: number, attempt = 0): SceneSpec {
  const tag = attempt === 0 ? "" : `#${attempt}`;
  const layout = rngFor(seed, split, index, "layout" + tag);
  const width = layout.int(300, 500), height = layout.int(300, 500);
  const placements = samplePlacements(layout, width, height);
  const style = rngFor(seed, split, index, "style" + tag);
  const objects: ObjectSpec[] = placements.map((p) => {
    const classIndex = style.int(0, SHAPE_CLASSES.length - 1);
    const colourName = style.pick(COLOUR_NAMES);
    return {
      ...p,
      classIndex,
      colourName,
      colour: sampleNamedColour(style, colourName),
      texture: sampleTexture(style, p.size),
      outline: Math.min(3, Math.max(1, p.size / 28)),
      crowd: style.chance(CROWD_PROBABILITY),
    };
  });
  const background = sampleBackground(rngFor(seed, split, index, "background" + tag), width, height);
  return { width, height, background, objects };
}
