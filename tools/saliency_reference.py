"""Independent PyTorch reference for the backprop saliency methods.

Reads the existing fixtures tests/fixtures/pytorch/NAME.weights.safetensors
(the model) and NAME.reference.safetensors (its `input` tensor and config),
computes every saliency method of METHODS.md section 3.4 (plus the generic
phase-1 x phase-2 pairs, normgrad without the virtual identity trick,
excitation / contrastive excitation backprop, guided backprop and
meta-saliency) and writes tests/fixtures/pytorch/saliency_NAME.safetensors.

Everything here is written from the spec (/work/shared/spec/METHODS.md) and is
meant to be an independent check of the TypeScript implementation:

* x, g at layer L are captured with forward hooks on module L (its OUTPUT;
  L = "" is the network input) and torch.autograd.grad of the SCORE S with
  respect to those hooked tensors.
* Modified backward rules are torch.autograd.Function replacements of the
  ops, installed on deep copies of the model (module classes swapped):
  guided ReLU; EB conv / linear / avg-pool / adaptive-avg-pool / batch-norm
  / residual add.
* Generic pairs are computed by materialising the per-location contribution
  c_u (outer products, unfold) and aggregating it, not by closed forms;
  normgrad-exact uses F.unfold, not the box filter.
* Channel / contribution reductions are done in float64 from the float32
  x and g, then rounded to float32.

Run:  /usr/bin/python3 tools/saliency_reference.py [--out DIR] [--only NAME..]
See tools/README.md ("saliency_reference.py") for every normative choice and
the list of keys.
"""

import argparse
import copy
import hashlib
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no tools/__pycache__ in the working tree

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (safetensors writer / reader)
import torch_nets  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_DIR = os.path.join(ROOT, "tests", "fixtures", "pytorch")

EB_EPS = 1e-20  # p_hat = p / (z + EB_EPS)
META_ETA = 0.0025

METHODS = [
    "gradient", "gradient-sum", "guided", "guided-sum", "linear-approx",
    "grad-cam", "excitation", "contrastive-excitation", "normgrad",
    "selective-normgrad",
]
AGGS = ["sum", "max", "max-abs", "norm", "positive-norm"]
PAIRS = ([("identity-3x3", a) for a in AGGS]
         + [("depthwise-3x3", a) for a in AGGS]
         + [("identity-1x1", "max"), ("identity-1x1", "positive-norm")])

# The fully-conv fixtures are 224x256: one input-resolution map is 229 KB.
# To stay under ~4 MB in total, at the INPUT layer of those two fixtures only
# these named methods are stored and no pairs (every method and pair is stored
# at their inner layers, and everything at the 64x64 inputs of the classifier
# fixtures).
FC_INPUT_METHODS = ["gradient", "guided", "linear-approx", "excitation",
                    "contrastive-excitation"]

FIXTURES = [
    dict(name="vgg16_w32", layers=["", "features.15", "features.29"],
         conv_layers=["features.14", "features.28"],
         contrast="classifier.4", classifier="classifier.6",
         meta_layers=["features.29"], meta_methods=["normgrad",
                                                    "linear-approx"]),
    dict(name="resnet50_w8", layers=["", "layer2", "layer3", "layer4"],
         conv_layers=["layer2.0.conv1", "layer4.0.conv1"],
         contrast="avgpool", classifier="fc",
         meta_layers=["layer3"], meta_methods=["normgrad", "linear-approx"]),
    dict(name="vgg16fc_w32", layers=["", "features.22", "features.29"],
         conv_layers=[], contrast="classifier.4", classifier="classifier.6",
         meta_layers=[], meta_methods=[]),
    dict(name="resnet50fc_w16", layers=["", "layer2", "layer3"],
         conv_layers=[], contrast="avgpool", classifier="fc",
         meta_layers=[], meta_methods=[]),
]


def key_layer(layer):
    return "input" if layer == "" else layer


# ================================================== modified backward rules


