/**
 * Test images. `pngBase64` paints a small synthetic PNG (a yellow disc on a blue ground) with the canvas addon,
 * imported on first use so only tests that call it load it. The rest build PNG files byte by byte (node:zlib
 * for deflate and CRC-32), with no decoder involved: valid greyscale PNGs with known pixels, decompression
 * bombs (a header declaring huge dimensions over a tiny IDAT), header-only files, IDAT split into several
 * chunks, and a chunk's CRC broken on purpose.
 */
import { crc32, deflateSync } from "node:zlib";

export async function pngBase64(width: number, height: number): Promise<string> {
  const { createCanvas } = await import("@napi-rs/canvas");
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#406080";
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = "#e0c020";
  ctx.beginPath();
  ctx.arc(width * 0.7, height * 0.3, Math.min(width, height) / 6, 0, 2 * Math.PI);
  ctx.fill();
  return canvas.toBuffer("image/png").toString("base64");
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The parts, joined into one array. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One chunk: length, type, data, CRC-32 of type + data. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** IHDR of an 8-bit greyscale image (colour type 0), no interlace. */
function ihdr(width: number, height: number): Uint8Array {
  const data = new Uint8Array(13);
  const view = new DataView(data.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  data[8] = 8; // bit depth
  return pngChunk("IHDR", data);
}

/** A valid 8-bit greyscale PNG whose pixel (x, y) is grey(x, y); IDAT split into `idats` chunks. */
export function greyPng(width: number, height: number, grey: (x: number, y: number) => number, idats = 1) {
  const raw = new Uint8Array(height * (width + 1)); // each row: filter type 0, then the pixels
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw[y * (width + 1) + 1 + x] = grey(x, y);
  }
  const z = new Uint8Array(deflateSync(raw));
  const step = Math.ceil(z.length / idats);
  const chunks = Array.from(
    { length: idats },
    (_, i) => pngChunk("IDAT", z.subarray(i * step, (i + 1) * step)),
  );
  return concat([
    new Uint8Array(SIGNATURE),
    ihdr(width, height),
    ...chunks,
    pngChunk("IEND", new Uint8Array()),
  ]);
}

/** The RGB bytes a correct decoder gives for greyPng(width, height, grey). */
export function greyRgb(width: number, height: number, grey: (x: number, y: number) => number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) rgb.fill(grey(x, y), 3 * (y * width + x), 3 * (y * width + x) + 3);
  }
  return rgb;
}

/**
 * A decompression bomb in miniature: a well-formed PNG declaring width x height greyscale pixels whose IDAT holds
 * only the first 16 rows of zeros (so the file is a few hundred bytes; any decoder would allocate the full
 * width x height before finding the data short).
 */
export function bombPng(width: number, height: number): Uint8Array {
  const idat = new Uint8Array(deflateSync(new Uint8Array(Math.min(height, 16) * (width + 1))));
  return concat([
    new Uint8Array(SIGNATURE),
    ihdr(width, height),
    pngChunk("IDAT", idat),
    pngChunk("IEND", new Uint8Array()),
  ]);
}

/** The signature and IHDR alone (33 bytes). */
export function headerOnlyPng(width: number, height: number): Uint8Array {
  return concat([new Uint8Array(SIGNATURE), ihdr(width, height)]);
}

/** A copy of `png` with one data byte of its first IDAT flipped (its CRC no longer matches). */
export function breakIdatCrc(png: Uint8Array): Uint8Array {
  const out = png.slice();
  const at = out.findIndex((_, i) => String.fromCharCode(...out.subarray(i, i + 4)) === "IDAT");
  out[at + 4] ^= 0xff;
  return out;
}
