/**
 * The typed error of lib/image's decoding path. `reason` says why an image was refused, so a caller can map it
 * to an answer without parsing the message: "unsupported" (not JPEG, PNG, WebP or GIF), "truncated" (the file
 * ends before its structure does), "corrupt" (a structure that is broken: bad CRC, impossible lengths, missing
 * parts), "too_large" (the header declares more pixels than allowed) or "undecodable" (the codec failed).
 */
export type ImageRejection = "unsupported" | "truncated" | "corrupt" | "too_large" | "undecodable";

export class ImageDecodeError extends Error {
  override name = "ImageDecodeError";
  constructor(message: string, readonly reason: ImageRejection = "undecodable") {
    super(message);
  }
}

/**
 * A structural problem found by a format check (lib/image/*_structure.ts), before the source is known: the
 * admission step turns it into an ImageDecodeError naming the source.
 */
export class ImageStructureError extends Error {
  override name = "ImageStructureError";
  constructor(readonly reason: "truncated" | "corrupt", detail: string) {
    super(`${reason}: ${detail}`);
  }
}

export const truncated = (detail: string) => new ImageStructureError("truncated", detail);
export const corrupt = (detail: string) => new ImageStructureError("corrupt", detail);
