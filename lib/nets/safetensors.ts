/**
 * Reader and writer for the safetensors format (https://github.com/huggingface/safetensors): an
 * 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON header (possibly padded with
 * trailing spaces) mapping tensor names to `{"dtype", "shape", "data_offsets": [begin, end]}` plus an
 * optional `"__metadata__": {string: string}`, then the raw little-endian data buffer, with offsets
 * relative to its first byte.
 *
 * Reading validates strictly, following the upstream reference implementation (tensors must tile
 * the data buffer exactly: no overlaps, no gaps, no trailing bytes) and reports every problem as a
 * {@link SafetensorsError} naming the source, what is wrong and what is valid; it never throws
 * anything else, whatever the bytes. Float tensors (F64, F32, F16, BF16) decode to Float32Array;
 * integer and bool tensors keep their width (see {@link DtypeArrayMap}).
 */
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from "./float16.ts";

/** Every dtype this module reads and writes, in the order error messages list them. */
export const SUPPORTED_DTYPES = [
  "F64",
  "F32",
  "F16",
  "BF16",
  "I64",
  "I32",
  "I16",
  "I8",
  "U64",
  "U32",
  "U16",
  "U8",
  "BOOL",
] as const;

/** A supported safetensors dtype name, as stored in the header. */
export type Dtype = typeof SUPPORTED_DTYPES[number];

/** The float dtypes; all of them decode to Float32Array. */
export type FloatDtype = "F64" | "F32" | "F16" | "BF16";

/** The typed array a tensor of each stored dtype decodes to. */
export interface DtypeArrayMap {
  F64: Float32Array;
  F32: Float32Array;
  F16: Float32Array;
  BF16: Float32Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U64: BigUint64Array;
  U32: Uint32Array;
  U16: Uint16Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}

/** Any decoded tensor data array. */
export type TensorArray = DtypeArrayMap[Dtype];

/**
 * A decoded tensor. `dtype` is the dtype as stored in the file; narrowing on it narrows `data`.
 * `data.length` is the product of `shape` (1 for a scalar `[]`), in row-major order.
 */
export type SafetensorsTensor = {
  [D in Dtype]: { dtype: D; shape: number[]; data: DtypeArrayMap[D] };
}[Dtype];

/** A decoded file: tensors in data-buffer order, and the `__metadata__` strings (`{}` when absent). */
export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/**
 * A tensor to write. Without `dtype`, it is inferred from the array type (Float32Array -> F32,
 * Float64Array -> F64, BigInt64Array -> I64, Int32Array -> I32, Uint8Array -> U8, ...). Float
 * dtypes accept Float32Array or Float64Array data and convert it (F16 and BF16 round to nearest
 * even, overflow to ±Infinity); integer dtypes need their exact array type; BOOL needs a
 * Uint8Array of 0s and 1s. A decoded {@link SafetensorsTensor} is a valid input (re-encoded to its
 * stored dtype).
 */
export interface TensorInput {
  data: TensorArray | Float64Array;
  shape: readonly number[];
  dtype?: Dtype;
}

/** The tensors to write, by name: a plain object or a Map. */
export type TensorsInput = Readonly<Record<string, TensorInput>> | ReadonlyMap<string, TensorInput>;

/** The error every read and write failure throws; `source` is the file name (or a stand-in). */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
  /** What was being read or written: the `source` passed to {@link readSafetensors}, or a stand-in. */
  readonly source: string;

  constructor(source: string, message: string, options?: ErrorOptions) {
    super(`${source}: ${message}`, options);
    this.source = source;
  }
}

/** Largest header accepted, as upstream (`MAX_HEADER_SIZE`): anything bigger is corrupt. */
export const MAX_HEADER_BYTES = 100_000_000;

const ITEM_SIZE: Readonly<Record<Dtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const SUPPORTED_LIST = SUPPORTED_DTYPES.join(", ");
const READ_SOURCE = "safetensors data";
const WRITE_SOURCE = "writeSafetensors";

function isDtype(value: string): value is Dtype {
  return Object.hasOwn(ITEM_SIZE, value);
}

