/**
 * The vocabulary networks are written in. An architecture is a function `forward(ops, x)` over this
 * interface, generic in the value type: ShapeOps runs it on shapes (layer and parameter listings, no
 * compute), TensorOps on tfjs tensors (with probes and swappable backward rules). Names are torchvision
 * module names; each op that owns parameters fetches `<name>.weight` / `<name>.bias` / BN statistics itself.
 * Values are NHWC.
 */

export interface Conv2dSpec {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  /** Symmetric zero padding in pixels. */
  padding: number;
  dilation: number;
  bias: boolean;
  /** Grouped convolution (PyTorch's groups; = inChannels for a depthwise conv); default 1. */
  groups?: number;
  /** A non-square kernel's width (`kernel` is then its height); default `kernel`. */
  kernelW?: number;
  /** Padding along the width when it differs from the height's (`padding`); default `padding`. */
  paddingW?: number;
}

/** Element-wise activations beyond ReLU (PyTorch's ReLU6 is clip 0..6, SiLU a sigmoid times x). */
export type Activation =
  | { kind: "clip"; min: number; max: number }
  | { kind: "sigmoid" }
  | { kind: "hardsigmoid"; alpha: number; beta: number }
  | { kind: "hardswish" }
  | { kind: "leakyrelu"; alpha: number }
  | { kind: "sqrt" }
  | { kind: "erf" }
  | { kind: "tanh" }
  /** x ** exponent (a constant exponent; LayerNorm's decomposed variance squares). */
  | { kind: "pow"; exponent: number }
  /** PyTorch's GELU: x·Φ(x), or its tanh approximation. */
  | { kind: "gelu"; approximate: boolean };

export type BinaryOp = "add" | "sub" | "mul" | "div";

/** A linear layer over the last axis (a [N, F] value, or every position of a channels-last [N, H, W, C] one). */
export interface LinearSpec {
  inFeatures: number;
  outFeatures: number;
  /** Default true (torchvision's Linear layers all have one). */
  bias?: boolean;
}

export interface PoolSpec {
  kernel: number;
  stride: number;
  /** Symmetric padding (max pool pads with -inf, as PyTorch does). Average pools take 0 only. */
  padding: number;
  /** PyTorch's ceil_mode. */
  ceil: boolean;
}

export interface NetOps<T> {
  conv2d(name: string, x: T, spec: Conv2dSpec): T;
  linear(name: string, x: T, spec: LinearSpec): T;
  /** Eval-mode batch norm with running statistics (eps 1e-5). */
  batchNorm(name: string, x: T, channels: number): T;
  relu(x: T): T;
  maxPool(x: T, spec: PoolSpec): T;
  avgPool(x: T, spec: PoolSpec): T;
  /** PyTorch AdaptiveAvgPool2d to [outH, outW]. */
  adaptiveAvgPool(x: T, outSize: [number, number]): T;
  add(a: T, b: T): T;
  /** Element-wise activation. */
  activation(x: T, fn: Activation): T;
  /** Element-wise a (op) b with broadcasting (same rank, size-1 axes, or b a per-channel / scalar constant). */
  binary(op: BinaryOp, a: T, b: T): T;
  /** A constant operand, stored as the parameter `name` ([C] per channel, or [] a scalar). */
  constant(name: string, shape: number[]): T;
  /** The mean over the channel axis (the last), kept as a size-1 axis (a layer norm's statistics). */
  meanChannels(x: T): T;
  /** Concatenation along the channel axis (the last, NHWC) of equal-rank values. */
  concatChannels(xs: T[]): T;
  /** Channels [start, end) (the last axis, NHWC). */
  sliceChannels(x: T, start: number, end: number): T;
  /** ShuffleNet's channel shuffle: channel i·(C/g) + j moves to j·g + i. */
  channelShuffle(x: T, groups: number): T;
  /** Zero padding of the spatial axes: [top, bottom, left, right]. */
  zeroPad(x: T, pads: [number, number, number, number]): T;
  /** Zero padding for a SAME window at the value's own size (samePads). */
  samePad(x: T, window: SameWindow): T;
  /** [N, H, W, C] -> [N, C*H*W] in PyTorch's (C, H, W) order, so torchvision Linear weights apply as-is. */
  flatten(x: T): T;
  /** A named, probe-able point: the output of the torchvision module `name` ("" is the network input). */
  probe(name: string, x: T): T;
}

/** A network forward written once for every NetOps implementation. */
export type Forward = <T>(ops: NetOps<T>, x: T) => T;

export const BN_EPSILON = 1e-5;

/** A window padded SAME (ONNX auto_pad SAME_UPPER / SAME_LOWER, TensorFlow's "same"). */
export interface SameWindow {
  kernel: [number, number];
  stride: number;
  dilation: number;
  /** SAME_LOWER: an odd total puts the extra pixel at the start (SAME_UPPER, TensorFlow's: at the end). */
  lower: boolean;
}

/**
 * SAME padding of an [h, w] input as [top, bottom, left, right]: the output is ceil(in / stride), so the total is
 * (ceil(in / stride) - 1) · stride + (k - 1) · dilation + 1 - in (at least 0), split in half.
 */
export function samePads([h, w]: [number, number], s: SameWindow): [number, number, number, number] {
  const total = (size: number, k: number) =>
    Math.max(0, (Math.ceil(size / s.stride) - 1) * s.stride + (k - 1) * s.dilation + 1 - size);
  const [th, tw] = [total(h, s.kernel[0]), total(w, s.kernel[1])];
  const begin = (t: number) => (s.lower ? Math.ceil(t / 2) : Math.floor(t / 2));
  return [begin(th), th - begin(th), begin(tw), tw - begin(tw)];
}

/** Output size of a conv or pool along one axis, with PyTorch's floor / ceil_mode rules. */
export function pooledSize(
  size: number,
  kernel: number,
  stride: number,
  padding: number,
  dilation: number,
  ceil: boolean,
): number {
  const span = size + 2 * padding - dilation * (kernel - 1) - 1;
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // PyTorch: in ceil mode the last window must start inside the input or the left padding.
  if (ceil && (out - 1) * stride >= size + padding) out -= 1;
  return out;
}
