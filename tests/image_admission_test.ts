/**
 * Image admission (lib/image/admission.ts, decodeUpload): decompression bombs are refused from their header
 * with image_too_large before the decoder is reached (a spy rasterizer proves it was never called), truncated
 * and corrupt files are bad_image naming the problem, and valid files from real encoders (canvas PNG, JPEG,
 * WebP, GIF; the synthetic world's JPEGs; a progressive JPEG; PNGs with several IDAT chunks) still pass and
 * decode to the same pixels as before. No tfjs here (see tests/saliency_job_input_test.ts for the job).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type Canvas, createCanvas, Image } from "@napi-rs/canvas";
import { type DecodedImage, decodeImage, type Rasterizer } from "../lib/image/decode.ts";
import { decodeUpload, ServiceInputError } from "../lib/service/saliency_job.ts";
import { generateImage } from "../lib/synthetic/image.ts";
import { thrown } from "./helpers/errors.ts";
import { bombPng, breakIdatCrc, greyPng, greyRgb, headerOnlyPng, pngChunk } from "./helpers/test_png.ts";

const LIMIT = 25_000_000; // the default RETRACE_MAX_PIXELS

/** A rasterizer that records its calls and returns a 1x1 black image. */
function spy(): Rasterizer & { calls: number } {
  const f = Object.assign(() => {
    f.calls++;
    return { width: 1, height: 1, rgb: new Uint8Array(3) };
  }, { calls: 0 });
  return f;
}

function refusal(bytes: Uint8Array, maxPixels = LIMIT): { error: ServiceInputError; decoderCalls: number } {
  const rasterize = spy();
  const error = thrown(() => decodeUpload(bytes, maxPixels, rasterize), ServiceInputError);
  return { error, decoderCalls: rasterize.calls };
}

/** A JPEG of SOI + a baseline frame header declaring width x height (3 components), nothing else. */
function jpegHeaderOnly(width: number, height: number): Uint8Array {
  const sof = [0xff, 0xc0, 0, 17, 8, height >> 8, height & 255, width >> 8, width & 255, 3];
  for (let c = 1; c <= 3; c++) sof.push(c, 0x11, 0);
  return new Uint8Array([0xff, 0xd8, ...sof]);
}

/** A GIF89a whose logical screen is width x height, with no image. */
function gifHeaderOnly(width: number, height: number): Uint8Array {
  return new Uint8Array([
    ...new TextEncoder().encode("GIF89a"),
    width & 255,
    width >> 8,
    height & 255,
    height >> 8,
    0,
    0,
    0,
  ]);
}

/** An extended WebP (VP8X) declaring a width x height canvas, with no image chunk. */
function webpHeaderOnly(width: number, height: number): Uint8Array {
  const b = new Uint8Array(30);
  const view = new DataView(b.buffer);
  b.set(new TextEncoder().encode("RIFF"), 0);
  view.setUint32(4, 22, true);
  b.set(new TextEncoder().encode("WEBPVP8X"), 8);
  view.setUint32(16, 10, true);
  for (const [at, v] of [[24, width - 1], [27, height - 1]]) {
    b[at] = v & 255;
    b[at + 1] = (v >> 8) & 255;
    b[at + 2] = (v >> 16) & 255;
  }
  return b;
}

/** The decode before admission existed: canvas RGBA drawn at full size, copied to RGB. */
function referenceDecode(bytes: Uint8Array): DecodedImage {
  const image = new Image();
  image.src = Buffer.from(bytes);
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const rgba = ctx.getImageData(0, 0, image.width, image.height).data;
  const rgb = new Uint8Array(image.width * image.height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) rgb.set(rgba.subarray(i, i + 3), j);
  return { width: image.width, height: image.height, rgb };
}

/** A 96x64 canvas with noise (so its PNG is several KB) and shapes. */
function paintedCanvas(): Canvas {
  const canvas = createCanvas(96, 64);
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(96, 64);
  let s = 12345;
  for (let i = 0; i < img.data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    img.data[i] = i % 4 === 3 ? 255 : s >>> 24;
  }
  ctx.putImageData(img, 0, 0);
  ctx.fillStyle = "#e0c020";
  ctx.beginPath();
  ctx.arc(60, 20, 14, 0, 2 * Math.PI);
  ctx.fill();
  return canvas;
}

const encoded = (canvas: Canvas, format: "png" | "jpeg" | "webp" | "gif") => {
  const b = canvas.encodeSync(format as "png");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
};

