/**
 * VGG11/13/16/19 (torchvision `features.N` / `avgpool` / `classifier.N` names), with a width multiplier and
 * torchvision's classifier head, TorchRay's fully-convolutional Caffe head (METHODS.md §2.1, §2.3), or the
 * classifier after a global average pool ("gap").
 */
import { type NetConfig, scaled, type VggArch } from "./config.ts";
import type { Forward, NetOps } from "./ops.ts";

const M = "M" as const;
const CFGS: Record<VggArch, (number | typeof M)[]> = {
  vgg11: [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
  vgg13: [64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
  vgg16: [64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M],
  vgg19: [64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M],
};

export function vggForward(cfg: NetConfig & { arch: VggArch }): Forward {
  const fullyConv = cfg.head === "fully-conv";
  const hidden = scaled(4096, cfg.width);
  return <T>(ops: NetOps<T>, input: T): T => {
    let x = ops.probe("", input);
    let channels = 3;
    let idx = 0;
    for (const item of CFGS[cfg.arch]) {
      if (item === M) {
        x = ops.probe(
          `features.${idx++}`,
          ops.maxPool(x, { kernel: 2, stride: 2, padding: 0, ceil: fullyConv }),
        );
        continue;
      }
      const out = scaled(item, cfg.width);
      const spec = {
        inChannels: channels,
        outChannels: out,
        kernel: 3,
        stride: 1,
        padding: 1,
        dilation: 1,
        bias: true,
      };
      x = ops.probe(`features.${idx}`, ops.conv2d(`features.${idx}`, x, spec));
      idx++;
      x = ops.probe(`features.${idx++}`, ops.relu(x));
      channels = out;
    }
    if (fullyConv) {
      const conv = (name: string, inC: number, outC: number, k: number) =>
        ops.conv2d(name, x, {
          inChannels: inC,
          outChannels: outC,
          kernel: k,
          stride: 1,
          padding: 0,
          dilation: 1,
          bias: true,
        });
      x = ops.probe("classifier.0", conv("classifier.0", channels, hidden, 7));
      x = ops.probe("classifier.2", ops.probe("classifier.1", ops.relu(x)));
      x = ops.probe("classifier.3", conv("classifier.3", hidden, hidden, 1));
      x = ops.probe("classifier.5", ops.probe("classifier.4", ops.relu(x)));
      return ops.probe("classifier.6", conv("classifier.6", hidden, cfg.numClasses, 1));
    }
    const cells = cfg.head === "gap" ? 1 : 7;
    x = ops.flatten(ops.probe("avgpool", ops.adaptiveAvgPool(x, [cells, cells])));
    x = ops.probe(
      "classifier.0",
      ops.linear("classifier.0", x, { inFeatures: channels * cells * cells, outFeatures: hidden }),
    );
    x = ops.probe("classifier.2", ops.probe("classifier.1", ops.relu(x)));
    x = ops.probe("classifier.3", ops.linear("classifier.3", x, { inFeatures: hidden, outFeatures: hidden }));
    x = ops.probe("classifier.5", ops.probe("classifier.4", ops.relu(x)));
    return ops.probe(
      "classifier.6",
      ops.linear("classifier.6", x, { inFeatures: hidden, outFeatures: cfg.numClasses }),
    );
  };
}
