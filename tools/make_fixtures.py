"""Generate PyTorch reference fixtures for the TypeScript implementation.

For every fixture NAME this writes into tests/fixtures/pytorch/:

  NAME.weights.safetensors    the model's full state_dict (torch layouts; F32,
                              BatchNorm num_batches_tracked as I64 scalars).
  NAME.reference.safetensors  input, logits, grad.input, act.L / grad.L for
                              each probe L, wgrad.W for each chosen weight W
                              (all F32, exactly as PyTorch lays them out, NCHW).

The objective is S = sum_b logits[b, target_b] (classifier heads) or
S = sum_b sum_{y,x} logits[b, target_b, y, x] (fully-conv heads); every grad.*
tensor is dS/d(that tensor).  All computation is float32, model.eval().

Run:  /usr/bin/python3 tools/make_fixtures.py [--out DIR] [--verbose]
The output is byte-for-byte deterministic across reruns on the same machine.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

sys.dont_write_bytecode = True  # no tools/__pycache__ in the working tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_nets  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "pytorch")

FIXTURES = [
    dict(
        name="vgg16_w32", seed=1001,
        arch="vgg16", width=1 / 32, num_classes=10, head="classifier",
        input_shape=[2, 3, 64, 64], targets=[3, 7],
        probes=["features.3", "features.15", "features.29", "avgpool",
                "classifier.4"],
        weight_grads=["features.0.weight", "classifier.0.weight",
                      "classifier.6.bias"],
    ),
    dict(
        name="resnet50_w8", seed=1002,
        arch="resnet50", width=1 / 8, num_classes=10, head="classifier",
        input_shape=[2, 3, 64, 64], targets=[1, 9],
        probes=["conv1", "maxpool", "layer1", "layer2.0.conv1",
                "layer2.0.downsample.1", "layer3", "layer4", "avgpool"],
        weight_grads=["conv1.weight", "layer3.0.bn2.weight", "fc.weight"],
    ),
    dict(
        name="vgg16fc_w32", seed=1003,
        arch="vgg16", width=1 / 32, num_classes=5, head="fully-conv",
        input_shape=[1, 3, 224, 256], targets=[2],
        probes=["features.4", "features.29", "features.30", "classifier.4"],
        weight_grads=["classifier.0.weight"],
    ),
    dict(
        name="resnet50fc_w16", seed=1004,
        arch="resnet50", width=1 / 16, num_classes=5, head="fully-conv",
        input_shape=[1, 3, 224, 256], targets=[4],
        probes=["maxpool", "layer1", "layer2", "layer4", "avgpool"],
        weight_grads=["layer2.0.conv1.weight", "conv1.bias"],
    ),
]

# ------------------------------------------------------------- safetensors

_DTYPES = {
    torch.float32: ("F32", "<f4"),
    torch.int64: ("I64", "<i8"),
    torch.float16: ("F16", "<f2"),
}


try:  # the official package, when importable, writes the same bytes
    from safetensors.torch import save_file as _st_save_file
except ImportError:  # pragma: no cover - depends on the environment
    _st_save_file = None


def save_safetensors(path, tensors, metadata, writer="auto"):
    """Write a safetensors file with the official package (writer="package",
    or "auto" when it is importable) or by hand (writer="builtin").

    safetensors 0.8.0's save_file and the builtin writer were checked to give
    byte-identical files for these fixtures.  Returns the file size.
    """
    if writer == "package" and _st_save_file is None:
        raise RuntimeError("safetensors package not importable")
    if writer in ("auto", "package") and _st_save_file is not None:
        tmp = path + ".tmp"
        _st_save_file({k: v.detach().cpu().contiguous()
                       for k, v in tensors.items()}, tmp,
                      metadata={str(k): str(v) for k, v in metadata.items()})
        os.replace(tmp, path)
        return os.path.getsize(path)
    return _save_safetensors_builtin(path, tensors, metadata)


def _save_safetensors_builtin(path, tensors, metadata):
    """Write a safetensors file by hand.

    Layout: u64 little-endian header length N, N bytes of JSON header
    (padded with spaces so the data starts 8-byte aligned), then the raw
    little-endian tensor data.  Tensors are laid out contiguously, in the
    order the official implementation uses (larger dtype first, then by
    name); the JSON lists "__metadata__" first and then the tensors in data
    order, so data_offsets are ascending without gaps.
    """
    items = []
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {t.dtype}")
        st_dtype, np_dtype = _DTYPES[t.dtype]
        data = t.numpy().astype(np_dtype, copy=False).tobytes(order="C")
        items.append((name, st_dtype, list(t.shape), data,
                      np.dtype(np_dtype).itemsize))
    items.sort(key=lambda it: (-it[4], it[0]))
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, st_dtype, shape, data, _ in items:
        header[name] = {"dtype": st_dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    hbytes = json.dumps(header, separators=(",", ":"),
                        ensure_ascii=True).encode("ascii")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for item in items:
            f.write(item[3])
    os.replace(tmp, path)
    return os.path.getsize(path)


def read_safetensors(path):
    """Minimal independent reader; validates the layout strictly.

    Returns (metadata, {name: np.ndarray}).  Raises AssertionError when the
    header is malformed or the data_offsets are not contiguous & ascending.
    """
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    assert 8 + n <= len(blob), "header length beyond end of file"
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str)
               for k, v in meta.items()), "metadata must be str -> str"
    data = blob[8 + n:]
    np_of = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    pos = 0
    out = {}
    for name, info in entries:
        begin, end = info["data_offsets"]
        assert begin == pos, f"{name}: gap/overlap at {begin} (expected {pos})"
        dt = np.dtype(np_of[info["dtype"]])
        count = int(np.prod(info["shape"], dtype=np.int64))
        assert end - begin == count * dt.itemsize, f"{name}: size mismatch"
        out[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(
            info["shape"])
        pos = end
    assert pos == len(data), f"trailing bytes: {len(data) - pos}"
    # The JSON order itself is the data order as well.
    assert list(header.keys()) == [k for k, _ in entries], "header order"
    return meta, out


# ------------------------------------------------------------ initialisation


def _residual_tail_convs(model):
    """Names of convs whose (BN'd) output is added to a residual stream."""
    names = set()
    for name, m in model.named_modules():
        if isinstance(m, torch_nets.Bottleneck):
            names.add(f"{name}.conv3")
        elif isinstance(m, torch_nets.BasicBlock):
            names.add(f"{name}.conv2")
    return names


def init_model(model):
    """Deterministically re-initialise parameters (the RNG is seeded by the
    caller before the model is constructed).

    Conv/Linear keep PyTorch's default init (kaiming_uniform(a=sqrt(5)),
    weight variance 1/(3 fan_in); biases U(+-1/sqrt(fan_in))) but the weights
    are multiplied by a fixed gain so the signal neither explodes nor
    vanishes: sqrt(6) (= He init, variance 2/fan_in) for layers followed by a
    ReLU; sqrt(3) (variance 1/fan_in) for the final layer and for the ResNet
    downsample.0 convs (no ReLU follows them); and sqrt(6)/4 for the last conv
    of a residual branch (bottleneck conv3, basic-block conv2) so the residual
    stream grows slowly.  BatchNorm is randomised so eval mode matters: weight U(0.5,1.5),
    bias N(0,0.1), running_mean N(0,0.1), running_var U(0.5,1.5).
    """
    tails = _residual_tail_convs(model)
    last = [n for n, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))][-1]
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                if name == last or name.endswith("downsample.0"):
                    gain = math.sqrt(3.0)
                elif name in tails:
                    gain = 0.25 * math.sqrt(6.0)
                else:
                    gain = math.sqrt(6.0)
                m.weight.mul_(gain)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)


