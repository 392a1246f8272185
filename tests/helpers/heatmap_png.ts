/**
 * Subprocess for tests/heatmap_grid_test.ts: draws a one-row grid (one 2x2 map cell, one empty cell, 50 px cells)
 * with lib/image/heatmap_grid.ts, decodes the PNG and prints its [width, height] as JSON.
 */
import { heatmapGridPng } from "../../lib/image/heatmap_grid.ts";
import { decodeImage } from "../../lib/image/decode.ts";

const png = heatmapGridPng([[{ map: [0, 1, 2, 3], width: 2, height: 2 }, null]], ["row"], ["a", "b"], 50);
const decoded = decodeImage(png);
console.log(JSON.stringify([decoded.width, decoded.height]));
Deno.exit(0);