class GuidedReLUFn(torch.autograd.Function):
    """relu forward; backward grad_in = relu(grad_out) * [x_in >= 0]."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out.clamp(min=0) * (x >= 0).to(grad_out.dtype)


class GuidedReLU(nn.ReLU):
    def forward(self, x):
        return GuidedReLUFn.apply(x)


class EBPositiveFn(torch.autograd.Function):
    """Forward: returns the precomputed (normal) output y.  Backward (EB):
    z = plus_fn(x) (the op with W+ = max(W,0), no bias), p_hat = p/(z+1e-20),
    grad_x = x * vjp_x(plus_fn)(p_hat)."""

    @staticmethod
    def forward(ctx, x, y, plus_fn):
        ctx.save_for_backward(x)
        ctx.plus_fn = plus_fn
        return y.clone()

    @staticmethod
    def backward(ctx, p):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            xx = x.detach().requires_grad_(True)
            z = ctx.plus_fn(xx)
            p_hat = p / (z.detach() + EB_EPS)
            (v,) = torch.autograd.grad(z, xx, p_hat)
        return x * v, None, None


class PassGradFn(torch.autograd.Function):
    """Forward: the precomputed y.  Backward: identity (EB BatchNorm)."""

    @staticmethod
    def forward(ctx, x, y):
        return y.clone()

    @staticmethod
    def backward(ctx, p):
        return p, None


class EBAddFn(torch.autograd.Function):
    """y = a + b; grad_a = a/(a+b) * p, grad_b = b/(a+b) * p; both 0 where
    a+b == 0 exactly (normative choice)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a + b

    @staticmethod
    def backward(ctx, p):
        a, b = ctx.saved_tensors
        s = a + b
        zero = s == 0
        ga = torch.where(zero, torch.zeros_like(p), (a / s) * p)
        gb = torch.where(zero, torch.zeros_like(p), (b / s) * p)
        return ga, gb


class EBConv2d(nn.Conv2d):
    def forward(self, x):
        with torch.no_grad():
            y = nn.Conv2d.forward(self, x)

        def plus(t):
            return self._conv_forward(t, self.weight.detach().clamp(min=0),
                                      None)
        return EBPositiveFn.apply(x, y, plus)


class EBLinear(nn.Linear):
    def forward(self, x):
        with torch.no_grad():
            y = nn.Linear.forward(self, x)

        def plus(t):
            return F.linear(t, self.weight.detach().clamp(min=0))
        return EBPositiveFn.apply(x, y, plus)


class EBAvgPool2d(nn.AvgPool2d):
    def forward(self, x):
        with torch.no_grad():
            y = nn.AvgPool2d.forward(self, x)
        return EBPositiveFn.apply(
            x, y, lambda t: nn.AvgPool2d.forward(self, t))


class EBAdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    def forward(self, x):
        with torch.no_grad():
            y = nn.AdaptiveAvgPool2d.forward(self, x)
        return EBPositiveFn.apply(
            x, y, lambda t: nn.AdaptiveAvgPool2d.forward(self, t))


class EBBatchNorm2d(nn.BatchNorm2d):
    def forward(self, x):
        assert not self.training
        with torch.no_grad():
            y = nn.BatchNorm2d.forward(self, x)
        return PassGradFn.apply(x, y)


class EBBottleneck(torch_nets.Bottleneck):
    def forward(self, x):  # torch_nets.Bottleneck with an explicit EB add
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(EBAddFn.apply(out, identity))


class EBBasicBlock(torch_nets.BasicBlock):
    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(EBAddFn.apply(out, identity))


# exact class -> replacement (subclasses keep all attributes and parameters)
EB_CLASSES = {
    nn.Conv2d: EBConv2d, nn.Linear: EBLinear, nn.AvgPool2d: EBAvgPool2d,
    nn.AdaptiveAvgPool2d: EBAdaptiveAvgPool2d,
    nn.BatchNorm2d: EBBatchNorm2d,
    torch_nets.Bottleneck: EBBottleneck, torch_nets.BasicBlock: EBBasicBlock,
}
GUIDED_CLASSES = {nn.ReLU: GuidedReLU}


def with_rules(model, table):
    """Deep copy of model with the module classes swapped per table."""
    m = copy.deepcopy(model)
    n = 0
    for mod in m.modules():
        new = table.get(type(mod))
        if new is not None:
            mod.__class__ = new
            n += 1
    assert n > 0
    return m.eval()


# ============================================================ capture / seed


def make_seed(y, targets, head):
    """Constant seed G with S = sum(y * G).  Classifier: one-hot per image.
    Fully-conv: spatial softmax of channel target_b of y[b], 0 elsewhere."""
    y = y.detach()
    G = torch.zeros_like(y)
    for b, t in enumerate(targets):
        if head == "fully-conv":
            G[b, t] = torch.softmax(y[b, t].reshape(-1), 0).reshape(
                y.shape[2:])
        else:
            G[b, t] = 1.0
    return G


