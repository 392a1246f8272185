/**
 * An ONNX graph as a retrace network: the nodes, in order, become calls of the NetOps vocabulary
 * (lib/nets/ops.ts), so one `Forward` serves tensors, shape listings, probes, backward rules and weight
 * gradients exactly as the hand-written VGG / ResNet do. Planning happens once, at load: every node is checked
 * against the converter table below (op type -> the attributes it takes -> a NetOps call); a node outside it is
 * an OnnxModelError naming the op, the node and the supported set — never a wrong map. Parameters are renamed
 * after the PyTorch module that owns the node ("/layer1/layer1.0/conv1/Conv" -> `layer1.0.conv1.weight`), and
 * every module output becomes a probe-able layer under its module path (lib/nets/onnx/module_names.ts), innermost
 * first; every node output is also probe-able under its raw ONNX value name.
 *
 * The converter table follows ONNX Runtime's and onnx2torch's registries: one small converter per op type,
 * refusing by name the attribute values it does not support (see the ONNX operator specification for each).
 */
import { type Activation, type BinaryOp, BN_EPSILON, type Forward, type NetOps } from "../ops.ts";
import type { TorchTensor } from "../weights.ts";
import { moduleScopes } from "./module_names.ts";
import { foldStatic, STATIC_OPS } from "./static_shapes.ts";
import { ShapeOps, torchShape } from "../shape_ops.ts";
import {
  type AttrValue,
  type ConstTensor,
  type OnnxGraph,
  OnnxModelError,
  type OnnxNode,
} from "./read_model.ts";

/** One planned call: reads values by name, writes its output value. */
type Step = <T>(ops: NetOps<T>, read: (name: string) => T) => T;

/**
 * What a 4-D value's axes mean. Values are stored NHWC whatever ONNX calls them: "nchw" is ONNX's usual
 * [N, C, H, W]; "last" is an ONNX [N, H, W, C] value, made by Transpose perm [0, 2, 3, 1] (ConvNeXt's blocks run
 * their layer norms and linear layers channels-last) — the same stored tensor, so such Transposes cost nothing.
 */
type Layout = "nchw" | "last";

/** Ops that take channels-last values (element-wise, or over the channel axis); any other op refuses them. */
const CHANNELS_LAST_OPS = new Set([
  "Relu",
  "Clip",
  "Sigmoid",
  "HardSigmoid",
  "HardSwish",
  "LeakyRelu",
  "Sqrt",
  "Erf",
  "Tanh",
  "Pow",
  "Gelu",
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Dropout",
  "Identity",
  "MatMul",
  "ReduceMean",
  "LayerNormalization",
  "Transpose",
]);

export interface GraphPlan {
  forward: Forward;
  /** The parameters in PyTorch layout under their module names (for lib/nets/weights.ts). */
  params: Map<string, TorchTensor>;
  /** Module paths each value is the output of, innermost first. */
  moduleOf: Map<string, string[]>;
  /** Raw ONNX value names that are probe-able but not module outputs' names (accepted, not listed). */
  rawNames: Set<string>;
  /** Layers (module paths and raw names) whose values are channels-last in the graph: [N, H, W, C]. */
  channelsLast: Set<string>;
  /**
   * Contrastive EB's layers: the input of the classifier (the last layer with weights, when it is a Gemm, a 2-D
   * MatMul or a 1x1 conv: its innermost module's name, or the raw value) and the classifier.
   */
  contrast?: { contrast: string; classifier: string };
  /** A Softmax / LogSoftmax that produced the graph's output and was dropped: retrace explains the logits. */
  droppedOutputOp?: string;
}

/** A 5-D value that exists only inside ShuffleNet's channel shuffle (reshape, transpose, reshape back). */
interface Shuffle {
  source: string;
  groups: number;
  transposed: boolean;
}

interface Ctx {
  node: OnnxNode;
  /** The shape of input i for one image as ONNX has it (a shape trace of the graph so far). */
  shape(i: number): number[];
  /** The layout of input i (constants and 2-D values: "nchw"). */
  layout(i: number): Layout;
  /** Values of an unfinished channel shuffle. */
  shuffles: Map<string, Shuffle>;
  /** Module-derived name for the node's parameters (unique in the graph). */
  name: string;
  constant(i: number): ConstTensor | undefined;
  rank(i: number): number;
  param(suffix: string, t: ConstTensor): void;
  source: string;
}

interface Converter {
  /** Attributes the converter reads; any other attribute present is refused. */
  attrs: readonly string[];
  /**
   * Output rank and the step (null: the value is part of a channel shuffle), or an OnnxModelError. The output's
   * layout is `layout` when given, else its inputs' (checked equal).
   */
  plan(c: Ctx): { rank: number; step: Step | null; layout?: Layout };
}

const fail = (c: Ctx, what: string) =>
  new OnnxModelError(
    `${c.source}: ${c.node.opType} node ${JSON.stringify(c.node.name || c.node.outputs[0])}: ${what}`,
  );

