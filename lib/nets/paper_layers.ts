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
