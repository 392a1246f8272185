#!/usr/bin/python3
"""PyTorch timings of the methods that take many passes, each as its reference implementation runs it, beside
Grad-CAM, on the shipped models' architecture (tools/torch_nets.py, ResNet50 at width 1/8, 12 classes; random
weights), one 224x224 image: Score-CAM and Ablation-CAM at layer4 as pytorch-grad-cam (channels batched 16 / 32
to a forward, scores read per pass); at the input, integrated gradients as Captum (50 Gauss-Legendre points, 16
a pass, baseline 0), RISE as TorchRay (1000 masks, 32 a pass), occlusion as Captum (15x15 patches, stride 8, 32
a pass) and FullGrad as its authors' code. For bench/many_pass_bench.ts. Prints one JSON line per method: median
ms of --runs after one warm-up.

  /usr/bin/python3 bench/pytorch_many_pass.py --runs 3 --threads 2
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import torch_nets  # noqa: E402
from torch_timing import median_ms  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torch_nets.build("resnet50", 0.125, 12, "classifier").eval()
    for p in model.parameters():
        p.requires_grad_(False)
    layer = dict(model.named_modules())["layer4"]
    x = torch.randn(1, 3, 224, 224)
    t = 3

    def activation(inp, grad=False):
        acts = {}
        h = layer.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
        try:
            y = model(inp.clone().requires_grad_(grad))
        finally:
            h.remove()
        return y, acts["a"]

    def grad_cam():
        y, a = activation(x, True)
        (g,) = torch.autograd.grad(y[0, t], a)
        return torch.relu((a * g.mean((2, 3), keepdim=True)).sum(1))

    def score_cam():
        with torch.no_grad():
            _, a = activation(x)
            up = F.interpolate(a, size=x.shape[2:], mode="bilinear", align_corners=True)
            lo, hi = up.amin((2, 3), keepdim=True), up.amax((2, 3), keepdim=True)
            masks = (up - lo) / (hi - lo + 1e-8)
            scores = []
            for i in range(0, a.shape[1], 16):
                scores += [float(v) for v in model(x * masks[0, i:i + 16, None])[:, t]]
            w = torch.softmax(torch.tensor(scores), 0)
            return torch.relu((w[None, :, None, None] * a).sum(1))

    def ablation_cam():
        with torch.no_grad():
            y, a = activation(x)
            s0 = float(y[0, t])
            scores = []
            for i in range(0, a.shape[1], 32):
                ks = list(range(i, min(a.shape[1], i + 32)))

                def ablate(m, inp, out, ks=ks):
                    out = out.clone()
                    for r, k in enumerate(ks):
                        out[r, k] = 0
                    return out
                h = layer.register_forward_hook(ablate)
                try:
                    scores += [float(v) for v in model(x.repeat(len(ks), 1, 1, 1))[:, t]]
                finally:
                    h.remove()
            w = (s0 - torch.tensor(scores)) / s0
            return torch.relu((w[None, :, None, None] * a).sum(1))

    def integrated_gradients():
        nodes, weights = np.polynomial.legendre.leggauss(50)
        alphas, ws = (nodes + 1) / 2, weights / 2
        total = torch.zeros_like(x)
        for i in range(0, 50, 16):
            a = torch.tensor(alphas[i:i + 16], dtype=x.dtype)[:, None, None, None]
            xs = (a * x).requires_grad_(True)
            (g,) = torch.autograd.grad(model(xs)[:, t].sum(), xs)
            total += (torch.tensor(ws[i:i + 16], dtype=x.dtype)[:, None, None, None] * g).sum(0, keepdim=True)
        return (x * total).sum(1)

    def rise():
        with torch.no_grad():
            h, w = x.shape[2:]
            cell = int(np.ceil(h / 7))
            sal = torch.zeros(h, w)
            for i in range(0, 1000, 32):
                n = min(32, 1000 - i)
                grid = (torch.rand(n, 1, 7, 7) < 0.5).float()
                up = F.interpolate(F.pad(grid, (1, 1, 1, 1), mode="reflect"), (cell * 9, cell * 9), mode="bilinear",
                                   align_corners=False)
                sx, sy = torch.randint(0, cell, (n,)), torch.randint(0, cell, (n,))
                masks = torch.stack([up[k, :, cell + sx[k]:cell + sx[k] + h, cell + sy[k]:cell + sy[k] + w]
                                     for k in range(n)])
                p = torch.sigmoid(model(x * masks))[:, t]
                sal += (p[:, None, None] * masks[:, 0]).sum(0)
            return sal / 500

    def occlusion():
        with torch.no_grad():
            h, w = x.shape[2:]
            base = model(x)[0, t]
            corners = [(a, b) for a in range(0, h - 14, 8) for b in range(0, w - 14, 8)]
            total, count = torch.zeros(h, w), torch.zeros(h, w)
            for i in range(0, len(corners), 32):
                chunk = corners[i:i + 32]
                batch = x.repeat(len(chunk), 1, 1, 1)
                for k, (a, b) in enumerate(chunk):
                    batch[k, :, a:a + 15, b:b + 15] = 0
                drops = base - model(batch)[:, t]
                for k, (a, b) in enumerate(chunk):
                    total[a:a + 15, b:b + 15] += drops[k]
                    count[a:a + 15, b:b + 15] += 1
            return torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))

    def full_grad():
        mods = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
                or (isinstance(m, torch.nn.Conv2d) and m.bias is not None)]
        outs = []
        hooks = [m.register_forward_hook(lambda mod, i, o: outs.append(o)) for m in mods]
        try:
            xi = x.clone().requires_grad_(True)
            y = model(xi)
        finally:
            for hk in hooks:
                hk.remove()
        grads = torch.autograd.grad(y[0, t], [xi] + outs)

        def psi(v):
            v = v.abs()
            v = v - v.flatten(1).min(1)[0][:, None, None, None]
            return v / (v.flatten(1).max(1)[0][:, None, None, None] + 1e-6)
        cam = psi(grads[0] * x).sum(1, keepdim=True)
        for m, g in zip(mods, grads[1:]):
            b = m.bias - m.running_mean * m.weight / torch.sqrt(m.running_var + m.eps) \
                if isinstance(m, torch.nn.BatchNorm2d) else m.bias
            cam = cam + F.interpolate(psi(g * b[None, :, None, None]), size=x.shape[2:], mode="bilinear",
                                      align_corners=True).sum(1, keepdim=True)
        return cam

    for name, fn in [("grad-cam", grad_cam), ("score-cam", score_cam), ("ablation-cam", ablation_cam),
                     ("integrated-gradients", integrated_gradients), ("rise", rise), ("occlusion", occlusion),
                     ("full-grad", full_grad)]:
        print(json.dumps({"runtime": f"pytorch-{torch.__version__}-cpu-{args.threads}t", "method": name,
                          "median_ms": round(median_ms(fn, args.runs), 1)}), flush=True)


if __name__ == "__main__":
    main()
