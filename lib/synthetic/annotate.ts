/**
 * From a sampled scene to its annotations: each object's visible mask, box, area and flags.
 *
 * - Visible mask: the object's full silhouette (`renderShapeMask`), clipped to the image, minus every object
 *   painted after it. Pixels are whole: a pixel belongs to at most one object (the topmost whose coverage there
 *   is >= 50%).
 * - Objects whose visible area is < 40 px are removed from the scene (not painted at all, so no unannotated
 *   object remains in the image); removing one can uncover others, so this repeats until every object has >= 40
 *   visible pixels. A scene left with no object is replaced by an alternative sample (`attempt` + 1).
 * - Box: the tight inclusive 0-based box of the visible mask.
 * - truncated = 1 when part of the full silhouette lies outside the image.
 * - difficult (VOC) = 1 when the visible area is < 32 x 32 = 1024 px, or less than 30% of the full silhouette
 *   (unclipped, unoccluded) is visible. This is our rule, in the spirit of VOC's "hard to recognise"; VOC itself
 *   marks difficult objects by hand.
 */

import { SHAPE_CLASSES, type ShapeClass } from "./classes.ts";
import type { ColourName } from "./colours.ts";
import type { Split } from "./ids.ts";
import { type LocalMask, type Mask, maskArea, type PixelBox, tightBox } from "./masks.ts";
import { renderShapeMask } from "./render.ts";
import { sampleScene, type SceneSpec } from "./scene.ts";

/** Objects with fewer visible pixels are dropped. */
export const MIN_VISIBLE_AREA = 40;
/** VOC difficult: visible area below this (32 x 32 px). */
export const DIFFICULT_MIN_AREA = 32 * 32;
/** VOC difficult: visible fraction of the full silhouette below this. */
export const DIFFICULT_MIN_VISIBLE_FRACTION = 0.3;

export interface ObjectAnnotation {
  classIndex: number;
  className: ShapeClass;
  colourName: ColourName;
  crowd: boolean;
  /** Visible mask, image-sized. */
  mask: Mask;
  /** Visible pixel count. */
  area: number;
  /** Pixel count of the full silhouette, unclipped and unoccluded. */
  fullArea: number;
  /** Tight inclusive 0-based box of the visible mask. */
  box: PixelBox;
  truncated: boolean;
  difficult: boolean;
}

export interface AnnotatedScene {
  /** The scene as painted (objects that were dropped are gone). */
  spec: SceneSpec;
  /** One per painted object, in painting order. */
  objects: ObjectAnnotation[];
}

interface Silhouette {
  local: LocalMask;
  fullArea: number;
  /** Full silhouette clipped to the image. */
  clipped: Uint8Array;
  inImageArea: number;
}

function silhouette(local: LocalMask, width: number, height: number): Silhouette {
  const clipped = new Uint8Array(width * height);
  let fullArea = 0, inImageArea = 0;
  for (let y = 0; y < local.height; y++) {
    const iy = y + local.oy;
    for (let x = 0; x < local.width; x++) {
      if (local.data[y * local.width + x] === 0) continue;
      fullArea++;
      const ix = x + local.ox;
      if (iy >= 0 && iy < height && ix >= 0 && ix < width) {
        clipped[iy * width + ix] = 1;
        inImageArea++;
      }
    }
  }
  return { local, fullArea, clipped, inImageArea };
}

/** Visible masks of silhouettes painted in order (later ones on top). */
function visibleMasks(sils: Silhouette[], width: number, height: number): Uint8Array[] {
  const covered = new Uint8Array(width * height);
  const out = new Array<Uint8Array>(sils.length);
  for (let k = sils.length - 1; k >= 0; k--) {
    const full = sils[k].clipped, vis = new Uint8Array(width * height);
    for (let i = 0; i < vis.length; i++) {
      if (full[i] !== 0) {
        if (covered[i] === 0) vis[i] = 1;
        covered[i] = 1;
      }
    }
    out[k] = vis;
  }
  return out;
}

/** Annotates a scene, dropping objects with < 40 visible pixels; null when no object survives. */
export function annotate(spec: SceneSpec): AnnotatedScene | null {
  const { width, height } = spec;
  let objects = spec.objects;
  let sils = objects.map((o) => silhouette(renderShapeMask(o), width, height));
  for (;;) {
    const vis = visibleMasks(sils, width, height);
    const areas = vis.map((v) => maskArea({ width, height, data: v }));
    const keep = areas.map((a) => a >= MIN_VISIBLE_AREA);
    if (keep.every((k) => k)) {
      if (objects.length === 0) return null;
      const annotations = objects.map((o, k): ObjectAnnotation => {
        const mask = { width, height, data: vis[k] };
        const area = areas[k], fullArea = sils[k].fullArea;
        return {
          classIndex: o.classIndex,
          className: SHAPE_CLASSES[o.classIndex],
          colourName: o.colourName,
          crowd: o.crowd,
          mask,
          area,
          fullArea,
          box: tightBox(mask)!,
          truncated: sils[k].inImageArea < fullArea,
          difficult: area < DIFFICULT_MIN_AREA || area < DIFFICULT_MIN_VISIBLE_FRACTION * fullArea,
        };
      });
      return { spec: { ...spec, objects }, objects: annotations };
    }
    objects = objects.filter((_, k) => keep[k]);
    sils = sils.filter((_, k) => keep[k]);
  }
}

/** The annotated scene of image `index` of `split`: the first sampled scene with at least one object. */
export function annotatedScene(seed: number, split: Split, index: number): AnnotatedScene {
  for (let attempt = 0;; attempt++) {
    const scene = annotate(sampleScene(seed, split, index, attempt));
    if (scene !== null) return scene;
  }
}
