#!/usr/bin/python3
"""PyTorch timings of Score-CAM and Ablation-CAM as pytorch-grad-cam runs them (channels batched 16 / 32 to a
forward, scores read per pass), beside Grad-CAM, on the shipped models' architecture (tools/torch_nets.py,
ResNet50 at width 1/8, 12 classes; random weights), one 224x224 image, the map at layer4. For
bench/perturbation_cams_bench.ts. Prints one JSON line per method: median ms of --runs after one warm-up.

  /usr/bin/python3 bench/pytorch_perturbation_cams.py --runs 3 --threads 2
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import torch_nets  # noqa: E402


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

    for name, fn in [("grad-cam", grad_cam), ("score-cam", score_cam), ("ablation-cam", ablation_cam)]:
        fn()
        ts = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1000)
        print(json.dumps({"runtime": f"pytorch-{torch.__version__}-cpu-{args.threads}t", "method": name,
                          "median_ms": round(statistics.median(ts), 1)}), flush=True)


if __name__ == "__main__":
    main()
