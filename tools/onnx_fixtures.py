"""Export torchvision classifiers to ONNX and write reference fixtures (issue 18).

Writes into tests/fixtures/onnx/:

  resnet50_synthetic.onnx, vgg16_synthetic.onnx
      the SHIPPED models (models/NAME/weights.safetensors, F16 -> F32, loaded
      into tools/torch_nets.py at the manifest's arch/width/classes/head,
      eval mode), input 1x3x224x224, exported with torch.onnx.export's
      defaults plus input/output names and a dynamic batch axis.
  NAME.onnx                  a small random-weight torchvision model, exported
                             with torch.onnx.export's defaults (static shapes;
                             only input_names=["input"], output_names=["logits"]).
  NAME.dynamic_batch.onnx    (shufflenet only) the same weights with a dynamic
                             batch axis: its shape arithmetic stays in the graph.
  NAME.reference.safetensors F32, NCHW: input, logits, grad.input and, for each
                             probe M (a named_modules() path), act.M (module
                             output) and grad.M = d logits[0, target] / d act.M
                             (target = argmax of the logits, a one-hot seed).
                             __metadata__.config is a JSON string (constructor,
                             export call, opset, input seed, target, probes...).
  NAME.layers.json           every named_modules() path whose forward output is
                             a tensor, in the order the outputs are produced,
                             with shapes, call counts, the ONNX value that is
                             its output and the BatchNorms folded into convs.
  README.md, summary.json    what was exported how (generated).

The models are torchvision's own classes, built with torchvision's own
constructor arguments at reduced width / depth (module names are unchanged;
see MODELS).  Weights: torchvision's init (seeded), then one calibration pass
(see randomise()).  Every in-place activation is switched to out-of-place
(inplace=False; the exported graph is the same), so forward hooks see module
outputs nothing overwrites.

The exporter folds every BatchNorm that follows a conv into the conv (eval
mode; even with do_constant_folding=False).  The reference tensors are
computed from the graph's own parameters (folded_copy(): conv weights read
back from the .onnx, folded BNs replaced by nn.Identity), in float64, then
rounded to float32; the input is the first seeded candidate on which torch's
float32 and float64 passes agree to 2e-5 (so no ReLU / max-pool decision sits
within rounding of a tie).  The metadata records how far the unfolded torch
model and torch's float32 pass are from the stored values.

Run:  /usr/bin/python3 tools/onnx_fixtures.py [--out DIR] [--only NAME..]
      [--list-ops]   print the op / attribute table of the written graphs
The output is deterministic (seeded, one thread).
"""

import argparse
import collections
import copy
import hashlib
import json
import os
import sys

sys.dont_write_bytecode = True  # no tools/__pycache__ in the working tree

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402
from torchvision.models import (convnext, densenet, efficientnet, inception,  # noqa: E402
                                mobilenetv2, mobilenetv3, regnet, resnet,
                                shufflenetv2, squeezenet, vgg)

# torchvision.models.googlenet the module (the package re-exports a function of that name)
googlenet = sys.modules["torchvision.models.googlenet"]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (safetensors writer / reader)
import saliency_reference as sr  # noqa: E402  (the excitation-backprop module rules)
import torch_nets  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "onnx")
NUM_CLASSES = 10


# ------------------------------------------------------------ constructors
# Each returns a torchvision model (torchvision classes and module names).


def _resnet18():
    """torchvision ResNet(BasicBlock, [2,2,2,2]) at width 1/4: torchvision's
    ResNet hard-codes 64/128/256/512, so a subclass scales the `planes` passed
    to _make_layer and rebuilds conv1/bn1/fc (same names, same types)."""

    class NarrowResNet(resnet.ResNet):
        def __init__(self, width, **kw):
            self._width = width
            self._stem_done = False
            super().__init__(resnet.BasicBlock, [2, 2, 2, 2], **kw)
            self.fc = nn.Linear(self.inplanes, kw["num_classes"])

        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
            if not self._stem_done:
                self._stem_done = True
                self.inplanes = int(64 * self._width)
                self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
                self.bn1 = nn.BatchNorm2d(self.inplanes)
            return super()._make_layer(block, int(planes * self._width), blocks, stride, dilate)

    return NarrowResNet(0.25, num_classes=NUM_CLASSES)


def _vgg11_bn():
    """torchvision VGG(make_layers(vgg11 cfg / 8, batch_norm=True)); the
    classifier (hard-coded 512*7*7 -> 4096 -> 4096) rebuilt at 4096/16 with the
    same layout (classifier.0..6)."""
    cfg = [v if v == "M" else v // 8 for v in vgg.cfgs["A"]]
    m = vgg.VGG(vgg.make_layers(cfg, batch_norm=True), num_classes=NUM_CLASSES, init_weights=True)
    c, h = cfg[-2], 4096 // 16
    m.classifier = nn.Sequential(
        nn.Linear(c * 7 * 7, h), nn.ReLU(True), nn.Dropout(0.5),
        nn.Linear(h, h), nn.ReLU(True), nn.Dropout(0.5),
        nn.Linear(h, NUM_CLASSES))
    for mod in m.classifier:
        if isinstance(mod, nn.Linear):
            nn.init.normal_(mod.weight, 0, 0.01)
            nn.init.constant_(mod.bias, 0)
    return m


def _mobilenet_v2():
    return mobilenetv2.MobileNetV2(num_classes=NUM_CLASSES, width_mult=0.25)


def _mobilenet_v3_small():
    setting, last = mobilenetv3._mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.5)
    return mobilenetv3.MobileNetV3(setting, last, num_classes=NUM_CLASSES)


def _efficientnet_b0():
    setting, last = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=1.0)
    return efficientnet.EfficientNet(setting, dropout=0.2, num_classes=NUM_CLASSES, last_channel=last)


def _densenet121():
    """densenet121's block_config (6,12,24,16), growth 32 -> 8, 64 -> 16 init features."""
    return densenet.DenseNet(growth_rate=8, block_config=(6, 12, 24, 16), num_init_features=16,
                             num_classes=NUM_CLASSES)


def _squeezenet1_1():
    return squeezenet.SqueezeNet(version="1_1", num_classes=NUM_CLASSES)


