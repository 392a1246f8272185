/**
 * Tests for lib/nets/float16.ts and lib/nets/safetensors.ts: hand-checked F16/BF16 bit patterns,
 * exhaustive rounding checks, round trips of every dtype, a byte-exact hand-built file, every
 * validation error, and a fuzz loop (any byte string parses or throws SafetensorsError).
 */
import assert from "node:assert/strict";
import {
  bf16BitsToF32,
  decodeBf16,
  decodeF16,
  encodeBf16,
  encodeF16,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
} from "../lib/nets/float16.ts";
import {
  getFloatTensor,
  readSafetensors,
  SafetensorsError,
  type SafetensorsFile,
  type TensorInput,
  writeSafetensors,
} from "../lib/nets/safetensors.ts";
import { seededUniforms } from "../lib/runtime/seeded_random.ts";

// ---------- helpers ----------

/** Deterministic PRNG so fuzz failures are reproducible. */
const rng = seededUniforms;

function f32FromBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0];
}

/** Builds a file from header text (or a JSON value) and data bytes, padding nothing. */
function buildFile(header: string | unknown, data: ArrayLike<number> = []): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(Array.from(data), 8 + json.length);
  return out;
}

function assertReadError(bytes: Uint8Array, pattern: RegExp, source = "model.safetensors"): SafetensorsError {
  let caught: unknown;
  try {
    readSafetensors(bytes, source);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof SafetensorsError, `expected SafetensorsError, got ${caught}`);
  assert.equal(caught.name, "SafetensorsError");
  assert.equal(caught.source, source);
  assert.ok(caught.message.startsWith(`${source}: `), caught.message);
  assert.match(caught.message, pattern);
  return caught;
}

function assertWriteError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SafetensorsError, `expected SafetensorsError, got ${error}`);
    assert.match(error.message, /^writeSafetensors: /);
    assert.match(error.message, pattern);
    return true;
  });
}

/** The elements of a decoded tensor as a plain array (asserting the tensor exists). */
function values(file: SafetensorsFile, name: string): unknown[] {
  const tensor = file.tensors.get(name);
  assert.ok(tensor, `tensor ${name} present`);
  return Array.from(tensor.data as ArrayLike<unknown>);
}

/** Element-wise equality for long arrays, reporting only the first mismatch (no huge diffs). */
function assertSameElements(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(`${label}: index ${i}: ${actual[i]} !== ${expected[i]}`);
    }
  }
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---------- F16 / BF16 conversions ----------

