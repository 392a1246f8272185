/**
 * Hostile image bytes for the fuzz test: tiny real seed images (PNG, JPEG, WebP drawn with the canvas addon, a
 * hand-written GIF), and arbitraries that mutate them — truncated, bytes overwritten, garbage inserted, and
 * container headers patched to declare huge dimensions (PNG IHDR with a valid CRC, JPEG SOF, WebP VP8/VP8L/VP8X,
 * GIF screen and frame) — plus a header-only PNG and random bytes. Pure byte work besides `seedImages`.
 */
import fc from "fast-check";
import zlib from "node:zlib";

export type ImageFormat = "png" | "jpeg" | "webp" | "gif";

export interface SeedImage {
  format: ImageFormat;
  bytes: Uint8Array;
  /** Cutting the file shorter than this certainly loses pixel data (not just a trailer). */
  truncatedBelow: number;
}

/** A 1x1 GIF89a (one black pixel). */
const GIF_1X1 = Uint8Array.from([
  0x47,
  0x49,
  0x46,
  0x38,
  0x39,
  0x61,
  0x01,
  0x00,
  0x01,
  0x00,
  0x80,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0xff,
  0xff,
  0xff,
  0x21,
  0xf9,
  0x04,
  0x01,
  0x00,
  0x00,
  0x00,
  0x00,
  0x2c,
  0x00,
  0x00,
  0x00,
  0x00,
  0x01,
  0x00,
  0x01,
  0x00,
  0x00,
  0x02,
  0x02,
  0x44,
  0x01,
  0x00,
  0x3b,
]);

/** Offset just past the data of the last IDAT chunk of a PNG. */
function pngPixelDataEnd(png: Uint8Array): number {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let at = 8, end = png.length;
  while (at + 8 <= png.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    if (type === "IDAT") end = at + 8 + length;
    at += 12 + length;
  }
  return end;
}

/** Offset of the first byte after the JPEG start-of-scan header. */
function jpegScanStart(jpeg: Uint8Array): number {
  for (let i = 2; i + 3 < jpeg.length;) {
    if (jpeg[i] !== 0xff) return jpeg.length;
    const marker = jpeg[i + 1];
    const length = (jpeg[i + 2] << 8) | jpeg[i + 3];
    if (marker === 0xda) return i + 2 + length;
    i += 2 + length;
  }
  return jpeg.length;
}

/** The seeds: 16x12 PNG, JPEG and WebP of a yellow box on blue, and a 1x1 GIF. */
export async function seedImages(): Promise<SeedImage[]> {
  const { createCanvas } = await import("@napi-rs/canvas");
  const canvas = createCanvas(16, 12);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#406080";
  ctx.fillRect(0, 0, 16, 12);
  ctx.fillStyle = "#e0c020";
  ctx.fillRect(3, 2, 8, 7);
  const png = new Uint8Array(canvas.toBuffer("image/png"));
  const jpeg = new Uint8Array(canvas.toBuffer("image/jpeg"));
  const webp = new Uint8Array(canvas.toBuffer("image/webp"));
  const scan = jpegScanStart(jpeg);
  return [
    { format: "png", bytes: png, truncatedBelow: pngPixelDataEnd(png) - 1 },
    // at least half the entropy-coded data gone
    { format: "jpeg", bytes: jpeg, truncatedBelow: scan + Math.floor((jpeg.length - 2 - scan) / 2) },
    { format: "webp", bytes: webp, truncatedBelow: Math.floor(webp.length * 0.75) },
    { format: "gif", bytes: GIF_1X1, truncatedBelow: 38 },
  ];
}

const be16 = (b: Uint8Array, at: number, v: number) => {
  b[at] = (v >> 8) & 0xff;
  b[at + 1] = v & 0xff;
};
const le16 = (b: Uint8Array, at: number, v: number) => {
  b[at] = v & 0xff;
  b[at + 1] = (v >> 8) & 0xff;
};

function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(...b.subarray(at, at + 4));
}

