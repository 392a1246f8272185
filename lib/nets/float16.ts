/**
 * Half-precision float conversions: IEEE 754 binary16 ("F16") and bfloat16 ("BF16") to and from
 * 32-bit floats. Pure arithmetic over numbers and typed arrays, no I/O; the safetensors reader and
 * writer use it for F16/BF16 tensors.
 *
 * All encoders round to nearest, ties to even; values too large for the format become ±Infinity,
 * values too small become (signed) zero or a subnormal. NaN stays NaN (the bulk Float32Array
 * encoders keep the sign and the top payload bits, always quiet). All decoders are exact, since
 * every F16 and BF16 value is representable as an F32.
 */

/** F16 bit pattern of +Infinity. */
export const F16_INFINITY = 0x7c00;
/** F16 bit pattern of the canonical quiet NaN produced by {@link f32ToF16Bits}. */
export const F16_NAN = 0x7e00;
/** BF16 bit pattern of +Infinity. */
export const BF16_INFINITY = 0x7f80;
/** BF16 bit pattern of the canonical quiet NaN produced by {@link f32ToBf16Bits}. */
export const BF16_NAN = 0x7fc0;

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);
const scratchF64 = new Float64Array(1);
const scratchDV = new DataView(scratchF64.buffer);

/** Unbiased binary exponent of a finite, non-zero, non-negative double (-1023 for double subnormals). */
function exponentOf(a: number): number {
  scratchDV.setFloat64(0, a);
  return ((scratchDV.getUint32(0) >>> 20) & 0x7ff) - 1023;
}

/** Rounds a non-negative double to an integer, ties to even. */
function roundHalfEven(q: number): number {
  const f = Math.floor(q);
  const d = q - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/**
 * Encodes any number (not only F32 values, so no double rounding) to a small IEEE-style binary
 * format with `mantBits` stored mantissa bits and `expBits` exponent bits; returns its bit pattern.
 */
function encodeNumber(x: number, mantBits: number, expBits: number): number {
  const expMask = (1 << expBits) - 1;
  const bias = (1 << (expBits - 1)) - 1;
  const emin = 1 - bias;
  const implicit = 2 ** mantBits;
  const infBits = expMask << mantBits;
  if (Number.isNaN(x)) return infBits | (1 << (mantBits - 1));
  const sign = x < 0 || Object.is(x, -0) ? 1 << (mantBits + expBits) : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | infBits;
  if (a === 0) return sign;
  let e = exponentOf(a);
  if (e < emin) {
    // Subnormal: count units of 2^(emin - mantBits). Rounding up to `implicit` yields the smallest
    // normal, whose bit pattern is exactly `implicit`, so no special case is needed.
    return sign | roundHalfEven(a * 2 ** (mantBits - emin));
  }
  let m = roundHalfEven(a * 2 ** (mantBits - e)); // in [implicit, 2 * implicit]
  if (m === 2 * implicit) {
    m = implicit;
    e += 1;
  }
  if (e + bias >= expMask) return sign | infBits;
  return sign | ((e + bias) << mantBits) | (m - implicit);
}

/**
 * F16 bit pattern (0..0xFFFF) of a number, rounded to nearest even; overflow gives ±Infinity
 * (0x7C00/0xFC00), NaN gives 0x7E00. Works on the exact double, so no double rounding through F32.
 */
export function f32ToF16Bits(x: number): number {
  return encodeNumber(x, 10, 5);
}

/** BF16 bit pattern (0..0xFFFF) of a number, rounded to nearest even; NaN gives 0x7FC0. */
export function f32ToBf16Bits(x: number): number {
  return encodeNumber(x, 7, 8);
}

let f16Table: Uint32Array | undefined;

/** F32 bit patterns of all 65536 F16 values (built on first use, 256 KiB); NaN payloads preserved. */
function f16ToF32BitsTable(): Uint32Array {
  if (f16Table) return f16Table;
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) {
      table[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0;
    } else if (exp === 0) {
      scratchF32[0] = mant * 2 ** -24; // exact: every F16 subnormal is an F32 normal
      table[h] = (sign | scratchU32[0]) >>> 0;
    } else {
      table[h] = (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
    }
  }
  f16Table = table;
  return table;
}

/** The value of an F16 bit pattern (only the low 16 bits of `bits` are used). Exact. */
export function f16BitsToF32(bits: number): number {
  scratchU32[0] = f16ToF32BitsTable()[bits & 0xffff];
  return scratchF32[0];
}

/** The value of a BF16 bit pattern (the top half of an F32; only the low 16 bits are used). Exact. */
export function bf16BitsToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0];
}

/** Decodes F16 bit patterns (host order) to a new Float32Array of the same length. */
export function decodeF16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const out32 = new Uint32Array(out.buffer);
  const table = f16ToF32BitsTable();
  for (let i = 0; i < bits.length; i++) out32[i] = table[bits[i]];
  return out;
}

/** Decodes BF16 bit patterns (host order) to a new Float32Array of the same length. */
export function decodeBf16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const out32 = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) out32[i] = bits[i] << 16;
  return out;
}

/** Views a Float32Array's elements as their bit patterns (no copy). */
function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/**
 * Encodes values to F16 bit patterns (host order). Float32Array input takes a bit-level fast path
 * (NaN keeps its sign and top payload bits, forced quiet); other inputs go through
 * {@link f32ToF16Bits} element by element.
 */
export function encodeF16(values: Float32Array | Float64Array | ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  if (!(values instanceof Float32Array)) {
    for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
    return out;
  }
  const src = bitsOf(values);
  for (let i = 0; i < src.length; i++) {
    const b = src[i];
    const sign = (b >>> 16) & 0x8000;
    const exp = (b >>> 23) & 0xff;
    const mant = b & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant === 0 ? 0 : 0x200 | (mant >>> 13));
      continue;
    }
    const e = exp - 127 + 15; // biased F16 exponent
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      if (e < -10) {
        out[i] = sign; // below 2^-25: rounds to zero (2^-25 itself is the e = -10 tie case)
        continue;
      }
      const m = mant | 0x800000;
      const shift = 14 - e; // 14..24
      let r = m >>> shift;
      const rem = m & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rem > half || (rem === half && (r & 1) === 1)) r += 1;
      out[i] = sign | r;
    } else {
      let r = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1)) r += 1; // a carry into the exponent is correct
      out[i] = sign | r;
    }
  }
  return out;
}

/**
 * Encodes values to BF16 bit patterns (host order). Float32Array input takes a bit-level fast path
 * (NaN keeps its sign and top payload bits, forced quiet); other inputs go through
 * {@link f32ToBf16Bits} element by element.
 */
export function encodeBf16(values: Float32Array | Float64Array | ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  if (!(values instanceof Float32Array)) {
    for (let i = 0; i < values.length; i++) out[i] = f32ToBf16Bits(values[i]);
    return out;
  }
  const src = bitsOf(values);
  for (let i = 0; i < src.length; i++) {
    const b = src[i];
    if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) {
      out[i] = (b >>> 16) | 0x40;
    } else {
      out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    }
  }
  return out;
}
