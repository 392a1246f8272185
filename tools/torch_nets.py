"""Width-reduced VGG / ResNet in PyTorch with torchvision's module names.

The modules here mirror torchvision.models.vgg* / resnet* exactly in their
state_dict keys (and, at width=1 with the "classifier" head, in every shape),
so a state_dict produced here has the same layout as a torchvision checkpoint
scaled down in width.  They exist only to generate reference fixtures for the
TypeScript implementation (see tools/make_fixtures.py); they are not used at
runtime.

Configuration
-------------
arch        vgg11 | vgg13 | vgg16 | vgg19 | resnet18 | resnet34 | resnet50 |
            resnet101 | resnet152
width       channel multiplier; every channel count c becomes
            scale(c) = max(1, int(c * width + 0.5)).
            VGG: every conv width and the two hidden classifier widths (4096).
            ResNet: the stem (64) and the per-stage planes 64/128/256/512; block
            output channels are scale(planes) * expansion (4 for bottleneck,
            1 for basic blocks).
num_classes number of outputs K.
head        "classifier": torchvision's network (VGG; ResNet v1.5).
            "fully-conv": TorchRay's Caffe pointing-game variants (see below);
            the output is a score map of shape (N, K, h', w').
            "gap" (VGG only): torchvision's classifier after a global average
            pool (avgpool = AdaptiveAvgPool2d(1), classifier.0 = Linear(C, h)):
            translation-invariant, which a small training set needs.

Differences of the "fully-conv" head
------------------------------------
VGG:    every MaxPool2d(2, 2) has ceil_mode=True; there is no avgpool (the
        features go straight into the classifier); classifier.0 is
        Conv2d(C, h, 7) (no padding), classifier.3 Conv2d(h, h, 1),
        classifier.6 Conv2d(h, K, 1); ReLU / Dropout at 1, 2, 4, 5 as before.
ResNet: conv1 has a bias; maxpool is MaxPool2d(3, 2, padding=0,
        ceil_mode=True); in the first block of layer2/3/4 the stride 2 sits in
        the 1x1 conv1 (and in downsample.0), conv2 has stride 1 (for basic
        blocks, which have no 1x1 conv1, the stride stays in conv1);
        avgpool is AvgPool2d(7, stride=1) (no padding); fc is Conv2d(C, K, 1).

All ReLUs are constructed with inplace=False and residual additions are
out-of-place, so forward hooks see outputs that are never overwritten later.
The Bottleneck/BasicBlock `relu` module is still shared within a block (as in
torchvision), so it must not be used as a probe.

Run `/usr/bin/python3 tools/torch_nets.py` to execute self_check().
"""

import torch
import torch.nn as nn

ARCHS = (
    "vgg11", "vgg13", "vgg16", "vgg19",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
)
HEADS = ("classifier", "fully-conv", "gap")

# torchvision's VGG configurations ("M" = max pool).
VGG_CFGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M",
              512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512,
              "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512,
              512, 512, "M", 512, 512, 512, 512, "M"],
}

# (block type, blocks per stage)
RESNET_CFGS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
    "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}


def scale_channels(c, width):
    """Channel count c scaled by the width multiplier."""
    return max(1, int(c * width + 0.5))


# --------------------------------------------------------------------- VGG


