/**
 * Structural check of a GIF file before it is decoded: the block walk a decoder would do (header, logical
 * screen, colour tables, extension and image blocks with their sub-block chains, the 0x3B trailer), without
 * decompressing any LZW data. Like PNG and JPEG (see png_structure.ts for why this is ours), the canvas addon
 * would draw a cut-off GIF as if it were whole. Returns the extent a decoder may touch: the logical screen
 * grown to cover every frame (a frame may lie partly outside the screen), so the pixel limit can hold for it
 * too. Linear in the file, no allocation. Throws ImageStructureError ("truncated: ..." / "corrupt: ...").
 */
import { corrupt, truncated } from "./errors.ts";

const u16 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);
/** Bytes of a colour table whose packed-fields byte is `flags` (0 without the table flag). */
const colourTable = (flags: number) => (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0);

/** Checks the block structure of `bytes` (which start with "GIF87a" or "GIF89a"). */
export function checkGifStructure(bytes: Uint8Array): { width: number; height: number } {
  const n = bytes.length;
  if (n < 13) throw truncated(`the GIF ends after ${n} bytes, inside its 13-byte header`);
  let width = u16(bytes, 6);
  let height = u16(bytes, 8);
  if (width === 0 || height === 0) throw corrupt(`the GIF's logical screen is ${width}x${height}`);
  let pos = 13 + colourTable(bytes[10]);
  let frames = 0;
  /** Skips a chain of sub-blocks (length byte, data) ending with a zero length. */
  const skipSubBlocks = (from: string) => {
    for (;;) {
      if (pos >= n) throw truncated(`the GIF ends after ${n} bytes inside the data of the ${from}`);
      const size = bytes[pos++];
      if (size === 0) return;
      pos += size;
    }
  };
  for (;;) {
    if (pos >= n) throw truncated(`the GIF ends after ${n} bytes without its trailer (0x3B)`);
    const at = pos;
    const block = bytes[pos];
    if (block === 0x3b) {
      if (frames === 0) throw corrupt("the GIF has no image before its trailer");
      return { width, height };
    }
    if (block === 0x21) {
      pos += 2;
      skipSubBlocks(`extension at byte ${at}`);
    } else if (block === 0x2c) {
      if (pos + 11 > n) throw truncated(`the GIF ends inside the image descriptor at byte ${at}`);
      const right = u16(bytes, pos + 1) + u16(bytes, pos + 5);
      const bottom = u16(bytes, pos + 3) + u16(bytes, pos + 7);
      width = Math.max(width, right);
      height = Math.max(height, bottom);
      pos += 10 + colourTable(bytes[pos + 9]);
      pos += 1; // LZW minimum code size
      skipSubBlocks(`image at byte ${at}`);
      frames++;
    } else {
      throw corrupt(
        `the GIF has byte 0x${
          block.toString(16)
        } at byte ${at} where an image, extension or trailer should start`,
      );
    }
  }
}