def forward_capture(model, x, names, input_names=()):
    """Forward pass with hooks; returns y, {name: output}, {name: input}.
    names may contain "" for the network input tensor itself."""
    modules = dict(model.named_modules())
    outs, ins, handles = {}, {}, []
    for name in set(names) | set(input_names):
        if name == "":
            continue

        def hook(mod, inp, out, name=name):
            assert name not in outs, f"module {name} called twice"
            outs[name] = out
            ins[name] = inp[0]
        handles.append(modules[name].register_forward_hook(hook))
    xin = x.detach().clone().requires_grad_(True)
    try:
        y = model(xin)
    finally:
        for h in handles:
            h.remove()
    outs[""] = xin
    return y, outs, ins


def backprop(model, x, names, G=None, targets=None, head=None,
             input_names=()):
    """x, g = dS/dx at every probed module output, S = sum(y * G)."""
    y, outs, ins = forward_capture(model, x, names, input_names)
    if G is None:
        G = make_seed(y, targets, head)
    S = (y * G).sum()
    grads = torch.autograd.grad(S, [outs[n] for n in names])
    return dict(y=y.detach(), G=G,
                x={n: outs[n].detach() for n in names},
                g={n: gr.detach() for n, gr in zip(names, grads)},
                xin={n: ins[n].detach() for n in input_names})


# ================================================================ reductions


def d(t):
    return t.detach().to(torch.float64)


def cnorm(t):
    """L2 norm over channels (dim 1), keepdim."""
    return t.pow(2).sum(1, keepdim=True).sqrt()


def method_map(method, x, g):
    """Closed-form map of METHODS 3.4 (x, g float64, NCHW)."""
    if method in ("gradient", "guided"):
        return g.abs().amax(1, keepdim=True)
    if method in ("gradient-sum", "guided-sum", "excitation"):
        return g.sum(1, keepdim=True)
    if method == "contrastive-excitation":
        return g.sum(1, keepdim=True).clamp(min=0)
    if method == "linear-approx":
        return (x * g).sum(1, keepdim=True)
    if method == "grad-cam":
        return (x * g.mean((2, 3), keepdim=True)).sum(1, keepdim=True).clamp(
            min=0)
    if method == "normgrad":
        return cnorm(x) * cnorm(g)
    if method == "selective-normgrad":
        return cnorm((x * g).clamp(min=0))
    raise KeyError(method)


def aggregate(c, agg):
    """c: (N, H, W, E) per-location contributions -> (N, 1, H, W)."""
    if agg == "sum":
        s = c.sum(-1)
    elif agg == "max":
        s = c.amax(-1)
    elif agg == "max-abs":
        s = c.abs().amax(-1)
    elif agg == "norm":
        s = c.pow(2).sum(-1).sqrt()
    elif agg == "positive-norm":
        s = c.clamp(min=0).pow(2).sum(-1).sqrt()
    else:
        raise KeyError(agg)
    return s.unsqueeze(1)


def contributions(phase1, x, g):
    """Materialise c_u for a virtual layer at x: (N, H, W, E)."""
    n, c, h, w = x.shape
    gf = g.permute(0, 2, 3, 1)  # (N,H,W,C)
    if phase1 == "identity-1x1":  # c_u = g_u x_u^T
        xf = x.permute(0, 2, 3, 1)
        return torch.einsum("nhwk,nhwl->nhwkl", gf, xf).reshape(n, h, w, -1)
    P = F.unfold(x, 3, padding=1)  # (N, C*9, H*W), channel-major
    P = P.reshape(n, c * 9, h, w).permute(0, 2, 3, 1)  # (N,H,W,9C)
    if phase1 == "identity-3x3":  # c_u = g_u P_u^T (C x 9C)
        return torch.einsum("nhwk,nhwe->nhwke", gf, P).reshape(n, h, w, -1)
    if phase1 == "depthwise-3x3":  # c_{k,d,u} = P_{k,d,u} g_{k,u}
        P = P.reshape(n, h, w, c, 9)
        return (P * gf.unsqueeze(-1)).reshape(n, h, w, -1)
    raise KeyError(phase1)


