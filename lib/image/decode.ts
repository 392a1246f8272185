/**
 * Image decoding to packed RGB bytes with @napi-rs/canvas (Skia; pixel-identical to PIL/libjpeg-turbo on the
 * synthetic world's JPEGs). Every image is admitted first (lib/image/admission.ts: format, declared size
 * against `maxPixels`, truncated or corrupt structure) so no pixel buffer exists for a refused one. Bad or
 * unsupported bytes are an ImageDecodeError (with its `reason`), never a crash.
 *
 * Memory at W x H pixels: while drawing, the encoded copy the addon owns, Skia's decoded RGBA bitmap (4 B/px),
 * the canvas it is drawn on (4 B/px) and getImageData's RGBA array (4 B/px); the bitmap and the canvas are
 * released as soon as the array is read, and RGB is packed in place into that array (the result is a view of
 * its first 3 B/px), so 12 B/px at the peak and 4 B/px held after.
 */
import { Buffer } from "node:buffer";
import { createCanvas, Image } from "@napi-rs/canvas";
import { admitImage, type AdmittedImage } from "./admission.ts";
import { ImageDecodeError } from "./errors.ts";

export { ImageDecodeError } from "./errors.ts";

export interface DecodedImage {
  width: number;
  height: number;
  /** Row-major RGB, 3 bytes per pixel. */
  rgb: Uint8Array;
}

/** Turns admitted bytes into pixels (the canvas decoder by default; tests substitute a spy). */
export type Rasterizer = (bytes: Uint8Array, admitted: AdmittedImage, source: string) => DecodedImage;

export interface DecodeOptions {
  /** Largest accepted declared width x height (default: no limit). */
  maxPixels?: number;
  rasterize?: Rasterizer;
}

/** Decodes JPEG / PNG / WebP / GIF bytes. `source` names the image in errors. */
export function decodeImage(bytes: Uint8Array, source = "image", options: DecodeOptions = {}): DecodedImage {
  const admitted = admitImage(bytes, options.maxPixels ?? Infinity, source);
  return (options.rasterize ?? rasterizeWithCanvas)(bytes, admitted, source);
}

/** The canvas (Skia) decoder: RGBA drawn at full size, packed to RGB in place. */
export function rasterizeWithCanvas(
  bytes: Uint8Array,
  _admitted: AdmittedImage,
  source: string,
): DecodedImage {
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
  const { width, height } = img;
  const canvas = createCanvas(width, height);
  let rgba: Uint8ClampedArray;
  try {
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    rgba = ctx.getImageData(0, 0, width, height).data;
  } finally {
    // Return the addon's two full-size native buffers now rather than at garbage collection: the decoded
    // bitmap (an empty source) and the canvas surface (a 1x1 size).
    img.src = Buffer.alloc(0);
    canvas.width = canvas.height = 1;
  }
  // Pack RGB into the front of the RGBA array: write index j = 3p never passes read index i = 4p.
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgba[j] = rgba[i];
    rgba[j + 1] = rgba[i + 1];
    rgba[j + 2] = rgba[i + 2];
  }
  return { width, height, rgb: new Uint8Array(rgba.buffer, rgba.byteOffset, width * height * 3) };
}