Deno.test("f16: hand-checked bit patterns", () => {
  const cases: [number, number][] = [
    [1.0, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [2 ** -24, 0x0001],
    [0.1, 0x2e66],
    [70000, 0x7c00],
    [-70000, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [0, 0x0000],
    [-0, 0x8000],
    [2 ** -14, 0x0400], // smallest normal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [65519, 0x7bff], // just below the 65504/65536 midpoint
    [65520, 0x7c00], // midpoint: ties to even, which is the overflow to inf
    [2 ** -25, 0x0000], // half the smallest subnormal: tie to even zero
    [1.5 * 2 ** -25, 0x0001],
    [2 ** -26, 0x0000],
    [1 / 3, 0x3555],
  ];
  for (const [value, bits] of cases) {
    assert.equal(f32ToF16Bits(value), bits, `f32ToF16Bits(${value})`);
    assert.equal(encodeF16(new Float32Array([value]))[0], bits, `encodeF16([${value}])`);
    assert.equal(encodeF16([value])[0], bits, `encodeF16 generic [${value}]`);
  }
  assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
  assert.ok(Number.isNaN(decodeF16(encodeF16(new Float32Array([NaN])))[0]));
  assert.equal(f32ToF16Bits(NaN), 0x7e00);
});

Deno.test("f16: decoding hand-checked values, subnormals, inf, nan, signed zero", () => {
  assert.equal(f16BitsToF32(0x3c00), 1);
  assert.equal(f16BitsToF32(0xc000), -2);
  assert.equal(f16BitsToF32(0x7bff), 65504);
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  assert.equal(f16BitsToF32(0x03ff), 1023 * 2 ** -24);
  assert.equal(f16BitsToF32(0x8001), -(2 ** -24));
  assert.equal(f16BitsToF32(0x0400), 2 ** -14);
  assert.equal(f16BitsToF32(0x2e66), 0.0999755859375);
  assert.equal(f16BitsToF32(0x7c00), Infinity);
  assert.equal(f16BitsToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
  assert.ok(Number.isNaN(f16BitsToF32(0x7c01)));
  assert.ok(Number.isNaN(f16BitsToF32(0xfe00)));
  assert.ok(Object.is(f16BitsToF32(0x8000), -0));
  assert.ok(Object.is(f16BitsToF32(0x0000), 0));
  const decoded = decodeF16(new Uint16Array([0x3c00, 0x0001, 0x7c00, 0x8000]));
  assert.deepEqual(Array.from(decoded), [1, 2 ** -24, Infinity, -0]);
});

Deno.test("f16: exhaustive round trip and ties-to-even at every midpoint (both encoders)", () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const values = decodeF16(all);
  const fast = encodeF16(values);
  for (let h = 0; h < 65536; h++) {
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN) {
      assert.ok(Number.isNaN(values[h]));
      assert.equal(fast[h], h | 0x200, `NaN payload/sign kept and quieted for ${h.toString(16)}`);
      continue;
    }
    assert.equal(f32ToF16Bits(values[h]), h, `generic round trip ${h.toString(16)}`);
    assert.equal(fast[h], h, `fast round trip ${h.toString(16)}`);
  }
  // Midpoints between consecutive finite positive (and negative) F16 values are exact F32s.
  const mids: number[] = [];
  const expected: number[] = [];
  for (let h = 0; h < 0x7bff; h++) {
    const mid = (f16BitsToF32(h) + f16BitsToF32(h + 1)) / 2;
    const even = h % 2 === 0 ? h : h + 1;
    mids.push(mid, -mid);
    expected.push(even, even | 0x8000);
  }
  const midsF32 = new Float32Array(mids);
  assertSameElements(midsF32, mids, "midpoints are exact in f32");
  assertSameElements(encodeF16(midsF32), expected, "fast encoder at midpoints");
  assertSameElements(mids.map(f32ToF16Bits), expected, "generic encoder at midpoints");
});

Deno.test("f16/bf16: fast Float32Array encoders agree with the generic number encoders on random bits", () => {
  const random = rng(1234);
  const bits = new Uint32Array(200_000);
  for (let i = 0; i < bits.length; i++) bits[i] = Math.floor(random() * 2 ** 32);
  // Bias some toward the interesting F16 exponent range (subnormal/overflow boundaries).
  for (let i = 0; i < 50_000; i++) bits[i] = (bits[i] & 0x807fffff) | ((100 + (i % 50)) << 23);
  const values = new Float32Array(bits.buffer);
  const f16 = encodeF16(values);
  const bf16 = encodeBf16(values);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) {
      assert.ok(Number.isNaN(f16BitsToF32(f16[i])));
      assert.ok(Number.isNaN(bf16BitsToF32(bf16[i])));
      continue;
    }
    assert.equal(f16[i], f32ToF16Bits(v), `f16 of bits ${bits[i].toString(16)}`);
    assert.equal(bf16[i], f32ToBf16Bits(v), `bf16 of bits ${bits[i].toString(16)}`);
  }
});

Deno.test("bf16: hand-checked bit patterns and round-to-nearest-even", () => {
  assert.equal(f32ToBf16Bits(1.0), 0x3f80);
  assert.equal(f32ToBf16Bits(-2), 0xc000);
  assert.equal(bf16BitsToF32(0x3f80), 1);
  assert.equal(bf16BitsToF32(0xc000), -2);
  const cases: [number, number][] = [
    [0x3f808000, 0x3f80], // 1 + 2^-8: exactly between 0x3F80 and 0x3F81 -> even 0x3F80
    [0x3f818000, 0x3f82], // exactly between 0x3F81 and 0x3F82 -> even 0x3F82
    [0x3f808001, 0x3f81], // just above the tie -> up
    [0x3f807fff, 0x3f80], // just below the tie -> down
    [0x7f7fffff, 0x7f80], // max f32 rounds up to inf
    [0xff7fffff, 0xff80],
    [0x00000001, 0x0000], // tiny subnormal -> 0
    [0x00008000, 0x0000], // subnormal tie -> even 0
    [0x00018000, 0x0002], // subnormal tie -> even 2
    [0x80000000, 0x8000],
  ];
  for (const [input, bits] of cases) {
    const v = f32FromBits(input);
    assert.equal(f32ToBf16Bits(v), bits, `generic ${input.toString(16)}`);
    assert.equal(encodeBf16(new Float32Array([v]))[0], bits, `fast ${input.toString(16)}`);
  }
  assert.equal(f32ToBf16Bits(NaN), 0x7fc0);
  assert.ok(Number.isNaN(decodeBf16(encodeBf16(new Float32Array([NaN])))[0]));
  assert.deepEqual(Array.from(decodeBf16(new Uint16Array([0x3f80, 0x7f80, 0x8000]))), [1, Infinity, -0]);
});

// ---------- round trips ----------

