/**
 * NetOps over shapes: runs an architecture without computing anything, to list its probe-able layers with
 * their output shapes and its parameters with their torchvision (PyTorch-layout) shapes.
 */
import { InvalidInputError } from "./errors.ts";
import {
  type Activation,
  type BinaryOp,
  type Conv2dSpec,
  type LinearSpec,
  type NetOps,
  pooledSize,
  type PoolSpec,
  samePads,
  type SameWindow,
} from "./ops.ts";

/** NHWC shape. */
export type Shape = number[];

export interface LayerInfo {
  name: string;
  /** Output shape, NHWC. */
  shape: Shape;
  /** The value is channels-last in PyTorch too ([N, H, W, C], e.g. inside a ConvNeXt block). */
  channelsLast?: boolean;
}

export interface ParamInfo {
  name: string;
  /** Shape in PyTorch layout (conv OIHW, linear [out, in]). */
  shape: number[];
  /** True for the int64 BN counters that state_dicts carry and the forward never reads. */
  optional?: boolean;
}

/** A shape as PyTorch lists it: NHWC [N, H, W, C] -> NCHW [N, C, H, W]; other ranks unchanged. */
export function torchShape(s: readonly number[]): number[] {
  return s.length === 4 ? [s[0], s[3], s[1], s[2]] : [...s];
}

/** A layer's output shape as PyTorch lists it. */
export function layerTorchShape(l: LayerInfo): number[] {
  return l.channelsLast ? [...l.shape] : torchShape(l.shape);
}

export class ShapeOps implements NetOps<Shape> {
  readonly layers: LayerInfo[] = [];
  readonly params: ParamInfo[] = [];
  /** Every conv module with its spec, in forward order. */
  readonly convs = new Map<string, Conv2dSpec>();
  /** Ops beyond the VGG / ResNet vocabulary that the network uses ("the hardswish activation", ...). */
  readonly extraOps = new Set<string>();

  conv2d(name: string, x: Shape, s: Conv2dSpec): Shape {
    this.expectChannels(name, x, s.inChannels);
    this.convs.set(name, s);
    const groups = s.groups ?? 1;
    if (groups > 1) this.extraOps.add(`grouped convolutions (groups ${groups})`);
    if (s.inChannels % groups || s.outChannels % groups) {
      throw new InvalidInputError(
        `${name}: ${groups} groups do not divide ${s.inChannels} -> ${s.outChannels}`,
      );
    }
    this.params.push({
      name: `${name}.weight`,
      shape: [s.outChannels, s.inChannels / groups, s.kernel, s.kernelW ?? s.kernel],
    });
    if (s.bias) this.params.push({ name: `${name}.bias`, shape: [s.outChannels] });
    const h = pooledSize(x[1], s.kernel, s.stride, s.padding, s.dilation, false);
    const w = pooledSize(x[2], s.kernelW ?? s.kernel, s.stride, s.paddingW ?? s.padding, s.dilation, false);
    return this.spatial(name, [x[0], h, w, s.outChannels]);
  }

  linear(name: string, x: Shape, s: LinearSpec): Shape {
    this.expectChannels(name, x, s.inFeatures);
    this.params.push({ name: `${name}.weight`, shape: [s.outFeatures, s.inFeatures] });
    if (s.bias !== false) this.params.push({ name: `${name}.bias`, shape: [s.outFeatures] });
    if (x.length !== 2) this.extraOps.add("linear layers over channels-last values");
    return [...x.slice(0, -1), s.outFeatures];
  }

  batchNorm(name: string, x: Shape, channels: number): Shape {
    this.expectChannels(name, x, channels);
    for (const p of ["weight", "bias", "running_mean", "running_var"]) {
      this.params.push({ name: `${name}.${p}`, shape: [channels] });
    }
    this.params.push({ name: `${name}.num_batches_tracked`, shape: [], optional: true });
    return x;
  }

  relu(x: Shape): Shape {
    return x;
  }