/**
 * A copy of `seed` whose header declares `width` x `height` (pixel data untouched). PNG: IHDR with its CRC
 * recomputed; JPEG: every SOFn; WebP: the VP8/VP8L frame header and any VP8X canvas (VP8L caps at 16384);
 * GIF: the logical screen and the first frame.
 */
export function withDeclaredSize(seed: SeedImage, width: number, height: number): Uint8Array {
  const b = seed.bytes.slice();
  const view = new DataView(b.buffer);
  if (seed.format === "png") {
    view.setUint32(16, width);
    view.setUint32(20, height);
    view.setUint32(29, zlib.crc32(b.subarray(12, 29)));
  } else if (seed.format === "jpeg") {
    for (let i = 2; i + 9 < b.length;) {
      const marker = b[i + 1];
      const length = (b[i + 2] << 8) | b[i + 3];
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        be16(b, i + 5, Math.min(height, 0xffff));
        be16(b, i + 7, Math.min(width, 0xffff));
      }
      if (marker === 0xda) break;
      i += 2 + length;
    }
  } else if (seed.format === "webp") {
    for (let at = 12; at + 8 <= b.length;) {
      const type = fourcc(b, at);
      const size = view.getUint32(at + 4, true);
      const data = at + 8;
      if (type === "VP8 ") {
        le16(b, data + 6, Math.min(width, 0x3fff));
        le16(b, data + 8, Math.min(height, 0x3fff));
      } else if (type === "VP8L") {
        const w = Math.min(width, 0x4000) - 1, h = Math.min(height, 0x4000) - 1;
        const bits = (view.getUint32(data + 1, true) & 0xf0000000) | (h << 14) | w;
        view.setUint32(data + 1, bits >>> 0, true);
      } else if (type === "VP8X") {
        const w = Math.min(width, 1 << 24) - 1, h = Math.min(height, 1 << 24) - 1;
        b.set(
          [w & 0xff, (w >> 8) & 0xff, (w >> 16) & 0xff, h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff],
          data + 4,
        );
      }
      at = data + size + (size & 1);
    }
  } else {
    le16(b, 6, Math.min(width, 0xffff));
    le16(b, 8, Math.min(height, 0xffff));
    le16(b, 32, Math.min(width, 0xffff));
    le16(b, 34, Math.min(height, 0xffff));
  }
  return b;
}

/** The largest width x height each format's header can state (PNG is 2^31-1 but decoders cap far lower). */
export function maxDeclarable(format: ImageFormat): number {
  return format === "webp" ? 0x3fff : format === "png" ? 65_535 : 0xffff;
}

/** A PNG of signature, IHDR (valid CRC) and IEND only: no pixel data at all. */
export function headerOnlyPng(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(25);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, 13);
  ihdr.set([0x49, 0x48, 0x44, 0x52], 4);
  view.setUint32(8, width);
  view.setUint32(12, height);
  ihdr.set([8, 6, 0, 0, 0], 16); // 8-bit RGBA, deflate, no filter, no interlace
  view.setUint32(21, zlib.crc32(ihdr.subarray(4, 21)));
  const iend = Uint8Array.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
  const sig = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const out = new Uint8Array(sig.length + ihdr.length + iend.length);
  out.set(sig);
  out.set(ihdr, 8);
  out.set(iend, 33);
  return out;
}

/** How an image was made hostile (kept beside the bytes so a counterexample reads clearly). */
export interface HostileImage {
  how: string;
  bytes: Uint8Array;
}

/** A seed cut to a length that certainly loses pixel data (1 <= length < truncatedBelow). */
export function truncatedImage(seeds: SeedImage[]): fc.Arbitrary<HostileImage> {
  return fc.constantFrom(...seeds).chain((seed) =>
    fc.integer({ min: 1, max: seed.truncatedBelow - 1 }).map((n) => ({
      how: `${seed.format} (${seed.bytes.length} bytes) cut to ${n} bytes`,
      bytes: seed.bytes.slice(0, n),
    }))
  );
}

