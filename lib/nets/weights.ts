/**
 * Network weights as tfjs tensors in retrace's layouts (conv HWIO, linear [in, out]), keyed by torchvision
 * parameter names. Conversion from / to PyTorch layouts (conv OIHW, linear [out, in]) happens once, here.
 * Loading is strict: every missing, unexpected or mis-shaped key is reported together.
 * Weights are values: nothing in lib/ mutates them; derived tensors (chunks) are cached and owned here.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import { WeightsMismatchError, type WeightsProblem } from "./errors.ts";
import type { Network } from "./network.ts";

/** A raw tensor in PyTorch layout, as a safetensors reader returns it. */
export interface TorchTensor {
  shape: number[];
  data: Float32Array | ArrayLike<number | bigint>;
}

export class NetWeights {
  #chunks = new Map<string, Tensor[]>();
  #disposed = false;

  /** Takes ownership of `tensors` (retrace layouts). */
  constructor(readonly tensors: Map<string, Tensor>) {}

  get(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`internal: weight ${name} was not loaded`);
    if (this.#disposed) throw new Error("these weights were disposed");
    return t;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /**
   * The weight split along its input axis (axis 0 of a linear [in, out], axis 2 of a conv HWIO) into pieces
   * of at most `maxBytes`, for backends that cannot bind a bigger buffer. Cached; owned by this object.
   */
  chunks(name: string, maxBytes: number): Tensor[] {
    const w = this.get(name);
    const key = `${name}@${maxBytes}`;
    let parts = this.#chunks.get(key);
    if (!parts) {
      const axis = w.rank === 4 ? 2 : 0;
      const shape = w.shape as number[];
      const bytesPerRow = (w.size / shape[axis]) * 4;
      const rows = Math.max(1, Math.floor(maxBytes / bytesPerRow));
      parts = [];
      for (let start = 0; start < shape[axis]; start += rows) {
        const begin = shape.map((_, i) => (i === axis ? start : 0));
        const size = shape.map((s, i) => (i === axis ? Math.min(rows, s - start) : s));
        parts.push(tf.keep(tf.slice(w, begin, size)));
      }
      this.#chunks.set(key, parts);
    }
    return parts;
  }

  /** Total bytes of the float32 weights. */
  get bytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.size * 4;
    return n;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of this.tensors.values()) t.dispose();
    for (const parts of this.#chunks.values()) parts.forEach((t) => t.dispose());
    this.#chunks.clear();
  }
}

const TO_RETRACE: Record<number, number[]> = { 4: [2, 3, 1, 0], 2: [1, 0] };
const TO_TORCH: Record<number, number[]> = { 4: [3, 2, 0, 1], 2: [1, 0] };

function toFloat32(data: TorchTensor["data"]): Float32Array {
  if (data instanceof Float32Array) return data;
  return Float32Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
}

/**
 * Loads PyTorch-layout tensors (torchvision state_dict names) into a NetWeights for `net`.
 * Throws WeightsMismatchError listing every missing, unexpected and shape-mismatched key at once.
 */
export function weightsFromTorch(
  net: Network,
  entries: Map<string, TorchTensor>,
  source = "weights",
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
  const tensors = new Map<string, Tensor>();
  for (const p of net.params) {
    if (p.optional) continue;
    const e = entries.get(p.name)!;
    tensors.set(
      p.name,
      tf.tidy(() => {
        const t = tf.tensor(toFloat32(e.data), p.shape, "float32");
        const perm = TO_RETRACE[p.shape.length];
        return perm ? tf.transpose(t, perm) : t;
      }),
    );
  }
  return new NetWeights(tensors);
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
  return out;
}

/**
 * Deterministic random weights for benches and tests: He-normal convs and linears (fan-in), zero biases,
 * identity batch norm (gamma 1, beta 0, running mean 0, var 1).
 */
export function randomWeights(net: Network, seed = 0): NetWeights {
  const tensors = new Map<string, Tensor>();
  net.params.forEach((p, i) => {
    if (p.optional) return;
    const torchShape = p.shape;
    const leaf = p.name.slice(p.name.lastIndexOf(".") + 1);
    let t: Tensor;
    if (torchShape.length >= 2) {
      const fanIn = torchShape.slice(1).reduce((a, b) => a * b, 1);
      const shape = TO_RETRACE[torchShape.length].map((j) => torchShape[j]);
      t = tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), "float32", seed * 100003 + i);
    } else if (leaf === "weight" || leaf === "running_var") {
      t = tf.ones(torchShape);
    } else {
      t = tf.zeros(torchShape);
    }
    tensors.set(p.name, t);
  });
  return new NetWeights(tensors);
}
