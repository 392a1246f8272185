/**
 * Network weights as tfjs tensors in retrace's layouts (conv HWIO, linear [in, out]), keyed by torchvision
 * parameter names. Conversion from / to PyTorch layouts (conv OIHW, linear [out, in]) happens once, here.
 * Loading is strict: every missing, unexpected or mis-shaped key is reported together.
 *
 * A weight bigger than the backend can bind as one buffer (webgpu's maxStorageBufferBindingSize, 128 MiB on
 * llvmpipe; VGG16's classifier.0 is 392 MiB) is never created whole on the device: it is laid out on the
 * host and uploaded as chunks along its input axis, which TensorOps runs as partial products and sums.
 * Weights are values: nothing in lib/ mutates them.
 */
import { permuted, permuteInPlace } from "./permute.ts";
import { type Tensor, tf } from "../runtime/tf.ts";
import { WeightsMismatchError, type WeightsProblem } from "./errors.ts";
import type { Network } from "./network.ts";

/** A raw tensor in PyTorch layout, as a safetensors reader returns it. */
export interface TorchTensor {
  shape: number[];
  data: Float32Array | ArrayLike<number | bigint>;
}

/** Thrown when a chunked weight is asked for whole (e.g. for a weight gradient). */
export class ChunkedWeightError extends Error {
  override name = "ChunkedWeightError";
}

export class NetWeights {
  #disposed = false;
  /** The tensors this object frees on dispose; null = all of them (it is not derived). */
  #owned: Set<Tensor> | null = null;

  /**
   * Takes ownership of the tensors. `chunks` holds the weights stored split along their input axis
   * (axis 2 of a conv HWIO, axis 0 of a linear [in, out]); such a name is absent from `tensors`.
   */
  constructor(
    readonly tensors: Map<string, Tensor>,
    readonly chunks: ReadonlyMap<string, Tensor[]> = new Map(),
  ) {}

  /**
   * A weight set that shares every tensor with this one except `overrides` (same names, retrace layouts),
   * which it owns: disposing it frees only the overrides. Used for functional updates (meta-saliency,
   * negated classifiers) without touching shared weights.
   */
  withOverrides(overrides: ReadonlyMap<string, Tensor>): NetWeights {
    for (const name of overrides.keys()) {
      if (!this.tensors.has(name)) {
        throw new Error(
          `cannot override ${name}: ${this.chunks.has(name) ? "it is stored in chunks" : "no such weight"}`,
        );
      }
    }
    const derived = new NetWeights(new Map([...this.tensors, ...overrides]), this.chunks);
    derived.#owned = new Set(overrides.values());
    return derived;
  }

