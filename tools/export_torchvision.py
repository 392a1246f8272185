"""Exports a full-size torchvision classifier (random weights, seeded) to ONNX for
benchmarks: `NAME.onnx` (torch.onnx.export's defaults: BatchNorm folded into the
convs), `NAME.bn.onnx` (BatchNorm kept: training=PRESERVE) and `NAME.safetensors`
(the state_dict, for retrace's built-in network with the same weights).

    /usr/bin/python3 tools/export_torchvision.py resnet50 --out /tmp/onnx-bench

Used by bench/onnx_import_bench.ts; nothing in the service or the tests needs it.
"""
import argparse
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
import make_fixtures as mf  # noqa: E402  (safetensors writer)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("arch", help="a torchvision.models constructor, e.g. resnet50")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    model = getattr(torchvision.models, args.arch)(weights=None).eval()
    os.makedirs(args.out, exist_ok=True)
    x = torch.randn(1, 3, args.size, args.size)
    base = os.path.join(args.out, args.arch)
    kw = dict(input_names=["input"], output_names=["logits"],
              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    torch.onnx.export(model, (x,), base + ".onnx", **kw)
    torch.onnx.export(model, (x,), base + ".bn.onnx", training=torch.onnx.TrainingMode.PRESERVE, **kw)
    state = {k: v for k, v in model.state_dict().items() if v.dtype == torch.float32}
    mf.save_safetensors(base + ".safetensors", state, {"arch": args.arch})
    for f in (".onnx", ".bn.onnx", ".safetensors"):
        print(f"{base}{f}: {os.path.getsize(base + f)} bytes")


if __name__ == "__main__":
    main()