function isFloatDtype(dtype: Dtype): dtype is FloatDtype {
  return dtype === "F64" || dtype === "F32" || dtype === "F16" || dtype === "BF16";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short JSON rendering of a header value for error messages. */
function describe(value: unknown): string {
  let text: string;
  try {
    text = String(JSON.stringify(value));
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Reverses the bytes of each `itemSize`-byte item in place (little-endian <-> host on big-endian hosts). */
function swapBytes(bytes: Uint8Array, itemSize: number): void {
  if (itemSize === 1) return;
  for (let i = 0; i + itemSize <= bytes.length; i += itemSize) {
    for (let a = i, b = i + itemSize - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/**
 * A buffer and byte offset at which `byteLength` little-endian bytes starting at `bytes[start]` can
 * be viewed as host-order items of `itemSize` bytes: the input buffer itself when the host is
 * little-endian and the position is aligned (no copy), otherwise an aligned (and swapped) copy.
 */
function hostOrderBuffer(
  bytes: Uint8Array,
  start: number,
  byteLength: number,
  itemSize: number,
): [ArrayBufferLike, number] {
  const absolute = bytes.byteOffset + start;
  if (LITTLE_ENDIAN_HOST && absolute % itemSize === 0) return [bytes.buffer, absolute];
  const copy = bytes.slice(start, start + byteLength);
  if (!LITTLE_ENDIAN_HOST) swapBytes(copy, itemSize);
  return [copy.buffer, 0];
}

/** Decodes one validated tensor whose bytes start at `bytes[start]`. */
function decodeTensor(
  bytes: Uint8Array,
  start: number,
  dtype: Dtype,
  shape: number[],
  count: number,
): SafetensorsTensor {
  const [buffer, offset] = hostOrderBuffer(bytes, start, count * ITEM_SIZE[dtype], ITEM_SIZE[dtype]);
  switch (dtype) {
    case "F64":
      return { dtype, shape, data: new Float32Array(new Float64Array(buffer, offset, count)) };
    case "F32":
      return { dtype, shape, data: new Float32Array(buffer, offset, count) };
    case "F16":
      return { dtype, shape, data: decodeF16(new Uint16Array(buffer, offset, count)) };
    case "BF16":
      return { dtype, shape, data: decodeBf16(new Uint16Array(buffer, offset, count)) };
    case "I64":
      return { dtype, shape, data: new BigInt64Array(buffer, offset, count) };
    case "I32":
      return { dtype, shape, data: new Int32Array(buffer, offset, count) };
    case "I16":
      return { dtype, shape, data: new Int16Array(buffer, offset, count) };
    case "I8":
      return { dtype, shape, data: new Int8Array(buffer, offset, count) };
    case "U64":
      return { dtype, shape, data: new BigUint64Array(buffer, offset, count) };
    case "U32":
      return { dtype, shape, data: new Uint32Array(buffer, offset, count) };
    case "U16":
      return { dtype, shape, data: new Uint16Array(buffer, offset, count) };
    case "U8":
    case "BOOL":
      return { dtype, shape, data: new Uint8Array(buffer, offset, count) };
  }
}

/**
 * Validates a shape (array of non-negative safe integers) and returns its element count, or an
 * error message describing what is wrong.
 */
function checkShape(shape: unknown): number | string {
  if (!Array.isArray(shape)) {
    return `"shape" must be an array of non-negative integers, got ${describe(shape)}`;
  }
  let count = 1;
  for (let i = 0; i < shape.length; i++) {
    const dim: unknown = shape[i];
    if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
      return `"shape" ${describe(shape)} has ${describe(dim)} at index ${i}; ` +
        `dimensions must be non-negative integers`;
    }
    count *= dim;
  }
  if (count > Number.MAX_SAFE_INTEGER) return `"shape" ${describe(shape)} has more than 2^53 elements`;
  return count;
}

interface HeaderEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  count: number;
  begin: number;
  end: number;
}

/** Validates one header entry (everything that does not depend on the other entries). */
function parseEntry(name: string, raw: unknown, fail: (message: string) => SafetensorsError): HeaderEntry {
  const where = `tensor ${JSON.stringify(name)}`;
  const expected = `{"dtype": string, "shape": [int, ...], "data_offsets": [begin, end]}`;
  if (!isRecord(raw)) throw fail(`${where}: entry must be an object ${expected}, got ${describe(raw)}`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (dtype === undefined) throw fail(`${where}: entry has no "dtype"; expected ${expected}`);
  if (shape === undefined) throw fail(`${where}: entry has no "shape"; expected ${expected}`);
  if (offsets === undefined) throw fail(`${where}: entry has no "data_offsets"; expected ${expected}`);
  if (typeof dtype !== "string") {
    throw fail(`${where}: "dtype" must be a string (one of ${SUPPORTED_LIST}), got ${describe(dtype)}`);
  }
  if (!isDtype(dtype)) {
    throw fail(`${where}: unsupported dtype ${describe(dtype)} (supported: ${SUPPORTED_LIST})`);
  }
  const count = checkShape(shape);
  if (typeof count === "string") throw fail(`${where}: ${count}`);
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o: unknown) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)
  ) {
    throw fail(
      `${where}: "data_offsets" must be [begin, end], two non-negative integers, got ${describe(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw fail(`${where}: "data_offsets" [${begin}, ${end}] ends before it begins`);
  const itemSize = ITEM_SIZE[dtype];
  const needed = count * itemSize;
  if (end - begin !== needed) {
    throw fail(
      `${where}: "data_offsets" [${begin}, ${end}] span ${end - begin} bytes, but shape ` +
        `${describe(shape)} of ${dtype} needs ${count} x ${itemSize} = ${needed} bytes`,
    );
  }
  return { name, dtype, shape: (shape as number[]).slice(), count, begin, end };
}

/**
 * Parses a safetensors file.
 *
 * @param bytes the whole file.
 * @param source a name for error messages (usually the file path).
 * @returns the tensors (in data-buffer order) and the `__metadata__` strings (`{}` when absent).
 *   F32 and integer tensors whose position in `bytes` is aligned are views into `bytes.buffer` (no
 *   copy; writing to one writes to `bytes`); others are fresh arrays.
 * @throws SafetensorsError for any malformed input: too short, absurd or too large header length,
 *   header not UTF-8 / not a JSON object, bad entries (missing or mistyped dtype / shape /
 *   data_offsets, unsupported dtype, size mismatch), bad metadata, truncated data, overlapping
 *   tensors, gaps or trailing bytes.
 */
export function readSafetensors(bytes: Uint8Array, source?: string): SafetensorsFile {
  const src = source ?? READ_SOURCE;
  const fail = (message: string) => new SafetensorsError(src, message);
  if (!(bytes instanceof Uint8Array)) {
    throw fail(`expected the file contents as a Uint8Array, got ${typeof bytes}`);
  }
  if (bytes.length < 8) {
    throw fail(
      `file is only ${bytes.length} bytes; a safetensors file starts with an 8-byte little-endian header length`,
    );
  }
  const prefix = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const headerLength = prefix.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw fail(
      `header length ${headerLength} bytes is larger than the ${MAX_HEADER_BYTES}-byte limit ` +
        `(corrupt, or not a safetensors file)`,
    );
  }
  const n = Number(headerLength);
  if (8 + n > bytes.length) {
    throw fail(
      `header length ${n} bytes is larger than the file: only ${bytes.length - 8} bytes follow the ` +
        `8-byte length prefix (truncated, or not a safetensors file)`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw fail(`header (${n} bytes) is not valid UTF-8; it must be a UTF-8 JSON object`);
  }
  if (!text.startsWith("{")) {
    throw fail(
      `header must be a JSON object starting with "{", but starts with ${describe(text.slice(0, 20))}`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw fail(`header is not valid JSON (${reason}); it must be a JSON object`);
  }
  if (!isRecord(header)) throw fail(`header must be a JSON object, got ${describe(header)}`);

  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (raw === null) continue;
      if (!isRecord(raw)) throw fail(`"__metadata__" must be an object of strings, got ${describe(raw)}`);
      for (const [key, value] of Object.entries(raw)) {
        if (typeof value !== "string") {
          throw fail(
            `"__metadata__" value for ${JSON.stringify(key)} must be a string, got ${describe(value)}`,
          );
        }
        Object.defineProperty(metadata, key, { value, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    entries.push(parseEntry(name, raw, fail));
  }

  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  let last: HeaderEntry | undefined;
  for (const entry of entries) if (!last || entry.end > last.end) last = entry;
  if (last && last.end > dataLength) {
    throw fail(
      `tensor ${
        JSON.stringify(last.name)
      } "data_offsets" [${last.begin}, ${last.end}] run past the end of the ` +
        `${dataLength}-byte data buffer: file truncated, ${last.end - dataLength} bytes missing`,
    );
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: HeaderEntry | undefined;
  for (const entry of entries) {
    if (previous && entry.begin < covered) {
      throw fail(
        `tensors ${JSON.stringify(previous.name)} [${previous.begin}, ${previous.end}] and ` +
          `${
            JSON.stringify(entry.name)
          } [${entry.begin}, ${entry.end}] overlap; tensors must not share bytes`,
      );
    }
    if (entry.begin > covered) {
      const after = previous
        ? `after tensor ${JSON.stringify(previous.name)}`
        : "at the start of the data buffer";
      throw fail(
        `${entry.begin - covered} unused bytes ${after} (before ${
          JSON.stringify(entry.name)
        } at ${entry.begin}); ` +
          `tensors must be packed contiguously from offset 0`,
      );
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== dataLength) {
    throw fail(
      `${dataLength - covered} bytes of trailing data after the last tensor (the tensors cover ${covered} ` +
        `of ${dataLength} data bytes); the data buffer must end with the last tensor`,
    );
  }

  const tensors = new Map<string, SafetensorsTensor>();
  for (const entry of entries) {
    tensors.set(
      entry.name,
      decodeTensor(bytes, dataStart + entry.begin, entry.dtype, entry.shape, entry.count),
    );
  }
  return { tensors, metadata };
}

/**
 * A float tensor of a decoded file, whatever its stored float dtype.
 *
 * @throws SafetensorsError when `name` is missing (listing some present names) or is not a float tensor.
 */
export function getFloatTensor(
  file: SafetensorsFile,
  name: string,
  source: string = READ_SOURCE,
): { shape: number[]; data: Float32Array } {
  const tensor = file.tensors.get(name);
  if (!tensor) {
    const names = [...file.tensors.keys()];
    const shown = names.slice(0, 20).map((n) => JSON.stringify(n)).join(", ");
    const more = names.length > 20 ? `, ... (${names.length} in all)` : "";
    throw new SafetensorsError(
      source,
      `no tensor named ${JSON.stringify(name)}; present: ${names.length ? shown + more : "none"}`,
    );
  }
  switch (tensor.dtype) {
    case "F64":
    case "F32":
    case "F16":
    case "BF16":
      return { shape: tensor.shape, data: tensor.data };
    default:
      throw new SafetensorsError(
        source,
        `tensor ${
          JSON.stringify(name)
        } has dtype ${tensor.dtype}; expected a float dtype (F64, F32, F16, BF16)`,
      );
  }
}

/** The dtype a data array is written as when no dtype is given. */
function inferDtype(data: unknown): Dtype | undefined {
  if (data instanceof Float32Array) return "F32";
  if (data instanceof Float64Array) return "F64";
  if (data instanceof BigInt64Array) return "I64";
  if (data instanceof Int32Array) return "I32";
  if (data instanceof Int16Array) return "I16";
  if (data instanceof Int8Array) return "I8";
  if (data instanceof BigUint64Array) return "U64";
  if (data instanceof Uint32Array) return "U32";
  if (data instanceof Uint16Array) return "U16";
  if (data instanceof Uint8Array) return "U8";
  return undefined;
}

type HostArray =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | BigUint64Array
  | Uint32Array
  | Uint8Array;

/** Converts validated input data to the host-order array whose bytes (little-endian) are written. */
function encodeData(name: string, dtype: Dtype, data: unknown): HostArray {
  const fail = (expected: string) =>
    new SafetensorsError(
      WRITE_SOURCE,
      `tensor ${JSON.stringify(name)}: dtype ${dtype} needs ${expected} data, got ${
        (data as object)?.constructor?.name ?? typeof data
      }`,
    );
  if (isFloatDtype(dtype)) {
    if (!(data instanceof Float32Array) && !(data instanceof Float64Array)) {
      throw fail("Float32Array or Float64Array");
    }
    switch (dtype) {
      case "F64":
        return data instanceof Float64Array ? data : new Float64Array(data);
      case "F32":
        return data instanceof Float32Array ? data : new Float32Array(data);
      case "F16":
        return encodeF16(data);
      case "BF16":
        return encodeBf16(data);
    }
  }
  if (dtype === "BOOL") {
    if (!(data instanceof Uint8Array)) throw fail("Uint8Array (of 0s and 1s)");
    const bad = data.findIndex((v) => v > 1);
    if (bad >= 0) {
      throw new SafetensorsError(
        WRITE_SOURCE,
        `tensor ${JSON.stringify(name)}: BOOL data must be 0 or 1, got ${data[bad]} at index ${bad}`,
      );
    }
    return data;
  }
  const inferred = inferDtype(data);
  if (inferred !== dtype) {
    const arrayName: Record<string, string> = {
      I64: "BigInt64Array",
      I32: "Int32Array",
      I16: "Int16Array",
      I8: "Int8Array",
      U64: "BigUint64Array",
      U32: "Uint32Array",
      U16: "Uint16Array",
      U8: "Uint8Array",
    };
    throw fail(arrayName[dtype]);
  }
  return data as HostArray;
}

/**
 * Encodes tensors (and optional metadata) as a safetensors file.
 *
 * Tensors are written sorted by name (UTF-16 code unit order) with contiguous ascending
 * data_offsets; the JSON header is compact, with `__metadata__` first (omitted when empty), and is
 * padded with spaces to a multiple of 8 bytes. The output is deterministic for a given input.
 *
 * @param tensors the tensors by name (plain object or Map); see {@link TensorInput}.
 * @param metadata string-to-string pairs for `__metadata__`.
 * @throws SafetensorsError for a reserved or invalid name, a bad shape, a shape whose element count
 *   differs from `data.length`, data of the wrong array type for the dtype, an unsupported dtype,
 *   BOOL data other than 0/1, or non-string metadata values.
 */
export function writeSafetensors(
  tensors: TensorsInput,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const fail = (message: string) => new SafetensorsError(WRITE_SOURCE, message);
  let pairs: [string, TensorInput][];
  if (tensors instanceof Map) pairs = [...tensors.entries()];
  else if (isRecord(tensors)) pairs = Object.entries(tensors as Record<string, TensorInput>);
  else {throw fail(
      `tensors must be a Map or a plain object of {data, shape, dtype?}, got ${describe(tensors)}`,
    );}
  for (const [name] of pairs) {
    if (typeof name !== "string") throw fail(`tensor names must be strings, got ${typeof name}`);
  }
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  const encoded: HostArray[] = [];
  const headerParts: string[] = [];
  if (metadata !== undefined) {
    if (!isRecord(metadata)) throw fail(`metadata must be an object of strings, got ${describe(metadata)}`);
    const metaEntries = Object.entries(metadata);
    for (const [key, value] of metaEntries) {
      if (typeof value !== "string") {
        throw fail(`metadata value for ${JSON.stringify(key)} must be a string, got ${describe(value)}`);
      }
    }
    if (metaEntries.length > 0) {
      headerParts.push(`"__metadata__":${JSON.stringify(Object.fromEntries(metaEntries))}`);
    }
  }
  let offset = 0;
  for (const [name, tensor] of pairs) {
    const where = `tensor ${JSON.stringify(name)}`;
    if (name === "__metadata__") {
      throw fail(`"__metadata__" is reserved for metadata and cannot name a tensor`);
    }
    if (!isRecord(tensor)) throw fail(`${where}: expected {data, shape, dtype?}, got ${describe(tensor)}`);
    const dtype = tensor.dtype ?? inferDtype(tensor.data);
    if (dtype === undefined) {
      throw fail(
        `${where}: data must be a typed array (Float32Array, Float64Array, Int32Array, BigInt64Array, ...)`,
      );
    }
    if (typeof dtype !== "string" || !isDtype(dtype)) {
      throw fail(`${where}: unsupported dtype ${describe(dtype)} (supported: ${SUPPORTED_LIST})`);
    }
    const count = checkShape(tensor.shape);
    if (typeof count === "string") throw fail(`${where}: ${count}`);
    const array = encodeData(name, dtype, tensor.data);
    if (array.length !== count) {
      throw fail(
        `${where}: shape ${describe(tensor.shape)} has ${count} elements but data has ${array.length}`,
      );
    }
    const end = offset + count * ITEM_SIZE[dtype];
    headerParts.push(
      `${JSON.stringify(name)}:${
        JSON.stringify({ dtype, shape: [...tensor.shape], data_offsets: [offset, end] })
      }`,
    );
    encoded.push(array);
    offset = end;
  }

  const json = new TextEncoder().encode(`{${headerParts.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  let out: Uint8Array;
  try {
    out = new Uint8Array(8 + headerLength + offset);
  } catch (error) {
    throw new SafetensorsError(WRITE_SOURCE, `output of ${8 + headerLength + offset} bytes is too large`, {
      cause: error,
    });
  }
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const array of encoded) {
    const view = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    out.set(view, position);
    if (!LITTLE_ENDIAN_HOST) {
      swapBytes(out.subarray(position, position + view.length), array.BYTES_PER_ELEMENT);
    }
    position += view.length;
  }
  return out;
}