function ints(c: Ctx, key: string, fallback: number[]): number[] {
  const v = c.node.attrs.get(key);
  return v === undefined ? fallback : (v as number[]);
}

function int(c: Ctx, key: string, fallback: number): number {
  const v = c.node.attrs.get(key);
  return v === undefined ? fallback : (v as number);
}

/** One value for a square 2-D attribute ([a, a] or [a, a, a, a]); refuses anything else by name. */
function square(c: Ctx, key: string, values: number[]): number {
  if (values.length === 0 || values.some((v) => v !== values[0])) {
    throw fail(
      c,
      `${key} ${JSON.stringify(values)} is not supported (retrace takes equal values on both axes and sides)`,
    );
  }
  return values[0];
}

function noAutoPad(c: Ctx): void {
  const autoPad = c.node.attrs.get("auto_pad");
  if (autoPad !== undefined && autoPad !== "NOTSET" && autoPad !== "VALID") {
    throw fail(c, `auto_pad ${JSON.stringify(autoPad)} is not supported (NOTSET or VALID)`);
  }
}

/**
 * A conv's padding: explicit `pads` [top, left, bottom, right] (VALID: none), or "same" for auto_pad SAME_UPPER /
 * SAME_LOWER, which depends on the input's size and is computed at run time (NetOps.samePad), so a model planned
 * at one input size pads right at any other.
 */
function convPads(c: Ctx): number[] | "same" {
  const auto = c.node.attrs.get("auto_pad") ?? "NOTSET";
  if (auto === "NOTSET") return ints(c, "pads", [0, 0, 0, 0]);
  if (auto === "VALID") return [0, 0, 0, 0];
  if (auto !== "SAME_UPPER" && auto !== "SAME_LOWER") {
    throw fail(c, `auto_pad ${JSON.stringify(auto)} is not supported`);
  }
  return "same";
}

function needRank(c: Ctx, i: number, ranks: number[]): void {
  if (!ranks.includes(c.rank(i))) {
    throw fail(c, `input ${i} has rank ${c.rank(i)}; expected ${ranks.join(" or ")}`);
  }
}

function weight(c: Ctx, i: number, what: string): ConstTensor {
  const t = c.constant(i);
  if (!t || t.kind !== "float") throw fail(c, `its ${what} must be a float constant (an initializer)`);
  return t;
}

const pool = (kind: "max" | "avg"): Converter => ({
  attrs: kind === "max"
    ? ["kernel_shape", "strides", "pads", "ceil_mode", "auto_pad", "dilations", "storage_order"]
    : ["kernel_shape", "strides", "pads", "ceil_mode", "auto_pad", "count_include_pad"],
  plan(c) {
    needRank(c, 0, [4]);
    noAutoPad(c);
    const kernel = square(c, "kernel_shape", ints(c, "kernel_shape", []));
    const stride = square(c, "strides", ints(c, "strides", [1, 1]));
    const padding = square(c, "pads", ints(c, "pads", [0, 0, 0, 0]));
    if (kind === "max" && square(c, "dilations", ints(c, "dilations", [1, 1])) !== 1) {
      throw fail(c, "dilated max pooling is not supported");
    }
    if (kind === "max" && int(c, "storage_order", 0) !== 0) throw fail(c, "storage_order 1 is not supported");
    if (kind === "avg" && padding !== 0) {
      throw fail(c, "a padded average pool is not supported (pads must be 0)");
    }
    const spec = { kernel, stride, padding, ceil: int(c, "ceil_mode", 0) === 1 };
    const [x] = c.node.inputs;
    return {
      rank: 4,
      step: (ops, read) => kind === "max" ? ops.maxPool(read(x), spec) : ops.avgPool(read(x), spec),
    };
  },
});

const passThrough: Converter = {
  attrs: ["seed", "ratio", "training_mode"],
  plan(c) {
    const [x] = c.node.inputs;
    return { rank: c.rank(0), step: (_ops, read) => read(x) };
  },
};

/** [N, C, H, W] -> [N, C*H*W] in PyTorch's order; [N, F] stays. */
function flattenPlan(c: Ctx): { rank: number; step: Step } {
  needRank(c, 0, [2, 4]);
  const [x] = c.node.inputs;
  const rank = c.rank(0);
  return { rank: 2, step: (ops, read) => rank === 4 ? ops.flatten(read(x)) : read(x) };
}

