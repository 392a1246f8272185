/**
 * The saliency runner: one request = one method (or any extraction x aggregation pair, under any rule set),
 * one seed, any number of layers, answered from ONE forward and ONE backward pass (contrastive excitation
 * backprop needs two backward passes by definition, plus a forward for a pointing seed). Maps are raw: at each
 * layer's resolution, no resizing or smoothing (lib/saliency/postprocess.ts does that).
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Network } from "../nets/network.ts";
import { runProbed } from "../nets/probes.ts";
import type { NetWeights } from "../nets/weights.ts";
import { isVgg } from "../nets/config.ts";
import type { Aggregation } from "./aggregate.ts";
import { SaliencyInputError, UnsupportedRuleError } from "./errors.ts";
import {
  extractAggregate,
  type Extraction,
  GRADIENT_FREE,
  INPUT_ONLY,
  PERTURBATION_WEIGHTS,
} from "./extract.ts";
import { perturbationWeights } from "./perturbation_cams.ts";
import { integratedGradients, type IntegratedGradientsOptions } from "./integrated_gradients.ts";
import { rise, type RiseOptions } from "./rise.ts";
import { occlusion, type OcclusionOptions } from "./occlusion.ts";
import { fullGrad } from "./full_grad.ts";
import { noiseTunnel, type NoiseTunnelOptions } from "./noise_tunnel.ts";
import { methodByName, type MethodSpec } from "./methods.ts";
import { checkRuleSupport, excitationRules, type RuleSetName, rulesFor } from "./rules.ts";
import { objectiveFor, type Seed, seedTensor } from "./seeds.ts";

/** A method by name, a full spec, or a bare pair (rules default to standard, no ReLU). */
export type MethodRef = string | MethodSpec | {
  extract: Extraction;
  aggregate: Aggregation;
  rules?: RuleSetName;
  relu?: boolean;
};

export interface SaliencyRequest {
  method: MethodRef;
  /** Layers to explain at ("" = input); for conv-exact, conv modules. */
  layers: readonly string[];
  seed: Seed;
  /** For the path-integral extraction (integrated-gradients): steps, quadrature, baseline, points per pass. */
  integratedGradients?: IntegratedGradientsOptions;
  /** For the random-masks extraction (rise): masks, cells, p, masks per pass, seed, probability. */
  rise?: RiseOptions;
  /** For the occlusion extraction: window, stride, patches per pass. */
  occlusion?: OcclusionOptions;
  /** Any method through a noise tunnel: smoothgrad, smoothgrad-sq or vargrad of its maps over noisy samples. */
  noise?: NoiseTunnelOptions;
}

/** Maps per layer ([N, h, w, 1] each) and the network output. The caller disposes it. */
export interface SaliencyResult {
  maps: Map<string, Tensor>;
  output: Tensor;
  /** integrated-gradients: per layer, Σ attributions − (S(x) − S(x')) per image [N]. */
  completenessGap?: Map<string, Tensor>;
  dispose(): void;
}

/**
 * Whether a method can explain an objective seed (a function of the output whose targets it picks itself): not
 * one that scores forward passes by a target or evaluates no objective (the gradient-free extractions), not the
 * input-only maps (FullGrad's takes a target too), not integrated gradients (it integrates a target's score), not
 * contrastive excitation (it contrasts classes).
 */
export function takesObjectiveSeed(spec: MethodSpec): boolean {
  return !GRADIENT_FREE.has(spec.extract) && !INPUT_ONLY.has(spec.extract) &&
    spec.extract !== "path-integral" &&
    spec.rules !== "contrastive-excitation";
}

export function resolveMethod(ref: MethodRef): MethodSpec {
  if (typeof ref === "string") return methodByName(ref);
  if ("name" in ref) return ref;
  return {
    name: `${ref.extract}+${ref.aggregate}`,
    rules: ref.rules ?? "standard",
    extract: ref.extract,
    aggregate: ref.aggregate,
    relu: ref.relu ?? false,
    description: "custom extraction x aggregation pair",
    reference: "Extract & Aggregate (METHODS.md §3)",
    passes: {
      forward: 1,
      backward: GRADIENT_FREE.has(ref.extract) ? 0 : ref.rules === "contrastive-excitation" ? 2 : 1,
    },
  };
}

/**
 * Contrastive EB's contrast layer and classifier layer per architecture (METHODS.md §3.5); an imported graph names
 * its own (the input of its classifier, the last linear or 1x1-conv layer, and that layer).
 */