def _shufflenet_v2_x1_0():
    """shufflenet_v2_x1_0's stages_repeats [4,8,4]; channels [24,116,232,464,1024] -> [16,32,64,128,256]."""
    return shufflenetv2.ShuffleNetV2([4, 8, 4], [16, 32, 64, 128, 256], num_classes=NUM_CLASSES)


def _googlenet():
    """GoogLeNet(aux_logits=False, init_weights=True) at width 1/4 through its
    own `blocks` argument: BasicConv2d / Inception subclasses that scale every
    channel count by 1/4 (all of GoogLeNet's counts divide by 4, so the concat
    widths stay consistent); fc (hard-coded 1024 inputs) rebuilt."""
    w = 4

    class NarrowBasicConv2d(googlenet.BasicConv2d):
        def __init__(self, in_channels, out_channels, **kw):
            super().__init__(in_channels if in_channels == 3 else in_channels // w, out_channels // w, **kw)

    class NarrowInception(googlenet.Inception):
        def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, conv_block=None):
            super().__init__(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                             conv_block=NarrowBasicConv2d)

    m = googlenet.GoogLeNet(num_classes=NUM_CLASSES, aux_logits=False, transform_input=False, init_weights=True,
                            blocks=[NarrowBasicConv2d, NarrowInception, googlenet.InceptionAux])
    m.fc = nn.Linear(1024 // w, NUM_CLASSES)
    nn.init.trunc_normal_(m.fc.weight, mean=0.0, std=0.01, a=-2, b=2)
    return m


def _inception_v3():
    """Inception3(aux_logits=False, init_weights=True) at width 1/8 through its own `inception_blocks`
    argument (every channel count divides by 8): its 1x7 / 7x1 and 1x3 / 3x1 convs (pads per axis) and
    avg_pool2d(3, 1, padding=1) (exported as Pad + AveragePool); fc (hard-coded 2048 inputs) rebuilt."""
    w = 8

    class NarrowBasicConv2d(inception.BasicConv2d):
        def __init__(self, in_channels, out_channels, **kw):
            super().__init__(in_channels if in_channels == 3 else in_channels // w, out_channels // w, **kw)

    def narrow(block):
        class Narrow(block):
            def __init__(self, *args, conv_block=None, **kw):
                super().__init__(*args, conv_block=NarrowBasicConv2d, **kw)
        Narrow.__name__ = block.__name__
        return Narrow

    blocks = [NarrowBasicConv2d] + [narrow(b) for b in (inception.InceptionA, inception.InceptionB,
                                                          inception.InceptionC, inception.InceptionD,
                                                          inception.InceptionE)] + [inception.InceptionAux]
    m = inception.Inception3(num_classes=NUM_CLASSES, aux_logits=False, transform_input=False,
                             inception_blocks=blocks, init_weights=True)
    m.fc = nn.Linear(2048 // w, NUM_CLASSES)
    nn.init.trunc_normal_(m.fc.weight, mean=0.0, std=0.01, a=-2, b=2)
    return m


def _regnet_y_400mf():
    """regnet_y_400mf's depth 16, group width 8, SE 0.25; w_0 48 -> 16, w_a 27.89 -> 8; stem 32 -> 16."""
    params = regnet.BlockParams.from_init_params(depth=16, w_0=16, w_a=8.0, w_m=2.09, group_width=8, se_ratio=0.25)
    return regnet.RegNet(params, num_classes=NUM_CLASSES, stem_width=16)


def _convnext_tiny():
    """convnext_tiny's block setting (depths 3,3,9,3; widths 96..768) at width 1/8 and depths 1,1,3,1:
    torchvision's ConvNeXt / CNBlock / LayerNorm2d (channels-last LayerNorm, Linear over channels, GELU,
    layer scale)."""
    cfg = convnext.CNBlockConfig
    return convnext.ConvNeXt([cfg(12, 24, 1), cfg(24, 48, 1), cfg(48, 96, 3), cfg(96, None, 1)],
                             stochastic_depth_prob=0.1, num_classes=NUM_CLASSES)


MODELS = [
    dict(name="resnet18", build=_resnet18, seed=1801, size=64,
         ctor="NarrowResNet(resnet.ResNet) (BasicBlock, [2,2,2,2]) width 1/4: stem 16, planes 16/32/64/128",
         probes=["maxpool", "layer1", "layer2.0.downsample", "layer3", "layer4.0", "layer4", "avgpool"]),
    dict(name="vgg11_bn", build=_vgg11_bn, seed=1802, size=224,
         ctor="vgg.VGG(vgg.make_layers(cfgs['A'] // 8, batch_norm=True)); classifier 3136-256-256-10",
         probes=["features.6", "features.13", "features.20", "features.27", "features.28", "avgpool",
                 "classifier.4"]),
    dict(name="mobilenet_v2", build=_mobilenet_v2, seed=1803, size=64,
         ctor="mobilenetv2.MobileNetV2(num_classes=10, width_mult=0.25)",
         probes=["features.1", "features.3", "features.7", "features.13", "features.17", "features.18",
                 "features"]),
    dict(name="squeezenet1_1", build=_squeezenet1_1, seed=1804, size=64,
         ctor="squeezenet.SqueezeNet(version='1_1', num_classes=10)",
         probes=["features.2", "features.3", "features.5", "features.9", "features.12", "classifier.1",
                 "classifier.2"]),
    dict(name="densenet121", build=_densenet121, seed=1805, size=64,
         ctor="densenet.DenseNet(growth_rate=8, block_config=(6,12,24,16), num_init_features=16)",
         probes=["features.pool0", "features.denseblock1", "features.transition1", "features.denseblock2",
                 "features.denseblock3.denselayer24", "features.denseblock4"]),
    dict(name="mobilenet_v3_small", build=_mobilenet_v3_small, seed=1806, size=64,
         ctor="mobilenetv3.MobileNetV3(*_mobilenet_v3_conf('mobilenet_v3_small', width_mult=0.5))",
         probes=["features.0", "features.1", "features.4", "features.8", "features.11", "features.12",
                 "avgpool", "classifier.1"]),
    dict(name="efficientnet_b0", build=_efficientnet_b0, seed=1807, size=64,
         ctor="efficientnet.EfficientNet(*_efficientnet_conf('efficientnet_b0', width_mult=0.25, depth_mult=1.0))",
         probes=["features.1", "features.2", "features.4", "features.6.3", "features.7", "features.8",
                 "avgpool"]),
    dict(name="shufflenet_v2_x1_0", build=_shufflenet_v2_x1_0, seed=1808, size=64,
         ctor="shufflenetv2.ShuffleNetV2([4,8,4], [16,32,64,128,256])", also_dynamic=True,
         probes=["maxpool", "stage2", "stage3.0", "stage3", "stage4", "conv5"]),
    dict(name="googlenet", build=_googlenet, seed=1809, size=64,
         ctor="googlenet.GoogLeNet(aux_logits=False, init_weights=True, blocks=[Narrow(BasicConv2d), "
              "Narrow(Inception), InceptionAux]) width 1/4",
         probes=["maxpool1", "maxpool2", "inception3a", "inception3b", "inception4a", "inception4e",
                 "inception5b", "avgpool"]),
    dict(name="regnet_y_400mf", build=_regnet_y_400mf, seed=1810, size=64,
         ctor="regnet.RegNet(BlockParams.from_init_params(depth=16, w_0=16, w_a=8, w_m=2.09, group_width=8, "
              "se_ratio=0.25), stem_width=16)",
         probes=["stem", "trunk_output.block1", "trunk_output.block2", "trunk_output.block3.block3-0",
                 "trunk_output.block3", "trunk_output.block4", "avgpool"]),
    dict(name="inception_v3", build=_inception_v3, seed=1811, size=96,
         ctor="inception.Inception3(aux_logits=False, init_weights=True, inception_blocks=[Narrow(...)]) width 1/8",
         probes=["maxpool1", "Mixed_5b", "Mixed_6a", "Mixed_6b", "Mixed_6e", "Mixed_7c", "avgpool"]),
    dict(name="convnext_tiny", build=_convnext_tiny, seed=1812, size=64, also_opset=17,
         ctor="convnext.ConvNeXt([CNBlockConfig(12,24,1), (24,48,1), (48,96,3), (96,None,1)], "
              "stochastic_depth_prob=0.1)",
         probes=["features.0", "features.1", "features.2", "features.5.1", "features.5", "features.7",
                 "avgpool", "classifier.0"]),
]

SHIPPED = ["resnet50_synthetic", "vgg16_synthetic"]


# ----------------------------------------------------------------- weights


def no_inplace(model):
    for m in model.modules():
        if hasattr(m, "inplace") and isinstance(m.inplace, bool):
            m.inplace = False


def residual_tail_bns(model):
    """The BatchNorm at the end of each residual branch (torchvision classes)."""
    out = set()
    for m in model.modules():
        bn = None
        if isinstance(m, resnet.BasicBlock):
            bn = m.bn2
        elif isinstance(m, resnet.Bottleneck):
            bn = m.bn3
        elif isinstance(m, mobilenetv2.InvertedResidual) and m.use_res_connect:
            bn = m.conv[-1]
        elif isinstance(m, (mobilenetv3.InvertedResidual, efficientnet.MBConv)) and m.use_res_connect:
            bn = m.block[-1][1]
        elif isinstance(m, regnet.ResBottleneckBlock):
            bn = m.f.c[1]
        if bn is not None:
            assert isinstance(bn, nn.BatchNorm2d), type(bn)
            out.add(bn)
    return out


def randomise(model, seed, size):
    """Seeded, well-conditioned random state.  Starting from torchvision's
    init (done by the constructor under torch.manual_seed), one eval-mode
    calibration pass over a seeded N(0,1) batch of 8 in which, in forward
    order:
    - every Conv2d / Linear but the last divides its weight and bias by the
      std of its output on the batch (LSUV-style: no layer amplifies or
      attenuates the signal);
    - every BatchNorm sets, just before it runs, running_mean = batch mean of
      its input + N(0, 0.1 std) and running_var = batch var x U(0.7, 1.3)
      (so eval mode is not batch statistics), weight U(0.5, 1.5), bias
      N(0, 0.1); both x 0.2 for the last BN of a residual branch
      (residual_tail_bns: damped branches keep the random network
      well-conditioned, as zero-init-residual does for training; undamped,
      EfficientNet / RegNet at random weights are chaotic enough that float32
      and float64 gradients differ by ~1e-3).  Because the statistics are taken from the eval-mode
      activations themselves, the perturbations do not compound with depth
      (calibrating in train mode and perturbing afterwards let EfficientNet's
      activations drift to std ~100 and saturate its SE gates).
    Finally the last Conv/Linear is divided by the std of the logits."""
    g = torch.Generator().manual_seed(seed + 7)
    lins = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    last = lins[-1]
    done = set()

    def normalise(mod, inp, out):
        if mod in done:
            return out
        done.add(mod)
        s = out.std()
        if not s > 0:
            return out
        mod.weight.div_(s)
        if mod.bias is not None:
            mod.bias.div_(s)
        return out / s

    def calibrate_bn(bn, inp):
        if bn in done:
            return
        done.add(bn)
        x = inp[0]
        var = x.var(dim=(0, 2, 3))
        mean = x.mean(dim=(0, 2, 3))
        bn.running_mean.copy_(mean + torch.randn(mean.shape, generator=g) * 0.1 * var.sqrt())
        bn.running_var.copy_(var * (torch.rand(var.shape, generator=g) * 0.6 + 0.7))
        bn.weight.copy_(torch.rand(bn.weight.shape, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(bn.bias.shape, generator=g) * 0.1)
        if bn in damp:
            bn.weight.mul_(0.2)
            bn.bias.mul_(0.2)

    damp = residual_tail_bns(model)
    with torch.no_grad():
        # LayerNorm affine parameters as BatchNorm's above; ConvNeXt's layer scale (init 1e-6, which would leave
        # every block's branch invisible next to its residual) U(0.1, 0.3) per channel
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            if isinstance(m, convnext.CNBlock):
                m.layer_scale.copy_(torch.rand(m.layer_scale.shape, generator=g) * 0.2 + 0.1)
        batch = torch.randn(8, 3, size, size, generator=g)
        handles = [m.register_forward_hook(normalise) for m in lins if m is not last]
        handles += [m.register_forward_pre_hook(calibrate_bn) for m in model.modules()
                    if isinstance(m, nn.BatchNorm2d)]
        model.eval()
        model(batch)
        for h in handles:
            h.remove()
        s = model(batch).std().item()
        if s > 0:
            last.weight.div_(s)
            if last.bias is not None:
                last.bias.div_(s)


def load_shipped(name):
    mdir = os.path.join(ROOT, "models", name)
    with open(os.path.join(mdir, "manifest.json")) as f:
        man = json.load(f)
    model = torch_nets.build(man["arch"], man["width"], man["numClasses"], man["head"])
    _, arrs = mf.read_safetensors(os.path.join(mdir, man["weights"]["file"]))
    state = {k: torch.from_numpy(np.array(v)).float() if v.dtype.kind == "f" else torch.from_numpy(np.array(v))
             for k, v in arrs.items()}
    model.load_state_dict(state)
    model.eval()
    no_inplace(model)
    return model, man


# ------------------------------------------------------------------ export


def export(model, x, path, dynamic_batch=False, keep_bn=False, opset=None):
    """torch.onnx.export with its defaults (opset, constant folding, eval
    training mode); only the input/output names (and, optionally, a dynamic
    batch axis) are set.  keep_bn: training=PRESERVE on the eval-mode model,
    which keeps BatchNormalization nodes (the default folds them into the
    convs)."""
    kw = {}
    if dynamic_batch:
        kw["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
    if keep_bn:
        kw["training"] = torch.onnx.TrainingMode.PRESERVE
    if opset is not None:
        kw["opset_version"] = opset
    torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["logits"], **kw)
    return os.path.getsize(path)


def export_call(dynamic_batch, opset=None):
    s = 'torch.onnx.export(model.eval(), (x,), path, input_names=["input"], output_names=["logits"]'
    if dynamic_batch:
        s += ', dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}'
    if opset is not None:
        s += f", opset_version={opset}"
    return s + ")"


# --------------------------------------------------------------- reference


def torch_kind(m):
    """Class name of m, or of its nearest torch / torchvision base class."""
    for c in type(m).__mro__:
        if c.__module__.startswith(("torch.", "torchvision.")):
            return c.__name__
    return type(m).__name__


def record_layers(model, x):
    """Forward with a hook on every named module; returns the list of
    {"name", "shape", "calls"} in the order the outputs were produced and the
    dict of the hooked output tensors (only the first call of each module)."""
    order, first, calls, inputs = [], {}, collections.Counter(), {}
    leaf = {n: not any(True for _ in m.children()) for n, m in model.named_modules()}
    produced = []  # (name, output tensor) in completion order
    handles = []
    for name, m in model.named_modules():
        if name == "":
            continue

        def hook(mod, inp, out, name=name):
            calls[name] += 1
            if isinstance(out, torch.Tensor):
                if name not in first:
                    first[name] = (out, out._version)
                    order.append(name)
                    if inp and isinstance(inp[0], torch.Tensor):
                        # innermost module that produced this module's input
                        src = [n for n, t in produced if t is inp[0]]
                        src = [n for n in src if leaf[n]] or src
                        inputs[name] = src[-1] if src else ("input" if inp[0] is x else None)
                produced.append((name, out))
        handles.append(m.register_forward_hook(hook))
    y = model(x)
    for h in handles:
        h.remove()
    layers = []
    for name in order:
        out, version = first[name]
        layers.append(dict(name=name, kind=torch_kind(model.get_submodule(name)), shape=list(out.shape),
                           calls=calls[name], overwritten=out._version != version,
                           input_from=inputs.get(name)))
    return y, layers, {n: first[n][0] for n in order}


def reference(fx, model, x):
    x = x.clone().requires_grad_(True)
    logits, layers, outs = record_layers(model, x)
    info = {ly["name"]: ly for ly in layers}
    for p in fx["probes"]:
        if p not in info:
            raise KeyError(f"{fx['name']}: probe {p!r} has no tensor output")
        if info[p]["calls"] != 1 or info[p]["overwritten"]:
            raise ValueError(f"{fx['name']}: probe {p!r} is called {info[p]['calls']} times / overwritten")
    target = int(logits[0].argmax())
    seed = torch.zeros_like(logits)
    seed[0, target] = 1.0
    wrt = [x] + [outs[p] for p in fx["probes"]]
    grads = torch.autograd.grad(logits, wrt, seed)
    ref = {"input": x, "logits": logits, "grad.input": grads[0]}
    for i, p in enumerate(fx["probes"]):
        ref[f"act.{p}"] = outs[p]
        ref[f"grad.{p}"] = grads[1 + i]
    ref = {k: v.detach().contiguous().clone() for k, v in ref.items()}
    for k, v in ref.items():
        assert v.dtype in (torch.float32, torch.float64) and torch.isfinite(v).all(), k
    return ref, layers, target


# ------------------------------------------------- excitation backprop maps
# The torchvision models whose ops the excitation rules define (conv without groups, linear, ReLU, pools, BN,
# residual add, concat): their EB and contrastive-EB maps are stored as `map.excitation.M` /
# `map.contrastive-excitation.M` (M = "input" or a probe), computed on the reference model (BN folded as in the
# graph) with tools/saliency_reference.py's module rules (Zhang et al. 2016 / TorchRay: W+ = max(W, 0), bias
# dropped, p_hat = p / (z + 1e-20), grad = x * vjp(p_hat); BatchNorm identity; residual add a/(a+b) shares).
# Pools that torchvision calls as functions (DenseNet's F.adaptive_avg_pool2d, Inception3's F.avg_pool2d) get the
# same rule through a patched torch.nn.functional, which the pooling modules call too.

EB_MODELS = {"resnet18", "vgg11_bn", "densenet121", "squeezenet1_1", "googlenet", "inception_v3"}


class EBTorchvisionBasicBlock(resnet.BasicBlock):
    def forward(self, x):  # torchvision's BasicBlock.forward with an explicit excitation add
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(sr.EBAddFn.apply(out, identity))


EB_TABLE = {nn.Conv2d: sr.EBConv2d, nn.Linear: sr.EBLinear, nn.BatchNorm2d: sr.EBBatchNorm2d,
            resnet.BasicBlock: EBTorchvisionBasicBlock}


class eb_pools:
    """Context: F.avg_pool2d / F.adaptive_avg_pool2d with the excitation rule (z is the pool itself)."""

    def __enter__(self):
        self.saved = (F.avg_pool2d, F.adaptive_avg_pool2d)
        avg, adaptive = self.saved

        def rule(orig):
            def pooled(x, *a, **kw):
                with torch.no_grad():
                    y = orig(x, *a, **kw)
                return sr.EBPositiveFn.apply(x, y, lambda t: orig(t, *a, **kw))
            return pooled
        F.avg_pool2d, F.adaptive_avg_pool2d = rule(avg), rule(adaptive)

    def __exit__(self, *exc):
        F.avg_pool2d, F.adaptive_avg_pool2d = self.saved


def classifier_layers(model):
    """Contrastive EB's layers as retrace picks them from the graph: the last Linear, or the last Conv2d when it
    is 1x1 and comes after every Linear (SqueezeNet's classifier.1); the contrast is that layer's input."""
    last = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
    assert isinstance(last[1], nn.Linear) or last[1].kernel_size == (1, 1), last
    return last[0]


def excitation_maps(model, x, target, layers):
    """{"map.excitation.M", "map.contrastive-excitation.M"} for M in layers ("" = the input): EB's map is the sum
    over channels of its signal, contrastive EB's the ReLU of that (METHODS.md 3.4)."""
    classifier = classifier_layers(model)
    eb = sr.with_rules(model, EB_TABLE)
    neg = copy.deepcopy(eb)
    with torch.no_grad():
        neg.get_submodule(classifier).weight.neg_()

    def run(m, names):
        got = {}
        mods = dict(m.named_modules())
        h = [mods[classifier].register_forward_hook(lambda mod, inp, out: got.__setitem__("contrast", inp[0]))]
        for n in names:
            if n:
                h.append(mods[n].register_forward_hook(lambda mod, inp, out, n=n: got.__setitem__(n, out)))
        xin = x.detach().clone().requires_grad_(True)
        got[""] = xin
        try:
            with eb_pools():
                y = m(xin)
        finally:
            for hh in h:
                hh.remove()
        return y, got

    seed = None
    yn, outn = run(neg, [])
    seed = torch.zeros_like(yn)
    seed[0, target] = 1.0
    (p_neg,) = torch.autograd.grad((yn * seed).sum(), [outn["contrast"]])
    ye, oute = run(eb, layers)
    grads = torch.autograd.grad((ye * seed).sum(), [oute["contrast"]] + [oute[n] for n in layers],
                                retain_graph=True)
    ceb = torch.autograd.grad(oute["contrast"], [oute[n] for n in layers], grad_outputs=grads[0] - p_neg,
                              allow_unused=True)
    out = {}
    for n, g, gc in zip(layers, grads[1:], ceb):
        if g.dim() != 4:  # a Linear's output (VGG's classifier.4) has no map
            continue
        k = n or "input"
        out[f"map.excitation.{k}"] = g.sum(1, keepdim=True)
        if gc is not None:  # None: a layer after the contrast layer (SqueezeNet's classifier.2)
            out[f"map.contrastive-excitation.{k}"] = gc.sum(1, keepdim=True).clamp(min=0)
    return out, classifier


# ------------------------------------------------------------ ONNX analysis


def _attr_value(a):
    import onnx
    import onnx.numpy_helper  # noqa: F401
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, onnx.TensorProto):
        arr = onnx.numpy_helper.to_array(v)
        return f"tensor{list(arr.shape)}" if arr.size > 4 else arr.tolist()
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


def analyse_onnx(path):
    """Op types with counts and the distinct attribute sets / input arities
    per op type; initializer dtypes; node names."""
    import onnx
    import onnx.numpy_helper  # noqa: F401
    m = onnx.load(path)
    onnx.checker.check_model(m)
    g = m.graph
    inits = {i.name for i in g.initializer}
    ops = collections.OrderedDict()
    for n in g.node:
        d = ops.setdefault(n.op_type, dict(count=0, forms=collections.Counter()))
        d["count"] += 1
        attrs = {a.name: _attr_value(a) for a in n.attribute}
        arity = "".join("i" if i in inits else ("-" if i == "" else "x") for i in n.input)
        d["forms"][json.dumps(dict(attrs, _inputs=arity), sort_keys=True)] += 1
    dtypes = collections.Counter(onnx.TensorProto.DataType.Name(i.data_type) for i in g.initializer)
    return dict(opset=[(o.domain or "ai.onnx", o.version) for o in m.opset_import],
                ir_version=m.ir_version, producer=f"{m.producer_name} {m.producer_version}",
                ops=ops, initializers=dict(dtypes), nodes=[(n.name, n.op_type, list(n.input), list(n.output))
                                                          for n in g.node],
                inputs=[(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
                        for i in g.input if i.name not in inits],
                outputs=[(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim])
                         for o in g.output])


def scope_modules(node_name, modules):
    """Module paths a node belongs to, outermost first.

    torch 1.13 names a node "/c1/c2/.../OpType[_k]" where each scope component
    c_i is the *unqualified* name of the i-th module in the call chain: its
    full named_modules() path from the last non-numeric atom on
    ("features.1.conv.0.2" -> "conv.0.2", "layer4.1" -> "layer4.1",
    "trunk_output.block4.block4-4" -> "block4-4"), with "_N" appended for the
    N-th extra call of a module ("relu_1": the block's shared `relu`, second
    call).  Each module in the chain is a direct child of the one before, so
    path_i = path_{i-1} + "." + (last atom of c_i, minus any "_N" suffix).
    Raises if a component does not resolve to a module."""
    parts = [p for p in node_name.split("/")[1:-1] if p]
    out, path = [], ""
    for c in parts:
        atom = c.split(".")[-1]
        cand = [atom]
        base, _, n = atom.rpartition("_")
        if base and n.isdigit():
            cand.append(base)
        for a in cand:
            q = f"{path}.{a}" if path else a
            if q in modules:
                break
        else:
            raise KeyError(f"{node_name}: scope component {c!r} under {path!r} is no module")
        out.append(q)
        path = q
    return out


def annotate_layers(layers, info, model):
    """Add to each layer: onnx_nodes (number of ONNX nodes in its scope),
    onnx_output (the output value of the last such node, in graph order: the
    ONNX tensor that is this module's output) and, for modules with no node
    (BatchNorm folded into the conv before it, Dropout/Identity/flatten
    modules in eval), onnx_output null.  A conv whose BatchNorm was folded
    gets bn_folded = that BN's path: its ONNX node outputs the BN's output,
    so its own (pre-BN) output does not exist in the graph."""
    modules = dict(model.named_modules())
    per = collections.defaultdict(list)
    for nname, op, _, outs in info["nodes"]:
        for mpath in scope_modules(nname, modules):
            per[mpath].append((nname, op, outs))
    for ly in layers:
        hits = per.get(ly["name"], [])
        ly["onnx_nodes"] = len(hits)
        ly["onnx_output"] = hits[-1][2][0] if hits else None
        ly["onnx_last_node"] = hits[-1][0] if hits else None
    by_name = {ly["name"]: ly for ly in layers}
    for ly in layers:
        if ly.get("kind") == "BatchNorm2d" and ly["onnx_nodes"] == 0 and ly.get("input_from"):
            src = by_name.get(ly["input_from"])
            if src is not None and src.get("kind") == "Conv2d":
                src["bn_folded"] = ly["name"]
                ly["folded_into"] = src["name"]
                ly["onnx_output"] = src["onnx_output"]
    return layers


def folded_copy(model, onnx_path):
    """The function the exported graph computes, as a torch model: a copy of
    `model` whose every Conv2d takes its weight / bias from the Conv node's
    initializers in the ONNX file (the exporter folded the following
    BatchNorm into them) and whose folded BatchNorm modules (no node in the
    graph) are nn.Identity.  Module names are unchanged."""
    import onnx
    import onnx.numpy_helper as nh
    g = onnx.load(onnx_path).graph
    inits = {i.name: nh.to_array(i) for i in g.initializer}
    for n in g.node:  # deduplicated initializers: Identity(initializer)
        if n.op_type == "Identity" and n.input[0] in inits:
            inits[n.output[0]] = inits[n.input[0]]
    fm = copy.deepcopy(model)
    modules = dict(fm.named_modules())
    scoped = set()
    for n in g.node:
        chain = scope_modules(n.name, modules)
        scoped.update(chain)
        if n.op_type != "Conv":
            continue
        conv = modules[chain[-1]]
        assert isinstance(conv, nn.Conv2d), (n.name, chain)
        w = torch.from_numpy(np.array(inits[n.input[1]]))
        assert w.shape == conv.weight.shape, (n.name, w.shape, conv.weight.shape)
        conv.weight = nn.Parameter(w)
        if len(n.input) > 2 and n.input[2]:
            conv.bias = nn.Parameter(torch.from_numpy(np.array(inits[n.input[2]])))
    folded = []
    for name, mod in list(fm.named_modules()):
        if isinstance(mod, nn.BatchNorm2d) and name not in scoped:
            parent, _, attr = name.rpartition(".")
            setattr(fm.get_submodule(parent) if parent else fm, attr, nn.Identity())
            folded.append(name)
    return fm.eval(), folded


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-30))


def rel_err_scaled(a, b, scale):
    return float((a - b).abs().max() / scale.abs().max().clamp(min=1e-30))


# -------------------------------------------------------------------- main


def sha16(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def write_readme(path, summary):
    L = []
    w = L.append
    w("# ONNX fixtures (issue 18)")
    w("")
    w("Generated by `/usr/bin/python3 tools/onnx_fixtures.py` (do not edit; see tools/README.md). "
      f"torch {summary['torch']}, torchvision {summary['torchvision']}, CPU, one thread, deterministic.")
    w("")
    w("Every graph is `torch.onnx.export` with its defaults: opset 14 (torch 1.13's default), "
      "`do_constant_folding=True`, `training=EVAL` (so **every BatchNorm that follows a conv is folded into "
      "that Conv**: no BatchNormalization node remains except densenet's BN-after-concat), "
      "`export_params=True`, F32 initializers, no external data. Only `input_names=[\"input\"]`, "
      "`output_names=[\"logits\"]` are set, plus a dynamic batch axis where noted.")
    w("")
    w("Files per random-weight model NAME:")
    w("")
    w("- `NAME.onnx`: static shapes, input `input` (1,3,H,W), output `logits` (1,10).")
    w("- `NAME.reference.safetensors` (F32, NCHW): `input`, `logits`, `grad.input`, `act.M` / `grad.M` for each "
      "probe M. `grad.*` = d logits[0, target] / d tensor, target = argmax(logits[0]). `__metadata__.config` is a "
      "JSON string: name, constructor, torch, torchvision, opset, export, input_shape, target, probes, seed, "
      "num_classes, objective.")
    w("- `NAME.layers.json`: every `named_modules()` path whose output is a tensor, in the order outputs are "
      "produced: `name`, `kind` (torch/torchvision class), `shape` (first call), `calls` (>1: a shared module, "
      "e.g. ResNet blocks' `relu`), `overwritten` (torchvision's forward later modifies this output in place: "
      "`out += identity`, GoogLeNet's `F.relu(x, inplace=True)`; never a probe), "
      "`input_from` (innermost module whose output is this module's input; null for concat/functional inputs), "
      "`onnx_nodes` (nodes in its scope), `onnx_output` (the ONNX value that is this module's output: the last "
      "node in its scope; for a folded BN the conv's output), `onnx_last_node`, `bn_folded` (on a Conv: the BN "
      "folded into it -- the conv's own pre-BN output does not exist in the graph) / `folded_into` (on the BN).")
    w("")
    w("Node names: `/c1/c2/.../OpType[_k]`; each scope component is the *unqualified* name of the next module "
      "in the call chain (its full path from the last non-numeric atom: `features.1.conv.0.2` -> `conv.0.2`, "
      "`trunk_output.block4.block4-4` -> `block4-4`), with `_N` appended for the N-th extra call of a shared "
      "module (`/layer4/layer4.1/relu_1/Relu`). Each module is a direct child of the previous one, so "
      "path_i = path_(i-1) + '.' + last atom of c_i (minus a `_N` suffix). Ops called in a module's own forward "
      "(torch.flatten, F.relu, x + y) sit directly in its scope (`/Flatten`, `/layer1/layer1.0/Add`). "
      "Initializers keep state_dict names where the tensor is used unchanged (`fc.weight`); folded conv "
      "weights/biases are renamed `onnx::Conv_NNN`.")
    w("")
    w("| file | constructor | input | params | target | probes | ops |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for name, d in summary["models"].items():
        ops = ", ".join(f"{k} {v}" for k, v in d.get("ops", {}).items())
        probes = ", ".join(f"`{p}`" for p in d.get("probes", [])) or "-"
        w(f"| `{name}.onnx` | {d['constructor']} | {tuple(d['input_shape'])} | {d.get('params', '-')} | "
          f"{d.get('target', '-')} | {probes} | {ops} |")
        if d.get("bn_variant"):
            w(f"| `{d['bn_variant']['file']}` | same weights, BatchNorm kept (training=PRESERVE) | "
              f"{tuple(d['input_shape'])} | | | | as above plus BatchNormalization |")
        if d.get("opset_variant"):
            v = d["opset_variant"]
            w(f"| `{v['file']}` | same weights, `{v['export']}` | {tuple(d['input_shape'])} | | | | "
              "as above, LayerNorm as LayerNormalization |")
        if d.get("dynamic_batch_variant"):
            v = d["dynamic_batch_variant"]
            w(f"| `{v['file']}` | same weights, dynamic batch axis | (batch,3,64,64) | | | | "
              "as above plus the shape arithmetic (`--list-ops`) |")
    w("")
    w("Export calls:")
    w("")
    calls = sorted({d["export"] for d in summary["models"].values()})
    for c in calls:
        w(f"- `{c}`")
    w("")
    w("The shipped models (`resnet50_synthetic.onnx`, `vgg16_synthetic.onnx`) are models/NAME/weights.safetensors "
      "(F16, widened to F32 exactly) in tools/torch_nets.py at the manifest's arch / width / classes / head, eval "
      "mode, with a dynamic batch axis; they have no reference file: the TS test compares the imported graph "
      "with the built-in model.")
    w("")
    w("Random weights: torchvision's own init under `torch.manual_seed(seed)`, then one eval-mode calibration "
      "pass over a seeded N(0,1) batch of 8: each Conv/Linear but the last is divided by its output std "
      "(LSUV-style); each BatchNorm takes running_mean = input batch mean + N(0, 0.1 std), running_var = batch "
      "var x U(0.7,1.3), weight U(0.5,1.5), bias N(0,0.1), both x0.2 for the last BN of a residual branch; the "
      "last layer is divided by the logit std. In-place activations are set to `inplace=False` (same graph).")
    w("")
    w("Reference values: the exporter folds each conv-following BatchNorm into the conv, so the reference model is "
      "the torch model with every Conv's weight/bias read back from the .onnx and the folded BNs replaced by "
      "nn.Identity (same module names); the values are its float64 pass rounded to float32. The input is the "
      "first of up to 4 seeded candidates (seed, seed+1000, ...) on which torch's float32 and float64 passes "
      "agree to 2e-5 on every stored tensor. Metadata `float32_torch_max_rel_err` (torch float32 vs stored) and "
      "`unfolded_max_rel_err` (the original, unfolded torch model in float32 vs stored, per key) say how much "
      "room a float32 implementation has under a 1e-4 tolerance. Checked: ONNX Runtime (onnxruntime-web 1.30, "
      "wasm) on each .onnx reproduces `logits` and every `act.M` (read at `layers.json`'s `onnx_output`) to "
      "<= 1.1e-5 relative (max abs error / max abs value).")
    w("")
    w("| model | input seed | target | torch f32 vs stored | unfolded f32 vs stored | folded BNs |")
    w("| --- | --- | --- | --- | --- | --- |")
    for name, d in summary["models"].items():
        if d["kind"] == "random":
            w(f"| {name} | {d['input_seed']} | {d['target']} | {d['float32_torch_max_rel_err']:.1e} | "
              f"{d['unfolded_max_rel_err']:.1e} | {d['folded_bn']} |")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", help="names to build (models and/or shipped)")
    ap.add_argument("--list-ops", action="store_true", help="print each graph's op / attribute table")
    args = ap.parse_args(argv)

    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    want = (lambda n: not args.only or n in args.only)
    summary = dict(torch=torch.__version__, torchvision=torchvision.__version__, models={})
    tables = {}

    for name in SHIPPED:
        if not want(name):
            continue
        model, man = load_shipped(name)
        torch.manual_seed(0)
        x = torch.randn(1, 3, *man["inputSize"])
        path = os.path.join(args.out, f"{name}.onnx")
        size = export(model, x, path, dynamic_batch=True)
        info = analyse_onnx(path)
        tables[name] = info
        summary["models"][name] = dict(
            kind="shipped", constructor=f"torch_nets.build({man['arch']!r}, {man['width']}, {man['numClasses']}, "
            f"{man['head']!r}) + models/{name}/weights.safetensors (F16 -> F32)",
            export=export_call(True), input_shape=[1, 3, *man["inputSize"]], opset=info["opset"], onnx_bytes=size,
            sha256_16=sha16(path), ops={op: d["count"] for op, d in info["ops"].items()})
        print(f"{name}: {size} bytes, ops {list(info['ops'])}", flush=True)
        if man["arch"].startswith("resnet"):
            # BatchNorm kept: the imported graph is then the built-in network op for op.
            bn_path = os.path.join(args.out, f"{name}.bn.onnx")
            bn_size = export(model, x, bn_path, dynamic_batch=True, keep_bn=True)
            summary["models"][name]["bn_variant"] = dict(
                file=f"{name}.bn.onnx", export=export_call(True)[:-1] + ", training=TrainingMode.PRESERVE)",
                onnx_bytes=bn_size, sha256_16=sha16(bn_path))
            print(f"{name}.bn: {bn_size} bytes", flush=True)

    for fx in MODELS:
        name = fx["name"]
        if not want(name):
            continue
        torch.manual_seed(fx["seed"])
        model = fx["build"]()
        no_inplace(model)
        randomise(model, fx["seed"], fx["size"])
        model.eval()
        x = torch.randn(1, 3, fx["size"], fx["size"], generator=torch.Generator().manual_seed(fx["seed"]))
        path = os.path.join(args.out, f"{name}.onnx")
        size = export(model, x, path)
        info = analyse_onnx(path)
        tables[name] = info
        # The reference is the graph's own function (BN folded exactly as in
        # the file); the unfolded model's values are only compared with it.
        fmodel, folded = folded_copy(model, path)
        fmodel64 = copy.deepcopy(fmodel).double()
        # Input: the first of up to 4 seeded candidates on which torch's
        # float32 and float64 passes agree to 2e-5 on every stored tensor (no
        # ReLU / max-pool decision within rounding of a tie, where any float32
        # implementation could go either way).  Stored values are the float64
        # pass, rounded to float32.
        best = None
        for k in range(4):
            iseed = fx["seed"] + 1000 * k
            xk = torch.randn(1, 3, fx["size"], fx["size"], generator=torch.Generator().manual_seed(iseed))
            r32, _, t32 = reference(fx, fmodel, xk)
            r64, _, t64 = reference(fx, fmodel64, xk.double())
            if t32 != t64:
                continue
            err = max(rel_err(r32[key].double(), r64[key]) for key in r64 if key != "input")
            if best is None or err < best[0]:
                best = (err, iseed, xk, r64, t64)
            if err <= 2e-5:
                break
        err32, iseed, x, r64, target = best
        eb_info = None
        if name in EB_MODELS:
            # float64, on the reference model; the float32 pass only says how much room float32 leaves
            m64, classifier = excitation_maps(fmodel64, x.double(), target, [""] + fx["probes"])
            m32, _ = excitation_maps(fmodel, x, target, [""] + fx["probes"])
            r64.update(m64)
            # (a contrastive map is measured against the excitation map's scale at its layer: it is a difference
            # of two signals of equal total mass, all zero after its ReLU at some layers)
            eb_info = dict(classifier=classifier, float32_torch_rel_err={
                k: float(f"{rel_err_scaled(m32[k].double(), v, m64[k.replace('contrastive-', '')]):.3g}")
                for k, v in m64.items()})
        ref = {key: v.float().contiguous() for key, v in r64.items()}
        ref["input"] = x.clone()
        ref0, layers, target0 = reference(fx, model, x)
        annotate_layers(layers, info, model)
        assert target == target0, (name, target, target0)
        unfolded_err = {key: rel_err(ref0[key].double(), r64[key]) for key in r64 if key != "input" and key in ref0}
        dyn = None
        if fx.get("also_dynamic"):
            # Same weights with a dynamic batch axis: channel_shuffle's
            # x.size() / view() and chunk() stay as Shape/Gather/Unsqueeze/
            # Cast/Concat chains (the static export bakes batch 1 into them).
            dpath = os.path.join(args.out, f"{name}.dynamic_batch.onnx")
            dsize = export(model, x, dpath, dynamic_batch=True)
            dinfo = analyse_onnx(dpath)
            tables[f"{name}.dynamic_batch"] = dinfo
            dyn = dict(file=os.path.basename(dpath), export=export_call(True), onnx_bytes=dsize,
                       sha256_16=sha16(dpath))
        opset_variant = None
        if fx.get("also_opset"):
            # Same weights at a later opset (17: LayerNorm exported as one LayerNormalization node).
            o = fx["also_opset"]
            opath = os.path.join(args.out, f"{name}.opset{o}.onnx")
            osize = export(model, x, opath, opset=o)
            tables[f"{name}.opset{o}"] = analyse_onnx(opath)
            opset_variant = dict(file=os.path.basename(opath), export=export_call(False, o), onnx_bytes=osize,
                                 sha256_16=sha16(opath))
        nparams = sum(p.numel() for p in model.parameters())
        cfg = dict(name=name, constructor=fx["ctor"], torch=torch.__version__, torchvision=torchvision.__version__,
                   opset=info["opset"][0][1], export=export_call(False), input_shape=list(x.shape),
                   target=target, probes=fx["probes"], seed=fx["seed"], num_classes=NUM_CLASSES,
                   objective="logits[0, target] (one-hot seed); grad.* = d objective / d tensor",
                   reference_model="the model with every Conv's weight/bias read back from the ONNX file "
                   "(BatchNorm folded by the exporter) and the folded BatchNorm modules replaced by nn.Identity",
                   folded_bn=len(folded), input_seed=iseed, excitation=eb_info,
                   reference_precision="float64 pass of the reference model, rounded to float32",
                   float32_torch_max_rel_err=float(f"{err32:.3g}"),
                   unfolded_max_rel_err={k: float(f"{v:.3g}") for k, v in unfolded_err.items()})
        rpath = os.path.join(args.out, f"{name}.reference.safetensors")
        rsize = mf.save_safetensors(rpath, ref, {"config": json.dumps(cfg)}, writer="builtin")
        meta, arrs = mf.read_safetensors(rpath)
        for k, v in ref.items():
            assert np.array_equal(arrs[k], v.numpy()), k
        lpath = os.path.join(args.out, f"{name}.layers.json")
        with open(lpath, "w") as f:
            json.dump(dict(name=name, input_shape=list(x.shape), layers=layers), f, indent=1)
            f.write("\n")
        lg = ref["logits"]
        summary["models"][name] = dict(
            kind="random", constructor=fx["ctor"], export=export_call(False), input_shape=list(x.shape),
            opset=info["opset"], params=nparams, onnx_bytes=size, reference_bytes=rsize, target=target,
            probes=fx["probes"], logits_std=round(lg.std().item(), 4), sha256_16=sha16(path), folded_bn=len(folded),
            unfolded_max_rel_err=float(f"{max(unfolded_err.values()):.3g}"), input_seed=iseed,
            float32_torch_max_rel_err=float(f"{err32:.3g}"),
            ops={op: d["count"] for op, d in info["ops"].items()}, dynamic_batch_variant=dyn,
            opset_variant=opset_variant)
        print(f"{name}: params {nparams}, onnx {size} B, ref {rsize} B, target {target}, "
              f"logits std {lg.std().item():.3g}, input seed {iseed}, torch f32-vs-f64 {err32:.1e}, "
              f"folded BN {len(folded)}, unfolded-vs-folded max rel err "
              f"{max(unfolded_err.values()):.2e} ({max(unfolded_err, key=unfolded_err.get)}), "
              f"ops {list(info['ops'])}", flush=True)

    if not args.only:
        with open(os.path.join(args.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
            f.write("\n")
        write_readme(os.path.join(args.out, "README.md"), summary)
    if args.list_ops:
        for name, info in tables.items():
            print(f"\n== {name}  opset {info['opset']}  ir {info['ir_version']}  inputs {info['inputs']} "
                  f"outputs {info['outputs']} initializers {info['initializers']}")
            for op, d in info["ops"].items():
                print(f"  {op} x{d['count']}")
                for form, c in d["forms"].most_common():
                    print(f"      {c:4d}  {form}")


if __name__ == "__main__":
    main()
