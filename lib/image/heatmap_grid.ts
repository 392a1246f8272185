/**
 * Saliency maps as pictures: a perceptual colormap (a 5-stop approximation of "turbo": dark blue -> cyan ->
 * green -> yellow -> red) over per-map min-max normalised values, optionally blended over the image, and grids of
 * such cells with row and column labels, encoded as PNG with @napi-rs/canvas. For the evaluation figures
 * (methods x layers, randomization stages, meta-saliency signs) and the service's overlays.
 */
import { createCanvas, type SKRSContext2D } from "@napi-rs/canvas";
import type { DecodedImage } from "./decode.ts";

type Rgb = [number, number, number];

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

function drawCell(ctx: SKRSContext2D, cell: HeatmapCell, x: number, y: number, size: number): void {
  const tmp = createCanvas(cell.width, cell.height);
  const tctx = tmp.getContext("2d");
  const data = tctx.createImageData(cell.width, cell.height);
  data.data.set(cellPixels(cell));
  tctx.putImageData(data, 0, 0);
  ctx.drawImage(tmp, x, y, size, size);
}

/** A PNG grid: rows x columns of cells (null = empty), with labels, each cell drawn at `size` px. */
export function heatmapGridPng(
  cells: (HeatmapCell | null)[][],
  rowLabels: readonly string[],
  columnLabels: readonly string[],
  size = 128,
): Uint8Array {
  const left = 150, top = 24, gap = 4;
  const columns = Math.max(...cells.map((r) => r.length), columnLabels.length);
  const canvas = createCanvas(left + columns * (size + gap), top + cells.length * (size + gap));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#000000";
  ctx.font = "12px sans-serif";
  columnLabels.forEach((l, c) => ctx.fillText(l, left + c * (size + gap) + 2, 16, size - 4));
  cells.forEach((row, r) => {
    ctx.fillStyle = "#000000";
    ctx.fillText(rowLabels[r] ?? "", 4, top + r * (size + gap) + size / 2, left - 8);
    row.forEach((cell, c) => {
      if (cell) drawCell(ctx, cell, left + c * (size + gap), top + r * (size + gap), size);
    });
  });
  return new Uint8Array(canvas.toBuffer("image/png"));
}