  /** The whole weight; ChunkedWeightError if this backend holds it only in chunks. */
  get(name: string): Tensor {
    if (this.#disposed) throw new Error("these weights were disposed");
    const t = this.tensors.get(name);
    if (t) return t;
    if (this.chunks.has(name)) {
      throw new ChunkedWeightError(
        `${name} is stored in ${
          this.chunks.get(name)!.length
        } chunks on this backend (over its buffer binding limit) ` +
          `and cannot be used whole`,
      );
    }
    throw new Error(`internal: weight ${name} was not loaded`);
  }

  /** The chunks of a weight stored split, or null when it is stored whole. */
  chunksOf(name: string): Tensor[] | null {
    if (this.#disposed) throw new Error("these weights were disposed");
    return this.chunks.get(name) ?? null;
  }

  /** Total bytes of the float32 weights. */
  get bytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.size * 4;
    for (const parts of this.chunks.values()) for (const t of parts) n += t.size * 4;
    return n;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#owned) {
      for (const t of this.#owned) t.dispose();
      return;
    }
    for (const t of this.tensors.values()) t.dispose();
    for (const parts of this.chunks.values()) parts.forEach((t) => t.dispose());
  }
}

const TO_RETRACE: Record<number, number[]> = { 4: [2, 3, 1, 0], 2: [1, 0] };
const TO_TORCH: Record<number, number[]> = { 4: [3, 2, 0, 1], 2: [1, 0] };

function toFloat32(data: TorchTensor["data"]): Float32Array {
  if (data instanceof Float32Array) return data;
  return Float32Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Uploads a row-major host array in retrace layout as chunks of at most maxBytes along its input axis. */
function uploadChunks(data: Float32Array, shape: number[], maxBytes: number): Tensor[] {
  const axis = shape.length === 4 ? 2 : 0;
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const rows = Math.max(1, Math.floor(maxBytes / 4 / (outer * inner)));
  const parts: Tensor[] = [];
  for (let start = 0; start < shape[axis]; start += rows) {
    const take = Math.min(rows, shape[axis] - start);
    const part = new Float32Array(outer * take * inner);
    for (let o = 0; o < outer; o++) {
      const src = (o * shape[axis] + start) * inner;
      part.set(data.subarray(src, src + take * inner), o * take * inner);
    }
    parts.push(tf.tensor(part, shape.map((s, i) => (i === axis ? take : s))));
  }
  return parts;
}

/**
 * Builds NetWeights from host arrays in PyTorch layout: whole tensors transposed on the backend, or, for a
 * weight over `maxBindingBytes`, transposed on the host and uploaded in chunks. `inPlace`: the arrays are the
 * caller's to overwrite, and every one is transposed on the host over itself before its upload (no second
 * copy on the host or on the backend; an array shared by two names is transposed once).
 */
function fromTorchLayout(
  entries: Iterable<[string, { shape: number[]; data: Float32Array }]>,
  maxBindingBytes: number,
  inPlace: boolean,
): NetWeights {
  const tensors = new Map<string, Tensor>();
  const chunks = new Map<string, Tensor[]>();
  const transposed = new Set<Float32Array>();
  for (const [name, { shape, data }] of entries) {
    const perm = TO_RETRACE[shape.length];
    if (perm && inPlace) {
      if (!transposed.has(data)) permuteInPlace(data, shape, perm);
      transposed.add(data);
      const retraceShape = perm.map((p) => shape[p]);
      if (data.length * 4 > maxBindingBytes) {
        chunks.set(name, uploadChunks(data, retraceShape, maxBindingBytes));
      } else tensors.set(name, tf.tensor(data, retraceShape, "float32"));
      continue;
    }
    if (perm && data.length * 4 > maxBindingBytes) {
      chunks.set(
        name,
        uploadChunks(permuted(data, shape, perm), perm.map((p) => shape[p]), maxBindingBytes),
      );
      continue;
    }
    tensors.set(
      name,
      tf.tidy(() => {
        const t = tf.tensor(data, shape, "float32");
        return perm ? tf.transpose(t, perm) : t;
      }),
    );
  }
  return new NetWeights(tensors, chunks);
}

export interface LoadOptions {
  /** Largest weight bound as one buffer (BackendInfo.maxBindingBytes); bigger ones are stored in chunks. */
  maxBindingBytes?: number;
  /**
   * The entries' arrays are the caller's to overwrite and are not read again: they are transposed in place on
   * the host before their upload (used for a model file's own bytes, so the model is not held twice).
   */
  inPlace?: boolean;
}

/**
 * Loads PyTorch-layout tensors (torchvision state_dict names) into a NetWeights for `net`.
 * Throws WeightsMismatchError listing every missing, unexpected and shape-mismatched key at once.
 */
export function weightsFromTorch(
  net: Network,
  entries: Map<string, TorchTensor>,
  source = "weights",
  options: LoadOptions = {},
): NetWeights {
  const missing: string[] = [];
  const mismatched: WeightsProblem[] = [];
  const expected = new Set<string>();
  for (const p of net.params) {
    expected.add(p.name);
    const e = entries.get(p.name);
    if (!e) {
      if (!p.optional) missing.push(p.name);
      continue;
    }
    const numel = p.shape.reduce((a, b) => a * b, 1);
    if (e.shape.join() !== p.shape.join() || e.data.length !== numel) {
      mismatched.push({ key: p.name, expected: p.shape, got: e.shape });
    }
  }
  const unexpected = [...entries.keys()].filter((k) => !expected.has(k));
  if (missing.length || unexpected.length || mismatched.length) {
    throw new WeightsMismatchError(source, missing, unexpected, mismatched);
  }
  const used = net.params.filter((p) => !p.optional).map((p) => {
    const e = entries.get(p.name)!;
    return [p.name, { shape: p.shape, data: toFloat32(e.data) }] as [
      string,
      { shape: number[]; data: Float32Array },
    ];
  });
  return fromTorchLayout(used, options.maxBindingBytes ?? Infinity, options.inPlace === true);
}

/** The inverse of weightsFromTorch: PyTorch layouts, torchvision names, ready for writeSafetensors. */
export async function weightsToTorch(
  weights: NetWeights,
): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of weights.tensors) {
    const perm = TO_TORCH[t.rank];
    const torch = perm ? tf.transpose(t, perm) : t.clone();
    out.set(name, { shape: torch.shape, data: (await torch.data()) as Float32Array });
    torch.dispose();
  }
  for (const [name, parts] of weights.chunks) {
    const rank = parts[0].rank;
    const axis = rank === 4 ? 2 : 0;
    const shape = [...parts[0].shape] as number[];
    shape[axis] = parts.reduce((a, p) => a + (p.shape as number[])[axis], 0);
    const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const whole = new Float32Array(shape.reduce((a, b) => a * b, 1));
    let start = 0;
    for (const p of parts) {
      const take = (p.shape as number[])[axis];
      const data = (await p.data()) as Float32Array;
      for (let o = 0; o < outer; o++) {
        whole.set(data.subarray(o * take * inner, (o + 1) * take * inner), (o * shape[axis] + start) * inner);
      }
      start += take;
    }
    out.set(name, {
      shape: TO_TORCH[rank].map((p) => shape[p]),
      data: permuted(whole, shape, TO_TORCH[rank]),
    });
  }
  return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A small deterministic PRNG (mulberry32) and Box–Muller normals, so random weights are backend-independent. */
function normals(count: number, std: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - uniform())) * std;
    const theta = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(theta);
    if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

/**
 * Deterministic random weights for benches and tests (the same on every backend): He-normal convs and
 * linears (fan-in), zero biases, identity batch norm (gamma 1, beta 0, running mean 0, var 1).
 */
export function randomWeights(net: Network, seed = 0, options: LoadOptions = {}): NetWeights {
  const entries = net.params.filter((p) => !p.optional).map((p, i) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const leaf = p.name.slice(p.name.lastIndexOf(".") + 1);
    let data: Float32Array;
    if (p.shape.length >= 2) data = normals(n, Math.sqrt(2 / (n / p.shape[0])), seed * 100003 + i);
    else data = new Float32Array(n).fill(leaf === "weight" || leaf === "running_var" ? 1 : 0);
    return [p.name, { shape: p.shape, data }] as [string, { shape: number[]; data: Float32Array }];
  });
  return fromTorchLayout(entries, options.maxBindingBytes ?? Infinity, options.inPlace === true);
}