def normgrad_exact_unfold(conv, x_in, g_out):
    """||unfold(x_in)_u|| * ||g_out,u|| with the conv's own geometry."""
    P = F.unfold(x_in, conv.kernel_size, dilation=conv.dilation,
                 padding=conv.padding, stride=conv.stride)
    n, _, ho, wo = g_out.shape
    assert P.shape[2] == ho * wo
    pn = P.pow(2).sum(1).sqrt().reshape(n, 1, ho, wo)
    return pn * cnorm(g_out)


def normgrad_exact_box(conv, x_in, g_out):
    """Closed form of METHODS 4.1 (box filter), used only as a check."""
    k = torch.ones(1, 1, *conv.kernel_size, dtype=x_in.dtype)
    sq = F.conv2d(x_in.pow(2).sum(1, keepdim=True), k, stride=conv.stride,
                  padding=conv.padding, dilation=conv.dilation)
    return sq.sqrt() * cnorm(g_out)


def rel_err(a, b):
    a, b = d(a), d(b)
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


# ============================================================ meta-saliency


def meta_loss(y, target):
    """Cross-entropy for one image; fully-conv: mean over locations."""
    if y.dim() == 4:
        k = y.shape[1]
        flat = y.permute(0, 2, 3, 1).reshape(-1, k)
    else:
        flat = y
    t = torch.full((flat.shape[0],), target, dtype=torch.long)
    return F.cross_entropy(flat, t, reduction="mean")


def meta_model(model, xb, target, eta, sign):
    """Copy of model with theta' = theta - sign*eta*dL/dtheta (all
    parameters: conv, linear, BN weight and bias; never running stats)."""
    m = copy.deepcopy(model).eval()
    params = list(m.parameters())
    for p in params:
        p.requires_grad_(True)
    loss = meta_loss(m(xb), target)
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        for p, gr in zip(params, grads):
            if sign > 0:
                p.sub_(eta * gr)
            else:
                p.add_(eta * gr)
    return m


def target_logit(y, t):
    """Target logit of a one-image output (fully-conv: mean over locations)."""
    return y[0, t] if y.dim() == 2 else y[0, t].mean()


# =================================================================== driver


def load_fixture(name):
    wpath = os.path.join(FIXTURE_DIR, f"{name}.weights.safetensors")
    rpath = os.path.join(FIXTURE_DIR, f"{name}.reference.safetensors")
    wmeta, warr = mf.read_safetensors(wpath)
    rmeta, rarr = mf.read_safetensors(rpath)
    mcfg = json.loads(wmeta["config"])
    rcfg = json.loads(rmeta["config"])
    model = torch_nets.build(mcfg["arch"], mcfg["width"], mcfg["num_classes"],
                             mcfg["head"])
    sd = {k: torch.from_numpy(np.array(v)) for k, v in warr.items()}
    model.load_state_dict(sd, strict=True)
    model.eval()
    x = torch.from_numpy(np.array(rarr["input"]))
    sha = {}
    for p in (wpath, rpath):
        with open(p, "rb") as f:
            sha[os.path.basename(p)] = hashlib.sha256(f.read()).hexdigest()
    return model, x, mcfg, rcfg, rarr, sha