export function contrastLayers(net: Network): { contrast: string; classifier: string } {
  if (net.contrast) return net.contrast;
  return isVgg(net.config.arch)
    ? { contrast: "classifier.4", classifier: "classifier.6" }
    : { contrast: "avgpool", classifier: "fc" };
}

/**
 * Computes the maps of `request` for `input` ([N, H, W, 3], normalised). Does not dispose input or weights.
 * Errors: UnknownLayerError (unknown layer, or a non-conv layer for conv-exact), SaliencyInputError.
 */
export function computeSaliency(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  request: SaliencyRequest,
): SaliencyResult {
  if (request.noise) return noisySaliency(net, weights, input, request, request.noise);
  const spec = resolveMethod(request.method);
  checkRuleSupport(spec.rules, net.extraOps);
  if (spec.rules === "contrastive-excitation" && net.config.arch === "onnx" && !net.contrast) {
    throw new UnsupportedRuleError(
      "contrastive excitation backprop needs a contrast layer: the input of the network's classifier (its " +
        "last layer with weights, when that is linear or a 1x1 conv), and this graph has none; use excitation " +
        "or a gradient method",
    );
  }
  const layers = [...new Set(request.layers)];
  if (layers.length === 0) {
    throw new SaliencyInputError('no layers given: name at least one ("" = the input)');
  }
  net.assertLayers(spec.extract === "conv-exact" ? [] : layers);
  if (spec.extract === "conv-exact") net.assertConvs(layers);
  if (spec.extract === "path-integral") {
    return pathIntegralSaliency(net, weights, input, spec, layers, request);
  }
  if (spec.extract === "random-masks") {
    return inputMapSaliency(
      net,
      weights,
      input,
      layers,
      "RISE",
      () => rise(net, weights, input, request.seed, request.rise),
    );
  }
  if (spec.extract === "full-gradient") {
    return inputMapSaliency(
      net,
      weights,
      input,
      layers,
      "FullGrad",
      () => fullGrad(net, weights, input, request.seed),
    );
  }
  if (spec.extract === "occlusion") {
    return inputMapSaliency(
      net,
      weights,
      input,
      layers,
      "occlusion",
      () => occlusion(net, weights, input, request.seed, request.occlusion),
    );
  }
  const needsX = spec.extract !== "bias" && spec.extract !== "conv-exact";
  const needsG = !GRADIENT_FREE.has(spec.extract);
  let seed = request.seed;
  let ownedSeed: Tensor | null = null;
  let pNeg: Tensor | null = null;
  try {
    if (spec.rules === "contrastive-excitation") {
      if (seed.kind === "objective") {
        throw new UnsupportedRuleError(
          "contrastive excitation backprop contrasts output classes; it cannot explain an objective function",
        );
      }
      if (seed.kind === "pointing") {
        // The seed comes from the unmodified forward; the negated pass must reuse it.
        const plain = runProbed(net, weights, input);
        ownedSeed = seedTensor(seed, plain.output);
        plain.dispose();
        seed = { kind: "gradient", gradient: ownedSeed };
      }
      pNeg = negatedContrastSignal(net, weights, input, seed);
    }
    const { contrast } = contrastLayers(net);
    const signal = pNeg;
    const probed = runProbed(net, weights, input, {
      rules: rulesFor(spec.rules),
      gradients: needsG ? layers : [],
      record: needsX ? layers : [],
      recordConvInputs: spec.extract === "conv-exact" ? layers : [],
      objective: objectiveFor(seed),
      objectiveLayer: seed.kind === "objective" ? seed.layer : undefined,
      gradientTransforms: signal ? new Map([[contrast, (g: Tensor) => tf.sub(g, signal)]]) : undefined,
    });
    const perturbation = PERTURBATION_WEIGHTS[spec.extract as keyof typeof PERTURBATION_WEIGHTS];
    let channelWeights: Map<string, Tensor> | null = null;
    try {
      if (perturbation) {
        channelWeights = perturbationWeights(perturbation, net, weights, input, probed, request.seed);
      }
      const maps = new Map<string, Tensor>();
      try {
        for (const layer of layers) {
          const g = needsG ? probed.gradients.get(layer)! : probed.activations.get(layer)!;
          const x = spec.extract === "conv-exact"
            ? probed.convInputs.get(layer)
            : needsX
            ? probed.activations.get(layer)
            : g; // bias: c_u = g_u, x unused
          if (!x) throw new Error(`internal: no activation recorded at ${layer}`);
          maps.set(
            layer,
            tf.tidy(() => {
              const map = extractAggregate(spec.extract, spec.aggregate, {
                x,
                g,
                conv: net.convs.get(layer),
                channelWeights: channelWeights?.get(layer),
              });
              return spec.relu ? tf.relu(map) : map;
            }),
          );
        }
      } catch (e) {
        tf.dispose([...maps.values()]); // the maps of the layers before the one refused
        throw e;
      }
      const output = tf.clone(probed.output);
      return { maps, output, dispose: () => tf.dispose([output, ...maps.values()]) };
    } finally {
      probed.dispose();
      if (channelWeights) tf.dispose([...channelWeights.values()]);
    }
  } finally {
    pNeg?.dispose();
    ownedSeed?.dispose();
  }
}

