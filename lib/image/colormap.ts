/**
 * Saliency map colours without any drawing library: colormaps (turbo, viridis, gray) and the RGBA pixels of a
 * map cell — min-max normalised, colormapped, optionally blended over its image. lib/image/heatmap_grid.ts and
 * overlay.ts turn these pixels into PNGs.
 */
import type { DecodedImage } from "./decode.ts";

export type Rgb = [number, number, number];

/** Colormaps as a few stops, linearly interpolated: "turbo" (5-stop approximation), "viridis" (5 stops), "gray". */
export const COLORMAPS: Readonly<Record<string, readonly Rgb[]>> = {
  turbo: [[48, 18, 59], [40, 188, 235], [100, 253, 106], [250, 186, 57], [122, 4, 3]],
  viridis: [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
  gray: [[0, 0, 0], [255, 255, 255]],
};
export type ColormapName = "turbo" | "viridis" | "gray";

/** Colour of t in [0, 1] (clamped; NaN is grey) under a colormap (default turbo). */
export function colormap(t: number, name: ColormapName = "turbo"): Rgb {
  const STOPS = COLORMAPS[name];
  if (!STOPS) {
    throw new RangeError(
      `unknown colormap ${JSON.stringify(name)}; valid: ${Object.keys(COLORMAPS).join(", ")}`,
    );
  }
  if (Number.isNaN(t)) return [128, 128, 128];
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [STOPS[i], STOPS[i + 1]];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as [number, number, number];
}

export interface HeatmapCell {
  /** Row-major map values (any range; min-max normalised per cell), `height` x `width`. */
  map?: ArrayLike<number>;
  /** The image under the map (resized to the cell), or alone when there is no map. */
  image?: DecodedImage;
  width: number;
  height: number;
}

/** RGBA pixels of one cell at its own size: the colormapped map blended (alpha) over the image. */
export function cellPixels(cell: HeatmapCell, alpha = 0.6, map: ColormapName = "turbo"): Uint8ClampedArray {
  const { width, height } = cell;
  const out = new Uint8ClampedArray(width * height * 4);
  let lo = Infinity, hi = -Infinity;
  if (cell.map) {
    if (cell.map.length !== width * height) {
      throw new RangeError(
        `a ${width}x${height} cell needs ${width * height} map values, got ${cell.map.length}`,
      );
    }
    for (let i = 0; i < cell.map.length; i++) {
      if (cell.map[i] < lo) lo = cell.map[i];
      if (cell.map[i] > hi) hi = cell.map[i];
    }
  }
  const img = cell.image;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      let rgb: [number, number, number] = [0, 0, 0];
      if (img) {
        const q = (Math.min(img.height - 1, Math.floor((y * img.height) / height)) * img.width +
          Math.min(img.width - 1, Math.floor((x * img.width) / width))) * 3;
        rgb = [img.rgb[q], img.rgb[q + 1], img.rgb[q + 2]];
      }
      if (cell.map) {
        const c = colormap(hi > lo ? (cell.map[p] - lo) / (hi - lo) : 1, map);
        const a = img ? alpha : 1;
        rgb = [0, 1, 2].map((k) => rgb[k] * (1 - a) + c[k] * a) as [number, number, number];
      }
      out.set([rgb[0], rgb[1], rgb[2], 255], p * 4);
    }
  }
  return out;
}