def compute(fx, model, x, mcfg, rcfg, rarr, check):
    """All maps for one fixture, in the dtype of model / x (float64 maps)."""
    head = mcfg["head"]
    targets = rcfg["targets"]
    layers = fx["layers"]
    convs = fx["conv_layers"]
    fc = head == "fully-conv"
    f32 = x.dtype == torch.float32
    out = {}

    # ---------------------------------------------------- standard gradient
    std_names = layers + convs + [fx["classifier"]]
    std = backprop(model, x, std_names, targets=targets, head=head,
                   input_names=convs)
    G = std["G"]
    dy = (d(std["y"]) - torch.from_numpy(np.array(rarr["logits"])).double())
    dy = dy.abs().max().item()
    check("logits equal the reference fixture", dy == 0.0 or not f32,
          f"(max diff {dy:.3g})")
    if not fc and f32:  # the reference fixture used the same one-hot objective
        for L in layers:
            rk = "grad.input" if L == "" else f"grad.{L}"
            if rk in rarr:
                e = rel_err(std["g"][L], torch.from_numpy(np.array(rarr[rk])))
                check(f"g at {key_layer(L)} equals reference {rk}", e < 1e-6,
                      f"(rel {e:.2e})")

    # ---------------------------------------------------------- guided
    guided_model = with_rules(model, GUIDED_CLASSES)
    gui = backprop(guided_model, x, layers + [fx["classifier"]], G=G)
    e = rel_err(gui["g"][fx["classifier"]], std["g"][fx["classifier"]])
    check("guided == gradient at the output logits", e == 0.0, f"(rel {e})")

    # ------------------------------------------------------- EB and CEB
    eb_model = with_rules(model, EB_CLASSES)
    ebneg_model = copy.deepcopy(eb_model)
    with torch.no_grad():
        dict(ebneg_model.named_modules())[fx["classifier"]].weight.neg_()
    c = fx["contrast"]
    # (1) negated classifier, EB down to the contrast layer
    yn, outs_n, _ = forward_capture(ebneg_model, x, [c])
    (p_neg,) = torch.autograd.grad((yn * G).sum(), [outs_n[c]])
    # (2) normal EB; at the contrast layer p -> p - p_neg
    ye, outs_e, _ = forward_capture(eb_model, x, [c] + layers)
    check("EB forward == standard forward",
          (ye - std["y"]).abs().max().item() == 0.0)
    g_eb = torch.autograd.grad((ye * G).sum(), [outs_e[c]] + [
        outs_e[L] for L in layers], retain_graph=True)
    p_c = g_eb[0]
    g_ceb = torch.autograd.grad(outs_e[c], [outs_e[L] for L in layers],
                                grad_outputs=p_c - p_neg)
    g_eb = dict(zip(layers, g_eb[1:]))
    g_ceb = dict(zip(layers, g_ceb))

    # ------------------------------------------------------------ maps
    for L in layers:
        kl = key_layer(L)
        xL = d(std["x"][L])
        src = {"gradient": std["g"][L], "gradient-sum": std["g"][L],
               "linear-approx": std["g"][L], "grad-cam": std["g"][L],
               "normgrad": std["g"][L], "selective-normgrad": std["g"][L],
               "guided": gui["g"][L], "guided-sum": gui["g"][L],
               "excitation": g_eb[L], "contrastive-excitation": g_ceb[L]}
        wanted = FC_INPUT_METHODS if (fc and L == "") else METHODS
        for mth in METHODS:
            mp = method_map(mth, xL, d(src[mth]))
            if mth == "normgrad":
                c11 = contributions("identity-1x1", xL, d(std["g"][L]))
                e = rel_err(mp, aggregate(c11, "norm"))
                check(f"normgrad closed form == ||g x^T||_F at {kl}",
                      e < 1e-12, f"(rel {e:.2e})")
            if mth in wanted:
                out[f"map.{mth}.{kl}"] = mp
        eb_sum = out.get(f"map.excitation.{kl}")
        if eb_sum is not None:
            check(f"EB map finite at {kl}", torch.isfinite(eb_sum).all(),
                  f"(sum {eb_sum.sum().item():.4g})")
            ce = out[f"map.contrastive-excitation.{kl}"]
            diff = (ce - eb_sum.clamp(min=0)).abs().max().item()
            check(f"CEB differs from relu(EB) at {kl}",
                  diff > 1e-6 * eb_sum.abs().max().item(),
                  f"(max diff {diff:.3g})")
            check(f"CEB map finite at {kl}", torch.isfinite(ce).all())

        # ---- generic pairs, materialised
        if fc and L == "":
            continue
        gL = d(std["g"][L])
        for phase1 in ("identity-3x3", "depthwise-3x3", "identity-1x1"):
            cu = contributions(phase1, xL, gL)
            for p1, agg in PAIRS:
                if p1 == phase1:
                    out[f"pair.{p1}.{agg}.{kl}"] = aggregate(cu, agg)
            # closed-form cross-checks of the materialised contributions
            if phase1 != "identity-1x1":
                n_, c_, h_, w_ = xL.shape
                P = F.unfold(xL, 3, padding=1).reshape(n_, c_, 9, h_, w_)
                if phase1 == "identity-3x3":
                    nf = P.pow(2).sum((1, 2)).sqrt().unsqueeze(1) * cnorm(gL)
                    sf = P.sum((1, 2)).unsqueeze(1) * gL.sum(1, keepdim=True)
                else:
                    nf = (P.pow(2).sum(2) * gL.pow(2)).sum(1, True).sqrt()
                    sf = (P.sum(2) * gL).sum(1, keepdim=True)
                e1 = rel_err(aggregate(cu, "norm"), nf)
                e2 = rel_err(aggregate(cu, "sum"), sf)
                check(f"{phase1} norm/sum == closed forms at {kl}",
                      e1 < 1e-12 and e2 < 1e-10,
                      f"(rel {e1:.1e}, {e2:.1e})")
            del cu

    # guided == gradient where no ReLU lies between L and the output
    if "layer4" in layers:
        e = rel_err(out["map.guided.layer4"], out["map.gradient.layer4"])
        check("guided == gradient at layer4 (no ReLU above)", e == 0.0,
              f"(rel {e})")

    # ------------------------------------------------- normgrad-exact
    for cv in convs:
        conv = dict(model.named_modules())[cv]
        assert isinstance(conv, nn.Conv2d)
        xin, gout = d(std["xin"][cv]), d(std["g"][cv])
        ne = normgrad_exact_unfold(conv, xin, gout)
        e = rel_err(ne, normgrad_exact_box(conv, xin, gout))
        check(f"normgrad-exact unfold == box filter at {cv}", e < 1e-12,
              f"(rel {e:.2e})")
        out[f"map.normgrad-exact.{cv}"] = ne
        out[f"map.normgrad.{cv}"] = method_map(
            "normgrad", d(std["x"][cv]), gout)

    # ---------------------------------------------------- meta-saliency
    meta_logits = {"before": [], "pos": [], "neg": [], "zero": []}
    for L in fx["meta_layers"]:
        per = {}
        for b, t in enumerate(targets):
            xb = x[b:b + 1]
            for tag, eta, sign in (("pos", META_ETA, 1), ("neg", META_ETA, -1),
                                   ("zero", 0.0, 1)):
                m = meta_model(model, xb, t, eta, sign)
                r = backprop(m, xb, [L], targets=[t], head=head)
                for mth in fx["meta_methods"]:
                    per.setdefault((tag, mth), []).append(
                        method_map(mth, d(r["x"][L]), d(r["g"][L])))
                if L == fx["meta_layers"][0]:
                    meta_logits[tag].append(target_logit(r["y"], t))
            if L == fx["meta_layers"][0]:
                meta_logits["before"].append(
                    target_logit(std["y"][b:b + 1], t))
        for (tag, mth), maps in per.items():
            out[f"meta.{tag}.{mth}.{key_layer(L)}"] = torch.cat(maps)
        for mth in fx["meta_methods"]:
            kz = f"meta.zero.{mth}.{key_layer(L)}"
            e = rel_err(out[kz], out[f"map.{mth}.{key_layer(L)}"])
            check(f"meta eta=0 == base {mth} at {key_layer(L)}", e < 1e-5,
                  f"(rel {e:.2e})")
            kp = f"meta.pos.{mth}.{key_layer(L)}"
            e = rel_err(out[kp], out[f"map.{mth}.{key_layer(L)}"])
            check(f"meta pos differs from base {mth}", e > 1e-6,
                  f"(rel {e:.2e})")
    if fx["meta_layers"]:
        lg = {k: torch.stack(v) for k, v in meta_logits.items()}
        check("meta logits: neg < before < pos (per image)",
              bool(((lg["neg"] < lg["before"]) &
                    (lg["before"] < lg["pos"])).all()),
              f"before {lg['before'].tolist()} pos {lg['pos'].tolist()} "
              f"neg {lg['neg'].tolist()}")
        check("meta logit eta=0 == before",
              (lg["zero"] - lg["before"]).abs().max().item() < 1e-5)
        for k in ("before", "pos", "neg"):
            out[f"meta.logit.{k}"] = lg[k]

    # ------------------------------------------------------------ extras
    out["seed"] = G
    out["logits"] = std["y"]
    return {k: d(v) for k, v in out.items()}


