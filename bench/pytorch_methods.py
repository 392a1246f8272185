#!/usr/bin/python3
"""PyTorch timings of the methods beyond the paper, as a pytorch-grad-cam user runs them, for bench/compare.ts
(which runs ../shared/bench/pytorch_baseline.py for the paper's). Random weights, 224x224, one-hot seed on one
logit, the map at the model's last paper layer (VGG16 features.29, ResNet50 layer4), computed in torch on the
host (pytorch-grad-cam computes its weights in numpy after the same forward and backward):

  grad-cam-plus-plus  w_k = sum_u relu(g) g^2 / (2 g^2 + sum_u(x) g^3 + 1e-6); relu(sum_k w_k x_k)
  xgrad-cam           w_k = sum_u(g x) / (sum_u(x) + 1e-7); relu(sum_k w_k x_k)
  hires-cam           relu(sum_k g x)
  layer-cam           relu(sum_k relu(g) x)
  eigen-cam           forward only; centred activations projected on the first right singular vector (SVD)

Prints one JSON line per (model, workload): median ms of --runs after one warm-up.

  /usr/bin/python3 bench/pytorch_methods.py --models resnet50 --runs 5 --threads 2
"""
import argparse
import json
import sys

sys.dont_write_bytecode = True  # no bench/__pycache__ in the working tree

import torch  # noqa: E402
import torchvision  # noqa: E402
from torch_timing import median_ms  # noqa: E402

LAST = {"vgg16": "features.29", "resnet50": "layer4"}


def probed(model, layer, x, cls, backward=True):
    acts = {}
    hook = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
    try:
        # the input needs a gradient so the activation has one (the weights are frozen)
        y = model(x.clone().requires_grad_(backward))
    finally:
        hook.remove()
    a = acts["a"]
    if not backward:
        return a.detach(), None
    (g,) = torch.autograd.grad(y.gather(1, cls[:, None]).sum(), a)
    return a.detach(), g


def cam(a, w):
    return torch.relu((w * a).sum(1))


def workloads(model, name, x, cls):
    layer = LAST[name]

    def gradcam_pp():
        a, g = probed(model, layer, x, cls)
        alpha = g.pow(2) / (2 * g.pow(2) + a.sum((2, 3), keepdim=True) * g.pow(3) + 1e-6)
        alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
        return cam(a, (torch.relu(g) * alpha).sum((2, 3), keepdim=True))

    def xgradcam():
        a, g = probed(model, layer, x, cls)
        return cam(a, (g * a).sum((2, 3), keepdim=True) / (a.sum((2, 3), keepdim=True) + 1e-7))

    def hirescam():
        a, g = probed(model, layer, x, cls)
        return torch.relu((g * a).sum(1))

    def layercam():
        a, g = probed(model, layer, x, cls)
        return torch.relu((torch.relu(g) * a).sum(1))

    def eigencam():
        with torch.no_grad():
            a, _ = probed(model, layer, x, cls, backward=False)
        n, c, h, w = a.shape
        m = a[0].reshape(c, h * w).T
        m = m - m.mean(0)
        _, _, vt = torch.linalg.svd(m, full_matrices=False)
        return torch.relu(m @ vt[0]).reshape(h, w)

    return [("grad-cam-plus-plus", gradcam_pp), ("xgrad-cam", xgradcam), ("hires-cam", hirescam),
            ("layer-cam", layercam), ("eigen-cam", eigencam)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="vgg16,resnet50")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for name in args.models.split(","):
        model = getattr(torchvision.models, name)().eval()
        for p in model.parameters():
            p.requires_grad_(False)
        x = torch.randn(1, 3, 224, 224)
        cls = torch.tensor([7])
        for workload, fn in workloads(model, name, x, cls):
            print(json.dumps({"runtime": f"pytorch-{torch.__version__}-cpu-{args.threads}t", "model": name,
                              "workload": workload, "median_ms": round(median_ms(fn, args.runs), 2)}), flush=True)


if __name__ == "__main__":
    main()