Deno.test("round trip: F32, F16, BF16, F64 and integer dtypes keep dtype, shape and values", () => {
  const f32 = new Float32Array([0, 1.5, -2.25, 3.4028234663852886e38, 1e-45, -0]);
  const f16Exact = new Float32Array([1, -2, 65504, 2 ** -24, 0.5, -0]);
  const bf16Exact = new Float32Array([1, -2, 3.140625, 2 ** 100, -0.0078125, 0]);
  const i64 = new BigInt64Array([0n, -1n, 9007199254740993n, -(2n ** 63n), 2n ** 63n - 1n]);
  const bytes = writeSafetensors({
    "w.f32": { data: f32, shape: [2, 3] },
    "w.f16": { data: f16Exact, shape: [3, 2], dtype: "F16" },
    "w.bf16": { data: bf16Exact, shape: [6], dtype: "BF16" },
    "w.f64": { data: new Float64Array([0.1, -1e300]), shape: [2] },
    "w.f64from32": { data: new Float32Array([0.5]), shape: [], dtype: "F64" },
    "i.i64": { data: i64, shape: [5] },
    "i.i32": { data: new Int32Array([-5, 2 ** 31 - 1]), shape: [1, 2] },
    "i.i16": { data: new Int16Array([-32768, 7]), shape: [2] },
    "i.i8": { data: new Int8Array([-128, 127, 0]), shape: [3] },
    "i.u64": { data: new BigUint64Array([2n ** 64n - 1n]), shape: [1] },
    "i.u32": { data: new Uint32Array([2 ** 32 - 1]), shape: [1] },
    "i.u16": { data: new Uint16Array([65535, 1]), shape: [2] },
    "i.u8": { data: new Uint8Array([255, 0, 9]), shape: [3] },
    "i.bool": { data: new Uint8Array([1, 0, 1, 1]), shape: [2, 2], dtype: "BOOL" },
    "empty": { data: new Float32Array(0), shape: [0, 4] },
  });
  const file = readSafetensors(bytes, "roundtrip");
  const get = (name: string) => {
    const t = file.tensors.get(name);
    assert.ok(t, name);
    return t;
  };
  assert.deepEqual(
    [...file.tensors.keys()],
    [
      "empty",
      "i.bool",
      "i.i16",
      "i.i32",
      "i.i64",
      "i.i8",
      "i.u16",
      "i.u32",
      "i.u64",
      "i.u8",
      "w.bf16",
      "w.f16",
      "w.f32",
      "w.f64",
      "w.f64from32",
    ],
  );
  const checks: [string, string, number[], ArrayLike<unknown>][] = [
    ["w.f32", "F32", [2, 3], f32],
    ["w.f16", "F16", [3, 2], f16Exact],
    ["w.bf16", "BF16", [6], bf16Exact],
    ["w.f64", "F64", [2], new Float32Array([0.1, -Infinity])],
    ["w.f64from32", "F64", [], [0.5]],
    ["i.i64", "I64", [5], i64],
    ["i.i32", "I32", [1, 2], [-5, 2 ** 31 - 1]],
    ["i.i16", "I16", [2], [-32768, 7]],
    ["i.i8", "I8", [3], [-128, 127, 0]],
    ["i.u64", "U64", [1], [2n ** 64n - 1n]],
    ["i.u32", "U32", [1], [2 ** 32 - 1]],
    ["i.u16", "U16", [2], [65535, 1]],
    ["i.u8", "U8", [3], [255, 0, 9]],
    ["i.bool", "BOOL", [2, 2], [1, 0, 1, 1]],
    ["empty", "F32", [0, 4], []],
  ];
  const arrayType: Record<string, string> = {
    F32: "Float32Array",
    F16: "Float32Array",
    BF16: "Float32Array",
    F64: "Float32Array",
    I64: "BigInt64Array",
    I32: "Int32Array",
    I16: "Int16Array",
    I8: "Int8Array",
    U64: "BigUint64Array",
    U32: "Uint32Array",
    U16: "Uint16Array",
    U8: "Uint8Array",
    BOOL: "Uint8Array",
  };
  for (const [name, dtype, shape, values] of checks) {
    const t = get(name);
    assert.equal(t.dtype, dtype, name);
    assert.deepEqual(t.shape, shape, name);
    assert.equal(t.data.constructor.name, arrayType[dtype], name);
    assert.deepEqual(Array.from(t.data as ArrayLike<unknown>), Array.from(values), name);
  }
  assert.ok(Object.is(get("w.f16").data[5], -0));
  // Writing the decoded file again reproduces the same bytes, except for F64 data (read as F32).
  assert.notDeepEqual(writeSafetensors(file.tensors), bytes);
  const exact = new Map(file.tensors);
  exact.delete("w.f64");
  const rewritten = writeSafetensors(exact);
  assert.deepEqual(writeSafetensors(readSafetensors(rewritten).tensors), rewritten);
  const original = readSafetensors(rewritten);
  for (const [name, tensor] of exact) {
    assert.deepEqual(values(original, name), Array.from(tensor.data as ArrayLike<unknown>), name);
  }
  // The typed union narrows on dtype.
  const t = get("i.i64");
  if (t.dtype === "I64") {
    const big: BigInt64Array = t.data;
    assert.equal(big[2], 9007199254740993n);
  }
});

