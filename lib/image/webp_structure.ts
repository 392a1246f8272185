/**
 * Structural check of a WebP file before it is decoded: the RIFF container's declared length against the bytes
 * there are, and the chunk walk inside it (every chunk within the container, at least one image chunk: VP8,
 * VP8L or ANMF). libwebp itself refuses most cut-off bitstreams, but a file cut between chunks or with a
 * lying RIFF length must not reach it. Linear in the number of chunks, no allocation. Throws
 * ImageStructureError ("truncated: ..." / "corrupt: ...").
 */
import { corrupt, truncated } from "./errors.ts";

const IMAGE_CHUNKS = new Set(["VP8 ", "VP8L", "ANMF"]);

/** Checks the RIFF structure of `bytes` (which start with "RIFF" and have "WEBP" at byte 8). */
export function checkWebpStructure(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  if (n < 12) throw truncated(`the WebP ends after ${n} bytes, inside its 12-byte RIFF header`);
  const end = view.getUint32(4, true) + 8;
  if (end > n) throw truncated(`the WebP's RIFF header declares ${end} bytes but the file has ${n}`);
  let images = 0;
  let pos = 12;
  while (pos < end) {
    if (pos + 8 > end) throw corrupt(`the WebP's chunk header at byte ${pos} overruns the RIFF container`);
    const fourcc = String.fromCharCode(bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]);
    const size = view.getUint32(pos + 4, true);
    if (pos + 8 + size > end) {
      throw corrupt(
        `the WebP's ${JSON.stringify(fourcc)} chunk at byte ${pos} declares ${size} bytes but only ${
          end - pos - 8
        } remain in the RIFF container`,
      );
    }
    if (IMAGE_CHUNKS.has(fourcc)) images++;
    pos += 8 + size + (size & 1);
  }
  if (images === 0) throw corrupt("the WebP has no image chunk (VP8, VP8L or ANMF)");
}