# ------------------------------------------------------------------- compute


def run_fixture(fx, verbose=False):
    torch.manual_seed(fx["seed"])
    model = torch_nets.build(fx["arch"], fx["width"], fx["num_classes"],
                             fx["head"])
    init_model(model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)

    x = torch.randn(*fx["input_shape"], dtype=torch.float32)
    x.requires_grad_(True)

    modules = dict(model.named_modules())
    acts = {}
    handles = []
    for name in fx["probes"]:
        if name not in modules or modules[name] is None:
            raise KeyError(f"{fx['name']}: no module {name!r}")

        def hook(mod, inp, out, name=name):
            if name in acts:
                raise RuntimeError(f"probe {name!r} called more than once")
            acts[name] = out
        handles.append(modules[name].register_forward_hook(hook))
    logits = model(x)
    for h in handles:
        h.remove()
    assert set(acts) == set(fx["probes"]), "some probes did not fire"

    targets = torch.tensor(fx["targets"], dtype=torch.long)
    assert logits.shape[0] == len(fx["targets"])
    picked = logits[torch.arange(logits.shape[0]), targets]
    objective = picked.sum()  # fully-conv: sums over all positions too

    params = dict(model.named_parameters())
    wnames = fx["weight_grads"]
    wrt = [x] + [acts[p] for p in fx["probes"]] + [params[w] for w in wnames]
    grads = torch.autograd.grad(objective, wrt)

    ref = {"input": x, "logits": logits, "grad.input": grads[0]}
    for i, p in enumerate(fx["probes"]):
        ref[f"act.{p}"] = acts[p]
        ref[f"grad.{p}"] = grads[1 + i]
    for i, w in enumerate(wnames):
        ref[f"wgrad.{w}"] = grads[1 + len(fx["probes"]) + i]
    for k, v in ref.items():
        assert v.dtype == torch.float32, (k, v.dtype)
        assert torch.isfinite(v).all(), k

    if verbose:
        for p in fx["probes"]:
            a = acts[p]
            print(f"    act.{p:24s} {str(tuple(a.shape)):18s} "
                  f"std {a.std().item():.4g}")

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return model, state, {k: v.detach().clone() for k, v in ref.items()}


