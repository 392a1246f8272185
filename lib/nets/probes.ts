/**
 * The probe context: one forward (and at most one backward) pass of a network that records activations at
 * named layers, returns dS/dx at any set of named layers and at the input ("") from ONE backward pass, and
 * optionally dS/dW for named parameters, under a chosen backward-rule set.
 *
 * How the gradients come out of one pass: at each requested layer the forward adds a zero-valued "tap"
 * tensor to the activation. The taps (and requested weights) are the xs of one tfjs gradients() call, so
 * the backward stops at the earliest tap and yields dS/dtap = dS/dx at every requested layer.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import { withBackward } from "../runtime/custom_grad.ts";
import { InvalidInputError, UnknownParameterError } from "./errors.ts";
import { type BackwardRules, inputOnlyOps } from "./layer_ops.ts";
import type { Network } from "./network.ts";
import { TensorOps } from "./tensor_ops.ts";
import type { NetWeights } from "./weights.ts";

export interface ProbeOptions {
  /** Layers whose activations to return (torchvision names, "" = input). */
  record?: readonly string[];
  /** Layers at which to return dS/dx ("" = the input). */
  gradients?: readonly string[];
  /** Parameters (torchvision names) at which to return dS/dW, in retrace layout (conv HWIO, linear [in, out]). */
  weightGradients?: readonly string[];
  /** Backward-rule set; default the standard gradient. */
  rules?: BackwardRules;
  /**
   * Replace the gradient flowing back into a layer's output by a function of it (e.g. contrastive excitation
   * backprop subtracts a recorded signal at its contrast layer). A gradient asked for at the same layer is
   * the one before the transform.
   */
  gradientTransforms?: ReadonlyMap<string, (g: Tensor) => Tensor>;
  /**
   * Replace a layer's output in the forward by a function of it, as a PyTorch forward hook returning a new
   * value does (e.g. Ablation-CAM zeroes one channel per batch item). Recording and gradients at that layer see
   * the replaced value.
   */
  replace?: ReadonlyMap<string, (x: Tensor) => Tensor>;
  /** Conv modules whose INPUT activation to return (in `convInputs`), e.g. for normgrad-exact. */
  recordConvInputs?: readonly string[];
  /**
   * The backpropagated objective S as a scalar function of the network output (logits [N, K] or a score map
   * [N, h, w, K]). Required when any gradient is asked for. Whatever it computes from the output is
   * differentiated too: wrap a seed that must be constant in a stop-gradient.
   */
  objective?: (output: Tensor) => Tensor;
  /**
   * Feed the objective with this layer's activation instead of the network output (e.g. "avgpool" for an image
   * captioner whose decoder reads the pooled feature). The rest of the forward still runs; S depends on the
   * network only through this layer.
   */
  objectiveLayer?: string;
}

/** Everything a probed pass returns. The caller owns every tensor in it: call dispose() when done. */
export interface ProbeResult {
  output: Tensor;
  /** S, when gradients were asked for. */
  objective: Tensor | null;
  activations: Map<string, Tensor>;
  /** Inputs of the conv modules asked for in recordConvInputs. */
  convInputs: Map<string, Tensor>;
  gradients: Map<string, Tensor>;
  weightGradients: Map<string, Tensor>;
  dispose(): void;
}

/**
 * Runs `net` on `input` ([N, H, W, 3], float32, already normalised) with `weights`. Validates every name
 * first (UnknownLayerError lists the valid ones). Does not dispose `input` or `weights`.
 */