/** A seed whose header declares more than `maxPixels` pixels (or the header-only PNG of issue 17). */
export function bombImage(seeds: SeedImage[], maxPixels: number): fc.Arbitrary<HostileImage> {
  const patched = fc.constantFrom(...seeds).chain((seed) => {
    const side = maxDeclarable(seed.format);
    return fc.tuple(fc.integer({ min: 1, max: side }), fc.integer({ min: 1, max: side }))
      .filter(([w, h]) => w * h > maxPixels && w * h <= 20_000 * 20_000)
      .map(([w, h]) => ({
        how: `${seed.format} 16x12 (1x1 GIF) with its header patched to ${w}x${h}`,
        bytes: withDeclaredSize(seed, w, h),
      }));
  });
  return fc.oneof(
    { arbitrary: patched, weight: 8 },
    {
      arbitrary: fc.constantFrom([65_535, 65_535], [20_000, 20_000], [maxPixels + 1, 1]).map(([w, h]) => ({
        how: `header-only PNG declaring ${w}x${h}`,
        bytes: headerOnlyPng(w, h),
      })),
      weight: 2,
    },
  );
}

/** Any damaged image: truncated, overwritten bytes, inserted garbage, patched sizes, random bytes. */
export function hostileImage(seeds: SeedImage[], maxPixels: number): fc.Arbitrary<HostileImage> {
  const seed = fc.constantFrom(...seeds);
  const overwrite = seed.chain((s) =>
    fc.array(fc.tuple(fc.nat({ max: s.bytes.length - 1 }), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 8,
    }).map((edits) => {
      const bytes = s.bytes.slice();
      for (const [at, v] of edits) bytes[at] = v;
      return { how: `${s.format} with bytes overwritten ${JSON.stringify(edits)}`, bytes };
    })
  );
  const insert = seed.chain((s) =>
    fc.tuple(fc.nat({ max: s.bytes.length }), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(
      ([at, junk]) => {
        const bytes = new Uint8Array(s.bytes.length + junk.length);
        bytes.set(s.bytes.subarray(0, at));
        bytes.set(junk, at);
        bytes.set(s.bytes.subarray(at), at + junk.length);
        return { how: `${s.format} with ${junk.length} junk bytes inserted at ${at}`, bytes };
      },
    )
  );
  const anyCut = seed.chain((s) =>
    fc.nat({ max: s.bytes.length }).map((n) => ({
      how: `${s.format} cut to ${n} of ${s.bytes.length} bytes`,
      bytes: s.bytes.slice(0, n),
    }))
  );
  const zeroSize = seed.chain((s) =>
    fc.constantFrom([0, 0], [0, 12], [16, 0]).map(([w, h]) => ({
      how: `${s.format} declaring ${w}x${h}`,
      bytes: withDeclaredSize(s, w, h),
    }))
  );
  const random = fc.uint8Array({ maxLength: 2048 }).map((bytes) => ({
    how: `${bytes.length} random bytes`,
    bytes,
  }));
  const signed = fc.tuple(
    fc.constantFrom(
      [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
      [0xff, 0xd8, 0xff],
      [0x52, 0x49, 0x46, 0x46, 0xff, 0xff, 0xff, 0xff, 0x57, 0x45, 0x42, 0x50],
      [0x47, 0x49, 0x46, 0x38, 0x39, 0x61],
    ),
    fc.uint8Array({ maxLength: 256 }),
  ).map(([sig, rest]) => ({
    how: `a signature then ${rest.length} random bytes`,
    bytes: Uint8Array.from([...sig, ...rest]),
  }));
  return fc.oneof(
    fc.constantFrom(...seeds).map((s) => ({ how: `intact ${s.format}`, bytes: s.bytes })),
    overwrite,
    insert,
    anyCut,
    zeroSize,
    bombImage(seeds, maxPixels),
    random,
    signed,
  );
}

/** Base64 of bytes (chunked, so a large buffer does not overflow the argument list). */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Image fields that are not valid base64 of anything, or wrap it oddly. */
export const badBase64: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "!!!!",
    "a",
    "abc",
    "====",
    "data:image/png;base64,",
    "data:,",
    "YQ",
    "Y Q = =",
    "\u00e9\u00e9",
  ),
  fc.string({ maxLength: 40 }),
);