def config_of(fx):
    return {
        "arch": fx["arch"], "width": fx["width"],
        "num_classes": fx["num_classes"], "head": fx["head"],
        "input_shape": fx["input_shape"], "targets": fx["targets"],
        "probes": fx["probes"], "weight_grads": fx["weight_grads"],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", help="fixture names to build")
    ap.add_argument("--writer", choices=("auto", "package", "builtin"),
                    default="auto",
                    help="safetensors writer: the `safetensors` package if "
                    "importable (auto), or the builtin one")
    ap.add_argument("--verbose", action="store_true",
                    help="print per-probe activation shapes / stds")
    args = ap.parse_args(argv)

    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)  # fixed reduction order -> reproducible bytes
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    use_pkg = args.writer != "builtin" and _st_save_file is not None
    print("safetensors writer: " + ("safetensors package" if use_pkg
                                    else "builtin"))

    total = 0
    for fx in FIXTURES:
        if args.only and fx["name"] not in args.only:
            continue
        print(f"{fx['name']}: {fx['arch']} width={fx['width']:g} "
              f"head={fx['head']} input={fx['input_shape']}")
        _, state, ref = run_fixture(fx, verbose=args.verbose)
        cfg = config_of(fx)
        model_cfg = {k: cfg[k] for k in ("arch", "width", "num_classes",
                                         "head")}
        wpath = os.path.join(args.out, f"{fx['name']}.weights.safetensors")
        rpath = os.path.join(args.out, f"{fx['name']}.reference.safetensors")
        wsize = save_safetensors(wpath, state,
                                 {"config": json.dumps(model_cfg)},
                                 args.writer)
        rsize = save_safetensors(rpath, ref, {"config": json.dumps(cfg)},
                                 args.writer)
        total += wsize + rsize

        # Re-read both files with the independent reader and compare.
        for path, tensors in ((wpath, state), (rpath, ref)):
            meta, arrs = read_safetensors(path)
            assert set(arrs) == set(tensors), path
            for k, v in tensors.items():
                assert np.array_equal(arrs[k], v.numpy()), (path, k)
        meta, _ = read_safetensors(rpath)
        assert json.loads(meta["config"]) == cfg

        lg = ref["logits"]
        print(f"  logits shape {tuple(lg.shape)} std {lg.std().item():.4g} "
              f"min {lg.min().item():.4g} max {lg.max().item():.4g}")
        print(f"  grad.input std {ref['grad.input'].std().item():.4g}")
        for path, size in ((wpath, wsize), (rpath, rsize)):
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:16]
            print(f"  {os.path.relpath(path, ROOT)}  {size} bytes  "
                  f"sha256:{digest}")
        std = lg.std().item()
        if not 0.1 <= std <= 100:
            print(f"  WARNING: logits std {std:.4g} outside [0.1, 100]")
    print(f"total {total} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
