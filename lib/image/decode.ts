/**
 * Image decoding to packed RGB bytes with @napi-rs/canvas (Skia; pixel-identical to PIL/libjpeg-turbo on the
 * synthetic world's JPEGs). Bad or unsupported bytes are an ImageDecodeError, never a crash.
 */
import { Buffer } from "node:buffer";
import { createCanvas, Image } from "@napi-rs/canvas";

export class ImageDecodeError extends Error {
  override name = "ImageDecodeError";
}

export interface DecodedImage {
  width: number;
  height: number;
  /** Row-major RGB, 3 bytes per pixel. */
  rgb: Uint8Array;
}

/** Decodes JPEG / PNG / WebP / GIF bytes. `source` names the image in errors. */
export function decodeImage(bytes: Uint8Array, source = "image"): DecodedImage {
  const img = new Image();
  try {
    img.src = Buffer.from(bytes); // a copy owned by the addon, whatever buffer `bytes` views
  } catch (e) {
    throw new ImageDecodeError(
      `${source}: cannot decode (${(e as Error).message}); JPEG, PNG, WebP and GIF are accepted`,
    );
  }
  if (!img.complete || img.width === 0 || img.height === 0) {
    throw new ImageDecodeError(`${source}: not a decodable image; JPEG, PNG, WebP and GIF are accepted`);
  }
  const canvas = createCanvas(img.width, img.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const rgba = ctx.getImageData(0, 0, img.width, img.height).data;
  const rgb = new Uint8Array(img.width * img.height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { width: img.width, height: img.height, rgb };
}
