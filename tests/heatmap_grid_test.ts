/**
 * The heatmap renderer (lib/image/heatmap_grid.ts): colormap ends, constant maps, blending and the PNG grid's
 * size. Canvas only: no tfjs in this test isolate.
 */
import assert from "node:assert/strict";
import { cellPixels, colormap } from "../lib/image/heatmap_grid.ts";
import { syntheticTest } from "./helpers/synthetic_gate.ts";

syntheticTest("heatmap grid: colormap ends, constant maps, blending, PNG size", async () => {
  assert.deepEqual(colormap(0), [48, 18, 59]);
  assert.deepEqual(colormap(1), [122, 4, 3]);
  assert.deepEqual(colormap(2), colormap(1));
  assert.deepEqual(colormap(NaN), [128, 128, 128]);
  assert.deepEqual(colormap(0.5, "gray"), [128, 128, 128]);
  assert.deepEqual(colormap(1, "viridis"), [253, 231, 37]);
  assert.throws(() => colormap(0.5, "jet" as "gray"), /unknown colormap "jet"; valid: turbo, viridis, gray/);
  const px = cellPixels({ map: [0, 1, 2, 3], width: 2, height: 2 });
  assert.deepEqual([...px.slice(0, 4)], [48, 18, 59, 255]);
  assert.deepEqual([...px.slice(12, 16)], [122, 4, 3, 255]);
  const constant = cellPixels({ map: [5, 5], width: 2, height: 1 });
  assert.deepEqual([...constant.slice(0, 3)], colormap(1));
  const image = { width: 1, height: 1, rgb: new Uint8Array([200, 100, 0]) };
  const blended = cellPixels({ map: [0], image, width: 1, height: 1 }, 0.5);
  // a one-value map is constant -> colormap(1) = (122, 4, 3); half over (200, 100, 0)
  assert.deepEqual([...blended.slice(0, 3)], [161, 52, 2]);
  assert.throws(() => cellPixels({ map: [1, 2, 3], width: 2, height: 2 }), /needs 4 map values/);
  const { heatmapGridPng } = await import("../lib/image/heatmap_grid.ts");
  const { decodeImage } = await import("../lib/image/decode.ts");
  const png = heatmapGridPng([[{ map: [0, 1, 2, 3], width: 2, height: 2 }, null]], ["row"], ["a", "b"], 50);
  const decoded = decodeImage(png);
  assert.deepEqual([decoded.width, decoded.height], [150 + 2 * 54, 24 + 54]);
});