export const CONVERTERS: Record<string, Converter> = {
  Conv: {
    attrs: ["kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"],
    plan(c) {
      needRank(c, 0, [4]);
      const w = weight(c, 1, "weight");
      const [outChannels, inChannels, kh, kw] = w.dims;
      const groups = int(c, "group", 1);
      const stride = square(c, "strides", ints(c, "strides", [1, 1]));
      const dilation = square(c, "dilations", ints(c, "dilations", [1, 1]));
      // pads [top, left, bottom, right]; symmetric per axis goes to the conv (the axes may differ: inception's
      // 1x7 / 7x1), anything else (explicit) becomes a zero pad before it, and SAME a zero pad sized at run time
      const pads4 = convPads(c);
      const [pt, pl, pb, pr] = pads4 === "same" ? [0, 0, 0, 0] : pads4;
      const symmetric = pads4 !== "same" && pt === pb && pl === pr;
      const spec = {
        inChannels: inChannels * groups,
        groups,
        outChannels,
        kernel: kh,
        ...(kw !== kh ? { kernelW: kw } : {}),
        stride,
        padding: symmetric ? pt : 0,
        ...(symmetric && pl !== pt ? { paddingW: pl } : {}),
        dilation,
        bias: c.node.inputs.length > 2 && c.node.inputs[2] !== "",
      };
      c.param("weight", w);
      if (spec.bias) c.param("bias", weight(c, 2, "bias"));
      const [x] = c.node.inputs;
      const name = c.name;
      const pads: [number, number, number, number] = [pt, pb, pl, pr];
      const same = {
        kernel: [kh, kw] as [number, number],
        stride,
        dilation,
        lower: c.node.attrs.get("auto_pad") === "SAME_LOWER",
      };
      return {
        rank: 4,
        step: pads4 === "same"
          ? (ops, read) => ops.conv2d(name, ops.samePad(read(x), same), spec)
          : symmetric
          ? (ops, read) => ops.conv2d(name, read(x), spec)
          : (ops, read) => ops.conv2d(name, ops.zeroPad(read(x), pads), spec),
      };
    },
  },
  BatchNormalization: {
    attrs: ["epsilon", "momentum", "training_mode"],
    plan(c) {
      needRank(c, 0, [2, 4]);
      const eps = c.node.attrs.get("epsilon") as number | undefined ?? 1e-5;
      if (Math.abs(eps - BN_EPSILON) > 1e-9) {
        throw fail(c, `epsilon ${eps} is not supported (1e-5, PyTorch's default)`);
      }
      if (int(c, "training_mode", 0) !== 0) {
        throw fail(c, "training_mode 1 is not supported (export in eval mode)");
      }
      const names = ["weight", "bias", "running_mean", "running_var"];
      names.forEach((n, i) => c.param(n, weight(c, i + 1, n)));
      const channels = weight(c, 1, "scale").dims[0];
      const [x] = c.node.inputs;
      const name = c.name;
      return { rank: c.rank(0), step: (ops, read) => ops.batchNorm(name, read(x), channels) };
    },
  },
  Relu: {
    attrs: [],
    plan(c) {
      const [x] = c.node.inputs;
      return { rank: c.rank(0), step: (ops, read) => ops.relu(read(x)) };
    },
  },
  MaxPool: pool("max"),
  AveragePool: pool("avg"),
  GlobalAveragePool: {
    attrs: [],
    plan(c) {
      needRank(c, 0, [4]);
      const [x] = c.node.inputs;
      return { rank: 4, step: (ops, read) => ops.adaptiveAvgPool(read(x), [1, 1]) };
    },
  },
  Flatten: {
    attrs: ["axis"],
    plan(c) {
      if (int(c, "axis", 1) !== 1) throw fail(c, `axis ${int(c, "axis", 1)} is not supported (1)`);
      return flattenPlan(c);
    },
  },
  Reshape: {
    attrs: ["allowzero"],
    plan(c) {
      const shape = c.constant(1);
      const [x] = c.node.inputs;
      const target = shape?.kind === "int" ? shape.data as number[] : null;
      const shuffle = c.shuffles.get(x);
      if (shuffle) {
        if (!shuffle.transposed || target?.length !== 4) {
          throw fail(c, "only ShuffleNet's channel shuffle reshapes 5-D values");
        }
        const groups = shuffle.groups;
        return { rank: 4, step: (ops, read) => ops.channelShuffle(read(shuffle.source), groups) };
      }
      if (target?.length === 5 && c.rank(0) === 4) {
        // [N, g, C/g, H, W]: the first half of a channel shuffle
        const channels = c.shape(0)[1];
        if (target[1] * target[2] !== channels) {
          throw fail(c, `reshape of ${channels} channels to [${target}]`);
        }
        c.shuffles.set(c.node.outputs[0], { source: x, groups: target[1], transposed: false });
        return { rank: 5, step: null };
      }
      const flat = target?.length === 2 && target[1] === -1 && [0, -1, 1].includes(target[0]);
      if (!flat) {
        throw fail(
          c,
          `only a flatten to [N, -1] or a channel shuffle is supported (shape ${
            JSON.stringify(target ?? "computed")
          })`,
        );
      }
      return flattenPlan(c);
    },
  },
  Transpose: {
    attrs: ["perm"],
    plan(c) {
      const [x] = c.node.inputs;
      const perm = ints(c, "perm", []).join();
      const toLast = perm === "0,2,3,1" && c.layout(0) === "nchw";
      if (c.rank(0) === 4 && (toLast || (perm === "0,3,1,2" && c.layout(0) === "last"))) {
        // NCHW <-> NHWC: the stored tensor is the same, only the meaning of its axes changes
        return { rank: 4, layout: toLast ? "last" : "nchw", step: (_ops, read) => read(x) };
      }
      const shuffle = c.shuffles.get(x);
      if (!shuffle || shuffle.transposed || perm !== "0,2,1,3,4") {
        throw fail(
          c,
          `perm [${perm}] is not supported (NCHW <-> NHWC [0, 2, 3, 1] / [0, 3, 1, 2], or ShuffleNet's ` +
            "channel shuffle [0, 2, 1, 3, 4])",
        );
      }
      c.shuffles.set(c.node.outputs[0], { ...shuffle, transposed: true });
      return { rank: 5, step: null };
    },
  },
  Slice: {
    attrs: [],
    plan(c) {
      const [x] = c.node.inputs;
      const [starts, ends, axes, steps] = [1, 2, 3, 4].map((i) => c.constant(i));
      const rank = c.rank(0);
      const axis = axes ? (axes.data[0] as number) : 0;
      if (!starts || !ends || starts.data.length !== 1 || (axis !== 1 && axis !== 1 - rank)) {
        throw fail(c, "only a slice of channels (axis 1) with constant bounds is supported");
      }
      if (steps && steps.data[0] !== 1) throw fail(c, `step ${steps.data[0]} is not supported (1)`);
      const channels = c.shape(0)[1];
      const clamp = (v: number) => Math.max(0, Math.min(channels, v < 0 ? v + channels : v));
      const [from, to] = [clamp(starts.data[0] as number), clamp(ends.data[0] as number)];
      if (from >= to) throw fail(c, `an empty slice [${from}, ${to})`);
      return { rank, step: (ops, read) => ops.sliceChannels(read(x), from, to) };
    },
  },
  MatMul: {
    attrs: [],
    plan(c) {
      // x [N, in] (or channels-last [N, H, W, in]) times a constant W [in, out]: a linear layer without bias
      // (weight stored as PyTorch's [out, in])
      const w = c.constant(1);
      const over = c.rank(0) === 2 || (c.rank(0) === 4 && c.layout(0) === "last");
      if (!over || !w || w.kind !== "float" || w.dims.length !== 2) {
        throw fail(
          c,
          "only a [N, F] or channels-last [N, H, W, C] input times a constant 2-D weight (a linear layer) " +
            "is supported",
        );
      }
      const [inF, outF] = w.dims;
      const data = w.data as Float32Array;
      const t = new Float32Array(data.length);
      for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) t[o * inF + i] = data[i * outF + o];
      c.param("weight", { dims: [outF, inF], kind: "float", data: t });
      const spec = { inFeatures: inF, outFeatures: outF, bias: false };
      const [x] = c.node.inputs;
      const name = c.name;
      return { rank: c.rank(0), step: (ops, read) => ops.linear(name, read(x), spec) };
    },
  },
  Gemm: {
    attrs: ["alpha", "beta", "transA", "transB"],
    plan(c) {
      needRank(c, 0, [2]);
      const alpha = c.node.attrs.get("alpha") as number | undefined ?? 1;
      const beta = c.node.attrs.get("beta") as number | undefined ?? 1;
      if (alpha !== 1 || beta !== 1 || int(c, "transA", 0) !== 0 || int(c, "transB", 0) !== 1) {
        throw fail(c, "only PyTorch's Linear form is supported (alpha 1, beta 1, transA 0, transB 1)");
      }
      const bias = c.node.inputs.length > 2 && c.node.inputs[2] !== "";
      const w = weight(c, 1, "weight");
      c.param("weight", w);
      if (bias) {
        const b = weight(c, 2, "bias");
        if (b.data.length !== w.dims[0]) throw fail(c, `a bias of shape [${b.dims}] (one value per output)`);
        c.param("bias", { ...b, dims: [w.dims[0]] });
      }
      const spec = { inFeatures: w.dims[1], outFeatures: w.dims[0], bias };
      const [x] = c.node.inputs;
      const name = c.name;
      return { rank: 2, step: (ops, read) => ops.linear(name, read(x), spec) };
    },
  },
  Add: {
    attrs: [],
    plan(c) {
      // Two computed values: the residual addition (its own excitation rule); with a constant: arithmetic.
      if (c.constant(0) || c.constant(1)) return binaryConverter("add").plan(c);
      if (c.rank(0) !== c.rank(1)) throw fail(c, `operands of ranks ${c.rank(0)} and ${c.rank(1)}`);
      const [a, b] = c.node.inputs;
      return { rank: c.rank(0), step: (ops, read) => ops.add(read(a), read(b)) };
    },
  },
  Dropout: passThrough,
  Identity: passThrough,
  Clip: {
    attrs: [],
    plan(c) {
      const bound = (i: number, fallback: number) => {
        if (c.node.inputs.length <= i || c.node.inputs[i] === "") return fallback;
        const t = c.constant(i);
        if (!t || t.data.length !== 1) {
          throw fail(c, `its ${i === 1 ? "min" : "max"} must be a scalar constant`);
        }
        return Number(t.data[0]);
      };
      return activationPlan(c, { kind: "clip", min: bound(1, -Infinity), max: bound(2, Infinity) });
    },
  },
  Sigmoid: { attrs: [], plan: (c) => activationPlan(c, { kind: "sigmoid" }) },
  HardSigmoid: {
    attrs: ["alpha", "beta"],
    plan: (c) =>
      activationPlan(c, {
        kind: "hardsigmoid",
        alpha: c.node.attrs.get("alpha") as number | undefined ?? 0.2,
        beta: c.node.attrs.get("beta") as number | undefined ?? 0.5,
      }),
  },
  HardSwish: { attrs: [], plan: (c) => activationPlan(c, { kind: "hardswish" }) },
  LeakyRelu: {
    attrs: ["alpha"],
    plan: (c) =>
      activationPlan(c, {
        kind: "leakyrelu",
        alpha: c.node.attrs.get("alpha") as number | undefined ?? 0.01,
      }),
  },
  Sqrt: { attrs: [], plan: (c) => activationPlan(c, { kind: "sqrt" }) },
  Erf: { attrs: [], plan: (c) => activationPlan(c, { kind: "erf" }) },
  Tanh: { attrs: [], plan: (c) => activationPlan(c, { kind: "tanh" }) },
  Gelu: {
    attrs: ["approximate"],
    plan(c) {
      const approximate = c.node.attrs.get("approximate") ?? "none";
      if (approximate !== "none" && approximate !== "tanh") {
        throw fail(c, `approximate ${JSON.stringify(approximate)} is not supported ("none" or "tanh")`);
      }
      return activationPlan(c, { kind: "gelu", approximate: approximate === "tanh" });
    },
  },
  Pow: {
    attrs: [],
    plan(c) {
      const e = c.constant(1);
      if (c.constant(0) || !e || e.data.length !== 1) {
        throw fail(c, "only a computed base to a constant scalar exponent is supported");
      }
      return activationPlan(c, { kind: "pow", exponent: Number(e.data[0]) });
    },
  },
  LayerNormalization: {
    attrs: ["axis", "epsilon", "stash_type"],
    plan(c) {
      // over the last axis only: the channels of a channels-last value, or the features of a [N, F] one
      const rank = c.rank(0);
      const axis = int(c, "axis", -1);
      if ((axis !== -1 && axis !== rank - 1) || (rank === 4 && c.layout(0) !== "last") || rank === 3) {
        throw fail(c, `axis ${axis} is not supported (the channel axis of a channels-last or [N, F] value)`);
      }
      const scale = weight(c, 1, "scale");
      const channels = scale.data.length;
      c.param("weight", { ...scale, dims: [channels] });
      const bias = c.node.inputs.length > 2 && c.node.inputs[2] !== "";
      if (bias) c.param("bias", { ...weight(c, 2, "bias"), dims: [channels] });
      const eps = c.node.attrs.get("epsilon") as number | undefined ?? 1e-5;
      c.param("epsilon", { dims: [1], kind: "float", data: Float32Array.of(eps) });
      const [x] = c.node.inputs;
      const name = c.name;
      return {
        rank,
        // the decomposition PyTorch exports below opset 17: (x - mean) / sqrt(mean((x - mean)^2) + eps) * w + b
        step: (ops, read) => {
          const v = read(x);
          const centred = ops.binary("sub", v, ops.meanChannels(v));
          const variance = ops.meanChannels(ops.activation(centred, { kind: "pow", exponent: 2 }));
          const std = ops.activation(
            ops.binary("add", variance, ops.constant(`${name}.epsilon`, [1])),
            { kind: "sqrt" },
          );
          const scaled = ops.binary(
            "mul",
            ops.binary("div", centred, std),
            ops.constant(`${name}.weight`, [channels]),
          );
          return bias ? ops.binary("add", scaled, ops.constant(`${name}.bias`, [channels])) : scaled;
        },
      };
    },
  },
  Pad: {
    attrs: ["mode"],
    plan(c) {
      const mode = c.node.attrs.get("mode") ?? "constant";
      const pads = c.constant(1);
      const value = c.constant(2);
      if (mode !== "constant" || (value && value.data.some((v) => v !== 0))) {
        throw fail(c, `only zero padding is supported (mode ${JSON.stringify(mode)})`);
      }
      // NCHW begins then ends: [n0, c0, h0, w0, n1, c1, h1, w1]
      const p = pads?.kind === "int" ? pads.data as number[] : null;
      if (!p || p.length !== 8 || p[0] || p[1] || p[4] || p[5] || p.some((v) => v < 0)) {
        throw fail(
          c,
          `padding ${JSON.stringify(p ?? "computed")} is not supported (constant, height and width only)`,
        );
      }
      const [x] = c.node.inputs;
      const tblr: [number, number, number, number] = [p[2], p[6], p[3], p[7]];
      if (tblr.every((v) => v === 0)) return { rank: 4, step: (_ops, read) => read(x) };
      return { rank: 4, step: (ops, read) => ops.zeroPad(read(x), tblr) };
    },
  },
  Mul: binaryConverter("mul"),
  Sub: binaryConverter("sub"),
  Div: binaryConverter("div"),
  Concat: {
    attrs: ["axis"],
    plan(c) {
      const rank = c.rank(0);
      const axis = int(c, "axis", 1);
      if (axis !== 1 && axis !== 1 - rank) throw fail(c, `axis ${axis} is not supported (1: channels)`);
      c.node.inputs.forEach((_, i) => {
        if (c.constant(i)) throw fail(c, "concatenating a constant is not supported");
        if (c.rank(i) !== rank) throw fail(c, "inputs of different ranks");
      });
      const inputs = c.node.inputs;
      return { rank, step: (ops, read) => ops.concatChannels(inputs.map(read)) };
    },
  },
  ReduceMean: {
    attrs: ["axes", "keepdims"],
    plan(c) {
      needRank(c, 0, [2, 4]);
      const rank = c.rank(0);
      const axes = [...ints(c, "axes", [])].map((a) => (a < 0 ? a + rank : a)).sort().join();
      const keep = int(c, "keepdims", 1) === 1;
      const [x] = c.node.inputs;
      const last = c.layout(0) === "last";
      const channels = rank === 2 ? "1" : last ? "3" : "1";
      if (axes === channels && keep) {
        return { rank, step: (ops, read) => ops.meanChannels(read(x)) };
      }
      if (rank !== 4 || axes !== (last ? "1,2" : "2,3")) {
        throw fail(
          c,
          `axes ${JSON.stringify(ints(c, "axes", []))}${keep ? "" : " (keepdims 0)"} not supported: the ` +
            "spatial axes (a global average) or the channel axis with keepdims 1 (a layer norm's mean)",
        );
      }
      return {
        rank: keep ? 4 : 2,
        step: (ops, read) => {
          const y = ops.adaptiveAvgPool(read(x), [1, 1]);
          return keep ? y : ops.flatten(y);
        },
      };
    },
  },
};