Deno.test("admission: bombs are image_too_large from their header; the decoder is never reached", () => {
  const cases: [string, Uint8Array, string][] = [
    ["a 20000x20000 PNG bomb", bombPng(20000, 20000), "20000x20000 = 400000000"],
    ["a header-only 65535x65535 PNG", headerOnlyPng(65535, 65535), "65535x65535 = 4294836225"],
    ["a header-only 65535x65535 JPEG", jpegHeaderOnly(65535, 65535), "65535x65535"],
    ["a header-only 65535x65535 GIF", gifHeaderOnly(65535, 65535), "65535x65535"],
    ["a header-only 16384x16384 WebP", webpHeaderOnly(16384, 16384), "16384x16384"],
  ];
  for (const [what, bytes, dims] of cases) {
    const { error, decoderCalls } = refusal(bytes);
    assert.equal(error.code, "image_too_large", `${what}: ${error.message}`);
    assert.match(error.message, new RegExp(`${dims}.*the limit is 25000000`), what);
    assert.equal(decoderCalls, 0, `${what}: the decoder was reached`);
  }
  assert.ok(bombPng(20000, 20000).length < 1000, "the bomb is a small file");
});

Deno.test("admission: the limit is on width x height, inclusive", () => {
  const png = greyPng(100, 50, () => 7);
  const rasterize = spy();
  decodeUpload(png, 5000, rasterize);
  assert.equal(rasterize.calls, 1);
  const { error, decoderCalls } = refusal(png, 4999);
  assert.equal(error.code, "image_too_large");
  assert.equal(decoderCalls, 0);
  // a GIF frame reaching past a small logical screen counts with its extent
  const gif = encoded(paintedCanvas(), "gif"); // 96x64 screen
  const wide = gif.slice();
  const descriptor = wide.indexOf(0x2c, 13 + (wide[10] & 0x80 ? 3 << ((wide[10] & 7) + 1) : 0));
  wide[descriptor + 5] = 0x10; // frame width 0x1000 + low byte
  wide[descriptor + 6] = 0x10;
  const refused = refusal(wide, 96 * 64 * 4);
  assert.equal(refused.error.code, "image_too_large", refused.error.message);
  assert.match(refused.error.message, /extent of its GIF frames/);
});

