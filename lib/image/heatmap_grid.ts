/**
 * Saliency maps as pictures: a perceptual colormap (a 5-stop approximation of "turbo": dark blue -> cyan ->
 * green -> yellow -> red) over per-map min-max normalised values, optionally blended over the image, and grids of
 * such cells with row and column labels, encoded as PNG with @napi-rs/canvas. For the evaluation figures
 * (methods x layers, randomization stages, meta-saliency signs) and the service's overlays.
 */
import { createCanvas, type SKRSContext2D } from "@napi-rs/canvas";
import { cellPixels, type HeatmapCell } from "./colormap.ts";

export { cellPixels, colormap, type ColormapName, COLORMAPS, type HeatmapCell } from "./colormap.ts";

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