/** The method's maps through a noise tunnel, with the clean input's output. */
function noisySaliency(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  request: SaliencyRequest,
  noise: NoiseTunnelOptions,
): SaliencyResult {
  const layers = [...new Set(request.layers)];
  const plain = { ...request, noise: undefined };
  const maps = noiseTunnel(input, request.seed, noise, layers, (batch, seed) => {
    const r = computeSaliency(net, weights, batch, { ...plain, seed });
    const kept = new Map(r.maps);
    r.maps.clear();
    r.dispose();
    return kept;
  });
  const output = runProbed(net, weights, input).output;
  return { maps, output, dispose: () => tf.dispose([output, ...maps.values()]) };
}

/**
 * A map of the input only (RISE, occlusion, FullGrad): the layer must be "" (input). `make` gives the map, and
 * the network's output when its own passes included the plain input's (else one forward makes it).
 */
function inputMapSaliency(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  layers: readonly string[],
  what: string,
  make: () => Tensor | { map: Tensor; output: Tensor },
): SaliencyResult {
  if (layers.length !== 1 || layers[0] !== "") {
    throw new SaliencyInputError(`${what} explains the input only: ask for the layer "" (input)`);
  }
  const made = make();
  const map = made instanceof tf.Tensor ? made : made.map;
  const output = made instanceof tf.Tensor ? runProbed(net, weights, input).output : made.output;
  const maps = new Map([["", map]]);
  return { maps, output, dispose: () => tf.dispose([output, ...maps.values()]) };
}

/** Integrated Gradients' maps: the path integral's two factors aggregated like any extraction. */
function pathIntegralSaliency(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  spec: MethodSpec,
  layers: readonly string[],
  request: SaliencyRequest,
): SaliencyResult {
  if (spec.rules !== "standard") {
    throw new UnsupportedRuleError(
      `integrated gradients integrates the standard gradient, not ${spec.rules} rules`,
    );
  }
  const ig = integratedGradients(net, weights, input, layers, request.seed, request.integratedGradients);
  const maps = new Map<string, Tensor>();
  try {
    for (const layer of layers) {
      maps.set(
        layer,
        tf.tidy(() => {
          const x = ig.difference.get(layer)!;
          const map = extractAggregate("path-integral", spec.aggregate, {
            x,
            g: ig.meanGradient.get(layer)!,
          });
          return spec.relu ? tf.relu(map) : map;
        }),
      );
    }
    const forward = runProbed(net, weights, input);
    const output = forward.output;
    const completenessGap = new Map(ig.completenessGap);
    ig.completenessGap.clear();
    return {
      maps,
      output,
      completenessGap,
      dispose: () => tf.dispose([output, ...maps.values(), ...completenessGap.values()]),
    };
  } catch (e) {
    tf.dispose([...maps.values()]);
    throw e;
  } finally {
    ig.dispose();
  }
}

/**
 * Contrastive EB, pass 1: the excitation signal at the contrast layer with the classifier layer's weights
 * negated (W -> -W, so its W+ is max(-W, 0)), from the same seed.
 */
function negatedContrastSignal(net: Network, weights: NetWeights, input: Tensor, seed: Seed): Tensor {
  const { contrast, classifier } = contrastLayers(net);
  const name = `${classifier}.weight`;
  const negated = weights.withOverrides(new Map([[name, tf.neg(weights.get(name))]]));
  try {
    const r = runProbed(net, negated, input, {
      rules: excitationRules,
      gradients: [contrast],
      objective: objectiveFor(seed),
    });
    const p = tf.clone(r.gradients.get(contrast)!);
    r.dispose();
    return p;
  } finally {
    negated.dispose();
  }
}