class VGG(nn.Module):
    def __init__(self, arch="vgg16", width=1.0, num_classes=1000,
                 head="classifier", dropout=0.5):
        super().__init__()
        if arch not in VGG_CFGS:
            raise ValueError(f"unknown VGG arch {arch!r}")
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}")
        self.head = head
        fully_conv = head == "fully-conv"
        layers = []
        c_in = 3
        for v in VGG_CFGS[arch]:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2,
                                           ceil_mode=fully_conv))
            else:
                c = scale_channels(v, width)
                layers.append(nn.Conv2d(c_in, c, kernel_size=3, padding=1))
                layers.append(nn.ReLU(inplace=False))
                c_in = c
        self.features = nn.Sequential(*layers)
        h = scale_channels(4096, width)
        if fully_conv:
            # No avgpool: TorchRay's Caffe model feeds pool5 straight into fc6.
            self.avgpool = None
            self.classifier = nn.Sequential(
                nn.Conv2d(c_in, h, kernel_size=7),
                nn.ReLU(inplace=False),
                nn.Dropout(p=dropout),
                nn.Conv2d(h, h, kernel_size=1),
                nn.ReLU(inplace=False),
                nn.Dropout(p=dropout),
                nn.Conv2d(h, num_classes, kernel_size=1),
            )
        else:
            cells = 1 if head == "gap" else 7
            self.avgpool = nn.AdaptiveAvgPool2d((cells, cells))
            self.classifier = nn.Sequential(
                nn.Linear(c_in * cells * cells, h),
                nn.ReLU(inplace=False),
                nn.Dropout(p=dropout),
                nn.Linear(h, h),
                nn.ReLU(inplace=False),
                nn.Dropout(p=dropout),
                nn.Linear(h, num_classes),
            )

    def forward(self, x):
        x = self.features(x)
        if self.head == "fully-conv":
            return self.classifier(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


# ------------------------------------------------------------------ ResNet


def conv3x3(c_in, c_out, stride=1):
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1,
                     bias=False)


def conv1x1(c_in, c_out, stride=1):
    return nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in, planes, stride=1, downsample=None, caffe=False):
        super().__init__()
        # Basic blocks have no 1x1 conv; the stride stays in conv1 either way.
        self.conv1 = conv3x3(c_in, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=False)  # shared; do not probe
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in, planes, stride=1, downsample=None, caffe=False):
        super().__init__()
        # torchvision v1.5: stride in conv2 (3x3); Caffe: stride in conv1 (1x1).
        s1, s2 = (stride, 1) if caffe else (1, stride)
        self.conv1 = conv1x1(c_in, planes, s1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, s2)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=False)  # shared; do not probe
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, arch="resnet50", width=1.0, num_classes=1000,
                 head="classifier"):
        super().__init__()
        if arch not in RESNET_CFGS:
            raise ValueError(f"unknown ResNet arch {arch!r}")
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}")
        if head == "gap":
            raise ValueError('the "gap" head is for VGG (the ResNet classifier pools globally already)')
        self.head = head
        caffe = head == "fully-conv"
        kind, blocks = RESNET_CFGS[arch]
        block = Bottleneck if kind == "bottleneck" else BasicBlock
        stem = scale_channels(64, width)
        self.inplanes = stem
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3,
                               bias=caffe)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=False)
        if caffe:
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0,
                                        ceil_mode=True)
        else:
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, scale_channels(64, width),
                                       blocks[0], 1, caffe)
        self.layer2 = self._make_layer(block, scale_channels(128, width),
                                       blocks[1], 2, caffe)
        self.layer3 = self._make_layer(block, scale_channels(256, width),
                                       blocks[2], 2, caffe)
        self.layer4 = self._make_layer(block, scale_channels(512, width),
                                       blocks[3], 2, caffe)
        c = self.inplanes
        if caffe:
            self.avgpool = nn.AvgPool2d(kernel_size=7, stride=1)
            self.fc = nn.Conv2d(c, num_classes, kernel_size=1)
        else:
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(c, num_classes)

    def _make_layer(self, block, planes, n, stride, caffe):
        downsample = None
        c_out = planes * block.expansion
        if stride != 1 or self.inplanes != c_out:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, c_out, stride),
                nn.BatchNorm2d(c_out),
            )
        layers = [block(self.inplanes, planes, stride, downsample, caffe)]
        self.inplanes = c_out
        for _ in range(1, n):
            layers.append(block(self.inplanes, planes, caffe=caffe))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        if self.head == "fully-conv":
            return self.fc(x)
        return self.fc(torch.flatten(x, 1))


# ------------------------------------------------------------------ factory


