/**
 * Structural check of a PNG file before it is decoded: the chunk walk a decoder would do, without inflating
 * anything. The canvas addon (Skia) decodes a truncated PNG as if it were whole (the missing rows come out blank)
 * and exposes no "incomplete input" status, and no well-kept npm library checks a PNG's structure without
 * decoding all its pixels (pngjs, upng-js inflate the image), so this walk is ours: every chunk's length within
 * the file, the CRC-32 of every chunk (node:zlib's crc32, over a view, no copy), IHDR first with 13 bytes,
 * IDAT chunks present and consecutive, IEND at the end of the walk. Linear in the file, no allocation beyond
 * small constants. Throws ImageStructureError ("truncated: ..." / "corrupt: ...").
 */
import { crc32 } from "node:zlib";
import { corrupt, truncated } from "./errors.ts";

export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;

const isLetter = (b: number) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;

/** Checks the chunk structure of `bytes` (which start with the PNG signature). */
export function checkPngStructure(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  let pos = PNG_SIGNATURE.length;
  let idat: "none" | "open" | "closed" = "none";
  for (let index = 0;; index++) {
    if (pos === n) throw truncated(`the PNG ends after ${n} bytes without its IEND chunk`);
    if (pos + 8 > n) {
      throw truncated(`the PNG's chunk header at byte ${pos} is cut off after ${n - pos} bytes`);
    }
    const length = view.getUint32(pos);
    const t = [bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]];
    if (!t.every(isLetter)) {
      throw corrupt(`the PNG has no valid chunk type at byte ${pos + 4} (bytes ${t.join(", ")})`);
    }
    const type = String.fromCharCode(...t);
    if (length > 0x7fffffff) throw corrupt(`the PNG's ${type} chunk at byte ${pos} declares ${length} bytes`);
    if (index === 0 && (type !== "IHDR" || length !== 13)) {
      throw corrupt(`the PNG's first chunk is ${type} of ${length} bytes, not IHDR of 13`);
    }
    if (pos + 12 + length > n) {
      throw truncated(
        `the PNG's ${type} chunk at byte ${pos} declares ${length} data bytes (+4 CRC) but only ${
          n - pos - 8
        } remain`,
      );
    }
    const stored = view.getUint32(pos + 8 + length);
    const computed = crc32(bytes.subarray(pos + 4, pos + 8 + length));
    if (stored !== computed) {
      throw corrupt(
        `the PNG's ${type} chunk at byte ${pos} fails its CRC-32 check (stored ${hex(stored)}, computed ${
          hex(computed)
        })`,
      );
    }
    if (type === "IDAT") {
      if (idat === "closed") {
        throw corrupt(`the PNG's IDAT chunks are not consecutive (another at byte ${pos})`);
      }
      idat = "open";
    } else if (idat === "open") {
      idat = "closed";
    }
    if (type === "IEND") {
      if (idat === "none") throw corrupt("the PNG has no IDAT (image data) chunk before IEND");
      return;
    }
    pos += 12 + length;
  }
}
