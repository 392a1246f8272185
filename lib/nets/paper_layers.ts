/**
 * The layers the paper evaluates (METHODS.md §2.1–§2.2; "" = the input) and the conv layers of its
 * virtual-identity study (§11.1), for VGG16 and ResNet50.
 */
export const PAPER_LAYERS: Readonly<Record<string, readonly string[]>> = {
  vgg16: ["", "features.3", "features.8", "features.15", "features.22", "features.29"],
  resnet50: ["", "layer1", "layer2", "layer3", "layer4"],
};

export const IDENTITY_STUDY_CONVS: Readonly<Record<string, readonly string[]>> = {
  vgg16: ["features.2", "features.7", "features.14", "features.21", "features.28"],
  resnet50: ["layer1.0.conv1", "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1"],
};

/**
 * Layer names from a user's choice: "paper" = PAPER_LAYERS of `arch` (else `fallback`, e.g. a manifest's probe
 * layers); otherwise the given names with "input" meaning the image ("").
 */
export function resolveLayers(
  choice: "paper" | readonly string[],
  arch: string,
  fallback: readonly string[],
): string[] {
  return choice === "paper"
    ? [...(PAPER_LAYERS[arch] ?? fallback)]
    : choice.map((l) => (l === "input" ? "" : l));
}