def build(arch, width=1.0, num_classes=1000, head="classifier", dropout=0.5):
    """dropout: the VGG classifier's two Dropout layers (training only; no weights, nothing exported)."""
    if arch.startswith("vgg"):
        return VGG(arch, width, num_classes, head, dropout)
    if arch.startswith("resnet"):
        return ResNet(arch, width, num_classes, head)
    raise ValueError(f"unknown arch {arch!r}")


# --------------------------------------------------------------- self-check


def _shapes(model):
    return [(k, tuple(v.shape), v.dtype) for k, v in model.state_dict().items()]


def self_check(numeric=True, verbose=True):
    """Check the models against torchvision.

    1. width=1, classifier head, num_classes=1000: state_dict keys (in order),
       shapes and dtypes equal torchvision.models.vgg16() / resnet50()
       (and the other archs).
    2. numeric=True: loading our vgg16 / resnet50 state_dict into torchvision's
       model gives the same logits (architecture equivalence).
    3. The fully-conv VGG with the classifier weights reshaped to convolutions
       reproduces the classifier head exactly on a 224x224 input (where pool5
       is 7x7 and AdaptiveAvgPool2d((7,7)) is the identity).
    4. The fully-conv heads produce the expected score-map sizes.
    """
    import torchvision

    torch.manual_seed(0)
    for arch in ARCHS:
        ours = build(arch, 1.0, 1000, "classifier")
        ref = getattr(torchvision.models, arch)()
        assert _shapes(ours) == _shapes(ref), f"{arch}: state_dict mismatch"
        # fully-conv has the same keys (plus conv1.bias for ResNet)
        fc = build(arch, 1.0, 1000, "fully-conv")
        keys = list(ref.state_dict().keys())
        if arch.startswith("resnet"):
            keys.insert(1, "conv1.bias")
        assert list(fc.state_dict().keys()) == keys, f"{arch}: fully-conv keys"
        if verbose:
            print(f"self_check: {arch}: {len(keys)} state_dict entries match "
                  "torchvision")
        if numeric and arch in ("vgg16", "resnet50"):
            ours.eval()
            ref.eval()
            ref.load_state_dict(ours.state_dict())
            x = torch.randn(2, 3, 64, 64)
            with torch.no_grad():
                d = (ours(x) - ref(x)).abs().max().item()
            assert d == 0.0, f"{arch}: logits differ from torchvision by {d}"
            if verbose:
                print(f"self_check: {arch}: logits identical to torchvision")
        del ours, ref, fc

    # 3. fully-conv VGG == classifier VGG on 224x224 with reshaped weights.
    for w in (1 / 16,):
        cls = build("vgg16", w, 7, "classifier").eval()
        fc = build("vgg16", w, 7, "fully-conv").eval()
        sd = {k: (v.reshape(fc.state_dict()[k].shape)) for k, v in
              cls.state_dict().items()}
        fc.load_state_dict(sd)
        x = torch.randn(2, 3, 224, 224)
        with torch.no_grad():
            a = cls(x)
            b = fc(x)
        assert b.shape == (2, 7, 1, 1), b.shape
        d = (a - b[:, :, 0, 0]).abs().max().item()
        assert d < 1e-4 * max(1.0, a.abs().max().item()), d
        if verbose:
            print(f"self_check: vgg16 fully-conv == classifier at 224x224 "
                  f"(max diff {d:.2e})")

    # 4. score-map sizes of the fully-conv heads.
    for arch, hw, want in (("vgg16", (224, 256), (1, 2)),
                           ("resnet50", (224, 256), (1, 2)),
                           ("resnet18", (224, 224), (1, 1))):
        m = build(arch, 1 / 16, 5, "fully-conv").eval()
        with torch.no_grad():
            y = m(torch.zeros(1, 3, *hw))
        assert tuple(y.shape) == (1, 5) + want, (arch, y.shape)
    if verbose:
        print("self_check: fully-conv output sizes OK")
    return True


if __name__ == "__main__":
    self_check()
    print("self_check: all OK")
