"""PyTorch on CUDA, the same workloads as bench/nets_bench.ts (VGG16 / ResNet50, 224x224, batch 1, random
weights): forward, input gradient, x and g at every paper layer from one backward pass, all weight gradients.
Prints one JSON line per (model, workload) with the median of 10 runs in ms (CUDA-synchronised)."""
import json
import statistics
import time

import torch
import torchvision

LAYERS = {"vgg16": ["features.3", "features.8", "features.15", "features.22", "features.29"],
          "resnet50": ["layer1", "layer2", "layer3", "layer4"]}


def timed(fn, runs=10):
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts)


def main():
    dev = torch.device("cuda")
    torch.manual_seed(0)
    for name in ["vgg16", "resnet50"]:
        model = getattr(torchvision.models, name)().eval().to(dev)
        for p in model.parameters():
            p.requires_grad_(False)
        x = torch.randn(1, 3, 224, 224, device=dev)
        mods = dict(model.named_modules())

        def forward():
            with torch.no_grad():
                model(x)

        def input_grad():
            xi = x.clone().requires_grad_(True)
            torch.autograd.grad(model(xi)[0, 37], xi)

        def all_layers():
            acts = {}
            hooks = [mods[n].register_forward_hook(lambda m, i, o, n=n: acts.__setitem__(n, o)) for n in LAYERS[name]]
            xi = x.clone().requires_grad_(True)
            y = model(xi)
            for h in hooks:
                h.remove()
            torch.autograd.grad(y[0, 37], [xi] + [acts[n] for n in LAYERS[name]])

        def weight_grads():
            params = list(model.parameters())
            for p in params:
                p.requires_grad_(True)
            torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), torch.tensor([37], device=dev)), params)
            for p in params:
                p.requires_grad_(False)

        for wl, fn in [("forward", forward), ("input gradient", input_grad),
                       ("all paper layers", all_layers), ("weight gradients", weight_grads)]:
            print(json.dumps({"runtime": f"pytorch-{torch.__version__}-cuda", "gpu": torch.cuda.get_device_name(0),
                              "model": name, "workload": wl, "median_ms": round(timed(fn), 2)}), flush=True)


if __name__ == "__main__":
    main()
