/**
 * Test kit for the synthetic world: the generator's modules plus helpers that need @napi-rs/canvas (polygon
 * rasterisation by canvas fill) or the file system (hash every file of a tree). Import it through
 * `kit()` of synthetic_gate.ts.
 */

import { createCanvas } from "@napi-rs/canvas";
import type { Mask } from "../../lib/synthetic/masks.ts";
import { generateWorld, type Manifest } from "../../lib/synthetic/world.ts";

export { loadImage } from "@napi-rs/canvas";
export { generateWorld, type Manifest };
export { generateImage } from "../../lib/synthetic/image.ts";
export {
  annotatedScene,
  DIFFICULT_MIN_AREA,
  DIFFICULT_MIN_VISIBLE_FRACTION,
} from "../../lib/synthetic/annotate.ts";
export { renderScene, renderShapeMask } from "../../lib/synthetic/render.ts";

/** Rasterises COCO polygons by canvas fill (even-odd per polygon, union): a pixel is in when >= 50% covered. */
export function rasterisePolygonsWithCanvas(polygons: number[][], width: number, height: number): Mask {
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  for (const poly of polygons) {
    ctx.beginPath();
    ctx.moveTo(poly[0], poly[1]);
    for (let i = 2; i < poly.length; i += 2) ctx.lineTo(poly[i], poly[i + 1]);
    ctx.closePath();
    ctx.fill("evenodd");
  }
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = rgba[4 * i + 3] >= 128 ? 1 : 0;
  return { width, height, data };
}

/** sha256 (hex) of every file under `root`, by relative path, sorted. */
export async function hashTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else {
        const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(`${root}/${path}`));
        out.set(path, Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(""));
      }
    }
  };
  await walk("");
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A small world in a fresh temporary folder; `dispose` removes it. */
export async function tempWorld(
  counts: { train: number; val: number; test: number },
  seed = 0,
): Promise<{ dir: string; manifest: Manifest; dispose: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "retrace-synthetic-" });
  const manifest = await generateWorld({ out: `${dir}/world`, seed, counts });
  return { dir: `${dir}/world`, manifest, dispose: () => Deno.remove(dir, { recursive: true }) };
}