function activationPlan(c: Ctx, fn: Activation): { rank: number; step: Step } {
  const [x] = c.node.inputs;
  return { rank: c.rank(0), step: (ops, read) => ops.activation(read(x), fn) };
}

/**
 * A constant operand as NetOps takes it: a scalar ([1]) or one value per channel ([C]), from ONNX's [], [1],
 * [C, 1, 1], [1, C, 1, 1] (NCHW data), [C], [1, C], [1, 1, C], [1, 1, 1, C] (channels-last data) or [C], [1, C]
 * (2-D data); anything else is refused.
 */
function operand(c: Ctx, t: ConstTensor, dataRank: number, layout: Layout): ConstTensor {
  const n = t.data.length;
  const channel = dataRank !== 4
    ? [[n], [1, n]]
    : layout === "last"
    ? [[n], [1, n], [1, 1, n], [1, 1, 1, n]]
    : [[n, 1, 1], [1, n, 1, 1]];
  const data = t.kind === "float" ? t.data as Float32Array : Float32Array.from(t.data as number[]);
  if (n === 1) return { dims: [1], kind: "float", data };
  if (channel.some((d) => d.join() === t.dims.join())) return { dims: [n], kind: "float", data };
  throw fail(c, `a constant of shape [${t.dims}] is not supported (a scalar or one value per channel)`);
}