Deno.test("round trip: F16/BF16 lossy values are rounded as specified in the stored bytes", () => {
  const bytes = writeSafetensors({
    h: { data: new Float32Array([0.1, 70000, NaN, -2, 1]), shape: [5], dtype: "F16" },
    b: {
      data: new Float32Array([1, f32FromBits(0x3f808000), f32FromBits(0x3f818000)]),
      shape: [3],
      dtype: "BF16",
    },
  });
  const file = readSafetensors(bytes);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const data = new DataView(bytes.buffer, 8 + n);
  // "b" sorts first: 3 BF16 values at [0, 6), then "h": 5 F16 values at [6, 16).
  assert.deepEqual([0, 1, 2].map((i) => data.getUint16(2 * i, true)), [0x3f80, 0x3f80, 0x3f82]);
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => data.getUint16(6 + 2 * i, true)), [
    0x2e66,
    0x7c00,
    0x7e00,
    0xc000,
    0x3c00,
  ]);
  const h = getFloatTensor(file, "h").data;
  assert.equal(h[0], 0.0999755859375);
  assert.equal(h[1], Infinity);
  assert.ok(Number.isNaN(h[2]));
  assert.deepEqual([h[3], h[4]], [-2, 1]);
  assert.deepEqual(Array.from(getFloatTensor(file, "b").data), [1, 1, 1.015625]);
});

Deno.test("round trip: metadata (unicode, odd keys) and Map input", () => {
  const metadata = Object.fromEntries([
    ["format", "pt"],
    ["note", 'ünïcødé 🧪 "quoted" \n newline'],
    ["__proto__", "not a prototype"],
    ["", "empty key"],
  ]);
  const bytes = writeSafetensors(new Map([["x", { data: new Float32Array([1, 2]), shape: [2] }]]), metadata);
  const file = readSafetensors(bytes);
  assert.deepEqual(Object.entries(file.metadata), Object.entries(metadata));
  assert.equal(Object.getPrototypeOf(file.metadata), Object.prototype);
  assert.deepEqual(readSafetensors(writeSafetensors({})).metadata, {});
  assert.deepEqual(readSafetensors(writeSafetensors({}, {})).metadata, {});
  assert.equal(readSafetensors(writeSafetensors({})).tensors.size, 0);
});

// ---------- byte-exact format ----------

const HAND_HEADER = '{"__metadata__":{"format":"pt"},' +
  '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
  '"b":{"dtype":"F16","shape":[1,1],"data_offsets":[8,10]}}';

/** A 2-tensor file written byte by byte: a = F32 [1, -2], b = F16 [[1]], metadata format=pt. */
function handBuiltFile(): Uint8Array {
  assert.equal(HAND_HEADER.length, 141);
  // u64 little-endian header length: 141 bytes of JSON + 3 spaces of padding = 144 = 0x90.
  const prefix = [0x90, 0, 0, 0, 0, 0, 0, 0];
  const header = [...new TextEncoder().encode(HAND_HEADER), 0x20, 0x20, 0x20];
  // a: 1.0f = 0x3F800000, -2.0f = 0xC0000000, little-endian.
  const a = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0];
  // b: F16 1.0 = 0x3C00, little-endian.
  const b = [0x00, 0x3c];
  return new Uint8Array([...prefix, ...header, ...a, ...b]);
}

Deno.test("byte-exact: a hand-built file reads correctly and writing reproduces it exactly", () => {
  const bytes = handBuiltFile();
  assert.equal(bytes.length, 8 + 144 + 10);
  const file = readSafetensors(bytes, "hand.safetensors");
  assert.deepEqual(file.metadata, { format: "pt" });
  assert.deepEqual([...file.tensors.keys()], ["a", "b"]);
  const a = file.tensors.get("a")!;
  const b = file.tensors.get("b")!;
  assert.equal(a.dtype, "F32");
  assert.deepEqual(a.shape, [2]);
  assert.deepEqual(Array.from(a.data), [1, -2]);
  assert.equal(b.dtype, "F16");
  assert.deepEqual(b.shape, [1, 1]);
  assert.deepEqual(Array.from(b.data), [1]);
  // Aligned F32 data is a zero-copy view into the input.
  assert.equal(a.data.buffer, bytes.buffer);

  const written = writeSafetensors(
    {
      b: { data: new Float32Array([1]), shape: [1, 1], dtype: "F16" },
      a: { data: new Float32Array([1, -2]), shape: [2] },
    },
    { format: "pt" },
  );
  assert.deepEqual(written, bytes);
  assert.deepEqual(writeSafetensors(file.tensors, file.metadata), bytes);
});

