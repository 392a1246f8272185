/**
 * Boolean masks: a row-major Uint8Array of 0/1 over a width x height grid, and the few measures the annotations
 * need (area, tight box, centroid, IoU). A `LocalMask` is a mask placed at an integer offset (ox, oy) of the image
 * grid; it may extend past the image (a shape's full, unclipped silhouette).
 */

export interface Mask {
  width: number;
  height: number;
  /** Row-major, 1 = inside. Length width * height. */
  data: Uint8Array;
}

export interface LocalMask extends Mask {
  /** Image column of the mask's column 0. */
  ox: number;
  /** Image row of the mask's row 0. */
  oy: number;
}

/** Inclusive 0-based pixel box [x0, y0, x1, y1]. */
export type PixelBox = [number, number, number, number];

export function maskArea(m: Mask): number {
  let n = 0;
  for (let i = 0; i < m.data.length; i++) n += m.data[i];
  return n;
}

/** The tight inclusive box of the set pixels, or null for an empty mask. */
export function tightBox(m: Mask): PixelBox | null {
  let x0 = m.width, y0 = m.height, x1 = -1, y1 = -1;
  for (let y = 0; y < m.height; y++) {
    const row = y * m.width;
    for (let x = 0; x < m.width; x++) {
      if (m.data[row + x] !== 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1, y1];
}

/** Mean pixel position (x, y) of the set pixels (pixel centres at integer + 0.5). */
export function centroid(m: Mask): [number, number] {
  let sx = 0, sy = 0, n = 0;
  for (let y = 0; y < m.height; y++) {
    for (let x = 0; x < m.width; x++) {
      if (m.data[y * m.width + x] !== 0) {
        sx += x + 0.5;
        sy += y + 0.5;
        n++;
      }
    }
  }
  return n === 0 ? [m.width / 2, m.height / 2] : [sx / n, sy / n];
}

/** Intersection over union of two masks of the same size (1 for two empty masks). */
export function maskIoU(a: Mask, b: Mask): number {
  if (a.width !== b.width || a.height !== b.height) throw new RangeError("masks differ in size");
  let inter = 0, union = 0;
  for (let i = 0; i < a.data.length; i++) {
    const p = a.data[i] !== 0, q = b.data[i] !== 0;
    if (p && q) inter++;
    if (p || q) union++;
  }
  return union === 0 ? 1 : inter / union;
}
