/**
 * Structural check of a JPEG file before it is decoded: the marker walk a decoder would do, without decoding
 * any coefficient. The canvas addon (Skia + libjpeg-turbo) decodes a truncated JPEG as if it were whole (the
 * missing blocks come out grey) and exposes no "incomplete input" status, and no well-kept npm library checks a
 * JPEG's structure without decoding it (jpeg-js decodes every pixel), so this walk is ours: SOI, every
 * segment's length within the file, exactly one frame header (SOF) before the first scan (SOS), entropy-coded
 * data skipped by looking for the next real marker (0xFF not followed by 0x00 or a restart marker), and an EOI
 * after the last scan. Progressive files (several scans, tables between them) walk the same way. Linear in the
 * file (the scan data is searched with indexOf), no allocation beyond small constants. Throws
 * ImageStructureError ("truncated: ..." / "corrupt: ..."); returns the frame's declared size.
 */
import { corrupt, truncated } from "./errors.ts";

const isFrameHeader = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
const isRestart = (m: number) => m >= 0xd0 && m <= 0xd7;
const name = (m: number) => `0xFF${m.toString(16).toUpperCase().padStart(2, "0")}`;

/**
 * Checks the marker structure of `bytes` (which start with SOI, 0xFFD8) and returns the frame's size. With
 * `untilFrame`, the walk stops at the frame header (null if the file ends or breaks first, without throwing).
 */
export function checkJpegStructure(bytes: Uint8Array): { width: number; height: number };
export function checkJpegStructure(
  bytes: Uint8Array,
  untilFrame: true,
): { width: number; height: number } | null;
export function checkJpegStructure(
  bytes: Uint8Array,
  untilFrame = false,
): { width: number; height: number } | null {
  if (untilFrame) {
    try {
      return walk(bytes, true);
    } catch {
      return null;
    }
  }
  return walk(bytes, false)!;
}

function walk(bytes: Uint8Array, untilFrame: boolean): { width: number; height: number } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  let frame: { width: number; height: number } | null = null;
  let scans = 0;
  let pos = 2;
  for (;;) {
    if (pos >= n) {
      throw truncated(
        scans
          ? `the JPEG ends after ${n} bytes without its end-of-image marker (EOI)`
          : `the JPEG ends after ${n} bytes before any scan (SOS)`,
      );
    }
    if (bytes[pos] !== 0xff) {
      throw corrupt(
        `the JPEG has byte 0x${bytes[pos].toString(16)} at byte ${pos} where a marker should start`,
      );
    }
    while (pos < n && bytes[pos] === 0xff) pos++; // fill bytes
    if (pos >= n) throw truncated(`the JPEG ends inside a marker at byte ${n}`);
    const m = bytes[pos];
    const at = pos - 1;
    pos++;
    if (m === 0xd9) {
      if (!frame || scans === 0) {
        throw corrupt(`the JPEG's end-of-image marker (EOI) at byte ${at} comes before any scan`);
      }
      return frame;
    }
    if (isRestart(m) || m === 0x01) continue; // standalone markers
    if (m === 0x00 || m === 0xd8) throw corrupt(`the JPEG has an unexpected marker ${name(m)} at byte ${at}`);
    if (pos + 2 > n) {
      throw truncated(`the JPEG's ${name(m)} segment at byte ${at} is cut off before its length`);
    }
    const length = view.getUint16(pos);
    if (length < 2) throw corrupt(`the JPEG's ${name(m)} segment at byte ${at} declares ${length} bytes`);
    if (pos + length > n && !(untilFrame && isFrameHeader(m) && pos + 7 <= n)) {
      throw truncated(
        `the JPEG's ${name(m)} segment at byte ${at} declares ${length} bytes but only ${n - pos} remain`,
      );
    }
    if (isFrameHeader(m)) {
      if (frame) throw corrupt(`the JPEG has a second frame header (${name(m)}) at byte ${at}`);
      if (length < 8) throw corrupt(`the JPEG's frame header at byte ${at} is ${length} bytes, too short`);
      frame = { height: view.getUint16(pos + 3), width: view.getUint16(pos + 5) };
      if (frame.width === 0 || frame.height === 0) {
        throw corrupt(`the JPEG's frame header declares ${frame.width}x${frame.height} pixels`);
      }
      if (untilFrame) return frame;
    }
    pos += length;
    if (m !== 0xda) continue;
    if (!frame) throw corrupt(`the JPEG has a scan (SOS) at byte ${at} before any frame header (SOF)`);
    scans++;
    // Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte), a restart marker, more 0xFF fill, or the
    // next marker, where the walk resumes.
    for (;;) {
      const ff = bytes.indexOf(0xff, pos);
      if (ff < 0 || ff + 1 >= n) {
        throw truncated(
          `the JPEG's scan data from byte ${at} runs to the end of the file (${n} bytes) without EOI`,
        );
      }
      const next = bytes[ff + 1];
      if (next === 0x00 || isRestart(next)) {
        pos = ff + 2;
        continue;
      }
      pos = ff;
      break;
    }
  }
}
