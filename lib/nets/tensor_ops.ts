/**
 * NetOps over tfjs tensors: fetches each op's parameters from NetWeights, dispatches to the backward-rule
 * set (or the standard ops), splits weights too big for one GPU buffer binding into input-axis chunks whose
 * partial results are summed, and hands every named point to a probe callback.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import { InvalidInputError } from "./errors.ts";
import {
  type BackwardRules,
  type ConvParams,
  flattenTorchOrder,
  inputOnlyOps,
  type LayerOps,
  standardOps,
} from "./layer_ops.ts";
import {
  type Activation,
  type BinaryOp,
  BN_EPSILON,
  type Conv2dSpec,
  type LinearSpec,
  type NetOps,
  type PoolSpec,
  samePads,
  type SameWindow,
} from "./ops.ts";
import { ChunkedWeightError, type NetWeights } from "./weights.ts";

export interface TensorOpsOptions {
  rules?: BackwardRules;
  /** Called at every named point with its value; returns the value the forward continues with. */
  probe?: (name: string, x: Tensor) => Tensor;
  /** Called with the input of every conv module (for methods that need a conv's input, e.g. normgrad-exact). */
  convInput?: (name: string, x: Tensor) => void;
}

export class TensorOps implements NetOps<Tensor> {
  readonly #ops: LayerOps;
  readonly #probe: (name: string, x: Tensor) => Tensor;
  readonly #convInput: (name: string, x: Tensor) => void;
  readonly #ruledWeights: boolean;

  constructor(readonly weights: NetWeights, options: TensorOpsOptions = {}) {
    this.#ops = { ...standardOps, ...options.rules };
    this.#probe = options.probe ?? ((_, x) => x);
    this.#convInput = options.convInput ?? (() => {});
    const linearRule = options.rules?.linear;
    this.#ruledWeights = Boolean(options.rules?.conv2d || (linearRule && linearRule !== inputOnlyOps.linear));
  }

  conv2d(name: string, x: Tensor, s: Conv2dSpec): Tensor {
    const got = x.shape[3];
    if (got !== s.inChannels) {
      throw new InvalidInputError(`${name} expects ${s.inChannels} channels, got ${got}`);
    }
    this.#convInput(name, x);
    const bias = s.bias ? this.weights.get(`${name}.bias`) : null;
    const p = (weight: Tensor, b: Tensor | null): ConvParams => ({
      weight,
      bias: b,
      stride: s.stride,
      padding: s.paddingW === undefined || s.paddingW === s.padding
        ? s.padding
        : [[0, 0], [s.padding, s.padding], [s.paddingW, s.paddingW], [0, 0]],
      dilation: s.dilation,
      groups: s.groups,
    });
    return this.#chunked(name, x, 3, (xs, w, first) => this.#ops.conv2d(xs, p(w, first ? bias : null)));
  }

  linear(name: string, x: Tensor, s: LinearSpec): Tensor {
    const bias = s.bias === false ? null : this.weights.get(`${name}.bias`);
    const apply = (v: Tensor) =>
      this.#chunked(name, v, 1, (xs, w, first) => this.#ops.linear(xs, w, first ? bias : null));
    if (x.rank === 2) return apply(x);
    // every position of a channels-last value: [..., in] -> [P, in] -> [P, out] -> [..., out]
    const shape = x.shape as number[];
    const flat = tf.reshape(x, [-1, s.inFeatures]);
    const y = apply(flat);
    const out = tf.reshape(y, [...shape.slice(0, -1), s.outFeatures]);
    tf.dispose([flat, y]);
    return out;
  }

  batchNorm(name: string, x: Tensor, _channels: number): Tensor {
    return this.#ops.batchNorm(x, {
      gamma: this.weights.get(`${name}.weight`),
      beta: this.weights.get(`${name}.bias`),
      mean: this.weights.get(`${name}.running_mean`),
      variance: this.weights.get(`${name}.running_var`),
      epsilon: BN_EPSILON,
    });
  }

  relu(x: Tensor): Tensor {
    return this.#ops.relu(x);
  }

  maxPool(x: Tensor, s: PoolSpec): Tensor {
    return this.#ops.maxPool(x, s);
  }

  avgPool(x: Tensor, s: PoolSpec): Tensor {
    return this.#ops.avgPool(x, s);
  }

  adaptiveAvgPool(x: Tensor, out: [number, number]): Tensor {
    return this.#ops.adaptiveAvgPool(x, out);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return this.#ops.add(a, b);
  }

  activation(x: Tensor, fn: Activation): Tensor {
    return this.#ops.activation(x, fn);
  }

  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
    return this.#ops.binary(op, a, b);
  }

  constant(name: string, _shape: number[]): Tensor {
    return this.weights.get(name);
  }

  meanChannels(x: Tensor): Tensor {
    return tf.mean(x, -1, true);
  }

  concatChannels(xs: Tensor[]): Tensor {
    return this.#ops.concat(xs);
  }

  sliceChannels(x: Tensor, start: number, end: number): Tensor {
    const begin = x.shape.map((_, d) => (d === x.rank - 1 ? start : 0));
    const size = x.shape.map((s, d) => (d === x.rank - 1 ? end - start : s!));
    return tf.slice(x, begin, size);
  }

  zeroPad(x: Tensor, [t, b, l, r]: [number, number, number, number]): Tensor {
    return tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]]);
  }

  samePad(x: Tensor, window: SameWindow): Tensor {
    return this.zeroPad(x, samePads([x.shape[1]!, x.shape[2]!], window));
  }

  channelShuffle(x: Tensor, groups: number): Tensor {
    const shape = x.shape as number[];
    const c = shape.at(-1)!;
    const split = tf.reshape(x, [...shape.slice(0, -1), groups, c / groups]);
    const perm = [...shape.slice(0, -1).map((_, i) => i), shape.length, shape.length - 1];
    return tf.reshape(tf.transpose(split, perm), shape);
  }

  flatten(x: Tensor): Tensor {
    return flattenTorchOrder(x);
  }

  probe(name: string, x: Tensor): Tensor {
    return this.#probe(name, x);
  }

  /** Runs `op` on the whole weight, or on the input-axis chunks it is stored in (summing the partial outputs). */
  #chunked(
    name: string,
    x: Tensor,
    channelAxis: number,
    op: (x: Tensor, w: Tensor, first: boolean) => Tensor,
  ): Tensor {
    const parts = this.weights.chunksOf(`${name}.weight`);
    if (!parts) return op(x, this.weights.get(`${name}.weight`), true);
    if (this.#ruledWeights) {
      // A rule such as excitation backprop normalises by the whole layer's response: partial products break it.
      throw new ChunkedWeightError(
        `${name}.weight is stored in ${parts.length} chunks on this backend (over its buffer binding limit); ` +
          `backward rules that replace conv / linear need it whole`,
      );
    }
    const wAxis = parts[0].rank === 4 ? 2 : 0;
    const xShape = x.shape as number[];
    let start = 0;
    let sum: Tensor | null = null;
    parts.forEach((w, i) => {
      const rows = (w.shape as number[])[wAxis];
      const begin = xShape.map((_, d) => (d === channelAxis ? start : 0));
      const size = xShape.map((s, d) => (d === channelAxis ? rows : s));
      const y = op(tf.slice(x, begin, size), w, i === 0);
      sum = sum ? tf.add(sum, y) : y;
      start += rows;
    });
    return sum!;
  }
}