Deno.test("reading: unaligned offsets, unaligned input views, header order and space padding", () => {
  // U8 first makes the F32, I64 and F16 tensors start at odd offsets.
  const tensors: Record<string, TensorInput> = {
    a: { data: new Uint8Array([7]), shape: [1] },
    b: { data: new Float32Array([1.5, -3]), shape: [2] },
    c: { data: new BigInt64Array([-2n, 5n]), shape: [2] },
    d: { data: new Float32Array([0.5, 65504]), shape: [2], dtype: "F16" },
    e: { data: new Float64Array([2.5]), shape: [1] },
  };
  const bytes = writeSafetensors(tensors);
  // Embed at an odd byte offset inside a larger buffer.
  const big = new Uint8Array(bytes.length + 3);
  big.set(bytes, 1);
  for (const input of [bytes, big.subarray(1, 1 + bytes.length)]) {
    const file = readSafetensors(input);
    assert.deepEqual(values(file, "a"), [7]);
    assert.deepEqual(values(file, "b"), [1.5, -3]);
    assert.deepEqual(values(file, "c"), [-2n, 5n]);
    assert.deepEqual(values(file, "d"), [0.5, 65504]);
    assert.deepEqual(values(file, "e"), [2.5]);
  }
  // Header entries in a different order than the data, heavy space padding, extra entry keys.
  const header = JSON.stringify({
    z: { dtype: "I32", shape: [1], data_offsets: [0, 4], extra: true },
    y: { dtype: "U8", shape: [2], data_offsets: [4, 6] },
  }) + " ".repeat(37);
  const file = readSafetensors(buildFile(header, [1, 0, 0, 0, 9, 8]));
  assert.deepEqual([...file.tensors.keys()], ["z", "y"]);
  assert.deepEqual(values(file, "z"), [1]);
  assert.deepEqual(values(file, "y"), [9, 8]);
  // Zero-element tensors may share an offset; a scalar has shape [].
  const zeros = readSafetensors(buildFile({
    e1: { dtype: "F32", shape: [0], data_offsets: [0, 0] },
    s: { dtype: "F32", shape: [], data_offsets: [0, 4] },
    e2: { dtype: "I64", shape: [3, 0], data_offsets: [4, 4] },
  }, [0, 0, 0x80, 0x3f]));
  assert.deepEqual(values(zeros, "s"), [1]);
  assert.equal(zeros.tensors.get("e2")!.data.length, 0);
});

Deno.test("writing: header padded to a multiple of 8 with spaces, offsets contiguous ascending by name", () => {
  const random = rng(7);
  for (let trial = 0; trial < 50; trial++) {
    const tensors: Record<string, TensorInput> = {};
    const count = 1 + Math.floor(random() * 6);
    for (let i = 0; i < count; i++) {
      const name = `t${Math.floor(random() * 1000)}${"x".repeat(Math.floor(random() * 9))}`;
      const shape = [Math.floor(random() * 4), 1 + Math.floor(random() * 3)];
      const dtype = (["F32", "F16", "BF16", "F64"] as const)[Math.floor(random() * 4)];
      tensors[name] = { data: new Float32Array(product(shape)).map(() => random()), shape, dtype };
    }
    const bytes = writeSafetensors(tensors, { trial: String(trial) });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.match(text, /^\{.*\} {0,7}$/);
    const header = JSON.parse(text) as Record<string, { data_offsets: [number, number] }>;
    const names = Object.keys(header).filter((k) => k !== "__metadata__");
    assert.deepEqual(names, Object.keys(tensors).sort());
    let offset = 0;
    for (const name of names) {
      assert.equal(header[name].data_offsets[0], offset);
      offset = header[name].data_offsets[1];
    }
    assert.equal(offset, bytes.length - 8 - n);
    readSafetensors(bytes);
  }
});

// ---------- validation errors (reading) ----------

const F32_2 = { dtype: "F32", shape: [2], data_offsets: [0, 8] };

Deno.test("errors: file shorter than 8 bytes", () => {
  for (let length = 0; length < 8; length++) {
    assertReadError(
      new Uint8Array(length),
      new RegExp(`only ${length} bytes.*8-byte little-endian header length`),
    );
  }
  // Without a source name, a stand-in is used.
  assert.throws(
    () => readSafetensors(new Uint8Array(3)),
    /^SafetensorsError: safetensors data: file is only 3/,
  );
});

Deno.test("errors: header length larger than the file or absurdly large", () => {
  const prefix = (n: bigint, extra = 0) => {
    const b = new Uint8Array(8 + extra);
    new DataView(b.buffer).setBigUint64(0, n, true);
    return b;
  };
  assertReadError(prefix(100n, 20), /header length 100 bytes is larger than the file: only 20 bytes follow/);
  assertReadError(prefix(1n), /header length 1 bytes is larger than the file: only 0 bytes/);
  assertReadError(
    prefix(100_000_001n, 4),
    /header length 100000001 bytes is larger than the 100000000-byte limit/,
  );
  assertReadError(prefix(2n ** 64n - 1n), /header length 18446744073709551615 bytes .*100000000-byte limit/);
});