Deno.test("admission: truncated and corrupt files are bad_image naming the problem, before decoding", () => {
  const canvas = paintedCanvas();
  const png = encoded(canvas, "png");
  const jpeg = encoded(canvas, "jpeg");
  const gif = encoded(canvas, "gif");
  const webp = encoded(canvas, "webp");
  assert.ok(png.length > 4000, `the PNG is ${png.length} bytes`);
  const cases: [string, Uint8Array, RegExp][] = [
    ["a PNG cut to 60 bytes", png.subarray(0, 60), /truncated: the PNG's .* chunk at byte \d+ declares/],
    ["a PNG cut to 2000 bytes", png.subarray(0, 2000), /truncated: the PNG's IDAT chunk/],
    ["a PNG cut in half", png.subarray(0, png.length >> 1), /truncated: the PNG's IDAT chunk/],
    ["a PNG without IEND", png.subarray(0, png.length - 12), /truncated: the PNG ends .* without its IEND/],
    ["a PNG with a broken IDAT CRC", breakIdatCrc(png), /corrupt: the PNG's IDAT chunk .* fails its CRC-32/],
    [
      "a PNG cut inside its signature",
      png.subarray(0, 5),
      /truncated: only 5 bytes, inside the PNG signature/,
    ],
    ["a JPEG cut in half", jpeg.subarray(0, jpeg.length >> 1), /truncated: the JPEG/],
    [
      "a JPEG without EOI",
      jpeg.subarray(0, jpeg.length - 2),
      /truncated: the JPEG's scan data .* without EOI/,
    ],
    ["a GIF cut in half", gif.subarray(0, gif.length >> 1), /truncated: the GIF ends/],
    ["a GIF without its trailer", gif.subarray(0, gif.length - 1), /truncated: .* without its trailer/],
    ["a WebP cut in half", webp.subarray(0, webp.length >> 1), /truncated: the WebP's RIFF header declares/],
    ["no bytes", new Uint8Array(0), /unsupported: no bytes/],
    ["text", new TextEncoder().encode("not an image at all"), /unsupported: not a JPEG, PNG, WebP or GIF/],
  ];
  for (const [what, bytes, message] of cases) {
    const { error, decoderCalls } = refusal(bytes);
    assert.equal(error.code, "bad_image", `${what}: ${error.code} ${error.message}`);
    assert.match(error.message, message, what);
    assert.match(error.message, /^the uploaded image: /, what);
    assert.equal(decoderCalls, 0, `${what}: the decoder was reached`);
  }
});

Deno.test("admission: valid files from real encoders pass and decode to the same pixels as before", () => {
  const canvas = paintedCanvas();
  const files: [string, Uint8Array][] = [
    ...(["png", "jpeg", "webp", "gif"] as const).map((f) =>
      [`canvas ${f}`, encoded(canvas, f)] as [string, Uint8Array]
    ),
    ["a synthetic-world JPEG", generateImage(0, "train", 3).jpeg!],
    ["a progressive JPEG", Deno.readFileSync(new URL("./fixtures/images/progressive.jpg", import.meta.url))],
  ];
  for (const [what, bytes] of files) {
    const ours = decodeUpload(bytes, LIMIT);
    const before = referenceDecode(bytes);
    assert.deepEqual([ours.width, ours.height], [before.width, before.height], what);
    assert.ok(ours.rgb.length === before.rgb.length && ours.rgb.every((v, i) => v === before.rgb[i]), what);
  }
  // hand-made greyscale PNGs, one IDAT and several: pixels known independently of any decoder
  const grey = (x: number, y: number) => (x * 37 + y * 11) & 255;
  for (const idats of [1, 3, 7]) {
    const decoded = decodeImage(greyPng(40, 30, grey, idats), `grey/${idats}`);
    assert.deepEqual([decoded.width, decoded.height], [40, 30]);
    assert.deepEqual(decoded.rgb, greyRgb(40, 30, grey), `${idats} IDAT chunks`);
  }
});

Deno.test("admission: broken structures are named (chunk order, markers, containers)", () => {
  const join = (...parts: ArrayLike<number>[]) => new Uint8Array(parts.flatMap((p) => Array.from(p)));
  const grey = greyPng(8, 8, (x, y) => x * y, 2);
  const secondIdat = 33 + 12 + new DataView(grey.buffer).getUint32(33); // signature 8 + IHDR 25, first IDAT
  const jpeg = encoded(paintedCanvas(), "jpeg");
  const sof = jpeg.findIndex((b, i) => b === 0xff && jpeg[i + 1] === 0xc0);
  const sofSegment = jpeg.subarray(sof, sof + 2 + ((jpeg[sof + 2] << 8) | jpeg[sof + 3]));
  const gif = encoded(paintedCanvas(), "gif");
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "a PNG whose first chunk is not IHDR",
      join(grey.subarray(0, 8), pngChunk("IEND", new Uint8Array())),
      /corrupt: the PNG's first chunk is IEND/,
    ],
    [
      "a PNG with a chunk between its IDATs",
      join(
        grey.subarray(0, secondIdat),
        pngChunk("tEXt", new TextEncoder().encode("a\0b")),
        grey.subarray(secondIdat),
      ),
      /corrupt: the PNG's IDAT chunks are not consecutive/,
    ],
    [
      "a PNG with IEND and no IDAT",
      join(headerOnlyPng(4, 4), pngChunk("IEND", new Uint8Array())),
      /corrupt: the PNG has no IDAT/,
    ],
    [
      "a JPEG with two frame headers",
      join(jpeg.subarray(0, sof), sofSegment, jpeg.subarray(sof)),
      /corrupt: the JPEG has a second frame header/,
    ],
    [
      "a JPEG scan before its frame header",
      join([0xff, 0xd8, 0xff, 0xda, 0, 2, 1, 2, 0xff, 0xd9]),
      /corrupt: the JPEG has a scan \(SOS\) at byte 2 before any frame header/,
    ],
    ["a WebP with no image chunk", webpHeaderOnly(16, 16), /corrupt: the WebP has no image chunk/],
    [
      "a GIF with a stray byte after its header",
      join(gif.subarray(0, gif.indexOf(0x21, 13)), [0x99], gif.subarray(gif.indexOf(0x21, 13))),
      /corrupt: the GIF has byte 0x99/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    const { error, decoderCalls } = refusal(bytes);
    assert.equal(error.code, "bad_image", `${what}: ${error.code} ${error.message}`);
    assert.match(error.message, message, what);
    assert.equal(decoderCalls, 0, `${what}: the decoder was reached`);
  }
});