function binaryConverter(op: BinaryOp): Converter {
  return {
    attrs: [],
    plan(c) {
      const [a, b] = c.node.inputs;
      const [ca, cb] = [c.constant(0), c.constant(1)];
      if (ca && cb) throw fail(c, "both operands are constants (fold them before export)");
      if (!ca && !cb) {
        if (c.rank(0) !== c.rank(1)) throw fail(c, `operands of ranks ${c.rank(0)} and ${c.rank(1)}`);
        return { rank: c.rank(0), step: (ops, read) => ops.binary(op, read(a), read(b)) };
      }
      const rank = ca ? c.rank(1) : c.rank(0);
      const k = operand(c, (ca ?? cb)!, rank, c.layout(ca ? 1 : 0));
      c.param(ca ? "operand0" : "operand1", k);
      const pname = `${c.name}.${ca ? "operand0" : "operand1"}`;
      const shape = k.dims;
      return {
        rank,
        step: (ops, read) =>
          ca
            ? ops.binary(op, ops.constant(pname, shape), read(b))
            : ops.binary(op, read(a), ops.constant(pname, shape)),
      };
    },
  };
}

/** Accepted only as the op that produces the graph's output, and dropped there (the network's output is then logits). */
const OUTPUT_ONLY = ["Softmax", "LogSoftmax"];