export function runProbed(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  options: ProbeOptions = {},
): ProbeResult {
  const record = new Set(options.record ?? []);
  const wanted = new Set(options.gradients ?? []);
  const weightNames = [...new Set(options.weightGradients ?? [])];
  const transforms = options.gradientTransforms ?? new Map<string, (g: Tensor) => Tensor>();
  net.assertLayers([
    ...record,
    ...wanted,
    ...transforms.keys(),
    ...(options.replace?.keys() ?? []),
    ...(options.objectiveLayer ? [options.objectiveLayer] : []),
  ]);
  const convInputNames = new Set(options.recordConvInputs ?? []);
  net.assertConvs(convInputNames);
  checkInput(input);
  const paramNames = net.params.filter((p) => !p.optional).map((p) => p.name);
  const unknownParams = weightNames.filter((n) => !paramNames.includes(n));
  if (unknownParams.length) throw new UnknownParameterError(unknownParams, paramNames);
  const weightTensors = weightNames.map((n) => weights.get(n)); // ChunkedWeightError for a split weight
  const backward = wanted.size > 0 || weightNames.length > 0;
  if (backward && !options.objective) {
    throw new Error("runProbed: gradients were asked for without an objective");
  }

  const activations = new Map<string, Tensor>();
  const taps: { name: string; tap: Tensor }[] = [];
  const convInputs = new Map<string, Tensor>();
  const convInput = (name: string, x: Tensor) => {
    if (convInputNames.has(name) && !convInputs.has(name)) convInputs.set(name, tf.keep(tf.clone(x)));
  };
  let objectiveInput: Tensor | null = null;
  const probe = (name: string, given: Tensor): Tensor => {
    const value = options.replace?.get(name)?.(given) ?? given;
    if (record.has(name) && !activations.has(name)) activations.set(name, tf.keep(tf.clone(value)));
    const transform = transforms.get(name);
    const x = transform ? withBackward(1, (v) => tf.clone(v), (dy) => [transform(dy)], "none")(value) : value;
    let out = x;
    if (wanted.has(name) && !taps.some((t) => t.name === name)) {
      const tap = tf.keep(tf.zerosLike(x));
      taps.push({ name, tap });
      out = tf.add(x, tap);
    }
    if (name === options.objectiveLayer && objectiveInput === null) objectiveInput = out;
    return out;
  };
  // Without weight gradients, batch norm and linear backwards need only dx (inputOnlyOps); a rule set may still
  // replace it.
  const rules = weightNames.length === 0 ? { ...inputOnlyOps, ...options.rules } : options.rules;
  const ops = new TensorOps(weights, { rules, probe, convInput });
  const result: ProbeResult = {
    output: null as unknown as Tensor,
    objective: null,
    activations,
    convInputs,
    gradients: new Map(),
    weightGradients: new Map(),
    dispose() {
      const all = [
        this.output,
        this.objective,
        ...activations.values(),
        ...convInputs.values(),
        ...this.gradients.values(),
      ];
      for (const t of [...all, ...this.weightGradients.values()]) t?.dispose();
    },
  };
  try {
    if (!backward) {
      result.output = tf.tidy(() => net.forward(ops, input));
      return result;
    }
    // tfjs reads xs after f has run, so the taps created during the forward can be appended to it. It also
    // insists on a non-empty xs up front: with no weights asked for, a scalar outside the graph holds the place.
    const placeholder = weightTensors.length ? null : tf.scalar(0);
    const xs: Tensor[] = placeholder ? [placeholder] : [...weightTensors];
    const offset = placeholder ? 1 : 0;
    const f = () => {
      const out = net.forward(ops, input);
      result.output = tf.keep(out);
      xs.push(...taps.map((t) => t.tap));
      if (options.objectiveLayer !== undefined) {
        if (objectiveInput === null) {
          throw new Error(`internal: layer ${options.objectiveLayer} was never reached`);
        }
        return options.objective!(objectiveInput);
      }
      return options.objective!(out);
    };
    try {
      const { value, grads } = tf.engine().gradients(f, xs, undefined, true);
      result.objective = value;
      grads.slice(offset).forEach((g, j) => {
        if (j < weightNames.length) {
          setGrad(result.weightGradients, weightNames[j], g, weightTensors[j]);
        } else {
          const { name, tap } = taps[j - weightNames.length];
          setGrad(result.gradients, name, g, tap);
        }
      });
    } finally {
      placeholder?.dispose();
    }
    return result;
  } catch (e) {
    result.dispose();
    throw e;
  } finally {
    for (const t of taps) t.tap.dispose();
  }
}

/** A parameter or layer that S does not depend on gets an explicit zero gradient rather than a hole. */
function setGrad(into: Map<string, Tensor>, name: string, g: Tensor | undefined, like: Tensor): void {
  into.set(name, g ?? tf.zerosLike(like));
}

function checkInput(input: Tensor): void {
  if (input.rank !== 4 || input.shape[3] !== 3) {
    throw new InvalidInputError(`input must be [N, H, W, 3] (NHWC, RGB), got [${input.shape}]`);
  }
  if (input.dtype !== "float32") throw new InvalidInputError(`input must be float32, got ${input.dtype}`);
}
