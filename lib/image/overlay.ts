/**
 * A saliency map over its image as a PNG: the map (already at the image's size) min-max normalised, colormapped
 * (lib/image/heatmap_grid.ts COLORMAPS: turbo, viridis, gray) and blended with `alpha` over the image.
 */
import { createCanvas } from "@napi-rs/canvas";
import type { DecodedImage } from "./decode.ts";
import { cellPixels, type ColormapName } from "./colormap.ts";

export function overlayPng(
  image: DecodedImage,
  map: ArrayLike<number>,
  alpha = 0.5,
  colormap: ColormapName = "turbo",
): Uint8Array {
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`alpha must be in [0, 1], got ${alpha}`);
  const { width, height } = image;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext("2d");
  const data = ctx.createImageData(width, height);
  data.data.set(cellPixels({ map, image, width, height }, alpha, colormap));
  ctx.putImageData(data, 0, 0);
  return new Uint8Array(canvas.toBuffer("image/png"));
}
