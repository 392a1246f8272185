"""PyTorch eager, the workloads of bench/gpu_throughput.ts: VGG16 / ResNet50, random weights, batch 1, 8 and 32,
one target per image; Grad-CAM at the last paper layer (weights = spatial mean of the gradient, ReLU of the
weighted channel sum) and NormGrad at every paper layer from one backward (||x|| * ||g|| per position). Each pass
ends with the maps on the host, as retrace's does. Prints one JSON line per (model, workload, batch): median ms of
TP_RUNS (default 10) and maps per second. TORCH_DEVICE (default cuda) and TP_SIZE (default 224) let it be
checked on a CPU."""
import json
import os
import statistics
import time

import torch
import torchvision

LAYERS = {"vgg16": ["features.3", "features.8", "features.15", "features.22", "features.29"],
          "resnet50": ["layer1", "layer2", "layer3", "layer4"]}


def main():
    dev = torch.device(os.environ.get("TORCH_DEVICE", "cuda"))
    runs = int(os.environ.get("TP_RUNS", "10"))
    size = int(os.environ.get("TP_SIZE", "224"))
    batches = [int(b) for b in os.environ.get("TP_BATCHES", "1,8,32").split(",")]
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    for name in os.environ.get("TP_MODELS", "vgg16,resnet50").split(","):
        model = getattr(torchvision.models, name)().eval().to(dev)
        for p in model.parameters():
            p.requires_grad_(False)
        mods = dict(model.named_modules())
        for batch in batches:
            x = torch.randn(batch, 3, size, size, device=dev)
            targets = torch.tensor([(37 * i + 7) % 1000 for i in range(batch)], device=dev)

            def probed(layers):
                acts = {}
                hooks = [mods[n].register_forward_hook(lambda m, i, o, n=n: acts.__setitem__(n, o))
                         for n in layers]
                xi = x.clone().requires_grad_(True)
                y = model(xi)
                for h in hooks:
                    h.remove()
                xs = [acts[n] for n in layers]
                gs = torch.autograd.grad(y.gather(1, targets[:, None]).sum(), xs)
                return xs, gs

            def grad_cam():
                [a], [g] = probed(LAYERS[name][-1:])
                cam = torch.relu((a * g.mean(dim=(2, 3), keepdim=True)).sum(1))
                cam.cpu()

            def multi_layer():
                xs, gs = probed(LAYERS[name])
                maps = [a.norm(dim=1) * g.norm(dim=1) for a, g in zip(xs, gs)]
                [m.cpu() for m in maps]

            for wl, fn in [("grad-cam", grad_cam), ("multi-layer", multi_layer)]:
                fn()
                sync()
                ts = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    fn()
                    sync()
                    ts.append((time.perf_counter() - t0) * 1000)
                ms = statistics.median(ts)
                print(json.dumps({"runtime": f"pytorch-{torch.__version__}-{dev.type}",
                                  "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else None,
                                  "model": name, "workload": wl, "batch": batch, "median_ms": round(ms, 2),
                                  "maps_per_s": round(batch / ms * 1000, 2)}), flush=True)


if __name__ == "__main__":
    main()
