/**
 * Network configurations: which architecture, how wide, how many classes, which head. Validated once here
 * so architecture code can trust its inputs.
 */
import { InvalidNetConfigError } from "./errors.ts";

export const VGG_ARCHS = ["vgg11", "vgg13", "vgg16", "vgg19"] as const;
export const RESNET_ARCHS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"] as const;
export type VggArch = typeof VGG_ARCHS[number];
export type ResNetArch = typeof RESNET_ARCHS[number];
export type Arch = VggArch | ResNetArch;

/**
 * `classifier`: torchvision's head (VGG: adaptive avgpool 7x7 + 3 Linear; ResNet: global avgpool + fc).
 * `fully-conv`: TorchRay's Caffe pointing-game models (METHODS.md §2.3): VGG with ceil-mode pools, no avgpool
 * and the classifier as 7x7 / 1x1 convolutions; ResNet with a biased conv1, a ceil-mode unpadded maxpool, the
 * stride in each stage's first 1x1 conv, AvgPool2d(7, stride 1) and fc as a 1x1 conv. Output: [N, h', w', K].
 * `gap` (VGG only): torchvision's classifier after a global average pool (classifier.0 takes C features, not
 * 49 C): translation-invariant, for the synthetic-world VGG16 (a small training set).
 */
export type Head = "classifier" | "fully-conv" | "gap";
export const HEADS: readonly Head[] = ["classifier", "fully-conv", "gap"];

export interface NetConfig {
  /** A hand-written architecture, or "onnx" for an imported graph (lib/nets/onnx/). */
  arch: Arch | "onnx";
  /** Number of output classes K. */
  numClasses: number;
  /** Width multiplier: every channel count c becomes max(1, round(c * width)), VGG's hidden 4096 too. */
  width: number;
  head: Head;
  /** Nominal input size [height, width] (used for shape listings; any size the net can take may be fed). */
  inputSize: [number, number];
}

export const DEFAULT_INPUT_SIZE: [number, number] = [224, 224];

/** Unvalidated configuration, as it comes from a manifest or a caller. */
export type NetConfigInput = Omit<Partial<NetConfig>, "arch" | "head"> & { arch: string; head?: string };

/** Fills defaults and validates; throws InvalidNetConfigError naming the bad field and the valid values. */
export function netConfig(partial: NetConfigInput): NetConfig {
  const arch = partial.arch as Arch;
  if (![...VGG_ARCHS, ...RESNET_ARCHS].includes(arch)) {
    throw new InvalidNetConfigError(
      `unknown architecture ${JSON.stringify(partial.arch)}; valid: ${
        [...VGG_ARCHS, ...RESNET_ARCHS].join(", ")
      }`,
    );
  }
  const cfg: NetConfig = {
    arch,
    numClasses: partial.numClasses ?? 1000,
    width: partial.width ?? 1,
    head: (partial.head ?? "classifier") as Head,
    inputSize: partial.inputSize ?? DEFAULT_INPUT_SIZE,
  };
  if (!Number.isInteger(cfg.numClasses) || cfg.numClasses < 1) {
    throw new InvalidNetConfigError(`numClasses must be a positive integer, got ${cfg.numClasses}`);
  }
  if (!(cfg.width > 0 && cfg.width <= 4)) {
    throw new InvalidNetConfigError(`width must be in (0, 4], got ${cfg.width}`);
  }
  if (!HEADS.includes(cfg.head)) {
    throw new InvalidNetConfigError(
      `head must be one of ${HEADS.join(", ")}, got ${JSON.stringify(cfg.head)}`,
    );
  }
  if (cfg.head === "gap" && !VGG_ARCHS.includes(cfg.arch as VggArch)) {
    throw new InvalidNetConfigError(
      `the "gap" head is for VGG; ${cfg.arch} takes "classifier" (its classifier pools globally already) or "fully-conv"`,
    );
  }
  const [h, w] = cfg.inputSize;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new InvalidNetConfigError(`inputSize must be two positive integers, got [${cfg.inputSize}]`);
  }
  return cfg;
}

/** Scales a channel count by the width multiplier (round half up, at least 1), as tools/torch_nets.py does. */
export function scaled(channels: number, width: number): number {
  return Math.max(1, Math.floor(channels * width + 0.5));
}

export function isVgg(arch: string): arch is VggArch {
  return (VGG_ARCHS as readonly string[]).includes(arch);
}