Deno.test("errors: header not UTF-8, not JSON, not an object", () => {
  assertReadError(buildFile("", []), /must be a JSON object starting with "\{"/);
  assertReadError(new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0xff, 0x7d]), /not valid UTF-8/);
  assertReadError(new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0, 0xef, 0xbb, 0xbf, 0x7b]), /starting with "\{"/); // BOM
  assertReadError(buildFile("{abc"), /header is not valid JSON/);
  assertReadError(buildFile('{"a": 1} x'), /header is not valid JSON/);
  assertReadError(
    buildFile("[1, 2]"),
    /must be a JSON object starting with "\{", but starts with "\[1, 2\]"/,
  );
  assertReadError(buildFile("null"), /must be a JSON object/);
  assertReadError(buildFile('"str"'), /must be a JSON object/);
  assertReadError(buildFile(" {}"), /must be a JSON object starting with "\{"/);
});

Deno.test("errors: entries missing dtype/shape/data_offsets or with wrong types", () => {
  assertReadError(buildFile({ w: 5 }), /tensor "w": entry must be an object \{"dtype"/);
  assertReadError(buildFile({ w: [1] }), /tensor "w": entry must be an object/);
  assertReadError(buildFile({ w: { shape: [2], data_offsets: [0, 8] } }), /tensor "w": entry has no "dtype"/);
  assertReadError(
    buildFile({ w: { dtype: "F32", data_offsets: [0, 8] } }),
    /tensor "w": entry has no "shape"/,
  );
  assertReadError(buildFile({ w: { dtype: "F32", shape: [2] } }), /tensor "w": entry has no "data_offsets"/);
  assertReadError(buildFile({ w: { ...F32_2, dtype: 5 } }), /"dtype" must be a string \(one of F64, F32/);
  assertReadError(
    buildFile({ w: { ...F32_2, shape: "2" } }),
    /"shape" must be an array of non-negative integers/,
  );
  assertReadError(buildFile({ w: { ...F32_2, shape: [2, "1"] } }), /has "1" at index 1; dimensions must be/);
  assertReadError(buildFile({ w: { ...F32_2, data_offsets: [0] } }), /"data_offsets" must be \[begin, end\]/);
  assertReadError(
    buildFile({ w: { ...F32_2, data_offsets: ["0", "8"] } }),
    /"data_offsets" must be \[begin, end\]/,
  );
  assertReadError(buildFile({ w: { ...F32_2, data_offsets: [0, 8, 9] } }), /"data_offsets" must be/);
  assertReadError(buildFile({ w: { ...F32_2, data_offsets: [-8, 0] } }), /two non-negative integers/);
  assertReadError(buildFile({ w: { ...F32_2, data_offsets: [0.5, 8.5] } }), /two non-negative integers/);
  assertReadError(buildFile({ w: { ...F32_2, data_offsets: [8, 0] } }), /\[8, 0\] ends before it begins/);
  assertReadError(
    buildFile('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,1e400]}}'),
    /two non-negative integers, got \[0,null\]/,
  );
});

Deno.test("errors: unsupported dtype names it and lists the supported ones", () => {
  for (const dtype of ["F8_E4M3", "C64", "f32", "__proto__", "toString"]) {
    const error = assertReadError(buildFile({ w: { ...F32_2, dtype } }), /unsupported dtype/);
    assert.ok(error.message.includes(`"${dtype}"`), error.message);
    assert.match(error.message, /supported: F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL/);
  }
});

Deno.test("errors: negative or non-integer shape", () => {
  assertReadError(
    buildFile({ w: { ...F32_2, shape: [-1] } }),
    /"shape" \[-1\] has -1 at index 0; dimensions must be non-negative integers/,
  );
  assertReadError(buildFile({ w: { ...F32_2, shape: [1.5] } }), /has 1\.5 at index 0/);
  assertReadError(buildFile({ w: { ...F32_2, shape: [2, null] } }), /has null at index 1/);
  assertReadError(
    buildFile({ w: { ...F32_2, shape: [2 ** 30, 2 ** 30, 2 ** 30] } }),
    /more than 2\^53 elements/,
  );
});

Deno.test("errors: data_offsets length differs from product(shape) * itemsize", () => {
  assertReadError(
    buildFile({ w: { dtype: "F32", shape: [2, 3], data_offsets: [0, 8] } }, new Uint8Array(8)),
    /tensor "w": "data_offsets" \[0, 8\] span 8 bytes, but shape \[2,3\] of F32 needs 6 x 4 = 24 bytes/,
  );
  assertReadError(
    buildFile({ w: { dtype: "BF16", shape: [], data_offsets: [0, 4] } }, new Uint8Array(4)),
    /needs 1 x 2 = 2 bytes/,
  );
});

Deno.test("errors: truncated data says how many bytes are missing", () => {
  const bytes = handBuiltFile();
  assertReadError(
    bytes.subarray(0, bytes.length - 3),
    /tensor "b" "data_offsets" \[8, 10\] run past the end.*3 bytes missing/,
  );
  assertReadError(bytes.subarray(0, 8 + 144), /10 bytes missing/);
  // Truncation inside the header is reported as a header/file length problem.
  assertReadError(bytes.subarray(0, 100), /header length 144 bytes is larger than the file: only 92 bytes/);
});

Deno.test("errors: overlapping tensors, gaps and trailing bytes", () => {
  assertReadError(
    buildFile({ a: F32_2, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)),
    /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/,
  );
  assertReadError(
    buildFile({ a: F32_2, b: F32_2 }, new Uint8Array(8)),
    /tensors "a" \[0, 8\] and "b" \[0, 8\] overlap/,
  );
  assertReadError(
    buildFile({ a: F32_2, b: { dtype: "F32", shape: [1], data_offsets: [12, 16] } }, new Uint8Array(16)),
    /4 unused bytes after tensor "a" \(before "b" at 12\); tensors must be packed contiguously/,
  );
  assertReadError(
    buildFile({ a: { dtype: "U8", shape: [2], data_offsets: [2, 4] } }, new Uint8Array(4)),
    /2 unused bytes at the start of the data buffer/,
  );
  assertReadError(
    buildFile({ a: F32_2 }, new Uint8Array(11)),
    /3 bytes of trailing data after the last tensor/,
  );
  assertReadError(buildFile({}, [1]), /1 bytes of trailing data/);
});

Deno.test("errors: bad __metadata__", () => {
  assertReadError(
    buildFile({ __metadata__: { a: 1 } }),
    /"__metadata__" value for "a" must be a string, got 1/,
  );
  assertReadError(buildFile({ __metadata__: ["x"] }), /"__metadata__" must be an object of strings/);
  assertReadError(buildFile({ __metadata__: "x" }), /"__metadata__" must be an object of strings/);
  assert.deepEqual(readSafetensors(buildFile({ __metadata__: null })).metadata, {});
});

// ---------- validation errors (writing, lookups) ----------

Deno.test("errors: writeSafetensors rejects bad input with SafetensorsError", () => {
  assertWriteError(
    () => writeSafetensors({ w: { data: new Float32Array(3), shape: [2, 2] } }),
    /tensor "w": shape \[2,2\] has 4 elements but data has 3/,
  );
  assertWriteError(
    () => writeSafetensors({ w: { data: new Float32Array(2), shape: [-2] } }),
    /tensor "w": "shape" \[-2\] has -2 at index 0/,
  );
  assertWriteError(
    () => writeSafetensors({ w: { data: new Int32Array(2), shape: [2], dtype: "I64" } }),
    /dtype I64 needs BigInt64Array data, got Int32Array/,
  );
  assertWriteError(
    () => writeSafetensors({ w: { data: new Int32Array(2), shape: [2], dtype: "F16" } }),
    /dtype F16 needs Float32Array or Float64Array data, got Int32Array/,
  );
  assertWriteError(
    () => writeSafetensors({ w: { data: new Uint8Array([0, 2]), shape: [2], dtype: "BOOL" } }),
    /BOOL data must be 0 or 1, got 2 at index 1/,
  );
  assertWriteError(
    () => writeSafetensors({ __metadata__: { data: new Float32Array(1), shape: [1] } }),
    /"__metadata__" is reserved/,
  );
  assertWriteError(
    () => writeSafetensors({ w: { data: new Float32Array(1), shape: [1], dtype: "F8" as "F32" } }),
    /unsupported dtype "F8" \(supported: F64, F32/,
  );
  assertWriteError(
    () => writeSafetensors({ w: { data: [1, 2] as unknown as Float32Array, shape: [2] } }),
    /data must be a typed array/,
  );
  assertWriteError(
    () => writeSafetensors({}, { a: 5 as unknown as string }),
    /metadata value for "a" must be a string, got 5/,
  );
});

Deno.test("getFloatTensor: returns float tensors, explains missing names and wrong dtypes", () => {
  const file: SafetensorsFile = readSafetensors(
    writeSafetensors({
      w: { data: new Float32Array([1, 2]), shape: [2], dtype: "BF16" },
      i: { data: new Int32Array([1]), shape: [1] },
    }),
  );
  assert.deepEqual(Array.from(getFloatTensor(file, "w").data), [1, 2]);
  assert.throws(() => getFloatTensor(file, "nope", "m.safetensors"), (error: unknown) => {
    assert.ok(error instanceof SafetensorsError);
    assert.match(error.message, /^m\.safetensors: no tensor named "nope"; present: "i", "w"$/);
    return true;
  });
  assert.throws(() => getFloatTensor(file, "i"), /tensor "i" has dtype I32; expected a float dtype/);
});

// ---------- fuzz ----------

/** Parses `bytes`; returns true when it parsed. Fails the test on anything but a SafetensorsError. */
function parsesOrRejects(bytes: Uint8Array, label: string): boolean {
  try {
    const file = readSafetensors(bytes, "fuzz");
    for (const [name, t] of file.tensors) {
      assert.equal(t.data.length, product(t.shape), `${label}: ${name} length matches shape`);
    }
    return true;
  } catch (error) {
    if (error instanceof SafetensorsError) return false;
    throw new Error(`${label}: threw ${error}`, { cause: error });
  }
}

Deno.test("fuzz: truncations, bit flips, garbage and header mutations parse or throw SafetensorsError", () => {
  const random = rng(20240601);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const valid = writeSafetensors({
    a: { data: new Uint8Array([1, 2, 3]), shape: [3] },
    b: { data: new Float32Array([1, 2, 3, 4]), shape: [2, 2], dtype: "F16" },
    c: { data: new Float32Array([0.5, -1]), shape: [2] },
    d: { data: new BigInt64Array([1n, -1n]), shape: [2] },
    e: { data: new Float32Array([3]), shape: [1, 1], dtype: "BF16" },
  }, { format: "pt" });
  const headerLength = Number(new DataView(valid.buffer).getBigUint64(0, true));
  let parsed = 0;
  let rejected = 0;
  const tally = (ok: boolean) => ok ? parsed++ : rejected++;

  for (let i = 0; i < 2000; i++) {
    tally(parsesOrRejects(valid.subarray(0, Math.floor(random() * (valid.length + 1))), `truncate ${i}`));
  }
  for (let i = 0; i < 3000; i++) {
    const mutated = valid.slice();
    const flips = 1 + Math.floor(random() * 4);
    for (let f = 0; f < flips; f++) {
      // Mostly hit the prefix and header, where structure lives.
      const limit = random() < 0.8 ? 8 + headerLength : mutated.length;
      mutated[Math.floor(random() * limit)] ^= 1 << Math.floor(random() * 8);
    }
    tally(parsesOrRejects(mutated, `bitflip ${i}`));
  }
  for (let i = 0; i < 1000; i++) {
    const garbage = new Uint8Array(Math.floor(random() * 64)).map(() => Math.floor(random() * 256));
    if (garbage.length >= 8 && random() < 0.7) {
      new DataView(garbage.buffer).setBigUint64(0, BigInt(Math.floor(random() * (garbage.length - 7))), true);
      if (random() < 0.5 && garbage.length > 8) garbage[8] = 0x7b;
    }
    tally(parsesOrRejects(garbage, `garbage ${i}`));
  }
  const text = new TextDecoder().decode(valid.subarray(8, 8 + headerLength));
  const data = valid.subarray(8 + headerLength);
  const weird: unknown[] = [
    -1,
    0,
    1,
    2,
    1.5,
    1e300,
    -0,
    2 ** 53,
    "F32",
    "F8_E4M3",
    "x",
    "",
    null,
    true,
    [],
    {},
    [0],
    [0, 8],
    [8, 0],
    [0, 1, 2],
    [-1, 3],
    ["0", "8"],
    [[1]],
    { dtype: "F32" },
  ];
  for (let i = 0; i < 3000; i++) {
    const header = JSON.parse(text) as Record<string, Record<string, unknown>>;
    const names = Object.keys(header);
    const mutations = 1 + Math.floor(random() * 3);
    for (let m = 0; m < mutations; m++) {
      const name = pick(names);
      const entry = header[name];
      const roll = random();
      if (roll < 0.1) header[name] = pick(weird) as Record<string, unknown>;
      else if (roll < 0.2) delete header[name];
      else if (roll < 0.3) {
        header[`new${m}`] = { dtype: pick(["F32", "U8", "I64"]), shape: [1], data_offsets: pick(weird) };
      } else if (typeof entry === "object" && entry !== null && !Array.isArray(entry)) {
        const key = pick(["dtype", "shape", "data_offsets", "format"]);
        const current = entry[key];
        if (Array.isArray(current) && current.length > 0 && random() < 0.6) {
          const copy = [...current];
          copy[Math.floor(random() * copy.length)] = pick(weird);
          entry[key] = copy;
        } else {
          entry[key] = pick(weird);
        }
      }
    }
    const extra = random() < 0.2 ? Math.floor(random() * 5) : 0;
    const body = random() < 0.5 ? data : data.subarray(0, Math.max(0, data.length - extra));
    tally(parsesOrRejects(buildFile(JSON.stringify(header), body), `header mutation ${i}`));
  }
  // Both outcomes must actually occur, or the fuzz is not exercising anything.
  assert.ok(parsed > 100, `parsed ${parsed}`);
  assert.ok(rejected > 1000, `rejected ${rejected}`);
});
