/**
 * Heatmaps: colormap ends, constant maps, blending (lib/image/colormap.ts, in this isolate) and the PNG grid's
 * size (lib/image/heatmap_grid.ts, in a subprocess: tearing down a test isolate that loaded @napi-rs/canvas while
 * others run tfjs has crashed Deno 2.9.6 — see tests/shipped_models_test.ts).
 */
import assert from "node:assert/strict";
import { cellPixels, colormap } from "../lib/image/colormap.ts";

const HELPER = new URL("./helpers/heatmap_png.ts", import.meta.url).pathname;

/** 0..1 colour components as 0..255 bytes. */
const bytes = (rgb: number[]) => rgb.map((v) => Math.round(255 * v));

Deno.test("heatmap grid: colormap ends, constant maps, blending, PNG size", async () => {
  // the ends are the published maps' first and last entries: Turbo (Mikhailov, Google AI blog 2019,
  // turbo_colormap_data[0] and [255]) and viridis (matplotlib's _viridis_data[255])
  assert.deepEqual(colormap(0), bytes([0.18995, 0.07176, 0.23217]));
  assert.deepEqual(colormap(1), bytes([0.4796, 0.01583, 0.01055]));
  assert.deepEqual(colormap(2), colormap(1));
  assert.deepEqual(colormap(NaN), [128, 128, 128]);
  assert.deepEqual(colormap(0.5, "gray"), [128, 128, 128]);
  assert.deepEqual(colormap(1, "viridis"), bytes([0.993248, 0.906157, 0.143936]));
  assert.throws(() => colormap(0.5, "jet" as "gray"), /unknown colormap "jet"; valid: turbo, viridis, gray/);
  const px = cellPixels({ map: [0, 1, 2, 3], width: 2, height: 2 });
  assert.deepEqual([...px.slice(0, 4)], [48, 18, 59, 255]);
  assert.deepEqual([...px.slice(12, 16)], [122, 4, 3, 255]);
  const constant = cellPixels({ map: [5, 5], width: 2, height: 1 });
  assert.deepEqual([...constant.slice(0, 3)], colormap(1));
  const image = { width: 1, height: 1, rgb: new Uint8Array([200, 100, 0]) };
  const blended = cellPixels({ map: [0], image, width: 1, height: 1 }, 0.5);
  // a one-value map is constant -> colormap(1) = (122, 4, 3); half over (200, 100, 0): the means, rounded
  assert.deepEqual([...blended.slice(0, 3)], [(122 + 200) / 2, (4 + 100) / 2, Math.round((3 + 0) / 2)]);
  assert.throws(() => cellPixels({ map: [1, 2, 3], width: 2, height: 2 }), /needs 4 map values/);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--allow-ffi", "--allow-sys", HELPER],
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const size = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  // the layout (lib/image/heatmap_grid.ts): a 150 px column of row labels, a 24 px row of column labels, and
  // per cell its 50 px plus a 4 px gap; one row of two cells
  assert.deepEqual(size, [150 + 2 * (50 + 4), 24 + 1 * (50 + 4)]);
});
