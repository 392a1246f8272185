/**
 * Admission of an encoded image before any pixel buffer exists: the format from its signature (JPEG, PNG, WebP
 * or GIF only), the declared width x height from the container header (image-size: PNG IHDR, JPEG SOF, WebP
 * VP8/VP8L/VP8X, GIF logical screen) checked against the pixel limit, then the format's structural check
 * (lib/image/*_structure.ts: truncated or corrupt files are refused here, since the decoder would draw them as
 * if whole). Cost: linear in the file's bytes, no allocation proportional to its pixels. Refusals are
 * ImageDecodeError with reason "unsupported", "too_large", "truncated" or "corrupt", naming `source`.
 */
import { imageSize } from "image-size";
import { ImageDecodeError, ImageStructureError } from "./errors.ts";
import { checkGifStructure } from "./gif_structure.ts";
import { checkJpegStructure } from "./jpeg_structure.ts";
import { checkPngStructure, PNG_SIGNATURE } from "./png_structure.ts";
import { checkWebpStructure } from "./webp_structure.ts";

export type ImageFormat = "png" | "jpeg" | "gif" | "webp";

export interface AdmittedImage {
  format: ImageFormat;
  /** As the header declares them. */
  width: number;
  height: number;
}

const ACCEPTED = "JPEG, PNG, WebP and GIF are accepted";
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
/** Signatures; for WebP, null bytes are the RIFF length (any value). */
const SIGNATURES: [ImageFormat, (number | null)[]][] = [
  ["png", [...PNG_SIGNATURE]],
  ["jpeg", [0xff, 0xd8, 0xff]],
  ["gif", ascii("GIF87a")],
  ["gif", ascii("GIF89a")],
  ["webp", [...ascii("RIFF"), null, null, null, null, ...ascii("WEBP")]],
];

/** The format whose signature `bytes` starts with; a file that stops inside a signature is truncated. */
function sniff(bytes: Uint8Array, source: string): ImageFormat {
  if (bytes.length === 0) {
    throw new ImageDecodeError(`${source}: unsupported: no bytes; ${ACCEPTED}`, "unsupported");
  }
  for (const [format, signature] of SIGNATURES) {
    const k = Math.min(bytes.length, signature.length);
    if (signature.slice(0, k).every((b, i) => b === null || b === bytes[i])) {
      if (k < signature.length) {
        throw new ImageDecodeError(
          `${source}: truncated: only ${bytes.length} bytes, inside the ${format.toUpperCase()} signature`,
          "truncated",
        );
      }
      return format;
    }
  }
  throw new ImageDecodeError(
    `${source}: unsupported: not a JPEG, PNG, WebP or GIF file (by its first bytes); ${ACCEPTED}`,
    "unsupported",
  );
}

/** Runs the format's structural check; returns the extent a decoder may touch where the check knows it. */
function checkStructure(format: ImageFormat, bytes: Uint8Array): { width: number; height: number } | null {
  switch (format) {
    case "png":
      checkPngStructure(bytes);
      return null;
    case "jpeg":
      return checkJpegStructure(bytes);
    case "gif":
      return checkGifStructure(bytes);
    case "webp":
      checkWebpStructure(bytes);
      return null;
  }
}

/** The ImageDecodeError for a structural problem, naming the source. */
function structural(e: unknown, source: string): unknown {
  return e instanceof ImageStructureError ? new ImageDecodeError(`${source}: ${e.message}`, e.reason) : e;
}

function tooLarge(source: string, width: number, height: number, maxPixels: number, where: string) {
  return new ImageDecodeError(
    `${source} declares ${width}x${height} = ${width * height} pixels; the limit is ${maxPixels} (${where})`,
    "too_large",
  );
}

/**
 * Admits `bytes` or throws: unsupported format, declared size over `maxPixels`, truncated or corrupt. The
 * size check comes before the structural one, so a header declaring too many pixels is "too_large" however
 * little follows it.
 */
export function admitImage(bytes: Uint8Array, maxPixels: number, source = "image"): AdmittedImage {
  const format = sniff(bytes, source);
  // image-size reads through DataViews on bytes.buffer without an end, so it must see a buffer that ends
  // where the file does (a copy only for a view into a larger buffer).
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
  let size: { width?: number; height?: number } | null = null;
  let why = "";
  try {
    size = imageSize(whole);
  } catch (e) {
    why = (e as Error).message;
  }
  // image-size misses a JPEG frame header right after SOI and the frame types it does not know; the marker
  // walk up to the frame header reads those.
  const { width = 0, height = 0 } = size ?? (format === "jpeg" ? checkJpegStructure(bytes, true) : null) ??
    {};
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    try {
      checkStructure(format, bytes); // the precise reason, when the structure is what is wrong
    } catch (e) {
      throw structural(e, source);
    }
    throw new ImageDecodeError(
      `${source}: corrupt: no readable ${format.toUpperCase()} dimensions${why ? ` (${why})` : ""}`,
      "corrupt",
    );
  }
  if (width * height > maxPixels) {
    throw tooLarge(
      source,
      width,
      height,
      maxPixels,
      `from its ${format.toUpperCase()} header, before decoding`,
    );
  }
  let extent: { width: number; height: number } | null;
  try {
    extent = checkStructure(format, bytes);
  } catch (e) {
    throw structural(e, source);
  }
  if (format === "jpeg" && extent && (extent.width !== width || extent.height !== height)) {
    throw new ImageDecodeError(
      `${source}: corrupt: the JPEG's frame header says ${extent.width}x${extent.height}, image-size read ` +
        `${width}x${height}`,
      "corrupt",
    );
  }
  if (extent && extent.width * extent.height > maxPixels) {
    throw tooLarge(
      source,
      extent.width,
      extent.height,
      maxPixels,
      "the extent of its GIF frames, before decoding",
    );
  }
  return { format, width, height };
}
