/**
 * ResNet18/34/50/101/152 with torchvision module names (conv1, bn1, relu, maxpool, layerS.B.convK, ...,
 * layerS.B.downsample.0/1, avgpool, fc). `classifier` head = torchvision v1.5; `fully-conv` head = TorchRay's
 * Caffe ResNet (biased conv1, unpadded ceil-mode maxpool, stride in the first 1x1 conv, AvgPool2d(7, 1), fc as
 * a 1x1 conv), METHODS.md §2.2–§2.3.
 */
import { type NetConfig, type ResNetArch, scaled } from "./config.ts";
import type { Forward, NetOps } from "./ops.ts";

const BLOCKS: Record<ResNetArch, { bottleneck: boolean; counts: number[] }> = {
  resnet18: { bottleneck: false, counts: [2, 2, 2, 2] },
  resnet34: { bottleneck: false, counts: [3, 4, 6, 3] },
  resnet50: { bottleneck: true, counts: [3, 4, 6, 3] },
  resnet101: { bottleneck: true, counts: [3, 4, 23, 3] },
  resnet152: { bottleneck: true, counts: [3, 8, 36, 3] },
};

export function resnetForward(cfg: NetConfig & { arch: ResNetArch }): Forward {
  const caffe = cfg.head === "fully-conv";
  const { bottleneck, counts } = BLOCKS[cfg.arch];
  const expansion = bottleneck ? 4 : 1;
  return <T>(ops: NetOps<T>, input: T): T => {
    const conv = (
      name: string,
      x: T,
      inC: number,
      outC: number,
      kernel: number,
      stride: number,
      bias = false,
    ) =>
      ops.probe(
        name,
        ops.conv2d(name, x, {
          inChannels: inC,
          outChannels: outC,
          kernel,
          stride,
          padding: (kernel - 1) >> 1,
          dilation: 1,
          bias,
        }),
      );
    const bn = (name: string, x: T, c: number) => ops.probe(name, ops.batchNorm(name, x, c));

    let x = ops.probe("", input);
    const stem = scaled(64, cfg.width);
    x = bn("bn1", conv("conv1", x, 3, stem, 7, 2, caffe), stem);
    x = ops.probe("relu", ops.relu(x));
    x = ops.probe("maxpool", ops.maxPool(x, { kernel: 3, stride: 2, padding: caffe ? 0 : 1, ceil: caffe }));
    let inC = stem;
    counts.forEach((count, stage) => {
      const planes = scaled(64 << stage, cfg.width);
      const outC = planes * expansion;
      for (let b = 0; b < count; b++) {
        const p = `layer${stage + 1}.${b}`;
        const stride = b === 0 && stage > 0 ? 2 : 1;
        let y: T;
        if (bottleneck) {
          const s1 = caffe ? stride : 1;
          y = ops.relu(bn(`${p}.bn1`, conv(`${p}.conv1`, x, inC, planes, 1, s1), planes));
          y = ops.relu(bn(`${p}.bn2`, conv(`${p}.conv2`, y, planes, planes, 3, stride / s1), planes));
          y = bn(`${p}.bn3`, conv(`${p}.conv3`, y, planes, outC, 1, 1), outC);
        } else {
          y = ops.relu(bn(`${p}.bn1`, conv(`${p}.conv1`, x, inC, planes, 3, stride), planes));
          y = bn(`${p}.bn2`, conv(`${p}.conv2`, y, planes, planes, 3, 1), planes);
        }
        const shortcut = stride !== 1 || inC !== outC
          ? bn(`${p}.downsample.1`, conv(`${p}.downsample.0`, x, inC, outC, 1, stride), outC)
          : x;
        x = ops.probe(p, ops.relu(ops.add(y, shortcut)));
        inC = outC;
      }
      x = ops.probe(`layer${stage + 1}`, x);
    });
    if (caffe) {
      x = ops.probe("avgpool", ops.avgPool(x, { kernel: 7, stride: 1, padding: 0, ceil: false }));
      return conv("fc", x, inC, cfg.numClasses, 1, 1, true);
    }
    x = ops.flatten(ops.probe("avgpool", ops.adaptiveAvgPool(x, [1, 1])));
    return ops.probe("fc", ops.linear("fc", x, { inFeatures: inC, outFeatures: cfg.numClasses }));
  };
}