  maxPool(x: Shape, s: PoolSpec): Shape {
    return this.pool("max pool", x, s);
  }

  avgPool(x: Shape, s: PoolSpec): Shape {
    return this.pool("average pool", x, s);
  }

  adaptiveAvgPool(x: Shape, out: [number, number]): Shape {
    return [x[0], out[0], out[1], x[3]];
  }

  add(a: Shape, b: Shape): Shape {
    if (a.join() !== b.join()) throw new InvalidInputError(`residual add of shapes [${a}] and [${b}]`);
    return a;
  }

  activation(x: Shape, fn: Activation): Shape {
    this.extraOps.add(`the ${fn.kind} activation`);
    return x;
  }

  binary(op: BinaryOp, a: Shape, b: Shape): Shape {
    this.extraOps.add(`element-wise ${op} (e.g. squeeze-excitation scales)`);
    const rank = Math.max(a.length, b.length);
    const pad = (s: Shape) => [...new Array(rank - s.length).fill(1), ...s];
    const [pa, pb] = [pad(a), pad(b)];
    if (pa.some((d, i) => d !== pb[i] && d !== 1 && pb[i] !== 1)) {
      throw new InvalidInputError(`${op} of shapes [${a}] and [${b}] does not broadcast`);
    }
    return pa.map((d, i) => Math.max(d, pb[i]));
  }

  constant(name: string, shape: number[]): Shape {
    this.params.push({ name, shape });
    return shape;
  }

  meanChannels(x: Shape): Shape {
    this.extraOps.add("channel means (layer normalisation)");
    return [...x.slice(0, -1), 1];
  }

  concatChannels(xs: Shape[]): Shape {
    const [first] = xs;
    if (xs.some((x) => x.length !== first.length || x.slice(0, -1).join() !== first.slice(0, -1).join())) {
      throw new InvalidInputError(`concatenation of shapes ${xs.map((x) => `[${x}]`).join(", ")}`);
    }
    return [...first.slice(0, -1), xs.reduce((c, x) => c + x.at(-1)!, 0)];
  }

  sliceChannels(x: Shape, start: number, end: number): Shape {
    const c = x.at(-1)!;
    if (!(0 <= start && start < end && end <= c)) {
      throw new InvalidInputError(`channels [${start}, ${end}) of a value with ${c}`);
    }
    return [...x.slice(0, -1), end - start];
  }

  zeroPad(x: Shape, [t, b, l, r]: [number, number, number, number]): Shape {
    return [x[0], x[1] + t + b, x[2] + l + r, x[3]];
  }

  samePad(x: Shape, window: SameWindow): Shape {
    return this.zeroPad(x, samePads([x[1], x[2]], window));
  }

  channelShuffle(x: Shape, groups: number): Shape {
    if (x.at(-1)! % groups) throw new InvalidInputError(`${x.at(-1)} channels in ${groups} groups`);
    return x;
  }

  flatten(x: Shape): Shape {
    return [x[0], x.slice(1).reduce((p, v) => p * v, 1)];
  }

  probe(name: string, x: Shape): Shape {
    this.layers.push({ name, shape: [...x] });
    return x;
  }

  private pool(what: string, x: Shape, s: PoolSpec): Shape {
    const h = pooledSize(x[1], s.kernel, s.stride, s.padding, 1, s.ceil);
    const w = pooledSize(x[2], s.kernel, s.stride, s.padding, 1, s.ceil);
    return this.spatial(what, [x[0], h, w, x[3]]);
  }

  private spatial(where: string, shape: Shape): Shape {
    if (shape[1] < 1 || shape[2] < 1) {
      throw new InvalidInputError(
        `the input is too small: at ${where} the feature map would be ${shape[1]}x${shape[2]}`,
      );
    }
    return shape;
  }

  private expectChannels(name: string, x: Shape, c: number): void {
    const got = x[x.length - 1];
    if (got !== c) throw new InvalidInputError(`${name} expects ${c} input channels, got ${got}`);
  }
}