export const SUPPORTED_OPS = [...new Set([...Object.keys(CONVERTERS), ...STATIC_OPS, ...OUTPUT_ONLY])].sort();

/** Plans `graph` (one image input [N, 3, H, W], one output). Throws OnnxModelError naming what is refused. */
export function planGraph(graphIn: OnnxGraph, source = "the ONNX model"): GraphPlan {
  const graph = { ...graphIn, constants: new Map(graphIn.constants) }; // folding adds constants: not the caller's
  if (graph.inputs.length !== 1) {
    throw new OnnxModelError(
      `${source}: the graph has ${graph.inputs.length} inputs; retrace takes one image input`,
    );
  }
  if (graph.outputs.length !== 1) {
    throw new OnnxModelError(
      `${source}: the graph has ${graph.outputs.length} outputs; retrace takes one (the logits)`,
    );
  }
  const known = (t: string) => SUPPORTED_OPS.includes(t);
  const unsupported = [...new Set(graph.nodes.map((n) => n.opType).filter((t) => !known(t)))];
  if (unsupported.length) {
    const first = graph.nodes.find((n) => !known(n.opType))!;
    throw new OnnxModelError(
      `${source}: unsupported op${unsupported.length > 1 ? "s" : ""} ${
        unsupported.join(", ")
      } (first at node ` +
        `${JSON.stringify(first.name || first.outputs[0])}); supported: ${SUPPORTED_OPS.join(", ")}`,
    );
  }
  const input = graph.inputs[0].name;
  const ranks = new Map<string, number>([[input, 4]]);
  const layouts = new Map<string, Layout>(); // channels-last values (absent: "nchw")
  const params = new Map<string, TorchTensor>();
  const used = new Set<string>();
  const steps: { outputs: string[]; step: Step }[] = [];
  // The last node of each module: its output is the module's output.
  const scopes = graph.nodes.map((n) => moduleScopes(n.name));
  const lastNodeOf = new Map<string, number>();
  scopes.forEach((paths, i) => paths.forEach((p) => lastNodeOf.set(p, i)));
  const moduleOf = new Map<string, string[]>(); // value name -> module paths it is the output of, innermost first
  const shuffles = new Map<string, Shuffle>();
  let lastLinear: { input: string; name: string } | null = null;
  // Shapes of computed values for one image, from a shape trace of the steps planned so far (only Shape and
  // channel slices ask; re-traced when steps were added since).
  const [h, w] = graph.inputs[0].dims.slice(2).map((d) => d ?? 224);
  let traced = { steps: -1, shapes: new Map<string, number[]>() };
  const shapeOf = (value: string): number[] => {
    if (traced.steps !== steps.length) {
      const ops = new ShapeOps();
      const values = new Map<string, number[]>([[input, [1, h, w, 3]]]);
      for (const { outputs, step } of steps) values.set(outputs[0], step(ops, (n) => values.get(n)!));
      traced = { steps: steps.length, shapes: values };
    }
    const s = traced.shapes.get(value);
    if (!s) {
      throw new OnnxModelError(
        `${source}: the shape of ${JSON.stringify(value)} is not known when it is asked for`,
      );
    }
    return layouts.get(value) === "last" ? s : torchShape(s);
  };

  let droppedOutputOp: string | undefined;
  graph.nodes.forEach((node, i) => {
    if (OUTPUT_ONLY.includes(node.opType)) {
      const axis = node.attrs.get("axis") as number | undefined ?? (graph.opset >= 13 ? -1 : 1);
      const [x] = node.inputs;
      if (node.outputs[0] !== graph.outputs[0] || ranks.get(x) !== 2 || (axis !== -1 && axis !== 1)) {
        throw new OnnxModelError(
          `${source}: ${node.opType} node ${
            JSON.stringify(node.name || node.outputs[0])
          }: supported only as the ` +
            "graph's last op over the classes (dropped there: retrace explains the logits)",
        );
      }
      droppedOutputOp = node.opType;
      ranks.set(node.outputs[0], 2);
      steps.push({ outputs: [node.outputs[0]], step: (_ops, read) => read(x) });
      moduleOf.set(node.outputs[0], []);
      return;
    }
    const folded = foldStatic(node, (n) => graph.constants.get(n), shapeOf);
    if (folded) {
      graph.constants.set(node.outputs[0], folded);
      return;
    }
    const converter = CONVERTERS[node.opType];
    if (!converter) {
      throw new OnnxModelError(
        `${source}: ${node.opType} node ${JSON.stringify(node.name || node.outputs[0])}: supported only on ` +
          "static shapes (constants), not on computed tensors",
      );
    }
    if (
      node.opType !== "Reshape" && node.opType !== "Transpose" && node.inputs.some((n) => shuffles.has(n))
    ) {
      throw new OnnxModelError(
        `${source}: ${node.opType} node ${
          JSON.stringify(node.name || node.outputs[0])
        }: a 5-D value is only ` +
          "supported inside ShuffleNet's channel shuffle",
      );
    }
    const extra = [...node.attrs.keys()].filter((a) => !converter.attrs.includes(a));
    const base = scopes[i].at(-1) ?? (node.name || node.outputs[0]);
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base}#${k}`;
    const ctx: Ctx = {
      node,
      name,
      source,
      shuffles,
      shape: (j) => shapeOf(node.inputs[j]),
      layout: (j) => layouts.get(node.inputs[j]) ?? "nchw",
      constant: (j) => graph.constants.get(node.inputs[j]),
      rank: (j) => {
        const r = ranks.get(node.inputs[j]) ?? graph.constants.get(node.inputs[j])?.dims.length;
        if (r === undefined) {
          throw fail(ctx, `input ${JSON.stringify(node.inputs[j])} is not produced before it is used`);
        }
        return r;
      },
      param: (suffix, t) => {
        used.add(name);
        params.set(`${name}.${suffix}`, { shape: t.dims, data: t.data as Float32Array });
      },
    };
    if (extra.length) {
      throw fail(ctx, `attribute${extra.length > 1 ? "s" : ""} ${extra.join(", ")} not supported`);
    }
    if (node.outputs.filter(Boolean).length !== 1 && node.opType !== "Dropout") {
      throw fail(ctx, `${node.outputs.length} outputs; retrace takes one`);
    }
    const inLayouts = new Set(node.inputs.filter((n) => layouts.has(n)).map((n) => layouts.get(n)!));
    if (inLayouts.size && !CHANNELS_LAST_OPS.has(node.opType)) {
      throw fail(
        ctx,
        "its input is a channels-last value (after Transpose perm [0, 2, 3, 1]); only element-wise ops, " +
          "MatMul, ReduceMean, LayerNormalization and the Transpose back take one",
      );
    }
    const computed = node.inputs.filter((n) => n !== "" && ranks.get(n) === 4);
    if (inLayouts.size && computed.some((n) => !layouts.has(n))) {
      throw fail(ctx, "its inputs mix channels-last and NCHW values");
    }
    const { rank, step, layout } = converter.plan(ctx);
    if (node.opType === "Gemm" || node.opType === "MatMul" || node.opType === "Conv") {
      // the classifier: the last layer with weights, when it is linear or a 1x1 conv (SqueezeNet's)
      const w = graph.constants.get(node.inputs[1])?.dims ?? [];
      const classifier = node.opType !== "Conv" ||
        (w[2] === 1 && w[3] === 1 && int(ctx, "group", 1) === 1);
      lastLinear = classifier && rank === (node.opType === "Conv" ? 4 : 2)
        ? { input: node.inputs[0], name }
        : null;
    }
    ranks.set(node.outputs[0], rank);
    if (rank === 4 && (layout ?? (inLayouts.size ? "last" : "nchw")) === "last") {
      layouts.set(node.outputs[0], "last");
    }
    if (!step) return; // inside a channel shuffle: no value of its own
    steps.push({ outputs: [node.outputs[0]], step });
    const modules = scopes[i].filter((p) => lastNodeOf.get(p) === i).reverse();
    moduleOf.set(node.outputs[0], modules);
  });
  const output = graph.outputs[0];
  if (!ranks.has(output)) {
    throw new OnnxModelError(`${source}: the graph output ${JSON.stringify(output)} is not computed`);
  }

  const forward: Forward = <T>(ops: NetOps<T>, x: T): T => {
    const values = new Map<string, T>([[input, ops.probe("", x)]]);
    const read = (name: string) => values.get(name)!;
    for (const { outputs, step } of steps) {
      let y = step(ops, read);
      for (const m of moduleOf.get(outputs[0]) ?? []) y = ops.probe(m, y);
      values.set(outputs[0], ops.probe(outputs[0], y));
    }
    return values.get(output)!;
  };
  const moduleNames = new Set([...moduleOf.values()].flat());
  const rawNames = new Set(steps.map((s) => s.outputs[0]).filter((n) => !moduleNames.has(n)));
  const linear = lastLinear as { input: string; name: string } | null;
  const contrast = linear
    ? { contrast: moduleOf.get(linear.input)?.[0] ?? linear.input, classifier: linear.name }
    : undefined;
  const channelsLast = new Set(
    [...layouts.keys()].flatMap((v) => [v, ...(moduleOf.get(v) ?? [])]),
  );
  return { forward, params, moduleOf, rawNames, contrast, droppedOutputOp, channelsLast };
}

export type { AttrValue };