def run(fx, out_dir):
    t0 = time.time()
    name = fx["name"]
    model, x, mcfg, rcfg, rarr, sha = load_fixture(name)
    head = mcfg["head"]
    targets = rcfg["targets"]
    layers = fx["layers"]
    convs = fx["conv_layers"]
    fc = head == "fully-conv"
    checks = []

    def check(label, ok, detail=""):
        checks.append((label, bool(ok)))
        print(f"  [{'ok' if ok else 'FAIL'}] {label} {detail}")

    out = {k: v.float() for k, v in
           compute(fx, model, x, mcfg, rcfg, rarr, check).items()}
    for k, v in out.items():
        assert torch.isfinite(v).all(), k

    # Conditioning: the same pipeline in float64 (weights and input upcast).
    # f64_rel_diff[key] = max|f32 - f64| / max|f64|: a tolerance hint for the
    # float32 TypeScript side, not part of the reference.
    ref64 = compute(fx, copy.deepcopy(model).double(), x.double(), mcfg,
                    rcfg, rarr, lambda *a, **k: None)
    f64_rel = {k: float(f"{rel_err(out[k], ref64[k]):.3g}") for k in out}
    worst = sorted(f64_rel.items(), key=lambda kv: -kv[1])[:3]
    print("  float32 vs float64 worst keys: "
          + ", ".join(f"{k} {v:.2e}" for k, v in worst))

    omitted = []
    if fc:
        omitted = ([f"map.{m}.input" for m in METHODS
                    if m not in FC_INPUT_METHODS]
                   + [f"pair.{p}.{a}.input" for p, a in PAIRS])
    cfg = {
        "fixture": name,
        "model": mcfg,
        "source_sha256": sha,
        "input_shape": list(x.shape),
        "targets": targets,
        "seed_kind": "pointing-softmax" if fc else "one-hot",
        "seed": ("G[b,t_b] = softmax over (h',w') of y[b,t_b], 0 elsewhere, "
                 "constant; S = sum(y*G)") if fc else
                "S = sum_b logits[b, t_b]",
        "layers": layers,
        "normgrad_exact_layers": convs,
        "methods": METHODS,
        "input_methods": FC_INPUT_METHODS if fc else METHODS,
        "pairs": [f"{p}.{a}" for p, a in PAIRS],
        "pair_layers": [L for L in layers if not (fc and L == "")],
        "omitted_keys": omitted,
        "eb": {"eps": EB_EPS, "bias": "dropped",
               "residual_zero_sum": "both grads 0 where a+b == 0",
               "batchnorm": "identity backward",
               "relu_maxpool_dropout": "standard gradients"},
        "ceb": {"contrast_layer": fx["contrast"],
                "classifier_layer": fx["classifier"],
                "negate": "classifier weight W -> -W (bias dropped anyway)",
                "combine": "p - p_neg at the contrast layer output, no clamp",
                "map": "relu(sum_k pseudo-grad)"},
        "guided": "grad_in = relu(grad_out) * (x_in >= 0)",
        "meta": ({"eta": META_ETA, "layers": fx["meta_layers"],
                  "methods": fx["meta_methods"],
                  "step": "theta' = theta - eta*dL/dtheta (pos), + (neg), "
                          "0 (zero); all parameters incl. BN weight/bias",
                  "loss": "cross-entropy(y, target) (fully-conv: mean over "
                          "locations)",
                  "per_image": "each image of the batch gets its own "
                               "theta' from its own single-image loss",
                  "logit": "target logit y[b, t_b] before / after the step"}
                 if fx["meta_layers"] else None),
        "reduction_dtype": "float64 from float32 x, g; stored float32",
        "maps": "raw, at the probed tensor's resolution, NCHW (N,1,H,W)",
        "f64_rel_diff": f64_rel,
    }
    path = os.path.join(out_dir, f"saliency_{name}.safetensors")
    size = mf.save_safetensors(path, out, {"config": json.dumps(cfg)})
    meta, arrs = mf.read_safetensors(path)
    assert set(arrs) == set(out)
    for k, v in out.items():
        assert np.array_equal(arrs[k], v.numpy()), k
    assert json.loads(meta["config"]) == cfg
    nfail = sum(1 for _, ok in checks if not ok)
    print(f"  wrote {os.path.relpath(path, ROOT)}: {len(out)} tensors, "
          f"{size} bytes, {time.time() - t0:.1f} s, {nfail} failed checks")
    return size, nfail, sorted(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=FIXTURE_DIR)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--keys", action="store_true", help="print the key list")
    args = ap.parse_args(argv)
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    total, fails = 0, 0
    for fx in FIXTURES:
        if args.only and fx["name"] not in args.only:
            continue
        print(f"{fx['name']}:")
        size, nfail, keys = run(fx, args.out)
        total += size
        fails += nfail
        if args.keys:
            for k in keys:
                print("    " + k)
    print(f"total {total} bytes ({total / 2**20:.2f} MiB), "
          f"{time.time() - t0:.1f} s, {fails} failed checks")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
