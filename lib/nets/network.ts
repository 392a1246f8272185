/**
 * A network = a validated config + its forward, with cached shape listings (probe-able layers for an input
 * size, parameters with PyTorch shapes). No weights live here: they are values passed to each forward.
 */
import {
  isVgg,
  type NetConfig,
  netConfig,
  type NetConfigInput,
  type ResNetArch,
  type VggArch,
} from "./config.ts";
import { InvalidInputError, UnknownLayerError } from "./errors.ts";
import type { Conv2dSpec, Forward } from "./ops.ts";
import { resnetForward } from "./resnet.ts";
import { type LayerInfo, type ParamInfo, ShapeOps } from "./shape_ops.ts";
import { vggForward } from "./vgg.ts";

export interface Network {
  readonly config: NetConfig;
  readonly forward: Forward;
  /** Every parameter with its PyTorch-layout shape, in forward order. */
  readonly params: readonly ParamInfo[];
  /** Every conv module (torchvision name) with its spec: kernel, stride, padding, dilation. */
  readonly convs: ReadonlyMap<string, Conv2dSpec>;
  /** Every listed probe-able layer name ("" = input), in forward order (assertLayers may accept more). */
  readonly layerNames: readonly string[];
  /** Ops beyond the VGG / ResNet vocabulary this network uses, described (for rule sets that lack them). */
  readonly extraOps: ReadonlySet<string>;
  /**
   * Contrastive excitation backprop's layers when the network names them itself (an imported graph: the input of
   * its classifier — its last linear or 1x1-conv layer — and that layer); hand-written architectures use lib/saliency's table.
   */
  readonly contrast?: { contrast: string; classifier: string };
  /** Probe-able layers with their NHWC output shapes for an input of [height, width] (default: config). */
  layers(inputSize?: [number, number], batch?: number): LayerInfo[];
  /** Throws UnknownLayerError (listing every valid name) unless every name is a layer of this network. */
  assertLayers(names: Iterable<string>): void;
  /** Throws UnknownLayerError (listing every conv module) unless every name is a conv module. */
  assertConvs(names: Iterable<string>): void;
}

export function buildNetwork(partial: NetConfigInput): Network {
  const config = netConfig(partial);
  const forward = isVgg(config.arch)
    ? vggForward(config as NetConfig & { arch: VggArch })
    : resnetForward(config as NetConfig & { arch: ResNetArch });
  return assembleNetwork(config, forward);
}

/**
 * A network from any forward (a hand-written architecture or an imported graph, lib/nets/onnx/). `unlisted`:
 * probe names accepted as layers but left out of the listings (an imported graph's raw value names);
 * `channelsLast`: layers whose values PyTorch holds as [N, H, W, C] (listed so).
 */
export function assembleNetwork(
  config: NetConfig,
  forward: Forward,
  unlisted: ReadonlySet<string> = new Set(),
  contrast?: { contrast: string; classifier: string },
  channelsLast: ReadonlySet<string> = new Set(),
): Network {
  const trace = (size: [number, number], batch: number): ShapeOps => {
    const ops = new ShapeOps();
    forward(ops, [batch, size[0], size[1], 3]);
    return ops;
  };
  // Parameters and names do not depend on the input size, but a tiny input may not fit: trace at 224+.
  const reference = trace([Math.max(224, config.inputSize[0]), Math.max(224, config.inputSize[1])], 1);
  const known = new Set(reference.layers.map((l) => l.name));
  const layerNames = [...known].filter((n) => !unlisted.has(n));
  return {
    config,
    forward,
    params: reference.params,
    convs: reference.convs,
    extraOps: reference.extraOps,
    contrast,
    layerNames,
    layers: (inputSize = config.inputSize, batch = 1) => {
      if (inputSize.some((s) => !Number.isInteger(s) || s < 1)) {
        throw new InvalidInputError(`input size must be two positive integers, got [${inputSize}]`);
      }
      return trace(inputSize, batch).layers
        .filter((l) => !unlisted.has(l.name))
        .map((l) => (channelsLast.has(l.name) ? { ...l, channelsLast: true } : l));
    },
    assertLayers: (names) => {
      const unknown = [...names].filter((n) => !known.has(n));
      if (unknown.length) throw new UnknownLayerError(unknown, layerNames);
    },
    assertConvs: (names) => {
      const notConvs = [...names].filter((n) => !reference.convs.has(n));
      if (notConvs.length) throw new UnknownLayerError(notConvs, [...reference.convs.keys()], "conv module");
    },
  };
}
